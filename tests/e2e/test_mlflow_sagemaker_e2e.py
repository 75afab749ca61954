"""SageMaker managed MLflow end to end: the collection's modules create a tracking server and a
serverless MLflow App on the proving ground, and the real ``sagemaker-mlflow`` client plugin logs
runs to them with their ARNs as tracking URIs.

The path of one of the plugin's requests, as proven here:

    MLflow client (tracking URI = the ARN)
      -> sagemaker-mlflow's store builds the URL: SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT (here the proving
         ground) + /api/2.0/mlflow/...; adds x-mlflow-sm-tracking-server-arn (App: x-sm-mlflow-app-arn)
      -> its AuthBoto signs it with SigV4 (service sagemaker-mlflow; App: sagemaker; region of the ARN)
      -> the proving ground's SageMaker data plane (proving_ground/sagemaker_mlflow_data_plane.py)
         recomputes the signature, finds the resource in the emulated SageMaker store, refuses it
         while it is not serving, and relays the call to the local `mlflow server` it is pointed at
      -> the answer goes back the same way.
    Artifacts: the run's artifact URI is in the resource's ArtifactStoreUri (s3://...), and the
    plugin's S3 artifact repository writes there itself with boto3 (AWS_ENDPOINT_URL_S3 -> the
    proving ground's S3), as SageMaker's clients do.

What the plugin does not do, shown by test_the_plugin_does_not_ask_sagemaker_where_the_server_is:
it never resolves the ARN through the SageMaker API. Its MLflow calls go to
``https://<region>.experiments.sagemaker.aws`` (Apps: ``https://mlflow.sagemaker.<region>.app.aws``)
or to SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT; DescribeMlflowTrackingServer's TrackingServerUrl and
AWS_ENDPOINT_URL_SAGEMAKER change nothing there. The one SageMaker API call it makes is for a
presigned UI URL (``sagemaker_mlflow.presigned_url.get_presigned_url``), which does honour
AWS_ENDPOINT_URL_SAGEMAKER and is proven here too.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime

import pytest

from helpers.ansible import REPO_ROOT, run_playbook, run_tasks
from helpers.mlflow_runs import exercise_mlflow, mlflow_client_environment
from proving_ground.mlflow_server import MlflowServer
from proving_ground.server import FAKE_CREDENTIALS

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
BUCKET = "mlops-mlflow-sagemaker-e2e"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlflow-sagemaker-e2e"
SERVER_PREFIX = "tracking-server"
APP_PREFIX = "app"
# How long creation lasts with the latency model on (AWS: 25-30 minutes for a tracking server, a few
# for an App). Long enough that an ansible-playbook start (seconds on 2 busy cores) is over before it.
SERVER_CREATE_SECONDS = 25
APP_CREATE_SECONDS = 8
DATA_PLANE = "/sagemaker/mlflow-data-plane"


@pytest.fixture(scope="module")
def mlflow_backends(tmp_path_factory, proving_ground):
    """What SageMaker runs behind a tracking server and behind an App: one real ``mlflow server``
    each (SQLite backend). Artifacts are not proxied: the default artifact root is the resource's
    ArtifactStoreUri, so runs get ``s3://`` artifact URIs and the clients write to the bucket."""
    servers = {}
    for kind, prefix in (("tracking-server", SERVER_PREFIX), ("app", APP_PREFIX)):
        directory = tmp_path_factory.mktemp(f"mlflow_sagemaker_{kind}")
        servers[kind] = MlflowServer(
            directory, f"sqlite:///{directory}/mlflow.db",
            environment=dict(proving_ground.environment, MLFLOW_DEFAULT_ARTIFACT_ROOT=f"s3://{BUCKET}/{prefix}",
                             MLFLOW_SERVE_ARTIFACTS="false"))
    try:
        for server in servers.values():
            server.launch()
        for kind, server in servers.items():
            server.wait_until_ready()
            print(f"\nmlflow server behind the {kind} answered after {server.startup_seconds:.1f}s")
        yield servers
    finally:
        for server in servers.values():
            server.request_stop()
        for server in servers.values():
            server.stop()


