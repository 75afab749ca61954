"""Fault mode: answer a share of requests with throttling or a server error, as AWS sometimes does."""

from __future__ import annotations

import random
import threading
from typing import Optional

from .aws_protocol import AwsRequest, Response, error_response
from .settings import Settings


def throttling_error(request: AwsRequest) -> Response:
    """The throttling error each service really returns; botocore's retry handler knows them all."""
    if request.service == "s3":
        return error_response(request, "SlowDown", "Please reduce your request rate.", 503)
    if request.protocol == "ec2":
        return error_response(request, "RequestLimitExceeded", "Request limit exceeded.", 503)
    if request.protocol in ("query", "rest-xml"):
        return error_response(request, "Throttling", "Rate exceeded", 400)
    return error_response(request, "ThrottlingException", "Rate exceeded", 400)


def server_error(request: AwsRequest) -> Response:
    if request.protocol == "ec2":
        return error_response(request, "InternalError", "An internal error has occurred", 500)
    if request.protocol in ("json", "rest-json"):
        return error_response(request, "ServiceUnavailableException", "Service is unavailable", 503)
    return error_response(request, "ServiceUnavailable", "Service is unavailable", 503)


class FaultInjector:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._lock = threading.Lock()
        self._seed = None
        self._random = random.Random()

    def pick(self, request: AwsRequest) -> Optional[tuple]:
        """A (kind, response) to answer instead of the real one, or None to let the request through."""
        settings = self._settings
        if not settings.fault_rate or not request.service:
            return None
        if settings.fault_services and request.service not in settings.fault_services:
            return None
        with self._lock:
            if settings.fault_seed != self._seed:
                self._seed = settings.fault_seed
                self._random.seed(self._seed)
            if self._random.random() >= float(settings.fault_rate):
                return None
            kind = self._random.choice(list(settings.fault_kinds) or ["throttle"])
        response = throttling_error(request) if kind == "throttle" else server_error(request)
        return kind, response
