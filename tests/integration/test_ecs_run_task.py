"""mlops.mlflow.ecs_run_task run by ansible-playbook against the proving ground.

Each test runs the module as a user would (a playbook on localhost, the AWS endpoint from the
environment alone) and checks what ECS holds afterwards through boto3 and what the module asked of
ECS through the proving ground's request log. The proving ground runs no container: a one-off task
walks to STOPPED one step per DescribeTasks, with exit code 0 (see docs/proving-ground.md).
"""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.ecs_run_task"
ACCOUNT = "123456789012"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:mlflow/backend-uri-AbCdEf"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlflow-execution"


class Network:
    def __init__(self, subnet, group):
        self.subnet = subnet
        self.group = group

    def configuration(self, **changes):
        return dict({"subnets": [self.subnet], "security_groups": [self.group]}, **changes)


@pytest.fixture
def network(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="mlflow-migration", Description="mlflow migration", VpcId=vpc)["GroupId"]
    return Network(subnet, group)


@pytest.fixture
def cluster(aws):
    return aws.client("ecs").create_cluster(clusterName="mlflow")["cluster"]["clusterName"]


def register(aws, family="mlflow-jobs", container="job", awslogs=True, **changes):
    """A Fargate task definition registered with boto3, as another tool would have."""
    container_definition = {"name": container, "image": "public.ecr.aws/docker/library/python:3.12-slim", "essential": True}
    if awslogs:
        container_definition["logConfiguration"] = {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/mlflow-jobs", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "jobs"}}
    definition = dict(family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
                      executionRoleArn=EXECUTION_ROLE, containerDefinitions=[container_definition])
    definition.update(changes)
    return aws.client("ecs").register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]


def task(args, **keywords):
    return dict({MODULE: {key: value for key, value in args.items() if value is not None}}, **keywords)


def run_args(network, **changes):
    args = {"cluster": "mlflow", "task_definition": "mlflow-jobs", "container_name": "job", "network_configuration": network.configuration(),
            "poll_interval": 0.1, "wait_timeout": 60}
    args.update(changes)
    return args


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def ecs_calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "ecs"]


