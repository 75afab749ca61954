"""mlops.mlflow.application_autoscaling_scheduled_action: the input checks and the comparison as
functions, and main() with Application Auto Scaling stubbed by botocore's Stubber (which also checks
every request against the API model)."""

import datetime

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.modules import application_autoscaling_scheduled_action as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

RESOURCE = "service/mlflow/mlflow"
DIMENSION = "ecs:service:DesiredCount"
IDENTITY = {"ServiceNamespace": "ecs", "ResourceId": RESOURCE, "ScalableDimension": DIMENSION}
UTC = datetime.timezone.utc


def base_args(**changes):
    args = {
        "resource_id": RESOURCE,
        "name": "night",
        "schedule": "cron(0 20 ? * MON-FRI *)",
        "timezone": "Europe/Berlin",
        "min_capacity": 0,
        "max_capacity": 0,
        "region": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value is not None}


@pytest.fixture
def aas(monkeypatch):
    """A real application-autoscaling client answered by a Stubber; the module gets it from module.client()."""
    stubber = harness.stub_client(monkeypatch, "application-autoscaling")
    with stubber:
        yield stubber


run = harness.runner(module)


def described(name="night", schedule="cron(0 20 ? * MON-FRI *)", timezone="Europe/Berlin", start=None, end=None, capacity=None):
    action = dict(IDENTITY, ScheduledActionName=name, Schedule=schedule,
                  ScheduledActionARN="arn:aws:autoscaling:us-east-1:123456789012:scheduledAction:0a1b:resource/ecs/{0}:scheduledActionName/{1}".format(
                      RESOURCE, name),
                  CreationTime=datetime.datetime(2026, 1, 1, tzinfo=UTC),
                  ScalableTargetAction={"MinCapacity": 0, "MaxCapacity": 0} if capacity is None else capacity)
    if timezone is not None:
        action["Timezone"] = timezone
    if start is not None:
        action["StartTime"] = start
    if end is not None:
        action["EndTime"] = end
    return action


def expect_target(aas, registered=True):
    targets = [dict(IDENTITY, MinCapacity=1, MaxCapacity=4, RoleARN="arn:aws:iam::123456789012:role/x",
                    CreationTime=datetime.datetime(2026, 1, 1, tzinfo=UTC))] if registered else []
    aas.add_response("describe_scalable_targets", {"ScalableTargets": targets},
                     {"ServiceNamespace": "ecs", "ResourceIds": [RESOURCE], "ScalableDimension": DIMENSION})


def expect_actions(aas, *actions, name="night"):
    aas.add_response("describe_scheduled_actions", {"ScheduledActions": list(actions)},
                     dict(IDENTITY, ScheduledActionNames=[name]))


def expect_put(aas, **changes):
    params = dict(IDENTITY, ScheduledActionName="night", Schedule="cron(0 20 ? * MON-FRI *)", Timezone="Europe/Berlin",
                  ScalableTargetAction={"MinCapacity": 0, "MaxCapacity": 0})
    params.update(changes)
    aas.add_response("put_scheduled_action", {}, params)


def expect_delete(aas, name="night"):
    aas.add_response("delete_scheduled_action", {}, dict(IDENTITY, ScheduledActionName=name))


# --- input checks -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", [
    "cron(0 20 ? * MON-FRI *)", "cron(0 7 1 * ? *)", "cron(0/15 8-18 ? * 2#1 2030)", "cron(0 0 L * ? *)",
    "rate(1 minute)", "rate(5 minutes)", "rate(6 hours)", "rate(1 day)", "at(2030-01-31T18:00:00)",
])
def test_valid_schedules(schedule):
    assert module.schedule_error(schedule) is None


@pytest.mark.parametrize("schedule, words", [
    ("cron(0 20 * * 1-5)", "this one has five as in a Unix crontab"),
    ("cron(0 20 * * *)", "add the year and use ?"),
    ("cron(0 20 * * * *)", "exactly one of day of month and day of week must be ?"),
    ("cron(0 20 ? * ? *)", "exactly one of day of month and day of week must be ?"),
    ("cron(0 20 ? * MON-FRI * 1)", "this one has 7"),
    ("cron(0 20 ? * MON;FRI *)", "the day of week field 'MON;FRI' holds characters"),
    ("rate(0 minutes)", "must be a positive integer"),
    ("rate(5 weeks)", "unit minute, minutes, hour, hours, day or days"),
    ("rate(five minutes)", "rate(<value> <unit>)"),
    ("at(2030-02-30T18:00:00)", "is not a valid date and time"),
    ("at(2030-01-31 18:00)", "at(yyyy-mm-ddThh:mm:ss)"),
    ("0 20 * * *", "must be a cron(...), rate(...) or at(...) expression"),
    ("", "must be a cron(...), rate(...) or at(...) expression"),
])
def test_invalid_schedules_say_why(schedule, words):
    assert words in module.schedule_error(schedule)


