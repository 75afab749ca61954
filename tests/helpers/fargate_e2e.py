"""Prove that an MLflow deployment on ECS Fargate, as the proving ground holds it, works end to end.

The role ``mlops.mlflow.mlflow_aws_fargate`` leaves a service behind a load balancer, a task
definition, a database (or an EFS file system) and a bucket in the emulator, and describes them in
its outputs fact. Nothing runs in the emulator, so this harness runs what ECS would run, here:

    deployment = DeployedFargateMlflow.from_outputs(outputs, aws, tmp_path / "deployment")
    with deployment.run(database_server=postgres_server) as running:
        running.exercise(tmp_path)                                  # a real MLflow client, every step checked
        assert running.request("GET", SEARCH, host="evil.example.com")[0] == 403

``run()``:

1. Reads the service, its task definition, target group, load balancer and listeners back from the
   emulator and checks that they are what the outputs say (``problems()``); any mismatch fails
   before anything starts.
2. Database backends (aurora-postgresql, aurora-mysql, external): reads the credentials secret
   (``{"username": ..., "password": ...}``; a whole SQLAlchemy URI also works) from the emulated
   Secrets Manager and creates, on the local PostgreSQL or MariaDB server, the database
   ``database_name`` owned by a user with exactly that name and password (any characters: identifiers
   and the password are quoted by psycopg2.sql and PyMySQL). The database endpoint is mapped to the
   local server (host and port) by the task runner's host map. The database and the user are dropped
   on exit, unless ``keep_database`` (then a later ``run()`` of the same deployment reuses them).
3. SQLite on EFS: the EFS volume (file system and access point of the outputs) is a local directory
   that lives as long as the deployment object, shared by its runs as the file system is shared by
   successive tasks.
4. Runs, to completion and in order, the one-off tasks the deployment started with RunTask in the
   cluster (the schema migration: ``mlflow db upgrade`` through the container's start script), with
   their overrides; one that exits non-zero fails the run. Then starts the service's task (or
   ``tasks`` copies of it) with the local ECS task runner (the test venv's ``mlflow`` stands in for
   the image; S3 and Secrets Manager are the emulator's) and waits for the target group's health
   check path.
5. Puts a local load balancer in front (``proving_ground.load_balancer``): ``running.tracking_uri``
   is ``http://127.0.0.1:<port><static prefix>``, and every request reaches MLflow with the Host
   header a client of ``outputs["tracking_uri"]`` sends through the ALB, so MLflow's host check runs
   as in AWS. A request with another Host header keeps it.
6. On exit stops the load balancer and the tasks' process groups, drops the database objects it
   made, and checks that no database password (raw or percent-encoded) is in any task's log. An
   exception inside the ``with`` block gets the task's log tail and the load balancer's recent
   requests attached (as an exception note, which pytest prints).

Where AWS settings come from: the ``aws`` fixture (``AwsTestAccount``: ``endpoint``, ``environment``,
``region``), a ``RunningProvingGround``, or a boto3 Session with ``endpoint_url``; an ``AWS_CA_BUNDLE``
in that environment is trusted by the harness's clients and passed on to the task.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Mapping, Optional, Tuple
from urllib.parse import quote, urlparse

import boto3
import botocore.session

from helpers.mlflow_runs import MlflowExercise, exercise_mlflow
from proving_ground.databases import Database, MariaDBServer, PostgresServer
from proving_ground.ecs_task_runner import LOOPBACK, EcsTaskRunner, EcsTaskRunnerError, LocalTask, TaskSpec, TaskStartError
from proving_ground.load_balancer import LocalLoadBalancer

DATABASE_BACKENDS = ("aurora-postgresql", "aurora-mysql", "external")
BACKENDS = DATABASE_BACKENDS + ("sqlite-efs",)
REQUIRED_OUTPUTS = ("region", "tracking_uri", "load_balancer_dns_name", "load_balancer_arn", "target_group_arn", "cluster_name",
                    "service_name", "task_definition_arn", "bucket_name", "artifact_uri", "backend_store")
REQUIRED_BY_BACKEND = {
    "aurora-postgresql": ("database_endpoint", "database_port", "database_name", "database_secret_arn"),
    "aurora-mysql": ("database_endpoint", "database_port", "database_name", "database_secret_arn"),
    "external": ("database_endpoint", "database_name", "database_secret_arn"),
    "sqlite-efs": ("efs_file_system_id", "efs_access_point_id"),
}
# Variables of the process environment that make a client trust the proving ground's test CA.
CA_VARIABLES = ("AWS_CA_BUNDLE",)
LOG_TAIL = 6000


class DeploymentMismatch(AssertionError):
    """What the emulator holds is not what the outputs say (or cannot run as they say)."""


# --- AWS access -----------------------------------------------------------------------------------------------------------


@dataclass
class AwsAccess:
    """A boto3 session, the emulator's endpoint and the environment a child process needs for it."""

    session: boto3.Session
    endpoint_url: str
    environment: dict = field(default_factory=dict)

    def client(self, service: str, region: Optional[str] = None):
        return self.session.client(service, region_name=region or self.session.region_name, endpoint_url=self.endpoint_url)

    @property
    def ca_environment(self) -> dict:
        """What makes a child's boto3 trust the proving ground's test CA (empty over plain HTTP)."""
        return {key: self.environment[key] for key in CA_VARIABLES if self.environment.get(key)}

    @property
    def client_trust_environment(self) -> dict:
        """What makes an MLflow client (requests) trust the emulated S3's certificate, for presigned
        downloads straight from the bucket (empty over plain HTTP)."""
        ca_bundle = self.environment.get("AWS_CA_BUNDLE")
        return {"REQUESTS_CA_BUNDLE": ca_bundle} if ca_bundle and self.endpoint_url.startswith("https://") else {}


