"""The Fargate end-to-end harness (helpers.fargate_e2e), proven without the role.

A deployment is made by hand in the proving ground, as the role will make it: the task definition by
the collection's module ``mlops.mlflow.ecs_mlflow_task_definition`` (through ansible-playbook), and
with boto3 a bucket, a network, an internal ALB with a listener and a target group, an ECS cluster and
a Fargate service behind the target group, a credentials secret whose password is full of characters
that break URIs and SQL (or an EFS file system and access point). Its outputs are written by hand in
the shape of ``mlflow_aws_fargate_outputs``. The harness then runs it: a local task on a real
PostgreSQL / MariaDB / SQLite file, a local load balancer in front, a real MLflow client.

The first tests prove the local load balancer alone, against a small echo server (no MLflow).
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers.ansible import run_tasks
from helpers.fargate_e2e import DeployedFargateMlflow, DeploymentMismatch, provision_database, drop_database
from proving_ground.database_fixtures import awkward_password
from proving_ground.databases import free_port
from proving_ground.load_balancer import LocalLoadBalancer, _read_chunked

ACCOUNT = "123456789012"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlflow-e2e-execution"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlflow-e2e-task"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=5"
FOREIGN_HOST = "evil.example.com"


# --- the local load balancer, against an echo server --------------------------------------------------------------------


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """Records what arrives; answers by path: /echo (the body back, with Content-Length), /stream
    (chunked pieces), /close (close-delimited), /teapot (418 with two cookies), /break (no answer)."""

    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return b"".join(_read_chunked(self.rfile)), "chunked"
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length), "length" if self.headers.get("Content-Length") is not None else "none"

    def _handle(self):
        body, framing = self._body()
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body,
                          "framing": framing})
        if self.path.startswith("/break"):
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if self.path.startswith("/teapot"):
            payload = b"short and stout"
            self.send_response(418, "I'm a teapot")
            self.send_header("Set-Cookie", "a=1")
            self.send_header("Set-Cookie", "b=2")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for index in range(50):
                piece = bytes([index]) * 40000
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path.startswith("/close"):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the connection closes")
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Received-Sha256", hashlib.sha256(body).hexdigest())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


@pytest.fixture
def echo_balancer():
    EchoHandler.seen = []
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    upstream.daemon_threads = True
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    balancer = LocalLoadBalancer(("127.0.0.1", upstream.server_address[1]), "internal-mlflow-1.us-east-1.elb.amazonaws.com").start()
    yield balancer
    balancer.stop()
    upstream.shutdown()
    upstream.server_close()


def test_the_load_balancer_forwards_as_an_alb_does(echo_balancer):
    connection = http.client.HTTPConnection("127.0.0.1", echo_balancer.port, timeout=10)
    try:
        # What a client of the local URL sends: Host names the proxy; the target gets the ALB's name.
        connection.request("GET", "/echo?x=1&y=%2F", headers={"X-Custom": "kept", "Connection": "keep-alive, X-Hop", "X-Hop": "dropped"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"")
        # Same connection (keep-alive), another Host: forwarded unchanged.
        connection.request("POST", "/echo", body=b"{}", headers={"Host": FOREIGN_HOST, "X-Forwarded-For": "10.1.2.3"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"{}")
    finally:
        connection.close()
    first, second = EchoHandler.seen
    assert (first["method"], first["path"], first["headers"]["Host"]) == ("GET", "/echo?x=1&y=%2F", echo_balancer.public_host)
    assert first["headers"]["X-Custom"] == "kept"
    assert "X-Hop" not in first["headers"]
    assert (first["headers"]["X-Forwarded-Proto"], first["headers"]["X-Forwarded-Port"]) == ("http", "80")
    assert first["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert first["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert second["headers"]["Host"] == FOREIGN_HOST
    assert second["headers"]["X-Forwarded-For"] == "10.1.2.3, 127.0.0.1"
    assert [(entry.method, entry.host, entry.status) for entry in echo_balancer.requests] == [
        ("GET", echo_balancer.public_host, 200), ("POST", FOREIGN_HOST, 200)]

    status, headers, body = echo_balancer.request("GET", "/teapot")
    assert (status, body) == (418, b"short and stout")
    connection = http.client.HTTPConnection("127.0.0.1", echo_balancer.port, timeout=10)
    connection.request("GET", "/teapot")
    response = connection.getresponse()
    assert (response.status, response.reason, response.headers.get_all("Set-Cookie")) == (418, "I'm a teapot", ["a=1", "b=2"])
    connection.close()


def test_the_load_balancer_streams_bodies_of_any_framing(echo_balancer):
    payload = os.urandom(5 * 1024 * 1024 + 17)
    status, headers, body = echo_balancer.request("PUT", "/echo", body=payload, headers={"Content-Type": "application/octet-stream"})
    assert status == 200 and body == payload
    assert headers["X-Received-Sha256"] == hashlib.sha256(payload).hexdigest()
    assert EchoHandler.seen[-1]["framing"] == "length"

    # A chunked upload goes on chunked, in pieces of the client's making.
    pieces = [os.urandom(size) for size in (1, 70000, 0x1000, 3)]
    connection = http.client.HTTPConnection("127.0.0.1", echo_balancer.port, timeout=10)
    connection.request("PUT", "/echo", body=iter(pieces), encode_chunked=True)
    response = connection.getresponse()
    assert response.read() == b"".join(pieces)
    assert EchoHandler.seen[-1]["framing"] == "chunked"
    # A chunked answer comes back chunked, on the same connection; a close-delimited one too.
    connection.request("GET", "/stream")
    response = connection.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == b"".join(bytes([index]) * 40000 for index in range(50))
    connection.request("GET", "/close")
    response = connection.getresponse()
    assert response.read() == b"until the connection closes"
    connection.request("HEAD", "/echo")
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"")
    connection.close()
    # The balancer records a request once it has relayed the whole answer, which the client may have read first.
    deadline = time.monotonic() + 10
    while echo_balancer.requests[-1].method != "HEAD" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert echo_balancer.requests[-1].method == "HEAD"


def test_the_load_balancer_answers_for_a_missing_or_broken_target(echo_balancer):
    assert echo_balancer.request("GET", "/break")[0] == 502
    down = LocalLoadBalancer(("127.0.0.1", free_port()), "internal-x.elb.amazonaws.com").start()
    try:
        status, headers, body = down.request("GET", "/health")
        assert status == 503 and b"503 Service Temporarily Unavailable" in body
    finally:
        down.stop()
    with pytest.raises(OSError):
        down.request("GET", "/health", timeout=2)


# --- a deployment made by hand ------------------------------------------------------------------------------------------


def hand_made_deployment(aws, workdir: Path, backend: str, *, name: str = "mlflow-e2e", username: str = "mlflow",
                         password: str = "", database_name: str = "mlflow", workers: int = 1, migrate: bool = False) -> dict:
    """What the role leaves in AWS for ``backend``, made with boto3 and the collection's module; returns
    outputs in the shape of ``mlflow_aws_fargate_outputs``. ``migrate``: also start the schema
    migration as a one-off task (RunTask with the command ``db-upgrade``), as the role does."""
    region = aws.region
    bucket, prefix = f"{name}-artifacts", "tracking"
    aws.client("s3").create_bucket(Bucket=bucket)
    ec2, elbv2, ecs = aws.client("ec2"), aws.client("elbv2"), aws.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.78.{index}.0/24", AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
               for index, zone in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName=f"{name}-service", Description="mlflow tasks", VpcId=vpc)["GroupId"]
    balancer = elbv2.create_load_balancer(Name=name, Subnets=subnets, Scheme="internal", SecurityGroups=[group])["LoadBalancers"][0]
    target_group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=5000, VpcId=vpc, TargetType="ip",
                                             HealthCheckPath="/health")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}])
    log_group = f"/ecs/{name}"
    aws.client("logs").create_log_group(logGroupName=log_group)

    outputs = {
        "name": name, "region": region, "tracking_uri": f"http://{balancer['DNSName']}",
        "load_balancer_dns_name": balancer["DNSName"], "load_balancer_arn": balancer["LoadBalancerArn"],
        "target_group_arn": target_group, "cluster_name": name, "service_name": name, "bucket_name": bucket,
        "artifact_uri": f"s3://{bucket}/{prefix}", "backend_store": backend, "log_group_name": log_group,
        "allowed_hosts": [balancer["DNSName"]], "database_endpoint": "", "database_port": None, "database_name": "",
        "database_secret_arn": "", "efs_file_system_id": "", "efs_access_point_id": "",
    }
    args = {"family": name, "cpu": 1024, "memory": 2048, "workers": workers, "execution_role_arn": EXECUTION_ROLE, "task_role_arn": TASK_ROLE,
            "artifacts_uri": outputs["artifact_uri"], "allowed_hosts": outputs["allowed_hosts"], "awslogs": {"group": log_group}}
    if backend == "sqlite-efs":
        efs = aws.client("efs")
        file_system = efs.create_file_system(CreationToken=name, Encrypted=True)["FileSystemId"]
        root = {"Path": "/mlflow", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "750"}}
        access_point = efs.create_access_point(FileSystemId=file_system, PosixUser={"Uid": 1000, "Gid": 1000},
                                               RootDirectory=root)["AccessPointId"]
        args["sqlite_efs"] = {"file_system_id": file_system, "access_point_id": access_point}
        outputs.update(efs_file_system_id=file_system, efs_access_point_id=access_point)
    else:
        engine, port = ("mysql", 3306) if backend == "aurora-mysql" else ("postgresql", 5432)
        endpoint = f"{name}.cluster-c9akciq32xyz.{region}.rds.amazonaws.com"
        secret = aws.client("secretsmanager").create_secret(
            Name=f"{name}/database", SecretString=json.dumps({"username": username, "password": password}))["ARN"]
        args["database"] = {"engine": engine, "host": endpoint, "port": port, "name": database_name, "credentials_secret_arn": secret}
        outputs.update(database_endpoint=endpoint, database_port=port, database_name=database_name, database_secret_arn=secret)
    run = run_tasks(workdir, aws.child_environment(), [{"mlops.mlflow.ecs_mlflow_task_definition": args}])
    assert run.rc == 0, run.output
    outputs["task_definition_arn"] = run.result()["task_definition_arn"]

    ecs.create_cluster(clusterName=name)
    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group], "assignPublicIp": "DISABLED"}}
    if migrate:
        ecs.run_task(cluster=name, taskDefinition=outputs["task_definition_arn"], launchType="FARGATE", networkConfiguration=network,
                     startedBy="mlops-mlflow", overrides={"containerOverrides": [{"name": "mlflow", "command": ["db-upgrade"]}]})
    single_writer = backend == "sqlite-efs"
    ecs.create_service(cluster=name, serviceName=name, taskDefinition=outputs["task_definition_arn"], launchType="FARGATE",
                       desiredCount=1 if single_writer else 2,
                       deploymentConfiguration={"maximumPercent": 100 if single_writer else 200,
                                                "minimumHealthyPercent": 0 if single_writer else 100},
                       loadBalancers=[{"targetGroupArn": target_group, "containerName": "mlflow", "containerPort": 5000}],
                       networkConfiguration=network)
    return outputs


def nasty_password() -> str:
    """Letters, digits, every character that breaks a URI (@ : / # ? % + space), quotes and a backslash."""
    password = awkward_password() + '"\\x'
    for character in "@:/#?%+ '\"\\":
        assert character in password
    return password


def database_exists(server, name: str, user: str) -> tuple:
    """(the database exists, the user exists), asked as the superuser."""
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            if server.product == "PostgreSQL":
                cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
                database = cursor.fetchone()[0]
                cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (user,))
            else:
                cursor.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (name,))
                database = cursor.fetchone()[0]
                cursor.execute("SELECT count(*) FROM mysql.user WHERE user = %s", (user,))
            return bool(database), bool(cursor.fetchone()[0])
    finally:
        connection.close()


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_outputs_that_disagree_with_the_emulator_are_refused_before_anything_starts(aws, tmp_path, postgres_server, mariadb_server):
    outputs = hand_made_deployment(aws, tmp_path / "ansible", "aurora-postgresql", password=nasty_password())
    deployment = DeployedFargateMlflow.from_outputs(outputs, aws, tmp_path / "deployment")
    assert deployment.problems() == []

    wrong = dict(outputs, task_definition_arn=outputs["task_definition_arn"].replace(":1", ":7"),
                 load_balancer_dns_name="internal-other.us-east-1.elb.amazonaws.com", allowed_hosts=["mlflow.example.com"],
                 artifact_uri=f"s3://{outputs['bucket_name']}/elsewhere", log_group_name="/ecs/other",
                 database_secret_arn=outputs["database_secret_arn"] + "x", tracking_uri=f"https://{outputs['load_balancer_dns_name']}")
    mismatched = DeployedFargateMlflow.from_outputs(wrong, aws, tmp_path / "mismatched")
    with pytest.raises(DeploymentMismatch) as failure:
        with mismatched.run(postgres_server):
            pytest.fail("started")
    message = str(failure.value)
    for expected in ("the service runs", "the load balancer's DNS name is", "the task allows hosts", "the task stores artifacts in",
                     "the container logs to", "no secret of the container comes from", "no listener on port 443"):
        assert expected in message, message
    assert database_exists(postgres_server, "mlflow", "mlflow") == (False, False)
    assert not list((tmp_path / "mismatched").glob("tasks/*"))

    with pytest.raises(DeploymentMismatch, match="the outputs lack cluster_name, database_endpoint"):
        DeployedFargateMlflow.from_outputs(dict(outputs, cluster_name="", database_endpoint=None), aws, tmp_path / "x")
    with pytest.raises(ValueError, match="is PostgreSQL: give a PostgresServer"):
        with deployment.run(mariadb_server):
            pytest.fail("started")
    with pytest.raises(ValueError, match="needs a database server"):
        with deployment.run():
            pytest.fail("started")


