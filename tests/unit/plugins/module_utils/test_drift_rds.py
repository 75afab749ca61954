"""The RDS drift kinds: whether amazon.aws.rds_subnet_group / rds_cluster would change nothing, with fake clients."""

import copy

import botocore.exceptions
import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import drift_rds
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import validated
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput

ACCOUNT = "123456789012"
GROUP_ARN = "arn:aws:rds:us-east-1:{0}:subgrp:mlflow".format(ACCOUNT)
CLUSTER_ARN = "arn:aws:rds:us-east-1:{0}:cluster:mlflow".format(ACCOUNT)
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
SG = "sg-0123456789abcdef0"
OTHER_SG = "sg-0fedcba9876543210"
KEY_ARN = "arn:aws:kms:us-east-1:{0}:key/11111111-2222-3333-4444-555555555555".format(ACCOUNT)
TAGS = {"application": "mlflow"}
OMIT = object()  # leaves an option out of a spec, as `default(omit)` does


def tag_list(tags):
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


class FakeRds(object):
    """An RDS client holding one subnet group and one cluster (None: missing); records the calls."""

    def __init__(self, group=None, cluster=None, tags=None):
        self.group = group
        self.cluster = cluster
        self.tags = dict(tags or {})
        self.calls = []

    def _not_found(self, code, operation):
        return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "not found"}}, operation)

    def describe_db_subnet_groups(self, aws_retry=False, **kwargs):
        self.calls.append(("DescribeDBSubnetGroups", aws_retry, kwargs))
        if self.group is None or kwargs["DBSubnetGroupName"] != self.group["DBSubnetGroupName"]:
            raise self._not_found("DBSubnetGroupNotFoundFault", "DescribeDBSubnetGroups")
        return {"DBSubnetGroups": [copy.deepcopy(self.group)]}

    def describe_db_clusters(self, aws_retry=False, **kwargs):
        self.calls.append(("DescribeDBClusters", aws_retry, kwargs))
        if self.cluster is None or kwargs["DBClusterIdentifier"] != self.cluster["DBClusterIdentifier"]:
            raise self._not_found("DBClusterNotFoundFault", "DescribeDBClusters")
        return {"DBClusters": [copy.deepcopy(self.cluster)]}

    def list_tags_for_resource(self, aws_retry=False, **kwargs):
        self.calls.append(("ListTagsForResource", aws_retry, kwargs))
        return {"TagList": tag_list(self.tags)}


def clients(rds):
    def client(service):
        assert service == "rds"
        return rds
    return client


def subnet_group(**changes):
    group = {
        "DBSubnetGroupName": "mlflow", "DBSubnetGroupDescription": "MLflow mlflow database", "VpcId": "vpc-1234",
        "SubnetGroupStatus": "Complete", "DBSubnetGroupArn": GROUP_ARN,
        "Subnets": [{"SubnetIdentifier": subnet, "SubnetStatus": "Active"} for subnet in reversed(SUBNETS)],
    }
    group.update(changes)
    return group


def group_params(**changes):
    spec = {"name": "mlflow", "description": "MLflow mlflow database", "subnets": list(SUBNETS), "tags": TAGS,
            "purge_tags": True, "state": "present"}
    spec.update(changes)
    return validated(drift_rds.SUBNET_GROUP_ARGUMENT_SPEC, spec, "rds_subnet_group")


def check_group(rds, **changes):
    return drift_rds.check_subnet_group(clients(rds), group_params(**changes))


def described_cluster(**changes):
    cluster = {
        "DBClusterIdentifier": "mlflow", "DBClusterArn": CLUSTER_ARN, "Status": "available",
        "Engine": "aurora-postgresql", "EngineVersion": "16.6", "EngineMode": "provisioned", "Port": 5432,
        "DatabaseName": "mlflow", "MasterUsername": "mlflow", "DBSubnetGroup": "mlflow",
        "Endpoint": "mlflow.cluster-abc.us-east-1.rds.amazonaws.com",
        "ReaderEndpoint": "mlflow.cluster-ro-abc.us-east-1.rds.amazonaws.com",
        "VpcSecurityGroups": [{"VpcSecurityGroupId": SG, "Status": "active"}],
        "StorageEncrypted": True, "KmsKeyId": KEY_ARN, "BackupRetentionPeriod": 7,
        "PreferredBackupWindow": "03:00-04:00", "DeletionProtection": True, "CopyTagsToSnapshot": True,
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 2.0},
    }
    cluster.update(changes)
    return cluster


