"""Run-time settings of the proving ground, changeable through its control API."""

from __future__ import annotations

import dataclasses
import threading
from typing import Optional


@dataclasses.dataclass
class Settings:
    # Latency model: 0 is off (every resource is ready at once); 1.0 takes as long as AWS does; 0.01
    # turns AWS's 25 minutes into 15 seconds.
    latency_scale: float = 0.0
    # "service:Operation" -> seconds in AWS time, replacing the built-in figure of that operation.
    latency_overrides: dict = dataclasses.field(default_factory=dict)
    # Fault mode: the share (0..1) of requests answered with a fault instead of going through.
    fault_rate: float = 0.0
    # Which faults: "throttle" (ThrottlingException, RequestLimitExceeded, ...) and "5xx".
    fault_kinds: list = dataclasses.field(default_factory=lambda: ["throttle"])
    # Services (botocore names) the faults apply to; empty means every service.
    fault_services: list = dataclasses.field(default_factory=list)
    fault_seed: Optional[int] = None
    # Check what the proving ground itself answers (SageMaker MLflow) against botocore's model and
    # answer 500 when it is wrong, so that every test checks every response.
    strict: bool = True

    def __post_init__(self):
        self._lock = threading.Lock()

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def update(self, changes: dict) -> None:
        """Apply changes after checking them all: a refused change leaves every setting as it was."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        candidate = dict(self.as_dict(), **changes)
        if not 0 <= float(candidate["fault_rate"]) <= 1:
            raise ValueError("fault_rate must be between 0 and 1")
        if float(candidate["latency_scale"]) < 0:
            raise ValueError("latency_scale must be 0 or more")
        bad_kinds = set(candidate["fault_kinds"]) - {"throttle", "5xx"}
        if bad_kinds:
            raise ValueError(f"fault_kinds takes 'throttle' and '5xx', not {sorted(bad_kinds)}")
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)
