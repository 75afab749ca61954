#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_service_roles
version_added: 0.1.0
short_description: Manage several IAM roles that AWS services assume, with exactly their inline and managed policies
description:
  - Creates, updates and deletes a list of IAM roles that AWS services assume (for example the task execution role and
    the task role of an ECS service), each with exactly the inline policies, managed policies and tags given, in one
    module run.
  - This module exists because with M(amazon.aws.iam_role) and M(amazon.aws.iam_policy) a role and its inline policy are
    two tasks, so the two ECS roles of a deployment take four module runs (about a second of process start-up each);
    and M(amazon.aws.iam_policy) never removes an inline policy that is no longer wanted. This module does both roles
    in one run and, by default, removes inline policies that are not listed.
  - Idempotent. Each role is described (C(GetRole), C(ListRolePolicies) and C(GetRolePolicy), C(ListAttachedRolePolicies),
    C(ListRoleTags)) and compared with the options; only what differs is changed. A re-run changes nothing and calls
    nothing but those.
  - Policy documents are compared by meaning, so the order of statements, of actions or of resources does not count as
    a change.
  - Every option is checked before the first API call, and every role is described and compared before the first change,
    so a bad input (a bad name, a policy that is not valid JSON, a path that differs from an existing role's) changes
    nothing.
options:
  state:
    description:
      - V(present) creates the roles or brings them in line with the options.
      - V(absent) deletes the roles. The managed policies are detached, the inline policies deleted and, when the role
        belongs to instance profiles, it is removed from them (the instance profiles are not deleted); then the role is
        deleted. A role that does not exist is fine.
    type: str
    choices: [present, absent]
    default: present
  roles:
    description:
      - The roles. With O(state=absent) only O(roles[].name) counts.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The role name (1 to 64 letters, digits and C(+=,.@_-) characters). IAM role names are unique regardless of
            case.
        type: str
        required: true
      path:
        description:
          - The path of the role. IAM cannot change the path of an existing role; the module fails, before any change,
            when an existing role has another path.
        type: str
        default: /
      description:
        description:
          - The description of the role (up to 1000 characters). Not given, an existing role's description is left alone.
        type: str
      assume_role_policy_document:
        description:
          - The trust policy, which says who may assume the role (for ECS tasks, the service principal
            C(ecs-tasks.amazonaws.com)), as a dictionary or a JSON string.
          - Required with O(state=present).
        type: raw
      inline_policies:
        description:
          - The inline policies of the role, policy name to policy document (a dictionary or a JSON string).
          - With O(purge_inline_policies=true), inline policies not listed here are deleted.
        type: dict
        default: {}
      managed_policy_arns:
        description:
          - The ARNs of the managed policies attached to the role.
          - With O(purge_managed_policies=true), managed policies not listed here are detached.
        type: list
        elements: str
        default: []
      max_session_duration:
        description:
          - The maximum session duration in seconds (3600 to 43200). Not given, a new role gets 3600 and an existing
            role's setting is left alone.
        type: int
      permissions_boundary:
        description:
          - The ARN of a managed policy used as the permissions boundary of the role. Not given, an existing role's
            boundary is left alone.
        type: str
      tags:
        description:
          - The tags of the role. With O(purge_tags=true), tags not listed here are removed.
        type: dict
        default: {}
  purge_inline_policies:
    description:
      - Delete the inline policies of a role that O(roles[].inline_policies) does not list.
    type: bool
    default: true
  purge_managed_policies:
    description:
      - Detach the managed policies of a role that O(roles[].managed_policy_arns) does not list.
    type: bool
    default: true
  purge_tags:
    description:
      - Remove the tags of a role that O(roles[].tags) does not list.
    type: bool
    default: true
  wait:
    description:
      - After creating a role, wait until IAM shows it (the IAM C(role_exists) waiter) before its policies are added.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait for each new role.
    type: int
    default: 120
notes:
  - Changes are made with C(CreateRole), C(UpdateAssumeRolePolicy), C(UpdateRole) (description and maximum session
    duration), C(PutRolePermissionsBoundary), C(PutRolePolicy), C(DeleteRolePolicy), C(AttachRolePolicy),
    C(DetachRolePolicy), C(TagRole) and C(UntagRole); deleting also uses C(ListInstanceProfilesForRole),
    C(RemoveRoleFromInstanceProfile) and C(DeleteRole).
  - In check mode a role that would be created is returned with the ARN it would have; the account and partition come
    from C(sts:GetCallerIdentity), which is called only then.
  - Diff mode shows each role before and after; inline policies are shown by name with a fingerprint of their document
    (C(sha256:...)), so the diff tells which document changes without showing it.
  - IAM is eventually consistent; a role just created or changed may take a few seconds to be usable by the service.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The two roles of an ECS service, in one task
  mlops.mlflow.iam_service_roles:
    roles:
      - name: mlflow-execution
        description: Pulls the MLflow image and reads its secrets
        assume_role_policy_document:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {Service: ecs-tasks.amazonaws.com}
              Action: sts:AssumeRole
        managed_policy_arns:
          - arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy
        inline_policies:
          read-secrets:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: secretsmanager:GetSecretValue
                Resource: arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlflow-*
        tags:
          application: mlflow
      - name: mlflow-task
        assume_role_policy_document: "{{ lookup('file', 'ecs-tasks-trust.json') }}"
        inline_policies:
          artifacts: "{{ lookup('template', 'artifacts-policy.json.j2') }}"
        tags:
          application: mlflow
  register: mlflow_roles

- name: Use an ARN
  ansible.builtin.debug:
    msg: "{{ mlflow_roles.roles['mlflow-task'].arn }}"

- name: Keep inline policies and tags added by others
  mlops.mlflow.iam_service_roles:
    roles:
      - name: mlflow-task
        assume_role_policy_document: "{{ lookup('file', 'ecs-tasks-trust.json') }}"
        tags:
          team: research
    purge_inline_policies: false
    purge_tags: false

- name: Delete the roles
  mlops.mlflow.iam_service_roles:
    state: absent
    roles:
      - name: mlflow-execution
      - name: mlflow-task
"""

RETURN = r"""
roles:
  description:
    - The roles by name, as they are after the run.
    - In check mode, the roles as they would be; a role that would be created has the ARN it would have and no role ID.
    - With O(state=absent), an empty dictionary.
  returned: always
  type: dict
  sample:
    mlflow-task:
      arn: arn:aws:iam::123456789012:role/mlflow-task
      role_name: mlflow-task
      role_id: AROAEXAMPLEID1234567
      path: /
      description: null
      assume_role_policy_document:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: ecs-tasks.amazonaws.com}, Action: sts:AssumeRole}]
      inline_policy_names: [artifacts]
      managed_policy_arns: []
      max_session_duration: 3600
      permissions_boundary: null
      tags: {application: mlflow}
  contains:
    arn:
      description: The ARN of the role.
      type: str
    role_name:
      description: The name of the role.
      type: str
    role_id:
      description: The ID of the role; null for a role that check mode would create.
      type: str
    path:
      description: The path of the role.
      type: str
    description:
      description: The description, or null.
      type: str
    assume_role_policy_document:
      description: The trust policy.
      type: dict
    inline_policy_names:
      description: The names of the inline policies, sorted.
      type: list
      elements: str
    managed_policy_arns:
      description: The ARNs of the attached managed policies, sorted.
      type: list
      elements: str
    max_session_duration:
      description: The maximum session duration in seconds.
      type: int
    permissions_boundary:
      description: The ARN of the permissions boundary, or null.
      type: str
    tags:
      description: The tags.
      type: dict
