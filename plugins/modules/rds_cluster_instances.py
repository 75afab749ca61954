#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rds_cluster_instances
version_added: 0.1.0
short_description: Wait for an Aurora DB cluster, make sure its DB instances exist with the given settings, wait for them
description:
  - In one module run, waits until an Aurora DB cluster is C(available), creates or updates the DB instances of the
    cluster that O(instances) lists, and waits until all of them are C(available).
  - This module exists because a role that deploys MLflow creates an Aurora Serverless v2 cluster without waiting
    (M(amazon.aws.rds_cluster) with O(ignore:wait=false)) so that other work proceeds meanwhile, and must then wait for
    the cluster and add its instances. With amazon.aws that takes an C(until) loop of M(amazon.aws.rds_cluster_info)
    (one module process per poll, about a second each), a loop of M(amazon.aws.rds_instance) (one process per instance;
    it cannot create an instance before the cluster is available, and its own waiter polls every 30 to 60 seconds),
    and another C(until) loop of M(amazon.aws.rds_instance_info). This module polls in one process every O(wait_delay)
    seconds, so it notices readiness within seconds and costs one process start.
  - The cluster's engine comes from the cluster (C(DescribeDBClusters)); a cluster that does not exist makes the module
    fail with O(state=present).
  - Idempotent. The instances of the cluster are described (C(DescribeDBInstances) with the C(db-cluster-id) filter) and
    compared with the options; a missing instance is created (C(CreateDBInstance)), one whose settings differ is
    modified (C(ModifyDBInstance) with C(ApplyImmediately)), tags are set and removed (C(AddTagsToResource),
    C(RemoveTagsFromResource)). A re-run on ready instances calls nothing but C(DescribeDBClusters) and
    C(DescribeDBInstances).
  - An instance being deleted (C(deleting)) counts as absent once it is gone; with O(wait=true) the module waits for
    that, then creates it again.
  - Every option is checked before the first API call, so a bad input changes nothing.
options:
  db_cluster_identifier:
    description:
      - The identifier of the Aurora DB cluster.
    type: str
    required: true
  instances:
    description:
      - The identifiers of the DB instances of the cluster, in the order they are created (with a new cluster, the first
        one becomes the writer).
      - Each identifier has 1 to 63 letters, digits and hyphens, begins with a letter, has no two hyphens in a row and
        does not end with a hyphen. RDS keeps identifiers in lower case; so does the comparison.
      - Required with both states; O(state=absent) deletes only the instances listed here.
      - An identifier that belongs to a DB instance outside this cluster makes the creation fail.
    type: list
    elements: str
    required: true
  db_instance_class:
    description:
      - The DB instance class of every listed instance. V(db.serverless) is Aurora Serverless v2; the cluster's
        C(ServerlessV2ScalingConfiguration) sets its capacity.
    type: str
    default: db.serverless
  publicly_accessible:
    description:
      - Whether the instances have a public IP address.
    type: bool
    default: false
  auto_minor_version_upgrade:
    description:
      - Whether RDS applies minor engine upgrades to the instances in their maintenance window.
    type: bool
    default: true
  promotion_tier:
    description:
      - The failover priority of the instances (0, the highest, to 15). Not compared when not given (RDS sets 1).
    type: int
  tags:
    description:
      - The tags of every listed instance.
    type: dict
    default: {}
  purge_tags:
    description:
      - Whether tags of the instances that O(tags) does not name are removed. With the default O(tags={}), V(true)
        removes every tag of the listed instances.
    type: bool
    default: true
  purge_instances:
    description:
      - With O(state=present), whether DB instances of the cluster that O(instances) does not list are deleted (after
        the listed ones are created).
    type: bool
    default: false
  state:
    description:
      - V(present) makes sure the listed instances exist with the given settings.
      - V(absent) deletes the listed instances of the cluster; those that do not exist are skipped. A cluster that
        does not exist has no instances, so nothing is done.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Whether to wait until the cluster is C(available) before touching its instances, and afterwards until every
        listed instance is C(available) (without pending modifications), or gone with O(state=absent) (also those
        that O(purge_instances) deletes).
      - With V(false) the module waits for nothing. RDS refuses to create an instance in a cluster that is not
        available; the module then fails and says so.
      - The module fails at once when the cluster or an instance reaches a status it would not leave by itself
        (for example C(failed), C(stopped), C(inaccessible-encryption-credentials) or, for the cluster, C(deleting)).
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds the whole run may wait (for the cluster and the instances together) before it fails.
    type: int
    default: 1800
  wait_delay:
    description:
      - Seconds between two polls while waiting.
    type: int
    default: 2
