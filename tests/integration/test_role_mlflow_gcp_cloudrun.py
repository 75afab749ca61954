"""The role mlops.mlflow.mlflow_gcp_cloudrun run by ansible-playbook against the GCP emulator.

Each run is the collection's own playbook (playbooks/mlflow_gcp_cloudrun.yml) with an example vars file of
playbooks/vars/ (its project replaced by the emulator's) plus the test's changes as extra vars; the tests then read
what the emulator holds through the Google APIs (behind the emulator's proxy) and what the role asked of GCP through
the emulator's request log, looking only at the requests of their own run.

One lifecycle in direct IAP mode (fresh, re-run, check mode, a change with -vvv, removal twice, purge) shares one stack;
the load balancer and private IP examples use stacks of their own, under names of their own (a deleted Cloud SQL
instance's name cannot be reused). The emulator is reset once for the module. Runs take about 30 seconds each: the file
keeps to about ten of them.
"""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
import yaml

from conftest import GCP_DEFAULT_SETTINGS, GcpTestProject
from helpers.ansible import REPO_ROOT, run_playbook

pytestmark = pytest.mark.slow

PLAYBOOK = REPO_ROOT / "playbooks" / "mlflow_gcp_cloudrun.yml"
VARS_DIR = REPO_ROOT / "playbooks" / "vars"
OUTPUT_KEYS = {
    "state", "mode", "project_id", "project_number", "region", "service_name", "service_url", "service_uri",
    "tracking_uri", "allowed_hosts", "domain", "load_balancer_ip", "dns_record", "bucket_name", "artifacts_destination",
    "database_instance", "instance_connection_name", "database_name", "database_user", "password_secret_id",
    "backend_store_uri_secret_id", "service_account", "iap_members", "image", "data_kept"}
SQL = "https://sqladmin.googleapis.com/sql/v1beta4/projects/{project}/instances/"
RUN = "https://run.googleapis.com/v2/projects/{project}/locations/{region}/services/"
SECRETS = "https://secretmanager.googleapis.com/v1/projects/{project}/secrets/"
STORAGE = "https://storage.googleapis.com/storage/v1/b/"
IAM = "https://iam.googleapis.com/v1/projects/{project}/serviceAccounts/"
COMPUTE = "https://compute.googleapis.com/compute/v1/projects/{project}/"


# --- Running the role ----------------------------------------------------------------------------------------------

def report(run):
    failed = ["{0}: {1}".format(result["_task"], result.get("msg")) for result in run.results if result.get("failed")]
    return "rc={0} recap={1}\nfailed: {2}\nstderr: {3}\nstdout: {4}".format(
        run.rc, run.recap, "\n".join(failed) or "-", run.stderr[-3000:], "" if run.document else run.stdout[-3000:])


def outputs(run):
    facts = [result["ansible_facts"]["mlflow_gcp_cloudrun_outputs"] for result in run.results
             if "mlflow_gcp_cloudrun_outputs" in result.get("ansible_facts", {})]
    assert facts, report(run)
    return facts[-1]


def failure_message(run):
    failed = [result for result in run.results if result.get("failed")]
    assert failed, report(run)
    return failed[-1].get("msg", "")


def example(name, project):
    """An example vars file of playbooks/vars with the emulator's project instead of my-project."""
    text = (VARS_DIR / "mlflow_gcp_cloudrun_{0}.yml".format(name)).read_text().replace("my-project", project)
    return yaml.safe_load(text)


