# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of mlops.mlflow.rds_cluster_instances that mlops.mlflow.aws_drift_info shares: the options, the
input checks, describing the cluster and its instances, the plan (what differs) and what is still to wait for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import check as _check

# Statuses a cluster does not leave by itself (waiting for "available" would be in vain).
CLUSTER_DEAD_ENDS = frozenset([
    "failed", "deleting", "stopped", "stopping", "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable", "cloning-failed", "migration-failed",
])
INSTANCE_DEAD_ENDS = frozenset([
    "failed", "stopped", "stopping", "deleting", "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable", "incompatible-network", "incompatible-option-group",
    "incompatible-parameters", "incompatible-restore", "restore-error", "storage-full",
])
# What ModifyDBInstance changes: option -> (key of the described instance, ModifyDBInstance argument).
SETTINGS = (
    ("db_instance_class", "DBInstanceClass", "DBInstanceClass"),
    ("publicly_accessible", "PubliclyAccessible", "PubliclyAccessible"),
    ("auto_minor_version_upgrade", "AutoMinorVersionUpgrade", "AutoMinorVersionUpgrade"),
    ("promotion_tier", "PromotionTier", "PromotionTier"),
)


def argument_spec():
    """The options of mlops.mlflow.rds_cluster_instances."""
    return dict(
        db_cluster_identifier=dict(type="str", required=True),
        instances=dict(type="list", elements="str", required=True),
        db_instance_class=dict(type="str", default="db.serverless"),
        publicly_accessible=dict(type="bool", default=False),
        auto_minor_version_upgrade=dict(type="bool", default=True),
        promotion_tier=dict(type="int"),
        tags=dict(type="dict", default={}),
        purge_tags=dict(type="bool", default=True),
        purge_instances=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        wait_delay=dict(type="int", default=2),
    )


def identifier_problem(identifier):
    """What is wrong with a DB identifier (None when nothing is)."""
    identifier = identifier or ""
    if not 1 <= len(identifier) <= 63:
        return "must have 1 to 63 characters"
    if not re.match(r"^[A-Za-z]", identifier):
        return "must begin with a letter"
    if not re.match(r"^[A-Za-z0-9-]+$", identifier):
        return "may hold only letters, digits and hyphens"
    if "--" in identifier:
        return "must not hold two hyphens in a row"
    if identifier.endswith("-"):
        return "must not end with a hyphen"
    return None


def validate(params):
    """Raises InvalidInput, naming the option and the fix, for what RDS would refuse."""
    cluster = params["db_cluster_identifier"]
    problem = identifier_problem(cluster)
    _check(problem is None, "db_cluster_identifier {0!r} {1} (RDS identifiers: 1 to 63 letters, digits and hyphens, "
                            "beginning with a letter).".format(cluster, problem))
    instances = params["instances"] or []
    for identifier in instances:
        problem = identifier_problem(identifier)
        _check(problem is None, "instances: {0!r} {1} (RDS identifiers: 1 to 63 letters, digits and hyphens, beginning "
                                "with a letter, no two hyphens in a row, no hyphen at the end).".format(identifier, problem))
    lowered = [identifier.lower() for identifier in instances]
    duplicates = sorted(set(identifier for identifier in lowered if lowered.count(identifier) > 1))
    _check(not duplicates, "instances lists {0} more than once (RDS identifiers ignore case).".format(", ".join(duplicates)))
    _check(params["wait_timeout"] >= 0, "wait_timeout must be 0 or more seconds, got {0}.".format(params["wait_timeout"]))
    _check(params["wait_delay"] >= 1, "wait_delay must be 1 second or more, got {0}.".format(params["wait_delay"]))
    if params["state"] != "present":
        return
    _check(bool(params["db_instance_class"]) and params["db_instance_class"].startswith("db."),
           "db_instance_class must name a DB instance class such as db.serverless or db.r6g.large, got {0!r}.".format(
               params["db_instance_class"]))
    tier = params["promotion_tier"]
    _check(tier is None or 0 <= tier <= 15, "promotion_tier must be between 0 and 15, got {0}.".format(tier))
    for key, value in (params["tags"] or {}).items():
        _check(not str(key).lower().startswith("aws:"), "tags: keys beginning with 'aws:' are reserved for AWS, got {0!r}.".format(key))
        _check(0 < len(str(key)) <= 128 and len(str(value)) <= 256,
               "tags: keys must have 1 to 128 characters and values up to 256, got {0!r}.".format(key))


