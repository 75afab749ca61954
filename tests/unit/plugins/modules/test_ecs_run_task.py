"""mlops.mlflow.ecs_run_task, driven through main() with ECS stubbed by botocore's Stubber (which
also checks every request against the ECS API model) and a fake clock for the waiting."""

import types

import pytest
from botocore.stub import ANY

from ansible_collections.amazon.aws.plugins.module_utils import cloud as aws_cloud
from ansible_collections.mlops.mlflow.plugins.modules import ecs_run_task as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
CLUSTER_ARN = "arn:aws:ecs:us-east-1:{0}:cluster/mlflow".format(ACCOUNT)
DEFINITION_ARN = "arn:aws:ecs:us-east-1:{0}:task-definition/mlflow:7".format(ACCOUNT)
TASK_ID = "0123456789abcdef0123456789abcdef"
TASK_ARN = "arn:aws:ecs:us-east-1:{0}:task/mlflow/{1}".format(ACCOUNT, TASK_ID)
SUBNET = "subnet-0123456789abcdef0"
GROUP = "sg-0123456789abcdef0"


def base_args(**changes):
    args = {
        "region": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",
        "cluster": "mlflow",
        "task_definition": "mlflow",
        "container_name": "mlflow",
        "command": ["db-upgrade"],
        "network_configuration": {"subnets": [SUBNET], "security_groups": [GROUP]},
        "poll_interval": 2,
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value is not None}


