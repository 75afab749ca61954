#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_run_task
version_added: 0.1.0
short_description: Run a one-off ECS Fargate task to completion and fail when its container fails
description:
  - Runs one task of an Amazon ECS task definition on AWS Fargate (C(RunTask)), waits until ECS reports it
    C(STOPPED), and succeeds only when the container named O(container_name) exited with code 0.
  - It is made for one-off jobs that must finish before a play goes on, above all C(mlflow db upgrade),
    which has to migrate the backend store's schema before the service moves to a new MLflow version
    (an MLflow server refuses to start on a database with an older schema).
  - This module exists because M(community.aws.ecs_task) with C(operation=run) can wait only until the
    task is C(RUNNING), never until it has C(STOPPED), and returns no exit code. A play using it goes on
    while the migration still runs, and never learns that it failed.
  - When the container fails, the module fails with a message that gives the task ARN, the container's
    exit code and reason, the task's stop code and stopped reason, and, when the container logs with the
    C(awslogs) driver, the CloudWatch Logs group and stream (C(<awslogs-stream-prefix>/<container>/<task id>))
    that hold its output.
  - Before anything runs, the input is checked and the task definition and the cluster are described (read
    only). A malformed argument, an unknown or C(INACTIVE) task definition, a task definition that is not
    C(awsvpc) and Fargate compatible, a container name the task definition does not have, an unknown or
    inactive cluster or a capacity provider the cluster does not have fail with a clear message and
    start nothing.
  - The module always reports RV(ignore:changed) when it ran a task; it is not idempotent, each run starts
    one task. Use C(when) (for example, only when the image version changes) to decide whether to run it.
