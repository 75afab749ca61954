"""mlops.mlflow.ecs_fargate_service, driven through main() with ECS stubbed by botocore's Stubber
(which also checks every request against the ECS API model). The proving ground cannot make a
deployment fail, so the failure path of ``wait`` is proven here."""

import copy
import datetime

import pytest
from botocore.stub import ANY

from ansible_collections.mlops.mlflow.plugins.module_utils import ecs_service
from ansible_collections.mlops.mlflow.plugins.modules import ecs_fargate_service as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
CLUSTER_ARN = "arn:aws:ecs:us-east-1:{0}:cluster/mlflow".format(ACCOUNT)
SERVICE_ARN = "arn:aws:ecs:us-east-1:{0}:service/mlflow/mlflow".format(ACCOUNT)
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:{0}:targetgroup/mlflow/0123456789abcdef".format(ACCOUNT)
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
GROUP = "sg-0123456789abcdef0"
T0 = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
MUTATING = ("create_service", "update_service", "delete_service", "tag_resource", "untag_resource")


def td_arn(revision):
    return "arn:aws:ecs:us-east-1:{0}:task-definition/mlflow:{1}".format(ACCOUNT, revision)


def base_args(**changes):
    args = {
        "name": "mlflow",
        "cluster": "mlflow",
        "region": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",
        "task_definition": "mlflow:3",
        "desired_count": 2,
        "network_configuration": {"subnets": list(SUBNETS), "security_groups": [GROUP]},
        "load_balancers": [{"target_group_arn": TG_ARN, "container_name": "mlflow", "container_port": 5000}],
        "health_check_grace_period_seconds": 120,
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value is not None}


@pytest.fixture
def ecs(monkeypatch):
    """A real ECS client whose answers come from a Stubber; the module gets it from module.client().
    Waits run on a fake clock."""
    stubber = harness.stub_client(monkeypatch, "ecs")
    fake_time = harness.FakeClock()
    monkeypatch.setattr(ecs_service, "SLEEP", fake_time.sleep)
    monkeypatch.setattr(ecs_service, "CLOCK", fake_time.clock)
    calls = []
    stubber.client.meta.events.register("before-parameter-build.ecs", lambda model, **kwargs: calls.append(model.name))
    stubber.time = fake_time
    stubber.calls = calls
    with stubber:
        yield stubber


def mutating_calls(ecs):
    names = {"CreateService", "UpdateService", "DeleteService", "TagResource", "UntagResource"}
    return [name for name in ecs.calls if name in names]


run = harness.runner(module)


def definition(revision=3, status="ACTIVE"):
    return {"taskDefinitionArn": td_arn(revision), "family": "mlflow", "revision": revision, "status": status,
            "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "compatibilities": ["EC2", "FARGATE"],
            "cpu": "1024", "memory": "2048",
            "containerDefinitions": [{"name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v3.18.0-full",
                                      "portMappings": [{"containerPort": 5000, "hostPort": 5000, "protocol": "tcp"}]}]}


def deployment(number, revision=3, state="COMPLETED", running=2, desired=2, status="PRIMARY", minutes=0, reason=None):
    return {"id": "ecs-svc/{0}".format(number), "status": status, "taskDefinition": td_arn(revision), "desiredCount": desired,
            "runningCount": running, "pendingCount": desired - running, "failedTasks": 0, "launchType": "FARGATE",
            "rolloutState": state, "rolloutStateReason": reason or "ECS deployment ecs-svc/{0} {1}.".format(
                number, "completed" if state == "COMPLETED" else "in progress"),
            "createdAt": T0 + datetime.timedelta(minutes=minutes), "updatedAt": T0 + datetime.timedelta(minutes=minutes)}