@pytest.fixture
def clock(monkeypatch):
    fake = harness.FakeClock(now=1000.0)
    monkeypatch.setattr(module.Runner, "clock", staticmethod(fake.monotonic))
    monkeypatch.setattr(module.Runner, "sleep", staticmethod(fake.sleep))
    # AWSRetry's back-off sleeps too: make it instant.
    monkeypatch.setattr(aws_cloud, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    return fake


@pytest.fixture
def ecs(monkeypatch, clock):
    """A real ECS client whose answers come from a Stubber; the module gets it from module.client()."""
    stubber = harness.stub_client(monkeypatch, "ecs")
    with stubber:
        yield stubber


run = harness.runner(module)


def definition(containers=None, **changes):
    described = {
        "taskDefinitionArn": DEFINITION_ARN,
        "family": "mlflow",
        "revision": 7,
        "status": "ACTIVE",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "containerDefinitions": containers if containers is not None else [{
            "name": "mlflow",
            "image": "ghcr.io/mlflow/mlflow:v3.18.0-full",
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/mlflow", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "migrate"}},
        }],
    }
    described.update(changes)
    return described


def cluster(**changes):
    described = {"clusterArn": CLUSTER_ARN, "clusterName": "mlflow", "status": "ACTIVE", "capacityProviders": ["FARGATE", "FARGATE_SPOT"]}
    described.update(changes)
    return described


def task(status, exit_code=None, reason=None, stop_code=None, stopped_reason=None, container_status=None):
    container = {"name": "mlflow", "lastStatus": container_status or ("STOPPED" if status == "STOPPED" else "PENDING"),
                 "taskArn": TASK_ARN}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason is not None:
        container["reason"] = reason
    described = {"taskArn": TASK_ARN, "taskDefinitionArn": DEFINITION_ARN, "clusterArn": CLUSTER_ARN, "lastStatus": status,
                 "desiredStatus": "STOPPED" if status == "STOPPED" else "RUNNING", "containers": [container],
                 "tags": [{"key": "purpose", "value": "migration"}]}
    if stop_code:
        described["stopCode"] = stop_code
    if stopped_reason:
        described["stoppedReason"] = stopped_reason
    return described


def expect_lookups(ecs, described=None, described_cluster=None, task_definition="mlflow", cluster_name="mlflow"):
    ecs.add_response("describe_task_definition", {"taskDefinition": described or definition()}, {"taskDefinition": task_definition})
    answer = {"clusters": [described_cluster or cluster()], "failures": []}
    if described_cluster is False:
        answer = {"clusters": [], "failures": [{"arn": "arn:aws:ecs:us-east-1:{0}:cluster/{1}".format(ACCOUNT, cluster_name), "reason": "MISSING"}]}
    ecs.add_response("describe_clusters", answer, {"clusters": [cluster_name]})


def expected_request(**changes):
    request = {
        "cluster": "mlflow",
        "taskDefinition": DEFINITION_ARN,
        "count": 1,
        "startedBy": "mlops-mlflow",
        "platformVersion": "LATEST",
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": [SUBNET], "securityGroups": [GROUP], "assignPublicIp": "DISABLED"}},
        "overrides": {"containerOverrides": [{"name": "mlflow", "command": ["db-upgrade"]}]},
        "clientToken": ANY,
    }
    request.update(changes)
    return {key: value for key, value in request.items() if value is not None}


def expect_run(ecs, request=None, answer=None):
    ecs.add_response("run_task", answer or {"tasks": [task("PROVISIONING")], "failures": []}, request or expected_request())


def expect_describe(ecs, *described):
    for item in described:
        ecs.add_response("describe_tasks", {"tasks": [item] if item else [], "failures": [] if item else [{"arn": TASK_ARN, "reason": "MISSING"}]},
                         {"cluster": "mlflow", "tasks": [TASK_ARN], "include": ["TAGS"]})


# --- the task runs to its end ------------------------------------------------------------------------------------------


def test_success_waits_until_stopped_and_returns_the_exit_code(ecs, clock):
    expect_lookups(ecs)
    expect_run(ecs)
    stopped = task("STOPPED", exit_code=0, stop_code="EssentialContainerExited", stopped_reason="Essential container in task exited")
    expect_describe(ecs, task("PENDING"), task("RUNNING"), stopped)
    outcome = run(base_args())
    ecs.assert_no_pending_responses()
    result = outcome.result
    assert not outcome.failed and result["changed"]
    assert (result["exit_code"], result["task_arn"], result["stop_code"]) == (0, TASK_ARN, "EssentialContainerExited")
    assert result["stopped_reason"] == "Essential container in task exited"
    assert (result["log_group"], result["log_stream"]) == ("/ecs/mlflow", "migrate/mlflow/" + TASK_ID)
    assert result["task"]["last_status"] == "STOPPED"
    assert result["task"]["containers"][0]["exit_code"] == 0
    assert result["task"]["tags"] == {"purpose": "migration"}
    assert result["run_task_request"]["task_definition"] == DEFINITION_ARN
    assert "client_token" not in result["run_task_request"]
    assert clock.sleeps == [2, 2, 2]


def test_all_the_options_reach_run_task(ecs):
    expect_lookups(ecs, task_definition="mlflow:7", cluster_name=CLUSTER_ARN)
    expect_run(ecs, expected_request(
        cluster=CLUSTER_ARN, startedBy="deploy/v3_18", platformVersion="1.4.0", launchType=None,
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1, "base": 1}, {"capacityProvider": "FARGATE_SPOT", "weight": 3}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": [SUBNET, "subnet-0fedcba9"], "securityGroups": [GROUP, "sg-0fedcba9"],
                                                      "assignPublicIp": "ENABLED"}},
        overrides={"containerOverrides": [{"name": "mlflow", "command": ["db-upgrade", "--verbose"], "environment": [
            {"name": "DRY_RUN", "value": "false"}, {"name": "LIMIT", "value": "3"}, {"name": "MLFLOW_X", "value": "x y"}]}]},
        tags=[{"key": "application", "value": "mlflow"}, {"key": "purpose", "value": "migration"}],
    ), {"tasks": [task("PROVISIONING")], "failures": []})
    ecs.add_response("describe_tasks", {"tasks": [task("STOPPED", exit_code=0)], "failures": []},
                     {"cluster": CLUSTER_ARN, "tasks": [TASK_ARN], "include": ["TAGS"]})
    outcome = run(base_args(
        cluster=CLUSTER_ARN, task_definition="mlflow:7", started_by="deploy/v3_18", platform_version="1.4.0",
        capacity_provider_strategy=[{"capacity_provider": "FARGATE", "weight": 1, "base": 1}, {"capacity_provider": "FARGATE_SPOT", "weight": 3}],
        network_configuration={"subnets": [SUBNET, "subnet-0fedcba9"], "security_groups": [GROUP, "sg-0fedcba9"], "assign_public_ip": True},
        command=["db-upgrade", "--verbose"], environment={"MLFLOW_X": "x y", "DRY_RUN": False, "LIMIT": 3},
        tags={"application": "mlflow", "purpose": "migration"}))
    ecs.assert_no_pending_responses()
    assert not outcome.failed
    assert outcome.result["run_task_request"]["capacity_provider_strategy"][1] == {"capacity_provider": "FARGATE_SPOT", "weight": 3}


