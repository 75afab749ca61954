"""What each emulated API adds to the generic engine: ids, server-filled fields, operations.

``Behaviour`` holds the generic handlers (chosen by a method's verb); each API's subclass says how
a create names its resource, which fields the server fills, how an answer is wrapped (a long-running
operation or the resource itself) and adds handlers for the methods that are not plain CRUD
(``services.enable``, ``secrets.addVersion``, ``iapSettings``...). Anything not handled answers 501
UNIMPLEMENTED, never a made-up success.

Emulated, per API (hosts ``<api>.googleapis.com``):

- Cloud Run Admin v2: services (create with ``serviceId`` / ``validateOnly``, get, list, patch with
  ``updateMask`` / ``allowMissing`` / ``validateOnly``, delete), their revisions (get, list),
  operations (get, list, wait, delete), IAM (get/set/test). A changed template makes a revision
  ``<service>-NNNNN-xyz``; ``fail_next_revision`` makes the next one fail to start.
- IAP v1: ``iapSettings`` get/patch and IAM on ``projects/P/iap_web/...`` resources (the Cloud Run
  form ``cloud_run-<region>/services/<s>`` and backend services ``compute/services/<name or id>``;
  their target must exist). The OAuth brands/clients API answers as it does since its shutdown.
- Compute v1: global addresses, regional (serverless) network endpoint groups, backend services,
  URL maps, SSL certificates (self-managed and managed), target HTTP(S) proxies, global forwarding
  rules, global and regional operations (get, wait). References resolve to resources that exist;
  a resource in use cannot be deleted; ``fingerprint`` mismatches are refused.
- Cloud SQL Admin v1beta4: instances, databases, users, operations.
- Cloud Storage JSON API: buckets and their IAM policies (no objects).
- Secret Manager v1: secrets, versions (add, get, list, access, enable, disable, destroy), IAM.
- IAM v1: service accounts (create, get, list, patch, update, delete, IAM).
- Resource Manager v1: the project (get, IAM policy with etag).
- Service Usage v1: services (get, list, enable, disable, batchEnable, batchGet), operations.

Not emulated: data planes (objects, database connections, container traffic), quotas, real
permission checks (every authenticated caller may do everything), billing, org policies.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import time
import uuid
import zlib
from typing import Optional

from .discovery import load, snake
from .engine import (ApiError, Call, Emulator, Operation, apply_mask, compute_timestamp, deep_merge, etag_of,
                     invalid, not_found, now, public, random_digits, random_letters, rfc3339)

IAM_DEFAULT_ETAG = "ACAB"

# Compute collections whose discovery documents say an up-to-date fingerprint must be provided to update them.
FINGERPRINT_REQUIRED = ("backendServices", "urlMaps")
# The names compute accepts (RFC 1035), as its errors quote them.
COMPUTE_NAME_REGEX = "[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"


def strip_verb(path: str) -> str:
    return re.sub(r":[A-Za-z]+$", "", path)


class Behaviour:
    api_name = ""
    error_style = "oneplatform"

    def __init__(self, emulator: Emulator):
        self.em = emulator
        self.api = load(self.api_name)
        self.handlers: dict = {}

    # -- hooks ----------------------------------------------------------------------------------
    def seed(self) -> None:
        """Resources a new project already has."""

    def body_label(self, method) -> str:
        """How the API names the request body in error messages (``service`` for CreateService)."""
        if self.api.style == "apiary":
            return "resource"
        name = method.request or ""
        name = re.sub(r"^(GoogleCloudRunV2|GoogleIamV1|GoogleLongrunning|GoogleApiServiceusageV1)", "", name)
        return snake(name[:1].lower() + name[1:])

    def check_body(self, call: Call) -> list:
        """Violations the discovery document cannot express."""
        return []

    def body_required(self, method) -> bool:
        return method.verb in ("create", "insert", "patch", "update", "setIamPolicy")

    def item_key(self, call: Call) -> str:
        return self.em.key(self.api_name, strip_verb(call.path))

    def resource_id(self, call: Call, body: dict) -> str:
        if not body.get("name"):
            raise invalid("Invalid value for field 'resource.name': ''. Must be a match of regex '" + COMPUTE_NAME_REGEX + "'", "invalid")
        return body["name"]

    def on_create(self, call: Call, key: str, rid: str, body: dict) -> dict:
        return dict(body)

    def on_update(self, call: Call, key: str, current: dict, body: dict) -> dict:
        if call.method.verb == "patch":
            mask = call.arg("updateMask")
            return apply_mask(copy.deepcopy(current), body, mask) if mask else deep_merge(copy.deepcopy(current), body)
        kept = {k: v for k, v in current.items() if k.startswith("_") or self._read_only(k)}
        return dict(kept, **body)

    def _read_only(self, name: str) -> bool:
        schema = self.api.schemas.get(self.resource_schema or "", {})
        return schema.get("properties", {}).get(name, {}).get("readOnly", False)

    resource_schema: Optional[str] = None

    def render(self, call: Optional[Call], key: str, resource: dict) -> dict:
        return public(resource)

    def respond(self, call: Call, verb: str, key: str, resource: dict, before: Optional[dict] = None,
                stored: bool = True) -> tuple:
        if verb == "delete":
            return 200, {}
        return 200, self.render(call, key, resource)

    def missing(self, call: Call, key: str) -> ApiError:
        return not_found(f"Resource '{strip_verb(call.path)}' was not found")

    def conflict(self, call: Call, key: str, rid: str) -> ApiError:
        return ApiError(409, f"Resource '{key.split(':', 1)[1]}' already exists", "ALREADY_EXISTS", "alreadyExists")

    def before_delete(self, call: Call, key: str, resource: dict) -> None:
        pass

    def list_document(self, call: Call, items: list) -> dict:
        schema = self.api.schemas[call.method.response]
        field = next((name for name, spec in schema["properties"].items() if spec.get("type") == "array"), "items")
        return {field: items} if items else {}

    # -- generic handlers -------------------------------------------------------------------------
    def lookup(self, call: Call, key: Optional[str] = None) -> tuple:
        key = key or self.item_key(call)
        resource = self.em.get(key)
        if resource is None:
            raise self.missing(call, key)
        return key, resource

    def generic_create(self, call: Call) -> tuple:
        body = call.body or {}
        rid = self.resource_id(call, body)
        key = self.em.key(self.api_name, strip_verb(call.path)) + "/" + rid
        if key in self.em.resources:
            raise self.conflict(call, key, rid)
        resource = self.on_create(call, key, rid, body)
        if call.flag("validateOnly"):
            return self.respond(call, "create", key, resource, stored=False)
        self.em.put(key, resource)
        return self.respond(call, "create", key, resource)

    def generic_get(self, call: Call) -> tuple:
        key, resource = self.lookup(call)
        return 200, self.render(call, key, resource)

    def generic_list(self, call: Call) -> tuple:
        prefix = self.em.key(self.api_name, call.path)
        items = [self.render(call, key, value) for key, value in self.em.children(prefix)]
        return 200, self.list_document(call, items)

    def generic_patch(self, call: Call) -> tuple:
        key = self.item_key(call)
        current = self.em.get(key)
        if current is None:
            if call.flag("allowMissing"):
                rid = key.rsplit("/", 1)[1]
                resource = self.on_create(call, key, rid, call.body or {})
                if not call.flag("validateOnly"):
                    self.em.put(key, resource)
                return self.respond(call, "create", key, resource)
            raise self.missing(call, key)
        self.check_etag(call, current)
        updated = self.on_update(call, key, current, call.body or {})
        if call.flag("validateOnly"):
            return self.respond(call, "update", key, updated, before=current, stored=False)
        self.em.put(key, updated)
        return self.respond(call, "update", key, updated, before=current)

    generic_update = generic_patch

    def check_etag(self, call: Call, current: dict) -> None:
        given = (call.body or {}).get("etag")
        if given and current.get("etag") and given != current["etag"]:
            raise ApiError(409, "The etag of the request does not match the etag of the resource: the resource "
                                "changed since it was read.", "ABORTED", "aborted")

    def generic_delete(self, call: Call) -> tuple:
        key, resource = self.lookup(call)
        self.before_delete(call, key, resource)
        if call.flag("validateOnly"):
            return self.respond(call, "delete", key, resource, stored=False)
        for child in [k for k in self.em.resources if k.startswith(key + "/")]:
            del self.em.resources[child]
        del self.em.resources[key]
        self.em.policies.pop(key, None)
        return self.respond(call, "delete", key, resource)

    # -- IAM ------------------------------------------------------------------------------------
    def iam_key(self, call: Call) -> str:
        key, unused = self.lookup(call)
        return key

    def policy(self, key: str) -> dict:
        return self.em.policies.get(key) or {"version": 1, "etag": IAM_DEFAULT_ETAG}

    def generic_getIamPolicy(self, call: Call) -> tuple:  # noqa: N802 (the method's name)
        return 200, copy.deepcopy(self.policy(self.iam_key(call)))

    def generic_setIamPolicy(self, call: Call) -> tuple:  # noqa: N802
        key = self.iam_key(call)
        body = call.body or {}
        policy = copy.deepcopy(body.get("policy", body))
        current = self.policy(key)
        if policy.get("etag") and policy["etag"] != current["etag"]:
            raise ApiError(409, "There were concurrent policy changes. Please retry the whole read-modify-write "
                                "with exponential backoff.", "ABORTED", "aborted")
        for binding in policy.get("bindings", []):
            if not binding.get("role", "").startswith(("roles/", "projects/", "organizations/")):
                raise invalid(f"Role ({binding.get('role')}) does not exist in the resource's hierarchy.")
            for member in binding.get("members", []):
                if not re.match(r"^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|principal|"
                                r"principalSet|deleted:[a-z]+|projectOwner|projectEditor|projectViewer):.+)$", member):
                    raise invalid(f"Invalid principal: {member}" if self.api.style != "apiary"
                                  else f"Invalid argument: {member}")
        policy["bindings"] = [b for b in policy.get("bindings", []) if b.get("members")]
        if not policy["bindings"]:
            policy.pop("bindings")
        policy["version"] = policy.get("version") or 1
        policy["etag"] = base64.b64encode(hashlib.sha1(repr((time.time(), policy)).encode()).digest()[:6]).decode()
        self.em.policies[key] = policy
        return 200, copy.deepcopy(policy)

    def generic_testIamPermissions(self, call: Call) -> tuple:  # noqa: N802
        self.iam_key(call)
        body = call.body or {}
        permissions = body.get("permissions") or call.query.get("permissions", [])
        # Every caller holds every permission here: there is no permission model to check against.
        return 200, ({"permissions": permissions} if permissions else {})


# ----------------------------------------------------------------------------------------------------
# Long-running operations in the google.longrunning shape (Cloud Run, Service Usage)
# ----------------------------------------------------------------------------------------------------
class LongRunning:
    """Stores ``google.longrunning.Operation`` documents and renders them by the clock."""

    def __init__(self, behaviour: Behaviour, metadata_type: str, response_type: str):
        self.behaviour = behaviour
        self.metadata_type = metadata_type
        self.response_type = response_type

    def start(self, name: str, response: Optional[dict], metadata: Optional[dict] = None, error: Optional[dict] = None,
              store: bool = True, response_type: Optional[str] = None) -> dict:
        em = self.behaviour.em
        op = {"name": name, "_ready_at": Operation.deadline(em), "_metadata": metadata, "_response": response,
              "_error": error, "_response_type": response_type or self.response_type}
        if store:
            em.put(em.key(self.behaviour.api_name, "v1/" + name if self.behaviour.api_name == "serviceusage"
                          else "v2/" + name), op)
        return op

    def render(self, op: dict) -> dict:
        document = {"name": op["name"]}
        if op["_metadata"] is not None:
            document["metadata"] = dict({"@type": self.metadata_type}, **op["_metadata"])
        if Operation.is_done(op):
            document["done"] = True
            if op["_error"]:
                document["error"] = op["_error"]
            else:
                document["response"] = dict({"@type": op["_response_type"]}, **(op["_response"] or {}))
        return document


# ----------------------------------------------------------------------------------------------------
# Cloud Run Admin v2
# ----------------------------------------------------------------------------------------------------
CONTAINER_FAILED = ("The user-provided container failed to start and listen on the port defined provided by the "
                    "PORT=8080 environment variable within the allocated timeout. This can happen when the container "
                    "port is misconfigured or if the timeout is too short.")


class Run(Behaviour):
    api_name = "run"
    resource_schema = "GoogleCloudRunV2Service"

    def __init__(self, emulator):
        super().__init__(emulator)
        self.lro = LongRunning(self, "type.googleapis.com/google.cloud.run.v2.Service",
                               "type.googleapis.com/google.cloud.run.v2.Service")
        prefix = "run.projects.locations."
        self.handlers = {
            prefix + "operations.get": self.operation_get,
            prefix + "operations.list": self.operation_list,
            prefix + "operations.wait": self.operation_wait,
            prefix + "operations.delete": self.operation_delete,
        }
        for name, method in self.api.methods.items():
            if name.startswith(prefix) and not name.startswith((prefix + "services", prefix + "operations")):
                self.handlers[name] = self.unimplemented

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated (only services, their revisions and operations are).",
                       "UNIMPLEMENTED")

    def body_label(self, method) -> str:
        return "service" if method.request == "GoogleCloudRunV2Service" else super().body_label(method)

    def check_body(self, call: Call) -> list:
        from .discovery import Violation

        body = call.body or {}
        found = []
        if call.method.id == "run.projects.locations.services.create" or (
                call.method.verb == "patch" and call.method.request == "GoogleCloudRunV2Service"
                and not call.arg("updateMask")):
            containers = (body.get("template") or {}).get("containers") or []
            if not containers:
                found.append(Violation("service.template.containers",
                                       "Violation in CreateServiceRequest.service.template.containers: "
                                       "should contain exactly one container (or up to 10 with sidecars)", "required"))
            for index, container in enumerate(containers):
                if not container.get("image"):
                    where = f"service.template.containers[{index}].image"
                    found.append(Violation(where, f"Violation in {where}: should be a non-empty string", "required"))
        return found

    def resource_id(self, call: Call, body: dict) -> str:
        service_id = call.arg("serviceId")
        if not service_id:
            raise invalid("service_id: Required field service_id not specified.",
                          violations=[("service_id", "Required field service_id not specified.")])
        if not re.fullmatch(r"[a-z]([-a-z0-9]{0,47}[a-z0-9])?", service_id):
            raise invalid(f"service_id: '{service_id}' must conform to RFC 1035: only lowercase letters, digits and "
                          "hyphens, starting with a letter, at most 49 characters.",
                          violations=[("service_id", "must conform to RFC 1035")])
        return service_id

    def missing(self, call: Call, key: str) -> ApiError:
        return not_found(f"Resource '{key.rsplit('/', 1)[-1]}' of kind 'SERVICE' in region "
                         f"'{self._region(key)}' in project '{self.em.project_id}' does not exist."
                         if "/services/" in key else f"Resource '{strip_verb(call.path)[3:]}' was not found.")

    def conflict(self, call: Call, key: str, rid: str) -> ApiError:
        return ApiError(409, f"Resource '{rid}' already exists.", "ALREADY_EXISTS")

    @staticmethod
    def _region(key: str) -> str:
        return re.search(r"/locations/([^/]+)", key).group(1)

    def _defaults(self, template: dict) -> dict:
        """The revision template fields Cloud Run fills when a service is created or updated."""
        template = copy.deepcopy(template)
        for container in template.get("containers", []):
            resources = container.setdefault("resources", {})
            resources.setdefault("limits", {"cpu": "1000m", "memory": "512Mi"})
            resources.setdefault("cpuIdle", True)
            resources.setdefault("startupCpuBoost", True)
            if len(template["containers"]) == 1 or container.get("ports"):
                container.setdefault("ports", [{"name": "http1", "containerPort": 8080}])
        template.setdefault("scaling", {"maxInstanceCount": 100})
        template.setdefault("timeout", "300s")
        template.setdefault("serviceAccount", f"{self.em.project_number}-compute@developer.gserviceaccount.com")
        template.setdefault("maxInstanceRequestConcurrency", 80)
        return template

    def on_create(self, call: Call, key: str, rid: str, body: dict) -> dict:
        path = key.split(":", 1)[1][3:]  # projects/<id>/locations/<region>/services/<id>
        given_project = strip_verb(call.path)[3:].split("/")[1]
        name = re.sub(r"^projects/[^/]+", f"projects/{given_project}", path)
        service = copy.deepcopy(body)
        service.update(name=name, uid=str(uuid.uuid4()), generation="0", createTime=rfc3339(),
                       creator=call.caller.split(":", 1)[-1], _revisions=0)
        service.setdefault("ingress", "INGRESS_TRAFFIC_ALL")
        service.setdefault("launchStage", "GA")
        service.setdefault("traffic", [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}])
        region = self._region(key)
        service["uri"] = f"https://{rid}-{self.em.project_number}.{region}.run.app"
        legacy = f"https://{rid}-{random_letters(10)}-{region[:2]}.a.run.app"
        service["urls"] = [service["uri"], legacy]
        return self._new_generation(call, service, None)

    def on_update(self, call: Call, key: str, current: dict, body: dict) -> dict:
        mask = call.arg("updateMask")
        if mask:
            updated = apply_mask(copy.deepcopy(current), body, mask)
        else:  # without a mask the whole (user-settable part of the) service is replaced
            updated = {k: v for k, v in current.items() if k.startswith("_") or self._read_only(k)}
            updated.update(copy.deepcopy(body))
            updated["name"] = current["name"]
            for field_name in ("ingress", "launchStage"):
                updated.setdefault(field_name, current.get(field_name))
            updated.setdefault("traffic", [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}])
        updated.pop("etag", None)
        return self._new_generation(call, updated, current)

    def _new_generation(self, call: Call, service: dict, before: Optional[dict]) -> dict:
        service["template"] = self._defaults(service.get("template") or {})
        service["generation"] = str(int(service.get("generation", "0")) + 1)
        service["updateTime"] = rfc3339()
        service["lastModifier"] = call.caller.split(":", 1)[-1]
        template_changed = before is None or before.get("template") != service["template"] or call.flag(
            "forceNewRevision")
        service["_ready_at"] = Operation.deadline(self.em)
        # The revision serving before this change: the one that last became ready.
        if before is None:
            service["_previous_ready"] = None
        elif before.get("_failed") or now() < before.get("_ready_at", 0):
            service["_previous_ready"] = before.get("_previous_ready")
        else:
            service["_previous_ready"] = before.get("latestCreatedRevision")
        if before is not None and before.get("_failed") and not template_changed:
            service["_failed"] = before["_failed"]
        if template_changed:
            service["_revisions"] = service.get("_revisions", 0) + 1
            revision = service["template"].get("revision")
            if revision and before is not None and before.get("latestCreatedRevision", "").endswith("/" + revision):
                raise ApiError(409, f"Revision named '{revision}' with different configuration already exists.",
                               "ALREADY_EXISTS")
            revision = revision or (
                f"{service['name'].rsplit('/', 1)[1]}-{service['_revisions']:05d}-{random_letters(3)}")
            service["latestCreatedRevision"] = service["name"] + "/revisions/" + revision
            failures = self.em.settings["fail_next_revision"]
            service_id = service["name"].rsplit("/", 1)[1]
            hook = service_id if service_id in failures else "*" if "*" in failures else None
            # validateOnly makes no revision, so it does not use up the failure
            service["_failed"] = failures.get(hook) if hook and not call.flag("validateOnly") else None
            if service["_failed"]:
                del failures[hook]  # once: the revision after it succeeds
            service["_new_revision"] = revision
        else:
            service["_new_revision"] = None
        service["etag"] = '"' + etag_of((service["generation"], service["uid"])) + '"'
        return service

    def respond(self, call: Call, verb: str, key: str, resource: dict, before: Optional[dict] = None,
                stored: bool = True) -> tuple:
        if stored and verb != "delete" and resource.get("_new_revision"):
            self._store_revision(key, resource)
        op_id = str(uuid.uuid4())
        location = "/".join(resource["name"].split("/")[:4])
        rendered = self.render(call, key, resource, final=True)
        if verb == "delete":
            rendered.update(deleteTime=rfc3339(), expireTime=rfc3339(now() + 30 * 86400))
        error = None
        if verb != "delete" and resource.get("_failed"):
            revision = resource["latestCreatedRevision"].rsplit("/", 1)[1]
            error = {"code": 9, "message": f"Revision '{revision}' is not ready and cannot serve traffic. "
                                           f"{resource['_failed']}"}
        metadata = self.render(call, key, resource)
        op = self.lro.start(f"{location}/operations/{op_id}", rendered, metadata=metadata, error=error, store=stored)
        if verb != "delete":  # the operation ends when the service's new generation is ready
            op["_ready_at"] = resource.get("_ready_at", op["_ready_at"])
        return 200, self.lro.render(op)

    def _store_revision(self, key: str, service: dict) -> None:
        template = service["template"]
        revision_key = key + "/revisions/" + service["_new_revision"]
        revision = {k: copy.deepcopy(v) for k, v in template.items() if k not in ("revision",)}
        revision.update(name=service["latestCreatedRevision"], uid=str(uuid.uuid4()), generation="1",
                        createTime=rfc3339(), updateTime=rfc3339(), service=service["name"],
                        launchStage=service.get("launchStage", "GA"),
                        _ready_at=service["_ready_at"], _failed=service.get("_failed"))
        revision.setdefault("executionEnvironment", "EXECUTION_ENVIRONMENT_GEN2")
        self.em.put(revision_key, revision)

    def render(self, call, key: str, resource: dict, final: bool = False) -> dict:
        if "operations/" in key:
            return self.lro.render(resource)
        if "/revisions/" in key:
            return self._render_revision(resource, final)
        document = public(resource)
        pending = not final and now() < resource.get("_ready_at", 0)
        failed = resource.get("_failed")
        document["reconciling"] = pending
        document["observedGeneration"] = document["generation"]
        moment = rfc3339(resource.get("_ready_at"))
        if pending:
            condition = {"type": "Ready", "state": "CONDITION_RECONCILING", "lastTransitionTime": rfc3339()}
            ready = resource.get("_previous_ready")
        elif failed:
            revision = resource["latestCreatedRevision"].rsplit("/", 1)[1]
            condition = {"type": "Ready", "state": "CONDITION_FAILED", "reason": "REVISION_FAILED",
                         "message": f"Revision '{revision}' is not ready and cannot serve traffic. {failed}",
                         "lastTransitionTime": moment}
            ready = resource.get("_previous_ready")
        else:
            condition = {"type": "Ready", "state": "CONDITION_SUCCEEDED", "lastTransitionTime": moment}
            ready = resource.get("latestCreatedRevision")
        document["terminalCondition"] = condition
        document["conditions"] = [
            {"type": "RoutesReady", "state": condition["state"], "lastTransitionTime": condition["lastTransitionTime"]},
            {"type": "ConfigurationsReady", "state": condition["state"],
             "lastTransitionTime": condition["lastTransitionTime"]}]
        if ready:
            document["latestReadyRevision"] = ready
        else:
            document.pop("latestReadyRevision", None)
        statuses = []
        for target in document.get("traffic", []):
            status = dict(target)
            if target.get("type") == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST":
                if not ready:
                    continue
                status["revision"] = ready.rsplit("/", 1)[1]
            statuses.append(status)
        if statuses:
            document["trafficStatuses"] = statuses
        return document

    def _render_revision(self, revision: dict, final: bool) -> dict:
        document = public(revision)
        pending = not final and now() < revision.get("_ready_at", 0)
        state = ("CONDITION_RECONCILING" if pending else
                 "CONDITION_FAILED" if revision.get("_failed") else "CONDITION_SUCCEEDED")
        ready = {"type": "Ready", "state": state, "lastTransitionTime": rfc3339(revision.get("_ready_at"))}
        if revision.get("_failed") and not pending:
            ready.update(reason="REVISION_FAILED", message=revision["_failed"])
        document.update(conditions=[ready, {"type": "ContainerHealthy", "state": state,
                                            "lastTransitionTime": ready["lastTransitionTime"]}],
                        reconciling=pending, observedGeneration="1")
        return document

    # operations
    def _op_key(self, call: Call) -> str:
        return self.em.key("run", "v2/" + call.params["name"])

    def operation_get(self, call: Call) -> tuple:
        op = self.em.get(self._op_key(call))
        if op is None:
            raise not_found(f"Operation '{call.params['name']}' not found.")
        return 200, self.lro.render(op)

    def operation_list(self, call: Call) -> tuple:
        prefix = self.em.key("run", "v2/" + call.params["name"] + "/operations")
        ops = [self.lro.render(op) for unused, op in self.em.children(prefix)]
        return 200, ({"operations": ops} if ops else {})

    def operation_delete(self, call: Call) -> tuple:
        if self.em.resources.pop(self._op_key(call), None) is None:
            raise not_found(f"Operation '{call.params['name']}' not found.")
        return 200, {}

    def operation_wait(self, call: Call) -> tuple:
        timeout = (call.body or {}).get("timeout", "60s")
        deadline = now() + float(timeout.rstrip("s") or 0)
        key = self._op_key(call)
        while True:
            op = self.em.get(key)
            if op is None:
                raise not_found(f"Operation '{call.params['name']}' not found.")
            if Operation.is_done(op) or now() >= deadline:
                return 200, self.lro.render(op)
            self.em.changed.wait(timeout=min(0.2, max(0.0, deadline - now())))

    def generic_delete(self, call: Call) -> tuple:
        key, current = self.lookup(call)
        given = call.arg("etag")
        if given and given != current.get("etag"):
            raise ApiError(409, "The etag of the request does not match the etag of the resource: the resource "
                                "changed since it was read.", "ABORTED")
        return super().generic_delete(call)

    def iam_key(self, call: Call) -> str:
        key = self.em.key("run", "v2/" + call.params["resource"])
        if key not in self.em.resources:
            raise self.missing(call, key)
        return key


# ----------------------------------------------------------------------------------------------------
# IAP v1
# ----------------------------------------------------------------------------------------------------
BRANDS_SHUT_DOWN = ("The IAP OAuth Admin API (brands and identityAwareProxyClients) was shut down on March 19, 2026. "
                    "IAP uses a Google-managed OAuth client by default; create custom OAuth clients in the Google "
                    "Cloud console.")


class Iap(Behaviour):
    api_name = "iap"

    def __init__(self, emulator):
        super().__init__(emulator)
        self.handlers = {"iap.getIapSettings": self.get_settings, "iap.updateIapSettings": self.update_settings,
                         "iap.validateAttributeExpression": self.unimplemented}
        for name in self.api.methods:
            if name.startswith("iap.projects.brands"):
                self.handlers[name] = self.brands
            elif name.startswith("iap.projects.") and not name.startswith("iap.projects.brands"):
                self.handlers[name] = self.unimplemented

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated.", "UNIMPLEMENTED")

    def brands(self, call: Call) -> tuple:
        raise ApiError(400, BRANDS_SHUT_DOWN, "FAILED_PRECONDITION")

    def body_required(self, method) -> bool:
        return method.verb in ("updateIapSettings", "setIamPolicy")

    def body_label(self, method) -> str:
        return {"IapSettings": "iap_settings", "SetIamPolicyRequest": "", "GetIamPolicyRequest": "",
                "TestIamPermissionsRequest": ""}.get(method.request, super().body_label(method))

    def target(self, call: Call, resource: str) -> str:
        """The canonical IAP resource name, after checking what it protects exists."""
        match = re.fullmatch(r"projects/([^/]+)/iap_web(?:/(.+))?", resource)
        if not match or not self.em.is_project(match.group(1)):
            raise not_found(f"Requested entity was not found: {resource}" if match else
                            f"Invalid resource name: {resource}")
        rest = match.group(2) or ""
        run = re.fullmatch(r"cloud_run-([a-z0-9-]+)(?:/services/([^/]+))?", rest)
        compute = re.fullmatch(r"compute(?:-([a-z0-9-]+))?(?:/services/([^/]+))?", rest)
        if run and run.group(2):
            key = self.em.key("run", f"v2/projects/{self.em.project_id}/locations/{run.group(1)}"
                                     f"/services/{run.group(2)}")
            if key not in self.em.resources:
                raise not_found(f"Cloud Run service {run.group(2)} in {run.group(1)} was not found "
                                f"(IAP resource {resource}).")
        elif compute and compute.group(2):
            where = f"regions/{compute.group(1)}" if compute.group(1) else "global"
            prefix = self.em.key("compute", f"compute/v1/projects/{self.em.project_id}/{where}/backendServices")
            name = compute.group(2)
            if not any(key == f"{prefix}/{name}" or value.get("id") == name
                       for key, value in self.em.children(prefix)):
                raise not_found(f"Backend service {name} was not found (IAP resource {resource}).")
        elif rest and not (run or compute or rest.startswith("appengine-")):
            raise invalid(f"Invalid IAP resource name: {resource}")
        return f"iap:projects/{self.em.project_id}/iap_web" + (f"/{rest}" if rest else "")

    def iam_key(self, call: Call) -> str:
        return self.target(call, call.params["resource"])

    def get_settings(self, call: Call) -> tuple:
        key = self.target(call, call.params["name"])
        stored = self.em.resources.get(key + ":iapSettings", {})
        return 200, dict(copy.deepcopy(stored), name=call.params["name"])

    def update_settings(self, call: Call) -> tuple:
        key = self.target(call, call.params["name"])
        body = copy.deepcopy(call.body or {})
        body.pop("name", None)
        current = self.em.resources.get(key + ":iapSettings", {})
        mask = call.arg("updateMask")
        if mask:  # IAP's mask paths start at the request (``iapSettings.accessSettings...``)
            mask = ",".join(re.sub(r"^iap_?[sS]ettings\.", "", part.strip()) for part in mask.split(","))
        updated = apply_mask(copy.deepcopy(current), body, mask) if mask else body
        self.em.put(key + ":iapSettings", updated)
        return 200, dict(copy.deepcopy(updated), name=call.params["name"])


# ----------------------------------------------------------------------------------------------------
# Compute v1
# ----------------------------------------------------------------------------------------------------
COMPUTE_ROOT = "https://www.googleapis.com/compute/v1/"
# Fields that name other compute resources, per collection (lists and nested lists as dotted paths).
COMPUTE_REFERENCES = {
    "backendServices": ["backends[].group", "securityPolicy", "healthChecks[]"],
    "urlMaps": ["defaultService", "pathMatchers[].defaultService", "pathMatchers[].pathRules[].service"],
    "targetHttpsProxies": ["urlMap", "sslCertificates[]", "sslPolicy"],
    "targetHttpProxies": ["urlMap"],
    "globalForwardingRules": ["target"],
}
ONE_OF_COMPUTE_COLLECTIONS = ("addresses", "globalAddresses", "networkEndpointGroups", "regionNetworkEndpointGroups",
                              "backendServices", "urlMaps", "sslCertificates", "targetHttpsProxies",
                              "targetHttpProxies", "globalForwardingRules", "globalOperations", "regionOperations")


class Compute(Behaviour):
    api_name = "compute"
    error_style = "apiary"

    def __init__(self, emulator):
        super().__init__(emulator)
        self.handlers = {"compute.globalOperations.get": self.operation_get,
                         "compute.regionOperations.get": self.operation_get,
                         "compute.globalOperations.wait": self.operation_wait,
                         "compute.regionOperations.wait": self.operation_wait}
        for name in self.api.methods:
            if name.split(".")[1] not in ONE_OF_COMPUTE_COLLECTIONS:
                self.handlers[name] = self.unimplemented

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated.", "UNIMPLEMENTED", "notImplemented")

    def check_body(self, call: Call) -> list:
        from .discovery import Violation

        body = call.body or {}
        if call.method.verb in ("insert", "update") and not body.get("name"):
            return [Violation("resource.name", "Invalid value for field 'resource.name': ''. Must be a match of regex "
                                               "'[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?'", "required")]
        return []

    def self_link(self, key: str) -> str:
        return COMPUTE_ROOT + key.split(":", 1)[1][len("compute/v1/"):]

    def missing(self, call: Call, key: str) -> ApiError:
        return not_found(f"The resource '{self._resource_path(key)}' was not found")

    @staticmethod
    def _resource_path(key: str) -> str:
        return key.split(":", 1)[1][len("compute/v1/"):]

    def conflict(self, call: Call, key: str, rid: str) -> ApiError:
        return ApiError(409, f"The resource '{self._resource_path(key)}' already exists", "ALREADY_EXISTS",
                        "alreadyExists")

    def reference(self, value: str, call_project: str) -> str:
        """A reference as compute stores it: a full ``https://www.googleapis.com/compute/v1/`` URL."""
        path = re.sub(r"^https://(www|compute)\.googleapis\.com/compute/(v1|beta|alpha)/", "", value)
        if not path.startswith("projects/"):
            path = f"projects/{call_project}/{path}"
        return COMPUTE_ROOT + self.em.canonical(path)

    def _walk_refs(self, document: dict, spec: str, change) -> None:
        head, unused, rest = spec.partition(".")
        many = head.endswith("[]")
        name = head.rstrip("[]")
        if name not in document:
            return
        if rest:
            for item in (document[name] if many else [document[name]]):
                if isinstance(item, dict):
                    self._walk_refs(item, rest, change)
        elif many:
            document[name] = [change(item) for item in document[name]]
        else:
            document[name] = change(document[name])

    def resolve_references(self, call: Call, collection: str, resource: dict) -> None:
        project = self.em.project_id

        def change(value):
            link = self.reference(value, project)
            key = "compute:compute/v1/" + link[len(COMPUTE_ROOT):]
            if key not in self.em.resources:
                raise ApiError(404, f"The resource '{link[len(COMPUTE_ROOT):]}' was not found", "NOT_FOUND", "notFound")
            return link

        for spec in COMPUTE_REFERENCES.get(collection, []):
            self._walk_refs(resource, spec, change)

    def on_create(self, call: Call, key: str, rid: str, body: dict) -> dict:
        collection = call.method.collection.split(".")[1]
        resource = copy.deepcopy(body)
        schema = self.api.schemas[self.api.methods[call.method.collection + ".get"].response]
        kind = schema["properties"].get("kind", {}).get("default")
        resource.update(kind=kind, id=random_digits(19), creationTimestamp=compute_timestamp(),
                        selfLink=self.self_link(key))
        region = re.search(r"/regions/([^/]+)/", key)
        if region:
            resource["region"] = f"{COMPUTE_ROOT}projects/{self.em.project_id}/regions/{region.group(1)}"
        self.resolve_references(call, collection, resource)
        self.fill(collection, resource, None)
        return resource

    def on_update(self, call: Call, key: str, current: dict, body: dict) -> dict:
        collection = call.method.collection.split(".")[1]
        # Compute documents the fingerprint as required on updates of these (optimistic locking).
        if collection in FINGERPRINT_REQUIRED and current.get("fingerprint") and not body.get("fingerprint"):
            raise ApiError(412, "Required field 'fingerprint' not specified: an up-to-date fingerprint must be provided "
                                "in order to update the {0}.".format(collection[:-1]), "FAILED_PRECONDITION", "conditionNotMet")
        if body.get("fingerprint") and current.get("fingerprint") and body["fingerprint"] != current["fingerprint"]:
            raise ApiError(412, "Supplied fingerprint does not match current fingerprint.", "FAILED_PRECONDITION",
                           "conditionNotMet")
        if body.get("name") and body["name"] != current["name"]:
            raise invalid("Invalid value for field 'resource.name': the name of a resource cannot change.")
        server = {k: current[k] for k in ("kind", "id", "creationTimestamp", "selfLink", "region") if k in current}
        if call.method.verb == "patch":
            updated = deep_merge(copy.deepcopy(current), body)
        else:
            updated = dict(copy.deepcopy(body))
        updated.update(server)
        self.resolve_references(call, collection, updated)
        self.fill(collection, updated, current)
        return updated

    def fill(self, collection: str, resource: dict, before: Optional[dict]) -> None:
        """The fields compute fills itself."""
        schema_props = self.api.schemas[{"globalAddresses": "Address", "addresses": "Address",
                                         "regionNetworkEndpointGroups": "NetworkEndpointGroup",
                                         "networkEndpointGroups": "NetworkEndpointGroup",
                                         "backendServices": "BackendService", "urlMaps": "UrlMap",
                                         "sslCertificates": "SslCertificate", "targetHttpsProxies": "TargetHttpsProxy",
                                         "targetHttpProxies": "TargetHttpProxy",
                                         "globalForwardingRules": "ForwardingRule"}[collection]]["properties"]
        if "fingerprint" in schema_props:
            resource["fingerprint"] = base64.b64encode(hashlib.sha256(
                json.dumps({k: v for k, v in resource.items() if k != "fingerprint"}, sort_keys=True).encode()
            ).digest()[:8]).decode()
        if "labelFingerprint" in schema_props:
            resource["labelFingerprint"] = base64.b64encode(hashlib.sha256(
                json.dumps(resource.get("labels", {}), sort_keys=True).encode()).digest()[:8]).decode()
        if collection == "globalAddresses":
            resource.setdefault("address", (before or {}).get("address") or
                                f"34.{int(random_digits(2)) % 200 + 10}.{int(random_digits(3)) % 250}."
                                f"{int(random_digits(3)) % 250 + 1}")
            resource.setdefault("addressType", "EXTERNAL")
            resource.setdefault("networkTier", "PREMIUM")
        elif collection == "regionNetworkEndpointGroups":
            if resource.get("cloudRun") or resource.get("appEngine") or resource.get("cloudFunction"):
                resource.setdefault("networkEndpointType", "SERVERLESS")
            resource["size"] = 0
        elif collection == "backendServices":
            resource.setdefault("protocol", "HTTP")
            resource.setdefault("timeoutSec", 30)
            resource.setdefault("loadBalancingScheme", "EXTERNAL")
            resource.setdefault("sessionAffinity", "NONE")
            resource.setdefault("affinityCookieTtlSec", 0)
            resource.setdefault("connectionDraining", {"drainingTimeoutSec": 300})
            if not any(k in resource for k in ("port", "portName")) and not self._serverless(resource):
                resource.update(port=80, portName="http")
            iap = resource.get("iap")
            if iap is not None:
                secret = iap.pop("oauth2ClientSecret", None)
                if secret:
                    iap["oauth2ClientSecretSha256"] = hashlib.sha256(secret.encode()).hexdigest()
                elif before and (before.get("iap") or {}).get("oauth2ClientSecretSha256") and iap.get("oauth2ClientId"):
                    iap["oauth2ClientSecretSha256"] = before["iap"]["oauth2ClientSecretSha256"]
                iap.setdefault("enabled", False)
        elif collection == "sslCertificates":
            if resource.get("managed") or resource.get("type") == "MANAGED":
                resource["type"] = "MANAGED"
                domains = (resource.get("managed") or {}).get("domains", [])
                resource["managed"] = {"domains": domains, "status": "PROVISIONING",
                                       "domainStatus": {domain: "PROVISIONING" for domain in domains}}
                resource["subjectAlternativeNames"] = list(domains)
            else:
                resource.setdefault("type", "SELF_MANAGED")
                resource.pop("privateKey", None)
                self._describe_certificate(resource)
        elif collection == "targetHttpsProxies":
            resource.setdefault("quicOverride", "NONE")
        elif collection == "globalForwardingRules":
            address = resource.get("IPAddress")
            if address and not re.fullmatch(r"[\d.]+|[0-9a-f:]+", address):
                link = self.reference(address, self.em.project_id)
                target = self.em.get("compute:compute/v1/" + link[len(COMPUTE_ROOT):])
                if target is None:
                    raise not_found(f"The resource '{link[len(COMPUTE_ROOT):]}' was not found")
                resource["IPAddress"] = target["address"]
            elif not address:
                resource["IPAddress"] = f"34.{int(random_digits(3)) % 250}.{int(random_digits(3)) % 250}.1"
            resource.setdefault("IPProtocol", "TCP")
            port = str(resource.get("portRange", ""))
            if port and "-" not in port:
                resource["portRange"] = f"{port}-{port}"
            resource.setdefault("loadBalancingScheme", "EXTERNAL")
            resource.setdefault("networkTier", "PREMIUM")

    @staticmethod
    def _serverless(resource: dict) -> bool:
        return any("/networkEndpointGroups/" in (backend.get("group") or "")
                   for backend in resource.get("backends", []))

    @staticmethod
    def _describe_certificate(resource: dict) -> None:
        try:
            from cryptography import x509  # pylint: disable=import-outside-toplevel
            from cryptography.x509.oid import ExtensionOID  # pylint: disable=import-outside-toplevel

            cert = x509.load_pem_x509_certificate(resource.get("certificate", "").encode())
        except (ValueError, ImportError):
            raise invalid("The SSL certificate could not be parsed.", "sslCertificateCouldNotParseCert") from None
        resource["expireTime"] = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S.000-00:00")
        try:
            names = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            resource["subjectAlternativeNames"] = [str(name.value) for name in names]
        except x509.ExtensionNotFound:
            pass

    def _users(self, link: str, by_address: Optional[str] = None) -> list:
        """Compute resources that reference ``link`` (or use the IP address ``by_address``)."""
        users = []
        for key, value in self.em.resources.items():
            if not key.startswith("compute:") or "/operations/" in key or value.get("selfLink") == link:
                continue
            text = json.dumps(public(value))
            if f'"{link}"' in text or (by_address and value.get("IPAddress") == by_address):
                users.append(value.get("selfLink", key))
        return users

    def before_delete(self, call: Call, key: str, resource: dict) -> None:
        users = self._users(resource["selfLink"], by_address=resource.get("address"))
        if users:
            kind = snake(call.method.collection.split(".")[1]).rstrip("s")
            raise ApiError(400, f"The {kind} resource '{self._resource_path(key)}' is already being used by "
                                f"'{users[0][len(COMPUTE_ROOT):]}'", "INVALID_ARGUMENT",
                           "resourceInUseByAnotherResource")

    def respond(self, call: Call, verb: str, key: str, resource: dict, before: Optional[dict] = None,
                stored: bool = True) -> tuple:
        region = re.search(r"/regions/([^/]+)/", key)
        scope = f"regions/{region.group(1)}" if region else "global"
        name = f"operation-{int(now() * 1000)}-{uuid.uuid4().hex[:13]}-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:8]}"
        op_type = {"create": "insert", "update": call.method.verb}.get(verb, verb)
        op_key = self.em.key("compute", f"compute/v1/projects/{self.em.project_id}/{scope}/operations/{name}")
        op = {"kind": "compute#operation", "id": random_digits(19), "name": name, "operationType": op_type,
              "targetLink": resource["selfLink"], "targetId": resource["id"], "user": call.caller.split(":", 1)[-1],
              "insertTime": compute_timestamp(), "startTime": compute_timestamp(), "selfLink": self.self_link(op_key),
              "_ready_at": Operation.deadline(self.em)}
        if region:
            op["region"] = f"{COMPUTE_ROOT}projects/{self.em.project_id}/regions/{region.group(1)}"
        self.em.put(op_key, op)
        return 200, self.render_operation(op)

    def render(self, call, key: str, resource: dict) -> dict:
        if "/operations/" in key:
            return self.render_operation(resource)
        document = public(resource)
        if document.get("kind") == "compute#address":
            users = self._users(resource["selfLink"], by_address=resource["address"])
            document["status"] = "IN_USE" if users else "RESERVED"
            if users:
                document["users"] = users
        return document

    @staticmethod
    def render_operation(op: dict) -> dict:
        document = public(op)
        if Operation.is_done(op):
            document.update(status="DONE", progress=100, endTime=compute_timestamp(op["_ready_at"]))
        else:
            document.update(status="RUNNING", progress=0)
        return document

    def operation_get(self, call: Call) -> tuple:
        key, op = self.lookup(call)
        return 200, self.render_operation(op)

    def operation_wait(self, call: Call) -> tuple:
        key = self.em.key("compute", call.path[: -len("/wait")])
        deadline = now() + 120  # compute's wait returns after at most two minutes, done or not
        while True:
            op = self.em.get(key)
            if op is None:
                raise self.missing(call, key)
            if Operation.is_done(op) or now() >= deadline:
                return 200, self.render_operation(op)
            self.em.changed.wait(timeout=0.2)

    def list_document(self, call: Call, items: list) -> dict:
        schema = self.api.schemas[call.method.response]
        document = {"kind": schema["properties"]["kind"].get("default"), "id": call.path[len("compute/v1/"):],
                    "selfLink": COMPUTE_ROOT + call.path[len("compute/v1/"):]}
        if items:
            document["items"] = items
        return document


