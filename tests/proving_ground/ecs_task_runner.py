"""Run an ECS task's container as a local process, the way the ECS agent would start it on Fargate.

The proving ground records task definitions and services but runs nothing. After a playbook has
deployed MLflow against it, this runner reads back what ECS holds (DescribeServices ->
DescribeTaskDefinition, or DescribeTasks for a one-off RunTask with its overrides), resolves the
container's ``secrets`` from the emulated Secrets Manager and Parameter Store as the agent does, and
starts the container's ``entryPoint`` + ``command`` with the container's environment. The test
virtualenv stands in for the image: ``python``, ``python3`` and ``mlflow`` resolve to it.

What differs from a container, and how the runner bridges it:

- Hosts. A database endpoint (``*.rds.amazonaws.com``) is mapped to a local server with a
  ``host_map``: ``{remote_host: (local_host, local_port)}`` (keys may be ``fnmatch`` patterns) or a
  callable ``host -> (local_host, local_port) | None``. Values and command arguments are rewritten:
  ``remote:5432`` becomes ``local_host:local_port``; a bare ``remote`` right after ``@`` or ``//``
  (a URI authority with the default port implied) becomes ``local_host:local_port``; a variable
  whose whole value is ``remote`` becomes ``local_host`` and its companion port variable (``DB_HOST``
  -> ``DB_PORT``) gets ``local_port``. A callable sees every host-like word and returns None for
  those it does not map.
- AWS. The child gets the proving ground's endpoint (``AWS_ENDPOINT_URL``, ``MLFLOW_S3_ENDPOINT_URL``)
  and fake credentials in place of the task role's: S3 goes to the emulator. For an ``https://``
  endpoint it also gets the test CA (``AWS_CA_BUNDLE``), so its boto3 verifies TLS as against AWS.
- The listening port. The container port (the service's load balancer ``containerPort``, else the
  first ``portMappings`` entry) becomes a free local port in ``--port N`` / ``-p N``,
  ``0.0.0.0:N`` and ``*PORT=N`` variables, and a wildcard bind address (``0.0.0.0``, ``::``) in
  ``--host`` / ``-h`` / ``*HOST`` becomes 127.0.0.1. When nothing named the port, ``MLFLOW_PORT`` is
  set (``mlflow server`` reads it; its default host is already 127.0.0.1).
- Volumes. A task volume (EFS or ephemeral) that the container mounts at ``containerPath`` is a
  local directory. ``containerPath`` is absolute in the container's own mount namespace; mounting it
  locally would need root and would write into the test machine's ``/mnt``, so the runner rewrites
  occurrences of ``containerPath`` in the command and the environment (``sqlite:////mnt/efs/x.db``
  -> ``sqlite:///<dir>/x.db``) instead. That covers how MLflow learns paths (URIs, flags, variables);
  a path the program builds at run time from other pieces would not be rewritten.

Secret values live only in the child's environment (and in ``LocalTask.environment``, for tests that
must look): nothing here logs or prints them, and error messages name references, never values.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Tuple, Union

from botocore.exceptions import ClientError

from .databases import free_port
from .mlflow_server import LoggedServerProcess
from .server import aws_environment

HostTarget = Tuple[str, int]
HostMapping = Union[Mapping[str, HostTarget], Callable[[str], Optional[HostTarget]]]

# The stopped reason a Fargate task shows when its secrets cannot be fetched; what follows the prefix
# is the agent's own error text (amazon-ecs-agent agent/asm/asm.go, agent/taskresource/asmsecret,
# agent/taskresource/ssmsecret).
ASM_FAILURE_PREFIX = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
                      "unable to retrieve secret from asm: ")
SSM_FAILURE_PREFIX = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
                      "unable to retrieve secrets from ssm: ")
INVALID_ASM_ARN = "an invalid ARN format for the AWS Secrets Manager secret was specified. Specify a valid ARN and try again."
# The agent asks Parameter Store for at most this many parameters per GetParameters call.
SSM_BATCH = 10

# Bind addresses that mean "every interface": locally the task listens on loopback only.
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "[::]")
LOOPBACK = "127.0.0.1"

# Always in the child's environment unless the task sets them: no telemetry from tests, unbuffered
# logs, and no MLflow job runner (seven huey consumers importing MLflow, for jobs no test runs).
LOCAL_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PYTHONUNBUFFERED": "1",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}
# Settings of the test process that must not leak into the task (it gets the task's own).
NOT_INHERITED_PREFIXES = ("AWS_", "BOTO_", "MLFLOW_", "MLOPS_")


class EcsTaskRunnerError(RuntimeError):
    """The task cannot be read, prepared or run locally."""


class SecretResolutionError(EcsTaskRunnerError):
    """A ``secrets`` entry cannot be resolved; the message is worded as the task's stopped reason."""


class TaskStartError(EcsTaskRunnerError):
    """The local task exited or did not answer its health check in time; the message holds its log."""


