"""mlops.mlflow.sagemaker_mlflow_tracking_server and _info run by ansible-playbook against the proving ground.

Each test runs the modules as a user would (a playbook on localhost, the AWS endpoint from the environment alone) and
checks what SageMaker holds afterwards through boto3, and what the modules asked of SageMaker through the proving
ground's request log. The proving ground's latency model is off unless a test turns it on: every phase (Creating,
Updating, Stopping...) then ends at once.
"""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks
from proving_ground.sagemaker_mlflow import ACCOUNT_ID, authorized_url_claims

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.sagemaker_mlflow_tracking_server"
INFO = "mlops.mlflow.sagemaker_mlflow_tracking_server_info"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mlflow-tracking"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mlflow-other"
STORE = "s3://mlflow-artifacts-bucket/team-a"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:mlflow-tracking-server/team-a"


def task(args, module=MODULE, **keywords):
    """A task of the module (keywords: check_mode, diff, ignore_errors, name...)."""
    return dict({module: {key: value for key, value in args.items() if value is not None}}, **keywords)


def args_for(**changes):
    args = {"name": "team-a", "artifact_store_uri": STORE, "role_arn": ROLE, "mlflow_version": "3.0"}
    args.update(changes)
    return args


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


def sagemaker_calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "sagemaker"]


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def changes_of(run):
    return [result["changed"] for result in run.results]


def described(aws):
    return aws.client("sagemaker").describe_mlflow_tracking_server(TrackingServerName="team-a")


def tags_of(aws):
    return {tag["Key"]: tag["Value"] for tag in aws.client("sagemaker").list_tags(ResourceArn=ARN)["Tags"]}


def test_creates_once_then_converges(aws, play):
    args = args_for(size="Small", weekly_maintenance_window_start="Sun:02:00", tags={"team": "a"})
    start = aws.control.last_request_id()
    run = play([task(args), task(args), task(dict(args, mlflow_version="3.0.0"))])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False, False]
    created = run.results[0]
    server = created["tracking_server"]
    assert created["tracking_server_arn"] == ARN and server["tracking_server_arn"] == ARN
    assert created["tracking_server_url"] == server["tracking_server_url"] and server["tracking_server_url"].startswith("https://t-")
    assert server["tracking_server_status"] == "Created" and server["mlflow_version"] == "3.0.0"
    assert server["tags"] == {"team": "a"} and server["weekly_maintenance_window_start"] == "Sun:02:00"
    assert isinstance(server["creation_time"], str) and created["actions"] == ["create"]
    assert run.results[1]["actions"] == [] and run.results[1]["tracking_server"] == server
    # The re-runs only looked.
    assert mutating(aws, start) == ["CreateMlflowTrackingServer"]
    assert sagemaker_calls(aws, start)[:2] == ["DescribeMlflowTrackingServer", "CreateMlflowTrackingServer"]
    assert described(aws)["ArtifactStoreUri"] == STORE and tags_of(aws) == {"team": "a"}


def test_waits_through_the_transitional_states(aws, play):
    aws.control.configure(latency_scale=0.001, latency_overrides={
        "sagemaker:CreateMlflowTrackingServer": 2500, "sagemaker:UpdateMlflowTrackingServer": 1500,
        "sagemaker:StopMlflowTrackingServer": 1500, "sagemaker:DeleteMlflowTrackingServer": 1500})
    start = aws.control.last_request_id()
    run = play([
        task(args_for(), name="create"),
        task(args_for(size="Medium", state="stopped"), name="update then stop"),
        task(args_for(state="absent"), name="delete"),
    ])
    assert run.rc == 0, run.output
    created, stopped, deleted = run.results
    assert created["tracking_server"]["tracking_server_status"] == "Created"
    assert stopped["actions"] == ["update", "stop"] and stopped["tracking_server"]["tracking_server_status"] == "Stopped"
    assert stopped["tracking_server"]["tracking_server_size"] == "Medium"
    assert deleted["changed"] and deleted["actions"] == ["delete"]
    calls = sagemaker_calls(aws, start)
    assert mutating(aws, start) == ["CreateMlflowTrackingServer", "UpdateMlflowTrackingServer", "StopMlflowTrackingServer",
                                    "DeleteMlflowTrackingServer"]
    # Each phase was polled until it was over.
    assert calls.count("DescribeMlflowTrackingServer") >= 8, calls
    assert aws.client("sagemaker").list_mlflow_tracking_servers()["TrackingServerSummaries"] == []


