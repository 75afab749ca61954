"""gcp_sql_user, gcp_sql_database_instance, gcp_iam_member, gcp_compute_managed_ssl_certificate and gcp_project_info
against a small in-memory stand-in of the Cloud SQL Admin, Resource Manager, Secret Manager, Storage and compute APIs:
create, no-op re-run, check mode, absent, bad input before any call, and the password never in a result."""

import copy
import json
from urllib.parse import urlparse

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import gcp_compute_managed_ssl_certificate
from ansible_collections.mlops.mlflow.plugins.modules import gcp_iam_member
from ansible_collections.mlops.mlflow.plugins.modules import gcp_project_info
from ansible_collections.mlops.mlflow.plugins.modules import gcp_sql_database_instance
from ansible_collections.mlops.mlflow.plugins.modules import gcp_sql_user
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import gcp_fakes
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

AUTH = gcp_fakes.AUTH
PROJECT = gcp_fakes.PROJECT
DONE_SQL = {"kind": "sql#operation", "status": "DONE", "name": "op"}
DONE_COMPUTE = {"kind": "compute#operation", "status": "DONE", "name": "op"}


class FakeApis(object):
    """Just enough of the APIs: SQL instances and users, IAM policies of a project, a secret and a bucket, certificates."""

    def __init__(self):
        self.requests = []
        self.instances = {}
        self.users = {}
        self.policies = {}
        self.certificates = {}
        self.missing = set()  # resources whose IAM policy answers 404

    def mutating(self):
        return [(method, url) for method, url, _params, _body in self.requests
                if method in ("POST", "PUT", "PATCH", "DELETE") and not url.endswith(":getIamPolicy")]

    def request(self, method, url, params=None, json=None, timeout=None, headers=None):
        self.requests.append((method, url, dict(params or {}), copy.deepcopy(json)))
        path = urlparse(url).path
        host = urlparse(url).netloc
        if host == "sqladmin.googleapis.com":
            return self.sql(method, path, params or {}, json)
        if host == "cloudresourcemanager.googleapis.com" and method == "GET":
            return gcp_fakes.FakeResponse(200, {"projectId": PROJECT, "projectNumber": "123456789012", "lifecycleState": "ACTIVE"})
        if path.endswith(("getIamPolicy", "/iam")) and method in ("GET", "POST"):
            if path in self.missing:
                return gcp_fakes.error(404, "NOT_FOUND", "no such resource")
            return gcp_fakes.FakeResponse(200, copy.deepcopy(self.policies.get(path.replace("getIamPolicy", ""), {"etag": "e0"})))
        if path.endswith(("setIamPolicy", "/iam")):
            policy = json.get("policy", json)
            self.policies[path.replace("setIamPolicy", "")] = dict(policy, etag="e%d" % len(self.requests))
            return gcp_fakes.FakeResponse(200, policy)
        if "/sslCertificates" in path:
            return self.compute(method, path, json)
        return gcp_fakes.error(404, "NOT_FOUND", "no such API " + url)

    def sql(self, method, path, params, body):
        parts = path.split("/")
        if path.endswith("/users"):
            instance = parts[-2]
            if instance not in self.instances:
                return gcp_fakes.error(404, "NOT_FOUND", "The Cloud SQL instance does not exist.")
            users = self.users.setdefault(instance, {})
            if method == "GET":
                return gcp_fakes.FakeResponse(200, {"kind": "sql#usersList", "items": list(users.values())})
            if method == "POST":
                users[body["name"]] = {"kind": "sql#user", "name": body["name"], "instance": instance}
            elif method == "DELETE":
                users.pop(params["name"], None)
            return gcp_fakes.FakeResponse(200, DONE_SQL)
        if path.endswith("/instances") and method == "POST":
            instance = copy.deepcopy(body)
            instance.update(connectionName="{0}:{1}:{2}".format(PROJECT, body["region"], body["name"]), state="RUNNABLE")
            instance["settings"]["settingsVersion"] = "1"
            self.instances[body["name"]] = instance
            return gcp_fakes.FakeResponse(200, DONE_SQL)
        name = parts[-1]
        if method == "GET":
            if name not in self.instances:
                return gcp_fakes.error(404, "NOT_FOUND", "not found")
            return gcp_fakes.FakeResponse(200, copy.deepcopy(self.instances[name]))
        if method == "PATCH":
            settings = self.instances[name]["settings"]
            for key, value in body["settings"].items():
                if isinstance(value, dict):
                    settings.setdefault(key, {}).update(value)
                else:
                    settings[key] = value
            settings["settingsVersion"] = str(int(settings["settingsVersion"]) + 1)
            return gcp_fakes.FakeResponse(200, DONE_SQL)
        if method == "DELETE":
            if self.instances[name]["settings"].get("deletionProtectionEnabled"):
                return gcp_fakes.error(400, "FAILED_PRECONDITION", "The instance is protected.")
            del self.instances[name]
            return gcp_fakes.FakeResponse(200, DONE_SQL)
        return gcp_fakes.error(400, "INVALID_ARGUMENT", "unexpected")

    def compute(self, method, path, body):
        name = path.rsplit("/", 1)[-1]
        if method == "GET":
            if name not in self.certificates:
                return gcp_fakes.error(404, "NOT_FOUND", "not found")
            return gcp_fakes.FakeResponse(200, self.certificates[name])
        if method == "POST":
            self.certificates[body["name"]] = dict(body, managed=dict(body["managed"], status="PROVISIONING"))
        elif method == "DELETE":
            del self.certificates[name]
        return gcp_fakes.FakeResponse(200, DONE_COMPUTE)