def plugin_environment(aws, custom_endpoint: bool = True) -> dict:
    """A client process with the plugin: credentials, the proving ground for the SageMaker API, S3
    and (SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT) the MLflow data plane, and trust in its test CA."""
    environment = {key: FAKE_CREDENTIALS[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                          "AWS_SESSION_TOKEN")}
    environment.update(AWS_DEFAULT_REGION=aws.region, AWS_CA_BUNDLE=aws.ca_bundle,
                       AWS_ENDPOINT_URL_SAGEMAKER=aws.endpoint, AWS_ENDPOINT_URL_S3=aws.endpoint,
                       MLFLOW_TRACKING_SERVER_CERT_PATH=aws.ca_bundle)
    if custom_endpoint:
        environment["SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT"] = aws.endpoint
    return environment


def task_seconds(run, index: int) -> float:
    """How long task ``index`` of the run's only play took (the JSON callback's timestamps)."""
    duration = run.document["plays"][0]["tasks"][index]["task"]["duration"]
    start, end = (datetime.fromisoformat(duration[key].replace("Z", "+00:00")) for key in ("start", "end"))
    return (end - start).total_seconds()


def data_plane_records(aws, arn: str) -> list:
    return [record for record in aws.control.call("GET", DATA_PLANE)["requests"] if record["arn"] == arn]


def check_plugin_path(aws, arn: str, backend: MlflowServer, service: str, since: int, exercise,
                      records_before: int = 0) -> None:
    """Every MLflow call of the exercise went the plugin's way (see the module docstring).
    ``since``: the proving ground's last request before it; ``records_before``: how many data plane
    records of ``arn`` there were."""
    records = data_plane_records(aws, arn)[records_before:]
    assert records, "no MLflow request reached the proving ground's data plane"
    summary = Counter((r["signing_service"], r["signing_region"], r["signature"], r["relayed_to"], r["status"])
                      for r in records)
    assert set(summary) == {(service, aws.region, "verified", backend.url, 200)}, summary
    paths = {record["path"] for record in records}
    for path in ("/api/2.0/mlflow/experiments/create", "/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/runs/log-parameter",
                 "/api/2.0/mlflow/runs/log-metric", "/api/2.0/mlflow/runs/get", "/api/2.0/mlflow/model-versions/create"):
        assert path in paths, sorted(paths)
    # While logging, the plugin called the data plane (signed for ``service``) and S3 (artifacts),
    # never a SageMaker API operation.
    entries = aws.control.requests(since)
    called = Counter(entry["service"] for entry in entries)
    assert set(called) == {service, "s3"}, called
    api_calls = [entry["operation"] for entry in entries if entry["service"] == "sagemaker" and entry["operation"]]
    assert api_calls == [], api_calls
    assert all(entry["path"].startswith("/api/") for entry in entries if entry["service"] == service)
    # The run is in the mlflow server behind the resource, read there without the plugin.
    import mlflow

    direct = mlflow.MlflowClient(tracking_uri=backend.url).get_run(exercise.run_id)
    assert direct.data.params == {"alpha": "0.5"} and direct.data.metrics == {"rmse": 0.25}
    print(f"\n{arn}: {len(records)} MLflow calls signed ({service}) and relayed to {backend.url}; "
          f"proving ground calls while logging: {dict(called)}")


