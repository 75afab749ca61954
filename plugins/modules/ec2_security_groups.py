#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ec2_security_groups
version_added: 0.1.0
short_description: Manage a set of EC2 security groups of one VPC whose rules name each other, in one task
description:
  - Creates, updates and deletes a set of EC2 security groups of one VPC, with their ingress and egress rules and
    their tags, in one module invocation. The rules may name the groups of the set (or other groups of the VPC)
    by name.
  - This module exists because M(amazon.aws.ec2_security_group) manages one group per task and sleeps a hard-coded
    3 seconds after creating each group (the C(sleep(3)) loop of its C(create_ec2_security_group)). Groups that
    reference each other, such as a load balancer group whose egress goes only to the service group and a service
    group whose ingress comes only from the load balancer group, need five tasks there (create both, then set the
    rules) and about 15 seconds. This module creates all missing groups first, then waits for them with the EC2
    C(security_group_exists) waiter (no fixed sleep), then authorizes and revokes the rules, in one process.
  - The existing groups (and the groups of the VPC that rules name with O(groups[].rules[].group_name)) are found
    with one C(DescribeSecurityGroups) call filtered by VPC and group name.
  - A rule is identified by its protocol, port range and target. Missing rules are authorized, rules that are not
    listed are revoked (unless O(purge_rules) or O(purge_rules_egress) is false), and a rule whose description
    differs gets it with C(UpdateSecurityGroupRuleDescriptionsIngress) or C(UpdateSecurityGroupRuleDescriptionsEgress).
    A re-run changes nothing and calls nothing but C(DescribeSecurityGroups).
  - Every option is checked before the first API call, and the names and descriptions are checked against the
    described groups before the first change, so a bad input changes nothing.
options:
  state:
    description:
      - V(present) creates the missing groups and brings every group of the set in line with the options.
      - V(absent) deletes the groups of the set that exist. The rules of these groups that name a group of the set
        are revoked first (they would block the deletion). A group still used by network interfaces (of a load
        balancer or of tasks that are stopping) cannot be deleted until they are gone; the deletion is retried
        until O(wait_timeout) when O(wait) is true.
    type: str
    choices: [present, absent]
    default: present
  vpc_id:
    description:
      - The VPC of the groups.
    type: str
    required: true
  groups:
    description:
      - The groups of the set.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The group name, unique in the VPC (it may not begin with C(sg-) and may not be C(default)).
        type: str
        required: true
      description:
        description:
          - The group description. Required with O(state=present).
          - EC2 cannot change the description of a group. When an existing group has another description, the module
            fails before any change, naming the group (delete the group or keep its description).
        type: str
      rules:
        description:
          - The ingress rules.
        type: list
        elements: dict
        default: []
        suboptions: &rule_options
          proto:
            description:
              - V(tcp), V(udp), V(icmp), V(icmpv6), V(-1) or V(all) (all traffic), or a protocol number.
            type: str
            required: true
          ports:
            description:
              - For V(tcp) and V(udp), the ports, each a number or a V(from-to) range.
              - Give either O(groups[].rules[].ports) or O(groups[].rules[].from_port) and O(groups[].rules[].to_port).
            type: list
            elements: str
          from_port:
            description:
              - The first port of the range; for ICMP the type (V(-1), the default for ICMP, is every type).
            type: int
          to_port:
            description:
              - The last port of the range; for ICMP the code (V(-1), the default for ICMP, is every code).
            type: int
          cidr_ip:
            description:
              - IPv4 networks in CIDR notation (a string or a list). Host bits are dropped (V(10.1.2.3/8) is
                V(10.0.0.0/8)), as M(amazon.aws.ec2_security_group) does.
              - A rule has exactly one of O(groups[].rules[].cidr_ip), O(groups[].rules[].cidr_ipv6),
                O(groups[].rules[].group_name) and O(groups[].rules[].group_id).
            type: list
            elements: str
          cidr_ipv6:
            description:
              - IPv6 networks in CIDR notation (a string or a list).
            type: list
            elements: str
          group_name:
            description:
              - Names of security groups (a string or a list), each a group of O(groups) or an existing group of the
                VPC. A name that is neither fails the module before any change.
            type: list
            elements: str
          group_id:
            description:
              - IDs of security groups (a string or a list).
            type: list
            elements: str
          rule_desc:
            description:
              - The rule description. When omitted, the description of an existing rule is left as it is.
            type: str
      rules_egress:
        description:
          - The egress rules, with the same options as O(groups[].rules).
          - When omitted or null, the egress rules are left alone, so a new group keeps the egress rule EC2 gives it
            (all traffic to 0.0.0.0/0). V([]) means no egress at all.
        type: list
        elements: dict
        suboptions: *rule_options
      tags:
        description:
          - The tags of the group. The module adds none of its own (not even C(Name)).
        type: dict
        default: {}
  purge_rules:
    description:
      - Revoke the ingress rules that O(groups[].rules) does not list.
    type: bool
    default: true
  purge_rules_egress:
    description:
      - Revoke the egress rules that O(groups[].rules_egress) does not list (only for groups that give it).
    type: bool
    default: true
  purge_tags:
    description:
      - Remove the tags that O(groups[].tags) does not list.
    type: bool
    default: true
  wait:
    description:
      - Wait until new groups exist (the C(security_group_exists) waiter) before their rules are set, and, with
        O(state=absent), retry a deletion that EC2 refuses with C(DependencyViolation).
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait at most.
    type: int
    default: 300
