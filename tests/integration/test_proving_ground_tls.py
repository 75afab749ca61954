"""The proving ground over HTTPS: one state on two ports, a certificate from a test CA that every
client verifies, and ``aws:SecureTransport`` as S3 sets it (the artifact store's TLS-only policy)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, SSLError

from proving_ground.ecs_task_runner import EcsTaskRunner, TaskSpec
from proving_ground.mlflow_server import MlflowServer

ACCOUNT_ID = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mlflow-task"


def tls_only_policy(bucket: str) -> str:
    """The artifact store's TLS-only statement, and an Allow for the MLflow task role."""
    arn = f"arn:aws:s3:::{bucket}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "AllowMlflowTask", "Effect": "Allow", "Principal": {"AWS": ROLE},
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": f"{arn}/*"},
    ]})


def http_client(aws, service: str):
    return aws.session().client(service, endpoint_url=aws.http_endpoint)


def error_of(call) -> tuple:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


@pytest.fixture
def tls_only_bucket(aws):
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(bucket))
    return bucket


def test_https_and_http_serve_one_state(aws):
    assert aws.endpoint.startswith("https://127.0.0.1:") and aws.http_endpoint.startswith("http://127.0.0.1:")
    assert aws.endpoint == aws.running.https_endpoint
    start = aws.control.last_request_id()
    aws.client("s3").create_bucket(Bucket="made-over-https")
    assert "made-over-https" in [bucket["Name"] for bucket in http_client(aws, "s3").list_buckets()["Buckets"]]
    assert [(entry["operation"], entry["tls"]) for entry in aws.control.requests(since=start)] == [
        ("CreateBucket", True), ("ListBuckets", False)]


def test_the_environment_points_at_https_and_trusts_the_test_ca(aws):
    environment = aws.environment
    assert environment["AWS_ENDPOINT_URL"] == environment["AWS_URL"] == aws.endpoint
    assert environment["AWS_CA_BUNDLE"] == aws.ca_bundle
    assert Path(aws.ca_bundle).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert aws.running.http_environment["AWS_ENDPOINT_URL"] == aws.http_endpoint
    assert "AWS_CA_BUNDLE" not in aws.running.http_environment
    assert aws.child_environment()["AWS_CA_BUNDLE"] == aws.ca_bundle


def test_the_certificate_is_verified(aws):
    session = aws.session()
    # botocore's own CA bundle does not know the test CA.
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        session.client("sts", endpoint_url=aws.endpoint, verify=_certifi_bundle()).get_caller_identity()
    assert session.client("sts", endpoint_url=aws.endpoint, verify=aws.ca_bundle).get_caller_identity()["Account"] == ACCOUNT_ID
    # The certificate names localhost too.
    localhost = aws.endpoint.replace("127.0.0.1", "localhost")
    assert session.client("sts", endpoint_url=localhost, verify=aws.ca_bundle).get_caller_identity()["Account"] == ACCOUNT_ID


def _certifi_bundle() -> str:
    import certifi  # pylint: disable=import-outside-toplevel

    return certifi.where()


def test_a_client_that_never_speaks_holds_up_nobody(aws):
    port = int(aws.endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)):
        started = time.monotonic()
        aws.client("sts").get_caller_identity()
        assert time.monotonic() - started < 5


def test_uploads_over_https_arrive_whole(aws):
    """botocore streams S3 uploads over HTTPS with aws-chunked content and no Content-Length."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="uploads")
    s3.put_object(Bucket="uploads", Key="small", Body=b"hello")
    assert s3.get_object(Bucket="uploads", Key="small")["Body"].read() == b"hello"
    payload = bytes(range(256)) * 40_000  # 10 MB: a multipart upload
    s3.upload_fileobj(io.BytesIO(payload), "uploads", "large")
    assert s3.get_object(Bucket="uploads", Key="large")["Body"].read() == payload


def test_tls_only_bucket_policy_allows_https_and_denies_http(aws, tls_only_bucket):
    s3, insecure = aws.client("s3"), http_client(aws, "s3")
    s3.put_object(Bucket=tls_only_bucket, Key="mlflow/1/model.pkl", Body=b"model")
    assert s3.get_object(Bucket=tls_only_bucket, Key="mlflow/1/model.pkl")["Body"].read() == b"model"
    assert s3.head_object(Bucket=tls_only_bucket, Key="mlflow/1/model.pkl")["ContentLength"] == 5

    assert error_of(lambda: insecure.put_object(Bucket=tls_only_bucket, Key="mlflow/2", Body=b"x")) == (403, "AccessDenied")
    assert error_of(lambda: insecure.get_object(Bucket=tls_only_bucket, Key="mlflow/1/model.pkl")) == (403, "AccessDenied")
    assert error_of(lambda: insecure.delete_object(Bucket=tls_only_bucket, Key="mlflow/1/model.pkl")) == (403, "AccessDenied")
    assert error_of(lambda: insecure.head_object(Bucket=tls_only_bucket, Key="mlflow/1/model.pkl"))[0] == 403
    assert [obj["Key"] for obj in s3.list_objects_v2(Bucket=tls_only_bucket)["Contents"]] == ["mlflow/1/model.pkl"]


def test_tls_only_bucket_through_an_assumed_role(aws, tls_only_bucket):
    """The task role of the Allow statement, with its own session credentials."""
    aws.client("iam").create_role(RoleName="mlflow-task", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    credentials = aws.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="task")["Credentials"]
    role_session = boto3.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"], region_name=aws.region)
    role_session.client("s3", endpoint_url=aws.endpoint).put_object(Bucket=tls_only_bucket, Key="by-role", Body=b"r")
    insecure = role_session.client("s3", endpoint_url=aws.http_endpoint)
    assert error_of(lambda: insecure.get_object(Bucket=tls_only_bucket, Key="by-role")) == (403, "AccessDenied")


def test_ansible_modules_verify_the_certificate_and_write_to_a_tls_only_bucket(aws, tls_only_bucket, tmp_path):
    playbook = tmp_path / "put.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - amazon.aws.s3_object:
        bucket: {tls_only_bucket}
        object: from-ansible.txt
        content: written by ansible
        mode: put
""")
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    over_https = subprocess.run(command, env=aws.child_environment(ANSIBLE_NOCOLOR="1"), capture_output=True, text=True,
                                timeout=300, check=False)
    assert over_https.returncode == 0, over_https.stdout + over_https.stderr
    assert aws.client("s3").get_object(Bucket=tls_only_bucket, Key="from-ansible.txt")["Body"].read() == b"written by ansible"

    plain = {key: value for key, value in aws.child_environment(ANSIBLE_NOCOLOR="1").items() if key != "AWS_CA_BUNDLE"}
    plain.update(aws.running.http_environment)
    over_http = subprocess.run(command, env=plain, capture_output=True, text=True, timeout=300, check=False)
    assert over_http.returncode != 0
    # The module's first request is a HeadObject: S3 answers a HEAD that the policy denies with a bare 403.
    assert '"http_status_code": 403' in over_http.stdout, over_http.stdout

    untrusted = dict(aws.child_environment(ANSIBLE_NOCOLOR="1"), AWS_CA_BUNDLE=_certifi_bundle())
    unverified = subprocess.run(command, env=untrusted, capture_output=True, text=True, timeout=300, check=False)
    # Without the test CA the module cannot even look the bucket up (it does not say why).
    assert unverified.returncode != 0
    assert "Failed while looking up bucket" in unverified.stdout, unverified.stdout


def test_child_processes_of_the_helpers_trust_the_test_ca(aws, tmp_path):
    """The local ECS task runner and the mlflow server helper hand the CA to their children."""
    server = MlflowServer(tmp_path / "mlflow", "sqlite:///mlflow.db", artifacts_destination="s3://bucket/mlflow",
                          environment={"MLFLOW_S3_ENDPOINT_URL": aws.endpoint})
    assert server.child_environment()["AWS_CA_BUNDLE"] == aws.ca_bundle
    definition = {"family": "f", "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/f:1",
                  "containerDefinitions": [{"name": "c", "image": "i", "command": ["true"]}]}
    runner = EcsTaskRunner(aws.session(), aws.endpoint, tmp_path / "tasks")
    task = runner.prepare(TaskSpec(definition, definition["containerDefinitions"][0], None)).materialize()
    assert (task.environment["AWS_ENDPOINT_URL"], task.environment["MLFLOW_S3_ENDPOINT_URL"]) == (aws.endpoint, aws.endpoint)
    assert task.environment["AWS_CA_BUNDLE"] == aws.ca_bundle
