"""The settings ecs_fargate_service manages: normalisation of both sides, comparison, API arguments,
input checks and the progress of deployments."""

import copy
import datetime

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import ecs_service
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_service import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    create_arguments,
    creation_only_problem,
    current_settings,
    deployment_progress,
    desired_settings,
    differing_fields,
    failure_message,
    projected_service,
    service_result,
    task_definition_key,
    task_definition_problems,
    update_arguments,
    validate_params,
    wait_for_deployment,
    wait_until_inactive,
)
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.harness import FakeClock

ACCOUNT = "123456789012"
TD_ARN = "arn:aws:ecs:us-east-1:{0}:task-definition/mlflow:3".format(ACCOUNT)
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:{0}:targetgroup/mlflow/0123456789abcdef".format(ACCOUNT)
TG2_ARN = "arn:aws:elasticloadbalancing:us-east-1:{0}:targetgroup/mlflow-b/fedcba9876543210".format(ACCOUNT)
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
GROUP = "sg-0123456789abcdef0"
T0 = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)


def params(**changes):
    """The module's parameters after validation (defaults applied)."""
    result = {
        "state": "present",
        "name": "mlflow",
        "cluster": "mlflow",
        "task_definition": "mlflow:3",
        "desired_count": 2,
        "desired_count_managed_externally": False,
        "launch_type": None,
        "capacity_provider_strategy": None,
        "platform_version": "LATEST",
        "network_configuration": {"subnets": list(SUBNETS), "security_groups": [GROUP], "assign_public_ip": False},
        "load_balancers": [{"target_group_arn": TG_ARN, "container_name": "mlflow", "container_port": 5000}],
        "health_check_grace_period_seconds": 120,
        "deployment_configuration": {"minimum_healthy_percent": 100, "maximum_percent": 200,
                                     "circuit_breaker": {"enable": True, "rollback": True}},
        "availability_zone_rebalancing": "ENABLED",
        "propagate_tags": "SERVICE",
        "enable_execute_command": False,
        "force_new_deployment": False,
        "tags": None,
        "purge_tags": True,
        "wait": True,
        "wait_timeout": 900,
    }
    result.update(changes)
    return result


def described(arguments, **changes):
    """What DescribeServices answers for a service created with CreateService ``arguments``: ECS fills its
    defaults, returns the task definition as an ARN and lists keep an order of their own."""
    service = {
        "serviceArn": "arn:aws:ecs:us-east-1:{0}:service/mlflow/{1}".format(ACCOUNT, arguments["serviceName"]),
        "serviceName": arguments["serviceName"],
        "clusterArn": "arn:aws:ecs:us-east-1:{0}:cluster/mlflow".format(ACCOUNT),
        "status": "ACTIVE",
        "taskDefinition": TD_ARN,
        "desiredCount": arguments["desiredCount"],
        "runningCount": arguments["desiredCount"],
        "pendingCount": 0,
        "platformVersion": arguments.get("platformVersion", "LATEST"),
        "platformFamily": "Linux",
        "loadBalancers": list(reversed(arguments.get("loadBalancers", []))),
        "serviceRegistries": [],
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": list(reversed(arguments["networkConfiguration"]["awsvpcConfiguration"]["subnets"])),
            "securityGroups": arguments["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"],
            "assignPublicIp": arguments["networkConfiguration"]["awsvpcConfiguration"].get("assignPublicIp", "DISABLED"),
        }},
        "healthCheckGracePeriodSeconds": arguments.get("healthCheckGracePeriodSeconds", 0),
        "deploymentConfiguration": dict({"deploymentCircuitBreaker": {"enable": False, "rollback": False},
                                         "maximumPercent": 200, "minimumHealthyPercent": 100, "strategy": "ROLLING"},
                                        **arguments.get("deploymentConfiguration", {})),
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "enableECSManagedTags": False,
        "propagateTags": arguments.get("propagateTags", "NONE"),
        "enableExecuteCommand": arguments.get("enableExecuteCommand", False),
        "placementConstraints": [],
        "placementStrategy": [],
        "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": TD_ARN, "desiredCount": arguments["desiredCount"],
                         "runningCount": arguments["desiredCount"], "pendingCount": 0, "rolloutState": "COMPLETED",
                         "rolloutStateReason": "ECS deployment ecs-svc/1 completed.", "createdAt": T0}],
        "events": [],
        "createdAt": T0,
        "tags": arguments.get("tags", []),
    }
    if "availabilityZoneRebalancing" in arguments:
        service["availabilityZoneRebalancing"] = arguments["availabilityZoneRebalancing"]
    if "capacityProviderStrategy" in arguments:
        service["capacityProviderStrategy"] = [dict(item, base=item.get("base", 0)) for item in reversed(arguments["capacityProviderStrategy"])]
    else:
        service["launchType"] = arguments["launchType"]
    service.update(changes)
    return service


