#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: s3_artifact_store
version_added: 0.1.0
short_description: Create or update a private S3 bucket and the KMS key that encrypts it, in one run
description:
  - Makes an S3 bucket and, optionally, the KMS key that encrypts it what an MLflow artifact store needs, in one module
    run. The bucket blocks every kind of public access, enforces bucket-owner object ownership (no ACLs) and encrypts
    new objects with SSE-KMS and an S3 bucket key. Versioning, the bucket policy, a lifecycle rule for noncurrent
    versions and tags are set as asked.
  - The module describes the key and the bucket first, then makes only the calls that the settings which differ need.
    A run that would change nothing makes no change call. In check mode it makes no change call at all and
    reports what would change, setting by setting, in RV(changes); diff mode returns the same as before and after.
  - This module exists because the same work takes M(amazon.aws.kms_key), M(amazon.aws.s3_bucket) and, for the
    lifecycle rule, M(community.aws.s3_lifecycle) twice. Each module run costs about a second before its first call
    (the module's start-up, boto3's import, the service models). M(amazon.aws.s3_bucket) and
    M(community.aws.s3_lifecycle) have no check mode, and M(community.aws.s3_lifecycle) keeps a rule whose filter
    changed (it compares the rule without it).
  - The module never deletes a bucket or a key. Remove them with M(amazon.aws.s3_bucket) and M(amazon.aws.kms_key)
    and O(amazon.aws.kms_key#module:state=absent).
options:
  bucket:
    description:
      - The name of the bucket. It is created in the module's Region when it does not exist.
    type: str
    required: true
  kms_key:
    description:
      - The KMS key the store manages, found by its alias. It is created when the alias names no key, as a symmetric
        C(ENCRYPT_DECRYPT) key. An existing key is enabled (its deletion cancelled if it was scheduled) and given the
        description, the key policy, the rotation and the tags asked for.
      - The bucket's default encryption uses this key.
      - Mutually exclusive with O(kms_key_id); one of them is required.
    type: dict
    suboptions:
      alias:
        description:
          - The alias of the key, with or without its C(alias/) prefix.
        type: str
        required: true
      description:
        description:
          - The description of the key.
        type: str
        default: ""
      policy:
        description:
          - The key policy, a JSON document or a dict.
          - Leave out of the policy nobody who must administer the key; KMS refuses a policy that locks the caller
            out.
        type: json
        required: true
      enable_key_rotation:
        description:
          - Whether KMS rotates the key material every year.
        type: bool
        default: true
  kms_key_id:
    description:
      - The ARN of a KMS key that the store does not manage, which the bucket's default encryption uses.
      - The module does not change this key.
    type: str
  versioning:
    description:
      - Whether the bucket keeps every version of an object.
      - V(false) suspends versioning on a bucket that has it; S3 cannot turn it off.
    type: bool
    default: true
  policy:
    description:
      - The bucket policy, a JSON document or a dict. It replaces the bucket's policy when the two differ.
      - When omitted, the bucket's policy is left as it is.
    type: json
  noncurrent_version_expiration_days:
    description:
      - The number of days after which S3 deletes an object version that is no longer current. Current versions are
        never deleted.
      - When omitted, the rule O(lifecycle_rule_id) is removed if the bucket has it. Other lifecycle rules are kept.
    type: int
  noncurrent_version_prefix:
    description:
      - The prefix whose noncurrent versions expire (the whole bucket when empty).
    type: str
    default: ""
  lifecycle_rule_id:
    description:
      - The ID of the lifecycle rule that expires noncurrent versions.
    type: str
    default: mlflow-artifact-store-noncurrent-versions
  purge_tags:
    description:
      - Whether tags of the key and the bucket that O(tags) does not name are removed.
    type: bool
    default: true
notes:
  - O(tags) applies to the bucket and to the key the store manages.
  - The module makes no change call in check mode.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Create the artifact store of MLflow with a key of its own
  mlops.mlflow.s3_artifact_store:
    bucket: acme-prod-mlflow-artifacts
    kms_key:
      alias: alias/acme-prod-mlflow-artifacts
      description: Encrypts the MLflow artifact store s3://acme-prod-mlflow-artifacts
      policy:
        Version: "2012-10-17"
        Statement:
          - Sid: EnableIamPoliciesOfTheAccount
            Effect: Allow
            Principal: {AWS: "arn:aws:iam::123456789012:root"}
            Action: "kms:*"
            Resource: "*"
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: DenyInsecureTransport
          Effect: Deny
          Principal: "*"
          Action: "s3:*"
          Resource: ["arn:aws:s3:::acme-prod-mlflow-artifacts", "arn:aws:s3:::acme-prod-mlflow-artifacts/*"]
          Condition: {Bool: {"aws:SecureTransport": "false"}}
    noncurrent_version_expiration_days: 90
    noncurrent_version_prefix: mlflow/
    tags:
      team: ml-platform
    region: eu-west-1
  register: store

- name: Use a key of the security team for a second store
  mlops.mlflow.s3_artifact_store:
    bucket: acme-dev-mlflow-artifacts
    kms_key_id: arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    versioning: false
    region: eu-west-1
"""

RETURN = r"""
bucket:
  description: The bucket.
  returned: always
  type: dict
  contains:
    name:
      description: The name of the bucket.
      type: str
      sample: acme-prod-mlflow-artifacts
    created:
      description: Whether this run created the bucket (in check mode, would create it).
      type: bool
      sample: true
kms_key:
  description: The key that encrypts the bucket.
  returned: always
  type: dict
  contains:
    key_arn:
      description: The ARN of the key; empty in check mode when the key does not exist yet.
      type: str
      sample: arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    alias:
      description: The alias of the key the store manages; empty for O(kms_key_id).
      type: str
      sample: alias/acme-prod-mlflow-artifacts
    managed:
      description: Whether the store manages the key (O(kms_key)).
      type: bool
      sample: true
    created:
      description: Whether this run created the key (in check mode, would create it).
      type: bool
      sample: true
changes:
  description:
    - What changed (in check mode, what would change), setting by setting, with the value before and after.
    - The settings of the key are C(exists), C(state), C(rotation), C(description), C(policy) and C(tags); those of
      the bucket C(exists), C(versioning), C(encryption), C(public_access_block), C(object_ownership), C(policy),
      C(tags) and C(lifecycle_rule).
  returned: always
  type: dict
  contains:
    kms_key:
      description: The settings of the key that differ; empty for O(kms_key_id).
      type: dict
      sample: {"rotation": {"before": false, "after": true}}
    bucket:
      description: The settings of the bucket that differ.
      type: dict
      sample: {"versioning": {"before": "Disabled", "after": "Enabled"}}
"""

import json

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.mlops.mlflow.plugins.module_utils.aws_clients import RETRY_CODES
from ansible_collections.mlops.mlflow.plugins.module_utils.drift_kms_secrets_logs import canonical_alias
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import LookupFailed
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import apply_bucket_plan
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import apply_key_plan
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import bucket_settings
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import describe_bucket
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import describe_kms_key
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import desired_bucket_settings
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import desired_key_settings
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import key_settings
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import lifecycle_rules
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import lookup
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import noncurrent_versions_rule
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import plan
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import wanted_tags

ARGUMENT_SPEC = dict(
    bucket=dict(type="str", required=True),
    kms_key=dict(type="dict", no_log=False, options=dict(
        alias=dict(type="str", required=True),
        description=dict(type="str", default=""),
        policy=dict(type="json", required=True),
        enable_key_rotation=dict(type="bool", default=True),
    )),
    kms_key_id=dict(type="str", no_log=False),
    versioning=dict(type="bool", default=True),
    policy=dict(type="json"),
    noncurrent_version_expiration_days=dict(type="int"),
    noncurrent_version_prefix=dict(type="str", default=""),
    lifecycle_rule_id=dict(type="str", default="mlflow-artifact-store-noncurrent-versions"),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
)

# S3 may answer NoSuchBucket for a moment after CreateBucket, and OperationAborted while a change is under way.
S3_RETRY = AWSRetry.jittered_backoff(catch_extra_error_codes=["NoSuchBucket", "OperationAborted"])
KMS_RETRY = AWSRetry.jittered_backoff(catch_extra_error_codes=RETRY_CODES)


def _json(module, name, value):
    try:
        return json.loads(value) if value is not None else None
    except ValueError as error:
        module.fail_json(msg="{0} is not a JSON document: {1}".format(name, error))


def _check_key(module, described, alias):
    if described and (described.get("key_usage") != "ENCRYPT_DECRYPT" or described.get("key_spec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"):
        module.fail_json(msg="The alias {0} names the key {1} ({2}, {3}), which cannot encrypt S3 objects. Choose an unused "
                             "alias.".format(alias, described["key_arn"], described.get("key_spec"), described.get("key_usage")))


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                              mutually_exclusive=[("kms_key", "kms_key_id")], required_one_of=[("kms_key", "kms_key_id")])
    params = module.params
    managed = params["kms_key"]
    alias = canonical_alias(managed["alias"]) if managed else ""
    kms = module.client("kms", retry_decorator=KMS_RETRY) if managed else None
    s3 = module.client("s3", retry_decorator=S3_RETRY)

    def desired_tags(current):
        """Tags left out leave the tags as they are, as in amazon.aws."""
        if params["tags"] is None:
            return current
        return wanted_tags(current, params["tags"], params["purge_tags"])

    try:
        described_key = lookup("the KMS key {0}".format(alias), describe_kms_key, kms, alias, module.warn) if managed else {}
        described_bucket, name_owner = lookup("the bucket {0}".format(params["bucket"]), describe_bucket, s3, params["bucket"])
    except LookupFailed as failure:
        module.fail_json_aws(failure.error, msg="Could not describe {0}".format(failure.what))
    if name_owner["status"] == "taken":
        module.fail_json(msg="The bucket name {0} is taken by another account (HeadBucket answered {1}): S3 bucket names are "
                             "global. Choose another name.".format(params["bucket"], name_owner["head_bucket_code"]))
    _check_key(module, described_key, alias)
    key_policy, bucket_policy = _json(module, "kms_key.policy", managed and managed["policy"]), _json(module, "policy", params["policy"])

    try:
        key_changes, key_arn = {}, params["kms_key_id"]
        if managed:
            current_key = key_settings(described_key)
            desired_key = desired_key_settings(managed["description"], key_policy, managed["enable_key_rotation"],
                                               desired_tags(current_key["tags"]))
            key_changes, key_arn = plan(current_key, desired_key), described_key.get("key_arn", "")
            if key_changes and not module.check_mode:
                key_arn = apply_key_plan(kms, alias, key_arn, desired_key, key_changes)

        current_bucket = bucket_settings(described_bucket, params["lifecycle_rule_id"])
        lifecycle_rule = noncurrent_versions_rule(params["lifecycle_rule_id"], params["noncurrent_version_prefix"],
                                                  params["noncurrent_version_expiration_days"])
        desired_bucket = desired_bucket_settings(current_bucket, params["versioning"], key_arn or "the key {0} this run creates".format(alias),
                                                 bucket_policy, desired_tags(current_bucket["tags"]), lifecycle_rule)
        bucket_changes = plan(current_bucket, desired_bucket)
        if bucket_changes and not module.check_mode:
            apply_bucket_plan(s3, params["bucket"], module.region, lifecycle_rules(described_bucket), desired_bucket, bucket_changes)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, botocore.exceptions.WaiterError) as error:
        module.fail_json_aws(error, msg="Could not update the artifact store {0}".format(params["bucket"]))

    result = dict(
        changed=bool(key_changes or bucket_changes),
        bucket=dict(name=params["bucket"], created="exists" in bucket_changes),
        kms_key=dict(key_arn=key_arn, alias=alias, managed=bool(managed), created="exists" in key_changes),
        changes=dict(kms_key=key_changes, bucket=bucket_changes),
    )
    if module._diff:
        result["diff"] = dict((side, dict(kms_key=dict((setting, change[side]) for setting, change in key_changes.items()),
                                          bucket=dict((setting, change[side]) for setting, change in bucket_changes.items())))
                              for side in ("before", "after"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
