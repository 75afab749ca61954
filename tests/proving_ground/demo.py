"""What `make demo` runs: MLflow end to end on the proving ground, step by step, then tears it down.

A SageMaker MLflow tracking server is created through the AWS API (with the latency model on, so it
is seen `Creating` first), a real `mlflow server` with a PostgreSQL backend store and artifacts
proxied to an S3 bucket stands behind its URL, and a real MLflow client logs a run through that URL
and reads it back. Nothing leaves this machine. (Once the Fargate role lands, `make demo` deploys
that role's playbook instead.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import boto3

from .databases import PostgresServer
from .mlflow_server import MlflowServer
from .server import launch

BUCKET = "mlops-mlflow-demo-artifacts"
ROLE_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
# Letters and the characters that break an unencoded database URI.
DATABASE_PASSWORD = "demo@pass:/#?%+ word"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def run(workdir: Path) -> dict:
    step("starting the AWS proving ground (latency model on: AWS's 27 minutes become 5 seconds)")
    aws = launch(workdir / "proving_ground", settings={"latency_scale": 5 / 1650})
    cleanups = [aws.stop]
    try:
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing",
                                aws_secret_access_key="testing", aws_session_token="testing")
        s3, iam, sagemaker = (session.client(name, endpoint_url=aws.endpoint, verify=aws.ca_bundle)
                              for name in ("s3", "iam", "sagemaker"))

        step("starting a throwaway PostgreSQL server for the backend store")
        postgres = PostgresServer(workdir / "postgres").start()
        cleanups.append(postgres.stop)
        database = postgres.create_database("mlflow", "mlflow", DATABASE_PASSWORD)

        step(f"creating the artifact bucket s3://{BUCKET} and the tracking server's IAM role")
        s3.create_bucket(Bucket=BUCKET)
        role_arn = iam.create_role(RoleName="mlflow-demo-tracking-server",
                                   AssumeRolePolicyDocument=json.dumps(ROLE_TRUST))["Role"]["Arn"]

        step("starting a real mlflow server: PostgreSQL backend, artifacts proxied to S3")
        mlflow = MlflowServer(workdir / "mlflow", database.url(), artifacts_destination=f"s3://{BUCKET}/mlflow",
                              environment=dict(aws.environment, MLFLOW_S3_ENDPOINT_URL=aws.endpoint))
        cleanups.append(mlflow.stop)
        mlflow.start()

        step("CreateMlflowTrackingServer 'demo' (Small, MLflow 3.0)")
        arn = sagemaker.create_mlflow_tracking_server(
            TrackingServerName="demo", ArtifactStoreUri=f"s3://{BUCKET}/mlflow", RoleArn=role_arn,
            TrackingServerSize="Small", MlflowVersion="3.0")["TrackingServerArn"]
        aws.client.call("POST", "/sagemaker/tracking-server-url", {"TrackingServerName": "demo", "Url": mlflow.url})
        seen = []
        while True:
            status = sagemaker.describe_mlflow_tracking_server(TrackingServerName="demo")["TrackingServerStatus"]
            if not seen or seen[-1] != status:
                seen.append(status)
                print(f"    {arn}: {status}", flush=True)
            if status == "Created":
                break
            time.sleep(0.5)
        url = sagemaker.describe_mlflow_tracking_server(TrackingServerName="demo")["TrackingServerUrl"]

        step(f"logging a run through the tracking server's URL {url}")
        import mlflow as mlflow_client  # imported late: it takes seconds

        os.environ.update(aws.environment, MLFLOW_S3_ENDPOINT_URL=aws.endpoint)
        client = mlflow_client.MlflowClient(tracking_uri=url)
        experiment_id = client.create_experiment("demo")
        run_id = client.create_run(experiment_id, run_name="first-run").info.run_id
        client.log_param(run_id, "learning_rate", "0.01")
        client.log_metric(run_id, "accuracy", 0.93)
        note = workdir / "notes.txt"
        note.write_text("logged by make demo\n")
        client.log_artifact(run_id, str(note))
        client.set_terminated(run_id)

        step("reading it back")
        logged = client.get_run(run_id)
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        result = {
            "tracking_server_arn": arn,
            "statuses_seen": seen,
            "tracking_uri": url,
            "run_id": run_id,
            "params": logged.data.params,
            "metrics": logged.data.metrics,
            "artifact_objects": keys,
            "aws_api_calls": len(aws.client.requests()),
        }
        print(json.dumps(result, indent=2), flush=True)
        if not any(key.endswith("/artifacts/notes.txt") for key in keys):
            raise SystemExit("the artifact did not land in the bucket")
        return result
    finally:
        step("stopping everything")
        for cleanup in reversed(cleanups):
            cleanup()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="where the servers keep their data (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.workdir:
        run(Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="mlops-demo-") as workdir:
            run(Path(workdir))
    step("done: the proving ground, PostgreSQL and mlflow server are stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
