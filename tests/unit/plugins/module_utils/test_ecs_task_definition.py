"""Normalisation and comparison of ECS task definitions, and the Fargate task sizes."""

import datetime

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import (
    FARGATE_TASK_SIZES,
    camel_task_definition_to_snake,
    fargate_size_error,
    normalise_task_definition,
    revision_from_arn,
    task_definitions_differ,
)

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"


def desired():
    """A definition as the module registers it."""
    return {
        "family": "mlflow",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [
            {
                "name": "mlflow",
                "image": "ghcr.io/mlflow/mlflow:v3.18.0-full",
                "essential": True,
                "entryPoint": ["mlflow", "server"],
                "portMappings": [{"containerPort": 5000}],
                "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                "secrets": [{"name": "P", "valueFrom": SECRET + ":password::"}, {"name": "U", "valueFrom": SECRET + ":username::"}],
                "mountPoints": [{"sourceVolume": "efs", "containerPath": "/mnt/efs"}],
                "healthCheck": {"command": ["CMD", "true"], "startPeriod": 60},
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
            },
            {"name": "proxy", "image": "envoy", "portMappings": [{"containerPort": 9901}], "essential": False},
        ],
        "volumes": [{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "transitEncryption": "ENABLED",
                                                               "authorizationConfig": {"accessPointId": "fsap-1", "iam": "ENABLED"}}}],
    }


