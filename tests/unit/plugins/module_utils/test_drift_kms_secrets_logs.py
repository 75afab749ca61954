"""The kms_key, secretsmanager_secret and cloudwatchlogs_log_group drift kinds against fake clients."""

from __future__ import annotations

import copy
import json

import pytest
from botocore.exceptions import ClientError

from ansible_collections.mlops.mlflow.plugins.module_utils import drift_kms_secrets_logs as kinds
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import validated
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mlflow-db-AbCdEf"
GROUP_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/mlflow/server:*"
KEY_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
     "Action": "kms:*", "Resource": "*"}]}


def client_error(code, operation):
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeClient:
    """Answers each operation from ``answers`` (a value, an exception to raise, or a callable of the call's
    arguments) and records the calls; every call must carry aws_retry=True."""

    def __init__(self, **answers):
        self.answers = answers
        self.calls = []

    def __getattr__(self, operation):
        if operation.startswith("__") or operation not in self.answers:
            raise AttributeError(operation)

        def call(aws_retry=False, **arguments):
            assert aws_retry is True, operation
            self.calls.append((operation, arguments))
            answer = self.answers[operation]
            if callable(answer) and not isinstance(answer, dict):
                answer = answer(**arguments)
            if isinstance(answer, Exception):
                raise answer
            return copy.deepcopy(answer)
        return call

    def operations(self):
        return [operation for operation, arguments in self.calls]


def clients(**by_service):
    def client(service):
        return by_service[service]
    return client


def run(kind, fake, service, options=None, **more):
    """The kind's result for the options (a dict, or keywords) against a fake client of the service."""
    spec, check = kinds.KINDS[kind]
    return check(clients(**{service: fake}), validated(spec, dict(options or {}, **more), kind))


# --------------------------------------------------------------------------------------------------
# kms_key
# --------------------------------------------------------------------------------------------------
def kms(**changes):
    metadata = {"KeyId": KEY_ID, "Arn": KEY_ARN, "KeyState": "Enabled", "Description": "MLflow artifacts",
                "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT"}
    metadata.update(changes.pop("metadata", {}))
    answers = dict(
        describe_key=lambda KeyId: {"KeyMetadata": metadata} if KeyId == "alias/mlflow" else client_error(
            "NotFoundException", "DescribeKey"),
        list_resource_tags={"Tags": [{"TagKey": "application", "TagValue": "mlflow"}], "Truncated": False},
        get_key_policy={"Policy": json.dumps(KEY_POLICY)},
        get_key_rotation_status={"KeyRotationEnabled": True},
        list_grants={"Grants": [], "Truncated": False},
    )
    answers.update(changes)
    return FakeClient(**answers)


KMS_OPTIONS = dict(alias="mlflow", description="MLflow artifacts", enable_key_rotation=True,
                   policy=KEY_POLICY, tags={"application": "mlflow"})


def test_kms_key_in_sync():
    fake = kms()
    result = run("kms_key", fake, "kms", **KMS_OPTIONS)
    assert result == dict(exists=True, in_sync=True, differences=[], resource=dict(key_arn=KEY_ARN, key_id=KEY_ID))
    assert fake.calls[0] == ("describe_key", {"KeyId": "alias/mlflow"})
    assert sorted(fake.operations()) == sorted(["describe_key", "list_resource_tags", "get_key_policy",
                                                "get_key_rotation_status", "list_grants"])


def test_kms_key_alias_is_canonicalised_and_missing_key():
    assert run("kms_key", kms(), "kms", alias="alias/mlflow")["in_sync"] is True
    result = run("kms_key", kms(), "kms", alias="other")
    assert result == dict(exists=False, in_sync=False, differences=["exists"], resource={})


def test_kms_key_omitted_options_are_not_compared():
    fake = kms(metadata={"Description": "changed by hand"}, get_key_rotation_status={"KeyRotationEnabled": False},
               list_resource_tags={"Tags": [{"TagKey": "extra", "TagValue": "x"}]},
               get_key_policy={"Policy": json.dumps({"Statement": []})})
    assert run("kms_key", fake, "kms", alias="mlflow")["in_sync"] is True
    assert fake.operations() == ["describe_key", "list_grants"]


def test_kms_key_key_spec_and_usage_of_an_existing_key_are_not_compared():
    # kms_key only uses them to create a key (update_key never looks at them).
    assert run("kms_key", kms(), "kms", alias="mlflow", key_spec="RSA_2048", key_usage="SIGN_VERIFY")["in_sync"]


