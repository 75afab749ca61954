"""An in-memory stand-in for the Google APIs the GCP modules call, behind a requests-like session.

``FakeGoogle`` answers Cloud Run v2 services (with long-running operations, revisions and IAM policies), IAP settings
and IAM policies, compute regional network endpoint groups and backend services (compute operations) and Resource
Manager projects, filling in what the real APIs fill in (ports named http1, a default startup probe, cpu as "1000m",
launchStage, uri, conditions...). ``google.requests`` records every call; ``google.mutating()`` those that are not reads.
``install(monkeypatch, google)`` makes every GcpModule use it, with a clock that only moves when the code sleeps.
"""

import copy
import json
import re
from urllib.parse import urlparse

from ansible_collections.mlops.mlflow.plugins.module_utils import gcp_api

PROJECT = "test-project"
PROJECT_NUMBER = "123456789012"
REGION = "europe-west1"
AUTH = {"project": PROJECT, "auth_kind": "accesstoken", "access_token": "test-token"}


class FakeResponse(object):
    def __init__(self, status_code, body=None, headers=None):
        self.status_code = status_code
        self._body = body
        self.headers = headers or {}
        self.content = b"" if body is None else json.dumps(body).encode()
        self.text = self.content.decode()

    def json(self):
        return json.loads(self.content)


def error(code, status, message):
    return FakeResponse(code, {"error": {"code": code, "status": status, "message": message}})


