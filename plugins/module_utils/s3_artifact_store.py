# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""An S3 artifact store: a bucket and the KMS key that encrypts it.

The describe functions serve mlops.mlflow.s3_artifact_store_info and mlops.mlflow.s3_artifact_store; the plan and
apply functions serve mlops.mlflow.s3_artifact_store. A plan is ``{setting: {"before": ..., "after": ...}}`` for
every setting that differs; applying it makes only the calls those settings need.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.mlops.mlflow.plugins.module_utils.drift_kms_secrets_logs import kms_tags

# The settings read from a bucket the account owns, and the error code S3 answers when the bucket has none.
BUCKET_SETTINGS = (
    ("bucket_encryption", "get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError"),
    ("bucket_lifecycle_configuration", "get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
    ("bucket_ownership_controls", "get_bucket_ownership_controls", "OwnershipControlsNotFoundError"),
    ("bucket_policy", "get_bucket_policy", "NoSuchBucketPolicy"),
    ("bucket_tagging", "get_bucket_tagging", "NoSuchTagSet"),
    ("bucket_versioning", "get_bucket_versioning", None),
    ("public_access_block", "get_public_access_block", "NoSuchPublicAccessBlockConfiguration"),
)


class LookupFailed(Exception):
    """A call failed for another reason than an absent resource: ``error`` is botocore's, ``what`` the lookup."""

    def __init__(self, what, error):
        super(LookupFailed, self).__init__(what)
        self.what = what
        self.error = error


def describe_account(sts):
    identity = sts.get_caller_identity(aws_retry=True)
    return dict(account_id=identity["Account"], partition=identity["Arn"].split(":")[1])


def account_of(key_arn):
    parts = key_arn.split(":")
    return dict(account_id=parts[4], partition=parts[1])


def describe_key_and_account(clients, key_id, alias, warn):
    """(the key, the account): a key found through an alias is in the caller's account, whose ID its ARN holds."""
    key = describe_kms_key(clients("kms"), key_id or alias, warn) if (key_id or alias) else {}
    if alias and key:
        return key, account_of(key["key_arn"])
    return key, describe_account(clients("sts"))


def _aliases(kms, key_id):
    aliases, arguments = [], dict(KeyId=key_id)
    while True:
        page = kms.list_aliases(aws_retry=True, **arguments)
        aliases.extend(alias["AliasName"][len("alias/"):] for alias in page.get("Aliases", []))
        if not page.get("Truncated") or not page.get("NextMarker"):
            return aliases
        arguments["Marker"] = page["NextMarker"]


def describe_kms_key(kms, key, warn):
    try:
        metadata = kms.describe_key(KeyId=key, aws_retry=True)["KeyMetadata"]
    except is_boto3_error_code("NotFoundException"):
        return {}
    except is_boto3_error_code("AccessDeniedException"):  # pylint: disable=duplicate-except
        warn("Permission denied describing the KMS key {0}".format(key))
        return {}
    key_arn = metadata.pop("Arn")
    described = camel_dict_to_snake_dict(dict(metadata, KeyArn=key_arn))
    # Aliases are listed in the caller's account only; a key of another account has none there.
    try:
        described["aliases"] = _aliases(kms, metadata["KeyId"])
    except is_boto3_error_code(["AccessDeniedException", "NotFoundException"]):
        described["aliases"] = []
    try:
        described["enable_key_rotation"] = kms.get_key_rotation_status(KeyId=key_arn, aws_retry=True).get("KeyRotationEnabled")
    except is_boto3_error_code(["AccessDeniedException", "UnsupportedOperationException"]):
        described["enable_key_rotation"] = None
    # Tags the caller may not read are empty, as amazon.aws.kms_key_info gives them.
    described["tags"] = kms_tags(kms, key_arn) or {}
    # "default" is the only policy name a KMS key has.
    try:
        described["key_policies"] = [json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default", aws_retry=True)["Policy"])]
    except is_boto3_error_code("AccessDeniedException"):
        described["key_policies"] = []
    return described


def _owned_bucket_names(s3, name):
    names = []
    arguments = dict(Prefix=name)
    while True:
        page = s3.list_buckets(aws_retry=True, **arguments)
        names.extend(bucket["Name"] for bucket in page.get("Buckets", []))
        if not page.get("ContinuationToken"):
            return names
        arguments["ContinuationToken"] = page["ContinuationToken"]


def _bucket_setting(s3, call, absent_code, name):
    """The answer of ``call`` without its metadata; {} when S3 answers ``absent_code`` (the setting is not there)."""
    try:
        answer = getattr(s3, call)(Bucket=name, aws_retry=True)
    except botocore.exceptions.ClientError as error:
        if absent_code and error.response.get("Error", {}).get("Code") == absent_code:
            return {}
        raise
    answer.pop("ResponseMetadata", None)
    return answer


def describe_bucket(s3, name):
    """(the bucket, or {} when the account does not own it; who owns the name)."""
    if name in _owned_bucket_names(s3, name):
        bucket = dict(name=name)
        for setting, call, absent_code in BUCKET_SETTINGS:
            bucket[setting] = _bucket_setting(s3, call, absent_code, name)
        bucket["bucket_tagging"] = boto3_tag_list_to_ansible_dict(bucket["bucket_tagging"].get("TagSet", []))
        return bucket, dict(status="in_account", head_bucket_code=None)
    # HeadBucket answers 404 for a free name; 403, or 200 when the bucket's policy lets the caller in, otherwise
    # (301 for a bucket of another Region, which the account would have listed were it its own).
    try:
        s3.head_bucket(Bucket=name, aws_retry=True)
        status = 200
    except botocore.exceptions.ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status not in (301, 403, 404):
            raise
    return {}, dict(status="free" if status == 404 else "taken", head_bucket_code=str(status))


def lookup(what, function, *arguments):
    """``function(*arguments)``; a botocore error becomes LookupFailed, which names ``what``."""
    try:
        return function(*arguments)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise LookupFailed(what, error)


# --- Plans ---------------------------------------------------------------------------------------------------------

PUBLIC_ACCESS_BLOCKED = dict(BlockPublicAcls=True, IgnorePublicAcls=True, BlockPublicPolicy=True, RestrictPublicBuckets=True)
OBJECT_OWNERSHIP = "BucketOwnerEnforced"


def plan(current, desired):
    """{setting: {"before", "after"}} for every setting of ``desired`` that ``current`` does not have; policies are
    compared as IAM reads them (order of statements and of lists, a string for a list of one)."""
    changes = {}
    for setting, wanted in desired.items():
        differs = compare_policies(current[setting], wanted) if setting == "policy" else current[setting] != wanted
        if differs:
            changes[setting] = dict(before=current[setting], after=wanted)
    return changes


def wanted_tags(current, tags, purge_tags):
    return dict(tags) if purge_tags else dict(current, **tags)


def key_settings(described):
    """The settings the store manages of a key as describe_kms_key gives it ({} when there is no key)."""
    if not described:
        return dict(exists=False, state="none", rotation=False, description="", policy={}, tags={})
    return dict(exists=True, state=described.get("key_state", "none"), rotation=bool(described.get("enable_key_rotation")),
                description=described.get("description") or "", policy=(described.get("key_policies") or [{}])[0],
                tags=described.get("tags") or {})


def desired_key_settings(description, policy, rotation, tags):
    return dict(exists=True, state="Enabled", rotation=rotation, description=description, policy=policy, tags=tags)


def _setting(described, name):
    return described.get(name) or {}


def lifecycle_rules(described):
    return _setting(described, "bucket_lifecycle_configuration").get("Rules") or []


def bucket_settings(described, lifecycle_rule_id):
    """The settings the store manages of a bucket as describe_bucket gives it ({} when there is no bucket)."""
    encryption = (_setting(described, "bucket_encryption").get("ServerSideEncryptionConfiguration", {}).get("Rules") or [{}])[0]
    by_default = encryption.get("ApplyServerSideEncryptionByDefault") or {}
    ownership = (_setting(described, "bucket_ownership_controls").get("OwnershipControls", {}).get("Rules") or [{}])[0]
    policy = _setting(described, "bucket_policy").get("Policy")
    return dict(
        exists=bool(described),
        versioning=_setting(described, "bucket_versioning").get("Status") or "Disabled",
        encryption=dict(algorithm=by_default.get("SSEAlgorithm", "none"), kms_key=by_default.get("KMSMasterKeyID", ""),
                        bucket_key=bool(encryption.get("BucketKeyEnabled", False))),
        public_access_block=dict(dict.fromkeys(PUBLIC_ACCESS_BLOCKED, False),
                                 **_setting(described, "public_access_block").get("PublicAccessBlockConfiguration", {})),
        object_ownership=ownership.get("ObjectOwnership", "none"),
        policy=json.loads(policy) if policy else {},
        tags=described.get("bucket_tagging") or {},
        lifecycle_rule=[rule for rule in lifecycle_rules(described) if rule.get("ID") == lifecycle_rule_id],
    )


def noncurrent_versions_rule(rule_id, prefix, days):
    """The lifecycle rule that expires noncurrent versions under ``prefix`` ([] for none)."""
    if days is None:
        return []
    return [dict(ID=rule_id, Filter=dict(Prefix=prefix), Status="Enabled", NoncurrentVersionExpiration=dict(NoncurrentDays=days))]


def desired_bucket_settings(current, versioning, kms_key_arn, policy, tags, lifecycle_rule):
    """``policy`` None keeps the bucket's policy. Versioning cannot be turned off once on, only suspended."""
    return dict(
        exists=True,
        versioning="Enabled" if versioning else "Suspended" if current["versioning"] == "Enabled" else current["versioning"],
        encryption=dict(algorithm="aws:kms", kms_key=kms_key_arn, bucket_key=True),
        public_access_block=dict(PUBLIC_ACCESS_BLOCKED),
        object_ownership=OBJECT_OWNERSHIP,
        policy=current["policy"] if policy is None else policy,
        tags=tags,
        lifecycle_rule=lifecycle_rule,
    )


# --- Applying a plan ---------------------------------------------------------------------------------------------


def _retag_key(kms, key_arn, before, after):
    removed = [key for key in before if key not in after]
    if removed:
        kms.untag_resource(KeyId=key_arn, TagKeys=removed, aws_retry=True)
    added = dict((key, value) for key, value in after.items() if before.get(key) != value)
    if added:
        kms.tag_resource(KeyId=key_arn, Tags=ansible_dict_to_boto3_tag_list(added, "TagKey", "TagValue"), aws_retry=True)


def apply_key_plan(kms, alias, key_arn, desired, changes):
    """Makes the key under ``alias`` (``key_arn``, '' when there is none) what ``desired`` says; returns its ARN."""
    if "exists" in changes:
        arguments = dict(Policy=json.dumps(desired["policy"]), Description=desired["description"],
                         KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")
        if desired["tags"]:
            arguments["Tags"] = ansible_dict_to_boto3_tag_list(desired["tags"], "TagKey", "TagValue")
        created = kms.create_key(aws_retry=True, **arguments)["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=created["KeyId"], aws_retry=True)
        if desired["rotation"]:
            kms.enable_key_rotation(KeyId=created["Arn"], aws_retry=True)
        return created["Arn"]
    if "state" in changes:
        # A key whose deletion is cancelled is disabled.
        if changes["state"]["before"] == "PendingDeletion":
            kms.cancel_key_deletion(KeyId=key_arn, aws_retry=True)
        kms.enable_key(KeyId=key_arn, aws_retry=True)
    if "description" in changes:
        kms.update_key_description(KeyId=key_arn, Description=desired["description"], aws_retry=True)
    if "policy" in changes:
        kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(desired["policy"]), aws_retry=True)
    if "rotation" in changes:
        if desired["rotation"]:
            kms.enable_key_rotation(KeyId=key_arn, aws_retry=True)
        else:
            kms.disable_key_rotation(KeyId=key_arn, aws_retry=True)
    if "tags" in changes:
        _retag_key(kms, key_arn, changes["tags"]["before"], desired["tags"])
    return key_arn


def _create_bucket(s3, name, region):
    arguments = dict(Bucket=name, ObjectOwnership=OBJECT_OWNERSHIP)
    # us-east-1 is the one Region S3 refuses as a location constraint.
    if region and region != "us-east-1":
        arguments["CreateBucketConfiguration"] = dict(LocationConstraint=region)
    s3.create_bucket(aws_retry=True, **arguments)
    s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig=dict(Delay=1, MaxAttempts=60))


def apply_bucket_plan(s3, name, region, current_rules, desired, changes):
    """Makes the bucket ``name`` what ``desired`` says, with one call for each setting in ``changes``.
    ``current_rules`` are the bucket's lifecycle rules, all of which but the store's own are kept."""
    if "exists" in changes:
        _create_bucket(s3, name, region)
        changes = dict((setting, change) for setting, change in changes.items() if setting != "object_ownership")
    if "public_access_block" in changes:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=desired["public_access_block"], aws_retry=True)
    if "object_ownership" in changes:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=dict(Rules=[dict(ObjectOwnership=OBJECT_OWNERSHIP)]),
                                         aws_retry=True)
    if "encryption" in changes:
        encryption = desired["encryption"]
        rule = dict(ApplyServerSideEncryptionByDefault=dict(SSEAlgorithm=encryption["algorithm"], KMSMasterKeyID=encryption["kms_key"]),
                    BucketKeyEnabled=encryption["bucket_key"])
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=dict(Rules=[rule]), aws_retry=True)
    if "versioning" in changes:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=dict(Status=desired["versioning"]), aws_retry=True)
    if "policy" in changes:
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(desired["policy"]), aws_retry=True)
    if "tags" in changes:
        if desired["tags"]:
            s3.put_bucket_tagging(Bucket=name, Tagging=dict(TagSet=ansible_dict_to_boto3_tag_list(desired["tags"])), aws_retry=True)
        else:
            s3.delete_bucket_tagging(Bucket=name, aws_retry=True)
    if "lifecycle_rule" in changes:
        rule_ids = set(rule["ID"] for rule in changes["lifecycle_rule"]["before"] + desired["lifecycle_rule"])
        rules = [rule for rule in current_rules if rule.get("ID") not in rule_ids] + desired["lifecycle_rule"]
        if rules:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration=dict(Rules=rules), aws_retry=True)
        else:
            s3.delete_bucket_lifecycle(Bucket=name, aws_retry=True)