def cluster_params(**changes):
    spec = {
        "db_cluster_identifier": "mlflow", "engine": "aurora-postgresql", "engine_version": "16.6",
        "engine_mode": "provisioned", "serverless_v2_scaling_configuration": {"min_capacity": "0.5", "max_capacity": 2},
        "database_name": "mlflow", "master_username": "mlflow", "master_user_password": "s3cret-password",
        "force_update_password": False, "port": "5432", "db_subnet_group_name": "mlflow",
        "vpc_security_group_ids": [SG], "purge_security_groups": False, "storage_encrypted": True,
        "kms_key_id": KEY_ARN, "backup_retention_period": "7", "preferred_backup_window": "03:00-04:00",
        "deletion_protection": True, "copy_tags_to_snapshot": True, "apply_immediately": True, "tags": TAGS,
        "purge_tags": True, "wait": False, "state": "present",
    }
    spec.update(changes)
    spec = dict((key, value) for key, value in spec.items() if value is not OMIT)
    return validated(drift_rds.CLUSTER_ARGUMENT_SPEC, spec, "rds_cluster")


def check_cluster(rds, **changes):
    return drift_rds.check_cluster(clients(rds), cluster_params(**changes))


# --- the kinds ------------------------------------------------------------------------------------------------------

def test_kinds_are_exported():
    assert drift_rds.KINDS == {
        "rds_subnet_group": (drift_rds.SUBNET_GROUP_ARGUMENT_SPEC, drift_rds.check_subnet_group),
        "rds_cluster": (drift_rds.CLUSTER_ARGUMENT_SPEC, drift_rds.check_cluster),
    }


def test_specs_have_the_acting_modules_defaults():
    group = validated(drift_rds.SUBNET_GROUP_ARGUMENT_SPEC, {"name": "x"}, "g")
    assert group["purge_tags"] is True and group["tags"] is None and group["state"] == "present"
    cluster = validated(drift_rds.CLUSTER_ARGUMENT_SPEC, {"db_cluster_identifier": "x"}, "c")
    assert cluster["backup_retention_period"] == 1 and cluster["purge_security_groups"] is True
    assert cluster["purge_tags"] is True and cluster["force_update_password"] is False
    assert cluster["apply_immediately"] is False and cluster["wait"] is True and cluster["state"] == "present"


@pytest.mark.parametrize("spec", [
    {"db_cluster_identifier": "x", "state": "absent"},
    {"db_cluster_identifier": "x", "creation_source": "snapshot"},
    {"engine": "aurora-postgresql"},
    {"db_cluster_identifier": "x", "port": "not a port"},
])
def test_cluster_spec_refuses_what_the_kind_does_not_compare(spec):
    with pytest.raises(InvalidInput):
        validated(drift_rds.CLUSTER_ARGUMENT_SPEC, spec, "rds_cluster")


# --- rds_subnet_group -----------------------------------------------------------------------------------------------

def test_subnet_group_in_sync():
    rds = FakeRds(group=subnet_group(), tags=TAGS)
    result = check_group(rds)
    assert result == {"exists": True, "in_sync": True, "differences": [],
                      "resource": {"name": "mlflow", "arn": GROUP_ARN, "vpc_id": "vpc-1234"}}
    assert all(call[1] is True for call in rds.calls)
    assert rds.calls[-1] == ("ListTagsForResource", True, {"ResourceName": GROUP_ARN})


def test_subnet_group_name_is_looked_up_lowercased():
    assert check_group(FakeRds(group=subnet_group(), tags=TAGS), name="MLflow")["in_sync"]


def test_subnet_group_missing():
    result = check_group(FakeRds())
    assert result == {"exists": False, "in_sync": False, "differences": ["exists"], "resource": {}}


def test_subnet_group_other_errors_propagate():
    class Failing(FakeRds):
        def describe_db_subnet_groups(self, aws_retry=False, **kwargs):
            raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Describe")
    with pytest.raises(botocore.exceptions.ClientError):
        check_group(Failing())


@pytest.mark.parametrize("group_changes, param_changes, field", [
    ({"DBSubnetGroupDescription": "other"}, {}, "description"),
    ({}, {"description": None}, "description"),
    ({"Subnets": [{"SubnetIdentifier": SUBNETS[0]}]}, {}, "subnets"),
    ({}, {"subnets": SUBNETS + ["subnet-3"]}, "subnets"),
    ({}, {"subnets": None}, "subnets"),
    ({}, {"tags": {"application": "other"}}, "tags"),
    ({}, {"tags": {"application": "mlflow", "team": "ml"}}, "tags"),
])
def test_subnet_group_differences(group_changes, param_changes, field):
    result = check_group(FakeRds(group=subnet_group(**group_changes), tags=TAGS), **param_changes)
    assert result["exists"] and not result["in_sync"] and result["differences"] == [field]