@pytest.mark.slow
def test_provisioning_quotes_any_name_and_password(postgres_server, mariadb_server):
    """The role may name its database and user as it likes: identifiers are quoted, not validated;
    leftovers of the same names are replaced; drop removes both."""
    password = nasty_password()
    for server in (postgres_server, mariadb_server):
        name, user = "Mlflow-DB `x\"", "Master User'\""
        database = provision_database(server, name, user, password)
        provision_database(server, name, user, password)  # leftovers are replaced
        connection = database.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                assert cursor.fetchone()[0] == 1
        finally:
            connection.close()
        assert database_exists(server, name, user) == (True, True)
        drop_database(server, name, user)
        assert database_exists(server, name, user) == (False, False)


@pytest.mark.slow
def test_aurora_postgresql_deployment_end_to_end(aws, tmp_path, postgres_server):
    password = nasty_password()
    outputs = hand_made_deployment(aws, tmp_path / "ansible", "aurora-postgresql", password=password, migrate=True)
    deployment = DeployedFargateMlflow.from_outputs(outputs, aws, tmp_path / "deployment")
    (migration,) = deployment.one_off_tasks()
    assert migration["overrides"]["containerOverrides"][0]["command"] == ["db-upgrade"]
    with deployment.run(postgres_server) as running:
        print(f"\nthe task answered after {running.task.startup_seconds:.1f}s; tracking URI {running.tracking_uri}")
        assert (running.database.name, running.database.user, running.database.password) == ("mlflow", "mlflow", password)
        # The migration ran first, here, with the task's configuration: the schema was there before the server started.
        assert [task.returncode for task in running.one_off_tasks] == [0]
        assert "Creating initial MLflow database tables" in running.one_off_tasks[0].log_text()
        assert "Creating initial MLflow database tables" not in running.task.log_text()
        exercised = running.exercise(tmp_path)

        # Every request of the client reached MLflow with the load balancer's name as Host.
        requests = running.load_balancer.requests
        hosts = {entry.host for entry in requests}
        assert hosts == {outputs["load_balancer_dns_name"]}
        assert len(requests) > 20
        # Uploads went through the load balancer; downloads came straight from the bucket by presigned
        # URL (MLflow 3.17 clients do that when the server proxies to S3): clients must reach S3.
        uploads = [entry for entry in requests if entry.method == "PUT" and entry.path.endswith("/data/payload.bin")]
        assert [entry.request_bytes for entry in uploads] == [3 * 1024 * 1024]
        assert [entry for entry in requests if "/mlflow-artifacts/presigned/" in entry.path and entry.path.endswith("/data/payload.bin")]
        status, body = running.request("GET", SEARCH)
        assert status == 200 and exercised.experiment_name in body
        status, body = running.request("GET", SEARCH, host=FOREIGN_HOST)
        assert status == 403 and "Invalid Host header" in body
        assert running.request("GET", "/health", host=FOREIGN_HOST)[0] == 200  # the ALB's health check passes whatever the Host

        # The run is in the database the secret's user owns; the password reached it percent-encoded
        # by the container's start script, from the environment only.
        connection = running.database.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT key, value FROM params WHERE run_uuid = %s", (exercised.run_id,))
                assert [tuple(row) for row in cursor.fetchall()] == [("alpha", "0.5")]
                cursor.execute("SELECT name, version FROM model_versions")
                assert [tuple(row) for row in cursor.fetchall()] == [(exercised.model_name, 1)]
        finally:
            connection.close()
        command_line = Path(f"/proc/{running.task.pid}/cmdline").read_bytes().decode(errors="replace")
        assert password not in command_line and quote(password, safe="") not in command_line
        task_pid, proxy_port = running.task.pid, running.load_balancer.port
    assert running.leaked_secrets() == []
    assert password not in running.log_text() and quote(password, safe="") not in running.log_text()
    # Everything is gone: the task's processes, the load balancer, the database and its user.
    assert running.task.pid is None and not Path(f"/proc/{task_pid}").exists()
    assert port_is_closed(proxy_port)
    assert database_exists(postgres_server, "mlflow", "mlflow") == (False, False)