class Stack:
    """``run(**changes)`` runs the playbook with the stack's variables plus changes; the PlaybookRun it returns also
    has the requests of that run (``requests``) and the methods of the mutating ones (``mutations``)."""

    def __init__(self, gcp, workdir, variables):
        self.gcp = gcp
        self.workdir = workdir
        self.variables = dict(variables)
        self.cache = {}

    def run(self, check=False, extra_args=(), **changes):
        control = self.gcp.control
        start = control.last_request_id()
        run = run_playbook(self.workdir, self.gcp.child_environment(), PLAYBOOK, extra_vars=dict(self.variables, **changes),
                           check=check, extra_args=list(extra_args), timeout=600)
        if run.document is None and "\n{\n" in run.stdout:  # -vvv: verbose lines before the JSON document
            try:
                run.document = json.loads(run.stdout[run.stdout.index("\n{\n") + 1:])
            except ValueError:
                pass
        run.requests = control.requests(since=start)
        run.mutations = [entry["method"] for entry in run.requests if entry["mutating"]]
        return run

    def once(self, key, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


@pytest.fixture(scope="module")
def project(gcp_emulator):
    gcp_emulator.client.configure(**GCP_DEFAULT_SETTINGS)
    gcp_emulator.client.reset()
    return GcpTestProject(gcp_emulator)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("gcp_cloudrun_role")


@pytest.fixture(scope="module")
def direct(project, workdir):
    return Stack(project, workdir, example("direct_iap", project.project))


@pytest.fixture(scope="module")
def fresh(direct):
    return direct.once("fresh", direct.run)


# --- Reading the emulator ------------------------------------------------------------------------------------------

class Reader:
    def __init__(self, gcp):
        self.gcp = gcp
        self.api = gcp.session()
        self.names = {"project": gcp.project, "region": gcp.region}

    def get(self, url, **params):
        answer = self.api.get(url.format(**self.names), params=params)
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, url, body=None):
        answer = self.api.post(url.format(**self.names), json=body or {})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def secret_value(self, name):
        answer = self.get(SECRETS + name + "/versions/latest:access")
        return base64.b64decode(answer["payload"]["data"]).decode() if answer else None

    def role_members(self, policy, role):
        return sorted(member for binding in policy.get("bindings", []) if binding["role"] == role for member in binding["members"])

    def project_roles_of(self, member):
        policy = self.post("https://cloudresourcemanager.googleapis.com/v1/projects/{project}:getIamPolicy")
        return sorted(binding["role"] for binding in policy.get("bindings", []) if member in binding["members"])


@pytest.fixture(scope="module")
def reader(project):
    return Reader(project)


# --- Direct IAP: the lifecycle -------------------------------------------------------------------------------------

