"""mlops.mlflow.gcp_cloudrun_service run by ansible-playbook against the GCP emulator.

The module talks to https://run.googleapis.com as it would in production; the emulator's TLS-terminating proxy
answers (HTTPS_PROXY, REQUESTS_CA_BUNDLE in ``gcp.child_environment()``). Each test checks the module's results and
what it asked of Cloud Run through the emulator's request log. Tasks are batched into few playbook runs.
"""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.gcp_cloudrun_service"
IMAGE = "europe-west1-docker.pkg.dev/test/mlflow/mlflow:v3.18.0-full"


def task(args, **keywords):
    return dict({MODULE: args}, **keywords)


def service_args(gcp, **changes):
    args = {
        "name": "mlflow",
        "region": gcp.region,
        "image": IMAGE,
        "port": 5000,
        "env": {"MLFLOW_HOST": "0.0.0.0", "MLFLOW_PORT": "5000"},
        "secret_env": [{"name": "MLFLOW_BACKEND_STORE_URI", "secret": "mlflow-backend-store-uri"}],
        "cloudsql_instances": ["{0}:{1}:mlflow".format(gcp.project, gcp.region)],
        "service_account": "mlflow-server@{0}.iam.gserviceaccount.com".format(gcp.project),
        "min_instances": 0,
        "max_instances": 3,
        "cpu": "1",
        "memory": "2Gi",
        "concurrency": 40,
        "timeout": 300,
        "ingress": "all",
        "vpc_access": {"network": "default", "subnetwork": "default", "egress": "private-ranges-only"},
        "startup_probe": {"path": "/health", "period_seconds": 5, "failure_threshold": 24},
        "liveness_probe": {"path": "/health"},
        "iap_enabled": True,
        "labels": {"application": "mlflow"},
    }
    args.update(changes)
    return args


@pytest.fixture
def play(gcp, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, gcp.child_environment(), tasks, check=check, diff=diff)
    return tasks


def service(gcp, name="mlflow"):
    answer = gcp.session().get("https://run.googleapis.com/v2/projects/{0}/locations/{1}/services/{2}".format(gcp.project, gcp.region, name))
    return answer.json() if answer.status_code == 200 else None


def test_check_mode_then_create_then_nothing_to_do(gcp, play):
    preview = play([task(service_args(gcp))], check=True, diff=True)
    assert preview.rc == 0, preview.output
    assert preview.result()["changed"] and preview.result()["diff"]["after"]["template"]["containers"][0]["image"] == IMAGE
    assert gcp.control.mutating_requests() == []

    run = play([task(service_args(gcp), name="create"), task(service_args(gcp), name="again")])
    assert run.rc == 0, run.output
    created, again = run.results
    assert created["changed"] and not again["changed"], again.get("changed_fields")
    assert created["uri"].startswith("https://mlflow-") and created["uri"].endswith(".run.app")
    assert created["latest_ready_revision"].endswith("/revisions/" + created["latest_ready_revision"].rsplit("/", 1)[1])
    assert created["conditions"][0]["state"] == "CONDITION_SUCCEEDED"
    mutating = gcp.control.mutating_requests()
    assert len(mutating) == 1 and mutating[0]["host"].startswith("run.googleapis.com")

    found = service(gcp)
    container = found["template"]["containers"][0]
    assert found["iapEnabled"] is True
    assert container["image"] == IMAGE and container["ports"][0]["containerPort"] == 5000
    assert {"name": "cloudsql", "mountPath": "/cloudsql"} in container["volumeMounts"]
    assert found["template"]["vpcAccess"]["networkInterfaces"][0]["network"] == "default"
    assert any(variable.get("valueSource", {}).get("secretKeyRef", {}).get("secret") == "mlflow-backend-store-uri"
               for variable in container["env"])

    rerun = play([task(service_args(gcp))])
    assert rerun.rc == 0 and rerun.recap["changed"] == 0, rerun.output


def test_update_with_diff_then_a_failed_revision(gcp, play):
    assert play([task(service_args(gcp))]).rc == 0
    since = gcp.control.last_request_id()
    gcp.control.configure(operation_delay=1.5)  # the update's operation and the new revision take a while: the module waits
    updated = play([task(service_args(gcp, image=IMAGE.replace("v3.18.0", "v3.19.0"), labels={"team": "ml"}, max_instances=5))],
                   diff=True)
    assert updated.rc == 0, updated.output
    result = updated.result()
    assert result["changed"]
    assert sorted(result["changed_fields"]) == ["labels", "template.containers", "template.scaling.maxInstanceCount"]
    assert result["diff"]["before"]["labels"] == {"application": "mlflow"} and result["diff"]["after"]["labels"] == {"team": "ml"}
    assert [entry["http_method"] for entry in gcp.control.mutating_requests(since)] == ["PATCH"]
    assert any("/operations/" in entry["path"] for entry in gcp.control.requests(since))
    assert result["conditions"][0]["state"] == "CONDITION_SUCCEEDED"
    assert service(gcp)["labels"] == {"team": "ml"}

    gcp.control.fail_next_revision("mlflow", "The user-provided container failed to start and listen on the port defined by PORT=5000.")
    failed = play([task(service_args(gcp, image="europe-west1-docker.pkg.dev/test/mlflow/broken:1"))])
    assert failed.rc != 0
    message = failed.result()["msg"]
    assert "the new revision is not ready" in message and "failed to start and listen on the port defined by PORT=5000" in message
    assert "is not ready and cannot serve traffic" in message


def test_absent_then_absent_again(gcp, play):
    assert play([task(service_args(gcp))]).rc == 0
    run = play([task({"name": "mlflow", "region": gcp.region, "state": "absent"}, name="delete"),
                task({"name": "mlflow", "region": gcp.region, "state": "absent"}, name="again")])
    assert run.rc == 0, run.output
    assert [result["changed"] for result in run.results] == [True, False]
    assert service(gcp) is None


def test_bad_input_fails_clearly_without_a_call(gcp, play):
    run = play([task(service_args(gcp, cpu="lots"), ignore_errors=True),
                task(service_args(gcp, cloudsql_instances=["mlflow"]), ignore_errors=True),
                task({"name": "mlflow", "region": gcp.region}, ignore_errors=True)])
    assert run.rc == 0, run.output
    messages = [result["msg"] for result in run.results]
    assert "cpu must be a number of CPUs" in messages[0]
    assert "is not a connection name" in messages[1]
    assert "image is required to create Cloud Run service" in messages[2]
    assert gcp.control.mutating_requests() == []