def aws_access(aws, *, endpoint_url: Optional[str] = None, environment: Optional[Mapping[str, str]] = None,
               region: Optional[str] = None) -> AwsAccess:
    """AwsAccess from the ``aws`` fixture, a RunningProvingGround, or a boto3 Session (then give
    ``endpoint_url``, or have it in ``environment`` as AWS_ENDPOINT_URL)."""
    if isinstance(aws, AwsAccess):
        return aws
    environment = dict(environment if environment is not None else getattr(aws, "environment", None) or {})
    endpoint_url = endpoint_url or getattr(aws, "endpoint", None) or environment.get("AWS_ENDPOINT_URL")
    if not endpoint_url:
        raise ValueError("no endpoint: give endpoint_url, or an environment with AWS_ENDPOINT_URL")
    if isinstance(aws, boto3.Session):
        return AwsAccess(aws, endpoint_url, environment)
    core = botocore.session.get_session()
    if environment.get("AWS_CA_BUNDLE"):
        core.set_config_variable("ca_bundle", environment["AWS_CA_BUNDLE"])  # what botocore reads when verify is unset
    session = boto3.Session(botocore_session=core,
                            aws_access_key_id=environment.get("AWS_ACCESS_KEY_ID", "testing"),
                            aws_secret_access_key=environment.get("AWS_SECRET_ACCESS_KEY", "testing"),
                            aws_session_token=environment.get("AWS_SESSION_TOKEN", "testing"),
                            region_name=region or getattr(aws, "region", None) or environment.get("AWS_REGION") or "us-east-1")
    return AwsAccess(session, endpoint_url, environment)


# --- databases on the local servers ---------------------------------------------------------------------------------------


def _is_postgres(server) -> bool:
    return isinstance(server, PostgresServer) or getattr(server, "product", "") == "PostgreSQL"


def _is_mariadb(server) -> bool:
    return isinstance(server, MariaDBServer) or getattr(server, "product", "") == "MariaDB"


def _mysql_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _check_names(name: str, user: str) -> None:
    for label, value in (("database name", name), ("user name", user)):
        if not value or "\0" in value or len(value) > 63:
            raise ValueError(f"the {label} must have 1 to 63 characters and no NUL, got {value!r}")


def drop_database(server, name: str, user: str) -> None:
    """Drop the database and the user if they exist (connections to the database are ended)."""
    _check_names(name, user)
    connection = server.connect()
    try:
        if _is_postgres(server):
            from psycopg2 import sql

            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                cursor.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
        elif _is_mariadb(server):
            with connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {_mysql_identifier(name)}")
                cursor.execute("DROP USER IF EXISTS %s@'%%'", (user,))
            connection.commit()
        else:
            raise TypeError(f"not a PostgresServer or MariaDBServer: {type(server).__name__}")
    finally:
        connection.close()


