"""How one-off ECS tasks end: an outcome the test chooses, where moto would invent exit code 0.

moto runs nothing. A task started by RunTask (or StartTask) walks through the ECS task life cycle one
step per DescribeTasks and reaches STOPPED with every container's ``exitCode`` 0, its ``desiredStatus``
still RUNNING and its containers still PENDING (see ``moto_fixes.EcsRunFargateTask``). A role that runs
``mlflow db upgrade`` as a one-off task and checks ``containers[].exitCode`` could then only ever see
success. With this overlay a test says how such tasks end::

    POST /_proving_ground/ecs/task-outcomes
    {"family": "mlflow-db-upgrade", "commandContains": "db upgrade",
     "exitCode": 1, "stoppedReason": "Essential container in task exited",
     "reason": "alembic.util.exc.CommandError: Can't locate revision"}

Every later RunTask / StartTask of a task definition of that family (and, with ``commandContains``,
whose container overrides' command, joined with spaces, contains that text) gets the outcome; the
newest matching outcome wins; ``times`` limits how many tasks one outcome applies to. Tasks that a
service starts (``startedBy`` ``ecs-svc/...``, ``group`` ``service:...``) are never matched.

Once such a task's container has stopped (from DEACTIVATING on), DescribeTasks shows it as ECS does
(ECS Developer Guide, "Amazon ECS stopped task errors" and the Task / Container data types):
``desiredStatus`` STOPPED, ``stopCode`` (``EssentialContainerExited`` by default, or
``TaskFailedToStart`` for a task whose container never ran), ``stoppedReason``, ``stoppingAt`` and
``executionStoppedAt``, then ``stoppedAt`` once STOPPED; its containers ``lastStatus`` STOPPED with
the ``exitCode`` and ``reason`` given (the outcome's ``container`` names one container; default:
every container). ``"exitCode": null`` is a task whose container never started (an image that cannot
be pulled, a secret that cannot be read): it goes from PENDING to DEPROVISIONING without RUNNING, and
its containers have no exit code. The outcome is also stored on moto's task, so ListTasks with
``desiredStatus`` STOPPED finds it.

Routes: ``POST /ecs/task-outcomes`` (add one; answers it with its ``id``), ``GET /ecs/task-outcomes``
(the outcomes and which task got which), ``DELETE /ecs/task-outcomes`` (forget them all). ``POST
/reset`` forgets them too.
"""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timezone
from typing import Optional

from .aws_protocol import AwsRequest, Response
from .moto_fixes import moto_account_id

ROUTE = "/ecs/task-outcomes"
# botocore's ecs TaskStopCode enum.
STOP_CODES = ("TaskFailedToStart", "EssentialContainerExited", "UserInitiated", "ServiceSchedulerInitiated",
              "SpotInterruption", "TerminationNotice")
DEFAULT_STOPPED_REASON = "Essential container in task exited"
DEFAULT_FAILED_TO_START_REASON = "Task failed to start"
# Task states in which the container has already exited (ECS Developer Guide, "Amazon ECS task lifecycle").
STOPPING_STATES = ("DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED")
# States a task whose container never started does not go through.
RUN_STATES = ("ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING")
_FIELDS = {"family", "commandContains", "exitCode", "stoppedReason", "reason", "stopCode", "container", "times"}


def _optional_text(document: dict, name: str) -> Optional[str]:
    value = document.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{name} must be a non-empty string")
    return value


def parse_outcome(document: dict) -> dict:
    """A validated outcome from the control API's JSON (raises ValueError with what is wrong)."""
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}; an outcome takes {', '.join(sorted(_FIELDS))}")
    family = _optional_text(document, "family")
    if family is None:
        raise ValueError("family (the task definition family) is required")
    if "exitCode" not in document:
        raise ValueError("exitCode is required (an integer, or null for a container that never started)")
    exit_code = document["exitCode"]
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise ValueError("exitCode must be an integer or null")
    stop_code = _optional_text(document, "stopCode") or (
        "EssentialContainerExited" if exit_code is not None else "TaskFailedToStart")
    if stop_code not in STOP_CODES:
        raise ValueError(f"stopCode must be one of {', '.join(STOP_CODES)}")
    times = document.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError("times must be a positive integer")
    return {
        "family": family,
        "commandContains": _optional_text(document, "commandContains"),
        "exitCode": exit_code,
        "stoppedReason": _optional_text(document, "stoppedReason") or (
            DEFAULT_STOPPED_REASON if exit_code is not None else DEFAULT_FAILED_TO_START_REASON),
        "reason": _optional_text(document, "reason"),
        "stopCode": stop_code,
        "container": _optional_text(document, "container"),
        "times": times,
    }


def _family(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _overridden_commands(params: dict) -> list:
    overrides = (params.get("overrides") or {}).get("containerOverrides") or []
    return [" ".join(str(part) for part in override["command"]) for override in overrides if override.get("command")]


def _started_by_a_service(task: dict) -> bool:
    return str(task.get("startedBy", "")).startswith("ecs-svc/") or str(task.get("group", "")).startswith("service:")


def _timestamp(moment: datetime) -> float:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000).timestamp()


