"""The proving ground's SageMaker MLflow emulation (tracking servers, MLflow Apps, their tags).

Most tests talk to a real proving ground process through boto3 (the ``aws`` fixture). Every client
made here carries a :class:`ModelChecker`: each request and each raw answer (success or error) is
checked against botocore's model, and the test fails at teardown if anything did not match. A request
that breaks the model's constraints must be answered with exactly the ValidationException AWS words
for it.

The last section drives the overlay in-process (no network) where a fake clock or a deliberately
broken handler is needed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from proving_ground import model_check
from proving_ground.aws_protocol import AwsRequest
from proving_ground.latency import LatencyModel
from proving_ground.sagemaker_mlflow import (
    ACCOUNT_ID, DEFAULT_MAINTENANCE_WINDOW, MAX_TRACKING_SERVERS, MLFLOW_APP_VERSION, SageMakerMlflowOverlay,
    authorized_url_claims,
)
from proving_ground.settings import Settings

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mlflow-tracking"
STORE = "s3://mlflow-artifacts-bucket/team-a"
SERVER_ARN = re.compile(rf"^arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:mlflow-tracking-server/(?P<name>.+)$")
SERVER_URL = re.compile(r"^https://t-[a-z0-9]{12}\.us-east-1\.experiments\.sagemaker\.aws$")
APP_ARN = re.compile(rf"^arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:mlflow-app/app-[A-Z0-9]{{12}}$")

# Phase lengths for the life-cycle tests: 500 "AWS seconds" at a scale of 0.001 is half a second.
PHASE_SECONDS = 0.5
LIFE_CYCLE_SETTINGS = dict(latency_scale=0.001, latency_overrides={
    f"sagemaker:{operation}": PHASE_SECONDS * 1000 for operation in (
        "CreateMlflowTrackingServer", "UpdateMlflowTrackingServer", "StopMlflowTrackingServer",
        "StartMlflowTrackingServer", "DeleteMlflowTrackingServer", "CreateMlflowApp", "UpdateMlflowApp",
        "DeleteMlflowApp")})
# Long enough that nothing settles during a test.
FROZEN_SETTINGS = dict(latency_scale=1.0)


class ModelChecker:
    """botocore event hooks that check every request and raw answer against botocore's model."""

    def __init__(self):
        self.problems: list[str] = []
        self.calls = 0

    def attach(self, client):
        client.meta.events.register("before-call.sagemaker", self._before_call)
        client.meta.events.register("after-call.sagemaker", self._after_call)
        return client

    def _before_call(self, model, params, context, **_):
        document = json.loads(params.get("body") or b"{}")
        problems = model_check.validate_input(model, document)
        for problem in problems:
            if problem.kind == model_check.TYPE:
                self.problems.append(f"{model.name} request: {problem}")
        constraints = [problem for problem in problems if problem.kind == model_check.CONSTRAINT]
        context["expected_validation_message"] = (
            model_check.validation_error_message(constraints) if constraints else None)

    def _after_call(self, http_response, parsed, model, context, **_):
        self.calls += 1
        status, body = http_response.status_code, http_response.content
        if status >= 500:
            self.problems.append(f"{model.name} answered {status}: {body[:500]!r}")
        elif status < 300:
            self.problems += [f"{model.name} answer: {p}" for p in
                              model_check.validate_output(model, json.loads(body or b"{}"))]
        else:
            self.problems += [f"{model.name} error: {p}" for p in model_check.validate_error_body(model, body)]
        expected = context.get("expected_validation_message")
        if expected:
            error = parsed.get("Error", {})
            if (error.get("Code"), error.get("Message")) != ("ValidationException", expected):
                self.problems.append(f"{model.name}: a request that breaks the model got {status} {error}, "
                                     f"not ValidationException {expected!r}")


@pytest.fixture
def checker(aws):
    checker = ModelChecker()
    yield checker
    assert checker.problems == []
    assert checker.calls > 0, "the test made no checked call"


@pytest.fixture
def make_client(aws, checker):
    """``make_client(region=..., validate=False)``: a checked SageMaker client; no retries."""

    def make(region: str | None = None, validate: bool = True):
        config = Config(parameter_validation=validate, retries={"total_max_attempts": 1, "mode": "standard"})
        client = aws.session().client("sagemaker", endpoint_url=aws.endpoint, region_name=region or aws.region,
                                      config=config)
        return checker.attach(client)

    return make


@pytest.fixture
def sm(make_client):
    return make_client()


def create_server(sm, name="team-a", **extra):
    return sm.create_mlflow_tracking_server(TrackingServerName=name, ArtifactStoreUri=STORE, RoleArn=ROLE,
                                            **extra)["TrackingServerArn"]


def create_app(sm, name="team-a", **extra):
    return sm.create_mlflow_app(Name=name, ArtifactStoreUri=STORE, RoleArn=ROLE, **extra)["Arn"]


def error_of(call, *args, **kwargs) -> tuple:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def wait_for_status(describe, field: str, until: str, timeout: float = 15) -> list:
    """Poll until ``field`` reads ``until``; return every status seen, in order, without repeats."""
    seen: list = []
    deadline = time.monotonic() + timeout
    while True:
        status = describe()[field]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == until:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{field} never became {until}; seen {seen}")
        time.sleep(0.05)


def recent(moment: datetime, seconds: float = 60) -> bool:
    return abs((datetime.now(timezone.utc) - moment).total_seconds()) < seconds


# Tracking servers: creation and description

