"""A real ``mlflow server`` writing artifacts to a bucket with the artifact store's TLS-only policy:
over the proving ground's HTTPS port (its boto3 verifying the test CA) the artifacts land; over the
plain HTTP port S3 refuses them, as AWS would."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from helpers.mlflow_runs import log_a_run
from proving_ground.mlflow_server import MlflowServer

pytestmark = pytest.mark.slow


def tls_only(bucket: str) -> str:
    arn = f"arn:aws:s3:::{bucket}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


@pytest.fixture
def tracking_client(monkeypatch):
    """A data scientist's process: no cloud settings, fail at once instead of retrying."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "MLFLOW_", "BOTO_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return monkeypatch


def test_artifacts_reach_a_tls_only_bucket_over_https_only(aws, tmp_path, tracking_client):
    bucket = f"mlflow-tls-{uuid.uuid4().hex[:8]}"
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=tls_only(bucket))
    over_https = MlflowServer(tmp_path / "https", f"sqlite:///{tmp_path / 'https.db'}",
                              artifacts_destination=f"s3://{bucket}/https",
                              environment=dict(aws.environment, MLFLOW_S3_ENDPOINT_URL=aws.endpoint))
    over_http = MlflowServer(tmp_path / "http", f"sqlite:///{tmp_path / 'http.db'}",
                             artifacts_destination=f"s3://{bucket}/http",
                             environment=dict(aws.running.http_environment, MLFLOW_S3_ENDPOINT_URL=aws.http_endpoint))
    servers = [over_https, over_http]
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_until_ready()
        start = aws.control.last_request_id()
        tracking_client.setenv("MLFLOW_TRACKING_URI", over_https.url)
        run_id, dummy = log_a_run("tls", tmp_path)
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="https/")["Contents"]]
        assert any(key.endswith(f"{run_id}/artifacts/reports/summary.txt") for key in keys), keys
        import mlflow  # pylint: disable=import-outside-toplevel

        downloaded = mlflow.MlflowClient().download_artifacts(run_id, "reports/summary.txt", str(tmp_path))
        assert open(downloaded, encoding="utf-8").read() == "rmse went down\n"
        writes = [entry for entry in aws.control.requests(since=start) if entry["operation"] == "PutObject"]
        assert writes and all(entry["tls"] and entry["status"] == 200 for entry in writes)

        start = aws.control.last_request_id()
        tracking_client.setenv("MLFLOW_TRACKING_URI", over_http.url)
        from mlflow.exceptions import MlflowException  # pylint: disable=import-outside-toplevel

        with pytest.raises(MlflowException):  # the server drops the upload's connection: S3 refused it
            log_a_run("plain", tmp_path)
        assert "An error occurred (AccessDenied) when calling the PutObject operation" in over_http.log_text()
        refused = [entry for entry in aws.control.requests(since=start) if entry["operation"] == "PutObject"]
        assert refused and all(not entry["tls"] and entry["error_code"] == "AccessDenied" for entry in refused)
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="http/")
    finally:
        for server in servers:
            server.request_stop()
        for server in servers:
            server.stop()
