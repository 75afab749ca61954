# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Drift kinds of mlops.mlflow.aws_drift_info for KMS keys, Secrets Manager secrets and CloudWatch Logs groups.

Each kind mirrors what its acting module compares (see drift.py for the contract):

- ``kms_key``: amazon.aws.kms_key (update_key: deletion, enabled, alias, description, tags, policy, grants,
  rotation). The key spec and usage of an existing key are never compared by the module (it only uses them to
  create a key), so they do not make a key out of sync.
- ``secretsmanager_secret``: community.aws.secretsmanager_secret. The secret value is never read: with
  ``overwrite`` true the module compares the value (GetSecretValue) and rewrites it when it differs, which this
  kind cannot know, so such a secret is always out of sync; with ``overwrite`` false the module never updates
  the value, the description or the KMS key.
- ``cloudwatchlogs_log_group``: amazon.aws.cloudwatchlogs_log_group. The module never changes the KMS key of an
  existing group (and reports no change for it), and ignores an omitted retention; ``overwrite`` true deletes
  and recreates an existing group, so it is always out of sync.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from botocore.exceptions import ClientError
except ImportError:  # the module that uses the kinds reports the missing botocore
    class ClientError(Exception):
        pass

from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.mlops.mlflow.plugins.module_utils.drift import outcome
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import tags_differ


def _error_code(error):
    return (getattr(error, "response", None) or {}).get("Error", {}).get("Code")


# --------------------------------------------------------------------------------------------------
# kms_key
# --------------------------------------------------------------------------------------------------
KMS_KEY_ARGUMENT_SPEC = dict(
    alias=dict(type="str", required=True, aliases=["key_alias"]),
    description=dict(type="str"),
    enabled=dict(type="bool", default=True),
    enable_key_rotation=dict(type="bool"),
    key_spec=dict(type="str", default="SYMMETRIC_DEFAULT", aliases=["customer_master_key_spec"],
                  choices=["SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
                           "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"]),
    key_usage=dict(type="str", default="ENCRYPT_DECRYPT", choices=["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    policy=dict(type="json"),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    state=dict(type="str", default="present", choices=["present"]),
)


def canonical_alias(alias):
    """The alias as kms_key looks it up (canonicalize_alias_name: ``alias/`` added when missing)."""
    return alias if alias.startswith("alias/") else "alias/" + alias


def kms_tags(kms, key_arn):
    """The key's tags as an ansible dict, or None when they cannot be read."""
    tags = []
    arguments = dict(KeyId=key_arn)
    while True:
        try:
            page = kms.list_resource_tags(aws_retry=True, **arguments)
        except ClientError as error:
            if _error_code(error) == "AccessDeniedException":
                return None
            raise
        tags.extend(page.get("Tags", []))
        if not page.get("NextMarker"):
            return boto3_tag_list_to_ansible_dict(tags, "TagKey", "TagValue")
        arguments["Marker"] = page["NextMarker"]


def _kms_grants_unnamed(kms, key_arn):
    """Whether a grant of the key has no name: kms_key indexes the existing grants by name and fails on one
    without (compare_grants), so it would never report "no change"."""
    arguments = dict(KeyId=key_arn)
    while True:
        page = kms.list_grants(aws_retry=True, **arguments)
        if any("Name" not in grant for grant in page.get("Grants", [])):
            return True
        if not page.get("Truncated") or not page.get("NextMarker"):
            return False
        arguments["Marker"] = page["NextMarker"]


def _kms_policy_differs(kms, key_arn, policy):
    try:
        desired = json.loads(policy)
    except ValueError:
        return True  # kms_key fails on it
    try:
        current = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default", aws_retry=True)["Policy"])
    except (ClientError, ValueError, KeyError):
        return True  # kms_key assumes a change when it cannot read the policy
    return bool(compare_policies(current, desired))


def _kms_rotation_differs(kms, key_arn, enable_key_rotation):
    try:
        status = kms.get_key_rotation_status(KeyId=key_arn, aws_retry=True)
    except ClientError:
        # AccessDenied: kms_key enables/disables anyway; UnsupportedOperation (asymmetric keys): it fails.
        return True
    return status.get("KeyRotationEnabled") != enable_key_rotation


def check_kms_key(client, params):
    kms = client("kms")
    alias = canonical_alias(params["alias"])
    try:
        metadata = kms.describe_key(KeyId=alias, aws_retry=True)["KeyMetadata"]
    except ClientError as error:
        if _error_code(error) == "NotFoundException":
            return outcome(False)
        raise
    key_arn = metadata["Arn"]
    resource = dict(key_arn=key_arn, key_id=metadata["KeyId"])
    differences = []
    key_state = metadata.get("KeyState")
    if key_state == "PendingDeletion":
        differences.append("state")  # kms_key cancels the deletion, which leaves the key disabled
        key_state = "Disabled"
    if key_state != ("Enabled" if params["enabled"] else "Disabled"):
        differences.append("enabled")
    # The alias exists (the key was found through it): kms_key's update_alias adds nothing.
    if params["description"] is not None and metadata.get("Description") != params["description"]:
        differences.append("description")
    if params["tags"] is not None:
        current_tags = kms_tags(kms, key_arn)
        if current_tags is None or tags_differ(current_tags, params["tags"], params["purge_tags"]):
            differences.append("tags")
    if params["policy"] is not None and _kms_policy_differs(kms, key_arn, params["policy"]):
        differences.append("policy")
    if _kms_grants_unnamed(kms, key_arn):
        differences.append("grants")
    rotation = params["enable_key_rotation"]
    if rotation is not None and _kms_rotation_differs(kms, key_arn, rotation):
        differences.append("enable_key_rotation")
    return outcome(True, differences, resource)


# --------------------------------------------------------------------------------------------------
# secretsmanager_secret
# --------------------------------------------------------------------------------------------------
SECRETSMANAGER_SECRET_ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    description=dict(type="str", default=""),
    kms_key_id=dict(type="str"),
    recovery_window=dict(type="int", default=30),
    overwrite=dict(type="bool", default=True),
    secret=dict(type="str", default="", no_log=True),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    resource_policy=dict(type="json"),
    state=dict(type="str", default="present", choices=["present"]),
)


def check_secretsmanager_secret(client, params):
    secretsmanager = client("secretsmanager")
    try:
        current = secretsmanager.describe_secret(SecretId=params["name"], aws_retry=True)
    except ClientError as error:
        if _error_code(error) == "ResourceNotFoundException":
            return outcome(False)
        raise
    resource = dict(arn=current.get("ARN"), name=current.get("Name"))
    differences = []
    if current.get("DeletedDate"):
        differences.append("state")  # the module restores the secret
    if params["overwrite"]:
        # secrets_match: description, KMS key, then the value (GetSecretValue, which this kind never calls);
        # any difference makes the module call UpdateSecret. The value cannot be known: always a difference.
        if params["description"] != current.get("Description", ""):
            differences.append("description")
        if params["kms_key_id"] != current.get("KmsKeyId"):
            differences.append("kms_key_id")
        differences.append("secret")
    # rotation_match: rotation is not an option of this kind (the module's default: none), so a secret
    # that rotates would have its rotation cancelled.
    if current.get("RotationEnabled", False):
        differences.append("rotation_lambda")
    # The module compares the resource policy on every run, and deletes one when none is given.
    try:
        policy_response = secretsmanager.get_resource_policy(SecretId=params["name"], aws_retry=True)
    except ClientError:
        differences.append("resource_policy")
    else:
        if compare_policies(params["resource_policy"], policy_response.get("ResourcePolicy")):
            differences.append("resource_policy")
    if params["tags"] is not None:
        current_tags = boto3_tag_list_to_ansible_dict(current.get("Tags", []))
        if tags_differ(current_tags, params["tags"], params["purge_tags"]):
            differences.append("tags")
    # Replication is not an option of this kind: the module leaves it alone when ``replica`` is omitted.
    return outcome(True, differences, resource)


# --------------------------------------------------------------------------------------------------
# cloudwatchlogs_log_group
# --------------------------------------------------------------------------------------------------
PERMITTED_RETENTION = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)

