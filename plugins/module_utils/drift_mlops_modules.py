# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Drift kinds for this collection's own acting modules (see drift.py for the contract).

Each kind runs the same describe and plan functions as its module, so "in sync" here is, by construction, "the
module would change nothing".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.mlops.mlflow.plugins.module_utils import application_autoscaling
from ansible_collections.mlops.mlflow.plugins.module_utils import ec2_security_groups
from ansible_collections.mlops.mlflow.plugins.module_utils import ecs_fargate_cluster
from ansible_collections.mlops.mlflow.plugins.module_utils import ecs_service
from ansible_collections.mlops.mlflow.plugins.module_utils import elb_mlflow_load_balancer
from ansible_collections.mlops.mlflow.plugins.module_utils import iam_service_roles
from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_task_definition
from ansible_collections.mlops.mlflow.plugins.module_utils import rds_cluster_instances
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import outcome
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import normalise_task_definition
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput


def _present_only(spec):
    spec = dict(spec)
    spec["state"] = dict(type="str", choices=["present"], default="present")
    return spec


SECURITY_GROUPS_SPEC = _present_only(ec2_security_groups.argument_spec())


def check_security_groups(client, params):
    """mlops.mlflow.ec2_security_groups with state=present."""
    desired = ec2_security_groups.validate(params)
    ec2 = client("ec2")
    names = [group["name"] for group in params["groups"]]
    outside = [name for name in ec2_security_groups.referenced_names(desired) if name not in desired]
    existing = ec2_security_groups.describe_by_name(ec2, params["vpc_id"], names + outside)
    resource = dict(groups=dict((name, dict(group_id=existing[name]["GroupId"])) for name in names if name in existing))
    if any(name not in existing for name in names):
        return outcome(False, resource=resource)
    differences = []
    try:
        ec2_security_groups.check_against(existing, desired, params)
    except InvalidInput:
        differences.append("description")  # the module fails and says why
    # The module checks that group IDs named by rules exist; this kind does not describe them.
    if ec2_security_groups.referenced_ids(desired):
        differences.append("rules")
    name_to_id = dict((name, group["GroupId"]) for name, group in existing.items())
    for group in params["groups"]:
        group_plan = ec2_security_groups.plan(group, existing[group["name"]], desired[group["name"]], params, name_to_id)
        to_set, to_unset = group_plan["tags"]
        if to_set or to_unset:
            differences.append("tags")
        if any(group_plan["ingress"][part] for part in ("authorize", "revoke", "describe")):
            differences.append("rules")
        if any(group_plan["egress"][part] for part in ("authorize", "revoke", "describe")):
            differences.append("rules_egress")
    return outcome(True, differences, resource)


IAM_SERVICE_ROLES_SPEC = _present_only(iam_service_roles.argument_spec())
_IAM_CHANGE_OPTIONS = {"create": "exists", "path": "path", "trust": "assume_role_policy_document", "boundary": "permissions_boundary",
                       "put_inline": "inline_policies", "delete_inline": "inline_policies", "attach": "managed_policy_arns",
                       "detach": "managed_policy_arns", "tags": "tags"}
_IAM_UPDATE_OPTIONS = {"Description": "description", "MaxSessionDuration": "max_session_duration"}


def check_iam_service_roles(client, params):
    """mlops.mlflow.iam_service_roles with state=present."""
    specs = iam_service_roles.validate(params)
    iam = client("iam")
    exists, differences, roles = True, [], {}
    for spec in specs:
        current = iam_service_roles.describe(iam, spec["name"])
        if current is None:
            exists = False
            continue
        roles[spec["name"]] = dict(arn=current["arn"], role_id=current["role_id"])
        changes = iam_service_roles.plan(current, spec, params["purge_inline_policies"], params["purge_managed_policies"],
                                         params["purge_tags"])
        for change in changes:
            if change == "update":
                differences.extend(_IAM_UPDATE_OPTIONS[key] for key in changes["update"])
            else:
                differences.append(_IAM_CHANGE_OPTIONS[change])
    return outcome(exists, differences, dict(roles=roles))


SCALING_ABSENT_SPEC = dict(
    application_autoscaling.target_argument_spec(),
    policy_name=dict(type="str", required=True),
    deregister_scalable_target=dict(type="bool", default=False),
    state=dict(type="str", choices=["absent"], required=True),
)


