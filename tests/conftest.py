"""Fixtures shared by every test: the AWS proving ground and the throwaway database servers."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from proving_ground.server import launch

pytest_plugins = ["proving_ground.database_fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def proving_ground(tmp_path_factory):
    """The AWS proving ground, one per test session, on a free loopback port.

    Clients reach it over HTTPS (``running.endpoint``) and trust its test CA: this process's boto3
    through ``AWS_CA_BUNDLE`` (and ``REQUESTS_CA_BUNDLE``, botocore's fallback, for tests that clear
    ``AWS_*``), Python's ``ssl`` defaults (urllib) through ``SSL_CERT_FILE``; the last two hold the
    usual CAs plus the test CA. Child processes inherit all three.
    """
    running = launch(tmp_path_factory.mktemp("proving_ground"))
    trust = {"AWS_CA_BUNDLE": running.ca_bundle, "SSL_CERT_FILE": running.trust_bundle,
             "REQUESTS_CA_BUNDLE": running.trust_bundle}
    saved = {key: os.environ.get(key) for key in trust}
    os.environ.update(trust)
    yield running
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    running.stop()


@pytest.fixture
def aws(proving_ground):
    """The proving ground, emptied and with default settings, for one test.

    ``aws.client("sagemaker")`` gives a boto3 client bound to it; ``aws.environment`` what a child
    process (ansible-playbook, mlflow) needs to reach it.
    """
    control = proving_ground.client
    control.configure(latency_scale=0.0, latency_overrides={}, fault_rate=0.0, fault_services=[],
                      fault_kinds=["throttle"], fault_seed=None, strict=True)
    if control.mutating_requests():  # resetting costs seconds (moto reloads the managed policies)
        control.reset()
    control.clear_task_outcomes()
    yield AwsTestAccount(proving_ground)


class AwsTestAccount:
    def __init__(self, running):
        self.running = running
        self.endpoint = running.endpoint
        self.http_endpoint = running.http_endpoint  # the same, over plain HTTP (aws:SecureTransport false)
        self.ca_bundle = running.ca_bundle  # the test CA the HTTPS certificate comes from
        self.control = running.client
        self.environment = running.environment
        self.region = "us-east-1"

    def session(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                             aws_session_token="testing", region_name=self.region)

    def client(self, service: str, retries: int | None = None):
        config = Config(retries={"total_max_attempts": retries, "mode": "standard"}) if retries else None
        return self.session().client(service, endpoint_url=self.endpoint, config=config)

    def child_environment(self, **extra) -> dict:
        """os.environ for a child process, pointed at the proving ground and nowhere else."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("AWS_", "BOTO_")) or key in ("AWS_CA_BUNDLE",)}
        env.update(self.environment)
        env.update(extra)
        return env
