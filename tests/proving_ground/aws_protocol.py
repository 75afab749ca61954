"""What an AWS request is (service, operation, protocol) and how AWS words its errors."""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Optional

from botocore.loaders import create_loader
from botocore.model import ServiceModel

# Signing names (the credential scope of SigV4) that differ from botocore's service names.
_SIGNING_NAME_TO_SERVICE = {
    "elasticfilesystem": "efs",
    "monitoring": "cloudwatch",
    "email": "ses",
    "states": "stepfunctions",
    "tagging": "resourcegroupstaggingapi",
    "es": "opensearch",
    "application-autoscaling": "application-autoscaling",
}

_READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Head", "Search", "Lookup", "Check", "Validate",
                       "Preview", "Test", "Batch" + "Get", "Select", "Query", "Scan")

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@functools.lru_cache(maxsize=None)
def _loader():
    return create_loader()


@functools.lru_cache(maxsize=None)
def service_model(service_name: str) -> Optional[ServiceModel]:
    """botocore's model of a service, or None when botocore does not know the name."""
    try:
        return ServiceModel(_loader().load_service_model(service_name, "service-2"), service_name)
    except Exception:  # pylint: disable=broad-except
        return None


def is_mutating(operation: Optional[str]) -> bool:
    """Whether an operation may change something. Unknown operations count as mutating."""
    if not operation:
        return True
    return not operation.startswith(_READ_ONLY_PREFIXES)


@dataclass
class Response:
    status: int
    headers: list = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    def json(self):
        return json.loads(self.body or b"{}")

    def with_json(self, document) -> "Response":
        self.body = json.dumps(document).encode()
        self.set_header("Content-Length", str(len(self.body)))
        return self

    def with_body(self, body: bytes) -> "Response":
        self.body = body
        self.set_header("Content-Length", str(len(body)))
        return self


@dataclass
class AwsRequest:
    """An incoming request, decoded far enough to know which AWS operation it is."""

    method: str
    path: str
    query: dict
    headers: dict  # lower-case names
    body: bytes
    region: str = "us-east-1"
    service: Optional[str] = None  # botocore service name, e.g. "sagemaker", "elbv2"
    operation: Optional[str] = None  # e.g. "CreateMlflowTrackingServer"
    params: dict = field(default_factory=dict)  # decoded body (JSON) or form/query parameters
    secure: bool = False  # came over TLS (the proving ground's HTTPS port): aws:SecureTransport
    source_ip: Optional[str] = None  # the client's address: aws:SourceIp
    # The request target as it came on the wire (path and query, still percent-encoded), which a
    # SigV4 signature covers; None when the server did not pass it on.
    raw_uri: Optional[str] = None

    @property
    def protocol(self) -> str:
        model = service_model(self.service) if self.service else None
        if model is not None:
            return model.metadata.get("protocol", "json")
        if "x-amz-target" in self.headers:
            return "json"
        return "query" if "Action" in self.params else "rest-json"

    @property
    def mutating(self) -> bool:
        return is_mutating(self.operation)

    def json_body(self) -> dict:
        return json.loads(self.body or b"{}")

    @classmethod
    def from_environ(cls, environ: dict, body: bytes) -> "AwsRequest":
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        request = cls(
            method=environ.get("REQUEST_METHOD", "GET"),
            path=environ.get("PATH_INFO", "/"),
            query=query,
            headers=headers,
            body=body,
            secure=environ.get("wsgi.url_scheme") == "https",
            source_ip=environ.get("REMOTE_ADDR"),
            raw_uri=environ.get("RAW_URI") or environ.get("REQUEST_URI"),
        )
        request._identify()
        return request

    def _identify(self) -> None:
        scope = _CREDENTIAL_SCOPE.search(self.headers.get("authorization", ""))
        if not scope and "X-Amz-Credential" in self.query:
            parts = self.query["X-Amz-Credential"].split("/")
            scope = parts[2:4] if len(parts) >= 4 else None
            region, signing_name = scope if scope else (None, None)
        elif scope:
            region, signing_name = scope.group(1), scope.group(2)
        else:
            region, signing_name = None, None
        if region:
            self.region = region

        target = self.headers.get("x-amz-target")
        content_type = self.headers.get("content-type", "")
        if target:
            self.operation = target.rsplit(".", 1)[-1]
            try:
                self.params = json.loads(self.body or b"{}")
            except ValueError:
                self.params = {}
        else:
            self.params = dict(self.query)
            if content_type.startswith("application/x-www-form-urlencoded"):
                self.params.update(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"),
                                                          keep_blank_values=True))
            self.operation = self.params.get("Action")

        if signing_name:
            self.service = _SIGNING_NAME_TO_SERVICE.get(signing_name, signing_name)
            if self.service == "elasticloadbalancing":
                self.service = "elbv2" if self.params.get("Version") == "2015-12-01" else "elb"
        if self.service and not self.operation:
            self.operation = match_rest_operation(self.service, self.method, self.path, self.query, self.headers)