def test_no_overrides_without_command_or_environment(ecs):
    expect_lookups(ecs)
    expect_run(ecs, expected_request(overrides=None))
    expect_describe(ecs, task("STOPPED", exit_code=0))
    assert not run(base_args(command=None)).failed
    ecs.assert_no_pending_responses()


def test_a_task_ecs_does_not_show_yet_is_waited_for(ecs, clock):
    """DescribeTasks is eventually consistent: right after RunTask it may answer MISSING."""
    expect_lookups(ecs)
    expect_run(ecs)
    expect_describe(ecs, None, task("RUNNING"), task("STOPPED", exit_code=0))
    outcome = run(base_args())
    ecs.assert_no_pending_responses()
    assert not outcome.failed and outcome.result["exit_code"] == 0


def test_a_throttled_run_task_is_retried_with_the_same_client_token(ecs):
    expect_lookups(ecs)
    ecs.add_client_error("run_task", service_error_code="ThrottlingException", http_status_code=400, expected_params=expected_request())
    expect_run(ecs)
    expect_describe(ecs, task("STOPPED", exit_code=0))
    tokens = []
    ecs.client.meta.events.register("provide-client-params.ecs.RunTask", lambda params, **kwargs: tokens.append(params["clientToken"]))
    assert not run(base_args()).failed
    ecs.assert_no_pending_responses()
    assert len(tokens) == 2 and tokens[0] == tokens[1]


# --- the container fails -----------------------------------------------------------------------------------------------


def test_a_nonzero_exit_code_fails_with_everything_to_look_into_it(ecs):
    expect_lookups(ecs)
    expect_run(ecs)
    expect_describe(ecs, task("RUNNING"), task("STOPPED", exit_code=1, reason="OutOfMemoryError: Container killed due to memory usage",
                                               stop_code="EssentialContainerExited", stopped_reason="Essential container in task exited"))
    outcome = run(base_args())
    ecs.assert_no_pending_responses()
    result = outcome.result
    assert outcome.failed and result["changed"]
    assert (result["exit_code"], result["task_arn"]) == (1, TASK_ARN)
    assert (result["log_group"], result["log_stream"]) == ("/ecs/mlflow", "migrate/mlflow/" + TASK_ID)
    message = result["msg"]
    for fragment in (TASK_ARN, DEFINITION_ARN, "cluster mlflow", "container 'mlflow' exited with code 1",
                     "container reason: OutOfMemoryError: Container killed due to memory usage",
                     "stop code EssentialContainerExited: Essential container in task exited",
                     "group /ecs/mlflow, stream migrate/mlflow/{0} (region eu-west-1)".format(TASK_ID)):
        assert fragment in message, message


def test_a_container_that_never_ran_has_no_exit_code(ecs):
    expect_lookups(ecs)
    expect_run(ecs)
    expect_describe(ecs, task("STOPPED", reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
                              stop_code="TaskFailedToStart", stopped_reason="CannotPullContainerError: ref pull has been retried"))
    outcome = run(base_args())
    result = outcome.result
    assert outcome.failed and result["changed"] and result["exit_code"] is None
    assert "container 'mlflow' stopped without an exit code" in result["msg"]
    assert "CannotPullContainerError: pull image manifest" in result["msg"]
    assert "stop code TaskFailedToStart" in result["msg"]


def test_the_named_container_decides(ecs):
    """A sidecar's exit code does not matter; the named container's does."""
    containers = [{"name": "migrate", "image": "x"}, {"name": "mlflow", "image": "y"}]
    expect_lookups(ecs, definition(containers=containers))
    expect_run(ecs)
    stopped = task("STOPPED", exit_code=0)
    stopped["containers"].insert(0, {"name": "migrate", "exitCode": 3, "lastStatus": "STOPPED"})
    expect_describe(ecs, stopped)
    outcome = run(base_args())
    assert not outcome.failed and outcome.result["exit_code"] == 0
    assert (outcome.result["log_group"], outcome.result["log_stream"]) == (None, None)


