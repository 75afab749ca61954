"""The Cloud Run end-to-end harness (helpers.cloudrun_e2e), proven without the role.

A deployment is made by hand in the GCP emulator, as the role will make it: a Cloud SQL PostgreSQL
instance with a database and a user, a bucket, a secret with the backend store URI (the password
percent-encoded, the host the instance's ``/cloudsql`` socket directory) and one with the password,
and the Cloud Run service by the collection's module ``mlops.mlflow.gcp_cloudrun_service`` (through
ansible-playbook). The harness then runs the service's container here: the test venv's ``mlflow``
on a local PostgreSQL (through a ``/cloudsql/...`` socket symlink) with artifacts in the GCS data
plane, behind a local front end that sends the service's ``run.app`` host; a real MLflow client uses
it. The last tests show what the harness refuses to run (each a deployment bug the e2e must catch),
without starting MLflow.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers.ansible import run_tasks
from helpers.cloudrun_e2e import (CloudRunMlflow, DeploymentMismatch, MountMap, SecretAccessError, cloudsql_references,
                                  password_from_secret, secret_version_name)
from proving_ground.database_fixtures import awkward_password

RUN_API = "https://run.googleapis.com/v2"
SQL_API = "https://sqladmin.googleapis.com/sql/v1beta4"
SECRETS_API = "https://secretmanager.googleapis.com/v1"
STORAGE_API = "https://storage.googleapis.com/storage/v1"
IAM_API = "https://iam.googleapis.com/v1"
PROJECTS_API = "https://cloudresourcemanager.googleapis.com/v1"
IMAGE = "europe-west1-docker.pkg.dev/mlops-test/mlflow/mlflow:v3.17.2-full"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=5"
FOREIGN_HOST = "evil.example.com"
INSTANCE = "mlflow-db"
BUCKET = "mlops-test-mlflow-artifacts"
PREFIX = "team/mlflow"


# --- the pieces, without MLflow -------------------------------------------------------------------------------------------


def test_mount_paths_are_rewritten_raw_and_percent_encoded_at_path_boundaries():
    mounts = MountMap({"/cloudsql": Path("/tmp/cloudrun-x/cloudsql")})
    raw = "postgresql+psycopg2://u:p%40w@/db?host=/cloudsql/proj:europe-west1:db&sslmode=disable"
    assert mounts.rewrite(raw) == "postgresql+psycopg2://u:p%40w@/db?host=/tmp/cloudrun-x/cloudsql/proj:europe-west1:db&sslmode=disable"
    encoded = "postgresql+psycopg2://u:p@/db?host=%2Fcloudsql%2Fproj%3Aeurope-west1%3Adb"
    assert mounts.rewrite(encoded) == "postgresql+psycopg2://u:p@/db?host=%2Ftmp%2Fcloudrun-x%2Fcloudsql%2Fproj%3Aeurope-west1%3Adb"
    for untouched in ("/cloudsqlx/a", "/opt/cloudsql/a", "x/cloudsql", "gs://b/cloudsql/a"):
        assert mounts.rewrite(untouched) == untouched
    assert mounts.rewrite("/cloudsql") == "/tmp/cloudrun-x/cloudsql"
    assert cloudsql_references(raw) == ["proj:europe-west1:db"]
    assert cloudsql_references(encoded) == ["proj:europe-west1:db"]
    assert cloudsql_references("--x=/cloudsql/example.com:proj:us-east1:i /cloudsql/example.com:proj:us-east1:i") == [
        "example.com:proj:us-east1:i"]
    assert cloudsql_references("/cloudsql/") == [] and cloudsql_references("sqlite:////mnt/x.db") == []


def test_secret_references_and_password_secrets():
    assert secret_version_name("p", "uri", None) == "projects/p/secrets/uri/versions/latest"
    assert secret_version_name("p", "projects/other/secrets/uri", "3") == "projects/other/secrets/uri/versions/3"
    with pytest.raises(SecretAccessError):
        secret_version_name("p", "", "latest")
    with pytest.raises(SecretAccessError):
        secret_version_name("p", "a/b", "latest")
    assert password_from_secret('{"username": "u", "password": "p@ss word"}') == "p@ss word"
    assert password_from_secret("plain:/#?% ") == "plain:/#?% "
    with pytest.raises(DeploymentMismatch, match="without a string password"):
        password_from_secret('{"username": "u"}')


def test_secret_versions_resolve_as_cloud_run_resolves_them(gcp, tmp_path):
    """A number, ``latest`` (the newest enabled version), a secret named by its full path (project number),
    a plain value; a disabled version is refused."""
    for value in ("one", "two", "three"):
        if value == "one":
            api(gcp, "POST", f"{SECRETS_API}/projects/{gcp.project}/secrets?secretId=setting", {"replication": {"automatic": {}}})
        api(gcp, "POST", f"{SECRETS_API}/projects/{gcp.project}/secrets/setting:addVersion",
            {"payload": {"data": base64.b64encode(value.encode()).decode()}})
    api(gcp, "POST", f"{SECRETS_API}/projects/{gcp.project}/secrets/setting/versions/3:disable", {})

    def reference(secret, version):
        return {"secretKeyRef": {"secret": secret, "version": version}}

    env = [{"name": "FIRST", "valueSource": reference("setting", "1")}, {"name": "LATEST", "valueSource": reference("setting", "latest")},
           {"name": "BY_PATH", "valueSource": reference(f"projects/{gcp.project_number}/secrets/setting", "2")},
           {"name": "PLAIN", "value": "as is"}]
    api(gcp, "POST", f"{RUN_API}/projects/{gcp.project}/locations/{gcp.region}/services?serviceId=versions",
        {"template": {"containers": [{"image": IMAGE, "env": env}]}})
    deployment = CloudRunMlflow(gcp, gcp.region, "versions", tmp_path)
    container = deployment.describe()["template"]["containers"][0]
    assert deployment.resolve_environment(container) == ({"PLAIN": "as is"}, {"FIRST": "one", "LATEST": "two", "BY_PATH": "two"})
    container["env"].append({"name": "DISABLED", "valueSource": reference("setting", "3")})
    with pytest.raises(SecretAccessError, match="variable DISABLED: Secret projects/mlops-test/secrets/setting/versions/3 cannot be "
                                                "accessed .400: .*DISABLED state"):
        deployment.resolve_environment(container)


# --- a deployment made by hand --------------------------------------------------------------------------------------------


def nasty_password() -> str:
    """Letters, digits, every character that breaks a URI (@ : / # ? % + space), quotes and a backslash."""
    return awkward_password() + '"\\x'


def api(gcp, method: str, url: str, document=None) -> dict:
    answer = gcp.session().request(method, url, json=document, timeout=30)
    assert answer.status_code == 200, (method, url, answer.status_code, answer.text[:500])
    return answer.json()


def add_secret(gcp, secret_id: str, value: str) -> None:
    api(gcp, "POST", f"{SECRETS_API}/projects/{gcp.project}/secrets?secretId={secret_id}", {"replication": {"automatic": {}}})
    api(gcp, "POST", f"{SECRETS_API}/projects/{gcp.project}/secrets/{secret_id}:addVersion",
        {"payload": {"data": base64.b64encode(value.encode()).decode()}})


def backend_uri(user: str, password: str, database: str, connection: str, *, encode: bool = True) -> str:
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}" if encode else f"{user}:{password}"
    return f"postgresql+psycopg2://{credentials}@/{database}?host=/cloudsql/{connection}"


