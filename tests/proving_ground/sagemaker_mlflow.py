"""SageMaker MLflow tracking servers and MLflow Apps, which moto lacks (it answers 500 NotImplemented).

The overlay answers the 14 MLflow operations of botocore's SageMaker model (JSON 1.1,
``X-Amz-Target: SageMaker.<Operation>``) from its own store, per account and region, and the generic
``AddTags`` / ``DeleteTags`` / ``ListTags`` when the ``ResourceArn`` is one of its MLflow ARNs (any
other ARN goes on to moto).

Life cycle
    Tracking servers go ``Creating -> Created``, ``Updating -> Updated``, ``Stopping -> Stopped``,
    ``Starting -> Started`` and ``Deleting -> (gone)``; Apps go ``Creating -> Created``,
    ``Updating -> Updated`` and ``Deleting -> (gone)``. Each phase lasts
    ``latency.duration("sagemaker", "<Operation>")`` seconds of ``time.monotonic`` (0, the default,
    ends it at once). ``IsActive`` is ``Active`` while a server serves (Created, Updated, Started and
    while an update runs) and ``Inactive`` otherwise. Operations refused in a state fail as AWS
    words it, e.g. ``ValidationException: Tracking Server with ARN ... is currently in status
    UPDATING, can't be stopped.``

Validation
    Every request is checked against botocore's input shape (see :mod:`model_check`): AWS-worded
    ``ValidationException`` for enum, pattern, length and range problems that botocore's client lets
    through. Then what the model cannot say: MLflow versions are given as ``major.minor`` (AWS refuses
    ``2.16.2`` with "The provided MLflow version is not supported" and reports ``2.16.2`` back for
    ``2.16``), tracking server names are unique per account and region (App names need not be: an
    App is known by its generated ARN), quotas (:data:`MAX_TRACKING_SERVERS`,
    :data:`MAX_MLFLOW_APPS`) give ``ResourceLimitExceeded``, unknown names or ARNs ``ResourceNotFound``.

Strict mode
    With ``settings.strict`` (the default) each answer is checked against the output shape, and each
    error code against the operation's declared errors, before it leaves; a mismatch becomes
    ``500 InternalFailure`` naming the problem, so every test that talks to the overlay checks it.

Control routes (under ``/_proving_ground``)
    ``POST /sagemaker/tracking-server-url`` with
    ``{"TrackingServerName": "<name>" | "*", "Url": "http://127.0.0.1:5000" | null, "Region": "..."}``
    makes ``DescribeMlflowTrackingServer`` report ``Url`` as the ``TrackingServerUrl`` (and
    ``CreatePresignedMlflowTrackingServerUrl`` hand out ``<Url>/?authToken=...``), so that a client
    that follows the URL reaches a real local ``mlflow server``. ``"*"`` covers every server, also
    those created later; ``Region`` (optional) limits the pointing to one region; a ``null`` Url
    removes it. A specific name wins over ``"*"``, a specific region over none.

    ``POST /sagemaker/mlflow-app-url`` with ``{"Arn": "<arn>" | "*"}`` or ``{"Name": "<app name>"}``
    plus ``Url`` and optional ``Region`` does the same for ``CreatePresignedMlflowAppUrl`` (Apps have
    no URL field of their own).

    ``POST /sagemaker/mlflow-quotas`` with ``{"TrackingServers": n, "Apps": n}`` changes the quotas
    (until the next reset); ``GET /sagemaker/mlflow`` shows the store, for debugging.

``reset()`` forgets every server, App, tag, pointing and quota change.

The MLflow calls of clients (the ``sagemaker-mlflow`` plugin, SigV4-signed, the ARN in a header) are
answered by :mod:`sagemaker_mlflow_data_plane`, which relays them to the URL a resource is pointed at
(:meth:`SageMakerMlflowOverlay.data_plane_target`).
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import model_check
from .aws_protocol import AwsRequest, Response, error_response, json_response, service_model

# moto's default account: the overlay serves the same account as the moto behind it.
ACCOUNT_ID = "123456789012"
# Who moto says the caller is for credentials it did not issue (moto's sts get_caller_identity).
CALLER_ARN_TEMPLATE = "arn:{partition}:sts::{account}:user/moto"
CALLER_PRINCIPAL_ID = "AKIAIOSFODNN7EXAMPLE"

# Service Quotas "Maximum number of MLflow Tracking Servers" (quota code L-6BC1B1A9). The name and
# code are AWS's; the default value could not be confirmed from public sources, so this is a guess
# (and changeable through POST /_proving_ground/sagemaker/mlflow-quotas).
MAX_TRACKING_SERVERS = 10
# No public source names an MLflow App quota; CreateMlflowApp declares ResourceLimitExceeded, so one
# exists. Same caveat.
MAX_MLFLOW_APPS = 10

# MLflow versions a tracking server can be created with, as AWS takes them (major.minor) and as it
# reports them back. AWS refuses a patch version in the request (terraform-provider-aws#42276).
TRACKING_SERVER_VERSIONS = {"2.13": "2.13.2", "2.16": "2.16.2", "3.0": "3.0.0"}
# Used when CreateMlflowTrackingServer names no version: the newest one.
DEFAULT_TRACKING_SERVER_VERSION = "3.0"
# Apps take no version: AWS runs them on its current MLflow (3.10.1 as of mid 2026, per
# aws-samples/sample-mlops-bestpractices#49).
MLFLOW_APP_VERSION = "3.10.1"

DEFAULT_TRACKING_SERVER_SIZE = "Small"  # documented default
# AWS fills in a maintenance window when none is given (Terraform treats the attribute as computed);
# which one it picks is not documented. This is the example from the API reference.
DEFAULT_MAINTENANCE_WINDOW = "Tue:03:30"
# Presigned URL lifetimes when the request names none: CreatePresignedDomainUrl documents these
# defaults for the same members and ranges; the MLflow operations document none.
DEFAULT_URL_EXPIRES_IN_SECONDS = 300
DEFAULT_SESSION_EXPIRATION_SECONDS = 43200
# Page size of the List operations when MaxResults is absent (SageMaker's usual default).
DEFAULT_PAGE_SIZE = 10

TRACKING_SERVER_OPERATIONS = (
    "CreateMlflowTrackingServer", "DescribeMlflowTrackingServer", "ListMlflowTrackingServers",
    "UpdateMlflowTrackingServer", "DeleteMlflowTrackingServer", "StartMlflowTrackingServer",
    "StopMlflowTrackingServer", "CreatePresignedMlflowTrackingServerUrl",
)
APP_OPERATIONS = (
    "CreateMlflowApp", "DescribeMlflowApp", "ListMlflowApps", "UpdateMlflowApp", "DeleteMlflowApp",
    "CreatePresignedMlflowAppUrl",
)
TAG_OPERATIONS = ("AddTags", "DeleteTags", "ListTags")

# Server statuses in which it serves requests.
_ACTIVE_STATUSES = frozenset({"Created", "Updated", "Started", "Updating"})
# Statuses in which nothing runs on the resource, so it may be changed or deleted.
_SETTLED_SERVER_STATUSES = frozenset({
    "Created", "Updated", "Started", "Stopped", "CreateFailed", "UpdateFailed", "StopFailed",
    "StartFailed", "MaintenanceComplete", "MaintenanceFailed",
})
_RUNNING_SERVER_STATUSES = frozenset({"Created", "Updated", "Started", "MaintenanceComplete"})
_SETTLED_APP_STATUSES = frozenset({"Created", "Updated", "CreateFailed", "UpdateFailed", "DeleteFailed"})
# App statuses in which it serves requests (by analogy with tracking servers: not documented).
_SERVING_APP_STATUSES = frozenset({"Created", "Updated", "Updating"})

_LOWER_ALNUM = string.ascii_lowercase + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits


class AwsError(Exception):
    """An error answer: the operation fails the way AWS fails it."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Phase:
    """A provisioning phase that is under way: what the resource becomes, and when."""

    becomes: Optional[str]  # the settled status; None when the resource disappears
    ends_at: float  # on the overlay's monotonic clock
    ends_at_wall: float  # the same moment in epoch seconds, for LastModifiedTime