options:
  cluster:
    description:
      - The short name or full ARN of the cluster to run the task on.
    type: str
    required: true
  task_definition:
    description:
      - The task definition to run, as V(family) (its latest C(ACTIVE) revision), V(family:revision) or a
        full task definition ARN with its revision.
      - The task runs from the revision this resolves to when the module starts (RV(task.task_definition_arn)).
    type: str
    required: true
  container_name:
    description:
      - The container of the task definition whose exit code decides whether the task succeeded.
      - O(command) and O(environment) override this container's command and environment.
    type: str
    required: true
  command:
    description:
      - Replaces the container's C(command) for this task (the arguments of its C(entryPoint)). ECS cannot
        override an entry point.
      - For a task definition of M(mlops.mlflow.ecs_mlflow_task_definition), V([db-upgrade]) runs C(mlflow db upgrade)
        on the backend store with the service's own configuration.
    type: list
    elements: str
  environment:
    description:
      - Environment variables (names to values) set or replaced in the container for this task; values
        become strings (V(true) and V(false) for booleans).
      - They are visible to anyone who can describe the task. Secrets belong in the task definition's
        C(secrets).
    type: dict
  network_configuration:
    description:
      - The task's network (C(awsvpcConfiguration)). Fargate tasks need subnets and security groups.
    type: dict
    required: true
    suboptions:
      subnets:
        description:
          - IDs of the subnets (C(subnet-...)) the task's network interface may be placed in, up to 16.
          - In a private subnet, the task needs a NAT gateway or VPC endpoints to pull its image and reach
            CloudWatch Logs and Secrets Manager.
        type: list
        elements: str
        required: true
      security_groups:
        description:
          - IDs of the security groups (C(sg-...)) of the task's network interface, up to 5. For a
            schema migration, one that the database accepts connections from.
        type: list
        elements: str
        required: true
      assign_public_ip:
        description:
          - Whether the task's network interface gets a public IP address (needed in a public subnet
            without NAT to pull images).
        type: bool
        default: false
  launch_type:
    description:
      - The launch type. Only V(FARGATE) is supported.
      - Not sent when O(capacity_provider_strategy) is given; the two are mutually exclusive.
    type: str
    choices: [FARGATE]
    default: FARGATE
  capacity_provider_strategy:
    description:
      - Runs the task through capacity providers instead of the launch type, for example C(FARGATE_SPOT).
      - Every capacity provider must be associated with the cluster. A task on C(FARGATE_SPOT) may be
        interrupted (stop code C(SpotInterruption)), which fails the module; a migration is better run on
        C(FARGATE).
    type: list
    elements: dict
    suboptions:
      capacity_provider:
        description:
          - The capacity provider's name, for example V(FARGATE) or V(FARGATE_SPOT).
        type: str
        required: true
      weight:
        description:
          - The relative share of tasks for this provider (0 to 1000).
        type: int
      base:
        description:
          - The number of tasks that run on this provider first (0 to 100000).
        type: int
  platform_version:
    description:
      - The Fargate platform version, for example V(1.4.0), or V(LATEST).
    type: str
    default: LATEST
  started_by:
    description:
      - The task's C(startedBy) marker, to find the tasks of these runs with C(ListTasks).
      - Up to 128 letters, digits, hyphens, underscores and slashes, as ECS allows (no dots, so not the
        collection's name C(mlops.mlflow)).
    type: str
    default: mlops-mlflow
  tags:
    description:
      - Tags of the task (names to values), given to C(RunTask). The caller then needs C(ecs:TagResource).
      - Keys may not begin with V(aws:).
    type: dict
    aliases: [resource_tags]
  wait_timeout:
    description:
      - Seconds to wait for the task to stop. When they have passed, the module stops the task
        (C(StopTask), with a reason that says why) and fails.
      - A schema migration of a large tracking database can take a while; so can pulling a large image.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between two C(DescribeTasks) calls while the task runs (more than 0).
    type: float
    default: 5
notes:
  - The task's output is not returned; with the C(awslogs) driver, RV(log_group) and RV(log_stream) say where
    to read it.
  - If the play is interrupted while the module waits, the task goes on running; look for it with
    C(ListTasks) and O(started_by).
  - "Permissions: C(ecs:DescribeTaskDefinition), C(ecs:DescribeClusters), C(ecs:RunTask), C(ecs:DescribeTasks),
    C(ecs:StopTask), C(ecs:TagResource) with O(tags), and C(iam:PassRole) on the task definition's task
    and execution roles."
  - The module retries throttled API calls. Retried C(RunTask) calls carry the same client token, so ECS
    starts the task once.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Migrate the MLflow backend store before the service moves to the new version
  mlops.mlflow.ecs_run_task:
    cluster: mlflow
    task_definition: "{{ mlflow_task_definition.task_definition_arn }}"
    container_name: mlflow
    command: [db-upgrade]
    network_configuration:
      subnets: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
      security_groups: [sg-0123456789abcdef0]
    tags:
      application: mlflow
      purpose: schema-migration
  register: mlflow_migration

- name: Show where the migration's output is
  ansible.builtin.debug:
    msg: "Exit code {{ mlflow_migration.exit_code }}; output in {{ mlflow_migration.log_group }} / {{ mlflow_migration.log_stream }}"

- name: A one-off job on Fargate Spot, with an environment override and a shorter timeout
  mlops.mlflow.ecs_run_task:
    cluster: arn:aws:ecs:eu-west-1:123456789012:cluster/mlflow
    task_definition: mlflow-jobs:12
    container_name: job
    command: [python, -m, jobs.cleanup, --older-than, 90d]
    environment:
      DRY_RUN: false
    capacity_provider_strategy:
      - capacity_provider: FARGATE_SPOT
        weight: 1
    network_configuration:
      subnets: [subnet-0123456789abcdef0]
      security_groups: [sg-0123456789abcdef0]
    wait_timeout: 600
    poll_interval: 10

- name: Say what would run, run nothing
  mlops.mlflow.ecs_run_task:
    cluster: mlflow
    task_definition: mlflow
    container_name: mlflow
    command: [db-upgrade]
    network_configuration:
      subnets: [subnet-0123456789abcdef0]
      security_groups: [sg-0123456789abcdef0]
  check_mode: true
"""

RETURN = r"""
task:
  description:
    - The task as C(DescribeTasks) describes it when it stopped (keys in snake_case, timestamps in ISO 8601,
      tags as a dictionary); on a timeout, as C(StopTask) answered.
    - Also returned when the module fails after the task started.
  returned: when a task was started
  type: dict
  contains:
    task_arn:
      description: The task's ARN.
      type: str
      sample: arn:aws:ecs:eu-west-1:123456789012:task/mlflow/0123456789abcdef0123456789abcdef
    task_definition_arn:
      description: The task definition revision it ran.
      type: str
      sample: arn:aws:ecs:eu-west-1:123456789012:task-definition/mlflow:7
    last_status:
      description: C(STOPPED) when the task finished.
      type: str
      sample: STOPPED
    stop_code:
      description: Why the task stopped, for example C(EssentialContainerExited), C(TaskFailedToStart), C(UserInitiated).
      type: str
      sample: EssentialContainerExited
    stopped_reason:
      description: ECS's explanation.
      type: str
      sample: Essential container in task exited
    containers:
      description: The task's containers, each with C(name), C(last_status), C(exit_code) and C(reason).
      type: list
      elements: dict
      sample: [{name: mlflow, last_status: STOPPED, exit_code: 0}]
    overrides:
      description: The container overrides the task ran with.
      type: dict
      sample: {container_overrides: [{name: mlflow, command: [db-upgrade]}]}
    tags:
      description: The task's tags.
      type: dict
      sample: {application: mlflow}
task_arn:
  description: The task's ARN.
  returned: when a task was started
  type: str
  sample: arn:aws:ecs:eu-west-1:123456789012:task/mlflow/0123456789abcdef0123456789abcdef
exit_code:
  description:
    - The exit code of O(container_name); V(null) when the container never ran to an exit (for example when
      its image could not be pulled or the task was stopped before).
  returned: when a task was started
  type: int
  sample: 0
stopped_reason:
  description: The task's stopped reason.
  returned: when a task was started
  type: str
  sample: Essential container in task exited
stop_code:
  description: The task's stop code.
  returned: when a task was started
  type: str
  sample: EssentialContainerExited
log_group:
  description: The CloudWatch Logs group of O(container_name)'s output; V(null) when it does not use the C(awslogs) driver.
  returned: always
  type: str
  sample: /ecs/mlflow
log_stream:
  description:
    - The CloudWatch Logs stream of O(container_name)'s output in this task, C(<awslogs-stream-prefix>/<container>/<task id>).
    - V(null) when the container does not use the C(awslogs) driver with a stream prefix, and in check mode.
  returned: always
  type: str
  sample: mlflow/mlflow/0123456789abcdef0123456789abcdef
run_task_request:
  description:
    - The C(RunTask) request the module made, or in check mode would make (keys in snake_case), with the task
      definition resolved to its revision's ARN.
  returned: always
  type: dict
  sample:
    cluster: mlflow
    task_definition: arn:aws:ecs:eu-west-1:123456789012:task-definition/mlflow:7
    count: 1
    launch_type: FARGATE
    platform_version: LATEST
    started_by: mlops-mlflow
    network_configuration:
      awsvpc_configuration: {subnets: [subnet-0123456789abcdef0], security_groups: [sg-0123456789abcdef0], assign_public_ip: DISABLED}
    overrides:
      container_overrides: [{name: mlflow, command: [db-upgrade]}]
"""

import json
import re
import time
import uuid

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import camel_task_definition_to_snake

MODULE = "mlops.mlflow.ecs_run_task"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255}$")
_FAMILY_REVISION = re.compile(r"^[A-Za-z0-9_-]{1,255}(:[1-9][0-9]*)?$")
_TASK_DEFINITION_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[A-Za-z0-9_-]{1,255}:[1-9][0-9]*$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_STARTED_BY = re.compile(r"^[A-Za-z0-9_/-]{1,128}$")
_ENVIRONMENT_NAME = re.compile(r"^[^=\x00]+$")
OVERRIDES_LIMIT = 8192  # characters of the overrides' JSON, as RunTask counts them
STOP_REASON_LIMIT = 255


def input_problems(params):
    """What is wrong with the arguments, found without an API call (an empty list when nothing is)."""
    problems = []
    cluster = params["cluster"]
    if not (_NAME.match(cluster) or _CLUSTER_ARN.match(cluster)):
        problems.append("cluster must be a cluster name (1 to 255 letters, digits, hyphens and underscores) or a cluster ARN, "
                        "not {0!r}".format(cluster))
    definition = params["task_definition"]
    if not (_FAMILY_REVISION.match(definition) or _TASK_DEFINITION_ARN.match(definition)):
        problems.append("task_definition must be family, family:revision or a task definition ARN with its revision "
                        "(arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>), not {0!r}".format(definition))
    if not _NAME.match(params["container_name"]):
        problems.append("container_name must be 1 to 255 letters, digits, hyphens and underscores, not {0!r}".format(params["container_name"]))

    network = params["network_configuration"]
    subnets, groups = network["subnets"], network["security_groups"]
    if not 1 <= len(subnets) <= 16:
        problems.append("network_configuration.subnets must list 1 to 16 subnet IDs, not {0}".format(len(subnets)))
    bad = [subnet for subnet in subnets if not _SUBNET.match(subnet)]
    if bad:
        problems.append("network_configuration.subnets must be subnet IDs (subnet-0123456789abcdef0), not {0}".format(", ".join(map(repr, bad))))
    if not 1 <= len(groups) <= 5:
        problems.append("network_configuration.security_groups must list 1 to 5 security group IDs, not {0}".format(len(groups)))
    bad = [group for group in groups if not _SECURITY_GROUP.match(group)]
    if bad:
        problems.append("network_configuration.security_groups must be security group IDs (sg-0123456789abcdef0), not {0}".format(
            ", ".join(map(repr, bad))))

    strategy = params["capacity_provider_strategy"]
    if strategy is not None:
        if not 1 <= len(strategy) <= 20:
            problems.append("capacity_provider_strategy must hold 1 to 20 capacity providers, not {0}".format(len(strategy)))
        for index, item in enumerate(strategy):
            if item["weight"] is not None and not 0 <= item["weight"] <= 1000:
                problems.append("capacity_provider_strategy[{0}].weight must be between 0 and 1000".format(index))
            if item["base"] is not None and not 0 <= item["base"] <= 100000:
                problems.append("capacity_provider_strategy[{0}].base must be between 0 and 100000".format(index))
        names = [item["capacity_provider"] for item in strategy]
        if len(set(names)) != len(names):
            problems.append("capacity_provider_strategy names a capacity provider more than once")
        if len([item for item in strategy if item["base"]]) > 1:
            problems.append("capacity_provider_strategy: only one capacity provider may have a base")

    if not _STARTED_BY.match(params["started_by"]):
        problems.append("started_by must be 1 to 128 letters, digits, hyphens, underscores and slashes, as ECS allows, "
                        "not {0!r}".format(params["started_by"]))
    tags = params["tags"] or {}
    if len(tags) > 50:
        problems.append("tags: a task may have at most 50 tags, not {0}".format(len(tags)))
    reserved = sorted(key for key in tags if str(key).lower().startswith("aws:"))
    if reserved:
        problems.append("tags may not begin with aws: (reserved for AWS): {0}".format(", ".join(reserved)))
    bad = sorted(str(name) for name in (params["environment"] or {}) if not _ENVIRONMENT_NAME.match(str(name)))
    if bad:
        problems.append("environment names may not be empty or hold '=': {0}".format(", ".join(map(repr, bad))))
    if params["wait_timeout"] < 1:
        problems.append("wait_timeout must be at least 1 second")
    if not params["poll_interval"] > 0:
        problems.append("poll_interval must be more than 0 seconds")
    overrides = container_overrides(params)
    if overrides and len(json.dumps(overrides, separators=(",", ":"))) > OVERRIDES_LIMIT:
        problems.append("command and environment are too long: RunTask allows {0} characters of overrides, these take {1}".format(
            OVERRIDES_LIMIT, len(json.dumps(overrides, separators=(",", ":")))))
    return problems


def _environment_value(value):
    """A string, with YAML booleans as most tools read them (true, false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def container_overrides(params):
    """RunTask's overrides for the container (an empty dict when there is nothing to override)."""
    override = {}
    if params["command"] is not None:
        override["command"] = list(params["command"])
    if params["environment"]:
        override["environment"] = [{"name": str(name), "value": _environment_value(params["environment"][name])}
                                   for name in sorted(params["environment"], key=str)]
    if not override:
        return {}
    return {"containerOverrides": [dict(name=params["container_name"], **override)]}


def run_task_request(params, task_definition_arn):
    """The RunTask parameters (without the client token)."""
    network = params["network_configuration"]
    request = {
        "cluster": params["cluster"],
        "taskDefinition": task_definition_arn,
        "count": 1,
        "startedBy": params["started_by"],
        "platformVersion": params["platform_version"],
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": list(network["subnets"]),
            "securityGroups": list(network["security_groups"]),
            "assignPublicIp": "ENABLED" if network["assign_public_ip"] else "DISABLED",
        }},
    }
    if params["capacity_provider_strategy"]:
        strategy = []
        for item in params["capacity_provider_strategy"]:
            entry = {"capacityProvider": item["capacity_provider"]}
            if item["weight"] is not None:
                entry["weight"] = item["weight"]
            if item["base"] is not None:
                entry["base"] = item["base"]
            strategy.append(entry)
        request["capacityProviderStrategy"] = strategy
    else:
        request["launchType"] = params["launch_type"]
    overrides = container_overrides(params)
    if overrides:
        request["overrides"] = overrides
    if params["tags"]:
        request["tags"] = ansible_dict_to_boto3_tag_list(dict((str(k), _environment_value(v)) for k, v in params["tags"].items()), "key", "value")
    return request


