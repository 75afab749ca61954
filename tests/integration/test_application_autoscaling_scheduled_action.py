"""mlops.mlflow.application_autoscaling_scheduled_action run by ansible-playbook against the proving ground.

Each test runs the module as a user would (a playbook on localhost, the AWS endpoint from the
environment alone) on a real ECS service registered as a scalable target in the emulator, and
checks what Application Auto Scaling holds afterwards through boto3 and what the module asked of it
through the proving ground's request log.
"""

from __future__ import annotations

import datetime

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.application_autoscaling_scheduled_action"
RESOURCE = "service/mlflow/mlflow"
DIMENSION = "ecs:service:DesiredCount"


def create_service(aws, cluster="mlflow", service="mlflow"):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family=service, containerDefinitions=[{"name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v3.18.0", "memory": 512}])
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=service, desiredCount=1)
    return f"service/{cluster}/{service}"


@pytest.fixture
def scalable_target(aws):
    """The MLflow ECS service, registered as a scalable target between 1 and 4 tasks."""
    resource = create_service(aws)
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs", ResourceId=resource, ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=4)
    return resource


@pytest.fixture
def play(aws, tmp_path):
    def tasks(*entries, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), list(entries), check=check, diff=diff)
    return tasks


def task(args, **keywords):
    """A task of the module (keywords: check_mode, diff, ignore_errors, name...)."""
    return dict({MODULE: {key: value for key, value in args.items() if value is not None}}, **keywords)


def night(**changes):
    args = {"resource_id": RESOURCE, "name": "mlflow-night", "schedule": "cron(0 20 ? * MON-FRI *)", "timezone": "Europe/Berlin",
            "min_capacity": 0, "max_capacity": 0}
    args.update(changes)
    return args


def morning(**changes):
    args = {"resource_id": RESOURCE, "name": "mlflow-morning", "schedule": "cron(0 7 ? * MON-FRI *)", "timezone": "Europe/Berlin",
            "min_capacity": 1, "max_capacity": 4}
    args.update(changes)
    return args


def actions(aws, resource=RESOURCE):
    answer = aws.client("application-autoscaling").describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=resource)
    return {action["ScheduledActionName"]: action for action in answer["ScheduledActions"]}


def calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "application-autoscaling"]


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def changes_of(run):
    return [result.get("changed") for result in run.results]


def test_night_and_morning_are_created_once_then_converge(aws, play, scalable_target):
    start = aws.control.last_request_id()
    run = play(task(night(), name="night"), task(morning(), name="morning"),
               task(night(), name="night again"), task(morning(), name="morning again"))
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False, False] and run.recap["changed"] == 2
    created = run.result(0)["scheduled_action"]
    assert created["scheduled_action_name"] == "mlflow-night" and created["scheduled_action_arn"]
    assert created["timezone"] == "Europe/Berlin" and created["scalable_target_action"] == {"min_capacity": 0, "max_capacity": 0}
    assert run.result(2)["scheduled_action"] == created
    assert mutating(aws, start) == ["PutScheduledAction", "PutScheduledAction"]
    # A re-run only looks: the scalable target and the action, once each.
    reruns = calls(aws, start)[-4:]
    assert reruns == ["DescribeScalableTargets", "DescribeScheduledActions"] * 2

    held = actions(aws)
    assert sorted(held) == ["mlflow-morning", "mlflow-night"]
    assert (held["mlflow-night"]["Schedule"], held["mlflow-night"]["Timezone"]) == ("cron(0 20 ? * MON-FRI *)", "Europe/Berlin")
    assert held["mlflow-night"]["ScalableTargetAction"] == {"MinCapacity": 0, "MaxCapacity": 0}
    assert held["mlflow-morning"]["ScalableTargetAction"] == {"MinCapacity": 1, "MaxCapacity": 4}


