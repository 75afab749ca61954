"""mlops.mlflow.sagemaker_mlflow_app (and _info): input checks, the comparison, the refusal to replace an App, finding
it by name, and main() with SageMaker stubbed by botocore's Stubber."""

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlops.mlflow.plugins.module_utils import sagemaker_mlflow as common
from ansible_collections.mlops.mlflow.plugins.modules import sagemaker_mlflow_app as module
from ansible_collections.mlops.mlflow.plugins.modules import sagemaker_mlflow_app_info as info
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
ROLE = "arn:aws:iam::{0}:role/mlflow".format(ACCOUNT)
ARN = "arn:aws:sagemaker:us-east-1:{0}:mlflow-app/app-ABCDEFGHIJKL".format(ACCOUNT)
ARN2 = "arn:aws:sagemaker:us-east-1:{0}:mlflow-app/app-MNOPQRSTUVWX".format(ACCOUNT)
STORE = "s3://bucket/team-a"
ARGS = dict(harness.AWS_ARGS, name="team-a", artifact_store_uri=STORE, role_arn=ROLE)

run = harness.runner(module)
run_info = harness.runner(info)


def params(**changes):
    with patch_module_args(dict(ARGS, **changes)):
        return harness.validated_params(module)


def app(status="Created", **changes):
    """An App as DescribeMlflowApp answers."""
    described = {"Arn": ARN, "Name": "team-a", "ArtifactStoreUri": STORE, "MlflowVersion": "3.10.1", "RoleArn": ROLE, "Status": status,
                 "ModelRegistrationMode": "AutoModelRegistrationDisabled", "AccountDefaultStatus": "DISABLED",
                 "WeeklyMaintenanceWindowStart": "Tue:03:30"}
    described.update(changes)
    return described


def summary(arn=ARN, name="team-a", status="Created"):
    return {"Arn": arn, "Name": name, "Status": status, "MlflowVersion": "3.10.1"}


@pytest.mark.parametrize("changes, message", [
    ({"name": "team a"}, "name must be 1 to 256"),
    ({"default_domain_id_list": ["domain-1"]}, "default_domain_id_list: each entry must be a SageMaker domain ID"),
    ({"kms_key_id": "key with spaces"}, "kms_key_id must be a KMS key ID"),
    ({"role_arn": "arn:aws:iam::1:role/x"}, "role_arn must be the ARN of an IAM role"),
])
def test_bad_input_is_refused(changes, message):
    with pytest.raises(common.InvalidInput) as caught:
        module.validate(params(**changes))
    assert message in str(caught.value)


