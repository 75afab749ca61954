"""module_utils/sagemaker_mlflow: the waiter loop, tags, version and key comparison, input checks, the refusal message."""

import datetime

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import sagemaker_mlflow as common
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness


def describer(*statuses):
    """describe() answering each status in turn (None: the resource is gone), then the last one for ever."""
    answers = list(statuses)
    calls = []

    def describe():
        status = answers.pop(0) if len(answers) > 1 else answers[0]
        calls.append(status)
        return None if status is None else {"Status": status, "Name": "x"}
    describe.calls = calls
    return describe


def wait(describe, timeout=600, accept_failed=False, clock=None):
    clock = clock or harness.FakeClock()
    return common.wait_until_settled(describe, "Status", common.SERVER_TRANSITIONAL, "Tracking server x", timeout,
                                     accept_failed=accept_failed, sleep=clock.sleep, clock=clock.clock), clock


def test_the_waiter_polls_while_transitional_with_growing_pauses():
    describe = describer("Creating", "Creating", "Creating", "Creating", "Creating", "Creating", "Created")
    answer, clock = wait(describe)
    assert answer["Status"] == "Created" and len(describe.calls) == 7
    assert clock.sleeps == [1, 2, 4, 8, 15, 15]


def test_the_waiter_returns_at_once_when_settled_or_gone():
    assert wait(describer("Stopped"))[0]["Status"] == "Stopped"
    assert wait(describer("Deleting", None))[0] is None


@pytest.mark.parametrize("status", ["CreateFailed", "UpdateFailed", "StartFailed", "MaintenanceFailed"])
def test_the_waiter_fails_on_failed_states_with_the_status(status):
    with pytest.raises(common.WaitFailed) as caught:
        wait(describer("Updating", status))
    assert str(caught.value).startswith("Tracking server x is {0}".format(status))
    assert wait(describer(status), accept_failed=True)[0]["Status"] == status


def test_the_waiter_gives_up_after_the_timeout():
    with pytest.raises(common.WaitFailed) as caught:
        wait(describer("Creating"), timeout=30)
    assert "was still Creating after 30 seconds (wait_timeout)" in str(caught.value)


def test_failure_messages_carry_what_sagemaker_says():
    message = common.failure_message("MLflow App a", {"Status": "UpdateFailed", "FailureReason": "no access", "MaintenanceStatus": "MaintenanceFailed"},
                                     "Status")
    assert message.startswith("MLflow App a is UpdateFailed (no access; maintenance status MaintenanceFailed).")


@pytest.mark.parametrize("tags, purge, expected_set, expected_unset", [
    (None, True, {}, []),  # tags not given: left alone
    ({"a": "1"}, True, {}, ["b"]),  # aws: tags are never purged
    ({}, True, {}, ["a", "b"]),
    ({"a": "2"}, False, {"a": "2"}, []),
    ({"a": "1", "c": 3}, True, {"c": "3"}, ["b"]),
])
def test_tag_changes(tags, purge, expected_set, expected_unset):
    current = {"a": "1", "b": "2", "aws:cloudformation:stack-id": "x"}
    assert common.tag_changes(current, tags, purge) == (expected_set, expected_unset)
    if tags is not None:
        assert "aws:cloudformation:stack-id" in common.desired_tags(current, tags, purge)


@pytest.mark.parametrize("current, wanted, same", [
    ("3.0.0", "3.0", True), ("3.0.0", "3.0.0", True), ("2.16.2", "2.16", True), ("2.16.2", "2.1", False), ("3.0.0", "2.16", False),
    ("3.0.0", None, True), (None, "3.0", False),
])
def test_version_matches(current, wanted, same):
    assert common.version_matches(current, wanted) is same


@pytest.mark.parametrize("current, wanted, same", [
    (None, None, True), ("arn:aws:kms:us-east-1:123456789012:key/k-1", "k-1", True), ("k-1", "arn:aws:kms:us-east-1:123456789012:key/k-1", True),
    (None, "k-1", False), ("k-1", "k-2", False), ("alias/x", "k-1", False),
])
def test_same_kms_key(current, wanted, same):
    assert common.same_kms_key(current, wanted) is same


def test_snake_views_turn_times_into_strings_and_keep_tags():
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    view = common.snake({"TrackingServerArn": "arn", "CreationTime": moment, "CreatedBy": {"IamIdentity": {"Arn": "a"}},
                         "ResponseMetadata": {}}, {"Team": "a"})
    assert view == {"tracking_server_arn": "arn", "creation_time": "2026-01-01T00:00:00+00:00", "created_by": {"iam_identity": {"arn": "a"}},
                    "tags": {"Team": "a"}}
    assert common.snake(None) == {}


