"""mlops.mlflow.gcp_iap run by ansible-playbook against the GCP emulator: IAP directly on a Cloud Run service (with
the invoker grant to the IAP service agent) and on a backend service, settings, accessors, check mode, IAP off."""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.gcp_iap"
ACCESSOR = "roles/iap.httpsResourceAccessor"


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


def iap_args(gcp, **changes):
    args = {"service": "mlflow", "region": gcp.region,
            "members": ["group:mlflow-users@example.com", "serviceAccount:ci@{0}.iam.gserviceaccount.com".format(gcp.project)],
            "access_settings": {"allow_cors_preflight": True, "allowed_domains": ["example.com"],
                                "reauth": {"method": "LOGIN", "max_age": 43200}}}
    args.update(changes)
    return args


def iap_resource(gcp):
    return "projects/{0}/iap_web/cloud_run-{1}/services/mlflow".format(gcp.project_number, gcp.region)


def policy(gcp, url):
    answer = gcp.session().request("POST" if "iap.googleapis.com" in url else "GET", url + ":getIamPolicy")
    assert answer.status_code == 200, answer.text
    return answer.json()


def members_of(found, role):
    return sorted(member for binding in found.get("bindings", []) if binding["role"] == role for member in binding["members"])


def test_iap_on_a_cloud_run_service(gcp, play, cloud_run_service):
    preview = play([task(iap_args(gcp))], check=True, diff=True)
    assert preview.rc == 0 and preview.result()["changed"], preview.output
    assert preview.result()["diff"]["before"]["enabled"] is False
    assert gcp.control.mutating_requests() == []

    run = play([task(iap_args(gcp), name="on"), task(iap_args(gcp), name="again")])
    assert run.rc == 0, run.output
    enabled, again = run.results
    assert enabled["changed"] and not again["changed"], again.get("changed_fields")
    assert enabled["resource"] == iap_resource(gcp)
    assert enabled["iap_service_agent"] == "service-{0}@gcp-sa-iap.iam.gserviceaccount.com".format(gcp.project_number)
    assert enabled["invoker_granted"]

    service_url = "https://run.googleapis.com/v2/projects/{0}/locations/{1}/services/mlflow".format(gcp.project, gcp.region)
    assert gcp.session().get(service_url).json()["iapEnabled"] is True
    assert members_of(policy(gcp, service_url), "roles/run.invoker") == ["serviceAccount:" + enabled["iap_service_agent"]]
    iap_url = "https://iap.googleapis.com/v1/" + iap_resource(gcp)
    assert members_of(policy(gcp, iap_url), ACCESSOR) == sorted(iap_args(gcp)["members"])
    settings = gcp.session().get(iap_url + ":iapSettings").json()
    assert settings["accessSettings"]["corsSettings"] == {"allowHttpOptions": True}
    assert settings["accessSettings"]["reauthSettings"]["maxAge"] in ("43200s", "43200.000s")
    assert not any("brands" in entry["path"] or "identityAwareProxyClients" in entry["path"] for entry in gcp.control.requests())

    since = gcp.control.last_request_id()
    changed = play([task(iap_args(gcp, members=["group:mlflow-users@example.com"], members_mode="exact",
                                  access_settings={"allow_cors_preflight": False}))], diff=True)
    assert changed.rc == 0, changed.output
    result = changed.result()
    assert sorted(result["changed_fields"]) == ["accessSettings.corsSettings.allowHttpOptions", "members"]
    assert result["members_removed"] == ["serviceAccount:ci@{0}.iam.gserviceaccount.com".format(gcp.project)]
    patch = [entry for entry in gcp.control.mutating_requests(since) if entry["path"].endswith(":iapSettings")]
    assert len(patch) == 1 and "corsSettings" in patch[0]["query"]
    settings = gcp.session().get(iap_url + ":iapSettings").json()
    assert settings["accessSettings"]["corsSettings"].get("allowHttpOptions", False) is False
    assert settings["accessSettings"]["allowedDomainsSettings"]["domains"] == ["example.com"]

    off = play([task({"service": "mlflow", "region": gcp.region, "enabled": False}, name="off"),
                task({"service": "mlflow", "region": gcp.region, "enabled": False}, name="off again")])
    assert off.rc == 0, off.output
    assert [result["changed"] for result in off.results] == [True, False]
    assert not gcp.session().get(service_url).json().get("iapEnabled")


def test_iap_on_a_backend_service(gcp, play, cloud_run_service):
    neg = play([{"mlops.mlflow.gcp_compute_serverless_neg": {"name": "mlflow-neg", "region": gcp.region, "cloud_run_service": "mlflow"}}])
    assert neg.rc == 0, neg.output
    backend = gcp.session().post("https://compute.googleapis.com/compute/v1/projects/{0}/global/backendServices".format(gcp.project),
                                 json={"name": "mlflow-backend", "loadBalancingScheme": "EXTERNAL_MANAGED",
                                       "backends": [{"group": neg.result()["network_endpoint_group"]["selfLink"]}]})
    assert backend.status_code == 200, backend.text
    args = {"resource_type": "backend_service", "service": "mlflow-backend", "members": ["domain:example.com"]}
    run = play([task(args, name="on"), task(args, name="again")])
    assert run.rc == 0, run.output
    assert [result["changed"] for result in run.results] == [True, False]
    assert run.results[0]["resource"] == "projects/{0}/iap_web/compute/services/mlflow-backend".format(gcp.project_number)
    found = gcp.session().get("https://compute.googleapis.com/compute/v1/projects/{0}/global/backendServices/mlflow-backend".format(
        gcp.project)).json()
    assert found["iap"]["enabled"] is True


def test_bad_input_and_missing_service(gcp, play):
    run = play([task(iap_args(gcp, members=["ada@example.com"]), ignore_errors=True),
                task(iap_args(gcp), ignore_errors=True)])
    assert "is not a principal" in run.results[0]["msg"]
    assert "Cloud Run service mlflow does not exist in europe-west1" in run.results[1]["msg"]
    assert gcp.control.mutating_requests() == []