def test_time_zones():
    assert module.timezone_error("Europe/Berlin") is None
    assert module.timezone_error("UTC") is None
    assert module.timezone_error("Etc/GMT+9") is None
    assert "IANA time zone name" in module.timezone_error("Berlin")
    assert "IANA time zone name" in module.timezone_error("CET+1")


def test_time_zones_unchecked_without_a_database(monkeypatch):
    monkeypatch.setattr(module.zoneinfo, "available_timezones", set)
    assert module.timezone_error("Anything/Goes") is None
    monkeypatch.setattr(module, "zoneinfo", None)
    assert module.timezone_error("Anything/Goes") is None


@pytest.mark.parametrize("text, expected", [
    ("2030-01-01T00:00:00Z", datetime.datetime(2030, 1, 1, tzinfo=UTC)),
    ("2030-01-01T01:00:00+01:00", datetime.datetime(2030, 1, 1, tzinfo=UTC)),
    ("2030-01-01T00:00:00", datetime.datetime(2030, 1, 1, tzinfo=UTC)),
    ("2030-01-01 00:00:00.750", datetime.datetime(2030, 1, 1, tzinfo=UTC)),
])
def test_times_are_utc_whole_seconds(text, expected):
    assert module.parse_time(text, "start_time") == expected


def test_a_bad_time_names_the_option():
    with pytest.raises(InvalidInput, match="end_time must be an ISO 8601 date and time"):
        module.parse_time("tomorrow", "end_time")