def test_failure_without_awslogs_says_so(ecs):
    expect_lookups(ecs, definition(containers=[{"name": "mlflow", "image": "x", "logConfiguration": {"logDriver": "splunk", "options": {}}}]))
    expect_run(ecs)
    expect_describe(ecs, task("STOPPED", exit_code=2))
    outcome = run(base_args())
    assert outcome.failed and outcome.result["log_group"] is None
    assert "no awslogs log configuration" in outcome.result["msg"]
    assert "stop code (none): no reason given" in outcome.result["msg"]


# --- RunTask refuses ---------------------------------------------------------------------------------------------------


def test_failures_in_run_task_fail_clearly(ecs):
    expect_lookups(ecs)
    expect_run(ecs, answer={"tasks": [], "failures": [{"arn": CLUSTER_ARN, "reason": "Capacity is unavailable at this time. Please try again later",
                                                       "detail": "FARGATE capacity"}]})
    outcome = run(base_args())
    ecs.assert_no_pending_responses()
    assert outcome.failed and not outcome.result["changed"]
    assert outcome.result["msg"] == ("RunTask started no task from {0} on cluster mlflow: Capacity is unavailable at this time. Please try again "
                                     "later ({1}): FARGATE capacity".format(DEFINITION_ARN, CLUSTER_ARN))
    assert outcome.result["failures"][0]["detail"] == "FARGATE capacity"


def test_a_run_task_error_fails_clearly(ecs):
    expect_lookups(ecs)
    ecs.add_client_error("run_task", service_error_code="InvalidParameterException", service_message="No Fargate configuration exists for given values.",
                         http_status_code=400, expected_params=expected_request())
    outcome = run(base_args())
    assert outcome.failed and not outcome.result["changed"]
    assert "RunTask failed for task definition {0} on cluster mlflow".format(DEFINITION_ARN) in outcome.result["msg"]
    assert "No Fargate configuration exists" in outcome.result["msg"]


# --- wait_timeout ------------------------------------------------------------------------------------------------------


def expect_stop(ecs, answer=None, error=None):
    params = {"cluster": "mlflow", "task": TASK_ARN, "reason": "mlops.mlflow.ecs_run_task: the task did not stop within wait_timeout=10 seconds"}
    if error:
        ecs.add_client_error("stop_task", service_error_code=error, service_message="denied", http_status_code=400, expected_params=params)
    else:
        ecs.add_response("stop_task", {"task": answer}, params)


def test_timeout_stops_the_task_and_fails(ecs, clock):
    expect_lookups(ecs)
    expect_run(ecs)
    expect_describe(ecs, task("PENDING"), task("RUNNING"), task("RUNNING"), task("RUNNING"))
    expect_stop(ecs, dict(task("RUNNING"), desiredStatus="STOPPED", stoppedReason="mlops.mlflow.ecs_run_task: the task did not stop"))
    outcome = run(base_args(wait_timeout=10, poll_interval=3))
    ecs.assert_no_pending_responses()
    result = outcome.result
    assert outcome.failed and result["changed"]
    assert clock.sleeps == [3, 3, 3, 1]
    assert result["task_arn"] == TASK_ARN and result["exit_code"] is None
    message = result["msg"]
    assert "ECS task {0} (task definition {1}, cluster mlflow) did not stop within wait_timeout=10 seconds (last status RUNNING)".format(
        TASK_ARN, DEFINITION_ARN) in message
    assert "ECS has been asked to stop it (StopTask" in message
    assert "stream migrate/mlflow/" + TASK_ID in message


def test_timeout_when_stop_task_fails_too(ecs, clock):
    expect_lookups(ecs)
    expect_run(ecs)
    expect_describe(ecs, task("RUNNING"), task("RUNNING"), task("RUNNING"), task("RUNNING"))
    expect_stop(ecs, error="AccessDeniedException")
    outcome = run(base_args(wait_timeout=10, poll_interval=3))
    assert outcome.failed and outcome.result["changed"]
    assert "Stopping it failed too" in outcome.result["msg"]
    assert "aws ecs stop-task --cluster mlflow --task {0}".format(TASK_ARN) in outcome.result["msg"]


