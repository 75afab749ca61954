"""The role mlops.mlflow.mlflow_artifact_store run by ansible-playbook against the proving ground.

Each test includes the role in a playbook on localhost as a user (or the Fargate and SageMaker roles)
would, with the AWS endpoint from the environment alone, then checks what S3 and KMS hold through boto3
and what the role asked of AWS through the proving ground's request log.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers.ansible import run_playbook

pytestmark = pytest.mark.slow

ROLE = "mlops.mlflow.mlflow_artifact_store"
ACCOUNT = "123456789012"
BUCKET = "acme-prod-mlflow-artifacts"
REPORT_TASK = "Report the changes to the KMS key and the artifact bucket"
TLS_SID = "MlflowArtifactStoreDenyInsecureTransport"


def role_play(*inclusions, extra_tasks=()):
    """One play that includes the role once per variable set and prints the outputs of each inclusion."""
    tasks = []
    for index, variables in enumerate(inclusions):
        tasks.append({"name": f"Include the artifact store {index}", "ansible.builtin.include_role": {"name": ROLE},
                      "vars": variables})
        tasks.append({"name": f"Show the outputs {index}",
                      "ansible.builtin.debug": {"var": "mlflow_artifact_store_outputs"}})
    tasks.extend(extra_tasks)
    return [{"name": "Artifact store", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


class Player:
    """``play(variables)`` runs the role once; the result knows the outputs and the report of the run."""

    def __init__(self, aws, workdir):
        self.aws = aws
        self.workdir = workdir

    def __call__(self, variables, check=False, diff=False):
        return self.plays(role_play(variables), check=check, diff=diff)

    def plays(self, plays, check=False, diff=False):
        start = self.aws.control.last_request_id()
        run = run_playbook(self.workdir, self.aws.child_environment(), plays, check=check, diff=diff)
        run.mutations = [(entry["service"], entry["operation"])
                         for entry in self.aws.control.mutating_requests(since=start)]
        return run


def outputs(run, index=0):
    shown = [result for result in run.results if result["_task"] == f"Show the outputs {index}"]
    assert shown, run.output
    return shown[0]["mlflow_artifact_store_outputs"]


def report(run):
    """What the role said would change (check mode) or is about to change (diff mode)."""
    reports = [result for result in run.results if result["_task"].endswith(REPORT_TASK)]
    assert reports, run.output
    return reports[0]


@pytest.fixture
def play(aws, tmp_path):
    return Player(aws, tmp_path)


def managed(**changes):
    variables = {"mlflow_artifact_store_name": "acme-prod", "mlflow_artifact_store_prefix": "mlflow",
                 "mlflow_artifact_store_noncurrent_version_expiration_days": 30,
                 "mlflow_artifact_store_tags": {"project": "acme", "environment": "prod"}}
    variables.update(changes)
    return variables


def bucket_policy(s3, bucket=BUCKET):
    return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])


def assert_guarantees(aws, bucket, key_arn, prefix="mlflow/", days=30):
    """Everything the role promises for a bucket it manages, as S3 and KMS report it."""
    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule == {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                    "BucketKeyEnabled": True}
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    denials = [statement for statement in bucket_policy(s3, bucket)["Statement"] if statement["Effect"] == "Deny"]
    assert denials == [{
        "Sid": TLS_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    rules = [rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
             if rule["ID"] == "mlflow-artifact-store-noncurrent-versions"]
    # Noncurrent versions only: no Expiration (live objects), no transitions, nothing else.
    assert rules == [{"ID": "mlflow-artifact-store-noncurrent-versions", "Filter": {"Prefix": prefix},
                      "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": days}}]
    kms = aws.client("kms")
    assert kms.describe_key(KeyId=key_arn)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    assert [(s["Effect"], s["Principal"], s["Action"]) for s in policy["Statement"]] == [
        ("Allow", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "kms:*")]


def test_fresh_account_converges_then_stays_put(aws, play):
    first = play(managed())
    assert first.rc == 0, first.output
    assert first.recap["changed"] == 1, first.output  # the key, the bucket and its lifecycle rule: one module run
    out = outputs(first)
    assert (out["account_id"], out["partition"]) == (ACCOUNT, "aws")
    assert out["bucket_name"] == BUCKET
    assert out["bucket_arn"] == f"arn:aws:s3:::{BUCKET}"
    assert out["artifact_uri"] == f"s3://{BUCKET}/mlflow"
    assert out["kms_key_alias"] == f"alias/{BUCKET}"
    assert out["kms_key_arn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert (out["bucket_managed"], out["bucket_created"], out["kms_key_managed"], out["kms_key_created"]) == (
        True, True, True, True)
    assert_guarantees(aws, BUCKET, out["kms_key_arn"])
    s3 = aws.client("s3")
    assert s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"] == [{"Key": "project", "Value": "acme"},
                                                              {"Key": "environment", "Value": "prod"}]
    key_alias = aws.client("kms").list_aliases(KeyId=out["kms_key_arn"])["Aliases"]
    assert [alias["AliasName"] for alias in key_alias] == [f"alias/{BUCKET}"]

    second = play(managed())
    assert second.rc == 0, second.output
    assert second.recap["changed"] == 0, second.output
    assert second.mutations == []
    again = outputs(second)
    assert again == dict(out, bucket_created=False, kms_key_created=False)

    checked = play(managed(), check=True, diff=True)
    assert checked.rc == 0, checked.output
    assert checked.recap["changed"] == 0, checked.output
    assert checked.mutations == []
    assert (report(checked)["msg"]["bucket_changes"], report(checked)["msg"]["kms_key_changes"]) == ({}, {})


def test_check_mode_on_a_fresh_account_reports_every_change_and_changes_nothing(aws, play):
    run = play(managed(), check=True, diff=True)
    assert run.rc == 0, run.output
    assert run.recap["changed"] == 1, run.output
    assert run.mutations == []
    assert aws.client("s3").list_buckets()["Buckets"] == []
    said = report(run)
    assert said["changed"] is True
    assert said["msg"]["bucket"] == BUCKET
    assert sorted(said["msg"]["bucket_changes"]) == [
        "encryption", "exists", "lifecycle_rule", "object_ownership", "policy_version", "public_access_block",
        "tags", "tls_policy_statement", "versioning"]
    assert said["msg"]["bucket_changes"]["versioning"] == {"before": "Disabled", "after": "Enabled"}
    assert sorted(said["msg"]["kms_key_changes"]) == ["description", "exists", "policy", "rotation", "state", "tags"]
    out = outputs(run)
    assert (out["bucket_created"], out["kms_key_created"], out["kms_key_arn"]) == (True, True, "")


def test_changes_are_applied_and_what_others_added_is_kept(aws, play):
    assert play(managed()).rc == 0
    s3 = aws.client("s3")
    # Someone else adds a statement to the bucket policy and a lifecycle rule of their own.
    policy = bucket_policy(s3)
    foreign = {"Sid": "AuditorsRead", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/auditor"},
               "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
    policy["Statement"].insert(0, foreign)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    theirs = {"ID": "abort-uploads", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": rules + [theirs]})

    checked = play(managed(mlflow_artifact_store_noncurrent_version_expiration_days=7), check=True)
    assert checked.rc == 0, checked.output
    assert checked.recap["changed"] == 1
    assert checked.mutations == []
    assert report(checked)["msg"]["kms_key_changes"] == {}
    assert list(report(checked)["msg"]["bucket_changes"]) == ["lifecycle_rule"]

    changed = play(managed(mlflow_artifact_store_noncurrent_version_expiration_days=7))
    assert changed.rc == 0, changed.output
    assert changed.recap["changed"] == 1, changed.output
    # One call: the request log names it after the older operation with the same route (PutBucketLifecycle).
    assert [operation for dummy, operation in changed.mutations] in (
        ["PutBucketLifecycle"], ["PutBucketLifecycleConfiguration"])
    assert_guarantees(aws, BUCKET, outputs(changed)["kms_key_arn"], days=7)
    assert theirs in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert foreign in bucket_policy(s3)["Statement"]

    # A new prefix moves the rule (no rule is left behind on the old one); new tags replace the old ones.
    moved = play(managed(mlflow_artifact_store_prefix="tracking/artifacts",
                         mlflow_artifact_store_tags={"project": "acme"}))
    assert moved.rc == 0, moved.output
    assert outputs(moved)["artifact_uri"] == f"s3://{BUCKET}/tracking/artifacts"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert sorted(rule.get("ID", "?") for rule in rules) == ["abort-uploads", "mlflow-artifact-store-noncurrent-versions"]
    assert_guarantees(aws, BUCKET, outputs(moved)["kms_key_arn"], prefix="tracking/artifacts/", days=30)
    assert s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"] == [{"Key": "project", "Value": "acme"}]
    assert aws.client("kms").list_resource_tags(KeyId=outputs(moved)["kms_key_arn"])["Tags"] == [
        {"TagKey": "project", "TagValue": "acme"}]

    # No lifecycle days: the role's rule goes, the other rule stays.
    dropped = play(managed(mlflow_artifact_store_prefix="tracking/artifacts",
                           mlflow_artifact_store_tags={"project": "acme"},
                           mlflow_artifact_store_noncurrent_version_expiration_days=None))
    assert dropped.rc == 0, dropped.output
    assert dropped.recap["changed"] == 1, dropped.output
    assert s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"] == [theirs]


def test_existing_bucket_is_validated_and_never_changed(aws, play):
    s3 = aws.client("s3")
    key_arn = aws.client("kms").create_key(Description="the user's key")["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="corp-data-lake")
    s3.put_bucket_encryption(Bucket="corp-data-lake", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]})

    run = play({"mlflow_artifact_store_existing_bucket": "corp-data-lake",
                "mlflow_artifact_store_prefix": "teams/ml/mlflow",
                "mlflow_artifact_store_tags": {"project": "acme"}})
    assert run.rc == 0, run.output
    assert run.recap["changed"] == 0, run.output
    assert run.mutations == []
    assert outputs(run) == {
        "state": "present", "account_id": ACCOUNT, "partition": "aws",
        "bucket_name": "corp-data-lake", "bucket_arn": "arn:aws:s3:::corp-data-lake",
        "prefix": "teams/ml/mlflow", "artifact_uri": "s3://corp-data-lake/teams/ml/mlflow",
        "kms_key_arn": key_arn, "kms_key_alias": "", "bucket_managed": False, "bucket_created": False,
        "kms_key_managed": False, "kms_key_created": False}

    missing = play({"mlflow_artifact_store_existing_bucket": "no-such-bucket-here"})
    assert missing.rc != 0
    assert "mlflow_artifact_store_existing_bucket 'no-such-bucket-here' cannot be used" in missing.output
    assert missing.mutations == []


def _store_with_versions(aws, play):
    """A converged store holding two versions of an object under a delete marker; returns the outputs."""
    out = outputs(play(managed()))
    s3 = aws.client("s3")
    # moto denies object requests under any bucket-policy statement with a Condition (the TLS-only one
    # here), whatever its effect and whatever the transport: put the objects with the policy set aside.
    s3.delete_bucket_policy(Bucket=BUCKET)
    for body in (b"first", b"second"):
        s3.put_object(Bucket=BUCKET, Key="mlflow/1/model.pkl", Body=body)
    s3.delete_object(Bucket=BUCKET, Key="mlflow/1/model.pkl")
    return out


def test_absent_keeps_the_store_unless_purged(aws, play):
    out = _store_with_versions(aws, play)
    kept = play(managed(mlflow_artifact_store_state="absent"))
    assert kept.rc == 0, kept.output
    assert (kept.recap["changed"], kept.mutations) == (0, [])
    s3 = aws.client("s3")
    assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == 2
    assert aws.client("kms").describe_key(KeyId=out["kms_key_arn"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert outputs(kept)["state"] == "absent"
    assert (outputs(kept)["bucket_deleted"], outputs(kept)["kms_key_deletion_scheduled"]) == (False, False)

    checked = play(managed(mlflow_artifact_store_state="absent", mlflow_artifact_store_purge=True), check=True)
    assert checked.rc == 0, checked.output
    assert checked.recap["changed"] == 2, checked.output  # the bucket, the key
    assert checked.mutations == []
    assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == 2


def test_purge_deletes_the_bucket_and_schedules_the_key_deletion(aws, play):
    out = _store_with_versions(aws, play)
    purge = managed(mlflow_artifact_store_state="absent", mlflow_artifact_store_purge=True)
    purged = play(purge)
    assert purged.rc == 0, purged.output
    assert purged.recap["changed"] == 2, purged.output
    assert BUCKET not in [bucket["Name"] for bucket in aws.client("s3").list_buckets()["Buckets"]]
    key = aws.client("kms").describe_key(KeyId=out["kms_key_arn"])["KeyMetadata"]
    assert key["KeyState"] == "PendingDeletion"
    assert (outputs(purged)["bucket_deleted"], outputs(purged)["kms_key_deletion_scheduled"]) == (True, True)

    again = play(purge)
    assert again.rc == 0, again.output
    assert (again.recap["changed"], again.mutations) == (0, [])

    # Back to present: the key's deletion is cancelled and the key serves the new bucket.
    restored = play(managed())
    assert restored.rc == 0, restored.output
    assert outputs(restored)["kms_key_arn"] == out["kms_key_arn"]
    assert_guarantees(aws, BUCKET, out["kms_key_arn"])


def test_two_environments_in_one_play(aws, play):
    """Staging gets a key of its own, prod uses the user's key: nothing of one leaks into the other."""
    # KeyUsage given explicitly: moto omits it from DescribeKey when CreateKey had none (AWS: ENCRYPT_DECRYPT).
    user_key = aws.client("kms").create_key(Description="prod key", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    aws.client("kms").create_alias(AliasName="alias/prod-data", TargetKeyId=user_key["KeyId"])
    staging = {"mlflow_artifact_store_name": "acme-staging"}
    prod = {"mlflow_artifact_store_name": "acme-prod", "mlflow_artifact_store_kms_key_id": "alias/prod-data"}
    run = play.plays(role_play(staging, prod))
    assert run.rc == 0, run.output
    first, second = outputs(run, 0), outputs(run, 1)
    assert (first["bucket_name"], second["bucket_name"]) == ("acme-staging-mlflow-artifacts", BUCKET)
    assert (first["kms_key_managed"], second["kms_key_managed"]) == (True, False)
    assert second["kms_key_arn"] == user_key["Arn"]
    assert second["kms_key_alias"] == "alias/prod-data"
    assert first["kms_key_arn"] not in ("", user_key["Arn"])
    s3 = aws.client("s3")
    for bucket, key_arn in (("acme-staging-mlflow-artifacts", first["kms_key_arn"]), (BUCKET, user_key["Arn"])):
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key_arn
        assert [s["Sid"] for s in bucket_policy(s3, bucket)["Statement"]] == [TLS_SID]
    assert sorted(alias["AliasName"] for alias in aws.client("kms").list_aliases()["Aliases"]
                  if not alias["AliasName"].startswith("alias/aws/")) == ["alias/acme-staging-mlflow-artifacts",
                                                                          "alias/prod-data"]

    again = play.plays(role_play(staging, prod))
    assert (again.rc, again.recap["changed"], again.mutations) == (0, 0, []), again.output


# Each bad input, and words the failure message must hold: the variable, and what is wrong with it.
BAD_INPUTS = {
    "uppercase": ({"mlflow_artifact_store_bucket_name": "Acme_Artifacts"},
                  ["mlflow_artifact_store_bucket_name", "no uppercase, no underscore"]),
    "too short": ({"mlflow_artifact_store_bucket_name": "ab"}, ["3 to 63 characters"]),
    "ip address": ({"mlflow_artifact_store_bucket_name": "192.168.5.4"}, ["IP address"]),
    "xn prefix": ({"mlflow_artifact_store_bucket_name": "xn--mlflow"}, ["reserved prefixes"]),
    "s3alias suffix": ({"mlflow_artifact_store_bucket_name": "mlflow-s3alias"}, ["reserved suffixes"]),
    "derived too long": ({"mlflow_artifact_store_name": "a" * 60},
                         ["mlflow_artifact_store_name and mlflow_artifact_store_bucket_suffix", "3 to 63"]),
    "no name": ({}, ["Name the artifact bucket one way"]),
    "two names": ({"mlflow_artifact_store_bucket_name": "acme-a", "mlflow_artifact_store_existing_bucket": "acme-b"},
                  ["not mlflow_artifact_store_existing_bucket together with mlflow_artifact_store_bucket_name"]),
    "existing uri": ({"mlflow_artifact_store_existing_bucket": "s3://corp/mlflow"},
                     ["mlflow_artifact_store_existing_bucket 's3://corp/mlflow' is not a bucket name"]),
    "leading slash": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_prefix": "/mlflow"},
                      ["mlflow_artifact_store_prefix '/mlflow'", "must not begin with a slash"]),
    "kms arn": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_kms_key_id": "arn:aws:kms:key/123"},
                ["mlflow_artifact_store_kms_key_id 'arn:aws:kms:key/123' is not a KMS key reference"]),
    "alias with key": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_kms_key_alias": "alias/x",
                        "mlflow_artifact_store_kms_key_id": "alias/y"}, ["mlflow_artifact_store_kms_key_alias"]),
    "days zero": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_noncurrent_version_expiration_days": 0},
                  ["mlflow_artifact_store_noncurrent_version_expiration_days is 0"]),
    "days without versioning": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_versioning": False,
                                 "mlflow_artifact_store_noncurrent_version_expiration_days": 5},
                                ["needs mlflow_artifact_store_versioning true"]),
    "deletion window": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_kms_key_deletion_window_days": 3},
                        ["mlflow_artifact_store_kms_key_deletion_window_days is 3"]),
    "aws tag": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_tags": {"aws:owner": "x"}},
                ["mlflow_artifact_store_tags", "must not begin with 'aws:'"]),
    "region": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_region": "Europe"},
               ["mlflow_artifact_store_region 'Europe'"]),
    "state choice": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_state": "gone"},
                     ["mlflow_artifact_store_state", "present, absent"]),
    "versioning type": ({"mlflow_artifact_store_name": "acme", "mlflow_artifact_store_versioning": "maybe"},
                        ["mlflow_artifact_store_versioning"]),
    "unknown user key": ({"mlflow_artifact_store_name": "acme",
                          "mlflow_artifact_store_kms_key_id": "alias/nobody-has-this"},
                         ["mlflow_artifact_store_kms_key_id 'alias/nobody-has-this' names no key"]),
}


