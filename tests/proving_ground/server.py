"""Run the proving ground: in the foreground (``serve``), or in the background for a human
(``start`` / ``stop`` / ``env``) and for pytest fixtures (``launch``).

    python -m proving_ground start --port 5100 --state-dir .proving_ground
    python -m proving_ground stop --state-dir .proving_ground
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


def aws_environment(endpoint: str) -> dict:
    """What a shell, ansible-playbook or boto3 needs to talk to the proving ground instead of AWS."""
    return dict(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_URL=endpoint)


def serve(host: str, port: int, ready_file: Optional[str] = None, settings: Optional[dict] = None) -> None:
    from werkzeug.serving import make_server

    from .app import ProvingGround
    from .settings import Settings

    from moto.moto_server.werkzeug_app import MotoRequestHandler

    app = ProvingGround(Settings(**(settings or {})))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    bound_port = server.socket.getsockname()[1]
    if ready_file:
        Path(ready_file).write_text(json.dumps({"pid": os.getpid(), "port": bound_port, "host": host}))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()


class RunningProvingGround:
    """A proving ground running in a child process."""

    def __init__(self, process: subprocess.Popen, host: str, port: int, log_path: Path):
        self.process = process
        self.host = host
        self.port = port
        self.log_path = log_path
        self.endpoint = f"http://{host}:{port}"
        self.client = ProvingGroundClient(self.endpoint)

    @property
    def environment(self) -> dict:
        return aws_environment(self.endpoint)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def launch(state_dir: Path, port: int = 0, host: str = "127.0.0.1", settings: Optional[dict] = None,
           detach: bool = False, timeout: float = 60) -> RunningProvingGround:
    """Start the proving ground in a child process and wait until it answers."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ready_file = state_dir / "ready.json"
    ready_file.unlink(missing_ok=True)
    log_path = state_dir / "proving_ground.log"
    command = [sys.executable, "-m", "proving_ground", "serve", "--host", host, "--port", str(port),
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
    running = RunningProvingGround(process, host, info["port"], log_path)
    running.client.wait_until_healthy(timeout=max(1.0, deadline - time.monotonic()))
    return running


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _exports(endpoint: str) -> str:
    return "\n".join(f"export {key}={value}" for key, value in aws_environment(endpoint).items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="proving_ground", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve in the foreground")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_AWS_PORT", 5100)))
    serve_cmd.add_argument("--ready-file")
    serve_cmd.add_argument("--settings", default="{}", help="initial settings as JSON")
    for name in ("start", "stop", "env"):
        sub = commands.add_parser(name)
        sub.add_argument("--state-dir", default=".proving_ground")
        if name == "start":
            sub.add_argument("--host", default="127.0.0.1")
            sub.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_AWS_PORT", 5100)))
            sub.add_argument("--settings", default="{}", help="initial settings as JSON")
    args = parser.parse_args(argv)

    if args.command == "serve":
        serve(args.host, args.port, args.ready_file, json.loads(args.settings))
        return 0

    state_dir = Path(args.state_dir)
    ready_file = state_dir / "ready.json"
    info = json.loads(ready_file.read_text()) if ready_file.exists() else None
    running = info is not None and _pid_alive(info["pid"])
    if args.command == "start":
        if running:
            endpoint = f"http://{info['host']}:{info['port']}"
            print(f"# the AWS proving ground already runs at {endpoint} (pid {info['pid']})")
        else:
            started = launch(state_dir, port=args.port, host=args.host, settings=json.loads(args.settings),
                             detach=True)
            endpoint = started.endpoint
            print(f"# the AWS proving ground runs at {endpoint} (pid {started.process.pid}); "
                  f"log: {started.log_path}")
        print(_exports(endpoint))
        print(f"# control API: {endpoint}/_proving_ground/config, /_proving_ground/requests")
        return 0
    if args.command == "env":
        if not running:
            print("the AWS proving ground is not running: make emulators", file=sys.stderr)
            return 1
        print(_exports(f"http://{info['host']}:{info['port']}"))
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