@functools.lru_cache(maxsize=None)
def _rest_routes(service_name: str):
    model = service_model(service_name)
    if model is None:
        return []
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http.get("requestUri", "/")
        path, dummy, query = uri.partition("?")
        pattern = re.sub(r"\\{([^}+]+)\\\+\\}", r"(?P<\1>.+)", re.escape(path))
        pattern = re.sub(r"\\{([^}]+)\\}", r"(?P<\1>[^/]+)", pattern)
        pattern = re.sub(r"\(\?P<([^>]+)>", lambda m: "(?P<" + re.sub(r"\W", "_", m.group(1)) + ">", pattern)
        required_query = dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else {}
        literal = len(re.sub(r"\{[^}]+\}", "", path))
        operation = model.operation_model(name)
        routes.append((http.get("method", "POST"), re.compile("^" + pattern.rstrip("/") + "/?$"),
                       required_query, _required_members(operation, "header"), _required_members(operation, "querystring"),
                       literal, name))
    return routes


def _required_members(operation, location: str) -> tuple:
    """Wire names of the input members an operation requires in ``location`` (header names lower-case)."""
    shape = operation.input_shape
    if shape is None:
        return ()
    names = (member.serialization["name"] for name, member in shape.members.items()
             if name in shape.required_members and member.serialization.get("location") == location)
    return tuple(name.lower() if location == "header" else name for name in names)


def match_rest_operation(service_name: str, method: str, path: str, query: dict,
                         headers: Optional[dict] = None) -> Optional[str]:
    """Find the REST operation whose requestUri template matches, preferring the most specific.

    An operation whose required query-string members are missing is not it (S3's DELETE of an object
    is DeleteObject, not AbortMultipartUpload, which requires ``uploadId``)."""
    headers = headers or {}
    best = None
    for route_method, pattern, required_query, required_headers, required_parameters, literal, name in _rest_routes(service_name):
        if route_method != method or not pattern.match(urllib.parse.unquote(path)):
            continue
        if any(key not in query or (value and query[key] != value) for key, value in required_query.items()):
            continue
        if any(header not in headers for header in required_headers):
            continue
        if any(parameter not in query for parameter in required_parameters):
            continue
        score = (len(required_query) + len(required_headers) + len(required_parameters), literal)
        if best is None or score > best[0]:
            best = (score, name)
    return best[1] if best else None


def error_response(request: AwsRequest, code: str, message: str, status: int = 400) -> Response:
    """An error worded as the service's protocol words it, so botocore parses it as from AWS."""
    request_id = str(uuid.uuid4())
    protocol = request.protocol
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)]
    elif protocol == "rest-json":
        body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code),
                   ("x-amzn-RequestId", request_id)]
    elif protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>").encode()
        headers = [("Content-Type", "text/xml")]
    elif protocol == "rest-xml" and request.service == "s3":
        body = (f"<Error><Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>").encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    else:  # query and the other rest-xml services
        kind = "Sender" if status < 500 else "Receiver"
        body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
                f"<Message>{_xml_escape(message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(body))))
    return Response(status=status, headers=headers, body=body)


def json_response(document: dict, status: int = 200) -> Response:
    return Response(status=status, headers=[("Content-Type", "application/x-amz-json-1.1"),
                                            ("x-amzn-RequestId", str(uuid.uuid4()))]).with_json(document)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
