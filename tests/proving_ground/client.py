"""A small client of the proving ground's control API, for tests and scripts."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Optional


class ProvingGroundClient:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint.rstrip("/")

    def _call(self, method: str, path: str, document: Optional[dict] = None):
        data = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(f"{self.endpoint}/_proving_ground{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
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

    def call(self, method: str, path: str, document: Optional[dict] = None):
        """Any control route, including those that overlays add (see GET /_proving_ground/routes)."""
        return self._call(method, path, document)
