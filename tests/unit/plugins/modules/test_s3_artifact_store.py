"""mlops.mlflow.s3_artifact_store: the calls it makes for each state of the key and the bucket, and the ones it
never makes (check mode, a store already as asked, a bucket name another account owns)."""

import json

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import s3_artifact_store as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

run = harness.runner(module, harness.AWS_ARGS)
ACCOUNT = "123456789012"
KEY_ID = "1a2b3c4d-1a2b-1a2b-1a2b-1a2b3c4d5e6f"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
ALIAS = "alias/mlflow-artifacts"
BUCKET = "mlflow-artifacts"
KEY_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}]}
BUCKET_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
RULE_ID = "mlflow-artifact-store-noncurrent-versions"
OUR_RULE = {"ID": RULE_ID, "Filter": {"Prefix": "mlflow/"}, "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}
THEIR_RULE = {"ID": "abort-uploads", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN},
                         "BucketKeyEnabled": True}]}
BLOCKED = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def arguments(**overrides):
    args = {"bucket": BUCKET, "kms_key": {"alias": ALIAS, "description": "artifacts", "policy": json.dumps(KEY_POLICY)},
            "policy": json.dumps(BUCKET_POLICY), "noncurrent_version_expiration_days": 30,
            "noncurrent_version_prefix": "mlflow/", "tags": {"team": "ml"}}
    args.update(overrides)
    return {key: value for key, value in args.items() if value is not None}


@pytest.fixture
def aws(monkeypatch):
    yield from harness.active_stubs(monkeypatch, "kms", "s3")


def client_error(stubber, operation, code, status=400):
    stubber.add_client_error(operation, service_error_code=code, http_status_code=status)


def key_found(kms, state="Enabled", rotation=True, tags=None, policy=None, usage="ENCRYPT_DECRYPT"):
    kms.add_response("describe_key", {"KeyMetadata": {"KeyId": KEY_ID, "Arn": KEY_ARN, "KeyState": state, "KeyUsage": usage,
                                                      "KeySpec": "SYMMETRIC_DEFAULT", "Description": "artifacts"}},
                     {"KeyId": ALIAS})
    kms.add_response("list_aliases", {"Aliases": [{"AliasName": ALIAS, "TargetKeyId": KEY_ID}], "Truncated": False})
    kms.add_response("get_key_rotation_status", {"KeyRotationEnabled": rotation})
    kms.add_response("list_resource_tags", {"Tags": [{"TagKey": key, "TagValue": value}
                                                     for key, value in (tags if tags is not None else {"team": "ml"}).items()],
                                            "Truncated": False})
    kms.add_response("get_key_policy", {"Policy": json.dumps(policy or KEY_POLICY)})


def key_missing(kms):
    client_error(kms, "describe_key", "NotFoundException")


def bucket_found(s3, versioning="Enabled", encryption=None, policy=None, tags=None, rules=None, blocked=None):
    s3.add_response("list_buckets", {"Buckets": [{"Name": BUCKET}]}, {"Prefix": BUCKET})
    s3.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": encryption or ENCRYPTION})
    if rules == []:
        client_error(s3, "get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration", 404)
    else:
        s3.add_response("get_bucket_lifecycle_configuration", {"Rules": rules if rules is not None else [OUR_RULE]})
    s3.add_response("get_bucket_ownership_controls", {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}})
    s3.add_response("get_bucket_policy", {"Policy": json.dumps(policy or BUCKET_POLICY)})
    s3.add_response("get_bucket_tagging", {"TagSet": [{"Key": key, "Value": value}
                                                      for key, value in (tags if tags is not None else {"team": "ml"}).items()]})
    s3.add_response("get_bucket_versioning", {"Status": versioning} if versioning else {})
    s3.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": blocked or BLOCKED})


def bucket_name(s3, status):
    s3.add_response("list_buckets", {"Buckets": []}, {"Prefix": BUCKET})
    client_error(s3, "head_bucket", str(status), status)