def test_comparable_form():
    assert module.comparable(None) == {}
    current = described(timezone=None, start=datetime.datetime(2030, 1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
                        capacity={"MinCapacity": 1})
    assert module.comparable(current) == {"schedule": "cron(0 20 ? * MON-FRI *)", "timezone": "UTC", "start_time": "2030-01-01T00:00:00Z",
                                          "min_capacity": 1}


def test_dropping_a_capacity_needs_a_new_action():
    both = {"min_capacity": 0, "max_capacity": 0}
    assert module.needs_recreate(both, {"min_capacity": 0})
    assert module.needs_recreate(both, {"max_capacity": 3})
    assert not module.needs_recreate(both, {"min_capacity": 1, "max_capacity": 2})
    assert not module.needs_recreate({"min_capacity": 0}, both)


@pytest.mark.parametrize("changes, message", [
    ({"schedule": "cron(0 20 * * 1-5)"}, "schedule 'cron(0 20 * * 1-5)' is not valid: a cron expression has six fields"),
    ({"timezone": "Berlin"}, "timezone must be an IANA time zone name such as Europe/Berlin"),
    ({"start_time": "2030-01-02T00:00:00Z", "end_time": "2030-01-01T00:00:00Z"},
     "end_time (2030-01-01T00:00:00Z) must be later than start_time (2030-01-02T00:00:00Z)"),
    ({"start_time": "soon"}, "start_time must be an ISO 8601 date and time"),
    ({"min_capacity": 3, "max_capacity": 1}, "min_capacity (3) must not be greater than max_capacity (1)"),
    ({"min_capacity": -1, "max_capacity": None}, "min_capacity must be 0 or more"),
    ({"min_capacity": None, "max_capacity": None}, "state is present but any of the following are missing: min_capacity, max_capacity"),
    ({"schedule": None}, "state is present but all of the following are missing: schedule"),
    ({"name": "night/shift"}, "name must be 1 to 256 characters without ':', '/', '|'"),
    ({"name": " night"}, "leading or trailing spaces"),
    ({"resource_id": "arn:aws:ecs:us-east-1:123456789012:service/mlflow/mlflow"},
     "resource_id of an ECS service must be service/<cluster name>/<service name> (for this service ARN: service/mlflow/mlflow)"),
    ({"resource_id": "mlflow/mlflow"}, "resource_id of an ECS service must be service/<cluster name>/<service name>, got 'mlflow/mlflow'"),
    ({"scalable_dimension": "dynamodb:table:ReadCapacityUnits"}, "scalable_dimension dynamodb:table:ReadCapacityUnits does not belong to "
                                                                 "service_namespace ecs: use one of ecs:service:DesiredCount"),
    ({"service_namespace": "dynamodb", "resource_id": "table/t"}, "scalable_dimension is required with service_namespace=dynamodb"),
    ({"service_namespace": "lambda", "scalable_dimension": "ecs:service:DesiredCount"}, "does not belong to service_namespace lambda"),
])
def test_bad_input_fails_before_any_api_call(aas, changes, message):
    outcome = run(base_args(**changes))
    assert outcome.failed
    assert message in outcome.result["msg"]
    assert aas.created == [], "an AWS client was created before the input was checked"


def test_absent_needs_only_the_identity(aas):
    expect_actions(aas)
    outcome = run({"resource_id": RESOURCE, "name": "night", "state": "absent", "schedule": "not checked", "region": "us-east-1"})
    assert not outcome.failed and not outcome.result["changed"]


# --- against the API ------------------------------------------------------------------------------------------------------


def test_creates_the_action_and_returns_it_described(aas):
    expect_target(aas)
    expect_actions(aas)
    expect_put(aas)
    expect_actions(aas, described())
    outcome = run(base_args(), diff=True)
    aas.assert_no_pending_responses()
    result = outcome.result
    assert result["changed"]
    action = result["scheduled_action"]
    assert action["scheduled_action_arn"].endswith("scheduledActionName/night")
    assert action["scalable_target_action"] == {"min_capacity": 0, "max_capacity": 0}
    assert (action["timezone"], action["creation_time"]) == ("Europe/Berlin", "2026-01-01T00:00:00+00:00")
    assert result["diff"] == {"before": {}, "after": {"schedule": "cron(0 20 ? * MON-FRI *)", "timezone": "Europe/Berlin",
                                                      "min_capacity": 0, "max_capacity": 0}}


def test_an_equal_action_changes_nothing(aas):
    expect_target(aas)
    expect_actions(aas, described(start=datetime.datetime(2030, 1, 1, tzinfo=UTC)))
    outcome = run(base_args(start_time="2030-01-01T01:00:00+01:00"), diff=True)
    aas.assert_no_pending_responses()
    assert not outcome.result["changed"]
    assert outcome.result["diff"]["before"] == outcome.result["diff"]["after"]
    assert outcome.result["scheduled_action"]["start_time"] == "2030-01-01T00:00:00+00:00"


def test_no_time_zone_means_utc_on_both_sides(aas):
    expect_target(aas)
    expect_actions(aas, described(timezone=None))
    assert not run(base_args(timezone=None)).result["changed"]


def test_a_filter_that_answers_too_much_is_filtered_again(aas):
    """DescribeScheduledActions is asked for one name; an answer with other actions (moto ignores the
    resource filter on some paths) must not be taken for this one."""
    expect_target(aas)
    other = described(name="morning", schedule="cron(0 7 ? * MON-FRI *)")
    expect_actions(aas, other)
    expect_put(aas)
    expect_actions(aas, other, described())
    outcome = run(base_args())
    aas.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["scheduled_action"]["scheduled_action_name"] == "night"


@pytest.mark.parametrize("changes, put", [
    ({"timezone": "America/New_York"}, {"Timezone": "America/New_York"}),
    ({"timezone": None}, {"Timezone": "UTC"}),
    ({"schedule": "cron(0 21 ? * MON-FRI *)"}, {"Schedule": "cron(0 21 ? * MON-FRI *)"}),
    ({"min_capacity": 1, "max_capacity": 2}, {"ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 2}}),
    ({"start_time": "2030-01-01T00:00:00Z", "end_time": "2030-06-30T00:00:00Z"},
     {"StartTime": datetime.datetime(2030, 1, 1, tzinfo=UTC), "EndTime": datetime.datetime(2030, 6, 30, tzinfo=UTC)}),
], ids=["timezone", "timezone back to UTC", "schedule", "capacity", "window"])
def test_a_change_is_one_put_with_the_whole_action(aas, changes, put):
    expect_target(aas)
    expect_actions(aas, described())
    expect_put(aas, **put)
    expect_actions(aas, described())
    outcome = run(base_args(**changes), diff=True)
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]
    assert outcome.result["diff"]["before"] != outcome.result["diff"]["after"]


def test_removing_start_and_end_is_an_update(aas):
    """PutScheduledAction removes start and end times the request leaves out."""
    expect_target(aas)
    expect_actions(aas, described(start=datetime.datetime(2030, 1, 1, tzinfo=UTC), end=datetime.datetime(2030, 2, 1, tzinfo=UTC)))
    expect_put(aas)
    expect_actions(aas, described())
    outcome = run(base_args(), diff=True)
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]
    assert "start_time" in outcome.result["diff"]["before"] and "start_time" not in outcome.result["diff"]["after"]


def test_removing_a_capacity_deletes_and_creates_the_action(aas):
    """PutScheduledAction keeps a capacity the request leaves out: only a new action can drop it."""
    expect_target(aas)
    expect_actions(aas, described())
    expect_delete(aas)
    expect_put(aas, ScalableTargetAction={"MinCapacity": 0})
    expect_actions(aas, described(capacity={"MinCapacity": 0}))
    outcome = run(base_args(max_capacity=None))
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]
    assert outcome.result["scheduled_action"]["scalable_target_action"] == {"min_capacity": 0}


