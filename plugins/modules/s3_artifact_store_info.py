#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: s3_artifact_store_info
version_added: 0.1.0
short_description: Describe an S3 bucket, the KMS key meant to encrypt it and the caller's account, in one run
description:
  - Tells, in one module run, what a role needs to know before it creates or updates an S3 artifact store. It returns
    the account and partition of the caller, the KMS key named by O(kms_key_id) or O(kms_key_alias) (as M(amazon.aws.kms_key_info) describes a
    key), the bucket named by O(bucket) if the caller's account owns it (with the settings M(amazon.aws.s3_bucket_info)
    gives as C(bucket_facts)), and otherwise whether the bucket name is free or taken by another account.
  - This module exists because amazon.aws spreads these lookups over four modules (M(amazon.aws.aws_caller_info),
    M(amazon.aws.kms_key_info), M(amazon.aws.s3_bucket_info) and, for a name another account owns, a HeadBucket through
    M(amazon.aws.s3_object_info)). Each module run costs about a second before its first call (the module's start-up,
    boto3's import, the service model). This module makes the same calls in one run, KMS and S3 side by side.
  - Unlike M(amazon.aws.s3_bucket_info), an error other than "not configured" (for example C(AccessDenied) on the
    bucket policy) fails the module. Read as "no policy", it would make the caller replace the bucket's policy.
  - The module changes nothing, and works the same in check mode.
options:
  bucket:
    description:
      - The name of the bucket to describe.
      - When omitted, the result has no bucket.
    type: str
  kms_key_id:
    description:
      - The KMS key to describe, by key ID, key ARN, alias name (with its C(alias/) prefix) or alias ARN.
      - Mutually exclusive with O(kms_key_alias). When both are omitted, the result has no key.
    type: str
  kms_key_alias:
    description:
      - The alias of the KMS key to describe, with or without its C(alias/) prefix.
      - Mutually exclusive with O(kms_key_id).
    type: str
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Describe the artifact bucket, its KMS key and the account
  mlops.mlflow.s3_artifact_store_info:
    bucket: mlflow-prod-artifacts
    kms_key_alias: alias/mlflow-prod-artifacts
  register: store

- name: Refuse a bucket name that another account owns
  ansible.builtin.assert:
    that: store.bucket_name.status != 'taken'
    fail_msg: The bucket name mlflow-prod-artifacts belongs to another account.

- name: Name the account's root principal in a key policy
  ansible.builtin.set_fact:
    root_principal: "arn:{{ store.account.partition }}:iam::{{ store.account.account_id }}:root"

- name: Show whether the key rotates
  ansible.builtin.debug:
    msg: "{{ store.kms_key.enable_key_rotation | default('no key') }}"
"""

RETURN = r"""
account:
  description:
    - The caller's account.
    - It comes from the ARN of a key found through O(kms_key_alias) (an alias names a key of the caller's account), and
      otherwise from STS.
  returned: always
  type: dict
  contains:
    account_id:
      description: The account ID.
      type: str
      sample: "123456789012"
    partition:
      description: The partition of the account.
      type: str
      sample: aws
kms_key:
  description:
    - The key O(kms_key_id) or O(kms_key_alias) names, with the fields M(amazon.aws.kms_key_info) gives a key (its grants excepted).
    - Empty when both are omitted, when no key has that name, or when the caller may not describe it.
  returned: always
  type: dict
  contains:
    key_arn:
      description: The ARN of the key.
      type: str
      sample: arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-1a2b-1a2b-1a2b-1a2b3c4d5e6f
    key_id:
      description: The ID of the key.
      type: str
      sample: 1a2b3c4d-1a2b-1a2b-1a2b-1a2b3c4d5e6f
    key_state:
      description: The state of the key.
      type: str
      sample: Enabled
    key_usage:
      description: What the key is for.
      type: str
      sample: ENCRYPT_DECRYPT
    key_spec:
      description: The type of the key.
      type: str
      sample: SYMMETRIC_DEFAULT
    description:
      description: The description of the key.
      type: str
      sample: Encrypts the MLflow artifact store
    enable_key_rotation:
      description: Whether the key rotates every year; null when the caller may not read it or the key cannot rotate.
      type: bool
      sample: true
    aliases:
      description: The aliases of the key, without their C(alias/) prefix (those of the caller's account only).
      type: list
      elements: str
      sample: [mlflow-prod-artifacts]
    tags:
      description: The tags of the key; empty when the caller may not read them.
      type: dict
      sample: {application: mlflow}
    key_policies:
      description: The key policy; empty when the caller may not read it.
      type: list
      elements: dict
bucket:
  description:
    - The bucket O(bucket) names, when the caller's account owns it, with the settings M(amazon.aws.s3_bucket_info) gives
      in C(bucket_facts). A setting the bucket does not have is an empty dictionary.
    - Empty when O(bucket) is omitted or the caller's account does not own such a bucket.
  returned: always
  type: dict
  contains:
    name:
      description: The name of the bucket.
      type: str
      sample: mlflow-prod-artifacts
    bucket_encryption:
      description: The answer of GetBucketEncryption.
      type: dict
    bucket_lifecycle_configuration:
      description: The answer of GetBucketLifecycleConfiguration.
      type: dict
    bucket_ownership_controls:
      description: The answer of GetBucketOwnershipControls.
      type: dict
    bucket_policy:
      description: The answer of GetBucketPolicy (the policy is a JSON string in C(Policy)).
      type: dict
    bucket_tagging:
      description: The tags of the bucket.
      type: dict
      sample: {application: mlflow}
    bucket_versioning:
      description: The answer of GetBucketVersioning.
      type: dict
      sample: {Status: Enabled}
    public_access_block:
      description: The answer of GetPublicAccessBlock.
      type: dict
bucket_name:
  description: Who owns the name O(bucket) (S3 bucket names are global).
  returned: when O(bucket) is given
  type: dict
  contains:
    status:
      description:
        - V(in_account) when the caller's account owns the bucket; V(free) when no bucket has the name (HeadBucket
          answered 404); V(taken) when another account owns it.
      type: str
      sample: free
    head_bucket_code:
      description: What HeadBucket answered (V(200), V(403), V(404)); null when the caller's account owns the bucket.
      type: str
      sample: "404"
"""

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mlops.mlflow.plugins.module_utils.aws_clients import SharedClients
from ansible_collections.mlops.mlflow.plugins.module_utils.drift_kms_secrets_logs import canonical_alias
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import LookupFailed
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import describe_bucket
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import describe_key_and_account
from ansible_collections.mlops.mlflow.plugins.module_utils.s3_artifact_store import lookup


def main():
    argument_spec = dict(
        bucket=dict(type="str"),
        kms_key_id=dict(type="str", no_log=False),
        kms_key_alias=dict(type="str", no_log=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              mutually_exclusive=[("kms_key_id", "kms_key_alias")])
    clients = SharedClients(module)
    bucket, key_id, alias = module.params["bucket"], module.params["kms_key_id"], module.params["kms_key_alias"]
    alias = canonical_alias(alias) if alias else None
    # One thread per lookup, so that the calls to one client keep their order.
    with ThreadPoolExecutor(max_workers=2) as pool:
        what = "the KMS key {0} or the account".format(key_id or alias) if key_id or alias else "the caller's account"
        key_and_account = pool.submit(lookup, what, describe_key_and_account, clients, key_id, alias, module.warn)
        described = pool.submit(lookup, "the bucket {0}".format(bucket), describe_bucket, clients("s3"), bucket) if bucket else None
        try:
            kms_key, account = key_and_account.result()
            result = dict(changed=False, account=account, kms_key=kms_key, bucket={})
            if described:
                result["bucket"], result["bucket_name"] = described.result()
        except LookupFailed as failure:
            module.fail_json_aws(failure.error, msg="Could not describe {0}".format(failure.what))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