def test_check_and_diff_tell_the_truth(aws, play, scalable_target):
    start = aws.control.last_request_id()
    changed = night(timezone="America/New_York", schedule="cron(30 19 ? * MON-FRI *)")
    run = play(
        task(night(), name="check on nothing", check_mode=True, diff=True),
        task(night(), name="create", diff=True),
        task(night(), name="check unchanged", check_mode=True, diff=True),
        task(changed, name="check changed", check_mode=True, diff=True),
        task(changed, name="apply", diff=True),
    )
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False, True, True]
    first_check, created, unchanged, checked, applied = run.results
    assert first_check["diff"] == created["diff"] == {"before": {}, "after": {
        "schedule": "cron(0 20 ? * MON-FRI *)", "timezone": "Europe/Berlin", "min_capacity": 0, "max_capacity": 0}}
    assert "scheduled_action_arn" not in first_check["scheduled_action"]
    assert unchanged["diff"]["before"] == unchanged["diff"]["after"]
    assert checked["diff"]["before"]["timezone"] == "Europe/Berlin"
    assert (checked["diff"]["after"]["timezone"], checked["diff"]["after"]["schedule"]) == ("America/New_York", "cron(30 19 ? * MON-FRI *)")
    assert applied["diff"] == checked["diff"]
    # Check mode made no call that changes anything; applying did exactly what it said.
    assert mutating(aws, start) == ["PutScheduledAction", "PutScheduledAction"]
    assert actions(aws)["mlflow-night"]["Timezone"] == "America/New_York"


def test_updates_of_each_setting(aws, play, scalable_target):
    window = {"start_time": "2030-01-01T08:00:00+01:00", "end_time": "2030-06-30T18:00:00Z"}
    start = aws.control.last_request_id()
    run = play(
        task(night(), name="create"),
        task(night(timezone="Asia/Tokyo"), name="timezone"),
        task(night(timezone=None), name="timezone back to UTC"),
        task(night(timezone=None, schedule="rate(12 hours)"), name="schedule"),
        task(night(timezone=None, schedule="rate(12 hours)", **window), name="window"),
        task(night(timezone=None, schedule="rate(12 hours)", **window), name="window again"),
        task(night(timezone=None, schedule="rate(12 hours)"), name="no window"),
        task(night(timezone=None, schedule="rate(12 hours)", min_capacity=1, max_capacity=2), name="capacity"),
        task(night(timezone=None, schedule="rate(12 hours)", min_capacity=1, max_capacity=None), name="no max"),
        task(night(timezone=None, schedule="rate(12 hours)", min_capacity=1, max_capacity=None), name="no max again"),
    )
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, True, True, False, True, True, True, False]
    results = {result["_task"]: result["scheduled_action"] for result in run.results}
    assert results["timezone"]["timezone"] == "Asia/Tokyo"
    assert results["timezone back to UTC"]["timezone"] == "UTC"
    assert (results["window"]["start_time"], results["window"]["end_time"]) == ("2030-01-01T07:00:00+00:00", "2030-06-30T18:00:00+00:00")
    assert "start_time" not in results["no window"] and "end_time" not in results["no window"]
    assert results["no max"]["scalable_target_action"] == {"min_capacity": 1}
    # Dropping max_capacity is the one change an update cannot make: delete, then create.
    assert mutating(aws, start) == ["PutScheduledAction"] * 7 + ["DeleteScheduledAction", "PutScheduledAction"]

    held = actions(aws)["mlflow-night"]
    assert (held["Schedule"], held["Timezone"], held["ScalableTargetAction"]) == ("rate(12 hours)", "UTC", {"MinCapacity": 1})
    assert "StartTime" not in held and "EndTime" not in held


def test_a_window_is_held_as_utc(aws, play, scalable_target):
    run = play(task(morning(schedule="at(2030-03-02T07:00:00)", start_time="2030-03-01T00:00:00+01:00", end_time="2030-03-03T00:00:00")))
    assert run.rc == 0, run.output
    held = actions(aws)["mlflow-morning"]
    utc = datetime.timezone.utc
    assert held["StartTime"].astimezone(utc) == datetime.datetime(2030, 2, 28, 23, 0, tzinfo=utc)
    assert held["EndTime"].astimezone(utc) == datetime.datetime(2030, 3, 3, 0, 0, tzinfo=utc)


