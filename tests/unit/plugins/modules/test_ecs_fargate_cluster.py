"""mlops.mlflow.ecs_fargate_cluster: the comparison with the described cluster, the input checks, and main()
driven with ECS stubbed by botocore's Stubber (which also checks every request against the ECS API model)."""

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import ecs_fargate_cluster as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
ARN = "arn:aws:ecs:us-east-1:{0}:cluster/mlflow".format(ACCOUNT)
DEFAULT_STRATEGY = [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}]


def params(**changes):
    """The module's parameters after validation, defaults applied."""
    values = dict(state="present", name="mlflow", container_insights="enabled", capacity_providers=["FARGATE", "FARGATE_SPOT"],
                  default_capacity_provider_strategy=[dict(item) for item in DEFAULT_STRATEGY], tags=None, purge_tags=True)
    values.update(changes)
    return values


def described(insights="enabled", providers=("FARGATE", "FARGATE_SPOT"), strategy=None, tags=None, status="ACTIVE", name="mlflow"):
    """A cluster as DescribeClusters answers with include SETTINGS and TAGS."""
    cluster = {
        "clusterArn": "arn:aws:ecs:us-east-1:{0}:cluster/{1}".format(ACCOUNT, name), "clusterName": name, "status": status,
        "registeredContainerInstancesCount": 0, "runningTasksCount": 0, "pendingTasksCount": 0, "activeServicesCount": 0,
        "capacityProviders": list(providers),
        "defaultCapacityProviderStrategy": strategy if strategy is not None else [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}],
        "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()],
    }
    if insights is not None:
        cluster["settings"] = [{"name": "containerInsights", "value": insights}]
    return cluster


# --- input checks -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"name": "ml flow"}, "name must be 1 to 255 letters"),
    ({"name": "x" * 256}, "name must be 1 to 255 letters"),
    ({"capacity_providers": ["FARGATE", "FARGATE"]}, "capacity_providers lists FARGATE more than once"),
    ({"capacity_providers": ["FARGATE_SPOT"]}, "default_capacity_provider_strategy names FARGATE, which capacity_providers does not list (FARGATE_SPOT)"),
    ({"capacity_providers": []}, "which capacity_providers does not list (empty)"),
    ({"default_capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1001, "base": 0}]}, "weight of FARGATE must be between 0 and 1000"),
    ({"default_capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1, "base": -1}]}, "base of FARGATE must be between 0 and 100000"),
    ({"default_capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1, "base": 1},
                                             {"capacity_provider": "FARGATE_SPOT", "weight": 1, "base": 2}]},
     "only one capacity provider may have a base above 0, got FARGATE, FARGATE_SPOT"),
    ({"default_capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 0, "base": 1},
                                             {"capacity_provider": "FARGATE_SPOT", "weight": 0, "base": 0}]},
     "at least one capacity provider needs a weight above 0"),
    ({"default_capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}] * 2}, "names FARGATE more than once"),
    ({"tags": {"aws:cloudformation:stack-name": "x"}}, "keys beginning with 'aws:' are reserved"),
])
def test_bad_input_is_refused(changes, message):
    with pytest.raises(module.InvalidInput) as caught:
        module.validate(params(**changes))
    assert message in str(caught.value)


def test_good_input_passes():
    module.validate(params())
    module.validate(params(capacity_providers=[], default_capacity_provider_strategy=[]))
    module.validate(params(default_capacity_provider_strategy=[{"capacity_provider": "FARGATE", "weight": 0, "base": 1}]))
    module.validate(params(state="absent", capacity_providers=[]))  # absent checks the name only


# --- comparison -----------------------------------------------------------------------------------------------------------


def test_the_same_cluster_needs_no_change():
    assert module.plan(described(), params()) == {}
    assert module.plan(described(tags={"a": "1"}), params(tags={"a": "1"})) == {}


def test_order_and_ecs_filled_defaults_are_no_change():
    cluster = described(providers=["FARGATE_SPOT", "FARGATE"],
                        strategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 3}, {"capacityProvider": "FARGATE", "weight": 1, "base": 1}])
    wanted = params(default_capacity_provider_strategy=[{"capacity_provider": "FARGATE", "weight": 1, "base": 1},
                                                        {"capacity_provider": "FARGATE_SPOT", "weight": 3, "base": 0}])
    assert module.plan(cluster, wanted) == {}


def test_insights_change():
    assert module.plan(described(insights="enabled"), params(container_insights="enhanced")) == {"insights": "enhanced"}
    # No containerInsights setting shown means disabled.
    assert module.plan(described(insights=None), params(container_insights="disabled")) == {}
    assert module.plan(described(insights=None), params()) == {"insights": "enabled"}


