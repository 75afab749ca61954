"""A real ``mlflow server`` in a child process, for end-to-end tests.

It runs the MLflow of the interpreter running the tests, on a free port of 127.0.0.1, with a
database backend store and (optionally) artifacts proxied to a bucket. Configuration goes in through
MLflow's environment variables, never through argv: the backend URI carries a password, and argv is
visible to every user of the machine (``ps``). That is also how the collection's deployments pass it.

MLflow 3 behaviours that shape this helper:
- A file store (``./mlruns``) is refused since 3.13, and without a backend URI the server falls back
  to ``sqlite:///mlflow.db`` in its working directory: the backend URI is therefore required here,
  and the working directory is the server's own directory.
- The security middleware answers 403 "Invalid Host header" unless the Host header matches
  ``MLFLOW_SERVER_ALLOWED_HOSTS`` (default: localhost and private addresses, any port). Setting the
  variable replaces those defaults; entries without ``*`` must match exactly, port included.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Iterable, Mapping, Optional

from .databases import free_port, kill_process_group


class MlflowServerError(RuntimeError):
    """The mlflow server did not start."""


def mlflow_command() -> list:
    """The mlflow CLI of the running interpreter's environment."""
    script = Path(sys.executable).with_name("mlflow")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "mlflow"]


# Servers still running when the interpreter exits (a fixture's teardown never ran).
_running_servers: "weakref.WeakSet" = weakref.WeakSet()


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_running_servers):
        server.stop()


