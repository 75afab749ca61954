"""SageMaker MLflow's data plane: the MLflow REST API of tracking servers and Apps, signed with SigV4.

What the real service does (read from the ``sagemaker-mlflow`` client plugin 0.5.0): a client whose
tracking URI is a tracking server's or App's ARN sends MLflow's REST calls to one regional endpoint,
``https://<region>.experiments.sagemaker.aws`` for tracking servers and
``https://mlflow.sagemaker.<region>.app.aws`` for Apps (``SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT`` replaces
either), signs each with SigV4 (service ``sagemaker-mlflow`` for tracking servers, ``sagemaker`` for
Apps) and names the resource in a header (``x-mlflow-sm-tracking-server-arn`` or
``x-sm-mlflow-app-arn``). The plugin never asks the SageMaker API where the server is: neither
``DescribeMlflowTrackingServer``'s ``TrackingServerUrl`` nor ``AWS_ENDPOINT_URL_SAGEMAKER`` changes
where its MLflow calls go.

This overlay is that regional endpoint. Point ``SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT`` at the proving
ground and it takes every request that carries one of the two ARN headers (and no
``X-Amz-Target``), or that is signed for ``sagemaker-mlflow``:

1. It checks the signature as AWS does: ``Authorization: AWS4-HMAC-SHA256`` with a credential scope
   of the ARN's region and the resource's service, ``X-Amz-Date``, ``X-Amz-Content-SHA256`` equal to
   the body's hash, and, for access keys whose secret it knows (:data:`KNOWN_SECRETS`, the proving
   ground's test credentials), the signature itself, recomputed with botocore's signer over the
   request as it came on the wire. Other access keys (say, from ``sts:AssumeRole``) get the form
   checks only, and the record says so (``signature: "form-only"``).
2. It finds the resource in the SageMaker overlay's store: unknown -> 404, not serving (``Creating``,
   ``Stopped``, ...) -> 503.
3. It relays the request, without its AWS headers, to the local ``mlflow server`` the resource is
   pointed at (``POST /_proving_ground/sagemaker/tracking-server-url`` for tracking servers,
   ``/sagemaker/mlflow-app-url`` for Apps), and the answer back. Not pointed -> 502.

Refusals are JSON ``{"__type": <code>, "message": <text>}`` with ``x-amzn-ErrorType``. The signature
errors are worded as AWS words them for its other services; what SageMaker's MLflow endpoint says
for a missing resource, one that is not serving, and an unsigned request is not public (guessed).

Control route: ``GET /_proving_ground/sagemaker/mlflow-data-plane`` lists the last
:data:`RECORD_LIMIT` requests: method, path, ARN, kind, signing service and region, access key,
``signature`` (``verified`` / ``form-only`` / the refusal's code), the status answered and the URL
relayed to. ``reset()`` forgets them.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
import urllib.parse
from collections import deque
from typing import Optional

from .aws_protocol import AwsRequest, Response
from .sagemaker_mlflow import AwsError, SageMakerMlflowOverlay

TRACKING_SERVER_ARN_HEADER = "x-mlflow-sm-tracking-server-arn"
APP_ARN_HEADER = "x-sm-mlflow-app-arn"
# The SigV4 signing name each kind of resource is called with (the plugin's AuthProvider).
SIGNING_SERVICE = {"tracking-server": "sagemaker-mlflow", "app": "sagemaker"}
# Access key -> secret key of the credentials the proving ground hands out to its clients
# (server.FAKE_CREDENTIALS): signatures made with them are recomputed and compared.
KNOWN_SECRETS = {"testing": "testing"}
RECORD_LIMIT = 500

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$")
# Hop-by-hop headers and those of the AWS envelope: not passed on to the mlflow server.
_NOT_RELAYED = frozenset({
    "host", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
    "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "content-length",
    "accept-encoding", "expect",
})
_NOT_RETURNED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"})


class DataPlaneRefusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SageMakerMlflowDataPlane:
    """Overlay: the regional MLflow endpoint of SageMaker (see the module docstring)."""

    name = "sagemaker-mlflow-data-plane"

    def __init__(self, control_plane: SageMakerMlflowOverlay, timeout: float = 120.0):
        self.control_plane = control_plane
        self.timeout = timeout
        self._lock = threading.Lock()
        self._records: deque = deque(maxlen=RECORD_LIMIT)

    # overlay protocol
    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def after(self, request: AwsRequest, response: Response) -> Response:
        return response

    def control_routes(self) -> dict:
        return {("GET", "/sagemaker/mlflow-data-plane"): self._route_records}

    def handle(self, request: AwsRequest) -> Optional[Response]:
        if "x-amz-target" in request.headers:
            return None
        if not (TRACKING_SERVER_ARN_HEADER in request.headers or APP_ARN_HEADER in request.headers
                or request.service == "sagemaker-mlflow"):
            return None
        record = {"method": request.method, "path": request.path, "arn": None, "kind": None,
                  "signing_service": None, "signing_region": None, "access_key": None, "signature": None,
                  "status": None, "relayed_to": None}
        try:
            kind, arn = self._resource_named(request)
            record.update(kind=kind, arn=arn)
            record["signature"] = self._check_signature(request, kind, arn, record)
            dummy, status, serving, url = self._target(arn)
            if not serving:
                raise DataPlaneRefusal(503, "ServiceUnavailable", f"{_KIND_WORDS[kind]} with ARN {arn} is in status "
                                                                  f"{status.upper()} and does not serve requests.")
            if not url:
                raise DataPlaneRefusal(502, "BadGateway", f"no mlflow server stands behind {arn} on the proving ground: "
                                                          f"point it with POST /_proving_ground/{_POINTING_ROUTE[kind]}")
            record["relayed_to"] = url
            response = self._relay(request, url)
        except DataPlaneRefusal as refusal:
            if record["signature"] is None:
                record["signature"] = refusal.code
            response = _refusal(refusal)
        record["status"] = response.status
        with self._lock:
            self._records.append(record)
        return response

    # steps
    @staticmethod
    def _resource_named(request: AwsRequest) -> tuple:
        server_arn = request.headers.get(TRACKING_SERVER_ARN_HEADER)
        app_arn = request.headers.get(APP_ARN_HEADER)
        if server_arn and app_arn:
            raise DataPlaneRefusal(400, "ValidationException",
                                   f"Name one resource: {TRACKING_SERVER_ARN_HEADER} or {APP_ARN_HEADER}, not both.")
        if server_arn:
            return "tracking-server", server_arn
        if app_arn:
            return "app", app_arn
        raise DataPlaneRefusal(400, "ValidationException",
                               f"The request names no tracking server: the {TRACKING_SERVER_ARN_HEADER} header is missing.")

    def _check_signature(self, request: AwsRequest, kind: str, arn: str, record: dict) -> str:
        authorization = request.headers.get("authorization", "")
        if not authorization:
            raise DataPlaneRefusal(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        match = _AUTHORIZATION.match(authorization.strip())
        if not match:
            raise DataPlaneRefusal(403, "IncompleteSignatureException",
                                   "Authorization header requires the AWS4-HMAC-SHA256 algorithm with Credential, "
                                   "SignedHeaders and Signature parameters.")
        record.update(signing_service=match["service"], signing_region=match["region"], access_key=match["key"])
        wanted_service = SIGNING_SERVICE[kind]
        if match["service"] != wanted_service:
            raise DataPlaneRefusal(403, "InvalidSignatureException",
                                   f"Credential should be scoped to correct service: '{wanted_service}'. ")
        arn_region = arn.split(":")[3] if arn.count(":") >= 5 else ""
        if match["region"] != arn_region:
            raise DataPlaneRefusal(403, "InvalidSignatureException",
                                   f"Credential should be scoped to a valid region, not '{match['region']}'. ")
        amz_date = request.headers.get("x-amz-date", "")
        if not amz_date.startswith(match["date"]):
            raise DataPlaneRefusal(403, "InvalidSignatureException",
                                   "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                                   "from HTTP.")
        signed = match["signed"].split(";")
        for required in ("host", "x-amz-date"):
            if required not in signed:
                raise DataPlaneRefusal(403, "InvalidSignatureException",
                                       f"'{required}' must be a 'SignedHeader' in the AWS Authorization.")
        declared_hash = request.headers.get("x-amz-content-sha256")
        if declared_hash and declared_hash != hashlib.sha256(request.body or b"").hexdigest():
            raise DataPlaneRefusal(400, "XAmzContentSHA256Mismatch",
                                   "The provided 'x-amz-content-sha256' header does not match what was computed.")
        secret = KNOWN_SECRETS.get(match["key"])
        if secret is None:
            return "form-only"
        expected = _signature(request, match, secret)
        if expected != match["signature"]:
            raise DataPlaneRefusal(403, "InvalidSignatureException",
                                   "The request signature we calculated does not match the signature you provided. "
                                   "Check your AWS Secret Access Key and signing method. Consult the service "
                                   "documentation for details.")
        return "verified"

    def _target(self, arn: str) -> tuple:
        try:
            return self.control_plane.data_plane_target(arn)
        except AwsError as error:
            raise DataPlaneRefusal(404, error.code, error.message) from None

    def _relay(self, request: AwsRequest, base_url: str) -> Response:
        target = urllib.parse.urlsplit(base_url)
        path = request.raw_uri or urllib.parse.quote(request.path) + (
            "?" + urllib.parse.urlencode(request.query) if request.query else "")
        path = (target.path.rstrip("/") + path) if target.path not in ("", "/") else path
        headers = {name: value for name, value in request.headers.items() if name not in _NOT_RELAYED}
        connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(target.hostname, target.port, timeout=self.timeout)
        try:
            connection.request(request.method, path, body=request.body if request.body else None, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            returned = [(name, value) for name, value in answer.getheaders() if name.lower() not in _NOT_RETURNED]
        except OSError as error:
            raise DataPlaneRefusal(502, "BadGateway", f"the mlflow server at {base_url} did not answer: {error}") from None
        finally:
            connection.close()
        return Response(status=answer.status, headers=returned).with_body(body)

    def _route_records(self, body: dict):
        with self._lock:
            return 200, {"requests": list(self._records)}


_KIND_WORDS = {"tracking-server": "Tracking Server", "app": "MLflow App"}
_POINTING_ROUTE = {"tracking-server": "sagemaker/tracking-server-url", "app": "sagemaker/mlflow-app-url"}


def _signature(request: AwsRequest, match, secret: str) -> str:
    """The signature botocore's signer makes for ``request`` as it came on the wire, with the
    Authorization header's scope and signed headers and the given secret key."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {}
    for name in match["signed"].split(";"):
        if name == "content-length" and name not in request.headers:
            headers[name] = str(len(request.body or b""))  # WSGI passes it as CONTENT_LENGTH
        else:
            headers[name] = request.headers.get(name, "")
    scheme = "https" if request.secure else "http"
    raw_uri = request.raw_uri or request.path
    url = f"{scheme}://{headers.get('host', '')}{raw_uri}"
    signed_request = AWSRequest(method=request.method, url=url, data=request.body or b"", headers=headers)
    signed_request.context["timestamp"] = request.headers.get("x-amz-date", "")
    token = request.headers.get("x-amz-security-token")
    signer = SigV4Auth(Credentials(match["key"], secret, token), match["service"], match["region"])
    canonical = signer.canonical_request(signed_request)
    return signer.signature(signer.string_to_sign(signed_request, canonical), signed_request)


def _refusal(refusal: DataPlaneRefusal) -> Response:
    body = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
    return Response(status=refusal.status, headers=[("Content-Type", "application/json"),
                                                    ("x-amzn-ErrorType", refusal.code)]).with_body(body)
