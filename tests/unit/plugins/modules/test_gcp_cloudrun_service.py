"""gcp_cloudrun_service: input checks, the comparison of managed fields with what Cloud Run fills in, and main() against
an in-memory Cloud Run (create, no-op re-run, check mode, diff, update, a failed revision, absent)."""

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import gcp_cloudrun_service as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import gcp_fakes
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

NAME = "projects/{0}/locations/{1}/services/mlflow".format(gcp_fakes.PROJECT, gcp_fakes.REGION)
BASE = dict(gcp_fakes.AUTH, name="mlflow", region=gcp_fakes.REGION)
FULL = dict(
    BASE,
    image="europe-west1-docker.pkg.dev/p/mlflow/mlflow:v3.18.0-full",
    port=5000,
    env={"MLFLOW_HOST": "0.0.0.0", "MLFLOW_PORT": 5000},
    secret_env=[{"name": "MLFLOW_BACKEND_STORE_URI", "secret": "mlflow-uri"}],
    cloudsql_instances=["test-project:europe-west1:mlflow"],
    service_account="mlflow@test-project.iam.gserviceaccount.com",
    min_instances=0,
    max_instances=3,
    cpu="1",
    memory="1024Mi",
    concurrency=40,
    timeout=300,
    ingress="all",
    vpc_access={"network": "default", "subnetwork": "default"},
    startup_probe={"path": "/health", "period_seconds": 5, "failure_threshold": 24},
    liveness_probe={"path": "/health"},
    iap_enabled=True,
    invoker_iam_disabled=False,
    labels={"application": "mlflow"},
)

run = harness.runner(module)


@pytest.fixture
def google(monkeypatch):
    harness.patch_module_exits(monkeypatch)
    fake = gcp_fakes.FakeGoogle()
    fake.clock = gcp_fakes.install(monkeypatch, fake)
    return fake