# ----------------------------------------------------------------------------------------------------
# Cloud SQL Admin v1beta4
# ----------------------------------------------------------------------------------------------------
SQL_ROOT = "https://sqladmin.googleapis.com/sql/v1beta4/"


class SqlAdmin(Behaviour):
    api_name = "sqladmin"
    error_style = "apiary"
    resource_schema = "DatabaseInstance"

    def __init__(self, emulator):
        super().__init__(emulator)
        self.handlers = {"sql.users.list": self.users_list, "sql.users.insert": self.users_insert,
                         "sql.users.update": self.users_update, "sql.users.delete": self.users_delete,
                         "sql.users.get": self.users_get, "sql.operations.get": self.operation_get}
        for name in self.api.methods:
            collection = name.split(".")[1]
            if collection not in ("instances", "databases", "users", "operations") or (
                    collection == "instances" and name.split(".")[-1] not in
                    ("insert", "get", "list", "patch", "update", "delete")):
                self.handlers[name] = self.unimplemented

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated.", "UNIMPLEMENTED", "notImplemented")

    def body_label(self, method) -> str:
        return "body"

    def missing(self, call: Call, key: str) -> ApiError:
        if "/databases/" in key:
            return not_found("Not Found", "notFound")
        return ApiError(404, "The Cloud SQL instance does not exist.", "NOT_FOUND", "instanceDoesNotExist")

    def conflict(self, call: Call, key: str, rid: str) -> ApiError:
        if "/databases/" in key:
            return ApiError(409, f"Database \"{rid}\" already exists.", "ALREADY_EXISTS", "alreadyExists")
        return ApiError(409, "The Cloud SQL instance already exists.", "ALREADY_EXISTS", "instanceAlreadyExists")

    def resource_id(self, call: Call, body: dict) -> str:
        if not body.get("name"):
            raise invalid("Missing parameter: name.", "required")
        key = self.em.key("sqladmin", strip_verb(call.path)) + "/" + body["name"]
        if key in self.em.tombstones and "/databases/" not in key:
            raise ApiError(409, "The Cloud SQL instance already exists. When you delete an instance, you can't reuse "
                                "the name of the deleted instance until one week from the deletion date.",
                           "ALREADY_EXISTS", "instanceAlreadyExists")
        return body["name"]

    def _instance(self, call: Call) -> tuple:
        path = f"sql/v1beta4/projects/{call.params['project']}/instances/{call.params['instance']}"
        key = self.em.key("sqladmin", path)
        instance = self.em.get(key)
        if instance is None:
            raise self.missing(call, key)
        return key, instance

    def on_create(self, call: Call, key: str, rid: str, body: dict) -> dict:
        project = self.em.project_id
        if "/databases/" in key:
            self._instance(call)
            database = dict(body, kind="sql#database", project=project, instance=call.params["instance"],
                            selfLink=SQL_ROOT + key.split(":", 1)[1][len("sql/v1beta4/"):])
            database.setdefault("charset", "UTF8")
            database.setdefault("collation", "en_US.UTF8")
            database["etag"] = etag_of(database)
            return database
        if not (body.get("settings") or {}).get("tier"):
            raise invalid("Invalid request: Missing settings.tier.", "invalid")
        instance = copy.deepcopy(body)
        region = instance.setdefault("region", "us-central1")
        version = instance.setdefault("databaseVersion", "MYSQL_8_0")  # the API's default
        settings = instance["settings"]
        settings.update(kind="sql#settings", settingsVersion="1")
        settings.setdefault("availabilityType", "ZONAL")
        settings.setdefault("pricingPlan", "PER_USE")
        settings.setdefault("activationPolicy", "ALWAYS")
        settings.setdefault("dataDiskType", "PD_SSD")
        settings.setdefault("dataDiskSizeGb", "10")
        settings.setdefault("storageAutoResize", True)
        ip = settings.setdefault("ipConfiguration", {})
        ip.setdefault("ipv4Enabled", True)
        ip.setdefault("authorizedNetworks", [])
        addresses = []
        if ip.get("ipv4Enabled"):
            addresses.append({"type": "PRIMARY",
                              "ipAddress": f"34.{random_digits(2)}.{random_digits(2)}.{random_digits(2)}"})
        if ip.get("privateNetwork"):
            addresses.append({"type": "PRIVATE", "ipAddress": f"10.{random_digits(2)}.0.{random_digits(1)}"})
        created = rfc3339(digits=3)
        instance.update(
            kind="sql#instance", project=project, state="RUNNABLE", backendType="SECOND_GEN",
            instanceType=instance.get("instanceType", "CLOUD_SQL_INSTANCE"),
            connectionName=f"{project}:{region}:{rid}", gceZone=f"{region}-b", ipAddresses=addresses,
            selfLink=f"{SQL_ROOT}projects/{project}/instances/{rid}", createTime=created,
            serviceAccountEmailAddress=(f"p{self.em.project_number}-{random_letters(6)}"
                                        "@gcp-sa-cloud-sql.iam.gserviceaccount.com"),
            databaseInstalledVersion=version + ("_4" if version.startswith("POSTGRES") else ".40"),
            maintenanceVersion=version + "_R20261101.00_00",
            serverCaCert={"kind": "sql#sslCert", "certSerialNumber": "0", "commonName":
                          f"C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA,dnQualifier={uuid.uuid4()}",
                          "sha1Fingerprint": hashlib.sha1(rid.encode()).hexdigest(), "instance": rid,
                          "createTime": created, "expirationTime": rfc3339(now() + 10 * 365 * 86400, 3),
                          "cert": self._server_ca_pem()},
            _ready_at=Operation.deadline(self.em))
        instance.pop("rootPassword", None)
        instance["etag"] = etag_of(instance)
        # A new PostgreSQL instance has the postgres database and user, MySQL its system users.
        default_db = "postgres" if version.startswith("POSTGRES") else None
        if default_db:
            db_key = f"{key}/databases/{default_db}"
            self.em.put(db_key, {"kind": "sql#database", "name": default_db, "charset": "UTF8",
                                 "collation": "en_US.UTF8", "project": project, "instance": rid,
                                 "selfLink": SQL_ROOT + db_key.split(":", 1)[1][len("sql/v1beta4/"):], "etag": "1"})
        instance["_users"] = {("postgres" if default_db else "root", "" if default_db else "%"):
                              {"kind": "sql#user", "name": "postgres" if default_db else "root",
                               "host": "" if default_db else "%", "instance": rid, "project": project,
                               "etag": ""}}
        return instance

    @staticmethod
    def _server_ca_pem() -> str:
        """A real CA certificate (a client may parse it), of a CA made for this instance."""
        import trustme  # pylint: disable=import-outside-toplevel

        return trustme.CA(organization_name="Google, Inc").cert_pem.bytes().decode()

    def on_update(self, call: Call, key: str, current: dict, body: dict) -> dict:
        if "/databases/" in key:
            return dict(current, **{k: v for k, v in body.items() if k not in ("name", "instance", "project")})
        keep = {k: v for k, v in current.items() if k.startswith("_") or self._read_only(k) or k in (
            "kind", "project", "connectionName", "ipAddresses", "serverCaCert", "selfLink", "createTime", "gceZone",
            "backendType", "serviceAccountEmailAddress", "databaseInstalledVersion", "maintenanceVersion", "state",
            "region", "databaseVersion", "instanceType")}
        if call.method.verb == "patch":
            updated = deep_merge(copy.deepcopy(current), body)
        else:
            updated = dict(copy.deepcopy(body))
            if "settings" in updated:
                for field_name in ("kind", "availabilityType", "pricingPlan", "activationPolicy", "dataDiskType",
                                   "dataDiskSizeGb", "storageAutoResize"):
                    if field_name in current.get("settings", {}):
                        updated["settings"].setdefault(field_name, current["settings"][field_name])
        updated.update(keep)
        version = int(current.get("settings", {}).get("settingsVersion", "1"))
        given = (body.get("settings") or {}).get("settingsVersion")
        if given and str(given) != str(version):
            raise ApiError(412, "Precondition Failed: the settings version does not match; the instance changed.",
                           "FAILED_PRECONDITION", "staleData")
        updated.setdefault("settings", {})["settingsVersion"] = str(version + 1)
        updated["_ready_at"] = Operation.deadline(self.em)
        updated["etag"] = etag_of(updated)
        return updated

    def render(self, call, key: str, resource: dict) -> dict:
        document = public(resource)
        if "/databases/" not in key and now() < resource.get("_ready_at", 0) and resource.get("state"):
            document["state"] = "PENDING_CREATE" if resource["settings"]["settingsVersion"] == "1" else "RUNNABLE"
        return document

    def before_delete(self, call: Call, key: str, resource: dict) -> None:
        if "/databases/" not in key:
            if resource.get("settings", {}).get("deletionProtectionEnabled"):
                raise ApiError(400, "The instance is protected. Please disable the deletion protection and try again. "
                                    "To disable deletion protection, update the instance settings with "
                                    "deletionProtectionEnabled set to false.", "FAILED_PRECONDITION",
                               "instanceDeletionProtectionEnabled")
            self.em.tombstones[key] = now()

    def operation(self, call: Call, op_type: str, target_link: str, target_id: str) -> dict:
        name = str(uuid.uuid4())
        key = self.em.key("sqladmin", f"sql/v1beta4/projects/{self.em.project_id}/operations/{name}")
        op = {"kind": "sql#operation", "name": name, "operationType": op_type, "targetLink": target_link,
              "targetId": target_id, "targetProject": self.em.project_id, "user": call.caller.split(":", 1)[-1],
              "insertTime": rfc3339(digits=3), "selfLink": f"{SQL_ROOT}projects/{self.em.project_id}/operations/{name}",
              "_ready_at": Operation.deadline(self.em), "_started": now()}
        self.em.put(key, op)
        return self.render_operation(op)

    @staticmethod
    def render_operation(op: dict) -> dict:
        document = public(op)
        if Operation.is_done(op):
            document.update(status="DONE", startTime=rfc3339(op["_started"], 3), endTime=rfc3339(op["_ready_at"], 3))
        else:
            document.update(status="RUNNING", startTime=rfc3339(op["_started"], 3))
        return document

    def respond(self, call: Call, verb: str, key: str, resource: dict, before: Optional[dict] = None,
                stored: bool = True) -> tuple:
        database = "/databases/" in key
        op_type = {("create", False): "CREATE", ("update", False): "UPDATE", ("delete", False): "DELETE",
                   ("create", True): "CREATE_DATABASE", ("update", True): "UPDATE_DATABASE",
                   ("delete", True): "DELETE_DATABASE"}[(verb, database)]
        instance = call.params.get("instance") or resource.get("name")
        target = f"{SQL_ROOT}projects/{self.em.project_id}/instances/{instance}"
        if database:
            target = resource["selfLink"]
        return 200, self.operation(call, op_type, target, instance if not database else resource["name"])

    def operation_get(self, call: Call) -> tuple:
        key, op = self.lookup(call, self.em.key("sqladmin", call.path))
        return 200, self.render_operation(op)

    def list_document(self, call: Call, items: list) -> dict:
        kind = {"sql.instances.list": "sql#instancesList",
                "sql.databases.list": "sql#databasesList"}.get(call.method.id)
        document = {"kind": kind} if kind else {}
        if items:
            document["items"] = items
        return document

    # users: addressed by name and host as query parameters
    def _user_key(self, call: Call) -> tuple:
        name = call.params.get("name") or call.arg("name") or (call.body or {}).get("name")
        host = call.arg("host") or (call.body or {}).get("host") or ""
        return name, host

    def users_list(self, call: Call) -> tuple:
        unused, instance = self._instance(call)
        return 200, {"kind": "sql#usersList", "items": [copy.deepcopy(u) for u in instance["_users"].values()]}

    def users_get(self, call: Call) -> tuple:
        unused, instance = self._instance(call)
        user = instance["_users"].get(self._user_key(call))
        if user is None:
            raise not_found("Not Found")
        return 200, copy.deepcopy(user)

    def users_insert(self, call: Call) -> tuple:
        key, instance = self._instance(call)
        name, host = self._user_key(call)
        if not name:
            raise invalid("Missing parameter: name.", "required")
        if (name, host) in instance["_users"]:
            raise ApiError(409, f"User '{name}' already exists.", "ALREADY_EXISTS", "alreadyExists")
        user = {k: v for k, v in (call.body or {}).items() if k not in ("password", "kind")}
        user.update(kind="sql#user", name=name, host=host, instance=call.params["instance"],
                    project=self.em.project_id, etag="")
        if not host:
            user.pop("host")
        instance["_users"][(name, host)] = user
        return 200, self.operation(call, "CREATE_USER", instance["selfLink"], call.params["instance"])

    def users_update(self, call: Call) -> tuple:
        unused, instance = self._instance(call)
        name, host = self._user_key(call)
        user = instance["_users"].get((name, host))
        if user is None:
            raise not_found("Not Found")
        user.update({k: v for k, v in (call.body or {}).items() if k not in ("password", "kind", "name", "host")})
        return 200, self.operation(call, "UPDATE_USER", instance["selfLink"], call.params["instance"])

    def users_delete(self, call: Call) -> tuple:
        unused, instance = self._instance(call)
        key = self._user_key(call)
        if instance["_users"].pop(key, None) is None:
            raise not_found("Not Found")
        return 200, self.operation(call, "DELETE_USER", instance["selfLink"], call.params["instance"])