def created(**changes):
    """The service as described after the module created it with params(**changes)."""
    desired = desired_settings(params(**changes), exists=False, task_definition_arn=TD_ARN)
    return described(create_arguments("mlflow", "mlflow", desired, TD_ARN, {}, "token"))


# --- task definitions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, key", [
    (TD_ARN, "mlflow:3"),
    ("arn:aws-cn:ecs:cn-north-1:{0}:task-definition/my_family-1:12".format(ACCOUNT), "my_family-1:12"),
    ("mlflow:3", "mlflow:3"),
    ("mlflow", "mlflow"),
    (None, None),
])
def test_task_definition_key(value, key):
    assert task_definition_key(value) == key


def definition(**changes):
    result = {"taskDefinitionArn": TD_ARN, "family": "mlflow", "networkMode": "awsvpc", "status": "ACTIVE",
              "requiresCompatibilities": ["FARGATE"], "compatibilities": ["EC2", "FARGATE"],
              "containerDefinitions": [{"name": "mlflow", "portMappings": [{"containerPort": 5000, "hostPort": 5000}]},
                                       {"name": "exporter"}]}
    result.update(changes)
    return result


def test_a_fargate_definition_with_the_load_balanced_port_has_no_problem():
    assert task_definition_problems(definition(), params()["load_balancers"]) == []


@pytest.mark.parametrize("changes, balancers, message", [
    ({"networkMode": "bridge"}, None, "task_definition mlflow:3 has network mode bridge: Fargate runs awsvpc task definitions only."),
    ({"compatibilities": ["EC2"], "requiresCompatibilities": ["EC2"]}, None, "is not compatible with Fargate (compatibilities: EC2)"),
    ({}, [{"target_group_arn": TG_ARN, "container_name": "web", "container_port": 5000}],
     "load_balancers[0].container_name 'web' is not a container of task_definition mlflow:3 (containers: exporter, mlflow)."),
    ({}, [{"target_group_arn": TG_ARN, "container_name": "mlflow", "container_port": 8080}],
     "load_balancers[0].container_port 8080 is not a port mapping of container 'mlflow' in task_definition mlflow:3 (its container ports: 5000)."),
    ({}, [{"target_group_arn": TG_ARN, "container_name": "exporter", "container_port": 9100}], "(its container ports: none)"),
])
def test_task_definition_problems(changes, balancers, message):
    problems = task_definition_problems(definition(**changes), balancers)
    assert len(problems) == 1 and message in problems[0]


# --- input -------------------------------------------------------------------------------------------------------------