def test_providers_and_strategy_change_together():
    strategy = [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    assert module.plan(described(providers=["FARGATE"]), params()) == {
        "capacity_providers": (["FARGATE", "FARGATE_SPOT"], strategy)}
    assert module.plan(described(strategy=[{"capacityProvider": "FARGATE", "weight": 2, "base": 0}]), params()) == {
        "capacity_providers": (["FARGATE", "FARGATE_SPOT"], strategy)}
    # moto and old clusters: no providers at all
    assert module.plan(described(providers=[], strategy=[]), params(capacity_providers=[], default_capacity_provider_strategy=[])) == {}


@pytest.mark.parametrize("tags, purge, expected", [
    (None, True, None),  # tags not given: tags left alone
    ({"a": "1"}, True, ({}, ["b"])),
    ({"a": "1"}, False, None),
    ({"a": "2", "c": 3}, False, ({"a": "2", "c": 3}, [])),
    ({}, True, ({}, ["a", "b"])),
])
def test_tags(tags, purge, expected):
    changes = module.plan(described(tags={"a": "1", "b": "2", "aws:created-by": "x"}), params(tags=tags, purge_tags=purge))
    if expected is None:
        assert "tags" not in changes
    else:
        to_set, to_unset = changes["tags"]
        assert (to_set, sorted(to_unset)) == expected


def test_predicted_cluster_and_diff_views():
    cluster = described(tags={"a": "1"})
    changes = module.plan(cluster, params(container_insights="disabled", tags={"b": "2"}))
    after = module.predicted(cluster, params(), changes)
    assert module.comparable(after) == {"name": "mlflow", "container_insights": "disabled", "capacity_providers": ["FARGATE", "FARGATE_SPOT"],
                                        "default_capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}],
                                        "tags": {"b": "2"}}
    new = module.predicted(None, params(tags={"x": "y"}), {"create": True})
    assert module.comparable(new)["tags"] == {"x": "y"} and module.comparable(new)["container_insights"] == "enabled"
    assert module.comparable(None) == {}


def test_result_is_snake_case_with_tags_as_a_dict():
    result = module.snake_cluster(described(tags={"Team": "ml"}))
    assert result["cluster_name"] == "mlflow" and result["cluster_arn"] == ARN
    assert result["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert result["default_capacity_provider_strategy"] == [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}]
    assert result["tags"] == {"Team": "ml"}
    assert module.snake_cluster(None) == {}


# --- main() with a stubbed ECS --------------------------------------------------------------------------------------------------


@pytest.fixture
def ecs(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "ecs")
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


run = harness.runner(module, harness.AWS_ARGS)


def expect_describe(ecs, *clusters, name="mlflow"):
    failures = [] if clusters else [{"arn": "arn:aws:ecs:us-east-1:{0}:cluster/{1}".format(ACCOUNT, name), "reason": "MISSING"}]
    ecs.add_response("describe_clusters", {"clusters": list(clusters), "failures": failures},
                     {"clusters": [name], "include": ["SETTINGS", "TAGS"]})


CREATE_PARAMS = {
    "clusterName": "mlflow", "settings": [{"name": "containerInsights", "value": "enabled"}],
    "capacityProviders": ["FARGATE", "FARGATE_SPOT"], "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}],
}


def test_creates_a_missing_cluster(ecs):
    expect_describe(ecs)
    ecs.add_response("create_cluster", {"cluster": described(tags={"a": "1"})}, dict(CREATE_PARAMS, tags=[{"key": "a", "value": "1"}]))
    expect_describe(ecs, described(tags={"a": "1"}))
    outcome = run({"name": "mlflow", "tags": {"a": "1"}}, diff=True)
    assert not outcome.failed and outcome.result["changed"]
    assert outcome.result["cluster"]["cluster_arn"] == ARN and outcome.result["cluster"]["tags"] == {"a": "1"}
    assert outcome.result["diff"]["before"] == {} and outcome.result["diff"]["after"]["container_insights"] == "enabled"


def test_an_inactive_cluster_is_created_again(ecs):
    expect_describe(ecs, described(status="INACTIVE", insights="disabled"))
    ecs.add_response("create_cluster", {"cluster": described()}, CREATE_PARAMS)
    expect_describe(ecs, described())
    assert run({"name": "mlflow"}).result["changed"]


def test_create_retries_while_ecs_makes_its_service_linked_role(ecs):
    expect_describe(ecs)
    ecs.add_client_error("create_cluster", "InvalidParameterException",
                         "Unable to assume the service linked role. Please verify that the ECS service linked role exists.")
    ecs.add_response("create_cluster", {"cluster": described()}, CREATE_PARAMS)
    expect_describe(ecs, described())
    assert run({"name": "mlflow"}).result["changed"]


def test_other_invalid_parameters_fail_at_once(ecs):
    expect_describe(ecs)
    ecs.add_client_error("create_cluster", "InvalidParameterException", "Capacity provider NOPE does not exist.")
    outcome = run({"name": "mlflow", "capacity_providers": ["NOPE"], "default_capacity_provider_strategy": []})
    assert outcome.failed and "Could not create ECS cluster mlflow" in outcome.result["msg"]


def test_an_unchanged_cluster_is_only_described(ecs):
    expect_describe(ecs, described())
    outcome = run({"name": "mlflow"}, diff=True)
    assert not outcome.result["changed"]
    assert outcome.result["diff"]["before"] == outcome.result["diff"]["after"]


def test_only_what_differs_is_changed(ecs):
    expect_describe(ecs, described(tags={"old": "x"}))
    ecs.add_response("update_cluster", {"cluster": described(insights="enhanced")},
                     {"cluster": "mlflow", "settings": [{"name": "containerInsights", "value": "enhanced"}]})
    ecs.add_response("untag_resource", {}, {"resourceArn": ARN, "tagKeys": ["old"]})
    ecs.add_response("tag_resource", {}, {"resourceArn": ARN, "tags": [{"key": "new", "value": "y"}]})
    expect_describe(ecs, described(insights="enhanced", tags={"new": "y"}))
    outcome = run({"name": "mlflow", "container_insights": "enhanced", "tags": {"new": "y"}})
    assert outcome.result["changed"] and outcome.result["cluster"]["tags"] == {"new": "y"}


def test_capacity_providers_are_put_whole(ecs):
    expect_describe(ecs, described(providers=[], strategy=[]))
    ecs.add_response("put_cluster_capacity_providers", {"cluster": described()}, {
        "cluster": "mlflow", "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
        "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]})
    expect_describe(ecs, described())
    assert run({"name": "mlflow"}).result["changed"]


def test_check_mode_calls_nothing_that_changes(ecs):
    expect_describe(ecs, described(tags={"old": "x"}))
    outcome = run({"name": "mlflow", "container_insights": "disabled", "tags": {}}, check_mode=True, diff=True)
    assert outcome.result["changed"]
    assert outcome.result["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert outcome.result["diff"]["before"]["tags"] == {"old": "x"} and outcome.result["diff"]["after"]["tags"] == {}
    expect_describe(ecs)
    outcome = run({"name": "mlflow"}, check_mode=True)
    assert outcome.result["changed"] and outcome.result["cluster"]["cluster_name"] == "mlflow"


def service(name, status):
    return {"serviceArn": "arn:aws:ecs:us-east-1:{0}:service/mlflow/{1}".format(ACCOUNT, name), "serviceName": name, "status": status}


def test_absent_refuses_a_cluster_with_active_services_and_names_them(ecs):
    expect_describe(ecs, described())
    names = ["svc{0:02d}".format(index) for index in range(12)]
    ecs.add_response("list_services", {"serviceArns": [service(name, "")["serviceArn"] for name in names]}, {"cluster": "mlflow"})
    ecs.add_response("describe_services", {"services": [service(name, "ACTIVE" if name != "svc03" else "DRAINING") for name in names[:10]]},
                     {"cluster": "mlflow", "services": [service(name, "")["serviceArn"] for name in names[:10]]})
    ecs.add_response("describe_services", {"services": [service(name, "INACTIVE") for name in names[10:]]},
                     {"cluster": "mlflow", "services": [service(name, "")["serviceArn"] for name in names[10:]]})
    outcome = run({"name": "mlflow", "state": "absent"})
    assert outcome.failed
    assert "ECS cluster mlflow still has ACTIVE services: svc00, svc01, svc02, svc04" in outcome.result["msg"]
    assert "svc03" not in outcome.result["msg"] and "svc10" not in outcome.result["msg"]


def test_absent_deletes_and_retries_while_tasks_stop(ecs):
    expect_describe(ecs, described())
    ecs.add_response("list_services", {"serviceArns": []}, {"cluster": "mlflow"})
    ecs.add_client_error("delete_cluster", "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
    ecs.add_response("delete_cluster", {"cluster": described(status="INACTIVE")}, {"cluster": "mlflow"})
    outcome = run({"name": "mlflow", "state": "absent"}, diff=True)
    assert outcome.result["changed"] and outcome.result["cluster"]["status"] == "INACTIVE"
    assert outcome.result["diff"]["after"] == {}


@pytest.mark.parametrize("clusters", [[], [described(status="INACTIVE")]], ids=["missing", "inactive"])
def test_absent_when_there_is_nothing(ecs, clusters):
    expect_describe(ecs, *clusters)
    outcome = run({"name": "mlflow", "state": "absent"})
    assert not outcome.result["changed"] and outcome.result["cluster"] == {}


def test_bad_input_fails_before_any_call(ecs):
    outcome = run({"name": "mlflow", "capacity_providers": ["FARGATE_SPOT"]})
    assert outcome.failed and "which capacity_providers does not list" in outcome.result["msg"]