def test_check_mode_changes_nothing_and_says_what_would_be(aas):
    expect_target(aas)
    expect_actions(aas, described())
    outcome = run(base_args(max_capacity=None, timezone="Asia/Tokyo"), check_mode=True, diff=True)
    aas.assert_no_pending_responses()  # the stubber would fail on a put or delete
    result = outcome.result
    assert result["changed"]
    assert result["scheduled_action"]["timezone"] == "Asia/Tokyo" and "scheduled_action_arn" not in result["scheduled_action"]
    assert result["diff"]["after"] == {"schedule": "cron(0 20 ? * MON-FRI *)", "timezone": "Asia/Tokyo", "min_capacity": 0}


def test_without_a_scalable_target_it_fails_and_says_how_to_fix(aas):
    expect_target(aas, registered=False)
    expect_actions(aas)
    outcome = run(base_args())
    aas.assert_no_pending_responses()
    assert outcome.failed
    message = outcome.result["msg"]
    assert "No scalable target is registered for service namespace ecs, resource ID service/mlflow/mlflow" in message
    assert "Register the target first" in message and "application_autoscaling_target_tracking" in message


def test_without_a_scalable_target_check_mode_warns(aas):
    expect_target(aas, registered=False)
    expect_actions(aas)
    outcome = run(base_args(), check_mode=True)
    assert not outcome.failed and outcome.result["changed"]
    assert any("No scalable target is registered" in warning and "check mode" in warning for warning in aas.warnings)


def test_absent_deletes_an_existing_action(aas):
    expect_actions(aas, described())
    expect_delete(aas)
    outcome = run({"resource_id": RESOURCE, "name": "night", "state": "absent", "region": "us-east-1"}, diff=True)
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]
    assert outcome.result["diff"] == {"before": {"schedule": "cron(0 20 ? * MON-FRI *)", "timezone": "Europe/Berlin", "min_capacity": 0,
                                                 "max_capacity": 0}, "after": {}}


def test_absent_in_check_mode_deletes_nothing(aas):
    expect_actions(aas, described())
    outcome = run({"resource_id": RESOURCE, "name": "night", "state": "absent", "region": "us-east-1"}, check_mode=True)
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]


def test_absent_tolerates_an_action_deleted_meanwhile(aas):
    expect_actions(aas, described())
    aas.add_client_error("delete_scheduled_action", service_error_code="ObjectNotFoundException", service_message="No scheduled action found")
    outcome = run({"resource_id": RESOURCE, "name": "night", "state": "absent", "region": "us-east-1"})
    assert not outcome.failed and outcome.result["changed"]


def test_api_errors_are_reported_with_context(aas):
    expect_target(aas)
    expect_actions(aas)
    aas.add_client_error("put_scheduled_action", service_error_code="ValidationException", service_message="Invalid schedule", http_status_code=400)
    outcome = run(base_args())
    assert outcome.failed
    assert "Could not put scheduled action night of service/mlflow/mlflow" in outcome.result["msg"]
    assert "Invalid schedule" in outcome.result["msg"]