def test_good_input_passes():
    validate_params(params())
    validate_params(params(task_definition=TD_ARN, load_balancers=None, health_check_grace_period_seconds=None,
                           capacity_provider_strategy=[{"capacity_provider": "FARGATE", "weight": 0, "base": 1},
                                                       {"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 0}],
                           deployment_configuration={"minimum_healthy_percent": 0, "maximum_percent": 100,
                                                     "circuit_breaker": {"enable": False, "rollback": False}}))
    validate_params(params(state="absent", task_definition=None, network_configuration=None))


@pytest.mark.parametrize("changes, message", [
    ({"name": "ml flow"}, "name must be 1 to 255 letters, digits, hyphens and underscores, got 'ml flow'."),
    ({"cluster": "arn:aws:ecs:us-east-1:1:cluster/x"}, "cluster must be a cluster name"),
    ({"wait_timeout": 0}, "wait_timeout must be at least 1 second"),
    ({"task_definition": "mlflow:latest"}, "task_definition must be family:revision (for example mlflow:7)"),
    ({"task_definition": "arn:aws:ecs:us-east-1:{0}:task-definition/mlflow".format(ACCOUNT)}, "task_definition must be family:revision"),
    ({"desired_count": -1}, "desired_count must be 0 or more, got -1."),
    ({"network_configuration": {"subnets": [], "security_groups": [GROUP], "assign_public_ip": False}},
     "network_configuration.subnets must name at least one subnet"),
    ({"network_configuration": {"subnets": ["private-a"], "security_groups": [GROUP], "assign_public_ip": False}},
     "network_configuration.subnets must be subnet IDs (subnet-...), got 'private-a'."),
    ({"network_configuration": {"subnets": SUBNETS, "security_groups": [], "assign_public_ip": False}},
     "network_configuration.security_groups must name at least one security group"),
    ({"network_configuration": {"subnets": SUBNETS, "security_groups": ["mlflow-tasks"], "assign_public_ip": False}},
     "network_configuration.security_groups must be security group IDs (sg-...), not names, got 'mlflow-tasks'."),
    ({"network_configuration": {"subnets": SUBNETS, "security_groups": ["sg-{0:017x}".format(i) for i in range(6)], "assign_public_ip": False}},
     "network_configuration.security_groups takes at most 5 groups, got 6."),
    ({"capacity_provider_strategy": []}, "capacity_provider_strategy must not be empty"),
    ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}] * 2},
     "capacity_provider_strategy names a capacity provider more than once"),
    ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1001, "base": 0}]},
     "capacity_provider_strategy[0].weight must be between 0 and 1000"),
    ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1, "base": 1},
                                     {"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 2}]},
     "only one capacity provider may have a base"),
    ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 0, "base": 1}]},
     "at least one capacity provider needs a weight above 0"),
    ({"load_balancers": [{"target_group_arn": "mlflow-tg", "container_name": "mlflow", "container_port": 5000}]},
     "load_balancers[0].target_group_arn must be a target group ARN"),
    ({"load_balancers": [{"target_group_arn": TG_ARN, "container_name": "mlflow", "container_port": 0}]},
     "load_balancers[0].container_port must be between 1 and 65535"),
    ({"load_balancers": [{"target_group_arn": TG_ARN, "container_name": "mlflow", "container_port": 5000}] * 2},
     "load_balancers[1] repeats an earlier entry."),
    ({"health_check_grace_period_seconds": -5}, "health_check_grace_period_seconds must be between 0 and 2147483647"),
    ({"deployment_configuration": {"minimum_healthy_percent": 150, "maximum_percent": 200, "circuit_breaker": {"enable": True, "rollback": True}}},
     "deployment_configuration.minimum_healthy_percent must be between 0 and 100"),
    ({"deployment_configuration": {"minimum_healthy_percent": 100, "maximum_percent": 100, "circuit_breaker": {"enable": True, "rollback": True}}},
     "deployment_configuration.maximum_percent (100) must be above minimum_healthy_percent (100)"),
    ({"deployment_configuration": {"minimum_healthy_percent": 100, "maximum_percent": 200, "circuit_breaker": {"enable": False, "rollback": True}}},
     "circuit_breaker.rollback needs circuit_breaker.enable: true"),
    ({"tags": {"aws:cloudformation:stack-name": "x"}}, "tags may not use the reserved aws: prefix"),
])
def test_bad_input_is_named(changes, message):
    with pytest.raises(InvalidInput) as caught:
        validate_params(params(**changes))
    assert message in str(caught.value)


# --- comparison --------------------------------------------------------------------------------------------------------


def test_a_created_service_as_aws_describes_it_matches():
    """ARN for family:revision, reversed subnets and load balancers, AWS-filled deployment strategy: no difference."""
    service = created()
    assert differing_fields(desired_settings(params(), True, TD_ARN), current_settings(service)) == []
    assert differing_fields(desired_settings(params(task_definition=TD_ARN), True, TD_ARN), current_settings(service)) == []


def test_a_capacity_provider_service_matches():
    strategy = [{"capacity_provider": "FARGATE_SPOT", "weight": 3, "base": 0}, {"capacity_provider": "FARGATE", "weight": 1, "base": 1}]
    service = created(capacity_provider_strategy=strategy)
    assert "launchType" not in service
    assert differing_fields(desired_settings(params(capacity_provider_strategy=strategy), True, TD_ARN), current_settings(service)) == []


