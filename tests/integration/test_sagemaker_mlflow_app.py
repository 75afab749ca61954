"""mlops.mlflow.sagemaker_mlflow_app and _info run by ansible-playbook against the proving ground.

Apps are known by ARN in the API and the module finds them by name; each test checks what SageMaker holds afterwards
through boto3, and what the modules asked of SageMaker through the proving ground's request log.
"""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks
from proving_ground.sagemaker_mlflow import ACCOUNT_ID, authorized_url_claims

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.sagemaker_mlflow_app"
INFO = "mlops.mlflow.sagemaker_mlflow_app_info"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mlflow-app"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mlflow-other"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/{KEY}"
STORE = "s3://mlflow-artifacts-bucket/team-a"


def task(args, module=MODULE, **keywords):
    return dict({module: {key: value for key, value in args.items() if value is not None}}, **keywords)


def args_for(**changes):
    args = {"name": "team-a", "artifact_store_uri": STORE, "role_arn": ROLE}
    args.update(changes)
    return args


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


def sagemaker_calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "sagemaker"]


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def changes_of(run):
    return [result["changed"] for result in run.results]


def apps(aws):
    return aws.client("sagemaker").list_mlflow_apps()["Summaries"]


def the_app(aws):
    (summary,) = apps(aws)
    return aws.client("sagemaker").describe_mlflow_app(Arn=summary["Arn"])


def tags_of(aws, arn):
    return {tag["Key"]: tag["Value"] for tag in aws.client("sagemaker").list_tags(ResourceArn=arn)["Tags"]}