notes:
  - Check mode makes no change and does not wait; C(changed) and the returned instances say what a real run would do.
  - Diff mode shows the managed settings and tags of the instances before and after.
  - Performance Insights and the other settings of M(amazon.aws.rds_instance) are not managed.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: An Aurora Serverless v2 cluster, created without waiting
  amazon.aws.rds_cluster:
    cluster_id: mlflow
    engine: aurora-postgresql
    engine_mode: provisioned
    username: mlflow
    password: "{{ mlflow_database_password }}"
    serverless_v2_scaling_configuration:
      min_capacity: 0.5
      max_capacity: 4
    wait: false

- name: Other work goes on meanwhile
  ansible.builtin.debug:
    msg: ...

- name: Wait for the cluster, add a writer and a reader, wait for both
  mlops.mlflow.rds_cluster_instances:
    db_cluster_identifier: mlflow
    instances: [mlflow-1, mlflow-2]
    tags:
      application: mlflow
  register: aurora

- name: The writer endpoint
  ansible.builtin.debug:
    msg: "{{ aurora.cluster.endpoint }}:{{ aurora.cluster.port }}"

- name: Keep one instance only
  mlops.mlflow.rds_cluster_instances:
    db_cluster_identifier: mlflow
    instances: [mlflow-1]
    purge_instances: true

- name: Delete the instances
  mlops.mlflow.rds_cluster_instances:
    db_cluster_identifier: mlflow
    instances: [mlflow-1, mlflow-2]
    state: absent
"""

RETURN = r"""
cluster:
  description:
    - The cluster as it was last described; an empty dictionary when it does not exist (O(state=absent)).
  returned: always
  type: dict
  contains:
    db_cluster_identifier:
      description: The identifier.
      type: str
      sample: mlflow
    status:
      description: The status.
      type: str
      sample: available
    engine:
      description: The engine.
      type: str
      sample: aurora-postgresql
    endpoint:
      description: The writer endpoint.
      type: str
      sample: mlflow.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com
    reader_endpoint:
      description: The reader endpoint.
      type: str
      sample: mlflow.cluster-ro-abcdefghijkl.eu-west-1.rds.amazonaws.com
    port:
      description: The port.
      type: int
      sample: 5432
instances:
  description:
    - The listed instances, in the order of O(instances), as last described. In check mode, those that would be created
      or changed as they would be (C(db_instance_arn) and C(availability_zone) of an instance not yet created are null).
    - With O(state=absent), the listed instances that still exist (none after a wait).
  returned: always
  type: list
  elements: dict
  contains:
    db_instance_identifier:
      description: The identifier.
      type: str
      sample: mlflow-1
    db_instance_arn:
      description: The ARN.
      type: str
      sample: arn:aws:rds:eu-west-1:123456789012:db:mlflow-1
    db_instance_class:
      description: The DB instance class.
      type: str
      sample: db.serverless
    db_instance_status:
      description: The status.
      type: str
      sample: available
    availability_zone:
      description: The Availability Zone.
      type: str
      sample: eu-west-1a
    publicly_accessible:
      description: Whether the instance has a public IP address.
      type: bool
      sample: false
    auto_minor_version_upgrade:
      description: Whether minor engine upgrades are applied.
      type: bool
      sample: true
    promotion_tier:
      description: The failover priority.
      type: int
      sample: 1
    tags:
      description: The tags.
      type: dict
      sample: {application: mlflow}
diff:
  description:
    - In diff mode, C(before) and C(after) each hold C(instances), a dictionary by identifier of the managed settings
      and tags of the instances that exist.
  returned: diff mode
  type: dict
