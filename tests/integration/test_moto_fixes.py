"""The proving ground's corrections of moto 5.2.5 (``tests/proving_ground/moto_fixes.py``).

Each test asks the same thing twice: of moto alone (a plain moto server in this process, without the
proving ground's overlays) to show that moto still answers wrongly, and of the proving ground to show
that it answers as AWS does. When a moto release fixes a bug, the first half of its test fails: drop
the correction and the test.

The ``*_module_*`` tests run the amazon.aws / community.aws module that the bug broke, twice, against
the proving ground: the first run creates, the second changes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from proving_ground import model_check

ACCOUNT_ID = "123456789012"  # moto's default account


class RawMoto:
    """A moto server without the proving ground around it. Its clients do not retry: moto's 500s are
    what some tests expect."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def client(self, service: str):
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                             region_name="us-east-1").client(
            service, endpoint_url=self.endpoint, config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture(scope="module")
def raw_moto():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield RawMoto(f"http://{host}:{port}")
    server.stop()


def unique(prefix: str) -> str:
    """A name no other test uses: the raw moto server keeps its state for the whole module."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def network(ec2, dns_hostnames: bool = False):
    """A VPC with two subnets in two zones and a security group; CreateVpc leaves DNS hostnames off."""
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    if dns_hostnames:
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{index}.0/24",
                                 AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
               for index, zone in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName=unique("sg"), Description="tasks", VpcId=vpc)["GroupId"]
    return vpc, subnets, group


def raw_answers(client, operation: str) -> list:
    """Record the raw JSON bodies that ``client`` receives for ``operation`` (to check them against
    botocore's model, which boto3's parsing would hide)."""
    bodies = []
    client.meta.events.register(
        f"after-call.{client.meta.service_model.service_name}.{operation}",
        lambda http_response, **_: bodies.append(json.loads(http_response.content or b"{}")))
    return bodies


def assert_matches_model(client, operation: str, document) -> None:
    problems = model_check.validate_output(client.meta.service_model.operation_model(operation), document)
    assert not problems, [str(problem) for problem in problems]


def run_playbook_twice(aws, tmp_path: Path, tasks: str) -> tuple[dict, dict]:
    """Run a playbook of ``tasks`` twice against the proving ground; each run's task results by name."""
    playbook = tmp_path / "playbook.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + tasks)
    env = aws.child_environment(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    runs = []
    for dummy in range(2):
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert finished.returncode == 0, finished.stdout[-6000:] + finished.stderr[-3000:]
        report = json.loads(finished.stdout[finished.stdout.index("{"):])
        runs.append({task["task"]["name"]: task["hosts"]["localhost"]
                     for play in report["plays"] for task in play["tasks"]})
    return runs[0], runs[1]


# ECS clusters: capacityProviders and defaultCapacityProviderStrategy

def test_ecs_cluster_answers_list_no_capacity_providers_as_empty_lists(aws, raw_moto):
    name = unique("cluster")
    moto_ecs = raw_moto.client("ecs")
    created = moto_ecs.create_cluster(clusterName=name)["cluster"]
    described = moto_ecs.describe_clusters(clusters=[name])["clusters"][0]
    for cluster in (created, described):
        assert "capacityProviders" not in cluster and "defaultCapacityProviderStrategy" not in cluster

    ecs = aws.client("ecs")
    answers = {
        "CreateCluster": ecs.create_cluster(clusterName=name)["cluster"],
        "DescribeClusters": ecs.describe_clusters(clusters=[name])["clusters"][0],
        "UpdateCluster": ecs.update_cluster(
            cluster=name, settings=[{"name": "containerInsights", "value": "enabled"}])["cluster"],
    }
    for operation, cluster in answers.items():
        assert (cluster["capacityProviders"], cluster["defaultCapacityProviderStrategy"]) == ([], []), operation

    # Providers that are set stay as they are.
    strategy = [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    put = ecs.put_cluster_capacity_providers(cluster=name, capacityProviders=["FARGATE"],
                                             defaultCapacityProviderStrategy=strategy)["cluster"]
    described = ecs.describe_clusters(clusters=[name])["clusters"][0]
    for cluster in (put, described):
        assert (cluster["capacityProviders"], cluster["defaultCapacityProviderStrategy"]) == (["FARGATE"], strategy)
    emptied = ecs.put_cluster_capacity_providers(cluster=name, capacityProviders=[],
                                                 defaultCapacityProviderStrategy=[])["cluster"]
    deleted = ecs.delete_cluster(cluster=name)["cluster"]
    for cluster in (emptied, deleted):
        assert (cluster["capacityProviders"], cluster["defaultCapacityProviderStrategy"]) == ([], [])
    assert deleted["status"] == "INACTIVE"


@pytest.mark.slow
def test_ecs_cluster_module_second_run_changes_nothing(aws, tmp_path):
    first, second = run_playbook_twice(aws, tmp_path, """
    - name: cluster
      community.aws.ecs_cluster: {name: mlflow-cluster, state: present}
""")
    assert first["cluster"]["changed"] is True
    assert second["cluster"]["changed"] is False
    assert second["cluster"]["cluster"]["capacityProviders"] == []


# ECS services: what CreateService was given

def _service_fixture(ecs, ec2, elbv2):
    vpc, subnets, group = network(ec2)
    cluster = unique("cluster")
    ecs.create_cluster(clusterName=cluster)
    definition = ecs.register_task_definition(
        family=unique("mlflow"), networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", containerDefinitions=[{"name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v3.18.0-full",
                                             "portMappings": [{"containerPort": 5000}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    target_group = elbv2.create_target_group(Name=unique("tg"), Protocol="HTTP", Port=5000, VpcId=vpc,
                                             TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    return dict(
        cluster=cluster, taskDefinition=definition, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group],
                                                      "assignPublicIp": "DISABLED"}},
        loadBalancers=[{"targetGroupArn": target_group, "containerName": "mlflow", "containerPort": 5000}],
    )


GIVEN_SERVICE_SETTINGS = {
    "healthCheckGracePeriodSeconds": 120,
    "enableExecuteCommand": True,
    "enableECSManagedTags": True,
    "placementConstraints": [],
    "placementStrategy": [],
    "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 50,
                                "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
}


def test_ecs_create_service_keeps_what_it_was_given(aws, raw_moto):
    moto_ecs = raw_moto.client("ecs")
    request = _service_fixture(moto_ecs, raw_moto.client("ec2"), raw_moto.client("elbv2"))
    created = moto_ecs.create_service(serviceName="mlflow", **request, **GIVEN_SERVICE_SETTINGS)["service"]
    described = moto_ecs.describe_services(cluster=request["cluster"], services=["mlflow"])["services"][0]
    for service in (created, described):
        assert not set(GIVEN_SERVICE_SETTINGS) & set(service)

    ecs = aws.client("ecs")
    request = _service_fixture(ecs, aws.client("ec2"), aws.client("elbv2"))
    created = ecs.create_service(serviceName="mlflow", **request, **GIVEN_SERVICE_SETTINGS)["service"]
    described = ecs.describe_services(cluster=request["cluster"], services=["mlflow"])["services"][0]
    for service in (created, described):
        assert {name: service[name] for name in GIVEN_SERVICE_SETTINGS} == GIVEN_SERVICE_SETTINGS

    updated = ecs.update_service(cluster=request["cluster"], service="mlflow",
                                 healthCheckGracePeriodSeconds=300)["service"]
    described = ecs.describe_services(cluster=request["cluster"], services=["mlflow"])["services"][0]
    for service in (updated, described):
        assert service["healthCheckGracePeriodSeconds"] == 300
        assert service["enableExecuteCommand"] is True


def test_ecs_create_service_reports_aws_defaults_for_what_it_was_not_given(aws):
    ecs = aws.client("ecs")
    request = _service_fixture(ecs, aws.client("ec2"), aws.client("elbv2"))
    created = ecs.create_service(serviceName="mlflow", **request)["service"]
    described = ecs.describe_services(cluster=request["cluster"], services=["mlflow"])["services"][0]
    for service in (created, described):
        assert {name: service[name] for name in GIVEN_SERVICE_SETTINGS} == {
            "healthCheckGracePeriodSeconds": 0,
            "enableExecuteCommand": False,
            "enableECSManagedTags": False,
            "placementConstraints": [],
            "placementStrategy": [],
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100},
        }


@pytest.mark.slow
def test_ecs_service_module_second_run_changes_nothing(aws, tmp_path):
    request = _service_fixture(aws.client("ecs"), aws.client("ec2"), aws.client("elbv2"))
    network_configuration = request["networkConfiguration"]["awsvpcConfiguration"]
    first, second = run_playbook_twice(aws, tmp_path, f"""
    - name: service
      community.aws.ecs_service:
        name: mlflow
        cluster: {request["cluster"]}
        state: present
        task_definition: "{request["taskDefinition"].rsplit("/", 1)[-1]}"
        desired_count: 1
        launch_type: FARGATE
        health_check_grace_period_seconds: 120
        enable_execute_command: true
        network_configuration:
          subnets: {json.dumps(network_configuration["subnets"])}
          security_groups: {json.dumps(network_configuration["securityGroups"])}
          assign_public_ip: false
        load_balancers: {json.dumps(request["loadBalancers"])}
""")
    assert first["service"]["changed"] is True
    assert second["service"]["changed"] is False
    assert second["service"]["service"]["healthCheckGracePeriodSeconds"] == 120


# RDS: the DB subnet group of Aurora cluster members

def _aurora_cluster(rds, ec2):
    dummy, subnets, group = network(ec2)
    subnet_group = unique("db-subnets")
    rds.create_db_subnet_group(DBSubnetGroupName=subnet_group, DBSubnetGroupDescription="mlflow",
                               SubnetIds=subnets)
    cluster = unique("mlflow")
    rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-postgresql", EngineVersion="16.4",
                          MasterUsername="mlflow", ManageMasterUserPassword=True, DBSubnetGroupName=subnet_group,
                          VpcSecurityGroupIds=[group],
                          ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 2})
    return cluster, subnet_group, subnets