def run_host(gcp, service: str) -> str:
    return f"{service}-{gcp.project_number}.{gcp.region}.run.app"


def service_args(gcp, name: str, connection: str, **changes) -> dict:
    args = {
        "name": name,
        "region": gcp.region,
        "image": IMAGE,
        "port": 8080,
        "command": ["mlflow"],
        "args": ["server", "--host", "0.0.0.0", "--port", "8080", "--workers", "1"],
        "env": {"MLFLOW_ARTIFACTS_DESTINATION": f"gs://{BUCKET}/{PREFIX}", "MLFLOW_SERVER_ALLOWED_HOSTS": run_host(gcp, name)},
        "secret_env": [{"name": "MLFLOW_BACKEND_STORE_URI", "secret": "mlflow-backend-store-uri", "version": "latest"}],
        "cloudsql_instances": [connection],
        "service_account": f"mlflow-server@{gcp.project}.iam.gserviceaccount.com",
        "iap_enabled": True,
    }
    args.update(changes)
    return args


def hand_made_deployment(gcp, workdir: Path, password: str, services: list) -> str:
    """Cloud SQL (instance ``mlflow-db``, database and user ``mlflow``), the bucket, the URI and password
    secrets, and the Cloud Run services (``services``: module argument dicts, made in one playbook run);
    returns the instance's connection name."""
    operation = api(gcp, "POST", f"{SQL_API}/projects/{gcp.project}/instances",
                    {"name": INSTANCE, "databaseVersion": "POSTGRES_16", "region": gcp.region, "settings": {"tier": "db-custom-1-3840"}})
    assert operation["status"] in ("PENDING", "RUNNING", "DONE"), operation
    instance = api(gcp, "GET", f"{SQL_API}/projects/{gcp.project}/instances/{INSTANCE}")
    connection = instance["connectionName"]
    assert connection == f"{gcp.project}:{gcp.region}:{INSTANCE}"
    api(gcp, "POST", f"{SQL_API}/projects/{gcp.project}/instances/{INSTANCE}/databases", {"name": "mlflow"})
    api(gcp, "POST", f"{SQL_API}/projects/{gcp.project}/instances/{INSTANCE}/users", {"name": "mlflow", "password": password})
    api(gcp, "POST", f"{STORAGE_API}/b?project={gcp.project}", {"name": BUCKET, "location": "EUROPE-WEST1"})
    add_secret(gcp, "mlflow-backend-store-uri", backend_uri("mlflow", password, "mlflow", connection))
    add_secret(gcp, "mlflow-database-password", json.dumps({"username": "mlflow", "password": password}))
    # The server's service account and its grants: Cloud SQL client on the project, the URI secret, the bucket's objects.
    api(gcp, "POST", f"{IAM_API}/projects/{gcp.project}/serviceAccounts", {"accountId": "mlflow-server"})
    member = f"serviceAccount:mlflow-server@{gcp.project}.iam.gserviceaccount.com"
    policy = api(gcp, "POST", f"{PROJECTS_API}/projects/{gcp.project}:getIamPolicy", {})
    policy["bindings"] = policy.get("bindings", []) + [{"role": "roles/cloudsql.client", "members": [member]}]
    api(gcp, "POST", f"{PROJECTS_API}/projects/{gcp.project}:setIamPolicy", {"policy": policy})
    api(gcp, "POST", f"{SECRETS_API}/projects/{gcp.project}/secrets/mlflow-backend-store-uri:setIamPolicy",
        {"policy": {"bindings": [{"role": "roles/secretmanager.secretAccessor", "members": [member]}]}})
    api(gcp, "PUT", f"{STORAGE_API}/b/{BUCKET}/iam", {"bindings": [{"role": "roles/storage.objectUser", "members": [member]}]})
    tasks = [{"mlops.mlflow.gcp_cloudrun_service": args} for args in services]
    run = run_tasks(workdir, gcp.child_environment(), tasks)
    assert run.rc == 0, run.output[-6000:]
    return connection


