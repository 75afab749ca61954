"""How the MLflow server container is configured: environment, start script, health check."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_server

# What a generated password may hold that breaks an unencoded URI (see proving_ground.database_fixtures).
AWKWARD = "p@ss:w/rd#?%41+ '&=x"


def test_default_image_is_the_full_image_pinned_to_an_exact_release():
    assert mlflow_server.DEFAULT_IMAGE == "ghcr.io/mlflow/mlflow:v{0}-full".format(mlflow_server.MLFLOW_VERSION)
    major, minor, patch = (int(part) for part in mlflow_server.MLFLOW_VERSION.split("."))
    assert (major, minor) >= (3, 17) and patch >= 0


def test_server_environment_proxied():
    environment = mlflow_server.server_environment(port=5000, workers=4, artifacts_uri="s3://bucket/mlflow",
                                                   allowed_hosts=["mlflow.example.com", "*.elb.amazonaws.com"],
                                                   cors_allowed_origins=["https://a.example.com"], static_prefix="/mlflow",
                                                   prometheus_dir="/tmp/metrics")
    assert environment == {
        "MLFLOW_HOST": "0.0.0.0",
        "MLFLOW_PORT": "5000",
        "MLFLOW_WORKERS": "4",
        "MLFLOW_SERVE_ARTIFACTS": "true",
        "MLFLOW_ARTIFACTS_DESTINATION": "s3://bucket/mlflow",
        "MLFLOW_STATIC_PREFIX": "/mlflow",
        "MLFLOW_SERVER_ALLOWED_HOSTS": "mlflow.example.com,*.elb.amazonaws.com",
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "https://a.example.com",
        "MLFLOW_EXPOSE_PROMETHEUS": "/tmp/metrics",
    }


def test_server_environment_direct_leaves_out_what_is_not_set():
    environment = mlflow_server.server_environment(port=8080, workers=1, artifacts_uri="s3://bucket/x", artifacts_mode="direct")
    assert environment == {"MLFLOW_HOST": "0.0.0.0", "MLFLOW_PORT": "8080", "MLFLOW_WORKERS": "1",
                           "MLFLOW_SERVE_ARTIFACTS": "false", "MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://bucket/x"}


def test_mlflow_server_reads_every_variable_the_collection_sets():
    """Each variable is the envvar of a `mlflow server` option, in the sources of the MLflow the e2e
    tests run (read, not imported: importing mlflow.cli takes seconds)."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None:
        pytest.skip("mlflow is not installed")
    package = Path(spec.origin).parent
    sources = (package / "cli" / "__init__.py").read_text() + (package / "utils" / "cli_args.py").read_text()
    envvars = set(re.findall(r'envvar="([A-Z_]+)"', sources))
    wanted = {name for name in mlflow_server.MANAGED_VARIABLES if name.startswith("MLFLOW_")}
    assert wanted <= envvars, wanted - envvars


@pytest.mark.parametrize("engine, driver, port", [("postgresql", "postgresql+psycopg2", "5432"), ("mysql", "mysql+pymysql", "3306")])
def test_database_environment_names_the_driver(engine, driver, port):
    environment = mlflow_server.database_environment(engine, "db.example.com", None, "mlflow")
    assert environment == {"MLOPS_DB_DRIVER": driver, "MLOPS_DB_HOST": "db.example.com", "MLOPS_DB_PORT": port, "MLOPS_DB_NAME": "mlflow"}
    assert mlflow_server.database_environment(engine, "h", 6000, "n", {"sslmode": "require", "a": "b c"})["MLOPS_DB_QUERY"] == "a=b+c&sslmode=require"


def test_start_script_holds_no_value():
    script = mlflow_server.START_SCRIPT
    assert mlflow_server.START_ENTRY_POINT == ("python", "-c", script)
    for value in ("postgresql", "mysql", "5432", "db.example.com"):
        assert value not in script


