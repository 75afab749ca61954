"""The proving ground itself: moto behind the control API, the request log, the latency model and
the fault mode, as boto3 and ansible-playbook see them."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]


def _network(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{index}.0/24",
                                 AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
               for index, zone in ((1, "a"), (2, "b"))]
    return vpc, subnets


def test_aws_managed_policies_are_loaded(aws):
    policy = aws.client("iam").get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    assert policy["Policy"]["PolicyName"] == "AmazonS3ReadOnlyAccess"


def test_control_api_refuses_bad_settings(aws):
    with pytest.raises(RuntimeError, match="fault_rate must be between 0 and 1"):
        aws.control.configure(fault_rate=3)
    assert aws.control.settings()["fault_rate"] == 0.0


def test_reset_forgets_every_resource(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="forgotten-bucket")
    aws.control.reset()
    assert s3.list_buckets()["Buckets"] == []


def test_request_log_records_service_operation_status_and_duration(aws):
    s3 = aws.client("s3")
    start = aws.control.last_request_id()
    s3.create_bucket(Bucket="logged-bucket")
    s3.list_buckets()
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="no-such-bucket")
    entries = aws.control.requests(since=start)
    assert [(e["service"], e["operation"], e["status"], e["mutating"]) for e in entries] == [
        ("s3", "CreateBucket", 200, True),
        ("s3", "ListBuckets", 200, False),
        ("s3", "HeadBucket", 404, False),
    ]
    assert all(entry["duration_ms"] > 0 for entry in entries)
    assert [entry["operation"] for entry in aws.control.mutating_requests(since=start)] == ["CreateBucket"]


def test_request_log_carries_error_codes(aws):
    start = aws.control.last_request_id()
    with pytest.raises(ClientError):
        aws.client("rds").describe_db_clusters(DBClusterIdentifier="missing")
    (entry,) = aws.control.requests(since=start)
    assert entry["error_code"] == "DBClusterNotFoundFault"


@pytest.mark.slow
def test_latency_model_aurora_cluster_and_instance(aws):
    aws.control.configure(latency_scale=1, latency_overrides={"rds:CreateDBCluster": 2,
                                                              "rds:CreateDBInstance": 3})
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="Aurora-1", Engine="aurora-postgresql", MasterUsername="mlflow",
                          ManageMasterUserPassword=True,
                          ServerlessV2ScalingConfiguration={"MinCapacity": 0, "MaxCapacity": 2})
    assert rds.describe_db_clusters(DBClusterIdentifier="aurora-1")["DBClusters"][0]["Status"] == "creating"
    rds.create_db_instance(DBInstanceIdentifier="aurora-1-a", DBClusterIdentifier="aurora-1",
                           DBInstanceClass="db.serverless", Engine="aurora-postgresql")
    assert rds.describe_db_instances()["DBInstances"][0]["DBInstanceStatus"] == "creating"
    started = time.monotonic()
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="aurora-1-a",
                                                 WaiterConfig={"Delay": 0.5, "MaxAttempts": 20})
    assert 2 < time.monotonic() - started < 6
    assert rds.describe_db_clusters()["DBClusters"][0]["Status"] == "available"


@pytest.mark.slow
def test_latency_model_load_balancer_and_parallel_waits(aws):
    """Two load balancers provision at once: waiting for both takes one phase, not two."""
    aws.control.configure(latency_scale=1, latency_overrides={"elbv2:CreateLoadBalancer": 2})
    dummy, subnets = _network(aws)
    elbv2 = aws.client("elbv2")
    arns = [elbv2.create_load_balancer(Name=name, Subnets=subnets, Scheme="internal")["LoadBalancers"][0]
            ["LoadBalancerArn"] for name in ("lb-one", "lb-two")]
    states = {lb["LoadBalancerArn"]: lb["State"]["Code"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
    assert set(states.values()) == {"provisioning"}
    started = time.monotonic()
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=arns,
                                                     WaiterConfig={"Delay": 0.25, "MaxAttempts": 40})
    assert 1.5 < time.monotonic() - started < 3.9


@pytest.mark.slow
def test_latency_model_ecs_service_becomes_stable(aws):
    aws.control.configure(latency_scale=1, latency_overrides={"ecs:CreateService": 1.5})
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="mlflow")
    ecs.register_task_definition(family="mlflow", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="512", memory="1024",
                                 containerDefinitions=[{"name": "mlflow", "image": "mlflow", "essential": True}])
    ecs.create_service(cluster="mlflow", serviceName="mlflow", taskDefinition="mlflow", desiredCount=2,
                       launchType="FARGATE")
    service = ecs.describe_services(cluster="mlflow", services=["mlflow"])["services"][0]
    assert (service["runningCount"], service["deployments"][0]["rolloutState"]) == (0, "IN_PROGRESS")
    started = time.monotonic()
    ecs.get_waiter("services_stable").wait(cluster="mlflow", services=["mlflow"],
                                           WaiterConfig={"Delay": 0.25, "MaxAttempts": 40})
    assert time.monotonic() - started > 1
    service = ecs.describe_services(cluster="mlflow", services=["mlflow"])["services"][0]
    assert (service["runningCount"], service["pendingCount"]) == (2, 0)
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"


def test_without_latency_everything_is_ready_at_once(aws):
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="quick", Engine="aurora-mysql", MasterUsername="mlflow",
                          MasterUserPassword="a-long-password")
    assert rds.describe_db_clusters(DBClusterIdentifier="quick")["DBClusters"][0]["Status"] == "available"
    efs = aws.client("efs")
    file_system = efs.create_file_system(CreationToken="quick", Encrypted=True)
    described = efs.describe_file_systems(FileSystemId=file_system["FileSystemId"])["FileSystems"][0]
    assert described["LifeCycleState"] == "available"


@pytest.mark.parametrize("service, call, code", [
    ("sts", lambda c: c.get_caller_identity(), "Throttling"),
    ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded"),
    ("s3", lambda c: c.list_buckets(), "SlowDown"),
    ("ecs", lambda c: c.list_clusters(), "ThrottlingException"),
])
def test_fault_mode_throttles_at_the_configured_rate(aws, service, call, code):
    aws.control.configure(fault_rate=0.3, fault_seed=11)
    client = aws.client(service, retries=1)
    codes = []
    for dummy in range(150):
        try:
            call(client)
            codes.append(None)
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])
    share = sum(c is not None for c in codes) / len(codes)
    assert 0.2 < share < 0.4
    assert {c for c in codes if c} == {code}


def test_fault_mode_server_errors_and_retries(aws):
    """With botocore's standard retries, a 30 % fault rate is survived: the faults are real retries."""
    aws.control.configure(fault_rate=0.3, fault_seed=3, fault_kinds=["5xx"])
    start = aws.control.last_request_id()
    client = aws.client("sts", retries=8)
    for dummy in range(30):
        client.get_caller_identity()
    entries = aws.control.requests(since=start)
    faults = [entry for entry in entries if entry["fault"]]
    assert len(entries) > 30 and faults
    assert {entry["status"] for entry in faults} == {503}


