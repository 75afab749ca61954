"""mlops.mlflow.ecs_mlflow_task_definition, driven through main() with ECS stubbed by botocore's
Stubber (which also checks every request against the ECS API model)."""

import copy
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_server
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import normalise_task_definition
from ansible_collections.mlops.mlflow.plugins.modules import ecs_mlflow_task_definition as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
SECRET = "arn:aws:secretsmanager:us-east-1:{0}:secret:rds!cluster-0a1b-AbCdEf".format(ACCOUNT)
EXECUTION_ROLE = "arn:aws:iam::{0}:role/mlflow-execution".format(ACCOUNT)
TASK_ROLE = "arn:aws:iam::{0}:role/mlflow-task".format(ACCOUNT)


def arn(revision, family="mlflow"):
    return "arn:aws:ecs:us-east-1:{0}:task-definition/{1}:{2}".format(ACCOUNT, family, revision)


def base_args(**changes):
    args = {
        "family": "mlflow",
        "region": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",
        "execution_role_arn": EXECUTION_ROLE,
        "task_role_arn": TASK_ROLE,
        "database": {"engine": "postgresql", "host": "db.example.com", "name": "mlflow", "credentials_secret_arn": SECRET},
        "artifacts_uri": "s3://bucket/mlflow",
        "allowed_hosts": ["mlflow.example.com"],
        "awslogs": {"group": "/ecs/mlflow"},
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value is not None}


@pytest.fixture
def ecs(monkeypatch):
    """A real ECS client whose answers come from a Stubber; the module gets it from module.client()."""
    stubber = harness.stub_client(monkeypatch, "ecs")
    with stubber:
        yield stubber


run = harness.runner(module)


def desired(**changes):
    """The definition the module registers for base_args(**changes)."""
    with patch_module_args(base_args(**changes)):
        params = harness.validated_params(module)
    definition, dummy = module.build_task_definition(params, "us-east-1")
    return definition


