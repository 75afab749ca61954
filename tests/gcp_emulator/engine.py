"""The emulator's state and its generic, discovery-driven request handling.

A request arrives as (API, discovery method, path parameters, query, body). ``Emulator.handle``

1. checks required parameters and validates the body against the method's request schema
   (``discovery.Validator``), answering 400 in the API's words on any violation;
2. drops output-only fields from the body (the real APIs ignore them on input);
3. runs the method: a handler of the API's ``Behaviour`` (``apis.py``) when it has one for the
   method id, else the generic one chosen by the method's verb (create/insert, get, list,
   patch, update, delete, getIamPolicy, setIamPolicy, testIamPermissions);
4. checks the answer against the response schema (setting ``strict``, on by default): an
   emulator answer the real API could not give is a 500, so a test never passes on a shape
   Google would not send.

Resources are stored by key ``<api>:<canonical path>``: the request path of the resource (``v2/
projects/mlops-test/locations/europe-west1/services/s``, ``compute/v1/projects/mlops-test/global/
backendServices/b``) with the project number replaced by the project id, so both forms name the
same resource. Long-running operations are resources too (so ``operations.get`` is the generic
get); each knows when it becomes done (``operation_delay`` seconds after it started).
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import random
import re
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Optional

from .discovery import Api, Method, camel, load, strip_read_only
from .errors import ApiError, invalid, not_found

DEFAULT_SETTINGS = {
    "operation_delay": 0.0,  # seconds an operation stays not done
    "strict": True,  # check every answer against the response schema (500 when it does not fit)
    "fail_next_revision": {},  # Cloud Run service name -> message: its next revision fails to start
    # Answer 403 SERVICE_DISABLED for an API not enabled through Service Usage, as Google does
    # (off by default: most tests do not enable APIs first).
    "require_enabled_services": False,
}


def now() -> float:
    return time.time()


def rfc3339(moment: Optional[float] = None, digits: int = 6) -> str:
    stamp = datetime.datetime.fromtimestamp(moment if moment is not None else now(), datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}"[:digits] + "Z"


def compute_timestamp(moment: Optional[float] = None) -> str:
    """Compute writes creation timestamps in Pacific time with an offset: 2026-12-05T15:04:05.123-08:00."""
    stamp = datetime.datetime.fromtimestamp(moment if moment is not None else now(),
                                            datetime.timezone(datetime.timedelta(hours=-8)))
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}-08:00"


def random_digits(count: int) -> str:
    return str(random.randint(1, 9)) + "".join(random.choice(string.digits) for unused in range(count - 1))


def random_letters(count: int) -> str:
    return "".join(random.choice(string.ascii_lowercase) for unused in range(count))


def etag_of(document) -> str:
    return base64.b64encode(hashlib.sha256(repr(document).encode()).digest()[:8]).decode()


def deep_merge(target: dict, patch: dict) -> dict:
    """JSON merge patch as the apiary APIs apply PATCH: objects merge, everything else replaces."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def apply_mask(target: dict, patch: dict, mask: str) -> dict:
    """Set (or clear, when absent from ``patch``) each field path of an ``updateMask``."""
    for path in filter(None, (part.strip() for part in mask.split(","))):
        parts = [re.sub(r"_([a-z])", lambda m: m.group(1).upper(), part) for part in path.split(".")]
        source, dest = patch, target
        for part in parts[:-1]:
            source = source.get(part, {}) if isinstance(source, dict) else {}
            dest = dest.setdefault(part, {})
        if isinstance(source, dict) and parts[-1] in source:
            dest[parts[-1]] = copy.deepcopy(source[parts[-1]])
        else:
            dest.pop(parts[-1], None)
    return target