def test_aurora_member_reports_its_clusters_subnet_group(aws, raw_moto):
    moto_rds = raw_moto.client("rds")
    cluster, dummy, dummy = _aurora_cluster(moto_rds, raw_moto.client("ec2"))
    created = moto_rds.create_db_instance(DBInstanceIdentifier=f"{cluster}-1", DBClusterIdentifier=cluster,
                                          Engine="aurora-postgresql", DBInstanceClass="db.serverless")["DBInstance"]
    described = moto_rds.describe_db_instances(DBInstanceIdentifier=f"{cluster}-1")["DBInstances"][0]
    assert "DBSubnetGroup" not in created and "DBSubnetGroup" not in described

    rds = aws.client("rds")
    cluster, subnet_group, subnets = _aurora_cluster(rds, aws.client("ec2"))
    created = rds.create_db_instance(DBInstanceIdentifier=f"{cluster}-1", DBClusterIdentifier=cluster,
                                     Engine="aurora-postgresql", DBInstanceClass="db.serverless")["DBInstance"]
    described = rds.describe_db_instances(DBInstanceIdentifier=f"{cluster}-1")["DBInstances"][0]
    expected = rds.describe_db_subnet_groups(DBSubnetGroupName=subnet_group)["DBSubnetGroups"][0]
    for instance in (created, described):
        assert instance["DBSubnetGroup"] == expected
        assert sorted(subnet["SubnetIdentifier"] for subnet in instance["DBSubnetGroup"]["Subnets"]) == sorted(subnets)
    assert rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["DBSubnetGroup"] == subnet_group


