#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: aws_drift_info
version_added: 0.1.0
short_description: Tell, in one run, which AWS resources their acting modules would leave unchanged
description:
  - Describes several AWS resources and compares each with the arguments of the module that manages it (its
    I(acting module)), in one module run. For each part it tells whether the resource exists and whether it is in
    sync, that is whether the acting module, given the same arguments, would change nothing.
  - A role uses it to skip, on a re-run, the acting tasks whose resources are in sync (a C(when) condition on C(in_sync)); the
    acting tasks still run for every part that differs, so drift is corrected as before.
  - This module exists because an AWS module run costs about a second before it makes its first call (the module's
    start-up, boto3's import, the service model), and a stack of a dozen resources made by a dozen acting modules spends
    most of a no-op run on that. One run of this module replaces those runs when nothing differs.
  - A part is in sync only when everything its acting module would change has been compared. What cannot be read back
    (for example the client secret of an OIDC listener) makes the part out of sync, always.
  - The module changes nothing, and works the same in check mode.
options:
  parts:
    description:
      - The resources to compare.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The name of the part in the result (any unique string).
        type: str
        required: true
      kind:
        description:
          - The acting module whose arguments O(parts[].spec) holds.
          - V(ec2_security_groups) is M(mlops.mlflow.ec2_security_groups) with O(mlops.mlflow.ec2_security_groups#module:state=present).
          - V(iam_service_roles) is M(mlops.mlflow.iam_service_roles) with O(mlops.mlflow.iam_service_roles#module:state=present).
          - V(ecs_fargate_cluster) is M(mlops.mlflow.ecs_fargate_cluster), V(ecs_mlflow_task_definition)
            M(mlops.mlflow.ecs_mlflow_task_definition), V(ecs_fargate_service) M(mlops.mlflow.ecs_fargate_service) and
            V(rds_cluster_instances) M(mlops.mlflow.rds_cluster_instances), each with C(state=present).
          - V(elb_mlflow_load_balancer) is M(mlops.mlflow.elb_mlflow_load_balancer) with C(state=present). Its C(resource)
            has C(load_balancer_arn), C(dns_name), C(canonical_hosted_zone_id) and C(target_group_arn). With an OIDC
            listener and C(oidc_client_secret_update=always) it is never in sync (the module modifies such a listener
            every run); with C(wait=true) it is in sync only when the load balancer is C(active).
          - An V(rds_cluster_instances) part with C(wait=true) is in sync only when the cluster and every instance are
            available (the module would not wait).
          - The C(task_definition) of an V(ecs_fargate_service) part may be the family alone; ECS then compares the service
            with the family's latest C(ACTIVE) revision, which is the one an in-sync V(ecs_mlflow_task_definition) part
            of that family has.
          - V(application_autoscaling_target_tracking) is M(mlops.mlflow.application_autoscaling_target_tracking) with
            O(mlops.mlflow.application_autoscaling_target_tracking#module:state=absent) only.
          - V(kms_key) is M(amazon.aws.kms_key), V(secretsmanager_secret) M(community.aws.secretsmanager_secret),
            V(cloudwatchlogs_log_group) M(amazon.aws.cloudwatchlogs_log_group), V(rds_subnet_group)
            M(amazon.aws.rds_subnet_group), V(rds_cluster) M(amazon.aws.rds_cluster), V(elb_target_group)
            M(community.aws.elb_target_group) and V(elb_application_lb) M(amazon.aws.elb_application_lb), each with
            C(state=present) and the options listed in the module's notes.
        type: str
        required: true
        choices:
          - application_autoscaling_target_tracking
          - cloudwatchlogs_log_group
          - ec2_security_groups
          - ecs_fargate_cluster
          - ecs_fargate_service
          - ecs_mlflow_task_definition
          - elb_application_lb
          - elb_mlflow_load_balancer
          - elb_target_group
          - iam_service_roles
          - kms_key
          - rds_cluster
          - rds_cluster_instances
          - rds_subnet_group
          - secretsmanager_secret
      spec:
        description:
          - The arguments the acting task gets (without the AWS connection options, which this module's own options
            give for every part). They are checked against the acting module's options, with its defaults; an option
            the kind does not compare fails the part's validation rather than pass unchecked.
        type: dict
        required: true
notes:
  - For the amazon.aws and community.aws kinds, the options a part may give are those the mlops.mlflow roles use,
    with the acting module's names, types and defaults (another option fails the part's validation, before any call).
    V(kms_key) alias, description, enabled, enable_key_rotation, key_spec, key_usage, policy, tags, purge_tags.
    V(secretsmanager_secret) name, description, kms_key_id, recovery_window, overwrite, secret, resource_policy, tags,
    purge_tags. V(cloudwatchlogs_log_group) log_group_name, retention, kms_key_id, overwrite, tags, purge_tags.
    V(rds_subnet_group) name, description, subnets, tags, purge_tags. V(rds_cluster) db_cluster_identifier, engine,
    engine_version, engine_mode, serverless_v2_scaling_configuration, database_name, master_username,
    master_user_password, force_update_password, port, db_subnet_group_name, vpc_security_group_ids,
    purge_security_groups, storage_encrypted, kms_key_id, backup_retention_period, preferred_backup_window,
    deletion_protection, copy_tags_to_snapshot, apply_immediately, wait, tags, purge_tags. V(elb_target_group) name,
    protocol, port, target_type, vpc_id, the health_check options, successful_response_codes,
    deregistration_delay_timeout, modify_targets, tags, purge_tags. V(elb_application_lb) name, scheme, subnets,
    security_groups, listeners (without Rules), purge_listeners, idle_timeout, deletion_protection,
    http_drop_invalid_header_fields, the access_logs options, ip_address_type, wait, tags, purge_tags.
  - Options an acting module only uses to create a resource (for example the engine, the KMS key or the master password
    of an Aurora cluster, the key spec of a KMS key) are not compared, as the acting module does not compare them either.
  - With overwrite=true a secret is never in sync (its value is never read); an OIDC listener is never in sync (its client
    secret cannot be read back); an M(amazon.aws.rds_cluster) part with purge_security_groups=true and security groups
    is never in sync (that module always sends them).
  - Options marked secret in the acting module (passwords, secret values) are never compared nor returned, and are
    masked in the module's output.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find what is already in sync
  mlops.mlflow.aws_drift_info:
    parts:
      - name: log_group
        kind: cloudwatchlogs_log_group
        spec:
          log_group_name: /ecs/mlflow
          retention: 30
          tags: {application: mlflow}
      - name: roles
        kind: iam_service_roles
        spec: "{{ roles_spec }}"
  register: drift

- name: Create the log group (only when it differs)
  amazon.aws.cloudwatchlogs_log_group:
    log_group_name: /ecs/mlflow
    retention: 30
    tags: {application: mlflow}
  when: not drift.parts.log_group.in_sync
"""

RETURN = r"""
in_sync:
  description: Whether every part is in sync.
  returned: always
  type: bool
  sample: false
parts:
  description: Per part name, what the comparison found.
  returned: always
  type: dict
  contains:
    kind:
      description: The kind of the part.
      type: str
      sample: cloudwatchlogs_log_group
    exists:
      description: Whether the resource exists (for a part whose C(spec) has C(state=absent), whether anything is left to remove).
      type: bool
      sample: true
    in_sync:
      description: Whether the acting module would change nothing.
      type: bool
      sample: false
    differences:
      description: The options whose values differ (never the values); V(exists) for a resource that does not exist.
      type: list
      elements: str
      sample: [retention, tags]
    resource:
      description: The identifiers of the resource that later tasks need (ARNs, ids, endpoints), in snake_case; empty when it does not exist.
      type: dict
      sample: {arn: "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/mlflow"}
  sample:
    log_group:
      kind: cloudwatchlogs_log_group
      exists: true
      in_sync: false
      differences: [retention]
      resource: {arn: "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/mlflow", log_group_name: /ecs/mlflow, retention: 14}
"""

from concurrent.futures import ThreadPoolExecutor

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mlops.mlflow.plugins.module_utils.aws_clients import SharedClients
from ansible_collections.mlops.mlflow.plugins.module_utils import drift
from ansible_collections.mlops.mlflow.plugins.module_utils import drift_elbv2
from ansible_collections.mlops.mlflow.plugins.module_utils import drift_kms_secrets_logs
from ansible_collections.mlops.mlflow.plugins.module_utils import drift_mlops_modules
from ansible_collections.mlops.mlflow.plugins.module_utils import drift_rds
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import secrets_in

KINDS = dict(drift_mlops_modules.KINDS)
KINDS.update(drift_kms_secrets_logs.KINDS)
KINDS.update(drift_rds.KINDS)
KINDS.update(drift_elbv2.KINDS)

# The parts are described side by side: their calls wait on the network, not on the CPU.
MAX_PARALLEL_PARTS = 8


def secret_values(argument_spec, params):
    """The values of the options the acting module marks no_log (nested ones included), and the client secrets in
    options that take AWS's own shapes without suboptions (a listener's actions), which no spec can mark."""
    found = []
    for option, settings in argument_spec.items():
        value = params.get(option) if isinstance(params, dict) else None
        # An empty value hides nothing, and masking "" would mask between every character of the output.
        if value is None or value == "":
            continue
        if settings.get("no_log"):
            found.append(str(value))
        elif settings.get("options"):
            for item in value if isinstance(value, list) else [value]:
                found.extend(secret_values(settings["options"], item))
        else:
            found.extend(secrets_in(value))
    return found


def validate_parts(module):
    """[(part, kind settings, validated params)], every part checked before the first API call."""
    checked, names = [], set()
    for part in module.params["parts"]:
        if part["name"] in names:
            module.fail_json(msg="parts: the name {0} is given more than once.".format(part["name"]))
        names.add(part["name"])
        argument_spec, check = KINDS[part["kind"]]
        where = "parts[{0}] ({1})".format(part["name"], part["kind"])
        try:
            params = drift.validated(argument_spec, part["spec"], where)
        except InvalidInput as error:
            module.fail_json(msg="{0}. Fix: give the options of the acting module this kind compares.".format(error))
        module.no_log_values.update(secret_values(argument_spec, params))
        checked.append((part, check, params))
    return checked


def main():
    argument_spec = dict(
        parts=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            kind=dict(type="str", required=True, choices=sorted(KINDS)),
            spec=dict(type="dict", required=True),
        )),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    checked = validate_parts(module)
    clients = SharedClients(module)
    results = {}
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL_PARTS, len(checked)))) as pool:
        running = [(part, pool.submit(check, clients, params)) for part, check, params in checked]
        for part, future in running:
            try:
                result = future.result()
            except InvalidInput:
                # The acting module fails on it and says why; this part is simply not in sync.
                result = drift.outcome(True, ["input"])
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg="Could not describe part {0} ({1})".format(part["name"], part["kind"]))
            result["kind"] = part["kind"]
            results[part["name"]] = result
    module.exit_json(changed=False, in_sync=all(result["in_sync"] for result in results.values()), parts=results)


if __name__ == "__main__":
    main()