def test_runs_the_migration_of_a_registered_mlflow_definition_to_completion(aws, tmp_path, network, cluster):
    """The role's flow: register MLflow's task definition with this collection, then run `db-upgrade`
    from exactly that revision and wait for it to stop. A second run starts a second task."""
    start = aws.control.last_request_id()
    definition = {"mlops.mlflow.ecs_mlflow_task_definition": {
        "family": "mlflow", "execution_role_arn": EXECUTION_ROLE, "backend_store_uri_secret_arn": SECRET,
        "artifacts_uri": "s3://mlflow-artifacts/mlflow", "allowed_hosts": ["mlflow.example.com"],
        "awslogs": {"group": "/ecs/mlflow", "stream_prefix": "mlflow"}}, "register": "mlflow_task_definition"}
    migration = task(run_args(network, task_definition="{{ mlflow_task_definition.task_definition_arn }}", container_name="mlflow",
                              command=["db-upgrade"], environment={"MLFLOW_LOGGING_LEVEL": "DEBUG", "VERBOSE": True},
                              tags={"application": "mlflow", "purpose": "schema-migration"}))
    run = run_tasks(tmp_path, aws.child_environment(), [definition, migration, migration])
    assert run.rc == 0, run.output
    assert [result["changed"] for result in run.results] == [True, True, True]
    result = run.result(1)
    assert result["exit_code"] == 0
    task_arn = result["task_arn"]
    task_id = task_arn.rsplit("/", 1)[1]
    assert task_arn.startswith(f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/mlflow/")
    assert (result["log_group"], result["log_stream"]) == ("/ecs/mlflow", f"mlflow/mlflow/{task_id}")
    assert result["task"]["last_status"] == "STOPPED"
    assert result["task"]["tags"] == {"application": "mlflow", "purpose": "schema-migration"}
    assert run.result(2)["exit_code"] == 0 and run.result(2)["task_arn"] != task_arn
    # What the module asked of ECS, before the checks below ask anything: look-ups, RunTask, then
    # DescribeTasks until STOPPED (PROVISIONING -> PENDING -> ACTIVATING -> RUNNING -> DEACTIVATING
    # -> STOPPING -> DEPROVISIONING -> STOPPED).
    assert mutating(aws, start) == ["RegisterTaskDefinition", "RunTask", "RunTask"]
    one_run = ["DescribeTaskDefinition", "DescribeClusters", "RunTask"] + ["DescribeTasks"] * 7
    assert ecs_calls(aws, start) == ["ListTaskDefinitions", "RegisterTaskDefinition"] + one_run * 2

    (described,) = aws.client("ecs").describe_tasks(cluster="mlflow", tasks=[task_arn], include=["TAGS"])["tasks"]
    assert described["taskDefinitionArn"] == f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/mlflow:1"
    assert (described["launchType"], described["platformVersion"], described["startedBy"]) == ("FARGATE", "LATEST", "mlops-mlflow")
    assert described["overrides"]["containerOverrides"] == [{"name": "mlflow", "command": ["db-upgrade"], "environment": [
        {"name": "MLFLOW_LOGGING_LEVEL", "value": "DEBUG"}, {"name": "VERBOSE", "value": "true"}]}]
    assert {tag["key"]: tag["value"] for tag in described["tags"]} == {"application": "mlflow", "purpose": "schema-migration"}
    eni = next(attachment for attachment in described["attachments"] if attachment["type"] == "ElasticNetworkInterface")
    assert {"name": "subnetId", "value": network.subnet} in eni["details"]
    listed = aws.client("ecs").list_tasks(cluster="mlflow", startedBy="mlops-mlflow")["taskArns"]
    assert sorted(listed) == sorted([task_arn, run.result(2)["task_arn"]])


def test_a_failed_container_fails_the_module_with_what_to_look_at(aws, tmp_path, network, cluster):
    """The proving ground's control route decides how the one-off tasks end: the migration exits 1,
    a task whose image cannot be pulled never runs, a task with another command succeeds."""
    definition_arn = register(aws)
    aws.control.set_task_outcome("mlflow-jobs", 1, command_contains="db upgrade",
                                 reason="alembic.util.exc.CommandError: Can't locate revision identified by '4f2ea8a3'")
    aws.control.set_task_outcome("mlflow-jobs", None, "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
                                 command_contains="pull", reason="CannotPullContainerError: ref pull has been retried 5 time(s)")
    start = aws.control.last_request_id()
    run = run_tasks(tmp_path, aws.child_environment(), [
        task(run_args(network, command=["mlflow", "db", "upgrade"]), name="exit 1", ignore_errors=True),
        task(run_args(network, command=["pull"]), name="no exit code", ignore_errors=True),
        task(run_args(network, command=["mlflow", "--version"]), name="exit 0"),
    ])
    assert run.rc == 0, run.output
    failed, never_ran, succeeded = run.results
    assert mutating(aws, start) == ["RunTask"] * 3

    assert failed["failed"] and failed["changed"] and failed["exit_code"] == 1
    task_arn = failed["task_arn"]
    stream = "jobs/job/" + task_arn.rsplit("/", 1)[1]
    assert (failed["log_group"], failed["log_stream"]) == ("/ecs/mlflow-jobs", stream)
    assert (failed["stop_code"], failed["stopped_reason"]) == ("EssentialContainerExited", "Essential container in task exited")
    assert failed["msg"] == (
        f"ECS task {task_arn} (task definition {definition_arn}, cluster mlflow) failed: container 'job' exited with code 1; "
        "container reason: alembic.util.exc.CommandError: Can't locate revision identified by '4f2ea8a3'. "
        "The task stopped with stop code EssentialContainerExited: Essential container in task exited. "
        f"Its output is in CloudWatch Logs: group /ecs/mlflow-jobs, stream {stream} (region us-east-1).")
    assert failed["task"]["last_status"] == "STOPPED"

    assert never_ran["failed"] and never_ran["changed"] and never_ran["exit_code"] is None
    assert never_ran["stop_code"] == "TaskFailedToStart"
    for fragment in ("container 'job' stopped without an exit code", "container reason: CannotPullContainerError: ref pull",
                     "stop code TaskFailedToStart: CannotPullContainerError: pull image manifest", never_ran["task_arn"]):
        assert fragment in never_ran["msg"], never_ran["msg"]

    assert not succeeded.get("failed") and succeeded["exit_code"] == 0


BAD_INPUT = {
    "network": ({"network_configuration": {"subnets": ["10.20.1.0/24"], "security_groups": ["default"]}},
                "network_configuration.subnets must be subnet IDs (subnet-0123456789abcdef0), not '10.20.1.0/24'"),
    "started_by": ({"started_by": "mlops.mlflow"}, "started_by must be 1 to 128 letters, digits, hyphens, underscores and slashes"),
    "container": ({"container_name": "mlflow"}, "task-definition/mlflow-jobs:1 has no container named 'mlflow'; its containers: job"),
    "task definition": ({"task_definition": "mlflow-nope"}, "Task definition 'mlflow-nope' was not found"),
    "inactive revision": ({"task_definition": "mlflow-jobs:2"}, "task-definition/mlflow-jobs:2 is INACTIVE (deregistered)"),
    "cluster": ({"cluster": "nope"}, "cluster 'nope' does not exist in this account and region"),
    "capacity provider": ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT"}]},
                          "capacity provider(s) FARGATE_SPOT not associated with cluster mlflow (its capacity providers: none)"),
}


