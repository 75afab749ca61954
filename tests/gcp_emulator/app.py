"""The emulator's HTTP face: which host and path goes where, authentication, the request log and
the control API.

``Application.serve(request)`` takes a parsed HTTP request (``proxy.HttpRequest``) and returns
(status, headers, body). Requests arrive through the TLS-terminating proxy, with the host the client
meant (``run.googleapis.com``), or directly on the proxy's port in plain HTTP (the control API,
under ``/_gcp_emulator/``).

- ``oauth2.googleapis.com/token``: the OAuth 2.0 token endpoint. The JWT-bearer grant of
  service-account credentials (and the refresh-token grant of user credentials) get a fake access
  token; an assertion with ``target_audience`` gets an ID token (an unsigned-by-Google JWT, which
  google-auth does not verify on receipt). The JWT's claims are checked (``aud``, ``exp``, ``iss``),
  not its signature: the emulator cannot know the public key of a key file it did not issue.
- ``<api>.googleapis.com`` (and ``www.googleapis.com`` for compute and storage paths): the APIs of
  ``apis.py``. A request needs ``Authorization: Bearer <token>`` with a token this emulator issued
  or the fixed ``FAKE_ACCESS_TOKEN``; otherwise 401 UNAUTHENTICATED as Google answers.
- ``<service>-<number>.<region>.run.app``: the service's URL answers 404 when no such service
  exists and 503 otherwise (the emulator runs no containers).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import urllib.parse
from typing import Optional

from .discovery import APIS, load
from .engine import Call, Emulator
from .errors import ApiError

FAKE_ACCESS_TOKEN = "ya29.gcp-emulator-token"
CONTROL_PREFIX = "/_gcp_emulator"
NON_MUTATING_VERBS = {"get", "list", "getIamPolicy", "testIamPermissions", "wait", "access", "batchGet",
                      "aggregatedList", "getIapSettings", "search", "listServerCas", "validateAttributeExpression"}
HOSTS = {f"{name}.googleapis.com": name for name in APIS}
# Paths on www.googleapis.com (the old shared host, still in compute and storage selfLinks).
WWW_PREFIXES = {"compute/": "compute", "storage/": "storage"}


def emulated_host(host: str) -> bool:
    """Whether the proxy may open a tunnel to ``host``: only hosts this emulator answers."""
    return (host in HOSTS or host in ("oauth2.googleapis.com", "www.googleapis.com")
            or re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+\.rep\.googleapis\.com", host) is not None
            or host.endswith(".run.app"))


class RequestLog:
    def __init__(self, limit: int = 50_000):
        self._entries: list = []
        self._next = 1
        self._lock = threading.Lock()
        self._limit = limit

    def add(self, **entry) -> None:
        with self._lock:
            entry.update(id=self._next, time=time.time())
            self._next += 1
            self._entries.append(entry)
            del self._entries[:-self._limit]

    def entries(self, since: int = 0) -> list:
        with self._lock:
            return [dict(entry) for entry in self._entries if entry["id"] > since]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _json(status: int, document) -> tuple:
    body = b"" if document is None else json.dumps(document, indent=2).encode()
    headers = [("Content-Type", "application/json; charset=UTF-8")] if document is not None else []
    return status, headers, body


class Application:
    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.log = RequestLog()
        # access token -> the principal it stands for (what Cloud Run writes as `creator`, compute as `user`)
        self.tokens = {FAKE_ACCESS_TOKEN: "user:emulator@example.com"}
        self.apis = {name: load(name) for name in APIS}

    # -- entry --------------------------------------------------------------------------------------
    def serve(self, request) -> tuple:
        host = request.host.split(":")[0].lower()
        path = request.path
        if path.startswith(CONTROL_PREFIX + "/") and not request.tunnelled:
            return self.control(request, path[len(CONTROL_PREFIX):])
        if host == "oauth2.googleapis.com":
            return self.token(request)
        if host.endswith(".run.app"):
            return self.run_app(request, host)
        api_name = HOSTS.get(host)
        rep = re.fullmatch(r"([a-z0-9-]+)\.[a-z0-9-]+\.rep\.googleapis\.com", host)
        if rep:
            api_name = rep.group(1) if rep.group(1) in APIS else None
        if host == "www.googleapis.com":
            api_name = next((api for prefix, api in WWW_PREFIXES.items() if path.lstrip("/").startswith(prefix)), None)
        if api_name is None:
            return _json(404, {"error": {"code": 404, "message": f"The emulator does not serve {host}{path}.",
                                         "status": "NOT_FOUND"}})
        return self.api_request(request, api_name)

    # -- APIs -----------------------------------------------------------------------------------------
    def api_request(self, request, api_name: str) -> tuple:
        started = time.monotonic()
        api = self.apis[api_name]
        behaviour = self.emulator.behaviours[api_name]
        relative = request.path.lstrip("/")
        query = urllib.parse.parse_qs(request.query, keep_blank_values=True)
        http_method = request.method
        override = request.headers.get("x-http-method-override")
        if override and http_method == "POST":
            http_method = override.upper()
        method, params = api.match(http_method, urllib.parse.unquote(relative))
        entry = {"api": api_name, "method": method.id if method else None, "http_method": request.method,
                 "host": request.host, "path": request.path, "query": request.query, "connection": request.connection}
        try:
            if method is None:
                raise ApiError(404, f"The requested URL /{relative} was not found on this server.", "NOT_FOUND")
            self._authenticate(request)
            body = None
            if request.body:
                try:
                    body = json.loads(request.body)
                except ValueError:
                    raise ApiError(400, "Invalid JSON payload received. Unexpected token.",
                                   "INVALID_ARGUMENT") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Invalid JSON payload received. Expected an object.", "INVALID_ARGUMENT")
            call = Call(api, method, params, query, body, request.host, path=urllib.parse.unquote(relative),
                        caller=self._caller(request))
            self._check_enabled(api)
            status, document = self.emulator.handle(call)
            response = _json(status, document)
        except ApiError as error:
            status = error.code
            response = _json(error.code, error.document(behaviour.error_style))
            entry["error"] = error.status
        entry.update(status=status, mutating=bool(method) and self._mutating(method),
                     duration_ms=round((time.monotonic() - started) * 1000, 3))
        self.log.add(**entry)
        return response

    @staticmethod
    def _mutating(method) -> bool:
        if method.http_method == "GET":
            return False
        return method.verb not in NON_MUTATING_VERBS

    def _authenticate(self, request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else None
        if token not in self.tokens:
            raise ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                                "cookie or other valid authentication credential. See https://developers.google.com/"
                                "identity/sign-in/web/devconsole-project.", "UNAUTHENTICATED")

    def _check_enabled(self, api) -> None:
        em = self.emulator
        service = f"{api.name}.googleapis.com"
        if not em.settings["require_enabled_services"] or api.name == "serviceusage":
            return
        if service in em.behaviours["serviceusage"].enabled:
            return
        title = api.document.get("title", service)
        number = em.project_number
        raise ApiError(403, f"{title} has not been used in project {number} before or it is disabled. Enable it by "
                            f"visiting https://console.developers.google.com/apis/api/{service}/overview?project="
                            f"{number} then retry. If you enabled this API recently, wait a few minutes for the "
                            "action to propagate to our systems and retry.", "PERMISSION_DENIED",
                       "accessNotConfigured", details=[{
                           "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                           "domain": "googleapis.com",
                           "metadata": {"service": service, "consumer": f"projects/{number}"}}])

    def _caller(self, request) -> str:
        return self.tokens.get(request.headers.get("authorization", "")[7:], "user:emulator@example.com")

    # -- OAuth 2.0 ----------------------------------------------------------------------------------
    def token(self, request) -> tuple:
        if request.path != "/token" or request.method != "POST":
            return _json(404, {"error": "not_found", "error_description": f"{request.path} is not emulated"})
        form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
        grant = (form.get("grant_type") or [""])[0]
        self.log.add(api="oauth2", method="token", http_method="POST", host=request.host, path=request.path,
                     query="", status=200, mutating=False, duration_ms=0)
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = self._claims((form.get("assertion") or [""])[0])
            if claims is None:
                return _json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            if claims.get("exp", 0) < time.time():
                return _json(400, {"error": "invalid_grant", "error_description":
                                   "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                                   "timeframe. Check your iat and exp values in the JWT claim."})
            if "target_audience" in claims:
                return _json(200, {"id_token": self._id_token(claims)})
            principal = f"serviceAccount:{claims['iss']}"
            if not claims.get("scope"):
                return _json(400, {"error": "invalid_scope", "error_description":
                                   "Invalid OAuth scope or ID token audience provided."})
        elif grant == "refresh_token":
            principal = "user:emulator@example.com"  # whose refresh token it is cannot be known here
            if not form.get("refresh_token"):
                return _json(400, {"error": "invalid_request",
                                   "error_description": "Missing required parameter: refresh_token"})
        else:
            return _json(400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant}"})
        token = "ya29.c." + secrets.token_urlsafe(48)
        self.tokens[token] = principal
        return _json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    @staticmethod
    def _claims(assertion: str) -> Optional[dict]:
        parts = assertion.split(".")
        if len(parts) != 3:
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return None
        if claims.get("aud") != "https://oauth2.googleapis.com/token" or "@" not in str(claims.get("iss", "")):
            return None
        return claims

    @staticmethod
    def _id_token(claims: dict) -> str:
        def encode(document):
            return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

        now = int(time.time())
        payload = {"aud": claims["target_audience"], "azp": claims["iss"], "email": claims["iss"],
                   "email_verified": True, "exp": now + 3600, "iat": now, "iss": "https://accounts.google.com",
                   "sub": str(abs(hash(claims["iss"])))}
        return f"{encode({'alg': 'RS256', 'typ': 'JWT', 'kid': 'gcp-emulator'})}.{encode(payload)}.ZW11bGF0ZWQ"

    # -- *.run.app ----------------------------------------------------------------------------------
    def run_app(self, request, host: str) -> tuple:
        match = re.fullmatch(r"(.+)-(\d+)\.([a-z0-9-]+)\.run\.app", host)
        em = self.emulator
        if match and match.group(2) == em.project_number:
            key = em.key("run", f"v2/projects/{em.project_id}/locations/{match.group(3)}/services/{match.group(1)}")
            if key in em.resources:
                return 503, [("Content-Type", "text/plain")], (
                    b"The GCP emulator runs no containers: Cloud Run service " + match.group(1).encode()
                    + b" exists, but nothing serves it.\n")
        return 404, [("Content-Type", "text/html")], b"<html><body>Error: Page not found</body></html>\n"

    # -- control API --------------------------------------------------------------------------------
    def control(self, request, route: str) -> tuple:
        body = json.loads(request.body or b"{}") if request.body else {}
        em = self.emulator
        if route == "/health":
            return _json(200, {"ok": True, "project": em.project_id, "project_number": em.project_number})
        if route == "/config" and request.method == "GET":
            return _json(200, em.settings)
        if route == "/config" and request.method == "POST":
            try:
                return _json(200, em.configure(body))
            except ValueError as error:
                return _json(400, {"error": str(error)})
        if route == "/reset" and request.method == "POST":
            em.reset()
            self.log.clear()
            return _json(200, {"reset": True})
        if route == "/requests" and request.method == "GET":
            since = int((urllib.parse.parse_qs(request.query).get("since") or ["0"])[0])
            return _json(200, {"requests": self.log.entries(since)})
        if route == "/requests" and request.method == "DELETE":
            self.log.clear()
            return _json(200, {})
        if route == "/resources" and request.method == "GET":
            with em.lock:
                keys = sorted(key for key in em.resources if ":" in key and "/operations/" not in key)
            return _json(200, {"resources": keys})
        return _json(404, {"error": f"no control route {request.method} {route}"})