def test_ansible_modules_reach_the_proving_ground_and_converge(aws, tmp_path):
    """amazon.aws modules, pointed at the proving ground by the environment alone, create and then
    change nothing."""
    playbook = tmp_path / "bucket.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - amazon.aws.s3_bucket:
        name: ansible-smoke-bucket
        versioning: true
        encryption: AES256
        public_access:
          block_public_acls: true
          ignore_public_acls: true
          block_public_policy: true
          restrict_public_buckets: true
    - amazon.aws.iam_role:
        name: ansible-smoke-role
        assume_role_policy_document: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
          "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
        create_instance_profile: false
""")
    env = aws.child_environment(ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default")
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=2" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed=0" in second.stdout
    assert aws.client("s3").get_bucket_versioning(Bucket="ansible-smoke-bucket")["Status"] == "Enabled"


def _sagemaker_round_trip_as_a_human_would(exports):
    """boto3 configured by nothing but the printed exports."""
    session = boto3.Session(aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=exports["AWS_SESSION_TOKEN"], region_name=exports["AWS_REGION"])
    sagemaker = session.client("sagemaker", endpoint_url=exports["AWS_ENDPOINT_URL"])
    sagemaker.create_mlflow_tracking_server(TrackingServerName="by-hand", ArtifactStoreUri="s3://bucket/mlflow",
                                            RoleArn="arn:aws:iam::123456789012:role/mlflow")
    statuses = [sagemaker.describe_mlflow_tracking_server(TrackingServerName="by-hand")["TrackingServerStatus"]]
    deadline = time.monotonic() + 30
    while statuses[-1] != "Created" and time.monotonic() < deadline:
        time.sleep(0.2)
        statuses.append(sagemaker.describe_mlflow_tracking_server(TrackingServerName="by-hand")["TrackingServerStatus"])
    assert (statuses[0], statuses[-1]) == ("Creating", "Created")
    with pytest.raises(ClientError, match="Member must satisfy enum value set: \\[Small, Medium, Large\\]"):
        sagemaker.create_mlflow_tracking_server(TrackingServerName="huge", ArtifactStoreUri="s3://bucket/mlflow",
                                                RoleArn="arn:aws:iam::123456789012:role/mlflow",
                                                TrackingServerSize="Huge")


def test_emulators_command_starts_prints_exports_and_stops(tmp_path, monkeypatch):
    """What `make emulators` and `make emulators-down` run."""
    env = {key: value for key, value in os.environ.items() if key not in ("AWS_CA_BUNDLE", "SSL_CERT_FILE")}
    env["PYTHONPATH"] = str(REPO_ROOT / "tests")
    command = [sys.executable, "-m", "proving_ground"]
    state = ["--state-dir", str(tmp_path)]
    settings = json.dumps({"latency_scale": 2 / 1650})  # a tracking server takes 2 s to create
    started = subprocess.run(command + ["start", "--port", "0", "--settings", settings] + state, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    try:
        assert started.returncode == 0, started.stderr
        exports = dict(line[len("export "):].split("=", 1) for line in started.stdout.splitlines()
                       if line.startswith("export "))
        assert exports["AWS_ENDPOINT_URL"] == exports["AWS_URL"]
        assert exports["AWS_ENDPOINT_URL"].startswith("https://127.0.0.1:")
        assert exports["AWS_CA_BUNDLE"] == str(tmp_path / "tls" / "ca.pem")
        assert "# plain HTTP (aws:SecureTransport false): http://127.0.0.1:" in started.stdout
        # A shell that evaluated the exports: boto3 reads AWS_CA_BUNDLE from the environment.
        monkeypatch.setenv("AWS_CA_BUNDLE", exports["AWS_CA_BUNDLE"])
        _sagemaker_round_trip_as_a_human_would(exports)
        printed = subprocess.run(command + ["env"] + state, env=env, capture_output=True, text=True, timeout=60,
                                 check=False)
        assert printed.returncode == 0 and printed.stdout.splitlines() == [
            f"export {key}={value}" for key, value in exports.items()]
        again = subprocess.run(command + ["start"] + state, env=env, capture_output=True, text=True,
                               timeout=60, check=False)
        assert "already runs" in again.stdout
        pid = json.loads((tmp_path / "ready.json").read_text())["pid"]
    finally:
        stopped = subprocess.run(command + ["stop"] + state, env=env, capture_output=True, text=True,
                                 timeout=60, check=False)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    with pytest.raises(OSError):
        os.kill(pid, 0)