def database_exists(server, name: str, user: str) -> tuple:
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
            database = cursor.fetchone()[0] == 1
            cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (user,))
            return database, cursor.fetchone()[0] == 1
    finally:
        connection.close()


@pytest.mark.slow
def test_a_hand_made_cloud_run_service_runs_end_to_end(gcp, gcs, postgres_server, tmp_path):
    started = time.monotonic()
    password = nasty_password()
    connection = f"{gcp.project}:{gcp.region}:{INSTANCE}"
    hand_made_deployment(gcp, tmp_path / "ansible", password, [service_args(gcp, "mlflow", connection)])
    deployment = CloudRunMlflow(gcp, gcp.region, "mlflow", tmp_path / "deployment", storage=gcs,
                                password_secret="mlflow-database-password")
    with deployment.run(postgres_server) as running:
        print(f"\nMLflow answered after {time.monotonic() - started:.1f}s (the container took {running.task.startup_seconds:.1f}s)")
        assert running.host_header == run_host(gcp, "mlflow")
        assert (running.database.name, running.database.user, running.database.password) == ("mlflow", "mlflow", password)
        # What the container got: the command with the venv's mlflow and the local port, Cloud Run's
        # variables, the URI from Secret Manager with the /cloudsql prefix mapped, GCS on the emulator.
        command = running.task.command
        assert Path(command[0]).name == "mlflow" and Path(command[0]).parent.name == "bin"
        assert command[1:] == ["server", "--host", "127.0.0.1", "--port", str(running.task.port), "--workers", "1"]
        environment = running.environment
        assert environment["PORT"] == str(running.task.port)
        assert (environment["K_SERVICE"], environment["K_REVISION"].startswith("mlflow-")) == ("mlflow", True)
        socket_directory = environment["MLFLOW_BACKEND_STORE_URI"].split("?host=", 1)[1]
        assert socket_directory.endswith("/cloudsql/" + connection) and socket_directory.startswith("/tmp/cloudrun-")
        assert environment["MLFLOW_BACKEND_STORE_URI"].replace(socket_directory, "/cloudsql/" + connection) == backend_uri(
            "mlflow", password, "mlflow", connection)
        assert (Path(socket_directory) / ".s.PGSQL.5432").resolve() == postgres_server.socket_file.resolve()
        assert environment["STORAGE_EMULATOR_HOST"] == gcs.url and environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"

        exercised = running.exercise(tmp_path, payload_bytes=1024 * 1024 + 3)
        print(f"exercised after {time.monotonic() - started:.1f}s")
        hosts = {entry.host for entry in running.front_end.requests}
        assert hosts == {run_host(gcp, "mlflow")}, hosts
        objects = running.object_names()
        assert set(exercised.object_keys) <= set(objects) and all(name.startswith(PREFIX + "/") for name in objects), objects
        assert gcs.read(BUCKET, next(key for key in exercised.object_keys if key.endswith("reports/summary.txt"))) == b"rmse went down\n"
        status, body = running.request("GET", SEARCH)
        assert status == 200 and exercised.experiment_name in body, (status, body[:300])
        status, body = running.request("GET", SEARCH, host=FOREIGN_HOST)
        assert status == 403 and "Invalid Host header" in body, (status, body[:300])
        assert running.request("GET", "/health", host=FOREIGN_HOST)[0] == 200

        # The run is in the database the URI's user owns, reached through the socket symlink.
        connection_to_db = running.database.connect(unix_socket=True)
        try:
            with connection_to_db.cursor() as cursor:
                cursor.execute("SELECT key, value FROM params WHERE run_uuid = %s", (exercised.run_id,))
                assert [tuple(row) for row in cursor.fetchall()] == [("alpha", "0.5")]
        finally:
            connection_to_db.close()
        command_line = Path(f"/proc/{running.task.pid}/cmdline").read_bytes().decode(errors="replace")
        assert password not in command_line and quote(password, safe="") not in command_line
        pid, proxy_port, socket_root = running.task.pid, running.front_end.port, Path(socket_directory).parents[1]
    assert running.leaked_secrets() == []
    assert running.task.pid is None and not Path(f"/proc/{pid}").exists()
    assert not socket_root.exists()
    with pytest.raises(OSError):
        running.front_end.request("GET", "/health", timeout=2)
    assert proxy_port and database_exists(postgres_server, "mlflow", "mlflow") == (False, False)
    print(f"stopped after {time.monotonic() - started:.1f}s")


