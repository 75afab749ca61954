"""mlops.mlflow.sagemaker_mlflow_tracking_server (and _info): input checks, the comparison, the plan of steps and
the refusal to replace a server, and main() with SageMaker stubbed by botocore's Stubber."""

import datetime

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlops.mlflow.plugins.module_utils import sagemaker_mlflow as common
from ansible_collections.mlops.mlflow.plugins.modules import sagemaker_mlflow_tracking_server as module
from ansible_collections.mlops.mlflow.plugins.modules import sagemaker_mlflow_tracking_server_info as info
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
ROLE = "arn:aws:iam::{0}:role/mlflow".format(ACCOUNT)
ARN = "arn:aws:sagemaker:us-east-1:{0}:mlflow-tracking-server/team-a".format(ACCOUNT)
STORE = "s3://bucket/team-a"
ARGS = dict(harness.AWS_ARGS, name="team-a", artifact_store_uri=STORE, role_arn=ROLE, mlflow_version="3.0")

run = harness.runner(module)
run_info = harness.runner(info)


def params(**changes):
    with patch_module_args(dict(ARGS, **changes)):
        return harness.validated_params(module)


# IsActive as SageMaker reports it: a server serves while it is created, updated, started, or after an update, stop or
# maintenance that failed (it goes on running).
ACTIVE_STATUSES = ("Created", "Updated", "Started", "Updating", "MaintenanceComplete", "UpdateFailed", "StopFailed", "MaintenanceFailed")


def server(status="Created", **changes):
    """A tracking server as DescribeMlflowTrackingServer answers."""
    described = {
        "TrackingServerArn": ARN, "TrackingServerName": "team-a", "ArtifactStoreUri": STORE, "TrackingServerSize": "Small",
        "MlflowVersion": "3.0.0", "RoleArn": ROLE, "TrackingServerStatus": status,
        "IsActive": "Active" if status in ACTIVE_STATUSES else "Inactive",
        "TrackingServerUrl": "https://t-abcdefghijkl.us-east-1.experiments.sagemaker.aws", "WeeklyMaintenanceWindowStart": "Tue:03:30",
        "AutomaticModelRegistration": False, "CreationTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        "S3BucketOwnerAccountId": ACCOUNT, "S3BucketOwnerVerification": True,
    }
    described.update(changes)
    return described


# --- input checks -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"name": "team_a"}, "name must be 1 to 256 letters, digits and hyphens"),
    ({"mlflow_version": "3"}, "mlflow_version must be a version such as 3.0"),
    ({"mlflow_version": "latest"}, "Quote it in YAML"),
    ({"s3_bucket_owner_account_id": "1234"}, "s3_bucket_owner_account_id must be an AWS account ID of 12 digits"),
    ({"artifact_store_uri": "bucket/x"}, "artifact_store_uri must be an S3 URI"),
    ({"wait_timeout": 0}, "wait_timeout must be above 0"),
])
def test_bad_input_is_refused(changes, message):
    with pytest.raises(common.InvalidInput) as caught:
        module.validate(params(**changes))
    assert message in str(caught.value)


def test_absent_checks_only_the_name():
    module.validate(params(state="absent", artifact_store_uri="bucket/x", mlflow_version="x"))


# --- comparison and plan ------------------------------------------------------------------------------------------------


def test_the_same_server_needs_nothing():
    assert module.plan(server(), params(), {}) == []
    assert module.plan(server(), params(mlflow_version="3.0.0", size="Small", state="started"), {}) == []
    assert module.plan(server(status="Stopped"), params(state="stopped"), {}) == []


@pytest.mark.parametrize("changes, expected", [
    ({"size": "Large"}, ["size"]),
    ({"automatic_model_registration": True, "weekly_maintenance_window_start": "Sun:00:00"},
     ["automatic_model_registration", "weekly_maintenance_window_start"]),
    ({"artifact_store_uri": "s3://other/x", "s3_bucket_owner_verification": False}, ["artifact_store_uri", "s3_bucket_owner_verification"]),
])
def test_mutable_differences_update(changes, expected):
    assert module.plan(server(), params(**changes), {}) == [("update", expected)]
    assert module.update_arguments(params(**changes), expected) == dict(
        [("TrackingServerName", "team-a")] + [(member, changes[option]) for option, member in module.MUTABLE if option in expected])


@pytest.mark.parametrize("changes, differing", [
    ({"mlflow_version": "2.16"}, "mlflow_version 3.0.0, and mlflow_version 2.16"),
    ({"role_arn": "arn:aws:iam::123456789012:role/other"}, "role_arn {0}, and role_arn arn:aws:iam::123456789012:role/other".format(ROLE)),
    ({"mlflow_version": "2.16", "size": "Large"}, "mlflow_version 3.0.0, and mlflow_version 2.16"),
])
def test_version_and_role_changes_are_refused(changes, differing):
    with pytest.raises(common.InvalidInput) as caught:
        module.plan(server(), params(**changes), {})
    assert differing in str(caught.value) and "mlflow-export-import" in str(caught.value)