def test_subnet_group_tag_purge_semantics():
    rds = FakeRds(group=subnet_group(), tags={"application": "mlflow", "extra": "x"})
    assert check_group(rds)["differences"] == ["tags"]
    assert check_group(rds, purge_tags=False)["in_sync"]
    # No tags given: the module leaves them alone and does not even read them.
    rds.calls = []
    assert check_group(rds, tags=None)["in_sync"]
    assert [call[0] for call in rds.calls] == ["DescribeDBSubnetGroups"]
    # Empty tags with purge remove every tag.
    assert check_group(rds, tags={})["differences"] == ["tags"]
    assert check_group(rds, tags={}, purge_tags=False)["in_sync"]


def test_subnet_group_differences_name_options_only():
    rds = FakeRds(group=subnet_group(DBSubnetGroupDescription="old"), tags={"secret": "value"})
    result = check_group(rds, description="new", tags={"secret": "other"})
    assert result["differences"] == ["description", "tags"]
    assert "other" not in repr(result) and "new" not in repr(result["differences"])


# --- rds_cluster ----------------------------------------------------------------------------------------------------

def test_cluster_in_sync():
    rds = FakeRds(cluster=described_cluster(), tags=TAGS)
    result = check_cluster(rds)
    assert result == {"exists": True, "in_sync": True, "differences": [], "resource": {
        "db_cluster_identifier": "mlflow", "endpoint": "mlflow.cluster-abc.us-east-1.rds.amazonaws.com",
        "reader_endpoint": "mlflow.cluster-ro-abc.us-east-1.rds.amazonaws.com", "port": 5432,
        "db_cluster_arn": CLUSTER_ARN, "status": "available"}}
    assert [call[0] for call in rds.calls] == ["DescribeDBClusters", "ListTagsForResource"]
    assert rds.calls[0] == ("DescribeDBClusters", True, {"DBClusterIdentifier": "mlflow"})
    assert "s3cret" not in repr(result)


def test_cluster_identifier_is_lowercased():
    assert check_cluster(FakeRds(cluster=described_cluster(), tags=TAGS), db_cluster_identifier="MLflow")["in_sync"]


def test_cluster_missing():
    result = check_cluster(FakeRds(cluster=None))
    assert result == {"exists": False, "in_sync": False, "differences": ["exists"], "resource": {}}


