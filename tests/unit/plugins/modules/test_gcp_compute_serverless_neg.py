"""gcp_compute_serverless_neg against an in-memory compute API: create and wait, no-op re-run, a difference refused,
check mode, absent, a group in use."""

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import gcp_compute_serverless_neg as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import gcp_fakes
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

PATH = "projects/{0}/regions/{1}/networkEndpointGroups/mlflow-neg".format(gcp_fakes.PROJECT, gcp_fakes.REGION)
ARGS = dict(gcp_fakes.AUTH, name="mlflow-neg", region=gcp_fakes.REGION, cloud_run_service="mlflow")

run = harness.runner(module)


@pytest.fixture
def google(monkeypatch):
    harness.patch_module_exits(monkeypatch)
    fake = gcp_fakes.FakeGoogle()
    gcp_fakes.install(monkeypatch, fake)
    return fake


def test_creates_waits_then_changes_nothing(google):
    outcome = run(ARGS, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"]
    group = outcome.result["network_endpoint_group"]
    assert group["networkEndpointType"] == "SERVERLESS" and group["cloudRun"] == {"service": "mlflow"}
    assert any("/operations/operation-" in request[1] for request in google.requests)
    assert outcome.result["diff"] == {"before": {}, "after": {"name": "mlflow-neg", "networkEndpointType": "SERVERLESS",
                                                              "cloudRun": {"service": "mlflow"}, "description": ""}}
    google.requests.clear()
    again = run(ARGS)
    assert again.result["changed"] is False and google.mutating() == []


def test_difference_is_refused_and_named(google):
    assert not run(ARGS).failed
    google.requests.clear()
    outcome = run(dict(ARGS, cloud_run_service="other"))
    assert outcome.failed
    assert "cannot be changed" in outcome.result["msg"] and "'other'" in outcome.result["msg"]
    assert google.mutating() == []


def test_check_mode(google):
    outcome = run(ARGS, check_mode=True)
    assert outcome.result["changed"] and google.mutating() == []


def test_absent_then_absent_again(google):
    assert not run(ARGS).failed
    assert run(dict(ARGS, state="absent")).result["changed"]
    assert PATH not in google.negs
    assert run(dict(ARGS, state="absent")).result["changed"] is False


def test_in_use_group_fails_with_computes_message(google):
    assert not run(ARGS).failed
    google.negs[PATH]["in_use"] = True
    outcome = run(dict(ARGS, state="absent"))
    assert outcome.failed and "already being used by 'mlflow-backend'" in outcome.result["msg"]


@pytest.mark.parametrize("overrides, message", [
    ({"name": "Bad_Name"}, "name must be a lowercase letter"),
    ({"cloud_run_service": None}, "one of cloud_run_service and url_mask is required"),
    ({"region": "europe"}, "region must be a region"),
])
def test_bad_input_fails_before_any_call(google, overrides, message):
    outcome = run(dict(ARGS, **overrides))
    assert outcome.failed and message in outcome.result["msg"]
    assert google.requests == []