def service(revision=3, desired=2, running=None, tags=None, deployments=None, **changes):
    """The service as DescribeServices answers it once the module created it with base_args(): AWS's
    defaults filled in, lists in an order of its own."""
    running = desired if running is None else running
    described = {
        "serviceArn": SERVICE_ARN, "serviceName": "mlflow", "clusterArn": CLUSTER_ARN, "status": "ACTIVE",
        "taskDefinition": td_arn(revision), "desiredCount": desired, "runningCount": running, "pendingCount": 0,
        "launchType": "FARGATE", "platformVersion": "LATEST", "platformFamily": "Linux",
        "loadBalancers": [{"targetGroupArn": TG_ARN, "containerName": "mlflow", "containerPort": 5000}],
        "serviceRegistries": [],
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": list(reversed(SUBNETS)), "securityGroups": [GROUP],
                                                         "assignPublicIp": "DISABLED"}},
        "healthCheckGracePeriodSeconds": 120,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}, "maximumPercent": 200,
                                    "minimumHealthyPercent": 100, "strategy": "ROLLING"},
        "availabilityZoneRebalancing": "ENABLED", "propagateTags": "SERVICE", "enableExecuteCommand": False,
        "enableECSManagedTags": False, "schedulingStrategy": "REPLICA", "deploymentController": {"type": "ECS"},
        "placementConstraints": [], "placementStrategy": [],
        "deployments": deployments if deployments is not None else [deployment(1, revision, running=running, desired=desired)],
        "events": [{"id": "e1", "createdAt": T0, "message": "(service mlflow) has reached a steady state."}],
        "createdAt": T0,
        "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()],
    }
    described.update(changes)
    return described


def expect_describe(ecs, described=None, error=None):
    params = {"cluster": "mlflow", "services": ["mlflow"], "include": ["TAGS"]}
    if error:
        ecs.add_client_error("describe_services", service_error_code=error, service_message="Cluster not found.", http_status_code=400,
                             expected_params=params)
    elif described is None:
        ecs.add_response("describe_services", {"services": [], "failures": [{"arn": SERVICE_ARN, "reason": "MISSING"}]}, params)
    else:
        ecs.add_response("describe_services", {"services": [described], "failures": []}, params)


def expect_definition(ecs, reference="mlflow:3", revision=3, status="ACTIVE"):
    ecs.add_response("describe_task_definition", {"taskDefinition": definition(revision, status)}, {"taskDefinition": reference})


def expect_cluster(ecs, exists=True):
    answer = {"clusters": [{"clusterArn": CLUSTER_ARN, "clusterName": "mlflow", "status": "ACTIVE"}], "failures": []} if exists else {
        "clusters": [], "failures": [{"arn": CLUSTER_ARN, "reason": "MISSING"}]}
    ecs.add_response("describe_clusters", answer, {"clusters": ["mlflow"]})


CREATE_PARAMS = {
    "cluster": "mlflow",
    "serviceName": "mlflow",
    "taskDefinition": td_arn(3),
    "desiredCount": 2,
    "launchType": "FARGATE",
    "platformVersion": "LATEST",
    "networkConfiguration": {"awsvpcConfiguration": {"subnets": sorted(SUBNETS), "securityGroups": [GROUP], "assignPublicIp": "DISABLED"}},
    "loadBalancers": [{"targetGroupArn": TG_ARN, "containerName": "mlflow", "containerPort": 5000}],
    "healthCheckGracePeriodSeconds": 120,
    "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200, "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    "availabilityZoneRebalancing": "ENABLED",
    "propagateTags": "SERVICE",
    "enableExecuteCommand": False,
    "schedulingStrategy": "REPLICA",
    "deploymentController": {"type": "ECS"},
    "clientToken": ANY,
}


# --- present: create ---------------------------------------------------------------------------------------------------


def test_creates_the_service_and_waits_for_its_deployment(ecs):
    expect_describe(ecs)
    expect_cluster(ecs)
    expect_definition(ecs)
    starting = service(running=0, deployments=[deployment(1, state="IN_PROGRESS", running=0)], tags={"application": "mlflow"})
    ecs.add_response("create_service", {"service": starting}, dict(CREATE_PARAMS, tags=[{"key": "application", "value": "mlflow"}]))
    expect_describe(ecs, starting)
    expect_describe(ecs, service(tags={"application": "mlflow"}))
    outcome = run(base_args(tags={"application": "mlflow"}))
    ecs.assert_no_pending_responses()
    result = outcome.result
    assert not outcome.failed and result["changed"]
    assert result["changed_fields"] == ["task_definition", "desired_count", "launch_type", "capacity_provider_strategy", "platform_version",
                                        "network_configuration", "load_balancers", "health_check_grace_period_seconds",
                                        "deployment_configuration", "availability_zone_rebalancing", "propagate_tags",
                                        "enable_execute_command", "tags"]
    assert result["service"]["running_count"] == 2 and result["service"]["deployments"][0]["rollout_state"] == "COMPLETED"
    assert result["service"]["tags"] == {"application": "mlflow"}
    assert ecs.time.sleeps == [2]