# --- log stream names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix, task_arn, expected", [
    ("migrate", TASK_ARN, "migrate/mlflow/" + TASK_ID),
    ("migrate", "arn:aws:ecs:us-east-1:{0}:task/{1}".format(ACCOUNT, TASK_ID), "migrate/mlflow/" + TASK_ID),  # old ARN format
    ("ecs/mlflow", TASK_ARN, "ecs/mlflow/mlflow/" + TASK_ID),
    (None, TASK_ARN, None),
    ("migrate", None, None),
])
def test_log_stream_name(prefix, task_arn, expected):
    assert module.log_stream_name(prefix, "mlflow", task_arn) == expected


@pytest.mark.parametrize("configuration, expected", [
    ({"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-stream-prefix": "p", "awslogs-region": "eu-west-1"}}, ("g", "p", "eu-west-1")),
    ({"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-stream-prefix": "p"}}, ("g", "p", "us-east-1")),
    ({"logDriver": "awslogs", "options": {"awslogs-group": "g"}}, ("g", None, "us-east-1")),
    ({"logDriver": "awsfirelens", "options": {}}, (None, None, None)),
    (None, (None, None, None)),
], ids=["awslogs", "region of the module", "no prefix", "firelens", "none"])
def test_log_location(configuration, expected):
    container = {"name": "mlflow", "image": "x"}
    if configuration:
        container["logConfiguration"] = configuration
    described = definition(containers=[{"name": "other", "image": "y", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "o"}}},
                                       container])
    assert module.log_location(described, "mlflow", "us-east-1") == expected


def test_without_a_stream_prefix_the_group_is_named(ecs):
    expect_lookups(ecs, definition(containers=[{"name": "mlflow", "image": "x", "logConfiguration": {
        "logDriver": "awslogs", "options": {"awslogs-group": "/ecs/mlflow"}}}]))
    expect_run(ecs)
    expect_describe(ecs, task("STOPPED", exit_code=1))
    outcome = run(base_args())
    assert (outcome.result["log_group"], outcome.result["log_stream"]) == ("/ecs/mlflow", None)
    assert "CloudWatch Logs group /ecs/mlflow (region us-east-1); without awslogs-stream-prefix" in outcome.result["msg"]


# --- check mode --------------------------------------------------------------------------------------------------------


def test_check_mode_runs_nothing_and_says_what_would_run(ecs):
    expect_lookups(ecs)  # read-only look-ups only: the stubber fails on any other call
    outcome = run(base_args(environment={"A": "1"}), check_mode=True)
    ecs.assert_no_pending_responses()
    result = outcome.result
    assert not outcome.failed and result["changed"]
    assert "task_arn" not in result and "exit_code" not in result
    assert result["run_task_request"]["task_definition"] == DEFINITION_ARN
    assert result["run_task_request"]["overrides"] == {"container_overrides": [
        {"name": "mlflow", "command": ["db-upgrade"], "environment": [{"name": "A", "value": "1"}]}]}
    assert (result["log_group"], result["log_stream"]) == ("/ecs/mlflow", None)
    assert "would run one task of {0}".format(DEFINITION_ARN) in result["msg"]