@pytest.mark.slow
def test_aurora_mysql_deployment_end_to_end(aws, tmp_path, mariadb_server):
    password = nasty_password()
    outputs = hand_made_deployment(aws, tmp_path / "ansible", "aurora-mysql", password=password, username="mlflow_admin", migrate=True)
    deployment = DeployedFargateMlflow.from_outputs(outputs, aws, tmp_path / "deployment")
    # Two tasks, as the service runs them, on the schema the migration made; the load balancer takes turns.
    with deployment.run(mariadb_server, tasks=2) as running:
        assert [task.returncode for task in running.one_off_tasks] == [0]
        # A client without access to S3 downloads through the server (and so through the load balancer).
        exercised = running.exercise(tmp_path, payload_bytes=2 * 1024 * 1024 + 5, proxy_downloads=True)
        requests = running.load_balancer.requests
        assert not [entry for entry in requests if "/presigned/" in entry.path]
        downloads = [entry for entry in requests if entry.method == "GET" and entry.path.endswith("/artifacts/data/payload.bin")]
        assert [entry.response_bytes for entry in downloads] == [2 * 1024 * 1024 + 5]
        assert running.request("GET", SEARCH, host=FOREIGN_HOST)[0] == 403
        for task in running.tasks:
            assert "/api/2.0/mlflow/" in task.log_text()
        connection = running.database.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT value FROM params WHERE run_uuid = %s", (exercised.run_id,))
                assert [tuple(row) for row in cursor.fetchall()] == [("0.5",)]
        finally:
            connection.close()
    assert password not in running.log_text()
    assert database_exists(mariadb_server, "mlflow", "mlflow_admin") == (False, False)


