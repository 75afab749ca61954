# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ECS task definitions as ECS means them: Fargate sizes, normalisation and comparison.

A task definition that DescribeTaskDefinition returns is not the one RegisterTaskDefinition was
given: ECS adds read-only members (ARN, revision, status, compatibilities, requiresAttributes,
registeredAt...), fills defaults (container ``cpu`` 0, ``essential`` true, empty ``environment``,
``mountPoints``, ``volumesFrom`` and ``systemControls`` lists, ``hostPort`` equal to ``containerPort``
and ``protocol`` tcp in awsvpc mode, ``rootDirectory`` "/" for EFS volumes, health check interval,
timeout and retries) and keeps list order as given. ``normalise_task_definition`` brings a desired
definition and a described one to the same form, so that equality means "ECS would run the same
thing" and a difference is a real one.
"""

import copy
import datetime

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

# RegisterTaskDefinition's members (tags aside: tags are not part of a revision's content, they are
# compared and changed on their own). Anything else a described task definition carries is read-only.
REGISTER_TASK_DEFINITION_KEYS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
)

# Task size (CPU units) -> the memory sizes (MiB) Fargate accepts with it, from the ECS API
# reference (RegisterTaskDefinition, ``cpu`` and ``memory``). 8 and 16 vCPU need platform 1.4.0.
FARGATE_TASK_SIZES = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# Members whose absence means true: False is a real value for them, never dropped.
_TRUE_BY_DEFAULT = frozenset({"essential"})
# Lists whose order means nothing to ECS, and the member that identifies an entry.
_UNORDERED_LISTS = {
    "environment": "name",
    "secrets": "name",
    "secretOptions": "name",
    "ulimits": "name",
    "dependsOn": "containerName",
    "systemControls": "namespace",
    "extraHosts": "hostname",
    "resourceRequirements": "type",
}


def _describe_sizes(sizes):
    """512, 1024, 2048 or 'between 4096 and 16384 in steps of 1024'."""
    if len(sizes) <= 8:
        return ", ".join(str(size) for size in sizes)
    return "between {0} and {1} in steps of {2}".format(sizes[0], sizes[-1], sizes[1] - sizes[0])


def fargate_size_error(cpu, memory, cpu_option="cpu", memory_option="memory"):
    """None when Fargate runs a task of ``cpu`` units and ``memory`` MiB; else what is wrong and
    how to fix it, naming the options as the caller calls them."""
    if cpu not in FARGATE_TASK_SIZES:
        return "{0}={1} is not a Fargate task size: set {0} to one of {2} (CPU units, 1024 = 1 vCPU).".format(
            cpu_option, cpu, ", ".join(str(size) for size in FARGATE_TASK_SIZES)
        )
    sizes = FARGATE_TASK_SIZES[cpu]
    if memory not in sizes:
        fitting = [str(units) for units, memories in FARGATE_TASK_SIZES.items() if memory in memories]
        hint = " or set {0} to {1}".format(cpu_option, " or ".join(fitting)) if fitting else ""
        return "{0}={1} MiB does not fit {2}={3} on Fargate: set {0} to {4} (MiB){5}.".format(
            memory_option, memory, cpu_option, cpu, _describe_sizes(sizes), hint
        )
    return None


def _prune(value):
    """Drop what ECS treats as absent: None, empty lists and dicts, and false flags (a false flag
    is every flag's default except ``essential``'s, which ``_normalise_container`` fills first)."""
    if isinstance(value, dict):
        pruned = {}
        for key, item in value.items():
            item = _prune(item)
            if item is None or item == [] or item == {}:
                continue
            if item is False and key not in _TRUE_BY_DEFAULT:
                continue
            pruned[key] = item
        return pruned
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


def _sort_unordered(container):
    for key, identity in _UNORDERED_LISTS.items():
        entries = container.get(key)
        if isinstance(entries, list):
            container[key] = sorted(entries, key=lambda entry: str(entry.get(identity, "")) if isinstance(entry, dict) else str(entry))


def _normalise_container(container, network_mode):
    container = copy.deepcopy(container)
    container.setdefault("cpu", 0)
    container.setdefault("essential", True)
    for mapping in container.get("portMappings") or []:
        mapping.setdefault("protocol", "tcp")
        if network_mode == "awsvpc" and "containerPort" in mapping:
            mapping.setdefault("hostPort", mapping["containerPort"])
    health_check = container.get("healthCheck")
    if health_check:
        health_check.setdefault("interval", 30)
        health_check.setdefault("timeout", 5)
        health_check.setdefault("retries", 3)
        if health_check.get("startPeriod") == 0:
            del health_check["startPeriod"]
    for variable in container.get("environment") or []:
        if variable.get("value") == "":  # an empty value and none at all are the same variable to ECS
            del variable["value"]
    _sort_unordered(container)
    log_configuration = container.get("logConfiguration")
    if isinstance(log_configuration, dict) and isinstance(log_configuration.get("secretOptions"), list):
        log_configuration["secretOptions"] = sorted(log_configuration["secretOptions"], key=lambda option: option.get("name", ""))
    return container


def _normalise_volume(volume):
    volume = copy.deepcopy(volume)
    efs = volume.get("efsVolumeConfiguration")
    if isinstance(efs, dict):
        efs.setdefault("rootDirectory", "/")
        efs.setdefault("transitEncryption", "DISABLED")
        authorization = efs.get("authorizationConfig")
        if isinstance(authorization, dict):
            authorization.setdefault("iam", "DISABLED")
    return volume


def normalise_task_definition(definition):
    """The comparable form of a task definition, desired or described (camelCase, as boto3 has it).

    Keeps RegisterTaskDefinition's members only, fills the defaults ECS fills, sorts the lists whose
    order does not matter (environment, secrets...) and drops what ECS treats as absent. Container
    definitions keep their order; volumes are sorted by name.
    """
    if not definition:
        return {}
    result = {key: copy.deepcopy(definition[key]) for key in REGISTER_TASK_DEFINITION_KEYS if key in definition}
    network_mode = result.get("networkMode")
    for key in ("cpu", "memory"):
        if result.get(key) is not None:
            result[key] = str(result[key])
    if isinstance(result.get("requiresCompatibilities"), list):
        result["requiresCompatibilities"] = sorted(result["requiresCompatibilities"])
    result["containerDefinitions"] = [_normalise_container(container, network_mode) for container in result.get("containerDefinitions") or []]
    result["volumes"] = sorted((_normalise_volume(volume) for volume in result.get("volumes") or []), key=lambda volume: volume.get("name", ""))
    return _prune(result)


def task_definitions_differ(desired, described):
    """True when registering ``desired`` would make a task definition ECS runs differently from
    ``described`` (None: there is none)."""
    return normalise_task_definition(desired) != normalise_task_definition(described)


def revision_from_arn(arn):
    """The revision number at the end of a task definition ARN (``...:task-definition/family:12``)."""
    return int(arn.rsplit(":", 1)[1])


# Free-form maps whose keys are data, not API member names: kept as they are in snake_case results.
_FREE_FORM_KEYS = frozenset({"options", "dockerLabels", "driverOpts", "labels"})


def _snake_key(key):
    return next(iter(camel_dict_to_snake_dict({key: None})))


def camel_task_definition_to_snake(value):
    """A described task definition with snake_case keys, as Ansible modules return AWS data.

    Unlike ``camel_dict_to_snake_dict``, the keys of free-form maps (log driver options, Docker
    labels, volume driver options) stay as they are, and timestamps become ISO 8601 strings.
    """
    if isinstance(value, dict):
        return {
            _snake_key(key): copy.deepcopy(item) if key in _FREE_FORM_KEYS else camel_task_definition_to_snake(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [camel_task_definition_to_snake(item) for item in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value
