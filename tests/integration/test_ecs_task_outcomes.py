"""How one-off ECS tasks end on the proving ground: the outcome a test sets
(``POST /_proving_ground/ecs/task-outcomes``, ``ProvingGroundClient.set_task_outcome``), as boto3's
RunTask and DescribeTasks see it."""

from __future__ import annotations

import json
import uuid

import pytest

from proving_ground import model_check

FAMILY = "mlflow-db-upgrade"
UPGRADE = ["mlflow", "db", "upgrade", "postgresql+psycopg2://db.example.com/mlflow"]


@pytest.fixture
def ecs_world(aws):
    """A cluster, a Fargate task definition of FAMILY and the network a task needs."""
    ecs, ec2 = aws.client("ecs"), aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"tasks-{uuid.uuid4().hex[:6]}", Description="tasks", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName="mlflow")
    ecs.register_task_definition(family=FAMILY, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
                                 memory="512", containerDefinitions=[{"name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v3.17.2-full",
                                                                      "command": ["mlflow", "server"], "essential": True}])

    def run(command=None, family=FAMILY, **extra):
        overrides = {"containerOverrides": [{"name": "mlflow", "command": command}]} if command else {}
        return ecs.run_task(cluster="mlflow", taskDefinition=family, launchType="FARGATE", overrides=overrides,
                            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
                            **extra)["tasks"][0]["taskArn"]

    def until_stopped(task_arn, limit=12):
        """DescribeTasks until STOPPED (moto moves a task one step per call); every answer seen."""
        answers = []
        bodies = []
        ecs.meta.events.register("after-call.ecs.DescribeTasks",
                                 lambda http_response, **kwargs: bodies.append(json.loads(http_response.content)))
        for dummy in range(limit):
            answers.append(ecs.describe_tasks(cluster="mlflow", tasks=[task_arn])["tasks"][0])
            if answers[-1]["lastStatus"] == "STOPPED":
                break
        operation = ecs.meta.service_model.operation_model("DescribeTasks")
        for body in bodies:
            problems = model_check.validate_output(operation, body)
            assert not problems, [str(problem) for problem in problems]
        return answers

    ecs_world = type("EcsWorld", (), {})()
    ecs_world.ecs, ecs_world.run, ecs_world.until_stopped = ecs, run, until_stopped
    return ecs_world


