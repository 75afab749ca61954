"""mlops.mlflow.application_autoscaling_target_tracking: the input checks and the comparison as
functions, and main() with Application Auto Scaling stubbed by botocore's Stubber (which also checks
every request against the API model)."""

import datetime

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.mlops.mlflow.plugins.module_utils import application_autoscaling as shared
from ansible_collections.mlops.mlflow.plugins.modules import application_autoscaling_target_tracking as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

RESOURCE = "service/mlflow/mlflow"
DIMENSION = "ecs:service:DesiredCount"
IDENTITY = {"ServiceNamespace": "ecs", "ResourceId": RESOURCE, "ScalableDimension": DIMENSION}
TARGET_ARN = "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/0ec5a1b2c3d4"
LABEL = "app/mlflow/0123456789abcdef/targetgroup/mlflow/fedcba9876543210"
CPU = {"TargetValue": 60.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}
UTC = datetime.timezone.utc


def base_args(**changes):
    args = {
        "resource_id": RESOURCE,
        "policy_name": "cpu",
        "min_capacity": 1,
        "max_capacity": 4,
        "predefined_metric": "ECSServiceAverageCPUUtilization",
        "target_value": 60,
        "region": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value is not None}


def absent_args(**changes):
    return dict({"resource_id": RESOURCE, "policy_name": "cpu", "state": "absent", "region": "us-east-1"}, **changes)


@pytest.fixture
def aas(monkeypatch):
    """A real application-autoscaling client answered by a Stubber; the module gets it from module.client().
    AWSRetry's back-offs are recorded in ``aas.sleeps`` instead of slept."""
    stubber = harness.stub_client(monkeypatch, "application-autoscaling")
    sleeps = []

    class FakeTime:
        @staticmethod
        def sleep(seconds):
            sleeps.append(seconds)

    monkeypatch.setattr(cloud, "time", FakeTime)
    stubber.sleeps = sleeps
    with stubber:
        yield stubber


run = harness.runner(module)


def target(minimum=1, maximum=4):
    return dict(IDENTITY, MinCapacity=minimum, MaxCapacity=maximum, ScalableTargetARN=TARGET_ARN,
                RoleARN="arn:aws:iam::123456789012:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/x",
                CreationTime=datetime.datetime(2026, 1, 1, tzinfo=UTC))


def policy(configuration=None, name="cpu", policy_type="TargetTrackingScaling"):
    described = dict(IDENTITY, PolicyName=name, PolicyType=policy_type,
                     PolicyARN="arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:0a1b:resource/ecs/{0}:policyName/{1}".format(RESOURCE, name),
                     CreationTime=datetime.datetime(2026, 1, 1, tzinfo=UTC), Alarms=[{"AlarmName": "a", "AlarmARN": "arn:aws:cloudwatch:x"}])
    if policy_type == "TargetTrackingScaling":
        described["TargetTrackingScalingPolicyConfiguration"] = dict(CPU) if configuration is None else configuration
    else:
        described["StepScalingPolicyConfiguration"] = configuration or {"AdjustmentType": "ChangeInCapacity"}
    return described


def expect_target(aas, *targets):
    aas.add_response("describe_scalable_targets", {"ScalableTargets": list(targets)},
                     {"ServiceNamespace": "ecs", "ResourceIds": [RESOURCE], "ScalableDimension": DIMENSION})


def expect_policy(aas, *policies, name="cpu"):
    aas.add_response("describe_scaling_policies", {"ScalingPolicies": list(policies)}, dict(IDENTITY, PolicyNames=[name]))


def expect_register(aas, minimum, maximum, tags=None):
    params = dict(IDENTITY, MinCapacity=minimum, MaxCapacity=maximum)
    if tags:
        params["Tags"] = tags
    aas.add_response("register_scalable_target", {"ScalableTargetARN": TARGET_ARN}, params)


def expect_put(aas, configuration, name="cpu"):
    aas.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:autoscaling:x", "Alarms": []},
                     dict(IDENTITY, PolicyName=name, PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=configuration))


