"""A Fargate MLflow deployment, registered with boto3 on the proving ground, run by the local ECS task
runner on a real PostgreSQL, and used by a real MLflow client through the load balancer's host name.

The task definition has the shape an MLflow deployment registers: the database credentials are two
JSON keys of an RDS-managed-style secret (``{"username": ..., "password": ...}``, the password full of
characters that break an unencoded URI), and a ``sh -c`` command percent-encodes them with the image's
python before it execs ``mlflow server`` with the Aurora endpoint, artifacts proxied to S3 and the load
balancer's name as allowed host. The backend URI goes to MLflow through MLFLOW_BACKEND_STORE_URI
rather than ``--backend-store-uri``: argv is world-readable (``ps``), the environment is not.

The service's task starts (one mlflow server), a client logs a run with a param, a metric and an
artifact, and everything is read back from MLflow, the database and the emulated bucket. A second
test runs the schema migration as a one-off task (RunTask with a command override).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers.mlflow_runs import log_a_run
from proving_ground.database_fixtures import awkward_password, fresh_names
from proving_ground.ecs_task_runner import EcsTaskRunner, create_database_from_secret

pytestmark = pytest.mark.slow

BUCKET = "mlops-runner-e2e-artifacts"
PREFIX = "tracking"
AURORA = "mlflow-e2e.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"
CUSTOM_DOMAIN = "mlflow.example.com"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/mlflow-execution"
TASK_ROLE = "arn:aws:iam::123456789012:role/mlflow-task"

# Runs in the container with the image's python; ends with the command to exec.
PRELUDE = """set -eu
encode() { python -c 'import os, sys, urllib.parse; print(urllib.parse.quote(os.environ[sys.argv[1]], safe=""))' "$1"; }
user=$(encode DB_USERNAME)
password=$(encode DB_PASSWORD)
unset DB_USERNAME DB_PASSWORD
export MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://${user}:${password}@%s:5432/${DB_NAME}"
""" % AURORA


def server_command(allowed_hosts: str) -> str:
    return PRELUDE + (f"exec mlflow server --artifacts-destination s3://{BUCKET}/{PREFIX} --host 0.0.0.0 --port 5000 "
                      f"--workers 1 --allowed-hosts '{allowed_hosts}'")


UPGRADE_COMMAND = PRELUDE + 'exec mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"'


def deploy(aws, database_name: str, username: str, password: str) -> dict:
    """What the role would leave in AWS: a secret, a bucket, a network with an internal load balancer,
    a cluster, the task definition and a service behind the target group."""
    secret = aws.client("secretsmanager").create_secret(
        Name="rds!cluster-mlflow-e2e", SecretString=json.dumps({"username": username, "password": password}))["ARN"]
    aws.client("s3").create_bucket(Bucket=BUCKET)
    ec2, elbv2, ecs = aws.client("ec2"), aws.client("elbv2"), aws.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{index}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
               for index, zone in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName="mlflow-tasks", Description="mlflow tasks", VpcId=vpc)["GroupId"]
    balancer = elbv2.create_load_balancer(Name="mlflow-e2e", Subnets=subnets, Scheme="internal", SecurityGroups=[group])["LoadBalancers"][0]
    target_group = elbv2.create_target_group(Name="mlflow-e2e", Protocol="HTTP", Port=5000, VpcId=vpc, TargetType="ip",
                                             HealthCheckPath="/health")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}])
    ecs.create_cluster(clusterName="mlflow")
    definition = ecs.register_task_definition(
        family="mlflow", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="1024", memory="2048",
        executionRoleArn=EXECUTION_ROLE, taskRoleArn=TASK_ROLE,
        containerDefinitions=[{
            "name": "mlflow", "image": "mlflow/mlflow:v3.17.2-full", "essential": True,
            "portMappings": [{"containerPort": 5000, "protocol": "tcp"}],
            "entryPoint": ["sh", "-c"], "command": [server_command(f"{balancer['DNSName']},{CUSTOM_DOMAIN}")],
            "environment": [{"name": "DB_NAME", "value": database_name}],
            "secrets": [{"name": "DB_USERNAME", "valueFrom": f"{secret}:username::"},
                        {"name": "DB_PASSWORD", "valueFrom": f"{secret}:password::"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/mlflow", "awslogs-region": "us-east-1",
                                                                     "awslogs-stream-prefix": "mlflow"}},
        }])["taskDefinition"]["taskDefinitionArn"]
    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group], "assignPublicIp": "DISABLED"}}
    ecs.create_service(cluster="mlflow", serviceName="mlflow", taskDefinition=definition, desiredCount=1, launchType="FARGATE",
                       loadBalancers=[{"targetGroupArn": target_group, "containerName": "mlflow", "containerPort": 5000}],
                       networkConfiguration=network)
    return {"secret": secret, "definition": definition, "network": network, "dns_name": balancer["DNSName"]}


@pytest.fixture
def client_behind_the_load_balancer(monkeypatch):
    """A data scientist's process: no cloud credentials, no MLflow settings; every request the MLflow
    client sends carries the Host header the load balancer's name gives it (set by the test)."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "MLFLOW_", "BOTO_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    from mlflow.tracking.request_header import registry

    resolve = registry.resolve_request_headers
    host = {}

    def with_host(request_headers=None):
        return {**resolve(request_headers), **host}

    monkeypatch.setattr(registry, "resolve_request_headers", with_host)
    return host