def provision_database(server, name: str, user: str, password: str) -> Database:
    """Create ``user`` with ``password`` and the database ``name`` it owns (and nobody else may use),
    as the role's database has them; leftovers of the same names are dropped first. The password
    never goes into SQL text: psycopg2.sql.Literal and PyMySQL's parameter escaping quote it."""
    drop_database(server, name, user)
    connection = server.connect()
    try:
        if _is_postgres(server):
            from psycopg2 import sql

            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), sql.Literal(password)))
                cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(user)))
                cursor.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        else:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {_mysql_identifier(name)}")
                cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
                cursor.execute(f"GRANT ALL PRIVILEGES ON {_mysql_identifier(name)}.* TO %s@'%%'", (user,))
            connection.commit()
    finally:
        connection.close()
    return Database(server, name, user, password)


def credentials_from_secret(secret_string: str) -> Tuple[str, str]:
    """(username, password) of a credentials secret: JSON with "username" and "password" (what RDS
    manages for a master user), or a whole SQLAlchemy URI."""
    try:
        document = json.loads(secret_string)
    except ValueError:
        document = None
    if isinstance(document, dict):
        missing = [key for key in ("username", "password") if not isinstance(document.get(key), str)]
        if missing:
            raise DeploymentMismatch(f"the database secret has no string {' or '.join(missing)} (its keys: {sorted(document)})")
        return document["username"], document["password"]
    from sqlalchemy.engine import make_url

    try:
        url = make_url(secret_string)
    except Exception:  # pylint: disable=broad-exception-caught
        raise DeploymentMismatch("the database secret is neither JSON with username and password nor a database URI") from None
    if not url.username or url.password is None:
        raise DeploymentMismatch("the database URI in the secret has no user name or password")
    return url.username, url.password


def mask(text: str, secrets: List[str]) -> str:
    """``text`` with every secret value replaced by ********."""
    for value in secrets:
        if value:
            text = text.replace(value, "********")
    return text


# --- the deployment -------------------------------------------------------------------------------------------------------


def _forward_targets(actions: list) -> set:
    arns = set()
    for action in actions or []:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            arns.add(action["TargetGroupArn"])
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups", []):
            arns.add(group.get("TargetGroupArn"))
    return arns


def _environment_of(container: Mapping) -> dict:
    return {entry["name"]: entry.get("value", "") for entry in container.get("environment", [])}


