"""Run the GCP emulator: in the foreground (``serve``), in the background for a human
(``start`` / ``stop`` / ``env``) and for pytest fixtures (``launch``).

    cd tests && python -m gcp_emulator start --state-dir ../.gcp_emulator
    eval "$(python -m gcp_emulator env --state-dir ../.gcp_emulator)"
    python -m gcp_emulator stop --state-dir ../.gcp_emulator

One port on loopback: the HTTPS proxy (``HTTPS_PROXY=http://127.0.0.1:<port>``) and, for plain
HTTP requests to the port itself, the control API under ``/_gcp_emulator/``. The test CA lives in
``<state dir>/tls`` (``ca.pem``; ``trust-bundle.pem`` = the machine's CAs + the test CA) and is kept
across restarts.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from .app import FAKE_ACCESS_TOKEN
from .client import GcpEmulatorClient

HERE = Path(__file__).resolve().parent
DEFAULT_PROJECT = "mlops-test"
DEFAULT_PROJECT_NUMBER = "123456789012"
DEFAULT_REGION = "europe-west1"
# Local traffic (the AWS proving ground, databases, mlflow) must never go through the proxy.
NO_PROXY = "127.0.0.1,localhost,::1"


def gcp_environment(proxy_url: str, trust_bundle: str, project: str = DEFAULT_PROJECT) -> dict:
    """What a shell, ansible-playbook or a Google client library needs to reach the emulator."""
    return {
        "HTTPS_PROXY": proxy_url, "https_proxy": proxy_url,
        "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY,
        "REQUESTS_CA_BUNDLE": trust_bundle,
        "GCP_PROJECT": project,
        "GCP_AUTH_KIND": "accesstoken",
        "GCP_ACCESS_TOKEN": FAKE_ACCESS_TOKEN,
    }


def serve(host: str, port: int, tls_dir: str, ready_file: Optional[str] = None, settings: Optional[dict] = None,
          project: str = DEFAULT_PROJECT, project_number: str = DEFAULT_PROJECT_NUMBER) -> None:
    """Serve until SIGTERM."""
    from .app import Application, emulated_host
    from .engine import Emulator
    from .proxy import start_proxy

    app = Application(Emulator(project, project_number, settings))
    server = start_proxy(host, port, app, Path(tls_dir), emulated_host)
    info = {"pid": os.getpid(), "host": host, "port": server.server_address[1], "project": project,
            "project_number": project_number, "ca_bundle": str(Path(tls_dir) / "ca.pem"),
            "trust_bundle": str(Path(tls_dir) / "trust-bundle.pem")}
    if ready_file:
        # Written whole, then renamed: launch() polls for the file and must never read it half written.
        partial = Path(str(ready_file) + ".partial")
        partial.write_text(json.dumps(info))
        os.replace(partial, ready_file)
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    finally:
        server.shutdown()
        server.server_close()


class RunningGcpEmulator:
    """A GCP emulator in a child process.

    ``proxy_url``: what ``HTTPS_PROXY`` names; ``ca_bundle``: the test CA (PEM); ``trust_bundle``:
    the machine's CAs plus the test CA (``REQUESTS_CA_BUNDLE``); ``environment``: what a client
    process needs (``gcp_environment``); ``client``: the control API; ``project`` /
    ``project_number``: the emulated project.
    """

    def __init__(self, process, info: dict, log_path: Path):
        self.process = process
        self.pid = info["pid"]
        self.port = info["port"]
        self.proxy_url = f"http://127.0.0.1:{self.port}"
        self.ca_bundle = info["ca_bundle"]
        self.trust_bundle = info["trust_bundle"]
        self.project = info["project"]
        self.project_number = info["project_number"]
        self.log_path = log_path
        self.client = GcpEmulatorClient(self.proxy_url)

    @property
    def environment(self) -> dict:
        return gcp_environment(self.proxy_url, self.trust_bundle, self.project)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def launch(state_dir: Path, port: int = 0, host: str = "127.0.0.1", settings: Optional[dict] = None,
           detach: bool = False, timeout: float = 60) -> RunningGcpEmulator:
    """Start the emulator in a child process on ``port`` (0: a free one) and wait until it answers."""
    from proving_ground.tls import ensure_tls_files  # the same test CA machinery as the AWS side

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    ready_file = state_dir / "ready.json"
    ready_file.unlink(missing_ok=True)
    log_path = state_dir / "gcp_emulator.log"
    tls_dir = state_dir / "tls"
    ensure_tls_files(tls_dir)
    command = [sys.executable, "-m", "gcp_emulator", "serve", "--host", host, "--port", str(port),
               "--tls-dir", str(tls_dir), "--ready-file", str(ready_file), "--settings", json.dumps(settings or {})]
    env = {key: value for key, value in os.environ.items() if key.lower() not in ("https_proxy", "http_proxy")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
                                   start_new_session=detach)
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the GCP emulator exited with {process.returncode}; see {log_path}:\n"
                               + log_path.read_text()[-3000:])
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the GCP emulator did not start within {timeout}s; see {log_path}")
        time.sleep(0.05)
    running = RunningGcpEmulator(process, json.loads(ready_file.read_text()), log_path)
    running.client.wait_until_healthy(timeout=max(1.0, deadline - time.monotonic()))
    return running


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _exports(running: RunningGcpEmulator) -> str:
    return "\n".join(f"export {key}={value}" for key, value in running.environment.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gcp_emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve in the foreground")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_GCP_PORT", 5110)))
    serve_cmd.add_argument("--tls-dir", required=True, help="directory of the test CA (ca.pem, ca-key.pem)")
    serve_cmd.add_argument("--ready-file")
    serve_cmd.add_argument("--settings", default="{}", help="initial settings as JSON")
    for name in ("start", "stop", "env"):
        sub = commands.add_parser(name)
        sub.add_argument("--state-dir", default=".gcp_emulator")
        if name == "start":
            sub.add_argument("--host", default="127.0.0.1")
            sub.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_GCP_PORT", 5110)))
            sub.add_argument("--settings", default="{}", help="initial settings as JSON")
    args = parser.parse_args(argv)

    if args.command == "serve":
        serve(args.host, args.port, args.tls_dir, args.ready_file, json.loads(args.settings))
        return 0
    state_dir = Path(args.state_dir)
    ready_file = state_dir / "ready.json"
    info = json.loads(ready_file.read_text()) if ready_file.exists() else None
    alive = info is not None and _pid_alive(info["pid"])
    if args.command == "start":
        if alive:
            started = RunningGcpEmulator(None, info, state_dir / "gcp_emulator.log")
            print(f"# the GCP emulator already runs, proxy {started.proxy_url} (pid {info['pid']})")
        else:
            started = launch(state_dir, port=args.port, host=args.host, settings=json.loads(args.settings), detach=True)
            print(f"# the GCP emulator runs, proxy {started.proxy_url} (pid {started.pid}); log: {started.log_path}")
        print(f"# project {started.project} (number {started.project_number}); test CA {started.ca_bundle}")
        print(_exports(started))
        print(f"# control API: {started.proxy_url}/_gcp_emulator/config, /_gcp_emulator/requests")
        return 0
    if args.command == "env":
        if not alive:
            print("the GCP emulator is not running: make emulators", file=sys.stderr)
            return 1
        print(_exports(RunningGcpEmulator(None, info, state_dir / "gcp_emulator.log")))
        return 0
    if alive:
        os.kill(info["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(info["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"# stopped the GCP emulator (pid {info['pid']})")
    else:
        print("# the GCP emulator was not running")
    ready_file.unlink(missing_ok=True)
    return 0
