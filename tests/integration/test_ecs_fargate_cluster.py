"""mlops.mlflow.ecs_fargate_cluster run by ansible-playbook against the proving ground.

Each test runs the module as a user would (a playbook on localhost, the AWS endpoint from the environment alone)
and checks what ECS holds afterwards through boto3, and what the module asked of ECS through the proving ground's
request log.
"""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.ecs_fargate_cluster"
ACCOUNT = "123456789012"
ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/mlflow"


def task(args, **keywords):
    """A task of the module (keywords: check_mode, diff, ignore_errors, name...)."""
    return dict({MODULE: {key: value for key, value in args.items() if value is not None}}, **keywords)


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


def cluster(aws, name="mlflow"):
    """The cluster as ECS describes it with settings and tags, or None."""
    found = aws.client("ecs").describe_clusters(clusters=[name], include=["SETTINGS", "TAGS"])["clusters"]
    return found[0] if found else None


def tags_of(described):
    return {tag["key"]: tag["value"] for tag in described.get("tags") or []}


def insights_of(described):
    return {setting["name"]: setting["value"] for setting in described["settings"]}["containerInsights"]


def ecs_calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "ecs"]


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def changes_of(run):
    return [result["changed"] for result in run.results]


def test_creates_once_then_converges(aws, play):
    args = {"name": "mlflow", "tags": {"application": "mlflow"}}
    start = aws.control.last_request_id()
    run = play([task(args), task(args)])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False] and run.recap["changed"] == 1
    first, second = run.results
    assert first["cluster"]["cluster_arn"] == ARN and first["cluster"]["status"] == "ACTIVE"
    assert first["cluster"]["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert first["cluster"]["capacity_providers"] == ["FARGATE", "FARGATE_SPOT"]
    assert first["cluster"]["default_capacity_provider_strategy"] == [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}]
    assert first["cluster"]["tags"] == {"application": "mlflow"}
    assert second["cluster"] == first["cluster"]
    # The second run only looked.
    assert ecs_calls(aws, start) == ["DescribeClusters", "CreateCluster", "DescribeClusters", "DescribeClusters"]
    assert mutating(aws, start) == ["CreateCluster"]
    described = cluster(aws)
    assert insights_of(described) == "enabled" and tags_of(described) == {"application": "mlflow"}
    assert sorted(described["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    assert described["defaultCapacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]


def test_check_mode_changes_nothing_and_diff_tells_what_would(aws, play):
    args = {"name": "mlflow", "tags": {"application": "mlflow", "team": "ml"}}
    changed_args = {"name": "mlflow", "container_insights": "enhanced", "tags": {"application": "mlflow"}}
    start = aws.control.last_request_id()
    run = play([
        task(args, name="check create", check_mode=True, diff=True),
        task(args, name="create"),
        task(args, name="check unchanged", check_mode=True, diff=True),
        task(changed_args, name="check changed", check_mode=True, diff=True),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False, True]
    check_create, dummy, unchanged, checked = run.results
    assert check_create["diff"]["before"] == {} and check_create["diff"]["after"]["container_insights"] == "enabled"
    assert check_create["cluster"]["cluster_name"] == "mlflow" and "cluster_arn" not in check_create["cluster"]
    assert unchanged["diff"]["before"] == unchanged["diff"]["after"]
    before, after = checked["diff"]["before"], checked["diff"]["after"]
    assert (before["container_insights"], after["container_insights"]) == ("enabled", "enhanced")
    assert (before["tags"], after["tags"]) == ({"application": "mlflow", "team": "ml"}, {"application": "mlflow"})
    assert checked["cluster"]["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    # Only the real run changed something; the cluster is as it created it.
    assert mutating(aws, start) == ["CreateCluster"]
    described = cluster(aws)
    assert insights_of(described) == "enabled" and tags_of(described) == {"application": "mlflow", "team": "ml"}


def test_updates_only_what_differs(aws, play):
    start = aws.control.last_request_id()
    run = play([
        task({"name": "mlflow", "tags": {"application": "mlflow", "team": "ml"}}, name="create"),
        task({"name": "mlflow", "container_insights": "enhanced", "tags": {"application": "mlflow", "team": "ml"}}, name="insights"),
        task({"name": "mlflow", "container_insights": "enhanced", "tags": {"team": "platform"}}, name="purge tags", diff=True),
        task({"name": "mlflow", "container_insights": "enhanced", "tags": {"cost-centre": "42"}, "purge_tags": False}, name="add a tag"),
        task({"name": "mlflow", "container_insights": "enhanced", "capacity_providers": ["FARGATE", "FARGATE_SPOT"],
              "default_capacity_provider_strategy": [{"capacity_provider": "FARGATE", "base": 1},
                                                     {"capacity_provider": "FARGATE_SPOT", "weight": 3}]}, name="strategy"),
        task({"name": "mlflow", "container_insights": "enhanced",
              "default_capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT", "weight": 3},
                                                     {"capacity_provider": "FARGATE", "weight": 1, "base": 1}]}, name="again"),
        task({"name": "mlflow", "container_insights": "disabled", "capacity_providers": ["FARGATE"],
              "default_capacity_provider_strategy": [{"capacity_provider": "FARGATE"}]}, name="back"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, True, True, False, True]
    assert mutating(aws, start) == ["CreateCluster", "UpdateCluster", "UntagResource", "TagResource", "TagResource",
                                    "PutClusterCapacityProviders", "UpdateCluster", "PutClusterCapacityProviders"]
    purged = run.results[2]
    assert purged["diff"]["before"]["tags"] == {"application": "mlflow", "team": "ml"}
    assert purged["diff"]["after"]["tags"] == {"team": "platform"} and purged["cluster"]["tags"] == {"team": "platform"}
    assert run.results[3]["cluster"]["tags"] == {"team": "platform", "cost-centre": "42"}
    strategy = run.results[4]["cluster"]["default_capacity_provider_strategy"]
    assert sorted(strategy, key=lambda item: item["capacity_provider"]) == [
        {"capacity_provider": "FARGATE", "weight": 1, "base": 1}, {"capacity_provider": "FARGATE_SPOT", "weight": 3, "base": 0}]
    described = cluster(aws)
    assert insights_of(described) == "disabled" and described["capacityProviders"] == ["FARGATE"]
    assert described["defaultCapacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    assert tags_of(described) == {"team": "platform", "cost-centre": "42"}  # tags not given: left alone


def test_absent_deletes_then_changes_nothing_and_present_creates_again(aws, play):
    start = aws.control.last_request_id()
    run = play([
        task({"name": "mlflow"}, name="create"),
        task({"name": "mlflow", "state": "absent"}, name="check delete", check_mode=True),
        task({"name": "mlflow", "state": "absent"}, name="delete", diff=True),
        task({"name": "mlflow", "state": "absent"}, name="delete again"),
        task({"name": "mlflow", "container_insights": "disabled"}, name="create again"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, False, True]
    deleted, again, recreated = run.results[2:]
    assert deleted["cluster"]["status"] == "INACTIVE" and deleted["diff"]["after"] == {}
    assert deleted["diff"]["before"]["name"] == "mlflow"
    assert again["cluster"] == {}
    assert recreated["cluster"]["status"] == "ACTIVE"
    assert recreated["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert mutating(aws, start) == ["CreateCluster", "DeleteCluster", "CreateCluster"]
    # The INACTIVE cluster left by the deletion counted as absent: the last task created it anew.
    assert cluster(aws)["status"] == "ACTIVE"


def test_absent_refuses_a_cluster_with_active_services(aws, play):
    run = play([task({"name": "mlflow"})])
    assert run.rc == 0, run.output
    ecs = aws.client("ecs")
    ecs.register_task_definition(family="mlflow", containerDefinitions=[{"name": "mlflow", "image": "mlflow", "memory": 512}])
    ecs.create_service(cluster="mlflow", serviceName="mlflow-server", taskDefinition="mlflow", desiredCount=0)
    ecs.create_service(cluster="mlflow", serviceName="gone", taskDefinition="mlflow", desiredCount=0)
    ecs.delete_service(cluster="mlflow", service="gone", force=True)
    start = aws.control.last_request_id()
    run = play([task({"name": "mlflow", "state": "absent"}, ignore_errors=True),
                task({"name": "mlflow", "state": "absent"}, check_mode=True, ignore_errors=True)])
    assert run.rc == 0, run.output
    for result in run.results:
        assert result["failed"]
        assert result["msg"].startswith("ECS cluster mlflow still has ACTIVE services: mlflow-server. Delete them first"), result["msg"]
        assert result["services"] == ["mlflow-server"]
    assert mutating(aws, start) == []
    assert cluster(aws)["status"] == "ACTIVE"


BAD_INPUTS = [
    ({"name": "ml flow"}, "name must be 1 to 255 letters, digits, hyphens and underscores"),
    ({"name": "mlflow", "capacity_providers": ["FARGATE_SPOT"]},
     "default_capacity_provider_strategy names FARGATE, which capacity_providers does not list (FARGATE_SPOT)"),
    ({"name": "mlflow", "default_capacity_provider_strategy": [{"capacity_provider": "FARGATE", "base": 1},
                                                               {"capacity_provider": "FARGATE_SPOT", "base": 1}]},
     "only one capacity provider may have a base above 0"),
    ({"name": "mlflow", "container_insights": "on"}, "value of container_insights must be one of: disabled, enabled, enhanced"),
    ({"name": "mlflow", "tags": {"aws:owner": "me"}}, "keys beginning with 'aws:' are reserved"),
]


def test_bad_input_fails_clearly_and_calls_no_api(aws, play):
    start = aws.control.last_request_id()
    run = play([task(args, ignore_errors=True) for args, dummy in BAD_INPUTS])
    assert run.rc == 0, run.output
    assert run.recap["ignored"] == len(BAD_INPUTS), run.output
    for result, (args, message) in zip(run.results, BAD_INPUTS):
        assert result["failed"], result
        assert message in result["msg"], (args, result["msg"])
    assert aws.control.requests(since=start) == []
    assert cluster(aws) is None