class DeployedFargateMlflow:
    """A deployment described by the role's outputs (``mlflow_aws_fargate_outputs``), in the emulator.

    ``directory`` holds the tasks' working directories and logs (``tasks/``) and the local stand-in
    of the EFS file system (``efs/``).
    """

    def __init__(self, outputs: Mapping, access: AwsAccess, directory: Path):
        self.outputs = dict(outputs)
        self.access = access
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._runs = 0
        self._kept: dict = {}   # (id(server), name, user) -> Database, kept by run(keep_database=True)
        missing = [key for key in REQUIRED_OUTPUTS if self.outputs.get(key) in (None, "")]
        backend = self.outputs.get("backend_store")
        if backend in BACKENDS:
            missing += [key for key in REQUIRED_BY_BACKEND[backend] if self.outputs.get(key) in (None, "")]
        elif backend:
            raise DeploymentMismatch(f"backend_store {backend!r} is none of {', '.join(BACKENDS)}")
        if missing:
            raise DeploymentMismatch(f"the outputs lack {', '.join(missing)} (they have {', '.join(sorted(self.outputs))})")

    @classmethod
    def from_outputs(cls, outputs: Mapping, aws, directory: Path, *, endpoint_url: Optional[str] = None,
                     environment: Optional[Mapping[str, str]] = None) -> "DeployedFargateMlflow":
        """``aws``: the ``aws`` fixture, a RunningProvingGround or a boto3 Session (see aws_access)."""
        return cls(outputs, aws_access(aws, endpoint_url=endpoint_url, environment=environment, region=outputs.get("region")),
                   directory)

    # what the outputs say
    @property
    def region(self) -> str:
        return self.outputs["region"]

    @property
    def backend_store(self) -> str:
        return self.outputs["backend_store"]

    @property
    def uses_database(self) -> bool:
        return self.backend_store in DATABASE_BACKENDS

    @property
    def artifact_bucket(self) -> str:
        return self.outputs["bucket_name"]

    @property
    def artifact_prefix(self) -> str:
        parsed = urlparse(self.outputs["artifact_uri"])
        return parsed.path.strip("/")

    @property
    def public_host(self) -> str:
        """The Host header a client of the tracking URI sends (a port only when not the scheme's default)."""
        parsed = urlparse(self.outputs["tracking_uri"])
        default = {"http": 80, "https": 443}.get(parsed.scheme)
        host = parsed.hostname or ""
        return host if parsed.port in (None, default) else f"{host}:{parsed.port}"

    @property
    def listener_port(self) -> int:
        parsed = urlparse(self.outputs["tracking_uri"])
        return parsed.port or (443 if parsed.scheme == "https" else 80)

    @property
    def path_prefix(self) -> str:
        """The tracking URI's path (the static prefix), without the trailing '/'."""
        return urlparse(self.outputs["tracking_uri"]).path.rstrip("/")

    @property
    def efs_directory(self) -> Optional[Path]:
        """The local directory that stands for the EFS access point (sqlite-efs only)."""
        if self.backend_store != "sqlite-efs":
            return None
        return self.directory / "efs" / self.outputs["efs_file_system_id"] / self.outputs["efs_access_point_id"]

    def client(self, service: str):
        return self.access.client(service, self.region)

    def runner(self, host_map=None, task_definition_arns: Optional[List[str]] = None) -> EcsTaskRunner:
        """A local ECS task runner for this deployment's tasks (a directory of its own per call), with
        the EFS volumes of those task definitions (default: the service's) as local directories."""
        self._runs += 1
        volumes = self._volume_directories(task_definition_arns or [self.outputs["task_definition_arn"]])
        return EcsTaskRunner(self.access.session, self.access.endpoint_url, self.directory / "tasks" / f"run-{self._runs}",
                             host_map=host_map, volume_directories=volumes, extra_environment=self.access.ca_environment,
                             ca_bundle=self.access.environment.get("AWS_CA_BUNDLE"))

    # what the emulator holds
    def describe(self) -> TaskSpec:
        """The service's task definition and container, as ECS holds them."""
        runner = EcsTaskRunner(self.access.session, self.access.endpoint_url, self.directory / "tasks",
                               ca_bundle=self.access.environment.get("AWS_CA_BUNDLE"))
        try:
            return runner.describe_service(self.outputs["cluster_name"], self.outputs["service_name"])
        except EcsTaskRunnerError as error:
            raise DeploymentMismatch(str(error)) from None

    def _volume_directories(self, task_definition_arns: List[str]) -> dict:
        """Task volume name -> local directory, for every EFS volume of these task definitions: one
        directory per file system and access point, the same for every task and every run."""
        directories = {}
        for arn in dict.fromkeys(task_definition_arns):
            try:
                definition = self.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
            except Exception:  # pylint: disable=broad-exception-caught
                continue  # problems() says why
            for volume in definition.get("volumes", []):
                efs = volume.get("efsVolumeConfiguration")
                if efs:
                    access_point = (efs.get("authorizationConfig") or {}).get("accessPointId") or "root"
                    directories[volume["name"]] = self.directory / "efs" / efs.get("fileSystemId", "unknown") / access_point
        return directories

    def problems(self, spec: Optional[TaskSpec] = None) -> List[str]:
        """How the emulator's records differ from the outputs, or from what the backend needs; empty
        when the deployment is what the outputs describe."""
        outputs = self.outputs
        try:
            spec = spec or self.describe()
        except DeploymentMismatch as error:
            return [str(error)]
        found = []
        service = spec.service or {}
        if spec.task_definition_arn != outputs["task_definition_arn"]:
            found.append(f"the service runs {spec.task_definition_arn}, the outputs say {outputs['task_definition_arn']}")
        if service.get("desiredCount", 0) < 1:
            found.append(f"the service's desired count is {service.get('desiredCount')}: no task would run")
        providers = [entry.get("capacityProvider", "") for entry in service.get("capacityProviderStrategy") or []]
        if service.get("launchType") != "FARGATE" and not any(provider.startswith("FARGATE") for provider in providers):
            found.append(f"the service runs on {service.get('launchType') or providers}, not on Fargate")
        if outputs["target_group_arn"] not in spec.target_group_arns:
            found.append(f"the service's container {spec.container_name} is not in target group {outputs['target_group_arn']} "
                         f"(its load balancers: {service.get('loadBalancers')})")
        found += self._load_balancer_problems()
        container = spec.container
        environment = _environment_of(container)
        found += self._artifact_problems(environment)
        allowed = [host for host in environment.get("MLFLOW_SERVER_ALLOWED_HOSTS", "").split(",") if host]
        if outputs.get("allowed_hosts") is not None and sorted(set(allowed)) != sorted(set(outputs["allowed_hosts"])):
            found.append(f"the task allows hosts {allowed}, the outputs say {outputs['allowed_hosts']}")
        if outputs.get("log_group_name"):
            options = (container.get("logConfiguration") or {}).get("options") or {}
            if options.get("awslogs-group") != outputs["log_group_name"]:
                found.append(f"the container logs to {options.get('awslogs-group')!r}, the outputs say {outputs['log_group_name']!r}")
        if self.uses_database:
            references = [entry.get("valueFrom", "") for entry in container.get("secrets", [])]
            if not any(reference.startswith(outputs["database_secret_arn"]) for reference in references):
                found.append(f"no secret of the container comes from {outputs['database_secret_arn']} (its secrets: {references})")
        else:
            found += self._efs_problems(spec, environment)
        return found

    def _load_balancer_problems(self) -> List[str]:
        outputs = self.outputs
        elbv2 = self.client("elbv2")
        found = []
        try:
            (group,) = elbv2.describe_target_groups(TargetGroupArns=[outputs["target_group_arn"]])["TargetGroups"]
            (balancer,) = elbv2.describe_load_balancers(LoadBalancerArns=[outputs["load_balancer_arn"]])["LoadBalancers"]
        except Exception as error:  # pylint: disable=broad-exception-caught
            return [f"cannot read the target group or the load balancer of the outputs: {error}"]
        if outputs["load_balancer_arn"] not in group.get("LoadBalancerArns", []):
            found.append(f"target group {outputs['target_group_arn']} is not attached to load balancer {outputs['load_balancer_arn']}")
        if balancer.get("DNSName") != outputs["load_balancer_dns_name"]:
            found.append(f"the load balancer's DNS name is {balancer.get('DNSName')}, the outputs say {outputs['load_balancer_dns_name']}")
        scheme = urlparse(outputs["tracking_uri"]).scheme
        listeners = elbv2.describe_listeners(LoadBalancerArn=outputs["load_balancer_arn"])["Listeners"]
        listener = next((entry for entry in listeners if entry.get("Port") == self.listener_port), None)
        if listener is None:
            return found + [f"the load balancer has no listener on port {self.listener_port} (of {outputs['tracking_uri']}); "
                            f"it listens on {sorted(entry.get('Port') for entry in listeners)}"]
        if listener.get("Protocol", "").lower() != scheme:
            found.append(f"the listener on port {self.listener_port} speaks {listener.get('Protocol')}, the tracking URI {scheme}")
        targets = _forward_targets(listener.get("DefaultActions"))
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"]).get("Rules", []):
            targets |= _forward_targets(rule.get("Actions"))
        if outputs["target_group_arn"] not in targets:
            found.append(f"the listener on port {self.listener_port} does not forward to {outputs['target_group_arn']}")
        return found

    def _artifact_problems(self, environment: Mapping[str, str]) -> List[str]:
        outputs = self.outputs
        found = []
        parsed = urlparse(outputs["artifact_uri"])
        if parsed.scheme != "s3" or parsed.netloc != outputs["bucket_name"]:
            found.append(f"artifact_uri {outputs['artifact_uri']} is not in bucket {outputs['bucket_name']}")
        configured = environment.get("MLFLOW_ARTIFACTS_DESTINATION") or environment.get("MLFLOW_DEFAULT_ARTIFACT_ROOT")
        if configured is not None and configured.rstrip("/") != outputs["artifact_uri"].rstrip("/"):
            found.append(f"the task stores artifacts in {configured}, the outputs say {outputs['artifact_uri']}")
        return found

    def _efs_problems(self, spec: TaskSpec, environment: Mapping[str, str]) -> List[str]:
        outputs = self.outputs
        found = []
        volumes = {volume["name"]: volume.get("efsVolumeConfiguration") or {} for volume in spec.task_definition.get("volumes", [])}
        mounts = [mount for mount in spec.container.get("mountPoints", [])
                  if volumes.get(mount.get("sourceVolume"), {}).get("fileSystemId") == outputs["efs_file_system_id"]]
        if not mounts:
            return [f"the container mounts no volume of file system {outputs['efs_file_system_id']}"]
        efs = volumes[mounts[0]["sourceVolume"]]
        access_point = (efs.get("authorizationConfig") or {}).get("accessPointId")
        if access_point != outputs["efs_access_point_id"]:
            found.append(f"the EFS volume uses access point {access_point}, the outputs say {outputs['efs_access_point_id']}")
        uri = environment.get("MLFLOW_BACKEND_STORE_URI", "")
        if not uri.startswith("sqlite:///" + mounts[0]["containerPath"].rstrip("/") + "/"):
            found.append(f"the backend store URI {uri!r} is not a SQLite file under {mounts[0]['containerPath']}")
        service = spec.service or {}
        if service.get("desiredCount") != 1:
            found.append(f"SQLite allows one writer, but the service wants {service.get('desiredCount')} tasks")
        maximum = (service.get("deploymentConfiguration") or {}).get("maximumPercent")
        if maximum is not None and maximum > 100:
            found.append(f"a deployment may run {maximum}% of the tasks: the new task would write to the SQLite file while the old "
                         "one still does (maximumPercent must be 100)")
        return found

    # one-off tasks (RunTask), such as the schema migration
    def one_off_tasks(self) -> List[dict]:
        """The tasks of the deployment's cluster that no service started (RunTask: a schema migration),
        oldest first, as DescribeTasks shows them."""
        ecs = self.client("ecs")
        arns: list = []
        for status in ("RUNNING", "STOPPED"):
            for page in ecs.get_paginator("list_tasks").paginate(cluster=self.outputs["cluster_name"], desiredStatus=status):
                arns += [arn for arn in page.get("taskArns", []) if arn not in arns]
        described = []
        for start in range(0, len(arns), 100):
            described += ecs.describe_tasks(cluster=self.outputs["cluster_name"], tasks=arns[start:start + 100]).get("tasks", [])
        one_off = [task for task in described
                   if not str(task.get("startedBy", "")).startswith("ecs-svc/") and not str(task.get("group", "")).startswith("service:")]
        return sorted(one_off, key=lambda task: (str(task.get("createdAt", "")), task["taskArn"]))

    def _replay_one_off_tasks(self, runner: EcsTaskRunner, described_tasks: List[dict], timeout: float, secrets: List[str]) -> List[LocalTask]:
        """Run the one-off tasks locally to completion, in the order they were started; the first
        that exits non-zero fails with its log tail."""
        done = []
        for described in described_tasks:
            spec = runner.describe_task(self.outputs["cluster_name"], described["taskArn"])
            task = runner.prepare(spec, health_path="/")
            done.append(task)
            code = task.run(timeout)
            if code != 0:
                command = (spec.overrides.get("containerOverrides") or [{}])[0].get("command")
                raise AssertionError(f"one-off task {described['taskArn']} (command override {command}) exited with {code} here; "
                                     f"{task.log_path}:\n{mask(task.log_text()[-LOG_TAIL:], secrets)}")
        return done

    # the database
    def database_credentials(self) -> Tuple[str, str]:
        """(username, password) from the database secret in the emulated Secrets Manager."""
        secret = self.client("secretsmanager").get_secret_value(SecretId=self.outputs["database_secret_arn"])
        return credentials_from_secret(secret.get("SecretString") or "")

    def _check_server(self, database_server) -> None:
        if not self.uses_database:
            if database_server is not None:
                raise ValueError(f"backend_store {self.backend_store} needs no database server")
            return
        if database_server is None:
            raise ValueError(f"backend_store {self.backend_store} needs a database server (postgres_server or mariadb_server)")
        wants_postgres = {"aurora-postgresql": True, "aurora-mysql": False}.get(self.backend_store)
        if wants_postgres is None:  # external: whatever the task's driver says, if it says
            driver = _environment_of(self.describe().container).get("MLOPS_DB_DRIVER", "")
            wants_postgres = driver.startswith("postgresql") if driver else _is_postgres(database_server)
        if wants_postgres and not _is_postgres(database_server):
            raise ValueError(f"backend_store {self.backend_store} is PostgreSQL: give a PostgresServer")
        if not wants_postgres and not _is_mariadb(database_server):
            raise ValueError(f"backend_store {self.backend_store} is MySQL: give a MariaDBServer")

    def _database(self, database_server) -> Database:
        username, password = self.database_credentials()
        key = (id(database_server), self.outputs["database_name"], username)
        kept = self._kept.get(key)
        if kept is not None and kept.password == password:
            return kept
        return provision_database(database_server, self.outputs["database_name"], username, password)

    def drop_kept_databases(self) -> None:
        """Drop the databases that runs with ``keep_database=True`` left."""
        for database in list(self._kept.values()):
            drop_database(database.server, database.name, database.user)
        self._kept.clear()

    def _host_map(self, database_server) -> dict:
        """The database endpoint (a host name; a ``:port`` suffix is ignored) -> the local server."""
        host = str(self.outputs["database_endpoint"]).split(":", 1)[0]
        return {host: (database_server.host, database_server.port)}

    # running it
    @contextlib.contextmanager
    def run(self, database_server=None, *, tasks: int = 1, timeout: float = 300.0, extra_environment: Optional[Mapping[str, str]] = None,
            keep_database: bool = False, check: bool = True, one_off_tasks: bool = True,
            load_balancer_port: int = 0) -> Iterator["RunningFargateMlflow"]:
        """Run the service's task(s) locally behind a local load balancer (see the module docstring).

        ``database_server``: a PostgresServer or MariaDBServer for database backends, None for
        sqlite-efs. ``tasks``: how many copies of the task to run (started together, as ECS starts a
        service's tasks; the load balancer takes turns). ``extra_environment``: set over the task's
        own (say ``{"MLFLOW_WORKERS": "1"}``). ``keep_database``: leave the database for a later
        run. ``check``: refuse to start when ``problems()`` finds any. ``one_off_tasks``: first run,
        to completion, the tasks the deployment started with RunTask in the cluster (a schema
        migration), with their overrides; any that exits non-zero fails the run. ``load_balancer_port``:
        the local port of the load balancer (0: a free one).
        """
        self._check_server(database_server)
        spec = self.describe()
        if check:
            found = self.problems(spec)
            if found:
                raise DeploymentMismatch("the deployment is not what the outputs say:\n- " + "\n- ".join(found))
        if tasks < 1:
            raise ValueError("tasks must be at least 1")
        with contextlib.ExitStack() as stack:
            database = None
            host_map = None
            if self.uses_database:
                database = self._database(database_server)
                key = (id(database_server), database.name, database.user)
                if keep_database:
                    self._kept[key] = database
                else:
                    self._kept.pop(key, None)
                    stack.callback(drop_database, database_server, database.name, database.user)
                host_map = self._host_map(database_server)
            one_off = self.one_off_tasks() if one_off_tasks else []
            runner = self.runner(host_map, [spec.task_definition_arn] + [task["taskDefinitionArn"] for task in one_off])
            if extra_environment:
                runner.extra_environment.update(extra_environment)
            local_tasks = [runner.prepare(spec) for index in range(tasks)]
            if database is not None and not (local_tasks[0].rewritten_variables or self._endpoint_in_command(spec)):
                raise DeploymentMismatch(f"the task names the database endpoint {self.outputs['database_endpoint']} nowhere (environment, "
                                         "secrets, command): it would not reach the database")
            running = RunningFargateMlflow(self, spec, runner, local_tasks, database, load_balancer_port=load_balancer_port)
            stack.callback(running.stop)
            running.one_off_tasks = self._replay_one_off_tasks(runner, one_off, timeout, running.secret_values())
            for task in local_tasks:
                task.launch()
            for task in local_tasks:
                try:
                    task.wait_until_ready(timeout)
                except TaskStartError as error:  # its message holds the log tail
                    raise TaskStartError(mask(str(error), running.secret_values())) from None
            running.load_balancer.start()
            try:
                yield running
            except BaseException as error:
                error.add_note(running.diagnostics())
                raise
            running.stop()
            leaked = running.leaked_secrets()
            if leaked:
                logs = [str(task.log_path) for task in running.one_off_tasks + local_tasks]
                raise AssertionError(f"the tasks' logs hold {', '.join(leaked)}: {logs}")

    def _endpoint_in_command(self, spec: TaskSpec) -> bool:
        words = list(spec.container.get("entryPoint") or []) + list(spec.container.get("command") or [])
        return any(str(self.outputs["database_endpoint"]) in word for word in words)