@pytest.mark.parametrize("params, message", [
    ({"artifact_store_uri": "gs://b"}, "artifact_store_uri must be an S3 URI"),
    ({"role_arn": "arn:aws:iam::123456789012:user/x"}, "role_arn must be the ARN of an IAM role"),
    ({"weekly_maintenance_window_start": "Tue:3:30"}, "weekly_maintenance_window_start must be Day:HH:MM"),
    ({"tags": {"aws:x": "1"}}, "reserved for AWS"),
    ({"tags": {"k": "v" * 257}}, "values up to 256"),
    ({"tags": dict(("k{0}".format(index), "v") for index in range(51))}, "up to 50 tags"),
    ({"wait_timeout": -1}, "wait_timeout must be above 0"),
])
def test_common_checks(params, message):
    with pytest.raises(common.InvalidInput) as caught:
        common.check_common(params)
    assert message in str(caught.value)


def test_good_common_input_passes():
    common.check_common({"artifact_store_uri": "s3://bucket/prefix", "role_arn": "arn:aws:iam::123456789012:role/mlflow",
                         "weekly_maintenance_window_start": "Sun:23:59", "tags": {"a": "b"}, "wait_timeout": 1})
    common.check_presigned({"presigned_url_expires_in_seconds": 5, "session_expiration_duration_in_seconds": 43200})


@pytest.mark.parametrize("params, message", [
    ({"presigned_url_expires_in_seconds": 4}, "between 5 and 300"),
    ({"session_expiration_duration_in_seconds": 43201}, "between 1800 and 43200"),
])
def test_presigned_checks(params, message):
    with pytest.raises(common.InvalidInput) as caught:
        common.check_presigned(params)
    assert message in str(caught.value)


def test_times_are_iso_8601():
    assert common.parse_time("2026-01-31", "created_after") == datetime.datetime(2026, 1, 31, tzinfo=datetime.timezone.utc)
    assert common.parse_time("2026-01-31T12:00:00Z", "x").hour == 12
    with pytest.raises(common.InvalidInput):
        common.parse_time("last week", "created_before")


def test_the_refusal_explains_why_and_how_to_migrate():
    message = common.refusal("Tracking server", "team-a", [("mlflow_version", "2.16.2", "3.0")], "its database")
    assert message.startswith("Tracking server team-a has mlflow_version 2.16.2, and mlflow_version 3.0 was asked for. SageMaker cannot change "
                              "the mlflow_version of an existing tracking server, and this module will not replace it")
    assert "would lose the experiments" in message and "mlflow-export-import" in message and "state=absent" in message
    app = common.refusal("MLflow App", "a", [("role_arn", "r1", "r2"), ("kms_key_id", None, "k")], "its database")
    assert "has role_arn r1 and kms_key_id (none)" in app and "an existing MLflow App" in app and "role_arn or kms_key_id" in app


# --- creation while IAM propagates a new role ------------------------------------------------------------------------------

ROLE = "arn:aws:iam::123456789012:role/team-a-mlflow"


def refusal(code, message):
    import botocore.exceptions
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, "CreateMlflowTrackingServer")


def creator(*outcomes):
    """create() raising each exception in turn, then answering {'Arn': 'x'}."""
    remaining = list(outcomes)
    calls = []

    def create():
        calls.append(1)
        if remaining:
            raise remaining.pop(0)
        return {"Arn": "x"}
    create.calls = calls
    return create


def test_creation_is_retried_while_sagemaker_cannot_assume_a_new_role():
    clock = harness.FakeClock()
    create = creator(refusal("ValidationException", "Could not assume role {0}".format(ROLE)),
                     refusal("ValidationException", "Could not assume role {0}".format(ROLE)))
    assert common.create_when_role_is_ready(create, ROLE, sleep=clock.sleep, clock=clock.clock) == {"Arn": "x"}
    assert len(create.calls) == 3 and clock.now == 2 + 4


@pytest.mark.parametrize("error", [
    refusal("ValidationException", "Value 'Huge' at 'trackingServerSize' failed to satisfy constraint"),
    refusal("ResourceLimitExceeded", "Could not assume role {0}".format(ROLE)),
    refusal("ValidationException", "Could not assume role arn:aws:iam::123456789012:role/someone-else"),
])
def test_other_refusals_are_not_retried(error):
    create = creator(error)
    with pytest.raises(type(error)):
        common.create_when_role_is_ready(create, ROLE, sleep=lambda seconds: None)
    assert len(create.calls) == 1


def test_a_role_that_never_becomes_usable_fails_after_the_timeout():
    clock = harness.FakeClock()
    create = creator(*[refusal("ValidationException", "Could not assume role {0}".format(ROLE))] * 50)
    with pytest.raises(Exception, match="Could not assume role"):
        common.create_when_role_is_ready(create, ROLE, timeout=90, sleep=clock.sleep, clock=clock.clock)
    assert clock.now <= 90