def definition_problems(definition, container_name):
    """What makes a described task definition unfit to run here."""
    problems = []
    label = definition.get("taskDefinitionArn", "the task definition")
    if definition.get("status") == "INACTIVE":
        problems.append("{0} is INACTIVE (deregistered): ECS runs no new task from it; give an ACTIVE revision".format(label))
    if definition.get("networkMode") != "awsvpc":
        problems.append("{0} has network mode {1}; Fargate runs awsvpc task definitions only".format(label, definition.get("networkMode") or "bridge"))
    compatibilities = set(definition.get("compatibilities") or []) | set(definition.get("requiresCompatibilities") or [])
    if compatibilities and "FARGATE" not in compatibilities:
        problems.append("{0} is not compatible with Fargate (compatibilities: {1})".format(label, ", ".join(sorted(compatibilities))))
    names = [container.get("name") for container in definition.get("containerDefinitions") or []]
    if container_name not in names:
        problems.append("{0} has no container named {1!r}; its containers: {2}".format(label, container_name, ", ".join(names) or "none"))
    return problems


def cluster_problems(cluster, wanted, strategy):
    if cluster is None:
        return ["cluster {0!r} does not exist in this account and region".format(wanted)]
    problems = []
    if cluster.get("status") != "ACTIVE":
        problems.append("cluster {0} is {1}, not ACTIVE".format(cluster.get("clusterName", wanted), cluster.get("status")))
    if strategy:
        available = cluster.get("capacityProviders") or []
        missing = [item["capacity_provider"] for item in strategy if item["capacity_provider"] not in available]
        if missing:
            message = "capacity provider(s) {0} not associated with cluster {1} (its capacity providers: {2}); add them with PutClusterCapacityProviders"
            problems.append(message.format(", ".join(missing), cluster.get("clusterName", wanted), ", ".join(available) or "none"))
    return problems