def runner_for(aws, postgres_server, tmp_path) -> EcsTaskRunner:
    return EcsTaskRunner(aws.session(), aws.endpoint, tmp_path / "tasks",
                         host_map={"*.rds.amazonaws.com": (postgres_server.host, postgres_server.port)})


def test_a_fargate_deployment_runs_locally_and_tracks_runs(aws, postgres_server, tmp_path, client_behind_the_load_balancer,
                                                           monkeypatch):
    database_name, username = fresh_names("ecs_runner_e2e")
    password = awkward_password()
    for character in "@:/#?%+ ":
        assert character in password
    deployed = deploy(aws, database_name, username, password)
    runner = runner_for(aws, postgres_server, tmp_path)

    spec = runner.describe_service("mlflow", "mlflow")
    assert (spec.task_definition_arn, spec.container_name, spec.container_port) == (deployed["definition"], "mlflow", 5000)
    (dns_name,) = spec.load_balancer_dns_names(aws.client("elbv2"))
    assert dns_name == deployed["dns_name"]
    task = runner.prepare(spec)
    # The database user and password are the ones the task read from the secret.
    database = task.create_database(postgres_server, database_name, "DB_USERNAME", "DB_PASSWORD")
    assert (database.user, database.password) == (username, password)

    with task.start(timeout=240):
        print(f"\nmlflow server of the service task answered after {task.startup_seconds:.1f}s on port {task.port}")
        # Only the load balancer's name and the custom domain are let in; /health is open to the ALB's probe.
        assert task.request("GET", "/api/2.0/mlflow/experiments/search?max_results=1", host=f"127.0.0.1:{task.port}")[0] == 403
        assert task.request("GET", "/health", host="10.77.1.10:5000")[0] == 200
        assert task.request("GET", "/api/2.0/mlflow/experiments/search?max_results=1", host=CUSTOM_DOMAIN)[0] == 200

        client_behind_the_load_balancer["Host"] = dns_name
        monkeypatch.setenv("MLFLOW_TRACKING_URI", task.url)
        run_id, experiment_id = log_a_run("ecs-runner", tmp_path)
        read_back(run_id, experiment_id, tmp_path, aws, database)

        # The password reached the database through the environment only, percent-encoded by the container.
        proc = Path(f"/proc/{task.pid}")
        command_line = proc.joinpath("cmdline").read_bytes().decode(errors="replace")
        environ = dict(entry.split("=", 1) for entry in proc.joinpath("environ").read_bytes().decode(errors="replace").split("\0")
                       if "=" in entry)
        for text in (password, quote(password, safe="")):
            assert text not in command_line
        assert environ["MLFLOW_BACKEND_STORE_URI"] == database.url(driver="psycopg2")
        assert "DB_PASSWORD" not in environ and "DB_USERNAME" not in environ
    assert task.pid is None
    assert password not in task.log_text()


def test_the_schema_migration_runs_as_a_one_off_task(aws, postgres_server, tmp_path):
    """``mlflow db upgrade`` as the role runs it before a version bump: RunTask with a command override
    (the entry point stays ``sh -c``), run to completion; the schema lands in the secret's database."""
    database_name, username = fresh_names("ecs_runner_upgrade")
    deployed = deploy(aws, database_name, username, awkward_password())
    database = create_database_from_secret(postgres_server, aws.client("secretsmanager"), deployed["secret"], database_name)
    assert database.user == username
    started = aws.client("ecs").run_task(cluster="mlflow", taskDefinition=deployed["definition"], launchType="FARGATE",
                                         networkConfiguration=deployed["network"],
                                         overrides={"containerOverrides": [{"name": "mlflow", "command": [UPGRADE_COMMAND]}]})
    runner = runner_for(aws, postgres_server, tmp_path)
    assert runner.run_task(started["tasks"][0]["taskArn"], cluster="mlflow", timeout=300) == 0
    connection = database.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM alembic_version")
            assert cursor.fetchone()[0] == 1
            # The tables exist, still empty: the server makes the Default experiment at its first start.
            cursor.execute("SELECT count(*) FROM experiments")
            assert cursor.fetchone()[0] == 0
    finally:
        connection.close()


def read_back(run_id: str, experiment_id: str, tmp_path: Path, aws, database) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    fetched = client.get_run(run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.data.params == {"alpha": "0.5"}
    assert fetched.data.metrics == {"rmse": 0.25}
    assert [(metric.value, metric.step) for metric in client.get_metric_history(run_id, "rmse")] == [(0.25, 3)]
    assert fetched.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert [entry.path for entry in client.list_artifacts(run_id, "reports")] == ["reports/summary.txt"]
    downloaded = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="reports/summary.txt", dst_path=str(tmp_path / "downloaded"))
    assert Path(downloaded).read_text() == "rmse went down\n"

    # The artifact is in the emulated bucket, under the destination's prefix, and nothing else is.
    s3 = aws.client("s3")
    key = f"{PREFIX}/{experiment_id}/{run_id}/artifacts/reports/summary.txt"
    assert [entry["Key"] for entry in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])] == [key]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"rmse went down\n"

    # The run is in the database the secret's user owns.
    connection = database.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT key, value FROM params WHERE run_uuid = %s", (run_id,))
            assert [tuple(row) for row in cursor.fetchall()] == [("alpha", "0.5")]
            cursor.execute("SELECT key, value, step FROM metrics WHERE run_uuid = %s", (run_id,))
            assert [tuple(row) for row in cursor.fetchall()] == [("rmse", 0.25, 3)]
    finally:
        connection.close()