def test_creates_once_then_converges(aws, play):
    args = args_for(kms_key_id=KEY_ARN, model_registration_mode="AutoModelRegistrationEnabled", default_domain_id_list=["d-xyz789", "d-abc123"],
                    weekly_maintenance_window_start="Wed:12:00", tags={"team": "a"})
    start = aws.control.last_request_id()
    run = play([task(args), task(args), task(dict(args, kms_key_id=KEY, default_domain_id_list=["d-abc123", "d-xyz789"]))])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False, False]
    created = run.results[0]
    app = created["app"]
    assert created["app_arn"] == app["arn"] and app["arn"].startswith(f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:mlflow-app/app-")
    assert app["status"] == "Created" and app["name"] == "team-a" and app["tags"] == {"team": "a"}
    assert app["kms_key_id"] == KEY_ARN and app["model_registration_mode"] == "AutoModelRegistrationEnabled"
    assert created["actions"] == ["create"] and run.results[1]["app"] == app
    assert mutating(aws, start) == ["CreateMlflowApp"]
    # The re-runs looked the App up by name.
    assert sagemaker_calls(aws, start)[-3:] == ["ListMlflowApps", "DescribeMlflowApp", "ListTags"]
    assert tags_of(aws, app["arn"]) == {"team": "a"}


def test_waits_through_the_transitional_states(aws, play):
    aws.control.configure(latency_scale=0.001, latency_overrides={
        "sagemaker:CreateMlflowApp": 2500, "sagemaker:UpdateMlflowApp": 1500, "sagemaker:DeleteMlflowApp": 1500})
    start = aws.control.last_request_id()
    run = play([
        task(args_for(), name="create"),
        task(args_for(account_default_status="ENABLED"), name="update"),
        task(args_for(state="absent"), name="delete"),
    ])
    assert run.rc == 0, run.output
    created, updated, deleted = run.results
    assert created["app"]["status"] == "Created" and updated["app"]["status"] == "Updated"
    assert updated["app"]["account_default_status"] == "ENABLED" and deleted["actions"] == ["delete"]
    assert mutating(aws, start) == ["CreateMlflowApp", "UpdateMlflowApp", "DeleteMlflowApp"]
    assert sagemaker_calls(aws, start).count("DescribeMlflowApp") >= 6
    assert apps(aws) == []


def test_check_mode_changes_nothing_and_diff_tells_what_would(aws, play):
    start = aws.control.last_request_id()
    run = play([
        task(args_for(tags={"team": "a"}), name="check create", check_mode=True, diff=True),
        task(args_for(tags={"team": "a"}), name="create"),
        task(args_for(default_domain_id_list=["d-abc123"], tags={}), name="check update", check_mode=True, diff=True),
        task(args_for(state="absent"), name="check delete", check_mode=True, diff=True),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, True]
    check_create, created, check_update, check_delete = run.results
    assert check_create["diff"]["before"] == {} and check_create["diff"]["after"]["role_arn"] == ROLE and check_create["app_arn"] == ""
    before, after = check_update["diff"]["before"], check_update["diff"]["after"]
    assert (before["default_domain_id_list"], after["default_domain_id_list"]) == ([], ["d-abc123"])
    assert (before["tags"], after["tags"]) == ({"team": "a"}, {}) and check_update["actions"] == ["update", "tag"]
    assert check_delete["diff"]["after"] == {} and check_delete["app_arn"] == created["app_arn"]
    assert mutating(aws, start) == ["CreateMlflowApp"]
    assert "DefaultDomainIdList" not in the_app(aws)


def test_mutable_settings_change_in_place_and_tags(aws, play):
    changed = args_for(artifact_store_uri="s3://mlflow-artifacts-bucket/team-b", model_registration_mode="AutoModelRegistrationEnabled",
                       account_default_status="ENABLED", default_domain_id_list=["d-abc123"], weekly_maintenance_window_start="Fri:01:00")
    start = aws.control.last_request_id()
    run = play([
        task(args_for(default_domain_id_list=["d-xyz789"], tags={"team": "a", "cost": "1"}), name="create"),
        task(changed, name="update", diff=True),
        task(changed, name="again"),
        task(dict(changed, default_domain_id_list=[], tags={"team": "b"}), name="clear the domains, purge tags"),
        task(dict(changed, default_domain_id_list=[], tags={"extra": "x"}, purge_tags=False), name="add a tag"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False, True, True]
    assert run.results[1]["actions"] == ["update"] and run.results[3]["actions"] == ["update", "tag"]
    assert run.results[4]["app"]["tags"] == {"team": "b", "extra": "x"}
    assert mutating(aws, start) == ["CreateMlflowApp", "UpdateMlflowApp", "UpdateMlflowApp", "DeleteTags", "AddTags", "AddTags"]
    app = the_app(aws)
    assert (app["ArtifactStoreUri"], app["ModelRegistrationMode"], app["AccountDefaultStatus"], app["WeeklyMaintenanceWindowStart"]) == (
        "s3://mlflow-artifacts-bucket/team-b", "AutoModelRegistrationEnabled", "ENABLED", "Fri:01:00")
    assert "DefaultDomainIdList" not in app and tags_of(aws, app["Arn"]) == {"team": "b", "extra": "x"}


def test_a_new_role_or_kms_key_is_refused_before_any_change(aws, play):
    run = play([task(args_for())])
    assert run.rc == 0, run.output
    start = aws.control.last_request_id()
    run = play([
        task(args_for(role_arn=OTHER_ROLE, account_default_status="ENABLED"), name="role", ignore_errors=True),
        task(args_for(kms_key_id=KEY), name="key", ignore_errors=True),
    ])
    assert run.rc == 0, run.output
    role, key = run.results
    assert role["failed"] and role["msg"].startswith(
        f"MLflow App team-a has role_arn {ROLE}, and role_arn {OTHER_ROLE} was asked for. SageMaker cannot change the role_arn of an existing "
        "MLflow App"), role["msg"]
    assert "kms_key_id (none), and kms_key_id " + KEY in key["msg"], key["msg"]
    for result in (role, key):
        assert "mlflow-export-import" in result["msg"] and "would lose the experiments" in result["msg"]
    assert mutating(aws, start) == []
    assert the_app(aws)["AccountDefaultStatus"] == "DISABLED"


def test_two_apps_with_the_name_fail_and_change_nothing(aws, play):
    sagemaker = aws.client("sagemaker")
    arns = sorted(sagemaker.create_mlflow_app(Name="team-a", ArtifactStoreUri=STORE, RoleArn=ROLE)["Arn"] for dummy in range(2))
    start = aws.control.last_request_id()
    run = play([task(args_for(), ignore_errors=True), task(args_for(state="absent"), ignore_errors=True),
                task({"name": "team-a", "presigned_url": True}, module=INFO, ignore_errors=True)])
    assert run.rc == 0, run.output
    for result in run.results[:2]:
        assert result["failed"] and f"2 MLflow Apps are named 'team-a': {arns[0]}, {arns[1]}" in result["msg"], result["msg"]
    assert run.results[2]["failed"] and "Give the arn of the one" in run.results[2]["msg"]
    assert len(run.results[2]["apps"]) == 2
    assert mutating(aws, start) == []


def test_absent_deletes_then_changes_nothing(aws, play):
    start = aws.control.last_request_id()
    run = play([
        task(args_for(), name="create"),
        task(args_for(state="absent"), name="delete", diff=True),
        task(args_for(state="absent"), name="delete again"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False]
    assert run.results[1]["diff"]["before"]["name"] == "team-a" and run.results[1]["diff"]["after"] == {}
    assert run.results[2]["app"] == {} and run.results[2]["app_arn"] == ""
    assert mutating(aws, start) == ["CreateMlflowApp", "DeleteMlflowApp"]
    assert apps(aws) == []


def test_info_and_presigned_url(aws, play):
    sagemaker = aws.client("sagemaker")
    other = sagemaker.create_mlflow_app(Name="other", ArtifactStoreUri=STORE, RoleArn=ROLE, AccountDefaultStatus="ENABLED")["Arn"]
    run = play([task(args_for(tags={"team": "a"}), name="create")])
    assert run.rc == 0, run.output
    arn = run.result()["app_arn"]
    start = aws.control.last_request_id()
    run = play([
        task({"name": "team-a", "presigned_url": True, "presigned_url_expires_in_seconds": 60}, module=INFO, name="by name"),
        task({"arn": other, "presigned_url": True}, module=INFO, name="by arn"),
        task({}, module=INFO, name="all"),
        task({"account_default_status": "ENABLED"}, module=INFO, name="filtered"),
        task({"name": "nobody", "presigned_url": True}, module=INFO, name="no such app"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [False] * 5
    by_name, by_arn, every, filtered, nobody = run.results
    (app,) = by_name["apps"]
    assert app["arn"] == arn and app["tags"] == {"team": "a"}
    claims = authorized_url_claims(by_name["presigned_url"])
    assert claims["sub"] == arn and claims["exp"] - claims["iat"] == 60
    assert by_arn["apps"][0]["name"] == "other" and authorized_url_claims(by_arn["presigned_url"])["sub"] == other
    assert sorted(a["name"] for a in every["apps"]) == ["other", "team-a"]
    assert [a["arn"] for a in filtered["apps"]] == [other]
    assert nobody["apps"] == [] and "presigned_url" not in nobody
    assert mutating(aws, start) == ["CreatePresignedMlflowAppUrl", "CreatePresignedMlflowAppUrl"]


def bad_inputs():
    return [
        (MODULE, args_for(name="team a"), "name must be 1 to 256 letters, digits and hyphens"),
        (MODULE, args_for(artifact_store_uri="file:///tmp/x"), "artifact_store_uri must be an S3 URI"),
        (MODULE, args_for(default_domain_id_list=["domain-1"]), "default_domain_id_list: each entry must be a SageMaker domain ID"),
        (MODULE, args_for(kms_key_id="alias with spaces"), "kms_key_id must be a KMS key ID"),
        (MODULE, args_for(account_default_status="YES"), "value of account_default_status must be one of: ENABLED, DISABLED"),
        (MODULE, args_for(weekly_maintenance_window_start="Mon:25:00"), "weekly_maintenance_window_start must be Day:HH:MM"),
        (INFO, {"arn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/x"}, "arn must be an MLflow App ARN"),
        (INFO, {"presigned_url": True}, "presigned_url needs the name or the arn of the App"),
        (INFO, {"name": "a", "arn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-X"}, "mutually exclusive"),
        (INFO, {"name": "a", "session_expiration_duration_in_seconds": 60}, "session_expiration_duration_in_seconds must be between 1800 and 43200"),
    ]


def test_bad_input_fails_clearly_and_calls_no_api(aws, play):
    cases = bad_inputs()
    start = aws.control.last_request_id()
    run = play([task(args, module=module, ignore_errors=True) for module, args, dummy in cases])
    assert run.rc == 0, run.output
    assert run.recap["ignored"] == len(cases), run.output
    for result, (module, args, message) in zip(run.results, cases):
        assert result["failed"], result
        assert message in result["msg"], (args, result["msg"])
    assert aws.control.requests(since=start) == []
