"""mlops.mlflow.s3_artifact_store run by ansible-playbook against the proving ground.

What S3 and KMS hold after each run is read back through boto3; what the module asked of them, through the
proving ground's request log (a run with nothing to do makes no change call, check mode none at all).
"""

from __future__ import annotations

import json

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.s3_artifact_store"
BUCKET = "mlflow-store-artifacts"
ALIAS = "alias/mlflow-store-artifacts"
RULE_ID = "mlflow-artifact-store-noncurrent-versions"


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        start = aws.control.last_request_id()
        run = run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
        run.mutations = [(entry["service"], entry["operation"]) for entry in aws.control.mutating_requests(since=start)]
        return run
    return tasks


def key_policy(aws):
    account = aws.client("sts").get_caller_identity()["Account"]
    return {"Version": "2012-10-17", "Statement": [{"Sid": "Account", "Effect": "Allow", "Action": "kms:*", "Resource": "*",
                                                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}


def bucket_policy():
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def store(aws, **overrides):
    options = {"bucket": BUCKET, "kms_key": {"alias": ALIAS, "description": "artifacts", "policy": key_policy(aws)},
               "policy": bucket_policy(), "noncurrent_version_expiration_days": 30, "noncurrent_version_prefix": "mlflow/",
               "tags": {"team": "ml"}}
    options.update(overrides)
    return {MODULE: {key: value for key, value in options.items() if value is not None}, "register": "store"}


def show():
    return {"ansible.builtin.debug": {"var": "store"}}


def result_of(run):
    return run.results[-1]["store"]


def test_creates_the_key_and_the_bucket_then_changes_nothing(aws, play):
    first = play([store(aws), show()], diff=True)
    assert first.rc == 0, first.output
    created = result_of(first)
    assert created["changed"] and created["bucket"]["created"] and created["kms_key"]["created"]
    key_arn = created["kms_key"]["key_arn"]
    kms, s3 = aws.client("kms"), aws.client("s3")
    assert kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["Arn"] == key_arn
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    by_default = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert by_default["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"][0]["Sid"] == "DenyInsecureTransport"
    assert [rule["ID"] for rule in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]] == [RULE_ID]
    assert s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"] == [{"Key": "team", "Value": "ml"}]

    again = play([store(aws), show()])
    assert again.rc == 0, again.output
    assert result_of(again)["changed"] is False
    assert result_of(again)["kms_key"]["key_arn"] == key_arn
    assert again.mutations == []


def test_check_mode_reports_the_changes_and_makes_none(aws, play):
    fresh = play([store(aws), show()], check=True)
    assert fresh.rc == 0, fresh.output
    assert result_of(fresh)["changed"] and result_of(fresh)["kms_key"]["key_arn"] == ""
    assert fresh.mutations == []

    assert play([store(aws)]).rc == 0
    changed = play([store(aws, versioning=False, noncurrent_version_expiration_days=None), show()], check=True)
    assert changed.rc == 0, changed.output
    assert sorted(result_of(changed)["changes"]["bucket"]) == ["lifecycle_rule", "versioning"]
    assert result_of(changed)["changes"]["kms_key"] == {}
    assert changed.mutations == []

    applied = play([store(aws, versioning=False, noncurrent_version_expiration_days=None)])
    assert applied.rc == 0, applied.output
    assert sorted(operation for dummy, operation in applied.mutations) in (
        ["DeleteBucketLifecycle", "PutBucketVersioning"], ["DeleteBucketLifecycleConfiguration", "PutBucketVersioning"])
    assert aws.client("s3").get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"


def test_a_key_scheduled_for_deletion_comes_back(aws, play):
    assert play([store(aws)]).rc == 0
    kms = aws.client("kms")
    kms.schedule_key_deletion(KeyId=kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["Arn"], PendingWindowInDays=7)
    back = play([store(aws), show()])
    assert back.rc == 0, back.output
    assert sorted(result_of(back)["changes"]["kms_key"]) == ["state"]
    assert kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyState"] == "Enabled"
