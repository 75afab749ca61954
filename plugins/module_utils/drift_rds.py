# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Drift kinds of RDS for mlops.mlflow.aws_drift_info (see drift.py for the contract).

- ``rds_subnet_group`` mirrors amazon.aws.rds_subnet_group (10.1): the module modifies a group whose description
  or sorted subnet ids differ, and tags it through ensure_tags.
- ``rds_cluster`` mirrors amazon.aws.rds_cluster (10.1) with state present on an existing cluster: it sends
  ModifyDBCluster with the options of get_modify_options that changing_cluster_options finds different (a plain
  ``!=`` against DescribeDBClusters, security groups by set, the password only with force_update_password), then
  AddTags/RemoveTags through ensure_tags. Options that only matter at creation (engine, database_name,
  master_username, db_subnet_group_name, storage_encrypted, kms_key_id) are never compared by the module, so a
  difference there changes nothing and is not reported either.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import botocore
except ImportError:
    pass  # the module that uses the kinds reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import outcome
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import tags_differ


def _error_code(error):
    return error.response.get("Error", {}).get("Code")


def _tags(rds, arn):
    """The tags of an RDS resource as the acting modules read them (ListTagsForResource)."""
    found = rds.list_tags_for_resource(aws_retry=True, ResourceName=arn)
    return boto3_tag_list_to_ansible_dict(found.get("TagList") or [])


# --- rds_subnet_group -------------------------------------------------------------------------------------------

SUBNET_GROUP_ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    description=dict(type="str"),
    subnets=dict(type="list", elements="str"),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    state=dict(type="str", choices=["present"], default="present"),
)


def check_subnet_group(client, params):
    """Whether amazon.aws.rds_subnet_group with ``params`` would change nothing."""
    rds = client("rds")
    name = params["name"].lower()
    try:
        found = rds.describe_db_subnet_groups(aws_retry=True, DBSubnetGroupName=name)
    except botocore.exceptions.ClientError as error:
        if _error_code(error) == "DBSubnetGroupNotFoundFault":
            return outcome(False)
        raise
    groups = found.get("DBSubnetGroups") or []
    if not groups:
        return outcome(False)
    group = groups[0]
    differences = []
    # The module fails without a description or subnets (required_if with state present): never in sync.
    if group.get("DBSubnetGroupName") != name:
        differences.append("name")
    if params["description"] is None or group.get("DBSubnetGroupDescription") != params["description"]:
        differences.append("description")
    current_subnets = sorted(subnet.get("SubnetIdentifier") for subnet in group.get("Subnets") or [])
    if params["subnets"] is None or current_subnets != sorted(params["subnets"]):
        differences.append("subnets")
    arn = group.get("DBSubnetGroupArn")
    if params["tags"] is not None:
        if not arn or tags_differ(_tags(rds, arn), params["tags"], params["purge_tags"]):
            differences.append("tags")
    resource = dict(name=group.get("DBSubnetGroupName"), arn=arn, vpc_id=group.get("VpcId"))
    return outcome(True, differences, resource)


# --- rds_cluster --------------------------------------------------------------------------------------------------

CLUSTER_ARGUMENT_SPEC = dict(
    db_cluster_identifier=dict(type="str", required=True, aliases=["cluster_id", "id", "cluster_name"]),
    engine=dict(type="str", choices=["aurora", "aurora-mysql", "aurora-postgresql", "mysql", "postgres"]),
    engine_version=dict(type="str"),
    engine_mode=dict(type="str", choices=["provisioned", "serverless", "parallelquery", "global", "multimaster"]),
    serverless_v2_scaling_configuration=dict(
        type="dict",
        options=dict(
            min_capacity=dict(type="float"),
            max_capacity=dict(type="float"),
        ),
    ),
    database_name=dict(type="str", aliases=["db_name"]),
    master_username=dict(type="str", aliases=["username"]),
    master_user_password=dict(type="str", aliases=["password"], no_log=True),
    force_update_password=dict(type="bool", default=False),
    port=dict(type="int"),
    db_subnet_group_name=dict(type="str"),
    vpc_security_group_ids=dict(type="list", elements="str"),
    purge_security_groups=dict(type="bool", default=True),
    storage_encrypted=dict(type="bool"),
    kms_key_id=dict(type="str"),
    backup_retention_period=dict(type="int", default=1),
    preferred_backup_window=dict(type="str", aliases=["backup_window"]),
    deletion_protection=dict(type="bool"),
    copy_tags_to_snapshot=dict(type="bool"),
    apply_immediately=dict(type="bool", default=False),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    wait=dict(type="bool", default=True),
    state=dict(type="str", choices=["present"], default="present"),
)