def instance_tags(instance):
    return boto3_tag_list_to_ansible_dict(instance.get("TagList") or [])


def by_identifier(members):
    """The described instances by lower-case identifier."""
    return dict((member["DBInstanceIdentifier"].lower(), member) for member in members)


def setting_changes(instance, params):
    """The ModifyDBInstance arguments for the settings of an existing instance that differ."""
    changes = {}
    for option, key, argument in SETTINGS:
        wanted = params[option]
        if wanted is not None and instance.get(key) != wanted:
            changes[argument] = wanted
    return changes


def plan(members, params):
    """What to do, in order: a list of (action, identifier, details) with action "create" (details None),
    "modify" (the ModifyDBInstance arguments), "tags" ((to set, to remove)) or "delete" (details None).
    ``members`` are the described instances of the cluster; those being deleted count as absent."""
    current = by_identifier(member for member in members if member.get("DBInstanceStatus") != "deleting")
    listed = [identifier.lower() for identifier in params["instances"] or []]
    actions = []
    if params["state"] == "absent":
        return [("delete", current[identifier]["DBInstanceIdentifier"], None) for identifier in listed if identifier in current]
    for identifier in listed:
        instance = current.get(identifier)
        if instance is None:
            actions.append(("create", identifier, None))
            continue
        name = instance["DBInstanceIdentifier"]
        changes = setting_changes(instance, params)
        if changes:
            actions.append(("modify", name, changes))
        to_set, to_unset = compare_aws_tags(instance_tags(instance), params["tags"] or {}, params["purge_tags"])
        if to_set or to_unset:
            actions.append(("tags", name, (to_set, to_unset)))
    if params["purge_instances"]:
        actions.extend(("delete", current[identifier]["DBInstanceIdentifier"], None)
                       for identifier in sorted(current) if identifier not in listed)
    return actions


def instance_ready(instance, modified=False):
    """Available; an instance this run modified must also have no pending modification left (a change deferred
    by someone else to the maintenance window may stay pending for days, so others are not held to that)."""
    return instance.get("DBInstanceStatus") == "available" and not (modified and instance.get("PendingModifiedValues"))


def pending(members, params, gone, modified=frozenset()):
    """(identifiers still to wait for, problem): with ``gone`` the listed identifiers wait until they are absent,
    the others until they are available; problem names an instance in a dead-end status."""
    found = by_identifier(members)
    waiting = []
    for identifier in params["instances"] or []:
        key = identifier.lower()
        instance = found.get(key)
        if key in gone:
            if instance is not None:
                waiting.append(key)
            continue
        if instance is None:  # not yet shown after its creation, or deleted meanwhile: the timeout ends it
            waiting.append(key)
            continue
        if instance_ready(instance, key in modified):
            continue
        status = instance.get("DBInstanceStatus")
        if status in INSTANCE_DEAD_ENDS:
            return waiting, "DB instance {0} is {1}, a status it does not leave by itself.".format(key, status)
        waiting.append(key)
    for key in gone:
        if key in found and key not in waiting:
            waiting.append(key)
    return waiting, None


def describe_cluster(client, identifier):
    """The cluster, or None when there is none."""
    try:
        clusters = client.describe_db_clusters(aws_retry=True, DBClusterIdentifier=identifier)["DBClusters"]
    except is_boto3_error_code("DBClusterNotFoundFault"):
        return None
    return clusters[0] if clusters else None


@AWSRetry.jittered_backoff()
def describe_members(client, cluster_identifier):
    paginator = client.get_paginator("describe_db_instances")
    answer = paginator.paginate(Filters=[{"Name": "db-cluster-id", "Values": [cluster_identifier]}]).build_full_result()
    return answer.get("DBInstances") or []