@pytest.mark.slow
def test_sqlite_on_efs_deployment_end_to_end_and_the_file_system_outlives_the_task(aws, tmp_path):
    outputs = hand_made_deployment(aws, tmp_path / "ansible", "sqlite-efs")
    deployment = DeployedFargateMlflow.from_outputs(outputs, aws, tmp_path / "deployment")
    with deployment.run() as running:
        exercised = running.exercise(tmp_path)
        assert running.request("GET", SEARCH, host=FOREIGN_HOST)[0] == 403
        assert running.sqlite_path == running.efs_directory.resolve() / "mlflow.db"
        assert running.sqlite_path.stat().st_size > 0
    assert running.task.pid is None

    # A new task (a deployment, a restart) mounts the same file system and finds the data; a failure
    # inside the block carries the task's log and the load balancer's requests.
    with pytest.raises(AssertionError) as failure:
        with deployment.run() as running:
            status, body = running.request("GET", f"/api/2.0/mlflow/experiments/get?experiment_id={exercised.experiment_id}")
            assert status == 200 and exercised.experiment_name in body, body
            status, body = running.request("GET", f"/api/2.0/mlflow/registered-models/get?name={exercised.model_name}")
            assert status == 200 and '"champion"' in body, body
            assert status == 418, "deliberate"
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    assert "deliberate" in str(failure.value)
    assert "--- log of the local service task" in notes and "Uvicorn running" in notes
    assert f"GET /api/2.0/mlflow/registered-models/get?name={exercised.model_name} Host={outputs['load_balancer_dns_name']} -> 200" in notes
    assert running.task.pid is None