@pytest.mark.slow
def test_rds_instance_module_second_run_changes_nothing(aws, tmp_path):
    ec2 = aws.client("ec2")
    cluster, subnet_group, dummy = _aurora_cluster(aws.client("rds"), ec2)
    first, second = run_playbook_twice(aws, tmp_path, f"""
    - name: writer
      amazon.aws.rds_instance:
        id: {cluster}-1
        cluster_id: {cluster}
        engine: aurora-postgresql
        db_instance_class: db.serverless
        state: present
""")
    assert first["writer"]["changed"] is True
    assert second["writer"]["changed"] is False
    assert second["writer"]["db_subnet_group"]["db_subnet_group_name"] == subnet_group


# EFS: the legacy tag API

def test_efs_legacy_tag_api_is_served_from_the_same_tags(aws, raw_moto):
    moto_efs = raw_moto.client("efs")
    file_system = moto_efs.create_file_system(CreationToken=unique("efs"))["FileSystemId"]
    with pytest.raises(ClientError) as raised:
        moto_efs.describe_tags(FileSystemId=file_system)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert raised.value.response["Error"]["Code"] == "404"  # an HTML "Not Found" page, no error code

    efs = aws.client("efs")
    described = raw_answers(efs, "DescribeTags")
    file_system = efs.create_file_system(CreationToken=unique("efs"),
                                         Tags=[{"Key": "Name", "Value": "mlflow"}])["FileSystemId"]
    assert efs.describe_tags(FileSystemId=file_system)["Tags"] == [{"Key": "Name", "Value": "mlflow"}]

    created = efs.create_tags(FileSystemId=file_system, Tags=[{"Key": "Name", "Value": "mlflow-artifacts"},
                                                              {"Key": "team", "Value": "ml"}])
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 204
    expected = [{"Key": "Name", "Value": "mlflow-artifacts"}, {"Key": "team", "Value": "ml"}]
    assert sorted(efs.describe_tags(FileSystemId=file_system)["Tags"], key=str) == expected
    assert sorted(efs.list_tags_for_resource(ResourceId=file_system)["Tags"], key=str) == expected
    assert efs.describe_file_systems(FileSystemId=file_system)["FileSystems"][0]["Name"] == "mlflow-artifacts"

    efs.tag_resource(ResourceId=file_system, Tags=[{"Key": "cost-centre", "Value": "42"}])
    deleted = efs.delete_tags(FileSystemId=file_system, TagKeys=["team", "no-such-key"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert sorted(efs.describe_tags(FileSystemId=file_system)["Tags"], key=str) == [
        {"Key": "Name", "Value": "mlflow-artifacts"}, {"Key": "cost-centre", "Value": "42"}]
    for document in described:
        assert_matches_model(efs, "DescribeTags", document)


def test_efs_legacy_tag_api_refuses_unknown_file_systems(aws):
    efs = aws.client("efs")
    calls = {
        "DescribeTags": lambda: efs.describe_tags(FileSystemId="fs-0123456789abcdef0"),
        "CreateTags": lambda: efs.create_tags(FileSystemId="fs-0123456789abcdef0", Tags=[{"Key": "a", "Value": "b"}]),
        "DeleteTags": lambda: efs.delete_tags(FileSystemId="fs-0123456789abcdef0", TagKeys=["a"]),
    }
    for operation, call in calls.items():
        with pytest.raises(ClientError) as raised:
            call()
        error = raised.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 404, operation
        assert error["Error"] == {"Code": "FileSystemNotFound",
                                  "Message": "File system 'fs-0123456789abcdef0' does not exist."}, operation
        assert error["ErrorCode"] == "FileSystemNotFound", operation


def test_efs_describe_tags_pages_at_100(aws):
    efs = aws.client("efs")
    file_system = efs.create_file_system(CreationToken=unique("efs"))["FileSystemId"]
    # More tags than AWS allows on one file system (50): only moto's store lets a test reach a 2nd page.
    efs.tag_resource(ResourceId=file_system, Tags=[{"Key": f"k{index:03}", "Value": "v"} for index in range(120)])
    first = efs.describe_tags(FileSystemId=file_system, MaxItems=10)
    assert len(first["Tags"]) == 100 and "Marker" not in first
    second = efs.describe_tags(FileSystemId=file_system, Marker=first["NextMarker"])
    assert len(second["Tags"]) == 20 and second["Marker"] == first["NextMarker"] and "NextMarker" not in second
    with pytest.raises(ClientError) as raised:
        efs.describe_tags(FileSystemId=file_system, Marker="not-a-marker")
    assert raised.value.response["Error"]["Code"] == "BadRequest"
    pages = efs.get_paginator("describe_tags").paginate(FileSystemId=file_system)
    assert sorted(tag["Key"] for page in pages for tag in page["Tags"]) == [f"k{index:03}" for index in range(120)]


def test_efs_mount_target_without_security_groups_reports_the_vpcs_default_group(aws, raw_moto):
    moto_efs, moto_ec2 = raw_moto.client("efs"), raw_moto.client("ec2")
    dummy, subnets, dummy = network(moto_ec2)
    file_system = moto_efs.create_file_system(CreationToken=unique("efs"))["FileSystemId"]
    target = moto_efs.create_mount_target(FileSystemId=file_system, SubnetId=subnets[0])["MountTargetId"]
    assert "SecurityGroups" not in moto_efs.describe_mount_target_security_groups(MountTargetId=target)

    efs, ec2 = aws.client("efs"), aws.client("ec2")
    answers = raw_answers(efs, "DescribeMountTargetSecurityGroups")
    vpc, subnets, group = network(ec2)
    default_filters = [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    default_group = ec2.describe_security_groups(Filters=default_filters)
    file_system = efs.create_file_system(CreationToken=unique("efs"))["FileSystemId"]
    target = efs.create_mount_target(FileSystemId=file_system, SubnetId=subnets[0])
    assert efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"] == [
        default_group["SecurityGroups"][0]["GroupId"]]
    interface = ec2.describe_network_interfaces(NetworkInterfaceIds=[target["NetworkInterfaceId"]])
    assert [g["GroupId"] for g in interface["NetworkInterfaces"][0]["Groups"]] == [
        default_group["SecurityGroups"][0]["GroupId"]]
    # Groups that were given, and later changes, are reported as moto reports them.
    given = efs.create_mount_target(FileSystemId=file_system, SubnetId=subnets[1], SecurityGroups=[group])
    assert efs.describe_mount_target_security_groups(MountTargetId=given["MountTargetId"])["SecurityGroups"] == [group]
    efs.modify_mount_target_security_groups(MountTargetId=target["MountTargetId"], SecurityGroups=[group])
    assert efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"] == [group]
    for document in answers:
        assert_matches_model(efs, "DescribeMountTargetSecurityGroups", document)


@pytest.mark.slow
def test_efs_module_with_tags_second_run_changes_nothing(aws, tmp_path):
    dummy, subnets, dummy = network(aws.client("ec2"))
    first, second = run_playbook_twice(aws, tmp_path, f"""
    - name: file system
      community.aws.efs:
        name: mlflow-artifacts
        state: present
        encrypt: true
        tags: {{Name: mlflow-artifacts, team: ml}}
        targets: [{{subnet_id: {subnets[0]}}}, {{subnet_id: {subnets[1]}}}]
""")
    assert first["file system"]["changed"] is True
    assert second["file system"]["changed"] is False
    assert sorted(second["file system"]["efs"]["tags"], key=str) == [
        {"key": "Name", "value": "mlflow-artifacts"}, {"key": "team", "value": "ml"}]


# ECS RunTask for a Fargate task definition

def _fargate_task_definition(ecs, container_memory: bool = False) -> str:
    container = {"name": "mlflow-db-upgrade", "image": "ghcr.io/mlflow/mlflow:v3.18.0-full",
                 "command": ["mlflow", "db", "upgrade", "postgresql+psycopg2://db/mlflow"]}
    if container_memory:
        container["memory"] = 512
    return ecs.register_task_definition(
        family=unique("db-upgrade"), networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]


def _run(ecs, cluster, definition, subnets, group):
    return ecs.run_task(cluster=cluster, taskDefinition=definition, launchType="FARGATE", startedBy="ansible",
                        networkConfiguration={"awsvpcConfiguration": {
                            "subnets": subnets, "securityGroups": [group], "assignPublicIp": "DISABLED"}})


def test_run_task_starts_a_fargate_task_where_moto_fails(aws, raw_moto):
    moto_ecs = raw_moto.client("ecs")
    cluster = unique("cluster")
    moto_ecs.create_cluster(clusterName=cluster)
    dummy, subnets, group = network(raw_moto.client("ec2"))
    # Task-level memory only (the usual Fargate definition): moto's placement arithmetic fails.
    with pytest.raises(ClientError) as raised:
        _run(moto_ecs, cluster, _fargate_task_definition(moto_ecs), subnets, group)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # Container memory, but a VPC without DNS hostnames: moto fails on the ENI's private DNS name.
    with pytest.raises(ClientError) as raised:
        _run(moto_ecs, cluster, _fargate_task_definition(moto_ecs, container_memory=True), subnets, group)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500

    ecs = aws.client("ecs")
    answers = raw_answers(ecs, "RunTask")
    ecs.create_cluster(clusterName=cluster)
    dummy, subnets, group = network(aws.client("ec2"))
    definition = _fargate_task_definition(ecs)
    started = _run(ecs, cluster, definition, subnets, group)
    assert started["failures"] == []
    (task,) = started["tasks"]
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    assert task["taskArn"] == f"arn:aws:ecs:us-east-1:{ACCOUNT_ID}:task/{cluster}/{task_id}"
    assert (task["lastStatus"], task["desiredStatus"], task["cpu"], task["memory"]) == (
        "PROVISIONING", "RUNNING", "256", "512")
    assert (task["taskDefinitionArn"], task["launchType"], task["startedBy"]) == (definition, "FARGATE", "ansible")
    assert "createdAt" in task and "stoppedReason" not in task
    (attachment,) = task["attachments"]
    assert (attachment["type"], attachment["status"], attachment["details"]) == (
        "ElasticNetworkInterface", "PRECREATED", [{"name": "subnetId", "value": subnets[0]}])
    (container,) = task["containers"]
    assert container["lastStatus"] == "PENDING" and container["networkInterfaces"] == []
    assert "exitCode" not in container
    assert container["taskArn"] == task["taskArn"]
    assert container["containerArn"].startswith(f"arn:aws:ecs:us-east-1:{ACCOUNT_ID}:container/{cluster}/{task_id}/")
    assert_matches_model(ecs, "RunTask", answers[-1])

    assert ecs.list_tasks(cluster=cluster)["taskArns"] == [task["taskArn"]]
    described = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
    assert described["lastStatus"] == "PENDING"
    assert (described["createdAt"], described["cpu"], described["memory"]) == (
        task["createdAt"], "256", "512")
    assert described["containers"][0]["containerArn"] == container["containerArn"]
    (attachment,) = described["attachments"]
    details = {detail["name"]: detail["value"] for detail in attachment["details"]}
    assert attachment["status"] == "ATTACHED"
    # No DNS hostnames in this VPC: no privateDnsName, as in AWS's describe-tasks example.
    assert set(details) == {"subnetId", "networkInterfaceId", "macAddress", "privateIPv4Address"}
    interface = aws.client("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]])["NetworkInterfaces"][0]
    assert (interface["SubnetId"], interface["PrivateIpAddress"]) == (subnets[0], details["privateIPv4Address"])
    assert [ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]["lastStatus"]
            for dummy in range(2)] == ["ACTIVATING", "RUNNING"]


def test_run_task_in_a_vpc_with_dns_hostnames_names_the_private_dns_name(aws, raw_moto):
    # Here moto's RunTask works, but it answers with a task that is RUNNING the moment it is asked for.
    moto_ecs = raw_moto.client("ecs")
    cluster = unique("cluster")
    moto_ecs.create_cluster(clusterName=cluster)
    dummy, subnets, group = network(raw_moto.client("ec2"), dns_hostnames=True)
    task = _run(moto_ecs, cluster, _fargate_task_definition(moto_ecs, container_memory=True), subnets, group)["tasks"][0]
    assert (task["lastStatus"], task["attachments"][0]["status"], task["containers"][0]["exitCode"]) == (
        "RUNNING", "ATTACHED", 0)

    ecs = aws.client("ecs")
    cluster = unique("cluster")
    ecs.create_cluster(clusterName=cluster)
    dummy, subnets, group = network(aws.client("ec2"), dns_hostnames=True)
    task = _run(ecs, cluster, _fargate_task_definition(ecs, container_memory=True), subnets, group)["tasks"][0]
    assert task["lastStatus"] == "PROVISIONING"
    described = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
    details = {detail["name"]: detail["value"] for detail in described["attachments"][0]["details"]}
    assert details["privateDnsName"] == "ip-{}.ec2.internal".format(details["privateIPv4Address"].replace(".", "-"))


def test_list_task_definitions_honours_sort_and_pages(aws, raw_moto):
    """``familyPrefix`` + ``sort=DESC`` + ``maxResults=1`` is how a client asks for a family's latest
    revision: moto answers every revision, oldest first."""
    def register(ecs, family):
        for image in ("one", "two", "three"):
            ecs.register_task_definition(family=family, containerDefinitions=[{"name": "c", "image": image, "memory": 512}])

    moto_ecs = raw_moto.client("ecs")
    family = unique("family")
    register(moto_ecs, family)
    moto_answer = moto_ecs.list_task_definitions(familyPrefix=family, sort="DESC", maxResults=1)
    assert [arn.rsplit(":", 1)[-1] for arn in moto_answer["taskDefinitionArns"]] == ["1", "2", "3"]

    ecs = aws.client("ecs")
    register(ecs, "mlflow")
    register(ecs, "another")
    latest = ecs.list_task_definitions(familyPrefix="mlflow", sort="DESC", maxResults=1)
    assert [arn.rsplit("/", 1)[-1] for arn in latest["taskDefinitionArns"]] == ["mlflow:3"]
    assert "nextToken" in latest
    every = ecs.get_paginator("list_task_definitions").paginate(PaginationConfig={"PageSize": 2})
    names = [arn.rsplit("/", 1)[-1] for page in every for arn in page["taskDefinitionArns"]]
    assert names == ["another:1", "another:2", "another:3", "mlflow:1", "mlflow:2", "mlflow:3"]
    descending = ecs.list_task_definitions(sort="DESC")["taskDefinitionArns"]
    assert [arn.rsplit("/", 1)[-1] for arn in descending] == list(reversed(names))


def test_kms_key_state_changes_accept_a_key_arn(aws, raw_moto):
    moto_kms = raw_moto.client("kms")
    arn = moto_kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as raised:
        moto_kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500

    kms = aws.client("kms")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.disable_key(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)["KeyId"] == arn
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"


# S3 bucket policies on object requests

OTHER_ACCOUNT = "999999999999"


def _status_and_code(call) -> tuple:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


def _statements_that_do_not_apply(bucket_arn: str) -> list:
    """Two Deny statements that do not apply to this account's requests, and an Allow for a role."""
    return [
        {"Sid": "DenyOtherAccounts", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"],
         "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}},
        {"Sid": "DenyAnotherAccount", "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
         "Action": "s3:*", "Resource": f"{bucket_arn}/*"},
        {"Sid": "AllowTheRole", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/mlflow"},
         "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{bucket_arn}/*"},
    ]


def test_bucket_policy_statements_that_do_not_apply_do_not_deny(aws, raw_moto):
    """moto applies a Deny whatever its Condition and Principal say; S3 only when they match."""
    moto_s3 = raw_moto.client("s3")
    name = unique("policy-bucket")
    moto_s3.create_bucket(Bucket=name)
    moto_s3.put_bucket_policy(Bucket=name, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": _statements_that_do_not_apply(f"arn:aws:s3:::{name}")}))
    # moto: 403 without a body (botocore can only name the status).
    assert _status_and_code(lambda: moto_s3.put_object(Bucket=name, Key="k", Body=b"x")) == (403, "403")
    for statement in _statements_that_do_not_apply(f"arn:aws:s3:::{name}")[:2]:  # each one alone denies
        moto_s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
        assert _status_and_code(lambda: moto_s3.put_object(Bucket=name, Key="k", Body=b"x"))[0] == 403

    s3 = aws.client("s3")
    bucket = unique("policy-bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": _statements_that_do_not_apply(f"arn:aws:s3:::{bucket}")}))
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 1
    s3.delete_object(Bucket=bucket, Key="k")


def test_bucket_policy_deny_that_applies_denies_as_s3_words_it(aws, raw_moto):
    """An explicit Deny that matches still denies, with S3's AccessDenied; HeadObject is s3:GetObject."""
    def statements(bucket):
        return [{"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
                 "Resource": f"arn:aws:s3:::{bucket}/*"},
                {"Sid": "NoReadsOfSecrets", "Effect": "Deny", "Principal": {"AWS": ACCOUNT_ID}, "Action": "s3:GetObject",
                 "Resource": f"arn:aws:s3:::{bucket}/secret/*"}]

    moto_s3 = raw_moto.client("s3")
    name = unique("policy-bucket")
    moto_s3.create_bucket(Bucket=name)
    moto_s3.put_object(Bucket=name, Key="secret/k", Body=b"x")
    moto_s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements(name)}))
    assert _status_and_code(lambda: moto_s3.delete_object(Bucket=name, Key="secret/k")) == (403, "403")
    # moto authorizes HEAD as "s3:HeadObject", an action no policy names: the Deny of s3:GetObject misses it.
    assert moto_s3.head_object(Bucket=name, Key="secret/k")["ContentLength"] == 1

    s3 = aws.client("s3")
    bucket = unique("policy-bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret/k", Body=b"x")
    s3.put_object(Bucket=bucket, Key="public/k", Body=b"y")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements(bucket)}))
    assert _status_and_code(lambda: s3.delete_object(Bucket=bucket, Key="public/k")) == (403, "AccessDenied")
    assert _status_and_code(lambda: s3.get_object(Bucket=bucket, Key="secret/k")) == (403, "AccessDenied")
    assert _status_and_code(lambda: s3.head_object(Bucket=bucket, Key="secret/k")) == (403, "403")  # HEAD: no body
    assert s3.get_object(Bucket=bucket, Key="public/k")["Body"].read() == b"y"
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "public/k"}]})
    assert [(error["Key"], error["Code"]) for error in deleted["Errors"]] == [("public/k", "AccessDenied")]
    errors = [entry for entry in aws.control.requests() if entry["error_code"] == "AccessDenied"]
    assert {entry["operation"] for entry in errors} == {"DeleteObject", "GetObject"}