class LoggedServerProcess:
    """What a child server process with a log file and an HTTP health path offers: subclasses set
    ``url``, ``log_path`` and ``_log_offset`` (where the latest launch began writing)."""

    # MLflow's /health is exempt from host validation: it proves the server is up, not that clients
    # will be let in.
    health_path = "/health"

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}{self.health_path}", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _attempt_log(self) -> str:
        """What the latest launch wrote (an earlier attempt's errors are not this one's)."""
        try:
            return self.log_path.read_bytes()[self._log_offset:].decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class MlflowServer(LoggedServerProcess):
    """``mlflow server`` on 127.0.0.1:<free port>; ``url`` is its tracking URI once started."""

    def __init__(self, directory: Path, backend_store_uri: str, *, artifacts_destination: Optional[str] = None,
                 environment: Optional[Mapping[str, str]] = None, allowed_hosts: Optional[Iterable[str]] = None,
                 workers: int = 1, job_execution: bool = False, host: str = "127.0.0.1",
                 start_timeout: float = 120.0):
        scheme = backend_store_uri.split("://", 1)[0] if "://" in backend_store_uri else ""
        if scheme in ("", "file"):
            raise ValueError("give a database backend store URI (postgresql+psycopg2://..., "
                             "mysql+pymysql://..., sqlite:///...): MLflow 3 refuses a file store")
        self.directory = Path(directory)
        self.backend_store_uri = backend_store_uri
        self.artifacts_destination = artifacts_destination
        self.environment = dict(environment or {})
        self.allowed_hosts = list(allowed_hosts) if allowed_hosts is not None else None
        # One worker: a test sends one request at a time, and every worker imports MLflow (seconds).
        self.workers = workers
        # MLflow 3 starts a job runner with seven huey consumers by default, each a Python process
        # importing MLflow: seconds of CPU each on a 2-core runner, for jobs (GenAI scorers, trace
        # archival) that no test here runs. Off unless asked for.
        self.job_execution = job_execution
        self.host = host
        self.start_timeout = start_timeout
        self.port: Optional[int] = None
        self.log_path = self.directory / "mlflow-server.log"
        self.startup_seconds: Optional[float] = None  # from launch() to the first 200 from /health
        self._process: Optional[subprocess.Popen] = None
        self._began = 0.0
        self._attempts = 0
        self._log_offset = 0
        self._stop_requested = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process else None

    def child_environment(self) -> dict:
        """The server's environment: ours without MLFLOW_* and AWS_* settings, plus the given ones.

        An S3 endpoint over HTTPS (``MLFLOW_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL``, as the proving
        ground's) is verified against ``AWS_CA_BUNDLE``: the given one, else ours (its test CA)."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("MLFLOW_", "AWS_", "BOTO_"))}
        env.update({
            "MLFLOW_BACKEND_STORE_URI": self.backend_store_uri,
            # No network here, and nothing about tests should be reported anywhere.
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true" if self.job_execution else "false",
        })
        if self.artifacts_destination:
            env["MLFLOW_ARTIFACTS_DESTINATION"] = self.artifacts_destination
            env["MLFLOW_SERVE_ARTIFACTS"] = "true"
        if self.allowed_hosts is not None:
            env["MLFLOW_SERVER_ALLOWED_HOSTS"] = ",".join(self.allowed_hosts)
        env.update(self.environment)
        endpoints = (env.get("MLFLOW_S3_ENDPOINT_URL", ""), env.get("AWS_ENDPOINT_URL", ""))
        if any(url.startswith("https://") for url in endpoints) and "AWS_CA_BUNDLE" not in env \
                and os.environ.get("AWS_CA_BUNDLE"):
            env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
        return env

    def start(self) -> "MlflowServer":
        """Launch the server and wait until it answers."""
        return self.launch().wait_until_ready()

    def launch(self) -> "MlflowServer":
        """Spawn the server and return at once. A start is mostly one Python process importing
        MLflow, on one core: launch several servers, then wait for each, to use every core."""
        if self._process is not None:
            raise MlflowServerError("this mlflow server is already started")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._began = time.monotonic()
        self._attempts = 0
        _running_servers.add(self)
        try:
            self._spawn()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ready(self) -> "MlflowServer":
        """Wait until /health answers 200; on failure stop everything and raise with the log."""
        if self._process is None:
            raise MlflowServerError("launch() the mlflow server first")
        deadline = self._began + self.start_timeout
        try:
            while not self._healthy():
                if self._process.poll() is not None:
                    if self._attempts >= 3 or "address already in use" not in self._attempt_log().lower():
                        raise MlflowServerError(
                            f"mlflow server exited with status {self._process.returncode} while starting; "
                            f"{self.log_path}:\n{self.log_text()[-6000:]}")
                    self._reap()  # another process took the port first: try another one
                    self._spawn()
                    continue
                if time.monotonic() > deadline:
                    raise MlflowServerError(
                        f"mlflow server did not answer /health within {self.start_timeout}s; "
                        f"{self.log_path}:\n{self.log_text()[-6000:]}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - self._began
        return self

    def _spawn(self) -> None:
        self._attempts += 1
        self._stop_requested = False
        self.port = free_port(self.host)
        command = [*mlflow_command(), "server", "--host", self.host, "--port", str(self.port),
                   "--workers", str(self.workers)]
        with open(self.log_path, "ab") as log:
            log.write(f"\n$ {' '.join(command)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            # A session of its own, so that stop() can take down uvicorn's workers and the job
            # runner with the CLI process.
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, cwd=self.directory,
                                             env=self.child_environment(), start_new_session=True)

    def request_stop(self) -> None:
        """Ask the server to shut down without waiting: the CLI takes a few seconds to exit after
        uvicorn has stopped, so stopping several servers goes faster when all are asked first."""
        if self._process is not None and self._process.poll() is None and not self._stop_requested:
            # The CLI forwards SIGTERM to uvicorn, which finishes requests and stops its workers.
            # Once only: a second signal makes uvicorn skip its graceful shutdown.
            self._process.send_signal(signal.SIGTERM)
            self._stop_requested = True

    def stop(self) -> None:
        """Stop the server and every process it started (also after a failed start)."""
        self._reap()
        _running_servers.discard(self)

    def _reap(self) -> None:
        self.request_stop()
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the session (a worker, the job runner) goes too.
        kill_process_group(process)

    def __enter__(self) -> "MlflowServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
