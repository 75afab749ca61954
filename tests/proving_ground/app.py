"""The proving ground's WSGI application: moto behind a chain of overlays.

A request goes: control API -> fault injection -> overlays that answer what moto lacks -> moto ->
overlays that correct moto's answer -> request log. Overlays have three methods:
``handle(request) -> Response | None``, ``after(request, response) -> Response`` and ``reset()``;
they may offer ``control_routes() -> {(method, path): callable(body_dict) -> (status, document)}``.
"""

from __future__ import annotations

import io
import json
import os
import time
from typing import Optional

from .aws_protocol import AwsRequest, Response
from .faults import FaultInjector
from .latency import LatencyModel, ProvisioningOverlay
from .request_log import RequestLog
from .settings import Settings

CONTROL_PREFIX = "/_proving_ground"

# moto reads these when its backends are first built: set before moto is imported.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


def _error_code(response: Response) -> Optional[str]:
    if response.status < 300:
        return None
    code = response.header("x-amzn-ErrorType")
    if code:
        return code.split(":", 1)[0]
    body = response.body[:4096]
    try:
        return json.loads(body).get("__type", "").rsplit("#", 1)[-1] or None
    except ValueError:
        pass
    start = body.find(b"<Code>")
    if start >= 0:
        return body[start + 6:body.find(b"</Code>", start)].decode("utf-8", "replace")
    return None


def _read_body(environ) -> bytes:
    """The request body, also when it came with ``Transfer-Encoding: chunked`` and no length (botocore
    sends S3 uploads so over HTTPS: ``aws-chunked`` content with a trailing checksum)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        return environ["wsgi.input"].read(length)
    if environ.get("wsgi.input_terminated"):  # werkzeug has de-chunked the stream: read it to its end
        return environ["wsgi.input"].read()
    return b""


class ProvingGround:
    def __init__(self, settings: Optional[Settings] = None):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.settings = settings or Settings()
        self.latency = LatencyModel(self.settings)
        self.log = RequestLog()
        self.faults = FaultInjector(self.settings)
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.overlays = [ProvisioningOverlay(self.latency)] + self._extra_overlays()
        self.control_routes = {
            ("GET", "/health"): lambda body: (200, {"ok": True}),
            ("GET", "/config"): lambda body: (200, self.settings.as_dict()),
            ("POST", "/config"): self._update_settings,
            ("DELETE", "/requests"): lambda body: (self.log.clear(), (200, {"cleared": True}))[1],
            ("POST", "/reset"): self._reset,
        }
        for overlay in self.overlays:
            routes = getattr(overlay, "control_routes", None)
            if routes:
                self.control_routes.update(routes())

    def _extra_overlays(self) -> list:
        """Overlays that answer what moto lacks and correct what it gets wrong."""
        from .ecs_task_outcomes import EcsTaskOutcomes
        from .moto_fixes import overlays as moto_fix_overlays
        from .sagemaker_mlflow import SageMakerMlflowOverlay
        from .sagemaker_mlflow_data_plane import SageMakerMlflowDataPlane

        sagemaker_mlflow = SageMakerMlflowOverlay(self.settings, self.latency)
        # EcsTaskOutcomes after the corrections: it works on RunTask's corrected answer.
        return ([sagemaker_mlflow, SageMakerMlflowDataPlane(sagemaker_mlflow)] + moto_fix_overlays()
                + [EcsTaskOutcomes()])

    # control API
    def _update_settings(self, body: dict):
        try:
            self.settings.update(body)
        except (ValueError, TypeError) as error:
            return 400, {"error": str(error)}
        return 200, self.settings.as_dict()

    def _reset(self, body: dict):
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        for overlay in self.overlays:
            overlay.reset()
        self.log.clear()
        return 200, {"reset": True}

    def _control(self, environ, start_response, body: bytes):
        path = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX):] or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET" and path == "/requests":
            query = dict(part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&") if "=" in part)
            status, document = 200, {"requests": self.log.entries(int(query.get("since", 0)))}
        else:
            route = self.control_routes.get((method, path))
            if route is None:
                status, document = 404, {"error": f"no control route {method} {path}",
                                         "routes": sorted(f"{m} {p}" for m, p in self.control_routes)}
            else:
                try:
                    status, document = route(json.loads(body or b"{}"))
                except (ValueError, KeyError, TypeError) as error:
                    status, document = 400, {"error": str(error)}
        payload = json.dumps(document, default=str).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response(f"{status} {'OK' if status < 300 else 'Error'}", headers)
        return [payload]

    # AWS traffic
    def __call__(self, environ, start_response):
        body = _read_body(environ)
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, body)

        started = time.monotonic()
        request = AwsRequest.from_environ(environ, body)
        fault = self.faults.pick(request)
        fault_kind = None
        if fault:
            fault_kind, response = fault
        else:
            response = self._answer(request, environ, body)
        self.log.add(service=request.service, operation=request.operation, method=request.method,
                     path=request.path, status=response.status, duration=time.monotonic() - started,
                     mutating=request.mutating, error_code=_error_code(response), fault=fault_kind,
                     region=request.region, tls=request.secure)
        start_response(f"{response.status} {'OK' if response.status < 300 else 'Error'}", response.headers)
        return [response.body]

    def _answer(self, request: AwsRequest, environ, body: bytes) -> Response:
        for overlay in self.overlays:
            response = overlay.handle(request)
            if response is not None:
                return response
        response = self._call_moto(environ, body)
        for overlay in self.overlays:
            response = overlay.after(request, response)
        return response

    def _call_moto(self, environ, body: bytes) -> Response:
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = int(status.split(" ", 1)[0]), list(headers)

        environ = dict(environ, **{"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        chunks = self.moto(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return Response(status=captured["status"], headers=captured["headers"], body=payload)