# ----------------------------------------------------------------------------------------------------
# Cloud Storage JSON API (buckets)
# ----------------------------------------------------------------------------------------------------
class Storage(Behaviour):
    api_name = "storage"
    error_style = "storage"
    resource_schema = "Bucket"

    def __init__(self, emulator):
        super().__init__(emulator)
        self.handlers = {"storage.buckets.getIamPolicy": self.get_policy,
                         "storage.buckets.setIamPolicy": self.set_policy,
                         "storage.buckets.testIamPermissions": self.test_permissions}
        for name in self.api.methods:
            if not name.startswith("storage.buckets.") or name.count(".") > 2:
                self.handlers[name] = self.unimplemented
            elif name.rsplit(".", 1)[1] not in ("insert", "get", "list", "patch", "update", "delete", "getIamPolicy",
                                                "setIamPolicy", "testIamPermissions"):
                self.handlers[name] = self.unimplemented

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated.", "UNIMPLEMENTED", "notImplemented")

    def item_key(self, call: Call) -> str:
        return f"storage:storage/v1/b/{call.params['bucket']}"

    def missing(self, call: Call, key: str) -> ApiError:
        return not_found("The specified bucket does not exist.")

    def conflict(self, call: Call, key: str, rid: str) -> ApiError:
        return ApiError(409, "Your previous request to create the named bucket succeeded and you already own it.",
                        "ALREADY_EXISTS", "conflict")

    def resource_id(self, call: Call, body: dict) -> str:
        name = body.get("name", "")
        if not name:
            raise invalid("Required", "required")
        if not re.fullmatch(r"[a-z0-9][-a-z0-9_.]{1,61}[a-z0-9]", name):
            raise invalid("Invalid bucket name: '%s'" % name, "invalid")
        if not self.em.is_project(call.arg("project", "")):
            raise ApiError(404, "The requested project was not found.", "NOT_FOUND", "notFound")
        return name

    def generic_create(self, call: Call) -> tuple:
        call.path = "storage/v1/b"
        return super().generic_create(call)

    def on_create(self, call: Call, key: str, rid: str, body: dict) -> dict:
        bucket = copy.deepcopy(body)
        created = rfc3339(digits=3)
        bucket.update(kind="storage#bucket", id=rid, selfLink=f"https://www.googleapis.com/storage/v1/b/{rid}",
                      projectNumber=self.em.project_number, metageneration="1", generation=random_digits(16),
                      timeCreated=created, updated=created)
        bucket["location"] = bucket.get("location", "US").upper()
        bucket["locationType"] = "multi-region" if bucket["location"] in ("US", "EU", "ASIA") else "region"
        bucket.setdefault("storageClass", "STANDARD")
        bucket.setdefault("rpo", "DEFAULT")
        bucket.setdefault("softDeletePolicy", {"retentionDurationSeconds": "604800", "effectiveTime": created})
        self._iam_configuration(bucket, created)
        bucket["etag"] = "CAE="
        return bucket

    @staticmethod
    def _iam_configuration(bucket: dict, moment: str) -> None:
        config = bucket.setdefault("iamConfiguration", {})
        ubla = config.get("uniformBucketLevelAccess") or config.get("bucketPolicyOnly") or {}
        enabled = bool(ubla.get("enabled"))
        entry = {"enabled": enabled}
        if enabled:
            entry["lockedTime"] = rfc3339(time.time() + 90 * 86400, 3)
        config["uniformBucketLevelAccess"] = entry
        config["bucketPolicyOnly"] = dict(entry)
        config.setdefault("publicAccessPrevention", "inherited")

    def on_update(self, call: Call, key: str, current: dict, body: dict) -> dict:
        metageneration = call.arg("ifMetagenerationMatch")
        if metageneration and metageneration != current["metageneration"]:
            raise ApiError(412, "Precondition Failed", "FAILED_PRECONDITION", "conditionNotMet")
        server = {k: current[k] for k in ("kind", "id", "selfLink", "projectNumber", "timeCreated", "generation",
                                          "location", "locationType", "name") if k in current}
        if call.method.verb == "patch":
            updated = deep_merge(copy.deepcopy(current), body)
        else:
            updated = copy.deepcopy(body)
            for field_name in ("storageClass", "rpo", "softDeletePolicy"):
                updated.setdefault(field_name, current.get(field_name))
        updated.update(server)
        metageneration = int(current["metageneration"]) + 1
        updated.update(metageneration=str(metageneration), updated=rfc3339(digits=3),
                       etag=base64.b64encode(bytes([8, metageneration])).decode())
        self._iam_configuration(updated, updated["updated"])
        return updated

    def respond(self, call: Call, verb: str, key: str, resource: dict, before: Optional[dict] = None,
                stored: bool = True) -> tuple:
        if verb == "delete":
            return 204, None
        return 200, self.render(call, key, resource)

    def render(self, call, key: str, resource: dict) -> dict:
        document = public(resource)
        if call is None or call.arg("projection") != "full":
            document.pop("acl", None)
            document.pop("defaultObjectAcl", None)
            document.pop("owner", None)
        else:
            document.setdefault("owner", {"entity": f"project-owners-{self.em.project_number}"})
        return document

    def generic_list(self, call: Call) -> tuple:
        if not self.em.is_project(call.arg("project", "")):
            raise ApiError(404, "The requested project was not found.", "NOT_FOUND", "notFound")
        items = [self.render(call, key, value) for key, value in self.em.children("storage:storage/v1/b")]
        return 200, dict({"kind": "storage#buckets"}, **({"items": items} if items else {}))

    def _policy(self, key: str) -> dict:
        bucket = key.rsplit("/", 1)[1]
        stored = self.em.policies.get(key)
        if stored:
            return copy.deepcopy(stored)
        project = self.em.project_id
        return {"kind": "storage#policy", "resourceId": f"projects/_/buckets/{bucket}", "version": 1, "etag": "CAE=",
                "bindings": [{"role": "roles/storage.legacyBucketOwner",
                              "members": [f"projectEditor:{project}", f"projectOwner:{project}"]},
                             {"role": "roles/storage.legacyBucketReader", "members": [f"projectViewer:{project}"]}]}

    def get_policy(self, call: Call) -> tuple:
        key, unused = self.lookup(call)
        return 200, self._policy(key)

    def set_policy(self, call: Call) -> tuple:
        key, unused = self.lookup(call)
        current = self._policy(key)
        body = copy.deepcopy(call.body or {})
        if body.get("etag") and body["etag"] != current["etag"]:
            raise ApiError(412, "Precondition Failed", "FAILED_PRECONDITION", "conditionNotMet")
        for binding in body.get("bindings", []):
            for member in binding.get("members", []):
                if not re.match(r"^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|projectOwner|"
                                r"projectEditor|projectViewer|principal|principalSet):.+)$", member):
                    raise invalid("Invalid argument.", "invalid")
        version = base64.b64decode(current["etag"])[-1] + 1
        body.update(kind="storage#policy", resourceId=current["resourceId"], version=body.get("version", 1),
                    etag=base64.b64encode(bytes([8, version])).decode())
        self.em.policies[key] = body
        return 200, copy.deepcopy(body)

    def test_permissions(self, call: Call) -> tuple:
        self.lookup(call)
        return 200, {"kind": "storage#testIamPermissionsResponse", "permissions": call.query.get("permissions", [])}


