"""The local ECS task runner against the proving ground: secrets resolved as the ECS agent resolves them,
hosts, ports and EFS paths mapped to local ones, one-off tasks run to completion, services started and
stopped. No mlflow server here: the commands are small shell and Python programs (see the e2e test
for MLflow itself).

The module shares one set of AWS resources (unique names, created once) instead of the per-test
``aws`` account: every reset of the proving ground costs seconds.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

from proving_ground.ecs_task_runner import (ASM_FAILURE_PREFIX, SSM_FAILURE_PREFIX, EcsTaskRunner, EcsTaskRunnerError, HostMap,
                                            SecretResolutionError, TaskStartError, go_format_json_value, parse_secret_reference,
                                            resolve_secrets)

REGION = "us-east-1"
ACCOUNT = "123456789012"
AURORA = "mlflow.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com"
# The characters that break an unencoded URI, and a marker to search logs and messages for.
PASSWORD = "Runner-Marker@:/#?%41+ '&=x"
OLD_PASSWORD = "Old-Marker@:/#?%+ y"
LOCAL_DATABASE = ("127.0.0.1", 6543)
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlflow-execution"

# A stand-in for a server image: answers 200 on /health, 404 elsewhere, on --host/--port.
FAKE_SERVER = """
import http.server, sys
host, port = sys.argv[sys.argv.index('--host') + 1], int(sys.argv[sys.argv.index('--port') + 1])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == '/health' else 404)
        self.end_headers()
        self.wfile.write(self.headers.get('Host', '').encode())
    def log_message(self, *args):
        pass
http.server.HTTPServer((host, port), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def account(proving_ground):
    """The proving ground with default settings, emptied once for the module."""
    control = proving_ground.client
    control.configure(latency_scale=0.0, latency_overrides={}, fault_rate=0.0, fault_services=[],
                      fault_kinds=["throttle"], fault_seed=None, strict=True)
    if control.mutating_requests():
        control.reset()
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
                            region_name=REGION)
    return SimpleNamespace(session=session, endpoint=proving_ground.endpoint,
                           client=lambda service: session.client(service, endpoint_url=proving_ground.endpoint))


@pytest.fixture(scope="module")
def stored(account):
    """Secrets and parameters as a deployment stores them, under names unique to this run."""
    suffix = secrets.token_hex(3)
    secretsmanager = account.client("secretsmanager")
    first = {"username": "mlflow_runner", "password": OLD_PASSWORD, "host": AURORA, "port": 5432}
    rds = secretsmanager.create_secret(Name=f"rds!cluster-runner-{suffix}", SecretString=json.dumps(first))
    current = dict(first, password=PASSWORD, ratio=1234567, flag=True, nothing=None, nested={"b": 1, "a": [True, "x"]})
    second = secretsmanager.put_secret_value(SecretId=rds["ARN"], SecretString=json.dumps(current))
    uri = secretsmanager.create_secret(Name=f"mlflow/backend-uri-{suffix}",
                                       SecretString=f"postgresql+psycopg2://mlflow:pw@{AURORA}:5432/mlflow")["ARN"]
    plain = secretsmanager.create_secret(Name=f"plain-{suffix}", SecretString="not JSON: " + PASSWORD)["ARN"]
    listed = secretsmanager.create_secret(Name=f"listed-{suffix}", SecretString=json.dumps([PASSWORD]))["ARN"]
    ssm = account.client("ssm")
    parameter = f"/mlflow-runner-{suffix}/password"
    ssm.put_parameter(Name=parameter, Value=PASSWORD, Type="SecureString")
    ssm.put_parameter(Name=f"/mlflow-runner-{suffix}/name", Value="mlflow", Type="String")
    return SimpleNamespace(rds=rds["ARN"], first_version=rds["VersionId"], second_version=second["VersionId"], uri=uri,
                           plain=plain, listed=listed, parameter=parameter, parameter_arn=f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{parameter}",
                           name_parameter=f"/mlflow-runner-{suffix}/name", suffix=suffix)