# --- input checks -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"min_capacity": 5, "max_capacity": 2}, "min_capacity (5) must not be greater than max_capacity (2)"),
    ({"max_capacity": -1, "min_capacity": None}, "max_capacity must be 0 or more"),
    ({"predefined_metric": "DynamoDBReadCapacityUtilization"},
     "predefined_metric DynamoDBReadCapacityUtilization is not a metric of an ECS service: use one of ALBRequestCountPerTarget, ECSServiceAverageCPU"),
    ({"predefined_metric": "ALBRequestCountPerTarget"}, "resource_label is required with predefined_metric=ALBRequestCountPerTarget"),
    ({"predefined_metric": "ALBRequestCountPerTarget",
      "resource_label": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mlflow/fedcba9876543210"},
     "resource_label must be app/<load balancer name>/<id>/targetgroup/<target group name>/<id>"),
    ({"resource_label": LABEL}, "resource_label applies only to predefined_metric=ALBRequestCountPerTarget, not to ECSServiceAverageCPUUtilization"),
    ({"target_value": 0}, "target_value must be greater than 0"),
    ({"target_value": 150}, "target_value of ECSServiceAverageCPUUtilization is a percentage and must be at most 100"),
    ({"scale_in_cooldown": -5}, "scale_in_cooldown must be 0 or more seconds"),
    ({"policy_name": "cpu\n"}, "policy_name must be 1 to 256 printable characters"),
    ({"target_value": None}, "state is present but all of the following are missing: target_value"),
    ({"predefined_metric": "Bogus"}, "value of predefined_metric must be one of"),
    ({"resource_id": "arn:aws:ecs:us-east-1:123456789012:service/mlflow/mlflow"}, "(for this service ARN: service/mlflow/mlflow)"),
])
def test_bad_input_fails_before_any_api_call(aas, changes, message):
    outcome = run(base_args(**changes))
    assert outcome.failed
    assert message in outcome.result["msg"]
    assert aas.created == [], "an AWS client was created before the input was checked"