def test_creation_defaults_to_one_task_and_leaves_optional_settings_out(ecs):
    expect_describe(ecs)
    expect_cluster(ecs)
    expect_definition(ecs, "mlflow", 3)
    expected = dict(CREATE_PARAMS, desiredCount=1)
    del expected["loadBalancers"], expected["healthCheckGracePeriodSeconds"]
    ecs.add_response("create_service", {"service": service(desired=1)}, expected)
    expect_describe(ecs, service(desired=1))
    outcome = run(base_args(task_definition="mlflow", desired_count=None, load_balancers=None, health_check_grace_period_seconds=None,
                            desired_count_managed_externally=True))
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and "tags" not in outcome.result["changed_fields"]


def test_check_mode_creates_nothing_and_shows_the_service_it_would_create(ecs):
    expect_describe(ecs)
    expect_cluster(ecs)
    expect_definition(ecs)
    outcome = run(base_args(tags={"application": "mlflow"}), check_mode=True, diff=True)
    ecs.assert_no_pending_responses()
    assert mutating_calls(ecs) == []
    result = outcome.result
    assert result["changed"] and result["service"]["service_name"] == "mlflow" and "service_arn" not in result["service"]
    assert result["service"]["task_definition"] == td_arn(3) and result["service"]["tags"] == {"application": "mlflow"}
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["task_definition"] == "mlflow:3" and result["diff"]["after"]["tags"] == {"application": "mlflow"}
    assert result["diff"]["after"]["network_configuration"] == {"subnets": sorted(SUBNETS), "security_groups": [GROUP], "assign_public_ip": False}


def test_an_inactive_service_is_created_anew(ecs):
    expect_describe(ecs, service(status="INACTIVE", desired=0))
    expect_definition(ecs)
    ecs.add_response("create_service", {"service": service()}, CREATE_PARAMS)
    expect_describe(ecs, service())
    outcome = run(base_args(wait=False))
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["service"]["status"] == "ACTIVE"


def test_create_in_a_missing_cluster_fails_clearly(ecs):
    expect_describe(ecs, error="ClusterNotFoundException")
    expect_cluster(ecs, exists=False)
    outcome = run(base_args())
    assert outcome.failed and outcome.result["msg"] == "cluster mlflow does not exist (or is INACTIVE): create the ECS cluster first."
    assert mutating_calls(ecs) == []


# --- present: an existing service ---------------------------------------------------------------------------------------


def test_an_equal_service_changes_nothing(ecs):
    """Full ARN given, AWS's defaults and orders on the other side: nothing to do, two reads."""
    expect_describe(ecs, service())
    expect_definition(ecs, td_arn(3))
    outcome = run(base_args(task_definition=td_arn(3)), diff=True)
    ecs.assert_no_pending_responses()
    assert ecs.calls == ["DescribeServices", "DescribeTaskDefinition"]
    assert not outcome.result["changed"] and outcome.result["changed_fields"] == []
    assert outcome.result["diff"]["before"] == outcome.result["diff"]["after"]


def test_a_new_task_definition_is_one_update_then_a_wait(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs, td_arn(4), 4)
    rolling = service(revision=4, deployments=[deployment(2, 4, "IN_PROGRESS", running=0, minutes=5), deployment(1, status="ACTIVE")])
    ecs.add_response("update_service", {"service": rolling}, {"cluster": "mlflow", "service": "mlflow", "taskDefinition": td_arn(4)})
    expect_describe(ecs, rolling)
    expect_describe(ecs, service(revision=4, deployments=[deployment(2, 4, minutes=5)]))
    outcome = run(base_args(task_definition=td_arn(4)), diff=True)
    ecs.assert_no_pending_responses()
    result = outcome.result
    assert result["changed"] and result["changed_fields"] == ["task_definition"]
    assert (result["diff"]["before"]["task_definition"], result["diff"]["after"]["task_definition"]) == ("mlflow:3", "mlflow:4")
    assert result["service"]["task_definition"] == td_arn(4)