@pytest.mark.parametrize("status, state, changes, expected", [
    (None, "present", {}, ["create"]),
    (None, "started", {}, ["create"]),
    (None, "stopped", {}, ["create", "stop"]),
    ("Created", "stopped", {"size": "Large"}, ["update", "stop"]),
    ("Stopped", "started", {"size": "Large"}, ["start", "update"]),
    ("Stopped", "started", {}, ["start"]),
    # SageMaker updates running servers only: a stopped one is started for the update and stopped again.
    ("Stopped", "present", {"size": "Large"}, ["start", "update", "stop"]),
    ("Stopped", "stopped", {"size": "Large"}, ["start", "update", "stop"]),
    ("Updated", "stopped", {}, ["stop"]),
    ("StartFailed", "started", {}, ["start"]),
    ("MaintenanceComplete", "present", {"size": "Medium"}, ["update"]),
])
def test_plans(status, state, changes, expected):
    current = server(status=status) if status else None
    assert [action for action, detail in module.plan(current, params(state=state, **changes), {})] == expected


@pytest.mark.parametrize("status, state, changes, message", [
    ("Stopped", "present", {"size": "Large", "wait": False}, "needs start, then update, then stop, one after the other: that needs wait=true"),
    ("Stopped", "stopped", {"size": "Large", "wait": False}, "needs start, then update, then stop"),
    ("CreateFailed", "present", {}, "is CreateFailed: SageMaker could not create it, and it can only be deleted"),
    ("Created", "stopped", {"size": "Large", "wait": False}, "needs update, then stop, one after the other: that needs wait=true"),
    (None, "stopped", {"wait": False}, "needs create, then stop"),
    (None, "present", {"role_arn": None}, "Tracking server team-a does not exist; to create it, give role_arn."),
])
def test_plans_that_cannot_be_done(status, state, changes, message):
    current = server(status=status) if status else None
    with pytest.raises(common.InvalidInput) as caught:
        module.plan(current, params(state=state, **changes), {})
    assert message in str(caught.value)


def test_tags_are_a_step_of_their_own():
    steps = module.plan(server(), params(tags={"team": "b"}), {"team": "a", "old": "1"})
    assert steps == [("tag", ({"team": "b"}, ["old"]))]
    assert module.plan(server(), params(), {"team": "a"}) == []  # tags not given


def test_diff_views():
    before = module.comparable(server(status="Stopped"), {"team": "a"})
    assert before["running"] is False and before["mlflow_version"] == "3.0.0" and before["tags"] == {"team": "a"}
    after = module.comparable(module.planned(server(status="Stopped"), params(state="started", size="Large"), {}), {})
    assert after["running"] is True and after["size"] == "Large" and after["mlflow_version"] == "3.0.0"
    new = module.planned(None, params(state="stopped"), {})
    assert new["TrackingServerStatus"] == "Stopped" and new["MlflowVersion"] == "3.0" and "TrackingServerArn" not in new


# --- main() with a stubbed SageMaker ------------------------------------------------------------------------------------


@pytest.fixture
def sagemaker(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "sagemaker")
    clock = harness.FakeClock()
    monkeypatch.setattr(common.time, "sleep", clock.sleep)
    monkeypatch.setattr(common.time, "monotonic", clock.monotonic)
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_describe(sagemaker, answer):
    if answer is None:
        sagemaker.add_client_error("describe_mlflow_tracking_server", "ResourceNotFound", "Tracking server with name team-a does not exist.", 400,
                                   expected_params={"TrackingServerName": "team-a"})
    else:
        sagemaker.add_response("describe_mlflow_tracking_server", answer, {"TrackingServerName": "team-a"})