def test_settings_for_requests_per_target():
    with patch_module_args(base_args(predefined_metric="ALBRequestCountPerTarget", resource_label=LABEL, target_value=1000,
                                     scale_in_cooldown=300, scale_out_cooldown=60, disable_scale_in=False)):
        params = harness.validated_params(module)
    identity, settings = module.build_desired(params)
    assert identity == IDENTITY
    metric = {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": LABEL}
    assert settings == {"TargetValue": 1000.0, "PredefinedMetricSpecification": metric,
                        "ScaleInCooldown": 300, "ScaleOutCooldown": 60, "DisableScaleIn": False}


def test_unset_cooldowns_keep_the_existing_policy_values():
    current = policy(dict(CPU, ScaleInCooldown=600, ScaleOutCooldown=30, DisableScaleIn=True))
    assert module.policy_configuration({"TargetValue": 50.0, "ScaleOutCooldown": 90}, current) == {
        "TargetValue": 50.0, "ScaleOutCooldown": 90, "ScaleInCooldown": 600, "DisableScaleIn": True}
    # Nothing is taken from a policy of another type, or from none.
    assert module.policy_configuration({"TargetValue": 50.0}, policy(policy_type="StepScaling")) == {"TargetValue": 50.0}
    assert module.policy_configuration({"TargetValue": 50.0}, None) == {"TargetValue": 50.0}


def test_comparison_ignores_the_default_disable_scale_in_and_number_types():
    assert module.comparable_policy("TargetTrackingScaling", dict(CPU, TargetValue=60, DisableScaleIn=False)) == \
        module.comparable_policy("TargetTrackingScaling", CPU)
    assert module.comparable_policy("TargetTrackingScaling", dict(CPU, DisableScaleIn=True)) != \
        module.comparable_policy("TargetTrackingScaling", CPU)


@pytest.mark.parametrize("enforce, given, expected", [
    (True, (2, 8), (2, 8)),
    (True, (None, 8), (1, 8)),
    (False, (2, 8), (1, 4)),
])
def test_desired_capacity(enforce, given, expected):
    params = {"enforce_capacity": enforce, "min_capacity": given[0], "max_capacity": given[1]}
    assert module.desired_capacity(params, target(1, 4)) == expected
    assert module.desired_capacity(params, None) == given


# --- against the API ------------------------------------------------------------------------------------------------------


def test_registers_the_target_with_tags_and_creates_the_policy(aas):
    expect_target(aas)
    expect_policy(aas)
    expect_register(aas, 1, 4, tags={"application": "mlflow"})
    expect_put(aas, dict(CPU, ScaleInCooldown=300))
    expect_target(aas, target())
    expect_policy(aas, policy(dict(CPU, ScaleInCooldown=300)))
    outcome = run(base_args(scale_in_cooldown=300, tags={"application": "mlflow"}), diff=True)
    aas.assert_no_pending_responses()
    result = outcome.result
    assert result["changed"]
    assert result["scalable_target"]["scalable_target_arn"] == TARGET_ARN
    assert result["scalable_target"]["tags"] == {"application": "mlflow"}
    assert (result["scalable_target"]["min_capacity"], result["scalable_target"]["max_capacity"]) == (1, 4)
    assert result["policy"]["target_tracking_scaling_policy_configuration"]["scale_in_cooldown"] == 300
    assert result["policy"]["alarms"] == [{"alarm_name": "a", "alarm_arn": "arn:aws:cloudwatch:x"}]
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["scalable_target"] == {"min_capacity": 1, "max_capacity": 4, "tags": {"application": "mlflow"}}


def test_an_equal_target_and_policy_change_nothing(aas):
    expect_target(aas, target())
    expect_policy(aas, policy(dict(CPU, ScaleInCooldown=300, DisableScaleIn=False)))
    outcome = run(base_args(), diff=True)
    aas.assert_no_pending_responses()
    assert not outcome.result["changed"]
    assert outcome.result["diff"]["before"] == outcome.result["diff"]["after"]
    assert outcome.result["policy"]["policy_name"] == "cpu"


def test_another_policy_in_the_answer_is_not_taken_for_this_one(aas):
    """moto ignores PolicyNames; the module filters by name itself."""
    expect_target(aas, target())
    expect_policy(aas, policy(name="requests"), policy())
    assert not run(base_args()).result["changed"]


def test_a_capacity_change_registers_again_and_leaves_the_policy(aas):
    expect_target(aas, target())
    expect_policy(aas, policy())
    expect_register(aas, 2, 8)
    expect_target(aas, target(2, 8))
    expect_policy(aas, policy())
    outcome = run(base_args(min_capacity=2, max_capacity=8), diff=True)
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]
    assert outcome.result["diff"]["before"]["scalable_target"] == {"min_capacity": 1, "max_capacity": 4}
    assert outcome.result["diff"]["after"]["scalable_target"] == {"min_capacity": 2, "max_capacity": 8}


def test_without_enforce_capacity_a_scheduled_capacity_is_left_alone(aas):
    expect_target(aas, target(0, 0))  # a scheduled action scaled the service to zero for the night
    expect_policy(aas, policy())
    outcome = run(base_args(enforce_capacity=False))
    aas.assert_no_pending_responses()
    assert not outcome.result["changed"]
    assert outcome.result["scalable_target"]["max_capacity"] == 0


def test_one_capacity_against_the_current_other_is_checked_before_any_change(aas):
    expect_target(aas, target(1, 4))
    expect_policy(aas, policy())
    outcome = run(base_args(min_capacity=6, max_capacity=None))
    aas.assert_no_pending_responses()
    assert outcome.failed
    assert "min_capacity (6) must not be greater than max_capacity (4)" in outcome.result["msg"]


def test_a_new_target_needs_both_capacities(aas):
    expect_target(aas)
    expect_policy(aas)
    outcome = run(base_args(max_capacity=None))
    assert outcome.failed
    assert "is not registered as a scalable target yet: min_capacity and max_capacity are both required" in outcome.result["msg"]