def test_a_new_store_gets_its_key_then_its_bucket_with_every_setting(aws):
    kms, s3 = aws["kms"], aws["s3"]
    key_missing(kms)
    bucket_name(s3, 404)
    kms.add_response("create_key", {"KeyMetadata": {"KeyId": KEY_ID, "Arn": KEY_ARN}},
                     {"Policy": json.dumps(KEY_POLICY), "Description": "artifacts", "KeyUsage": "ENCRYPT_DECRYPT",
                      "KeySpec": "SYMMETRIC_DEFAULT", "Tags": [{"TagKey": "team", "TagValue": "ml"}]})
    kms.add_response("create_alias", {}, {"AliasName": ALIAS, "TargetKeyId": KEY_ID})
    kms.add_response("enable_key_rotation", {}, {"KeyId": KEY_ARN})
    # us-east-1 takes no location constraint; the ownership is set by CreateBucket.
    s3.add_response("create_bucket", {}, {"Bucket": BUCKET, "ObjectOwnership": "BucketOwnerEnforced"})
    s3.add_response("head_bucket", {"ResponseMetadata": {"HTTPStatusCode": 200}}, {"Bucket": BUCKET})
    s3.add_response("put_public_access_block", {}, {"Bucket": BUCKET, "PublicAccessBlockConfiguration": BLOCKED})
    s3.add_response("put_bucket_encryption", {}, {"Bucket": BUCKET, "ServerSideEncryptionConfiguration": ENCRYPTION})
    s3.add_response("put_bucket_versioning", {}, {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Enabled"}})
    s3.add_response("put_bucket_policy", {}, {"Bucket": BUCKET, "Policy": json.dumps(BUCKET_POLICY)})
    s3.add_response("put_bucket_tagging", {}, {"Bucket": BUCKET, "Tagging": {"TagSet": [{"Key": "team", "Value": "ml"}]}})
    s3.add_response("put_bucket_lifecycle_configuration", {}, {"Bucket": BUCKET, "LifecycleConfiguration": {"Rules": [OUR_RULE]}})
    outcome = run(arguments(), diff=True)
    assert not outcome.failed, outcome.result["msg"]
    result = outcome.result
    assert result["changed"]
    assert result["kms_key"] == {"key_arn": KEY_ARN, "alias": ALIAS, "managed": True, "created": True}
    assert result["bucket"] == {"name": BUCKET, "created": True}
    assert sorted(result["changes"]["bucket"]) == ["encryption", "exists", "lifecycle_rule", "object_ownership", "policy",
                                                   "public_access_block", "tags", "versioning"]
    assert result["changes"]["bucket"]["encryption"]["after"]["kms_key"] == KEY_ARN
    assert result["diff"]["after"]["kms_key"]["rotation"] is True


def test_a_store_as_asked_makes_no_change_call(aws):
    key_found(aws["kms"])
    bucket_found(aws["s3"])
    outcome = run(arguments())
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] is False
    assert outcome.result["changes"] == {"kms_key": {}, "bucket": {}}
    assert outcome.result["kms_key"]["key_arn"] == KEY_ARN


def test_check_mode_on_a_new_store_reports_every_setting_and_calls_nothing_that_changes(aws):
    key_missing(aws["kms"])
    bucket_name(aws["s3"], 404)
    outcome = run(arguments(), check_mode=True)
    assert outcome.result["changed"]
    assert outcome.result["kms_key"]["key_arn"] == ""
    assert outcome.result["changes"]["bucket"]["encryption"]["after"]["kms_key"] == f"the key {ALIAS} this run creates"
    assert sorted(outcome.result["changes"]["kms_key"]) == ["description", "exists", "policy", "rotation", "state", "tags"]


def test_a_key_scheduled_for_deletion_is_recovered_and_only_what_differs_is_changed(aws):
    kms = aws["kms"]
    key_found(kms, state="PendingDeletion", rotation=False, tags={"team": "ml", "old": "x"})
    bucket_found(aws["s3"])
    kms.add_response("cancel_key_deletion", {"KeyId": KEY_ID}, {"KeyId": KEY_ARN})
    kms.add_response("enable_key", {}, {"KeyId": KEY_ARN})
    kms.add_response("enable_key_rotation", {}, {"KeyId": KEY_ARN})
    kms.add_response("untag_resource", {}, {"KeyId": KEY_ARN, "TagKeys": ["old"]})
    outcome = run(arguments())
    assert not outcome.failed, outcome.result["msg"]
    assert sorted(outcome.result["changes"]["kms_key"]) == ["rotation", "state", "tags"]
    assert outcome.result["changes"]["bucket"] == {}


def test_a_user_key_is_only_named_by_the_encryption(aws):
    other = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/ffffffff-1a2b-1a2b-1a2b-1a2b3c4d5e6f"
    s3 = aws["s3"]
    bucket_found(s3)
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": other},
                             "BucketKeyEnabled": True}]}
    s3.add_response("put_bucket_encryption", {}, {"Bucket": BUCKET, "ServerSideEncryptionConfiguration": encryption})
    outcome = run(arguments(kms_key=None, kms_key_id=other))
    assert not outcome.failed, outcome.result["msg"]
    assert aws["kms"].created == ["s3"]  # no KMS client
    assert outcome.result["kms_key"] == {"key_arn": other, "alias": "", "managed": False, "created": False}
    assert list(outcome.result["changes"]["bucket"]) == ["encryption"]