def test_bad_inputs_fail_early_with_the_variable_and_the_fix(aws, play):
    """All bad inputs in one playbook (each inclusion rescued), then one plain failing run."""
    def record(case, outcome):
        return {"name": f"Record case {case}", "ansible.builtin.set_fact": {
            "mlops_failures": "{{ mlops_failures | combine({mlops_case: " + outcome + "}) }}"},
            "vars": {"mlops_case": case}}

    tasks = [{"name": f"Case {case}",
              "block": [{"ansible.builtin.include_role": {"name": ROLE}, "vars": variables},
                        record(case, "'did not fail'")],
              "rescue": [record(case, "ansible_failed_result.msg")]}
             for case, (variables, dummy) in BAD_INPUTS.items()]
    tasks.append({"name": "Show the failures", "ansible.builtin.debug": {"var": "mlops_failures"}})
    plays = [{"name": "Bad inputs", "hosts": "localhost", "gather_facts": False, "vars": {"mlops_failures": {}},
              "tasks": tasks}]
    run = play.plays(plays)
    assert run.rc == 0, run.output
    failures = run.result()["mlops_failures"]
    for case, (dummy, words) in BAD_INPUTS.items():
        for word in words:
            assert word in failures[case], (case, failures[case])
    assert run.mutations == []
    assert aws.client("s3").list_buckets()["Buckets"] == []

    plain = play({"mlflow_artifact_store_bucket_name": "My_Bucket"})
    assert plain.rc == 2
    assert "mlflow_artifact_store_bucket_name gives the bucket name 'My_Bucket'" in plain.output
    assert plain.mutations == []


def test_user_key_that_cannot_encrypt_is_refused(aws, play):
    kms = aws.client("kms")
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["Arn"]
    run = play(managed(mlflow_artifact_store_kms_key_id=signing))
    assert run.rc != 0
    assert "S3 default encryption needs an enabled symmetric ENCRYPT_DECRYPT key" in run.output
    assert run.mutations == []
    with pytest.raises(ClientError):
        aws.client("s3").head_bucket(Bucket=BUCKET)


def test_bucket_name_another_account_owns_is_refused_before_any_change(aws, play):
    credentials = aws.client("sts").assume_role(RoleArn="arn:aws:iam::111111111111:role/other",
                                                RoleSessionName="other-account")["Credentials"]
    other = boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                          aws_secret_access_key=credentials["SecretAccessKey"],
                          aws_session_token=credentials["SessionToken"], region_name=aws.region)
    other.client("s3", endpoint_url=aws.endpoint).create_bucket(Bucket=BUCKET)
    run = play(managed())
    assert run.rc != 0
    assert f"gives the bucket name '{BUCKET}', which is not in this account but exists in another one" in run.output
    assert run.mutations == []
    assert aws.client("kms").list_keys()["Keys"] == []