@pytest.mark.parametrize("changes, options, difference", [
    (dict(metadata={"Description": "other"}), {}, "description"),
    (dict(metadata={"KeyState": "Disabled"}), {}, "enabled"),
    ({}, dict(enabled=False), "enabled"),
    (dict(get_key_rotation_status={"KeyRotationEnabled": False}), {}, "enable_key_rotation"),
    ({}, dict(enable_key_rotation=False), "enable_key_rotation"),
    (dict(get_key_rotation_status=client_error("AccessDeniedException", "GetKeyRotationStatus")), {},
     "enable_key_rotation"),
    (dict(get_key_rotation_status=client_error("UnsupportedOperationException", "GetKeyRotationStatus")), {},
     "enable_key_rotation"),
    ({}, dict(tags={"application": "mlflow", "team": "ml"}), "tags"),
    ({}, dict(tags={"application": "other"}), "tags"),
    (dict(list_resource_tags=client_error("AccessDeniedException", "ListResourceTags")), {}, "tags"),
    ({}, dict(policy=dict(KEY_POLICY, Statement=[dict(KEY_POLICY["Statement"][0], Action="kms:Decrypt")])),
     "policy"),
    (dict(get_key_policy=client_error("AccessDeniedException", "GetKeyPolicy")), {}, "policy"),
    ({}, dict(policy="{not json"), "policy"),
    (dict(list_grants={"Grants": [{"GrantId": "g1", "GranteePrincipal": "rds.amazonaws.com"}]}), {}, "grants"),
])
def test_kms_key_each_difference(changes, options, difference):
    result = run("kms_key", kms(**changes), "kms", **dict(KMS_OPTIONS, **options))
    assert result["exists"] is True and result["in_sync"] is False
    assert result["differences"] == [difference]


def test_kms_key_policy_is_compared_semantically():
    # Statement fields reordered, one-element lists, a JSON string: the same policy for compare_policies.
    same = {"Statement": [{"Resource": ["*"], "Action": ["kms:*"], "Effect": "Allow", "Sid": "root",
                           "Principal": {"AWS": ["123456789012"]}}], "Version": "2012-10-17"}
    assert run("kms_key", kms(), "kms", dict(KMS_OPTIONS, policy=json.dumps(same)))["in_sync"] is True


def test_kms_key_pending_deletion():
    fake = kms(metadata={"KeyState": "PendingDeletion"})
    assert run("kms_key", fake, "kms", **KMS_OPTIONS)["differences"] == ["enabled", "state"]
    # kms_key cancels the deletion, which leaves the key disabled: with enabled false that is all it does.
    fake = kms(metadata={"KeyState": "PendingDeletion"})
    assert run("kms_key", fake, "kms", **dict(KMS_OPTIONS, enabled=False))["differences"] == ["state"]


def test_kms_key_tag_purge_semantics():
    tags = [{"TagKey": "application", "TagValue": "mlflow"}, {"TagKey": "extra", "TagValue": "x"}]
    assert run("kms_key", kms(list_resource_tags={"Tags": tags}), "kms",
               **dict(KMS_OPTIONS, purge_tags=False))["in_sync"] is True
    assert run("kms_key", kms(list_resource_tags={"Tags": tags}), "kms", **KMS_OPTIONS)["differences"] == ["tags"]
    # tags: {} with purge removes every tag; without purge it changes nothing.
    assert run("kms_key", kms(), "kms", alias="mlflow", tags={})["differences"] == ["tags"]
    assert run("kms_key", kms(), "kms", alias="mlflow", tags={}, purge_tags=False)["in_sync"] is True


def test_kms_key_tags_are_paginated():
    pages = iter([{"Tags": [{"TagKey": "application", "TagValue": "mlflow"}], "NextMarker": "m", "Truncated": True},
                  {"Tags": [{"TagKey": "team", "TagValue": "ml"}], "Truncated": False}])
    fake = kms(list_resource_tags=lambda **arguments: next(pages))
    assert run("kms_key", fake, "kms", alias="mlflow", tags={"application": "mlflow", "team": "ml"})["in_sync"]
    assert [arguments for operation, arguments in fake.calls if operation == "list_resource_tags"] == [
        {"KeyId": KEY_ARN}, {"KeyId": KEY_ARN, "Marker": "m"}]


def test_kms_key_options_are_validated():
    with pytest.raises(InvalidInput, match="kms_key"):
        run("kms_key", kms(), "kms", description="no alias")
    with pytest.raises(InvalidInput, match="state"):
        run("kms_key", kms(), "kms", alias="mlflow", state="absent")
    with pytest.raises(InvalidInput, match="grants"):
        run("kms_key", kms(), "kms", alias="mlflow", grants=[])


def test_kms_key_unexpected_errors_propagate():
    with pytest.raises(ClientError):
        run("kms_key", kms(describe_key=client_error("AccessDeniedException", "DescribeKey")), "kms", alias="mlflow")


# --------------------------------------------------------------------------------------------------
# secretsmanager_secret
# --------------------------------------------------------------------------------------------------
SECRET_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/mlflow"},
     "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})