def test_the_defaults_aws_fills_in_are_made_explicit():
    """A service created with nothing but the required members, as an older tool would have made it."""
    service = described({"serviceName": "mlflow", "desiredCount": 2, "launchType": "FARGATE",
                         "networkConfiguration": {"awsvpcConfiguration": {"subnets": SUBNETS, "securityGroups": [GROUP]}}})
    del service["platformVersion"], service["propagateTags"], service["healthCheckGracePeriodSeconds"]
    current = current_settings(service)
    assert current["platform_version"] == "LATEST"
    assert current["network_configuration"]["assign_public_ip"] is False
    assert current["deployment_configuration"] == {"minimum_healthy_percent": 100, "maximum_percent": 200,
                                                   "circuit_breaker": {"enable": False, "rollback": False}}
    assert current["availability_zone_rebalancing"] == "DISABLED"
    assert (current["propagate_tags"], current["enable_execute_command"], current["health_check_grace_period_seconds"]) == ("NONE", False, 0)
    assert current["load_balancers"] == [] and current["capacity_provider_strategy"] == []
    desired = desired_settings(params(load_balancers=None, health_check_grace_period_seconds=None), True, TD_ARN)
    assert differing_fields(desired, current) == ["deployment_configuration", "availability_zone_rebalancing", "propagate_tags"]


@pytest.mark.parametrize("changes, fields", [
    ({"task_definition": "mlflow:4"}, ["task_definition"]),
    ({"desired_count": 3}, ["desired_count"]),
    ({"platform_version": "1.4.0"}, ["platform_version"]),
    ({"network_configuration": {"subnets": SUBNETS[:1], "security_groups": [GROUP], "assign_public_ip": False}}, ["network_configuration"]),
    ({"network_configuration": {"subnets": SUBNETS, "security_groups": [GROUP], "assign_public_ip": True}}, ["network_configuration"]),
    ({"load_balancers": []}, ["load_balancers"]),
    ({"load_balancers": [{"target_group_arn": TG2_ARN, "container_name": "mlflow", "container_port": 5000}]}, ["load_balancers"]),
    ({"health_check_grace_period_seconds": 300}, ["health_check_grace_period_seconds"]),
    ({"deployment_configuration": {"minimum_healthy_percent": 100, "maximum_percent": 200, "circuit_breaker": {"enable": True, "rollback": False}}},
     ["deployment_configuration"]),
    ({"deployment_configuration": {"minimum_healthy_percent": 0, "maximum_percent": 100, "circuit_breaker": {"enable": True, "rollback": True}}},
     ["deployment_configuration"]),
    ({"availability_zone_rebalancing": "DISABLED"}, ["availability_zone_rebalancing"]),
    ({"propagate_tags": "TASK_DEFINITION"}, ["propagate_tags"]),
    ({"enable_execute_command": True}, ["enable_execute_command"]),
    ({"task_definition": "mlflow:4", "desired_count": 1, "enable_execute_command": True},
     ["task_definition", "desired_count", "enable_execute_command"]),
])
def test_each_real_difference_is_found(changes, fields):
    wanted = params(**changes)
    arn = TD_ARN.replace(":3", ":4") if changes.get("task_definition") == "mlflow:4" else TD_ARN
    assert differing_fields(desired_settings(wanted, True, arn), current_settings(created())) == fields


@pytest.mark.parametrize("changes", [
    {"load_balancers": None},
    {"health_check_grace_period_seconds": None},
    {"desired_count": None},
    {"desired_count": 7, "desired_count_managed_externally": True},
    {"network_configuration": {"subnets": list(reversed(SUBNETS)) + [SUBNETS[0]], "security_groups": [GROUP], "assign_public_ip": False}},
], ids=["load balancers not given", "grace period not given", "desired count not given", "desired count owned by autoscaling",
        "subnets in another order, repeated"])
def test_what_is_not_managed_or_only_ordered_differently_is_no_difference(changes):
    service = created()
    service["desiredCount"] = 5  # Application Auto Scaling scaled it out
    wanted = params(**dict({"desired_count": None}, **changes))
    assert differing_fields(desired_settings(wanted, True, TD_ARN), current_settings(service)) == []


