"""The RDS drift kinds agree with amazon.aws.rds_subnet_group and amazon.aws.rds_cluster on the proving ground.

For each kind: the acting module creates the resource with the role's arguments; the kind says in sync and the
module, run again, changes nothing; a change made behind the module's back makes the kind name the option and the
module report a change; after that run the kind says in sync again.
"""

from __future__ import annotations

import tempfile

import pytest

from helpers import aws_resources
from helpers.ansible import import_path, run_tasks

import_path(tempfile.mkdtemp(prefix="mlops-mlflow-drift-rds-"))

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from ansible_collections.mlops.mlflow.plugins.module_utils import drift_rds  # noqa: E402
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import validated  # noqa: E402

pytestmark = pytest.mark.slow

NAME = "mlflow"
TAGS = {"application": "mlflow", "team": "ml"}


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


@pytest.fixture
def network(aws):
    """A VPC with subnets in three zones and two security groups."""
    return aws_resources.network(aws.client("ec2"), 30, "abc", "mlflow-data", "data")


def check(aws, kind, spec):
    argument_spec, checker = drift_rds.KINDS[kind]

    def client(service):
        return RetryingBotoClientWrapper(aws.client(service), AWSRetry.jittered_backoff())
    return checker(client, validated(argument_spec, spec, kind))


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def run_one(play, module, args):
    run = play([{module: args}])
    assert run.rc == 0, run.output
    return run.result()


# --- rds_subnet_group ---------------------------------------------------------------------------------------------

def subnet_group_args(network, **changes):
    args = {"name": NAME, "description": "MLflow {0} database".format(NAME), "subnets": network["subnets"][:2],
            "tags": TAGS, "purge_tags": True, "state": "present"}
    args.update(changes)
    return args


def test_subnet_group_agrees_with_the_module(aws, play, network):
    module = "amazon.aws.rds_subnet_group"
    args = subnet_group_args(network)
    assert check(aws, "rds_subnet_group", args)["differences"] == ["exists"]
    assert run_one(play, module, args)["changed"] is True

    result = check(aws, "rds_subnet_group", args)
    assert result["in_sync"] is True, result
    assert result["resource"]["name"] == NAME and result["resource"]["vpc_id"] == network["vpc"]
    assert result["resource"]["arn"].endswith(":subgrp:" + NAME)
    start = aws.control.last_request_id()
    assert run_one(play, module, args)["changed"] is False
    assert mutating(aws, start) == []

    rds = aws.client("rds")
    drifts = [
        ("tags", lambda: rds.add_tags_to_resource(ResourceName=result["resource"]["arn"],
                                                  Tags=[{"Key": "owner", "Value": "someone"}])),
        ("tags", lambda: rds.remove_tags_from_resource(ResourceName=result["resource"]["arn"], TagKeys=["team"])),
    ]
    for field, drift in drifts:
        drift()
        drifted = check(aws, "rds_subnet_group", args)
        assert drifted["in_sync"] is False and drifted["differences"] == [field], (field, drifted)
        assert run_one(play, module, args)["changed"] is True, field
        assert check(aws, "rds_subnet_group", args)["in_sync"] is True, field


@pytest.mark.parametrize("field, description, subnets", [
    ("description", "changed by hand", slice(0, 2)),
    ("subnets", None, slice(0, 3)),
])
def test_subnet_group_description_and_subnets_agree(aws, play, network, field, description, subnets):
    module = "amazon.aws.rds_subnet_group"
    args = subnet_group_args(network)
    assert run_one(play, module, args)["changed"] is True
    assert check(aws, "rds_subnet_group", args)["in_sync"] is True
    # Changed behind the module's back by replacing the group: moto 5.2.5's ModifyDBSubnetGroup loses the group.
    rds = aws.client("rds")
    rds.delete_db_subnet_group(DBSubnetGroupName=NAME)
    rds.create_db_subnet_group(DBSubnetGroupName=NAME, DBSubnetGroupDescription=description or args["description"],
                               SubnetIds=network["subnets"][subnets],
                               Tags=[{"Key": key, "Value": value} for key, value in TAGS.items()])
    drifted = check(aws, "rds_subnet_group", args)
    assert drifted["in_sync"] is False and drifted["differences"] == [field], drifted
    assert run_one(play, module, args)["changed"] is True
    after = check(aws, "rds_subnet_group", args)
    if not after["exists"]:
        pytest.skip("moto 5.2.5: ModifyDBSubnetGroup pops the group from its store and never puts it back "
                    "(moto/rds/models.py modify_db_subnet_group), so the group the module corrected is gone")
    assert after["in_sync"] is True


def test_subnet_group_extra_tags_without_purge_agree(aws, play, network):
    module = "amazon.aws.rds_subnet_group"
    args = subnet_group_args(network, purge_tags=False)
    assert run_one(play, module, args)["changed"] is True
    arn = check(aws, "rds_subnet_group", args)["resource"]["arn"]
    aws.client("rds").add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "owner", "Value": "someone"}])
    assert check(aws, "rds_subnet_group", args)["in_sync"] is True
    assert run_one(play, module, args)["changed"] is False
    purging = subnet_group_args(network)
    assert check(aws, "rds_subnet_group", purging)["differences"] == ["tags"]
    assert run_one(play, module, purging)["changed"] is True


# --- rds_cluster --------------------------------------------------------------------------------------------------

