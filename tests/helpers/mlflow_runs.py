"""What the end-to-end tests do with a real MLflow client once a tracking server answers.

``log_a_run`` logs a param, a metric and artifacts to the tracking URI MLflow is configured with.
``exercise_mlflow`` does what a data scientist does with a deployed server, in a process that has no
cloud credentials and no MLflow settings but the tracking URI: it logs a run, registers a model
version, reads everything back through the server and checks that the artifacts landed in the
bucket under the configured prefix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import urlparse

SUMMARY_TEXT = "rmse went down\n"
# What a model directory needs for mlflow.register_model("runs:/<run>/model") to take it as a model.
MLMODEL_TEXT = "artifact_path: model\nflavors: {}\nmlflow_version: e2e\n"


def log_a_run(experiment_prefix: str, tmp_path: Path, *, payload_bytes: int = 0, model: bool = False) -> tuple:
    """Create an experiment and log a param, a metric (with a step) and an artifact file to the
    tracking URI MLflow is configured with; return (run_id, experiment_id).

    ``payload_bytes``: also log ``data/payload.bin``, that many random bytes (a bigger upload and
    download). ``model``: also log a ``model`` directory with an ``MLmodel`` file and weights, which
    ``mlflow.register_model("runs:/<run>/model", ...)`` accepts.
    """
    import mlflow  # imported late: it takes seconds

    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(f"{experiment_prefix}-{uuid.uuid4().hex[:8]}")
    report = tmp_path / "summary.txt"
    report.write_text(SUMMARY_TEXT)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_metric("rmse", 0.25, step=3)
        mlflow.log_artifact(str(report), artifact_path="reports")
        if payload_bytes:
            payload = tmp_path / "payload.bin"
            payload.write_bytes(os.urandom(payload_bytes))
            mlflow.log_artifact(str(payload), artifact_path="data")
        if model:
            directory = tmp_path / "model"
            directory.mkdir(exist_ok=True)
            (directory / "MLmodel").write_text(MLMODEL_TEXT)
            (directory / "weights.txt").write_text("0.5 0.25\n")
            mlflow.log_artifacts(str(directory), artifact_path="model")
    return run.info.run_id, experiment_id


@contextlib.contextmanager
def mlflow_client_environment(tracking_uri: str, extra_environment: Optional[dict] = None) -> Iterator[None]:
    """This process as a data scientist's: no AWS_/MLFLOW_/BOTO_ settings but the tracking URI (the
    registry follows it) and ``extra_environment`` (say, credentials for direct artifact access), no
    telemetry, no retries (a failure shows at once, not after minutes of back-off). Everything,
    MLflow's own globals included, is as before on exit."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_environment = dict(os.environ)
    saved_tracking_uri = tracking_utils._tracking_uri  # pylint: disable=protected-access
    saved_registry_uri = registry_utils._registry_uri  # pylint: disable=protected-access
    try:
        for key in list(os.environ):
            if key.startswith(("AWS_", "MLFLOW_", "BOTO_")):
                del os.environ[key]
        os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
        os.environ.update(extra_environment or {})
        mlflow.set_tracking_uri(tracking_uri)
        registry_utils._registry_uri = None  # pylint: disable=protected-access
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking_uri)
        registry_utils._registry_uri = saved_registry_uri  # pylint: disable=protected-access
        os.environ.clear()
        os.environ.update(saved_environment)


@dataclass
class MlflowExercise:
    """What ``exercise_mlflow`` made, for a test that wants to look further."""

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    run_id: str
    artifact_uri: str          # the run's, as the server reports it
    model_name: str
    model_version: str
    object_keys: list = field(default_factory=list)   # the run's artifacts in the bucket