@pytest.fixture(scope="module")
def network(account, stored):
    """A VPC, an internal load balancer with a target group, and an ECS cluster."""
    ec2, elbv2 = account.client("ec2"), account.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for index, zone in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName=f"mlflow-{stored.suffix}", Description="mlflow tasks", VpcId=vpc)["GroupId"]
    balancer = elbv2.create_load_balancer(Name=f"mlflow-{stored.suffix}", Subnets=subnets, Scheme="internal",
                                          SecurityGroups=[group])["LoadBalancers"][0]
    target_group = elbv2.create_target_group(Name=f"mlflow-{stored.suffix}", Protocol="HTTP", Port=5000, VpcId=vpc, TargetType="ip",
                                             HealthCheckPath="/health")["TargetGroups"][0]
    elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group["TargetGroupArn"]}])
    cluster = f"mlflow-{stored.suffix}"
    account.client("ecs").create_cluster(clusterName=cluster)
    return SimpleNamespace(subnets=subnets, security_group=group, dns_name=balancer["DNSName"],
                           target_group=target_group["TargetGroupArn"], cluster=cluster)


def register(account, family, containers, **extra):
    definition = dict(family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="512", memory="1024",
                      executionRoleArn=EXECUTION_ROLE, containerDefinitions=containers, **extra)
    return account.client("ecs").register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]


def container(name="mlflow", command=None, environment=None, secret_refs=None, **extra):
    entry = {"name": name, "image": "mlflow/mlflow:v3.17.2-full", "essential": True,
             "portMappings": [{"containerPort": 5000, "protocol": "tcp"}], "entryPoint": ["sh", "-c"],
             "command": [command or "true"], "environment": [{"name": key, "value": value} for key, value in (environment or {}).items()],
             "secrets": [{"name": key, "valueFrom": value} for key, value in (secret_refs or {}).items()]}
    entry.update(extra)
    return entry


def create_service(account, network, name, task_definition, container_name="mlflow"):
    account.client("ecs").create_service(
        cluster=network.cluster, serviceName=name, taskDefinition=task_definition, desiredCount=1, launchType="FARGATE",
        loadBalancers=[{"targetGroupArn": network.target_group, "containerName": container_name, "containerPort": 5000}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": network.subnets, "securityGroups": [network.security_group],
                                                      "assignPublicIp": "DISABLED"}})


