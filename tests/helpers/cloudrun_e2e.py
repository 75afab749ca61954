"""Run a Cloud Run service, as the GCP emulator holds it, locally: the end-to-end proof of a deployment.

The GCP emulator (tests/gcp_emulator) records Cloud Run services but runs nothing. This harness reads
a service back through the emulator (Cloud Run Admin v2 GET, through its HTTPS proxy: the ``gcp``
fixture's ``session()``) and runs its first container here, as Cloud Run would start an instance:

    deployment = CloudRunMlflow(gcp, gcp.region, "mlflow", tmp_path / "deployment", storage=gcs)
    # or, from the role's outputs fact: CloudRunMlflow.from_outputs(outputs, gcp, tmp_path / "deployment", storage=gcs)
    with deployment.run(database_server=postgres_server) as running:
        running.exercise(tmp_path)                          # a real MLflow client, every step checked
        assert running.request("GET", SEARCH, host="evil.example.com")[0] == 403

After the role ``mlops.mlflow.mlflow_gcp_cloudrun``, ``CloudRunMlflow.from_outputs(outputs, gcp, directory,
storage=gcs)`` takes the service from its outputs fact and ``run()`` first checks that the service is
what the outputs say (URL, artifacts destination, Cloud SQL connection, allowed hosts, URI secret,
service account, image: ``problems()``).

What Cloud Run does and how it is done here:

- Command. The container's ``command`` + ``args``, not through a shell, as Cloud Run runs them (no
  variable expansion). The image is not here: a first word ``mlflow`` (or a path ending in
  ``/mlflow``) becomes the test virtualenv's ``mlflow``; nothing else of the command changes, and
  the virtualenv's bin directory comes first in PATH. A container without ``command`` would run the
  image's entrypoint, which is unknown here: refused.
- Environment. Plain ``env`` values as they are; ``valueSource.secretKeyRef`` resolved from the
  emulated Secret Manager as Cloud Run does when an instance starts: ``secret`` is a secret of the
  service's project (or ``projects/P/secrets/S``), ``version`` a number or ``latest`` (missing:
  ``latest``), fetched with ``versions/V:access``, the payload base64-decoded. A missing secret, a
  missing or disabled version: refused (``SecretAccessError``, worded as the revision's failure). Cloud
  Run's own variables are set: ``PORT`` (the container port), ``K_SERVICE``, ``K_REVISION``,
  ``K_CONFIGURATION``. The test process's ``AWS_``/``GCP_``/``GOOGLE_``/``MLFLOW_``/proxy settings are
  not inherited; MLflow's job runner is off (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``, unless the
  container sets it), telemetry too.
- Port. ``PORT`` and the container port wherever the command or the environment name it
  (``--port 8080``, ``0.0.0.0:8080``, ``MLFLOW_PORT=8080``) become a free local port; a wildcard bind
  address (``--host 0.0.0.0``, ``MLFLOW_HOST=0.0.0.0``) becomes 127.0.0.1 (``ecs_task_runner``'s
  rewriting). Before that, an ``mlflow server`` that would not listen on ``PORT`` on every interface
  (no ``--port``/``MLFLOW_PORT``, another port, the default host 127.0.0.1) is refused: Cloud Run's
  startup probe would never reach it.
- Cloud SQL. Cloud Run mounts each instance of a ``cloudSqlInstance`` volume as a unix socket
  directory ``/cloudsql/<connection name>``. Mounting at ``/cloudsql`` would need root and write to the
  machine's ``/``, so the mount is a short local directory (``/tmp/cloudrun-XXXX/cloudsql``) in which
  ``<connection name>/.s.PGSQL.5432`` is a symlink to the local PostgreSQL server's socket, and the
  mount path is rewritten where the container names it: every ``/cloudsql`` path prefix in environment
  values (secret ones included) and command words, raw (``host=/cloudsql/p:r:i``) or percent-encoded
  (``host=%2Fcloudsql%2Fp%3Ar%3Ai``). Only that prefix changes. A path the program would build at
  run time from other pieces would not be rewritten. Every connection name a value refers to must be
  attached (the volume's ``instances``), exist in the emulated Cloud SQL with that connection name and
  be PostgreSQL; a reference without a Cloud SQL volume mounted at ``/cloudsql`` is refused.
- The database. The emulated Cloud SQL has the user and the database the deployment made, not a
  server. From the backend store URI (``MLFLOW_BACKEND_STORE_URI`` or ``--backend-store-uri``, after
  secret resolution) the harness takes the database and the user, checks that both exist in the
  emulated instance, and creates them on the local PostgreSQL with the user's password: read from
  ``password_secret`` (the secret the deployment keeps the database user's password in: JSON with a
  ``password`` key, or the plain password) when given, and then checked against the URI's (a URI
  that is not percent-encoded parses to another password: refused), else the URI's. They are dropped on
  exit. The password goes into SQL only as a quoted literal (``helpers.fargate_e2e.provision_database``).
- Artifacts. A ``gs://BUCKET/...`` artifacts destination (``MLFLOW_ARTIFACTS_DESTINATION``,
  ``MLFLOW_DEFAULT_ARTIFACT_ROOT`` or the flags) must name a bucket the emulated Cloud Storage (control
  plane) has; the bucket is then created in the data plane (``storage``: a
  ``gcp_emulator.gcs_data_plane.LocalGcs``) and the container gets ``STORAGE_EMULATOR_HOST`` and
  ``GOOGLE_CLOUD_PROJECT``: google-cloud-storage uses the emulator with anonymous credentials, where
  Cloud Run would give it the service account's.
- Volumes. ``cloudSqlInstance`` as above, ``emptyDir`` as a fresh local directory (its mount path
  rewritten the same way); any other kind (``secret``, ``gcs``, ``nfs``, ``filestore``), a mount of a
  volume the template lacks, or a ``subPath``: refused.
- IAM. The emulator stores IAM policies and enforces none, so the harness reads them: the revision's
  service account (``template.serviceAccount``) must exist, hold ``roles/secretmanager.secretAccessor``
  (or a wider role) on each secret of its environment (or the project), ``roles/cloudsql.client`` on
  the project when Cloud SQL is attached, and ``roles/storage.objectUser`` (or objectAdmin, or
  objectCreator with objectViewer, ...) on the artifact bucket (or the project). Conditions on
  bindings are not evaluated. ``run(check_iam=False)`` skips this.
- Traffic. Clients reach a Cloud Run service at ``https://<service>-<project number>.<region>.run.app``
  through Google's front end, which passes that Host header on. Here a local reverse proxy
  (``proving_ground.load_balancer.LocalLoadBalancer``) listens on 127.0.0.1: ``running.tracking_uri``
  is ``http://127.0.0.1:<port>``, and every request reaches MLflow with the service's ``run.app`` host
  as Host (a request naming another Host keeps it: a foreign one must get 403 from MLflow's host
  check), with ``X-Forwarded-Proto: https``. IAP, ingress settings, invoker IAM and request limits are
  not enforced here (the proxy also adds an ``X-Amzn-Trace-Id`` header, which MLflow ignores).

Refusals are ``DeploymentMismatch`` errors raised before anything starts: they are deployment bugs
the end-to-end test must show, not paper over. On exit (or failure) the proxy and the container's
whole process group stop, the database objects are dropped, the socket directory goes, and no
secret value (raw, or a password percent-encoded) may appear in the container's log. An exception in
the ``with`` block gets the log tail and the proxy's recent requests attached as a note.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, List, Mapping, Optional, Tuple
from urllib.parse import quote, unquote, urlparse

from helpers.fargate_e2e import DeploymentMismatch, drop_database, mask, provision_database
from helpers.mlflow_runs import MlflowExercise, exercise_mlflow
from proving_ground.databases import Database
from proving_ground.ecs_task_runner import LOCAL_DEFAULTS, LOOPBACK, LocalTask, TaskSpec, TaskStartError, venv_bin_directory
from proving_ground.load_balancer import LocalLoadBalancer
from proving_ground.mlflow_server import mlflow_command

RUN_API = "https://run.googleapis.com/v2"
SQL_API = "https://sqladmin.googleapis.com/sql/v1beta4"
SECRETS_API = "https://secretmanager.googleapis.com/v1"
STORAGE_API = "https://storage.googleapis.com/storage/v1"
IAM_API = "https://iam.googleapis.com/v1"
PROJECTS_API = "https://cloudresourcemanager.googleapis.com/v1"
# Roles that let the revision's service account do what the container does (the emulator stores IAM policies but
# enforces none, so the harness reads them): on the secret or the project, on the project, on the bucket or the project.
SECRET_ROLES = ("roles/secretmanager.secretAccessor", "roles/secretmanager.admin", "roles/owner")
CLOUDSQL_ROLES = ("roles/cloudsql.client", "roles/cloudsql.editor", "roles/cloudsql.admin", "roles/editor", "roles/owner")
OBJECT_ROLES = ("roles/storage.objectUser", "roles/storage.objectAdmin", "roles/storage.admin", "roles/editor", "roles/owner")
CLOUDSQL_MOUNT = "/cloudsql"
POSTGRES_SOCKET = ".s.PGSQL.5432"   # what the Cloud SQL connector serves for a PostgreSQL instance
DEFAULT_CONTAINER_PORT = 8080
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "[::]")
# Settings of the test process that must not reach the container (it gets its own).
NOT_INHERITED_PREFIXES = ("AWS_", "BOTO_", "MLFLOW_", "MLOPS_", "GCP_", "GOOGLE_", "CLOUDSDK_", "STORAGE_EMULATOR_")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")
SUPPORTED_VOLUMES = ("cloudSqlInstance", "emptyDir")
# What from_outputs needs of the role's outputs fact.
OUTPUT_KEYS = ("project_id", "region", "service_name", "password_secret_id")
LOG_TAIL = 6000
# sun_path holds 108 bytes, NUL included.
MAX_SOCKET_PATH = 107


class SecretAccessError(DeploymentMismatch):
    """A secret the container's environment refers to cannot be read (Cloud Run fails the revision)."""