def _run_start_script(tmp_path, environment, extra_args=()):
    """Runs the start script as the container would, with a stand-in `mlflow` that records what it got."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record.json"
    stub = bin_dir / "mlflow"
    stub.write_text(textwrap.dedent("""\
        #!{python}
        import json, os, sys
        with open({record!r}, "w") as handle:
            json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, handle)
        """).format(python=sys.executable, record=str(record)))
    stub.chmod(0o755)
    env = dict(environment, PATH="{0}{1}{2}".format(bin_dir, os.pathsep, os.environ["PATH"]))
    subprocess.run([sys.executable, "-c", mlflow_server.START_SCRIPT] + list(extra_args), env=env, check=True, timeout=60)
    return json.loads(record.read_text())


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_start_script_percent_encodes_the_credentials_and_starts_mlflow_server(tmp_path, engine):
    sqlalchemy_url = pytest.importorskip("sqlalchemy.engine").make_url
    environment = mlflow_server.database_environment(engine, "db.example.com", None, "ml flow", {"sslmode": "require"})
    environment.update({mlflow_server.DATABASE_USERNAME_VARIABLE: "user@corp", mlflow_server.DATABASE_PASSWORD_VARIABLE: AWKWARD})
    recorded = _run_start_script(tmp_path, environment)
    assert recorded["argv"] == ["server"]
    uri = recorded["env"]["MLFLOW_BACKEND_STORE_URI"]
    assert AWKWARD not in uri
    url = sqlalchemy_url(uri)
    assert (url.drivername, url.username, url.password, url.host, url.database) == (
        mlflow_server.SQLALCHEMY_DRIVERS[engine], "user@corp", AWKWARD, "db.example.com", "ml flow")
    assert url.port == mlflow_server.DEFAULT_DATABASE_PORTS[engine]
    assert dict(url.query) == {"sslmode": "require"}
    assert urlsplit(uri).password is not None  # a URI parser finds user and password where they belong
    for name in (mlflow_server.DATABASE_USERNAME_VARIABLE, mlflow_server.DATABASE_PASSWORD_VARIABLE) + mlflow_server.DATABASE_VARIABLES:
        assert name not in recorded["env"], "{0} is still in mlflow's environment".format(name)


def test_start_script_without_query(tmp_path):
    environment = mlflow_server.database_environment("postgresql", "h", 5433, "db")
    environment.update({mlflow_server.DATABASE_USERNAME_VARIABLE: "u", mlflow_server.DATABASE_PASSWORD_VARIABLE: "p"})
    assert _run_start_script(tmp_path, environment)["env"]["MLFLOW_BACKEND_STORE_URI"] == "postgresql+psycopg2://u:p@h:5433/db"


def test_sqlite_uri_is_absolute():
    assert mlflow_server.sqlite_uri("/mnt/efs/mlflow.db") == "sqlite:////mnt/efs/mlflow.db"


def test_health_check_follows_the_static_prefix():
    assert mlflow_server.health_path() == "/health"
    assert mlflow_server.health_path("/mlflow") == "/mlflow/health"
    command = mlflow_server.health_check_command(5001, "/mlflow", 4)
    assert command[:3] == ["CMD", "python", "-c"]
    assert "HTTPConnection('127.0.0.1', 5001, timeout=4); c.request('GET', '/mlflow/health')" in command[3]


@pytest.mark.parametrize("status, healthy", [(200, True), (403, False), (503, False)])
def test_health_check_command_exits_zero_on_200_only(status, healthy):
    """The command's script, run against a local HTTP server answering ``status`` on the health path."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            self.send_response(status if self.path == "/mlflow/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        command = mlflow_server.health_check_command(server.server_address[1], "/mlflow", 5)
        completed = subprocess.run([sys.executable] + command[2:], timeout=30, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (completed.returncode == 0) is healthy


@pytest.mark.parametrize("prefix, problem", [("/mlflow", None), ("mlflow", "must begin with '/'"), ("/mlflow/", "must not end with '/'"),
                                             ("/{x}", "must not contain '{' or '}'")])
def test_static_prefix_rules_are_mlflows(prefix, problem):
    assert mlflow_server.static_prefix_error(prefix) == problem


@pytest.mark.parametrize("with_database", [True, False])
def test_start_script_runs_the_schema_migration_on_db_upgrade(tmp_path, with_database):
    if with_database:
        environment = mlflow_server.database_environment("postgresql", "h", 5432, "db")
        environment.update({mlflow_server.DATABASE_USERNAME_VARIABLE: "u", mlflow_server.DATABASE_PASSWORD_VARIABLE: "p:/"})
        uri = "postgresql+psycopg2://u:p%3A%2F@h:5432/db"
    else:
        uri = mlflow_server.sqlite_uri("/mnt/efs/mlflow.db")
        environment = {"MLFLOW_BACKEND_STORE_URI": uri}
    recorded = _run_start_script(tmp_path, environment, [mlflow_server.UPGRADE_COMMAND])
    assert recorded["argv"] == ["db", "upgrade", uri]


def test_start_script_passes_other_arguments_to_mlflow_server(tmp_path):
    recorded = _run_start_script(tmp_path, {"MLFLOW_BACKEND_STORE_URI": "sqlite:////x.db"}, ["--dev"])
    assert recorded["argv"] == ["server", "--dev"]