def test_a_change_under_way_is_waited_for_or_refused_without_wait(aws, play):
    aws.control.configure(latency_scale=0.001, latency_overrides={"sagemaker:CreateMlflowTrackingServer": 10000})
    aws.client("sagemaker").create_mlflow_tracking_server(TrackingServerName="team-a", ArtifactStoreUri=STORE, RoleArn=ROLE)
    start = aws.control.last_request_id()
    run = play([
        task(args_for(size="Large", wait=False), name="busy", ignore_errors=True),
        task(args_for(size="Large"), name="waits, then updates"),
    ])
    assert run.rc == 0, run.output
    busy, updated = run.results
    assert busy["failed"] and "is Creating, and wait=false: the module cannot update it now" in busy["msg"], busy["msg"]
    assert updated["actions"] == ["update"] and updated["tracking_server"]["tracking_server_size"] == "Large"
    assert mutating(aws, start) == ["UpdateMlflowTrackingServer"]


def test_check_mode_changes_nothing_and_diff_tells_what_would(aws, play):
    args = args_for(tags={"team": "a"})
    start = aws.control.last_request_id()
    run = play([
        task(args, name="check create", check_mode=True, diff=True),
        task(args, name="create"),
        task(args, name="check unchanged", check_mode=True, diff=True),
        task(args_for(size="Large", automatic_model_registration=True, tags={}), name="check update", check_mode=True, diff=True),
        task(args_for(state="stopped"), name="check stop", check_mode=True, diff=True),
        task(args_for(state="absent"), name="check delete", check_mode=True, diff=True),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False, True, True, True]
    check_create, created, unchanged, check_update, check_stop, check_delete = run.results
    assert check_create["diff"]["before"] == {} and check_create["diff"]["after"]["mlflow_version"] == "3.0"
    assert check_create["diff"]["after"]["running"] is True and check_create["tracking_server_arn"] == ""
    assert check_create["actions"] == ["create"]
    assert unchanged["diff"]["before"] == unchanged["diff"]["after"]
    before, after = check_update["diff"]["before"], check_update["diff"]["after"]
    assert (before["size"], after["size"]) == ("Small", "Large")
    assert (before["automatic_model_registration"], after["automatic_model_registration"]) == (False, True)
    assert (before["tags"], after["tags"]) == ({"team": "a"}, {})
    assert check_update["actions"] == ["update", "tag"]
    assert (check_stop["diff"]["before"]["running"], check_stop["diff"]["after"]["running"]) == (True, False)
    assert check_delete["diff"]["after"] == {} and check_delete["tracking_server"]["tracking_server_arn"] == ARN
    # Only the real run changed something.
    assert mutating(aws, start) == ["CreateMlflowTrackingServer"]
    server = described(aws)
    assert (server["TrackingServerSize"], server["TrackingServerStatus"]) == ("Small", "Created") and tags_of(aws) == {"team": "a"}


def test_mutable_settings_change_in_place(aws, play):
    start = aws.control.last_request_id()
    changed = args_for(size="Medium", artifact_store_uri="s3://mlflow-artifacts-bucket/team-b", weekly_maintenance_window_start="Wed:12:00",
                       s3_bucket_owner_account_id="210987654321", s3_bucket_owner_verification=False)
    run = play([task(args_for(), name="create"), task(changed, name="update", diff=True), task(changed, name="again")])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False]
    updated = run.results[1]
    assert updated["actions"] == ["update"] and updated["tracking_server"]["tracking_server_status"] == "Updated"
    assert updated["diff"]["before"]["size"] == "Small" and updated["diff"]["after"]["size"] == "Medium"
    assert mutating(aws, start) == ["CreateMlflowTrackingServer", "UpdateMlflowTrackingServer"]
    update = [entry for entry in aws.control.requests(since=start) if entry["operation"] == "UpdateMlflowTrackingServer"]
    assert len(update) == 1
    server = described(aws)
    assert (server["TrackingServerSize"], server["ArtifactStoreUri"], server["WeeklyMaintenanceWindowStart"]) == (
        "Medium", "s3://mlflow-artifacts-bucket/team-b", "Wed:12:00")
    assert (server["S3BucketOwnerAccountId"], server["S3BucketOwnerVerification"]) == ("210987654321", False)