# --- reading the emulator -------------------------------------------------------------------------------------------------


def _get(session, url: str) -> Tuple[int, dict]:
    answer = session.get(url, timeout=30)
    try:
        document = answer.json()
    except ValueError:
        document = {"text": answer.text[:500]}
    return answer.status_code, document


def _error_message(document: Mapping) -> str:
    error = document.get("error") if isinstance(document, Mapping) else None
    return str(error.get("message")) if isinstance(error, Mapping) else json.dumps(document)[:300]


def secret_version_name(project: str, secret: str, version: Optional[str]) -> str:
    """``projects/P/secrets/S/versions/V`` for a secretKeyRef (``secret``: a name in ``project`` or a
    full ``projects/P/secrets/S``; ``version``: a number, ``latest`` or an alias; missing: latest)."""
    if not secret:
        raise SecretAccessError("a secretKeyRef names no secret")
    name = secret if secret.startswith("projects/") else f"projects/{project}/secrets/{secret}"
    if not re.fullmatch(r"projects/[^/]+/secrets/[A-Za-z0-9_-]{1,255}", name):
        raise SecretAccessError(f"{secret!r} is not a secret name (NAME or projects/PROJECT/secrets/NAME)")
    return f"{name}/versions/{version or 'latest'}"


def access_secret(session, version_name: str) -> str:
    """The payload of a secret version, as Cloud Run injects it (``:access``, base64, UTF-8)."""
    status, document = _get(session, f"{SECRETS_API}/{version_name}:access")
    if status != 200:
        raise SecretAccessError(f"Secret {version_name} cannot be accessed ({status}: {_error_message(document)}); Cloud Run would "
                                "fail the revision: the container cannot start without it")
    data = ((document.get("payload") or {}).get("data")) or ""
    try:
        return base64.b64decode(data).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise SecretAccessError(f"Secret {version_name} is not UTF-8 text: it cannot be an environment variable") from None