def test_create_and_describe_report_aws_defaults(sm):
    arn = create_server(sm)
    assert SERVER_ARN.match(arn).group("name") == "team-a"
    server = sm.describe_mlflow_tracking_server(TrackingServerName="team-a")
    assert server["TrackingServerArn"] == arn
    assert server["TrackingServerStatus"] == "Created"  # the latency model is off
    assert server["IsActive"] == "Active"
    assert server["TrackingServerSize"] == "Small"
    assert server["MlflowVersion"] == "3.0.0"
    assert server["AutomaticModelRegistration"] is False
    assert server["WeeklyMaintenanceWindowStart"] == DEFAULT_MAINTENANCE_WINDOW
    assert server["S3BucketOwnerAccountId"] == ACCOUNT_ID
    assert server["S3BucketOwnerVerification"] is True
    assert server["ArtifactStoreUri"] == STORE and server["RoleArn"] == ROLE
    assert SERVER_URL.match(server["TrackingServerUrl"])
    assert recent(server["CreationTime"]) and server["LastModifiedTime"] >= server["CreationTime"]
    assert server["CreatedBy"]["IamIdentity"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:user/moto"


def test_requested_settings_are_kept(sm):
    create_server(sm, TrackingServerSize="Medium", MlflowVersion="2.16", AutomaticModelRegistration=True,
                  WeeklyMaintenanceWindowStart="Sun:23:59", S3BucketOwnerAccountId="210987654321",
                  S3BucketOwnerVerification=False)
    server = sm.describe_mlflow_tracking_server(TrackingServerName="team-a")
    assert server["TrackingServerSize"] == "Medium"
    assert server["MlflowVersion"] == "2.16.2"  # asked as major.minor, reported with the patch
    assert server["AutomaticModelRegistration"] is True
    assert server["WeeklyMaintenanceWindowStart"] == "Sun:23:59"
    assert server["S3BucketOwnerAccountId"] == "210987654321"
    assert server["S3BucketOwnerVerification"] is False


def test_each_server_gets_its_own_url(sm):
    create_server(sm, "one")
    create_server(sm, "two")
    urls = {sm.describe_mlflow_tracking_server(TrackingServerName=n)["TrackingServerUrl"] for n in ("one", "two")}
    assert len(urls) == 2


@pytest.mark.parametrize("version", ["2.16.2", "3.0.0", "9.9", "2.15"])
def test_unsupported_mlflow_versions_are_refused(sm, version):
    assert error_of(create_server, sm, MlflowVersion=version) == (
        "ValidationException", "The provided MLflow version is not supported")


def test_an_invalid_size_is_refused_with_aws_message(sm):
    assert error_of(create_server, sm, TrackingServerSize="Huge") == (
        "ValidationException",
        "1 validation error detected: Value 'Huge' at 'trackingServerSize' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Small, Medium, Large]")


def test_several_invalid_members_are_reported_together(sm):
    code, message = error_of(create_server, sm, TrackingServerSize="Huge", WeeklyMaintenanceWindowStart="Mon:25:00")
    assert code == "ValidationException"
    assert message.startswith("2 validation errors detected: Value 'Huge' at 'trackingServerSize'")
    assert "; Value 'Mon:25:00' at 'weeklyMaintenanceWindowStart' failed to satisfy constraint: Member must " \
           "satisfy regular expression pattern: " in message


@pytest.mark.parametrize("overrides, path", [
    ({"TrackingServerName": "team_a"}, "trackingServerName"),
    ({"TrackingServerName": "-team"}, "trackingServerName"),
    ({"ArtifactStoreUri": "gs://bucket/prefix"}, "artifactStoreUri"),
    ({"RoleArn": "arn:aws:iam::123456789012:user/someone"}, "roleArn"),
    ({"WeeklyMaintenanceWindowStart": "TUE:03:30"}, "weeklyMaintenanceWindowStart"),
    ({"Tags": [{"Key": "team", "Value": "a" * 257}]}, "tags.1.member.value"),
])
def test_members_that_break_the_model_are_refused(sm, overrides, path):
    request = dict(TrackingServerName="team-a", ArtifactStoreUri=STORE, RoleArn=ROLE)
    request.update(overrides)
    code, message = error_of(sm.create_mlflow_tracking_server, **request)
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value ") and f" at '{path}' failed" in message
    assert sm.list_mlflow_tracking_servers()["TrackingServerSummaries"] == []


def test_the_server_checks_what_botocore_would_have_refused(make_client):
    # Without botocore's own validation, values below the model's minimums reach the server.
    sm = make_client(validate=False)
    assert error_of(create_server, sm, S3BucketOwnerAccountId="12345") == (
        "ValidationException",
        "1 validation error detected: Value '12345' at 's3BucketOwnerAccountId' failed to satisfy constraint: "
        "Member must have length greater than or equal to 12")
    code, message = error_of(sm.create_mlflow_tracking_server, ArtifactStoreUri=STORE, RoleArn=ROLE)
    assert (code, message) == ("ValidationException", "1 validation error detected: Value null at "
                                                      "'trackingServerName' failed to satisfy constraint: Member "
                                                      "must not be null")


def test_a_value_of_the_wrong_type_is_a_serialization_error(aws):
    # botocore never sends this; a hand-made request can.
    request = urllib.request.Request(aws.endpoint + "/", method="POST", data=json.dumps(
        {"TrackingServerName": 7}).encode(), headers={
        "X-Amz-Target": "SageMaker.DescribeMlflowTrackingServer", "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sagemaker/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["__type"] == "SerializationException"


@pytest.mark.parametrize("operation, extra", [
    ("describe_mlflow_tracking_server", {}),
    ("update_mlflow_tracking_server", {"TrackingServerSize": "Large"}),
    ("delete_mlflow_tracking_server", {}),
    ("start_mlflow_tracking_server", {}),
    ("stop_mlflow_tracking_server", {}),
    ("create_presigned_mlflow_tracking_server_url", {}),
])
def test_an_unknown_tracking_server_is_resource_not_found(sm, operation, extra):
    create_server(sm, "someone-else")
    code, message = error_of(getattr(sm, operation), TrackingServerName="nobody", **extra)
    assert code == "ResourceNotFound"
    assert "nobody" in message


def test_a_name_is_taken_until_its_server_is_gone(sm):
    arn = create_server(sm)
    assert error_of(create_server, sm) == ("ValidationException", f"Tracking Server with ARN {arn} already exists.")
    sm.delete_mlflow_tracking_server(TrackingServerName="team-a")
    assert create_server(sm) == arn


def test_names_and_servers_are_per_region(make_client, sm):
    west = make_client(region="us-west-2")
    create_server(sm)
    west_arn = create_server(west)
    assert west_arn == f"arn:aws:sagemaker:us-west-2:{ACCOUNT_ID}:mlflow-tracking-server/team-a"
    assert ".us-west-2.experiments.sagemaker.aws" in west.describe_mlflow_tracking_server(
        TrackingServerName="team-a")["TrackingServerUrl"]
    west.delete_mlflow_tracking_server(TrackingServerName="team-a")
    assert [s["TrackingServerName"] for s in sm.list_mlflow_tracking_servers()["TrackingServerSummaries"]] == ["team-a"]
    assert west.list_mlflow_tracking_servers()["TrackingServerSummaries"] == []


def test_the_account_quota_is_enforced(sm):
    for index in range(MAX_TRACKING_SERVERS):
        create_server(sm, f"server-{index}")
    code, message = error_of(create_server, sm, "one-too-many")
    assert code == "ResourceLimitExceeded"
    assert message.startswith(f"The account-level service limit 'Maximum number of MLflow Tracking Servers' is "
                              f"{MAX_TRACKING_SERVERS} Tracking Servers, with current utilization of "
                              f"{MAX_TRACKING_SERVERS} Tracking Servers")
    sm.delete_mlflow_tracking_server(TrackingServerName="server-0")
    create_server(sm, "one-too-many")


def test_quotas_can_be_changed_until_the_next_reset(aws, sm):
    assert aws.control.call("POST", "/sagemaker/mlflow-quotas", {"TrackingServers": 1}) == {
        "TrackingServers": 1, "Apps": 10}
    create_server(sm, "first")
    assert error_of(create_server, sm, "second")[0] == "ResourceLimitExceeded"
    with pytest.raises(RuntimeError, match="must be a whole number"):
        aws.control.call("POST", "/sagemaker/mlflow-quotas", {"Apps": -1})
    aws.control.reset()
    create_server(sm, "first")
    create_server(sm, "second")


# Tracking servers: listing

def test_listing_sorts_filters_and_pages(sm):
    for name in ("bravo", "alpha", "delta", "charlie", "echo"):
        create_server(sm, name, **({"MlflowVersion": "2.13"} if name in ("alpha", "echo") else {}))
        time.sleep(0.05)  # creation times well apart, so the time filters below have room
    sm.stop_mlflow_tracking_server(TrackingServerName="delta")

    newest_first = [s["TrackingServerName"] for s in sm.list_mlflow_tracking_servers()["TrackingServerSummaries"]]
    assert newest_first == ["echo", "charlie", "delta", "alpha", "bravo"]

    by_name = sm.list_mlflow_tracking_servers(SortBy="Name", SortOrder="Ascending")["TrackingServerSummaries"]
    assert [s["TrackingServerName"] for s in by_name] == ["alpha", "bravo", "charlie", "delta", "echo"]

    first = sm.list_mlflow_tracking_servers(MaxResults=2, SortBy="Name", SortOrder="Ascending")
    assert [s["TrackingServerName"] for s in first["TrackingServerSummaries"]] == ["alpha", "bravo"]
    second = sm.list_mlflow_tracking_servers(MaxResults=2, SortBy="Name", SortOrder="Ascending",
                                             NextToken=first["NextToken"])
    assert [s["TrackingServerName"] for s in second["TrackingServerSummaries"]] == ["charlie", "delta"]

    pages = sm.get_paginator("list_mlflow_tracking_servers").paginate(PaginationConfig={"PageSize": 2})
    assert sorted(s["TrackingServerName"] for page in pages for s in page["TrackingServerSummaries"]) == [
        "alpha", "bravo", "charlie", "delta", "echo"]

    stopped = sm.list_mlflow_tracking_servers(TrackingServerStatus="Stopped")["TrackingServerSummaries"]
    assert [(s["TrackingServerName"], s["IsActive"]) for s in stopped] == [("delta", "Inactive")]
    old = sm.list_mlflow_tracking_servers(MlflowVersion="2.13.2")["TrackingServerSummaries"]
    assert sorted(s["TrackingServerName"] for s in old) == ["alpha", "echo"]
    assert len(sm.list_mlflow_tracking_servers(MlflowVersion="2.13")["TrackingServerSummaries"]) == 2

    charlie = sm.describe_mlflow_tracking_server(TrackingServerName="charlie")["CreationTime"]
    margin = timedelta(milliseconds=10)
    after = sm.list_mlflow_tracking_servers(CreatedAfter=charlie + margin)["TrackingServerSummaries"]
    assert [s["TrackingServerName"] for s in after] == ["echo"]
    before = sm.list_mlflow_tracking_servers(CreatedBefore=charlie - margin,
                                             SortBy="Name", SortOrder="Ascending")["TrackingServerSummaries"]
    assert [s["TrackingServerName"] for s in before] == ["alpha", "bravo", "delta"]


def test_a_page_holds_ten_servers_unless_told_otherwise(aws, sm):
    aws.control.call("POST", "/sagemaker/mlflow-quotas", {"TrackingServers": 12})
    for index in range(12):
        create_server(sm, f"server-{index:02d}")
    first = sm.list_mlflow_tracking_servers()
    assert len(first["TrackingServerSummaries"]) == 10 and "NextToken" in first
    rest = sm.list_mlflow_tracking_servers(NextToken=first["NextToken"])
    assert len(rest["TrackingServerSummaries"]) == 2 and "NextToken" not in rest


def test_a_foreign_next_token_is_refused(sm):
    create_server(sm)
    assert error_of(sm.list_mlflow_tracking_servers, NextToken="not-a-token")[0] == "ValidationException"


# Tracking servers: changes and refusals

def test_update_changes_what_it_names_and_keeps_the_rest(sm):
    create_server(sm, TrackingServerSize="Small", AutomaticModelRegistration=True)
    before = sm.describe_mlflow_tracking_server(TrackingServerName="team-a")
    sm.update_mlflow_tracking_server(TrackingServerName="team-a", TrackingServerSize="Large",
                                     ArtifactStoreUri="s3://other-bucket/x")
    after = sm.describe_mlflow_tracking_server(TrackingServerName="team-a")
    assert after["TrackingServerStatus"] == "Updated"
    assert after["TrackingServerSize"] == "Large" and after["ArtifactStoreUri"] == "s3://other-bucket/x"
    assert after["AutomaticModelRegistration"] is True
    assert after["TrackingServerUrl"] == before["TrackingServerUrl"]
    assert after["LastModifiedTime"] >= before["LastModifiedTime"]
    assert after["CreationTime"] == before["CreationTime"]


def test_stop_start_and_update_are_refused_in_the_wrong_settled_state(sm):
    arn = create_server(sm)
    assert error_of(sm.start_mlflow_tracking_server, TrackingServerName="team-a") == (
        "ValidationException", f"Tracking Server with ARN {arn} is currently in status CREATED, can't be started.")
    sm.stop_mlflow_tracking_server(TrackingServerName="team-a")
    assert error_of(sm.stop_mlflow_tracking_server, TrackingServerName="team-a") == (
        "ValidationException", f"Tracking Server with ARN {arn} is currently in status STOPPED, can't be stopped.")
    assert error_of(sm.update_mlflow_tracking_server, TrackingServerName="team-a", TrackingServerSize="Large") == (
        "ConflictException", f"Tracking Server with ARN {arn} is currently in status STOPPED, can't be updated.")
    sm.start_mlflow_tracking_server(TrackingServerName="team-a")
    server = sm.describe_mlflow_tracking_server(TrackingServerName="team-a")
    assert (server["TrackingServerStatus"], server["IsActive"]) == ("Started", "Active")


def test_a_stopped_server_can_be_deleted(sm):
    create_server(sm)
    sm.stop_mlflow_tracking_server(TrackingServerName="team-a")
    sm.delete_mlflow_tracking_server(TrackingServerName="team-a")
    assert error_of(sm.describe_mlflow_tracking_server, TrackingServerName="team-a")[0] == "ResourceNotFound"


def test_nothing_else_may_happen_while_a_server_is_being_created(aws, sm):
    aws.control.configure(**FROZEN_SETTINGS)
    arn = create_server(sm)
    server = sm.describe_mlflow_tracking_server(TrackingServerName="team-a")
    assert (server["TrackingServerStatus"], server["IsActive"]) == ("Creating", "Inactive")
    assert error_of(sm.stop_mlflow_tracking_server, TrackingServerName="team-a") == (
        "ValidationException", f"Tracking Server with ARN {arn} is currently in status CREATING, can't be stopped.")
    assert error_of(sm.start_mlflow_tracking_server, TrackingServerName="team-a")[0] == "ValidationException"
    assert error_of(sm.update_mlflow_tracking_server, TrackingServerName="team-a", TrackingServerSize="Large") == (
        "ConflictException", f"Tracking Server with ARN {arn} is currently in status CREATING, can't be updated.")
    assert error_of(sm.delete_mlflow_tracking_server, TrackingServerName="team-a") == (
        "ValidationException", "Tracking Server is in un-deletable state (CREATING), so it cannot be deleted.")
    assert sm.describe_mlflow_tracking_server(TrackingServerName="team-a")["TrackingServerStatus"] == "Creating"


@pytest.mark.slow
def test_tracking_server_life_cycle_with_latency(aws, sm):
    aws.control.configure(**LIFE_CYCLE_SETTINGS)

    def describe():
        return sm.describe_mlflow_tracking_server(TrackingServerName="team-a")

    started = time.monotonic()
    create_server(sm)
    assert wait_for_status(describe, "TrackingServerStatus", "Created") == ["Creating", "Created"]
    assert time.monotonic() - started >= PHASE_SECONDS
    created = describe()
    assert created["IsActive"] == "Active"
    assert created["LastModifiedTime"] > created["CreationTime"]  # the phase's end is a modification

    sm.update_mlflow_tracking_server(TrackingServerName="team-a", TrackingServerSize="Medium")
    assert error_of(sm.delete_mlflow_tracking_server, TrackingServerName="team-a") == (
        "ValidationException", "Tracking Server is in un-deletable state (UPDATING), so it cannot be deleted.")
    assert wait_for_status(describe, "TrackingServerStatus", "Updated") == ["Updating", "Updated"]

    sm.stop_mlflow_tracking_server(TrackingServerName="team-a")
    assert describe()["IsActive"] == "Inactive"
    assert wait_for_status(describe, "TrackingServerStatus", "Stopped") == ["Stopping", "Stopped"]

    sm.start_mlflow_tracking_server(TrackingServerName="team-a")
    assert wait_for_status(describe, "TrackingServerStatus", "Started") == ["Starting", "Started"]
    assert describe()["IsActive"] == "Active"

    sm.delete_mlflow_tracking_server(TrackingServerName="team-a")
    listed = sm.list_mlflow_tracking_servers()["TrackingServerSummaries"]
    assert [(s["TrackingServerName"], s["TrackingServerStatus"]) for s in listed] == [("team-a", "Deleting")]
    deadline = time.monotonic() + 15
    while True:
        try:
            assert describe()["TrackingServerStatus"] == "Deleting"
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ResourceNotFound"
            break
        assert time.monotonic() < deadline, "the server was never deleted"
        time.sleep(0.05)
    assert sm.list_mlflow_tracking_servers()["TrackingServerSummaries"] == []


# Presigned URLs

def test_presigned_url_carries_expiry_and_session_length(sm):
    create_server(sm)
    url = sm.describe_mlflow_tracking_server(TrackingServerName="team-a")["TrackingServerUrl"]
    before = int(time.time())
    authorized = sm.create_presigned_mlflow_tracking_server_url(TrackingServerName="team-a")["AuthorizedUrl"]
    assert authorized.startswith(url + "/auth?authToken=")
    claims = authorized_url_claims(authorized)
    assert before + 300 <= claims["exp"] <= int(time.time()) + 300  # default: five minutes
    assert claims["session_duration"] == 43200
    assert claims["sub"].endswith(":mlflow-tracking-server/team-a")

    custom = sm.create_presigned_mlflow_tracking_server_url(TrackingServerName="team-a", ExpiresInSeconds=5,
                                                            SessionExpirationDurationInSeconds=1800)["AuthorizedUrl"]
    claims = authorized_url_claims(custom)
    assert claims["exp"] - claims["iat"] == 5 and claims["session_duration"] == 1800
    assert custom != authorized  # one-use URLs: a fresh token each time


def test_presigned_url_lifetimes_are_range_checked(sm):
    create_server(sm)
    assert error_of(sm.create_presigned_mlflow_tracking_server_url, TrackingServerName="team-a",
                    ExpiresInSeconds=301) == (
        "ValidationException", "1 validation error detected: Value '301' at 'expiresInSeconds' failed to satisfy "
                               "constraint: Member must have value less than or equal to 300")
    assert error_of(sm.create_presigned_mlflow_tracking_server_url, TrackingServerName="team-a",
                    SessionExpirationDurationInSeconds=43201)[0] == "ValidationException"


# Tags

def test_tags_given_at_creation_are_listed(sm):
    arn = create_server(sm, Tags=[{"Key": "team", "Value": "a"}, {"Key": "cost-center", "Value": "42"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "a"}, {"Key": "cost-center", "Value": "42"}]


def test_tags_can_be_added_overwritten_and_deleted(sm):
    arn = create_server(sm, Tags=[{"Key": "team", "Value": "a"}])
    added = sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "prod"}])
    assert added["Tags"] == [{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "prod"}]
    sm.delete_tags(ResourceArn=arn, TagKeys=["team", "not-there"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]


def test_tags_go_with_their_server(sm):
    arn = create_server(sm, Tags=[{"Key": "team", "Value": "a"}])
    sm.delete_mlflow_tracking_server(TrackingServerName="team-a")
    assert error_of(sm.list_tags, ResourceArn=arn)[0] == "ValidationException"
    assert error_of(sm.add_tags, ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])[0] == "ValidationException"
    create_server(sm)
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_tags_of_an_mlflow_arn_from_another_region_are_not_found(make_client, sm):
    west_arn = create_server(make_client(region="us-west-2"))
    create_server(sm)
    assert error_of(sm.list_tags, ResourceArn=west_arn)[0] == "ValidationException"


def test_tags_of_an_app(sm):
    arn = create_app(sm, Tags=[{"Key": "team", "Value": "a"}])
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]