def test_creates_the_service_then_changes_nothing(google):
    outcome = run(FULL, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"]
    assert outcome.result["uri"] == "https://mlflow-abcdefghij-ew.a.run.app"
    assert outcome.result["latest_ready_revision"].endswith("/revisions/mlflow-00001-abc")
    assert outcome.result["conditions"][0]["state"] == "CONDITION_SUCCEEDED"
    sent = [body for method, url, body in google.requests if method == "POST" and url.endswith("/services")][0]
    container = sent["template"]["containers"][0]
    assert container["volumeMounts"] == [{"name": "cloudsql", "mountPath": "/cloudsql"}]
    assert sent["template"]["volumes"] == [{"name": "cloudsql", "cloudSqlInstance": {"instances": ["test-project:europe-west1:mlflow"]}}]
    assert {"name": "MLFLOW_BACKEND_STORE_URI", "valueSource": {"secretKeyRef": {"secret": "mlflow-uri", "version": "latest"}}} in container["env"]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert sent["template"]["vpcAccess"] == {"networkInterfaces": [{"network": "default", "subnetwork": "default", "tags": []}],
                                             "egress": "PRIVATE_RANGES_ONLY"}
    assert sent["iapEnabled"] is True and sent["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert outcome.result["diff"]["before"] == {}

    google.requests.clear()
    again = run(FULL, diff=True)
    assert not again.failed, again.result["msg"]
    assert again.result["changed"] is False, again.result["changed_fields"]
    assert google.mutating() == []


def test_check_mode_creates_nothing(google):
    outcome = run(FULL, check_mode=True, diff=True)
    assert outcome.result["changed"]
    assert google.mutating() == []
    assert outcome.result["diff"]["after"]["template"]["containers"][0]["image"] == FULL["image"]


def test_update_replaces_the_service_with_the_fields_it_does_not_manage(google):
    assert not run(FULL).failed
    google.services[NAME]["template"]["annotations"] = {"kept": "yes"}
    google.requests.clear()
    changed = dict(FULL, image="example/mlflow:v3.19.0", env={"MLFLOW_HOST": "0.0.0.0"}, labels={"team": "ml"}, max_instances=5)
    outcome = run(changed, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert sorted(outcome.result["changed_fields"]) == ["labels", "template.containers", "template.scaling.maxInstanceCount"]
    (method, url, body), = [request for request in google.requests if request[0] == "PATCH"]
    assert url.endswith(NAME)
    assert body["template"]["annotations"] == {"kept": "yes"}
    assert body["labels"] == {"team": "ml"}
    assert "uid" not in body and "terminalCondition" not in body
    env = body["template"]["containers"][0]["env"]
    assert [item["name"] for item in env] == ["MLFLOW_HOST", "MLFLOW_BACKEND_STORE_URI"]
    assert outcome.result["diff"]["before"]["labels"] == {"application": "mlflow"}
    assert outcome.result["diff"]["after"]["labels"] == {"team": "ml"}


def test_check_mode_update_changes_nothing_and_keeps_the_uri(google):
    assert not run(FULL).failed
    google.requests.clear()
    outcome = run(dict(FULL, image="example/mlflow:v3.19.0"), check_mode=True)
    assert outcome.result["changed"] and outcome.result["changed_fields"] == ["template.containers"]
    assert outcome.result["uri"] == "https://mlflow-abcdefghij-ew.a.run.app"
    assert outcome.result["service"]["template"]["containers"][0]["image"] == "example/mlflow:v3.19.0"
    assert google.mutating() == []


def test_labels_kept_without_purge(google):
    assert not run(FULL).failed
    outcome = run(dict(FULL, labels={"team": "ml"}, purge_labels=False))
    assert google.services[NAME]["labels"] == {"application": "mlflow", "team": "ml"}
    assert outcome.result["changed_fields"] == ["labels"]


def test_unmanaged_options_are_left_alone(google):
    assert not run(FULL).failed
    google.requests.clear()
    outcome = run(dict(BASE, image=FULL["image"]))
    assert outcome.result["changed"] is False
    assert google.mutating() == []


def test_failed_revision_is_reported_with_its_message(google):
    assert not run(FULL).failed
    google.fail_next_revision = "The user-provided container failed to start and listen on the port defined by PORT=5000."
    outcome = run(dict(FULL, image="example/broken:1"))
    assert outcome.failed
    assert "failed to start and listen on the port" in outcome.result["msg"]
    assert "mlflow-00002-abc" in outcome.result["msg"]
    assert outcome.result["changed"] is True


def test_without_wait_the_operation_is_not_polled(google):
    outcome = run(dict(FULL, wait=False))
    assert not outcome.failed and outcome.result["changed"]
    assert not any("/operations/" in request[1] for request in google.requests)


def test_operation_that_never_finishes_times_out(google, monkeypatch):
    original = google.operation

    def never_done(name, response=None, failure=None):
        answer = original(name, response, failure)
        google.operations[answer.json()["name"]] = answer.json()  # stays done: False
        return answer

    monkeypatch.setattr(google, "operation", never_done)
    outcome = run(dict(FULL, wait_timeout=20))
    assert outcome.failed and "was not done after 20 seconds (wait_timeout)" in outcome.result["msg"]
    assert google.clock.now <= 20


def test_throttled_calls_are_retried(google):
    throttled = gcp_fakes.FakeResponse(429, {"error": {"code": 429, "message": "Quota exceeded"}}, headers={"Retry-After": "3"})
    google.queued.append(("GET", "/services/mlflow", throttled))
    outcome = run(FULL)
    assert not outcome.failed and outcome.result["changed"]
    assert google.clock.sleeps[0] == 3.0


def test_absent_deletes_then_changes_nothing(google):
    assert not run(FULL).failed
    outcome = run(dict(BASE, state="absent"), diff=True)
    assert outcome.result["changed"] and NAME not in google.services
    again = run(dict(BASE, state="absent"))
    assert again.result["changed"] is False


@pytest.mark.parametrize("overrides, message", [
    ({"name": "MLflow"}, "name must be a lowercase letter"),
    ({"cpu": "lots"}, "cpu must be a number of CPUs"),
    ({"memory": "2 gigs"}, "memory must be a quantity"),
    ({"min_instances": 4, "max_instances": 2}, "must not be above max_instances"),
    ({"env": {"PORT": "1"}}, "Cloud Run sets PORT itself"),
    ({"env": {"A": "1"}, "secret_env": [{"name": "A", "secret": "s"}]}, "A is given more than once"),
    ({"cloudsql_instances": ["mlflow"]}, "is not a connection name"),
    ({"liveness_probe": {}}, "liveness_probe.path is required"),
    ({"labels": {"Team": "x"}}, "labels: keys must start with a lowercase letter"),
    ({"timeout": 4000}, "timeout must be between 1 and 3600"),
])
def test_bad_input_fails_before_any_call(google, overrides, message):
    outcome = run(dict(FULL, **overrides))
    assert outcome.failed and message in outcome.result["msg"], outcome.result["msg"]
    assert google.requests == []


def test_image_required_to_create(google):
    outcome = run(dict(BASE))
    assert outcome.failed and "image is required to create" in outcome.result["msg"]
    assert google.mutating() == []


def test_api_error_carries_message_and_status(google):
    google.queued.append(("POST", "/services", gcp_fakes.error(403, "PERMISSION_DENIED", "Permission 'run.services.create' denied")))
    outcome = run(FULL)
    assert outcome.failed
    assert "Permission 'run.services.create' denied" in outcome.result["msg"]
    assert outcome.result["status"] == "PERMISSION_DENIED" and outcome.result["status_code"] == 403


@pytest.mark.parametrize("given, answered", [("1", "1000m"), ("2", "2"), ("0.5", "500m"), ("1000m", "1")])
def test_cpu_forms_are_equal(given, answered):
    assert module.canonical_cpu(given) == module.canonical_cpu(answered)


@pytest.mark.parametrize("given, answered", [("1Gi", "1024Mi"), ("512Mi", "0.5Gi"), ("2G", "2000M")])
def test_memory_forms(given, answered):
    if answered == "0.5Gi":  # not a form Cloud Run answers with; stays as given
        assert module.canonical_memory(answered) == answered
    else:
        assert module.canonical_memory(given) == module.canonical_memory(answered)


def test_server_filled_fields_are_ignored():
    params = harness_params(dict(FULL, startup_probe=None, liveness_probe={"path": "/health"}, concurrency=None))
    current = {
        "name": NAME, "launchStage": "GA", "client": "cloud-console", "ingress": "INGRESS_TRAFFIC_ALL", "iapEnabled": True,
        "labels": {"application": "mlflow"},
        "template": {
            "serviceAccount": FULL["service_account"], "timeout": "300s", "maxInstanceRequestConcurrency": 80,
            "scaling": {"maxInstanceCount": 3},
            "vpcAccess": {"egress": "PRIVATE_RANGES_ONLY", "networkInterfaces": [{"network": "default", "subnetwork": "default"}]},
            "volumes": [{"name": "cloudsql", "cloudSqlInstance": {"instances": ["test-project:europe-west1:mlflow"]}}],
            "containers": [{
                "image": FULL["image"], "ports": [{"name": "http1", "containerPort": 5000}],
                "env": [{"name": "MLFLOW_BACKEND_STORE_URI", "valueSource": {"secretKeyRef": {"secret": "mlflow-uri", "version": "latest"}}},
                        {"name": "MLFLOW_PORT", "value": "5000"}, {"name": "MLFLOW_HOST", "value": "0.0.0.0"}],
                "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}, "cpuIdle": True},
                "volumeMounts": [{"name": "cloudsql", "mountPath": "/cloudsql"}],
                "startupProbe": {"timeoutSeconds": 240, "periodSeconds": 240, "failureThreshold": 1, "tcpSocket": {"port": 5000}},
                "livenessProbe": {"httpGet": {"path": "/health"}, "timeoutSeconds": 1, "periodSeconds": 10, "failureThreshold": 3},
            }],
        },
    }
    changed, before, after = module.compare(params, current)
    assert changed == []


def harness_params(args):
    defaults = {key: spec.get("default") for key, spec in module.argument_spec().items()}
    params = dict(defaults, **args)
    for probe in ("startup_probe", "liveness_probe"):
        if params.get(probe) is not None:
            params[probe] = dict({"path": None, "port": None, "initial_delay_seconds": 0, "timeout_seconds": 1, "period_seconds": 10,
                                  "failure_threshold": 3}, **params[probe])
    if params.get("vpc_access") is not None:
        params["vpc_access"] = dict({"network_tags": None, "egress": "private-ranges-only"}, **params["vpc_access"])
    params["secret_env"] = [dict({"version": "latest"}, **item) for item in params.get("secret_env") or []] if params.get("secret_env") is not None else None
    return params
