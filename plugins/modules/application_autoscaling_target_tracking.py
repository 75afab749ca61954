#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: application_autoscaling_target_tracking
version_added: 0.1.0
short_description: Register an Application Auto Scaling target and manage a target tracking policy on it
description:
  - Registers a scalable target (for example an ECS service's desired task count) with its minimum and maximum
    capacity, and creates or updates one target tracking scaling policy on it, for example "keep the service's
    average CPU at 60 %" or "keep the load balancer requests per task at 1000 a minute".
  - Both are compared with what C(DescribeScalableTargets) and C(DescribeScalingPolicies) answer, so a re-run
    changes nothing and any change of capacity, target value, metric or cooldown is applied.
  - This module exists because M(community.aws.application_autoscaling_policy) (10.0) is unsafe for this job.
    In check mode it registers the scalable target and creates, updates or deletes the policy all the same. It
    ignores a changed O(min_capacity) or O(max_capacity) of a registered target and reports no change unless
    its C(override_task_capacity) is set; it fails with a parameter validation error when a target is registered
    without both capacities; it has no diff mode and no retries on throttling.
  - Only predefined metrics. For a customized CloudWatch metric or step scaling use
    M(community.aws.application_autoscaling_policy) (in a run without check mode).
  - Every option is checked before the first API call that could change something.
options:
  state:
    description:
      - V(present) registers or updates the scalable target and creates or updates the policy.
      - V(absent) deletes the policy; the scalable target stays registered unless O(deregister_scalable_target=true).
    type: str
    choices: [present, absent]
    default: present
  policy_name:
    description:
      - The name of the scaling policy (1 to 256 printable characters), unique on the scalable target.
    type: str
    required: true
  min_capacity:
    description:
      - The scalable target's minimum capacity (for an ECS service, tasks). Required, with O(max_capacity), when the
        target is not registered yet; when it is, leaving it out keeps the current value.
      - V(0) lets the policy scale an ECS service in to no task, but a service without tasks reports no CPU or request
        metrics, so target tracking cannot scale it out again; the module warns.
    type: int
  max_capacity:
    description:
      - The scalable target's maximum capacity. Required, with O(min_capacity), when the target is not registered yet;
        when it is, leaving it out keeps the current value.
    type: int
  enforce_capacity:
    description:
      - V(true) sets an existing target's capacity to O(min_capacity) and O(max_capacity) when it differs.
      - V(false) uses them only to register a new target and leaves an existing target's capacity as it is. Use this
        when scheduled actions (M(mlops.mlflow.application_autoscaling_scheduled_action)) change the capacity, for
        example to zero at night; otherwise a run at night would set the day's capacity again.
    type: bool
    default: true
  predefined_metric:
    description:
      - The metric to track. For an ECS service V(ECSServiceAverageCPUUtilization),
        V(ECSServiceAverageMemoryUtilization) (percent, their high-resolution variants need high-resolution metrics
        enabled in ECS) or V(ALBRequestCountPerTarget) (requests per task and minute, needs O(resource_label)).
      - Required with O(state=present).
    type: str
    choices:
      - ALBRequestCountPerTarget
      - AppStreamAverageCapacityUtilization
      - CassandraReadCapacityUtilization
      - CassandraWriteCapacityUtilization
      - ComprehendInferenceUtilization
      - DynamoDBReadCapacityUtilization
      - DynamoDBWriteCapacityUtilization
      - EC2SpotFleetRequestAverageCPUUtilization
      - EC2SpotFleetRequestAverageNetworkIn
      - EC2SpotFleetRequestAverageNetworkOut
      - ECSServiceAverageCPUUtilization
      - ECSServiceAverageCPUUtilizationHighResolution
      - ECSServiceAverageMemoryUtilization
      - ECSServiceAverageMemoryUtilizationHighResolution
      - ElastiCacheDatabaseCapacityUsageCountedForEvictPercentage
      - ElastiCacheDatabaseMemoryUsageCountedForEvictPercentage
      - ElastiCacheDatabaseMemoryUsagePercentage
      - ElastiCacheEngineCPUUtilization
      - ElastiCachePrimaryEngineCPUUtilization
      - ElastiCacheReplicaEngineCPUUtilization
      - KafkaBrokerStorageUtilization
      - LambdaProvisionedConcurrencyUtilization
      - NeptuneReaderAverageCPUUtilization
      - RDSReaderAverageCPUUtilization
      - RDSReaderAverageDatabaseConnections
      - SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution
      - SageMakerInferenceComponentInvocationsPerCopy
      - SageMakerVariantConcurrentRequestsPerModelHighResolution
      - SageMakerVariantInvocationsPerInstance
      - SageMakerVariantProvisionedConcurrencyUtilization
      - WorkSpacesAverageUserSessionsCapacityUtilization
  resource_label:
    description:
      - With O(predefined_metric=ALBRequestCountPerTarget) (and only with it), the load balancer and target group whose
        requests are counted, C(app/<load balancer name>/<id>/targetgroup/<target group name>/<id>).
      - That is the part of the load balancer's ARN after C(loadbalancer/), then C(/), then the part of the target
        group's ARN after its last colon, for example V(app/mlflow/0123456789abcdef/targetgroup/mlflow/fedcba9876543210).
    type: str
  target_value:
    description:
      - The value of the metric to keep the target at, for example V(60) (percent CPU) or V(1000) (requests per task
        and minute). Must be greater than 0; a utilization metric of an ECS service takes at most 100.
      - Required with O(state=present).
    type: float
  scale_in_cooldown:
    description:
      - Seconds after a scale-in before another scale-in may start. Not set, a new policy gets AWS's default and an
        existing policy keeps its value.
    type: int
  scale_out_cooldown:
    description:
      - Seconds to wait for a scale-out to take effect before another. Not set, a new policy gets AWS's default and an
        existing policy keeps its value.
    type: int
  disable_scale_in:
    description:
      - V(true) lets the policy only scale out. Not set, a new policy scales in and an existing one keeps its setting.
    type: bool
  deregister_scalable_target:
    description:
      - With O(state=absent), also deregisters the scalable target. AWS then deletes all of its scaling policies and
        scheduled actions, not only O(policy_name); the resource keeps the capacity it has.
    type: bool
    default: false
notes:
  - O(tags) are the scalable target's (scaling policies have none). Without O(tags) the target's tags are neither read
    nor changed, so C(application-autoscaling:ListTagsForResource) is needed only with O(tags).
  - Diff mode shows the scalable target's capacity (and tags, when managed) and the policy's configuration before and
    after.
  - Several target tracking policies on one target each scale out when their metric says so and scale in only when
    all of them say so.
  - Application Auto Scaling uses its service-linked role for ECS; the module sets no role.
  - "Permissions: C(application-autoscaling:DescribeScalableTargets), C(RegisterScalableTarget), C(DescribeScalingPolicies),
    C(PutScalingPolicy), C(DeleteScalingPolicy), C(DeregisterScalableTarget), the tag operations with O(tags), and for
    ECS C(ecs:DescribeServices), C(ecs:UpdateService), C(cloudwatch:PutMetricAlarm), C(cloudwatch:DescribeAlarms),
    C(cloudwatch:DeleteAlarms) and C(iam:CreateServiceLinkedRole) the first time."
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.application_autoscaling
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Between 1 and 4 MLflow tasks, at 60 % average CPU
  mlops.mlflow.application_autoscaling_target_tracking:
    resource_id: service/mlflow/mlflow
    policy_name: mlflow-cpu
    min_capacity: 1
    max_capacity: 4
    predefined_metric: ECSServiceAverageCPUUtilization
    target_value: 60
    scale_in_cooldown: 300
    scale_out_cooldown: 60
    tags:
      application: mlflow

- name: Or by load balancer requests per task and minute
  mlops.mlflow.application_autoscaling_target_tracking:
    resource_id: service/mlflow/mlflow
    policy_name: mlflow-requests
    min_capacity: 1
    max_capacity: 4
    predefined_metric: ALBRequestCountPerTarget
    # loadbalancer/app/<name>/<id> of the ALB ARN, then targetgroup/<name>/<id> of the target group ARN
    resource_label: "{{ mlflow_alb_arn.split('loadbalancer/')[1] }}/{{ mlflow_target_group_arn.split(':')[-1] }}"
    target_value: 1000

- name: With scheduled actions that change the capacity, set it only when registering
  mlops.mlflow.application_autoscaling_target_tracking:
    resource_id: service/mlflow/mlflow
    policy_name: mlflow-cpu
    min_capacity: 1
    max_capacity: 4
    enforce_capacity: false
    predefined_metric: ECSServiceAverageCPUUtilization
    target_value: 60

- name: Show what would change, change nothing
  mlops.mlflow.application_autoscaling_target_tracking:
    resource_id: service/mlflow/mlflow
    policy_name: mlflow-cpu
    min_capacity: 2
    max_capacity: 8
    predefined_metric: ECSServiceAverageCPUUtilization
    target_value: 50
  check_mode: true
  diff: true

- name: Delete the policy and deregister the target (and so its other policies and scheduled actions)
  mlops.mlflow.application_autoscaling_target_tracking:
    resource_id: service/mlflow/mlflow
    policy_name: mlflow-cpu
    state: absent
    deregister_scalable_target: true
"""

RETURN = r"""
scalable_target:
  description:
    - The scalable target as C(DescribeScalableTargets) describes it, keys in snake_case, with its tags when O(tags)
      is given. In check mode, when it would be registered or changed, the target as it would be.
  returned: O(state=present)
  type: dict
  contains:
    service_namespace:
      description: The service namespace.
      type: str
      sample: ecs
    resource_id:
      description: The resource ID.
      type: str
      sample: service/mlflow/mlflow
    scalable_dimension:
      description: The scalable dimension.
      type: str
      sample: ecs:service:DesiredCount
    min_capacity:
      description: The minimum capacity.
      type: int
      sample: 1
    max_capacity:
      description: The maximum capacity.
      type: int
      sample: 4
    scalable_target_arn:
      description: The target's ARN (not in check mode for a new target).
      type: str
      sample: arn:aws:application-autoscaling:eu-west-1:123456789012:scalable-target/0ec5a1b2c3d4e5f60718293a4b5c6d7e8f90
    role_arn:
      description: The service-linked role Application Auto Scaling uses.
      type: str
      sample: arn:aws:iam::123456789012:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService
    tags:
      description: The target's tags, when O(tags) is given.
      type: dict
      sample: {application: mlflow}
policy:
  description:
    - The scaling policy as C(DescribeScalingPolicies) describes it, keys in snake_case. In check mode, when it would
      be created or changed, the policy as it would be (without ARN and alarms).
  returned: O(state=present)
  type: dict
  contains:
    policy_name:
      description: The name.
      type: str
      sample: mlflow-cpu
    policy_arn:
      description: The ARN.
      type: str
      sample: "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f:resource/ecs/service/mlflow/mlflow:\
        policyName/mlflow-cpu"
    policy_type:
      description: C(TargetTrackingScaling).
      type: str
      sample: TargetTrackingScaling
    target_tracking_scaling_policy_configuration:
      description: The configuration.
      type: dict
      sample:
        target_value: 60.0
        predefined_metric_specification: {predefined_metric_type: ECSServiceAverageCPUUtilization}
        scale_in_cooldown: 300
        scale_out_cooldown: 60
    alarms:
      description: The CloudWatch alarms Application Auto Scaling made for the policy.
      type: list
      elements: dict
      sample: [{alarm_name: TargetTracking-service/mlflow/mlflow-AlarmHigh-0a1b, alarm_arn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:..."}]
deregistered:
  description: Whether the scalable target was (or in check mode would be) deregistered.
  returned: O(state=absent)
  type: bool
  sample: false
diff:
  description: In diff mode, the scalable target and the policy before and after.
  returned: diff mode
  type: dict
  contains:
    before:
      description: C(scalable_target) (min_capacity, max_capacity, tags when managed) and C(policy) (its configuration), each when it exists.
      type: dict
    after:
      description: The same, as desired.
      type: dict
"""

import re

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import RETRY_CODES
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import capacity_error
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import check
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import describe_target
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import retry_decorator
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import snake_result
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import target_argument_spec
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import target_identity

PREDEFINED_METRICS = [
    "ALBRequestCountPerTarget",
    "AppStreamAverageCapacityUtilization",
    "CassandraReadCapacityUtilization",
    "CassandraWriteCapacityUtilization",
    "ComprehendInferenceUtilization",
    "DynamoDBReadCapacityUtilization",
    "DynamoDBWriteCapacityUtilization",
    "EC2SpotFleetRequestAverageCPUUtilization",
    "EC2SpotFleetRequestAverageNetworkIn",
    "EC2SpotFleetRequestAverageNetworkOut",
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageCPUUtilizationHighResolution",
    "ECSServiceAverageMemoryUtilization",
    "ECSServiceAverageMemoryUtilizationHighResolution",
    "ElastiCacheDatabaseCapacityUsageCountedForEvictPercentage",
    "ElastiCacheDatabaseMemoryUsageCountedForEvictPercentage",
    "ElastiCacheDatabaseMemoryUsagePercentage",
    "ElastiCacheEngineCPUUtilization",
    "ElastiCachePrimaryEngineCPUUtilization",
    "ElastiCacheReplicaEngineCPUUtilization",
    "KafkaBrokerStorageUtilization",
    "LambdaProvisionedConcurrencyUtilization",
    "NeptuneReaderAverageCPUUtilization",
    "RDSReaderAverageCPUUtilization",
    "RDSReaderAverageDatabaseConnections",
    "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution",
    "SageMakerInferenceComponentInvocationsPerCopy",
    "SageMakerVariantConcurrentRequestsPerModelHighResolution",
    "SageMakerVariantInvocationsPerInstance",
    "SageMakerVariantProvisionedConcurrencyUtilization",
    "WorkSpacesAverageUserSessionsCapacityUtilization",
]
ECS_METRICS = [
    "ALBRequestCountPerTarget",
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageCPUUtilizationHighResolution",
    "ECSServiceAverageMemoryUtilization",
    "ECSServiceAverageMemoryUtilizationHighResolution",
]
ALB_REQUESTS = "ALBRequestCountPerTarget"
_RESOURCE_LABEL = re.compile(r"^app/[A-Za-z0-9-]{1,32}/[0-9a-f]+/targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]+$")
_POLICY_NAME = re.compile(r"^[\x20-\x7e\u00a0-\uffff]{1,256}$")
# Policy options that, when not set, keep the existing policy's value.
_KEPT_WHEN_UNSET = (("scale_in_cooldown", "ScaleInCooldown"), ("scale_out_cooldown", "ScaleOutCooldown"), ("disable_scale_in", "DisableScaleIn"))


def build_desired(params):
    """(target identity, the desired policy's settings) from the module's parameters.

    Raises InvalidInput, naming the option and the fix, for anything AWS would refuse."""
    namespace, resource_id, dimension = target_identity(params)
    identity = dict(ServiceNamespace=namespace, ResourceId=resource_id, ScalableDimension=dimension)
    name = params["policy_name"]
    check(_POLICY_NAME.fullmatch(name or ""), "policy_name must be 1 to 256 printable characters, got {0!r}.".format(name))
    if params["state"] != "present":
        return identity, None

    problem = capacity_error(params["min_capacity"], params["max_capacity"])
    check(problem is None, problem)
    metric, label = params["predefined_metric"], params["resource_label"]
    if namespace == "ecs":
        check(metric in ECS_METRICS, "predefined_metric {0} is not a metric of an ECS service: use one of {1}.".format(metric, ", ".join(ECS_METRICS)))
    if metric == ALB_REQUESTS:
        check(label, "resource_label is required with predefined_metric=ALBRequestCountPerTarget: "
                     "app/<load balancer name>/<id>/targetgroup/<target group name>/<id>.")
        check(_RESOURCE_LABEL.fullmatch(label),
              "resource_label must be app/<load balancer name>/<id>/targetgroup/<target group name>/<id> (the end of the load balancer's ARN "
              "after 'loadbalancer/', a '/', and the end of the target group's ARN after the last ':'), got {0!r}.".format(label))
    else:
        check(not label, "resource_label applies only to predefined_metric=ALBRequestCountPerTarget, not to {0}.".format(metric))
    value = params["target_value"]
    check(value > 0, "target_value must be greater than 0, got {0}.".format(value))
    if metric.startswith("ECSService"):
        check(value <= 100, "target_value of {0} is a percentage and must be at most 100, got {1}.".format(metric, value))
    for option in ("scale_in_cooldown", "scale_out_cooldown"):
        check(params[option] is None or params[option] >= 0, "{0} must be 0 or more seconds, got {1}.".format(option, params[option]))

    specification = {"PredefinedMetricType": metric}
    if label:
        specification["ResourceLabel"] = label
    settings = {"TargetValue": float(value), "PredefinedMetricSpecification": specification}
    for option, key in _KEPT_WHEN_UNSET:
        if params[option] is not None:
            settings[key] = params[option]
    return identity, settings


def policy_configuration(settings, current_policy):
    """The whole configuration to put: the settings given, and for cooldowns and DisableScaleIn not
    given, the existing target tracking policy's values."""
    configuration = dict(settings)
    current = {}
    if current_policy and current_policy.get("PolicyType") == "TargetTrackingScaling":
        current = current_policy.get("TargetTrackingScalingPolicyConfiguration") or {}
    for dummy, key in _KEPT_WHEN_UNSET:
        if key not in configuration and current.get(key) is not None:
            configuration[key] = current[key]
    return configuration


def comparable_policy(policy_type, configuration):
    """A policy's type and configuration in the form the module compares and shows in a diff."""
    if configuration is None:
        return None
    values = dict(configuration)
    if "TargetValue" in values:
        values["TargetValue"] = float(values["TargetValue"])
    if not values.get("DisableScaleIn"):  # false is the default
        values.pop("DisableScaleIn", None)
    return snake_result(dict(PolicyType=policy_type, TargetTrackingScalingPolicyConfiguration=values))


def _current_policy_comparable(policy):
    if policy is None:
        return None
    configuration = policy.get("TargetTrackingScalingPolicyConfiguration")
    if configuration is None:
        configuration = policy.get("StepScalingPolicyConfiguration") or policy.get("PredictiveScalingPolicyConfiguration") or {}
    return comparable_policy(policy.get("PolicyType"), configuration)


def desired_capacity(params, target):
    """(min, max) the target should have, given the current target (or None)."""
    if target is None:
        return params["min_capacity"], params["max_capacity"]
    minimum, maximum = target.get("MinCapacity"), target.get("MaxCapacity")
    if params["enforce_capacity"]:
        if params["min_capacity"] is not None:
            minimum = params["min_capacity"]
        if params["max_capacity"] is not None:
            maximum = params["max_capacity"]
    return minimum, maximum


@AWSRetry.jittered_backoff(catch_extra_error_codes=RETRY_CODES)
def _describe_policies(client, identity, name):
    paginator = client.get_paginator("describe_scaling_policies")
    return paginator.paginate(PolicyNames=[name], **identity).build_full_result()["ScalingPolicies"]


def describe_policy(client, identity, name):
    """The scaling policy as DescribeScalingPolicies gives it, or None."""
    for policy in _describe_policies(client, identity, name):
        if policy.get("PolicyName") == name and all(policy.get(key) == value for key, value in identity.items()):
            return policy
    return None


# Right after a new target is registered, AWS may not know it yet for a moment (eventual consistency).
@AWSRetry.jittered_backoff(retries=6, catch_extra_error_codes=RETRY_CODES + ["ObjectNotFoundException"])
def _put_policy_on_new_target(client, **arguments):
    return client.put_scaling_policy(**arguments)


def _target_state(minimum, maximum, tags):
    state = dict(min_capacity=minimum, max_capacity=maximum)
    if tags is not None:
        state["tags"] = dict(tags)
    return state


def ensure_present(module, client, identity, settings):
    params = module.params
    name = params["policy_name"]
    resource = "{0} ({1}, {2})".format(identity["ResourceId"], identity["ServiceNamespace"], identity["ScalableDimension"])
    try:
        target = describe_target(client, identity["ServiceNamespace"], identity["ResourceId"], identity["ScalableDimension"])
        current_policy = describe_policy(client, identity, name)
        current_tags = None
        if params["tags"] is not None and target is not None:
            if not target.get("ScalableTargetARN"):
                module.fail_json(msg="DescribeScalableTargets gave no ScalableTargetARN for {0}, so its tags cannot be managed.".format(resource))
            current_tags = client.list_tags_for_resource(aws_retry=True, ResourceARN=target["ScalableTargetARN"]).get("Tags") or {}
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe the scalable target and scaling policy {0} of {1}".format(name, resource))

    # The capacity, checked against the current target before anything changes.
    if target is None and (params["min_capacity"] is None or params["max_capacity"] is None):
        module.fail_json(msg="{0} is not registered as a scalable target yet: min_capacity and max_capacity are both required to register it.".format(
            resource))
    minimum, maximum = desired_capacity(params, target)
    problem = capacity_error(minimum, maximum)
    if problem:
        current = target or {}
        module.fail_json(msg="The scalable target's capacity would be invalid: {0} (current min {1}, max {2}); give both min_capacity and "
                             "max_capacity.".format(problem, current.get("MinCapacity"), current.get("MaxCapacity")))
    register = target is None or (minimum, maximum) != (target.get("MinCapacity"), target.get("MaxCapacity"))
    if register and minimum == 0:
        module.warn("min_capacity=0: a service scaled in to no task reports no CPU or request metrics, so this policy cannot scale it out "
                    "again; something else (a scheduled action, a deployment) has to raise the capacity.")

    to_set, to_unset, final_tags = {}, [], None
    if params["tags"] is not None:
        to_set, to_unset = compare_aws_tags(current_tags or {}, params["tags"], params["purge_tags"])
        final_tags = dict((key, value) for key, value in (current_tags or {}).items() if key not in to_unset)
        final_tags.update(to_set)

    configuration = policy_configuration(settings, current_policy)
    current_comparable = _current_policy_comparable(current_policy)
    desired_comparable = comparable_policy("TargetTrackingScaling", configuration)
    put_policy = current_comparable != desired_comparable

    changed = register or bool(to_set or to_unset) or put_policy
    final_target, final_policy = target, current_policy
    if module.check_mode:
        if register:
            final_target = dict(target or {}, MinCapacity=minimum, MaxCapacity=maximum, **identity)
        if put_policy:
            final_policy = dict(PolicyName=name, PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=configuration, **identity)
    else:
        try:
            if register:
                arguments = dict(identity, MinCapacity=minimum, MaxCapacity=maximum)
                if target is None and params["tags"]:
                    arguments["Tags"] = dict(params["tags"])
                    to_set, to_unset = {}, []
                client.register_scalable_target(aws_retry=True, **arguments)
            if target is not None and to_unset:
                client.untag_resource(aws_retry=True, ResourceARN=target["ScalableTargetARN"], TagKeys=to_unset)
            if target is not None and to_set:
                client.tag_resource(aws_retry=True, ResourceARN=target["ScalableTargetARN"], Tags=to_set)
            if put_policy:
                arguments = dict(identity, PolicyName=name, PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=configuration)
                if target is None:
                    _put_policy_on_new_target(client, **arguments)
                else:
                    client.put_scaling_policy(aws_retry=True, **arguments)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not register the scalable target or put scaling policy {0} on {1}".format(name, resource))
        if changed:
            try:
                final_target = describe_target(client, identity["ServiceNamespace"], identity["ResourceId"], identity["ScalableDimension"])
                final_policy = describe_policy(client, identity, name)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg="Could not describe the scalable target and scaling policy {0} of {1}".format(name, resource))

    result = dict(changed=changed, scalable_target=snake_result(final_target or {}), policy=snake_result(final_policy or {}))
    if final_tags is not None:
        result["scalable_target"]["tags"] = final_tags
    if module._diff:
        before = {}
        if target is not None:
            before["scalable_target"] = _target_state(target.get("MinCapacity"), target.get("MaxCapacity"), current_tags)
        if current_comparable is not None:
            before["policy"] = current_comparable
        after = dict(scalable_target=_target_state(minimum, maximum, final_tags), policy=desired_comparable)
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


def _delete(module, failure, call, **arguments):
    """A delete call; something already gone (deleted meanwhile) is what was asked for."""
    try:
        call(aws_retry=True, **arguments)
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ObjectNotFoundException":
            module.fail_json_aws(error, msg=failure)
    except botocore.exceptions.BotoCoreError as error:
        module.fail_json_aws(error, msg=failure)


def ensure_absent(module, client, identity):
    params = module.params
    name = params["policy_name"]
    deregister = params["deregister_scalable_target"]
    resource = "{0} ({1}, {2})".format(identity["ResourceId"], identity["ServiceNamespace"], identity["ScalableDimension"])
    try:
        current_policy = describe_policy(client, identity, name)
        target = None
        if deregister or module._diff:
            target = describe_target(client, identity["ServiceNamespace"], identity["ResourceId"], identity["ScalableDimension"])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe the scalable target and scaling policy {0} of {1}".format(name, resource))

    deregistered = bool(deregister and target is not None)
    if not module.check_mode:
        if current_policy is not None:
            _delete(module, "Could not delete scaling policy {0} of {1}".format(name, resource),
                    client.delete_scaling_policy, PolicyName=name, **identity)
        if deregistered:
            _delete(module, "Could not deregister the scalable target " + resource, client.deregister_scalable_target, **identity)

    result = dict(changed=current_policy is not None or deregistered, deregistered=deregistered)
    if module._diff:
        before, after = {}, {}
        if target is not None:
            before["scalable_target"] = _target_state(target.get("MinCapacity"), target.get("MaxCapacity"), None)
            if not deregistered:
                after["scalable_target"] = before["scalable_target"]
        if current_policy is not None:
            before["policy"] = _current_policy_comparable(current_policy)
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        **target_argument_spec(),
        policy_name=dict(type="str", required=True),
        min_capacity=dict(type="int"),
        max_capacity=dict(type="int"),
        enforce_capacity=dict(type="bool", default=True),
        predefined_metric=dict(type="str", choices=PREDEFINED_METRICS),
        resource_label=dict(type="str"),
        target_value=dict(type="float"),
        scale_in_cooldown=dict(type="int"),
        scale_out_cooldown=dict(type="int"),
        disable_scale_in=dict(type="bool"),
        deregister_scalable_target=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ("predefined_metric", "target_value"))],
        supports_check_mode=True,
    )
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        identity, settings = build_desired(module.params)
    except InvalidInput as error:
        module.fail_json(msg=str(error))
    client = module.client("application-autoscaling", retry_decorator=retry_decorator())
    if module.params["state"] == "present":
        ensure_present(module, client, identity, settings)
    else:
        ensure_absent(module, client, identity)


if __name__ == "__main__":
    main()