@pytest.fixture
def apis(monkeypatch):
    harness.patch_module_exits(monkeypatch)
    fake = FakeApis()
    gcp_fakes.install(monkeypatch, fake)
    return fake


# --- gcp_sql_user ----------------------------------------------------------------------------------------------------

USER = dict(AUTH, instance="mlflow-db", name="mlflow", password="p@ss/w:rd#1")


def test_sql_user_created_once_and_password_never_returned(apis):
    apis.instances["mlflow-db"] = {"settings": {}}
    run = harness.runner(gcp_sql_user)
    first = run(USER, diff=True)
    assert first.result["changed"] and first.result["password_set"]
    assert "p@ss/w:rd#1" not in json.dumps(first.result)
    assert apis.requests[-2][3] == {"name": "mlflow", "password": "p@ss/w:rd#1"}
    apis.requests.clear()
    again = run(USER)
    assert again.result["changed"] is False and apis.mutating() == []
    always = run(dict(USER, update_password="always"))
    assert always.result["changed"] and apis.mutating()[-1][0] == "PUT"


def test_sql_user_postgres_users_have_no_host(apis):
    # What google.cloud.gcp_sql_user trips over (KeyError 'host'): PostgreSQL users carry no host field.
    assert gcp_sql_user.find_user([{"name": "mlflow"}], "mlflow", None) == {"name": "mlflow"}
    assert gcp_sql_user.find_user([{"name": "mlflow", "host": "%"}], "mlflow", "%") is not None
    assert gcp_sql_user.find_user([{"name": "mlflow", "host": "%"}], "mlflow", None) is None


def test_sql_user_check_mode_and_absent(apis):
    run = harness.runner(gcp_sql_user)
    # Check mode before the instance exists: the user would be created, nothing is sent.
    assert run(USER, check_mode=True).result["changed"] and apis.mutating() == []
    apis.instances["mlflow-db"] = {"settings": {}}
    assert run(USER).result["changed"]
    assert run(dict(USER, state="absent")).result["changed"]
    assert run(dict(USER, state="absent")).result["changed"] is False


def test_sql_user_needs_a_password_and_a_valid_instance(apis):
    apis.instances["mlflow-db"] = {"settings": {}}
    run = harness.runner(gcp_sql_user)
    assert "password is required" in run(dict(USER, password=None)).result["msg"]
    apis.requests.clear()
    outcome = run(dict(USER, instance="my-project:europe-west1:mlflow-db"))
    assert outcome.failed and "connection name" in outcome.result["msg"] and apis.requests == []


# --- gcp_sql_database_instance ---------------------------------------------------------------------------------------

INSTANCE = dict(AUTH, name="mlflow-db", region="europe-west1", database_version="POSTGRES_17", edition="ENTERPRISE",
                tier="db-custom-1-3840", availability_type="ZONAL", ipv4_enabled=True, ssl_mode="ENCRYPTED_ONLY",
                backups=True, backup_start_time="03:00", point_in_time_recovery=True, transaction_log_retention_days=7,
                deletion_protection=True, labels={"application": "mlflow"})


def test_instance_created_then_unchanged_then_patched(apis):
    run = harness.runner(gcp_sql_database_instance)
    first = run(INSTANCE)
    assert first.result["changed"] and first.result["connection_name"] == PROJECT + ":europe-west1:mlflow-db"
    body = apis.requests[1][3]
    assert body["settings"]["ipConfiguration"] == {"ipv4Enabled": True, "sslMode": "ENCRYPTED_ONLY", "requireSsl": True,
                                                   "authorizedNetworks": []}
    assert body["settings"]["backupConfiguration"]["pointInTimeRecoveryEnabled"] is True
    apis.requests.clear()
    assert run(INSTANCE).result["changed"] is False and apis.mutating() == []
    changed = run(dict(INSTANCE, availability_type="REGIONAL"), diff=True)
    assert changed.result["changed_fields"] == ["settings.availabilityType"]
    patch = [body for method, _url, _params, body in apis.requests if method == "PATCH"][0]
    assert patch["settings"]["availabilityType"] == "REGIONAL" and patch["settings"]["settingsVersion"] == "1"


