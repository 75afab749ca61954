"""mlops.mlflow.s3_artifact_store_info run by ansible-playbook against the proving ground.

The property under test is agreement: in one run the module returns what amazon.aws.aws_caller_info,
kms_key_info, s3_bucket_info and a HeadBucket give in four, in the same shapes, so that a role can swap them.
"""

from __future__ import annotations

import json

import boto3
import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.s3_artifact_store_info"
BUCKET = "mlflow-lookup-artifacts"
ALIAS = "alias/mlflow-lookup-artifacts"
FACTS = ["bucket_encryption", "bucket_lifecycle_configuration", "bucket_ownership_controls", "bucket_policy",
         "bucket_tagging", "bucket_versioning", "public_access_block"]


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False):
        start = aws.control.last_request_id()
        run = run_tasks(tmp_path, aws.child_environment(), tasks, check=check)
        run.requests = [(entry["service"], entry["operation"]) for entry in aws.control.requests(since=start)]
        run.mutations = [(entry["service"], entry["operation"]) for entry in aws.control.mutating_requests(since=start)]
        return run
    return tasks


def lookup(check_mode=None, **options):
    task = {MODULE: options}
    if check_mode is not None:
        task["check_mode"] = check_mode
    return task


def collection_modules(bucket, **kms):
    return [{"amazon.aws.aws_caller_info": {}},
            {"amazon.aws.kms_key_info": kms},
            {"amazon.aws.s3_bucket_info": {"name": bucket, "bucket_facts": {fact: True for fact in FACTS}}}]


def create_bucket(aws, s3):
    """CreateBucket as the Region wants it (us-east-1 takes no location constraint)."""
    where = {} if aws.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    s3.create_bucket(Bucket=BUCKET, **where)


def make_store(aws):
    kms, s3 = aws.client("kms"), aws.client("s3")
    key = kms.create_key(Description="Encrypts the MLflow artifact store", Tags=[{"TagKey": "app", "TagValue": "mlflow"}])
    key_arn = key["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=ALIAS, TargetKeyId=key_arn)
    kms.enable_key_rotation(KeyId=key_arn)
    create_bucket(aws, s3)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}, "BucketKeyEnabled": True}]})
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "app", "Value": "mlflow"}]})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    return key_arn


def test_a_store_is_described_as_the_collection_modules_describe_it(aws, play):
    key_arn = make_store(aws)
    run = play([lookup(bucket=BUCKET, kms_key_alias=ALIAS), lookup(bucket=BUCKET, kms_key_id=key_arn)]
               + collection_modules(BUCKET, alias=ALIAS))
    assert run.rc == 0, run.output
    mine, by_arn, caller, kms_info, s3_info = run.results
    assert mine["changed"] is False
    assert mine["account"] == {"account_id": caller["account"], "partition": caller["arn"].split(":")[1]}
    assert by_arn["account"] == mine["account"]
    expected_key = {field: value for field, value in kms_info["kms_keys"][0].items() if field != "grants"}
    assert mine["kms_key"] == expected_key
    assert mine["kms_key"]["aliases"] == ["mlflow-lookup-artifacts"] and mine["kms_key"]["enable_key_rotation"] is True
    assert by_arn["kms_key"] == mine["kms_key"]
    described = {field: value for field, value in s3_info["buckets"][0].items() if field in FACTS + ["name"]}
    assert mine["bucket"] == described
    assert mine["bucket"]["bucket_tagging"] == {"app": "mlflow"}
    assert mine["bucket_name"] == {"status": "in_account", "head_bucket_code": None}


def test_a_bucket_without_settings_has_empty_ones_like_s3_bucket_info(aws, play):
    create_bucket(aws, aws.client("s3"))
    run = play([lookup(bucket=BUCKET)] + collection_modules(BUCKET)[2:])
    assert run.rc == 0, run.output
    mine, s3_info = run.results
    assert mine["kms_key"] == {}
    described = {field: value for field, value in s3_info["buckets"][0].items() if field in FACTS + ["name"]}
    assert mine["bucket"] == described


def test_a_new_store_finds_nothing_and_a_free_name(aws, play):
    run = play([lookup(bucket=BUCKET, kms_key_alias="mlflow-lookup-artifacts"), lookup(kms_key_id=ALIAS, check_mode=True)])
    assert run.rc == 0, run.output
    assert run.results[0]["kms_key"] == {} and run.results[0]["bucket"] == {}
    assert run.results[0]["bucket_name"] == {"status": "free", "head_bucket_code": "404"}
    assert "bucket_name" not in run.results[1]
    assert run.mutations == []


def test_a_name_another_account_owns_is_taken(aws, play):
    credentials = aws.client("sts").assume_role(RoleArn="arn:aws:iam::111111111111:role/other",
                                                RoleSessionName="other-account")["Credentials"]
    other = boto3.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                          aws_session_token=credentials["SessionToken"], region_name=aws.region)
    create_bucket(aws, other.client("s3", endpoint_url=aws.endpoint))
    run = play([lookup(bucket=BUCKET)])
    assert run.rc == 0, run.output
    assert run.results[0]["bucket"] == {}
    assert run.results[0]["bucket_name"]["status"] == "taken"
    assert run.results[0]["bucket_name"]["head_bucket_code"] in ("200", "403")


def test_both_ways_of_naming_a_key_at_once_fail_before_any_call(aws, play):
    run = play([lookup(kms_key_id=ALIAS, kms_key_alias=ALIAS)])
    assert run.rc != 0
    assert "mutually exclusive" in run.output
    assert run.requests == []
