# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""How an ``mlflow server`` container is configured, whatever runs it (ECS, Cloud Run...).

Every setting goes through the environment variables ``mlflow server`` reads (MLflow 3's click
options each have one), so the container's command stays the same when a setting changes. A
database backend store is the exception: its URI holds the credentials, which must be
percent-encoded and must never be written into a definition, so the container builds the URI
itself from credentials injected as secrets (see ``START_SCRIPT``).
"""

from urllib.parse import urlencode

# The newest MLflow release when this was written, in its image with the cloud and database
# drivers (boto3, google-cloud-storage, psycopg2, psycopg, PyMySQL). ``v<version>`` without
# ``-full`` has no database driver.
MLFLOW_VERSION = "3.18.0"
MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow"
DEFAULT_IMAGE = "{0}:v{1}-full".format(MLFLOW_IMAGE, MLFLOW_VERSION)

# SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3: the driver is always named.
SQLALCHEMY_DRIVERS = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}
DEFAULT_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306}

# Environment of the start script for a database backend store. The two credentials come from a
# secret; the rest is not secret.
DATABASE_USERNAME_VARIABLE = "MLOPS_DB_USERNAME"
DATABASE_PASSWORD_VARIABLE = "MLOPS_DB_PASSWORD"
DATABASE_VARIABLES = ("MLOPS_DB_DRIVER", "MLOPS_DB_HOST", "MLOPS_DB_PORT", "MLOPS_DB_NAME", "MLOPS_DB_QUERY")

# The container's entry point, whatever the backend store: runs with the image's python. With a
# database backend store it builds the URI with percent-encoded credentials and removes the raw
# credentials from the environment. Then it becomes `mlflow server` (with the command as extra
# arguments), or, with the command `db-upgrade`, `mlflow db upgrade` on the backend store: a one-off
# task runs the schema migration with exactly the service's configuration. No value is in the
# script: it reads everything from the environment, so it never changes.
UPGRADE_COMMAND = "db-upgrade"
START_SCRIPT = "\n".join((
    "import os, sys",
    "from urllib.parse import quote",
    "env = os.environ",
    "if 'MLOPS_DB_DRIVER' in env:",
    "    user = quote(env.pop('{0}'), safe='')".format(DATABASE_USERNAME_VARIABLE),
    "    password = quote(env.pop('{0}'), safe='')".format(DATABASE_PASSWORD_VARIABLE),
    "    uri = '%s://%s:%s@%s:%s/%s' % (env.pop('MLOPS_DB_DRIVER'), user, password, env.pop('MLOPS_DB_HOST'),",
    "                                   env.pop('MLOPS_DB_PORT'), quote(env.pop('MLOPS_DB_NAME'), safe=''))",
    "    query = env.pop('MLOPS_DB_QUERY', '')",
    "    env['MLFLOW_BACKEND_STORE_URI'] = uri + ('?' + query if query else '')",
    "if sys.argv[1:] == ['{0}']:".format(UPGRADE_COMMAND),
    "    os.execvp('mlflow', ['mlflow', 'db', 'upgrade', env['MLFLOW_BACKEND_STORE_URI']])",
    "os.execvp('mlflow', ['mlflow', 'server'] + sys.argv[1:])",
))
START_ENTRY_POINT = ("python", "-c", START_SCRIPT)

# Variables this collection sets; extra environment or secrets may not name them.
MANAGED_VARIABLES = frozenset((
    "MLFLOW_HOST",
    "MLFLOW_PORT",
    "MLFLOW_WORKERS",
    "MLFLOW_STATIC_PREFIX",
    "MLFLOW_SERVER_ALLOWED_HOSTS",
    "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
    "MLFLOW_EXPOSE_PROMETHEUS",
    "MLFLOW_SERVE_ARTIFACTS",
    "MLFLOW_ARTIFACTS_DESTINATION",
    "MLFLOW_DEFAULT_ARTIFACT_ROOT",
    "MLFLOW_BACKEND_STORE_URI",
    DATABASE_USERNAME_VARIABLE,
    DATABASE_PASSWORD_VARIABLE,
) + DATABASE_VARIABLES)


def server_environment(port, workers, artifacts_uri, artifacts_mode="proxied", static_prefix=None, allowed_hosts=None,
                       cors_allowed_origins=None, prometheus_dir=None):
    """The environment that configures ``mlflow server`` (all values strings).

    ``artifacts_mode`` proxied: the server serves artifacts from ``artifacts_uri``
    (``--artifacts-destination``), clients need no storage credentials. direct: clients write to
    ``artifacts_uri`` themselves (``--default-artifact-root``, ``--no-serve-artifacts``).
    """
    environment = {
        "MLFLOW_HOST": "0.0.0.0",
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": str(workers),
    }
    if artifacts_mode == "proxied":
        environment["MLFLOW_SERVE_ARTIFACTS"] = "true"
        environment["MLFLOW_ARTIFACTS_DESTINATION"] = artifacts_uri
    else:
        environment["MLFLOW_SERVE_ARTIFACTS"] = "false"
        environment["MLFLOW_DEFAULT_ARTIFACT_ROOT"] = artifacts_uri
    if static_prefix:
        environment["MLFLOW_STATIC_PREFIX"] = static_prefix
    if allowed_hosts:
        environment["MLFLOW_SERVER_ALLOWED_HOSTS"] = ",".join(allowed_hosts)
    if cors_allowed_origins:
        environment["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] = ",".join(cors_allowed_origins)
    if prometheus_dir:
        environment["MLFLOW_EXPOSE_PROMETHEUS"] = prometheus_dir
    return environment


def database_environment(engine, host, port, name, query=None):
    """The non-secret half of the start script's environment (the credentials come as secrets)."""
    environment = {
        "MLOPS_DB_DRIVER": SQLALCHEMY_DRIVERS[engine],
        "MLOPS_DB_HOST": host,
        "MLOPS_DB_PORT": str(port or DEFAULT_DATABASE_PORTS[engine]),
        "MLOPS_DB_NAME": name,
    }
    if query:  # no variable rather than an empty one
        environment["MLOPS_DB_QUERY"] = urlencode(sorted(query.items()))
    return environment


def sqlite_uri(path):
    """``sqlite:////mnt/efs/mlflow.db`` for the absolute path ``/mnt/efs/mlflow.db``."""
    return "sqlite:///" + path


def health_path(static_prefix=None):
    """Where ``mlflow server`` answers health checks: ``/health``, under the static prefix if any.
    It is exempt from the Host header check, so load-balancer checks pass whatever Host they send."""
    return (static_prefix or "") + "/health"


def health_check_command(port, static_prefix=None, timeout=5):
    """A container health check that needs nothing but the image's python (the image has no curl):
    exit 0 when the health endpoint answers 200."""
    script = ("import http.client, sys; "
              "c = http.client.HTTPConnection('127.0.0.1', {0}, timeout={1}); c.request('GET', '{2}'); "
              "sys.exit(0 if c.getresponse().status == 200 else 1)").format(port, timeout, health_path(static_prefix))
    return ["CMD", "python", "-c", script]


def static_prefix_error(static_prefix):
    """What ``mlflow server`` would refuse in ``--static-prefix``, or None."""
    if not static_prefix.startswith("/"):
        return "must begin with '/'"
    if static_prefix.endswith("/"):
        return "must not end with '/'"
    if "{" in static_prefix or "}" in static_prefix:
        return "must not contain '{' or '}'"
    return None