def test_tracking_server_made_by_the_module_and_used_through_the_plugin(mlflow_backends, aws, tmp_path):
    """Module: wait=false returns at once with Creating; wait=true waits until Created. Plugin:
    refused while Creating, then logs, registers and reads back through the ARN."""
    backend = mlflow_backends["tracking-server"]
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    arn = f"arn:aws:sagemaker:{aws.region}:{ACCOUNT}:mlflow-tracking-server/{name}"
    aws.control.call("POST", "/sagemaker/tracking-server-url", {"TrackingServerName": name, "Url": backend.url})
    aws.control.configure(latency_scale=1.0,
                          latency_overrides={"sagemaker:CreateMlflowTrackingServer": SERVER_CREATE_SECONDS})
    options = {"name": name, "artifact_store_uri": f"s3://{BUCKET}/{SERVER_PREFIX}", "role_arn": ROLE_ARN,
               "size": "Small", "mlflow_version": "3.0", "tags": {"purpose": "e2e"}}

    began = time.monotonic()
    first = run_tasks(tmp_path / "create", aws.child_environment(), [
        {"name": "create, no wait", "mlops.mlflow.sagemaker_mlflow_tracking_server": dict(options, wait=False)}])
    assert first.rc == 0, first.output
    created = first.result()
    assert created["changed"] and created["actions"] == ["create"], created
    assert created["tracking_server_arn"] == arn
    assert (created["tracking_server"]["tracking_server_status"], created["tracking_server"]["is_active"]) == \
        ("Creating", "Inactive"), created["tracking_server"]
    assert task_seconds(first, 0) < 5, "wait=false did not return at once"
    print(f"\nwait=false: the task took {task_seconds(first, 0):.1f}s (playbook {time.monotonic() - began:.1f}s), "
          f"status Creating")

    # The plugin while the server is Creating: signed and verified, but refused (503, which MLflow's
    # client retries, here not at all: MLFLOW_HTTP_REQUEST_MAX_RETRIES=0).
    import mlflow
    from mlflow.exceptions import MlflowException

    with mlflow_client_environment(arn, plugin_environment(aws)):
        with pytest.raises(MlflowException, match="503"):
            mlflow.MlflowClient().search_experiments(max_results=1)
    refused = data_plane_records(aws, arn)[-1]
    assert (refused["signature"], refused["status"], refused["relayed_to"]) == ("verified", 503, None), refused

    sagemaker = aws.client("sagemaker")
    described = sagemaker.describe_mlflow_tracking_server(TrackingServerName=name)
    remaining = described["CreationTime"].timestamp() + SERVER_CREATE_SECONDS - time.time()
    assert described["TrackingServerStatus"] == "Creating" and remaining > 0, (described, remaining)
    since = aws.control.last_request_id()
    second = run_tasks(tmp_path / "wait", aws.child_environment(), [
        {"name": "present, wait", "mlops.mlflow.sagemaker_mlflow_tracking_server": dict(options, wait=True)}])
    assert second.rc == 0, second.output
    waited = second.result()
    assert not waited["changed"], waited
    assert waited["tracking_server"]["tracking_server_status"] == "Created", waited["tracking_server"]
    assert waited["tracking_server"]["is_active"] == "Active"
    assert waited["tracking_server_url"] == backend.url
    # Creating when the run began, Created when the module returned, polled in between: the wait
    # covered the rest of Creating -> Created.
    polls = Counter(entry["operation"] for entry in aws.control.requests(since))["DescribeMlflowTrackingServer"]
    assert polls >= 2, f"the module did not poll: {polls} DescribeMlflowTrackingServer calls"
    print(f"wait=true: the task took {task_seconds(second, 0):.1f}s of the {remaining:.1f}s left, "
          f"{polls} DescribeMlflowTrackingServer calls; Creating -> Created")

    since, records_before = aws.control.last_request_id(), len(data_plane_records(aws, arn))
    started = time.monotonic()
    exercise = exercise_mlflow(arn, tmp_path, BUCKET, SERVER_PREFIX, s3, payload_bytes=256 * 1024,
                               experiment_prefix="sagemaker-e2e", client_environment=plugin_environment(aws))
    elapsed = time.monotonic() - started
    assert exercise.artifact_uri.startswith(f"s3://{BUCKET}/{SERVER_PREFIX}/"), exercise.artifact_uri
    check_plugin_path(aws, arn, backend, "sagemaker-mlflow", since, exercise, records_before)
    print(f"logged, registered and read back through the plugin in {elapsed:.1f}s; artifacts: {exercise.object_keys}")

    # The plugin's one SageMaker API call: a presigned UI URL, through AWS_ENDPOINT_URL_SAGEMAKER.
    from sagemaker_mlflow.presigned_url import get_presigned_url

    since = aws.control.last_request_id()
    with mlflow_client_environment(arn, plugin_environment(aws)):
        url = get_presigned_url(url_expiration_duration=60, session_duration=1800)
    assert url.startswith(f"{backend.url}/?authToken="), url
    assert [(e["service"], e["operation"]) for e in aws.control.requests(since)] == \
        [("sagemaker", "CreatePresignedMlflowTrackingServerUrl")]