CLOUDWATCHLOGS_LOG_GROUP_ARGUMENT_SPEC = dict(
    log_group_name=dict(type="str", required=True),
    retention=dict(type="int"),
    kms_key_id=dict(type="str"),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    overwrite=dict(type="bool", default=False),
    state=dict(type="str", default="present", choices=["present"]),
)


def check_cloudwatchlogs_log_group(client, params):
    logs = client("logs")
    name = params["log_group_name"]
    # The module reads one page of groups with the name as prefix (describe_log_group), as here.
    groups = logs.describe_log_groups(logGroupNamePrefix=name, aws_retry=True).get("logGroups", [])
    matching = [group for group in groups if group.get("logGroupName") == name]
    if not matching:
        return outcome(False)
    group = matching[0]
    resource = dict(arn=group.get("arn"), log_group_name=name, retention=group.get("retentionInDays"))
    differences = []
    if params["overwrite"]:
        differences.append("overwrite")  # the module deletes and recreates the group
    if params["tags"] is not None:
        try:
            current_tags = logs.list_tags_log_group(logGroupName=name, aws_retry=True).get("tags", {})
        except ClientError as error:
            if _error_code(error) != "AccessDeniedException":
                raise
            current_tags = None
        if current_tags is None or tags_differ(current_tags, params["tags"], params["purge_tags"]):
            differences.append("tags")
    retention = params["retention"]
    if retention is not None and (retention != group.get("retentionInDays") or retention not in PERMITTED_RETENTION):
        differences.append("retention")
    # kms_key_id: the module never changes (nor compares) the key of an existing group.
    return outcome(True, differences, resource)


KINDS = {
    "kms_key": (KMS_KEY_ARGUMENT_SPEC, check_kms_key),
    "secretsmanager_secret": (SECRETSMANAGER_SECRET_ARGUMENT_SPEC, check_secretsmanager_secret),
    "cloudwatchlogs_log_group": (CLOUDWATCHLOGS_LOG_GROUP_ARGUMENT_SPEC, check_cloudwatchlogs_log_group),
}