# ----------------------------------------------------------------------------------------------------
# Secret Manager v1
# ----------------------------------------------------------------------------------------------------
class SecretManager(Behaviour):
    api_name = "secretmanager"

    def __init__(self, emulator):
        super().__init__(emulator)
        versions = "secretmanager.projects.secrets.versions."
        self.handlers = {"secretmanager.projects.secrets.addVersion": self.add_version,
                         versions + "get": self.version_get, versions + "access": self.version_access,
                         versions + "list": self.version_list, versions + "enable": self.version_state,
                         versions + "disable": self.version_state, versions + "destroy": self.version_state}
        for name in self.api.methods:
            if name.startswith("secretmanager.projects.locations") or name in (
                    "secretmanager.projects.secrets.rotateSecret",
                    "secretmanager.projects.secrets.enableManagedRotation"):
                self.handlers[name] = self.unimplemented

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated (global secrets only).", "UNIMPLEMENTED")

    def resource_id(self, call: Call, body: dict) -> str:
        secret_id = call.arg("secretId")
        if not secret_id:
            raise invalid("Invalid resource field value in the request.", violations=[("secret_id", "required")])
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", secret_id):
            raise invalid("Invalid resource field value in the request.",
                          violations=[("secret_id", "must match [a-zA-Z_0-9-]{1,255}")])
        if not body.get("replication"):
            raise invalid("Secret.replication is required.", violations=[("secret.replication", "required")])
        return secret_id

    def missing(self, call: Call, key: str) -> ApiError:
        path = key.split(":", 1)[1][3:]
        kind = "Secret Version" if "/versions/" in path else "Secret"
        return not_found(f"{kind} [{self._numbered(path)}] not found or has no versions." if "/versions/" in path
                         else f"{kind} [{self._numbered(path)}] not found.")

    def conflict(self, call: Call, key: str, rid: str) -> ApiError:
        return ApiError(409, f"Secret [{self._numbered(key.split(':', 1)[1][3:])}] already exists.", "ALREADY_EXISTS")

    def _numbered(self, path: str) -> str:
        """Secret Manager names resources with the project number, whatever the request used."""
        return re.sub(r"^projects/[^/]+", f"projects/{self.em.project_number}", path)

    def on_create(self, call: Call, key: str, rid: str, body: dict) -> dict:
        secret = copy.deepcopy(body)
        secret.update(name=self._numbered(key.split(":", 1)[1][3:]), createTime=rfc3339(), _next_version=1)
        secret["etag"] = f'"{uuid.uuid4().hex[:14]}"'
        return secret

    def on_update(self, call: Call, key: str, current: dict, body: dict) -> dict:
        mask = call.arg("updateMask")
        if not mask:
            raise invalid("update_mask is required.", violations=[("update_mask", "required")])
        updated = apply_mask(copy.deepcopy(current), body, mask)
        updated["etag"] = f'"{uuid.uuid4().hex[:14]}"'
        return updated

    def check_etag(self, call: Call, current: dict) -> None:
        given = (call.body or {}).get("etag") or call.arg("etag")
        if given and given != current.get("etag"):
            raise ApiError(409, "The etag provided in the request does not match the current etag of the resource.",
                           "ABORTED")

    def generic_delete(self, call: Call) -> tuple:
        key, current = self.lookup(call)
        self.check_etag(call, current)
        return super().generic_delete(call)

    def _secret(self, call: Call, name: str) -> tuple:
        key = self.em.key("secretmanager", "v1/" + name)
        secret = self.em.get(key)
        if secret is None:
            raise self.missing(call, key)
        return key, secret

    def add_version(self, call: Call) -> tuple:
        key, secret = self._secret(call, call.params["parent"])
        payload = (call.body or {}).get("payload") or {}
        data = payload.get("data", "")
        raw = base64.b64decode(data)
        if "dataCrc32c" in payload and str(zlib.crc32(raw) & 0xFFFFFFFF) != str(payload["dataCrc32c"]):
            raise invalid("Checksum mismatch: the data_crc32c of the payload does not match the data.")
        number = secret["_next_version"]
        secret["_next_version"] = number + 1
        version = {"name": f"{secret['name']}/versions/{number}", "createTime": rfc3339(), "state": "ENABLED",
                   "etag": f'"{uuid.uuid4().hex[:14]}"', "replicationStatus": {"automatic": {}},
                   "clientSpecifiedPayloadChecksum": "dataCrc32c" in payload, "_data": data, "_number": number}
        self.em.put(f"{key}/versions/{number}", version)
        return 200, public(version)

    def _version(self, call: Call) -> tuple:
        name = call.params["name"]
        secret_name, unused, version_id = name.rpartition("/versions/")
        key, secret = self._secret(call, secret_name)
        versions = [v for k, v in self.em.children(key + "/versions")]
        if version_id == "latest":
            candidates = [v for v in versions if v["state"] == "ENABLED"]
            if not candidates:
                raise not_found(f"Secret Version [{secret['name']}/versions/latest] not found or has no versions.")
            version = max(candidates, key=lambda v: v["_number"])
        else:
            version = next((v for v in versions if str(v["_number"]) == version_id), None)
            if version is None:
                raise not_found(f"Secret Version [{secret['name']}/versions/{version_id}] not found.")
        return f"{key}/versions/{version['_number']}", version

    def version_get(self, call: Call) -> tuple:
        unused, version = self._version(call)
        return 200, public(version)

    def version_access(self, call: Call) -> tuple:
        unused, version = self._version(call)
        if version["state"] != "ENABLED":
            raise ApiError(400, f"Secret Version [{version['name']}] is in {version['state']} state.",
                           "FAILED_PRECONDITION")
        raw = base64.b64decode(version["_data"])
        payload = {"data": version["_data"], "dataCrc32c": str(zlib.crc32(raw) & 0xFFFFFFFF)}
        return 200, {"name": version["name"], "payload": payload}

    def version_list(self, call: Call) -> tuple:
        key, unused = self._secret(call, call.params["parent"])
        versions = sorted((v for unused, v in self.em.children(key + "/versions")), key=lambda v: -v["_number"])
        wanted = call.arg("filter", "")
        if wanted.startswith("state:"):
            versions = [v for v in versions if v["state"] == wanted.split(":", 1)[1].strip().upper()]
        document = {"totalSize": len(versions)}
        if versions:
            document["versions"] = [public(v) for v in versions]
        return 200, document

    def version_state(self, call: Call) -> tuple:
        key, version = self._version(call)
        given = (call.body or {}).get("etag")
        if given and given != version["etag"]:
            raise ApiError(409, "The etag provided in the request does not match the current etag of the resource.",
                           "ABORTED")
        verb = call.method.verb
        if version["state"] == "DESTROYED":
            raise ApiError(400, f"Secret Version [{version['name']}] is in DESTROYED state.", "FAILED_PRECONDITION")
        version["state"] = {"enable": "ENABLED", "disable": "DISABLED", "destroy": "DESTROYED"}[verb]
        if verb == "destroy":
            version["_data"] = ""
            version["destroyTime"] = rfc3339()
        version["etag"] = f'"{uuid.uuid4().hex[:14]}"'
        return 200, public(version)

    def render(self, call, key: str, resource: dict) -> dict:
        return public(resource)