def test_network_and_circuit_breaker_changes_are_one_update(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs)
    updated = service(networkConfiguration={"awsvpcConfiguration": {"subnets": SUBNETS[:1], "securityGroups": [GROUP], "assignPublicIp": "DISABLED"}})
    ecs.add_response("update_service", {"service": updated}, {
        "cluster": "mlflow", "service": "mlflow",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": SUBNETS[:1], "securityGroups": [GROUP], "assignPublicIp": "DISABLED"}},
        "deploymentConfiguration": {"strategy": "ROLLING", "minimumHealthyPercent": 100, "maximumPercent": 200,
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    })
    expect_describe(ecs, updated)
    outcome = run(base_args(network_configuration={"subnets": SUBNETS[:1], "security_groups": [GROUP]},
                            deployment_configuration={"circuit_breaker": {"rollback": False}}))
    ecs.assert_no_pending_responses()
    assert outcome.result["changed_fields"] == ["network_configuration", "deployment_configuration"]


def test_check_mode_reports_the_update_and_makes_none(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs, "mlflow:4", 4)
    outcome = run(base_args(task_definition="mlflow:4", desired_count=3, enable_execute_command=True), check_mode=True, diff=True)
    ecs.assert_no_pending_responses()
    assert mutating_calls(ecs) == []
    result = outcome.result
    assert result["changed_fields"] == ["task_definition", "desired_count", "enable_execute_command"]
    assert (result["service"]["task_definition"], result["service"]["desired_count"], result["service"]["enable_execute_command"]) == (
        td_arn(4), 3, True)
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert [key for key in after if before[key] != after[key]] == result["changed_fields"]


def test_desired_count_managed_externally_leaves_autoscaling_alone(ecs):
    expect_describe(ecs, service(desired=7))
    expect_definition(ecs)
    outcome = run(base_args(desired_count=2, desired_count_managed_externally=True))
    ecs.assert_no_pending_responses()
    assert not outcome.result["changed"] and outcome.result["service"]["desired_count"] == 7


def test_desired_count_is_enforced_otherwise(ecs):
    expect_describe(ecs, service(desired=7))
    expect_definition(ecs)
    ecs.add_response("update_service", {"service": service()}, {"cluster": "mlflow", "service": "mlflow", "desiredCount": 2})
    expect_describe(ecs, service())
    outcome = run(base_args(desired_count=2))
    ecs.assert_no_pending_responses()
    assert outcome.result["changed_fields"] == ["desired_count"]


def test_tags_are_purged_and_set_without_an_update(ecs):
    expect_describe(ecs, service(tags={"application": "mlflow", "team": "ml", "aws:cloudformation:stack-name": "x"}))
    expect_definition(ecs)
    ecs.add_response("untag_resource", {}, {"resourceArn": SERVICE_ARN, "tagKeys": ["team"]})
    ecs.add_response("tag_resource", {}, {"resourceArn": SERVICE_ARN, "tags": [{"key": "cost-centre", "value": "42"}]})
    expect_describe(ecs, service(tags={"application": "mlflow", "cost-centre": "42", "aws:cloudformation:stack-name": "x"}))
    outcome = run(base_args(tags={"application": "mlflow", "cost-centre": "42"}), diff=True)
    ecs.assert_no_pending_responses()
    result = outcome.result
    assert result["changed_fields"] == ["tags"] and "UpdateService" not in ecs.calls
    assert result["diff"]["after"]["tags"] == {"application": "mlflow", "aws:cloudformation:stack-name": "x", "cost-centre": "42"}


def test_tags_without_purge_are_only_added(ecs):
    expect_describe(ecs, service(tags={"team": "ml"}))
    expect_definition(ecs)
    outcome = run(base_args(tags={}, purge_tags=False))
    ecs.assert_no_pending_responses()
    assert not outcome.result["changed"]


def test_force_new_deployment_always_deploys(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs)
    ecs.add_response("update_service", {"service": service(deployments=[deployment(2, state="IN_PROGRESS", running=0)])},
                     {"cluster": "mlflow", "service": "mlflow", "forceNewDeployment": True})
    expect_describe(ecs, service(deployments=[deployment(2)]))
    outcome = run(base_args(force_new_deployment=True))
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["changed_fields"] == ["force_new_deployment"]


def test_without_wait_the_module_returns_at_once(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs, "mlflow:4", 4)
    rolling = service(revision=4, deployments=[deployment(2, 4, "IN_PROGRESS", running=0)])
    ecs.add_response("update_service", {"service": rolling}, {"cluster": "mlflow", "service": "mlflow", "taskDefinition": td_arn(4)})
    expect_describe(ecs, rolling)
    outcome = run(base_args(task_definition="mlflow:4", wait=False))
    ecs.assert_no_pending_responses()
    assert outcome.result["service"]["deployments"][0]["rollout_state"] == "IN_PROGRESS" and ecs.time.sleeps == []


# --- failures of the deployment -----------------------------------------------------------------------------------------------


def test_a_failed_deployment_fails_with_the_reason_the_events_and_the_stopped_tasks(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs, "mlflow:4", 4)
    new = deployment(2, 4, "IN_PROGRESS", running=0, minutes=5)
    ecs.add_response("update_service", {"service": service(revision=4, deployments=[new, deployment(1, status="ACTIVE")])},
                     {"cluster": "mlflow", "service": "mlflow", "taskDefinition": td_arn(4)})
    expect_describe(ecs, service(revision=4, deployments=[new, deployment(1, status="ACTIVE")]))
    failed = dict(new, status="ACTIVE", rolloutState="FAILED",
                  rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.", failedTasks=3)
    rolled_back = service(revision=3, deployments=[deployment(3, 3, "IN_PROGRESS", running=2, minutes=9), failed], events=[
        {"id": "e3", "createdAt": T0 + datetime.timedelta(minutes=9),
         "message": "(service mlflow) deployment ecs-svc/2 deployment failed: tasks failed to start."},
        {"id": "e2", "createdAt": T0 + datetime.timedelta(minutes=6), "message": "(service mlflow) has started 2 tasks: (task 1) (task 2)."},
        {"id": "e1", "createdAt": T0, "message": "(service mlflow) has reached a steady state."},
    ])
    expect_describe(ecs, rolled_back)
    task_arn = "arn:aws:ecs:us-east-1:{0}:task/mlflow/0123456789abcdef0123456789abcdef".format(ACCOUNT)
    ecs.add_response("list_tasks", {"taskArns": [task_arn]},
                     {"cluster": "mlflow", "serviceName": "mlflow", "desiredStatus": "STOPPED", "maxResults": 100})
    ecs.add_response("describe_tasks", {"tasks": [{
        "taskArn": task_arn, "taskDefinitionArn": td_arn(4), "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited", "stoppedAt": T0 + datetime.timedelta(minutes=7),
        "containers": [{"name": "mlflow", "exitCode": 1, "reason": "CannotStartContainerError: exec: mlflow: not found"}],
    }], "failures": []}, {"cluster": "mlflow", "tasks": [task_arn]})
    outcome = run(base_args(task_definition="mlflow:4"))
    ecs.assert_no_pending_responses()
    assert outcome.failed and outcome.result["changed"] and outcome.result["changed_fields"] == ["task_definition"]
    message = outcome.result["msg"]
    assert message.startswith("The deployment of ECS service mlflow in cluster mlflow failed: deployment ecs-svc/2 FAILED (0 of 2 tasks running). "
                              "Rollout state reason: ECS deployment circuit breaker: tasks failed to start. "
                              "The service's PRIMARY deployment is now ecs-svc/3, running task definition mlflow:3 "
                              "(a rollback by the deployment circuit breaker).")
    assert "deployment ecs-svc/2 deployment failed: tasks failed to start." in message
    assert "has started 2 tasks" in message and "steady state" not in message
    assert ("Recently stopped tasks: task 0123456789abcdef0123456789abcdef (mlflow:4): Essential container in task exited "
            "[EssentialContainerExited]; container mlflow: exit code 1, CannotStartContainerError: exec: mlflow: not found.") in message
    assert outcome.result["service"]["task_definition"] == td_arn(3)


def test_a_deployment_that_does_not_finish_times_out(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs, "mlflow:4", 4)
    rolling = service(revision=4, running=0, deployments=[deployment(2, 4, "IN_PROGRESS", running=0)])
    ecs.add_response("update_service", {"service": rolling}, {"cluster": "mlflow", "service": "mlflow", "taskDefinition": td_arn(4)})
    for dummy in range(8):  # at 0, 2, 4, 7, 12, 17, 27 and 30 seconds
        expect_describe(ecs, rolling)
    ecs.add_response("list_tasks", {"taskArns": []}, {"cluster": "mlflow", "serviceName": "mlflow", "desiredStatus": "STOPPED", "maxResults": 100})
    outcome = run(base_args(task_definition="mlflow:4", wait_timeout=30))
    ecs.assert_no_pending_responses()
    assert outcome.failed and outcome.result["changed"]
    assert outcome.result["msg"].startswith(
        "Timed out after 30 seconds waiting for the deployment of ECS service mlflow in cluster mlflow to complete: "
        "deployment ecs-svc/2 IN_PROGRESS (0 of 2 tasks running). The service was updated and ECS goes on deploying it; "
        "raise wait_timeout or run again. Rollout state reason: ECS deployment ecs-svc/2 in progress.")
    assert outcome.result["msg"].endswith("No task of the service stopped since the deployment started.")
    assert ecs.time.now == 30


# --- refusals -------------------------------------------------------------------------------------------------------------------


def test_a_switch_to_a_capacity_provider_strategy_is_refused(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs)
    outcome = run(base_args(capacity_provider_strategy=[{"capacity_provider": "FARGATE_SPOT"}]))
    ecs.assert_no_pending_responses()
    assert outcome.failed and outcome.result["msg"].startswith("capacity_provider_strategy cannot be set on the existing service mlflow")
    assert mutating_calls(ecs) == []


def test_a_missing_task_definition_is_named(ecs):
    expect_describe(ecs, service())
    ecs.add_client_error("describe_task_definition", service_error_code="ClientException", service_message="Unable to describe task definition.",
                         http_status_code=400, expected_params={"taskDefinition": "mlflow:9"})
    outcome = run(base_args(task_definition="mlflow:9"))
    assert outcome.failed and outcome.result["msg"].startswith(
        "task_definition mlflow:9 was not found: ECS answered 'Unable to describe task definition.'. Register it first")
    assert mutating_calls(ecs) == []


def test_an_inactive_revision_is_refused_only_when_it_would_be_deployed(ecs):
    expect_describe(ecs, service())
    expect_definition(ecs, "mlflow:4", 4, status="INACTIVE")
    outcome = run(base_args(task_definition="mlflow:4"))
    assert outcome.failed and "task_definition mlflow:4 is INACTIVE: ECS creates and updates services with ACTIVE revisions only." in outcome.result["msg"]
    expect_describe(ecs, service())
    expect_definition(ecs, "mlflow:3", 3, status="INACTIVE")
    assert not run(base_args()).result["changed"]


def test_a_load_balancer_container_that_the_task_definition_lacks_is_named(ecs):
    expect_describe(ecs)
    expect_cluster(ecs)
    expect_definition(ecs)
    outcome = run(base_args(load_balancers=[{"target_group_arn": TG_ARN, "container_name": "mlflow", "container_port": 8080}]))
    assert outcome.failed and "load_balancers[0].container_port 8080 is not a port mapping of container 'mlflow'" in outcome.result["msg"]
    assert mutating_calls(ecs) == []


def test_a_draining_service_is_not_recreated(ecs):
    expect_describe(ecs, service(status="DRAINING"))
    outcome = run(base_args())
    assert outcome.failed and "is being deleted (DRAINING)" in outcome.result["msg"]


@pytest.mark.parametrize("changes, message", [
    ({"task_definition": None}, "state is present but all of the following are missing: task_definition"),
    ({"network_configuration": None}, "state is present but all of the following are missing: network_configuration"),
    ({"launch_type": "FARGATE", "capacity_provider_strategy": [{"capacity_provider": "FARGATE"}]},
     "parameters are mutually exclusive: launch_type|capacity_provider_strategy"),
    ({"launch_type": "EC2"}, "value of launch_type must be one of: FARGATE"),
    ({"network_configuration": {"subnets": ["subnet-1"], "security_groups": [GROUP]}}, "network_configuration.subnets must be subnet IDs"),
    ({"network_configuration": {"subnets": SUBNETS}}, "missing required arguments: security_groups found in network_configuration"),
    ({"deployment_configuration": {"maximum_percent": 100}}, "deployment_configuration.maximum_percent (100) must be above"),
    ({"cluster": "my cluster"}, "cluster must be a cluster name"),
])
def test_bad_input_fails_before_any_api_call(ecs, changes, message):
    outcome = run(base_args(**changes))
    assert outcome.failed and message in outcome.result["msg"]
    assert ecs.created == [], "an AWS client was created before the input was checked"


# --- absent ---------------------------------------------------------------------------------------------------------------------


def test_absent_scales_to_zero_deletes_and_waits(ecs):
    expect_describe(ecs, service())
    ecs.add_response("update_service", {"service": service(desired=0)}, {"cluster": "mlflow", "service": "mlflow", "desiredCount": 0})
    ecs.add_response("delete_service", {"service": service(desired=0, status="DRAINING")}, {"cluster": "mlflow", "service": "mlflow", "force": True})
    expect_describe(ecs, service(desired=0, status="DRAINING"))
    expect_describe(ecs, service(desired=0, status="INACTIVE"))
    outcome = run({"name": "mlflow", "cluster": "mlflow", "state": "absent", "region": "us-east-1"})
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["service"]["status"] == "INACTIVE" and outcome.result["changed_fields"] == []


def test_absent_check_mode_and_diff(ecs):
    expect_describe(ecs, service(tags={"application": "mlflow"}))
    outcome = run({"name": "mlflow", "cluster": "mlflow", "state": "absent", "region": "us-east-1"}, check_mode=True, diff=True)
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and mutating_calls(ecs) == []
    assert outcome.result["diff"]["after"] == {} and outcome.result["diff"]["before"]["tags"] == {"application": "mlflow"}
    assert outcome.result["diff"]["before"]["desired_count"] == 2


@pytest.mark.parametrize("answer", [{"described": None}, {"described": service(status="INACTIVE")}, {"error": "ClusterNotFoundException"}],
                         ids=["missing", "inactive", "no cluster"])
def test_absent_when_there_is_nothing(ecs, answer):
    expect_describe(ecs, **answer)
    outcome = run({"name": "mlflow", "cluster": "mlflow", "state": "absent", "region": "us-east-1"})
    ecs.assert_no_pending_responses()
    assert not outcome.result["changed"] and mutating_calls(ecs) == []


def test_absent_times_out_while_draining(ecs):
    for dummy in range(4):  # the first look, then at 0, 2 and 4 seconds
        expect_describe(ecs, service(desired=0, running=1, status="DRAINING"))
    outcome = run({"name": "mlflow", "cluster": "mlflow", "state": "absent", "region": "us-east-1", "wait_timeout": 4})
    ecs.assert_no_pending_responses()
    assert outcome.failed and not outcome.result["changed"], outcome.result
    assert outcome.result["msg"] == ("Timed out after 4 seconds waiting for ECS service mlflow in cluster mlflow to become INACTIVE; "
                                     "it is DRAINING with 1 tasks running.")


def test_the_module_is_in_the_docs_with_every_option():
    """Every option of the argument spec is documented (ansible-test validate-modules checks more)."""
    import yaml
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    spec = copy.deepcopy(documented)
    for name in ("state", "name", "cluster", "task_definition", "desired_count", "desired_count_managed_externally", "launch_type",
                 "capacity_provider_strategy", "platform_version", "network_configuration", "load_balancers",
                 "health_check_grace_period_seconds", "deployment_configuration", "availability_zone_rebalancing", "propagate_tags",
                 "enable_execute_command", "force_new_deployment", "wait", "wait_timeout"):
        assert name in spec, name