# --- secrets, as the ECS agent resolves them ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretReference:
    """One ``secrets`` entry, parsed: where its value comes from."""

    name: str             # the environment variable it becomes
    value_from: str
    provider: str         # "asm" (Secrets Manager) or "ssm" (Parameter Store)
    region: str
    secret_id: str = ""   # asm: the SecretId of GetSecretValue (the ARN without the parameters)
    json_key: str = ""
    version_stage: str = ""
    version_id: str = ""


def _arn_sections(value: str) -> Optional[list]:
    """The six sections of an ARN (``arn``, partition, service, region, account, resource) as the AWS
    SDK for Go's ``arn.Parse`` splits them, or None if ``value`` is not an ARN."""
    if not value.startswith("arn:"):
        return None
    sections = value.split(":", 5)
    return sections if len(sections) == 6 else None


def parse_secret_reference(name: str, value_from: str, region: str) -> SecretReference:
    """What the agent makes of ``valueFrom``.

    - A Secrets Manager ARN whose resource is ``secret:<name-AbCdEf>``: the whole SecretString.
    - ``...:secret:<name-AbCdEf>:<json-key>:<version-stage>:<version-id>`` (each part may be empty,
      the colons may not be left out): one key of the JSON secret, of the version with that staging
      label or id (default ``AWSCURRENT``).
    - Any other number of parts: refused, with the agent's "invalid ARN format" message.
    - Anything else (a parameter name or an SSM ARN): a Parameter Store parameter.
    """
    sections = _arn_sections(value_from)
    if sections and sections[2] == "secretsmanager":
        secret_region = sections[3] or region
        resource = sections[5].split(":")
        if len(resource) == 2:
            return SecretReference(name, value_from, "asm", secret_region, secret_id=value_from)
        if len(resource) != 5:
            raise SecretResolutionError(
                f"{ASM_FAILURE_PREFIX}trying to retrieve secret with value {value_from} resulted in error: {INVALID_ASM_ARN}")
        secret_id = ":".join(sections[:5] + [":".join(resource[:2])])
        return SecretReference(name, value_from, "asm", secret_region, secret_id=secret_id, json_key=resource[2],
                               version_stage=resource[3], version_id=resource[4])
    secret_region = sections[3] if sections and sections[3] else region
    return SecretReference(name, value_from, "ssm", secret_region)