def test_tags_of_other_sagemaker_resources_still_reach_moto(aws, sm):
    create_server(sm)  # the MLflow overlay holds something, and still lets moto's resources through
    plain = aws.client("sagemaker")
    plain.create_model(ModelName="classifier", ExecutionRoleArn=ROLE,
                       PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    model_arn = plain.describe_model(ModelName="classifier")["ModelArn"]
    plain.add_tags(ResourceArn=model_arn, Tags=[{"Key": "owner", "Value": "moto"}])
    assert plain.list_tags(ResourceArn=model_arn)["Tags"] == [{"Key": "owner", "Value": "moto"}]


# Pointing URLs at a local MLflow server

def test_a_servers_url_can_be_pointed_elsewhere(aws, sm):
    create_server(sm, "one")
    create_server(sm, "two")
    aws.control.call("POST", "/sagemaker/tracking-server-url",
                     {"TrackingServerName": "one", "Url": "http://127.0.0.1:5555/"})
    assert sm.describe_mlflow_tracking_server(TrackingServerName="one")["TrackingServerUrl"] == "http://127.0.0.1:5555"
    assert SERVER_URL.match(sm.describe_mlflow_tracking_server(TrackingServerName="two")["TrackingServerUrl"])
    presigned = sm.create_presigned_mlflow_tracking_server_url(TrackingServerName="one")["AuthorizedUrl"]
    assert presigned.startswith("http://127.0.0.1:5555/?authToken=")
    assert authorized_url_claims(presigned)["sub"].endswith("/one")

    aws.control.call("POST", "/sagemaker/tracking-server-url", {"TrackingServerName": "one", "Url": None})
    assert SERVER_URL.match(sm.describe_mlflow_tracking_server(TrackingServerName="one")["TrackingServerUrl"])


def test_a_star_points_every_server_also_later_ones_and_a_name_wins(aws, make_client, sm):
    def point(**body):
        aws.control.call("POST", "/sagemaker/tracking-server-url", body)

    def url_of(client, name):
        return client.describe_mlflow_tracking_server(TrackingServerName=name)["TrackingServerUrl"]

    point(TrackingServerName="*", Url="http://127.0.0.1:6000")
    point(TrackingServerName="special", Url="http://127.0.0.1:7000")
    point(TrackingServerName="*", Url="http://127.0.0.1:8000", Region="eu-west-1")
    create_server(sm, "later")
    create_server(sm, "special")
    europe = make_client(region="eu-west-1")
    create_server(europe, "later")
    assert url_of(sm, "later") == "http://127.0.0.1:6000"
    assert url_of(sm, "special") == "http://127.0.0.1:7000"
    assert url_of(europe, "later") == "http://127.0.0.1:8000"


def test_pointing_requests_are_checked(aws):
    with pytest.raises(RuntimeError, match="TrackingServerName"):
        aws.control.call("POST", "/sagemaker/tracking-server-url", {"Url": "http://127.0.0.1:1"})
    with pytest.raises(RuntimeError, match="must be an http"):
        aws.control.call("POST", "/sagemaker/tracking-server-url", {"TrackingServerName": "x", "Url": "ftp://x"})
    with pytest.raises(RuntimeError, match="Url is required"):
        aws.control.call("POST", "/sagemaker/mlflow-app-url", {"Arn": "*"})
    with pytest.raises(RuntimeError, match="Arn"):
        aws.control.call("POST", "/sagemaker/mlflow-app-url", {"Url": "http://127.0.0.1:1"})


def test_app_urls_can_be_pointed_by_arn_name_or_star(aws, sm):
    first, second, third = create_app(sm, "first"), create_app(sm, "second"), create_app(sm, "third")
    aws.control.call("POST", "/sagemaker/mlflow-app-url", {"Arn": "*", "Url": "http://127.0.0.1:6001"})
    aws.control.call("POST", "/sagemaker/mlflow-app-url", {"Name": "second", "Url": "http://127.0.0.1:6002"})
    aws.control.call("POST", "/sagemaker/mlflow-app-url", {"Arn": third, "Url": "http://127.0.0.1:6003"})
    urls = [sm.create_presigned_mlflow_app_url(Arn=arn)["AuthorizedUrl"] for arn in (first, second, third)]
    assert [url.split("/?authToken=")[0] for url in urls] == [
        "http://127.0.0.1:6001", "http://127.0.0.1:6002", "http://127.0.0.1:6003"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_pointed_url_reaches_a_real_mlflow_server(aws, sm, tmp_path):
    port = free_port()
    # MLflow's job runner (on by default since 3.x) delays start-up by a minute and outlives SIGTERM;
    # the tracking API needs none of it.
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with open(tmp_path / "mlflow.log", "wb") as log:
        mlflow = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
             "--default-artifact-root", str(tmp_path / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        aws.control.call("POST", "/sagemaker/tracking-server-url",
                         {"TrackingServerName": "*", "Url": f"http://127.0.0.1:{port}"})
        create_server(sm)
        url = sm.describe_mlflow_tracking_server(TrackingServerName="team-a")["TrackingServerUrl"]
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    assert answer.status == 200 and answer.read().strip() == b"OK"
                    break
            except OSError:
                assert mlflow.poll() is None, (tmp_path / "mlflow.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "mlflow server did not come up"
                time.sleep(0.5)
        presigned = sm.create_presigned_mlflow_tracking_server_url(TrackingServerName="team-a")["AuthorizedUrl"]
        with urllib.request.urlopen(presigned, timeout=10) as answer:
            assert answer.status == 200  # the MLflow UI
    finally:
        # The server runs uvicorn in a child process: end the whole session this test started.
        os.killpg(mlflow.pid, signal.SIGTERM)
        try:
            mlflow.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(mlflow.pid, signal.SIGKILL)
            mlflow.wait()


# MLflow Apps

def test_create_and_describe_an_app_with_defaults(sm):
    arn = create_app(sm)
    assert APP_ARN.match(arn)
    app = sm.describe_mlflow_app(Arn=arn)
    assert app["Arn"] == arn and app["Name"] == "team-a"
    assert app["Status"] == "Created"
    assert app["MlflowVersion"] == MLFLOW_APP_VERSION
    assert app["ModelRegistrationMode"] == "AutoModelRegistrationDisabled"
    assert app["AccountDefaultStatus"] == "DISABLED"
    assert app["WeeklyMaintenanceWindowStart"] == DEFAULT_MAINTENANCE_WINDOW
    assert "KmsKeyId" not in app  # documented: absent without a customer-managed key
    assert "DefaultDomainIdList" not in app
    assert recent(app["CreationTime"])
    authorized = sm.create_presigned_mlflow_app_url(Arn=arn, ExpiresInSeconds=60)["AuthorizedUrl"]
    assert authorized.startswith(f"https://{arn.rsplit('/', 1)[1].lower()}.us-east-1.experiments.sagemaker.aws/auth?")
    claims = authorized_url_claims(authorized)
    assert claims["exp"] - claims["iat"] == 60 and claims["sub"] == arn


def test_an_app_keeps_its_settings(sm):
    arn = create_app(sm, KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                     ModelRegistrationMode="AutoModelRegistrationEnabled", AccountDefaultStatus="ENABLED",
                     DefaultDomainIdList=["d-abc123", "d-xyz789"], WeeklyMaintenanceWindowStart="Wed:12:00")
    app = sm.describe_mlflow_app(Arn=arn)
    assert app["KmsKeyId"].endswith("1234abcd-12ab-34cd-56ef-1234567890ab")
    assert app["ModelRegistrationMode"] == "AutoModelRegistrationEnabled"
    assert app["AccountDefaultStatus"] == "ENABLED"
    assert app["DefaultDomainIdList"] == ["d-abc123", "d-xyz789"]
    assert app["WeeklyMaintenanceWindowStart"] == "Wed:12:00"


@pytest.mark.parametrize("overrides, path", [
    ({"Name": "team a"}, "name"),
    ({"DefaultDomainIdList": ["domain-1"]}, "defaultDomainIdList.1.member"),
    ({"AccountDefaultStatus": "YES"}, "accountDefaultStatus"),
    ({"ArtifactStoreUri": "file:///tmp/x"}, "artifactStoreUri"),
])
def test_app_members_that_break_the_model_are_refused(sm, overrides, path):
    request = dict(Name="team-a", ArtifactStoreUri=STORE, RoleArn=ROLE)
    request.update(overrides)
    code, message = error_of(sm.create_mlflow_app, **request)
    assert code == "ValidationException" and f" at '{path}' failed" in message


@pytest.mark.parametrize("operation, extra", [
    ("describe_mlflow_app", {}),
    ("update_mlflow_app", {"Name": "renamed"}),
    ("delete_mlflow_app", {}),
    ("create_presigned_mlflow_app_url", {}),
])
def test_an_unknown_app_is_resource_not_found(sm, operation, extra):
    create_app(sm)
    unknown = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:mlflow-app/app-ABCDEFGHIJKL"
    code, message = error_of(getattr(sm, operation), Arn=unknown, **extra)
    assert code == "ResourceNotFound" and unknown in message


def test_app_names_need_not_be_unique(sm):
    first, second = create_app(sm, "shared"), create_app(sm, "shared")
    assert first != second
    assert sorted(a["Arn"] for a in sm.list_mlflow_apps()["Summaries"]) == sorted([first, second])


def test_an_app_can_be_updated_and_renamed(sm):
    arn = create_app(sm, DefaultDomainIdList=["d-abc123"])
    assert sm.update_mlflow_app(Arn=arn, Name="renamed", DefaultDomainIdList=[],
                                ModelRegistrationMode="AutoModelRegistrationEnabled")["Arn"] == arn
    app = sm.describe_mlflow_app(Arn=arn)
    assert (app["Name"], app["Status"], app["ModelRegistrationMode"]) == (
        "renamed", "Updated", "AutoModelRegistrationEnabled")
    assert "DefaultDomainIdList" not in app
    assert app["ArtifactStoreUri"] == STORE


def test_nothing_else_may_happen_while_an_app_is_being_created(aws, sm):
    aws.control.configure(**FROZEN_SETTINGS)
    arn = create_app(sm)
    assert sm.describe_mlflow_app(Arn=arn)["Status"] == "Creating"
    assert error_of(sm.update_mlflow_app, Arn=arn, Name="renamed") == (
        "ConflictException", f"MLflow App with ARN {arn} is currently in status CREATING, can't be updated.")
    assert error_of(sm.delete_mlflow_app, Arn=arn) == (
        "ValidationException", "MLflow App is in un-deletable state (CREATING), so it cannot be deleted.")


def test_listing_apps_filters_and_pages(sm):
    plain = create_app(sm, "plain")
    time.sleep(0.01)
    default = create_app(sm, "default", AccountDefaultStatus="ENABLED")
    time.sleep(0.01)
    domain = create_app(sm, "domain", DefaultDomainIdList=["d-abc123"])
    sm.update_mlflow_app(Arn=domain, WeeklyMaintenanceWindowStart="Fri:01:00")

    assert [a["Arn"] for a in sm.list_mlflow_apps()["Summaries"]] == [domain, default, plain]
    assert [a["Name"] for a in sm.list_mlflow_apps(SortBy="Name", SortOrder="Ascending")["Summaries"]] == [
        "default", "domain", "plain"]
    assert [a["Arn"] for a in sm.list_mlflow_apps(AccountDefaultStatus="ENABLED")["Summaries"]] == [default]
    assert [a["Arn"] for a in sm.list_mlflow_apps(DefaultForDomainId="d-abc123")["Summaries"]] == [domain]
    assert [a["Arn"] for a in sm.list_mlflow_apps(Status="Updated")["Summaries"]] == [domain]
    assert len(sm.list_mlflow_apps(MlflowVersion=MLFLOW_APP_VERSION)["Summaries"]) == 3
    assert sm.list_mlflow_apps(MlflowVersion="2.16")["Summaries"] == []

    first = sm.list_mlflow_apps(MaxResults=2)
    rest = sm.list_mlflow_apps(MaxResults=2, NextToken=first["NextToken"])
    assert [a["Arn"] for a in first["Summaries"] + rest["Summaries"]] == [domain, default, plain]
    assert "NextToken" not in rest
    # a token of one List operation means nothing to the other
    assert error_of(sm.list_mlflow_tracking_servers, NextToken=first["NextToken"])[0] == "ValidationException"


def test_the_app_quota_is_enforced(aws, sm):
    aws.control.call("POST", "/sagemaker/mlflow-quotas", {"Apps": 2})
    create_app(sm, "one")
    create_app(sm, "two")
    code, message = error_of(create_app, sm, "three")
    assert code == "ResourceLimitExceeded" and "'Maximum number of MLflow Apps' is 2 Apps" in message


@pytest.mark.slow
def test_app_life_cycle_with_latency(aws, sm):
    aws.control.configure(**LIFE_CYCLE_SETTINGS)
    arn = create_app(sm)

    def describe():
        return sm.describe_mlflow_app(Arn=arn)

    assert wait_for_status(describe, "Status", "Created") == ["Creating", "Created"]
    sm.update_mlflow_app(Arn=arn, AccountDefaultStatus="ENABLED")
    assert [a["Status"] for a in sm.list_mlflow_apps()["Summaries"]] == ["Updating"]
    assert wait_for_status(describe, "Status", "Updated") == ["Updating", "Updated"]
    sm.delete_mlflow_app(Arn=arn)
    assert describe()["Status"] == "Deleting"
    deadline = time.monotonic() + 15
    while sm.list_mlflow_apps()["Summaries"]:
        assert time.monotonic() < deadline, "the App was never deleted"
        time.sleep(0.05)
    assert error_of(describe)[0] == "ResourceNotFound"


# The proving ground's own controls

def test_reset_forgets_servers_apps_tags_pointing_and_quotas(aws, sm):
    arn = create_server(sm, Tags=[{"Key": "team", "Value": "a"}])
    create_app(sm)
    aws.control.call("POST", "/sagemaker/tracking-server-url", {"TrackingServerName": "*", "Url": "http://127.0.0.1:1"})
    aws.control.call("POST", "/sagemaker/mlflow-quotas", {"TrackingServers": 3})
    state = aws.control.call("GET", "/sagemaker/mlflow")
    assert [(s["Name"], s["Status"], s["Tags"]) for s in state["TrackingServers"]] == [
        ("team-a", "Created", {"team": "a"})]
    assert len(state["Apps"]) == 1 and state["Quotas"]["TrackingServers"] == 3

    aws.control.reset()
    assert sm.list_mlflow_tracking_servers()["TrackingServerSummaries"] == []
    assert sm.list_mlflow_apps()["Summaries"] == []
    assert error_of(sm.list_tags, ResourceArn=arn)[0] == "ValidationException"
    create_server(sm)
    assert SERVER_URL.match(sm.describe_mlflow_tracking_server(TrackingServerName="team-a")["TrackingServerUrl"])
    assert aws.control.call("GET", "/sagemaker/mlflow")["Quotas"] == {"TrackingServers": MAX_TRACKING_SERVERS,
                                                                      "Apps": 10}


def test_the_request_log_names_the_mlflow_operations(aws, sm):
    since = aws.control.last_request_id()
    create_server(sm)
    error_of(sm.describe_mlflow_tracking_server, TrackingServerName="nobody")
    entries = [e for e in aws.control.requests(since) if e["service"] == "sagemaker"]
    assert [(e["operation"], e["status"], e["error_code"]) for e in entries] == [
        ("CreateMlflowTrackingServer", 200, None), ("DescribeMlflowTrackingServer", 400, "ResourceNotFound")]


# In-process: the overlay with a fake clock or a broken handler (no network)

class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def sagemaker_request(operation: str, document, region: str = "us-east-1") -> AwsRequest:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": "application/x-amz-json-1.1",
        "HTTP_X_AMZ_TARGET": f"SageMaker.{operation}",
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/sagemaker/aws4_request, "
                              "SignedHeaders=host, Signature=0",
    }
    return AwsRequest.from_environ(environ, body)


@pytest.fixture
def overlay_parts():
    settings = Settings(latency_scale=1.0)
    clock, wall = FakeClock(), FakeClock()
    wall.now = 1_700_000_000.0
    overlay = SageMakerMlflowOverlay(settings, LatencyModel(settings), clock=clock, wall_clock=wall)
    return overlay, settings, clock, wall


def call(overlay, operation, document):
    response = overlay.handle(sagemaker_request(operation, document))
    return response.status, response.json()


def test_phases_end_exactly_when_the_latency_model_says(overlay_parts):
    overlay, settings, clock, wall = overlay_parts
    settings.latency_overrides = {"sagemaker:CreateMlflowTrackingServer": 30}
    status, dummy = call(overlay, "CreateMlflowTrackingServer",
                         {"TrackingServerName": "team-a", "ArtifactStoreUri": STORE, "RoleArn": ROLE})
    assert status == 200
    clock.now += 29.999
    assert call(overlay, "DescribeMlflowTrackingServer", {"TrackingServerName": "team-a"})[1][
        "TrackingServerStatus"] == "Creating"
    clock.now += 0.001
    wall.now += 100  # whenever the Describe comes, LastModifiedTime is the moment the phase ended
    described = call(overlay, "DescribeMlflowTrackingServer", {"TrackingServerName": "team-a"})[1]
    assert described["TrackingServerStatus"] == "Created"
    assert described["LastModifiedTime"] == described["CreationTime"] + 30


def test_a_latency_scale_of_zero_ends_phases_at_once(overlay_parts):
    overlay, settings, clock, wall = overlay_parts
    settings.latency_scale = 0.0
    call(overlay, "CreateMlflowApp", {"Name": "a", "ArtifactStoreUri": STORE, "RoleArn": ROLE})
    [summary] = call(overlay, "ListMlflowApps", {})[1]["Summaries"]
    assert summary["Status"] == "Created"
    assert call(overlay, "DeleteMlflowApp", {"Arn": summary["Arn"]})[0] == 200
    assert call(overlay, "ListMlflowApps", {})[1]["Summaries"] == []


def test_strict_mode_turns_a_malformed_answer_into_internal_failure(overlay_parts, monkeypatch):
    overlay, settings, clock, wall = overlay_parts
    monkeypatch.setattr(overlay, "_op_ListMlflowApps", lambda region, params: {"Summaries": [{"Status": "Running"}]})
    status, body = call(overlay, "ListMlflowApps", {})
    assert status == 500 and body["__type"] == "InternalFailure"
    assert "summaries.1.member.status" in body["message"] and "Running" in body["message"]

    settings.strict = False
    assert call(overlay, "ListMlflowApps", {}) == (200, {"Summaries": [{"Status": "Running"}]})


def test_strict_mode_refuses_error_codes_the_operation_does_not_declare(overlay_parts, monkeypatch):
    overlay, settings, clock, wall = overlay_parts
    from proving_ground.sagemaker_mlflow import AwsError

    def refuse(region, params):
        raise AwsError("ResourceInUse", "in use")

    monkeypatch.setattr(overlay, "_op_DeleteMlflowApp", refuse)
    status, body = call(overlay, "DeleteMlflowApp", {"Arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:mlflow-app/x"})
    assert status == 500 and "does not declare the error ResourceInUse" in body["message"]


def test_malformed_bodies_are_serialization_errors(overlay_parts):
    overlay, settings, clock, wall = overlay_parts
    response = overlay.handle(sagemaker_request("ListMlflowApps", b"{not json"))
    assert response.status == 400 and response.json()["__type"] == "SerializationException"
    assert call(overlay, "ListMlflowApps", {"MaxResults": "ten"})[1]["__type"] == "SerializationException"


def test_other_requests_are_left_to_moto(overlay_parts):
    overlay, settings, clock, wall = overlay_parts
    assert overlay.handle(sagemaker_request("ListModels", {})) is None
    assert overlay.handle(sagemaker_request(
        "ListTags", {"ResourceArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:model/classifier"})) is None
    not_sagemaker = AwsRequest.from_environ({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING":
                                             "Action=ListUsers&Version=2010-05-08"}, b"")
    assert overlay.handle(not_sagemaker) is None