"""

import time

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.mlops.mlflow.plugins.module_utils import rds_cluster_instances as shared
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.rds_cluster_instances import CLUSTER_DEAD_ENDS
from ansible_collections.mlops.mlflow.plugins.module_utils.rds_cluster_instances import by_identifier
from ansible_collections.mlops.mlflow.plugins.module_utils.rds_cluster_instances import describe_cluster
from ansible_collections.mlops.mlflow.plugins.module_utils.rds_cluster_instances import describe_members
from ansible_collections.mlops.mlflow.plugins.module_utils.rds_cluster_instances import instance_tags
from ansible_collections.mlops.mlflow.plugins.module_utils.rds_cluster_instances import pending
from ansible_collections.mlops.mlflow.plugins.module_utils.rds_cluster_instances import plan
from ansible_collections.mlops.mlflow.plugins.module_utils.rds_cluster_instances import validate


class WaitFailed(Exception):
    """A wait that timed out or met a status that will not change by itself."""


def predicted_members(members, actions, params):
    """The described instances as the actions leave them (for check mode and diff mode)."""
    result = by_identifier(member for member in members if member.get("DBInstanceStatus") != "deleting")
    for action, identifier, details in actions:
        key = identifier.lower()
        if action == "create":
            result[key] = {
                "DBInstanceIdentifier": identifier.lower(), "DBInstanceArn": None, "AvailabilityZone": None,
                "DBInstanceClass": params["db_instance_class"], "DBInstanceStatus": "creating",
                "PubliclyAccessible": params["publicly_accessible"], "AutoMinorVersionUpgrade": params["auto_minor_version_upgrade"],
                "PromotionTier": 1 if params["promotion_tier"] is None else params["promotion_tier"],
                "TagList": ansible_dict_to_boto3_tag_list(params["tags"] or {}),
            }
        elif action == "modify":
            instance = dict(result[key], DBInstanceStatus="modifying")
            instance.update(details)
            result[key] = instance
        elif action == "tags":
            to_set, to_unset = details
            tags = dict((name, value) for name, value in instance_tags(result[key]).items() if name not in to_unset)
            tags.update(to_set)
            result[key] = dict(result[key], TagList=ansible_dict_to_boto3_tag_list(tags))
        elif action == "delete":
            result.pop(key, None)
    return list(result.values())


def comparable(members, identifiers):
    """The managed part of the instances with these (lower-case) identifiers, for diff mode: a dictionary by identifier."""
    members = [member for member in members if member["DBInstanceIdentifier"].lower() in identifiers]
    return {"instances": dict((member["DBInstanceIdentifier"], {
        "db_instance_class": member.get("DBInstanceClass"),
        "publicly_accessible": member.get("PubliclyAccessible"),
        "auto_minor_version_upgrade": member.get("AutoMinorVersionUpgrade"),
        "promotion_tier": member.get("PromotionTier"),
        "tags": instance_tags(member),
    }) for member in members)}


def snake_instance(instance):
    return {
        "db_instance_identifier": instance.get("DBInstanceIdentifier"),
        "db_instance_arn": instance.get("DBInstanceArn"),
        "db_instance_class": instance.get("DBInstanceClass"),
        "db_instance_status": instance.get("DBInstanceStatus"),
        "availability_zone": instance.get("AvailabilityZone"),
        "publicly_accessible": instance.get("PubliclyAccessible"),
        "auto_minor_version_upgrade": instance.get("AutoMinorVersionUpgrade"),
        "promotion_tier": instance.get("PromotionTier"),
        "tags": instance_tags(instance),
    }


def listed_instances(members, params):
    """The listed instances that exist, in the order of the instances option, for the result."""
    found = by_identifier(members)
    return [snake_instance(found[identifier.lower()]) for identifier in params["instances"] or [] if identifier.lower() in found]


def snake_cluster(cluster):
    if not cluster:
        return {}
    return {
        "db_cluster_identifier": cluster.get("DBClusterIdentifier"),
        "status": cluster.get("Status"),
        "engine": cluster.get("Engine"),
        "endpoint": cluster.get("Endpoint"),
        "reader_endpoint": cluster.get("ReaderEndpoint"),
        "port": cluster.get("Port"),
    }


# --- AWS calls ---------------------------------------------------------------------------------------------------------


class Waiter:
    """Polls with one deadline for the whole run."""

    def __init__(self, params):
        self.delay = params["wait_delay"]
        self.timeout = params["wait_timeout"]
        self.deadline = time.monotonic() + params["wait_timeout"]

    def sleep(self, what):
        if time.monotonic() + self.delay > self.deadline:
            raise WaitFailed("Timed out after wait_timeout={0} seconds waiting for {1}.".format(self.timeout, what))
        time.sleep(self.delay)


def wait_for_cluster(client, cluster, waiter):
    identifier = cluster["DBClusterIdentifier"]
    while cluster.get("Status") != "available":
        status = cluster.get("Status")
        if status in CLUSTER_DEAD_ENDS:
            raise WaitFailed("DB cluster {0} is {1}, a status it does not leave by itself; its instances cannot be "
                             "created before it is available.".format(identifier, status))
        waiter.sleep("DB cluster {0} to be available (it is {1})".format(identifier, status))
        cluster = describe_cluster(client, identifier)
        if cluster is None:
            raise WaitFailed("DB cluster {0} disappeared while the module waited for it to be available.".format(identifier))
    return cluster


def wait_until_gone(client, cluster_identifier, identifiers, waiter, members):
    """Waits until none of the identifiers is a member of the cluster; returns the members."""
    while True:
        left = sorted(set(by_identifier(members)) & set(identifiers))
        if not left:
            return members
        waiter.sleep("DB instances {0} to be deleted".format(", ".join(left)))
        members = describe_members(client, cluster_identifier)


def wait_for_instances(client, cluster_identifier, params, gone, waiter, members=None, modified=frozenset()):
    while True:
        if members is None:
            members = describe_members(client, cluster_identifier)
        waiting, problem = pending(members, params, gone, modified)
        if problem:
            raise WaitFailed(problem)
        if not waiting:
            return members
        waiter.sleep("DB instances {0} of cluster {1} to be {2}".format(
            ", ".join(waiting), cluster_identifier, "available" if not gone else "available or deleted"))
        members = None


def apply(client, cluster, actions, params):
    for action, identifier, details in actions:
        if action == "create":
            arguments = dict(
                DBInstanceIdentifier=identifier, DBClusterIdentifier=cluster["DBClusterIdentifier"], Engine=cluster["Engine"],
                DBInstanceClass=params["db_instance_class"], PubliclyAccessible=params["publicly_accessible"],
                AutoMinorVersionUpgrade=params["auto_minor_version_upgrade"],
            )
            if params["promotion_tier"] is not None:
                arguments["PromotionTier"] = params["promotion_tier"]
            if params["tags"]:
                arguments["Tags"] = ansible_dict_to_boto3_tag_list(params["tags"])
            client.create_db_instance(aws_retry=True, **arguments)
        elif action == "modify":
            client.modify_db_instance(aws_retry=True, DBInstanceIdentifier=identifier, ApplyImmediately=True, **details)
        elif action == "tags":
            to_set, to_unset, arn = details  # with_arns added the ARN
            if to_unset:
                client.remove_tags_from_resource(aws_retry=True, ResourceName=arn, TagKeys=to_unset)
            if to_set:
                client.add_tags_to_resource(aws_retry=True, ResourceName=arn, Tags=ansible_dict_to_boto3_tag_list(to_set))
        elif action == "delete":
            try:
                client.delete_db_instance(aws_retry=True, DBInstanceIdentifier=identifier)
            except is_boto3_error_code("DBInstanceNotFound"):
                pass


def with_arns(actions, members):
    """The tag actions with the ARN of their instance (TagResource calls take the ARN)."""
    found = by_identifier(members)
    return [(action, identifier, details + (found[identifier.lower()]["DBInstanceArn"],) if action == "tags" else details)
            for action, identifier, details in actions]


def failure_hint(error, cluster, action, identifier):
    code = error.response.get("Error", {}).get("Code") if hasattr(error, "response") else None
    status = cluster.get("Status")
    if code in ("InvalidDBClusterStateFault", "InvalidDBClusterState") or (status != "available" and action == "create"):
        return ("Could not {0} DB instance {1}: DB cluster {2} is {3}, and RDS refuses to add or change its instances "
                "before it is available (use wait=true to wait for it)".format(action, identifier, cluster["DBClusterIdentifier"], status))
    if code == "DBInstanceAlreadyExists":
        return ("Could not create DB instance {0} in DB cluster {1}: a DB instance of that identifier exists outside the "
                "cluster, or is still being deleted (use wait=true to wait for the deletion)".format(identifier, cluster["DBClusterIdentifier"]))
    return "Could not {0} DB instance {1} of DB cluster {2}".format(action, identifier, cluster["DBClusterIdentifier"])


def run(module, client):
    params = module.params
    name = params["db_cluster_identifier"]
    waiter = Waiter(params)
    aws_errors = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
    try:
        cluster = describe_cluster(client, name)
    except aws_errors as error:
        module.fail_json_aws(error, msg="Could not describe DB cluster {0}".format(name))
    if cluster is None:
        if params["state"] == "absent":
            module.exit_json(changed=False, cluster={}, instances=[])
        module.fail_json(msg="DB cluster {0} does not exist (in this account and region): create it first, for example with "
                             "amazon.aws.rds_cluster.".format(name))
    should_wait = params["wait"] and not module.check_mode
    try:
        if should_wait and params["state"] == "present":
            cluster = wait_for_cluster(client, cluster, waiter)
        members = describe_members(client, name)
        listed = set(identifier.lower() for identifier in params["instances"] or [])
        deleting = sorted(key for key, member in by_identifier(members).items()
                          if key in listed and member.get("DBInstanceStatus") == "deleting")
        if should_wait and deleting and params["state"] == "present":
            members = wait_until_gone(client, name, deleting, waiter, members)
    except WaitFailed as error:
        module.fail_json(msg=str(error), cluster=snake_cluster(cluster))
    except aws_errors as error:
        module.fail_json_aws(error, msg="Could not describe DB cluster {0} and its DB instances".format(name))

    actions = plan(members, params)
    after = predicted_members(members, actions, params)
    final = after if actions else members
    if actions and not module.check_mode:
        for step in with_arns(actions, members):
            try:
                apply(client, cluster, [step], params)
            except aws_errors as error:
                module.fail_json_aws(error, msg=failure_hint(error, cluster, step[0] if step[0] != "tags" else "tag", step[1]))
        final = None
    if not module.check_mode:
        gone = set(identifier.lower() for action, identifier, details in actions if action == "delete")
        if params["state"] == "absent":
            gone |= listed
        try:
            if params["wait"]:
                # Instances deleted by purge_instances are waited for too.
                wait_params = dict(params, instances=list(params["instances"] or []) + sorted(gone - listed))
                if params["state"] == "absent":
                    wait_params["instances"] = sorted(gone)
                modified = frozenset(identifier.lower() for action, identifier, details in actions if action == "modify")
                final = wait_for_instances(client, name, wait_params, gone, waiter, members=final, modified=modified)
                if actions:  # the cluster's status may have changed with its instances
                    cluster = describe_cluster(client, name) or cluster
            elif final is None:
                final = describe_members(client, name)
        except WaitFailed as error:
            module.fail_json(msg=str(error), cluster=snake_cluster(cluster), instances=listed_instances(final or members, params))
        except aws_errors as error:
            module.fail_json_aws(error, msg="Could not describe the DB instances of DB cluster {0}".format(name))

    result = dict(changed=bool(actions), cluster=snake_cluster(cluster), instances=listed_instances(final, params))
    if module._diff:
        shown = listed | set(identifier.lower() for action, identifier, details in actions)
        result["diff"] = dict(before=comparable(members, shown), after=comparable(after, shown))
    module.exit_json(**result)


def main():
    argument_spec = shared.argument_spec()
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        validate(module.params)
    except InvalidInput as error:
        module.fail_json(msg=str(error))
    # RDS refuses a change while the cluster or the instance is busy (another instance being added, a backup).
    client = module.client("rds", retry_decorator=AWSRetry.jittered_backoff(
        catch_extra_error_codes=["InvalidDBClusterStateFault", "InvalidDBInstanceState"]))
    run(module, client)


if __name__ == "__main__":
    main()