def check_scaling_absent(client, params):
    """mlops.mlflow.application_autoscaling_target_tracking with state=absent: in sync when neither the policy
    nor (with deregister_scalable_target) the scalable target exists. ``exists`` tells whether either does."""
    namespace, resource_id, dimension = application_autoscaling.target_identity(params)
    scaling = client("application-autoscaling")
    answer = scaling.describe_scaling_policies(aws_retry=True, ServiceNamespace=namespace, ResourceId=resource_id,
                                               ScalableDimension=dimension, PolicyNames=[params["policy_name"]])
    differences = ["policy_name"] if answer.get("ScalingPolicies") else []
    if params["deregister_scalable_target"] and application_autoscaling.describe_target(scaling, namespace, resource_id, dimension):
        differences.append("deregister_scalable_target")
    result = outcome(True, differences)
    result["exists"] = bool(differences)
    return result


ECS_CLUSTER_SPEC = _present_only(ecs_fargate_cluster.argument_spec())
_ECS_CLUSTER_OPTIONS = {"insights": "container_insights", "capacity_providers": "capacity_providers", "tags": "tags"}


def check_ecs_cluster(client, params):
    """mlops.mlflow.ecs_fargate_cluster with state=present."""
    ecs_fargate_cluster.validate(params)
    current = ecs_fargate_cluster.describe(client("ecs"), params["name"])
    if current is None:
        return outcome(False)
    changes = ecs_fargate_cluster.plan(current, params)
    resource = dict(cluster_arn=current.get("clusterArn"), cluster_name=current.get("clusterName"), status=current.get("status"))
    return outcome(True, [_ECS_CLUSTER_OPTIONS[change] for change in changes], resource)


DB_INSTANCES_SPEC = _present_only(rds_cluster_instances.argument_spec())
_DB_INSTANCE_ACTIONS = {"create": "instances", "delete": "purge_instances", "tags": "tags"}


def check_db_instances(client, params):
    """mlops.mlflow.rds_cluster_instances with state=present: in sync when the cluster is available and every listed
    instance exists, is available and has its settings and tags (the module would neither change nor wait)."""
    rds_cluster_instances.validate(params)
    rds = client("rds")
    cluster = rds_cluster_instances.describe_cluster(rds, params["db_cluster_identifier"])
    if cluster is None:
        return outcome(False)
    members = rds_cluster_instances.describe_members(rds, params["db_cluster_identifier"])
    differences = []
    for action, identifier, details in rds_cluster_instances.plan(members, params):
        if action == "modify":
            differences.extend(option for option, key, argument in rds_cluster_instances.SETTINGS if argument in details)
        else:
            differences.append(_DB_INSTANCE_ACTIONS[action])
    if params["wait"]:
        if cluster.get("Status") != "available":
            differences.append("wait")
        waiting, problem = rds_cluster_instances.pending(members, params, set())
        if waiting or problem:
            differences.append("wait")
    resource = dict(db_cluster_identifier=cluster.get("DBClusterIdentifier"), status=cluster.get("Status"),
                    endpoint=cluster.get("Endpoint"), reader_endpoint=cluster.get("ReaderEndpoint"), port=cluster.get("Port"))
    return outcome(True, differences, resource)


TASK_DEFINITION_SPEC = _present_only(mlflow_task_definition.argument_spec())


def check_task_definition(client, params):
    """mlops.mlflow.ecs_mlflow_task_definition with state=present: in sync when the family's latest ACTIVE revision
    is the task definition the options give (the module would register nothing) and has the tags."""
    backends = [option for option in mlflow_task_definition.BACKEND_OPTIONS if params[option]]
    if len(backends) != 1 or not params["artifacts_uri"]:
        raise InvalidInput("exactly one of {0}, and artifacts_uri, are required.".format(", ".join(mlflow_task_definition.BACKEND_OPTIONS)))
    desired = mlflow_task_definition.build_task_definition(params, client.region)[0]
    current, current_tags = mlflow_task_definition.latest_active_revision(client("ecs"), params["family"])
    if current is None:
        return outcome(False)
    differences = []
    if normalise_task_definition(desired) != normalise_task_definition(current):
        differences.append("task_definition")
    if params["tags"] is not None:
        to_set, to_unset = compare_aws_tags(current_tags, params["tags"], params["purge_tags"])
        if to_set or to_unset:
            differences.append("tags")
    resource = dict(task_definition_arn=current["taskDefinitionArn"], revision=current.get("revision"),
                    images=dict((container["name"], container.get("image")) for container in current.get("containerDefinitions") or []))
    return outcome(True, differences, resource)


SERVICE_SPEC = dict(ecs_service.argument_spec(), state=dict(type="str", choices=["present"], default="present"))