def test_desired_count_on_creation():
    assert desired_settings(params(desired_count=None), False)["desired_count"] == 1
    assert desired_settings(params(desired_count=3, desired_count_managed_externally=True), False)["desired_count"] == 3
    assert "desired_count" not in desired_settings(params(desired_count=3, desired_count_managed_externally=True), True)
    assert "desired_count" not in desired_settings(params(desired_count=None), True)


def test_a_bare_family_compares_as_the_revision_it_resolved_to():
    desired = desired_settings(params(task_definition="mlflow"), True, TD_ARN)
    assert desired["task_definition"] == "mlflow:3"
    assert differing_fields(desired, current_settings(created())) == []


# --- creation-only settings -------------------------------------------------------------------------------------------


STRATEGY = [{"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 0}]


def test_switching_from_launch_type_to_a_strategy_is_refused_naming_the_option():
    problem = creation_only_problem(desired_settings(params(capacity_provider_strategy=STRATEGY), True, TD_ARN), created())
    assert problem.startswith("capacity_provider_strategy cannot be set on the existing service mlflow: it runs on launch_type FARGATE")
    assert "state=absent" in problem


def test_switching_from_a_strategy_to_launch_type_is_refused_naming_the_option():
    problem = creation_only_problem(desired_settings(params(), True, TD_ARN), created(capacity_provider_strategy=STRATEGY))
    assert problem.startswith("launch_type FARGATE cannot be set on the existing service mlflow: it uses capacity_provider_strategy "
                              "FARGATE_SPOT (weight 1, base 0)")


def test_a_strategy_can_change():
    desired = desired_settings(params(capacity_provider_strategy=[{"capacity_provider": "FARGATE", "weight": 1, "base": 1}]), True, TD_ARN)
    service = created(capacity_provider_strategy=STRATEGY)
    assert creation_only_problem(desired, service) is None
    assert differing_fields(desired, current_settings(service)) == ["capacity_provider_strategy"]


@pytest.mark.parametrize("changes, message", [
    ({"launchType": "EC2"}, "runs on launch type EC2; this module manages Fargate services only"),
    ({"deploymentController": {"type": "CODE_DEPLOY"}}, "uses the CODE_DEPLOY deployment controller"),
])
def test_services_the_module_does_not_manage(changes, message):
    service = created()
    service.update(changes)
    assert message in creation_only_problem(desired_settings(params(), True, TD_ARN), service)


# --- API arguments ----------------------------------------------------------------------------------------------------------


def test_create_arguments():
    desired = desired_settings(params(tags={"b": "2", "a": "1"}), False, TD_ARN)
    arguments = create_arguments("mlflow", "mlflow", desired, TD_ARN, {"b": "2", "a": "1"}, "token-1")
    assert arguments == {
        "cluster": "mlflow",
        "serviceName": "mlflow",
        "taskDefinition": TD_ARN,
        "desiredCount": 2,
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": sorted(SUBNETS), "securityGroups": [GROUP], "assignPublicIp": "DISABLED"}},
        "loadBalancers": [{"targetGroupArn": TG_ARN, "containerName": "mlflow", "containerPort": 5000}],
        "healthCheckGracePeriodSeconds": 120,
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        "availabilityZoneRebalancing": "ENABLED",
        "propagateTags": "SERVICE",
        "enableExecuteCommand": False,
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "clientToken": "token-1",
        "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
    }


def test_create_arguments_with_a_strategy_and_without_optional_settings():
    desired = desired_settings(params(capacity_provider_strategy=STRATEGY, load_balancers=None, health_check_grace_period_seconds=None), False, TD_ARN)
    arguments = create_arguments("mlflow", "mlflow", desired, TD_ARN, {}, "t")
    assert arguments["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    for absent in ("launchType", "loadBalancers", "healthCheckGracePeriodSeconds", "tags"):
        assert absent not in arguments


def test_update_arguments_carry_only_the_differences():
    service = created()
    wanted = params(task_definition="mlflow:4", network_configuration={"subnets": SUBNETS[:1], "security_groups": [GROUP], "assign_public_ip": True})
    arn4 = TD_ARN.replace(":3", ":4")
    desired = desired_settings(wanted, True, arn4)
    fields = differing_fields(desired, current_settings(service))
    assert update_arguments("mlflow", "mlflow", desired, fields, service, arn4, False) == {
        "cluster": "mlflow", "service": "mlflow", "taskDefinition": arn4,
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": SUBNETS[:1], "securityGroups": [GROUP], "assignPublicIp": "ENABLED"}},
    }
    assert update_arguments("mlflow", "mlflow", desired, [], service, arn4, False) is None
    assert update_arguments("mlflow", "mlflow", desired, [], service, arn4, True) == {"cluster": "mlflow", "service": "mlflow", "forceNewDeployment": True}


def test_a_deployment_configuration_update_keeps_the_alarms():
    service = created()
    alarms = {"alarmNames": ["mlflow-5xx"], "enable": True, "rollback": True}
    service["deploymentConfiguration"]["alarms"] = alarms
    desired = desired_settings(params(deployment_configuration={"minimum_healthy_percent": 50, "maximum_percent": 200,
                                                                "circuit_breaker": {"enable": True, "rollback": False}}), True, TD_ARN)
    arguments = update_arguments("mlflow", "mlflow", desired, ["deployment_configuration"], service, TD_ARN, False)
    assert arguments["deploymentConfiguration"] == {"alarms": alarms, "strategy": "ROLLING", "minimumHealthyPercent": 50, "maximumPercent": 200,
                                                    "deploymentCircuitBreaker": {"enable": True, "rollback": False}}


def test_a_strategy_update_forces_a_deployment():
    service = created(capacity_provider_strategy=STRATEGY)
    strategy = [{"capacity_provider": "FARGATE", "weight": 1, "base": 1}, {"capacity_provider": "FARGATE_SPOT", "weight": 2, "base": 0}]
    desired = desired_settings(params(capacity_provider_strategy=strategy), True, TD_ARN)
    arguments = update_arguments("mlflow", "mlflow", desired, differing_fields(desired, current_settings(service)), service, TD_ARN, False)
    assert arguments == {"cluster": "mlflow", "service": "mlflow", "forceNewDeployment": True, "capacityProviderStrategy": [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1}, {"capacityProvider": "FARGATE_SPOT", "weight": 2, "base": 0}]}


@pytest.mark.parametrize("field, member, value", [
    ("desired_count", "desiredCount", 4),
    ("platform_version", "platformVersion", "1.4.0"),
    ("load_balancers", "loadBalancers", []),
    ("health_check_grace_period_seconds", "healthCheckGracePeriodSeconds", 30),
    ("availability_zone_rebalancing", "availabilityZoneRebalancing", "DISABLED"),
    ("propagate_tags", "propagateTags", "NONE"),
    ("enable_execute_command", "enableExecuteCommand", True),
])
def test_each_field_becomes_its_update_member(field, member, value):
    desired = desired_settings(params(**{field: value}), True, TD_ARN)
    arguments = update_arguments("mlflow", "mlflow", desired, [field], created(), TD_ARN, False)
    assert arguments == {"cluster": "mlflow", "service": "mlflow", member: value}


def test_check_mode_projection():
    service = created()
    projected = projected_service(service, {"cluster": "mlflow", "service": "mlflow", "desiredCount": 5, "forceNewDeployment": True}, {"a": "1"})
    assert projected["desiredCount"] == 5 and "forceNewDeployment" not in projected and projected["tags"] == [{"key": "a", "value": "1"}]
    assert service["desiredCount"] == 2  # untouched
    new = projected_service(None, create_arguments("mlflow", "mlflow", desired_settings(params(), False, TD_ARN), TD_ARN, {}, "t"), {})
    assert new["status"] == "ACTIVE" and new["serviceName"] == "mlflow" and "clientToken" not in new and "serviceArn" not in new


def test_service_result_is_snake_case_with_tags_as_a_dictionary():
    service = created()
    service["tags"] = [{"key": "Application", "value": "mlflow"}]
    service["events"] = [{"id": str(i), "createdAt": T0, "message": "m{0}".format(i)} for i in range(15)]
    result = service_result(service)
    assert result["tags"] == {"Application": "mlflow"}
    assert result["network_configuration"]["awsvpc_configuration"]["assign_public_ip"] == "DISABLED"
    assert result["deployment_configuration"]["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert len(result["events"]) == 10 and result["events"][0]["created_at"] == T0.isoformat()
    assert result["deployments"][0]["rollout_state"] == "COMPLETED"
    assert service_result(None) == {}


# --- deployments -----------------------------------------------------------------------------------------------------------


def deploying(state="IN_PROGRESS", running=0, desired=2, **changes):
    service = created()
    service["runningCount"] = running
    service["desiredCount"] = desired
    service["deployments"] = [
        {"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": TD_ARN.replace(":3", ":4"), "desiredCount": desired,
         "runningCount": running, "rolloutState": state, "rolloutStateReason": "ECS deployment ecs-svc/2 in progress.",
         "createdAt": T0 + datetime.timedelta(minutes=5)},
        {"id": "ecs-svc/1", "status": "ACTIVE", "taskDefinition": TD_ARN, "desiredCount": desired, "runningCount": desired,
         "rolloutState": "COMPLETED", "createdAt": T0},
    ]
    service.update(changes)
    return service


def test_deployment_progress():
    assert deployment_progress(deploying(), "ecs-svc/2")[0] == IN_PROGRESS
    assert deployment_progress(deploying(), "ecs-svc/2")[2] == "deployment ecs-svc/2 IN_PROGRESS (0 of 2 tasks running)"
    assert deployment_progress(deploying("COMPLETED", running=2), "ecs-svc/2")[0] == COMPLETED
    assert deployment_progress(deploying("COMPLETED", running=2), None)[0] == COMPLETED
    # COMPLETED but the service still short of its desired count (a scale-up without a new deployment)
    service = deploying("COMPLETED", running=2)
    service["runningCount"] = 1
    assert deployment_progress(service, "ecs-svc/2")[0] == IN_PROGRESS
    assert deployment_progress(deploying("FAILED"), "ecs-svc/2")[:1] == (FAILED,)
    assert deployment_progress(deploying(status="DRAINING"), "ecs-svc/2")[2] == "the service is DRAINING"
    assert deployment_progress(None, "ecs-svc/2")[2] == "the service is gone"
    assert "deployment ecs-svc/9 is no longer listed; the PRIMARY deployment is ecs-svc/2 (mlflow:4, rollout IN_PROGRESS)" in (
        deployment_progress(deploying(), "ecs-svc/9")[2])
    assert deployment_progress(deploying(), "ecs-svc/1")[2] == "deployment ecs-svc/1 was replaced by ecs-svc/2 (mlflow:4, rollout IN_PROGRESS)"


def test_without_rollout_state_a_single_deployment_at_its_count_is_done():
    service = deploying(None, running=2)
    service["deployments"] = service["deployments"][:1]
    assert deployment_progress(service, "ecs-svc/2")[0] == COMPLETED
    service = deploying(None, running=2)
    assert deployment_progress(service, "ecs-svc/2")[0] == IN_PROGRESS


def test_wait_polls_until_the_deployment_completes():
    answers = [deploying(), deploying(running=1), deploying("COMPLETED", running=2)]
    fake = FakeClock()
    outcome, service, deployment, dummy = wait_for_deployment(lambda: answers.pop(0), "ecs-svc/2", 900, fake.sleep, fake.clock)
    assert outcome == COMPLETED and deployment["id"] == "ecs-svc/2" and service["runningCount"] == 2
    assert fake.sleeps == [2, 2]


def test_wait_stops_at_a_failure():
    answers = [deploying(), deploying("FAILED")]
    fake = FakeClock()
    outcome, dummy, deployment, explanation = wait_for_deployment(lambda: answers.pop(0), "ecs-svc/2", 900, fake.sleep, fake.clock)
    assert (outcome, deployment["rolloutState"]) == (FAILED, "FAILED") and explanation.startswith("deployment ecs-svc/2 FAILED")


def test_wait_times_out_after_the_last_look():
    fake = FakeClock()
    calls = []
    outcome, dummy, dummy2, explanation = wait_for_deployment(lambda: calls.append(1) or deploying(), "ecs-svc/2", 60, fake.sleep, fake.clock)
    assert outcome == IN_PROGRESS and "IN_PROGRESS" in explanation
    assert fake.now == 60 and sum(fake.sleeps) == 60
    assert fake.sleeps[:7] == [2, 2, 3, 5, 5, 10, 15] and len(calls) == len(fake.sleeps) + 1


def test_wait_until_inactive():
    fake = FakeClock()
    answers = [dict(created(), status="DRAINING"), dict(created(), status="INACTIVE")]
    assert wait_until_inactive(lambda: answers.pop(0), 60, fake.sleep, fake.clock)[0] is True
    assert wait_until_inactive(lambda: None, 60, fake.sleep, fake.clock) == (True, None)
    inactive, service = wait_until_inactive(lambda: dict(created(), status="DRAINING"), 5, fake.sleep, fake.clock)
    assert not inactive and service["status"] == "DRAINING"


def stopped_task(number, minutes, reason, containers, stop_code="EssentialContainerExited"):
    return {"taskArn": "arn:aws:ecs:us-east-1:{0}:task/mlflow/{1:032x}".format(ACCOUNT, number), "taskDefinitionArn": TD_ARN.replace(":3", ":4"),
            "stoppedAt": T0 + datetime.timedelta(minutes=minutes), "stoppedReason": reason, "stopCode": stop_code, "containers": containers}


def test_the_failure_message_says_why():
    service = deploying("FAILED")
    failed = service["deployments"][0]
    failed["status"] = "ACTIVE"
    failed["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
    service["deployments"].insert(0, {"id": "ecs-svc/3", "status": "PRIMARY", "taskDefinition": TD_ARN, "rolloutState": "IN_PROGRESS",
                                      "createdAt": T0 + datetime.timedelta(minutes=9)})
    service["events"] = [
        {"id": "3", "createdAt": T0 + datetime.timedelta(minutes=8), "message": "(service mlflow) rolling back to deployment ecs-svc/1."},
        {"id": "2", "createdAt": T0 + datetime.timedelta(minutes=6), "message": "(service mlflow) has started 2 tasks: (task a) (task b)."},
        {"id": "1", "createdAt": T0, "message": "(service mlflow) has reached a steady state."},
    ]
    tasks = [
        stopped_task(1, 7, "Essential container in task exited", [{"name": "mlflow", "exitCode": 1, "reason": None}]),
        stopped_task(2, 6, "ResourceInitializationError: unable to pull secrets or registry auth", [{"name": "mlflow"}], "TaskFailedToStart"),
        stopped_task(3, -60, "an old task from an hour ago", []),
    ]
    message = failure_message("The deployment of ECS service mlflow in cluster mlflow failed: deployment ecs-svc/2 FAILED (0 of 2 tasks running)",
                              service, failed, tasks)
    assert message.startswith("The deployment of ECS service mlflow in cluster mlflow failed: deployment ecs-svc/2 FAILED (0 of 2 tasks running). "
                              "Rollout state reason: ECS deployment circuit breaker: tasks failed to start. "
                              "The service's PRIMARY deployment is now ecs-svc/3, running task definition mlflow:3 "
                              "(a rollback by the deployment circuit breaker).")
    assert ("Recent service events: 2026-05-01T12:08:00+00:00 (service mlflow) rolling back to deployment ecs-svc/1. | "
            "2026-05-01T12:06:00+00:00 (service mlflow) has started 2 tasks: (task a) (task b).") in message
    assert "steady state" not in message  # before the deployment began
    assert ("Recently stopped tasks: task {0:032x} (mlflow:4): Essential container in task exited [EssentialContainerExited]; "
            "container mlflow: exit code 1 | task {1:032x} (mlflow:4): ResourceInitializationError: unable to pull secrets or registry auth "
            "[TaskFailedToStart].").format(1, 2) in message
    assert "an old task" not in message


def test_the_failure_message_without_events_or_tasks():
    service = deploying()
    message = failure_message("Timed out", service, service["deployments"][0], [])
    assert message == ("Timed out. Rollout state reason: ECS deployment ecs-svc/2 in progress. The service has no events since the deployment "
                       "started. No task of the service stopped since the deployment started.")


def test_inputs_are_not_modified():
    service = created()
    kept = copy.deepcopy(service)
    current_settings(service)
    service_result(service)
    update_arguments("mlflow", "mlflow", desired_settings(params(desired_count=9), True, TD_ARN), ["desired_count", "deployment_configuration"],
                     service, TD_ARN, True)
    assert service == kept
    assert ecs_service.MANAGED_FIELDS[-1] == "tags"
