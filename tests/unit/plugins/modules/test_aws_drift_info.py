"""mlops.mlflow.aws_drift_info: validation of the parts before any call, masking of secret options, and the kinds
of this collection's ECS modules (the task definition against the family's latest ACTIVE revision, the service)."""

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_task_definition
from ansible_collections.mlops.mlflow.plugins.modules import aws_drift_info as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

run = harness.runner(module)
ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/mlflow:3"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mlflow/database-AbCdEf"
TASK_DEFINITION = {
    "family": "mlflow", "cpu": 1024, "memory": 2048,
    "execution_role_arn": "arn:aws:iam::123456789012:role/mlflow-execution",
    "task_role_arn": "arn:aws:iam::123456789012:role/mlflow-task",
    "database": {"engine": "postgresql", "host": "db.example.internal", "name": "mlflow", "credentials_secret_arn": SECRET_ARN},
    "artifacts_uri": "s3://mlflow-artifacts/mlflow", "allowed_hosts": ["mlflow.example.internal"],
    "awslogs": {"group": "/ecs/mlflow", "region": "us-east-1"}, "tags": {"application": "mlflow"},
}
SERVICE = {
    "name": "mlflow", "cluster": "mlflow", "task_definition": "mlflow", "desired_count": 2, "launch_type": "FARGATE",
    "network_configuration": {"subnets": ["subnet-0a1b2c3d", "subnet-0b2c3d4e"], "security_groups": ["sg-0c3d4e5f"]},
    "tags": {"application": "mlflow"},
}


@pytest.fixture
def ecs(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "ecs")
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def parts(*items):
    return dict(harness.AWS_ARGS, parts=[{"name": name, "kind": kind, "spec": spec} for name, kind, spec in items])


def registered(options):
    """The revision ECS would hold for the options, as DescribeTaskDefinition answers it."""
    validated = ArgumentSpecValidator(mlflow_task_definition.argument_spec()).validate(dict(options, state="present")).validated_parameters
    definition = mlflow_task_definition.build_task_definition(validated, "us-east-1")[0]
    return dict(definition, taskDefinitionArn=ARN, revision=3, status="ACTIVE",
                compatibilities=["EC2", "FARGATE"], registeredAt="2026-12-01T00:00:00Z")


def latest(ecs, definition, tags):
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": [ARN] if definition else []},
                     {"familyPrefix": "mlflow", "status": "ACTIVE", "sort": "DESC", "maxResults": 1})
    if definition:
        ecs.add_response("describe_task_definition", {"taskDefinition": definition, "tags": tags},
                         {"taskDefinition": ARN, "include": ["TAGS"]})


def test_the_latest_revision_with_the_same_content_and_tags_is_in_sync(ecs):
    latest(ecs, registered(TASK_DEFINITION), [{"key": "application", "value": "mlflow"}])
    outcome = run(parts(("task_definition", "ecs_mlflow_task_definition", TASK_DEFINITION)))
    assert not outcome.failed, outcome.result["msg"]
    part = outcome.result["parts"]["task_definition"]
    assert (part["in_sync"], part["differences"], outcome.result["changed"]) == (True, [], False)
    assert part["resource"]["task_definition_arn"] == ARN and part["resource"]["images"]["mlflow"].startswith("ghcr.io/mlflow/mlflow:")


def test_other_content_or_tags_make_the_task_definition_differ(ecs):
    latest(ecs, registered(dict(TASK_DEFINITION, workers=2)), [{"key": "team", "value": "ml"}])
    outcome = run(parts(("task_definition", "ecs_mlflow_task_definition", TASK_DEFINITION)))
    assert outcome.result["parts"]["task_definition"]["differences"] == ["tags", "task_definition"]


def test_a_family_without_revision_does_not_exist(ecs):
    latest(ecs, None, [])
    outcome = run(parts(("task_definition", "ecs_mlflow_task_definition", TASK_DEFINITION)))
    assert outcome.result["parts"]["task_definition"] == dict(kind="ecs_mlflow_task_definition", exists=False, in_sync=False,
                                                              differences=["exists"], resource={})
    assert outcome.result["in_sync"] is False


