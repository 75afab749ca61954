# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the Application Auto Scaling modules share: the scalable target's identity, its validation,
looking the target up, and the retry policy.

A scalable target is identified by three values: the service namespace (``ecs``), the resource ID
(``service/<cluster>/<service>`` for an ECS service) and the scalable dimension
(``ecs:service:DesiredCount``). Scaling policies and scheduled actions belong to a target and can
only be created once it is registered.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import check

# botocore's ServiceNamespace and ScalableDimension enums (application-autoscaling 2016-02-06).
SERVICE_NAMESPACES = [
    "appstream", "cassandra", "comprehend", "custom-resource", "dynamodb", "ec2", "ecs", "elasticache",
    "elasticmapreduce", "kafka", "lambda", "neptune", "rds", "sagemaker", "workspaces",
]
SCALABLE_DIMENSIONS = [
    "appstream:fleet:DesiredCapacity",
    "cassandra:table:ReadCapacityUnits",
    "cassandra:table:WriteCapacityUnits",
    "comprehend:document-classifier-endpoint:DesiredInferenceUnits",
    "comprehend:entity-recognizer-endpoint:DesiredInferenceUnits",
    "custom-resource:ResourceType:Property",
    "dynamodb:index:ReadCapacityUnits",
    "dynamodb:index:WriteCapacityUnits",
    "dynamodb:table:ReadCapacityUnits",
    "dynamodb:table:WriteCapacityUnits",
    "ec2:spot-fleet-request:TargetCapacity",
    "ecs:service:DesiredCount",
    "elasticache:cache-cluster:Nodes",
    "elasticache:replication-group:NodeGroups",
    "elasticache:replication-group:Replicas",
    "elasticmapreduce:instancegroup:InstanceCount",
    "kafka:broker-storage:VolumeSize",
    "lambda:function:ProvisionedConcurrency",
    "neptune:cluster:ReadReplicaCount",
    "rds:cluster:ReadReplicaCount",
    "sagemaker:inference-component:DesiredCopyCount",
    "sagemaker:variant:DesiredInstanceCount",
    "sagemaker:variant:DesiredProvisionedConcurrency",
    "workspaces:workspacespool:DesiredUserSessions",
]
# The only dimension of a namespace, where it has only one that a module may default to.
DEFAULT_DIMENSIONS = {"ecs": "ecs:service:DesiredCount"}

# ECS cluster and service names: up to 255 letters, digits, hyphens and underscores.
_ECS_RESOURCE_ID = re.compile(r"^service/[A-Za-z0-9_-]{1,255}/[A-Za-z0-9_-]{1,255}$")
_ECS_SERVICE_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service/(?:([A-Za-z0-9_-]+)/)?([A-Za-z0-9_-]+)$")

# AWSRetry retries "Throttling" but not "ThrottlingException", which JSON services such as Application
# Auto Scaling answer; a concurrent change of the same target is worth a retry too.
RETRY_CODES = ["ThrottlingException", "ConcurrentUpdateException"]


def retry_decorator():
    """The retry decorator the modules' client uses (pass ``aws_retry=True`` to a call)."""
    return AWSRetry.jittered_backoff(catch_extra_error_codes=RETRY_CODES)


def target_argument_spec():
    """The argument_spec of the options that identify the scalable target (documented by the doc fragment
    mlops.mlflow.application_autoscaling): service_namespace, resource_id, scalable_dimension."""
    return dict(
        service_namespace=dict(type="str", choices=SERVICE_NAMESPACES, default="ecs"),
        resource_id=dict(type="str", required=True),
        scalable_dimension=dict(type="str", choices=SCALABLE_DIMENSIONS),
    )


def target_identity(params):
    """(service namespace, resource ID, scalable dimension) from the module's parameters, checked.

    Raises InvalidInput with the fix in the message."""
    namespace = params["service_namespace"]
    resource_id = (params["resource_id"] or "").strip()
    dimension = params["scalable_dimension"] or DEFAULT_DIMENSIONS.get(namespace)
    check(dimension, "scalable_dimension is required with service_namespace={0} (one of {1}).".format(
        namespace, ", ".join(d for d in SCALABLE_DIMENSIONS if d.startswith(namespace + ":"))))
    check(dimension.startswith(namespace + ":"),
          "scalable_dimension {0} does not belong to service_namespace {1}: use one of {2}.".format(
              dimension, namespace, ", ".join(d for d in SCALABLE_DIMENSIONS if d.startswith(namespace + ":"))))
    check(resource_id, "resource_id must not be empty.")
    if namespace == "ecs":
        arn = _ECS_SERVICE_ARN.fullmatch(resource_id)
        hint = ""
        if arn and arn.group(1):
            hint = " (for this service ARN: service/{0}/{1})".format(arn.group(1), arn.group(2))
        check(_ECS_RESOURCE_ID.fullmatch(resource_id),
              "resource_id of an ECS service must be service/<cluster name>/<service name>{0}, got {1!r}.".format(hint, resource_id))
    return namespace, resource_id, dimension


def capacity_error(min_capacity, max_capacity, prefix=""):
    """A message when the capacities cannot be (negative, or min above max), else None."""
    for name, value in (("min_capacity", min_capacity), ("max_capacity", max_capacity)):
        if value is not None and value < 0:
            return "{0}{1} must be 0 or more, got {2}.".format(prefix, name, value)
    if min_capacity is not None and max_capacity is not None and min_capacity > max_capacity:
        return "{0}min_capacity ({1}) must not be greater than max_capacity ({2}).".format(prefix, min_capacity, max_capacity)
    return None


def describe_target(client, namespace, resource_id, dimension):
    """The registered scalable target (as DescribeScalableTargets gives it), or None."""
    answer = client.describe_scalable_targets(aws_retry=True, ServiceNamespace=namespace, ResourceIds=[resource_id],
                                              ScalableDimension=dimension)
    for target in answer.get("ScalableTargets") or []:
        if target.get("ResourceId") == resource_id and target.get("ScalableDimension") == dimension:
            return target
    return None


def missing_target_message(namespace, resource_id, dimension, what):
    """Why ``what`` cannot be created, and how to fix it."""
    return ("No scalable target is registered for service namespace {0}, resource ID {1}, scalable dimension {2}, so {3} cannot be "
            "created. Register the target first, with its minimum and maximum capacity: for example with "
            "mlops.mlflow.application_autoscaling_target_tracking (min_capacity, max_capacity) or "
            "aws application-autoscaling register-scalable-target. For an ECS service, check that the cluster and service "
            "names in resource_id are right and that the service exists.").format(namespace, resource_id, dimension, what)


def iso_timestamp(value):
    """A timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds), or None."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        value = value.astimezone(datetime.timezone.utc)
    else:  # epoch seconds
        value = datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def snake_result(value):
    """AWS data with snake_case keys and timestamps as ISO 8601 strings."""
    def convert(item):
        if isinstance(item, dict):
            return dict((key, convert(inner)) for key, inner in item.items())
        if isinstance(item, list):
            return [convert(inner) for inner in item]
        if isinstance(item, datetime.datetime):
            if item.tzinfo is not None:
                item = item.astimezone(datetime.timezone.utc)
            return item.isoformat()
        return item
    return convert(camel_dict_to_snake_dict(value))