def expect_tags(sagemaker, tags):
    sagemaker.add_response("list_tags", {"Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}, {"ResourceArn": ARN})


def test_creates_and_waits(sagemaker):
    expect_describe(sagemaker, None)
    sagemaker.add_response("create_mlflow_tracking_server", {"TrackingServerArn": ARN}, {
        "TrackingServerName": "team-a", "ArtifactStoreUri": STORE, "RoleArn": ROLE, "MlflowVersion": "3.0", "TrackingServerSize": "Small",
        "Tags": [{"Key": "team", "Value": "a"}]})
    expect_describe(sagemaker, server(status="Creating"))
    expect_describe(sagemaker, server(status="Created"))
    expect_describe(sagemaker, server(status="Created"))
    expect_tags(sagemaker, {"team": "a"})
    outcome = run(dict(ARGS, size="Small", tags={"team": "a"}), diff=True)
    assert not outcome.failed, outcome.result["msg"]
    result = outcome.result
    assert result["changed"] and result["actions"] == ["create"] and result["tracking_server_arn"] == ARN
    assert result["tracking_server"]["tags"] == {"team": "a"} and result["tracking_server"]["creation_time"] == "2026-01-01T00:00:00+00:00"
    assert result["diff"]["before"] == {} and result["diff"]["after"]["size"] == "Small"


def test_check_mode_only_looks(sagemaker):
    expect_describe(sagemaker, server())
    expect_tags(sagemaker, {})
    outcome = run(dict(ARGS, size="Large", state="stopped"), check_mode=True, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] and outcome.result["actions"] == ["update", "stop"]
    assert outcome.result["diff"]["after"]["running"] is False and outcome.result["tracking_server"]["tracking_server_size"] == "Large"


def test_refusal_makes_no_change(sagemaker):
    expect_describe(sagemaker, server())
    expect_tags(sagemaker, {})
    outcome = run(dict(ARGS, mlflow_version="2.16", size="Large"))
    assert outcome.failed and "SageMaker cannot change the mlflow_version" in outcome.result["msg"]


def test_waits_for_a_change_under_way_before_comparing(sagemaker):
    expect_describe(sagemaker, server(status="Updating"))
    expect_describe(sagemaker, server(status="Updating"))
    expect_describe(sagemaker, server(status="Updated", TrackingServerSize="Medium"))
    expect_tags(sagemaker, {})
    outcome = run(dict(ARGS, size="Medium"))
    assert not outcome.failed and not outcome.result["changed"]


def test_a_failed_creation_fails_with_the_status(sagemaker):
    expect_describe(sagemaker, None)
    sagemaker.add_response("create_mlflow_tracking_server", {"TrackingServerArn": ARN})
    expect_describe(sagemaker, server(status="CreateFailed"))
    outcome = run(ARGS)
    assert outcome.failed and outcome.result["msg"].startswith("Tracking server team-a is CreateFailed")
    assert outcome.result["actions"] == ["create"]


def test_absent_deletes_and_waits_until_gone(sagemaker):
    expect_describe(sagemaker, server())
    expect_tags(sagemaker, {"team": "a"})
    sagemaker.add_response("delete_mlflow_tracking_server", {"TrackingServerArn": ARN}, {"TrackingServerName": "team-a"})
    expect_describe(sagemaker, server(status="Deleting"))
    expect_describe(sagemaker, None)
    outcome = run({"name": "team-a", "state": "absent", "region": "us-east-1", "access_key": "testing", "secret_key": "testing"})
    assert not outcome.failed and outcome.result["changed"] and outcome.result["actions"] == ["delete"]
    assert outcome.result["tracking_server"]["tags"] == {"team": "a"}


# --- the info module ------------------------------------------------------------------------------------------------------


def test_info_validates_and_builds_filters():
    with patch_module_args(dict(harness.AWS_ARGS, status="Stopped", mlflow_version="3.0", created_after="2026-01-01")):
        wanted = harness.validated_params(info)
    filters = info.validate(wanted)
    assert filters == {"TrackingServerStatus": "Stopped", "MlflowVersion": "3.0",
                       "CreatedAfter": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)}
    with patch_module_args(dict(harness.AWS_ARGS, presigned_url=True)):
        wanted = harness.validated_params(info)
    with pytest.raises(common.InvalidInput):
        info.validate(wanted)


def test_info_describes_with_tags_and_a_presigned_url(sagemaker):
    expect_describe(sagemaker, server())
    expect_tags(sagemaker, {"team": "a"})
    sagemaker.add_response("create_presigned_mlflow_tracking_server_url", {"AuthorizedUrl": "https://t-x/auth?authToken=t"},
                           {"TrackingServerName": "team-a", "ExpiresInSeconds": 60})
    outcome = run_info(dict(harness.AWS_ARGS, name="team-a", presigned_url=True, presigned_url_expires_in_seconds=60), check_mode=True)
    assert not outcome.failed and not outcome.result["changed"]
    assert outcome.result["presigned_url"] == "https://t-x/auth?authToken=t"
    assert outcome.result["tracking_servers"][0]["tags"] == {"team": "a"}


@pytest.mark.parametrize("status", ["UpdateFailed", "StopFailed", "MaintenanceFailed"])
def test_a_server_that_goes_on_running_after_a_failure_is_not_started_again(status):
    assert module.plan(server(status=status), params(state="started"), {}) == []
    assert module.plan(server(status=status), params(state="stopped"), {}) == [("stop", None)]
    assert module.comparable(server(status=status), {})["running"] is True