def test_bucket_policy_knows_who_asks(aws):
    """The requester is the access key's identity: an assumed role's session, else the account's root."""
    iam, sts, s3 = aws.client("iam"), aws.client("sts"), aws.client("s3")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID},
                                                     "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="mlflow-writer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    bucket = unique("policy-bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "OnlyTheWriterWrites", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*", "Condition": {"ArnNotEquals": {"aws:PrincipalArn": role}}}]}))
    assert _status_and_code(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x")) == (403, "AccessDenied")
    credentials = sts.assume_role(RoleArn=role, RoleSessionName="deploy")["Credentials"]
    writer = boto3.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                           aws_session_token=credentials["SessionToken"], region_name="us-east-1").client(
        "s3", endpoint_url=aws.endpoint)
    writer.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


# Load balancer attributes: AWS's defaults


def test_load_balancer_attributes_carry_aws_defaults(aws):
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc, subnets, group = network(ec2)
    arn = elbv2.create_load_balancer(Name=unique("lb"), Subnets=subnets, SecurityGroups=[group], Scheme="internal",
                                     Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    attributes = {item["Key"]: item["Value"] for item in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == "60"
    assert attributes["access_logs.s3.enabled"] == "false"
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "300"}])
    attributes = {item["Key"]: item["Value"] for item in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == "300"
    assert vpc


# ECS services: availabilityZoneRebalancing


def test_ecs_service_keeps_its_availability_zone_rebalancing(aws):
    ecs = aws.client("ecs")
    request = _service_fixture(ecs, aws.client("ec2"), aws.client("elbv2"))
    created = ecs.create_service(serviceName="rebalanced", availabilityZoneRebalancing="ENABLED", **request)["service"]
    assert created["availabilityZoneRebalancing"] == "ENABLED"
    described = ecs.describe_services(cluster=request["cluster"], services=["rebalanced"])["services"][0]
    assert described["availabilityZoneRebalancing"] == "ENABLED"
    updated = ecs.update_service(cluster=request["cluster"], service="rebalanced", availabilityZoneRebalancing="DISABLED")["service"]
    assert updated["availabilityZoneRebalancing"] == "DISABLED"
    described = ecs.describe_services(cluster=request["cluster"], services=["rebalanced"])["services"][0]
    assert described["availabilityZoneRebalancing"] == "DISABLED"
    plain = ecs.create_service(serviceName="plain", **request)["service"]
    assert "availabilityZoneRebalancing" not in plain