def refusal(deployment_for, name: str, database_server, error=DeploymentMismatch) -> str:
    with pytest.raises(error) as refused:
        with deployment_for(name).run(database_server):
            pytest.fail(f"{name} started")
    return str(refused.value)


@pytest.mark.slow
def test_what_the_harness_refuses_to_run(gcp, gcs, postgres_server, tmp_path):
    """Each service has one deployment bug; each is refused before anything starts, naming the bug."""
    password = nasty_password()
    connection = f"{gcp.project}:{gcp.region}:{INSTANCE}"
    services = [
        service_args(gcp, "missing-secret", connection,
                     secret_env=[{"name": "MLFLOW_BACKEND_STORE_URI", "secret": "no-such-secret", "version": "latest"}]),
        service_args(gcp, "missing-version", connection,
                     secret_env=[{"name": "MLFLOW_BACKEND_STORE_URI", "secret": "mlflow-backend-store-uri", "version": "7"}]),
        service_args(gcp, "no-cloudsql", connection, cloudsql_instances=[]),
        service_args(gcp, "other-instance", connection, cloudsql_instances=[f"{gcp.project}:{gcp.region}:other"]),
        service_args(gcp, "missing-instance", connection, cloudsql_instances=[connection, f"{gcp.project}:{gcp.region}:other"]),
        service_args(gcp, "no-port", connection, args=["server", "--host", "0.0.0.0"]),
        service_args(gcp, "loopback", connection, args=["server", "--port", "8080"]),
        service_args(gcp, "no-bucket", connection, env={"MLFLOW_ARTIFACTS_DESTINATION": "gs://no-such-bucket/x"}),
        service_args(gcp, "unencoded", connection,
                     secret_env=[{"name": "MLFLOW_BACKEND_STORE_URI", "secret": "unencoded-uri", "version": "latest"}]),
        service_args(gcp, "image-entrypoint", connection, command=[]),
        service_args(gcp, "no-grants", connection, service_account=f"someone-else@{gcp.project}.iam.gserviceaccount.com"),
    ]
    hand_made_deployment(gcp, tmp_path / "ansible", password, services)
    add_secret(gcp, "unencoded-uri", backend_uri("mlflow", password, "mlflow", connection, encode=False))
    api(gcp, "POST", f"{SECRETS_API}/projects/{gcp.project}/secrets/unencoded-uri:setIamPolicy",
        {"policy": {"bindings": [{"role": "roles/secretmanager.secretAccessor",
                                  "members": [f"serviceAccount:mlflow-server@{gcp.project}.iam.gserviceaccount.com"]}]}})
    # A volume kind the runner does not emulate, made through the API (the module manages Cloud SQL volumes only).
    template = {"containers": [{"image": IMAGE, "command": ["mlflow"], "args": ["server", "--host", "0.0.0.0", "--port", "8080"],
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/mlflow"}]}],
                "volumes": [{"name": "config", "secret": {"secret": "mlflow-database-password"}}]}
    api(gcp, "POST", f"{RUN_API}/projects/{gcp.project}/locations/{gcp.region}/services?serviceId=secret-volume", {"template": template})

    def deployment_for(name):
        return CloudRunMlflow(gcp, gcp.region, name, tmp_path / name, storage=gcs, password_secret="mlflow-database-password")

    message = refusal(deployment_for, "missing-secret", postgres_server, SecretAccessError)
    assert "variable MLFLOW_BACKEND_STORE_URI" in message and "no-such-secret/versions/latest" in message and "404" in message
    assert "versions/7" in refusal(deployment_for, "missing-version", postgres_server, SecretAccessError)
    assert "attaches no Cloud SQL instance" in refusal(deployment_for, "no-cloudsql", postgres_server)
    assert "attaches only ['mlops-test:europe-west1:other']" in refusal(deployment_for, "other-instance", postgres_server)
    assert "instance mlops-test:europe-west1:other, which does not exist" in refusal(deployment_for, "missing-instance", postgres_server)
    assert "told no port" in refusal(deployment_for, "no-port", postgres_server)
    assert "listens on 127.0.0.1 only" in refusal(deployment_for, "loopback", postgres_server)
    assert "gs://no-such-bucket, which does not exist" in refusal(deployment_for, "no-bucket", postgres_server)
    message = refusal(deployment_for, "unencoded", postgres_server)
    assert "percent-encoded" in message and password not in message
    assert "image's entrypoint" in refusal(deployment_for, "image-entrypoint", postgres_server)
    message = refusal(deployment_for, "no-grants", postgres_server)
    for problem in ("someone-else@mlops-test.iam.gserviceaccount.com, which does not exist",
                    "may not access secret projects/mlops-test/secrets/mlflow-backend-store-uri", "may not connect to Cloud SQL",
                    f"may not write and read the objects of gs://{BUCKET}"):
        assert problem in message, message
    assert "emulates cloudSqlInstance and emptyDir volumes only" in refusal(deployment_for, "secret-volume", postgres_server)
    assert "no Cloud Run service" in refusal(deployment_for, "never-made", postgres_server)
    # From a role's outputs: they must say what Cloud Run holds.
    outputs = {"project_id": gcp.project, "region": gcp.region, "service_name": "no-port", "password_secret_id": "mlflow-database-password",
               "instance_connection_name": f"{gcp.project}:{gcp.region}:elsewhere", "artifacts_destination": "gs://elsewhere/x",
               "service_url": "https://" + run_host(gcp, "no-port")}
    with pytest.raises(DeploymentMismatch) as refused:
        with CloudRunMlflow.from_outputs(outputs, gcp, tmp_path / "outputs", storage=gcs).run(postgres_server):
            pytest.fail("started")
    assert "not what the outputs say" in str(refused.value) and "outputs say mlops-test:europe-west1:elsewhere" in str(refused.value)
    assert "the outputs say 'gs://elsewhere/x'" in str(refused.value) and "service's URL" not in str(refused.value)
    with pytest.raises(DeploymentMismatch, match="the outputs lack password_secret_id"):
        CloudRunMlflow.from_outputs(dict(outputs, password_secret_id=""), gcp, tmp_path / "outputs")
    # Nothing was left behind: no database, no bucket made in the data plane for a refused service.
    assert database_exists(postgres_server, "mlflow", "mlflow") == (False, False)
    assert gcs.bucket_names() in ([], [BUCKET])
