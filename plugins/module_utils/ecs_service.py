# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ECS Fargate services as ECS means them: the settings ecs_fargate_service manages, normalised on
both sides, compared, turned into CreateService / UpdateService arguments, and the progress of a
deployment.

DescribeServices does not answer what CreateService was given: ECS fills defaults
(``deploymentCircuitBreaker`` off, ``assignPublicIp`` DISABLED, ``propagateTags`` NONE,
``healthCheckGracePeriodSeconds`` 0...), keeps lists in an order of its own (subnets, security
groups, load balancers) and returns the task definition as a full ARN whoever gave ``family:revision``.
``desired_settings`` and ``current_settings`` bring both sides to one form, keyed by the module's
option names, so that equality means "ECS runs the service the same way" and each difference is a
real one.
"""

import copy
import datetime
import re
import time

from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import camel_task_definition_to_snake
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import check as _check

# The settings the module manages, in the order the diff and changed_fields show them.
MANAGED_FIELDS = (
    "task_definition",
    "desired_count",
    "launch_type",
    "capacity_provider_strategy",
    "platform_version",
    "network_configuration",
    "load_balancers",
    "health_check_grace_period_seconds",
    "deployment_configuration",
    "availability_zone_rebalancing",
    "propagate_tags",
    "enable_execute_command",
    "tags",
)

# Members of DeploymentConfiguration the module does not manage: kept as they are on an update.
_UNMANAGED_DEPLOYMENT_MEMBERS = ("alarms", "strategy", "bakeTimeInMinutes", "lifecycleHooks", "linearConfiguration",
                                 "canaryConfiguration", "earlySuccessCriteria")

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255}$")
_TASK_DEFINITION_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/([A-Za-z0-9_-]{1,255}:\d+)$")
_TASK_DEFINITION_FAMILY_REVISION = re.compile(r"^[A-Za-z0-9_-]{1,255}:[1-9]\d*$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_TARGET_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]+$")

MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
MAX_GRACE_PERIOD = 2147483647

# Seconds between DescribeServices calls while waiting: soon at first, then every 15 seconds.
POLL_DELAYS = (2, 2, 3, 5, 5, 10)
POLL_DELAY_MAX = 15
# How much of a failure the message shows.
MAX_EVENTS = 10
MAX_STOPPED_TASKS = 5

# The clock and the sleep of the waits (tests replace them).
SLEEP = time.sleep
CLOCK = time.monotonic

COMPLETED = "COMPLETED"
FAILED = "FAILED"
IN_PROGRESS = "IN_PROGRESS"


# --- task definitions ------------------------------------------------------------------------------------------------


def task_definition_key(value):
    """``family:revision`` of a task definition ARN or of ``family:revision``; a bare family as given."""
    if not value:
        return value
    match = _TASK_DEFINITION_ARN.match(value)
    if match:
        return match.group(1)
    return value


def task_definition_problems(definition, load_balancers):
    """What keeps ``definition`` (as DescribeTaskDefinition answers it) from running in this Fargate
    service with these load balancers (the module's option values): a list of messages, empty when none."""
    problems = []
    name = task_definition_key(definition.get("taskDefinitionArn")) or definition.get("family")
    if definition.get("networkMode") != "awsvpc":
        problems.append("task_definition {0} has network mode {1}: Fargate runs awsvpc task definitions only.".format(
            name, definition.get("networkMode") or "bridge"))
    compatibilities = definition.get("compatibilities") or definition.get("requiresCompatibilities") or []
    if "FARGATE" not in compatibilities:
        problems.append("task_definition {0} is not compatible with Fargate (compatibilities: {1}): register it with "
                        "requiresCompatibilities FARGATE.".format(name, ", ".join(compatibilities) or "none"))
    ports = {}
    for container in definition.get("containerDefinitions") or []:
        ports[container.get("name")] = sorted(mapping.get("containerPort") for mapping in container.get("portMappings") or []
                                              if mapping.get("containerPort") is not None)
    for index, balancer in enumerate(load_balancers or []):
        container = balancer["container_name"]
        if container not in ports:
            problems.append("load_balancers[{0}].container_name {1!r} is not a container of task_definition {2} (containers: {3}).".format(
                index, container, name, ", ".join(sorted(str(c) for c in ports)) or "none"))
        elif balancer["container_port"] not in ports[container]:
            problems.append("load_balancers[{0}].container_port {1} is not a port mapping of container {2!r} in task_definition {3} "
                            "(its container ports: {4}).".format(index, balancer["container_port"], container, name,
                                                                 ", ".join(str(p) for p in ports[container]) or "none"))
    return problems


# --- input ---------------------------------------------------------------------------------------------------------------


def validate_params(params):
    """Raises InvalidInput, naming the option and the fix, for anything ECS would refuse. Needs no API call."""
    _check(_NAME.match(params["name"] or ""),
           "name must be 1 to 255 letters, digits, hyphens and underscores, got {0!r}.".format(params["name"]))
    cluster = params["cluster"] or ""
    _check(_NAME.match(cluster) or _CLUSTER_ARN.match(cluster),
           "cluster must be a cluster name (letters, digits, hyphens, underscores) or a cluster ARN "
           "(arn:aws:ecs:<region>:<account>:cluster/<name>), got {0!r}.".format(params["cluster"]))
    _check(params["wait_timeout"] >= 1, "wait_timeout must be at least 1 second, got {0}.".format(params["wait_timeout"]))
    if params["state"] != "present":
        return

    task_definition = params["task_definition"] or ""
    _check(_TASK_DEFINITION_ARN.match(task_definition) or _TASK_DEFINITION_FAMILY_REVISION.match(task_definition) or _NAME.match(task_definition),
           "task_definition must be family:revision (for example mlflow:7), a task definition ARN "
           "(arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>) or a family, got {0!r}.".format(params["task_definition"]))
    if params["desired_count"] is not None:
        _check(params["desired_count"] >= 0, "desired_count must be 0 or more, got {0}.".format(params["desired_count"]))

    network = params["network_configuration"]
    subnets, groups = network["subnets"] or [], network["security_groups"] or []
    _check(subnets, "network_configuration.subnets must name at least one subnet (the task's subnets, private ones for a private service).")
    _check(len(set(subnets)) <= MAX_SUBNETS, "network_configuration.subnets takes at most {0} subnets, got {1}.".format(MAX_SUBNETS, len(set(subnets))))
    bad = [subnet for subnet in subnets if not _SUBNET.match(str(subnet))]
    _check(not bad, "network_configuration.subnets must be subnet IDs (subnet-...), got {0}.".format(", ".join(repr(s) for s in bad)))
    _check(groups, "network_configuration.security_groups must name at least one security group: without one ECS uses the VPC's "
                   "default group, which the module does not choose for you.")
    _check(len(set(groups)) <= MAX_SECURITY_GROUPS,
           "network_configuration.security_groups takes at most {0} groups, got {1}.".format(MAX_SECURITY_GROUPS, len(set(groups))))
    bad = [group for group in groups if not _SECURITY_GROUP.match(str(group))]
    _check(not bad, "network_configuration.security_groups must be security group IDs (sg-...), not names, got {0}.".format(
        ", ".join(repr(g) for g in bad)))

    strategy = params["capacity_provider_strategy"]
    if strategy is not None:
        _check(strategy, "capacity_provider_strategy must not be empty: leave it out to use launch_type FARGATE.")
        names = [item["capacity_provider"] for item in strategy]
        _check(all(names), "capacity_provider_strategy[].capacity_provider must not be empty (FARGATE or FARGATE_SPOT).")
        _check(len(set(names)) == len(names), "capacity_provider_strategy names a capacity provider more than once: {0}.".format(", ".join(names)))
        for index, item in enumerate(strategy):
            _check(0 <= item["weight"] <= 1000, "capacity_provider_strategy[{0}].weight must be between 0 and 1000, got {1}.".format(index, item["weight"]))
            _check(0 <= item["base"] <= 100000, "capacity_provider_strategy[{0}].base must be between 0 and 100000, got {1}.".format(index, item["base"]))
        _check(sum(1 for item in strategy if item["base"]) <= 1, "capacity_provider_strategy: only one capacity provider may have a base.")
        _check(any(item["weight"] for item in strategy), "capacity_provider_strategy: at least one capacity provider needs a weight above 0.")

    seen = set()
    for index, balancer in enumerate(params["load_balancers"] or []):
        _check(_TARGET_GROUP_ARN.match(balancer["target_group_arn"] or ""),
               "load_balancers[{0}].target_group_arn must be a target group ARN "
               "(arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>), got {1!r}.".format(index, balancer["target_group_arn"]))
        _check(balancer["container_name"], "load_balancers[{0}].container_name must not be empty.".format(index))
        _check(1 <= balancer["container_port"] <= 65535,
               "load_balancers[{0}].container_port must be between 1 and 65535, got {1}.".format(index, balancer["container_port"]))
        identity = (balancer["target_group_arn"], balancer["container_name"], balancer["container_port"])
        _check(identity not in seen, "load_balancers[{0}] repeats an earlier entry.".format(index))
        seen.add(identity)

    grace = params["health_check_grace_period_seconds"]
    if grace is not None:
        _check(0 <= grace <= MAX_GRACE_PERIOD, "health_check_grace_period_seconds must be between 0 and {0}, got {1}.".format(MAX_GRACE_PERIOD, grace))

    deployment = params["deployment_configuration"]
    minimum, maximum = deployment["minimum_healthy_percent"], deployment["maximum_percent"]
    _check(0 <= minimum <= 100, "deployment_configuration.minimum_healthy_percent must be between 0 and 100, got {0}.".format(minimum))
    _check(maximum > minimum,
           "deployment_configuration.maximum_percent ({0}) must be above minimum_healthy_percent ({1}), or no task could ever be replaced: "
           "use 200 to start new tasks before stopping old ones, or minimum_healthy_percent 0 and maximum_percent 100 to stop "
           "the old task first (a single SQLite writer).".format(maximum, minimum))
    circuit_breaker = deployment["circuit_breaker"]
    _check(circuit_breaker["enable"] or not circuit_breaker["rollback"],
           "deployment_configuration.circuit_breaker.rollback needs circuit_breaker.enable: true.")

    reserved = sorted(key for key in (params["tags"] or {}) if str(key).lower().startswith("aws:"))
    _check(not reserved, "tags may not use the reserved aws: prefix: {0}.".format(", ".join(reserved)))


# --- the settings, both sides -------------------------------------------------------------------------------------------


def _strategy(items):
    """A capacity provider strategy (option or API form) as a sorted list of option-form entries."""
    result = []
    for item in items or []:
        result.append({
            "capacity_provider": item.get("capacity_provider", item.get("capacityProvider")),
            "weight": int(item.get("weight") or 0),
            "base": int(item.get("base") or 0),
        })
    return sorted(result, key=lambda entry: entry["capacity_provider"] or "")


def _load_balancers(items):
    result = []
    for item in items or []:
        entry = {
            "target_group_arn": item.get("target_group_arn", item.get("targetGroupArn")),
            "container_name": item.get("container_name", item.get("containerName")),
            "container_port": item.get("container_port", item.get("containerPort")),
        }
        if item.get("loadBalancerName"):  # a Classic Load Balancer: never one this module sets, but a difference
            entry["load_balancer_name"] = item["loadBalancerName"]
        result.append(entry)
    return sorted(result, key=lambda entry: (entry["target_group_arn"] or "", entry["container_name"] or "", entry["container_port"] or 0))


def desired_settings(params, exists, task_definition_arn=None):
    """The settings the module manages, as the options ask for them (tags aside).

    ``exists`` says whether the service exists (desired_count then only counts when the module owns it);
    ``task_definition_arn`` is the ARN DescribeTaskDefinition resolved the option to, when known.
    """
    desired = {"task_definition": task_definition_key(task_definition_arn or params["task_definition"])}
    count = params["desired_count"]
    if not exists:
        desired["desired_count"] = 1 if count is None else count
    elif count is not None and not params["desired_count_managed_externally"]:
        desired["desired_count"] = count
    if params["capacity_provider_strategy"]:
        desired["launch_type"] = None
        desired["capacity_provider_strategy"] = _strategy(params["capacity_provider_strategy"])
    else:
        desired["launch_type"] = "FARGATE"
        desired["capacity_provider_strategy"] = []
    desired["platform_version"] = params["platform_version"]
    network = params["network_configuration"]
    desired["network_configuration"] = {
        "subnets": sorted(set(network["subnets"])),
        "security_groups": sorted(set(network["security_groups"])),
        "assign_public_ip": bool(network["assign_public_ip"]),
    }
    if params["load_balancers"] is not None:
        desired["load_balancers"] = _load_balancers(params["load_balancers"])
    if params["health_check_grace_period_seconds"] is not None:
        desired["health_check_grace_period_seconds"] = params["health_check_grace_period_seconds"]
    deployment = params["deployment_configuration"]
    desired["deployment_configuration"] = {
        "minimum_healthy_percent": deployment["minimum_healthy_percent"],
        "maximum_percent": deployment["maximum_percent"],
        "circuit_breaker": {
            "enable": bool(deployment["circuit_breaker"]["enable"]),
            "rollback": bool(deployment["circuit_breaker"]["rollback"]),
        },
    }
    desired["availability_zone_rebalancing"] = params["availability_zone_rebalancing"]
    desired["propagate_tags"] = params["propagate_tags"]
    desired["enable_execute_command"] = bool(params["enable_execute_command"])
    return desired


def current_settings(service):
    """Every managed setting of a described service (camelCase, as boto3 has it), with ECS's defaults
    made explicit: what an absent member means to ECS."""
    deployment = service.get("deploymentConfiguration") or {}
    circuit_breaker = deployment.get("deploymentCircuitBreaker") or {}
    network = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    return {
        "task_definition": task_definition_key(service.get("taskDefinition")),
        "desired_count": service.get("desiredCount", 0),
        "launch_type": service.get("launchType") or None,
        "capacity_provider_strategy": _strategy(service.get("capacityProviderStrategy")),
        "platform_version": service.get("platformVersion") or "LATEST",
        "network_configuration": {
            "subnets": sorted(set(network.get("subnets") or [])),
            "security_groups": sorted(set(network.get("securityGroups") or [])),
            "assign_public_ip": network.get("assignPublicIp") == "ENABLED",
        },
        "load_balancers": _load_balancers(service.get("loadBalancers")),
        "health_check_grace_period_seconds": service.get("healthCheckGracePeriodSeconds") or 0,
        "deployment_configuration": {
            "minimum_healthy_percent": deployment.get("minimumHealthyPercent", 100),
            "maximum_percent": deployment.get("maximumPercent", 200),
            "circuit_breaker": {
                "enable": bool(circuit_breaker.get("enable", False)),
                "rollback": bool(circuit_breaker.get("rollback", False)),
            },
        },
        # "If the service never had an AvailabilityZoneRebalancing value set, Amazon ECS treats this as DISABLED."
        "availability_zone_rebalancing": service.get("availabilityZoneRebalancing") or "DISABLED",
        "propagate_tags": service.get("propagateTags") or "NONE",
        "enable_execute_command": bool(service.get("enableExecuteCommand", False)),
    }


def differing_fields(desired, current):
    """The managed fields (of those ``desired`` holds) whose values differ, in MANAGED_FIELDS order."""
    return [field for field in MANAGED_FIELDS if field in desired and desired[field] != current.get(field)]


def creation_only_problem(desired, service):
    """Why the existing ``service`` cannot be brought to ``desired`` by UpdateService, naming the option;
    None when it can."""
    controller = (service.get("deploymentController") or {}).get("type", "ECS")
    if controller != "ECS":
        return ("The service {0} uses the {1} deployment controller; this module manages services with the rolling update (ECS) "
                "deployment controller only, whose settings UpdateService can change.".format(service.get("serviceName"), controller))
    launch_type = service.get("launchType")
    strategy = service.get("capacityProviderStrategy") or []
    if launch_type and launch_type != "FARGATE":
        return ("The service {0} runs on launch type {1}; this module manages Fargate services only. The launch type can only be "
                "chosen when the service is created: delete it (state=absent) and create it again.".format(service.get("serviceName"), launch_type))
    if desired["capacity_provider_strategy"] and not strategy:
        return ("capacity_provider_strategy cannot be set on the existing service {0}: it runs on launch_type FARGATE, and this module "
                "chooses between launch_type and capacity_provider_strategy only when it creates a service. Leave "
                "capacity_provider_strategy out to keep launch_type FARGATE, or delete the service (state=absent) and create it "
                "again with the strategy.".format(service.get("serviceName")))
    if not desired["capacity_provider_strategy"] and strategy:
        return ("launch_type FARGATE cannot be set on the existing service {0}: it uses capacity_provider_strategy {1}, and this module "
                "chooses between launch_type and capacity_provider_strategy only when it creates a service. Give "
                "capacity_provider_strategy (it can change), or delete the service (state=absent) and create it again.".format(
                    service.get("serviceName"),
                    ", ".join("{0} (weight {1}, base {2})".format(i["capacity_provider"], i["weight"], i["base"]) for i in _strategy(strategy))))
    return None


# --- API arguments -------------------------------------------------------------------------------------------------------


def _api_strategy(items):
    return [{"capacityProvider": item["capacity_provider"], "weight": item["weight"], "base": item["base"]} for item in items]


def _api_network(network):
    return {"awsvpcConfiguration": {
        "subnets": list(network["subnets"]),
        "securityGroups": list(network["security_groups"]),
        "assignPublicIp": "ENABLED" if network["assign_public_ip"] else "DISABLED",
    }}


def _api_load_balancers(items):
    return [{"targetGroupArn": item["target_group_arn"], "containerName": item["container_name"], "containerPort": item["container_port"]}
            for item in items]


def _api_deployment_configuration(deployment, current=None):
    result = {key: copy.deepcopy(value) for key, value in (current or {}).items() if key in _UNMANAGED_DEPLOYMENT_MEMBERS}
    result.update({
        "minimumHealthyPercent": deployment["minimum_healthy_percent"],
        "maximumPercent": deployment["maximum_percent"],
        "deploymentCircuitBreaker": {"enable": deployment["circuit_breaker"]["enable"], "rollback": deployment["circuit_breaker"]["rollback"]},
    })
    return result


def create_arguments(name, cluster, desired, task_definition_arn, tags, client_token):
    """CreateService's arguments for ``desired`` (desired_settings of a service that does not exist)."""
    arguments = {
        "cluster": cluster,
        "serviceName": name,
        "taskDefinition": task_definition_arn,
        "desiredCount": desired["desired_count"],
        "platformVersion": desired["platform_version"],
        "networkConfiguration": _api_network(desired["network_configuration"]),
        "deploymentConfiguration": _api_deployment_configuration(desired["deployment_configuration"]),
        "availabilityZoneRebalancing": desired["availability_zone_rebalancing"],
        "propagateTags": desired["propagate_tags"],
        "enableExecuteCommand": desired["enable_execute_command"],
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "clientToken": client_token,
    }
    if desired["capacity_provider_strategy"]:
        arguments["capacityProviderStrategy"] = _api_strategy(desired["capacity_provider_strategy"])
    else:
        arguments["launchType"] = desired["launch_type"]
    if "load_balancers" in desired:
        arguments["loadBalancers"] = _api_load_balancers(desired["load_balancers"])
    if "health_check_grace_period_seconds" in desired:
        arguments["healthCheckGracePeriodSeconds"] = desired["health_check_grace_period_seconds"]
    if tags:
        arguments["tags"] = [{"key": key, "value": value} for key, value in sorted(tags.items())]
    return arguments


def update_arguments(name, cluster, desired, fields, service, task_definition_arn, force_new_deployment):
    """UpdateService's arguments that bring ``service`` to ``desired`` for the differing ``fields``
    (tags aside, which UpdateService does not take); None when there is nothing to update."""
    arguments = {}
    for field in fields:
        if field == "task_definition":
            arguments["taskDefinition"] = task_definition_arn
        elif field == "desired_count":
            arguments["desiredCount"] = desired["desired_count"]
        elif field == "capacity_provider_strategy":
            arguments["capacityProviderStrategy"] = _api_strategy(desired["capacity_provider_strategy"])
            # ECS refuses a change of capacity provider strategy without a new deployment.
            arguments["forceNewDeployment"] = True
        elif field == "platform_version":
            arguments["platformVersion"] = desired["platform_version"]
        elif field == "network_configuration":
            arguments["networkConfiguration"] = _api_network(desired["network_configuration"])
        elif field == "load_balancers":
            arguments["loadBalancers"] = _api_load_balancers(desired["load_balancers"])
        elif field == "health_check_grace_period_seconds":
            arguments["healthCheckGracePeriodSeconds"] = desired["health_check_grace_period_seconds"]
        elif field == "deployment_configuration":
            arguments["deploymentConfiguration"] = _api_deployment_configuration(desired["deployment_configuration"],
                                                                                 service.get("deploymentConfiguration"))
        elif field == "availability_zone_rebalancing":
            arguments["availabilityZoneRebalancing"] = desired["availability_zone_rebalancing"]
        elif field == "propagate_tags":
            arguments["propagateTags"] = desired["propagate_tags"]
        elif field == "enable_execute_command":
            arguments["enableExecuteCommand"] = desired["enable_execute_command"]
    if force_new_deployment:
        arguments["forceNewDeployment"] = True
    if not arguments:
        return None
    return dict(arguments, cluster=cluster, service=name)


def projected_service(service, arguments, tags):
    """What a service would look like after CreateService or UpdateService with ``arguments``, for
    check mode (camelCase, as DescribeServices answers)."""
    projected = copy.deepcopy(service or {})
    if not service:
        projected["status"] = "ACTIVE"
    for key, value in arguments.items():
        if key in ("cluster", "service", "clientToken", "forceNewDeployment", "tags"):
            continue
        projected[key] = copy.deepcopy(value)
    if "capacityProviderStrategy" in arguments:
        projected.pop("launchType", None)
    projected["tags"] = [{"key": key, "value": value} for key, value in sorted((tags or {}).items())]
    return projected


# --- results -------------------------------------------------------------------------------------------------------------


def tags_of(service):
    return dict((tag["key"], tag["value"]) for tag in (service or {}).get("tags") or [])


def service_result(service):
    """A described service as the module returns it: snake_case keys, tags as a dictionary,
    timestamps as ISO 8601 strings, the MAX_EVENTS most recent events."""
    if not service:
        return {}
    service = dict(service)
    tags = tags_of(service)
    service.pop("tags", None)
    service["events"] = (service.get("events") or [])[:MAX_EVENTS]
    result = camel_task_definition_to_snake(service)
    result["tags"] = tags
    return result


def comparable(settings, tags=None):
    """A diff side: the managed settings, and the tags when they are managed."""
    result = copy.deepcopy(settings)
    if tags is not None:
        result["tags"] = dict(sorted(tags.items()))
    return result


# --- deployments ---------------------------------------------------------------------------------------------------------


def primary_deployment(service):
    return next((d for d in (service or {}).get("deployments") or [] if d.get("status") == "PRIMARY"), None)


def deployment_progress(service, deployment_id):
    """Where the deployment ``deployment_id`` (None: the PRIMARY one) of ``service`` stands:
    (COMPLETED | FAILED | IN_PROGRESS, the deployment or None, an explanation)."""
    if not service or service.get("status") != "ACTIVE":
        return FAILED, None, "the service is {0}".format((service or {}).get("status") or "gone")
    deployments = service.get("deployments") or []
    primary = primary_deployment(service)
    tracked = primary if deployment_id is None else next((d for d in deployments if d.get("id") == deployment_id), None)
    if tracked is None:
        return FAILED, primary, "deployment {0} is no longer listed; the PRIMARY deployment is {1}".format(
            deployment_id, _deployment_summary(primary) if primary else "none")
    state = tracked.get("rolloutState")
    counts = "{0} of {1} tasks running".format(tracked.get("runningCount", 0), tracked.get("desiredCount", 0))
    if state == FAILED:
        return FAILED, tracked, "deployment {0} FAILED ({1})".format(tracked.get("id"), counts)
    if tracked.get("status") != "PRIMARY":
        return FAILED, tracked, "deployment {0} was replaced by {1}".format(tracked.get("id"), _deployment_summary(primary) if primary else "none")
    steady = (tracked.get("runningCount", 0) == tracked.get("desiredCount", 0)
              and service.get("runningCount", 0) == service.get("desiredCount", 0))
    if steady and (state == COMPLETED or (state is None and len(deployments) == 1)):
        return COMPLETED, tracked, "deployment {0} COMPLETED ({1})".format(tracked.get("id"), counts)
    return IN_PROGRESS, tracked, "deployment {0} {1} ({2})".format(tracked.get("id"), state or IN_PROGRESS, counts)


def _deployment_summary(deployment):
    return "{0} ({1}, rollout {2})".format(
        deployment.get("id"), task_definition_key(deployment.get("taskDefinition")), deployment.get("rolloutState") or "unknown")


def _timestamp(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return str(value) if value is not None else "?"


def _newer_or_equal(value, since):
    if not isinstance(value, datetime.datetime) or not isinstance(since, datetime.datetime):
        return True
    try:
        return value >= since
    except TypeError:  # naive and aware datetimes
        return True


def recent_events(service, since=None):
    """The service's events since ``since`` (the deployment's start), newest first, at most MAX_EVENTS."""
    events = [event for event in (service or {}).get("events") or [] if _newer_or_equal(event.get("createdAt"), since)]
    events.sort(key=lambda event: _timestamp(event.get("createdAt")), reverse=True)
    return ["{0} {1}".format(_timestamp(event.get("createdAt")), event.get("message", "")) for event in events[:MAX_EVENTS]]


def stopped_task_summaries(tasks, since=None):
    """One line per stopped task (newest first, at most MAX_STOPPED_TASKS): why it stopped and how its containers ended."""
    tasks = [task for task in tasks or [] if _newer_or_equal(task.get("stoppedAt"), since)]
    tasks.sort(key=lambda task: _timestamp(task.get("stoppedAt") or task.get("createdAt")), reverse=True)
    lines = []
    for task in tasks[:MAX_STOPPED_TASKS]:
        line = "task {0} ({1}): {2}".format(
            (task.get("taskArn") or "?").rsplit("/", 1)[-1], task_definition_key(task.get("taskDefinitionArn")),
            task.get("stoppedReason") or "no stopped reason")
        if task.get("stopCode"):
            line += " [{0}]".format(task["stopCode"])
        containers = []
        for container in task.get("containers") or []:
            parts = []
            if container.get("exitCode") is not None:
                parts.append("exit code {0}".format(container["exitCode"]))
            if container.get("reason"):
                parts.append(container["reason"])
            if parts:
                containers.append("container {0}: {1}".format(container.get("name"), ", ".join(parts)))
        if containers:
            line += "; " + "; ".join(containers)
        lines.append(line)
    return lines


def failure_message(headline, service, deployment, stopped_tasks):
    """The message of a deployment that failed or did not finish: the headline, the rollout state
    reason, a rollback if the circuit breaker made one, the service's recent events and why
    recently stopped tasks stopped."""
    parts = [headline.rstrip(".") + "."]
    since = (deployment or {}).get("createdAt")
    if deployment and deployment.get("rolloutStateReason"):
        parts.append("Rollout state reason: {0}".format(deployment["rolloutStateReason"].rstrip(".") + "."))
    primary = primary_deployment(service)
    if deployment and primary and primary.get("id") != deployment.get("id"):
        parts.append("The service's PRIMARY deployment is now {0}, running task definition {1}{2}.".format(
            primary.get("id"), task_definition_key(primary.get("taskDefinition")),
            " (a rollback by the deployment circuit breaker)" if deployment.get("rolloutState") == FAILED else ""))
    events = recent_events(service, since)
    if events:
        parts.append("Recent service events: " + " | ".join(events) + ".")
    else:
        parts.append("The service has no events since the deployment started.")
    summaries = stopped_task_summaries(stopped_tasks, since)
    if summaries:
        parts.append("Recently stopped tasks: " + " | ".join(summaries) + ".")
    else:
        parts.append("No task of the service stopped since the deployment started.")
    return " ".join(parts)


def _poll_delay(attempt):
    return POLL_DELAYS[attempt] if attempt < len(POLL_DELAYS) else POLL_DELAY_MAX


def wait_for_deployment(describe, deployment_id, timeout, sleep=None, clock=None):
    """Polls ``describe()`` (the service, or None) until the deployment completes, fails or ``timeout``
    seconds pass. Returns (outcome, service, deployment, explanation); outcome is COMPLETED, FAILED, or
    IN_PROGRESS when the time ran out."""
    sleep, clock = sleep or SLEEP, clock or CLOCK
    deadline = clock() + timeout
    attempt = 0
    while True:
        service = describe()
        outcome, deployment, explanation = deployment_progress(service, deployment_id)
        if outcome != IN_PROGRESS:
            return outcome, service, deployment, explanation
        remaining = deadline - clock()
        if remaining <= 0:
            return IN_PROGRESS, service, deployment, explanation
        sleep(min(_poll_delay(attempt), remaining))
        attempt += 1


def wait_until_inactive(describe, timeout, sleep=None, clock=None):
    """Polls ``describe()`` until the service is INACTIVE or gone; returns (True, service) or, when
    ``timeout`` seconds pass first, (False, service)."""
    sleep, clock = sleep or SLEEP, clock or CLOCK
    deadline = clock() + timeout
    attempt = 0
    while True:
        service = describe()
        if not service or service.get("status") == "INACTIVE":
            return True, service
        remaining = deadline - clock()
        if remaining <= 0:
            return False, service
        sleep(min(_poll_delay(attempt), remaining))
        attempt += 1


def argument_spec():
    """The options of mlops.mlflow.ecs_fargate_service (without its mutually_exclusive and required_if rules)."""
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        cluster=dict(type="str", required=True),
        task_definition=dict(type="str"),
        desired_count=dict(type="int"),
        desired_count_managed_externally=dict(type="bool", default=False),
        launch_type=dict(type="str", choices=["FARGATE"]),
        capacity_provider_strategy=dict(type="list", elements="dict", options=dict(
            capacity_provider=dict(type="str", required=True),
            weight=dict(type="int", default=1),
            base=dict(type="int", default=0),
        )),
        platform_version=dict(type="str", default="LATEST"),
        network_configuration=dict(type="dict", options=dict(
            subnets=dict(type="list", elements="str", required=True),
            security_groups=dict(type="list", elements="str", required=True),
            assign_public_ip=dict(type="bool", default=False),
        )),
        load_balancers=dict(type="list", elements="dict", options=dict(
            target_group_arn=dict(type="str", required=True),
            container_name=dict(type="str", required=True),
            container_port=dict(type="int", required=True),
        )),
        health_check_grace_period_seconds=dict(type="int"),
        deployment_configuration=dict(type="dict", apply_defaults=True, options=dict(
            minimum_healthy_percent=dict(type="int", default=100),
            maximum_percent=dict(type="int", default=200),
            circuit_breaker=dict(type="dict", apply_defaults=True, options=dict(
                enable=dict(type="bool", default=True),
                rollback=dict(type="bool", default=True),
            )),
        )),
        availability_zone_rebalancing=dict(type="str", choices=["ENABLED", "DISABLED"], default="ENABLED"),
        propagate_tags=dict(type="str", choices=["SERVICE", "TASK_DEFINITION", "NONE"], default="SERVICE"),
        enable_execute_command=dict(type="bool", default=False),
        force_new_deployment=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
    )