def secrets(**changes):
    described = {"ARN": SECRET_ARN, "Name": "mlflow-db", "Description": "MLflow database",
                 "KmsKeyId": "alias/mlflow", "Tags": [{"Key": "application", "Value": "mlflow"}]}
    described.update(changes.pop("described", {}))
    answers = dict(
        describe_secret=lambda SecretId: described if SecretId == "mlflow-db" else client_error(
            "ResourceNotFoundException", "DescribeSecret"),
        get_resource_policy={"ARN": SECRET_ARN, "Name": "mlflow-db"},
    )
    answers.update(changes)
    return FakeClient(**answers)


SECRET_OPTIONS = dict(name="mlflow-db", description="MLflow database", kms_key_id="alias/mlflow",
                      overwrite=False, secret="hunter2", tags={"application": "mlflow"})


def test_secret_in_sync_never_reads_the_value():
    fake = secrets()
    result = run("secretsmanager_secret", fake, "secretsmanager", **SECRET_OPTIONS)
    assert result == dict(exists=True, in_sync=True, differences=[], resource=dict(arn=SECRET_ARN, name="mlflow-db"))
    assert fake.operations() == ["describe_secret", "get_resource_policy"]
    assert "hunter2" not in repr(result)


def test_secret_missing():
    result = run("secretsmanager_secret", secrets(), "secretsmanager", dict(SECRET_OPTIONS, name="other"))
    assert result == dict(exists=False, in_sync=False, differences=["exists"], resource={})


def test_secret_overwrite_is_always_out_of_sync_and_never_reads_the_value():
    # The module compares the value (GetSecretValue) and rewrites it when it differs: unknowable here.
    for options in (dict(SECRET_OPTIONS, overwrite=True), dict(SECRET_OPTIONS, overwrite=True, secret="")):
        fake = secrets()
        result = run("secretsmanager_secret", fake, "secretsmanager", **options)
        assert result["in_sync"] is False and result["differences"] == ["secret"]
        assert "get_secret_value" not in fake.operations()
    result = run("secretsmanager_secret", secrets(), "secretsmanager", name="mlflow-db")  # overwrite defaults to true
    assert result["differences"] == ["description", "kms_key_id", "secret"]


def test_secret_description_and_key_only_matter_with_overwrite():
    changed = secrets(described={"Description": "other", "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/x"})
    assert run("secretsmanager_secret", changed, "secretsmanager", **SECRET_OPTIONS)["in_sync"] is True
    result = run("secretsmanager_secret", changed, "secretsmanager", dict(SECRET_OPTIONS, overwrite=True))
    assert result["differences"] == ["description", "kms_key_id", "secret"]


@pytest.mark.parametrize("changes, options, difference", [
    (dict(described={"DeletedDate": "2026-12-01T00:00:00Z"}), {}, "state"),
    (dict(described={"RotationEnabled": True, "RotationLambdaARN": "arn:aws:lambda:x"}), {}, "rotation_lambda"),
    ({}, dict(tags={"application": "mlflow", "team": "ml"}), "tags"),
    (dict(described={"Tags": [{"Key": "application", "Value": "mlflow"}, {"Key": "extra", "Value": "x"}]}), {},
     "tags"),
    ({}, dict(resource_policy=SECRET_POLICY), "resource_policy"),
    (dict(get_resource_policy={"ResourcePolicy": SECRET_POLICY}), {}, "resource_policy"),
    (dict(get_resource_policy=client_error("AccessDeniedException", "GetResourcePolicy")), {}, "resource_policy"),
])
def test_secret_each_difference(changes, options, difference):
    result = run("secretsmanager_secret", secrets(**changes), "secretsmanager", **dict(SECRET_OPTIONS, **options))
    assert result["exists"] is True and result["in_sync"] is False and result["differences"] == [difference]


def test_secret_resource_policy_compared_as_the_module_does():
    fake = secrets(get_resource_policy={"ResourcePolicy": SECRET_POLICY})
    assert run("secretsmanager_secret", fake, "secretsmanager",
               **dict(SECRET_OPTIONS, resource_policy=json.loads(SECRET_POLICY)))["in_sync"] is True


def test_secret_tag_purge_semantics():
    extra = secrets(described={"Tags": [{"Key": "application", "Value": "mlflow"}, {"Key": "extra", "Value": "x"}]})
    assert run("secretsmanager_secret", extra, "secretsmanager", **dict(SECRET_OPTIONS, purge_tags=False))["in_sync"]
    options = dict(SECRET_OPTIONS)
    del options["tags"]
    assert run("secretsmanager_secret", extra, "secretsmanager", **options)["in_sync"] is True
    untagged = secrets(described={"Tags": []})
    assert run("secretsmanager_secret", untagged, "secretsmanager", dict(SECRET_OPTIONS, tags={}))["in_sync"]
    result = run("secretsmanager_secret", extra, "secretsmanager", dict(SECRET_OPTIONS, tags={}))
    assert result["differences"] == ["tags"]