def test_mlflow_app_made_by_the_module_and_used_through_the_plugin(mlflow_backends, aws, tmp_path):
    """The plugin (0.5.0) takes App ARNs too: it signs them as service ``sagemaker`` and names the
    App in ``x-sm-mlflow-app-arn``. The module waits for Creating -> Created here as well."""
    backend = mlflow_backends["app"]
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    name = f"e2e-app-{uuid.uuid4().hex[:8]}"
    aws.control.call("POST", "/sagemaker/mlflow-app-url", {"Name": name, "Url": backend.url})
    aws.control.configure(latency_scale=1.0, latency_overrides={"sagemaker:CreateMlflowApp": APP_CREATE_SECONDS})
    options = {"name": name, "artifact_store_uri": f"s3://{BUCKET}/{APP_PREFIX}", "role_arn": ROLE_ARN}
    run = run_tasks(tmp_path / "app", aws.child_environment(), [
        {"name": "create, no wait", "mlops.mlflow.sagemaker_mlflow_app": dict(options, wait=False)},
        {"name": "present, wait", "mlops.mlflow.sagemaker_mlflow_app": dict(options, wait=True)},
    ])
    assert run.rc == 0, run.output
    created, waited = run.result(0), run.result(1)
    assert created["changed"] and created["app"]["status"] == "Creating", created
    assert task_seconds(run, 0) < 5, "wait=false did not return at once"
    assert not waited["changed"] and waited["app"]["status"] == "Created", waited
    arn = created["app_arn"]
    assert arn.startswith(f"arn:aws:sagemaker:{aws.region}:{ACCOUNT}:mlflow-app/app-") and waited["app_arn"] == arn
    print(f"\nApp: wait=false {task_seconds(run, 0):.1f}s (Creating), wait=true {task_seconds(run, 1):.1f}s (Created)")

    since = aws.control.last_request_id()
    exercise = exercise_mlflow(arn, tmp_path, BUCKET, APP_PREFIX, s3, payload_bytes=0,
                               experiment_prefix="sagemaker-app-e2e", client_environment=plugin_environment(aws))
    assert exercise.artifact_uri.startswith(f"s3://{BUCKET}/{APP_PREFIX}/"), exercise.artifact_uri
    check_plugin_path(aws, arn, backend, "sagemaker", since, exercise)

    from sagemaker_mlflow.presigned_url import get_presigned_url

    with mlflow_client_environment(arn, plugin_environment(aws)):
        assert get_presigned_url().startswith(f"{backend.url}/?authToken=")


def test_the_plugin_does_not_ask_sagemaker_where_the_server_is(mlflow_backends, aws):
    """The limitation, exactly: without SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT the plugin sends MLflow
    calls to AWS's regional endpoint, whatever DescribeMlflowTrackingServer says and whatever
    AWS_ENDPOINT_URL_SAGEMAKER is. (Nothing is sent: host credentials are computed, not used.)"""
    backend = mlflow_backends["tracking-server"]
    sagemaker = aws.client("sagemaker")
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    arn = sagemaker.create_mlflow_tracking_server(TrackingServerName=name, ArtifactStoreUri=f"s3://{BUCKET}/x",
                                                  RoleArn=ROLE_ARN)["TrackingServerArn"]
    aws.control.call("POST", "/sagemaker/tracking-server-url", {"TrackingServerName": name, "Url": backend.url})
    assert sagemaker.describe_mlflow_tracking_server(TrackingServerName=name)["TrackingServerUrl"] == backend.url
    app_arn = f"arn:aws:sagemaker:{aws.region}:{ACCOUNT}:mlflow-app/app-ABCDEFGHIJKL"

    from sagemaker_mlflow.host_creds import get_host_creds

    since = aws.control.last_request_id()
    with mlflow_client_environment(arn, plugin_environment(aws, custom_endpoint=False)):
        assert get_host_creds(arn).host == f"https://{aws.region}.experiments.sagemaker.aws"
        assert get_host_creds(app_arn).host == f"https://mlflow.sagemaker.{aws.region}.app.aws"
        assert get_host_creds(arn).auth == "arn"
    assert aws.control.requests(since) == [], "the plugin asked the SageMaker API"
    with mlflow_client_environment(arn, plugin_environment(aws)):
        assert get_host_creds(arn).host == aws.endpoint
        assert get_host_creds(app_arn).host == aws.endpoint


