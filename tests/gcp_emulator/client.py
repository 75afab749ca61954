"""A small client of the GCP emulator's control API (``/_gcp_emulator/...`` on the proxy port)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Optional


class GcpEmulatorClient:
    """``endpoint``: ``http://127.0.0.1:<proxy port>``. The control API is plain HTTP on loopback."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint.rstrip("/")
        # The control API is on loopback: never through a proxy the environment may name.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str, document: Optional[dict] = None):
        data = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(f"{self.endpoint}/_gcp_emulator{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=30) as response:
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
        """``operation_delay`` (seconds), ``strict`` (check answers against the response schemas),
        ``fail_next_revision`` ({Cloud Run service id or "*": message})."""
        return self._call("POST", "/config", changes)

    def fail_next_revision(self, service: str, message: Optional[str] = None) -> dict:
        """The next revision of Cloud Run service ``service`` fails to start (once)."""
        from .apis import CONTAINER_FAILED  # pylint: disable=import-outside-toplevel

        current = dict(self.settings().get("fail_next_revision", {}))
        current[service] = message or CONTAINER_FAILED
        return self.configure(fail_next_revision=current)

    def reset(self) -> None:
        """Forget every resource and the request log; settings stay."""
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

    def resources(self) -> list:
        return self._call("GET", "/resources")["resources"]
