"""mlops.mlflow.rds_cluster_instances run by ansible-playbook against the proving ground.

Each test creates an Aurora Serverless v2 cluster with boto3, runs the module as a user would (a playbook on
localhost, the AWS endpoint from the environment alone), and checks what RDS holds afterwards through boto3 and what
the module asked of RDS through the proving ground's request log.
"""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.rds_cluster_instances"
CLUSTER = "mlflow"
INSTANCES = ["mlflow-1", "mlflow-2"]


def task(args, **keywords):
    """A task of the module (keywords: check_mode, diff, ignore_errors, name...)."""
    return dict({MODULE: dict({"db_cluster_identifier": CLUSTER}, **args)}, **keywords)


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


def create_cluster(aws, identifier=CLUSTER):
    aws.client("rds").create_db_cluster(
        DBClusterIdentifier=identifier, Engine="aurora-postgresql", EngineMode="provisioned", MasterUsername="mlflow",
        ManageMasterUserPassword=True, ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 2})


def members(aws, identifier=CLUSTER):
    """The cluster's DB instances by identifier, as RDS describes them."""
    found = aws.client("rds").describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [identifier]}])
    return {instance["DBInstanceIdentifier"]: instance for instance in found["DBInstances"]}


def tags_of(instance):
    return {tag["Key"]: tag["Value"] for tag in instance.get("TagList") or []}


def rds_calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "rds"]


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def test_creates_two_instances_then_changes_nothing(aws, play):
    create_cluster(aws)
    args = {"instances": INSTANCES, "tags": {"application": "mlflow"}}
    start = aws.control.last_request_id()
    run = play([task(args, name="create"), task(args, name="again")])
    assert run.rc == 0, run.output
    first, second = run.results
    assert (first["changed"], second["changed"]) == (True, False)
    assert first["cluster"]["db_cluster_identifier"] == CLUSTER and first["cluster"]["status"] == "available"
    assert first["cluster"]["engine"] == "aurora-postgresql" and first["cluster"]["port"] == 5432
    assert first["cluster"]["endpoint"] and first["cluster"]["reader_endpoint"]
    assert [instance["db_instance_identifier"] for instance in first["instances"]] == INSTANCES
    for instance in first["instances"]:
        assert instance["db_instance_status"] == "available" and instance["db_instance_class"] == "db.serverless"
        assert instance["tags"] == {"application": "mlflow"} and instance["publicly_accessible"] is False
        assert instance["auto_minor_version_upgrade"] is True and instance["db_instance_arn"].endswith(
            ":db:" + instance["db_instance_identifier"])
        assert instance["availability_zone"]
    assert second["instances"] == first["instances"]
    assert mutating(aws, start) == ["CreateDBInstance", "CreateDBInstance"]
    # The re-run only looked, with two calls.
    assert rds_calls(aws, start)[-2:] == ["DescribeDBClusters", "DescribeDBInstances"]
    described = members(aws)
    assert sorted(described) == INSTANCES
    assert all(instance["DBClusterIdentifier"] == CLUSTER for instance in described.values())


def test_waits_for_a_creating_cluster_and_notices_it_within_wait_delay(aws, play):
    cluster_seconds, instance_seconds, delay = 5, 2, 2
    aws.control.configure(latency_scale=1, latency_overrides={"rds:CreateDBCluster": cluster_seconds,
                                                              "rds:CreateDBInstance": instance_seconds})
    start = aws.control.last_request_id()
    create_cluster(aws)
    run = play([task({"instances": INSTANCES, "wait_delay": delay})])
    assert run.rc == 0, run.output
    result = run.result()
    assert result["changed"] and result["cluster"]["status"] == "available"
    assert [instance["db_instance_status"] for instance in result["instances"]] == ["available", "available"]
    entries = [entry for entry in aws.control.requests(since=start) if entry["service"] == "rds"]
    created = next(entry for entry in entries if entry["operation"] == "CreateDBCluster")
    creates = [entry for entry in entries if entry["operation"] == "CreateDBInstance"]
    assert len(creates) == 2
    ready = created["time"] + cluster_seconds
    # Nothing was created before the cluster was available, and the module noticed within one poll.
    assert creates[0]["time"] >= ready
    overshoot = creates[0]["time"] - ready
    assert overshoot < delay + 1, overshoot
    polls = [entry for entry in entries if entry["operation"] == "DescribeDBClusters"]
    assert len(polls) >= 2  # it did poll the creating cluster
    # The instances were waited for as well: the last poll saw them available.
    instance_ready = creates[-1]["time"] + instance_seconds
    last_poll = [entry for entry in entries if entry["operation"] == "DescribeDBInstances"][-1]
    assert last_poll["time"] >= instance_ready and last_poll["time"] - instance_ready < delay + 1