def task_id(task_arn):
    """The task ID at the end of a task ARN (old and new ARN formats)."""
    return task_arn.rsplit("/", 1)[-1]


def log_location(definition, container_name, region):
    """(group, stream prefix, region) of the container's awslogs configuration, or (None, None, None)."""
    for container in definition.get("containerDefinitions") or []:
        if container.get("name") != container_name:
            continue
        configuration = container.get("logConfiguration") or {}
        if configuration.get("logDriver") != "awslogs":
            return None, None, None
        options = configuration.get("options") or {}
        return options.get("awslogs-group"), options.get("awslogs-stream-prefix") or None, options.get("awslogs-region") or region
    return None, None, None


def log_stream_name(prefix, container_name, task_arn):
    """The awslogs stream of a container in a task: <prefix>/<container name>/<task id> (None without a prefix)."""
    if not prefix or not task_arn:
        return None
    return "{0}/{1}/{2}".format(prefix, container_name, task_id(task_arn))


def find_container(task, container_name):
    for container in task.get("containers") or []:
        if container.get("name") == container_name:
            return container
    return None


def describe_log(log_group, log_stream, log_region):
    if not log_group:
        return "The container has no awslogs log configuration: its output is wherever its log driver sends it."
    if log_stream:
        return "Its output is in CloudWatch Logs: group {0}, stream {1} (region {2}).".format(log_group, log_stream, log_region)
    return "Its output is in CloudWatch Logs group {0} (region {1}); without awslogs-stream-prefix the stream name is not known.".format(
        log_group, log_region)


