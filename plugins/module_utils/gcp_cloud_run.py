# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Cloud Run Admin API v2 services, as gcp_cloudrun_service and gcp_iap use them: read, create, replace, delete,
and wait until the latest revision serves or say why it does not.

A change is sent as the whole service with PATCH and no updateMask, as gcloud does: the v2 API replaces the
service with the body (fields left out are reset), so the body is the service as read, output-only fields
removed, with the managed fields laid over it.
"""

import copy

from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import RUN_API
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import OperationFailed
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import OperationTimeout

# Output only (run.v2 discovery document): not sent back.
OUTPUT_ONLY = ("uid", "generation", "createTime", "updateTime", "deleteTime", "expireTime", "creator", "lastModifier",
               "observedGeneration", "terminalCondition", "conditions", "latestReadyRevision", "latestCreatedRevision",
               "trafficStatuses", "uri", "urls", "satisfiesPzs", "reconciling", "launchStageReason")
INVOKER_ROLE = "roles/run.invoker"
SUCCEEDED = "CONDITION_SUCCEEDED"
FAILED = "CONDITION_FAILED"


class RevisionFailed(Exception):
    """The service's latest revision is not ready: the message says why (terminalCondition, the revision's conditions)."""

    def __init__(self, message, service=None):
        super(RevisionFailed, self).__init__(message)
        self.service = service


def parent(project, region):
    return "projects/{0}/locations/{1}".format(project, region)


def service_name(project, region, name):
    return "{0}/services/{1}".format(parent(project, region), name)


def get_service(client, name):
    """The service, or None when there is none."""
    return client.get(RUN_API + name, allow_not_found=True)


def request_body(current, overlay):
    """The whole service to send: ``current`` without its output-only fields, ``overlay`` (complete values) laid over it."""
    body = dict((key, copy.deepcopy(value)) for key, value in (current or {}).items() if key not in OUTPUT_ONLY)
    for key, value in overlay.items():
        body[key] = copy.deepcopy(value)
    if "template" in overlay and body.get("template", {}).get("revision") and overlay["template"] != (current or {}).get("template"):
        # A named revision cannot be created twice: a changed template gets a generated name.
        del body["template"]["revision"]
    return body


def create_service(client, project, region, name, body):
    return client.post(RUN_API + parent(project, region) + "/services", body, params={"serviceId": name})


def replace_service(client, current, body):
    return client.patch(RUN_API + current["name"], body)


def delete_service(client, name, etag=None):
    return client.delete(RUN_API + name, params={"etag": etag} if etag else None, allow_not_found=True)


def condition_message(condition):
    if not condition:
        return ""
    parts = [condition.get("message") or ""]
    reason = condition.get("reason") or condition.get("revisionReason") or condition.get("executionReason")
    if reason and reason not in parts[0]:
        parts.append("(reason {0})".format(reason))
    return " ".join(part for part in parts if part)


def revision_problem(client, service):
    """Why the service's latest revision does not serve, from the revision's own failed conditions; "" if unknown."""
    revision = service.get("latestCreatedRevision")
    if not revision:
        return ""
    if not revision.startswith("projects/"):
        revision = "{0}/revisions/{1}".format(service["name"], revision)
    try:
        found = client.get(RUN_API + revision, allow_not_found=True) or {}
    except GcpApiError:
        return ""
    messages = [condition_message(condition) for condition in found.get("conditions") or [] if condition.get("state") == FAILED]
    return "; ".join(message for message in messages if message)


def failure_of(client, service):
    """A message when the service's terminal condition failed, else None."""
    terminal = service.get("terminalCondition") or {}
    if terminal.get("state") != FAILED:
        return None
    message = condition_message(terminal) or "the service is not ready"
    detail = revision_problem(client, service)
    if detail and detail not in message:
        message = "{0} Revision {1}: {2}".format(message, (service.get("latestCreatedRevision") or "").rsplit("/", 1)[-1], detail)
    return message


def finish(client, operation, name, wait, timeout):
    """After a create or replace: the service once the operation is done and the service reconciled (``wait``), or as it
    is now. Raises RevisionFailed with Cloud Run's message when the new revision does not become ready."""
    if not wait:
        return get_service(client, name) or operation.get("response") or operation.get("metadata") or {}
    clock = client.clock
    deadline = clock() + timeout
    try:
        client.wait_for_operation(operation, timeout, api_base=RUN_API)
    except OperationFailed as error:
        service = get_service(client, name) or {}
        detail = failure_of(client, service) if service else None
        message = str(error.message)
        if detail and detail not in message:
            message = "{0} {1}".format(message, detail)
        raise RevisionFailed(message, service)
    service = get_service(client, name) or {}
    delay = 1.0
    while service.get("reconciling") and clock() + delay <= deadline:
        client.sleep(delay)
        delay = min(10.0, delay * 1.5)
        service = get_service(client, name) or {}
    problem = failure_of(client, service)
    if problem:
        raise RevisionFailed(problem, service)
    if service.get("reconciling"):
        raise OperationTimeout("Cloud Run service {0} was still reconciling after {1} seconds (wait_timeout).".format(name, timeout))
    return service


def get_iam_policy(client, name):
    return client.get(RUN_API + name + ":getIamPolicy", params={"options.requestedPolicyVersion": 3})


def set_iam_policy(client, name, policy):
    return client.post(RUN_API + name + ":setIamPolicy", {"policy": policy})