def described_service(**changes):
    service = {
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/mlflow/mlflow", "serviceName": "mlflow", "status": "ACTIVE",
        "taskDefinition": ARN, "desiredCount": 2, "runningCount": 2, "launchType": "FARGATE", "platformVersion": "LATEST",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0b2c3d4e", "subnet-0a1b2c3d"], "securityGroups": ["sg-0c3d4e5f"],
                                                         "assignPublicIp": "DISABLED"}},
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        "availabilityZoneRebalancing": "ENABLED", "propagateTags": "SERVICE", "enableExecuteCommand": False,
        "deploymentController": {"type": "ECS"}, "tags": [{"key": "application", "value": "mlflow"}],
    }
    service.update(changes)
    return service


def service_answers(ecs, service):
    ecs.add_response("describe_services", {"services": [service], "failures": []},
                     {"cluster": "mlflow", "services": ["mlflow"], "include": ["TAGS"]})
    definition = {"taskDefinitionArn": ARN, "family": "mlflow", "revision": 3, "status": "ACTIVE", "networkMode": "awsvpc",
                  "requiresCompatibilities": ["FARGATE"], "containerDefinitions": [{"name": "mlflow", "image": "mlflow"}]}
    ecs.add_response("describe_task_definition", {"taskDefinition": definition}, {"taskDefinition": "mlflow"})


def test_a_service_on_the_family_s_latest_revision_with_its_settings_is_in_sync(ecs):
    service_answers(ecs, described_service())
    outcome = run(parts(("service", "ecs_fargate_service", SERVICE)))
    assert not outcome.failed, outcome.result["msg"]
    part = outcome.result["parts"]["service"]
    assert (part["in_sync"], part["differences"]) == (True, [])
    assert part["resource"]["task_definition"] == ARN and part["resource"]["desired_count"] == 2


def test_a_service_differs_by_count_revision_and_tags(ecs):
    service_answers(ecs, described_service(desiredCount=1, taskDefinition=ARN.replace(":3", ":2"), tags=[]))
    outcome = run(parts(("service", "ecs_fargate_service", SERVICE)))
    assert outcome.result["parts"]["service"]["differences"] == ["desired_count", "tags", "task_definition"]


def test_a_draining_service_is_out_of_sync_and_a_missing_cluster_means_no_service(ecs):
    ecs.add_response("describe_services", {"services": [described_service(status="DRAINING")], "failures": []})
    outcome = run(parts(("service", "ecs_fargate_service", SERVICE)))
    assert outcome.result["parts"]["service"]["differences"] == ["state"]
    ecs.add_client_error("describe_services", "ClusterNotFoundException", "Cluster not found.")
    outcome = run(parts(("service", "ecs_fargate_service", SERVICE)))
    assert outcome.result["parts"]["service"]["exists"] is False


def test_bad_parts_fail_before_any_call_naming_the_part(ecs):
    outcome = run(parts(("service", "ecs_fargate_service", dict(SERVICE, unknown=1))))
    assert outcome.failed and "parts[service] (ecs_fargate_service)" in outcome.result["msg"] and "unknown" in outcome.result["msg"]
    outcome = run(parts(("a", "ecs_fargate_service", SERVICE), ("a", "ecs_fargate_service", SERVICE)))
    assert outcome.failed and "more than once" in outcome.result["msg"]


def test_an_input_the_acting_module_refuses_is_a_difference_not_a_failure(ecs):
    outcome = run(parts(("task_definition", "ecs_mlflow_task_definition", dict(TASK_DEFINITION, cpu=300))))
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["parts"]["task_definition"]["differences"] == ["input"]


def test_secret_options_are_collected_for_masking_but_empty_ones_are_not():
    spec = {"name": {"type": "str"}, "secret": {"type": "str", "no_log": True},
            "nested": {"type": "dict", "options": {"password": {"type": "str", "no_log": True}}}}
    assert module.secret_values(spec, {"name": "x", "secret": "hunter2", "nested": {"password": "p4ss"}}) == ["hunter2", "p4ss"]
    assert module.secret_values(spec, {"name": "x", "secret": "", "nested": None}) == []


def test_client_secrets_in_options_without_suboptions_are_collected_for_masking():
    spec = {"listeners": {"type": "list", "elements": "dict"}, "name": {"type": "str"}}
    listeners = [{"Port": 443, "DefaultActions": [
        {"Type": "authenticate-oidc", "AuthenticateOidcConfig": {"ClientId": "mlflow", "ClientSecret": "oidc-s3cret"}},
        {"Type": "forward", "TargetGroupName": "mlflow"}]}]
    assert module.secret_values(spec, {"listeners": listeners, "name": "ClientSecret"}) == ["oidc-s3cret"]