# ----------------------------------------------------------------------------------------------------
# IAM v1: service accounts
# ----------------------------------------------------------------------------------------------------
class Iam(Behaviour):
    api_name = "iam"
    resource_schema = "ServiceAccount"

    def __init__(self, emulator):
        super().__init__(emulator)
        self.handlers = {"iam.projects.serviceAccounts.create": self.create}
        for name in self.api.methods:
            if not name.startswith("iam.projects.serviceAccounts.") or name.count(".") > 3 or name.rsplit(".", 1)[1] \
                    not in ("create", "get", "list", "patch", "update", "delete", "getIamPolicy", "setIamPolicy",
                            "testIamPermissions"):
                self.handlers.setdefault(name, self.unimplemented)

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated.", "UNIMPLEMENTED")

    def body_label(self, method) -> str:
        return ""

    def body_required(self, method) -> bool:
        return method.verb in ("create", "patch", "update")

    def _account_key(self, project: str, account: str) -> Optional[str]:
        prefix = self.em.key("iam", f"v1/projects/{self.em.project_id}/serviceAccounts")
        for key, value in self.em.children(prefix):
            if account in (value["email"], value["uniqueId"]):
                return key
        return None

    def item_key(self, call: Call) -> str:
        name = strip_verb(call.path)[3:]
        match = re.fullmatch(r"projects/([^/]+)/serviceAccounts/([^/]+)", name)
        if match and (match.group(1) == "-" or self.em.is_project(match.group(1))):
            return self._account_key(match.group(1), match.group(2)) or f"iam:missing/{name}"
        return f"iam:missing/{name}"

    def missing(self, call: Call, key: str) -> ApiError:
        return not_found("Unknown service account", "notFound")

    def create(self, call: Call) -> tuple:
        body = call.body or {}
        account_id = body.get("accountId", "")
        project = call.params["name"].split("/")[1]
        if not self.em.is_project(project):
            raise not_found(f"Project {project} was not found.")
        if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", account_id) or not 6 <= len(account_id) <= 30:
            raise invalid("Invalid account_id: it must be 6 to 30 lowercase letters, digits or hyphens, start with a "
                          "letter and not end with a hyphen.", violations=[("account_id", "invalid")])
        email = f"{account_id}@{self.em.project_id}.iam.gserviceaccount.com"
        if self._account_key(project, email):
            raise ApiError(409, f"Service account {account_id} already exists within project "
                                f"projects/{self.em.project_id}.", "ALREADY_EXISTS")
        account = copy.deepcopy(body.get("serviceAccount") or {})
        unique = random_digits(21)
        account.update(name=f"projects/{self.em.project_id}/serviceAccounts/{email}", projectId=self.em.project_id,
                       uniqueId=unique, email=email, oauth2ClientId=unique,
                       etag=base64.b64encode(b"\x00" + uuid.uuid4().bytes[:6]).decode())
        self.em.put(self.em.key("iam", f"v1/projects/{self.em.project_id}/serviceAccounts/{unique}"), account)
        return 200, public(account)

    def on_update(self, call: Call, key: str, current: dict, body: dict) -> dict:
        if call.method.verb == "patch":
            mask = body.get("updateMask", "")
            if not mask:
                raise invalid("update_mask is required.", violations=[("update_mask", "required")])
            updated = apply_mask(copy.deepcopy(current), body.get("serviceAccount", {}), mask)
        else:
            updated = dict(current, **{k: v for k, v in body.items() if k in ("displayName", "description")})
        updated["etag"] = base64.b64encode(b"\x00" + uuid.uuid4().bytes[:6]).decode()
        return updated

    def check_etag(self, call: Call, current: dict) -> None:
        body = call.body or {}
        given = body.get("etag") or (body.get("serviceAccount") or {}).get("etag")
        if given and given != current["etag"]:
            raise ApiError(409, "There were concurrent policy changes. Please retry the whole read-modify-write with "
                                "exponential backoff.", "ABORTED")

    def generic_list(self, call: Call) -> tuple:
        prefix = self.em.key("iam", f"v1/projects/{self.em.project_id}/serviceAccounts")
        items = [public(value) for unused, value in self.em.children(prefix)]
        return 200, ({"accounts": items} if items else {})


