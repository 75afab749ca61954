"""The role mlops.mlflow.mlflow_gcp_cloudrun, end to end: the collection's playbook deploys MLflow on Cloud Run
behind IAP (direct mode: IAP on the service, no load balancer) in the GCP emulator, and the deployment works
for a real MLflow client.

1. The database password is chosen by the test, full of characters that break an unencoded URI
   (``@ : / # ? % +`` and a space): it is put in the password secret before the first run, which the role
   reads back instead of generating one (as on every later run).
2. ``playbooks/mlflow_gcp_cloudrun.yml`` runs with ansible-playbook, as a user runs it (the direct-IAP example
   variables when the collection has them, with the emulator's project and region, an artifact prefix and one
   server worker), once with ``-vvv``, then again: the second run changes nothing.
3. The backend store URI secret is checked: percent-encoded, parsed back to the user, the password, the
   database and the instance's ``/cloudsql`` socket directory.
4. What Cloud Run would run is run here (``helpers.cloudrun_e2e``): the service's command with the venv's
   mlflow, its environment and the URI from Secret Manager, the ``/cloudsql`` socket on a local PostgreSQL
   (the database user made there with the password from the password secret), ``gs://`` on the storage
   emulator, behind a local front end that sends the service's ``run.app`` host. A real MLflow client logs
   and reads back an experiment, params, metrics, artifacts and a registered model version; the artifacts are
   objects in the emulated bucket under the prefix; a foreign Host gets 403, and so does a state-changing call
   from a foreign Origin, while one from the service's own origin passes (the CORS setting).
5. The password appears nowhere it must not: the playbook's ``-vvv`` output, the outputs fact, the Cloud Run
   service, the container's log.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from urllib.parse import quote, urlparse

import pytest
import yaml

from helpers.ansible import REPO_ROOT, run_playbook
from helpers.cloudrun_e2e import CloudRunMlflow
from proving_ground.database_fixtures import awkward_password

pytestmark = pytest.mark.slow

PLAYBOOK = REPO_ROOT / "playbooks" / "mlflow_gcp_cloudrun.yml"
ROLE = REPO_ROOT / "roles" / "mlflow_gcp_cloudrun"
EXAMPLE_VARS = sorted((REPO_ROOT / "playbooks" / "vars").glob("mlflow_gcp_cloudrun*direct*.yml"))
SECRETS_API = "https://secretmanager.googleapis.com/v1"
RUN_API = "https://run.googleapis.com/v2"
NAME = "mlflow"
PREFIX = "team/mlflow"
FOREIGN_HOST = "evil.example.com"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=5"
OUTPUTS_TASK = "Publish the outputs of the deployment"
PLAYBOOK_TIMEOUT = 600

if not PLAYBOOK.exists() or not ROLE.is_dir():
    pytest.skip("the role mlflow_gcp_cloudrun and playbooks/mlflow_gcp_cloudrun.yml are not in the collection yet",
                allow_module_level=True)


def stack_variables(gcp) -> dict:
    """The direct-IAP example variables (if the collection has them) with the emulator's project and region."""
    variables = yaml.safe_load(EXAMPLE_VARS[0].read_text()) if EXAMPLE_VARS else {}
    variables = dict(variables or {})
    variables.update({
        "mlflow_gcp_cloudrun_project_id": gcp.project,
        "mlflow_gcp_cloudrun_region": gcp.region,
        "mlflow_gcp_cloudrun_name": NAME,
        "mlflow_gcp_cloudrun_artifact_prefix": PREFIX,
        # One server worker: the container starts here, on a small machine, not on Cloud Run.
        "mlflow_gcp_cloudrun_workers": 1,
    })
    variables.setdefault("mlflow_gcp_cloudrun_webapp_users", ["user:data-scientist@example.com"])
    for key in ("mlflow_gcp_cloudrun_domain", "mlflow_gcp_cloudrun_network_name"):
        variables.pop(key, None)   # direct IAP: no load balancer; the public-IP Cloud SQL connector
    return variables


def with_document(run):
    """The run with its JSON document, which at -vvv follows the verbose lines on stdout."""
    if run.document is not None:
        return run
    position = len(run.stdout)
    while True:
        position = run.stdout.rfind("\n{\n", 0, position)
        if position < 0:
            return run
        try:
            return dataclasses.replace(run, document=json.loads(run.stdout[position + 1:]))
        except ValueError:
            continue


def outputs_of(run) -> dict:
    published = [result for result in run.results if result["_task"].endswith(OUTPUTS_TASK)]
    assert published, f"no task {OUTPUTS_TASK!r} ran:\n{run.output[-6000:]}"
    return published[-1]["ansible_facts"]["mlflow_gcp_cloudrun_outputs"]


def changed_tasks(run) -> list:
    return [result["_task"] for result in run.results if result.get("changed")]


def chosen_password() -> str:
    """Letters, digits and every character that breaks an unencoded URI: @ : / # ? % + and a space."""
    password = awkward_password()
    for character in "@:/#?%+ ":
        assert character in password
    return password


