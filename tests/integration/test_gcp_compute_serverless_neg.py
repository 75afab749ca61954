"""mlops.mlflow.gcp_compute_serverless_neg run by ansible-playbook against the GCP emulator (compute through
https://compute.googleapis.com, answered by the emulator's proxy)."""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.gcp_compute_serverless_neg"


def task(args, **keywords):
    return dict({MODULE: args}, **keywords)


@pytest.fixture
def play(gcp, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, gcp.child_environment(), tasks, check=check, diff=diff)
    return tasks


@pytest.fixture
def cloud_run_service(gcp, play):
    run = play([{"mlops.mlflow.gcp_cloudrun_service": {"name": "mlflow", "region": gcp.region, "image": "example/mlflow:1"}}])
    assert run.rc == 0, run.output
    gcp.control.clear_requests()
    return "mlflow"


def neg_args(gcp, **changes):
    return dict({"name": "mlflow-neg", "region": gcp.region, "cloud_run_service": "mlflow"}, **changes)


def neg_url(gcp, name="mlflow-neg"):
    return "https://compute.googleapis.com/compute/v1/projects/{0}/regions/{1}/networkEndpointGroups/{2}".format(gcp.project, gcp.region, name)


def test_life_cycle(gcp, play, cloud_run_service):
    preview = play([task(neg_args(gcp))], check=True)
    assert preview.rc == 0 and preview.result()["changed"], preview.output
    assert gcp.control.mutating_requests() == []

    run = play([task(neg_args(gcp), name="create", diff=True),
                task(neg_args(gcp), name="again"),
                task(neg_args(gcp, cloud_run_service="other"), name="differs", ignore_errors=True)])
    assert run.rc == 0, run.output
    created, again, differs = run.results
    assert created["changed"] and created["network_endpoint_group"]["networkEndpointType"] == "SERVERLESS"
    assert created["network_endpoint_group"]["cloudRun"] == {"service": "mlflow"}
    assert created["diff"]["before"] == {} and created["diff"]["after"]["cloudRun"] == {"service": "mlflow"}
    assert not again["changed"]
    assert differs["failed"] and "cannot be changed" in differs["msg"] and "'other'" in differs["msg"]
    assert len(gcp.control.mutating_requests()) == 1
    assert gcp.session().get(neg_url(gcp)).json()["cloudRun"] == {"service": "mlflow"}

    gone = play([task(neg_args(gcp, state="absent"), name="delete"), task(neg_args(gcp, state="absent"), name="again")])
    assert gone.rc == 0, gone.output
    assert [result["changed"] for result in gone.results] == [True, False]
    assert gcp.session().get(neg_url(gcp)).status_code == 404


def test_in_use_group_is_not_deleted(gcp, play, cloud_run_service):
    assert play([task(neg_args(gcp))]).rc == 0
    backend = gcp.session().post("https://compute.googleapis.com/compute/v1/projects/{0}/global/backendServices".format(gcp.project),
                                 json={"name": "mlflow-backend", "loadBalancingScheme": "EXTERNAL_MANAGED",
                                       "backends": [{"group": neg_url(gcp)}]})
    assert backend.status_code == 200, backend.text
    run = play([task(neg_args(gcp, state="absent"), ignore_errors=True)])
    assert run.result()["failed"]
    assert "Could not delete network endpoint group mlflow-neg" in run.result()["msg"] and "already being used" in run.result()["msg"]


def test_bad_input_fails_without_a_call(gcp, play):
    run = play([task(neg_args(gcp, name="Bad_Name"), ignore_errors=True),
                task(neg_args(gcp, cloud_run_service=None), ignore_errors=True)])
    assert "name must be a lowercase letter" in run.results[0]["msg"]
    assert "one of cloud_run_service and url_mask is required" in run.results[1]["msg"]
    assert gcp.control.requests() == []