def test_a_policy_change_keeps_unset_cooldowns(aas):
    current = dict(CPU, ScaleInCooldown=600, ScaleOutCooldown=30)
    expect_target(aas, target())
    expect_policy(aas, policy(current))
    expect_put(aas, dict(current, TargetValue=45.0))
    expect_target(aas, target())
    expect_policy(aas, policy(dict(current, TargetValue=45.0)))
    outcome = run(base_args(target_value=45), diff=True)
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]
    before = outcome.result["diff"]["before"]["policy"]["target_tracking_scaling_policy_configuration"]
    after = outcome.result["diff"]["after"]["policy"]["target_tracking_scaling_policy_configuration"]
    assert (before["target_value"], after["target_value"]) == (60.0, 45.0)
    assert after["scale_in_cooldown"] == 600


def test_switching_to_requests_per_target(aas):
    configuration = {"TargetValue": 1000.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget",
                                                                              "ResourceLabel": LABEL}}
    expect_target(aas, target())
    expect_policy(aas, policy())
    expect_put(aas, configuration)
    expect_target(aas, target())
    expect_policy(aas, policy(configuration))
    outcome = run(base_args(predefined_metric="ALBRequestCountPerTarget", resource_label=LABEL, target_value=1000))
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]


def test_tags_of_an_existing_target(aas):
    expect_target(aas, target())
    expect_policy(aas, policy())
    aas.add_response("list_tags_for_resource", {"Tags": {"application": "mlflow", "team": "ml"}}, {"ResourceARN": TARGET_ARN})
    aas.add_response("untag_resource", {}, {"ResourceARN": TARGET_ARN, "TagKeys": ["team"]})
    aas.add_response("tag_resource", {}, {"ResourceARN": TARGET_ARN, "Tags": {"cost-centre": "42"}})
    expect_target(aas, target())
    expect_policy(aas, policy())
    outcome = run(base_args(tags={"application": "mlflow", "cost-centre": "42"}), diff=True)
    aas.assert_no_pending_responses()
    assert outcome.result["changed"]
    assert outcome.result["scalable_target"]["tags"] == {"application": "mlflow", "cost-centre": "42"}
    assert outcome.result["diff"]["before"]["scalable_target"]["tags"] == {"application": "mlflow", "team": "ml"}


def test_tags_without_purge_only_add(aas):
    expect_target(aas, target())
    expect_policy(aas, policy())
    aas.add_response("list_tags_for_resource", {"Tags": {"application": "mlflow", "team": "ml"}}, {"ResourceARN": TARGET_ARN})
    outcome = run(base_args(tags={"team": "ml"}, purge_tags=False))
    aas.assert_no_pending_responses()
    assert not outcome.result["changed"]
    assert outcome.result["scalable_target"]["tags"] == {"application": "mlflow", "team": "ml"}


def test_check_mode_changes_nothing_and_says_what_would_be(aas):
    expect_target(aas)
    expect_policy(aas)
    outcome = run(base_args(tags={"application": "mlflow"}), check_mode=True, diff=True)
    aas.assert_no_pending_responses()  # the stubber would fail on any register, put or tag call
    result = outcome.result
    assert result["changed"]
    assert (result["scalable_target"]["min_capacity"], result["scalable_target"]["max_capacity"]) == (1, 4)
    assert "scalable_target_arn" not in result["scalable_target"] and "policy_arn" not in result["policy"]
    assert result["policy"]["target_tracking_scaling_policy_configuration"]["target_value"] == 60.0
    assert result["diff"]["after"]["scalable_target"]["tags"] == {"application": "mlflow"}


def test_a_policy_on_a_new_target_is_retried_until_the_target_is_known(aas):
    """RegisterScalableTarget is eventually consistent: PutScalingPolicy may not find the new target at once."""
    expect_target(aas)
    expect_policy(aas)
    expect_register(aas, 1, 4)
    aas.add_client_error("put_scaling_policy", service_error_code="ObjectNotFoundException", service_message="No scalable target registered")
    expect_put(aas, CPU)
    expect_target(aas, target())
    expect_policy(aas, policy())
    outcome = run(base_args())
    aas.assert_no_pending_responses()
    assert outcome.result["changed"] and len(aas.sleeps) == 1