def artifact_key(artifact_uri: str, relative_path: str, bucket: str, prefix: str) -> str:
    """The object key of an artifact of a run: proxied (``mlflow-artifacts:/<exp>/<run>/artifacts``,
    stored under ``prefix``) or direct (``s3://<bucket>/<key>``)."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "mlflow-artifacts":
        parts = [prefix.strip("/"), parsed.path.strip("/"), relative_path.strip("/")]
    elif parsed.scheme in ("s3", "s3a"):
        if parsed.netloc != bucket:
            raise AssertionError(f"the run's artifacts go to bucket {parsed.netloc!r}, not {bucket!r} ({artifact_uri})")
        parts = [parsed.path.strip("/"), relative_path.strip("/")]
    else:
        raise AssertionError(f"the run's artifact URI {artifact_uri!r} is neither proxied (mlflow-artifacts:) nor in S3")
    return "/".join(part for part in parts if part)


def list_keys(s3_client, bucket: str, prefix: str) -> list:
    """Every object key under ``prefix`` (all pages)."""
    keys = []
    listing = {"Bucket": bucket}
    if prefix.strip("/"):
        listing["Prefix"] = prefix.strip("/") + "/"
    for page in s3_client.get_paginator("list_objects_v2").paginate(**listing):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
    return keys


def exercise_mlflow(tracking_uri: str, tmp_path: Path, artifact_bucket: str, artifact_prefix: str, s3_client, *,
                    payload_bytes: int = 3 * 1024 * 1024, experiment_prefix: str = "e2e",
                    model_name: Optional[str] = None, client_environment: Optional[dict] = None,
                    proxy_downloads: bool = False) -> MlflowExercise:
    """Use the tracking server at ``tracking_uri`` as a data scientist does and check every step.

    With the real MLflow client, in a process without cloud credentials: create an experiment, log a
    param, a metric with a step, a text artifact, ``payload_bytes`` of binary artifact and a model
    directory; register that directory as a model version and give it an alias; read everything
    back through the server (run, metric history, artifact listing, downloads compared byte for
    byte, registered model, version, alias, the version's files by ``models:/`` URI). Then, with
    ``s3_client`` (bound to the emulator), check that the artifacts are objects in
    ``artifact_bucket`` under ``artifact_prefix``. Raises AssertionError naming the step that failed.
    ``client_environment``: more settings of the client (direct artifact access needs credentials
    and the S3 endpoint; proxied access needs nothing).

    Downloads: a server that proxies artifacts to S3 advertises multipart downloads (MLflow 3.17,
    ``/api/3.0/mlflow/server-info``), and the client then fetches every artifact straight from the
    bucket with a presigned URL the server signs: no credentials, but the client must reach S3 (and
    trust its certificate: with the proving ground over HTTPS, put ``REQUESTS_CA_BUNDLE`` in
    ``client_environment``). ``proxy_downloads`` makes the client download through the server instead
    (``MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false``, what clients without S3 access must set).
    Uploads go through the server below ``MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`` (500 MB).
    """
    import mlflow

    work = Path(tmp_path) / f"mlflow-client-{uuid.uuid4().hex[:6]}"
    work.mkdir(parents=True)
    model_name = model_name or f"{experiment_prefix}-model-{uuid.uuid4().hex[:8]}"
    settings = dict(client_environment or {})
    if proxy_downloads:
        settings["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] = "false"
    with mlflow_client_environment(tracking_uri, settings):
        client = mlflow.MlflowClient()
        run_id, experiment_id = log_a_run(experiment_prefix, work, payload_bytes=payload_bytes, model=True)
        experiment = client.get_experiment(experiment_id)
        assert experiment.name.startswith(f"{experiment_prefix}-"), experiment
        assert client.get_experiment_by_name(experiment.name).experiment_id == experiment_id

        fetched = client.get_run(run_id)
        assert fetched.info.status == "FINISHED", fetched.info
        assert fetched.data.params == {"alpha": "0.5"}, fetched.data.params
        assert fetched.data.metrics == {"rmse": 0.25}, fetched.data.metrics
        history = [(metric.value, metric.step) for metric in client.get_metric_history(run_id, "rmse")]
        assert history == [(0.25, 3)], history
        found = [run.info.run_id for run in client.search_runs([experiment_id], "params.alpha = '0.5'")]
        assert found == [run_id], found

        artifact_uri = fetched.info.artifact_uri
        listed = sorted(entry.path for entry in client.list_artifacts(run_id))
        expected_top = sorted(["reports", "model"] + (["data"] if payload_bytes else []))
        assert listed == expected_top, listed
        assert [entry.path for entry in client.list_artifacts(run_id, "reports")] == ["reports/summary.txt"]
        downloads = work / "downloaded"
        summary = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="reports/summary.txt", dst_path=str(downloads))
        assert Path(summary).read_text() == SUMMARY_TEXT
        if payload_bytes:
            payload = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data/payload.bin", dst_path=str(downloads))
            assert _sha256(Path(payload)) == _sha256(work / "payload.bin"), "the payload came back different"

        version = mlflow.register_model(f"runs:/{run_id}/model", model_name)
        assert (version.name, version.version, version.run_id) == (model_name, "1", run_id), version
        client.set_registered_model_alias(model_name, "champion", version.version)
        registered = client.get_registered_model(model_name)
        assert registered.name == model_name and registered.aliases == {"champion": "1"}, registered
        described = client.get_model_version(model_name, "1")
        assert described.status == "READY", described
        assert described.source == f"{artifact_uri}/model", described.source
        assert client.get_model_version_by_alias(model_name, "champion").version == "1"
        versions = [(entry.name, entry.version) for entry in client.search_model_versions(f"name = '{model_name}'")]
        assert versions == [(model_name, "1")], versions
        model_files = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model_name}@champion",
                                                               dst_path=str(work / "model-download")))
        assert (model_files / "MLmodel").read_text() == MLMODEL_TEXT

    relative = ["reports/summary.txt", "model/MLmodel", "model/weights.txt"] + (["data/payload.bin"] if payload_bytes else [])
    expected = {path: artifact_key(artifact_uri, path, artifact_bucket, artifact_prefix) for path in relative}
    keys = list_keys(s3_client, artifact_bucket, artifact_prefix)
    missing = sorted(key for key in expected.values() if key not in keys)
    assert not missing, f"not in s3://{artifact_bucket}/{artifact_prefix.strip('/')}: {missing}; the bucket holds {keys[:20]}"
    body = s3_client.get_object(Bucket=artifact_bucket, Key=expected["reports/summary.txt"])["Body"].read()
    assert body == SUMMARY_TEXT.encode(), body[:200]
    if payload_bytes:
        size = s3_client.head_object(Bucket=artifact_bucket, Key=expected["data/payload.bin"])["ContentLength"]
        assert size == payload_bytes, size
    return MlflowExercise(tracking_uri, experiment_id, experiment.name, run_id, artifact_uri, model_name, "1",
                          sorted(expected.values()))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for piece in iter(lambda: stream.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()