# ----------------------------------------------------------------------------------------------------
# Resource Manager v1: the project
# ----------------------------------------------------------------------------------------------------
class ResourceManager(Behaviour):
    api_name = "cloudresourcemanager"

    def __init__(self, emulator):
        super().__init__(emulator)
        self.handlers = {"cloudresourcemanager.projects.get": self.get_project}
        for name in self.api.methods:
            if not name.startswith("cloudresourcemanager.projects.") or name.rsplit(".", 1)[1] not in (
                    "get", "getIamPolicy", "setIamPolicy", "testIamPermissions"):
                self.handlers[name] = self.unimplemented

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated (only the one project: get and IAM).", "UNIMPLEMENTED")

    def body_label(self, method) -> str:
        return ""

    def body_required(self, method) -> bool:
        return method.verb == "setIamPolicy"

    def _check(self, project: str) -> str:
        if not self.em.is_project(project):
            raise ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")
        return f"cloudresourcemanager:projects/{self.em.project_id}"

    def get_project(self, call: Call) -> tuple:
        self._check(call.params["projectId"])
        return 200, {"projectNumber": self.em.project_number, "projectId": self.em.project_id,
                     "lifecycleState": "ACTIVE", "name": self.em.project_id, "createTime": "2026-01-05T10:00:00.000Z",
                     "parent": {"type": "organization", "id": "987654321098"}}

    def iam_key(self, call: Call) -> str:
        return self._check(call.params["resource"])

    def policy(self, key: str) -> dict:
        return self.em.policies.get(key) or {
            "version": 1, "etag": "BwYAAAAAAAA=",
            "bindings": [{"role": "roles/owner", "members": ["user:owner@example.com"]}]}


