"""A small client of the proving ground's control API, for tests and scripts."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Optional


class ProvingGroundClient:
    """``endpoint``: the proving ground's HTTP or HTTPS URL; ``ca_bundle``: the CA file an HTTPS
    endpoint's certificate is verified against (default: the system's trusted CAs)."""

    def __init__(self, endpoint: str, ca_bundle: Optional[str] = None):
        self.endpoint = endpoint.rstrip("/")
        self.ca_bundle = ca_bundle
        self._context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None

    def _call(self, method: str, path: str, document: Optional[dict] = None):
        data = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(f"{self.endpoint}/_proving_ground{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._context) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: {error.code} {error.read().decode()}") from None

    def wait_until_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "/health")
                return
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def settings(self) -> dict:
        return self._call("GET", "/config")

    def configure(self, **changes) -> dict:
        return self._call("POST", "/config", changes)

    def reset(self) -> None:
        """Forget every resource, every overlay's state and the request log; settings stay."""
        self._call("POST", "/reset", {})

    def requests(self, since: int = 0) -> list:
        return self._call("GET", f"/requests?since={since}")["requests"]

    def last_request_id(self) -> int:
        entries = self.requests()
        return entries[-1]["id"] if entries else 0

    def mutating_requests(self, since: int = 0) -> list:
        return [entry for entry in self.requests(since) if entry["mutating"]]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def set_task_outcome(self, family: str, exit_code: Optional[int], stopped_reason: Optional[str] = None, *,
                         command_contains: Optional[str] = None, reason: Optional[str] = None,
                         container: Optional[str] = None, stop_code: Optional[str] = None,
                         times: Optional[int] = None) -> dict:
        """How later one-off ECS tasks (RunTask, StartTask) of task definition family ``family`` end:
        ``exit_code`` (None: the container never started), the task's ``stopped_reason`` and the
        container's ``reason``; only tasks whose overridden command contains ``command_contains``,
        when given; ``container``: the one container that gets them (default: all); ``stop_code``
        (default ``EssentialContainerExited``, or ``TaskFailedToStart`` without exit code); ``times``:
        at most that many tasks. Answers the stored outcome (with its ``id``). See ecs_task_outcomes.py."""
        document = {"family": family, "exitCode": exit_code}
        optional = {"stoppedReason": stopped_reason, "commandContains": command_contains, "reason": reason,
                    "container": container, "stopCode": stop_code, "times": times}
        document.update({key: value for key, value in optional.items() if value is not None})
        return self._call("POST", "/ecs/task-outcomes", document)["outcome"]

    def task_outcomes(self) -> dict:
        """``{"outcomes": [...], "tasks": {task ARN: outcome id}}``."""
        return self._call("GET", "/ecs/task-outcomes")

    def clear_task_outcomes(self) -> None:
        self._call("DELETE", "/ecs/task-outcomes")

    def call(self, method: str, path: str, document: Optional[dict] = None):
        """Any control route, including those that overlays add (see GET /_proving_ground/routes)."""
        return self._call(method, path, document)