def test_a_new_mlflow_version_or_role_is_refused_before_any_change(aws, play):
    run = play([task(args_for())])
    assert run.rc == 0, run.output
    start = aws.control.last_request_id()
    run = play([
        task(args_for(mlflow_version="2.16", size="Large"), name="version", ignore_errors=True),
        task(args_for(role_arn=OTHER_ROLE, tags={"x": "y"}), name="role", ignore_errors=True),
        task(args_for(mlflow_version="2.16", role_arn=OTHER_ROLE), name="both", ignore_errors=True, check_mode=True),
    ])
    assert run.rc == 0, run.output
    version, role, both = run.results
    assert version["failed"] and version["msg"].startswith(
        "Tracking server team-a has mlflow_version 3.0.0, and mlflow_version 2.16 was asked for. SageMaker cannot change the mlflow_version "
        "of an existing tracking server, and this module will not replace it: deleting it would lose the experiments"), version["msg"]
    for result in (version, role, both):
        assert "mlflow-export-import" in result["msg"] and "state=absent" in result["msg"], result["msg"]
    assert f"role_arn {ROLE}, and role_arn {OTHER_ROLE} was asked for" in role["msg"], role["msg"]
    assert "cannot change the mlflow_version or role_arn" in both["msg"], both["msg"]
    assert mutating(aws, start) == []
    server = described(aws)
    assert (server["MlflowVersion"], server["RoleArn"], server["TrackingServerSize"]) == ("3.0.0", ROLE, "Small")