@pytest.fixture
def runner(account, tmp_path):
    return EcsTaskRunner(account.session, account.endpoint, tmp_path / "tasks", host_map={"*.rds.amazonaws.com": LOCAL_DATABASE})


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (a zombie left to an init that does not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


# --- valueFrom syntax ----------------------------------------------------------------------------------------------------

SECRET = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:appauthexample-AbCdEf"


@pytest.mark.parametrize("value_from, expected", [
    (SECRET, ("asm", "eu-west-1", SECRET, "", "", "")),
    (f"{SECRET}:username1::", ("asm", "eu-west-1", SECRET, "username1", "", "")),
    (f"{SECRET}::AWSPREVIOUS:", ("asm", "eu-west-1", SECRET, "", "AWSPREVIOUS", "")),
    (f"{SECRET}:::9d4cb84b-ad69-40c0-a0ab-cead3EXAMPLE", ("asm", "eu-west-1", SECRET, "", "", "9d4cb84b-ad69-40c0-a0ab-cead3EXAMPLE")),
    (f"{SECRET}:username1:AWSPREVIOUS:", ("asm", "eu-west-1", SECRET, "username1", "AWSPREVIOUS", "")),
    (f"{SECRET}:username1::9d4cb84b", ("asm", "eu-west-1", SECRET, "username1", "", "9d4cb84b")),
    ("/mlflow/db-password", ("ssm", REGION, "", "", "", "")),
    ("mlflow-db-password", ("ssm", REGION, "", "", "", "")),
    (f"arn:aws:ssm:eu-central-1:{ACCOUNT}:parameter/mlflow/db-password", ("ssm", "eu-central-1", "", "", "", "")),
])
def test_value_from_is_parsed_as_the_agent_parses_it(value_from, expected):
    reference = parse_secret_reference("VARIABLE", value_from, REGION)
    assert (reference.provider, reference.region, reference.secret_id, reference.json_key, reference.version_stage,
            reference.version_id) == expected
    assert (reference.name, reference.value_from) == ("VARIABLE", value_from)


@pytest.mark.parametrize("value_from", [f"{SECRET}:username1", f"{SECRET}:username1:", f"{SECRET}:a:b:c:d"])
def test_a_secrets_manager_arn_with_missing_colons_is_refused(value_from):
    """The parameters are positional: ``<arn>:key`` without the two trailing colons is an error."""
    with pytest.raises(SecretResolutionError) as failure:
        parse_secret_reference("VARIABLE", value_from, REGION)
    assert str(failure.value) == (f"{ASM_FAILURE_PREFIX}trying to retrieve secret with value {value_from} resulted in error: "
                                  "an invalid ARN format for the AWS Secrets Manager secret was specified. Specify a valid ARN and try again.")


@pytest.mark.parametrize("value, printed", [
    ("text", "text"), (5432, "5432"), (1234567, "1.234567e+06"), (1e6, "1e+06"), (100000, "100000"), (0.5, "0.5"),
    (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5, "-2.5"), (3.0, "3"), (0, "0"), (True, "true"), (False, "false"),
    (None, "<nil>"), ([1, "a", True], "[1 a true]"), ({"b": 1, "a": [None]}, "map[a:[<nil>] b:1]"),
])
def test_json_values_are_printed_as_go_prints_them(value, printed):
    """The agent injects ``fmt.Sprintf("%v", v)`` of what encoding/json decoded (numbers are float64)."""
    assert go_format_json_value(value) == printed


# --- resolution against the emulated Secrets Manager and Parameter Store ---------------------------------------------------


def test_whole_secrets_and_json_keys(account, stored):
    values = resolve_secrets(account.session, [
        {"name": "DB_USERNAME", "valueFrom": f"{stored.rds}:username::"},
        {"name": "DB_PASSWORD", "valueFrom": f"{stored.rds}:password::"},
        {"name": "DB_PORT", "valueFrom": f"{stored.rds}:port::"},
        {"name": "RATIO", "valueFrom": f"{stored.rds}:ratio::"},
        {"name": "FLAG", "valueFrom": f"{stored.rds}:flag::"},
        {"name": "NOTHING", "valueFrom": f"{stored.rds}:nothing::"},
        {"name": "NESTED", "valueFrom": f"{stored.rds}:nested::"},
        {"name": "BACKEND_URI", "valueFrom": stored.uri},
        {"name": "WHOLE", "valueFrom": stored.rds},
    ], endpoint_url=account.endpoint)
    assert list(values) == ["DB_USERNAME", "DB_PASSWORD", "DB_PORT", "RATIO", "FLAG", "NOTHING", "NESTED", "BACKEND_URI", "WHOLE"]
    assert (values["DB_USERNAME"], values["DB_PASSWORD"], values["DB_PORT"]) == ("mlflow_runner", PASSWORD, "5432")
    assert (values["RATIO"], values["FLAG"], values["NOTHING"], values["NESTED"]) == ("1.234567e+06", "true", "<nil>", "map[a:[true x] b:1]")
    assert values["BACKEND_URI"] == f"postgresql+psycopg2://mlflow:pw@{AURORA}:5432/mlflow"
    assert json.loads(values["WHOLE"])["password"] == PASSWORD


def test_a_partial_arn_without_the_random_suffix_resolves(account, stored):
    """GetSecretValue accepts the ARN without the six random characters; so does the agent's call."""
    partial = stored.rds.rsplit("-", 1)[0]
    assert resolve_secrets(account.session, [{"name": "P", "valueFrom": f"{partial}:password::"}],
                           endpoint_url=account.endpoint) == {"P": PASSWORD}


def test_version_stages_and_version_ids(account, stored):
    values = resolve_secrets(account.session, [
        {"name": "PREVIOUS", "valueFrom": f"{stored.rds}:password:AWSPREVIOUS:"},
        {"name": "CURRENT", "valueFrom": f"{stored.rds}:password:AWSCURRENT:"},
        {"name": "BY_ID", "valueFrom": f"{stored.rds}:password::{stored.first_version}"},
        {"name": "WHOLE_PREVIOUS", "valueFrom": f"{stored.rds}::AWSPREVIOUS:"},
        {"name": "WHOLE_BY_ID", "valueFrom": f"{stored.rds}:::{stored.second_version}"},
    ], endpoint_url=account.endpoint)
    assert (values["PREVIOUS"], values["CURRENT"], values["BY_ID"]) == (OLD_PASSWORD, PASSWORD, OLD_PASSWORD)
    assert json.loads(values["WHOLE_PREVIOUS"])["password"] == OLD_PASSWORD
    assert json.loads(values["WHOLE_BY_ID"])["password"] == PASSWORD


def test_parameter_store_by_name_and_by_arn(account, stored):
    values = resolve_secrets(account.session, [
        {"name": "BY_NAME", "valueFrom": stored.parameter},
        {"name": "BY_ARN", "valueFrom": stored.parameter_arn},
        {"name": "PLAIN", "valueFrom": stored.name_parameter},
    ], endpoint_url=account.endpoint)
    assert values == {"BY_NAME": PASSWORD, "BY_ARN": PASSWORD, "PLAIN": "mlflow"}


def failure_cases(stored):
    """``{case: (valueFrom references, what the error starts with)}``."""
    missing_secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:missing-{stored.suffix}-AbCdEf"
    return {
        "missing-key": ([f"{stored.rds}:missing::"],
                        ASM_FAILURE_PREFIX + "retrieved secret from Secrets Manager did not contain json key missing"),
        "not-json": ([f"{stored.plain}:password::"], ASM_FAILURE_PREFIX + f"secret {stored.plain} is not JSON (Expecting value at character 0)"),
        "not-an-object": ([f"{stored.listed}:password::"],
                          ASM_FAILURE_PREFIX + "json: cannot unmarshal array into Go value of type map[string]interface {}"),
        "missing-secret": ([missing_secret], ASM_FAILURE_PREFIX + f"ResourceInitializationError: The task can't retrieve the secret with ARN "
                                                                  f"'{missing_secret}' from AWS Secrets Manager. Check that the secret ARN is correct: "),
        "missing-parameter": (["/no/such/parameter", stored.parameter],
                              SSM_FAILURE_PREFIX + f"fetching secret data from SSM Parameter Store in {REGION}: invalid parameters: /no/such/parameter"),
        "two-failures": ([f"{stored.rds}:missing::", f"{stored.rds}:password:AWSPREVIOUS:", f"{stored.rds}:other::"],
                         ASM_FAILURE_PREFIX + "retrieved secret from Secrets Manager did not contain json key missing;"
                                              "retrieved secret from Secrets Manager did not contain json key other"),
    }


@pytest.mark.parametrize("case", ["missing-key", "not-json", "not-an-object", "missing-secret", "missing-parameter", "two-failures"])
def test_failures_read_like_the_agents_and_name_no_value(account, stored, case):
    """Worded as the stopped reason of a Fargate task whose secrets cannot be fetched; every failure of
    Secrets Manager is reported, joined by ";" as the agent joins them; no value appears."""
    references, message = failure_cases(stored)[case]
    with pytest.raises(SecretResolutionError) as failure:
        resolve_secrets(account.session, [{"name": f"V{index}", "valueFrom": value} for index, value in enumerate(references)],
                        endpoint_url=account.endpoint)
    assert str(failure.value).startswith(message)
    for value in (PASSWORD, OLD_PASSWORD, "Marker"):
        assert value not in str(failure.value)


# --- host mapping --------------------------------------------------------------------------------------------------------


def test_host_map_rewrites_uris_variables_and_their_port_companions():
    hosts = HostMap({"*.rds.amazonaws.com": LOCAL_DATABASE, "db": ("127.0.0.2", 7000)})
    assert hosts.rewrite(f"postgresql+psycopg2://u:p%40@{AURORA}:5432/mlflow?sslmode=require") == \
        "postgresql+psycopg2://u:p%40@127.0.0.1:6543/mlflow?sslmode=require"
    assert hosts.rewrite(f"mysql+pymysql://u:p@{AURORA.upper()}/mlflow") == "mysql+pymysql://u:p@127.0.0.1:6543/mlflow"
    assert hosts.rewrite("postgresql://db/mlflow and mlflow.db, db.example.com, x.rds.amazonaws.com.evil.net") == \
        "postgresql://127.0.0.2:7000/mlflow and mlflow.db, db.example.com, x.rds.amazonaws.com.evil.net"
    environment, changed = hosts.rewrite_environment({
        "MLOPS_DB_HOST": AURORA, "MLOPS_DB_PORT": "5432", "PGHOST": "db", "PGPORT": "5432", "DB_ENDPOINT": f"{AURORA}:5432",
        "UNRELATED_PORT": "5432", "NAME": "mlflow"})
    assert environment == {"MLOPS_DB_HOST": "127.0.0.1", "MLOPS_DB_PORT": "6543", "PGHOST": "127.0.0.2", "PGPORT": "7000",
                           "DB_ENDPOINT": "127.0.0.1:6543", "UNRELATED_PORT": "5432", "NAME": "mlflow"}
    assert changed == {"MLOPS_DB_HOST", "MLOPS_DB_PORT", "PGHOST", "PGPORT", "DB_ENDPOINT"}

    def callable_map(host):
        return ("127.0.0.3", 5555) if host.endswith(".example.internal") else None

    assert HostMap(callable_map).rewrite("mysql://a:b@writer.example.internal/x") == "mysql://a:b@127.0.0.3:5555/x"


# --- tasks read from ECS and prepared -------------------------------------------------------------------------------------


def test_a_service_task_is_prepared_as_ecs_would_start_it(account, stored, network, runner, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://leaked.example.com")
    monkeypatch.setenv("AWS_LEAKED_SETTING", "leaked")
    command = (f"exec mlflow server --backend-store-uri postgresql+psycopg2://u:p@{AURORA}:5432/mlflow "
               "--host 0.0.0.0 --port 5000 --workers 1")
    mlflow = container(command=command, environment={
        "MLOPS_DB_HOST": AURORA, "MLOPS_DB_PORT": "5432", "MLFLOW_HOST": "0.0.0.0", "MLFLOW_PORT": "5000",
        "MLFLOW_SERVER_ALLOWED_HOSTS": network.dns_name,
    }, secret_refs={"DB_USERNAME": f"{stored.rds}:username::", "DB_PASSWORD": f"{stored.rds}:password::",
                    "MLFLOW_BACKEND_STORE_URI": stored.uri, "API_TOKEN": stored.parameter})
    exporter = container("exporter", essential=False, portMappings=[{"containerPort": 9100}])
    definition = register(account, f"runner-service-{stored.suffix}", [exporter, mlflow])
    create_service(account, network, f"mlflow-{stored.suffix}", definition)

    spec = runner.describe_service(network.cluster, f"mlflow-{stored.suffix}")
    assert (spec.container_name, spec.container_port, spec.task_definition_arn) == ("mlflow", 5000, definition)
    assert spec.load_balancer_dns_names(account.client("elbv2")) == [network.dns_name]
    task = runner.prepare(spec).materialize()
    assert task.health_path == "/health"  # the target group's health check path
    assert task.port != 5000
    environment = task.environment
    assert (environment["DB_USERNAME"], environment["DB_PASSWORD"], environment["API_TOKEN"]) == ("mlflow_runner", PASSWORD, PASSWORD)
    # The database endpoint points at the local server, in variables, in secrets and in the command.
    assert (environment["MLOPS_DB_HOST"], environment["MLOPS_DB_PORT"]) == ("127.0.0.1", "6543")
    assert environment["MLFLOW_BACKEND_STORE_URI"] == "postgresql+psycopg2://mlflow:pw@127.0.0.1:6543/mlflow"
    assert task.command == ["sh", "-c", "exec mlflow server --backend-store-uri postgresql+psycopg2://u:p@127.0.0.1:6543/mlflow "
                                        f"--host 127.0.0.1 --port {task.port} --workers 1"]
    # It listens on loopback, on the local port; AWS is the proving ground.
    assert (environment["MLFLOW_HOST"], environment["MLFLOW_PORT"]) == ("127.0.0.1", str(task.port))
    assert environment["MLFLOW_SERVER_ALLOWED_HOSTS"] == network.dns_name
    assert environment["AWS_ENDPOINT_URL"] == environment["MLFLOW_S3_ENDPOINT_URL"] == account.endpoint
    assert (environment["AWS_ACCESS_KEY_ID"], environment["AWS_REGION"]) == ("testing", REGION)
    assert environment["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    # Nothing of the test process's own MLflow and AWS settings, and no unresolved reference.
    assert "MLFLOW_TRACKING_URI" not in environment and "AWS_LEAKED_SETTING" not in environment
    assert not any("arn:aws:" in value or "valueFrom" in value for value in environment.values())


def test_the_container_is_chosen_by_name_or_by_its_port_mapping(account, stored, runner):
    sidecar = container("exporter", essential=False, portMappings=[{"containerPort": 9100}])
    definition = register(account, f"runner-choice-{stored.suffix}", [sidecar, container()])
    spec = runner.describe_task_definition(definition)
    assert (spec.container_name, spec.container_port) == ("mlflow", 5000)
    spec = runner.describe_task_definition(definition, container_name="exporter")
    assert (spec.container_name, spec.container_port) == ("exporter", 9100)
    two = register(account, f"runner-two-{stored.suffix}", [container("a"), container("b")])
    with pytest.raises(EcsTaskRunnerError, match=r"cannot tell which container .* \(containers \['a', 'b'\]\): name one"):
        runner.describe_task_definition(two)
    with pytest.raises(EcsTaskRunnerError, match="has no container 'c'"):
        runner.describe_task_definition(two, container_name="c")


def test_what_cannot_run_locally_is_refused(account, stored, runner):
    bare = dict(container(), entryPoint=[], command=[])
    spec = runner.describe_task_definition(register(account, f"runner-bare-{stored.suffix}", [bare]))
    with pytest.raises(EcsTaskRunnerError, match="neither entryPoint nor command"):
        runner.prepare(spec)
    files = container(environmentFiles=[{"value": "arn:aws:s3:::bucket/mlflow.env", "type": "s3"}])
    spec = runner.describe_task_definition(register(account, f"runner-files-{stored.suffix}", [files]))
    with pytest.raises(EcsTaskRunnerError, match="environmentFiles"):
        runner.prepare(spec)


# --- volumes -------------------------------------------------------------------------------------------------------------


def test_an_efs_mount_is_a_local_directory(account, stored, runner, tmp_path):
    """/mnt/efs in the command, the environment and the working directory becomes the local directory
    that stands for the file system; /mnt/efs2 is another path and stays."""
    script = ('mkdir -p /mnt/efs/artifacts && printf %s "$MLFLOW_BACKEND_STORE_URI" > /mnt/efs/uri.txt && pwd > pwd.txt '
              '&& printf %s "$OTHER" > /mnt/efs/other.txt')
    volume = {"name": "mlflow-efs", "efsVolumeConfiguration": {
        "fileSystemId": "fs-0123456789abcdef0", "transitEncryption": "ENABLED",
        "authorizationConfig": {"accessPointId": "fsap-0123456789abcdef0", "iam": "ENABLED"}}}
    mlflow = container(command=script, environment={"MLFLOW_BACKEND_STORE_URI": "sqlite:////mnt/efs/mlflow.db", "OTHER": "/mnt/efs2/x"},
                       mountPoints=[{"sourceVolume": "mlflow-efs", "containerPath": "/mnt/efs"}], workingDirectory="/mnt/efs")
    definition = register(account, f"runner-efs-{stored.suffix}", [mlflow], volumes=[volume])
    local = tmp_path / "efs"
    runner.volume_directories["mlflow-efs"] = local

    assert runner.run_task(definition) == 0
    assert (local / "uri.txt").read_text() == f"sqlite:///{local.resolve()}/mlflow.db"
    assert (local / "uri.txt").read_text().startswith("sqlite:////")  # an absolute path: four slashes
    assert (local / "pwd.txt").read_text().strip() == str(local.resolve())
    assert (local / "other.txt").read_text() == "/mnt/efs2/x"
    assert (local / "artifacts").is_dir()


# --- one-off tasks -------------------------------------------------------------------------------------------------------


def test_a_run_task_with_overrides_runs_to_completion(account, stored, network, runner):
    """A one-off task (``mlflow db upgrade`` style): RunTask's command and environment overrides apply
    as ECS applies them (the command replaces ``command``, the entry point stays; variables merge)."""
    mlflow = container(command="exit 99", environment={"EXIT_CODE": "1", "KEPT": "yes"})
    definition = register(account, f"runner-oneoff-{stored.suffix}", [mlflow])
    started = account.client("ecs").run_task(
        cluster=network.cluster, taskDefinition=definition, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": network.subnets, "securityGroups": [network.security_group]}},
        overrides={"containerOverrides": [{"name": "mlflow", "command": ['test "$KEPT" = yes && exit "$EXIT_CODE"'],
                                           "environment": [{"name": "EXIT_CODE", "value": "7"}]}]})
    task_arn = started["tasks"][0]["taskArn"]
    assert runner.run_task(task_arn, cluster=network.cluster) == 7
    spec = runner.describe_task(network.cluster, task_arn)
    assert spec.task_arn == task_arn
    assert runner.run_task(spec, overrides={"containerOverrides": [{"name": "mlflow", "command": ['exit "$EXIT_CODE"']}]}) == 1
    assert runner.run_task(definition) == 99


def test_the_task_runs_the_venv_with_secrets_only_in_its_environment(account, stored, runner):
    probe = ("import json, os, shutil, sys; json.dump({'python': sys.executable, 'mlflow': shutil.which('mlflow'), "
             "'python3': shutil.which('python3'), 'password': os.environ['DB_PASSWORD']}, open('seen.json', 'w'))")
    mlflow = container(command=f'python -c "{probe}"', secret_refs={"DB_PASSWORD": f"{stored.rds}:password::"})
    spec = runner.describe_task_definition(register(account, f"runner-venv-{stored.suffix}", [mlflow]))
    task = runner.prepare(spec)
    assert task.run(timeout=60) == 0
    seen = json.loads((task.directory / "seen.json").read_text())
    venv_bin = Path(sys.executable).parent
    assert Path(seen["python"]).parent == venv_bin
    assert Path(seen["mlflow"]) == venv_bin / "mlflow" and Path(seen["python3"]) == venv_bin / "python3"
    assert seen["password"] == PASSWORD
    log = task.log_text()
    assert log.startswith("\n$ sh -c python -c")
    assert PASSWORD not in log and "Marker" not in log


# --- services: start, health, stop --------------------------------------------------------------------------------------


def test_a_service_starts_on_a_local_port_and_stop_ends_its_process_group(account, stored, network, runner):
    script = 'sleep 300 & echo $! > sleeper.pid; exec python -c "$SERVER" --host 0.0.0.0 --port 5000'
    definition = register(account, f"runner-start-{stored.suffix}", [container(command=script, environment={"SERVER": FAKE_SERVER})])
    create_service(account, network, f"start-{stored.suffix}", definition)
    task = runner.start_service(network.cluster, f"start-{stored.suffix}", timeout=30)
    try:
        assert task.port != 5000 and task.startup_seconds < 30
        assert task.request("GET", "/health", host=network.dns_name) == (200, network.dns_name)
        assert task.request("GET", "/api/2.0/mlflow/experiments/search")[0] == 404
        sleeper = int((task.directory / "sleeper.pid").read_text())
        assert alive(sleeper) and alive(task.pid)
        leader = task.pid
    finally:
        task.stop()
    assert not alive(leader) and not alive(sleeper)
    assert task.pid is None


def test_a_task_that_exits_while_starting_shows_its_log(account, stored, runner):
    failing = container(command='echo "boom from the container" >&2; exit 3')
    task = runner.prepare(runner.describe_task_definition(register(account, f"runner-boom-{stored.suffix}", [failing])))
    with pytest.raises(TaskStartError, match=r"(?s)container mlflow exited with status 3 while starting.*boom from the container"):
        task.start(timeout=30)
    assert task.pid is None


def test_a_task_that_never_answers_is_stopped_with_its_log(account, stored, runner):
    silent = container(command='echo "listening nowhere"; exec sleep 300')
    task = runner.prepare(runner.describe_task_definition(register(account, f"runner-silent-{stored.suffix}", [silent])))
    with pytest.raises(TaskStartError, match=r"(?s)did not answer /health on port \d+ within 2s.*listening nowhere"):
        task.start(timeout=2)
    assert task.pid is None