@dataclass
class Resource:
    """What tracking servers and Apps share: identity, status, phase, times, tags."""

    arn: str
    region: str
    name: str
    status: str
    created_by: dict
    creation_time: float
    last_modified_time: float
    last_modified_by: dict
    phase: Optional[Phase] = None
    tags: dict = field(default_factory=dict)


@dataclass
class TrackingServer(Resource):
    url_id: str = ""
    artifact_store_uri: str = ""
    size: str = DEFAULT_TRACKING_SERVER_SIZE
    mlflow_version: str = ""
    role_arn: str = ""
    automatic_model_registration: bool = False
    weekly_maintenance_window_start: str = DEFAULT_MAINTENANCE_WINDOW
    s3_bucket_owner_account_id: str = ACCOUNT_ID
    s3_bucket_owner_verification: bool = True


@dataclass
class MlflowApp(Resource):
    app_id: str = ""
    artifact_store_uri: str = ""
    role_arn: str = ""
    kms_key_id: Optional[str] = None
    model_registration_mode: str = "AutoModelRegistrationDisabled"
    account_default_status: str = "DISABLED"
    default_domain_ids: list = field(default_factory=list)
    weekly_maintenance_window_start: str = DEFAULT_MAINTENANCE_WINDOW


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def upper_status(status: str) -> str:
    """``Updating`` -> ``UPDATING``: how AWS names a status inside its error messages."""
    return status.upper()