class RunningFargateMlflow:
    """The deployment's task(s) running locally behind the local load balancer."""

    def __init__(self, deployment: DeployedFargateMlflow, spec: TaskSpec, runner: EcsTaskRunner, tasks: List[LocalTask],
                 database: Optional[Database], *, load_balancer_port: int = 0):
        self.deployment = deployment
        self.spec = spec
        self.runner = runner
        self.tasks = tasks
        self.database = database
        self.one_off_tasks: List[LocalTask] = []   # replayed before the service's tasks started, in order
        self._turn = 0
        scheme = urlparse(deployment.outputs["tracking_uri"]).scheme or "http"
        self.load_balancer = LocalLoadBalancer(self._next_target, deployment.public_host, scheme=scheme,
                                               listener_port=deployment.listener_port, port=load_balancer_port)

    def _next_target(self) -> Tuple[str, int]:
        task = self.tasks[self._turn % len(self.tasks)]
        self._turn += 1
        return LOOPBACK, task.port

    @property
    def task(self) -> LocalTask:
        """The (first) task."""
        return self.tasks[0]

    @property
    def tracking_uri(self) -> str:
        """What local clients use instead of ``outputs["tracking_uri"]`` (the static prefix kept)."""
        return self.load_balancer.url + self.deployment.path_prefix

    @property
    def host_header(self) -> str:
        """The Host header MLflow receives for requests through ``tracking_uri``."""
        return self.deployment.public_host

    @property
    def efs_directory(self) -> Optional[Path]:
        return self.deployment.efs_directory

    @property
    def sqlite_path(self) -> Optional[Path]:
        """The local SQLite file the task uses (sqlite-efs)."""
        uri = (self.task.environment or {}).get("MLFLOW_BACKEND_STORE_URI", "")
        return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None

    def request(self, method: str, path: str, *, host: Optional[str] = None, body=None, headers: Optional[Mapping] = None) -> Tuple[int, str]:
        """One request through the load balancer: (status, body text). ``path`` is under the static
        prefix; ``host``: the Host header to send instead of the load balancer's name; a dict or
        list ``body`` is sent as JSON."""
        sent = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        status, dummy, payload = self.load_balancer.request(method, self.deployment.path_prefix + path, host=host, body=body,
                                                            headers=sent)
        return status, payload.decode(errors="replace")

    def exercise(self, tmp_path: Path, **options) -> MlflowExercise:
        """``exercise_mlflow`` against this deployment: its tracking URI, bucket and prefix; the client
        trusts the emulated S3's certificate as a real one trusts S3's (presigned downloads)."""
        environment = dict(self.deployment.access.client_trust_environment, **(options.pop("client_environment", None) or {}))
        return exercise_mlflow(self.tracking_uri, tmp_path, self.deployment.artifact_bucket, self.deployment.artifact_prefix,
                               self.deployment.client("s3"), client_environment=environment, **options)

    def log_text(self) -> str:
        """Everything the one-off tasks and the service's tasks wrote."""
        return "".join(task.log_text() for task in self.one_off_tasks + self.tasks)

    def secret_values(self) -> List[str]:
        """The database password and its percent-encoded form (what must never be logged)."""
        if self.database is None or not self.database.password:
            return []
        return list(dict.fromkeys([self.database.password, quote(self.database.password, safe="")]))

    def leaked_secrets(self) -> List[str]:
        """Which forms of the password are in the task's log (named, never shown)."""
        text = self.log_text()
        names = ["the database password", "the percent-encoded database password"]
        return [name for name, value in zip(names, self.secret_values()) if value in text]

    def diagnostics(self) -> str:
        """The task log tails and the load balancer's latest requests, passwords masked."""
        parts = []
        for task in self.one_off_tasks + self.tasks:
            kind = "one-off task" if task in self.one_off_tasks else "service task"
            tail = mask(task.log_text()[-LOG_TAIL:], self.secret_values())
            parts.append(f"--- log of the local {kind} ({task.log_path}), last {LOG_TAIL} characters ---\n{tail}")
        parts.append(f"--- requests through the local load balancer (Host {self.host_header}) ---\n{self.load_balancer.describe_requests()}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop the load balancer and every task (idempotent)."""
        self.load_balancer.stop()
        for task in self.tasks:
            task.stop()


__all__ = ["AwsAccess", "DeployedFargateMlflow", "DeploymentMismatch", "RunningFargateMlflow", "aws_access", "credentials_from_secret",
           "drop_database", "exercise_mlflow", "provision_database"]
