"""A real MLflow tracking server on a real database, with artifacts proxied to a bucket of the AWS
proving ground, used by a real MLflow client: the deployment this collection produces, in miniature.

Also records MLflow 3's Host-header check, the trap users hit behind a load balancer: requests whose
Host is a DNS name get 403 unless ``--allowed-hosts`` names it, while ``/health`` (what the load
balancer probes) keeps answering 200.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers.mlflow_runs import log_a_run
from proving_ground.database_fixtures import awkward_password, fresh_names
from proving_ground.mlflow_server import MlflowServer, MlflowServerError

pytestmark = pytest.mark.slow

BUCKET = "mlops-mlflow-e2e-artifacts"
PREFIX = "tracking"
# What an internal ALB's DNS name looks like: the Host header users' requests arrive with.
LOAD_BALANCER_HOST = "internal-mlflow-1234567890.us-east-1.elb.amazonaws.com"
PRIVATE_ADDRESS_HOST = "10.0.1.23:5000"
SEARCH_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"


def mlflow_server(directory: Path, database, proving_ground, **options) -> MlflowServer:
    return MlflowServer(
        directory, database.url(),
        artifacts_destination=f"s3://{BUCKET}/{PREFIX}",
        # Only the server talks to S3 (proxied artifacts); the proving ground stands in for AWS.
        environment=dict(proving_ground.environment, MLFLOW_S3_ENDPOINT_URL=proving_ground.endpoint),
        **options)


@pytest.fixture(scope="module")
def postgres_backend(postgres_server):
    return postgres_server.create_database(*fresh_names("mlflow_e2e"), awkward_password())


@pytest.fixture(scope="module")
def mariadb_backend(mariadb_server):
    return mariadb_server.create_database(*fresh_names("mlflow_e2e"), awkward_password())


@pytest.fixture(scope="module")
def mlflow_servers(tmp_path_factory, proving_ground, postgres_backend, mariadb_backend):
    """Both servers of this module, launched together: a start is mostly one Python process importing
    MLflow on one core, so two starts overlap (measured on 2 busy cores: 21 s instead of 27 s).

    - "postgres": MLflow's default allowed hosts (localhost and private addresses).
    - "mariadb": configured as behind a load balancer: its DNS name allowed, plus loopback for the
      tests (setting allowed hosts replaces MLflow's defaults, so loopback has to be listed again).
    """
    servers = {
        "postgres": mlflow_server(tmp_path_factory.mktemp("mlflow_postgres"), postgres_backend, proving_ground),
        "mariadb": mlflow_server(tmp_path_factory.mktemp("mlflow_mariadb"), mariadb_backend, proving_ground,
                                 allowed_hosts=[LOAD_BALANCER_HOST, "127.0.0.1:*"]),
    }
    try:
        for server in servers.values():
            server.launch()
        for name, server in servers.items():
            server.wait_until_ready()
            print(f"\nmlflow server on {name} answered after {server.startup_seconds:.1f}s")
        yield servers
    finally:
        for server in servers.values():
            server.request_stop()
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def mlflow_on_postgres(mlflow_servers):
    return mlflow_servers["postgres"]


@pytest.fixture(scope="module")
def mlflow_on_mariadb(mlflow_servers):
    return mlflow_servers["mariadb"]


@pytest.fixture
def tracking_client_environment(monkeypatch):
    """What a data scientist's process has: a tracking URI, and no cloud credentials at all."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "MLFLOW_", "BOTO_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # Fail at once instead of retrying with back-off for minutes.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return monkeypatch


def log_and_read_back(tracking_uri: str, database, aws, tmp_path: Path, monkeypatch) -> None:
    """Log a param, a metric and an artifact through the server at ``tracking_uri``; check them in
    MLflow, in the bucket and in the database."""
    import mlflow

    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    client = mlflow.MlflowClient()
    assert client.tracking_uri == tracking_uri

    run_id, experiment_id = log_a_run("e2e", tmp_path)

    fetched = client.get_run(run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.data.params == {"alpha": "0.5"}
    assert fetched.data.metrics == {"rmse": 0.25}
    assert [(m.value, m.step) for m in client.get_metric_history(run_id, "rmse")] == [(0.25, 3)]
    # Proxied artifacts: the run's artifact URI names the server, not the bucket.
    assert fetched.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert [entry.path for entry in client.list_artifacts(run_id, "reports")] == ["reports/summary.txt"]
    downloaded = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="reports/summary.txt",
                                                     dst_path=str(tmp_path / "downloaded"))
    assert Path(downloaded).read_text() == "rmse went down\n"

    # The artifact landed in the bucket, under the destination's prefix, and nothing else did.
    key = f"{PREFIX}/{experiment_id}/{run_id}/artifacts/reports/summary.txt"
    listing = s3.list_objects_v2(Bucket=BUCKET)
    assert [entry["Key"] for entry in listing.get("Contents", [])] == [key]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"rmse went down\n"

    # Run data lives in the database the backend URI names.
    connection = database.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM params WHERE run_uuid = %s", (run_id,))
            assert [tuple(row) for row in cursor.fetchall()] == [("0.5",)]
    finally:
        connection.close()


def request_status(server: MlflowServer, path: str, host_header: str) -> tuple:
    """GET ``path`` with the Host header a client behind a proxy or load balancer would send."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host_header})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def test_tracking_with_postgres_backend_and_s3_artifacts(mlflow_on_postgres, postgres_backend, aws, tmp_path,
                                                         tracking_client_environment):
    assert mlflow_on_postgres.backend_store_uri.startswith("postgresql+psycopg2://")
    log_and_read_back(mlflow_on_postgres.url, postgres_backend, aws, tmp_path, tracking_client_environment)


def test_tracking_with_mariadb_backend_and_s3_artifacts(mlflow_on_mariadb, mariadb_backend, aws, tmp_path,
                                                        tracking_client_environment):
    assert mlflow_on_mariadb.backend_store_uri.startswith("mysql+pymysql://")
    log_and_read_back(mlflow_on_mariadb.url, mariadb_backend, aws, tmp_path, tracking_client_environment)


def test_tracking_through_a_sagemaker_tracking_server_url(mlflow_on_postgres, postgres_backend, aws, tmp_path,
                                                          tracking_client_environment):
    """A SageMaker MLflow tracking server made with boto3 on the proving ground, its URL pointed at
    the local mlflow server: a client that follows DescribeMlflowTrackingServer's TrackingServerUrl
    tracks runs there."""
    sagemaker = aws.client("sagemaker")
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    arn = sagemaker.create_mlflow_tracking_server(
        TrackingServerName=name, ArtifactStoreUri=f"s3://{BUCKET}/{PREFIX}", TrackingServerSize="Small",
        RoleArn="arn:aws:iam::123456789012:role/mlflow-tracking-server")["TrackingServerArn"]
    assert arn == f"arn:aws:sagemaker:{aws.region}:123456789012:mlflow-tracking-server/{name}"
    aws.control.call("POST", "/sagemaker/tracking-server-url",
                     {"TrackingServerName": name, "Url": mlflow_on_postgres.url})

    described = sagemaker.describe_mlflow_tracking_server(TrackingServerName=name)
    assert (described["TrackingServerStatus"], described["IsActive"]) == ("Created", "Active")
    assert described["TrackingServerUrl"] == mlflow_on_postgres.url
    log_and_read_back(described["TrackingServerUrl"], postgres_backend, aws, tmp_path, tracking_client_environment)


def test_backend_uri_goes_in_through_the_environment_not_argv(mlflow_on_postgres, postgres_backend):
    """argv is world-readable (ps); the URI with its password travels in MLFLOW_BACKEND_STORE_URI."""
    proc = Path(f"/proc/{mlflow_on_postgres.pid}")
    command_line = proc.joinpath("cmdline").read_bytes().decode()
    assert "--backend-store-uri" not in command_line
    assert postgres_backend.password not in command_line
    assert quote(postgres_backend.password, safe="") not in command_line
    environment = dict(entry.split("=", 1) for entry in proc.joinpath("environ").read_bytes().decode().split("\0")
                       if "=" in entry)
    assert environment["MLFLOW_BACKEND_STORE_URI"] == postgres_backend.url()


def test_default_allowed_hosts_refuse_a_load_balancer_host_name(mlflow_on_postgres):
    """MLflow's defaults admit localhost and private addresses; a DNS name gets 403 on the API while
    /health still answers 200, so a load balancer sees a healthy target that refuses every user."""
    status, body = request_status(mlflow_on_postgres, SEARCH_PATH, LOAD_BALANCER_HOST)
    assert status == 403
    assert "Invalid Host header" in body
    assert request_status(mlflow_on_postgres, "/health", LOAD_BALANCER_HOST)[0] == 200
    assert request_status(mlflow_on_postgres, "/version", LOAD_BALANCER_HOST)[0] == 200
    # A private address (a target group's health checker, a VPC client using the task's IP) passes.
    status, body = request_status(mlflow_on_postgres, SEARCH_PATH, PRIVATE_ADDRESS_HOST)
    assert status == 200
    assert "experiments" in json.loads(body)


def test_allowed_hosts_admit_the_load_balancer_name_exactly(mlflow_on_mariadb):
    """With allowed hosts set: the name passes, but only without a port (matching is exact unless the
    entry has ``*``), and the defaults are gone (private addresses now get 403)."""
    status, body = request_status(mlflow_on_mariadb, SEARCH_PATH, LOAD_BALANCER_HOST)
    assert status == 200
    assert "experiments" in json.loads(body)
    assert request_status(mlflow_on_mariadb, SEARCH_PATH, f"{LOAD_BALANCER_HOST}:443")[0] == 403
    assert request_status(mlflow_on_mariadb, SEARCH_PATH, PRIVATE_ADDRESS_HOST)[0] == 403
    assert request_status(mlflow_on_mariadb, SEARCH_PATH, f"127.0.0.1:{mlflow_on_mariadb.port}")[0] == 200


def test_bare_postgresql_scheme_needs_psycopg3(postgres_backend, tmp_path):
    """SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3: with only psycopg2 installed (as in this
    environment and in images that ship psycopg2-binary alone) the server exits at start, and the
    helper reports why from the server's log.

    (A wrong password fails too, but only after MLflow's ten connection attempts with exponential
    back-off: about 100 s during which /health does not answer. Too slow to test here.)"""
    if importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg 3 is installed here: a bare postgresql:// URI works")
    bare = postgres_backend.url(driver="")
    assert bare.startswith("postgresql://")
    server = MlflowServer(tmp_path / "mlflow", bare)
    with pytest.raises(MlflowServerError, match="exited with status") as failure:
        server.start()
    assert "No module named 'psycopg'" in str(failure.value)
    assert server.pid is None


def test_a_file_store_is_refused_before_starting(tmp_path):
    for uri in (str(tmp_path / "mlruns"), f"file://{tmp_path}/mlruns", "mlruns"):
        with pytest.raises(ValueError, match="refuses a file store"):
            MlflowServer(tmp_path, uri)