class FakeGoogle(object):
    def __init__(self):
        self.requests = []
        self.services = {}
        self.revisions = {}
        self.operations = {}
        self.iam = {}
        self.iap_settings = {}
        self.negs = {}
        self.backend_services = {}
        self.fail_next_revision = None  # a message: the next revision of any service fails with it
        self.queued = []  # (method, url substring, FakeResponse): answered once before anything else
        self.counter = 0

    def mutating(self):
        return [(method, url) for method, url, _body in self.requests
                if method != "GET" and not url.endswith(":getIamPolicy")]

    # --- the session -------------------------------------------------------------------------------------------------------

    def request(self, method, url, params=None, json=None, timeout=None, headers=None):
        self.requests.append((method, url, copy.deepcopy(json)))
        for index, (want_method, fragment, response) in enumerate(self.queued):
            if want_method == method and fragment in url:
                del self.queued[index]
                if isinstance(response, Exception):
                    raise response
                return response
        parsed = urlparse(url)
        path = parsed.path
        params = params or {}
        if parsed.netloc == "run.googleapis.com":
            return self.run(method, path[len("/v2/"):], params, json)
        if parsed.netloc == "iap.googleapis.com":
            return self.iap(method, path[len("/v1/"):], json)
        if parsed.netloc == "compute.googleapis.com":
            return self.compute(method, path[len("/compute/v1/"):], json)
        if parsed.netloc == "cloudresourcemanager.googleapis.com":
            return FakeResponse(200, {"projectId": PROJECT, "projectNumber": PROJECT_NUMBER})
        return error(404, "NOT_FOUND", "no such API " + url)

    # --- Cloud Run ---------------------------------------------------------------------------------------------------------

    def operation(self, name, response=None, failure=None):
        self.counter += 1
        op_name = "projects/{0}/locations/{1}/operations/op-{2}".format(PROJECT, REGION, self.counter)
        operation = {"name": op_name, "done": False, "metadata": {"name": name}}
        final = dict(operation, done=True)
        if failure:
            final["error"] = {"code": 9, "message": failure}
        else:
            final["response"] = response
        self.operations[op_name] = final
        return FakeResponse(200, operation)

    def fill(self, name, body, generation):
        service = copy.deepcopy(body)
        short = name.rsplit("/", 1)[1]
        service.update(name=name, uid="uid-" + short, generation=str(generation), launchStage="GA", client="gcloud",
                       uri="https://{0}-abcdefghij-ew.a.run.app".format(short), creator="someone@example.com")
        service.setdefault("ingress", "INGRESS_TRAFFIC_ALL")
        template = service.setdefault("template", {})
        template.setdefault("maxInstanceRequestConcurrency", 80)
        template.setdefault("timeout", "300s")
        template.setdefault("serviceAccount", PROJECT_NUMBER + "-compute@developer.gserviceaccount.com")
        template.setdefault("scaling", {}).setdefault("maxInstanceCount", 100)
        for container in template.get("containers") or []:
            container.setdefault("ports", [{"containerPort": 8080}])
            for port in container["ports"]:
                port.setdefault("name", "http1")
            limits = container.setdefault("resources", {}).setdefault("limits", {"cpu": "1000m", "memory": "512Mi"})
            if limits.get("cpu") == "1":
                limits["cpu"] = "1000m"
            container.setdefault("startupProbe", {"timeoutSeconds": 240, "periodSeconds": 240, "failureThreshold": 1,
                                                  "tcpSocket": {"port": container["ports"][0]["containerPort"]}})
            for probe in (container.get("startupProbe"), container.get("livenessProbe")):
                if probe and probe.get("initialDelaySeconds") == 0:
                    del probe["initialDelaySeconds"]
        for key in ("iapEnabled", "invokerIamDisabled"):
            if service.get(key) is False:
                del service[key]
        revision = "{0}/revisions/{1}-{2:05d}-abc".format(name, short, generation)
        service["latestCreatedRevision"] = revision
        failure = self.fail_next_revision
        self.fail_next_revision = None
        if failure:
            service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_FAILED", "message": "Revision '{0}' is not ready and cannot "
                                            "serve traffic.".format(revision.rsplit("/", 1)[1])}
            self.revisions[revision] = {"name": revision, "conditions": [{"type": "Ready", "state": "CONDITION_FAILED", "message": failure,
                                                                          "reason": "ContainerMissing"}]}
            previous = self.services.get(name, {}).get("latestReadyRevision")
            if previous:
                service["latestReadyRevision"] = previous
        else:
            service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_SUCCEEDED"}
            service["latestReadyRevision"] = revision
            self.revisions[revision] = {"name": revision, "conditions": [{"type": "Ready", "state": "CONDITION_SUCCEEDED"}]}
        service["conditions"] = [{"type": "RoutesReady", "state": service["terminalCondition"]["state"]}]
        return service, failure

    def run(self, method, path, params, body):
        if path.endswith(":getIamPolicy"):
            return FakeResponse(200, copy.deepcopy(self.iam.get(path[:-len(":getIamPolicy")], {"etag": "BwX="})))
        if path.endswith(":setIamPolicy"):
            policy = dict(body["policy"], etag="BwY=")
            self.iam[path[:-len(":setIamPolicy")]] = policy
            return FakeResponse(200, policy)
        if path.startswith("projects/{0}/locations/{1}/operations/".format(PROJECT, REGION)):
            return FakeResponse(200, self.operations[path])
        if "/revisions/" in path:
            return FakeResponse(200, self.revisions[path]) if path in self.revisions else error(404, "NOT_FOUND", "no revision")
        if method == "POST" and path.endswith("/services"):
            name = "{0}/{1}".format(path, params["serviceId"])
            if name in self.services:
                return error(409, "ALREADY_EXISTS", "Resource '{0}' already exists.".format(params["serviceId"]))
            service, failure = self.fill(name, body, 1)
            self.services[name] = service
            return self.operation(name, service, failure and service["terminalCondition"]["message"] + " " + failure)
        if path not in self.services:
            return error(404, "NOT_FOUND", "Resource '{0}' was not found".format(path.rsplit("/", 1)[-1]))
        if method == "GET":
            return FakeResponse(200, copy.deepcopy(self.services[path]))
        if method == "PATCH":
            current = self.services[path]
            service, failure = self.fill(path, body, int(current["generation"]) + 1)
            self.services[path] = service
            return self.operation(path, service, failure and service["terminalCondition"]["message"] + " " + failure)
        if method == "DELETE":
            service = self.services.pop(path)
            return self.operation(path, service)
        return error(400, "INVALID_ARGUMENT", "unexpected " + method)

    # --- IAP ---------------------------------------------------------------------------------------------------------------

    def iap(self, method, path, body):
        if path.endswith(":iapSettings"):
            name = path[:-len(":iapSettings")]
            settings = self.iap_settings.setdefault(name, {"name": name})
            if method == "PATCH":
                for section in ("accessSettings", "applicationSettings"):
                    for key, value in (body.get(section) or {}).items():
                        settings.setdefault(section, {})[key] = value
            return FakeResponse(200, copy.deepcopy(settings))
        if path.endswith(":getIamPolicy"):
            return FakeResponse(200, copy.deepcopy(self.iam.get(path[:-len(":getIamPolicy")], {"etag": "ACAB"})))
        if path.endswith(":setIamPolicy"):
            policy = dict(body["policy"], etag="BwZ=")
            self.iam[path[:-len(":setIamPolicy")]] = policy
            return FakeResponse(200, policy)
        return error(404, "NOT_FOUND", "no such IAP method")

    # --- compute -----------------------------------------------------------------------------------------------------------

    def compute_operation(self, target, failure=None):
        self.counter += 1
        link = "https://www.googleapis.com/compute/v1/projects/{0}/regions/{1}/operations/operation-{2}".format(PROJECT, REGION, self.counter)
        final = {"kind": "compute#operation", "name": "operation-{0}".format(self.counter), "status": "DONE", "selfLink": link,
                 "targetLink": target}
        if failure:
            final["error"] = {"errors": [{"code": "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", "message": failure}]}
            final["httpErrorStatusCode"] = 400
        self.operations[link.split("/compute/v1/", 1)[1]] = final
        return FakeResponse(200, dict(final, status="RUNNING", error=None))

    def compute(self, method, path, body):
        if "/operations/" in path:
            return FakeResponse(200, self.operations[path])
        if "/backendServices/" in path:
            if path not in self.backend_services:
                return error(404, "NOT_FOUND", "The resource '{0}' was not found".format(path))
            if method == "PATCH":
                self.backend_services[path].update(body)
                return self.compute_operation(path)
            return FakeResponse(200, copy.deepcopy(self.backend_services[path]))
        if method == "POST" and path.endswith("/networkEndpointGroups"):
            name = "{0}/{1}".format(path, body["name"])
            self.negs[name] = dict(body, kind="compute#networkEndpointGroup", id="42", size=0,
                                   selfLink="https://www.googleapis.com/compute/v1/" + name,
                                   region="https://www.googleapis.com/compute/v1/projects/{0}/regions/{1}".format(PROJECT, REGION))
            return self.compute_operation(name)
        if path not in self.negs:
            return FakeResponse(404, {"error": {"code": 404, "message": "The resource '{0}' was not found".format(path),
                                                "errors": [{"reason": "notFound", "message": "The resource was not found"}]}})
        if method == "GET":
            return FakeResponse(200, copy.deepcopy(self.negs[path]))
        if method == "DELETE":
            if self.negs[path].get("in_use"):
                return self.compute_operation(path, failure="The network_endpoint_group resource '{0}' is already being used by "
                                                            "'mlflow-backend'".format(path))
            del self.negs[path]
            return self.compute_operation(path)
        return error(400, "INVALID_ARGUMENT", "unexpected " + method)


class FakeClock(object):
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def install(monkeypatch, google, clock=None):
    """Every GcpModule's client answers from ``google``; returns the clock its waits use."""
    clock = clock or FakeClock()

    def client(module):
        return gcp_api.GcpClient(session=google, sleep=clock.sleep, clock=clock.clock, rng=lambda: 0.5)

    monkeypatch.setattr(gcp_api.GcpModule, "client", client)
    return clock


def mutating_urls(google):
    return [re.sub(r"https://[^/]+/", "", url) for _method, url in google.mutating()]