# Statuses in which a cluster that compares equal is left as it is and usable as described. The module itself
# never looks at the status with state present; anything else (stopped, stopping, starting, deleting, failed,
# inaccessible-encryption-credentials, migrating, promoting...) counts as out of sync, conservatively.
SETTLED_STATUSES = frozenset([
    "available", "creating", "backing-up", "modifying", "upgrading", "maintenance", "storage-optimization",
    "resetting-master-credentials",
])

# The options of get_modify_options that changing_cluster_options compares with a plain "!=" against the
# described cluster (its final loop), by option name and DescribeDBClusters key. The module sends every one
# that is not None and differs, and fails (KeyError) on one the description lacks.
_PLAIN_MODIFY_OPTIONS = (
    ("backup_retention_period", "BackupRetentionPeriod"),
    ("preferred_backup_window", "PreferredBackupWindow"),
    ("engine_version", "EngineVersion"),
    ("port", "Port"),
    ("deletion_protection", "DeletionProtection"),
    ("copy_tags_to_snapshot", "CopyTagsToSnapshot"),
    ("engine_mode", "EngineMode"),
)


def _desired_scaling(configuration):
    """ServerlessV2ScalingConfiguration as arg_spec_to_rds_params makes it (None for a missing suboption)."""
    return dict(MinCapacity=configuration.get("min_capacity"), MaxCapacity=configuration.get("max_capacity"))


def _security_groups_change(params, cluster):
    """Whether changing_cluster_options would send VpcSecurityGroupIds."""
    provided = set(params["vpc_security_group_ids"] or [])
    if not provided:
        return False
    if "VpcSecurityGroups" not in cluster:
        return True  # the module would fail reading them
    current = set(group.get("VpcSecurityGroupId") for group in cluster["VpcSecurityGroups"])
    if params["purge_security_groups"]:
        # The module sends the provided groups whenever there are some, equal or not: changed on every run.
        return True
    return bool(provided - current)


def cluster_differences(params, cluster):
    """The options of ``params`` that amazon.aws.rds_cluster would modify on ``cluster`` (described), tags aside."""
    differences = []
    if params["engine"] in ("mysql", "postgres"):
        # The module then wants allocated_storage, iops and db_cluster_instance_class, which no part gives.
        differences.append("engine")
    if params["force_update_password"]:
        differences.append("master_user_password")
    if _security_groups_change(params, cluster):
        differences.append("vpc_security_group_ids")
    for option, key in _PLAIN_MODIFY_OPTIONS:
        value = params[option]
        if value is not None and (key not in cluster or cluster[key] != value):
            differences.append(option)
    scaling = params["serverless_v2_scaling_configuration"]
    if scaling is not None:
        current = cluster.get("ServerlessV2ScalingConfiguration")
        if current is None or current != _desired_scaling(scaling):
            differences.append("serverless_v2_scaling_configuration")
    if cluster.get("Status") not in SETTLED_STATUSES:
        differences.append("state")
    return differences


def check_cluster(client, params):
    """Whether amazon.aws.rds_cluster with ``params`` (state present) would change nothing."""
    rds = client("rds")
    identifier = params["db_cluster_identifier"].lower()
    try:
        found = rds.describe_db_clusters(aws_retry=True, DBClusterIdentifier=identifier)
    except botocore.exceptions.ClientError as error:
        if _error_code(error) == "DBClusterNotFoundFault":
            return outcome(False)
        raise
    clusters = found.get("DBClusters") or []
    if not clusters:
        return outcome(False)
    cluster = clusters[0]
    differences = cluster_differences(params, cluster)
    arn = cluster.get("DBClusterArn")
    if params["tags"] is not None:
        if not arn or tags_differ(_tags(rds, arn), params["tags"], params["purge_tags"]):
            differences.append("tags")
    resource = dict(
        db_cluster_identifier=cluster.get("DBClusterIdentifier"),
        endpoint=cluster.get("Endpoint"),
        reader_endpoint=cluster.get("ReaderEndpoint"),
        port=cluster.get("Port"),
        db_cluster_arn=arn,
        status=cluster.get("Status"),
    )
    return outcome(True, differences, resource)


KINDS = {
    "rds_subnet_group": (SUBNET_GROUP_ARGUMENT_SPEC, check_subnet_group),
    "rds_cluster": (CLUSTER_ARGUMENT_SPEC, check_cluster),
}