# --- bad input ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"cluster": "ml flow"}, "cluster must be a cluster name"),
    ({"task_definition": "mlflow:latest"}, "task_definition must be family, family:revision or a task definition ARN"),
    ({"task_definition": "arn:aws:ecs:us-east-1:{0}:task-definition/mlflow".format(ACCOUNT)}, "task definition ARN with its revision"),
    ({"container_name": "ml.flow"}, "container_name must be 1 to 255 letters"),
    ({"network_configuration": {"subnets": [], "security_groups": [GROUP]}}, "subnets must list 1 to 16 subnet IDs, not 0"),
    ({"network_configuration": {"subnets": ["10.0.1.0/24"], "security_groups": [GROUP]}},
     "subnets must be subnet IDs (subnet-0123456789abcdef0), not '10.0.1.0/24'"),
    ({"network_configuration": {"subnets": [SUBNET], "security_groups": ["default"]}}, "security_groups must be security group IDs"),
    ({"network_configuration": {"subnets": [SUBNET], "security_groups": [GROUP] * 6}}, "security_groups must list 1 to 5"),
    ({"network_configuration": {"subnets": [SUBNET]}}, "missing required arguments: security_groups"),
    ({"network_configuration": None}, "missing required arguments: network_configuration"),
    ({"started_by": "mlops.mlflow"}, "started_by must be 1 to 128 letters, digits, hyphens, underscores and slashes"),
    ({"tags": {"aws:owner": "x"}}, "tags may not begin with aws:"),
    ({"environment": {"A=B": "1"}}, "environment names may not be empty or hold '='"),
    ({"wait_timeout": 0}, "wait_timeout must be at least 1 second"),
    ({"poll_interval": 0}, "poll_interval must be more than 0 seconds"),
    ({"command": ["x" * 9000]}, "RunTask allows 8192 characters of overrides"),
    ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 2000}]}, "capacity_provider_strategy[0].weight must be between 0 and 1000"),
    ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE", "base": 1}, {"capacity_provider": "FARGATE_SPOT", "base": 1}]},
     "only one capacity provider may have a base"),
    ({"launch_type": "FARGATE", "capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT"}]},
     "parameters are mutually exclusive: launch_type|capacity_provider_strategy"),
    ({"launch_type": "EC2"}, "value of launch_type must be one of: FARGATE"),
    ({"container_name": None}, "missing required arguments: container_name"),
])
def test_bad_input_fails_before_any_api_call(ecs, changes, message):
    outcome = run(base_args(**changes))
    assert outcome.failed
    assert message in outcome.result["msg"]
    assert not outcome.result.get("changed")
    assert ecs.created == [], "an AWS client was created before the input was checked"


def test_every_problem_is_told_at_once(ecs):
    outcome = run(base_args(cluster="ml flow", started_by="a.b", wait_timeout=0))
    assert outcome.result["msg"].startswith("Nothing was run: cluster must be")
    assert "started_by must be" in outcome.result["msg"] and "wait_timeout must be" in outcome.result["msg"]


@pytest.mark.parametrize("described, message", [
    (definition(status="INACTIVE"), "{0} is INACTIVE (deregistered)".format(DEFINITION_ARN)),
    (definition(networkMode="bridge", requiresCompatibilities=["EC2"], compatibilities=["EC2"]),
     "has network mode bridge; Fargate runs awsvpc task definitions only"),
    (definition(requiresCompatibilities=["EC2"], compatibilities=["EC2"]), "is not compatible with Fargate (compatibilities: EC2)"),
    (definition(containers=[{"name": "server", "image": "x"}, {"name": "proxy", "image": "y"}]),
     "has no container named 'mlflow'; its containers: server, proxy"),
], ids=["inactive", "bridge", "EC2 only", "no such container"])
def test_a_task_definition_unfit_to_run_fails_before_run_task(ecs, described, message):
    expect_lookups(ecs, described)
    outcome = run(base_args())
    ecs.assert_no_pending_responses()
    assert outcome.failed and not outcome.result["changed"]
    assert outcome.result["msg"].startswith("Nothing was run: ")
    assert message in outcome.result["msg"]


def test_an_unknown_task_definition_fails_clearly(ecs):
    ecs.add_client_error("describe_task_definition", service_error_code="ClientException", service_message="Unable to describe task definition.",
                         http_status_code=400, expected_params={"taskDefinition": "mlflow-nope"})
    outcome = run(base_args(task_definition="mlflow-nope"))
    assert outcome.failed and not outcome.result["changed"]
    assert "Task definition 'mlflow-nope' was not found" in outcome.result["msg"]


@pytest.mark.parametrize("described_cluster, args, message", [
    (False, {}, "cluster 'mlflow' does not exist in this account and region"),
    (cluster(status="INACTIVE"), {}, "cluster mlflow is INACTIVE, not ACTIVE"),
    (cluster(capacityProviders=["FARGATE"]), {"launch_type": None, "capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT"}]},
     "capacity provider(s) FARGATE_SPOT not associated with cluster mlflow (its capacity providers: FARGATE)"),
], ids=["missing", "inactive", "capacity provider"])
def test_cluster_problems_fail_before_run_task(ecs, described_cluster, args, message):
    expect_lookups(ecs, described_cluster=described_cluster)
    outcome = run(base_args(**args))
    ecs.assert_no_pending_responses()
    assert outcome.failed and not outcome.result["changed"]
    assert message in outcome.result["msg"]