def test_versioning_is_suspended_not_disabled_and_tags_left_out_are_kept(aws):
    key_found(aws["kms"], tags={"owner": "them"})
    s3 = aws["s3"]
    bucket_found(s3, tags={"owner": "them"})
    s3.add_response("put_bucket_versioning", {}, {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Suspended"}})
    outcome = run(arguments(versioning=False, tags=None))
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changes"] == {"kms_key": {}, "bucket": {"versioning": {"before": "Enabled", "after": "Suspended"}}}


def test_tags_are_merged_without_purge(aws):
    key_found(aws["kms"], tags={"owner": "them", "team": "ml"})
    bucket_found(aws["s3"], tags={"owner": "them", "team": "ml"})
    outcome = run(arguments(purge_tags=False))
    assert outcome.result["changed"] is False


def test_other_lifecycle_rules_are_kept_and_the_last_rule_gone_deletes_the_configuration(aws):
    key_found(aws["kms"])
    s3 = aws["s3"]
    moved = dict(OUR_RULE, Filter={"Prefix": "tracking/"})
    bucket_found(s3, rules=[THEIR_RULE, OUR_RULE])
    s3.add_response("put_bucket_lifecycle_configuration", {}, {"Bucket": BUCKET, "LifecycleConfiguration": {"Rules": [THEIR_RULE, moved]}})
    outcome = run(arguments(noncurrent_version_prefix="tracking/"))
    assert not outcome.failed, outcome.result["msg"]
    assert list(outcome.result["changes"]["bucket"]) == ["lifecycle_rule"]

    key_found(aws["kms"])
    bucket_found(s3, rules=[OUR_RULE])
    s3.add_response("delete_bucket_lifecycle", {}, {"Bucket": BUCKET})
    outcome = run(arguments(noncurrent_version_expiration_days=None))
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changes"]["bucket"]["lifecycle_rule"] == {"before": [OUR_RULE], "after": []}


def test_a_policy_that_only_reorders_is_not_a_change(aws):
    key_found(aws["kms"])
    statement = dict(BUCKET_POLICY["Statement"][0], Resource=list(reversed(BUCKET_POLICY["Statement"][0]["Resource"])))
    bucket_found(aws["s3"], policy={"Version": "2012-10-17", "Statement": [statement]})
    assert run(arguments()).result["changed"] is False


def test_a_name_another_account_owns_fails_before_any_change(aws):
    key_missing(aws["kms"])
    bucket_name(aws["s3"], 403)
    outcome = run(arguments())
    assert outcome.failed
    assert "taken by another account" in outcome.result["msg"]


def test_an_alias_of_a_key_that_cannot_encrypt_objects_fails(aws):
    key_found(aws["kms"], usage="SIGN_VERIFY")
    bucket_name(aws["s3"], 404)
    outcome = run(arguments())
    assert outcome.failed
    assert "cannot encrypt S3 objects" in outcome.result["msg"]


def test_an_error_while_changing_names_the_store(aws):
    key_found(aws["kms"])
    s3 = aws["s3"]
    bucket_found(s3, versioning="Suspended")
    client_error(s3, "put_bucket_versioning", "AccessDenied", 403)
    outcome = run(arguments())
    assert outcome.failed
    assert outcome.result["msg"].startswith(f"Could not update the artifact store {BUCKET}")


def test_the_key_and_the_user_key_are_exclusive_and_one_is_required(aws):
    assert run(arguments(kms_key_id=KEY_ARN)).failed
    assert run(arguments(kms_key=None)).failed