def test_throttling_and_concurrent_updates_are_retried(aas):
    """AWSRetry alone retries "Throttling" but not the "ThrottlingException" of JSON services."""
    aas.add_client_error("describe_scalable_targets", service_error_code="ThrottlingException", service_message="Rate exceeded",
                         http_status_code=400)
    expect_target(aas, target())
    aas.add_client_error("describe_scaling_policies", service_error_code="ThrottlingException", service_message="Rate exceeded",
                         http_status_code=400)
    expect_policy(aas, policy())
    aas.add_client_error("register_scalable_target", service_error_code="ConcurrentUpdateException", service_message="busy")
    expect_register(aas, 2, 8)
    expect_target(aas, target(2, 8))
    expect_policy(aas, policy())
    outcome = run(base_args(min_capacity=2, max_capacity=8))
    aas.assert_no_pending_responses()
    assert outcome.result["changed"] and len(aas.sleeps) == 3


def test_min_capacity_zero_warns_that_tracking_cannot_scale_out_from_zero(aas):
    expect_target(aas)
    expect_policy(aas)
    run(base_args(min_capacity=0), check_mode=True)
    assert any("min_capacity=0" in warning for warning in aas.warnings)


def test_absent_deletes_the_policy_and_keeps_the_target(aas):
    expect_policy(aas, policy())
    expect_target(aas, target())
    aas.add_response("delete_scaling_policy", {}, dict(IDENTITY, PolicyName="cpu"))
    outcome = run(absent_args(), diff=True)
    aas.assert_no_pending_responses()
    result = outcome.result
    assert result["changed"] and not result["deregistered"]
    assert result["diff"]["after"] == {"scalable_target": {"min_capacity": 1, "max_capacity": 4}}
    assert "policy" in result["diff"]["before"]


def test_absent_with_deregister(aas):
    expect_policy(aas, policy())
    expect_target(aas, target())
    aas.add_response("delete_scaling_policy", {}, dict(IDENTITY, PolicyName="cpu"))
    aas.add_response("deregister_scalable_target", {}, IDENTITY)
    outcome = run(absent_args(deregister_scalable_target=True))
    aas.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["deregistered"]


def test_absent_goes_on_when_the_policy_went_meanwhile(aas):
    expect_policy(aas, policy())
    expect_target(aas, target())
    aas.add_client_error("delete_scaling_policy", service_error_code="ObjectNotFoundException", service_message="No scaling policy found")
    aas.add_response("deregister_scalable_target", {}, IDENTITY)
    outcome = run(absent_args(deregister_scalable_target=True))
    aas.assert_no_pending_responses()
    assert not outcome.failed and outcome.result["deregistered"]


def test_absent_when_nothing_is_there(aas):
    expect_policy(aas)
    expect_target(aas)
    outcome = run(absent_args(deregister_scalable_target=True))
    aas.assert_no_pending_responses()
    assert not outcome.result["changed"] and not outcome.result["deregistered"]


def test_absent_in_check_mode_deletes_nothing(aas):
    expect_policy(aas, policy())
    expect_target(aas, target())
    outcome = run(absent_args(deregister_scalable_target=True), check_mode=True)
    aas.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["deregistered"]


def test_shared_helpers():
    assert shared.iso_timestamp(datetime.datetime(2030, 1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))) == "2030-01-01T00:00:00Z"
    assert shared.iso_timestamp(1893456000) == "2030-01-01T00:00:00Z"
    assert shared.iso_timestamp(None) is None
    assert shared.snake_result({"ScalableTargetARN": "x", "CreationTime": datetime.datetime(2030, 1, 1, tzinfo=UTC)}) == {
        "scalable_target_arn": "x", "creation_time": "2030-01-01T00:00:00+00:00"}
    assert shared.capacity_error(None, None) is None
    assert shared.DEFAULT_DIMENSIONS["ecs"] in shared.SCALABLE_DIMENSIONS


def test_documented_choices_match_botocore():
    """The choices lists are botocore's enums: a botocore update that adds values shows up here."""
    import botocore.session
    model = botocore.session.get_session().get_service_model("application-autoscaling")
    assert sorted(model.shape_for("ServiceNamespace").enum) == shared.SERVICE_NAMESPACES
    assert sorted(model.shape_for("ScalableDimension").enum) == shared.SCALABLE_DIMENSIONS
    assert sorted(model.shape_for("MetricType").enum) == module.PREDEFINED_METRICS