def failure_message(task, container_name, cluster, log_text):
    """Why a stopped task counts as failed, with everything needed to look into it."""
    container = find_container(task, container_name)
    head = "ECS task {0} (task definition {1}, cluster {2}) failed: ".format(task.get("taskArn"), task.get("taskDefinitionArn"), cluster)
    if container is None:
        what = "the task description has no container named {0!r}".format(container_name)
    elif container.get("exitCode") is None:
        what = "container {0!r} stopped without an exit code (it never ran or did not finish)".format(container_name)
    else:
        what = "container {0!r} exited with code {1}".format(container_name, container["exitCode"])
    if container is not None:
        what += "; container reason: {0}".format(container.get("reason") or "none given")
    stopped = "The task stopped with stop code {0}: {1}.".format(task.get("stopCode") or "(none)", task.get("stoppedReason") or "no reason given")
    return "{0}{1}. {2} {3}".format(head, what, stopped, log_text)


def snake_task(task):
    """A described task in snake_case, tags as a dictionary."""
    task = dict(task)
    tags = task.pop("tags", None)
    result = camel_task_definition_to_snake(task)
    result["tags"] = boto3_tag_list_to_ansible_dict(tags or [], "key", "value")
    return result


def outcome(task, container_name, log_group, log_prefix):
    """The return values that describe a started task."""
    container = find_container(task, container_name) or {}
    return dict(
        task=snake_task(task),
        task_arn=task.get("taskArn"),
        exit_code=container.get("exitCode"),
        stopped_reason=task.get("stoppedReason"),
        stop_code=task.get("stopCode"),
        log_group=log_group,
        log_stream=log_stream_name(log_prefix, container_name, task.get("taskArn")) if log_group else None,
    )