class TestDirectIap:
    def test_fresh_deployment(self, project, reader, fresh):
        run = fresh
        assert run.rc == 0, report(run)
        out = outputs(run)
        assert set(out) == OUTPUT_KEYS
        host = "mlflow-{0}.{1}.run.app".format(project.project_number, project.region)
        assert out["mode"] == "direct_iap" and out["tracking_uri"] == "https://" + host == out["service_url"]
        assert out["instance_connection_name"] == "{0}:{1}:mlflow-db".format(project.project, project.region)
        assert out["load_balancer_ip"] == "" and out["dns_record"] == {}

        # The service: mlflow server as command + args, configured by environment, the URI from the secret.
        service = reader.get(RUN + "mlflow")
        container = service["template"]["containers"][0]
        assert container["command"] == ["mlflow"]
        assert container["args"] == ["server", "--host", "0.0.0.0", "--port", "8080"]
        env = {item["name"]: item for item in container["env"]}
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueSource"]["secretKeyRef"]["secret"].endswith("mlflow-backend-store-uri")
        assert "value" not in env["MLFLOW_BACKEND_STORE_URI"]
        assert env["MLFLOW_SERVER_ALLOWED_HOSTS"]["value"] == host
        assert env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"]["value"] == "https://" + host
        assert env["MLFLOW_ARTIFACTS_DESTINATION"]["value"] == "gs://{0}-mlflow-artifacts".format(project.project)
        assert container["startupProbe"]["httpGet"]["path"] == "/health"
        assert service["template"]["serviceAccount"] == "mlflow-server@{0}.iam.gserviceaccount.com".format(project.project)
        assert [volume["cloudSqlInstance"]["instances"] for volume in service["template"]["volumes"]] == [[out["instance_connection_name"]]]
        assert service["iapEnabled"] is True and service["ingress"] == "INGRESS_TRAFFIC_ALL"
        assert service["labels"]["team"] == "ml-platform"

        # Cloud SQL: no authorized network, encrypted only, backups, PITR, deletion protection.
        instance = reader.get(SQL + "mlflow-db")
        settings = instance["settings"]
        assert instance["databaseVersion"] == "POSTGRES_17" and settings["edition"] == "ENTERPRISE"
        assert settings["ipConfiguration"]["authorizedNetworks"] == []
        assert settings["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
        assert settings["backupConfiguration"]["enabled"] is True
        assert settings["backupConfiguration"]["pointInTimeRecoveryEnabled"] is True
        assert settings["deletionProtectionEnabled"] is True
        users = reader.get(SQL + "mlflow-db/users")["items"]
        assert "mlflow" in [user["name"] for user in users]

        # The URI secret holds the password of the password secret, percent-encoded, in unix-socket form.
        password = reader.secret_value("mlflow-db-password")
        uri = reader.secret_value("mlflow-backend-store-uri")
        assert len(password) == 32
        prefix = "postgresql+psycopg2://mlflow:"
        assert uri.startswith(prefix)
        encoded, rest = uri[len(prefix):].split("@", 1)
        assert urllib.parse.unquote(encoded) == password
        assert not set(encoded) & set("@:/#?+!*")
        assert rest == "/mlflow?host=/cloudsql/" + out["instance_connection_name"]

        # The bucket: uniform, no public access, versioned, a lifecycle on noncurrent versions only.
        bucket = reader.get(STORAGE + out["bucket_name"])
        assert bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
        assert bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced"
        assert bucket["versioning"]["enabled"] is True
        rules = bucket["lifecycle"]["rule"]
        assert rules and all(rule["condition"]["isLive"] is False for rule in rules)

        # Least privilege: one project role; the URI secret only; the bucket only.
        member = "serviceAccount:" + out["service_account"]
        assert reader.project_roles_of(member) == ["roles/cloudsql.client"]
        uri_policy = reader.get(SECRETS + "mlflow-backend-store-uri:getIamPolicy")
        assert reader.role_members(uri_policy, "roles/secretmanager.secretAccessor") == [member]
        assert member not in str(reader.get(SECRETS + "mlflow-db-password:getIamPolicy"))
        bucket_policy = reader.get(STORAGE + out["bucket_name"] + "/iam")
        assert reader.role_members(bucket_policy, "roles/storage.objectUser") == [member]

        # IAP: the users and the CI service account; the IAP agent may invoke the service.
        iap_policy = reader.post("https://iap.googleapis.com/v1/projects/{0}/iap_web/cloud_run-{1}/services/mlflow:getIamPolicy"
                                 .format(project.project_number, project.region))
        assert reader.role_members(iap_policy, "roles/iap.httpsResourceAccessor") == sorted(
            ["group:ml-team@example.com", "user:ada@example.com",
             "serviceAccount:ci-runner@{0}.iam.gserviceaccount.com".format(project.project)])
        run_policy = reader.get(RUN + "mlflow:getIamPolicy")
        assert reader.role_members(run_policy, "roles/run.invoker") == [
            "serviceAccount:service-{0}@gcp-sa-iap.iam.gserviceaccount.com".format(project.project_number)]

    def test_rerun_changes_nothing(self, direct, fresh):
        run = direct.run()
        assert run.rc == 0 and run.recap["changed"] == 0, report(run)
        assert run.mutations == []

    def test_check_mode_on_the_converged_stack(self, direct, fresh):
        run = direct.run(check=True)
        assert run.rc == 0 and run.recap["changed"] == 0, report(run)
        assert run.mutations == []

    def test_a_change_is_applied_and_no_password_in_a_verbose_run(self, direct, reader, fresh):
        run = direct.run(extra_args=["-vvv"], mlflow_gcp_cloudrun_max_instances=5)
        assert run.rc == 0, report(run)
        changed = [result["_task"] for result in run.results if result.get("changed")]
        assert len(changed) == 1 and "Cloud Run service" in changed[0], changed
        assert run.mutations == ["run.projects.locations.services.patch"]
        service = reader.get(RUN + "mlflow")
        assert service["template"]["scaling"]["maxInstanceCount"] == 5
        password = reader.secret_value("mlflow-db-password")
        uri = reader.secret_value("mlflow-backend-store-uri")
        for text in (run.stdout, run.stderr):
            assert password not in text and urllib.parse.quote(password, safe="") not in text and uri not in text
        direct.variables["mlflow_gcp_cloudrun_max_instances"] = 5

    def test_bad_inputs_fail_before_any_request(self, direct):
        cases = {
            "mlflow_gcp_cloudrun_webapp_users": (["ada@example.com"], "user:EMAIL"),
            "mlflow_gcp_cloudrun_domain": ("https://mlflow.example.com", "mlflow_gcp_cloudrun_domain"),
            "mlflow_gcp_cloudrun_region": ("Europe West", "mlflow_gcp_cloudrun_region"),
            "mlflow_gcp_cloudrun_name": ("a-name-far-too-long-for-gcp", "mlflow_gcp_cloudrun_name"),
            "mlflow_gcp_cloudrun_max_instances": (0, "mlflow_gcp_cloudrun_max_instances"),
        }
        for name, (value, expected) in cases.items():
            run = direct.run(**{name: value})
            assert run.rc != 0, (name, report(run))
            assert expected in failure_message(run), (name, failure_message(run))
            assert run.requests == [], (name, run.requests)
        # The argument spec refuses what types can express (a choice), before any task.
        run = direct.run(mlflow_gcp_cloudrun_database_availability_type="MULTI_REGION")
        assert run.rc != 0 and run.requests == []
        assert "mlflow_gcp_cloudrun_database_availability_type" in failure_message(run)

    def test_removal_keeps_the_data(self, project, direct, reader, fresh):
        run = direct.run(mlflow_gcp_cloudrun_state="absent")
        assert run.rc == 0, report(run)
        assert reader.get(RUN + "mlflow") is None
        assert reader.get(IAM + "mlflow-server@{project}.iam.gserviceaccount.com") is None
        assert reader.project_roles_of("serviceAccount:mlflow-server@{0}.iam.gserviceaccount.com".format(project.project)) == []
        assert reader.get(SQL + "mlflow-db")["state"] == "RUNNABLE"
        assert reader.get(STORAGE + "{0}-mlflow-artifacts".format(project.project)) is not None
        assert reader.secret_value("mlflow-db-password") and reader.secret_value("mlflow-backend-store-uri")
        assert outputs(run)["data_kept"] is True

        again = direct.run(mlflow_gcp_cloudrun_state="absent")
        assert again.rc == 0 and again.recap["changed"] == 0, report(again)
        assert again.mutations == []

    def test_purge_deletes_the_data(self, project, direct, reader, fresh):
        run = direct.run(mlflow_gcp_cloudrun_state="absent", mlflow_gcp_cloudrun_purge_data=True)
        assert run.rc == 0, report(run)
        assert reader.get(SQL + "mlflow-db") is None
        assert reader.get(STORAGE + "{0}-mlflow-artifacts".format(project.project)) is None
        assert reader.get(SECRETS + "mlflow-db-password") is None
        assert reader.get(SECRETS + "mlflow-backend-store-uri") is None


# --- Load balancer mode and private IP: the other examples ---------------------------------------------------------

class TestLoadBalancer:
    @pytest.fixture(scope="class")
    def stack(self, project, workdir):
        variables = example("load_balancer", project.project)
        variables.update(mlflow_gcp_cloudrun_name="mlflow-lb", mlflow_gcp_cloudrun_lb_name="mlflow-lb")
        return Stack(project, workdir, variables)

    def test_check_mode_on_a_new_stack(self, reader, stack):
        # Nothing exists yet: the collection's modules say what they would make, the google.cloud ones are skipped
        # (they have no check mode), IAP says what it would do; not one mutating call.
        run = stack.run(check=True)
        assert run.rc == 0, report(run)
        assert run.mutations == []
        changed = {result["_task"].split(" : ")[-1] for result in run.results if result.get("changed")}
        assert {"The MLflow Cloud Run service", "The Google-managed certificate of the domain",
                "Say what IAP would do for the new service (check mode)"} <= changed, changed
        assert reader.get(RUN + "mlflow-lb") is None

    def test_fresh_deployment(self, project, reader, stack):
        run = stack.once("fresh", stack.run)
        assert run.rc == 0, report(run)
        out = outputs(run)
        assert out["mode"] == "load_balancer" and out["tracking_uri"] == "https://mlflow.example.com"
        assert out["load_balancer_ip"] and out["dns_record"] == {
            "name": "mlflow.example.com.", "type": "A", "ttl": 300, "rrdatas": [out["load_balancer_ip"]]}
        service = reader.get(RUN + "mlflow-lb")
        assert service.get("iapEnabled") is not True and service["invokerIamDisabled"] is True
        assert service["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
        env = {item["name"]: item.get("value") for item in service["template"]["containers"][0]["env"]}
        host = "mlflow-lb-{0}.{1}.run.app".format(project.project_number, project.region)
        assert env["MLFLOW_SERVER_ALLOWED_HOSTS"] == host + ",mlflow.example.com"
        assert env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == "https://{0},https://mlflow.example.com".format(host)
        backend = reader.get(COMPUTE + "global/backendServices/mlflow-lb-backend")
        assert backend["iap"]["enabled"] is True and "oauth2ClientId" not in backend["iap"]
        certificate = reader.get(COMPUTE + "global/sslCertificates/mlflow-lb-cert")
        assert certificate["type"] == "MANAGED" and certificate["managed"]["domains"] == ["mlflow.example.com"]
        rules = {name: reader.get(COMPUTE + "global/forwardingRules/" + name) for name in ("mlflow-lb-https", "mlflow-lb-http")}
        assert rules["mlflow-lb-https"]["portRange"] == "443-443" and rules["mlflow-lb-http"]["portRange"] == "80-80"
        assert rules["mlflow-lb-https"]["IPAddress"] == rules["mlflow-lb-http"]["IPAddress"] == out["load_balancer_ip"]
        redirect = reader.get(COMPUTE + "global/urlMaps/mlflow-lb-redirect")
        assert redirect["defaultUrlRedirect"]["httpsRedirect"] is True
        instance = reader.get(SQL + "mlflow-lb-db")
        assert instance["settings"]["availabilityType"] == "REGIONAL"

    def test_rerun_changes_nothing(self, stack):
        assert stack.once("fresh", stack.run).rc == 0
        run = stack.run()
        assert run.rc == 0 and run.recap["changed"] == 0, report(run)
        assert run.mutations == []


class TestPrivateIp:
    def test_fresh_deployment(self, project, workdir, reader):
        variables = example("private_ip", project.project)
        variables.update(mlflow_gcp_cloudrun_name="mlflow-pip")
        run = Stack(project, workdir, variables).run()
        assert run.rc == 0, report(run)
        ip = reader.get(SQL + "mlflow-pip-db")["settings"]["ipConfiguration"]
        assert ip["ipv4Enabled"] is False and ip["privateNetwork"].endswith("/global/networks/mlflow-vpc")
        service = reader.get(RUN + "mlflow-pip")
        interfaces = service["template"]["vpcAccess"]["networkInterfaces"]
        assert interfaces[0]["network"].endswith("mlflow-vpc") and interfaces[0]["subnetwork"].endswith("mlflow-europe-west1")
        env = {item["name"]: item.get("value") for item in service["template"]["containers"][0]["env"]}
        assert env["MLFLOW_ARTIFACTS_DESTINATION"] == "gs://{0}-mlflow-pip-artifacts/tracking".format(project.project)
