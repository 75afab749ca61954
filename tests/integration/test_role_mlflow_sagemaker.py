"""The role mlops.mlflow.mlflow_sagemaker run by ansible-playbook against the proving ground.

Each run is the collection's own playbook (playbooks/mlflow_sagemaker.yml) with the user's variables as extra vars;
the tests then read what the emulator holds through boto3 and what the role asked of AWS through the proving ground's
request log, looking only at the requests of their own run. One lifecycle (fresh, re-run, change, stop and start,
refused version change, removal with and without confirmation, purge) shares one stack; the other tests use stacks of
their own, under project names of their own.
"""

from __future__ import annotations

import json

import pytest
import yaml
from botocore.exceptions import ClientError

from conftest import AwsTestAccount
from helpers.ansible import REPO_ROOT, run_playbook

pytestmark = pytest.mark.slow

PLAYBOOK = REPO_ROOT / "playbooks" / "mlflow_sagemaker.yml"
VARS_DIR = REPO_ROOT / "playbooks" / "vars"
REGION = "us-east-1"
ACCOUNT = "123456789012"
OUTPUT_KEYS = {
    "state", "kind", "environment", "region", "account_id", "tracking_server_name", "tracking_server_arn",
    "tracking_server_url", "tracking_server_status", "tracking_uri", "mlflow_version", "bucket_name", "bucket_arn",
    "artifact_store_uri", "kms_key_arn", "role_name", "role_arn", "user_policy_arn", "environments"}
REGISTRY_ACTIONS = {"sagemaker:AddTags", "sagemaker:CreateModelPackageGroup", "sagemaker:CreateModelPackage",
                    "sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackageGroup"}


# --- Running the role ----------------------------------------------------------------------------------------------

def report(run):
    failed = ["{0}: {1}".format(result["_task"], result.get("msg")) for result in run.results if result.get("failed")]
    return "rc={0} recap={1}\nfailed: {2}\nstderr: {3}\nstdout: {4}".format(
        run.rc, run.recap, "\n".join(failed) or "-", run.stderr[-3000:], "" if run.document else run.stdout[-3000:])


def outputs(run):
    facts = [result["ansible_facts"]["mlflow_sagemaker_outputs"] for result in run.results
             if "mlflow_sagemaker_outputs" in result.get("ansible_facts", {})]
    assert facts, report(run)
    return facts[-1]


def failure_message(run):
    failed = [result for result in run.results if result.get("failed")]
    assert failed, report(run)
    last = failed[-1]
    # A looped task: the message of each item that failed.
    items = [item.get("msg", "") for item in last.get("results", []) if item.get("failed")]
    return " ".join([last.get("msg", "")] + items)


