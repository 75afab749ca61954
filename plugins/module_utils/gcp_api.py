# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the GCP modules share: authentication, REST calls, long-running operations, IAM policies and diffs.

Authentication takes the options and ``GCP_*`` environment variables of the google.cloud modules (doc
fragment ``mlops.mlflow.gcp``), with their validation messages, and builds google-auth credentials; calls go
through google-auth's ``AuthorizedSession`` (requests), so ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE`` apply.
Endpoints are always Google's: a test reaches an emulator through a proxy, never through another URL.

Every call is retried with exponential backoff and full jitter on 429, on 5xx and on connection errors, and a
``Retry-After`` header is honoured. A failed call raises :class:`GcpApiError` with the API's own message and
status. :func:`wait_for_operation` polls both shapes of long-running operation: google.longrunning
(``done``/``error``/``response``: Cloud Run, IAP, Resource Manager) and compute (``status: DONE`` with
``error.errors``). :func:`managed_diff` compares only the fields a module manages.
"""

import copy
import datetime
import email.utils
import json
import os
import random
import re
import time
import traceback

try:
    import requests
except ImportError:
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    REQUESTS_IMPORT_ERROR = None

try:
    import google.auth
    import google.auth.compute_engine
    import google.auth.exceptions
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2 import credentials as oauth2_credentials
    from google.oauth2 import service_account
except ImportError:
    GOOGLE_AUTH_IMPORT_ERROR = traceback.format_exc()
else:
    GOOGLE_AUTH_IMPORT_ERROR = None

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.basic import missing_required_lib

RUN_API = "https://run.googleapis.com/v2/"
IAP_API = "https://iap.googleapis.com/v1/"
COMPUTE_API = "https://compute.googleapis.com/compute/v1/"
RESOURCE_MANAGER_API = "https://cloudresourcemanager.googleapis.com/v1/"
DEFAULT_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
USER_AGENT = "mlops.mlflow-gcp"

# A Google Cloud region, such as europe-west1 or us-central1.
REGION_PATTERN = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
RETRYABLE_STATUS = frozenset((429, 500, 502, 503, 504))
# Google's client libraries give up after about a minute of retries; so do we.
RETRY_ATTEMPTS = 7
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 32.0
RETRY_AFTER_CAP_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 60
POLL_FIRST_SECONDS = 1.0
POLL_CAP_SECONDS = 10.0


def auth_argument_spec():
    """The google.cloud modules' authentication options, with the same environment variables."""
    return dict(
        project=dict(type="str", fallback=(env_fallback, ["GCP_PROJECT"])),
        auth_kind=dict(type="str", required=True, fallback=(env_fallback, ["GCP_AUTH_KIND"]),
                       choices=["machineaccount", "serviceaccount", "accesstoken", "application"]),
        service_account_email=dict(type="str", fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_EMAIL"])),
        service_account_file=dict(type="path", fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_FILE"])),
        service_account_contents=dict(type="jsonarg", no_log=True, fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_CONTENTS"])),
        access_token=dict(type="str", no_log=True, fallback=(env_fallback, ["GCP_ACCESS_TOKEN"])),
        scopes=dict(type="list", elements="str", fallback=(env_fallback, ["GCP_SCOPES"])),
        env_type=dict(type="str", fallback=(env_fallback, ["GCP_ENV_TYPE"])),
    )


# google.cloud documents these as mutually exclusive (its GcpModule means to enforce it, but does not).
AUTH_MUTUALLY_EXCLUSIVE = [["service_account_email", "service_account_file", "service_account_contents"]]


def auth_problem(params):
    """The google.cloud modules' message for an inconsistent set of authentication options, or None."""
    kind = params.get("auth_kind")
    if params.get("service_account_email") is not None and kind != "machineaccount":
        return "Service Account Email only works with Machine Account-based authentication"
    if (params.get("service_account_file") is not None or params.get("service_account_contents") is not None) and kind != "serviceaccount":
        return "Service Account File only works with Service Account-based authentication"
    if params.get("access_token") is not None and kind != "accesstoken":
        return "Supplying access_token requires auth_kind set to accesstoken"
    if kind == "serviceaccount" and params.get("service_account_file") is None and params.get("service_account_contents") is None:
        return "Service Account authentication requires setting either service_account_file or service_account_contents"
    if kind == "accesstoken" and not params.get("access_token"):
        return "An access token must be supplied when auth_kind is accesstoken"
    return None


class InvalidInput(Exception):
    """An argument the API would refuse, found before any call: the module fails with it and changes nothing."""


def check(condition, message):
    """Raises InvalidInput(message) unless condition holds."""
    if not condition:
        raise InvalidInput(message)


class GcpModule(AnsibleModule):
    """An AnsibleModule with the GCP authentication options; fails at once when a library or an option is missing."""

    def __init__(self, argument_spec=None, mutually_exclusive=None, **kwargs):
        spec = auth_argument_spec()
        spec.update(argument_spec or {})
        super(GcpModule, self).__init__(argument_spec=spec, mutually_exclusive=list(mutually_exclusive or []) + AUTH_MUTUALLY_EXCLUSIVE,
                                        **kwargs)
        if REQUESTS_IMPORT_ERROR:
            self.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        if GOOGLE_AUTH_IMPORT_ERROR:
            self.fail_json(msg=missing_required_lib("google-auth"), exception=GOOGLE_AUTH_IMPORT_ERROR)
        problem = auth_problem(self.params)
        if problem:
            self.fail_json(msg=problem)
        if not self.params.get("project"):
            self.fail_json(msg="project is required: set the project option or the GCP_PROJECT environment variable.")

    def check_input(self, validate):
        """Runs validate(params) before any API call; fails the module with the message of an InvalidInput it raises."""
        try:
            validate(self.params)
        except InvalidInput as error:
            self.fail_json(msg=str(error))

    def client(self):
        return GcpClient(credentials(self), user_agent(self.params))


def user_agent(params):
    agent = USER_AGENT
    if params.get("env_type"):
        agent = "{0}-{1}".format(agent, params["env_type"])
    return agent


class CredentialsError(Exception):
    """The credentials could not be built from the options."""


def build_credentials(params):
    """google-auth credentials from the options, as the google.cloud modules build them."""
    kind = params["auth_kind"]
    scopes = params.get("scopes") or DEFAULT_SCOPES
    if kind == "application":
        found, _project = google.auth.default(scopes=scopes)
        return found
    if kind == "serviceaccount":
        if params.get("service_account_file") is not None:
            path = os.path.realpath(os.path.expanduser(params["service_account_file"]))
            try:
                found = service_account.Credentials.from_service_account_file(path)
            except OSError as error:
                raise CredentialsError("Unable to read service_account_file at {0}: {1}".format(path, error.strerror))
        else:
            contents = params["service_account_contents"]
            try:
                info = json.loads(contents) if isinstance(contents, str) else contents
            except ValueError as error:
                raise CredentialsError("Unable to decode service_account_contents as JSON: {0}".format(error))
            found = service_account.Credentials.from_service_account_info(info)
        return found.with_scopes(scopes)
    if kind == "machineaccount":
        return google.auth.compute_engine.Credentials(params.get("service_account_email") or "default")
    if kind == "accesstoken":
        return oauth2_credentials.Credentials(params["access_token"], scopes=scopes)
    raise CredentialsError("Credential type '{0}' not implemented".format(kind))


def credentials(module):
    try:
        return build_credentials(module.params)
    except CredentialsError as error:
        module.fail_json(msg=str(error))
    except google.auth.exceptions.GoogleAuthError as error:
        module.fail_json(msg="Could not get GCP credentials ({0}): {1}".format(module.params["auth_kind"], error))


# --- errors -----------------------------------------------------------------------------------------------------------------


class GcpApiError(Exception):
    """A call that failed: the HTTP status code, the API's status (``NOT_FOUND``, ``FAILED_PRECONDITION``...) and message."""

    def __init__(self, message, status_code=None, status=None, method=None, url=None, details=None):
        super(GcpApiError, self).__init__(message)
        self.message = message
        self.status_code = status_code
        self.status = status
        self.method = method
        self.url = url
        self.details = details or []

    def __str__(self):
        where = "{0} {1}: ".format(self.method, self.url) if self.method else ""
        status = " ({0}{1})".format(self.status_code or "", " " + self.status if self.status else "") if self.status_code or self.status else ""
        return "{0}{1}{2}".format(where, self.message, status)

    def result(self):
        """What a module adds to fail_json."""
        return dict(status_code=self.status_code, status=self.status, error_details=self.details)


class OperationFailed(GcpApiError):
    """A long-running operation ended with an error."""


class OperationTimeout(Exception):
    """A long-running operation was not done within wait_timeout."""


def error_from_body(body, status_code=None, method=None, url=None):
    """A GcpApiError from a Google error body (``{"error": {"code", "message", "status", "errors"}}``)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = body if isinstance(body, str) else json.dumps(body)
        return GcpApiError(text.strip()[:2000] or "HTTP {0}".format(status_code), status_code=status_code, method=method, url=url)
    messages = [error.get("message")] if error.get("message") else []
    for item in error.get("errors") or []:  # compute: errors[] with their own messages
        if item.get("message") and item["message"] not in messages:
            messages.append(item["message"])
    status = error.get("status")
    if not status and error.get("errors"):
        status = error["errors"][0].get("reason") or error["errors"][0].get("code")
    return GcpApiError("; ".join(messages) or "HTTP {0}".format(status_code), status_code=status_code or error.get("code"), status=status,
                       method=method, url=url, details=error.get("details") or error.get("errors") or [])


# --- retries ----------------------------------------------------------------------------------------------------------------


def retry_after_seconds(headers, now=None):
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date), or None."""
    value = (headers or {}).get("Retry-After")
    if value is None:
        return None
    value = str(value).strip()
    if re.match(r"^\d+(\.\d+)?$", value):
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return max(0.0, (moment - now).total_seconds())


def should_retry(status_code):
    return status_code in RETRYABLE_STATUS or (status_code is not None and status_code >= 500)


def backoff_seconds(attempt, retry_after=None, rng=random.random):
    """The wait before retry number ``attempt`` (1, 2...): full jitter over an exponential ceiling,
    never less than what Retry-After asked (capped, so that a server cannot hold a run for hours)."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * (2 ** (attempt - 1)))
    delay = rng() * ceiling
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return delay


class GcpClient(object):
    """REST calls with retries; ``session`` is google-auth's AuthorizedSession (or any requests-like session)."""

    def __init__(self, creds=None, agent=USER_AGENT, session=None, sleep=None, clock=None, rng=None):
        self.session = session if session is not None else AuthorizedSession(creds)
        self.user_agent = agent
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.rng = rng or random.random

    def request(self, method, url, params=None, body=None, allow_not_found=False):
        """The JSON answer (a dict; {} when empty), None for a 404 when allow_not_found, else raises GcpApiError."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.request(method, url, params=params, json=body, timeout=REQUEST_TIMEOUT_SECONDS,
                                                headers={"User-Agent": self.user_agent, "Content-Type": "application/json"})
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
                if attempt >= RETRY_ATTEMPTS:
                    raise GcpApiError("Could not reach the API after {0} attempts: {1}".format(attempt, error), method=method, url=url)
                self.sleep(backoff_seconds(attempt, rng=self.rng))
                continue
            if should_retry(response.status_code) and attempt < RETRY_ATTEMPTS:
                self.sleep(backoff_seconds(attempt, retry_after_seconds(response.headers), rng=self.rng))
                continue
            return self._answer(response, method, url, allow_not_found)

    @staticmethod
    def _answer(response, method, url, allow_not_found):
        if response.status_code == 404 and allow_not_found:
            return None
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise error_from_body(body, response.status_code, method, url)
        if not isinstance(body, dict):
            raise GcpApiError("The API answered with something other than a JSON object: {0}".format(str(body)[:500]),
                              status_code=response.status_code, method=method, url=url)
        return body

    def get(self, url, params=None, allow_not_found=False):
        return self.request("GET", url, params=params, allow_not_found=allow_not_found)

    def post(self, url, body=None, params=None):
        return self.request("POST", url, params=params, body=body if body is not None else {})

    def patch(self, url, body, params=None):
        return self.request("PATCH", url, params=params, body=body)

    def delete(self, url, params=None, allow_not_found=False):
        return self.request("DELETE", url, params=params, allow_not_found=allow_not_found)

    # --- long-running operations --------------------------------------------------------------------------------------------

    def wait_for_operation(self, operation, timeout, api_base=None):
        """Polls ``operation`` until it is done; returns the finished operation.

        google.longrunning operations (``done``, ``error``, ``response``) are polled at ``api_base + name``;
        compute operations (``status``, ``error.errors``) at their selfLink, rewritten to compute.googleapis.com
        (compute's selfLinks name www.googleapis.com). Raises OperationFailed or OperationTimeout.
        """
        deadline = self.clock() + timeout
        delay = POLL_FIRST_SECONDS
        while True:
            outcome = operation_outcome(operation)
            if outcome is not None:
                if isinstance(outcome, GcpApiError):
                    raise outcome
                return operation
            if self.clock() + delay > deadline:
                raise OperationTimeout("Operation {0} was not done after {1} seconds (wait_timeout); it goes on in GCP.".format(
                    operation.get("name"), timeout))
            self.sleep(delay)
            delay = min(POLL_CAP_SECONDS, delay * 1.5)
            operation = self.get(operation_url(operation, api_base))


def is_compute_operation(operation):
    return "status" in operation and "done" not in operation


def operation_outcome(operation):
    """None while the operation runs; OperationFailed when it failed; True when it succeeded."""
    if is_compute_operation(operation):
        if operation.get("status") != "DONE":
            return None
        errors = (operation.get("error") or {}).get("errors") or []
        if errors:
            message = "; ".join(item.get("message") or item.get("code") or "" for item in errors)
            return OperationFailed(message, status_code=operation.get("httpErrorStatusCode"), status=errors[0].get("code"),
                                   details=errors)
        return True
    if not operation.get("done"):
        return None
    error = operation.get("error")
    if error:
        return OperationFailed(error.get("message") or "Operation {0} failed".format(operation.get("name")),
                               status_code=error.get("code"), status=grpc_status_name(error.get("code")),
                               details=error.get("details") or [])
    return True


def operation_url(operation, api_base):
    if is_compute_operation(operation):
        link = operation.get("selfLink") or ""
        if "/compute/v1/" in link:
            return COMPUTE_API + link.split("/compute/v1/", 1)[1]
        return link
    return (api_base or RUN_API) + operation["name"]


_GRPC_CODES = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 6: "ALREADY_EXISTS",
               7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE",
               12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED"}


def grpc_status_name(code):
    return _GRPC_CODES.get(code) if isinstance(code, int) else code


def project_number(client, project):
    """The project's number (IAP resource names and service agents use it), from Resource Manager."""
    if re.match(r"^\d+$", project):
        return project
    answer = client.get(RESOURCE_MANAGER_API + "projects/" + project)
    return str(answer["projectNumber"])


# --- IAM policies -----------------------------------------------------------------------------------------------------------


def plan_role_members(policy, role, members, mode):
    """(new policy or None when nothing changes, members added, members removed) for one role's unconditional binding.

    ``mode`` ``add`` adds the missing members; ``exact`` makes the binding hold just ``members`` (none: no binding).
    Conditional bindings are never touched.
    """
    policy = copy.deepcopy(policy or {})
    bindings = policy.get("bindings") or []
    target = [binding for binding in bindings if binding.get("role") == role and not binding.get("condition")]
    current = []
    for binding in target:
        current.extend(member for member in binding.get("members") or [] if member not in current)
    wanted = list(current) + [member for member in members if member not in current] if mode == "add" else list(dict.fromkeys(members))
    added = [member for member in wanted if member not in current]
    removed = [member for member in current if member not in wanted]
    if not added and not removed:
        return None, [], []
    others = [binding for binding in bindings if binding not in target]
    policy["bindings"] = others + ([{"role": role, "members": wanted}] if wanted else [])
    if any(binding.get("condition") for binding in policy["bindings"]):
        policy["version"] = 3
    return policy, added, removed


def role_members(policy, role):
    found = []
    for binding in (policy or {}).get("bindings") or []:
        if binding.get("role") == role and not binding.get("condition"):
            found.extend(member for member in binding.get("members") or [] if member not in found)
    return found


# --- diffs ------------------------------------------------------------------------------------------------------------------


def _pattern(path):
    """A path with its list indices blanked: ``a.b[2].c`` -> ``a.b[].c``, as the set/exact path options name them."""
    return re.sub(r"\[\d+\]", "[]", path)


def _is_empty(value):
    # proto3 JSON leaves out false, 0, "" and empty lists and maps: absent and empty mean the same.
    return value is None or value is False or value == 0 or value == "" or value == [] or value == {}


def _sort_key(value):
    return json.dumps(value, sort_keys=True, default=str)


def _join(path, key):
    return "{0}.{1}".format(path, key) if path else str(key)


class _Differ(object):
    def __init__(self, set_paths, exact_paths, keyed_lists):
        self.set_paths = set(set_paths or ())
        self.exact_paths = set(exact_paths or ())
        self.keyed_lists = dict(keyed_lists or {})
        self.changed = []

    def compare(self, desired, current, path):
        """Records in self.changed the paths where current does not hold desired; returns the projection of current
        onto desired's shape (what diff mode shows as before)."""
        pattern = _pattern(path)
        if isinstance(desired, dict) and pattern not in self.exact_paths:
            current = current if isinstance(current, dict) else {}
            before = {}
            for key, value in desired.items():
                if value is None:
                    continue
                projected = self.compare(value, current.get(key), _join(path, key))
                if projected is not None:
                    before[key] = projected
            return before
        if isinstance(desired, list) and pattern not in self.exact_paths:
            current = current if isinstance(current, list) else []
            if pattern in self.keyed_lists:
                key = self.keyed_lists[pattern]
                desired = sorted(desired, key=lambda item: _sort_key(item.get(key)))
                current = sorted(current, key=lambda item: _sort_key(item.get(key) if isinstance(item, dict) else item))
            elif pattern in self.set_paths:
                desired = sorted(desired, key=_sort_key)
                current = sorted(current, key=_sort_key)
            if len(desired) != len(current):
                self.changed.append(path)
                return copy.deepcopy(current)
            before = []
            mark = len(self.changed)
            for index, (wanted, found) in enumerate(zip(desired, current)):
                before.append(self.compare(wanted, found, "{0}[{1}]".format(path, index)))
            if len(self.changed) > mark:
                # A list is sent whole: report the list, not its elements.
                del self.changed[mark:]
                self.changed.append(path)
            return before
        if isinstance(desired, dict):  # an exact dict: keys both ways
            current = current if isinstance(current, dict) else {}
            if desired != current:
                self.changed.append(path)
            return copy.deepcopy(current)
        if isinstance(desired, list):
            current = current if isinstance(current, list) else []
            if (sorted(desired, key=_sort_key) != sorted(current, key=_sort_key)) if pattern in self.set_paths else desired != current:
                self.changed.append(path)
            return copy.deepcopy(current)
        if not (desired == current or (_is_empty(desired) and _is_empty(current))):
            self.changed.append(path)
        return copy.deepcopy(current)


def managed_diff(desired, current, set_paths=(), exact_paths=(), keyed_lists=None):
    """Compares the fields a module manages (``desired``) with what the API returned (``current``).

    Only the keys in ``desired`` count (a None value: not managed), so fields the server fills in are ignored;
    absent and empty (false, 0, "", [], {}) are the same, as in proto3 JSON. Lists are compared in order,
    element by element with the same subset rule, except those named in ``set_paths`` (order-insensitive) or
    ``keyed_lists`` (a path -> the key their elements are sorted by, e.g. env by name); dicts named in
    ``exact_paths`` (labels) must match key for key. Paths name list elements as ``[]``: ``template.containers[].env``.

    Returns (changed paths, before, after): the paths in dotted form, and the managed fields as they are and as
    they would be, for diff mode.
    """
    differ = _Differ(set_paths, exact_paths, keyed_lists)
    before = differ.compare(desired, current, "")
    return differ.changed, before, prune(desired)


def prune(value):
    """``value`` without the keys whose value is None (not managed)."""
    if isinstance(value, dict):
        return dict((key, prune(item)) for key, item in value.items() if item is not None)
    if isinstance(value, list):
        return [prune(item) for item in value]
    return value


def merge(base, overlay):
    """``base`` with ``overlay`` laid over it: dicts merged key by key, anything else replaced; None in overlay keeps base."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        result = copy.deepcopy(base)
        for key, value in overlay.items():
            if value is None:
                continue
            result[key] = merge(base.get(key), value) if key in base else prune(copy.deepcopy(value))
        return result
    return prune(copy.deepcopy(overlay)) if overlay is not None else copy.deepcopy(base)


def labels_wanted(current, labels, purge):
    """The labels a resource should end with, or None when ``labels`` is None (not managed)."""
    if labels is None:
        return None
    wanted = {} if purge else dict(current or {})
    wanted.update(dict((str(key), str(value)) for key, value in labels.items()))
    return wanted


LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def label_problem(labels):
    """Why GCP would refuse these labels, or None."""
    for key, value in (labels or {}).items():
        if not LABEL_KEY.match(str(key)):
            return ("labels: keys must start with a lowercase letter and have up to 63 lowercase letters, digits, underscores "
                    "and hyphens, got {0!r}.".format(key))
        if not LABEL_VALUE.match(str(value)):
            return "labels: values must have up to 63 lowercase letters, digits, underscores and hyphens, got {0!r} for {1}.".format(value, key)
    if len(labels or {}) > 64:
        return "labels: GCP allows up to 64 labels, got {0}.".format(len(labels))
    return None