class EcsTaskOutcomes:
    """The overlay: matches one-off tasks to outcomes at RunTask, shows the outcome in DescribeTasks."""

    name = "ecs-task-outcomes"

    def __init__(self):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._outcomes: list = []  # oldest first
        self._tasks: dict = {}  # task ARN -> {"outcome": {...}, "stoppingAt": ts, "stoppedAt": ts}

    # control API
    def control_routes(self) -> dict:
        return {
            ("POST", ROUTE): self._add,
            ("GET", ROUTE): lambda body: (200, self.describe()),
            ("DELETE", ROUTE): self._clear,
        }

    def _add(self, body: dict):
        outcome = parse_outcome(body)
        with self._lock:
            outcome["id"] = next(self._ids)
            outcome["applied"] = 0
            self._outcomes.append(outcome)
        return 200, {"outcome": dict(outcome)}

    def _clear(self, body: dict):
        with self._lock:
            count = len(self._outcomes)
            self._outcomes.clear()
            self._tasks.clear()
        return 200, {"cleared": count}

    def describe(self) -> dict:
        with self._lock:
            return {"outcomes": [dict(outcome) for outcome in self._outcomes],
                    "tasks": {arn: record["outcome"]["id"] for arn, record in self._tasks.items()}}

    def reset(self) -> None:
        self._clear({})

    # AWS traffic
    def handle(self, request: AwsRequest) -> Optional[Response]:
        return None

    def after(self, request: AwsRequest, response: Response) -> Response:
        if request.service != "ecs" or response.status >= 300:
            return response
        if request.operation in ("RunTask", "StartTask"):
            self._assign(request, response)
        elif request.operation == "DescribeTasks" and self._tasks:
            return self._show(request, response)
        return response

    def _match(self, family: str, commands: list) -> Optional[dict]:
        for outcome in reversed(self._outcomes):
            if outcome["family"] != family:
                continue
            if outcome["times"] is not None and outcome["applied"] >= outcome["times"]:
                continue
            if outcome["commandContains"] and not any(outcome["commandContains"] in command for command in commands):
                continue
            return outcome
        return None

    def _assign(self, request: AwsRequest, response: Response) -> None:
        if not self._outcomes:
            return
        commands = _overridden_commands(request.params)
        for task in response.json().get("tasks", []):
            if _started_by_a_service(task):
                continue
            with self._lock:
                outcome = self._match(_family(task.get("taskDefinitionArn", "")), commands)
                if outcome is None:
                    continue
                outcome["applied"] += 1
                self._tasks[task["taskArn"]] = {"outcome": dict(outcome)}
            if outcome["exitCode"] is None:
                self._skip_running(request, task)

    @staticmethod
    def _stored_task(request: AwsRequest, task: dict):
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[moto_account_id(request)][request.region]
        return backend.tasks.get(task.get("clusterArn", "").rsplit("/", 1)[-1], {}).get(task["taskArn"])

    def _skip_running(self, request: AwsRequest, task: dict) -> None:
        """A container that never starts: the task goes from PENDING to DEPROVISIONING (or STOPPED)."""
        stored = self._stored_task(request, task)
        if stored is None:
            return
        transitions = dict(stored._transitions)  # pylint: disable=protected-access
        states, state, seen = [stored.status], stored.status, set()
        while state in transitions and state not in seen:
            seen.add(state)
            state = transitions[state]
            states.append(state)
        kept = [state for state in states if state not in RUN_STATES]
        stored._transitions = list(zip(kept, kept[1:]))  # pylint: disable=protected-access

    def _show(self, request: AwsRequest, response: Response) -> Response:
        document = response.json()
        changed = False
        now = datetime.now(timezone.utc)
        for task in document.get("tasks", []):
            with self._lock:
                record = self._tasks.get(task.get("taskArn"))
                if record is None or task.get("lastStatus") not in STOPPING_STATES:
                    continue
                record.setdefault("stoppingAt", _timestamp(now))
                if task["lastStatus"] == "STOPPED":
                    record.setdefault("stoppedAt", _timestamp(now))
                record = dict(record)
            self._apply(task, record)
            self._store(request, task, record["outcome"])
            changed = True
        return response.with_json(document) if changed else response

    @staticmethod
    def _apply(task: dict, record: dict) -> None:
        outcome = record["outcome"]
        task["desiredStatus"] = "STOPPED"
        task["stopCode"] = outcome["stopCode"]
        task["stoppedReason"] = outcome["stoppedReason"]
        task["stoppingAt"] = record["stoppingAt"]
        if outcome["exitCode"] is not None:
            task["executionStoppedAt"] = record["stoppingAt"]
        if "stoppedAt" in record:
            task["stoppedAt"] = record["stoppedAt"]
        for container in task.get("containers", []):
            if outcome["container"] and container.get("name") != outcome["container"]:
                continue
            container["lastStatus"] = "STOPPED"
            if outcome["exitCode"] is None:
                container.pop("exitCode", None)
            else:
                container["exitCode"] = outcome["exitCode"]
            if outcome["reason"]:
                container["reason"] = outcome["reason"]

    def _store(self, request: AwsRequest, task: dict, outcome: dict) -> None:
        """What moto's later answers (ListTasks desiredStatus=STOPPED, StopTask) build on."""
        stored = self._stored_task(request, task)
        if stored is None:
            return
        stored.desired_status = "STOPPED"
        stored.stopped_reason = outcome["stoppedReason"]
        for container in stored.containers:
            if outcome["container"] and container.name != outcome["container"]:
                continue
            container.last_status = "STOPPED"
            container.exitCode = outcome["exitCode"]
