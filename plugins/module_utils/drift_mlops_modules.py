# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Drift kinds for this collection's own acting modules (see drift.py for the contract).

Each kind runs the same describe and plan functions as its module, so "in sync" here is, by construction, "the
module would change nothing".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mlops.mlflow.plugins.module_utils import application_autoscaling
from ansible_collections.mlops.mlflow.plugins.module_utils import ec2_security_groups
from ansible_collections.mlops.mlflow.plugins.module_utils import iam_service_roles
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import outcome
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


KINDS = {
    "ec2_security_groups": (SECURITY_GROUPS_SPEC, check_security_groups),
    "iam_service_roles": (IAM_SERVICE_ROLES_SPEC, check_iam_service_roles),
    "application_autoscaling_target_tracking": (SCALING_ABSENT_SPEC, check_scaling_absent),
}