diff:
  description:
    - In diff mode, C(before) and C(after), each a dictionary of the roles by name (a role that does not exist is
      missing), with the members of O(roles) and C(inline_policies) as policy name to a fingerprint of the document.
  returned: diff mode
  type: dict
"""

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.mlops.mlflow.plugins.module_utils import iam_service_roles as logic

WAITER_DELAY = 2


def caller_arn_parts(module):
    """(partition, account) of the caller, from sts:GetCallerIdentity."""
    sts = module.client("sts", retry_decorator=AWSRetry.jittered_backoff())
    identity = sts.get_caller_identity(aws_retry=True)
    return identity["Arn"].split(":")[1], identity["Account"]


def wait_for(module, client, name):
    attempts = max(1, int(module.params["wait_timeout"] // WAITER_DELAY))
    client.get_waiter("role_exists").wait(RoleName=name, WaiterConfig={"Delay": WAITER_DELAY, "MaxAttempts": attempts})


def describe_all(module, client, specs):
    described = {}
    for spec in specs:
        try:
            described[spec["name"]] = logic.describe(client, spec["name"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not describe IAM role {0}".format(spec["name"]))
    return described


def ensure_present(module, client, specs):
    params = module.params
    described = describe_all(module, client, specs)
    plans = {}
    for spec in specs:
        plans[spec["name"]] = logic.plan(described[spec["name"]], spec, params["purge_inline_policies"],
                                         params["purge_managed_policies"], params["purge_tags"])
    moved = ["{0} (path {1}, asked {2})".format(name, described[name]["path"], changes["path"])
             for name, changes in plans.items() if "path" in changes]
    if moved:
        module.fail_json(msg="IAM cannot change the path of an existing role: {0}. Delete the role first (state=absent) "
                             "or give its path.".format(", ".join(moved)))

    arns = {}
    if module.check_mode and any(described[spec["name"]] is None for spec in specs):
        try:
            partition, account = caller_arn_parts(module)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not get the caller's account (sts:GetCallerIdentity) for the ARN of a new role")
        arns = dict((spec["name"], logic.role_arn(partition, account, spec["path"], spec["name"])) for spec in specs)

    final = {}
    for spec in specs:
        name = spec["name"]
        current, changes = described[name], plans[name]
        after = logic.predicted(current, spec, changes, arns.get(name))
        if changes and not module.check_mode:
            try:
                if current is None:
                    role = logic.create(client, spec)
                    after.update(arn=role["Arn"], role_id=role.get("RoleId"), path=role.get("Path") or spec["path"])
                    if params["wait"]:
                        wait_for(module, client, name)
                    changes = dict((key, value) for key, value in changes.items() if key != "create")
                logic.apply_changes(client, name, changes)
            except botocore.exceptions.WaiterError as error:
                module.fail_json(msg="IAM role {0} was created but did not show within {1} seconds: {2}".format(
                    name, params["wait_timeout"], error))
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg="Could not {0} IAM role {1}".format("create" if current is None else "update", name))
        final[name] = after

    result = dict(changed=any(plans.values()), roles=dict((name, logic.returned(role)) for name, role in final.items()))
    if module._diff:
        result["diff"] = dict(
            before=dict((name, logic.comparable(role)) for name, role in described.items() if role is not None),
            after=dict((name, logic.comparable(role)) for name, role in final.items()))
    module.exit_json(**result)


def ensure_absent(module, client, specs):
    described = describe_all(module, client, specs)
    existing = [name for name, role in described.items() if role is not None]
    if not module.check_mode:
        for name in existing:
            try:
                logic.delete(client, described[name], logic.instance_profiles(client, name))
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg="Could not delete IAM role {0}".format(name))
    result = dict(changed=bool(existing), roles={})
    if module._diff:
        result["diff"] = dict(before=dict((name, logic.comparable(described[name])) for name in existing), after={})
    module.exit_json(**result)


def main():
    argument_spec = logic.argument_spec()
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        specs = logic.validate(module.params)
        if module.params["wait_timeout"] < 1:
            raise logic.InvalidInput("wait_timeout must be at least 1 second, got {0}.".format(module.params["wait_timeout"]))
    except logic.InvalidInput as error:
        module.fail_json(msg=str(error))
    client = module.client("iam", retry_decorator=AWSRetry.jittered_backoff())
    if module.params["state"] == "present":
        ensure_present(module, client, specs)
    else:
        ensure_absent(module, client, specs)


if __name__ == "__main__":
    main()
