"""gcp_iap against an in-memory Google API: IAP on a Cloud Run service (with the invoker grant to the IAP service
agent) and on a backend service, settings with an updateMask of what differs, accessors added or made exact."""

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import gcp_iap as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import gcp_fakes
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

SERVICE = "projects/{0}/locations/{1}/services/mlflow".format(gcp_fakes.PROJECT, gcp_fakes.REGION)
IAP_RESOURCE = "projects/{0}/iap_web/cloud_run-{1}/services/mlflow".format(gcp_fakes.PROJECT_NUMBER, gcp_fakes.REGION)
AGENT = "serviceAccount:service-{0}@gcp-sa-iap.iam.gserviceaccount.com".format(gcp_fakes.PROJECT_NUMBER)
ARGS = dict(gcp_fakes.AUTH, service="mlflow", region=gcp_fakes.REGION, members=["group:ml@example.com"],
            access_settings={"allowed_domains": ["example.com"], "allow_cors_preflight": True,
                             "reauth": {"method": "LOGIN", "max_age": 3600}})

run = harness.runner(module)


@pytest.fixture
def google(monkeypatch):
    harness.patch_module_exits(monkeypatch)
    fake = gcp_fakes.FakeGoogle()
    gcp_fakes.install(monkeypatch, fake)
    service, _failure = fake.fill(SERVICE, {"template": {"containers": [{"image": "mlflow"}]}}, 1)
    fake.services[SERVICE] = service
    return fake


def test_turns_iap_on_with_settings_accessors_and_invoker_then_changes_nothing(google):
    outcome = run(ARGS, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    result = outcome.result
    assert result["changed"] and result["resource"] == IAP_RESOURCE and result["enabled"] is True
    assert google.services[SERVICE]["iapEnabled"] is True
    assert {"role": "roles/run.invoker", "members": [AGENT]} in google.iam[SERVICE]["bindings"]
    assert google.iam[IAP_RESOURCE]["bindings"] == [{"role": "roles/iap.httpsResourceAccessor", "members": ["group:ml@example.com"]}]
    assert google.iam[IAP_RESOURCE]["etag"] == "BwZ="
    patch = [request for request in google.requests if request[0] == "PATCH" and ":iapSettings" in request[1]][0]
    assert patch[2]["accessSettings"]["reauthSettings"] == {"method": "LOGIN", "maxAge": "3600s", "policyType": "MINIMUM"}
    # The resource is switched on last: accessors and settings are in place first.
    mutating = [url for _method, url in google.mutating()]
    assert mutating[-1].endswith(SERVICE) and ":setIamPolicy" in mutating[-2]
    assert result["diff"]["before"]["enabled"] is False and result["diff"]["after"]["members"] == ["group:ml@example.com"]
    assert result["iap_service_agent"] == AGENT.split(":", 1)[1]

    google.requests.clear()
    again = run(ARGS)
    assert again.result["changed"] is False, again.result["changed_fields"]
    assert google.mutating() == []


def test_update_mask_names_only_what_differs(google):
    assert not run(ARGS).failed
    google.requests.clear()
    outcome = run(dict(ARGS, access_settings=dict(ARGS["access_settings"], allow_cors_preflight=False)))
    assert outcome.result["changed_fields"] == ["accessSettings.corsSettings.allowHttpOptions"]
    assert module.update_mask(outcome.result["changed_fields"]) == "iapSettings.accessSettings.corsSettings.allowHttpOptions"
    assert module.update_mask(["accessSettings.reauthSettings.maxAge"]) == "iapSettings.accessSettings.reauthSettings"


def test_members_add_keeps_others_exact_removes_them(google):
    google.iam[IAP_RESOURCE] = {"etag": "x", "bindings": [{"role": "roles/iap.httpsResourceAccessor", "members": ["user:old@example.com"]}]}
    added = run(dict(ARGS, access_settings=None))
    assert added.result["members"] == ["user:old@example.com", "group:ml@example.com"]
    exact = run(dict(ARGS, access_settings=None, members_mode="exact"))
    assert exact.result["members_removed"] == ["user:old@example.com"]
    assert google.iam[IAP_RESOURCE]["bindings"] == [{"role": "roles/iap.httpsResourceAccessor", "members": ["group:ml@example.com"]}]


def test_check_mode_changes_nothing(google):
    outcome = run(ARGS, check_mode=True, diff=True)
    assert outcome.result["changed"]
    assert google.mutating() == []
    assert "iapEnabled" not in google.services[SERVICE]


def test_turning_off(google):
    assert not run(ARGS).failed
    outcome = run(dict(gcp_fakes.AUTH, service="mlflow", region=gcp_fakes.REGION, enabled=False))
    assert outcome.result["changed_fields"] == ["enabled"]
    assert not google.services[SERVICE].get("iapEnabled")


def test_missing_service_is_named(google):
    outcome = run(dict(ARGS, service="nothing"))
    assert outcome.failed and "Cloud Run service nothing does not exist in europe-west1" in outcome.result["msg"]
    assert google.mutating() == []


def test_backend_service(google):
    url = "projects/{0}/global/backendServices/mlflow-backend".format(gcp_fakes.PROJECT)
    google.backend_services[url] = {"name": "mlflow-backend", "iap": {"enabled": False}}
    outcome = run(dict(gcp_fakes.AUTH, resource_type="backend_service", service="mlflow-backend", members=["domain:example.com"],
                       project_number=gcp_fakes.PROJECT_NUMBER))
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["resource"] == "projects/{0}/iap_web/compute/services/mlflow-backend".format(gcp_fakes.PROJECT_NUMBER)
    assert google.backend_services[url]["iap"] == {"enabled": True}
    assert outcome.result["invoker_granted"] is False
    assert not any("cloudresourcemanager" in request[1] for request in google.requests)


@pytest.mark.parametrize("overrides, message", [
    ({"members": ["ada@example.com"]}, "is not a principal"),
    ({"region": None}, "region is required with resource_type=cloud_run"),
    ({"project_number": "my-project"}, "project_number must be digits only"),
    ({"access_settings": {"reauth": {"method": "LOGIN", "max_age": 0}}}, "max_age must be above 0"),
])
def test_bad_input_fails_before_any_call(google, overrides, message):
    outcome = run(dict(ARGS, **overrides))
    assert outcome.failed and message in outcome.result["msg"], outcome.result["msg"]
    assert google.requests == []