notes:
  - Rules with prefix lists cannot be given; existing ones are revoked when the rules are purged.
  - Right after a group is created, EC2 may not know it for a moment; calls that fail with C(InvalidGroup.NotFound)
    are retried.
  - In check mode nothing is changed; the groups that would be created have C(group_id) V("") in the result, and the
    rules that name them a C(group_id) V("") and their C(group_name).
  - Diff mode shows, per group, the description, the rules, the egress rules and the tags before and after.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A load balancer, the MLflow service behind it and its database, in one task
  mlops.mlflow.ec2_security_groups:
    vpc_id: "{{ vpc_id }}"
    groups:
      - name: mlflow-lb
        description: MLflow load balancer
        rules:
          - proto: tcp
            ports: [80, 443]
            cidr_ip: 0.0.0.0/0
        rules_egress:
          - proto: tcp
            ports: [5000]
            group_name: mlflow-service
      - name: mlflow-service
        description: MLflow tracking server tasks
        rules:
          - proto: tcp
            ports: [5000]
            group_name: mlflow-lb
            rule_desc: from the load balancer
        tags:
          application: mlflow
      - name: mlflow-db
        description: MLflow backend store
        rules:
          - proto: tcp
            ports: [5432]
            group_name: mlflow-service
        rules_egress: []
  register: mlflow_groups

- name: Use a group's ID
  ansible.builtin.debug:
    msg: "{{ mlflow_groups.groups['mlflow-service'].group_id }}"

- name: Delete the set (the rules between the groups are revoked first)
  mlops.mlflow.ec2_security_groups:
    vpc_id: "{{ vpc_id }}"
    state: absent
    groups:
      - name: mlflow-lb
      - name: mlflow-service
      - name: mlflow-db
"""

RETURN = r"""
groups:
  description:
    - The groups of the set, keyed by group name, as EC2 describes them after the changes (keys in snake_case, tags
      as a dictionary).
    - In check mode, the groups as they would be; a group that would be created has O(groups[].name) but
      C(group_id) V("").
    - With O(state=absent), an empty dictionary.
  returned: always
  type: dict
  sample:
    mlflow-service:
      group_id: sg-0123456789abcdef0
      group_name: mlflow-service
      description: MLflow tracking server tasks
      vpc_id: vpc-0123456789abcdef0
      ip_permissions:
        - ip_protocol: tcp
          from_port: 5000
          to_port: 5000
          ip_ranges: []
          ipv6_ranges: []
          prefix_list_ids: []
          user_id_group_pairs: [{group_id: sg-0fedcba9876543210, user_id: "123456789012", description: from the load balancer}]
      ip_permissions_egress:
        - ip_protocol: "-1"
          ip_ranges: [{cidr_ip: 0.0.0.0/0}]
          ipv6_ranges: []
          prefix_list_ids: []
          user_id_group_pairs: []
      tags:
        application: mlflow
created:
  description:
    - The names of the groups this run created (in check mode, would create), in the order of O(groups).
  returned: O(state=present)
  type: list
  elements: str
  sample: [mlflow-load-balancer]
diff:
  description:
    - In diff mode, per group name, its description, rules, egress rules and tags before and after (an empty
      dictionary for a group that does not exist).
  returned: diff mode
  type: dict