class Stack:
    """``run(**changes)`` runs the playbook with the stack's variables plus changes; the PlaybookRun it returns also
    has the requests of that run (``requests``) and the mutating ones as (service, operation) (``mutations``)."""

    def __init__(self, account, workdir, **variables):
        self.account = account
        self.workdir = workdir
        self.variables = {"mlflow_sagemaker_region": REGION}
        self.variables.update(variables)
        self.cache = {}

    def run(self, check=False, diff=False, extra_vars_files=(), **changes):
        variables = dict(self.variables, **changes)
        control = self.account.control
        start = control.last_request_id()
        extra_args = []
        for path in extra_vars_files:
            extra_args += ["-e", "@{0}".format(path)]
        run = run_playbook(self.workdir, self.account.child_environment(), PLAYBOOK, extra_vars=variables,
                           check=check, diff=diff, extra_args=extra_args, timeout=900)
        run.requests = control.requests(since=start)
        run.mutations = [(entry["service"], entry["operation"]) for entry in run.requests if entry["mutating"]]
        return run

    def once(self, key, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


@pytest.fixture(scope="module")
def account(proving_ground):
    control = proving_ground.client
    control.configure(latency_scale=0.0, latency_overrides={}, fault_rate=0.0, fault_services=[],
                      fault_kinds=["throttle"], fault_seed=None, strict=True)
    if control.mutating_requests():
        control.reset()
    return AwsTestAccount(proving_ground)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("sagemaker_role")


# --- Reading the emulator ------------------------------------------------------------------------------------------

def server(account, name):
    return account.client("sagemaker").describe_mlflow_tracking_server(TrackingServerName=name)


def server_exists(account, name):
    try:
        server(account, name)
    except ClientError:
        return False
    return True


def role_policy(account, role_name, policy_name="mlflow-sagemaker"):
    document = account.client("iam").get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    return json.loads(document) if isinstance(document, str) else document


def actions_of(document):
    found = set()
    for statement in document["Statement"]:
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def resources_of(document):
    found = set()
    for statement in document["Statement"]:
        resource = statement["Resource"]
        found.update([resource] if isinstance(resource, str) else resource)
    return found


def managed_policy(account, arn):
    iam = account.client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else document


def bucket_exists(account, name):
    try:
        account.client("s3").head_bucket(Bucket=name)
    except ClientError:
        return False
    return True


def role_exists(account, name):
    try:
        account.client("iam").get_role(RoleName=name)
    except ClientError:
        return False
    return True


# --- One tracking server's life --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lifecycle(account, workdir):
    return Stack(account, workdir / "lifecycle", mlflow_sagemaker_project_name="lc", mlflow_sagemaker_environment="dev",
                 mlflow_sagemaker_mlflow_version="3.0", mlflow_sagemaker_tags={"team": "a"})


class TestTrackingServerLifecycle:
    NAME = "lc-dev"

    def fresh(self, lifecycle):
        return lifecycle.once("fresh", lifecycle.run)

    def test_fresh_deployment(self, account, lifecycle):
        run = self.fresh(lifecycle)
        assert run.rc == 0, report(run)
        found = outputs(run)
        assert set(found) == OUTPUT_KEYS
        described = server(account, self.NAME)
        assert found["tracking_server_arn"] == described["TrackingServerArn"] == found["tracking_uri"]
        assert found["tracking_server_url"] == described["TrackingServerUrl"]
        assert found["mlflow_version"].startswith("3.0")
        assert found["bucket_name"] == "lc-dev-mlflow-artifacts"
        assert found["artifact_store_uri"] == described["ArtifactStoreUri"] == "s3://lc-dev-mlflow-artifacts"
        assert found["role_arn"] == described["RoleArn"] == "arn:aws:iam::{0}:role/lc-dev-sagemaker-mlflow".format(ACCOUNT)
        assert found["environments"]["dev"]["tracking_server_name"] == self.NAME
        assert described["TrackingServerSize"] == "Small"
        assert described["TrackingServerStatus"] in ("Created", "Started", "Updated")
        tags = {tag["Key"]: tag["Value"] for tag in account.client("sagemaker").list_tags(
            ResourceArn=described["TrackingServerArn"])["Tags"]}
        assert tags == {"Project": "lc", "Environment": "dev", "team": "a"}
        # The bucket comes from mlflow_artifact_store: versioned, SSE-KMS, public access blocked.
        s3 = account.client("s3")
        assert s3.get_bucket_versioning(Bucket=found["bucket_name"])["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=found["bucket_name"])["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        # The role: trusted by SageMaker of this account, its bucket and key only, no registry without registration.
        role = account.client("iam").get_role(RoleName="lc-dev-sagemaker-mlflow")["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        policy = role_policy(account, "lc-dev-sagemaker-mlflow")
        assert resources_of(policy) == {found["bucket_arn"], found["bucket_arn"] + "/*", found["kms_key_arn"]}
        assert not actions_of(policy) & REGISTRY_ACTIONS
        assert account.client("iam").list_attached_role_policies(RoleName="lc-dev-sagemaker-mlflow")["AttachedPolicies"] == []
        # The users' policy: the MLflow API of that server only, and the artifacts.
        users = managed_policy(account, found["user_policy_arn"])
        use = [statement for statement in users["Statement"] if statement.get("Sid") == "UseMlflow"][0]
        assert use["Action"] == ["sagemaker-mlflow:*"] and use["Resource"] == found["tracking_server_arn"]
        # No presigned URL was asked for (the proving ground counts it as mutating).
        assert ("sagemaker", "CreatePresignedMlflowTrackingServerUrl") not in run.mutations

    def test_rerun_changes_nothing(self, lifecycle):
        assert self.fresh(lifecycle).rc == 0
        run = lifecycle.run()
        assert run.rc == 0, report(run)
        assert run.recap["changed"] == 0, [result["_task"] for result in run.results if result.get("changed")]
        assert run.mutations == []

    def test_check_mode_previews_a_change_without_a_call(self, account, lifecycle):
        assert self.fresh(lifecycle).rc == 0
        run = lifecycle.run(check=True, mlflow_sagemaker_weekly_maintenance_window_start="Sun:04:00")
        assert run.rc == 0, report(run)
        assert run.recap["changed"] >= 1
        assert run.mutations == []
        assert server(account, self.NAME).get("WeeklyMaintenanceWindowStart") != "Sun:04:00"

    def test_maintenance_window_changes_in_place(self, account, lifecycle):
        assert self.fresh(lifecycle).rc == 0
        arn = server(account, self.NAME)["TrackingServerArn"]
        run = lifecycle.run(mlflow_sagemaker_weekly_maintenance_window_start="Sun:04:00")
        assert run.rc == 0, report(run)
        assert ("sagemaker", "UpdateMlflowTrackingServer") in run.mutations
        assert ("sagemaker", "CreateMlflowTrackingServer") not in run.mutations
        described = server(account, self.NAME)
        assert described["WeeklyMaintenanceWindowStart"] == "Sun:04:00"
        assert described["TrackingServerArn"] == arn
        lifecycle.variables["mlflow_sagemaker_weekly_maintenance_window_start"] = "Sun:04:00"
        again = lifecycle.run()
        assert again.rc == 0 and again.recap["changed"] == 0, report(again)

    def test_stop_then_start(self, account, lifecycle):
        assert self.fresh(lifecycle).rc == 0
        stopped = lifecycle.run(mlflow_sagemaker_running=False)
        assert stopped.rc == 0, report(stopped)
        assert ("sagemaker", "StopMlflowTrackingServer") in stopped.mutations
        assert server(account, self.NAME)["TrackingServerStatus"] == "Stopped"
        assert outputs(stopped)["tracking_server_status"] == "Stopped"
        again = lifecycle.run(mlflow_sagemaker_running=False)
        assert again.rc == 0 and again.recap["changed"] == 0, report(again)
        # SageMaker updates running servers only: a stopped one is started, updated and stopped again.
        resized = lifecycle.run(mlflow_sagemaker_running=False, mlflow_sagemaker_tracking_server_size="Medium")
        assert resized.rc == 0, report(resized)
        lifecycle_calls = [operation for service, operation in resized.mutations if "MlflowTrackingServer" in operation]
        assert lifecycle_calls == ["StartMlflowTrackingServer", "UpdateMlflowTrackingServer", "StopMlflowTrackingServer"]
        described = server(account, self.NAME)
        assert described["TrackingServerStatus"] == "Stopped" and described["TrackingServerSize"] == "Medium"
        lifecycle.variables["mlflow_sagemaker_tracking_server_size"] = "Medium"
        started = lifecycle.run()
        assert started.rc == 0, report(started)
        assert ("sagemaker", "StartMlflowTrackingServer") in started.mutations
        assert ("sagemaker", "UpdateMlflowTrackingServer") not in started.mutations
        assert server(account, self.NAME)["IsActive"] == "Active"

    def test_a_new_mlflow_version_is_refused_before_any_change(self, account, lifecycle):
        assert self.fresh(lifecycle).rc == 0
        run = lifecycle.run(mlflow_sagemaker_mlflow_version="3.4")
        assert run.rc != 0
        message = failure_message(run)
        assert "3.4" in message and "migrat" in message.lower(), message
        assert run.mutations == []
        assert server(account, self.NAME)["MlflowVersion"].startswith("3.0")

    def test_absent_without_confirmation_is_refused_before_any_call(self, account, lifecycle):
        assert self.fresh(lifecycle).rc == 0
        run = lifecycle.run(mlflow_sagemaker_state="absent")
        assert run.rc != 0
        assert "mlflow_sagemaker_confirm_deletion" in failure_message(run)
        assert run.requests == []
        assert server_exists(account, self.NAME)

    def test_absent_with_confirmation_keeps_the_bucket(self, account, lifecycle):
        fresh = self.fresh(lifecycle)
        assert fresh.rc == 0
        run = lifecycle.run(mlflow_sagemaker_state="absent", mlflow_sagemaker_confirm_deletion=True)
        assert run.rc == 0, report(run)
        found = outputs(run)
        assert found["state"] == "absent" and found["deleted"] and found["kept"] == ["bucket"]
        assert not server_exists(account, self.NAME)
        assert not role_exists(account, "lc-dev-sagemaker-mlflow")
        with pytest.raises(ClientError):
            account.client("iam").get_policy(PolicyArn=outputs(fresh)["user_policy_arn"])
        assert bucket_exists(account, "lc-dev-mlflow-artifacts")
        again = lifecycle.run(mlflow_sagemaker_state="absent", mlflow_sagemaker_confirm_deletion=True)
        assert again.rc == 0 and again.recap["changed"] == 0 and again.mutations == [], report(again)

    def test_purge_deletes_the_bucket(self, account, lifecycle):
        assert self.fresh(lifecycle).rc == 0
        run = lifecycle.run(mlflow_sagemaker_state="absent", mlflow_sagemaker_confirm_deletion=True,
                            mlflow_sagemaker_purge=True)
        assert run.rc == 0, report(run)
        assert outputs(run)["bucket_deleted"]
        assert not bucket_exists(account, "lc-dev-mlflow-artifacts")
        assert ("kms", "ScheduleKeyDeletion") in run.mutations


# --- Check mode, automatic model registration, bad inputs ------------------------------------------------------------

def test_check_mode_on_a_fresh_account_makes_no_mutating_call(account, workdir):
    stack = Stack(account, workdir / "check", mlflow_sagemaker_project_name="chk", mlflow_sagemaker_environment="dev")
    run = stack.run(check=True)
    assert run.rc == 0, report(run)
    assert run.recap["changed"] >= 1
    assert run.mutations == []
    assert not server_exists(account, "chk-dev")


def test_automatic_model_registration_grants_the_registry(account, workdir):
    stack = Stack(account, workdir / "registry", mlflow_sagemaker_project_name="reg",
                  mlflow_sagemaker_automatic_model_registration=True, mlflow_sagemaker_artifact_prefix="mlflow",
                  mlflow_sagemaker_create_user_policy=False)
    run = stack.run()
    assert run.rc == 0, report(run)
    found = outputs(run)
    assert found["tracking_server_name"] == "reg" and found["user_policy_arn"] == ""
    assert server(account, "reg")["AutomaticModelRegistration"] is True
    assert found["artifact_store_uri"] == "s3://reg-mlflow-artifacts/mlflow"
    policy = role_policy(account, "reg-sagemaker-mlflow")
    assert REGISTRY_ACTIONS <= actions_of(policy)
    assert found["bucket_arn"] + "/mlflow/*" in resources_of(policy)
    assert found["bucket_arn"] + "/*" not in resources_of(policy)


BAD_INPUTS = {
    "no project": ({"mlflow_sagemaker_project_name": ""}, "mlflow_sagemaker_project_name"),
    "version not major.minor": ({"mlflow_sagemaker_mlflow_version": "3"}, "mlflow_sagemaker_mlflow_version"),
    "bad window": ({"mlflow_sagemaker_weekly_maintenance_window_start": "Sunday 3am"},
                   "mlflow_sagemaker_weekly_maintenance_window_start"),
    "bad size": ({"mlflow_sagemaker_tracking_server_size": "Huge"}, "mlflow_sagemaker_tracking_server_size"),
    "uri without create_bucket false": ({"mlflow_sagemaker_artifact_store_uri": "s3://mine/x"},
                                        "mlflow_sagemaker_create_bucket"),
    "existing bucket without uri": ({"mlflow_sagemaker_create_bucket": False}, "mlflow_sagemaker_artifact_store_uri"),
    "bad artifact prefix": ({"mlflow_sagemaker_artifact_prefix": "/mlflow/"}, "mlflow_sagemaker_artifact_prefix"),
    "bad bucket suffix": ({"mlflow_sagemaker_bucket_name_suffix": "Artifacts_"}, "mlflow_sagemaker_bucket_name_suffix"),
    "bad kms key": ({"mlflow_sagemaker_kms_key_id": "not a key"}, "mlflow_sagemaker_kms_key_id"),
    "policy not an arn": ({"mlflow_sagemaker_additional_role_policies": ["AmazonS3FullAccess"]},
                          "mlflow_sagemaker_additional_role_policies"),
    "duplicate environments": ({"mlflow_sagemaker_environments": ["prod", "prod"]}, "mlflow_sagemaker_environments"),
    "unknown environment key": ({"mlflow_sagemaker_environments": [{"environment": "prod", "sise": "Large"}]},
                                "sise"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_make_no_request(account, workdir, case):
    changes, named = BAD_INPUTS[case]
    stack = Stack(account, workdir / "bad", mlflow_sagemaker_project_name="bad", mlflow_sagemaker_environment="dev")
    run = stack.run(**changes)
    assert run.rc != 0, report(run)
    assert named in failure_message(run), failure_message(run)
    assert run.requests == []


# --- Several environments, concurrently ------------------------------------------------------------------------------

CREATE_SECONDS = 45


def test_environments_are_created_concurrently(account, workdir):
    control = account.control
    control.configure(latency_scale=1.0, latency_overrides={"sagemaker:CreateMlflowTrackingServer": CREATE_SECONDS})
    try:
        stack = Stack(account, workdir / "multi", mlflow_sagemaker_project_name="multi",
                      mlflow_sagemaker_environments=[{"environment": "staging"},
                                                     {"environment": "prod", "tracking_server_size": "Medium"}])
        run = stack.run()
    finally:
        control.configure(latency_scale=0.0, latency_overrides={})
    assert run.rc == 0, report(run)
    creates = [entry for entry in run.requests if entry["operation"] == "CreateMlflowTrackingServer"]
    assert len(creates) == 2
    # The second server was asked for while the first was still being created: nobody waited in between.
    assert creates[1]["time"] - creates[0]["time"] < CREATE_SECONDS
    found = outputs(run)
    assert set(found["environments"]) == {"staging", "prod"}
    for environment, size in (("staging", "Small"), ("prod", "Medium")):
        described = server(account, "multi-" + environment)
        assert described["TrackingServerStatus"] == "Created"
        assert described["TrackingServerSize"] == size
        assert found["environments"][environment]["tracking_server_arn"] == described["TrackingServerArn"]
        assert found["environments"][environment]["bucket_name"] == "multi-{0}-mlflow-artifacts".format(environment)
    assert found["tracking_server_name"] == "multi-staging"
    again = stack.run()
    assert again.rc == 0 and again.recap["changed"] == 0 and again.mutations == [], report(again)
    # Removal while SageMaker is still updating one of them: that one is waited for, then deleted.
    control.configure(latency_scale=1.0, latency_overrides={"sagemaker:UpdateMlflowTrackingServer": 4})
    try:
        account.client("sagemaker").update_mlflow_tracking_server(TrackingServerName="multi-prod",
                                                                  WeeklyMaintenanceWindowStart="Sun:02:00")
        assert server(account, "multi-prod")["TrackingServerStatus"] == "Updating"
        removed = stack.run(mlflow_sagemaker_state="absent", mlflow_sagemaker_confirm_deletion=True)
    finally:
        control.configure(latency_scale=0.0, latency_overrides={})
    assert removed.rc == 0, report(removed)
    assert not server_exists(account, "multi-prod") and not server_exists(account, "multi-staging")


# --- Serverless MLflow App -------------------------------------------------------------------------------------------

def test_app_lifecycle(account, workdir):
    stack = Stack(account, workdir / "app", mlflow_sagemaker_kind="app", mlflow_sagemaker_project_name="appx",
                  mlflow_sagemaker_environment="dev")
    run = stack.run()
    assert run.rc == 0, report(run)
    found = outputs(run)
    assert found["kind"] == "app" and found["tracking_server_url"] == ""
    app = account.client("sagemaker").describe_mlflow_app(Arn=found["tracking_server_arn"])
    assert app["Name"] == "appx-dev"
    assert found["tracking_uri"] == app["Arn"]
    users = managed_policy(account, found["user_policy_arn"])
    use = [statement for statement in users["Statement"] if statement.get("Sid") == "UseMlflow"][0]
    assert use["Action"] == ["sagemaker:CallMlflowAppApi"] and use["Resource"] == app["Arn"]
    assert not any(operation.endswith("TrackingServer") for _service, operation in run.mutations)
    again = stack.run()
    assert again.rc == 0 and again.recap["changed"] == 0 and again.mutations == [], report(again)
    gone = stack.run(mlflow_sagemaker_state="absent", mlflow_sagemaker_confirm_deletion=True)
    assert gone.rc == 0, report(gone)
    assert ("sagemaker", "DeleteMlflowApp") in gone.mutations
    assert bucket_exists(account, "appx-dev-mlflow-artifacts")


# --- The example variables ------------------------------------------------------------------------------------------

EXAMPLES = sorted(path.name for path in VARS_DIR.glob("mlflow_sagemaker_*.yml"))


def test_every_example_is_tested():
    assert EXAMPLES == ["mlflow_sagemaker_app.yml", "mlflow_sagemaker_basic.yml",
                        "mlflow_sagemaker_multi_environment.yml", "mlflow_sagemaker_production.yml"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs(account, workdir, example):
    variables = yaml.safe_load((VARS_DIR / example).read_text())
    if variables.get("mlflow_sagemaker_create_bucket") is False:
        # The user's bucket and key, made before, as the example expects them.
        bucket = variables["mlflow_sagemaker_artifact_store_uri"].split("/")[2]
        if not bucket_exists(account, bucket):
            account.client("s3").create_bucket(Bucket=bucket)
            kms = account.client("kms")
            key = kms.create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=variables["mlflow_sagemaker_kms_key_id"], TargetKeyId=key)
    stack = Stack(account, workdir / "examples")
    run = stack.run(extra_vars_files=[VARS_DIR / example])
    assert run.rc == 0, report(run)
    found = outputs(run)
    assert found["environments"], found
    for environment in found["environments"].values():
        assert environment["tracking_uri"].startswith("arn:aws:sagemaker:" + REGION)
    if example == "mlflow_sagemaker_production.yml":
        described = server(account, "acme-ml-prod")
        assert described["WeeklyMaintenanceWindowStart"] == "Sun:03:00"
        assert described["ArtifactStoreUri"] == "s3://acme-ml-prod-artifacts/mlflow"
        assert found["kms_key_arn"].startswith("arn:aws:kms:")
        assert found["kms_key_arn"] in resources_of(role_policy(account, "acme-ml-prod-sagemaker-mlflow"))