def test_check_mode_and_bad_input_start_nothing(aws, tmp_path, network, cluster):
    """Check mode says what would run; bad input fails with a clear message. Neither makes a
    mutating call. (One playbook, one task per case: each task is a run of the module of its own.)"""
    definition_arn = register(aws)
    aws.client("ecs").deregister_task_definition(taskDefinition=register(aws))  # mlflow-jobs:2, INACTIVE
    start = aws.control.last_request_id()
    tasks = [task(run_args(network, task_definition="mlflow-jobs:1", command=["true"]), name="check mode", check_mode=True)]
    tasks += [task(run_args(network, **dict({"task_definition": "mlflow-jobs:1"}, **changes)), name=name, ignore_errors=True)
              for name, (changes, message) in BAD_INPUT.items()]
    run = run_tasks(tmp_path, aws.child_environment(), tasks)
    assert run.rc == 0, run.output
    assert mutating(aws, start) == []
    assert aws.client("ecs").list_tasks(cluster="mlflow")["taskArns"] == []

    results = {result["_task"]: result for result in run.results}
    checked = results["check mode"]
    assert checked["changed"] and not checked.get("failed") and "task_arn" not in checked
    assert checked["run_task_request"]["task_definition"] == definition_arn
    assert checked["run_task_request"]["overrides"] == {"container_overrides": [{"name": "job", "command": ["true"]}]}
    assert checked["run_task_request"]["network_configuration"] == {"awsvpc_configuration": {
        "subnets": [network.subnet], "security_groups": [network.group], "assign_public_ip": "DISABLED"}}
    assert checked["log_group"] == "/ecs/mlflow-jobs"
    for name, (changes, message) in BAD_INPUT.items():
        result = results[name]
        assert result["failed"] and not result["changed"], name
        assert result["msg"].startswith("Nothing was run: ") or "was not found" in result["msg"], result["msg"]
        assert message in result["msg"], result["msg"]


def test_a_task_that_outlives_wait_timeout_is_stopped_and_fails(aws, tmp_path, network, cluster):
    """The proving ground's task needs seven DescribeTasks to stop: with a poll every second and two
    seconds to wait, the module gives up, stops the task and says why."""
    register(aws)
    start = aws.control.last_request_id()
    run = run_tasks(tmp_path, aws.child_environment(), [task(run_args(network, poll_interval=1, wait_timeout=2))])
    assert run.rc != 0
    result = run.result()
    assert result["failed"] and result["changed"]
    task_arn = result["task_arn"]
    message = result["msg"]
    assert f"ECS task {task_arn} (task definition arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/mlflow-jobs:1, cluster mlflow)" in message
    assert "did not stop within wait_timeout=2 seconds" in message and "ECS has been asked to stop it (StopTask" in message
    assert f"group /ecs/mlflow-jobs, stream jobs/job/{task_arn.rsplit('/', 1)[1]} (region us-east-1)" in message
    assert mutating(aws, start) == ["RunTask", "StopTask"]
    (described,) = aws.client("ecs").describe_tasks(cluster="mlflow", tasks=[task_arn])["tasks"]
    assert described["lastStatus"] == "STOPPED"
    assert described["stoppedReason"] == "mlops.mlflow.ecs_run_task: the task did not stop within wait_timeout=2 seconds"
