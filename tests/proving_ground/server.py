"""Run the proving ground: in the foreground (``serve``), or in the background for a human
(``start`` / ``stop`` / ``env``) and for pytest fixtures (``launch``).

    python -m proving_ground start --port 5100 --state-dir .proving_ground
    python -m proving_ground stop --state-dir .proving_ground

One application (one state) answers on two ports of the same host: plain HTTP on ``--port`` and
HTTPS on ``--tls-port`` (default: the next port, or ``MLOPS_AWS_TLS_PORT``), with a certificate of a
test CA (``<state dir>/tls/ca.pem``, see ``tls.py``). What it prints and what ``launch()`` gives
point clients at the HTTPS port and make them trust that CA (``AWS_CA_BUNDLE``).
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

from .client import ProvingGroundClient

HERE = Path(__file__).resolve().parent
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def aws_environment(endpoint: str, ca_bundle: Optional[str] = None) -> dict:
    """What a shell, ansible-playbook or boto3 needs to talk to the proving ground instead of AWS.

    ``ca_bundle``: the test CA that an ``https://`` endpoint's certificate comes from; botocore (and
    so the amazon.aws modules and MLflow's S3 client) read it from ``AWS_CA_BUNDLE``.
    """
    environment = dict(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_URL=endpoint)
    if ca_bundle:
        environment["AWS_CA_BUNDLE"] = str(ca_bundle)
    return environment


def default_tls_port(port: int) -> int:
    """The HTTPS port that goes with an HTTP port: ``MLOPS_AWS_TLS_PORT``, else the next one (0: any)."""
    if os.environ.get("MLOPS_AWS_TLS_PORT"):
        return int(os.environ["MLOPS_AWS_TLS_PORT"])
    return port + 1 if port else 0


def _url_host(host: str) -> str:
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def serve(host: str, port: int, ready_file: Optional[str] = None, settings: Optional[dict] = None,
          tls_port: Optional[int] = None, tls_dir: Optional[str] = None) -> None:
    """Serve until SIGTERM: HTTP on ``port`` and, with ``tls_dir``, HTTPS on ``tls_port``."""
    import threading

    from werkzeug.serving import make_server

    from .app import ProvingGround
    from .settings import Settings
    from .tls import ensure_tls_files

    from moto.moto_server.werkzeug_app import MotoRequestHandler

    app = ProvingGround(Settings(**(settings or {})))
    servers = [make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)]
    info = {"pid": os.getpid(), "port": servers[0].socket.getsockname()[1], "host": host}
    if tls_dir:
        files = ensure_tls_files(Path(tls_dir), _url_host(host).strip("[]"))
        servers.append(make_server(host, tls_port or 0, app, threaded=True, request_handler=MotoRequestHandler,
                                   ssl_context=files.server_context()))
        info.update(tls_port=servers[1].socket.getsockname()[1], ca_bundle=str(files.ca_bundle),
                    trust_bundle=str(files.trust_bundle))
    threads = [threading.Thread(target=server.serve_forever, name=f"proving-ground-{index}", daemon=True)
               for index, server in enumerate(servers[1:], 1)]
    for thread in threads:
        thread.start()
    if ready_file:
        Path(ready_file).write_text(json.dumps(info))
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    try:
        servers[0].serve_forever()
    finally:
        for server in servers[1:]:
            server.shutdown()
        for server in servers:
            server.server_close()


class RunningProvingGround:
    """A proving ground running in a child process.

    ``endpoint`` (= ``https_endpoint``): its HTTPS URL, which clients should use; ``http_endpoint``:
    the same application over plain HTTP; ``ca_bundle``: the test CA's certificate (PEM) that the
    HTTPS certificate comes from; ``trust_bundle``: the machine's trusted CAs plus the test CA (for
    ``SSL_CERT_FILE``); ``environment``: what a client process needs (``aws_environment``);
    ``client``: the control API's client (over HTTPS).
    """

    def __init__(self, process: subprocess.Popen, host: str, port: int, log_path: Path,
                 tls_port: Optional[int] = None, ca_bundle: Optional[str] = None, trust_bundle: Optional[str] = None):
        self.process = process
        self.host = host
        self.port = port
        self.tls_port = tls_port
        self.log_path = log_path
        self.http_endpoint = f"http://{_url_host(host)}:{port}"
        self.https_endpoint = f"https://{_url_host(host)}:{tls_port}" if tls_port else None
        self.ca_bundle = str(ca_bundle) if ca_bundle else None
        self.trust_bundle = str(trust_bundle) if trust_bundle else None
        self.endpoint = self.https_endpoint or self.http_endpoint
        self.client = ProvingGroundClient(self.endpoint, ca_bundle=self.ca_bundle)

    @property
    def environment(self) -> dict:
        return aws_environment(self.endpoint, self.ca_bundle)

    @property
    def http_environment(self) -> dict:
        """As ``environment``, for the plain HTTP port (requests there have aws:SecureTransport false)."""
        return aws_environment(self.http_endpoint)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def launch(state_dir: Path, port: int = 0, host: str = "127.0.0.1", settings: Optional[dict] = None,
           detach: bool = False, timeout: float = 60, tls_port: Optional[int] = None) -> RunningProvingGround:
    """Start the proving ground in a child process and wait until it answers (over HTTPS).

    ``tls_port``: the HTTPS port (default: ``default_tls_port(port)``). The test CA and the server
    certificate live in ``state_dir / "tls"`` and are kept for the next launch.
    """
    from .tls import ensure_tls_files

    state_dir.mkdir(parents=True, exist_ok=True)
    ready_file = state_dir / "ready.json"
    ready_file.unlink(missing_ok=True)
    log_path = state_dir / "proving_ground.log"
    tls_dir = state_dir / "tls"
    ensure_tls_files(tls_dir, _url_host(host).strip("[]"))  # here, so that a failure shows in this process
    if tls_port is None:
        tls_port = default_tls_port(port)
    command = [sys.executable, "-m", "proving_ground", "serve", "--host", host, "--port", str(port),
               "--tls-port", str(tls_port), "--tls-dir", str(tls_dir),
               "--ready-file", str(ready_file), "--settings", json.dumps(settings or {})]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])))
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL, start_new_session=detach)
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the proving ground exited with {process.returncode}; see {log_path}:\n"
                               + log_path.read_text()[-3000:])
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the proving ground did not start within {timeout}s; see {log_path}")
        time.sleep(0.1)
    info = json.loads(ready_file.read_text())
    running = _running_from(info, process, log_path)
    running.client.wait_until_healthy(timeout=max(1.0, deadline - time.monotonic()))
    return running


def _running_from(info: dict, process, log_path: Path) -> RunningProvingGround:
    return RunningProvingGround(process, info["host"], info["port"], log_path, tls_port=info.get("tls_port"),
                                ca_bundle=info.get("ca_bundle"), trust_bundle=info.get("trust_bundle"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _exports(running: RunningProvingGround) -> str:
    return "\n".join(f"export {key}={value}" for key, value in running.environment.items())


def _describe(running: RunningProvingGround) -> str:
    return (f"# HTTPS (exported): {running.endpoint}, certificate from the test CA {running.ca_bundle}\n"
            f"# plain HTTP (aws:SecureTransport false): {running.http_endpoint}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="proving_ground", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve in the foreground")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_AWS_PORT", 5100)))
    serve_cmd.add_argument("--tls-port", type=int, help="HTTPS port (default: MLOPS_AWS_TLS_PORT, else --port + 1)")
    serve_cmd.add_argument("--tls-dir", help="directory of the test CA and the server certificate (made when missing); "
                                             "without it, no HTTPS")
    serve_cmd.add_argument("--ready-file")
    serve_cmd.add_argument("--settings", default="{}", help="initial settings as JSON")
    for name in ("start", "stop", "env"):
        sub = commands.add_parser(name)
        sub.add_argument("--state-dir", default=".proving_ground")
        if name == "start":
            sub.add_argument("--host", default="127.0.0.1")
            sub.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_AWS_PORT", 5100)))
            sub.add_argument("--tls-port", type=int, help="HTTPS port (default: MLOPS_AWS_TLS_PORT, else --port + 1)")
            sub.add_argument("--settings", default="{}", help="initial settings as JSON")
    args = parser.parse_args(argv)

    if args.command == "serve":
        tls_port = args.tls_port if args.tls_port is not None else default_tls_port(args.port)
        serve(args.host, args.port, args.ready_file, json.loads(args.settings), tls_port=tls_port, tls_dir=args.tls_dir)
        return 0

    state_dir = Path(args.state_dir)
    ready_file = state_dir / "ready.json"
    info = json.loads(ready_file.read_text()) if ready_file.exists() else None
    running = info is not None and _pid_alive(info["pid"])
    if args.command == "start":
        if running:
            started = _running_from(info, None, state_dir / "proving_ground.log")
            print(f"# the AWS proving ground already runs at {started.endpoint} (pid {info['pid']})")
        else:
            started = launch(state_dir, port=args.port, host=args.host, settings=json.loads(args.settings),
                             detach=True, tls_port=args.tls_port)
            print(f"# the AWS proving ground runs at {started.endpoint} (pid {started.process.pid}); "
                  f"log: {started.log_path}")
        print(_describe(started))
        print(_exports(started))
        print(f"# control API: {started.endpoint}/_proving_ground/config, /_proving_ground/requests")
        return 0
    if args.command == "env":
        if not running:
            print("the AWS proving ground is not running: make emulators", file=sys.stderr)
            return 1
        print(_exports(_running_from(info, None, state_dir / "proving_ground.log")))
        return 0
    # stop
    if running:
        os.kill(info["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(info["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"# stopped the AWS proving ground (pid {info['pid']})")
    else:
        print("# the AWS proving ground was not running")
    ready_file.unlink(missing_ok=True)
    return 0