def cluster_args(network, key_arn, **changes):
    """The arguments of the role's task "Create the Aurora Serverless v2 cluster without waiting for it"."""
    args = {
        "db_cluster_identifier": NAME, "engine": "aurora-postgresql", "engine_version": "16.6",
        "engine_mode": "provisioned", "serverless_v2_scaling_configuration": {"min_capacity": 0.5, "max_capacity": 4.0},
        "database_name": "mlflow", "master_username": "mlflow", "master_user_password": "Pa55word-for-tests",
        "force_update_password": False, "port": 5432, "db_subnet_group_name": NAME,
        "vpc_security_group_ids": [network["groups"][0]], "purge_security_groups": False, "storage_encrypted": True,
        "kms_key_id": key_arn, "backup_retention_period": 14, "deletion_protection": True,
        "copy_tags_to_snapshot": True, "apply_immediately": True, "tags": TAGS, "purge_tags": True, "wait": False,
        "state": "present",
    }
    args.update(changes)
    return args


@pytest.fixture
def cluster_setup(aws, play, network):
    key_arn = aws.client("kms").create_key(Description="mlflow data")["KeyMetadata"]["Arn"]
    assert run_one(play, "amazon.aws.rds_subnet_group", subnet_group_args(network))["changed"] is True
    return network, key_arn


def test_cluster_agrees_with_the_module(aws, play, cluster_setup):
    network, key_arn = cluster_setup
    module = "amazon.aws.rds_cluster"
    args = cluster_args(network, key_arn)
    assert check(aws, "rds_cluster", args)["differences"] == ["exists"]
    created = run_one(play, module, args)
    assert created["changed"] is True

    result = check(aws, "rds_cluster", args)
    assert result["in_sync"] is True, result
    resource = result["resource"]
    assert resource["db_cluster_identifier"] == NAME and resource["port"] == 5432
    assert resource["endpoint"] and resource["reader_endpoint"] and resource["status"]
    assert resource["db_cluster_arn"] == created["db_cluster_arn"]
    start = aws.control.last_request_id()
    assert run_one(play, module, args)["changed"] is False
    assert mutating(aws, start) == []

    rds = aws.client("rds")
    arn = resource["db_cluster_arn"]

    def modify(**settings):
        return lambda: rds.modify_db_cluster(DBClusterIdentifier=NAME, ApplyImmediately=True, **settings)

    drifts = [
        ("backup_retention_period", modify(BackupRetentionPeriod=3)),
        ("deletion_protection", modify(DeletionProtection=False)),
        ("serverless_v2_scaling_configuration",
         modify(ServerlessV2ScalingConfiguration={"MinCapacity": 1.0, "MaxCapacity": 8.0})),
        ("vpc_security_group_ids", modify(VpcSecurityGroupIds=[network["groups"][1]])),
        ("tags", lambda: rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "owner", "Value": "someone"}])),
        ("tags", lambda: rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["team"])),
    ]
    for field, drift in drifts:
        drift()
        drifted = check(aws, "rds_cluster", args)
        assert drifted["in_sync"] is False and drifted["differences"] == [field], (field, drifted)
        assert run_one(play, module, args)["changed"] is True, field
        assert check(aws, "rds_cluster", args)["in_sync"] is True, field
    # Without purge the module added the role's group to the one set by hand, and keeps both.
    groups = rds.describe_db_clusters(DBClusterIdentifier=NAME)["DBClusters"][0]["VpcSecurityGroups"]
    assert sorted(group["VpcSecurityGroupId"] for group in groups) == sorted(network["groups"])
    start = aws.control.last_request_id()
    assert run_one(play, module, args)["changed"] is False
    assert mutating(aws, start) == []


def test_cluster_purging_security_groups_is_never_in_sync_as_the_module_always_changes(aws, play, cluster_setup):
    network, key_arn = cluster_setup
    module = "amazon.aws.rds_cluster"
    args = cluster_args(network, key_arn, purge_security_groups=True)
    assert run_one(play, module, args)["changed"] is True
    for attempt in range(2):
        result = check(aws, "rds_cluster", args)
        assert result["in_sync"] is False and result["differences"] == ["vpc_security_group_ids"], attempt
        assert run_one(play, module, args)["changed"] is True, attempt
    # The role's setting (no purge) is in sync with the same cluster.
    assert check(aws, "rds_cluster", cluster_args(network, key_arn))["in_sync"] is True


def test_cluster_options_the_module_only_uses_at_creation_agree(aws, play, cluster_setup):
    network, key_arn = cluster_setup
    module = "amazon.aws.rds_cluster"
    assert run_one(play, module, cluster_args(network, key_arn))["changed"] is True
    other_key = aws.client("kms").create_key(Description="other")["KeyMetadata"]["Arn"]
    args = cluster_args(network, key_arn, kms_key_id=other_key, database_name="other", master_username="admin",
                        master_user_password="An0ther-password")
    assert check(aws, "rds_cluster", args)["in_sync"] is True
    assert run_one(play, module, args)["changed"] is False
    forced = cluster_args(network, key_arn, force_update_password=True)
    assert check(aws, "rds_cluster", forced)["differences"] == ["master_user_password"]
    assert run_one(play, module, forced)["changed"] is True


def test_stopped_cluster_is_out_of_sync_conservatively(aws, play, cluster_setup):
    network, key_arn = cluster_setup
    module = "amazon.aws.rds_cluster"
    args = cluster_args(network, key_arn)
    assert run_one(play, module, args)["changed"] is True
    aws.client("rds").stop_db_cluster(DBClusterIdentifier=NAME)
    result = check(aws, "rds_cluster", args)
    assert result["resource"]["status"] in ("stopped", "stopping")
    assert result["in_sync"] is False and result["differences"] == ["state"]