def check_service(client, params):
    """mlops.mlflow.ecs_fargate_service with state=present: in sync when the service exists and UpdateService and the
    tagging calls would not be made (the module then neither changes nor waits). ``task_definition`` may name the
    family alone: ECS resolves it to the family's latest ACTIVE revision, as the module does."""
    if not params["task_definition"] or not params["network_configuration"]:
        raise InvalidInput("task_definition and network_configuration are required.")
    if params["launch_type"] and params["capacity_provider_strategy"]:
        raise InvalidInput("launch_type and capacity_provider_strategy are mutually exclusive.")
    ecs_service.validate_params(params)
    ecs = client("ecs")
    try:
        services = ecs.describe_services(aws_retry=True, cluster=params["cluster"], services=[params["name"]], include=["TAGS"])["services"]
    except is_boto3_error_code("ClusterNotFoundException"):
        return outcome(False)
    service = services[0] if services else None
    if service is None or service.get("status") == "INACTIVE":
        return outcome(False)
    resource = dict(service_arn=service.get("serviceArn"), status=service.get("status"), task_definition=service.get("taskDefinition"),
                    desired_count=service.get("desiredCount"), running_count=service.get("runningCount"))
    if service.get("status") != "ACTIVE":
        return outcome(True, ["state"], resource)
    try:
        definition = ecs.describe_task_definition(aws_retry=True, taskDefinition=params["task_definition"])["taskDefinition"]
    except is_boto3_error_code(("ClientException", "InvalidParameterException")):
        return outcome(True, ["task_definition"], resource)
    desired = ecs_service.desired_settings(params, True, definition["taskDefinitionArn"])
    differences = ecs_service.differing_fields(desired, ecs_service.current_settings(service))
    if ecs_service.task_definition_problems(definition, params["load_balancers"]) or ecs_service.creation_only_problem(desired, service):
        differences.append("input")  # the module fails and says why
    if params["tags"] is not None:
        to_set, to_unset = compare_aws_tags(ecs_service.tags_of(service), params["tags"], purge_tags=params["purge_tags"])
        if to_set or to_unset:
            differences.append("tags")
    if params["force_new_deployment"]:
        differences.append("force_new_deployment")
    return outcome(True, differences, resource)


LOAD_BALANCER_SPEC = _present_only(elb_mlflow_load_balancer.argument_spec())
_LB_TARGET_GROUP_OPTIONS = {"modify": "target_group", "attributes": "target_group", "tags": "tags"}
_LB_OPTIONS = {"subnets": "subnets", "security_groups": "security_groups", "tags": "tags"}
_LB_ATTRIBUTE_OPTIONS = dict((key, option) for option, key, form in elb_mlflow_load_balancer.LB_ATTRIBUTES)


def check_load_balancer(client, params):
    """mlops.mlflow.elb_mlflow_load_balancer with state=present: in sync when the module would change nothing (with an
    OIDC listener and oidc_client_secret_update=always, never) and, with wait=true, the load balancer is active."""
    elb_mlflow_load_balancer.validate(params)
    stack = elb_mlflow_load_balancer.describe(client("elbv2"), params)
    if stack["target_group"] is None and stack["load_balancer"] is None:
        return outcome(False)
    resource = elb_mlflow_load_balancer.identifiers(stack)
    if stack["target_group"] is None or stack["load_balancer"] is None:
        result = outcome(False, resource=resource)
        result["exists"] = True  # one of the two exists: the module would create the other
        return result
    changes = elb_mlflow_load_balancer.plan(stack, params)
    differences = [option for option, message in changes["conflicts"]]  # the module fails and says why
    for change in changes["target_group"]:
        differences.append(_LB_TARGET_GROUP_OPTIONS[change])
    for change, value in changes["load_balancer"].items():
        if change == "attributes":
            differences.extend(_LB_ATTRIBUTE_OPTIONS[key] for key in value)
        else:
            differences.append(_LB_OPTIONS[change])
    if changes["listeners"]["create"] or changes["listeners"]["modify"]:
        differences.append("listeners")
    if changes["listeners"]["delete"]:
        differences.append("purge_listeners")
    if params["wait"] and (stack["load_balancer"].get("State") or {}).get("Code") != "active":
        differences.append("wait")
    return outcome(True, differences, resource)


KINDS = {
    "elb_mlflow_load_balancer": (LOAD_BALANCER_SPEC, check_load_balancer),
    "ecs_fargate_service": (SERVICE_SPEC, check_service),
    "ecs_mlflow_task_definition": (TASK_DEFINITION_SPEC, check_task_definition),
    "ecs_fargate_cluster": (ECS_CLUSTER_SPEC, check_ecs_cluster),
    "rds_cluster_instances": (DB_INSTANCES_SPEC, check_db_instances),
    "ec2_security_groups": (SECURITY_GROUPS_SPEC, check_security_groups),
    "iam_service_roles": (IAM_SERVICE_ROLES_SPEC, check_iam_service_roles),
    "application_autoscaling_target_tracking": (SCALING_ABSENT_SPEC, check_scaling_absent),
}