def test_instance_immutable_fields_and_check_mode(apis):
    run = harness.runner(gcp_sql_database_instance)
    assert run(INSTANCE, check_mode=True).result["changed"] and apis.mutating() == []
    run(INSTANCE)
    apis.requests.clear()
    refused = run(dict(INSTANCE, database_version="POSTGRES_16"))
    assert refused.failed and "databaseVersion" in refused.result["msg"] and apis.mutating() == []


def test_instance_deletion_protection(apis):
    run = harness.runner(gcp_sql_database_instance)
    run(INSTANCE)
    refused = run(dict(AUTH, name="mlflow-db", state="absent"))
    assert refused.failed and "deletion protection" in refused.result["msg"] and "mlflow-db" in apis.instances
    assert run(dict(AUTH, name="mlflow-db", state="absent", force_delete=True)).result["changed"]
    assert "mlflow-db" not in apis.instances
    assert run(dict(AUTH, name="mlflow-db", state="absent")).result["changed"] is False


def test_instance_bad_input_before_any_call(apis):
    run = harness.runner(gcp_sql_database_instance)
    for change, words in ((dict(zone="us-east1-b"), "zone"), (dict(backup_start_time="3am"), "backup_start_time"),
                          (dict(ipv4_enabled=False), "private_network"), (dict(labels={"Team": "x"}), "labels")):
        outcome = run(dict(INSTANCE, **change))
        assert outcome.failed and words in outcome.result["msg"], (change, outcome.result)
    assert apis.requests == []


# --- gcp_iam_member --------------------------------------------------------------------------------------------------

MEMBER = "serviceAccount:mlflow@test-project.iam.gserviceaccount.com"


@pytest.mark.parametrize("resource_type,resource", [("project", None), ("secret", "mlflow-uri"), ("bucket", "bucket-1")])
def test_iam_member_grant_is_additive_and_idempotent(apis, resource_type, resource):
    run = harness.runner(gcp_iam_member)
    args = dict(AUTH, resource_type=resource_type, resource=resource, role="roles/cloudsql.client", members=[MEMBER])
    first = run(args, diff=True)
    assert first.result["changed"] and first.result["added"] == [MEMBER]
    apis.requests.clear()
    assert run(args).result["changed"] is False and apis.mutating() == []
    other = run(dict(args, members=["user:ada@example.com"]))
    assert sorted(other.result["members"]) == sorted([MEMBER, "user:ada@example.com"])
    removed = run(dict(args, state="absent"))
    assert removed.result["removed"] == [MEMBER] and removed.result["members"] == ["user:ada@example.com"]


def test_iam_member_missing_resource(apis):
    run = harness.runner(gcp_iam_member)
    apis.missing.add("/v1/projects/test-project/secrets/gone:getIamPolicy")
    args = dict(AUTH, resource_type="secret", resource="gone", role="roles/secretmanager.secretAccessor", members=[MEMBER])
    assert run(dict(args, state="absent")).result["changed"] is False
    assert run(args, check_mode=True).result["changed"] is True
    assert run(args).failed


def test_iam_member_bad_input(apis):
    run = harness.runner(gcp_iam_member)
    assert "members" in run(dict(AUTH, resource_type="project", role="roles/x", members=["ada@example.com"])).result["msg"]
    assert "role" in run(dict(AUTH, resource_type="project", role="cloudsql.client", members=[MEMBER])).result["msg"]
    assert "resource" in run(dict(AUTH, resource_type="bucket", role="roles/x", members=[MEMBER])).result["msg"]
    assert apis.requests == []


# --- gcp_compute_managed_ssl_certificate, gcp_project_info -----------------------------------------------------------

CERT = dict(AUTH, name="mlflow-cert", domains=["mlflow.example.com"])


def test_managed_certificate(apis):
    run = harness.runner(gcp_compute_managed_ssl_certificate)
    assert run(CERT, check_mode=True).result["changed"] and apis.mutating() == []
    created = run(CERT)
    assert created.result["changed"] and created.result["status"] == "PROVISIONING"
    assert apis.certificates["mlflow-cert"]["type"] == "MANAGED"
    apis.requests.clear()
    assert run(CERT).result["changed"] is False and apis.mutating() == []
    refused = run(dict(CERT, domains=["other.example.com"]))
    assert refused.failed and "cannot be" in refused.result["msg"]
    assert run(dict(CERT, state="absent")).result["changed"]
    assert run(dict(CERT, state="absent")).result["changed"] is False
    assert "domains" in run(dict(CERT, domains=["https://x.example.com"])).result["msg"]


def test_project_info(apis):
    outcome = harness.runner(gcp_project_info)(dict(AUTH), check_mode=True)
    assert outcome.result["project_number"] == "123456789012" and outcome.result["changed"] is False
