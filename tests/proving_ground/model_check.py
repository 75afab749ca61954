"""Checks of JSON-protocol documents against botocore's service model, worded as AWS words them.

The proving ground answers some operations itself (SageMaker MLflow). Two things keep those answers
honest:

* requests are checked as AWS checks them server-side. botocore's client already refuses missing
  required members, wrong types and values below ``min``, but it sends values that break ``max``,
  ``pattern`` or an enum, and AWS refuses those with a ``ValidationException`` such as::

      1 validation error detected: Value 'Huge' at 'trackingServerSize' failed to satisfy
      constraint: Member must satisfy enum value set: [Small, Medium, Large]

  (several problems: ``2 validation errors detected: ...; ...``; member paths in lowerCamelCase,
  list items as ``tags.1.member.key``);
* answers are checked against the output shape (:func:`validate_output`), so a response that
  botocore would parse but that AWS could never send (an unknown member, a status outside the enum, a
  string where a number belongs) is caught by every test that receives it.

Only the JSON protocols are covered: timestamps are numbers (epoch seconds) unless the shape says
otherwise, blobs are base64 strings.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional

try:  # The model's patterns are Java regular expressions; some use \p{L}, which only `regex` knows.
    import regex as _regex_engine
except ImportError:  # pragma: no cover - exercised only where `regex` is not installed
    _regex_engine = None

# Errors that every AWS operation may return although no operation declares them
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html).
COMMON_ERRORS = frozenset({
    "AccessDeniedException", "IncompleteSignature", "InternalFailure", "InvalidAction",
    "InvalidClientTokenId", "NotAuthorized", "OptInRequired", "RequestExpired", "ServiceUnavailable",
    "ThrottlingException", "ValidationError", "ValidationException", "SerializationException",
    "UnrecognizedClientException", "MissingAuthenticationToken",
})

# Problem kinds. Only "constraint" problems are what AWS reports as a ValidationException; a value of
# the wrong JSON type never reaches the validation layer (AWS answers SerializationException), and
# unknown members are ignored in requests but must never appear in answers.
CONSTRAINT = "constraint"
TYPE = "type"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Problem:
    """One way in which a document breaks its shape."""

    path: str  # lowerCamelCase member path as AWS prints it, e.g. "tags.1.member.key"
    value: Any
    constraint: str  # "Member must ..." for constraints, a plain description otherwise
    kind: str = CONSTRAINT

    def aws_message(self) -> str:
        """The problem as one clause of AWS's ValidationException message."""
        shown = "null" if self.value is None else f"'{render_value(self.value)}'"
        return f"Value {shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"

    def __str__(self) -> str:
        if self.kind == CONSTRAINT:
            return self.aws_message()
        return f"{self.path or '<document>'}: {self.constraint}"


def render_value(value: Any) -> str:
    """A value printed the way AWS's (Java) validation layer prints it in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={render_value(item)}" for key, item in value.items()) + "}"
    return str(value)


def lower_camel(name: str) -> str:
    """``TrackingServerSize`` -> ``trackingServerSize``: how AWS names members in messages."""
    return name[:1].lower() + name[1:]


def validation_error_message(problems: Iterable[Problem]) -> str:
    """AWS's ValidationException message for one or more constraint problems."""
    problems = list(problems)
    noun = "error" if len(problems) == 1 else "errors"
    return f"{len(problems)} validation {noun} detected: " + "; ".join(p.aws_message() for p in problems)


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str):
    if _regex_engine is not None:
        return _regex_engine.compile(pattern)
    # Without `regex`, approximate the Unicode classes the SageMaker model uses (letters, separators,
    # numbers) with their closest `re` equivalents.
    translated = pattern.replace(r"\p{L}", r"\w").replace(r"\p{Z}", r"\s").replace(r"\p{N}", r"\d")
    return re.compile(translated)


def matches_pattern(pattern: str, value: str) -> bool:
    """Whether ``value`` matches the model's pattern as a whole.

    AWS validates with Java's ``Pattern.matches``, which anchors at both ends, so a pattern without
    ``^``/``$`` still has to match the entire value (``abc_`` does not satisfy ``[a-z]+``).
    """
    return _compiled(pattern).fullmatch(value) is not None


def check(shape, value: Any, path: str = "", allow_unknown: bool = False) -> list[Problem]:
    """Every problem of ``value`` against a botocore shape. ``path`` names ``value`` in messages."""
    problems: list[Problem] = []
    _check(shape, value, path, allow_unknown, problems)
    return problems


def _check(shape, value, path, allow_unknown, problems) -> None:
    kind = shape.type_name
    checker = _CHECKERS.get(kind)
    if checker is None:  # document types and anything newer than this module: nothing to check
        return
    checker(shape, value, path, allow_unknown, problems)


def _check_structure(shape, value, path, allow_unknown, problems) -> None:
    if not isinstance(value, dict):
        problems.append(Problem(path, value, f"expected a structure (JSON object), got {_json_type(value)}", TYPE))
        return
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(Problem(_join(path, name), None, "Member must not be null"))
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            if not allow_unknown:
                problems.append(Problem(_join(path, name), item, f"{name} is not a member of {shape.name}", UNKNOWN))
            continue
        if item is None:  # JSON null: botocore treats it as absent; required-ness was checked above
            continue
        _check(member, item, _join(path, name), allow_unknown, problems)