def authorized_url_claims(url: str) -> dict:
    """The claims inside a presigned URL's ``authToken`` (for tests: expiry and session length)."""
    token = url.rsplit("authToken=", 1)[1].split("&", 1)[0]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class SageMakerMlflowOverlay:
    """Answers SageMaker's MLflow operations (and tags on MLflow ARNs); see the module docstring."""

    name = "sagemaker-mlflow"

    def __init__(self, settings, latency, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time):
        self.settings = settings
        self.latency = latency
        self.clock = clock
        self.wall_clock = wall_clock
        self._lock = threading.RLock()
        self._model = service_model("sagemaker")
        self.reset()

    # overlay protocol
    def reset(self) -> None:
        with self._lock:
            # (account, region) -> {name: TrackingServer}
            self._servers: dict = {}
            # (account, region) -> {arn: MlflowApp}
            self._apps: dict = {}
            # (region or None, name or "*") -> URL
            self._server_urls: dict = {}
            # (region or None, arn or "*" or "name:<name>") -> URL
            self._app_urls: dict = {}
            self.max_tracking_servers = MAX_TRACKING_SERVERS
            self.max_mlflow_apps = MAX_MLFLOW_APPS

    def after(self, request: AwsRequest, response: Response) -> Response:
        return response

    def control_routes(self) -> dict:
        return {
            ("POST", "/sagemaker/tracking-server-url"): self._route_tracking_server_url,
            ("POST", "/sagemaker/mlflow-app-url"): self._route_app_url,
            ("POST", "/sagemaker/mlflow-quotas"): self._route_quotas,
            ("GET", "/sagemaker/mlflow"): self._route_state,
        }

    def handle(self, request: AwsRequest) -> Optional[Response]:
        operation = self._operation_of(request)
        if operation is None:
            return None
        operation_model = self._model.operation_model(operation)
        if operation in TAG_OPERATIONS and not self._is_mlflow_arn(request.params.get("ResourceArn")):
            return None  # tags of moto's own SageMaker resources: moto answers
        try:
            params = self._decode_body(request)
            self._validate_request(operation_model, params)
            # JSON null means "absent" to botocore, and so it does here from now on.
            params = {key: value for key, value in params.items() if value is not None}
            with self._lock:
                document = getattr(self, f"_op_{operation}")(request.region, params)
        except AwsError as error:
            return self._error(request, operation_model, error)
        return self._answer(request, operation_model, document)

    # request plumbing
    def _operation_of(self, request: AwsRequest) -> Optional[str]:
        target = request.headers.get("x-amz-target", "")
        if not target.startswith("SageMaker."):
            return None
        operation = target.split(".", 1)[1]
        if operation in TRACKING_SERVER_OPERATIONS or operation in APP_OPERATIONS or operation in TAG_OPERATIONS:
            return operation
        return None

    @staticmethod
    def _decode_body(request: AwsRequest) -> dict:
        try:
            params = json.loads(request.body or b"{}")
        except ValueError:
            raise AwsError("SerializationException", "The request body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise AwsError("SerializationException", "The request body is not a JSON object.")
        return params

    @staticmethod
    def _is_mlflow_arn(arn) -> bool:
        return isinstance(arn, str) and (":mlflow-tracking-server/" in arn or ":mlflow-app/" in arn)

    @staticmethod
    def _validate_request(operation_model, params: dict) -> None:
        problems = model_check.validate_input(operation_model, params)
        wrong_types = [problem for problem in problems if problem.kind == model_check.TYPE]
        if wrong_types:
            # A value of the wrong JSON type never reaches AWS's validation layer.
            raise AwsError("SerializationException", "; ".join(str(problem) for problem in wrong_types))
        constraints = [problem for problem in problems if problem.kind == model_check.CONSTRAINT]
        if constraints:
            raise AwsError("ValidationException", model_check.validation_error_message(constraints))

    def _answer(self, request, operation_model, document: dict) -> Response:
        if self.settings.strict:
            problems = model_check.validate_output(operation_model, document)
            if problems:
                return self._internal_failure(request, operation_model.name, [str(p) for p in problems])
        return json_response(document)

    def _error(self, request, operation_model, error: AwsError) -> Response:
        if self.settings.strict:
            reason = model_check.check_error_code(operation_model, error.code)
            if reason:
                return self._internal_failure(request, operation_model.name, [reason])
        return error_response(request, error.code, error.message, error.status)

    @staticmethod
    def _internal_failure(request, operation: str, problems: list) -> Response:
        message = (f"The proving ground's answer to {operation} does not match botocore's model "
                   f"(strict mode): {'; '.join(problems)}")
        return error_response(request, "InternalFailure", message, 500)

    # clocks, identities and phases
    def _now(self) -> float:
        """Wall-clock time in epoch seconds, to the millisecond as AWS reports its timestamps."""
        return round(self.wall_clock(), 3)

    def _caller(self, region: str) -> dict:
        return {"IamIdentity": {"Arn": CALLER_ARN_TEMPLATE.format(partition=partition_of(region), account=ACCOUNT_ID),
                                "PrincipalId": CALLER_PRINCIPAL_ID}}

    def _begin(self, resource: Resource, operation: str, transitional: str, becomes: Optional[str],
               region: str, store: dict, key) -> None:
        """Start a phase: the resource shows ``transitional`` until the operation's latency is over."""
        now_wall = self._now()
        resource.last_modified_time = now_wall
        resource.last_modified_by = self._caller(region)
        seconds = self.latency.duration("sagemaker", operation)
        if seconds <= 0:
            resource.phase = None
            if becomes is None:
                store.pop(key, None)
            else:
                resource.status = becomes
            return
        resource.status = transitional
        resource.phase = Phase(becomes=becomes, ends_at=self.clock() + seconds,
                               ends_at_wall=round(now_wall + seconds, 3))

    def _settle(self, store: dict) -> None:
        """End the phases that are over: statuses move on, deleted resources disappear."""
        now = self.clock()
        for key, resource in list(store.items()):
            phase = resource.phase
            if phase is None or now < phase.ends_at:
                continue
            resource.phase = None
            if phase.becomes is None:
                del store[key]
            else:
                resource.status = phase.becomes
                resource.last_modified_time = phase.ends_at_wall

    def _server_store(self, region: str) -> dict:
        store = self._servers.setdefault((ACCOUNT_ID, region), {})
        self._settle(store)
        return store

    def _app_store(self, region: str) -> dict:
        store = self._apps.setdefault((ACCOUNT_ID, region), {})
        self._settle(store)
        return store

    def _server(self, region: str, name: str) -> TrackingServer:
        server = self._server_store(region).get(name)
        if server is None:
            # Unconfirmed wording; the error code is what DescribeMlflowTrackingServer declares and
            # what Terraform's provider relies on.
            raise AwsError("ResourceNotFound", f"Tracking server with name {name} does not exist.")
        return server

    def _app(self, region: str, arn: str) -> MlflowApp:
        app = self._app_store(region).get(arn)
        if app is None:
            raise AwsError("ResourceNotFound", f"MLflow App with ARN {arn} does not exist.")
        return app

    # tracking servers
    def _op_CreateMlflowTrackingServer(self, region: str, params: dict) -> dict:
        name = params["TrackingServerName"]
        version = self._tracking_server_version(params.get("MlflowVersion"))
        store = self._server_store(region)
        arn = f"arn:{partition_of(region)}:sagemaker:{region}:{ACCOUNT_ID}:mlflow-tracking-server/{name}"
        if name in store:
            # Unconfirmed wording (scripts in the wild look for "already exists").
            raise AwsError("ValidationException", f"Tracking Server with ARN {arn} already exists.")
        if len(store) >= self.max_tracking_servers:
            raise AwsError("ResourceLimitExceeded", _limit_message(
                "Maximum number of MLflow Tracking Servers", self.max_tracking_servers, len(store),
                "Tracking Servers"))
        now = self._now()
        caller = self._caller(region)
        server = TrackingServer(
            arn=arn, region=region, name=name, status="Creating", created_by=caller, creation_time=now,
            last_modified_time=now, last_modified_by=caller, tags=_tags_from(params.get("Tags")),
            url_id="".join(secrets.choice(_LOWER_ALNUM) for dummy in range(12)),
            artifact_store_uri=params["ArtifactStoreUri"],
            size=params.get("TrackingServerSize") or DEFAULT_TRACKING_SERVER_SIZE,
            mlflow_version=version, role_arn=params["RoleArn"],
            automatic_model_registration=bool(params.get("AutomaticModelRegistration", False)),
            weekly_maintenance_window_start=params.get("WeeklyMaintenanceWindowStart") or DEFAULT_MAINTENANCE_WINDOW,
            s3_bucket_owner_account_id=params.get("S3BucketOwnerAccountId") or ACCOUNT_ID,
            s3_bucket_owner_verification=bool(params.get("S3BucketOwnerVerification", True)),
        )
        store[name] = server
        self._begin(server, "CreateMlflowTrackingServer", "Creating", "Created", region, store, name)
        return {"TrackingServerArn": arn}

    @staticmethod
    def _tracking_server_version(requested: Optional[str]) -> str:
        if requested is None:
            return TRACKING_SERVER_VERSIONS[DEFAULT_TRACKING_SERVER_VERSION]
        if requested not in TRACKING_SERVER_VERSIONS:
            raise AwsError("ValidationException", "The provided MLflow version is not supported")
        return TRACKING_SERVER_VERSIONS[requested]

    def _op_DescribeMlflowTrackingServer(self, region: str, params: dict) -> dict:
        server = self._server(region, params["TrackingServerName"])
        return {
            "TrackingServerArn": server.arn,
            "TrackingServerName": server.name,
            "ArtifactStoreUri": server.artifact_store_uri,
            "TrackingServerSize": server.size,
            "MlflowVersion": server.mlflow_version,
            "RoleArn": server.role_arn,
            "TrackingServerStatus": server.status,
            "IsActive": _is_active(server.status),
            "TrackingServerUrl": self._tracking_server_url(server),
            "WeeklyMaintenanceWindowStart": server.weekly_maintenance_window_start,
            "AutomaticModelRegistration": server.automatic_model_registration,
            "CreationTime": server.creation_time,
            "CreatedBy": server.created_by,
            "LastModifiedTime": server.last_modified_time,
            "LastModifiedBy": server.last_modified_by,
            "S3BucketOwnerAccountId": server.s3_bucket_owner_account_id,
            "S3BucketOwnerVerification": server.s3_bucket_owner_verification,
        }

    def _tracking_server_url(self, server: TrackingServer) -> str:
        pointed = self._pointed_server_url(server)
        return pointed or f"https://t-{server.url_id}.{server.region}.experiments.sagemaker.aws"

    def _pointed_server_url(self, server: TrackingServer) -> Optional[str]:
        for key in ((server.region, server.name), (None, server.name), (server.region, "*"), (None, "*")):
            if key in self._server_urls:
                return self._server_urls[key]
        return None

    def _op_ListMlflowTrackingServers(self, region: str, params: dict) -> dict:
        servers = list(self._server_store(region).values())
        if "TrackingServerStatus" in params:
            servers = [s for s in servers if s.status == params["TrackingServerStatus"]]
        if "MlflowVersion" in params:
            servers = [s for s in servers if _version_matches(s.mlflow_version, params["MlflowVersion"])]
        servers = _created_between(servers, params)
        page, next_token = _page(servers, params, "ListMlflowTrackingServers")
        document = {"TrackingServerSummaries": [{
            "TrackingServerArn": s.arn,
            "TrackingServerName": s.name,
            "CreationTime": s.creation_time,
            "LastModifiedTime": s.last_modified_time,
            "TrackingServerStatus": s.status,
            "IsActive": _is_active(s.status),
            "MlflowVersion": s.mlflow_version,
        } for s in page]}
        if next_token:
            document["NextToken"] = next_token
        return document

    def _op_UpdateMlflowTrackingServer(self, region: str, params: dict) -> dict:
        server = self._server(region, params["TrackingServerName"])
        if server.status not in _RUNNING_SERVER_STATUSES:
            # UpdateMlflowTrackingServer declares ConflictException; wording by analogy with Stop's.
            raise AwsError("ConflictException", f"Tracking Server with ARN {server.arn} is currently in status "
                                                f"{upper_status(server.status)}, can't be updated.")
        for member, attribute in (("ArtifactStoreUri", "artifact_store_uri"), ("TrackingServerSize", "size"),
                                  ("AutomaticModelRegistration", "automatic_model_registration"),
                                  ("WeeklyMaintenanceWindowStart", "weekly_maintenance_window_start"),
                                  ("S3BucketOwnerAccountId", "s3_bucket_owner_account_id"),
                                  ("S3BucketOwnerVerification", "s3_bucket_owner_verification")):
            if params.get(member) is not None:
                setattr(server, attribute, params[member])
        store = self._server_store(region)
        self._begin(server, "UpdateMlflowTrackingServer", "Updating", "Updated", region, store, server.name)
        return {"TrackingServerArn": server.arn}

    def _op_StopMlflowTrackingServer(self, region: str, params: dict) -> dict:
        server = self._server(region, params["TrackingServerName"])
        if server.status not in _RUNNING_SERVER_STATUSES:
            # AWS's own wording and code (aws/amazon-sagemaker-feedback#104), although the model
            # declares ConflictException for this operation.
            raise AwsError("ValidationException", f"Tracking Server with ARN {server.arn} is currently in status "
                                                  f"{upper_status(server.status)}, can't be stopped.")
        store = self._server_store(region)
        self._begin(server, "StopMlflowTrackingServer", "Stopping", "Stopped", region, store, server.name)
        return {"TrackingServerArn": server.arn}

    def _op_StartMlflowTrackingServer(self, region: str, params: dict) -> dict:
        server = self._server(region, params["TrackingServerName"])
        if server.status not in ("Stopped", "StartFailed"):
            # Worded like StopMlflowTrackingServer's refusal, which AWS is known to send.
            raise AwsError("ValidationException", f"Tracking Server with ARN {server.arn} is currently in status "
                                                  f"{upper_status(server.status)}, can't be started.")
        store = self._server_store(region)
        self._begin(server, "StartMlflowTrackingServer", "Starting", "Started", region, store, server.name)
        return {"TrackingServerArn": server.arn}

    def _op_DeleteMlflowTrackingServer(self, region: str, params: dict) -> dict:
        server = self._server(region, params["TrackingServerName"])
        if server.status not in _SETTLED_SERVER_STATUSES:
            # AWS's own wording and code (aws/amazon-sagemaker-feedback#104).
            raise AwsError("ValidationException", f"Tracking Server is in un-deletable state "
                                                  f"({upper_status(server.status)}), so it cannot be deleted.")
        store = self._server_store(region)
        self._begin(server, "DeleteMlflowTrackingServer", "Deleting", None, region, store, server.name)
        return {"TrackingServerArn": server.arn}

    def _op_CreatePresignedMlflowTrackingServerUrl(self, region: str, params: dict) -> dict:
        server = self._server(region, params["TrackingServerName"])
        pointed = self._pointed_server_url(server)
        token = self._auth_token(server.arn, params)
        if pointed:
            # A local `mlflow server` has no /auth route: land on its UI and carry the token along.
            return {"AuthorizedUrl": f"{pointed.rstrip('/')}/?authToken={token}"}
        return {"AuthorizedUrl": f"{self._tracking_server_url(server)}/auth?authToken={token}"}

    def _auth_token(self, arn: str, params: dict) -> str:
        """An opaque-looking but decodable token that carries the URL's expiry and session length."""
        expires_in = params.get("ExpiresInSeconds", DEFAULT_URL_EXPIRES_IN_SECONDS)
        session = params.get("SessionExpirationDurationInSeconds", DEFAULT_SESSION_EXPIRATION_SECONDS)
        now = self._now()
        claims = {"sub": arn, "iat": int(now), "exp": int(now) + expires_in,
                  "session_duration": session, "jti": uuid.uuid4().hex}
        header = {"alg": "none", "typ": "JWT"}
        return ".".join(_b64(part) for part in (header, claims)) + "." + secrets.token_urlsafe(32)

    # MLflow Apps
    def _op_CreateMlflowApp(self, region: str, params: dict) -> dict:
        store = self._app_store(region)
        if len(store) >= self.max_mlflow_apps:
            raise AwsError("ResourceLimitExceeded", _limit_message(
                "Maximum number of MLflow Apps", self.max_mlflow_apps, len(store), "Apps"))
        app_id = "app-" + "".join(secrets.choice(_UPPER_ALNUM) for dummy in range(12))
        arn = f"arn:{partition_of(region)}:sagemaker:{region}:{ACCOUNT_ID}:mlflow-app/{app_id}"
        now = self._now()
        caller = self._caller(region)
        app = MlflowApp(
            arn=arn, region=region, name=params["Name"], status="Creating", created_by=caller,
            creation_time=now, last_modified_time=now, last_modified_by=caller,
            tags=_tags_from(params.get("Tags")), app_id=app_id,
            artifact_store_uri=params["ArtifactStoreUri"], role_arn=params["RoleArn"],
            kms_key_id=params.get("KmsKeyId") or None,
            model_registration_mode=params.get("ModelRegistrationMode") or "AutoModelRegistrationDisabled",
            account_default_status=params.get("AccountDefaultStatus") or "DISABLED",
            default_domain_ids=list(params.get("DefaultDomainIdList") or []),
            weekly_maintenance_window_start=params.get("WeeklyMaintenanceWindowStart") or DEFAULT_MAINTENANCE_WINDOW,
        )
        store[arn] = app
        self._begin(app, "CreateMlflowApp", "Creating", "Created", region, store, arn)
        return {"Arn": arn}

    def _op_DescribeMlflowApp(self, region: str, params: dict) -> dict:
        app = self._app(region, params["Arn"])
        document = {
            "Arn": app.arn,
            "Name": app.name,
            "ArtifactStoreUri": app.artifact_store_uri,
            "MlflowVersion": MLFLOW_APP_VERSION,
            "RoleArn": app.role_arn,
            "Status": app.status,
            "ModelRegistrationMode": app.model_registration_mode,
            "AccountDefaultStatus": app.account_default_status,
            "CreationTime": app.creation_time,
            "CreatedBy": app.created_by,
            "LastModifiedTime": app.last_modified_time,
            "LastModifiedBy": app.last_modified_by,
            "WeeklyMaintenanceWindowStart": app.weekly_maintenance_window_start,
        }
        if app.kms_key_id:  # documented: absent without a customer-managed key
            document["KmsKeyId"] = app.kms_key_id
        if app.default_domain_ids:
            document["DefaultDomainIdList"] = list(app.default_domain_ids)
        return document

    def _op_ListMlflowApps(self, region: str, params: dict) -> dict:
        apps = list(self._app_store(region).values())
        if "Status" in params:
            apps = [a for a in apps if a.status == params["Status"]]
        if "MlflowVersion" in params:
            apps = [a for a in apps if _version_matches(MLFLOW_APP_VERSION, params["MlflowVersion"])]
        if "DefaultForDomainId" in params:
            apps = [a for a in apps if params["DefaultForDomainId"] in a.default_domain_ids]
        if "AccountDefaultStatus" in params:
            apps = [a for a in apps if a.account_default_status == params["AccountDefaultStatus"]]
        apps = _created_between(apps, params)
        page, next_token = _page(apps, params, "ListMlflowApps")
        document = {"Summaries": [{
            "Arn": a.arn,
            "Name": a.name,
            "Status": a.status,
            "CreationTime": a.creation_time,
            "LastModifiedTime": a.last_modified_time,
            "MlflowVersion": MLFLOW_APP_VERSION,
        } for a in page]}
        if next_token:
            document["NextToken"] = next_token
        return document

    def _op_UpdateMlflowApp(self, region: str, params: dict) -> dict:
        app = self._app(region, params["Arn"])
        if app.status not in _SETTLED_APP_STATUSES:
            # UpdateMlflowApp declares ConflictException; wording by analogy with tracking servers.
            raise AwsError("ConflictException", f"MLflow App with ARN {app.arn} is currently in status "
                                                f"{upper_status(app.status)}, can't be updated.")
        for member, attribute in (("Name", "name"), ("ArtifactStoreUri", "artifact_store_uri"),
                                  ("ModelRegistrationMode", "model_registration_mode"),
                                  ("WeeklyMaintenanceWindowStart", "weekly_maintenance_window_start"),
                                  ("AccountDefaultStatus", "account_default_status")):
            if params.get(member) is not None:
                setattr(app, attribute, params[member])
        if params.get("DefaultDomainIdList") is not None:
            app.default_domain_ids = list(params["DefaultDomainIdList"])
        store = self._app_store(region)
        self._begin(app, "UpdateMlflowApp", "Updating", "Updated", region, store, app.arn)
        return {"Arn": app.arn}

    def _op_DeleteMlflowApp(self, region: str, params: dict) -> dict:
        app = self._app(region, params["Arn"])
        if app.status not in _SETTLED_APP_STATUSES:
            # DeleteMlflowApp declares no conflict error; worded like the tracking server's refusal.
            raise AwsError("ValidationException", f"MLflow App is in un-deletable state "
                                                  f"({upper_status(app.status)}), so it cannot be deleted.")
        store = self._app_store(region)
        self._begin(app, "DeleteMlflowApp", "Deleting", None, region, store, app.arn)
        return {"Arn": app.arn}

    def _op_CreatePresignedMlflowAppUrl(self, region: str, params: dict) -> dict:
        app = self._app(region, params["Arn"])
        token = self._auth_token(app.arn, params)
        pointed = self._pointed_app_url(app)
        if pointed:
            return {"AuthorizedUrl": f"{pointed.rstrip('/')}/?authToken={token}"}
        host = f"{app.app_id.lower()}.{region}.experiments.sagemaker.aws"
        return {"AuthorizedUrl": f"https://{host}/auth?authToken={token}"}

    def _pointed_app_url(self, app: MlflowApp) -> Optional[str]:
        for target in (app.arn, f"name:{app.name}", "*"):
            for region in (app.region, None):
                if (region, target) in self._app_urls:
                    return self._app_urls[(region, target)]
        return None

    # tags of MLflow resources
    def _tagged(self, region: str, arn: str) -> Resource:
        resource = None
        if ":mlflow-tracking-server/" in arn:
            candidate = self._server_store(region).get(arn.split(":mlflow-tracking-server/", 1)[1])
            resource = candidate if candidate is not None and candidate.arn == arn else None
        else:
            resource = self._app_store(region).get(arn)
        if resource is None:
            # AWS answers ValidationException for tags of a resource that is gone
            # (aws/amazon-sagemaker-feedback#108); the wording is not public.
            raise AwsError("ValidationException", f"Resource {arn} does not exist.")
        return resource

    def _op_AddTags(self, region: str, params: dict) -> dict:
        resource = self._tagged(region, params["ResourceArn"])
        resource.tags.update(_tags_from(params["Tags"]))
        return {"Tags": _tag_list(resource.tags)}

    def _op_DeleteTags(self, region: str, params: dict) -> dict:
        resource = self._tagged(region, params["ResourceArn"])
        for key in params["TagKeys"]:
            resource.tags.pop(key, None)
        return {}

    def _op_ListTags(self, region: str, params: dict) -> dict:
        resource = self._tagged(region, params["ResourceArn"])
        tags = _tag_list(resource.tags)
        size = params.get("MaxResults", 50)
        start = _decode_token(params.get("NextToken"), "ListTags")
        document = {"Tags": tags[start:start + size]}
        if start + size < len(tags):
            document["NextToken"] = _encode_token("ListTags", start + size)
        return document

    # the data plane (see sagemaker_mlflow_data_plane.py)
    def data_plane_target(self, arn: str) -> tuple:
        """``(kind, status, serving, url)`` of the tracking server or App ``arn`` names: kind
        ``tracking-server`` or ``app``, its status, whether it serves requests in that status, and
        the URL of the local ``mlflow server`` it is pointed at (None when not pointed). Raises
        ``AwsError("ResourceNotFound", ...)`` when there is no such resource."""
        parts = arn.split(":", 5)
        region = parts[3] if len(parts) == 6 else ""
        with self._lock:
            if ":mlflow-tracking-server/" in arn:
                server = self._server_store(region).get(arn.split(":mlflow-tracking-server/", 1)[1])
                if server is not None and server.arn == arn:
                    return ("tracking-server", server.status, server.status in _ACTIVE_STATUSES,
                            self._pointed_server_url(server))
                raise AwsError("ResourceNotFound", f"Tracking Server with ARN {arn} does not exist.")
            if ":mlflow-app/" in arn:
                app = self._app_store(region).get(arn)
                if app is not None:
                    return ("app", app.status, app.status in _SERVING_APP_STATUSES, self._pointed_app_url(app))
                raise AwsError("ResourceNotFound", f"MLflow App with ARN {arn} does not exist.")
        raise AwsError("ResourceNotFound", f"{arn} is neither an MLflow tracking server nor an MLflow App.")

    # control routes
    def _route_tracking_server_url(self, body: dict):
        name = body.get("TrackingServerName")
        if not isinstance(name, str) or not name:
            return 400, {"error": "TrackingServerName (a name, or * for every server) is required"}
        key = (body.get("Region") or None, name)
        return self._point(self._server_urls, key, body)

    def _route_app_url(self, body: dict):
        if isinstance(body.get("Arn"), str) and body["Arn"]:
            target = body["Arn"]
        elif isinstance(body.get("Name"), str) and body["Name"]:
            target = f"name:{body['Name']}"
        else:
            return 400, {"error": "Arn (an App ARN, or * for every App) or Name is required"}
        return self._point(self._app_urls, (body.get("Region") or None, target), body)

    def _point(self, table: dict, key: tuple, body: dict):
        if "Url" not in body:
            return 400, {"error": "Url is required (null removes the pointing)"}
        url = body["Url"]
        with self._lock:
            if url is None:
                table.pop(key, None)
                return 200, {"removed": list(key)}
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return 400, {"error": f"Url must be an http:// or https:// URL, not {url!r}"}
            table[key] = url.rstrip("/")
        return 200, {"region": key[0], "target": key[1], "url": table[key]}

    def _route_quotas(self, body: dict):
        changes = {"TrackingServers": "max_tracking_servers", "Apps": "max_mlflow_apps"}
        unknown = sorted(set(body) - set(changes))
        if unknown:
            return 400, {"error": f"unknown quotas {unknown}; known: {sorted(changes)}"}
        for key in changes:
            if key in body:
                value = body[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    return 400, {"error": f"{key} must be a whole number of 0 or more"}
        with self._lock:
            for key, attribute in changes.items():
                if key in body:
                    setattr(self, attribute, body[key])
            return 200, {"TrackingServers": self.max_tracking_servers, "Apps": self.max_mlflow_apps}

    def _route_state(self, body: dict):
        with self._lock:
            servers, apps = [], []
            for (account, region), store in self._servers.items():
                self._settle(store)
                servers += [{"Region": region, "Name": s.name, "Arn": s.arn, "Status": s.status,
                             "TrackingServerUrl": self._tracking_server_url(s), "Tags": s.tags} for s in store.values()]
            for (account, region), store in self._apps.items():
                self._settle(store)
                apps += [{"Region": region, "Name": a.name, "Arn": a.arn, "Status": a.status, "Tags": a.tags}
                         for a in store.values()]
            return 200, {"TrackingServers": servers, "Apps": apps,
                         "TrackingServerUrls": [{"Region": r, "TrackingServerName": n, "Url": u}
                                                for (r, n), u in self._server_urls.items()],
                         "AppUrls": [{"Region": r, "Target": t, "Url": u} for (r, t), u in self._app_urls.items()],
                         "Quotas": {"TrackingServers": self.max_tracking_servers, "Apps": self.max_mlflow_apps}}


def _is_active(status: str) -> str:
    return "Active" if status in _ACTIVE_STATUSES else "Inactive"


def _version_matches(version: str, wanted: str) -> bool:
    """List filters take the version as reported (2.16.2) or as requested at creation (2.16)."""
    return version == wanted or version.startswith(wanted + ".")


def _created_between(resources: list, params: dict) -> list:
    if "CreatedAfter" in params:
        resources = [r for r in resources if r.creation_time > params["CreatedAfter"]]
    if "CreatedBefore" in params:
        resources = [r for r in resources if r.creation_time < params["CreatedBefore"]]
    return resources


_SORT_KEYS = {
    "Name": lambda r: (r.name, r.creation_time),
    "CreationTime": lambda r: (r.creation_time, r.name),
    "Status": lambda r: (r.status, r.creation_time, r.name),
}


def _page(resources: list, params: dict, operation: str) -> tuple:
    """Sort (newest first unless told otherwise, as documented) and cut one page out."""
    key = _SORT_KEYS[params.get("SortBy", "CreationTime")]
    descending = params.get("SortOrder", "Descending") == "Descending"
    ordered = sorted(resources, key=key, reverse=descending)
    start = _decode_token(params.get("NextToken"), operation)
    size = params.get("MaxResults", DEFAULT_PAGE_SIZE)
    page = ordered[start:start + size]
    return page, _encode_token(operation, start + size) if start + size < len(ordered) else None


def _encode_token(operation: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"op": operation, "offset": offset}).encode()).decode()


def _decode_token(token: Optional[str], operation: str) -> int:
    if not token:
        return 0
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
        if document["op"] == operation and isinstance(document["offset"], int) and document["offset"] >= 0:
            return document["offset"]
    except (ValueError, KeyError, TypeError):
        pass
    raise AwsError("ValidationException", f"Invalid pagination token: {token}")


def _tags_from(tags: Optional[list]) -> dict:
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def _tag_list(tags: dict) -> list:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _limit_message(quota: str, limit: int, used: int, unit: str) -> str:
    """SageMaker's wording for an exhausted account-level quota."""
    return (f"The account-level service limit '{quota}' is {limit} {unit}, with current utilization of {used} "
            f"{unit} and a request delta of 1 {unit}. Please use AWS Service Quotas to request an increase for "
            f"this quota. If AWS Service Quotas is not available, contact AWS support to request an increase "
            f"for this quota.")


def _b64(document: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode().rstrip("=")