def secret_payload(gcp, secret_id: str) -> str:
    answer = gcp.session().get(f"{SECRETS_API}/{secret_id}/versions/latest:access", timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    return base64.b64decode(answer.json()["payload"]["data"]).decode()


def assert_nowhere(password: str, places: dict) -> None:
    for place, text in places.items():
        for form, value in {"the database password": password, "the percent-encoded database password": quote(password, safe="")}.items():
            assert value not in text, f"{form} is in {place}"


def test_the_playbook_deploys_an_mlflow_on_cloud_run_that_works(gcp, gcs, postgres_server, tmp_path):
    started = time.monotonic()
    variables = stack_variables(gcp)
    password = chosen_password()
    # The password secret exists before the first run (the role reads it back instead of generating one).
    session = gcp.session()
    secret_name = variables.get("mlflow_gcp_cloudrun_password_secret_name", f"{NAME}-db-password")
    answer = session.post(f"{SECRETS_API}/projects/{gcp.project}/secrets?secretId={secret_name}",
                          json={"replication": {"automatic": {}}}, timeout=30)
    assert answer.status_code == 200, answer.text
    answer = session.post(f"{SECRETS_API}/projects/{gcp.project}/secrets/{secret_name}:addVersion",
                          json={"payload": {"data": base64.b64encode(password.encode()).decode()}}, timeout=30)
    assert answer.status_code == 200, answer.text

    workdir = tmp_path / "ansible"
    deploy = with_document(run_playbook(workdir, gcp.child_environment(), PLAYBOOK, extra_vars=variables, extra_args=["-vvv"],
                                        timeout=PLAYBOOK_TIMEOUT))
    assert deploy.rc == 0, deploy.output[-20000:]
    assert deploy.recap.get("failures") == 0 and deploy.recap.get("changed", 0) > 0, deploy.recap
    assert "<localhost> EXEC " in deploy.stdout, "ansible-playbook was not verbose: the check of its output below would prove little"
    outputs = outputs_of(deploy)
    print(f"\ndeployed after {time.monotonic() - started:.0f}s")
    run_host = f"{NAME}-{gcp.project_number}.{gcp.region}.run.app"
    assert (outputs["mode"], outputs["project_id"], outputs["region"], outputs["service_name"]) == ("direct_iap", gcp.project, gcp.region,
                                                                                                    NAME)
    assert outputs["service_url"] == f"https://{run_host}" and outputs["tracking_uri"] == f"https://{run_host}", outputs
    assert outputs["artifacts_destination"] == f"gs://{outputs['bucket_name']}/{PREFIX}"
    assert outputs["instance_connection_name"] == f"{gcp.project}:{gcp.region}:{outputs['database_instance']}"

    again = run_playbook(workdir, gcp.child_environment(), PLAYBOOK, extra_vars=variables, timeout=PLAYBOOK_TIMEOUT)
    assert again.rc == 0, again.output[-20000:]
    assert again.recap.get("changed") == 0, f"the second run changed {changed_tasks(again)}"
    assert outputs_of(again) == outputs
    print(f"deployed again, changing nothing, after {time.monotonic() - started:.0f}s")

    # The role used the chosen password, and the URI it stored carries it percent-encoded.
    from sqlalchemy.engine import make_url

    assert secret_payload(gcp, outputs["password_secret_id"]) == password
    uri = secret_payload(gcp, outputs["backend_store_uri_secret_id"])
    assert quote(password, safe="") in uri and password not in uri, "the backend store URI is not percent-encoded"
    parsed = make_url(uri)
    assert parsed.drivername == "postgresql+psycopg2"
    assert (parsed.username, parsed.password, parsed.database) == (outputs["database_user"], password, outputs["database_name"])
    assert parsed.query["host"] == f"/cloudsql/{outputs['instance_connection_name']}"
    service = session.get(f"{RUN_API}/projects/{gcp.project}/locations/{gcp.region}/services/{NAME}", timeout=30).json()
    assert service["iapEnabled"] is True and service["uri"] == outputs["service_url"]
    assert_nowhere(password, {
        "the output of ansible-playbook -vvv": deploy.stdout + deploy.stderr,
        "the output of the second run": again.stdout + again.stderr,
        "the outputs fact": json.dumps(outputs),
        "the Cloud Run service": json.dumps(service),
    })

    deployment = CloudRunMlflow.from_outputs(outputs, gcp, tmp_path / "deployment", storage=gcs)
    assert deployment.problems(deployment.describe()) == []
    with deployment.run(postgres_server) as running:
        print(f"MLflow answered after {time.monotonic() - started:.0f}s (the container took {running.task.startup_seconds:.0f}s)")
        assert running.host_header == urlparse(outputs["service_url"]).hostname
        assert (running.database.user, running.database.password) == (outputs["database_user"], password)
        assert (running.artifact_bucket, running.artifact_prefix) == (outputs["bucket_name"], PREFIX)
        exercised = running.exercise(tmp_path, payload_bytes=1024 * 1024 + 7)
        hosts = {entry.host for entry in running.front_end.requests}
        assert hosts == {run_host}, hosts
        objects = running.object_names()
        assert exercised.object_keys and set(exercised.object_keys) <= set(objects), (exercised.object_keys, objects)
        assert all(name.startswith(PREFIX + "/") for name in objects), objects
        assert exercised.model_version == "1"
        status, body = running.request("GET", SEARCH)
        assert status == 200 and exercised.experiment_name in body, (status, body[:500])
        status, body = running.request("GET", SEARCH, host=FOREIGN_HOST)
        assert status == 403 and "Invalid Host header" in body, (status, body[:500])
        # Browsers behind IAP send the service's origin with state-changing calls: allowed; a foreign origin is not.
        create = "/api/2.0/mlflow/experiments/create"
        status, body = running.request("POST", create, body={"name": "from-the-browser"}, headers={"Origin": f"https://{run_host}"})
        assert status == 200 and "experiment_id" in body, (status, body[:500])
        status, body = running.request("POST", create, body={"name": "cross-site"}, headers={"Origin": f"https://{FOREIGN_HOST}"})
        assert status == 403, (status, body[:500])
        assert running.request("GET", "/health")[0] == 200
        assert running.request("GET", "/health", host=FOREIGN_HOST)[0] == 200
    print(f"exercised and stopped after {time.monotonic() - started:.0f}s")
    assert running.leaked_secrets() == []
    assert_nowhere(password, {"the container's log": running.log_text()})