@pytest.mark.parametrize("cluster_changes, param_changes, field", [
    ({"BackupRetentionPeriod": 1}, {}, "backup_retention_period"),
    # The module's default (1) is compared even when the option is not given.
    ({}, {"backup_retention_period": OMIT}, "backup_retention_period"),
    ({"PreferredBackupWindow": "05:00-06:00"}, {}, "preferred_backup_window"),
    ({"DeletionProtection": False}, {}, "deletion_protection"),
    ({"CopyTagsToSnapshot": False}, {}, "copy_tags_to_snapshot"),
    ({"Port": 5433}, {}, "port"),
    # A minor version upgraded by AWS: the module sends the older EngineVersion.
    ({"EngineVersion": "16.8"}, {}, "engine_version"),
    ({}, {"engine_version": "16"}, "engine_version"),
    ({"EngineMode": "serverless"}, {}, "engine_mode"),
    ({"ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 4.0}}, {},
     "serverless_v2_scaling_configuration"),
    ({"ServerlessV2ScalingConfiguration": {"MinCapacity": 1.0, "MaxCapacity": 2.0}}, {},
     "serverless_v2_scaling_configuration"),
    # Extra keys described (auto-pause) make the module's dict comparison differ.
    ({"ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 2.0, "SecondsUntilAutoPause": 300}},
     {}, "serverless_v2_scaling_configuration"),
    ({}, {"serverless_v2_scaling_configuration": {"min_capacity": 0.5}}, "serverless_v2_scaling_configuration"),
    ({"VpcSecurityGroups": [{"VpcSecurityGroupId": OTHER_SG}]}, {}, "vpc_security_group_ids"),
    ({}, {"force_update_password": True}, "master_user_password"),
    ({}, {"tags": {"application": "other"}}, "tags"),
    ({"Status": "stopped"}, {}, "state"),
    ({"Status": "deleting"}, {}, "state"),
    ({"Status": "inaccessible-encryption-credentials"}, {}, "state"),
    ({}, {"engine": "postgres"}, "engine"),
])
def test_cluster_differences(cluster_changes, param_changes, field):
    result = check_cluster(FakeRds(cluster=described_cluster(**cluster_changes), tags=TAGS), **param_changes)
    assert result["exists"] and not result["in_sync"] and result["differences"] == [field]


@pytest.mark.parametrize("key", ["BackupRetentionPeriod", "PreferredBackupWindow", "DeletionProtection",
                                 "CopyTagsToSnapshot", "EngineVersion", "Port", "EngineMode",
                                 "ServerlessV2ScalingConfiguration", "VpcSecurityGroups"])
def test_cluster_missing_described_values_count_as_differences(key):
    cluster = described_cluster()
    del cluster[key]
    assert not check_cluster(FakeRds(cluster=cluster, tags=TAGS))["in_sync"]


@pytest.mark.parametrize("param_changes", [
    {"preferred_backup_window": OMIT}, {"deletion_protection": OMIT}, {"copy_tags_to_snapshot": OMIT},
    {"port": OMIT}, {"engine_version": OMIT}, {"engine_mode": OMIT}, {"serverless_v2_scaling_configuration": OMIT},
    {"vpc_security_group_ids": OMIT}, {"vpc_security_group_ids": []}, {"preferred_backup_window": None},
])
def test_cluster_options_not_given_are_not_compared(param_changes):
    cluster = described_cluster(PreferredBackupWindow="09:00-10:00", DeletionProtection=False, Port=3306,
                                CopyTagsToSnapshot=False, EngineVersion="15.4", EngineMode="serverless",
                                ServerlessV2ScalingConfiguration={"MinCapacity": 8.0, "MaxCapacity": 16.0},
                                VpcSecurityGroups=[{"VpcSecurityGroupId": OTHER_SG}])
    option = list(param_changes)[0]
    result = check_cluster(FakeRds(cluster=cluster, tags=TAGS), **param_changes)
    assert option not in result["differences"]


@pytest.mark.parametrize("cluster_changes", [
    {"Engine": "aurora-mysql"}, {"DatabaseName": "other"}, {"MasterUsername": "admin"}, {"DBSubnetGroup": "other"},
    {"StorageEncrypted": False}, {"KmsKeyId": "arn:aws:kms:us-east-1:{0}:key/other".format(ACCOUNT)},
])
def test_cluster_creation_only_options_are_not_compared_as_the_module_does(cluster_changes):
    # amazon.aws.rds_cluster's get_modify_options has none of these: it never modifies them.
    assert check_cluster(FakeRds(cluster=described_cluster(**cluster_changes), tags=TAGS))["in_sync"]


def test_cluster_password_is_never_compared_without_force():
    assert check_cluster(FakeRds(cluster=described_cluster(), tags=TAGS), master_user_password="other")["in_sync"]
    assert check_cluster(FakeRds(cluster=described_cluster(), tags=TAGS), master_user_password=None)["in_sync"]


@pytest.mark.parametrize("status", ["available", "creating", "backing-up", "modifying", "upgrading"])
def test_cluster_settled_statuses_can_be_in_sync(status):
    assert check_cluster(FakeRds(cluster=described_cluster(Status=status), tags=TAGS))["in_sync"]


def test_cluster_security_group_purge_semantics():
    both = [{"VpcSecurityGroupId": SG}, {"VpcSecurityGroupId": OTHER_SG}]
    rds = FakeRds(cluster=described_cluster(VpcSecurityGroups=both), tags=TAGS)
    # Without purge: only a provided group that is missing matters.
    assert check_cluster(rds)["in_sync"]
    assert check_cluster(rds, vpc_security_group_ids=[OTHER_SG, SG])["in_sync"]
    assert check_cluster(rds, vpc_security_group_ids=[SG, "sg-new"])["differences"] == ["vpc_security_group_ids"]
    # With purge the module sends the groups on every run, even when they are equal.
    assert check_cluster(rds, purge_security_groups=True)["differences"] == ["vpc_security_group_ids"]
    assert check_cluster(rds, purge_security_groups=True,
                         vpc_security_group_ids=[SG, OTHER_SG])["differences"] == ["vpc_security_group_ids"]
    assert check_cluster(rds, purge_security_groups=True, vpc_security_group_ids=None)["in_sync"]


def test_cluster_tag_purge_semantics():
    rds = FakeRds(cluster=described_cluster(), tags={"application": "mlflow", "extra": "x"})
    assert check_cluster(rds)["differences"] == ["tags"]
    assert check_cluster(rds, purge_tags=False)["in_sync"]
    rds.calls = []
    assert check_cluster(rds, tags=None)["in_sync"]
    assert [call[0] for call in rds.calls] == ["DescribeDBClusters"]
    assert check_cluster(rds, tags={})["differences"] == ["tags"]


def test_cluster_several_differences_are_sorted_names():
    cluster = described_cluster(BackupRetentionPeriod=1, DeletionProtection=False, Status="stopped")
    result = check_cluster(FakeRds(cluster=cluster, tags={}), purge_security_groups=True)
    assert result["differences"] == ["backup_retention_period", "deletion_protection", "state", "tags",
                                     "vpc_security_group_ids"]
    assert result["resource"]["status"] == "stopped"