def test_the_same_app_needs_nothing():
    described = app(KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/k-1", DefaultDomainIdList=["d-b", "d-a"])
    assert module.plan(described, params(kms_key_id="k-1", default_domain_id_list=["d-a", "d-b"]), {}) == []
    assert module.plan(app(), params(default_domain_id_list=[]), {}) == []  # no domains: DescribeMlflowApp leaves the list out


@pytest.mark.parametrize("changes, expected", [
    ({"account_default_status": "ENABLED"}, ["account_default_status"]),
    ({"default_domain_id_list": ["d-abc"]}, ["default_domain_id_list"]),
    ({"artifact_store_uri": "s3://other", "model_registration_mode": "AutoModelRegistrationEnabled"},
     ["artifact_store_uri", "model_registration_mode"]),
])
def test_mutable_differences_update(changes, expected):
    assert module.plan(app(), params(**changes), {}) == [("update", expected)]
    arguments = module.update_arguments(ARN, params(**changes), expected)
    assert arguments["Arn"] == ARN and len(arguments) == len(expected) + 1


@pytest.mark.parametrize("changes, text", [
    ({"role_arn": "arn:aws:iam::123456789012:role/other"}, "SageMaker cannot change the role_arn of an existing MLflow App"),
    ({"kms_key_id": "k-2"}, "has kms_key_id (none), and kms_key_id k-2 was asked for"),
])
def test_role_and_key_changes_are_refused(changes, text):
    with pytest.raises(common.InvalidInput) as caught:
        module.plan(app(), params(**changes), {})
    assert text in str(caught.value) and "mlflow-export-import" in str(caught.value)


def test_plans_for_new_and_failed_apps():
    assert module.plan(None, params(), {}) == [("create", None)]
    with pytest.raises(common.InvalidInput) as caught:
        module.plan(None, params(artifact_store_uri=None), {})
    assert str(caught.value) == "MLflow App team-a does not exist; to create it, give artifact_store_uri."
    with pytest.raises(common.InvalidInput) as caught:
        module.plan(app(status="CreateFailed"), params(), {})
    assert "can only be deleted" in str(caught.value)
    assert module.plan(app(), params(tags={"a": "1"}), {}) == [("tag", ({"a": "1"}, []))]


def test_create_arguments():
    arguments = module.create_arguments(params(kms_key_id="k-1", default_domain_id_list=["d-a"]), {"team": "a"})
    assert arguments == {"Name": "team-a", "ArtifactStoreUri": STORE, "RoleArn": ROLE, "KmsKeyId": "k-1", "DefaultDomainIdList": ["d-a"],
                         "Tags": [{"Key": "team", "Value": "a"}]}


# --- main() with a stubbed SageMaker ------------------------------------------------------------------------------------


@pytest.fixture
def sagemaker(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "sagemaker")
    clock = harness.FakeClock()
    monkeypatch.setattr(common.time, "sleep", clock.sleep)
    monkeypatch.setattr(common.time, "monotonic", clock.monotonic)
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_finds_the_app_by_name_across_pages_and_ignores_deleting_ones(sagemaker):
    sagemaker.add_response("list_mlflow_apps", {"Summaries": [summary(ARN2, "other")], "NextToken": "t"}, {})
    sagemaker.add_response("list_mlflow_apps", {"Summaries": [summary(), summary(ARN2, "team-a", "Deleting")]}, {"NextToken": "t"})
    sagemaker.add_response("describe_mlflow_app", app(), {"Arn": ARN})
    sagemaker.add_response("list_tags", {"Tags": []}, {"ResourceArn": ARN})
    outcome = run(ARGS)
    assert not outcome.failed, outcome.result["msg"]
    assert not outcome.result["changed"] and outcome.result["app_arn"] == ARN


def test_two_apps_of_the_name_fail(sagemaker):
    sagemaker.add_response("list_mlflow_apps", {"Summaries": [summary(), summary(ARN2)]}, {})
    outcome = run(ARGS)
    assert outcome.failed and outcome.result["msg"].startswith("2 MLflow Apps are named 'team-a': {0}, {1}.".format(ARN, ARN2))


def test_creates_and_waits(sagemaker):
    sagemaker.add_response("list_mlflow_apps", {"Summaries": []}, {})
    sagemaker.add_response("create_mlflow_app", {"Arn": ARN}, {"Name": "team-a", "ArtifactStoreUri": STORE, "RoleArn": ROLE})
    sagemaker.add_response("describe_mlflow_app", app(status="Creating"), {"Arn": ARN})
    sagemaker.add_response("describe_mlflow_app", app(), {"Arn": ARN})
    sagemaker.add_response("describe_mlflow_app", app(), {"Arn": ARN})
    sagemaker.add_response("list_tags", {"Tags": []}, {"ResourceArn": ARN})
    outcome = run(ARGS, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] and outcome.result["actions"] == ["create"] and outcome.result["app"]["status"] == "Created"
    assert outcome.result["diff"]["before"] == {} and outcome.result["diff"]["after"]["role_arn"] == ROLE


def test_updates_in_check_mode_without_calling_update(sagemaker):
    sagemaker.add_response("list_mlflow_apps", {"Summaries": [summary()]}, {})
    sagemaker.add_response("describe_mlflow_app", app(), {"Arn": ARN})
    sagemaker.add_response("list_tags", {"Tags": []}, {"ResourceArn": ARN})
    outcome = run(dict(ARGS, account_default_status="ENABLED"), check_mode=True, diff=True)
    assert not outcome.failed and outcome.result["changed"] and outcome.result["actions"] == ["update"]
    assert outcome.result["diff"]["after"]["account_default_status"] == "ENABLED"


def test_an_update_that_fails_reports_the_status(sagemaker):
    sagemaker.add_response("list_mlflow_apps", {"Summaries": [summary()]}, {})
    sagemaker.add_response("describe_mlflow_app", app(), {"Arn": ARN})
    sagemaker.add_response("list_tags", {"Tags": []}, {"ResourceArn": ARN})
    sagemaker.add_response("update_mlflow_app", {"Arn": ARN}, {"Arn": ARN, "AccountDefaultStatus": "ENABLED"})
    sagemaker.add_response("describe_mlflow_app", app(status="UpdateFailed"), {"Arn": ARN})
    outcome = run(dict(ARGS, account_default_status="ENABLED"))
    assert outcome.failed and outcome.result["msg"].startswith("MLflow App team-a ({0}) is UpdateFailed".format(ARN))


def test_info_by_arn_with_a_presigned_url(sagemaker):
    sagemaker.add_response("describe_mlflow_app", app(), {"Arn": ARN})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "team", "Value": "a"}]}, {"ResourceArn": ARN})
    sagemaker.add_response("create_presigned_mlflow_app_url", {"AuthorizedUrl": "https://x/auth?authToken=t"},
                           {"Arn": ARN, "SessionExpirationDurationInSeconds": 1800})
    outcome = run_info(dict(harness.AWS_ARGS, arn=ARN, presigned_url=True, session_expiration_duration_in_seconds=1800))
    assert not outcome.failed and outcome.result["presigned_url"] == "https://x/auth?authToken=t"
    assert outcome.result["apps"][0]["tags"] == {"team": "a"}