def password_from_secret(text: str) -> str:
    """The password in a password secret: JSON with a string ``password``, else the whole payload."""
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if isinstance(document, dict):
        if not isinstance(document.get("password"), str):
            raise DeploymentMismatch(f"the password secret is JSON without a string password (its keys: {sorted(document)})")
        return document["password"]
    return text


def _bucket_of(uri: str) -> Tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.strip("/")


def _flag_value(words: List[str], *flags: str) -> Optional[str]:
    """The value of the last ``--flag VALUE`` / ``--flag=VALUE`` among ``words``."""
    found = None
    for index, word in enumerate(words):
        for flag in flags:
            if word == flag and index + 1 < len(words):
                found = words[index + 1]
            elif word.startswith(flag + "=") and flag.startswith("--"):
                found = word[len(flag) + 1:]
    return found


# --- the local stand-ins of mounts ----------------------------------------------------------------------------------------


class MountMap:
    """Container mount paths and the local directories that stand for them; rewrites a path prefix
    raw (``/cloudsql/x``) and percent-encoded (``%2Fcloudsql%2Fx``), at path boundaries only."""

    def __init__(self, mounts: Mapping[str, Path]):
        self.mounts = {path.rstrip("/"): Path(local) for path, local in mounts.items()}
        self._raw = {}
        self._encoded = {}
        for path, local in self.mounts.items():
            self._raw[path] = (re.compile(r"(?<![A-Za-z0-9._~%/-])" + re.escape(path) + r"(?=/|$|[?&#;\s\"',])"), str(local))
            encoded = quote(path, safe="")
            self._encoded[path] = (re.compile(r"(?<![A-Za-z0-9._~-])" + re.escape(encoded).replace("%2F", "%2[Ff]")
                                              + r"(?=%2[Ff]|$|[?&#;\s\"',])"), quote(str(local), safe=""))

    def rewrite(self, text: str) -> str:
        for path in sorted(self.mounts, key=len, reverse=True):
            pattern, local = self._raw[path]
            text = pattern.sub(lambda match, local=local: local, text)
            pattern, local = self._encoded[path]
            text = pattern.sub(lambda match, local=local: local, text)
        return text


_CONNECTION = r"[A-Za-z0-9._-]+(?::[A-Za-z0-9._-]+){2,3}"


def cloudsql_references(text: str, mount: str = CLOUDSQL_MOUNT) -> List[str]:
    """The Cloud SQL connection names a value refers to under ``mount``, raw or percent-encoded."""
    found = [match.group(1) for match in re.finditer(r"(?<![A-Za-z0-9._~%/-])" + re.escape(mount) + r"/(" + _CONNECTION + r")", text)]
    encoded = re.escape(quote(mount, safe="")).replace("%2F", "%2[Ff]")
    for match in re.finditer(r"(?<![A-Za-z0-9._~-])" + encoded + r"%2[Ff]((?:[A-Za-z0-9._-]|%3[Aa])+)", text):
        found.append(unquote(match.group(1)))
    return list(dict.fromkeys(found))


# --- the deployment -------------------------------------------------------------------------------------------------------