class Runner:
    """Runs the task and waits for it; time and sleep are attributes so that tests can replace them."""

    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params

    def describe_definition(self):
        try:
            return self.client.describe_task_definition(aws_retry=True, taskDefinition=self.params["task_definition"])["taskDefinition"]
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("ClientException", "InvalidParameterException"):
                self.module.fail_json_aws(error, msg="Task definition {0!r} was not found (give family, family:revision or an ARN of an "
                                          "existing revision)".format(self.params["task_definition"]), changed=False)
            self.module.fail_json_aws(error, msg="Could not describe task definition {0}".format(self.params["task_definition"]), changed=False)
        except botocore.exceptions.BotoCoreError as error:
            self.module.fail_json_aws(error, msg="Could not describe task definition {0}".format(self.params["task_definition"]), changed=False)

    def describe_cluster(self):
        try:
            answer = self.client.describe_clusters(aws_retry=True, clusters=[self.params["cluster"]])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            self.module.fail_json_aws(error, msg="Could not describe cluster {0}".format(self.params["cluster"]), changed=False)
        clusters = answer.get("clusters") or []
        return clusters[0] if clusters else None

    def start(self, request):
        # One client token for every attempt: a retried RunTask starts no second task.
        arguments = dict(request, clientToken=str(uuid.uuid4()))
        try:
            answer = self.client.run_task(aws_retry=True, **arguments)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            self.module.fail_json_aws(error, msg="RunTask failed for task definition {0} on cluster {1}".format(
                request["taskDefinition"], request["cluster"]), changed=False, run_task_request=snake_request(request))
        tasks = answer.get("tasks") or []
        failures = answer.get("failures") or []
        if failures or not tasks:
            described = "; ".join(
                "{0}{1}{2}".format(failure.get("reason") or "unknown reason",
                                   " ({0})".format(failure["arn"]) if failure.get("arn") else "",
                                   ": {0}".format(failure["detail"]) if failure.get("detail") else "")
                for failure in failures) or "ECS answered with no task and no failure"
            result = dict(changed=bool(tasks), run_task_request=snake_request(request), failures=failures)
            if tasks:  # should not happen with count 1; report what did start
                result.update(outcome(tasks[0], self.params["container_name"], None, None))
            self.module.fail_json(msg="RunTask started no task from {0} on cluster {1}: {2}".format(
                request["taskDefinition"], request["cluster"], described), **result)
        return tasks[0]

    def describe_task(self, task_arn):
        """The task as DescribeTasks shows it, or None while ECS does not know it yet (eventual consistency)."""
        answer = self.client.describe_tasks(aws_retry=True, cluster=self.params["cluster"], tasks=[task_arn], include=["TAGS"])
        for task in answer.get("tasks") or []:
            if task.get("taskArn") == task_arn or task_id(task.get("taskArn", "")) == task_id(task_arn):
                return task
        return None

    def wait_until_stopped(self, task):
        """The task once STOPPED, or (None, last seen) when wait_timeout passed first."""
        deadline = self.clock() + self.params["wait_timeout"]
        last = task
        while last.get("lastStatus") != "STOPPED":
            remaining = deadline - self.clock()
            if remaining <= 0:
                return None, last
            self.sleep(min(self.params["poll_interval"], remaining))
            try:
                described = self.describe_task(task["taskArn"])
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                self.module.fail_json_aws(error, msg="Could not describe task {0}; it may still be running (stop it with StopTask if it must not)".format(
                    task["taskArn"]), changed=True, **outcome(last, self.params["container_name"], None, None))
            if described is not None:
                last = described
        return last, last

    def stop(self, task_arn, reason):
        try:
            return self.client.stop_task(aws_retry=True, cluster=self.params["cluster"], task=task_arn, reason=reason)["task"], None
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            return None, error