def as_described(definition, revision, tags=None):
    """What DescribeTaskDefinition answers for a registered definition (AWS fills defaults)."""
    described = copy.deepcopy(definition)
    for container in described["containerDefinitions"]:
        container.setdefault("cpu", 0)
        container.setdefault("volumesFrom", [])
        container.setdefault("mountPoints", [])
        if "healthCheck" in container:
            container["healthCheck"].setdefault("startPeriod", 0)
        container["environment"] = list(reversed(container.get("environment", [])))
    described.update(taskDefinitionArn=arn(revision, definition["family"]), revision=revision, status="ACTIVE",
                     compatibilities=["EC2", "FARGATE"], placementConstraints=[],
                     requiresAttributes=[{"name": "ecs.capability.secrets.asm.environment-variables"}])
    return {"taskDefinition": described, "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}


def expect_latest(ecs, revision=None, definition=None, tags=None, family="mlflow"):
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": [arn(revision, family)] if revision else []},
                     {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC", "maxResults": 1})
    if revision:
        ecs.add_response("describe_task_definition", as_described(definition, revision, tags),
                         {"taskDefinition": arn(revision, family), "include": ["TAGS"]})


def expect_deregistered(ecs, inactive=None, deleting=None, family="mlflow"):
    """The lookups check mode makes for the number of the revision it would register."""
    for status, revision in (("INACTIVE", inactive), ("DELETE_IN_PROGRESS", deleting)):
        ecs.add_response("list_task_definitions", {"taskDefinitionArns": [arn(revision, family)] if revision else []},
                         {"familyPrefix": family, "status": status, "sort": "DESC", "maxResults": 1})


def expect_register(ecs, definition, revision, tags=None):
    params = copy.deepcopy(definition)
    if tags:
        params["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    ecs.add_response("register_task_definition", {"taskDefinition": as_described(definition, revision)["taskDefinition"]}, params)


# --- the definition -------------------------------------------------------------------------------------------------


def test_database_backend_reads_credentials_from_the_secret_and_starts_through_the_script():
    definition = desired()
    (container,) = definition["containerDefinitions"]
    assert definition["networkMode"] == "awsvpc" and definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["runtimePlatform"] == {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}
    assert container["image"] == mlflow_server.DEFAULT_IMAGE
    assert container["entryPoint"] == ["python", "-c", mlflow_server.START_SCRIPT]
    assert container["secrets"] == [{"name": "MLOPS_DB_PASSWORD", "valueFrom": SECRET + ":password::"},
                                    {"name": "MLOPS_DB_USERNAME", "valueFrom": SECRET + ":username::"}]
    environment = {entry["name"]: entry["value"] for entry in container["environment"]}
    assert environment["MLOPS_DB_DRIVER"] == "postgresql+psycopg2"
    assert environment["MLOPS_DB_PORT"] == "5432"
    assert environment["MLFLOW_SERVER_ALLOWED_HOSTS"] == "mlflow.example.com"
    assert environment["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://bucket/mlflow"
    assert "MLFLOW_BACKEND_STORE_URI" not in environment
    assert [entry["name"] for entry in container["environment"]] == sorted(environment)
    assert container["logConfiguration"] == {"logDriver": "awslogs", "options": {
        "awslogs-group": "/ecs/mlflow", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "mlflow", "mode": "non-blocking"}}
    assert "HTTPConnection('127.0.0.1', 5000, timeout=5); c.request('GET', '/health')" in container["healthCheck"]["command"][-1]


def test_custom_json_keys_and_mysql():
    definition = desired(database={"engine": "mysql", "host": "db", "name": "m", "credentials_secret_arn": SECRET,
                                   "username_key": "user", "password_key": "pass", "port": 3307})
    container = definition["containerDefinitions"][0]
    assert [secret["valueFrom"] for secret in container["secrets"]] == [SECRET + ":pass::", SECRET + ":user::"]
    environment = {entry["name"]: entry["value"] for entry in container["environment"]}
    assert (environment["MLOPS_DB_DRIVER"], environment["MLOPS_DB_PORT"]) == ("mysql+pymysql", "3307")


def test_uri_secret_backend():
    reference = "arn:aws:secretsmanager:us-east-1:{0}:secret:mlflow/uri-AbCdEf:uri::".format(ACCOUNT)
    definition = desired(database=None, backend_store_uri_secret_arn=reference, artifacts_mode="direct")
    container = definition["containerDefinitions"][0]
    assert container["entryPoint"] == list(mlflow_server.START_ENTRY_POINT)
    assert container["secrets"] == [{"name": "MLFLOW_BACKEND_STORE_URI", "valueFrom": reference}]
    environment = {entry["name"]: entry["value"] for entry in container["environment"]}
    assert (environment["MLFLOW_SERVE_ARTIFACTS"], environment["MLFLOW_DEFAULT_ARTIFACT_ROOT"]) == ("false", "s3://bucket/mlflow")


def test_sqlite_on_efs_mounts_the_access_point():
    definition = desired(database=None, execution_role_arn=None, awslogs=None,
                         sqlite_efs={"file_system_id": "fs-0123abcd", "access_point_id": "fsap-0123abcd"})
    assert definition["volumes"] == [{"name": "mlflow-efs", "efsVolumeConfiguration": {
        "fileSystemId": "fs-0123abcd", "rootDirectory": "/", "transitEncryption": "ENABLED",
        "authorizationConfig": {"accessPointId": "fsap-0123abcd", "iam": "ENABLED"}}}]
    container = definition["containerDefinitions"][0]
    assert container["mountPoints"] == [{"sourceVolume": "mlflow-efs", "containerPath": "/mnt/efs"}]
    assert {"name": "MLFLOW_BACKEND_STORE_URI", "value": "sqlite:////mnt/efs/mlflow.db"} in container["environment"]
    assert "secrets" not in container and "executionRoleArn" not in definition


def test_settings_extra_variables_and_sidecars():
    definition = desired(cpu=2048, memory=4096, cpu_architecture="ARM64", port=8080, workers=2, static_prefix="/mlflow",
                         cors_allowed_origins=["https://a.example.com"], prometheus_metrics=True,
                         extra_environment={"MLFLOW_SERVER_X_FRAME_OPTIONS": "DENY", "FLAG": True, "NUMBER": 3},
                         extra_secrets={"MLFLOW_FLASK_SERVER_SECRET_KEY": SECRET + ":flask::"},
                         sidecars=[{"name": "proxy", "image": "envoy", "essential": False}],
                         health_check={"interval": 10, "timeout": 3, "retries": 2, "start_period": 0},
                         awslogs={"group": "g", "region": "eu-west-1", "stream_prefix": "p", "create_group": True,
                                  "mode": "blocking", "max_buffer_size": "4m"})
    assert (definition["cpu"], definition["memory"], definition["runtimePlatform"]["cpuArchitecture"]) == ("2048", "4096", "ARM64")
    mlflow, proxy = definition["containerDefinitions"]
    assert proxy == {"name": "proxy", "image": "envoy", "essential": False}
    environment = {entry["name"]: entry["value"] for entry in mlflow["environment"]}
    assert environment["MLFLOW_PORT"] == "8080" and environment["MLFLOW_WORKERS"] == "2"
    assert environment["MLFLOW_STATIC_PREFIX"] == "/mlflow"
    assert environment["MLFLOW_EXPOSE_PROMETHEUS"] == "/tmp/mlflow-prometheus"
    assert environment["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == "https://a.example.com"
    assert (environment["FLAG"], environment["NUMBER"]) == ("true", "3")
    assert {"name": "MLFLOW_FLASK_SERVER_SECRET_KEY", "valueFrom": SECRET + ":flask::"} in mlflow["secrets"]
    assert mlflow["portMappings"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    assert mlflow["healthCheck"]["interval"] == 10 and "startPeriod" not in mlflow["healthCheck"]
    assert "HTTPConnection('127.0.0.1', 8080, timeout=3); c.request('GET', '/mlflow/health')" in mlflow["healthCheck"]["command"][-1]
    assert mlflow["logConfiguration"]["options"] == {"awslogs-group": "g", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "p",
                                                     "awslogs-create-group": "true", "mode": "blocking", "max-buffer-size": "4m"}


def test_health_check_can_be_disabled():
    assert "healthCheck" not in desired(health_check={"enabled": False})["containerDefinitions"][0]


def test_no_option_takes_a_secret_value():
    """Secrets go in as references only: no option needs no_log, because none holds a secret."""
    assert SECRET + ":password::" in json.dumps(desired())
    for option, spec in _flatten_spec(harness.argument_spec(module)):
        assert not spec.get("no_log"), "{0} would hide a value the module does not need to hold".format(option)


def _flatten_spec(spec, prefix=""):
    for name, option in spec.items():
        yield prefix + name, option
        yield from _flatten_spec(option.get("options") or {}, prefix + name + ".")


# --- bad input: refused before any API call ----------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"cpu": 1024, "memory": 1024}, "memory=1024 MiB does not fit cpu=1024 on Fargate: set memory to 2048, 3072"),
    ({"cpu": 3000}, "cpu=3000 is not a Fargate task size: set cpu to one of 256, 512"),
    ({"family": "ml flow"}, "family must be 1 to 255 letters"),
    ({"execution_role_arn": None}, "execution_role_arn is required: ECS needs it to read the secrets and to send logs to CloudWatch Logs"),
    ({"task_role_arn": "mlflow-task"}, "task_role_arn must be an IAM role ARN"),
    ({"database": {"engine": "postgresql", "host": "db:5432", "name": "m", "credentials_secret_arn": SECRET}}, "put the port in database.port"),
    ({"database": {"engine": "postgresql", "host": "db", "name": "m", "credentials_secret_arn": SECRET + ":password::"}},
     "without a JSON key suffix"),
    ({"database": {"engine": "postgresql", "host": "db", "name": "m", "credentials_secret_arn": "mlflow-db"}},
     "database.credentials_secret_arn must be the full ARN"),
    ({"database": None, "backend_store_uri_secret_arn": "postgresql://u:p@h/db"}, "backend_store_uri_secret_arn must be the ARN"),
    ({"database": None, "sqlite_efs": {"file_system_id": "fs-1", "access_point_id": "ap-1"}}, "sqlite_efs.access_point_id must be"),
    ({"database": None, "sqlite_efs": {"file_system_id": "fs-1", "access_point_id": "fsap-1", "mount_path": "/mnt/efs/"}},
     "sqlite_efs.mount_path must be an absolute directory"),
    ({"extra_environment": {"MLFLOW_PORT": "1"}}, "extra_environment may not set MLFLOW_PORT"),
    ({"extra_secrets": {"MLOPS_DB_PASSWORD": SECRET}}, "extra_secrets may not set MLOPS_DB_PASSWORD"),
    ({"extra_environment": {"X": "1"}, "extra_secrets": {"X": SECRET}}, "X set both in extra_environment and in extra_secrets"),
    ({"static_prefix": "mlflow/"}, "static_prefix must begin with '/'"),
    ({"sidecars": [{"name": "mlflow", "image": "x"}]}, "sidecars[0] is named 'mlflow' like another container"),
    ({"sidecars": [{"image": "x"}]}, "sidecars[0] must be an ECS container definition with at least name and image"),
    ({"health_check": {"interval": 400}}, "health_check.interval must be between 5 and 300"),
    ({"port": 70000}, "port must be between 1 and 65535"),
    ({"workers": 0}, "workers must be at least 1"),
    ({"sqlite_efs": {"file_system_id": "fs-1", "access_point_id": "fsap-1"}},
     "parameters are mutually exclusive: backend_store_uri_secret_arn|database|sqlite_efs"),
    ({"database": None}, "state is present but any of the following are missing: backend_store_uri_secret_arn, database, sqlite_efs"),
    ({"artifacts_uri": None}, "state is present but all of the following are missing: artifacts_uri"),
])
def test_bad_input_fails_before_any_api_call(ecs, changes, message):
    outcome = run(base_args(**changes))
    assert outcome.failed
    assert message in outcome.result["msg"]
    assert ecs.created == [], "an AWS client was created before the input was checked"


def test_missing_allowed_hosts_warns(ecs):
    expect_latest(ecs)
    expect_deregistered(ecs, inactive=2)
    definition = desired(allowed_hosts=None)
    outcome = run(base_args(allowed_hosts=None), check_mode=True)
    assert not outcome.failed
    assert outcome.result["changed"]
    assert "MLFLOW_SERVER_ALLOWED_HOSTS" not in json.dumps(definition)
    assert any("get 403 'Invalid Host header'" in warning for warning in ecs.warnings)


def test_no_warning_with_allowed_hosts(ecs):
    expect_latest(ecs, 1, desired())
    run(base_args())
    assert ecs.warnings == []


# --- the family's latest revision ---------------------------------------------------------------------------------------


def test_registers_the_first_revision_with_tags(ecs):
    definition = desired()
    expect_latest(ecs)
    expect_register(ecs, definition, 1, tags={"app": "mlflow"})
    outcome = run(base_args(tags={"app": "mlflow"}))
    ecs.assert_no_pending_responses()
    result = outcome.result
    assert result["changed"] and result["revision"] == 1 and result["task_definition_arn"] == arn(1)
    assert (result["container_name"], result["container_port"], result["health_check_path"]) == ("mlflow", 5000, "/health")
    assert result["task_definition"]["tags"] == {"app": "mlflow"}
    assert result["task_definition"]["container_definitions"][0]["log_configuration"]["options"]["awslogs-group"] == "/ecs/mlflow"


def test_an_equal_revision_changes_nothing(ecs):
    definition = desired()
    expect_latest(ecs, 4, definition)
    outcome = run(base_args(), diff=True)
    ecs.assert_no_pending_responses()
    assert not outcome.result["changed"]
    assert outcome.result["revision"] == 4
    assert outcome.result["diff"]["before"] == outcome.result["diff"]["after"]


@pytest.mark.parametrize("changes", [
    {"extra_environment": {"MLFLOW_SERVER_X_FRAME_OPTIONS": "DENY"}},
    {"cpu": 2048, "memory": 4096},
    {"execution_role_arn": "arn:aws:iam::{0}:role/other".format(ACCOUNT)},
    {"image": "ghcr.io/mlflow/mlflow:v3.17.2-full"},
    {"allowed_hosts": ["mlflow.example.com", "mlflow.example.com:*"]},
], ids=["environment", "task size", "execution role", "image", "allowed hosts"])
def test_a_real_change_registers_one_revision_carrying_the_tags(ecs, changes):
    old, new = desired(), desired(**changes)
    expect_latest(ecs, 4, old, tags={"app": "mlflow"})
    expect_register(ecs, new, 5, tags={"app": "mlflow"})
    outcome = run(base_args(**changes), diff=True)
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["revision"] == 5
    diff = outcome.result["diff"]
    assert diff["before"] != diff["after"]
    assert diff["after"] == dict(normalise_task_definition(new), tags={"app": "mlflow"})


def test_check_mode_registers_nothing_and_says_what_would_be(ecs):
    old = desired()
    expect_latest(ecs, 4, old)
    expect_deregistered(ecs)
    outcome = run(base_args(cpu=512, memory=1024), check_mode=True, diff=True)
    ecs.assert_no_pending_responses()  # the stubber would fail on a register call
    result = outcome.result
    assert result["changed"]
    assert (result["task_definition_arn"], result["revision"]) == (arn(5), 5)  # what the registration would make
    assert result["task_definition"]["cpu"] == "512"
    assert (result["diff"]["before"]["cpu"], result["diff"]["after"]["cpu"]) == ("1024", "512")


@pytest.mark.parametrize("active, inactive, deleting, expected", [
    (None, 2, None, 3),     # every revision deregistered
    (4, 6, None, 7),        # the newest ones deregistered
    (4, 2, 5, 6),           # one being deleted
    (4, None, None, 5),
])
def test_check_mode_numbers_the_next_revision_after_every_earlier_one(ecs, active, inactive, deleting, expected):
    expect_latest(ecs, active, desired(cpu=512, memory=1024) if active else None)
    expect_deregistered(ecs, inactive, deleting)
    outcome = run(base_args(), check_mode=True)
    ecs.assert_no_pending_responses()
    assert (outcome.result["changed"], outcome.result["task_definition_arn"], outcome.result["revision"]) == (True, arn(expected), expected)


def test_tags_only_change_tags_the_latest_revision(ecs):
    definition = desired()
    expect_latest(ecs, 4, definition, tags={"app": "mlflow", "team": "ml", "aws:cloudformation:stack-name": "x"})
    ecs.add_response("untag_resource", {}, {"resourceArn": arn(4), "tagKeys": ["team"]})
    ecs.add_response("tag_resource", {}, {"resourceArn": arn(4), "tags": [{"key": "app", "value": "mlflow2"}]})
    outcome = run(base_args(tags={"app": "mlflow2"}))
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["revision"] == 4
    assert outcome.result["task_definition"]["tags"] == {"app": "mlflow2", "aws:cloudformation:stack-name": "x"}


def test_tags_without_purge_are_added(ecs):
    definition = desired()
    expect_latest(ecs, 4, definition, tags={"team": "ml"})
    ecs.add_response("tag_resource", {}, {"resourceArn": arn(4), "tags": [{"key": "app", "value": "mlflow"}]})
    outcome = run(base_args(tags={"app": "mlflow"}, purge_tags=False))
    ecs.assert_no_pending_responses()
    assert outcome.result["task_definition"]["tags"] == {"app": "mlflow", "team": "ml"}


def test_tags_check_mode(ecs):
    expect_latest(ecs, 4, desired(), tags={"team": "ml"})
    outcome = run(base_args(tags={}), check_mode=True)
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["task_definition"]["tags"] == {}


@pytest.mark.parametrize("tags, purge, expected", [
    (None, True, {"team": "ml"}),
    ({"app": "mlflow"}, True, {"app": "mlflow"}),
    ({"app": "mlflow"}, False, {"app": "mlflow", "team": "ml"}),
])
def test_tags_of_a_new_revision(tags, purge, expected):
    assert module.desired_tags({"team": "ml", "aws:reserved": "x"}, tags, purge) == expected


# --- state: absent --------------------------------------------------------------------------------------------------------


def test_absent_deregisters_every_active_revision(ecs):
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": [arn(2), arn(10)], "nextToken": "t"},
                     {"familyPrefix": "mlflow", "status": "ACTIVE"})
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": [arn(1)]}, {"familyPrefix": "mlflow", "status": "ACTIVE", "nextToken": "t"})
    for revision in (1, 2, 10):
        ecs.add_response("deregister_task_definition", {"taskDefinition": as_described(desired(), revision)["taskDefinition"]},
                         {"taskDefinition": arn(revision)})
    outcome = run({"family": "mlflow", "state": "absent", "region": "us-east-1"})
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"]
    assert outcome.result["deregistered_task_definition_arns"] == [arn(1), arn(2), arn(10)]


def test_absent_check_mode_and_diff(ecs):
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": [arn(3)]}, {"familyPrefix": "mlflow", "status": "ACTIVE"})
    expect_latest(ecs, 3, desired())
    outcome = run({"family": "mlflow", "state": "absent", "region": "us-east-1"}, check_mode=True, diff=True)
    ecs.assert_no_pending_responses()
    assert outcome.result["changed"] and outcome.result["deregistered_task_definition_arns"] == [arn(3)]
    assert outcome.result["diff"]["after"] == {} and outcome.result["diff"]["before"]["family"] == "mlflow"


def test_absent_when_nothing_is_there(ecs):
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": []}, {"familyPrefix": "mlflow", "status": "ACTIVE"})
    outcome = run({"family": "mlflow", "state": "absent", "region": "us-east-1"})
    assert not outcome.result["changed"] and outcome.result["deregistered_task_definition_arns"] == []


def test_api_errors_are_reported(ecs):
    ecs.add_client_error("list_task_definitions", service_error_code="AccessDeniedException", service_message="not allowed", http_status_code=400)
    outcome = run(base_args())
    assert outcome.failed
    assert "Could not find the latest ACTIVE revision of task definition family mlflow" in outcome.result["msg"]
