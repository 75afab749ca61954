"""mlops.mlflow.s3_artifact_store_info: what it returns for each answer AWS may give, and which errors fail it."""

import json

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import s3_artifact_store_info as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

run = harness.runner(module, harness.AWS_ARGS)
ACCOUNT = "123456789012"
CALLER = f"arn:aws-cn:iam::{ACCOUNT}:user/ops"
KEY_ID = "1a2b3c4d-1a2b-1a2b-1a2b-1a2b3c4d5e6f"
KEY_ARN = f"arn:aws-cn:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}
BUCKET = "mlflow-artifacts"


@pytest.fixture
def aws(monkeypatch):
    yield from harness.active_stubs(monkeypatch, "sts", "kms", "s3")


def caller(aws):
    aws["sts"].add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": CALLER, "UserId": "AIDA0000"})


def client_error(stubber, operation, code, status=400):
    stubber.add_client_error(operation, service_error_code=code, http_status_code=status)


def key_found(kms, rotation=None, tags_pages=1):
    kms.add_response("describe_key", {"KeyMetadata": {"KeyId": KEY_ID, "Arn": KEY_ARN, "KeyState": "Enabled",
                                                      "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
                                                      "Description": "artifacts"}},
                     {"KeyId": "alias/mlflow-artifacts"})
    kms.add_response("list_aliases", {"Aliases": [{"AliasName": "alias/mlflow-artifacts", "TargetKeyId": KEY_ID}],
                                      "Truncated": False}, {"KeyId": KEY_ID})
    if rotation is None:
        client_error(kms, "get_key_rotation_status", "AccessDeniedException")
    else:
        kms.add_response("get_key_rotation_status", {"KeyRotationEnabled": rotation}, {"KeyId": KEY_ARN})
    for page in range(tags_pages):
        last = page == tags_pages - 1
        answer = {"Tags": [{"TagKey": f"tag{page}", "TagValue": "x"}], "Truncated": not last}
        if not last:
            answer["NextMarker"] = f"marker{page + 1}"
        kms.add_response("list_resource_tags", answer, dict({"KeyId": KEY_ARN}, **({"Marker": f"marker{page}"} if page else {})))
    kms.add_response("get_key_policy", {"Policy": json.dumps(POLICY)}, {"KeyId": KEY_ARN, "PolicyName": "default"})


def bucket_listed(s3, names):
    s3.add_response("list_buckets", {"Buckets": [{"Name": name} for name in names]}, {"Prefix": BUCKET})


def test_the_account_and_partition_come_from_sts(aws):
    caller(aws)
    outcome = run({})
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result == dict(changed=False, account={"account_id": ACCOUNT, "partition": "aws-cn"}, kms_key={}, bucket={})


def test_a_key_is_described_by_its_alias_with_every_page_of_tags_and_names_the_account(aws):
    key_found(aws["kms"], rotation=True, tags_pages=2)
    outcome = run({"kms_key_alias": "mlflow-artifacts"})
    # An alias names a key of the caller's account: no STS call (the Stubber of STS has no answer queued).
    assert outcome.result["account"] == {"account_id": ACCOUNT, "partition": "aws-cn"}
    assert aws["kms"].created == ["kms"]
    key = outcome.result["kms_key"]
    assert key["key_arn"] == KEY_ARN and key["key_state"] == "Enabled" and key["key_spec"] == "SYMMETRIC_DEFAULT"
    assert key["aliases"] == ["mlflow-artifacts"]
    assert key["enable_key_rotation"] is True
    assert key["tags"] == {"tag0": "x", "tag1": "x"}
    assert key["key_policies"] == [POLICY]


def test_a_key_given_by_id_may_be_of_another_account_so_sts_names_the_caller(aws):
    key_found(aws["kms"])
    caller(aws)
    outcome = run({"kms_key_id": "alias/mlflow-artifacts"})
    assert outcome.result["kms_key"]["enable_key_rotation"] is None  # the caller may not read it
    assert aws["kms"].created == ["kms", "sts"]


def test_an_unknown_key_is_empty_and_a_denied_one_warns(aws):
    client_error(aws["kms"], "describe_key", "NotFoundException")
    caller(aws)
    assert run({"kms_key_alias": "mlflow-artifacts"}).result["kms_key"] == {}
    client_error(aws["kms"], "describe_key", "AccessDeniedException")
    caller(aws)
    outcome = run({"kms_key_id": KEY_ID})
    assert outcome.result["kms_key"] == {}
    assert aws["kms"].warnings == [f"Permission denied describing the KMS key {KEY_ID}"]


def test_a_bucket_of_the_account_has_its_settings_and_absent_ones_are_empty(aws):
    caller(aws)
    s3 = aws["s3"]
    bucket_listed(s3, [BUCKET, BUCKET + "-old"])
    client_error(s3, "get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError", 404)
    client_error(s3, "get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration", 404)
    s3.add_response("get_bucket_ownership_controls", {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}})
    client_error(s3, "get_bucket_policy", "NoSuchBucketPolicy", 404)
    client_error(s3, "get_bucket_tagging", "NoSuchTagSet", 404)
    s3.add_response("get_bucket_versioning", {})
    client_error(s3, "get_public_access_block", "NoSuchPublicAccessBlockConfiguration", 404)
    outcome = run({"bucket": BUCKET})
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["bucket"] == {
        "name": BUCKET, "bucket_encryption": {}, "bucket_lifecycle_configuration": {},
        "bucket_ownership_controls": {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}},
        "bucket_policy": {}, "bucket_tagging": {}, "bucket_versioning": {}, "public_access_block": {}}
    assert outcome.result["bucket_name"] == {"status": "in_account", "head_bucket_code": None}


def test_a_setting_the_caller_may_not_read_fails_rather_than_read_as_absent(aws):
    caller(aws)
    s3 = aws["s3"]
    bucket_listed(s3, [BUCKET])
    s3.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": []}})
    s3.add_response("get_bucket_lifecycle_configuration", {"Rules": []})
    s3.add_response("get_bucket_ownership_controls", {"OwnershipControls": {"Rules": []}})
    client_error(s3, "get_bucket_policy", "AccessDenied", 403)
    outcome = run({"bucket": BUCKET})
    assert outcome.failed
    assert outcome.result["msg"].startswith(f"Could not describe the bucket {BUCKET}")


@pytest.mark.parametrize("status, expected", [(404, "free"), (403, "taken"), (301, "taken")])
def test_a_name_the_account_does_not_own_is_free_or_taken(aws, status, expected):
    caller(aws)
    bucket_listed(aws["s3"], [BUCKET + "-other"])
    client_error(aws["s3"], "head_bucket", str(status), status)
    outcome = run({"bucket": BUCKET})
    assert outcome.result["bucket"] == {}
    assert outcome.result["bucket_name"] == {"status": expected, "head_bucket_code": str(status)}


def test_a_name_whose_bucket_lets_the_caller_in_is_taken(aws):
    caller(aws)
    bucket_listed(aws["s3"], [])
    aws["s3"].add_response("head_bucket", {}, {"Bucket": BUCKET})
    assert run({"bucket": BUCKET}).result["bucket_name"] == {"status": "taken", "head_bucket_code": "200"}


def test_another_head_bucket_error_fails(aws):
    caller(aws)
    bucket_listed(aws["s3"], [])
    client_error(aws["s3"], "head_bucket", "500", 500)
    outcome = run({"bucket": BUCKET})
    assert outcome.failed and f"Could not describe the bucket {BUCKET}" in outcome.result["msg"]