def test_stop_and_start(aws, play):
    start = aws.control.last_request_id()
    run = play([
        task(args_for(state="stopped"), name="create stopped"),
        task(args_for(state="stopped"), name="stopped again"),
        task(args_for(), name="present leaves it stopped"),
        task(args_for(size="Large"), name="settings of a stopped server: started, updated, stopped again"),
        task(args_for(size="Large", state="started"), name="start"),
        task(args_for(state="started"), name="started again"),
        task({"name": "team-a", "state": "stopped"}, name="stop by name alone"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False, False, True, True, False, True]
    results = run.results
    assert results[0]["actions"] == ["create", "stop"] and results[0]["tracking_server"]["is_active"] == "Inactive"
    # SageMaker changes the settings of a running server only.
    assert results[3]["actions"] == ["start", "update", "stop"]
    assert results[3]["tracking_server"]["is_active"] == "Inactive" and results[3]["tracking_server"]["tracking_server_size"] == "Large"
    assert results[4]["actions"] == ["start"] and results[4]["tracking_server"]["is_active"] == "Active"
    assert results[6]["actions"] == ["stop"]
    assert mutating(aws, start) == ["CreateMlflowTrackingServer", "StopMlflowTrackingServer", "StartMlflowTrackingServer",
                                    "UpdateMlflowTrackingServer", "StopMlflowTrackingServer", "StartMlflowTrackingServer",
                                    "StopMlflowTrackingServer"]
    assert described(aws)["TrackingServerStatus"] == "Stopped" and described(aws)["TrackingServerSize"] == "Large"


def test_tags_and_purge_tags(aws, play):
    start = aws.control.last_request_id()
    run = play([
        task(args_for(tags={"team": "a", "cost": "1"}), name="create"),
        task(args_for(tags={"team": "b"}), name="purge", diff=True),
        task(args_for(tags={"extra": "x"}, purge_tags=False), name="add"),
        task(args_for(), name="tags not given"),
        task(args_for(tags={}), name="purge all"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, False, True]
    assert run.results[1]["diff"]["after"]["tags"] == {"team": "b"} and run.results[1]["actions"] == ["tag"]
    assert run.results[2]["tracking_server"]["tags"] == {"team": "b", "extra": "x"}
    assert mutating(aws, start) == ["CreateMlflowTrackingServer", "DeleteTags", "AddTags", "AddTags", "DeleteTags"]
    assert tags_of(aws) == {}


def test_absent_deletes_then_changes_nothing(aws, play):
    start = aws.control.last_request_id()
    run = play([
        task(args_for(), name="create"),
        task(args_for(state="absent"), name="delete", diff=True),
        task(args_for(state="absent"), name="delete again"),
        task({"name": "nobody", "state": "absent"}, name="never was"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False, False]
    assert run.results[1]["diff"]["before"]["name"] == "team-a" and run.results[1]["diff"]["after"] == {}
    assert run.results[1]["tracking_server_arn"] == ARN
    assert run.results[2]["tracking_server"] == {} and run.results[2]["actions"] == []
    assert mutating(aws, start) == ["CreateMlflowTrackingServer", "DeleteMlflowTrackingServer"]
    assert aws.client("sagemaker").list_mlflow_tracking_servers()["TrackingServerSummaries"] == []


def test_info_and_presigned_url(aws, play):
    sagemaker = aws.client("sagemaker")
    sagemaker.create_mlflow_tracking_server(TrackingServerName="other", ArtifactStoreUri=STORE, RoleArn=ROLE, MlflowVersion="2.16")
    run = play([task(args_for(tags={"team": "a"}), name="create")])
    assert run.rc == 0, run.output
    start = aws.control.last_request_id()
    run = play([
        task({"name": "team-a", "presigned_url": True, "presigned_url_expires_in_seconds": 60,
              "session_expiration_duration_in_seconds": 1800}, module=INFO, name="one"),
        task({}, module=INFO, name="all"),
        task({"mlflow_version": "2.16"}, module=INFO, name="filtered"),
        task({"created_after": "2000-01-01T00:00:00Z", "status": "Stopped"}, module=INFO, name="none stopped"),
        task({"name": "nobody", "presigned_url": True}, module=INFO, name="no such server"),
        task({"name": "team-a"}, module=INFO, name="in check mode", check_mode=True),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [False] * 6
    one, every, filtered, none, nobody, checked = run.results
    (server,) = one["tracking_servers"]
    assert server["tracking_server_arn"] == ARN and server["tags"] == {"team": "a"} and server["role_arn"] == ROLE
    claims = authorized_url_claims(one["presigned_url"])
    assert claims["sub"] == ARN and claims["exp"] - claims["iat"] == 60 and claims["session_duration"] == 1800
    assert sorted(s["tracking_server_name"] for s in every["tracking_servers"]) == ["other", "team-a"]
    assert [s["tracking_server_name"] for s in filtered["tracking_servers"]] == ["other"]
    assert none["tracking_servers"] == []
    assert nobody["tracking_servers"] == [] and "presigned_url" not in nobody
    assert checked["tracking_servers"][0]["tracking_server_arn"] == ARN
    # The info module only read (the presigned URL is the one Create* it may call).
    assert mutating(aws, start) == ["CreatePresignedMlflowTrackingServerUrl"]


def bad_inputs():
    """(module, arguments, what the error message says) for inputs the modules must refuse before any request."""
    return [
        (MODULE, args_for(name="team_a"), "name must be 1 to 256 letters, digits and hyphens"),
        (MODULE, args_for(artifact_store_uri="gs://bucket/x"), "artifact_store_uri must be an S3 URI"),
        (MODULE, args_for(role_arn="arn:aws:iam::123456789012:user/someone"), "role_arn must be the ARN of an IAM role"),
        (MODULE, args_for(weekly_maintenance_window_start="TUE:03:30"), "weekly_maintenance_window_start must be Day:HH:MM"),
        (MODULE, args_for(mlflow_version="3"), "mlflow_version must be a version such as 3.0"),
        (MODULE, args_for(s3_bucket_owner_account_id="12345"), "s3_bucket_owner_account_id must be an AWS account ID of 12 digits"),
        (MODULE, args_for(tags={"aws:x": "y"}), "reserved for AWS"),
        (MODULE, args_for(wait_timeout=0), "wait_timeout must be above 0"),
        (MODULE, args_for(size="Huge"), "value of size must be one of: Small, Medium, Large"),
        (INFO, {"presigned_url": True}, "presigned_url needs the name of the tracking server"),
        (INFO, {"name": "team-a", "presigned_url": True, "presigned_url_expires_in_seconds": 900},
         "presigned_url_expires_in_seconds must be between 5 and 300"),
        (INFO, {"created_after": "yesterday"}, "created_after must be an ISO 8601 date or time"),
    ]


def test_bad_input_fails_clearly_and_calls_no_api(aws, play):
    cases = bad_inputs()
    start = aws.control.last_request_id()
    run = play([task(args, module=module, ignore_errors=True) for module, args, dummy in cases])
    assert run.rc == 0, run.output
    assert run.recap["ignored"] == len(cases), run.output
    for result, (module, args, message) in zip(run.results, cases):
        assert result["failed"], result
        assert message in result["msg"], (args, result["msg"])
    assert aws.control.requests(since=start) == []


def test_missing_creation_settings_fail_after_one_look(aws, play):
    start = aws.control.last_request_id()
    run = play([task({"name": "team-a", "size": "Small"}, ignore_errors=True)])
    assert run.rc == 0, run.output
    assert run.result()["msg"] == "Tracking server team-a does not exist; to create it, give artifact_store_uri and role_arn."
    assert sagemaker_calls(aws, start) == ["DescribeMlflowTrackingServer"]