def snake_request(request):
    return camel_task_definition_to_snake(request)


def run(module, runner):
    params = module.params
    container_name = params["container_name"]

    definition = runner.describe_definition()
    cluster = runner.describe_cluster()
    problems = definition_problems(definition, container_name) + cluster_problems(cluster, params["cluster"], params["capacity_provider_strategy"])
    if problems:
        module.fail_json(msg="Nothing was run: " + "; ".join(problems), changed=False)

    request = run_task_request(params, definition["taskDefinitionArn"])
    log_group, log_prefix, log_region = log_location(definition, container_name, module.region)
    if module.check_mode:
        module.exit_json(changed=True, msg="Check mode: would run one task of {0} on cluster {1} and wait for container {2!r}".format(
            definition["taskDefinitionArn"], params["cluster"], container_name),
            run_task_request=snake_request(request), log_group=log_group, log_stream=None)

    started = runner.start(request)
    task_arn = started["taskArn"]
    stopped, last = runner.wait_until_stopped(started)
    if stopped is None:
        reason = "{0}: the task did not stop within wait_timeout={1} seconds".format(MODULE, params["wait_timeout"])[:STOP_REASON_LIMIT]
        answer, error = runner.stop(task_arn, reason)
        result = outcome(answer or last, container_name, log_group, log_prefix)
        log_text = describe_log(log_group, result["log_stream"], log_region)
        if error is None:
            done = "ECS has been asked to stop it (StopTask, reason {0!r}).".format(reason)
        else:
            done = "Stopping it failed too ({0}); stop it with: aws ecs stop-task --cluster {1} --task {2}.".format(
                error, params["cluster"], task_arn)
        module.fail_json(msg="ECS task {0} (task definition {1}, cluster {2}) did not stop within wait_timeout={3} seconds (last status {4}). {5} {6}".format(
            task_arn, definition["taskDefinitionArn"], params["cluster"], params["wait_timeout"], last.get("lastStatus"), done, log_text),
            changed=True, run_task_request=snake_request(request), **result)

    result = outcome(stopped, container_name, log_group, log_prefix)
    if result["exit_code"] != 0:
        log_text = describe_log(log_group, result["log_stream"], log_region)
        module.fail_json(msg=failure_message(stopped, container_name, params["cluster"], log_text), changed=True,
                         run_task_request=snake_request(request), **result)
    module.exit_json(changed=True, run_task_request=snake_request(request), **result)


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        task_definition=dict(type="str", required=True),
        container_name=dict(type="str", required=True),
        command=dict(type="list", elements="str"),
        environment=dict(type="dict"),
        network_configuration=dict(type="dict", required=True, options=dict(
            subnets=dict(type="list", elements="str", required=True),
            security_groups=dict(type="list", elements="str", required=True),
            assign_public_ip=dict(type="bool", default=False),
        )),
        launch_type=dict(type="str", choices=["FARGATE"], default="FARGATE"),
        capacity_provider_strategy=dict(type="list", elements="dict", options=dict(
            capacity_provider=dict(type="str", required=True),
            weight=dict(type="int"),
            base=dict(type="int"),
        )),
        platform_version=dict(type="str", default="LATEST"),
        started_by=dict(type="str", default="mlops-mlflow"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        wait_timeout=dict(type="int", default=1800),
        poll_interval=dict(type="float", default=5),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        # Checked on what the user gave: the default launch type does not count.
        mutually_exclusive=[("launch_type", "capacity_provider_strategy")],
        supports_check_mode=True,
    )
    # Everything that can be checked without AWS is checked before the first API call.
    problems = input_problems(module.params)
    if problems:
        module.fail_json(msg="Nothing was run: " + "; ".join(problems), changed=False)
    # ECS answers throttled calls with ThrottlingException, which AWSRetry does not know by itself.
    retry = AWSRetry.jittered_backoff(catch_extra_error_codes=["ThrottlingException"])
    run(module, Runner(module, module.client("ecs", retry_decorator=retry)))


if __name__ == "__main__":
    main()