def test_changed_tags_change_only_tags_and_settings_are_modified(aws, play):
    create_cluster(aws)
    run = play([task({"instances": INSTANCES, "tags": {"application": "mlflow", "team": "ml"}}, name="create")])
    assert run.rc == 0, run.output
    start = aws.control.last_request_id()
    run = play([
        task({"instances": INSTANCES, "tags": {"application": "mlflow", "cost-centre": "42"}}, name="tags", diff=True),
        task({"instances": INSTANCES, "tags": {"owner": "me"}, "purge_tags": False}, name="add a tag"),
    ])
    assert run.rc == 0, run.output
    retagged, added = run.results
    assert retagged["changed"] and added["changed"]
    assert mutating(aws, start) == ["RemoveTagsFromResource", "AddTagsToResource"] * 2 + ["AddTagsToResource"] * 2
    before, after = retagged["diff"]["before"]["instances"], retagged["diff"]["after"]["instances"]
    assert before["mlflow-1"]["tags"] == {"application": "mlflow", "team": "ml"}
    assert after["mlflow-1"]["tags"] == {"application": "mlflow", "cost-centre": "42"}
    assert before["mlflow-1"]["db_instance_class"] == after["mlflow-1"]["db_instance_class"] == "db.serverless"
    expected = {"application": "mlflow", "cost-centre": "42", "owner": "me"}
    assert [instance["tags"] for instance in added["instances"]] == [expected, expected]
    assert all(tags_of(instance) == expected for instance in members(aws).values())

    start = aws.control.last_request_id()
    run = play([task({"instances": INSTANCES[:1], "promotion_tier": 3, "tags": expected}, name="tier")])
    assert run.rc == 0, run.output
    assert run.result()["changed"] and run.result()["instances"][0]["promotion_tier"] == 3
    assert mutating(aws, start) == ["ModifyDBInstance"]
    assert members(aws)["mlflow-1"]["PromotionTier"] == 3


def test_check_mode_creates_nothing(aws, play):
    create_cluster(aws)
    start = aws.control.last_request_id()
    run = play([task({"instances": INSTANCES, "tags": {"application": "mlflow"}}, check_mode=True, diff=True)])
    assert run.rc == 0, run.output
    result = run.result()
    assert result["changed"]
    assert [instance["db_instance_identifier"] for instance in result["instances"]] == INSTANCES
    assert result["instances"][0]["db_instance_arn"] is None and result["instances"][0]["tags"] == {"application": "mlflow"}
    assert result["diff"]["before"] == {"instances": {}} and sorted(result["diff"]["after"]["instances"]) == INSTANCES
    assert mutating(aws, start) == [] and members(aws) == {}


def test_bad_identifier_fails_before_any_call(aws, play):
    create_cluster(aws)
    start = aws.control.last_request_id()
    run = play([task({"instances": ["mlflow-1", "mlflow--2"]}, ignore_errors=True),
                task({"instances": ["1mlflow"]}, ignore_errors=True),
                task({"instances": ["mlflow-"]}, ignore_errors=True)])
    assert run.rc == 0, run.output
    messages = [result["msg"] for result in run.results]
    assert all(result.get("failed") for result in run.results)
    assert "'mlflow--2' must not hold two hyphens in a row" in messages[0]
    assert "'1mlflow' must begin with a letter" in messages[1]
    assert "'mlflow-' must not end with a hyphen" in messages[2]
    assert rds_calls(aws, start) == []


def test_missing_cluster_fails_clearly(aws, play):
    start = aws.control.last_request_id()
    run = play([task({"instances": INSTANCES}, ignore_errors=True),
                task({"instances": INSTANCES, "state": "absent"}, name="absent")])
    assert run.rc == 0, run.output
    failed, absent = run.results
    assert failed.get("failed") and "DB cluster mlflow does not exist" in failed["msg"]
    assert absent["changed"] is False and absent["instances"] == [] and absent["cluster"] == {}
    assert mutating(aws, start) == []


def test_absent_deletes_then_changes_nothing(aws, play):
    create_cluster(aws)
    run = play([
        task({"instances": INSTANCES + ["mlflow-3"]}, name="create"),
        task({"instances": INSTANCES, "state": "absent"}, name="delete", diff=True),
        task({"instances": INSTANCES, "state": "absent"}, name="delete again"),
        task({"instances": ["mlflow-4"], "purge_instances": True}, name="replace"),
    ])
    assert run.rc == 0, run.output
    assert [result["changed"] for result in run.results] == [True, True, False, True]
    deleted = run.results[1]
    assert deleted["instances"] == [] and sorted(deleted["diff"]["before"]["instances"]) == INSTANCES
    assert deleted["diff"]["after"] == {"instances": {}}
    assert sorted(members(aws)) == ["mlflow-4"]
    assert [instance["db_instance_identifier"] for instance in run.results[3]["instances"]] == ["mlflow-4"]
