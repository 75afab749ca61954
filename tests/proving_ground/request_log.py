"""A log of every AWS request the proving ground answered: to count calls and to prove that none
of them changed anything."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Optional


class RequestLog:
    def __init__(self, limit: int = 100_000):
        self._entries: list = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._limit = limit

    def add(self, *, service: Optional[str], operation: Optional[str], method: str, path: str,
            status: int, duration: float, mutating: bool, error_code: Optional[str] = None,
            fault: Optional[str] = None, region: Optional[str] = None, tls: bool = False) -> None:
        with self._lock:
            self._entries.append({
                "id": next(self._ids),
                "time": time.time(),
                "service": service,
                "operation": operation,
                "region": region,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(duration * 1000, 3),
                "mutating": mutating,
                "error_code": error_code,
                "fault": fault,
                "tls": tls,  # came over the HTTPS port
            })
            del self._entries[:-self._limit]

    def entries(self, since: int = 0) -> list:
        with self._lock:
            return [entry for entry in self._entries if entry["id"] > since]

    def last_id(self) -> int:
        with self._lock:
            return self._entries[-1]["id"] if self._entries else 0

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