"""

import functools
import time

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications
from ansible_collections.amazon.aws.plugins.module_utils.waiters import wait_for_resource_state

from ansible_collections.mlops.mlflow.plugins.module_utils import ec2_security_groups as shared

# Right after CreateSecurityGroup, EC2 may answer for a while that the group does not exist.
_RETRY_CODES = ["InvalidGroup.NotFound"]
WAITER_DELAY = 2
DELETE_RETRY_SECONDS = 5


@AWSRetry.jittered_backoff()
def apply_rules(client, group_id, changes, name_to_id, egress, retry=None):
    def call(method):
        # retry: a decorator that also waits out "not found" answers about groups this run created.
        return retry(method) if retry else functools.partial(method, aws_retry=True)

    revoke = call(client.revoke_security_group_egress if egress else client.revoke_security_group_ingress)
    authorize = call(client.authorize_security_group_egress if egress else client.authorize_security_group_ingress)
    describe = call(client.update_security_group_rule_descriptions_egress if egress
                    else client.update_security_group_rule_descriptions_ingress)
    # New rules first: a failure half-way leaves the group admitting the old and the new, never nobody.
    if changes["authorize"]:
        authorize(GroupId=group_id,
                  IpPermissions=shared.permissions(dict((key, changes["descriptions"].get(key)) for key in changes["authorize"]), name_to_id))
    if changes["revoke"]:
        # With the current descriptions: EC2 ignores them on a revoke, but moto refuses a revoke without them.
        current = changes.get("current") or {}
        revoke(GroupId=group_id,
               IpPermissions=shared.permissions(dict((key, current.get(key)) for key in changes["revoke"]), name_to_id))
    if changes["describe"]:
        describe(GroupId=group_id, IpPermissions=shared.permissions(changes["describe"], name_to_id))


def ensure_present(module, client, desired):
    params = module.params
    names = [group["name"] for group in params["groups"]]
    outside = [name for name in shared.referenced_names(desired) if name not in desired]
    try:
        existing = shared.describe_by_name(client, params["vpc_id"], names + outside)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe the security groups of VPC {0}".format(params["vpc_id"]))
    try:
        shared.check_against(existing, desired, params)
    except shared.InvalidInput as error:
        module.fail_json(msg=str(error))
    check_ids_exist(module, client, shared.referenced_ids(desired))
    name_to_id = dict((name, group["GroupId"]) for name, group in existing.items())
    for name in names:
        name_to_id.setdefault(name, "")
    plans = {}
    for group in params["groups"]:
        plans[group["name"]] = shared.plan(group, existing.get(group["name"]), desired[group["name"]], params, name_to_id)
        for direction in ("ingress", "egress"):
            wanted = shared.canonical_desired(desired[group["name"]][direction], name_to_id) or {}
            plans[group["name"]][direction]["descriptions"] = wanted
    changed = any(shared.changes_anything(group_plan) for group_plan in plans.values())
    descriptions = dict((group["name"], group["description"]) for group in params["groups"])

    final = dict((name, existing[name]) for name in names if name in existing)
    if changed and module.check_mode:
        final = dict((name, shared.predicted_group(name, descriptions[name], params["vpc_id"], name_to_id[name], plans[name], name_to_id))
                     for name in names)
    elif changed:
        final = apply(module, client, params, plans, name_to_id, descriptions)

    result = dict(changed=changed, groups=dict((name, shared.snake_group(final[name])) for name in names),
                  created=[name for name in names if name not in existing])
    if module._diff:
        result["diff"] = dict(
            before=dict((name, shared.comparable(plans[name]["before"], descriptions[name])) for name in names),
            after=dict((name, shared.comparable(plans[name]["after"], descriptions[name])) for name in names))
    module.exit_json(**result)


def check_ids_exist(module, client, group_ids):
    """Fail before any change when a rule names a group ID that does not exist (EC2 would refuse it only after
    the groups were created)."""
    if not group_ids:
        return
    try:
        client.describe_security_groups(aws_retry=True, GroupIds=group_ids)
    except is_boto3_error_code("InvalidGroup.NotFound") as error:
        module.fail_json(msg="Rules name security groups that do not exist: {0}. Fix the group_id.".format(
            error.response.get("Error", {}).get("Message", ", ".join(group_ids))))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:  # pylint: disable=duplicate-except
        module.fail_json_aws(error, msg="Could not describe the security groups {0}".format(", ".join(group_ids)))


def apply(module, client, params, plans, name_to_id, descriptions):
    """Create the missing groups, wait for them, then set tags and rules; returns {name: described group}."""
    created = []
    step = "create"
    name = None
    try:
        for name, group_plan in plans.items():
            if group_plan["create"]:
                arguments = dict(GroupName=name, Description=descriptions[name], VpcId=params["vpc_id"])
                to_set = group_plan["tags"][0]
                if to_set:
                    arguments["TagSpecifications"] = boto3_tag_specifications(to_set, ["security-group"])
                name_to_id[name] = client.create_security_group(aws_retry=True, **arguments)["GroupId"]
                created.append(name_to_id[name])
        name = None
        if created and params["wait"]:
            wait_for_resource_state(client, module, "security_group_exists", delay=WAITER_DELAY,
                                    max_attempts=max(1, params["wait_timeout"] // WAITER_DELAY), GroupIds=created)
        step = "update"
        # Right after CreateSecurityGroup, EC2 may answer for a while that a new group does not exist.
        retry = AWSRetry.jittered_backoff(catch_extra_error_codes=_RETRY_CODES) if created else None
        for name, group_plan in plans.items():
            group_id = name_to_id[name]
            to_set, to_unset = group_plan["tags"]
            if not group_plan["create"]:
                if to_unset:
                    client.delete_tags(aws_retry=True, Resources=[group_id], Tags=[{"Key": key} for key in to_unset])
                if to_set:
                    client.create_tags(aws_retry=True, Resources=[group_id], Tags=ansible_dict_to_boto3_tag_list(to_set))
            apply_rules(client, group_id, group_plan["ingress"], name_to_id, egress=False, retry=retry)
            apply_rules(client, group_id, group_plan["egress"], name_to_id, egress=True, retry=retry)
        name = None
        step = "describe"
        describe = retry(client.describe_security_groups) if retry else functools.partial(client.describe_security_groups, aws_retry=True)
        described = describe(GroupIds=[name_to_id[key] for key in plans])["SecurityGroups"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not {0} security group{1}".format(step, " " + name if name else "s"),
                             created_group_ids=created)
    return dict((group["GroupName"], group) for group in described)


def delete_group(module, client, name, group_id):
    """Delete one group, retrying DependencyViolation until wait_timeout when wait is true; True when deleted."""
    deadline = time.monotonic() + (module.params["wait_timeout"] if module.params["wait"] else 0)
    while True:
        try:
            client.delete_security_group(aws_retry=True, GroupId=group_id)
            return True
        except is_boto3_error_code("InvalidGroup.NotFound"):
            return False
        except is_boto3_error_code("DependencyViolation") as error:
            if time.monotonic() + DELETE_RETRY_SECONDS > deadline:
                module.fail_json_aws(error, msg="Could not delete security group {0} ({1}): it is still in use (network interfaces "
                                                "or rules of groups outside the set)".format(name, group_id))
        time.sleep(DELETE_RETRY_SECONDS)


def ensure_absent(module, client):
    params = module.params
    names = [group["name"] for group in params["groups"]]
    try:
        existing = shared.describe_by_name(client, params["vpc_id"], names)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe the security groups of VPC {0}".format(params["vpc_id"]))
    result = dict(changed=bool(existing), groups={})
    if module._diff:
        result["diff"] = dict(
            before=dict((name, shared.comparable({
                "ingress": shared.current_rules(group.get("IpPermissions"), {}),
                "egress": shared.current_rules(group.get("IpPermissionsEgress"), {}),
                "tags": shared.group_tags(group)}, group.get("Description"))) for name, group in existing.items()),
            after=dict((name, {}) for name in existing))
    if existing and not module.check_mode:
        group_ids = set(group["GroupId"] for group in existing.values())
        name = None
        try:
            for name, group in existing.items():
                ingress = shared.references_to(group.get("IpPermissions"), group_ids)
                egress = shared.references_to(group.get("IpPermissionsEgress"), group_ids)
                if ingress:
                    client.revoke_security_group_ingress(aws_retry=True, GroupId=group["GroupId"], IpPermissions=ingress)
                if egress:
                    client.revoke_security_group_egress(aws_retry=True, GroupId=group["GroupId"], IpPermissions=egress)
            for name, group in existing.items():
                delete_group(module, client, name, group["GroupId"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not delete security group {0}".format(name))
    module.exit_json(**result)


def main():
    argument_spec = shared.argument_spec()
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        desired = shared.validate(module.params)
    except shared.InvalidInput as error:
        module.fail_json(msg=str(error))
    # One client (each one costs the parsing of EC2's large service model); "not found" is retried only for the
    # groups this run creates, in apply().
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    if module.params["state"] == "present":
        ensure_present(module, client, desired)
    else:
        ensure_absent(module, client)


if __name__ == "__main__":
    main()