def test_state_absent(aws, play, scalable_target):
    absent = {"resource_id": RESOURCE, "name": "mlflow-night", "state": "absent"}
    start = aws.control.last_request_id()
    run = play(
        task(night(), name="night"),
        task(morning(), name="morning"),
        task(absent, name="check", check_mode=True, diff=True),
        task(absent, name="absent", diff=True),
        task(absent, name="absent again"),
    )
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, True, False]
    checked, removed = run.result(2), run.result(3)
    assert checked["diff"] == removed["diff"]
    assert checked["diff"]["after"] == {} and checked["diff"]["before"]["timezone"] == "Europe/Berlin"
    assert mutating(aws, start) == ["PutScheduledAction", "PutScheduledAction", "DeleteScheduledAction"]
    assert sorted(actions(aws)) == ["mlflow-morning"]  # the other action of the target stays


def test_bad_input_fails_clearly_and_calls_nothing(aws, play, scalable_target):
    bad = [
        (night(schedule="cron(0 20 * * 1-5)"), "a cron expression has six fields"),
        (night(schedule="cron(0 20 * * MON-FRI *)"), "exactly one of day of month and day of week must be ?"),
        (night(schedule="every evening"), "must be a cron(...), rate(...) or at(...) expression"),
        (night(timezone="CET+1"), "timezone must be an IANA time zone name"),
        (night(start_time="2030-02-01T00:00:00Z", end_time="2030-01-01T00:00:00Z"), "must be later than start_time"),
        (night(min_capacity=4, max_capacity=1), "min_capacity (4) must not be greater than max_capacity (1)"),
        (night(min_capacity=None, max_capacity=None), "missing: min_capacity, max_capacity"),
        (night(resource_id="arn:aws:ecs:us-east-1:123456789012:service/mlflow/mlflow"), "(for this service ARN: service/mlflow/mlflow)"),
        (night(name="night|shift"), "name must be 1 to 256 characters without ':', '/', '|'"),
    ]
    start = aws.control.last_request_id()
    run = play(*[task(args, ignore_errors=True) for args, dummy in bad])
    assert run.rc == 0, run.output
    for result, (dummy, message) in zip(run.results, bad):
        assert result.get("failed"), result
        assert message in result["msg"]
    assert run.recap["ignored"] == len(bad)
    assert aws.control.requests(since=start) == []  # refused before any AWS call
    assert actions(aws) == {}


def test_without_a_scalable_target_it_says_how_to_fix_it(aws, play):
    resource = create_service(aws, service="unregistered")
    args = night(resource_id=resource)
    start = aws.control.last_request_id()
    run = play(task(args, name="check", check_mode=True), task(args, name="apply", ignore_errors=True))
    assert run.rc == 0, run.output
    checked, applied = run.results
    assert checked["changed"] and not checked.get("failed")
    assert any("No scalable target is registered" in warning for warning in checked.get("warnings", []))
    assert applied["failed"]
    assert f"No scalable target is registered for service namespace ecs, resource ID {resource}" in applied["msg"]
    assert "Register the target first" in applied["msg"]
    assert mutating(aws, start) == []
    assert actions(aws, resource) == {}


def test_converges_under_throttling(aws, play, scalable_target):
    """A third of Application Auto Scaling's answers are throttling errors: retries absorb them."""
    aws.control.configure(fault_rate=0.34, fault_services=["application-autoscaling"], fault_seed=7)
    start = aws.control.last_request_id()
    run = play(task(night(), name="create"), task(night(), name="again"), task(night(state="absent"), name="absent"))
    aws.control.configure(fault_rate=0.0, fault_services=[])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False, True]
    faults = [entry for entry in aws.control.requests(since=start) if entry.get("fault")]
    assert faults, "the fault mode injected nothing"
    assert actions(aws) == {}
