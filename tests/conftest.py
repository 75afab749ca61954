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


# --------------------------------------------------------------------------------------------------
# GCP: the emulator of tests/gcp_emulator, reached through its TLS-terminating HTTPS proxy
# --------------------------------------------------------------------------------------------------
GCP_DEFAULT_SETTINGS = {"operation_delay": 0.0, "strict": True, "fail_next_revision": {},
                        "require_enabled_services": False}
# What child_environment() drops from os.environ before adding the emulator's environment: anything
# that could point a Google client (or the proxy settings) elsewhere, and the AWS side's variables.
_GCP_DROPPED_PREFIXES = ("GCP_", "GOOGLE_", "CLOUDSDK_", "AWS_", "BOTO_")
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}


@pytest.fixture(scope="session")
def gcp_emulator(tmp_path_factory):
    """The GCP emulator, one per test session, on a free loopback port (see tests/gcp_emulator)."""
    from gcp_emulator.server import launch as launch_gcp

    running = launch_gcp(tmp_path_factory.mktemp("gcp_emulator"))
    yield running
    running.stop()


@pytest.fixture
def gcp(gcp_emulator):
    """The GCP emulator, emptied and with default settings, for one test.

    ``gcp.environment`` (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, GCP_PROJECT, GCP_AUTH_KIND,
    GCP_ACCESS_TOKEN), ``gcp.project`` / ``gcp.project_number`` / ``gcp.region``, ``gcp.control``
    (reset, configure, requests(), mutating_requests()), ``gcp.child_environment(**extra)`` for
    ansible-playbook, ``gcp.session()`` for direct API calls.
    """
    control = gcp_emulator.client
    control.configure(**GCP_DEFAULT_SETTINGS)
    control.reset()
    yield GcpTestProject(gcp_emulator)


class GcpTestProject:
    def __init__(self, running):
        self.running = running
        self.environment = running.environment
        self.project = running.project
        self.project_number = running.project_number
        self.region = "europe-west1"
        self.control = running.client
        self.proxy_url = running.proxy_url
        self.ca_bundle = running.ca_bundle
        self.trust_bundle = running.trust_bundle

    def child_environment(self, **extra) -> dict:
        """os.environ without GCP_*/GOOGLE_*/proxy/AWS variables, plus the emulator's environment."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(_GCP_DROPPED_PREFIXES) and key.lower() not in _PROXY_VARIABLES}
        env.update(self.environment)
        env.update(extra)
        return env

    def session(self):
        """A requests.Session through the emulator's proxy, trusting its CA, with the fake token."""
        import requests

        session = requests.Session()
        session.trust_env = False  # only what is set here: no proxy or CA from this process's environment
        session.proxies = {"https": self.proxy_url}
        session.verify = self.trust_bundle
        session.headers["Authorization"] = "Bearer " + self.environment["GCP_ACCESS_TOKEN"]
        return session


@pytest.fixture(scope="session")
def gcs_data_plane(gcp_emulator):
    """The Cloud Storage data plane (objects), one per session: gcp-storage-emulator in this process
    (see tests/gcp_emulator/gcs_data_plane.py), for the emulated project."""
    from gcp_emulator.gcs_data_plane import LocalGcs

    storage = LocalGcs(project=gcp_emulator.project, project_number=gcp_emulator.project_number).start()
    yield storage
    storage.stop()


@pytest.fixture
def gcs(gcs_data_plane):
    """The Cloud Storage data plane, emptied, for one test (``environment``, ``client()``, ``object_names()``)."""
    gcs_data_plane.wipe()
    return gcs_data_plane