def _go_float(number: float) -> str:
    """``fmt.Sprintf("%v", number)`` for a float64: shortest digits, exponent form from 1e+06 up and
    below 1e-04 (JSON numbers unmarshal to float64 in Go, so ``5432`` gives "5432", ``1234567``
    gives "1.234567e+06")."""
    if number == 0:
        return "-0" if str(number).startswith("-") else "0"
    sign, digits, exponent = Decimal(repr(float(number))).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    text = "".join(str(digit) for digit in digits)
    point = len(digits) + exponent          # where the decimal point goes in ``text``
    power = point - 1
    prefix = "-" if sign else ""
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def go_format_json_value(value) -> str:
    """What the agent injects for a JSON key: ``fmt.Sprintf("%v", value)`` of the value Go's
    ``encoding/json`` decoded (strings as they are, numbers as float64, ``true``/``false``,
    ``<nil>`` for null, ``[a b]`` and ``map[k:v]`` with sorted keys for arrays and objects)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, (int, float)):
        return _go_float(float(value))
    if isinstance(value, list):
        return "[" + " ".join(go_format_json_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_format_json_value(value[key])}" for key in sorted(value)) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _go_json_kind(value) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


class _ClientFactory:
    """boto3 clients bound to one endpoint, one per (service, region). ``ca_bundle``: the CA file an
    HTTPS endpoint's certificate is verified against (None: botocore's default, ``AWS_CA_BUNDLE``)."""

    def __init__(self, session, endpoint_url: Optional[str], ca_bundle: Optional[str] = None):
        self.session = session
        self.endpoint_url = endpoint_url
        self.ca_bundle = ca_bundle
        self._clients: dict = {}

    def __call__(self, service: str, region: Optional[str] = None):
        region = region or self.session.region_name
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=region, endpoint_url=self.endpoint_url,
                                                     verify=self.ca_bundle)
        return self._clients[key]


def _secrets_manager_value(client, reference: SecretReference) -> str:
    request = {"SecretId": reference.secret_id}
    if reference.version_stage:
        request["VersionStage"] = reference.version_stage
    if reference.version_id:
        request["VersionId"] = reference.version_id
    try:
        answer = client.get_secret_value(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise SecretResolutionError(
                f"ResourceInitializationError: The task can't retrieve the secret with ARN '{reference.secret_id}' "
                f"from AWS Secrets Manager. Check that the secret ARN is correct: {error}") from None
        raise SecretResolutionError(str(error)) from None
    text = answer.get("SecretString") or ""  # a binary secret has no SecretString: the agent injects ""
    if not reference.json_key:
        return text
    try:
        document = json.loads(text)
    except ValueError as error:
        # Go's message quotes the offending character of the secret; this one names only the position.
        raise SecretResolutionError(f"secret {reference.secret_id} is not JSON ({getattr(error, 'msg', 'invalid')} "
                                    f"at character {getattr(error, 'pos', '?')})") from None
    if document is None:
        document = {}  # Go unmarshals null into a nil map without error; the key is then missing
    if not isinstance(document, dict):
        raise SecretResolutionError(f"json: cannot unmarshal {_go_json_kind(document)} into Go value of type map[string]interface {{}}")
    if reference.json_key not in document:
        raise SecretResolutionError(f"retrieved secret from Secrets Manager did not contain json key {reference.json_key}")
    return go_format_json_value(document[reference.json_key])


def _parameter_store_values(client, region: str, names: list) -> dict:
    """Values by requested name (parameter name or ARN), as the agent fetches them: GetParameters with
    decryption, ten at a time; any invalid parameter fails the whole task."""
    values = {}
    for start in range(0, len(names), SSM_BATCH):
        batch = names[start:start + SSM_BATCH]
        try:
            answer = client.get_parameters(Names=batch, WithDecryption=True)
        except ClientError as error:
            raise SecretResolutionError(f"{SSM_FAILURE_PREFIX}fetching secret data from SSM Parameter Store in {region}: {error}") from None
        if answer.get("InvalidParameters"):
            raise SecretResolutionError(f"{SSM_FAILURE_PREFIX}fetching secret data from SSM Parameter Store in {region}: "
                                        f"invalid parameters: {','.join(answer['InvalidParameters'])}")
        for parameter in answer.get("Parameters", []):
            for requested in batch:
                if requested in (parameter.get("Name"), parameter.get("ARN")):
                    values[requested] = parameter.get("Value", "")
    return values


def resolve_secrets(session, secrets: Iterable[Mapping], *, endpoint_url: Optional[str] = None, region: Optional[str] = None,
                    ca_bundle: Optional[str] = None) -> dict:
    """``{variable: value}`` for a container's ``secrets`` list, resolved as the ECS agent does.

    Secrets Manager failures are collected and joined with ";" after one prefix (the agent fetches
    every secret, then reports all failures); a Parameter Store failure is reported as the agent does.
    """
    clients = _ClientFactory(session, endpoint_url, ca_bundle)
    region = region or session.region_name
    entries = list(secrets)
    asm_failures, ssm_failures = [], []
    references = []
    for entry in entries:
        try:
            references.append(parse_secret_reference(entry["name"], entry["valueFrom"], region))
        except SecretResolutionError as error:
            asm_failures.append(str(error)[len(ASM_FAILURE_PREFIX):])
    values = {}
    fetched: dict = {}  # the agent fetches each (valueFrom, region) once
    for reference in references:
        if reference.provider != "asm":
            continue
        key = (reference.value_from, reference.region)
        if key not in fetched:
            try:
                fetched[key] = _secrets_manager_value(clients("secretsmanager", reference.region), reference)
            except SecretResolutionError as error:
                fetched[key] = error
        if isinstance(fetched[key], SecretResolutionError):
            asm_failures.append(str(fetched[key]))
        else:
            values[reference.name] = fetched[key]
    by_region: dict = {}
    for reference in references:
        if reference.provider == "ssm":
            by_region.setdefault(reference.region, [])
            if reference.value_from not in by_region[reference.region]:
                by_region[reference.region].append(reference.value_from)
    parameters: dict = {}
    for parameter_region, names in by_region.items():
        try:
            parameters[parameter_region] = _parameter_store_values(clients("ssm", parameter_region), parameter_region, names)
        except SecretResolutionError as error:
            ssm_failures.append(str(error))
    if asm_failures or ssm_failures:
        messages = ([ASM_FAILURE_PREFIX + ";".join(dict.fromkeys(asm_failures))] if asm_failures else []) + ssm_failures[:1]
        raise SecretResolutionError("; ".join(messages))
    for reference in references:
        if reference.provider == "ssm":
            values[reference.name] = parameters[reference.region][reference.value_from]
    return {entry["name"]: values[entry["name"]] for entry in entries}


# --- rewriting hosts, paths and the listening port ------------------------------------------------------------------------

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# A host name (or IPv4 address) with an optional port, not part of a longer name.
_HOST_TOKEN = re.compile(r"(?<![A-Za-z0-9._-])(?P<host>" + _LABEL + r"(?:\." + _LABEL + r")*)"
                         r"(?::(?P<port>[0-9]{1,5})(?![0-9]))?(?![A-Za-z0-9_-]|\.[A-Za-z0-9])")
# Variables whose name ends like this hold a host; the one ending in PORT instead holds its port.
_HOST_VARIABLE_SUFFIXES = ("HOSTNAME", "HOST", "ENDPOINT", "ADDRESS")


class HostMap:
    """Where remote hosts point locally (see the module's docstring)."""

    def __init__(self, mapping: Optional[HostMapping] = None):
        self._mapping = mapping or {}
        if not callable(self._mapping):
            self._exact = {key.lower(): value for key, value in self._mapping.items() if not any(c in key for c in "*?[")}
            self._patterns = [(key.lower(), value) for key, value in self._mapping.items() if any(c in key for c in "*?[")]

    def lookup(self, host: str) -> Optional[HostTarget]:
        if not host:
            return None
        if callable(self._mapping):
            target = self._mapping(host)
        else:
            lowered = host.lower()
            target = self._exact.get(lowered)
            if target is None:
                target = next((value for pattern, value in self._patterns if fnmatch.fnmatchcase(lowered, pattern)), None)
        return (str(target[0]), int(target[1])) if target else None

    def rewrite(self, text: str) -> str:
        """``text`` with every mapped host (and its port, given or implied by a URI) replaced."""
        def replace(match):
            target = self.lookup(match.group("host"))
            if target is None:
                return match.group(0)
            before = text[:match.start()]
            if match.group("port") is not None or before.endswith(("@", "//")):
                return f"{target[0]}:{target[1]}"
            return target[0]

        return _HOST_TOKEN.sub(replace, text)

    def rewrite_environment(self, environment: Mapping[str, str]) -> Tuple[dict, set]:
        """The environment with mapped hosts replaced, and the names it changed. A variable holding
        just a mapped host gets the local host; its companion port variable the local port."""
        result, changed, ports = {}, set(), {}
        for name, value in environment.items():
            whole = _HOST_TOKEN.fullmatch(value.strip())
            target = self.lookup(whole.group("host")) if whole and whole.group("port") is None else None
            if target is not None:
                result[name] = target[0]
                suffix = next((suffix for suffix in _HOST_VARIABLE_SUFFIXES if name.upper().endswith(suffix)), None)
                if suffix:
                    stem, ending = name[:-len(suffix)], name[-len(suffix):]
                    ports[stem + ("PORT" if ending.isupper() else "port")] = target[1]
            else:
                result[name] = self.rewrite(value)
            if result[name] != value:
                changed.add(name)
        for name, port in ports.items():
            if name in result:
                result[name] = str(port)
                changed.add(name)
        return result, changed


class PathMap:
    """Container paths (mount points) and the local directories that stand for them."""

    def __init__(self, paths: Mapping[str, Path]):
        self.paths = {container_path.rstrip("/") or "/": Path(local) for container_path, local in paths.items()}
        alternatives = sorted((path for path in self.paths if path != "/"), key=len, reverse=True)
        self._pattern = (re.compile(r"(?<![A-Za-z0-9._-])(?P<path>" + "|".join(re.escape(path) for path in alternatives)
                                    + r")(?![A-Za-z0-9._-])") if alternatives else None)

    def rewrite(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda match: str(self.paths[match.group("path")]), text)

    def local(self, container_path: str) -> Optional[Path]:
        """The local directory for a path inside one of the mounts, or None."""
        rewritten = self.rewrite(container_path)
        return Path(rewritten) if rewritten != container_path else None


def _listen_patterns(container_port: int) -> list:
    port = str(container_port)
    return [
        (re.compile(r"(?P<flag>(?<![A-Za-z0-9_-])(?:--port|-p)(?:=|\s+)[\"']?)" + port + r"(?![0-9])"), "port"),
        (re.compile(r"(?<![A-Za-z0-9._:])(?:0\.0\.0\.0|\[::\]):" + port + r"(?![0-9])"), "bind"),
        (re.compile(r"(?P<flag>(?<![A-Za-z0-9_-])(?:--host|-h)(?:=|\s+)[\"']?)(?:0\.0\.0\.0|::|\[::\])(?![A-Za-z0-9.:])"), "host"),
    ]


def rewrite_listen_address(command: list, environment: Mapping[str, str], container_port: Optional[int], local_port: int,
                           skip: Iterable[str] = ()) -> Tuple[list, dict, int]:
    """Command and environment listening on 127.0.0.1:``local_port`` instead of every interface on
    the container port, and how many places named the port. ``skip``: variables not to touch (the
    ones host mapping already set: a database port may equal the container port)."""
    skip = set(skip)
    patterns = _listen_patterns(container_port) if container_port else []
    count = 0

    def rewrite_text(text):
        nonlocal count
        for pattern, kind in patterns:
            if kind == "port":
                text, found = pattern.subn(lambda match: match.group("flag") + str(local_port), text)
                count += found
            elif kind == "bind":
                text, found = pattern.subn(f"{LOOPBACK}:{local_port}", text)
                count += found
            else:
                text = pattern.sub(lambda match: match.group("flag") + LOOPBACK, text)
        return text

    new_command = []
    for index, argument in enumerate(command):
        previous = command[index - 1] if index else None
        if container_port and previous in ("--port", "-p") and argument == str(container_port):
            new_command.append(str(local_port))
            count += 1
        elif previous in ("--host", "-h") and argument in WILDCARD_ADDRESSES:
            new_command.append(LOOPBACK)
        else:
            new_command.append(rewrite_text(argument))
    new_environment = {}
    for name, value in environment.items():
        if name in skip:
            new_environment[name] = value
        elif container_port and name.upper().endswith("PORT") and value.strip() == str(container_port):
            new_environment[name] = str(local_port)
            count += 1
        elif name.upper().endswith("HOST") and value.strip() in WILDCARD_ADDRESSES:
            new_environment[name] = LOOPBACK
        else:
            new_environment[name] = rewrite_text(value)
    return new_command, new_environment, count


# --- what ECS holds -------------------------------------------------------------------------------------------------------


@dataclass
class TaskSpec:
    """A task definition as ECS holds it, the container to run, and where it came from."""

    task_definition: dict
    container: dict
    container_port: Optional[int] = None
    service: Optional[dict] = None
    overrides: dict = field(default_factory=dict)   # a task's overrides (RunTask), else {}
    task_arn: Optional[str] = None

    @property
    def container_name(self) -> str:
        return self.container["name"]

    @property
    def task_definition_arn(self) -> str:
        return self.task_definition["taskDefinitionArn"]

    @property
    def region(self) -> str:
        return self.task_definition_arn.split(":")[3]

    @property
    def target_group_arns(self) -> list:
        return [entry["targetGroupArn"] for entry in (self.service or {}).get("loadBalancers", [])
                if entry.get("targetGroupArn") and entry.get("containerName") == self.container_name]

    def load_balancer_dns_names(self, elbv2) -> list:
        """DNS names of the load balancers in front of the container (what users' Host headers say)."""
        arns = []
        for group in self.target_group_arns:
            for description in elbv2.describe_target_groups(TargetGroupArns=[group])["TargetGroups"]:
                arns += [arn for arn in description.get("LoadBalancerArns", []) if arn not in arns]
        if not arns:
            return []
        return [balancer["DNSName"] for balancer in elbv2.describe_load_balancers(LoadBalancerArns=arns)["LoadBalancers"]]

    def health_check_path(self, elbv2, default: str = "/health") -> str:
        """The path the target group probes, else ``default``."""
        for group in self.target_group_arns:
            for description in elbv2.describe_target_groups(TargetGroupArns=[group])["TargetGroups"]:
                if description.get("HealthCheckPath"):
                    return description["HealthCheckPath"]
        return default


def select_container(task_definition: Mapping, name: Optional[str] = None, service: Optional[Mapping] = None) -> Tuple[dict, Optional[int]]:
    """The container to run and its port: the one named; else the one the service's load balancer
    targets; else the only essential container with a port mapping; else the only container."""
    containers = task_definition.get("containerDefinitions", [])
    names = [container["name"] for container in containers]
    balanced = [entry for entry in (service or {}).get("loadBalancers", []) if entry.get("containerName")]
    if name is None and balanced:
        name = balanced[0]["containerName"]
    if name is not None:
        chosen = next((container for container in containers if container["name"] == name), None)
        if chosen is None:
            raise EcsTaskRunnerError(f"{task_definition.get('taskDefinitionArn')} has no container {name!r} (it has {names})")
    else:
        serving = [container for container in containers if container.get("essential", True) and container.get("portMappings")]
        if len(serving) == 1:
            chosen = serving[0]
        elif len(containers) == 1:
            chosen = containers[0]
        else:
            raise EcsTaskRunnerError(f"cannot tell which container of {task_definition.get('taskDefinitionArn')} to run "
                                     f"(containers {names}): name one")
    port = next((entry.get("containerPort") for entry in balanced if entry.get("containerName") == chosen["name"]), None)
    if port is None:
        port = next((mapping.get("containerPort") for mapping in chosen.get("portMappings", []) if mapping.get("containerPort")), None)
    return chosen, port


def _container_overrides(overrides: Optional[Mapping], container_name: str) -> dict:
    for entry in (overrides or {}).get("containerOverrides", []):
        if entry.get("name") == container_name:
            return dict(entry)
    return {}


# --- the local process ----------------------------------------------------------------------------------------------------


def _group_members(group: int) -> list:
    """Live (not zombie) processes of a process group, from /proc (empty where there is no /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(group) and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def venv_bin_directory() -> Path:
    """The bin directory of the running interpreter's virtualenv (not resolved: a venv's python is a
    symlink to the base interpreter)."""
    return Path(sys.executable).parent


class LocalTask(LoggedServerProcess):
    """One container of a task as a local process in a session of its own (``stop()`` ends the group).

    ``command``, ``environment`` and ``port`` are set when it is launched (the port is chosen then);
    ``environment`` holds resolved secrets: look, never print.
    """

    def __init__(self, spec: TaskSpec, command: list, environment: Mapping[str, str], directory: Path, *,
                 rewritten_variables: Iterable[str] = (), listen_variables: Optional[Iterable[str]] = None,
                 health_path: str = "/health", notes: Iterable[str] = (), cwd: Optional[Path] = None):
        self.spec = spec
        self.name = spec.container_name
        self.container_port = spec.container_port
        self.directory = Path(directory)
        self.cwd = Path(cwd) if cwd else self.directory
        self.health_path = health_path
        self.notes = list(notes)
        self.log_path = self.directory / f"{self.name}.log"
        self.command: Optional[list] = None
        self.environment: Optional[dict] = None
        self.port: Optional[int] = None
        self.startup_seconds: Optional[float] = None
        self.returncode: Optional[int] = None
        self._template = (list(command), dict(environment))
        # The variables host mapping changed (a database endpoint pointed at a local server).
        self.rewritten_variables = frozenset(rewritten_variables)
        # Variables whose port and bind address may be rewritten: the task's own (not the inherited
        # ones), except those host mapping set.
        listen = set(environment) if listen_variables is None else set(listen_variables)
        self._fixed = (set(environment) - listen) | set(rewritten_variables)
        self._process: Optional[subprocess.Popen] = None
        self._began = 0.0
        self._attempts = 0
        self._log_offset = 0

    # what the task will see
    def materialize(self) -> "LocalTask":
        """Choose a free local port and build the final command and environment (launch() does it)."""
        command, environment = self._template
        self.port = free_port(LOOPBACK)
        self.command, self.environment, found = rewrite_listen_address(command, environment, self.container_port, self.port,
                                                                       skip=self._fixed)
        if not found and "MLFLOW_PORT" not in self.environment:
            # Nothing named the port: mlflow server would take its default (5000); tell it.
            self.environment["MLFLOW_PORT"] = str(self.port)
        return self

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _spawn(self) -> None:
        self._attempts += 1
        self.materialize()
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # The command comes from the task definition, which holds references, not secret values.
            header = f"\n$ {' '.join(self.command)}\n# container {self.name}, port {self.container_port} -> {self.port}\n"
            log.write((header + "".join(f"# {note}\n" for note in self.notes)).encode())
            log.flush()
            self._log_offset = log.tell()
            try:
                self._process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                                 cwd=self.cwd, env=self.environment, start_new_session=True)
            except OSError as error:
                raise TaskStartError(f"cannot start {self.command[0]!r} for container {self.name}: {error}") from None

    def launch(self) -> "LocalTask":
        """Start the process and return at once."""
        if self._process is not None:
            raise EcsTaskRunnerError(f"container {self.name} is already started")
        self._began = time.monotonic()
        self._attempts = 0
        self._spawn()
        return self

    def start(self, timeout: float = 180.0) -> "LocalTask":
        """Start and wait until the health path answers 200; on failure stop and raise with the log."""
        return self.launch().wait_until_ready(timeout)

    def wait_until_ready(self, timeout: float = 180.0) -> "LocalTask":
        deadline = self._began + timeout
        try:
            while not self._healthy():
                if self._process.poll() is not None:
                    if self._attempts < 3 and "address already in use" in self._attempt_log().lower():
                        self._reap()
                        self._spawn()  # another process took the free port first
                        continue
                    raise TaskStartError(f"container {self.name} exited with status {self._process.returncode} while starting; "
                                         f"{self.log_path}:\n{self.log_text()[-6000:]}")
                if time.monotonic() > deadline:
                    raise TaskStartError(f"container {self.name} did not answer {self.health_path} on port {self.port} within "
                                         f"{timeout:.0f}s; {self.log_path}:\n{self.log_text()[-6000:]}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - self._began
        return self

    def run(self, timeout: float = 600.0) -> int:
        """Run to completion (a one-off task) and return the exit code."""
        self.launch()
        try:
            self.returncode = self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TaskStartError(f"container {self.name} did not finish within {timeout:.0f}s; "
                                 f"{self.log_path}:\n{self.log_text()[-6000:]}") from None
        finally:
            self._kill_group()
        return self.returncode

    def stop(self, timeout: float = 20.0) -> Optional[int]:
        """As ECS stops a container: SIGTERM to the main process, then SIGKILL to whatever is left of
        the group (uvicorn workers, a job runner) once it exited or ``timeout`` passed."""
        self._reap(timeout)
        return self.returncode

    def _reap(self, timeout: float = 20.0) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        self._kill_group()
        self._process = None

    def _kill_group(self) -> None:
        process = self._process
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.returncode = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # SIGKILL is delivered asynchronously: wait until nothing of the group runs any more.
        deadline = time.monotonic() + 10
        while _group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def __enter__(self) -> "LocalTask":
        return self if self._process is not None else self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # helpers for tests
    def request(self, method: str, path: str, host: Optional[str] = None, body=None, headers: Optional[Mapping] = None) -> Tuple[int, str]:
        """One HTTP request to the task, with the Host header a client behind a load balancer sends."""
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
        try:
            sent = {"Content-Type": "application/json", **(headers or {})}
            if host:
                sent["Host"] = host
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=sent)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()

    def create_database(self, server, database: str, username_variable: str, password_variable: str):
        """Create ``database`` on a local PostgresServer/MariaDBServer, owned by the user whose name and
        password the task reads from those (secret) variables: the credentials ECS would inject."""
        environment = self.environment if self.environment is not None else self._template[1]
        missing = [name for name in (username_variable, password_variable) if name not in environment]
        if missing:
            raise EcsTaskRunnerError(f"container {self.name} has no variable {' or '.join(missing)}")
        return server.create_database(database, environment[username_variable], environment[password_variable])


def create_database_from_secret(server, secretsmanager, secret_id: str, database: str, *, username_key: str = "username",
                                password_key: str = "password"):
    """Create ``database`` on a local server with the user and password of a JSON secret (the shape RDS
    gives a managed master user secret: ``{"username": ..., "password": ...}``)."""
    document = json.loads(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])
    missing = [key for key in (username_key, password_key) if key not in document]
    if missing:
        raise EcsTaskRunnerError(f"secret {secret_id} has no key {' or '.join(missing)}")
    return server.create_database(database, document[username_key], document[password_key])


# --- the runner -----------------------------------------------------------------------------------------------------------


class EcsTaskRunner:
    """Reads tasks from the proving ground's ECS and runs their containers locally.

    ``session``: a boto3 session for the proving ground (its region is the default region);
    ``endpoint_url``: the proving ground; ``directory``: where tasks run and log (one subdirectory per
    task); ``host_map``: see HostMap; ``volume_directories``: ``{task volume name: local directory}``
    (default: ``<directory>/volumes/<name>``, shared by every task of this runner, as an EFS file
    system is); ``extra_environment``: set last, over the task's own; ``inherit_environment``: start
    from this process's environment without its AWS_/BOTO_/MLFLOW_/MLOPS_ settings (else a minimal one);
    ``ca_bundle``: the test CA of an ``https://`` endpoint (default: this process's ``AWS_CA_BUNDLE``),
    trusted by the runner's clients and given to the tasks as ``AWS_CA_BUNDLE``.
    """

    def __init__(self, session, endpoint_url: str, directory: Path, *, host_map: Optional[HostMapping] = None,
                 volume_directories: Optional[Mapping[str, Path]] = None, extra_environment: Optional[Mapping[str, str]] = None,
                 inherit_environment: bool = True, bin_directory: Optional[Path] = None, ca_bundle: Optional[str] = None):
        self.session = session
        self.endpoint_url = endpoint_url
        if ca_bundle is None and str(endpoint_url).startswith("https://"):
            ca_bundle = os.environ.get("AWS_CA_BUNDLE")
        self.ca_bundle = str(ca_bundle) if ca_bundle else None
        self.directory = Path(directory)
        self.host_map = host_map if isinstance(host_map, HostMap) else HostMap(host_map)
        self.volume_directories = {name: Path(path) for name, path in (volume_directories or {}).items()}
        self.extra_environment = dict(extra_environment or {})
        self.inherit_environment = inherit_environment
        self.bin_directory = Path(bin_directory) if bin_directory else venv_bin_directory()
        self.clients = _ClientFactory(session, endpoint_url, self.ca_bundle)
        self._counter = 0

    # reading ECS
    def describe_task_definition(self, task_definition: str, container_name: Optional[str] = None, service: Optional[dict] = None) -> TaskSpec:
        definition = self.clients("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        container, port = select_container(definition, container_name, service)
        return TaskSpec(definition, container, port, service=service)

    def describe_service(self, cluster: str, service: str, container_name: Optional[str] = None) -> TaskSpec:
        answer = self.clients("ecs").describe_services(cluster=cluster, services=[service])
        found = [entry for entry in answer.get("services", []) if entry.get("status") != "INACTIVE"]
        if not found:
            failures = answer.get("failures") or [{"reason": "MISSING"}]
            raise EcsTaskRunnerError(f"no service {service!r} in cluster {cluster!r}: {failures[0].get('reason')}")
        return self.describe_task_definition(found[0]["taskDefinition"], container_name, service=found[0])

    def describe_task(self, cluster: str, task: str, container_name: Optional[str] = None) -> TaskSpec:
        """A task started by RunTask, with the overrides it was started with."""
        answer = self.clients("ecs").describe_tasks(cluster=cluster, tasks=[task])
        if not answer.get("tasks"):
            raise EcsTaskRunnerError(f"no task {task!r} in cluster {cluster!r}")
        described = answer["tasks"][0]
        spec = self.describe_task_definition(described["taskDefinitionArn"], container_name)
        spec.overrides = described.get("overrides") or {}
        spec.task_arn = described["taskArn"]
        return spec

    # preparing
    def _volume_paths(self, spec: TaskSpec) -> PathMap:
        volumes = {volume["name"]: volume for volume in spec.task_definition.get("volumes", [])}
        paths = {}
        for mount in spec.container.get("mountPoints", []):
            name = mount.get("sourceVolume")
            if name not in volumes:
                raise EcsTaskRunnerError(f"container {spec.container_name} mounts volume {name!r}, which the task definition lacks")
            local = self.volume_directories.get(name, self.directory / "volumes" / name)
            local.mkdir(parents=True, exist_ok=True)
            paths[mount["containerPath"]] = local.resolve()
        return PathMap(paths)

    def _base_environment(self) -> dict:
        if self.inherit_environment:
            environment = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED_PREFIXES)}
        else:
            environment = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": "C.UTF-8",
                           "HOME": os.environ.get("HOME", "/tmp")}
        environment["PATH"] = os.pathsep.join([str(self.bin_directory), environment.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
        environment.pop("PYTHONHOME", None)
        environment.update(LOCAL_DEFAULTS)
        return environment

    def prepare(self, spec: TaskSpec, overrides: Optional[Mapping] = None, health_path: Optional[str] = None) -> "LocalTask":
        """Resolve the secrets and build the command and environment of the container (not started)."""
        container = spec.container
        if container.get("environmentFiles"):
            raise EcsTaskRunnerError(f"container {spec.container_name} uses environmentFiles, which this runner does not read")
        override = _container_overrides(overrides if overrides is not None else spec.overrides, spec.container_name)
        command = list(container.get("entryPoint") or []) + list(override.get("command", container.get("command")) or [])
        if not command:
            raise EcsTaskRunnerError(f"container {spec.container_name} has neither entryPoint nor command: the image's default "
                                     "command is unknown here")
        self._counter += 1
        directory = self.directory / f"{spec.container_name}-{self._counter}"
        directory.mkdir(parents=True, exist_ok=True)

        task_environment = {entry["name"]: entry.get("value", "") for entry in container.get("environment", [])}
        task_environment.update({entry["name"]: entry.get("value", "") for entry in override.get("environment", [])})
        task_environment.update(resolve_secrets(self.session, container.get("secrets", []), endpoint_url=self.endpoint_url,
                                                region=spec.region, ca_bundle=self.ca_bundle))
        paths = self._volume_paths(spec)
        task_environment = {name: paths.rewrite(value) for name, value in task_environment.items()}
        task_environment, rewritten = self.host_map.rewrite_environment(task_environment)
        command = [self.host_map.rewrite(paths.rewrite(argument)) for argument in command]

        environment = self._base_environment()
        environment.update(task_environment)
        # Where the task role's credentials and AWS's endpoints would be: the proving ground.
        environment.update(aws_environment(self.endpoint_url, self.ca_bundle))
        environment.update(AWS_REGION=spec.region, AWS_DEFAULT_REGION=spec.region, MLFLOW_S3_ENDPOINT_URL=self.endpoint_url)
        environment.update(self.extra_environment)

        # The image's working directory does not exist here; one inside a mounted volume does.
        working_directory = paths.local(container["workingDirectory"]) if container.get("workingDirectory") else None
        notes = [f"volume {container_path} -> {local}" for container_path, local in paths.paths.items()]
        if health_path is None:
            health_path = spec.health_check_path(self.clients("elbv2", spec.region)) if spec.target_group_arns else "/health"
        return LocalTask(spec, command, environment, directory, rewritten_variables=rewritten,
                         listen_variables=set(task_environment) | set(self.extra_environment), health_path=health_path, notes=notes,
                         cwd=working_directory)

    # shortcuts
    def start_service(self, cluster: str, service: str, container_name: Optional[str] = None, timeout: float = 180.0) -> LocalTask:
        """The service's container, started and answering its health check."""
        return self.prepare(self.describe_service(cluster, service, container_name)).start(timeout)

    def run_task(self, task: Union[TaskSpec, str], overrides: Optional[Mapping] = None, *, cluster: Optional[str] = None,
                 container_name: Optional[str] = None, timeout: float = 600.0) -> int:
        """Run a one-off task to completion and return its exit code. ``task``: a TaskSpec, a task
        definition (ARN or family[:revision]), or with ``cluster`` a task ARN from RunTask (then its
        recorded overrides apply unless ``overrides`` is given)."""
        if isinstance(task, TaskSpec):
            spec = task
        elif cluster is not None and ":task/" in task:
            spec = self.describe_task(cluster, task, container_name)
        else:
            spec = self.describe_task_definition(task, container_name)
        return self.prepare(spec, overrides, health_path="/").run(timeout)