def test_a_failing_one_off_task_stops_with_the_chosen_exit_code(aws, ecs_world):
    outcome = aws.control.set_task_outcome(FAMILY, 1, command_contains="db upgrade",
                                           reason="alembic.util.exc.CommandError: Can't locate revision")
    assert (outcome["stopCode"], outcome["stoppedReason"]) == ("EssentialContainerExited", "Essential container in task exited")
    task_arn = ecs_world.run(UPGRADE, startedBy="ansible")
    answers = ecs_world.until_stopped(task_arn)
    statuses = [answer["lastStatus"] for answer in answers]
    assert statuses == ["PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
    running = answers[2]
    assert running["desiredStatus"] == "RUNNING" and "stopCode" not in running
    stopped = answers[-1]
    assert (stopped["desiredStatus"], stopped["stopCode"], stopped["stoppedReason"]) == (
        "STOPPED", "EssentialContainerExited", "Essential container in task exited")
    (container,) = stopped["containers"]
    assert (container["lastStatus"], container["exitCode"], container["reason"]) == (
        "STOPPED", 1, "alembic.util.exc.CommandError: Can't locate revision")
    assert stopped["stoppingAt"] == answers[3]["stoppingAt"] == stopped["executionStoppedAt"]
    assert stopped["stoppedAt"] >= stopped["stoppingAt"] >= stopped["createdAt"]
    # It stays so, and ListTasks knows it is no longer meant to run.
    again = ecs_world.ecs.describe_tasks(cluster="mlflow", tasks=[task_arn])["tasks"][0]
    assert (again["containers"][0]["exitCode"], again["stoppedAt"]) == (1, stopped["stoppedAt"])
    assert ecs_world.ecs.list_tasks(cluster="mlflow", desiredStatus="STOPPED")["taskArns"] == [task_arn]
    assert ecs_world.ecs.list_tasks(cluster="mlflow", desiredStatus="RUNNING")["taskArns"] == []
    assert aws.control.task_outcomes()["tasks"] == {task_arn: outcome["id"]}


def test_only_matching_one_off_tasks_get_the_outcome(aws, ecs_world):
    aws.control.set_task_outcome(FAMILY, 3, "Essential container in task exited", command_contains="db upgrade")
    ecs_world.ecs.register_task_definition(family="other", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                           cpu="256", memory="512", containerDefinitions=[{"name": "mlflow", "image": "i"}])
    unmatched = {
        "another command": ecs_world.run(["mlflow", "server"]),
        "no command override": ecs_world.run(),
        "another family": ecs_world.run(UPGRADE, family="other"),
        "a service's task": ecs_world.run(UPGRADE, startedBy="ecs-svc/1234567890123456789"),
        "a service group's task": ecs_world.run(UPGRADE, group="service:mlflow"),
    }
    for why, task_arn in unmatched.items():
        stopped = ecs_world.until_stopped(task_arn)[-1]
        # moto's own end: exit code 0, nothing else said.
        assert (stopped["lastStatus"], stopped["containers"][0].get("exitCode"), stopped.get("stopCode")) == (
            "STOPPED", 0, None), why
    matched = ecs_world.until_stopped(ecs_world.run(UPGRADE))[-1]
    assert matched["containers"][0]["exitCode"] == 3
    assert set(aws.control.task_outcomes()["tasks"]) == {matched["taskArn"]}


def test_the_newest_outcome_wins_and_times_limits_one(aws, ecs_world):
    aws.control.set_task_outcome(FAMILY, 0)
    aws.control.set_task_outcome(FAMILY, 2, "Essential container in task exited", times=1)
    codes = [ecs_world.until_stopped(ecs_world.run(UPGRADE))[-1]["containers"][0]["exitCode"] for dummy in range(3)]
    assert codes == [2, 0, 0]
    outcomes = aws.control.task_outcomes()["outcomes"]
    assert [(outcome["exitCode"], outcome["applied"]) for outcome in outcomes] == [(0, 2), (2, 1)]


def test_a_task_whose_container_never_starts_skips_running(aws, ecs_world):
    reason = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
              "unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException")
    aws.control.set_task_outcome(FAMILY, None, reason, reason="CannotPullContainerError: pull access denied")
    answers = ecs_world.until_stopped(ecs_world.run(UPGRADE))
    assert [answer["lastStatus"] for answer in answers] == ["PENDING", "DEPROVISIONING", "STOPPED"]
    stopped = answers[-1]
    assert (stopped["stopCode"], stopped["stoppedReason"], stopped["desiredStatus"]) == ("TaskFailedToStart", reason, "STOPPED")
    assert "executionStoppedAt" not in stopped
    (container,) = stopped["containers"]
    assert "exitCode" not in container
    assert (container["lastStatus"], container["reason"]) == ("STOPPED", "CannotPullContainerError: pull access denied")


def test_a_waiter_for_running_sees_such_a_task_fail(aws, ecs_world):
    """What community.aws.ecs_task's wait (tasks_running) does with a task that cannot start."""
    from botocore.exceptions import WaiterError

    aws.control.set_task_outcome(FAMILY, None, "CannotPullContainerError: manifest unknown")
    task_arn = ecs_world.run(UPGRADE)
    with pytest.raises(WaiterError, match="terminal failure state"):
        ecs_world.ecs.get_waiter("tasks_running").wait(cluster="mlflow", tasks=[task_arn],
                                                       WaiterConfig={"Delay": 0.01, "MaxAttempts": 10})


def test_outcomes_are_forgotten_on_clear_and_reset(aws, ecs_world):
    aws.control.set_task_outcome(FAMILY, 1)
    aws.control.clear_task_outcomes()
    assert aws.control.task_outcomes() == {"outcomes": [], "tasks": {}}
    assert ecs_world.until_stopped(ecs_world.run(UPGRADE))[-1]["containers"][0]["exitCode"] == 0
    aws.control.set_task_outcome(FAMILY, 1)
    aws.control.reset()
    assert aws.control.task_outcomes() == {"outcomes": [], "tasks": {}}


def test_bad_outcomes_are_refused(aws):
    with pytest.raises(RuntimeError, match="400.*exitCode must be an integer or null"):
        aws.control.call("POST", "/ecs/task-outcomes", {"family": FAMILY, "exitCode": "1"})
    assert aws.control.task_outcomes()["outcomes"] == []