@dataclass
class Call:
    """One API request, as the engine sees it."""

    api: Api
    method: Method
    params: dict
    query: dict  # name -> list of values
    body: Optional[dict]
    host: str
    path: str = ""  # the request path without the leading slash and the query
    caller: str = "user:emulator@example.com"
    started: float = field(default_factory=now)

    def arg(self, name: str, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        return str(self.arg(name, "false")).lower() == "true"


class Emulator:
    """All state of one emulated organisation: one project (id and number) and its resources."""

    def __init__(self, project_id: str = "mlops-test", project_number: str = "123456789012",
                 settings: Optional[dict] = None):
        from . import apis  # the per-API behaviours use this module's helpers

        self.project_id = project_id
        self.project_number = str(project_number)
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.settings = copy.deepcopy(DEFAULT_SETTINGS)
        self.settings.update(settings or {})
        self.behaviours = {name: cls(self) for name, cls in apis.BEHAVIOURS.items()}
        self.reset()

    # -- state --------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.resources: dict = {}
            self.policies: dict = {}  # resource key -> IAM policy
            self.tombstones: dict = {}  # key -> deletion time (names that cannot be reused yet)
            for behaviour in self.behaviours.values():
                behaviour.seed()

    def configure(self, changes: dict) -> dict:
        unknown = set(changes) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}")
        delay = changes.get("operation_delay", self.settings["operation_delay"])
        if not isinstance(delay, (int, float)) or delay < 0:
            raise ValueError("operation_delay: a number of seconds >= 0")
        if not isinstance(changes.get("require_enabled_services", False), bool) or not isinstance(
                changes.get("strict", True), bool):
            raise ValueError("require_enabled_services, strict: true or false")
        if not isinstance(changes.get("fail_next_revision", {}), dict):
            raise ValueError("fail_next_revision: {service name: message}")
        with self.lock:
            self.settings.update(copy.deepcopy(changes))
            return copy.deepcopy(self.settings)

    def canonical(self, path: str) -> str:
        """``path`` with the project number replaced by the project id."""
        return re.sub(rf"(^|/)projects/{self.project_number}(?=/|$|:)", rf"\1projects/{self.project_id}", path)

    def is_project(self, project: str) -> bool:
        return project in (self.project_id, self.project_number)

    def key(self, api: str, path: str) -> str:
        return f"{api}:{self.canonical(path)}"

    def get(self, key: str) -> Optional[dict]:
        return self.resources.get(key)

    def put(self, key: str, resource: dict) -> None:
        self.resources[key] = resource
        self.changed.notify_all()

    def children(self, prefix: str) -> list:
        """Resources directly under a collection key (``.../services``), in creation order."""
        depth = prefix.count("/") + 1
        return [(key, value) for key, value in self.resources.items()
                if key.startswith(prefix + "/") and key.count("/") == depth]

    # -- dispatch -----------------------------------------------------------------------------
    def handle(self, call: Call) -> tuple:
        """(HTTP status, JSON document or None) for one API request."""
        behaviour = self.behaviours[call.api.name]
        self._check_parameters(call)
        method = call.method
        if call.body is not None and method.request:
            label = behaviour.body_label(method)
            violations = call.api.validator.check(method.request, call.body, label, method_id=method.id)
            violations += behaviour.check_body(call)
            if violations:
                first = violations[0]
                raise invalid(first.message, "invalid" if first.kind != "required" else "required",
                              violations=[(v.field, v.message) for v in violations])
            call.body = strip_read_only(call.api, method.request, call.body)
        elif method.request and method.http_method in ("POST", "PUT", "PATCH") and behaviour.body_required(method):
            raise invalid("Invalid JSON payload received. Unexpected end of string. Expected a JSON object.")
        with self.lock:
            handler = behaviour.handlers.get(method.id)
            if handler is None:
                handler = getattr(behaviour, "generic_" + self._generic_verb(method), None)
            if handler is None:
                raise ApiError(501, f"Method {method.id} is not implemented by the emulator.", "UNIMPLEMENTED")
            status, document = handler(call)
        if document is not None and self.settings["strict"] and method.response:
            problems = call.api.validator.check(method.response, document, "", response=True)
            if problems:
                raise ApiError(500, f"emulator bug: its answer to {method.id} does not fit {method.response}: "
                                    + "; ".join(p.message for p in problems[:5]), "INTERNAL")
        return status, document

    @staticmethod
    def _generic_verb(method: Method) -> str:
        verb = method.verb
        return {"insert": "create"}.get(verb, verb)

    def _check_parameters(self, call: Call) -> None:
        if call.api.style == "oneplatform":
            # ESF binds query parameters to request fields and refuses the ones it cannot bind;
            # the document's top-level parameters (alt, fields, prettyPrint...) are always allowed.
            known = set(call.method.parameters) | set(call.api.document.get("parameters", {}))
            for name in list(call.query):
                if name not in known and camel(name) in known:  # the proto field name binds too
                    call.query[camel(name)] = call.query.pop(name)
                elif name not in known:
                    raise invalid(f"Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query "
                                  f"parameter. Field '{name}' could not be found in request message.")
        for name, spec in call.method.parameters.items():
            if spec.get("location") != "query":
                continue
            values = call.query.get(name)
            if spec.get("required") and not values:
                raise invalid(f"Required parameter '{name}' is missing" if call.api.style == "apiary"
                              else f"Missing required field {name}.", "required")
            if values and spec.get("enum") and values[0] not in spec["enum"]:
                raise invalid(f"Invalid value for parameter '{name}': '{values[0]}'" if call.api.style == "apiary"
                              else f"Invalid value at '{name}' (TYPE_ENUM), \"{values[0]}\"")
            if values and spec.get("type") == "boolean" and values[0].lower() not in ("true", "false"):
                raise invalid(f"Invalid value at '{name}' (TYPE_BOOL), \"{values[0]}\"")
            if values and spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", values[0]):
                raise invalid(f"Invalid value at '{name}' (TYPE_INT32), \"{values[0]}\"")


class Operation:
    """Helpers for long-running operations: when they are done."""

    @staticmethod
    def deadline(emulator: Emulator) -> float:
        return now() + float(emulator.settings["operation_delay"])

    @staticmethod
    def is_done(op: dict) -> bool:
        return now() >= op["_ready_at"]


def public(document: dict) -> dict:
    """A stored resource without the emulator's own bookkeeping (keys starting with ``_``)."""
    if isinstance(document, dict):
        return {key: public(value) for key, value in document.items() if not key.startswith("_")}
    if isinstance(document, list):
        return [public(item) for item in document]
    return copy.deepcopy(document)


__all__ = ["Call", "Emulator", "Operation", "ApiError", "invalid", "not_found", "public", "rfc3339",
           "compute_timestamp", "random_digits", "random_letters", "etag_of", "deep_merge", "apply_mask", "load",
           "now", "uuid"]
