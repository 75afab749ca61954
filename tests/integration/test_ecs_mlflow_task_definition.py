"""mlops.mlflow.ecs_mlflow_task_definition run by ansible-playbook against the proving ground.

Each test runs the module as a user would (a playbook on localhost, the AWS endpoint from the
environment alone) and checks what ECS holds afterwards through boto3 and what the module asked of
ECS through the proving ground's request log. The last tests start the registered container
definition locally, the way ECS would start it (secrets resolved from Secrets Manager, entry point
and environment as registered), on a real database.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers.ansible import run_tasks
from proving_ground.databases import free_port

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.ecs_mlflow_task_definition"
ACCOUNT = "123456789012"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlflow-execution"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlflow-task"
LOAD_BALANCER_HOST = "internal-mlflow-1234567890.us-east-1.elb.amazonaws.com"
# What a generated password may hold that breaks an unencoded URI, and a marker to look for.
PASSWORD = "Pa55-Marker@:/#?%41+ '&=x"


@pytest.fixture
def credentials_secret(aws):
    """A JSON secret as RDS manages it for a master user: {"username": ..., "password": ...}."""
    created = aws.client("secretsmanager").create_secret(
        Name="rds!cluster-mlflow", SecretString=json.dumps({"username": "mlflow", "password": PASSWORD}))
    return created["ARN"]


class Player:
    """``play(args)`` runs the module once in a playbook; ``play.tasks([...])`` runs several module
    tasks in one playbook (each task is a run of its own: a new process, new API calls)."""

    def __init__(self, aws, workdir):
        self.aws = aws
        self.workdir = workdir

    def __call__(self, args, check=False, diff=False):
        return self.tasks([task(args)], check=check, diff=diff)

    def tasks(self, tasks, check=False, diff=False):
        return run_tasks(self.workdir, self.aws.child_environment(), tasks, check=check, diff=diff)


def task(args, **keywords):
    """A task of the module (keywords: check_mode, diff, ignore_errors, name...)."""
    return dict({MODULE: {key: value for key, value in args.items() if value is not None}}, **keywords)


@pytest.fixture
def play(aws, tmp_path):
    return Player(aws, tmp_path)


def database_args(secret_arn, **changes):
    args = {
        "family": "mlflow",
        "execution_role_arn": EXECUTION_ROLE,
        "task_role_arn": TASK_ROLE,
        "database": {"engine": "postgresql", "host": "mlflow.cluster-abc.us-east-1.rds.amazonaws.com", "name": "mlflow",
                     "credentials_secret_arn": secret_arn},
        "artifacts_uri": "s3://mlflow-artifacts/mlflow",
        "allowed_hosts": ["mlflow.example.com", LOAD_BALANCER_HOST],
        "awslogs": {"group": "/ecs/mlflow"},
    }
    args.update(changes)
    return args


def active_revisions(aws, family="mlflow"):
    arns = aws.client("ecs").list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]
    return sorted(int(arn.rsplit(":", 1)[1]) for arn in arns)


def describe(aws, revision, family="mlflow"):
    answer = aws.client("ecs").describe_task_definition(taskDefinition=f"{family}:{revision}", include=["TAGS"])
    return answer["taskDefinition"], {tag["key"]: tag["value"] for tag in answer.get("tags", [])}


def ecs_calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "ecs"]


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def changes_of(run):
    return [result["changed"] for result in run.results]


def test_registers_once_then_converges(aws, play, credentials_secret):
    args = database_args(credentials_secret, tags={"application": "mlflow"})
    start = aws.control.last_request_id()
    run = play.tasks([task(args), task(args)])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False] and run.recap["changed"] == 1
    first, second = run.results
    assert (first["revision"], first["task_definition_arn"]) == (1, f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/mlflow:1")
    assert (first["container_name"], first["container_port"], first["health_check_path"]) == ("mlflow", 5000, "/health")
    assert first["task_definition"]["tags"] == {"application": "mlflow"}
    assert second["revision"] == 1
    assert second["task_definition"]["container_definitions"] == first["task_definition"]["container_definitions"]
    # The second run only looked: the latest ACTIVE revision, described once.
    assert ecs_calls(aws, start) == ["ListTaskDefinitions", "RegisterTaskDefinition", "ListTaskDefinitions", "DescribeTaskDefinition"]
    assert mutating(aws, start) == ["RegisterTaskDefinition"]
    assert active_revisions(aws) == [1]


def test_check_mode_on_a_new_family_names_its_first_revision(aws, play, credentials_secret):
    start = aws.control.last_request_id()
    run = play(database_args(credentials_secret), check=True)
    assert run.rc == 0, run.output
    result = run.result()
    assert result["changed"] and mutating(aws, start) == []
    assert (result["revision"], result["task_definition_arn"]) == (1, f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/mlflow:1")
    assert active_revisions(aws) == []


def test_the_registered_definition_holds_references_and_no_password(aws, play, credentials_secret):
    run = play(database_args(credentials_secret))
    assert run.rc == 0, run.output
    definition, tags = describe(aws, 1)
    assert tags == {}
    text = json.dumps(definition, default=str)
    for fragment in (PASSWORD, "Pa55-Marker", "Pa55-Marker%40"):
        assert fragment not in text
        assert fragment not in run.stdout
    assert (definition["networkMode"], definition["requiresCompatibilities"]) == ("awsvpc", ["FARGATE"])
    assert (definition["cpu"], definition["memory"]) == ("1024", "2048")
    assert definition["executionRoleArn"] == EXECUTION_ROLE and definition["taskRoleArn"] == TASK_ROLE
    (container,) = definition["containerDefinitions"]
    assert container["image"].startswith("ghcr.io/mlflow/mlflow:v3.") and container["image"].endswith("-full")
    assert container["secrets"] == [
        {"name": "MLOPS_DB_PASSWORD", "valueFrom": f"{credentials_secret}:password::"},
        {"name": "MLOPS_DB_USERNAME", "valueFrom": f"{credentials_secret}:username::"},
    ]
    environment = {entry["name"]: entry["value"] for entry in container["environment"]}
    assert not any("PASSWORD" in name or "USERNAME" in name for name in environment)
    assert "MLFLOW_BACKEND_STORE_URI" not in environment
    assert environment["MLOPS_DB_DRIVER"] == "postgresql+psycopg2"
    assert environment["MLFLOW_SERVER_ALLOWED_HOSTS"] == f"mlflow.example.com,{LOAD_BALANCER_HOST}"
    assert [entry["name"] for entry in container["environment"]] == sorted(environment)
    assert container["entryPoint"][:2] == ["python", "-c"]
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/mlflow"


def test_check_and_diff_tell_the_truth(aws, play, credentials_secret):
    args = database_args(credentials_secret)
    changed_args = database_args(credentials_secret, extra_environment={"MLFLOW_SERVER_X_FRAME_OPTIONS": "DENY"})
    start = aws.control.last_request_id()
    run = play.tasks([
        task(args, name="create"),
        task(args, name="check unchanged", check_mode=True, diff=True),
        task(changed_args, name="check changed", check_mode=True, diff=True),
        task(changed_args, name="apply", diff=True),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False, True, True]
    dummy, unchanged, checked, applied = run.results
    assert unchanged["diff"]["before"] == unchanged["diff"]["after"]
    assert checked["task_definition"]["container_definitions"][0]["image"].endswith("-full")
    # Check mode names the revision it would register, so that what uses it (a service) can be previewed.
    assert (checked["revision"], checked["task_definition_arn"]) == (2, applied["task_definition_arn"])
    before, after = copy.deepcopy(checked["diff"]["before"]), copy.deepcopy(checked["diff"]["after"])
    added = {"name": "MLFLOW_SERVER_X_FRAME_OPTIONS", "value": "DENY"}
    assert added not in before["containerDefinitions"][0]["environment"]
    assert added in after["containerDefinitions"][0]["environment"]
    after["containerDefinitions"][0]["environment"].remove(added)
    assert before == after  # the one difference is the one change
    # Check mode registered nothing; applying did what check mode said and diff mode showed.
    assert mutating(aws, start) == ["RegisterTaskDefinition", "RegisterTaskDefinition"]
    assert applied["revision"] == 2 and applied["diff"] == checked["diff"]
    assert added in describe(aws, 2)[0]["containerDefinitions"][0]["environment"]


@pytest.mark.parametrize("changes, check", [
    ({"extra_environment": {"MLFLOW_SERVER_X_FRAME_OPTIONS": "DENY"}}, lambda d: {"name": "MLFLOW_SERVER_X_FRAME_OPTIONS", "value": "DENY"}
     in d["containerDefinitions"][0]["environment"]),
    ({"cpu": 2048, "memory": 4096}, lambda d: (d["cpu"], d["memory"]) == ("2048", "4096")),
    ({"execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/other-execution"}, lambda d: d["executionRoleArn"].endswith("/other-execution")),
    ({"image": "ghcr.io/mlflow/mlflow:v3.17.2-full"}, lambda d: d["containerDefinitions"][0]["image"].endswith(":v3.17.2-full")),
], ids=["environment", "task size", "execution role", "image"])
def test_a_real_change_registers_exactly_one_revision(aws, play, credentials_secret, changes, check):
    """The changes community.aws.ecs_taskdefinition misses (environment, task size, execution role),
    and the image: one new revision, then nothing."""
    start = aws.control.last_request_id()
    run = play.tasks([
        task(database_args(credentials_secret, tags={"application": "mlflow"}), name="create"),
        task(database_args(credentials_secret, **changes), name="change"),
        task(database_args(credentials_secret, **changes), name="again"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False]
    assert [result["revision"] for result in run.results] == [1, 2, 2]
    assert mutating(aws, start) == ["RegisterTaskDefinition", "RegisterTaskDefinition"]
    definition, tags = describe(aws, 2)
    assert check(definition)
    assert not check(describe(aws, 1)[0])
    assert tags == {"application": "mlflow"}  # without tags, a new revision keeps the old one's
    assert active_revisions(aws) == [1, 2]


def test_tags_and_purge_tags(aws, play, credentials_secret):
    start = aws.control.last_request_id()
    run = play.tasks([
        task(database_args(credentials_secret, tags={"application": "mlflow", "team": "ml"}), name="create"),
        task(database_args(credentials_secret, tags={"cost-centre": "42"}, purge_tags=False), name="add"),
        task(database_args(credentials_secret, tags={"application": "mlflow"}), name="purge"),
        task(database_args(credentials_secret, tags={"application": "mlflow"}), name="same"),
        task(database_args(credentials_secret), name="tags not given"),
        task(database_args(credentials_secret, tags={}, purge_tags=False), name="nothing to add"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, False, False, False]
    assert [result["task_definition"]["tags"] for result in run.results] == [
        {"application": "mlflow", "team": "ml"},
        {"application": "mlflow", "team": "ml", "cost-centre": "42"},
        {"application": "mlflow"},
        {"application": "mlflow"},
        {"application": "mlflow"},
        {"application": "mlflow"},
    ]
    assert mutating(aws, start) == ["RegisterTaskDefinition", "TagResource", "UntagResource"]
    assert describe(aws, 1)[1] == {"application": "mlflow"}
    assert active_revisions(aws) == [1]


def test_state_absent_deregisters_every_revision(aws, play, credentials_secret):
    absent = {"family": "mlflow", "state": "absent"}
    start = aws.control.last_request_id()
    run = play.tasks([
        task(database_args(credentials_secret), name="revision 1"),
        task(database_args(credentials_secret, workers=2), name="revision 2"),
        task(absent, name="check", check_mode=True, diff=True),
        task(absent, name="absent"),
        task(absent, name="absent again"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, True, False]
    checked, removed = run.results[2], run.results[3]
    assert checked["diff"]["after"] == {} and checked["diff"]["before"]["family"] == "mlflow"
    assert checked["deregistered_task_definition_arns"] == removed["deregistered_task_definition_arns"]
    assert [arn.rsplit(":", 1)[1] for arn in removed["deregistered_task_definition_arns"]] == ["1", "2"]
    assert mutating(aws, start) == ["RegisterTaskDefinition"] * 2 + ["DeregisterTaskDefinition"] * 2
    assert active_revisions(aws) == []
    assert describe(aws, 2)[0]["status"] == "INACTIVE"

    previewed = play(database_args(credentials_secret), check=True)
    assert previewed.rc == 0 and previewed.result()["revision"] == 3, previewed.output
    back = play(database_args(credentials_secret))
    assert back.rc == 0 and back.recap["changed"] == 1, back.output
    assert back.result()["revision"] == 3  # revision numbers go on after deregistered ones
    assert back.result()["task_definition_arn"] == previewed.result()["task_definition_arn"]
    assert active_revisions(aws) == [3]


def test_sqlite_on_efs_with_a_sidecar_converges(aws, play):
    args = {
        "family": "mlflow-small",
        "cpu": 512,
        "memory": 1024,
        "workers": 1,
        "task_role_arn": TASK_ROLE,
        "sqlite_efs": {"file_system_id": "fs-0123456789abcdef0", "access_point_id": "fsap-0123456789abcdef0"},
        "artifacts_uri": "s3://mlflow-artifacts/small",
        "allowed_hosts": ["*.internal.example.com"],
        "sidecars": [{"name": "exporter", "image": "public.ecr.aws/example/exporter:1", "essential": False,
                      "portMappings": [{"containerPort": 9100}]}],
    }
    run = play.tasks([task(args), task(args)])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False]
    assert not run.result(0).get("warnings")

    definition, dummy = describe(aws, 1, "mlflow-small")
    assert "executionRoleArn" not in definition
    (volume,) = definition["volumes"]
    assert volume["efsVolumeConfiguration"]["authorizationConfig"] == {"accessPointId": "fsap-0123456789abcdef0", "iam": "ENABLED"}
    assert volume["efsVolumeConfiguration"]["transitEncryption"] == "ENABLED"
    mlflow, exporter = definition["containerDefinitions"]
    assert mlflow["mountPoints"] == [{"sourceVolume": volume["name"], "containerPath": "/mnt/efs"}]
    assert {"name": "MLFLOW_BACKEND_STORE_URI", "value": "sqlite:////mnt/efs/mlflow.db"} in mlflow["environment"]
    assert mlflow["entryPoint"][:2] == ["python", "-c"]
    assert exporter["name"] == "exporter" and exporter["essential"] is False


def test_backend_uri_from_one_secret(aws, play):
    reference = aws.client("secretsmanager").create_secret(Name="mlflow/backend-uri", SecretString="sqlite:///x.db")["ARN"]
    run = play({"family": "mlflow-uri", "execution_role_arn": EXECUTION_ROLE, "backend_store_uri_secret_arn": reference,
                "artifacts_uri": "s3://b/p", "artifacts_mode": "direct"})
    assert run.rc == 0, run.output
    assert any("allowed_hosts is not set" in warning for warning in run.result().get("warnings", []))
    (container,) = describe(aws, 1, "mlflow-uri")[0]["containerDefinitions"]
    assert container["secrets"] == [{"name": "MLFLOW_BACKEND_STORE_URI", "valueFrom": reference}]
    environment = {entry["name"]: entry["value"] for entry in container["environment"]}
    assert (environment["MLFLOW_SERVE_ARTIFACTS"], environment["MLFLOW_DEFAULT_ARTIFACT_ROOT"]) == ("false", "s3://b/p")


def bad_inputs(secret_arn):
    """(changes to database_args, what the error message says) for inputs the module must refuse."""
    return [
        ({"cpu": 1024, "memory": 1024}, "memory=1024 MiB does not fit cpu=1024 on Fargate: set memory to 2048, 3072, 4096"),
        ({"cpu": 300}, "cpu=300 is not a Fargate task size"),
        ({"execution_role_arn": None}, "execution_role_arn is required"),
        ({"database": {"engine": "postgresql", "host": "db", "name": "m", "credentials_secret_arn": f"{secret_arn}:password::"}},
         "without a JSON key suffix"),
        ({"sqlite_efs": {"file_system_id": "fs-1", "access_point_id": "fsap-1"}}, "parameters are mutually exclusive"),
        ({"extra_environment": {"MLFLOW_BACKEND_STORE_URI": "sqlite:///x.db"}}, "extra_environment may not set MLFLOW_BACKEND_STORE_URI"),
        ({"task_role_arn": "mlflow-task"}, "task_role_arn must be an IAM role ARN"),
    ]


def test_bad_input_fails_clearly_and_calls_no_api(aws, play, credentials_secret):
    """Every bad input in one playbook (ignore_errors): each task fails with its message, and the
    request log shows no request at all, let alone a mutating one."""
    cases = bad_inputs(credentials_secret)
    tasks = [task(database_args(credentials_secret, **changes), ignore_errors=True) for changes, dummy in cases]
    start = aws.control.last_request_id()
    run = play.tasks(tasks)
    assert run.rc == 0, run.output
    assert run.recap["ignored"] == len(cases), run.output
    for result, (changes, message) in zip(run.results, cases):
        assert result["failed"], result
        assert message in result["msg"], (changes, result["msg"])
    assert aws.control.requests(since=start) == []
    assert active_revisions(aws) == []


# --- the registered definition, started as ECS would start it ------------------------------------------------------------


def resolve_value_from(aws, value_from):
    """What ECS injects for a secrets entry: the whole secret, or one JSON key of it (<arn>:key::)."""
    secretsmanager = aws.client("secretsmanager")
    parts = value_from.split(":")
    secret_arn, json_key = ":".join(parts[:7]), parts[7] if len(parts) > 7 else ""
    value = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    return json.loads(value)[json_key] if json_key else value


class LocalContainer:
    """A container definition run as a local process: the registered entry point, environment and
    resolved secrets, with the test's python and mlflow on PATH standing in for the image's."""

    def __init__(self, aws, container, directory: Path):
        self.directory = directory
        env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_", "MLOPS_"))}
        env.update({entry["name"]: entry["value"] for entry in container["environment"]})
        env.update({entry["name"]: resolve_value_from(aws, entry["valueFrom"]) for entry in container.get("secrets", [])})
        env.update(MLFLOW_HOST="127.0.0.1",  # 0.0.0.0 in the task; no need to listen on every interface here
                   MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONUNBUFFERED="1",
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        self.port = int(env["MLFLOW_PORT"])
        self.command = container["entryPoint"] + container.get("command", [])
        self.env = env
        self.process = None
        self.log = directory / "container.log"

    def __enter__(self):
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(self.command, env=self.env, cwd=self.directory, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the container exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.__exit__()
        raise AssertionError(f"the container did not answer /health in time:\n{self.log.read_text()[-4000:]}")

    def __exit__(self, *exc_info):
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def request(self, method, path, host, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Host": host, "Content-Type": "application/json"}
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()


def test_the_registered_definition_starts_mlflow_on_a_real_database(aws, play, tmp_path, postgres_database):
    """The start command percent-encodes an awkward password inside the container, names the driver,
    and MLflow admits the load balancer's host name. (PostgreSQL only: the MySQL rendering differs in
    the driver name and port, which the unit tests check, and the e2e tests run mysql+pymysql URIs
    with awkward passwords against MariaDB; a second MLflow start would add a minute.)"""
    engine, database = "postgresql", postgres_database
    secret_arn = aws.client("secretsmanager").create_secret(
        Name=f"rds!cluster-{engine}", SecretString=json.dumps({"username": database.user, "password": database.password}))["ARN"]
    aws.client("s3").create_bucket(Bucket="mlflow-artifacts")
    args = database_args(secret_arn, port=free_port(), workers=1,
                         database={"engine": engine, "host": database.server.host, "port": database.server.port,
                                   "name": database.name, "credentials_secret_arn": secret_arn})
    run = play(args)
    assert run.rc == 0, run.output
    definition, dummy = describe(aws, 1)
    assert database.password not in json.dumps(definition, default=str)
    (container,) = definition["containerDefinitions"]

    with LocalContainer(aws, container, tmp_path) as local:
        status, body = local.request("POST", "/api/2.0/mlflow/experiments/create", LOAD_BALANCER_HOST, {"name": "through-the-alb"})
        assert status == 200, body
        status, body = local.request("GET", "/api/2.0/mlflow/experiments/search?max_results=10", "mlflow.example.com")
        assert status == 200 and "through-the-alb" in body, body
        status, body = local.request("GET", "/api/2.0/mlflow/experiments/search?max_results=10", "evil.example.net")
        assert status == 403 and "Invalid Host header" in body
        # The container health check as registered (python in the image, here the test's python).
        health_check = container["healthCheck"]["command"]
        assert health_check[:2] == ["CMD", "python"]
        assert subprocess.run([sys.executable] + health_check[2:], env=local.env, timeout=60, check=False).returncode == 0
        environ = Path(f"/proc/{local.process.pid}/environ").read_bytes().decode(errors="replace")
        cmdline = Path(f"/proc/{local.process.pid}/cmdline").read_bytes().decode(errors="replace")
    assert "MLOPS_DB_PASSWORD" not in environ  # the start script removed the raw credentials
    assert database.password not in cmdline
    connection = database.connect()  # MLflow made its schema in the database the definition names
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM experiments WHERE name = 'through-the-alb'")
            assert [tuple(row) for row in cursor.fetchall()] == [("through-the-alb",)]
    finally:
        connection.close()
