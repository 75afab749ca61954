"""Outcomes of one-off ECS tasks (``proving_ground.ecs_task_outcomes``): what the control API accepts."""

import pytest

from proving_ground.ecs_task_outcomes import parse_outcome


def test_defaults_for_a_container_that_exited():
    assert parse_outcome({"family": "db-upgrade", "exitCode": 1}) == {
        "family": "db-upgrade", "commandContains": None, "exitCode": 1,
        "stoppedReason": "Essential container in task exited", "reason": None,
        "stopCode": "EssentialContainerExited", "container": None, "times": None}


def test_defaults_for_a_container_that_never_started():
    outcome = parse_outcome({"family": "db-upgrade", "exitCode": None, "reason": "CannotPullContainerError: x"})
    assert (outcome["stopCode"], outcome["stoppedReason"], outcome["reason"]) == (
        "TaskFailedToStart", "Task failed to start", "CannotPullContainerError: x")


def test_everything_given_is_kept():
    document = {"family": "db-upgrade", "commandContains": "db upgrade", "exitCode": 2, "stoppedReason": "why",
                "reason": "alembic", "stopCode": "UserInitiated", "container": "mlflow", "times": 1}
    assert parse_outcome(document) == document


@pytest.mark.parametrize("document, message", [
    ({"exitCode": 1}, "family .* is required"),
    ({"family": "", "exitCode": 1}, "family must be a non-empty string"),
    ({"family": "f"}, "exitCode is required"),
    ({"family": "f", "exitCode": "1"}, "exitCode must be an integer or null"),
    ({"family": "f", "exitCode": True}, "exitCode must be an integer or null"),
    ({"family": "f", "exitCode": 0, "stopCode": "Crashed"}, "stopCode must be one of"),
    ({"family": "f", "exitCode": 0, "times": 0}, "times must be a positive integer"),
    ({"family": "f", "exitCode": 0, "exit_code": 1}, "unknown fields: exit_code"),
    ({"family": "f", "exitCode": 0, "reason": 3}, "reason must be a non-empty string"),
])
def test_bad_outcomes_are_refused(document, message):
    with pytest.raises(ValueError, match=message):
        parse_outcome(document)