def described():
    """The same definition as DescribeTaskDefinition answers it in AWS: defaults filled, read-only
    members added, lists in another order."""
    mlflow, proxy = desired()["containerDefinitions"]
    mlflow = dict(mlflow, cpu=0, volumesFrom=[], systemControls=[],
                  portMappings=[{"containerPort": 5000, "hostPort": 5000, "protocol": "tcp"}],
                  environment=list(reversed(mlflow["environment"])),
                  secrets=list(reversed(mlflow["secrets"])),
                  healthCheck={"command": ["CMD", "true"], "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 60})
    proxy = dict(proxy, cpu=0, environment=[], mountPoints=[], volumesFrom=[],
                 portMappings=[{"containerPort": 9901, "hostPort": 9901, "protocol": "tcp"}])
    definition = desired()
    definition.update(
        taskDefinitionArn="arn:aws:ecs:us-east-1:123456789012:task-definition/mlflow:3",
        revision=3,
        status="ACTIVE",
        compatibilities=["EC2", "FARGATE"],
        requiresAttributes=[{"name": "com.amazonaws.ecs.capability.task-eni"}],
        placementConstraints=[],
        registeredAt=datetime.datetime(2026, 11, 22, 7, 0, tzinfo=datetime.timezone.utc),
        registeredBy="arn:aws:sts::123456789012:assumed-role/deployer/ansible",
        containerDefinitions=[mlflow, proxy],
    )
    definition["volumes"] = [dict(definition["volumes"][0])]
    definition["volumes"][0]["efsVolumeConfiguration"] = dict(definition["volumes"][0]["efsVolumeConfiguration"], rootDirectory="/")
    return definition


def test_a_described_definition_equals_the_one_registered():
    assert normalise_task_definition(desired()) == normalise_task_definition(described())
    assert not task_definitions_differ(desired(), described())


def test_normalised_form_keeps_only_registerable_members():
    normalised = normalise_task_definition(described())
    for read_only in ("taskDefinitionArn", "revision", "status", "compatibilities", "requiresAttributes",
                      "registeredAt", "registeredBy", "placementConstraints"):
        assert read_only not in normalised
    assert [entry["name"] for entry in normalised["containerDefinitions"][0]["environment"]] == ["A", "B"]
    assert normalised["containerDefinitions"][1]["essential"] is False


def _changed(edit):
    definition = desired()
    edit(definition)
    return definition


@pytest.mark.parametrize("edit", [
    pytest.param(lambda d: d["containerDefinitions"][0]["environment"].__setitem__(0, {"name": "B", "value": "3"}), id="environment value"),
    pytest.param(lambda d: d["containerDefinitions"][0]["environment"].pop(), id="environment variable removed"),
    pytest.param(lambda d: d["containerDefinitions"][0]["secrets"].__setitem__(0, {"name": "P", "valueFrom": SECRET + ":pw::"}), id="secret reference"),
    pytest.param(lambda d: d.update(cpu="2048", memory="4096"), id="task size"),
    pytest.param(lambda d: d.update(memory="3072"), id="memory"),
    pytest.param(lambda d: d.update(executionRoleArn="arn:aws:iam::123456789012:role/other"), id="execution role"),
    pytest.param(lambda d: d.pop("executionRoleArn"), id="execution role removed"),
    pytest.param(lambda d: d.update(taskRoleArn="arn:aws:iam::123456789012:role/task"), id="task role added"),
    pytest.param(lambda d: d["containerDefinitions"][0].update(image="ghcr.io/mlflow/mlflow:v3.17.2-full"), id="image"),
    pytest.param(lambda d: d["containerDefinitions"][1].update(essential=True), id="sidecar becomes essential"),
    pytest.param(lambda d: d["containerDefinitions"].reverse(), id="container order"),
    pytest.param(lambda d: d["containerDefinitions"][0]["portMappings"].__setitem__(0, {"containerPort": 5001}), id="port"),
    pytest.param(lambda d: d["containerDefinitions"][0]["healthCheck"].update(retries=5), id="health check retries"),
    pytest.param(lambda d: d["containerDefinitions"][0]["logConfiguration"]["options"].update({"awslogs-group": "h"}), id="log group"),
    pytest.param(lambda d: d["volumes"][0]["efsVolumeConfiguration"]["authorizationConfig"].update(iam="DISABLED"), id="efs iam"),
    pytest.param(lambda d: d["runtimePlatform"].update(cpuArchitecture="ARM64"), id="architecture"),
])
def test_every_real_change_is_a_difference(edit):
    assert task_definitions_differ(_changed(edit), described())


def test_no_definition_differs_from_any_definition():
    assert task_definitions_differ(desired(), None)
    assert normalise_task_definition(None) == {}


def test_defaults_ecs_fills_are_equal_to_their_absence():
    bare = {"family": "f", "networkMode": "awsvpc", "containerDefinitions": [
        {"name": "c", "image": "i", "portMappings": [{"containerPort": 80}], "healthCheck": {"command": ["CMD", "true"], "startPeriod": 0}}],
        "volumes": [{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]}
    filled = {"family": "f", "networkMode": "awsvpc", "placementConstraints": [], "containerDefinitions": [
        {"name": "c", "image": "i", "cpu": 0, "essential": True, "environment": [], "mountPoints": [], "volumesFrom": [],
         "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
         "healthCheck": {"command": ["CMD", "true"], "interval": 30, "timeout": 5, "retries": 3}}],
        "volumes": [{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/", "transitEncryption": "DISABLED"}}]}
    assert normalise_task_definition(bare) == normalise_task_definition(filled)


def test_host_port_is_filled_in_awsvpc_mode_only():
    bridge = {"family": "f", "networkMode": "bridge", "containerDefinitions": [{"name": "c", "image": "i", "portMappings": [{"containerPort": 80}]}]}
    assert normalise_task_definition(bridge)["containerDefinitions"][0]["portMappings"] == [{"containerPort": 80, "protocol": "tcp"}]


@pytest.mark.parametrize("cpu, memory", [(256, 512), (256, 2048), (512, 4096), (1024, 2048), (1024, 8192), (2048, 16384),
                                         (4096, 30720), (8192, 16384), (8192, 61440), (16384, 122880)])
def test_fargate_sizes_that_exist(cpu, memory):
    assert fargate_size_error(cpu, memory) is None


def test_fargate_size_tables_match_the_ecs_documentation():
    assert FARGATE_TASK_SIZES[2048] == tuple(range(4096, 16385, 1024))
    assert FARGATE_TASK_SIZES[8192][:2] == (16384, 20480)
    assert FARGATE_TASK_SIZES[16384][-1] == 122880


def test_an_unknown_cpu_names_the_option_and_the_values():
    message = fargate_size_error(300, 1024)
    assert message.startswith("cpu=300 is not a Fargate task size")
    assert "256, 512, 1024, 2048, 4096, 8192, 16384" in message


def test_memory_that_does_not_fit_names_both_fixes():
    message = fargate_size_error(1024, 1024)
    assert "memory=1024 MiB does not fit cpu=1024" in message
    assert "set memory to 2048, 3072, 4096, 5120, 6144, 7168, 8192" in message
    assert "or set cpu to 256 or 512" in message
    assert "between 4096 and 16384 in steps of 1024" in fargate_size_error(2048, 2048)
    assert "cpu" not in fargate_size_error(256, 3000).split("(MiB)")[1]  # no cpu takes 3000 MiB: no cpu hint


def test_option_names_are_the_callers():
    assert fargate_size_error(256, 4096, cpu_option="task_cpu", memory_option="task_memory").startswith("task_memory=4096 MiB does not fit task_cpu=256")


def test_snake_case_result_keeps_free_form_keys_and_serialises_timestamps():
    definition = described()
    definition["containerDefinitions"][1]["dockerLabels"] = {"com.example.camelCase": "x"}
    snake = camel_task_definition_to_snake(definition)
    mlflow, proxy = snake["container_definitions"]
    assert mlflow["log_configuration"]["options"] == {"awslogs-group": "g"}
    assert mlflow["secrets"][0] == {"name": "U", "value_from": SECRET + ":username::"}
    assert proxy["docker_labels"] == {"com.example.camelCase": "x"}
    assert snake["registered_at"] == "2026-11-22T07:00:00+00:00"
    assert snake["task_definition_arn"].endswith(":3")


def test_revision_from_arn():
    assert revision_from_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/mlflow:12") == 12


def test_an_empty_environment_value_equals_no_value():
    with_empty = {"family": "f", "containerDefinitions": [{"name": "c", "image": "i", "environment": [{"name": "E", "value": ""}]}]}
    without = {"family": "f", "containerDefinitions": [{"name": "c", "image": "i", "environment": [{"name": "E"}]}]}
    assert not task_definitions_differ(with_empty, without)
    assert task_definitions_differ(with_empty, {"family": "f", "containerDefinitions": [{"name": "c", "image": "i"}]})