def test_secret_options_are_validated():
    with pytest.raises(InvalidInput, match="rotation_lambda"):
        run("secretsmanager_secret", secrets(), "secretsmanager", name="mlflow-db", rotation_lambda="arn")
    with pytest.raises(InvalidInput, match="json_secret"):
        run("secretsmanager_secret", secrets(), "secretsmanager", name="mlflow-db", json_secret={"a": 1})
    assert kinds.SECRETSMANAGER_SECRET_ARGUMENT_SPEC["secret"]["no_log"] is True


# --------------------------------------------------------------------------------------------------
# cloudwatchlogs_log_group
# --------------------------------------------------------------------------------------------------
def logs(**changes):
    group = {"logGroupName": "/mlflow/server", "arn": GROUP_ARN, "retentionInDays": 30,
             "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k"}
    group.update(changes.pop("group", {}))
    answers = dict(
        describe_log_groups=lambda logGroupNamePrefix: {"logGroups": [
            dict(group, logGroupName=name) for name in ("/mlflow/server", "/mlflow/server-old")
            if name.startswith(logGroupNamePrefix)]},
        list_tags_log_group={"tags": {"application": "mlflow"}},
    )
    answers.update(changes)
    return FakeClient(**answers)


LOG_OPTIONS = dict(log_group_name="/mlflow/server", retention=30, tags={"application": "mlflow"})


def test_log_group_in_sync():
    fake = logs()
    result = run("cloudwatchlogs_log_group", fake, "logs", **LOG_OPTIONS)
    assert result == dict(exists=True, in_sync=True, differences=[],
                          resource=dict(arn=GROUP_ARN, log_group_name="/mlflow/server", retention=30))
    assert fake.calls == [("describe_log_groups", {"logGroupNamePrefix": "/mlflow/server"}),
                          ("list_tags_log_group", {"logGroupName": "/mlflow/server"})]


def test_log_group_missing_needs_the_exact_name():
    result = run("cloudwatchlogs_log_group", logs(), "logs", log_group_name="/mlflow/serv")
    assert result == dict(exists=False, in_sync=False, differences=["exists"], resource={})


def test_log_group_omitted_retention_and_kms_key_are_not_compared():
    fake = logs(group={"retentionInDays": None})
    assert run("cloudwatchlogs_log_group", fake, "logs", log_group_name="/mlflow/server",
               kms_key_id="arn:aws:kms:us-east-1:123456789012:key/other")["in_sync"] is True
    assert fake.operations() == ["describe_log_groups"]


@pytest.mark.parametrize("changes, options, difference", [
    (dict(group={"retentionInDays": 7}), {}, "retention"),
    (dict(group={"retentionInDays": None}), {}, "retention"),
    (dict(group={"retentionInDays": 31}), dict(retention=31), "retention"),  # the module would delete the group
    ({}, dict(tags={"application": "mlflow", "team": "ml"}), "tags"),
    (dict(list_tags_log_group={"tags": {"application": "mlflow", "extra": "x"}}), {}, "tags"),
    (dict(list_tags_log_group=client_error("AccessDeniedException", "ListTagsLogGroup")), {}, "tags"),
    ({}, dict(overwrite=True), "overwrite"),
])
def test_log_group_each_difference(changes, options, difference):
    result = run("cloudwatchlogs_log_group", logs(**changes), "logs", **dict(LOG_OPTIONS, **options))
    assert result["exists"] is True and result["in_sync"] is False and result["differences"] == [difference]


def test_log_group_tag_purge_semantics():
    extra = logs(list_tags_log_group={"tags": {"application": "mlflow", "extra": "x"}})
    assert run("cloudwatchlogs_log_group", extra, "logs", **dict(LOG_OPTIONS, purge_tags=False))["in_sync"] is True
    assert run("cloudwatchlogs_log_group", logs(list_tags_log_group={"tags": {}}), "logs",
               dict(LOG_OPTIONS, tags={}))["in_sync"] is True
    assert run("cloudwatchlogs_log_group", logs(), "logs", dict(LOG_OPTIONS, tags={}))["differences"] == ["tags"]


def test_log_group_options_are_validated():
    with pytest.raises(InvalidInput, match="purge_retention_policy"):
        run("cloudwatchlogs_log_group", logs(), "logs", log_group_name="/x", purge_retention_policy=True)
    with pytest.raises(InvalidInput, match="retention"):
        run("cloudwatchlogs_log_group", logs(), "logs", log_group_name="/x", retention="a week")


def test_kinds_table():
    assert sorted(kinds.KINDS) == ["cloudwatchlogs_log_group", "kms_key", "secretsmanager_secret"]
    for spec, check in kinds.KINDS.values():
        assert isinstance(spec, dict) and callable(check)