def _signed(aws, arn: str, service: str, secret: str = "testing", header: str = "x-mlflow-sm-tracking-server-arn",
            path: str = "/api/2.0/mlflow/experiments/search", body: bytes = b'{"max_results": 1}'):
    """A request to the proving ground's data plane, signed as the plugin signs (or not, service None)."""
    import hashlib

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {"Content-Type": "application/json", header: arn,
               "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    request = AWSRequest(method="POST", url=f"{aws.endpoint}{path}", data=body, headers=headers)
    if service:
        SigV4Auth(Credentials("testing", secret, "testing"), service, aws.region).add_auth(request)
    return request


def _send(aws, request, body: bytes = None):
    import requests

    prepared = request.prepare()
    answer = requests.request(prepared.method, prepared.url, data=body if body is not None else prepared.body,
                              headers=dict(prepared.headers), verify=aws.ca_bundle, timeout=30)
    return answer.status_code, answer.json()


def test_the_data_plane_lets_only_signed_requests_through(mlflow_backends, aws):
    """What the proving ground checks before it relays: SigV4 (scope, payload hash, signature),
    the resource, its status."""
    backend = mlflow_backends["tracking-server"]
    sagemaker = aws.client("sagemaker")
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    arn = sagemaker.create_mlflow_tracking_server(TrackingServerName=name, ArtifactStoreUri=f"s3://{BUCKET}/x",
                                                  RoleArn=ROLE_ARN)["TrackingServerArn"]

    status, document = _send(aws, _signed(aws, arn, "sagemaker-mlflow"))
    assert (status, document["__type"]) == (502, "BadGateway"), document  # not pointed at an mlflow server yet
    aws.control.call("POST", "/sagemaker/tracking-server-url", {"TrackingServerName": name, "Url": backend.url})

    status, document = _send(aws, _signed(aws, arn, "sagemaker-mlflow"))
    assert status == 200 and "experiments" in document, document
    refusals = {
        "unsigned": (_signed(aws, arn, None), None, 403, "MissingAuthenticationTokenException"),
        "wrong service": (_signed(aws, arn, "sagemaker"), None, 403, "InvalidSignatureException"),
        "wrong secret": (_signed(aws, arn, "sagemaker-mlflow", secret="not-it"), None, 403, "InvalidSignatureException"),
        "body changed after signing": (_signed(aws, arn, "sagemaker-mlflow"), b'{"max_results": 2}', 400,
                                       "XAmzContentSHA256Mismatch"),
        "unknown server": (_signed(aws, arn + "-gone", "sagemaker-mlflow"), None, 404, "ResourceNotFound"),
    }
    for case, (request, body, wanted_status, wanted_code) in refusals.items():
        status, document = _send(aws, request, body)
        assert (status, document["__type"]) == (wanted_status, wanted_code), (case, document)
    assert "Credential should be scoped to correct service: 'sagemaker-mlflow'" in \
        _send(aws, _signed(aws, arn, "sagemaker"))[1]["message"]

    # An App is called as service sagemaker (its permission is sagemaker:CallMlflowAppApi).
    app_arn = sagemaker.create_mlflow_app(Name=f"e2e-app-{uuid.uuid4().hex[:8]}", ArtifactStoreUri=f"s3://{BUCKET}/y",
                                          RoleArn=ROLE_ARN)["Arn"]
    aws.control.call("POST", "/sagemaker/mlflow-app-url", {"Arn": app_arn, "Url": backend.url})
    status, document = _send(aws, _signed(aws, app_arn, "sagemaker-mlflow", header="x-sm-mlflow-app-arn"))
    assert (status, document["__type"]) == (403, "InvalidSignatureException"), document
    assert "scoped to correct service: 'sagemaker'" in document["message"]
    status, document = _send(aws, _signed(aws, app_arn, "sagemaker", header="x-sm-mlflow-app-arn"))
    assert status == 200 and "experiments" in document, document

    sagemaker.stop_mlflow_tracking_server(TrackingServerName=name)
    status, document = _send(aws, _signed(aws, arn, "sagemaker-mlflow"))
    assert (status, document["__type"]) == (503, "ServiceUnavailable") and "STOPPED" in document["message"], document
    records = data_plane_records(aws, arn)
    assert [r["signature"] for r in records].count("verified") >= 2
    assert {r["relayed_to"] for r in records if r["status"] == 200} == {backend.url}


def test_role_playbook_then_the_plugin_with_the_arn_from_its_outputs(aws, proving_ground, tmp_path_factory, tmp_path):
    """playbooks/mlflow_sagemaker.yml with the basic example's vars, then the plugin logs with the
    tracking URI the role's outputs name (``mlflow_sagemaker_outputs.tracking_uri``)."""
    import yaml

    vars_file = REPO_ROOT / "playbooks" / "vars" / "mlflow_sagemaker_basic.yml"
    example = yaml.safe_load(vars_file.read_text())
    assert example["mlflow_sagemaker_region"] == aws.region
    base = f"{example['mlflow_sagemaker_project_name']}-{example['mlflow_sagemaker_environment']}"
    # What the role's README promises for these inputs: the bucket <project>-<environment>-mlflow-artifacts.
    artifact_store_uri = f"s3://{base}-mlflow-artifacts"
    directory = tmp_path_factory.mktemp("mlflow_sagemaker_role")
    backend = MlflowServer(directory, f"sqlite:///{directory}/mlflow.db",
                           environment=dict(proving_ground.environment, MLFLOW_DEFAULT_ARTIFACT_ROOT=artifact_store_uri,
                                            MLFLOW_SERVE_ARTIFACTS="false"))
    backend.launch()  # starts while the playbook runs
    try:
        aws.control.call("POST", "/sagemaker/tracking-server-url", {"TrackingServerName": "*", "Url": backend.url})
        started = time.monotonic()
        run = run_playbook(tmp_path / "role", aws.child_environment(), REPO_ROOT / "playbooks" / "mlflow_sagemaker.yml",
                           extra_args=["-e", f"@{vars_file}"], timeout=600)
        assert run.rc == 0, run.output[-6000:]
        played = time.monotonic() - started
        published = [r for r in run.results if "mlflow_sagemaker_outputs" in r.get("ansible_facts", {})]
        outputs = published[-1]["ansible_facts"]["mlflow_sagemaker_outputs"]
        arn = outputs["tracking_uri"]
        assert arn == outputs["tracking_server_arn"] == \
            f"arn:aws:sagemaker:{aws.region}:{ACCOUNT}:mlflow-tracking-server/{outputs['tracking_server_name']}", outputs
        assert outputs["tracking_server_name"] == base and outputs["tracking_server_status"] == "Created", outputs
        assert outputs["artifact_store_uri"].rstrip("/") == artifact_store_uri, outputs
        assert outputs["tracking_server_url"] == backend.url, outputs
        print(f"\nplaybook: {played:.1f}s, recap {run.recap}; tracking URI {arn}")

        backend.wait_until_ready()
        since, records_before = aws.control.last_request_id(), len(data_plane_records(aws, arn))
        exercise = exercise_mlflow(arn, tmp_path, outputs["bucket_name"], "", aws.client("s3"), payload_bytes=0,
                                   experiment_prefix="sagemaker-role-e2e", client_environment=plugin_environment(aws))
        assert exercise.artifact_uri.startswith(f"{artifact_store_uri}/"), exercise.artifact_uri
        check_plugin_path(aws, arn, backend, "sagemaker-mlflow", since, exercise, records_before)
    finally:
        backend.stop()