def _check_list(shape, value, path, allow_unknown, problems) -> None:
    if not isinstance(value, list):
        problems.append(Problem(path, value, f"expected a list (JSON array), got {_json_type(value)}", TYPE))
        return
    _check_length(shape, value, path, problems)
    for index, item in enumerate(value, start=1):
        _check(shape.member, item, f"{path}.{index}.member", allow_unknown, problems)


def _check_map(shape, value, path, allow_unknown, problems) -> None:
    if not isinstance(value, dict):
        problems.append(Problem(path, value, f"expected a map (JSON object), got {_json_type(value)}", TYPE))
        return
    _check_length(shape, value, path, problems)
    for key, item in value.items():
        _check(shape.key, key, f"{path}.{key}", allow_unknown, problems)
        _check(shape.value, item, f"{path}.{key}", allow_unknown, problems)


def _check_string(shape, value, path, allow_unknown, problems) -> None:
    if not isinstance(value, str):
        problems.append(Problem(path, value, f"expected a string, got {_json_type(value)}", TYPE))
        return
    _check_length(shape, value, path, problems)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.append(Problem(path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not matches_pattern(pattern, value):
        problems.append(Problem(path, value, f"Member must satisfy regular expression pattern: {pattern}"))


def _check_integer(shape, value, path, allow_unknown, problems) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(Problem(path, value, f"expected an integer, got {_json_type(value)}", TYPE))
        return
    _check_range(shape, value, path, problems)


def _check_number(shape, value, path, allow_unknown, problems) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(Problem(path, value, f"expected a number, got {_json_type(value)}", TYPE))
        return
    _check_range(shape, value, path, problems)


def _check_boolean(shape, value, path, allow_unknown, problems) -> None:
    if not isinstance(value, bool):
        problems.append(Problem(path, value, f"expected a boolean, got {_json_type(value)}", TYPE))


def _check_timestamp(shape, value, path, allow_unknown, problems) -> None:
    # JSON protocols send epoch seconds unless the member names another format.
    if shape.serialization.get("timestampFormat") in ("iso8601", "rfc822"):
        if not isinstance(value, str):
            problems.append(Problem(path, value, f"expected a timestamp string, got {_json_type(value)}", TYPE))
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(Problem(path, value, f"expected a timestamp (epoch seconds), got {_json_type(value)}",
                                TYPE))


def _check_blob(shape, value, path, allow_unknown, problems) -> None:
    if not isinstance(value, str):
        problems.append(Problem(path, value, f"expected a base64 string, got {_json_type(value)}", TYPE))
        return
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        problems.append(Problem(path, value, "expected base64-encoded data", TYPE))
        return
    _check_length(shape, decoded, path, problems)


def _check_length(shape, value, path, problems) -> None:
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if minimum is not None and len(value) < minimum:
        problems.append(Problem(path, value, f"Member must have length greater than or equal to {minimum}"))
    if maximum is not None and len(value) > maximum:
        problems.append(Problem(path, value, f"Member must have length less than or equal to {maximum}"))


def _check_range(shape, value, path, problems) -> None:
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if minimum is not None and value < minimum:
        problems.append(Problem(path, value, f"Member must have value greater than or equal to {minimum}"))
    if maximum is not None and value > maximum:
        problems.append(Problem(path, value, f"Member must have value less than or equal to {maximum}"))


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
    "blob": _check_blob,
}


def _join(path: str, member_name: str) -> str:
    return f"{path}.{lower_camel(member_name)}" if path else lower_camel(member_name)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def validate_input(operation_model, params: Any) -> list[Problem]:
    """Problems of a request body against the operation's input shape, as the server sees them.

    Unknown members are not problems here: botocore never serializes them, and what AWS does with
    them from other clients is not something the proving ground should pretend to know.
    """
    shape = operation_model.input_shape
    if shape is None:
        return [] if params in (None, {}) else [Problem("", params, "the operation takes no input", TYPE)]
    return check(shape, params, allow_unknown=True)


def validate_output(operation_model, document: Any) -> list[Problem]:
    """Problems of a response document against the operation's output shape.

    Stricter than :func:`validate_input`: an answer may carry no member that the model lacks, since
    botocore would silently drop it and a test would then pass against something AWS never sends.
    """
    shape = operation_model.output_shape
    if shape is None:
        return [] if document in (None, {}) else [Problem("", document, "the operation has no output", UNKNOWN)]
    return check(shape, document, allow_unknown=False)


def check_error_code(operation_model, code: str) -> Optional[str]:
    """Why an error code cannot come from this operation, or None when it can."""
    declared = {shape.name for shape in operation_model.error_shapes}
    if code in declared or code in COMMON_ERRORS:
        return None
    return (f"{operation_model.name} does not declare the error {code} (declared: "
            f"{', '.join(sorted(declared)) or 'none'}; common errors are always allowed)")


def validate_error_body(operation_model, body: bytes) -> list[str]:
    """Problems of a JSON-protocol error response body: its shape and whether its code is allowed."""
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return ["the error body is not JSON"]
    if not isinstance(document, dict):
        return ["the error body is not a JSON object"]
    code = str(document.get("__type", "")).rsplit("#", 1)[-1]
    if not code:
        return ["the error body has no __type"]
    problems = []
    reason = check_error_code(operation_model, code)
    if reason:
        problems.append(reason)
    message = document.get("message", document.get("Message"))
    if message is not None and not isinstance(message, str):
        problems.append("the error message is not a string")
    return problems