# ----------------------------------------------------------------------------------------------------
# Service Usage v1
# ----------------------------------------------------------------------------------------------------
ENABLED_BY_DEFAULT = ("bigquery.googleapis.com", "cloudapis.googleapis.com", "logging.googleapis.com",
                      "monitoring.googleapis.com", "serviceusage.googleapis.com", "storage.googleapis.com",
                      "storage-api.googleapis.com", "storage-component.googleapis.com")


class ServiceUsage(Behaviour):
    api_name = "serviceusage"

    def __init__(self, emulator):
        super().__init__(emulator)
        self.lro = LongRunning(self, "type.googleapis.com/google.api.serviceusage.v1.OperationMetadata",
                               "type.googleapis.com/google.api.serviceusage.v1.EnableServiceResponse")
        self.handlers = {"serviceusage.services.get": self.get_service,
                         "serviceusage.services.list": self.list_services,
                         "serviceusage.services.enable": self.enable, "serviceusage.services.disable": self.disable,
                         "serviceusage.services.batchEnable": self.batch_enable,
                         "serviceusage.services.batchGet": self.batch_get,
                         "serviceusage.operations.get": self.operation_get,
                         "serviceusage.operations.list": self.unimplemented,
                         "serviceusage.operations.cancel": self.unimplemented,
                         "serviceusage.operations.delete": self.unimplemented}

    def unimplemented(self, call: Call) -> tuple:
        raise ApiError(501, f"{call.method.id} is not emulated.", "UNIMPLEMENTED")

    def body_required(self, method) -> bool:
        return method.verb == "batchEnable"

    def seed(self) -> None:
        self.em.resources["serviceusage:enabled"] = {"services": set(ENABLED_BY_DEFAULT)}

    @property
    def enabled(self) -> set:
        return self.em.resources["serviceusage:enabled"]["services"]

    def _parent(self, parent: str) -> str:
        match = re.fullmatch(r"projects/([^/]+)", parent)
        if not match or not self.em.is_project(match.group(1)):
            raise ApiError(403, f"Permission denied to access {parent} (or it may not exist).", "PERMISSION_DENIED")
        return f"projects/{self.em.project_number}"

    def _service(self, name: str) -> dict:
        parent, unused, service = name.partition("/services/")
        parent = self._parent(parent)
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.(googleapis\.com|goog)", service):
            raise ApiError(403, f"Not found or permission denied for service(s): {service}.", "PERMISSION_DENIED")
        return {"name": f"{parent}/services/{service}", "parent": parent,
                "config": {"name": service, "title": service.split(".")[0].replace("-", " ").title() + " API"},
                "state": "ENABLED" if service in self.enabled else "DISABLED"}

    def get_service(self, call: Call) -> tuple:
        return 200, self._service(call.params["name"])

    def list_services(self, call: Call) -> tuple:
        parent = self._parent(call.params["parent"])
        services = [self._service(f"{parent}/services/{name}") for name in sorted(self.enabled)]
        if call.arg("filter") == "state:DISABLED":
            services = []
        return 200, {"services": services} if services else {}

    def batch_get(self, call: Call) -> tuple:
        parent = call.params["parent"]
        names = call.query.get("names", [])
        return 200, {"services": [self._service(name if name.startswith("projects/") else f"{parent}/services/{name}")
                                  for name in names]}

    def _operation(self, kind: str, response: dict) -> dict:
        name = f"operations/acf.p2-{self.em.project_number}-{uuid.uuid4()}"
        op = self.lro.start(name, response, metadata={"resourceNames": []},
                            response_type=f"type.googleapis.com/google.api.serviceusage.v1.{kind}")
        return self.lro.render(op)

    def enable(self, call: Call) -> tuple:
        service = self._service(call.params["name"])
        if service["state"] == "ENABLED":
            # Enabling an enabled service answers an operation that is already done.
            return 200, {"name": "operations/noop.DONE_OPERATION", "done": True, "response": {
                "@type": "type.googleapis.com/google.api.serviceusage.v1.EnableServiceResponse", "service": service}}
        self.enabled.add(service["config"]["name"])
        service["state"] = "ENABLED"
        return 200, self._operation("EnableServiceResponse", {"service": service})

    def disable(self, call: Call) -> tuple:
        service = self._service(call.params["name"])
        self.enabled.discard(service["config"]["name"])
        service["state"] = "DISABLED"
        return 200, self._operation("DisableServiceResponse", {"service": service})

    def batch_enable(self, call: Call) -> tuple:
        ids = (call.body or {}).get("serviceIds", [])
        if not ids or len(ids) > 20:
            raise invalid("service_ids: between 1 and 20 services may be enabled at once.")
        services = [self._service(f"{call.params['parent']}/services/{name}") for name in ids]
        for service in services:
            self.enabled.add(service["config"]["name"])
            service["state"] = "ENABLED"
        return 200, self._operation("BatchEnableServicesResponse", {"services": services})

    def operation_get(self, call: Call) -> tuple:
        op = self.em.get(self.em.key("serviceusage", "v1/" + call.params["name"]))
        if op is None:
            raise not_found(f"Operation {call.params['name']} not found.")
        return 200, self.lro.render(op)


BEHAVIOURS = {"run": Run, "iap": Iap, "compute": Compute, "sqladmin": SqlAdmin, "storage": Storage,
              "secretmanager": SecretManager, "iam": Iam, "cloudresourcemanager": ResourceManager,
              "serviceusage": ServiceUsage}
