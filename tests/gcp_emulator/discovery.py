"""Google's discovery documents as the emulator's contract: routing and schema validation.

google-api-python-client ships the discovery document of every Google API
(``googleapiclient/discovery_cache/documents/<api>.<version>.json``). Each method there has an
``id`` (``run.projects.locations.services.create``), an ``httpMethod``, a ``path`` (with ``{+name}``
parameters that span several segments and ``:verb`` suffixes) and usually a ``flatPath`` (one
segment per parameter), its parameters (``location`` path or query, ``required``, ``type``,
``enum``) and the ``$ref`` of its request and response schemas.

From that this module builds

- a router per host: ``Router.match(http_method, path)`` -> the method and its path parameters;
- a validator: ``Validator.check(schema, value, label)`` walks a JSON document against a schema
  (``$ref``, types, int64 as string or number, enums, ``additionalProperties`` maps, ``pattern``,
  ``readOnly`` fields accepted in requests and ignored as the real APIs ignore them, and the
  ``annotations.required`` lists of compute) and reports violations in the wording of the API.

What the discovery documents cannot say (which fields a method really requires beyond the
annotations, cross-field rules) is each API's business in ``apis.py``.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

import googleapiclient

DOCUMENTS = Path(googleapiclient.__file__).resolve().parent / "discovery_cache" / "documents"

# API name -> (discovery document, error style). "oneplatform" APIs word validation errors as
# ESF does for proto-backed APIs (snake_case paths, `status`); the older "apiary" APIs (compute,
# storage, Cloud SQL v1beta4) add the legacy `errors: [{reason, message}]` list.
# Cloud Storage's JSON API is the one that ignores fields it does not know (google.cloud's
# gcp_storage_bucket sends `project` and `predefinedDefaultObjectAcl` in the body, and the real API
# takes it); the others refuse them.
LENIENT_APIS = {"storage"}
APIS = {
    "run": ("run.v2", "oneplatform"),
    "iap": ("iap.v1", "oneplatform"),
    "sqladmin": ("sqladmin.v1beta4", "apiary"),
    "storage": ("storage.v1", "apiary"),
    "secretmanager": ("secretmanager.v1", "oneplatform"),
    "iam": ("iam.v1", "oneplatform"),
    "serviceusage": ("serviceusage.v1", "oneplatform"),
    "cloudresourcemanager": ("cloudresourcemanager.v1", "oneplatform"),
    "compute": ("compute.v1", "apiary"),
}

INT_FORMATS = {"int32", "uint32"}
LONG_FORMATS = {"int64", "uint64"}
DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|NaN|-?Infinity")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass
class Method:
    api: str
    id: str
    http_method: str
    path: str  # relative to the API's root URL (servicePath included)
    flat_path: Optional[str]
    parameters: dict
    request: Optional[str]
    response: Optional[str]
    regexes: list = field(default_factory=list)  # (score, compiled regex, from the path not flatPath)
    path_regex: Optional[re.Pattern] = None  # names the parameters as the method does

    @property
    def verb(self) -> str:
        """The last part of the id: create, insert, get, list, patch, update, delete, getIamPolicy..."""
        return self.id.rsplit(".", 1)[-1]

    @property
    def collection(self) -> str:
        """The id without the verb: ``run.projects.locations.services``."""
        return self.id.rsplit(".", 1)[0]


def _template_regex(template: str, multi: bool) -> tuple:
    """A regex for a discovery path template; ``multi``: ``{+x}`` spans segments (``path``)."""
    pattern, literal = "", 0
    for piece in re.split(r"(\{\+?[^}]+\})", template):
        if piece.startswith("{"):
            name = piece.strip("{}+")
            group = re.sub(r"\W", "_", name)
            if piece.startswith("{+") and multi:
                pattern += f"(?P<{group}>.+?)"
            else:
                pattern += f"(?P<{group}>[^/:]+)"
        else:
            pattern += re.escape(piece)
            literal += len(piece)
    return re.compile(f"^{pattern}$"), literal


class Api:
    """One discovery document: its methods, schemas, and a router over its paths."""

    def __init__(self, name: str):
        document_name, self.style = APIS[name]
        self.name = name
        self.document = json.loads((DOCUMENTS / f"{document_name}.json").read_text())
        self.schemas = self.document["schemas"]
        self.service_path = self.document.get("servicePath", "")
        self.methods: dict = {}
        self._walk(self.document)
        self.validator = Validator(self)

    def _walk(self, node: dict) -> None:
        for spec in node.get("methods", {}).values():
            path = self.service_path + spec["path"]
            flat = self.service_path + spec["flatPath"] if spec.get("flatPath") else None
            method = Method(self.name, spec["id"], spec["httpMethod"], path, flat, spec.get("parameters", {}),
                            (spec.get("request") or {}).get("$ref"), (spec.get("response") or {}).get("$ref"))
            # A flatPath (one segment per parameter) is more specific than the path that serves
            # several resources (``v2/{+name}``); literal characters break the remaining ties.
            if flat:
                regex, literal = _template_regex(flat, multi=False)
                method.regexes.append((2000 + literal, regex, False))
            regex, literal = _template_regex(path, multi=True)
            method.regexes.append((1000 + literal, regex, True))
            method.path_regex = regex
            self.methods[method.id] = method
        for child in node.get("resources", {}).values():
            self._walk(child)

    def match(self, http_method: str, path: str):
        """(method, path parameters) for a request path without the leading slash, or (None, None).

        The best-scoring template wins; a ``{+name}`` parameter must also match the parameter's own
        ``pattern`` (``^projects/[^/]+/locations/[^/]+/services/[^/]+$``), so that
        ``.../operations/o:wait`` is not taken for some other resource's ``get``.
        """
        candidates = []
        for method in self.methods.values():
            if method.http_method != http_method:
                continue
            score = max((score for score, regex, unused in method.regexes if regex.match(path)), default=None)
            if score is not None:
                candidates.append((score, method))
        for _score, method in sorted(candidates, key=lambda item: -item[0]):
            found = method.path_regex.match(path)
            if not found:
                continue
            params = {}
            for key, value in found.groupdict().items():
                name = next((n for n in method.parameters if re.sub(r"\W", "_", n) == key), key)
                params[name] = value
            if all(self._param_ok(method, name, value) for name, value in params.items()):
                return method, params
        return None, None

    @staticmethod
    def _param_ok(method: Method, name: str, value: str) -> bool:
        pattern = method.parameters.get(name, {}).get("pattern", "")
        return not pattern.startswith("^") or re.match(pattern, value) is not None

    def schema(self, name: str) -> dict:
        return self.schemas[name]


@dataclass
class Violation:
    field: str  # the path as the API words it
    message: str
    kind: str  # unknown, type, enum, required, pattern


class Validator:
    """Checks a JSON document against a discovery schema, in the API's words."""

    def __init__(self, api: Api):
        self.api = api

    def check(self, schema_name: str, value, label: str, *, method_id: Optional[str] = None,
              response: bool = False) -> list:
        found: list = []
        self._check({"$ref": schema_name}, value, label, found, method_id, response, top=True)
        return found

    def _path(self, parent: str, name: str) -> str:
        key = snake(name) if self.api.style == "oneplatform" else name
        return f"{parent}.{key}" if parent else key

    def _check(self, schema: dict, value, where: str, found: list, method_id, response: bool, top=False):
        type_name = None
        if "$ref" in schema:
            type_name = schema["$ref"]
            schema = self.api.schemas[type_name]
        kind = schema.get("type")
        if kind == "any" or (not kind and "properties" not in schema and "additionalProperties" not in schema):
            return
        if value is None:
            return  # JSON null is the field's default value in both protocols
        if kind == "object" or "properties" in schema:
            if not isinstance(value, dict):
                found.append(self._type_error(where, value, type_name or "object"))
                return
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                if key in properties:
                    spec = properties[key]
                elif self.api.style == "oneplatform" and camel(key) in properties:
                    spec = properties[camel(key)]  # proto JSON accepts the field's original name too
                elif extra is not None:
                    self._check(extra, item, f"{where}[{key}]", found, method_id, response)
                    continue
                elif key.startswith("@type") or (self.api.name in LENIENT_APIS and not response):
                    continue
                else:
                    at = f" at '{where}'" if where else ""
                    found.append(Violation(where, f"Invalid JSON payload received. Unknown name \"{key}\"{at}: "
                                                  "Cannot find field.", "unknown"))
                    continue
                self._check(spec, item, self._path(where, key if key in properties else camel(key)),
                            found, method_id, response)
            if method_id and not response:
                for key, spec in properties.items():
                    if method_id in spec.get("annotations", {}).get("required", []) and value.get(key) in (None, ""):
                        found.append(Violation(self._path(where, key), self._required(self._path(where, key)),
                                               "required"))
            return
        if kind == "array":
            if not isinstance(value, list):
                found.append(self._type_error(where, value, "array"))
                return
            for index, item in enumerate(value):
                self._check(schema.get("items", {}), item, f"{where}[{index}]", found, method_id, response)
            return
        if kind == "string":
            fmt = schema.get("format")
            if fmt in LONG_FORMATS:
                if isinstance(value, bool) or not (isinstance(value, int) or
                                                   (isinstance(value, str) and re.fullmatch(r"-?\d+", value))):
                    found.append(self._type_error(where, value, "TYPE_" + fmt.upper()))
                return
            if not isinstance(value, str):
                found.append(self._type_error(where, value, "TYPE_STRING"))
                return
            if fmt == "google-duration" and not DURATION.match(value):
                found.append(self._type_error(where, value, "type.googleapis.com/google.protobuf.Duration"))
            elif fmt == "google-datetime" and not TIMESTAMP.match(value):
                found.append(self._type_error(where, value, "type.googleapis.com/google.protobuf.Timestamp"))
            elif fmt == "byte":
                try:
                    base64.b64decode(value.replace("-", "+").replace("_", "/") + "===", validate=False)
                except ValueError:
                    found.append(self._type_error(where, value, "TYPE_BYTES"))
            elif "enum" in schema and value not in schema["enum"]:
                found.append(self._enum_error(where, value, schema["enum"]))
            elif "pattern" in schema and not response and not re.fullmatch(schema["pattern"], value):
                found.append(Violation(where, f"Invalid value for field '{where}': '{value}'. "
                                              f"Must be a match of regex '{schema['pattern']}'", "pattern"))
            return
        if kind == "integer":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and re.fullmatch(r"-?\d+", value))
            if isinstance(value, float) and value.is_integer():
                ok = True
            if not ok:
                found.append(self._type_error(where, value, "TYPE_" + (schema.get("format") or "int32").upper()))
            return
        if kind == "number":
            # proto JSON takes numbers as JSON numbers or as strings ("1", "0.5", "NaN")
            if isinstance(value, bool) or not (isinstance(value, (int, float)) or (
                    isinstance(value, str) and NUMBER.fullmatch(value))):
                found.append(self._type_error(where, value, "TYPE_" + (schema.get("format") or "double").upper()))
            return
        if kind == "boolean":
            if not isinstance(value, bool):
                found.append(self._type_error(where, value, "TYPE_BOOL"))

    def _type_error(self, where: str, value, type_name: str) -> Violation:
        shown = f'"{value}"' if isinstance(value, str) else json.dumps(value)
        if isinstance(value, list):
            parent, unused, name = where.rpartition(".")
            return Violation(where, f"Invalid JSON payload received. Unknown name \"{name}\" at '{parent}': "
                                    "Proto field is not repeating, cannot start list.", "type")
        if self.api.style == "apiary":
            return Violation(where, f"Invalid value for field '{where}': {shown}. Expected {type_name}.", "type")
        return Violation(where, f"Invalid value at '{where}' ({type_name}), {shown}", "type")

    def _enum_error(self, where: str, value, allowed: list) -> Violation:
        if self.api.style == "apiary":
            return Violation(where, f"Invalid value for field '{where}': '{value}'. Must be one of "
                                    f"[{', '.join(allowed)}].", "enum")
        return Violation(where, f"Invalid value at '{where}' (TYPE_ENUM), \"{value}\"", "enum")

    def _required(self, where: str) -> str:
        if self.api.style == "apiary":
            return f"Required field '{where}' not specified"
        return f"Field '{where}' is required."


def strip_read_only(api: Api, schema_name: Optional[str], value):
    """``value`` without output-only fields (and unknown ones a lenient API accepted): ignored on input."""
    if schema_name is None:
        return value
    return _strip(api, {"$ref": schema_name}, value)


def _strip(api: Api, schema: dict, value):
    if "$ref" in schema:
        schema = api.schemas[schema["$ref"]]
    if isinstance(value, dict) and ("properties" in schema or "additionalProperties" in schema):
        properties = schema.get("properties", {})
        result = {}
        for key, item in value.items():
            name = key if key in properties or api.style != "oneplatform" else camel(key)
            spec = properties.get(name)
            if spec is None:
                extra = schema.get("additionalProperties")
                if extra:
                    result[key] = _strip(api, extra, item)
                continue  # an unknown field a lenient API accepted: ignored, as it ignores it
            if spec.get("readOnly"):
                continue
            result[name] = _strip(api, spec, item)
        return result
    if isinstance(value, list) and schema.get("type") == "array":
        return [_strip(api, schema.get("items", {}), item) for item in value]
    return value


@lru_cache(maxsize=None)
def load(name: str) -> Api:
    return Api(name)