class CloudRunMlflow:
    """A Cloud Run service in the GCP emulator, to be run locally (see the module docstring).

    ``gcp``: the ``gcp`` fixture (``session()``, ``project``); ``region`` and ``service``: the service
    to read; ``directory``: logs and working directories; ``storage``: the GCS data plane
    (``gcp_emulator.gcs_data_plane.LocalGcs``), needed for a ``gs://`` artifacts destination;
    ``password_secret``: the secret that holds the database user's password (see the docstring);
    ``project``: the service's project (default ``gcp.project``).
    """

    def __init__(self, gcp, region: str, service: str, directory: Path, *, storage=None, password_secret: Optional[str] = None,
                 project: Optional[str] = None):
        self.gcp = gcp
        self.session = gcp.session()
        self.project = project or gcp.project
        self.region = region
        self.service_name = service
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self.password_secret = password_secret
        self.outputs: dict = {}   # the role's outputs fact, when made by from_outputs
        self._runs = 0

    @classmethod
    def from_outputs(cls, outputs: Mapping, gcp, directory: Path, *, storage=None) -> "CloudRunMlflow":
        """The deployment the role ``mlops.mlflow.mlflow_gcp_cloudrun`` describes in ``mlflow_gcp_cloudrun_outputs``
        (``project_id``, ``region``, ``service_name``, ``password_secret_id``; ``problems()`` checks the rest)."""
        missing = [key for key in OUTPUT_KEYS if not outputs.get(key)]
        if missing:
            raise DeploymentMismatch(f"the outputs lack {', '.join(missing)} (they have {', '.join(sorted(outputs))})")
        deployment = cls(gcp, outputs["region"], outputs["service_name"], directory, storage=storage,
                         password_secret=outputs["password_secret_id"], project=outputs["project_id"])
        deployment.outputs = dict(outputs)
        return deployment

    def problems(self, service: Mapping) -> List[str]:
        """Where the service Cloud Run holds differs from the outputs (empty without outputs)."""
        outputs, found = self.outputs, []
        if not outputs:
            return found
        container = self._container(service)
        environment = {entry["name"]: entry.get("value") for entry in container.get("env") or [] if "value" in entry}
        volumes = (service.get("template") or {}).get("volumes") or []
        attached = [name for volume in volumes for name in ((volume.get("cloudSqlInstance") or {}).get("instances") or [])]
        expected = {
            "service_url": ("the service's URL", f"https://{self.public_host(service)}"),
            "artifacts_destination": ("the artifacts destination", environment.get("MLFLOW_ARTIFACTS_DESTINATION")),
            "service_account": ("the revision's service account", self.service_account(service)),
            "image": ("the image", container.get("image")),
        }
        for key, (label, actual) in expected.items():
            if outputs.get(key) and outputs[key] != actual:
                found.append(f"{label} is {actual!r}, the outputs say {outputs[key]!r}")
        if outputs.get("instance_connection_name") and outputs["instance_connection_name"] not in attached:
            found.append(f"the service attaches {attached}, the outputs say {outputs['instance_connection_name']}")
        hosts = [host for host in (environment.get("MLFLOW_SERVER_ALLOWED_HOSTS") or "").split(",") if host]
        if outputs.get("allowed_hosts") and sorted(outputs["allowed_hosts"]) != sorted(hosts):
            found.append(f"MLFLOW_SERVER_ALLOWED_HOSTS is {hosts}, the outputs say {outputs['allowed_hosts']}")
        secret_ids = [secret_version_name(self.project, ((entry.get("valueSource") or {}).get("secretKeyRef") or {}).get("secret", ""),
                                          "latest").rsplit("/versions/", 1)[0]
                      for entry in container.get("env") or [] if entry.get("name") == "MLFLOW_BACKEND_STORE_URI" and "valueSource" in entry]
        if outputs.get("backend_store_uri_secret_id") and secret_ids != [outputs["backend_store_uri_secret_id"]]:
            found.append(f"MLFLOW_BACKEND_STORE_URI comes from {secret_ids or 'no secret'}, the outputs say "
                         f"{outputs['backend_store_uri_secret_id']}")
        return found

    @property
    def service_path(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{self.service_name}"

    # what Cloud Run holds
    def describe(self) -> dict:
        """The service as Cloud Run Admin v2 returns it."""
        status, document = _get(self.session, f"{RUN_API}/{self.service_path}")
        if status != 200:
            raise DeploymentMismatch(f"no Cloud Run service {self.service_path} ({status}: {_error_message(document)})")
        return document

    @staticmethod
    def public_host(service: Mapping) -> str:
        """The host clients send through Google's front end: the service's ``uri``'s."""
        host = urlparse(service.get("uri") or "").hostname
        if not host:
            raise DeploymentMismatch(f"the service has no uri ({service.get('uri')!r})")
        return host

    def _container(self, service: Mapping) -> dict:
        containers = (service.get("template") or {}).get("containers") or []
        if not containers:
            raise DeploymentMismatch("the service's template has no container")
        return containers[0]

    @staticmethod
    def container_port(container: Mapping) -> int:
        ports = container.get("ports") or []
        return int(ports[0].get("containerPort") or DEFAULT_CONTAINER_PORT) if ports else DEFAULT_CONTAINER_PORT

    def _check_ready(self, service: Mapping) -> None:
        condition = service.get("terminalCondition") or {}
        if condition.get("state") != "CONDITION_SUCCEEDED":
            raise DeploymentMismatch(f"the service's latest revision is not ready ({condition.get('state')}: "
                                     f"{condition.get('message', '')}): Cloud Run would not serve this template")

    # the environment
    def resolve_environment(self, container: Mapping) -> Tuple[dict, dict]:
        """(plain variables, variables from Secret Manager) of the container, resolved."""
        plain, secret = {}, {}
        for entry in container.get("env") or []:
            reference = ((entry.get("valueSource") or {}).get("secretKeyRef"))
            if reference is None:
                plain[entry["name"]] = entry.get("value", "")
                continue
            version = secret_version_name(self.project, reference.get("secret", ""), reference.get("version"))
            try:
                secret[entry["name"]] = access_secret(self.session, version)
            except SecretAccessError as error:
                raise SecretAccessError(f"variable {entry['name']}: {error}") from None
        return plain, secret

    def read_password_secret(self) -> Optional[str]:
        if not self.password_secret:
            return None
        version = self.password_secret
        if "/versions/" not in version:
            version = secret_version_name(self.project, version, "latest")
        return password_from_secret(access_secret(self.session, version))

    # volumes and Cloud SQL
    def _mounts(self, service: Mapping, container: Mapping, local_root: Path) -> Tuple[MountMap, List[str], Optional[Path]]:
        """(mount map, attached Cloud SQL connection names, the local /cloudsql directory or None)."""
        volumes = {volume["name"]: volume for volume in (service.get("template") or {}).get("volumes") or []}
        mounts, connections, cloudsql_directory = {}, [], None
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name"))
            if volume is None:
                raise DeploymentMismatch(f"the container mounts volume {mount.get('name')!r}, which the template lacks "
                                         f"(it has {sorted(volumes)})")
            kinds = [kind for kind in volume if kind != "name"]
            if mount.get("subPath"):
                raise DeploymentMismatch(f"volume {volume['name']} is mounted with a subPath, which this runner does not emulate")
            if kinds == ["cloudSqlInstance"]:
                path = mount.get("mountPath") or CLOUDSQL_MOUNT
                if path.rstrip("/") != CLOUDSQL_MOUNT:
                    raise DeploymentMismatch(f"a Cloud SQL volume must be mounted at {CLOUDSQL_MOUNT} (Cloud Run refuses {path!r})")
                cloudsql_directory = local_root / "cloudsql"
                cloudsql_directory.mkdir(exist_ok=True)
                mounts[CLOUDSQL_MOUNT] = cloudsql_directory
                connections += list((volume["cloudSqlInstance"] or {}).get("instances") or [])
            elif kinds == ["emptyDir"]:
                local = local_root / "volumes" / volume["name"]
                local.mkdir(parents=True, exist_ok=True)
                mounts[mount["mountPath"]] = local
            else:
                raise DeploymentMismatch(f"volume {volume['name']} is {kinds}: this runner emulates {' and '.join(SUPPORTED_VOLUMES)} "
                                         "volumes only")
        return MountMap(mounts), list(dict.fromkeys(connections)), cloudsql_directory

    def cloudsql_instance(self, connection: str) -> dict:
        """The emulated Cloud SQL instance of a connection name, checked to be that connection."""
        parts = connection.split(":")
        if len(parts) < 3:
            raise DeploymentMismatch(f"{connection!r} is not a Cloud SQL connection name (PROJECT:REGION:INSTANCE)")
        project, instance = ":".join(parts[:-2]), parts[-1]
        status, document = _get(self.session, f"{SQL_API}/projects/{project}/instances/{instance}")
        if status != 200:
            raise DeploymentMismatch(f"the service attaches Cloud SQL instance {connection}, which does not exist "
                                     f"({status}: {_error_message(document)})")
        if document.get("connectionName") != connection:
            raise DeploymentMismatch(f"the service attaches {connection}, but that instance's connection name is "
                                     f"{document.get('connectionName')}")
        return document

    def _check_database(self, instance: Mapping, database: str, user: str) -> None:
        base = f"{SQL_API}/projects/{instance['project']}/instances/{instance['name']}"
        status, document = _get(self.session, f"{base}/databases/{quote(database, safe='')}")
        if status != 200:
            raise DeploymentMismatch(f"the backend store URI names database {database!r}, which instance {instance['name']} lacks "
                                     f"({status}: {_error_message(document)})")
        status, document = _get(self.session, f"{base}/users")
        users = [entry.get("name") for entry in document.get("items") or []] if status == 200 else []
        if user not in users:
            raise DeploymentMismatch(f"the backend store URI names user {user!r}, which instance {instance['name']} lacks "
                                     f"(it has {users})")

    # IAM: the emulator stores policies and enforces none; Cloud Run's service account would be refused
    def service_account(self, service: Mapping) -> str:
        """The revision's service account (Cloud Run's default: the Compute Engine default service account)."""
        return ((service.get("template") or {}).get("serviceAccount")
                or f"{getattr(self.gcp, 'project_number', '')}-compute@developer.gserviceaccount.com")

    def _policy_members(self, method: str, url: str) -> dict:
        """{role: members} of an IAM policy (conditions are not evaluated: a conditional binding counts)."""
        answer = self.session.request(method, url, json={} if method == "POST" else None, timeout=30)
        if answer.status_code != 200:
            raise DeploymentMismatch(f"cannot read the IAM policy {url} ({answer.status_code}: {answer.text[:200]})")
        members: dict = {}
        for binding in answer.json().get("bindings") or []:
            members.setdefault(binding.get("role"), set()).update(binding.get("members") or [])
        return members

    def _project_policy(self) -> dict:
        return self._policy_members("POST", f"{PROJECTS_API}/projects/{self.project}:getIamPolicy")

    @staticmethod
    def _granted(member: str, roles, *policies) -> bool:
        return any(member in policy.get(role, ()) for policy in policies for role in roles)

    def iam_problems(self, service: Mapping, container: Mapping, connections: List[str], bucket: Optional[str]) -> List[str]:
        """What the revision's service account could not do in GCP: read the secrets of its environment, connect
        to its Cloud SQL instances, use the objects of the artifact bucket; and whether it exists."""
        account = self.service_account(service)
        member = f"serviceAccount:{account}"
        found = []
        status, document = _get(self.session, f"{IAM_API}/projects/-/serviceAccounts/{quote(account, safe='@')}")
        if status != 200 and not account.endswith("-compute@developer.gserviceaccount.com"):
            found.append(f"the revision runs as {account}, which does not exist ({status}: {_error_message(document)})")
        project = self._project_policy()
        secrets = []
        for entry in container.get("env") or []:
            reference = (entry.get("valueSource") or {}).get("secretKeyRef")
            if reference:
                secrets.append(secret_version_name(self.project, reference.get("secret", ""), "latest").rsplit("/versions/", 1)[0])
        for secret in dict.fromkeys(secrets):
            own = self._policy_members("GET", f"{SECRETS_API}/{secret}:getIamPolicy")
            if not self._granted(member, SECRET_ROLES, own, project):
                found.append(f"{account} may not access secret {secret} (no {SECRET_ROLES[0]} on it or on the project)")
        if connections and not self._granted(member, CLOUDSQL_ROLES, project):
            found.append(f"{account} may not connect to Cloud SQL (no {CLOUDSQL_ROLES[0]} on the project)")
        if bucket:
            own = self._policy_members("GET", f"{STORAGE_API}/b/{quote(bucket, safe='')}/iam")
            pair = all(self._granted(member, (role,), own, project) for role in ("roles/storage.objectCreator", "roles/storage.objectViewer"))
            if not (pair or self._granted(member, OBJECT_ROLES, own, project)):
                found.append(f"{account} may not write and read the objects of gs://{bucket} (no {OBJECT_ROLES[0]} on it or on the project)")
        return found

    # checks of what Cloud Run would do with the command
    @staticmethod
    def _check_listening(command: List[str], environment: Mapping[str, str], container_port: int) -> None:
        """An ``mlflow server`` must listen on PORT, on every interface, or Cloud Run's probe fails."""
        if not command or Path(command[0]).name != "mlflow" or "server" not in command[1:2]:
            return
        words = command[2:]
        port = _flag_value(words, "--port", "-p") or environment.get("MLFLOW_PORT")
        if port is None:
            raise DeploymentMismatch(f"mlflow server is told no port (--port or MLFLOW_PORT): it would listen on 5000, and Cloud Run "
                                     f"sends requests to PORT={container_port}")
        if port.strip() != str(container_port):
            raise DeploymentMismatch(f"mlflow server listens on port {port}, but Cloud Run sends requests to PORT={container_port}")
        host = _flag_value(words, "--host", "-h") or environment.get("MLFLOW_HOST") or "127.0.0.1"
        if host.strip() not in WILDCARD_ADDRESSES:
            raise DeploymentMismatch(f"mlflow server listens on {host} only (--host or MLFLOW_HOST): Cloud Run could not reach it; "
                                     "it must listen on 0.0.0.0")

    @staticmethod
    def _command(container: Mapping) -> List[str]:
        command = list(container.get("command") or [])
        if not command:
            raise DeploymentMismatch("the container has no command: it would run the image's entrypoint, which is unknown here")
        return command + list(container.get("args") or [])

    @staticmethod
    def _local_command(command: List[str]) -> List[str]:
        """The command with the image's mlflow replaced by the test virtualenv's (nothing else)."""
        if Path(command[0]).name == "mlflow":
            return mlflow_command() + command[1:]
        return list(command)

    @staticmethod
    def _base_environment() -> dict:
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith(NOT_INHERITED_PREFIXES) and key.lower() not in PROXY_VARIABLES}
        environment["PATH"] = os.pathsep.join([str(venv_bin_directory()), environment.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
        environment.pop("PYTHONHOME", None)
        environment.update(LOCAL_DEFAULTS)
        return environment

    # running it
    @contextlib.contextmanager
    def run(self, database_server=None, *, timeout: float = 180.0, extra_environment: Optional[Mapping[str, str]] = None,
            proxy_port: int = 0, check_iam: bool = True) -> Iterator["RunningCloudRunMlflow"]:
        """Run the service's container locally behind the local front end (see the module docstring).

        ``database_server``: the local PostgresServer the attached Cloud SQL instance stands for (needed
        when the container refers to one). ``extra_environment``: set last, over everything (say
        ``{"MLFLOW_WORKERS": "1"}``). ``proxy_port``: the local port of the front end (0: a free one).
        ``check_iam``: refuse when the revision's service account lacks a grant it needs (``iam_problems``).
        """
        service = self.describe()
        found = self.problems(service)
        if found:
            raise DeploymentMismatch("the service is not what the outputs say:\n- " + "\n- ".join(found))
        self._check_ready(service)
        container = self._container(service)
        container_port = self.container_port(container)
        public_host = self.public_host(service)
        command = self._command(container)
        plain, from_secrets = self.resolve_environment(container)
        container_environment = dict(plain, **from_secrets)
        self._check_listening(command, container_environment, container_port)
        password = self.read_password_secret()
        self._runs += 1
        with contextlib.ExitStack() as stack:
            # Short: unix socket paths under it must fit in 107 bytes.
            local_root = Path(tempfile.mkdtemp(prefix="cloudrun-", dir="/tmp" if os.path.isdir("/tmp") else None))
            stack.callback(shutil.rmtree, local_root, True)
            mounts, connections, cloudsql_directory = self._mounts(service, container, local_root)
            references = []
            for text in list(container_environment.values()) + command:
                references += cloudsql_references(text)
            references = list(dict.fromkeys(references))
            if references and cloudsql_directory is None:
                raise DeploymentMismatch(f"the container refers to {CLOUDSQL_MOUNT}/{references[0]}, but the service attaches no Cloud SQL "
                                         f"instance (no cloudSqlInstance volume mounted at {CLOUDSQL_MOUNT}): it could not reach the database")
            unattached = [name for name in references if name not in connections]
            if unattached:
                raise DeploymentMismatch(f"the container refers to Cloud SQL {', '.join(unattached)}, but the service attaches only "
                                         f"{connections}")
            instances = {name: self.cloudsql_instance(name) for name in connections}
            for name, instance in instances.items():
                if not str(instance.get("databaseVersion", "")).startswith("POSTGRES"):
                    raise DeploymentMismatch(f"Cloud SQL {name} is {instance.get('databaseVersion')}: this runner maps PostgreSQL only")
            if references and database_server is None:
                raise ValueError("the container uses Cloud SQL: give a database_server (a local PostgresServer)")
            for name in references:
                socket = cloudsql_directory / name / POSTGRES_SOCKET
                if len(str(socket)) > MAX_SOCKET_PATH:
                    raise ValueError(f"the local socket path {socket} is longer than a unix socket path may be")
                socket.parent.mkdir(parents=True, exist_ok=True)
                socket.symlink_to(database_server.socket_file)

            artifact_bucket, artifact_prefix = self._artifact_location(command, container_environment)
            if check_iam:
                found = self.iam_problems(service, container, connections, artifact_bucket)
                if found:
                    raise DeploymentMismatch("the revision's service account lacks grants (IAM is stored, not enforced, by the "
                                             "emulator):\n- " + "\n- ".join(found))
            backend_uri = _flag_value(command, "--backend-store-uri") or container_environment.get("MLFLOW_BACKEND_STORE_URI", "")
            database = None
            if references:
                database = self._provision(backend_uri, instances, database_server, password)
                stack.callback(drop_database, database_server, database.name, database.user)

            environment = self._base_environment()
            revision = (service.get("latestReadyRevision") or "").rsplit("/", 1)[-1]
            environment.update(PORT=str(container_port), K_SERVICE=self.service_name, K_REVISION=revision,
                               K_CONFIGURATION=self.service_name)
            environment.update({name: mounts.rewrite(value) for name, value in container_environment.items()})
            if self.storage is not None:
                environment.update(self.storage.environment)
            environment.update(extra_environment or {})
            local_command = [mounts.rewrite(word) for word in self._local_command(command)]
            probe = (((container.get("startupProbe") or {}).get("httpGet")) or {}).get("path") or "/health"
            name = container.get("name") or self.service_name
            notes = [f"Cloud Run service {self.service_path}, revision {revision}",
                     *(f"volume {path} -> {local}" for path, local in mounts.mounts.items()),
                     *(f"Cloud SQL {connection} -> {database_server.socket_file}" for connection in references)]
            task = LocalTask(TaskSpec({}, {"name": name}, container_port), local_command, environment,
                             self.directory / f"{name}-{self._runs}", health_path=probe, notes=notes,
                             listen_variables=set(container_environment) | {"PORT"} | set(extra_environment or {}))
            running = RunningCloudRunMlflow(self, service, task, public_host, database, artifact_bucket, artifact_prefix,
                                            secrets=list(from_secrets.values()) + ([password] if password else []), proxy_port=proxy_port)
            stack.callback(running.stop)
            task.launch()
            try:
                task.wait_until_ready(timeout)
            except TaskStartError as error:
                raise TaskStartError(mask(str(error), running.secret_values())) from None
            running.front_end.start()
            try:
                yield running
            except BaseException as error:
                error.add_note(running.diagnostics())
                raise
            running.stop()
            leaked = running.leaked_secrets()
            if leaked:
                raise AssertionError(f"the container's log holds {', '.join(leaked)}: {task.log_path}")

    def _provision(self, backend_uri: str, instances: Mapping[str, dict], database_server, password: Optional[str]) -> Database:
        from sqlalchemy.engine import make_url  # pylint: disable=import-outside-toplevel

        if not backend_uri:
            raise DeploymentMismatch("the container refers to Cloud SQL but sets no backend store URI "
                                     "(MLFLOW_BACKEND_STORE_URI or --backend-store-uri)")
        try:
            url = make_url(backend_uri)
        except Exception:  # pylint: disable=broad-exception-caught
            raise DeploymentMismatch("the backend store URI is not a database URI SQLAlchemy can parse (are its credentials "
                                     "percent-encoded?)") from None
        if not url.drivername.startswith("postgresql"):
            raise DeploymentMismatch(f"the backend store URI's driver is {url.drivername}: the attached Cloud SQL is PostgreSQL")
        host = url.query.get("host")
        host = host[-1] if isinstance(host, tuple) else host
        connection = str(host or "")[len(CLOUDSQL_MOUNT) + 1:] if str(host or "").startswith(CLOUDSQL_MOUNT + "/") else ""
        if connection not in instances:
            raise DeploymentMismatch(f"the backend store URI's host is {host!r}, not the socket directory of an attached Cloud SQL "
                                     f"instance ({', '.join(CLOUDSQL_MOUNT + '/' + name for name in instances)})")
        if not url.username or url.password is None or not url.database:
            raise DeploymentMismatch("the backend store URI lacks a user, a password or a database name")
        if password is not None and url.password != password:
            raise DeploymentMismatch("the password in the backend store URI is not the database user's password from the password "
                                     "secret (is the URI percent-encoded?)")
        self._check_database(instances[connection], url.database, url.username)
        return provision_database(database_server, url.database, url.username, password if password is not None else url.password)

    def _artifact_location(self, command: List[str], environment: Mapping[str, str]) -> Tuple[Optional[str], str]:
        """(bucket, prefix) of a gs:// artifacts destination or default root, checked and made in the data plane."""
        uri = (_flag_value(command, "--artifacts-destination") or environment.get("MLFLOW_ARTIFACTS_DESTINATION")
               or _flag_value(command, "--default-artifact-root") or environment.get("MLFLOW_DEFAULT_ARTIFACT_ROOT") or "")
        if not uri.startswith("gs://"):
            return None, ""
        bucket, prefix = _bucket_of(uri)
        status, document = _get(self.session, f"{STORAGE_API}/b/{quote(bucket, safe='')}")
        if status != 200:
            raise DeploymentMismatch(f"the artifacts go to gs://{bucket}, which does not exist ({status}: {_error_message(document)})")
        if self.storage is None:
            raise ValueError(f"the artifacts go to {uri}: give storage (a gcp_emulator.gcs_data_plane.LocalGcs)")
        self.storage.ensure_bucket(bucket)
        return bucket, prefix


class RunningCloudRunMlflow:
    """The service's container running locally behind the local front end."""

    def __init__(self, deployment: CloudRunMlflow, service: dict, task: LocalTask, public_host: str, database: Optional[Database],
                 artifact_bucket: Optional[str], artifact_prefix: str, *, secrets: List[str], proxy_port: int = 0):
        self.deployment = deployment
        self.service = service
        self.task = task
        self.public_host = public_host
        self.database = database
        self.artifact_bucket = artifact_bucket
        self.artifact_prefix = artifact_prefix
        self._secrets = [value for value in secrets if value]
        self.front_end = LocalLoadBalancer(lambda: (LOOPBACK, task.port), public_host, scheme="https", listener_port=443, port=proxy_port)

    @property
    def tracking_uri(self) -> str:
        """What local clients use instead of the service's https://...run.app URL."""
        return self.front_end.url

    @property
    def host_header(self) -> str:
        """The Host header MLflow receives for requests through ``tracking_uri``: the run.app host."""
        return self.public_host

    @property
    def environment(self) -> dict:
        """The container's environment as launched (holds secret values: look, never print)."""
        return dict(self.task.environment or {})

    def request(self, method: str, path: str, *, host: Optional[str] = None, body=None, headers: Optional[Mapping] = None) -> Tuple[int, str]:
        """One request through the front end: (status, body text). ``host``: another Host header."""
        sent = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        status, dummy, payload = self.front_end.request(method, path, host=host, body=body, headers=sent)
        return status, payload.decode(errors="replace")

    def exercise(self, tmp_path: Path, **options) -> MlflowExercise:
        """``exercise_mlflow`` against this service: its artifacts checked in the GCS data plane."""
        if self.artifact_bucket is None:
            raise ValueError("the service stores no artifacts in gs://")
        return exercise_mlflow(self.tracking_uri, tmp_path, self.artifact_bucket, self.artifact_prefix,
                               self.deployment.storage.s3_view(), **options)

    def object_names(self, prefix: Optional[str] = None) -> List[str]:
        """The objects in the artifact bucket under ``prefix`` (default: the artifacts prefix)."""
        return self.deployment.storage.object_names(self.artifact_bucket, self.artifact_prefix if prefix is None else prefix)

    def log_text(self) -> str:
        return self.task.log_text()

    def secret_values(self) -> List[str]:
        """Every secret value the container got, and the database password raw and percent-encoded."""
        values = list(self._secrets)
        if self.database is not None and self.database.password:
            values += [self.database.password, quote(self.database.password, safe="")]
        return list(dict.fromkeys(value for value in values if value))

    def leaked_secrets(self) -> List[str]:
        """Which secret values are in the container's log (counted, never shown)."""
        text = self.log_text()
        leaked = [value for value in self.secret_values() if value in text]
        return [f"{len(leaked)} secret value(s)"] if leaked else []

    def diagnostics(self) -> str:
        tail = mask(self.task.log_text()[-LOG_TAIL:], self.secret_values())
        return (f"--- log of the local Cloud Run container ({self.task.log_path}), last {LOG_TAIL} characters ---\n{tail}\n"
                f"--- requests through the local front end (Host {self.public_host}) ---\n{self.front_end.describe_requests()}")

    def stop(self) -> None:
        """Stop the front end and the container's process group (idempotent)."""
        self.front_end.stop()
        self.task.stop()


__all__ = ["CloudRunMlflow", "DeploymentMismatch", "MountMap", "RunningCloudRunMlflow", "SecretAccessError", "access_secret",
           "cloudsql_references", "password_from_secret", "secret_version_name"]
