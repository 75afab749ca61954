"""mlops.mlflow.iam_service_roles: the input checks, the plan (what differs from the described role), the role as it
will be, the diff views, and main() driven with IAM stubbed by botocore's Stubber (which also checks every request
against the IAM API model)."""

import datetime
import json

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import iam_service_roles as logic
from ansible_collections.mlops.mlflow.plugins.modules import iam_service_roles as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
MANAGED = "arn:aws:iam::aws:policy/ReadOnlyAccess"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
LOGS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]}


def role_args(**changes):
    """One entry of the roles option after validation, defaults applied."""
    values = dict(name="mlflow-task", path="/", description=None, assume_role_policy_document=TRUST, inline_policies={"logs": LOGS},
                  managed_policy_arns=[], max_session_duration=None, permissions_boundary=None, tags={})
    values.update(changes)
    return values


def params(*roles, **changes):
    values = dict(state="present", roles=list(roles) or [role_args()], purge_inline_policies=True, purge_managed_policies=True,
                  purge_tags=True, wait=True, wait_timeout=120)
    values.update(changes)
    return values


def spec(**changes):
    return logic.validate(params(role_args(**changes)))[0]


def described(**changes):
    """A role as logic.describe() gives it."""
    values = dict(arn="arn:aws:iam::{0}:role/mlflow-task".format(ACCOUNT), role_name="mlflow-task", role_id="AROAEXAMPLE", path="/",
                  description=None, assume_role_policy_document=TRUST, max_session_duration=3600, permissions_boundary=None,
                  inline_policies={"logs": LOGS}, managed_policy_arns=[], tags={})
    values.update(changes)
    return values


# --- input checks -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"name": "mlflow task"}, "name must be 1 to 64 letters"),
    ({"name": "x" * 65}, "name must be 1 to 64 letters"),
    ({"path": "service-role/"}, "path must begin and end with /"),
    ({"path": "/service role/"}, "path must begin and end with /"),
    ({"assume_role_policy_document": None}, "assume_role_policy_document is required with state=present"),
    ({"assume_role_policy_document": '{"Statement": ['}, "role mlflow-task: assume_role_policy_document is not valid JSON"),
    ({"assume_role_policy_document": "[]"}, "must be a JSON object"),
    ({"assume_role_policy_document": {"Version": "2012-10-17"}}, "has no Statement"),
    ({"inline_policies": {"logs": "{not json"}}, "role mlflow-task: inline policy logs is not valid JSON"),
    ({"inline_policies": {"bad name": LOGS}}, "inline policy name must be 1 to 128"),
    ({"managed_policy_arns": ["ReadOnlyAccess"]}, "which is no IAM policy ARN"),
    ({"managed_policy_arns": [MANAGED, MANAGED]}, "lists arn:aws:iam::aws:policy/ReadOnlyAccess more than once"),
    ({"max_session_duration": 3599}, "max_session_duration must be between 3600 and 43200"),
    ({"max_session_duration": 43201}, "max_session_duration must be between 3600 and 43200"),
    ({"permissions_boundary": "arn:aws:s3:::bucket"}, "permissions_boundary must be an IAM policy ARN"),
    ({"description": "x" * 1001}, "description may have up to 1000"),
    ({"description": "MLflow \u2013 task role"}, "printable Latin-1 characters only"),
    ({"name": "mlflow-t\u00e2che"}, "name must be 1 to 64 letters"),
    ({"inline_policies": {"big": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "x" * 10240}]}}},
     "IAM allows 10240 per role"),
    ({"managed_policy_arns": ["arn:aws:iam::aws:policy/P{0}".format(index) for index in range(11)]}, "up to 10 managed policies"),
    ({"tags": {"aws:cloudformation:stack-name": "x"}}, "reserved for AWS"),
    ({"tags": {"k": "v" * 257}}, "values up to 256"),
])
def test_bad_input_is_refused(changes, message):
    with pytest.raises(logic.InvalidInput) as caught:
        logic.validate(params(role_args(**changes)))
    assert message in str(caught.value)


def test_role_names_are_unique_regardless_of_case():
    with pytest.raises(logic.InvalidInput) as caught:
        logic.validate(params(role_args(name="MLflow"), role_args(name="mlflow")))
    assert "mlflow is given more than once" in str(caught.value)


def test_no_roles_is_refused():
    with pytest.raises(logic.InvalidInput):
        logic.validate(dict(params(), roles=[]))


def test_documents_are_parsed_from_json_strings_and_absent_needs_only_names():
    parsed = spec(assume_role_policy_document=json.dumps(TRUST), inline_policies={"logs": json.dumps(LOGS)}, tags={"n": 1})
    assert parsed["assume_role_policy_document"] == TRUST and parsed["inline_policies"] == {"logs": LOGS}
    assert parsed["tags"] == {"n": "1"}
    assert logic.validate(params({"name": "mlflow-task", "path": "/"}, state="absent")) == [{"name": "mlflow-task", "path": "/"}]


def test_as_document_reads_url_encoded_json():
    assert logic.as_document("%7B%22Statement%22%3A%20%5B%5D%7D") == {"Statement": []}
    assert logic.as_document(TRUST) is TRUST


# --- plan ---------------------------------------------------------------------------------------------------------------


def test_a_missing_role_is_created_with_its_policies():
    changes = logic.plan(None, spec(managed_policy_arns=[MANAGED]))
    assert changes == {"create": True, "put_inline": {"logs": LOGS}, "attach": [MANAGED]}


def test_the_same_role_needs_no_change_whatever_the_order():
    reordered = {"Statement": [{"Resource": "*", "Action": ["logs:PutLogEvents", "logs:CreateLogStream"], "Effect": "Allow"}],
                 "Version": "2012-10-17"}
    assert logic.plan(described(inline_policies={"logs": reordered}), spec()) == {}


def test_only_what_differs_is_planned():
    current = described(inline_policies={"logs": LOGS, "extra": LOGS}, managed_policy_arns=[MANAGED], tags={"a": "1", "b": "2"},
                        description="old")
    other = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    changes = logic.plan(current, spec(inline_policies={"logs": other, "new": LOGS}, tags={"a": "1", "c": "3"}, description="new",
                                       max_session_duration=7200))
    assert changes == {
        "update": {"Description": "new", "MaxSessionDuration": 7200},
        "put_inline": {"logs": other, "new": LOGS},
        "delete_inline": ["extra"],
        "detach": [MANAGED],
        "tags": ({"c": "3"}, ["b"]),
    }


def test_purge_options_keep_what_others_added():
    current = described(inline_policies={"logs": LOGS, "extra": LOGS}, managed_policy_arns=[MANAGED], tags={"b": "2"})
    assert logic.plan(current, spec(), purge_inline=False, purge_managed=False, purge_tags=False) == {}


def test_trust_boundary_and_path():
    boundary = "arn:aws:iam::{0}:policy/boundary".format(ACCOUNT)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    changes = logic.plan(described(), spec(assume_role_policy_document=trust, permissions_boundary=boundary, path="/service-role/"))
    assert changes == {"trust": trust, "boundary": boundary, "path": "/service-role/"}


def test_options_not_given_leave_the_role_alone():
    current = described(description="kept", max_session_duration=7200, permissions_boundary="arn:aws:iam::aws:policy/X")
    assert logic.plan(current, spec()) == {}


# --- predicted role, return and diff views ------------------------------------------------------------------------------


def test_predicted_role_and_views():
    current = described(inline_policies={"logs": LOGS, "extra": LOGS}, managed_policy_arns=[MANAGED], tags={"b": "2"})
    wanted = spec(tags={"a": "1"}, description="d")
    changes = logic.plan(current, wanted)
    after = logic.predicted(current, wanted, changes)
    shown = logic.returned(after)
    assert shown == {
        "arn": "arn:aws:iam::{0}:role/mlflow-task".format(ACCOUNT), "role_name": "mlflow-task", "role_id": "AROAEXAMPLE", "path": "/",
        "description": "d", "assume_role_policy_document": TRUST, "inline_policy_names": ["logs"], "managed_policy_arns": [],
        "max_session_duration": 3600, "permissions_boundary": None, "tags": {"a": "1"},
    }
    before_view, after_view = logic.comparable(current), logic.comparable(after)
    assert sorted(before_view["inline_policies"]) == ["extra", "logs"] and list(after_view["inline_policies"]) == ["logs"]
    assert before_view["inline_policies"]["logs"] == after_view["inline_policies"]["logs"]
    assert after_view["inline_policies"]["logs"].startswith("sha256:")
    assert "Statement" not in json.dumps(after_view["inline_policies"])  # the diff does not show inline documents


def test_a_new_role_is_predicted_with_its_arn():
    wanted = spec(path="/ecs/")
    after = logic.predicted(None, wanted, logic.plan(None, wanted), logic.role_arn("aws-cn", ACCOUNT, "/ecs/", "mlflow-task"))
    assert after["arn"] == "arn:aws-cn:iam::{0}:role/ecs/mlflow-task".format(ACCOUNT)
    assert after["role_id"] is None and after["max_session_duration"] == 3600 and after["inline_policies"] == {"logs": LOGS}


# --- main() with IAM stubbed --------------------------------------------------------------------------------------------

run = harness.runner(module, harness.AWS_ARGS)
CREATED = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture
def iam(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "iam")
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def role_answer(path="/"):
    return {"Role": {"Path": path, "RoleName": "mlflow-task", "RoleId": "AROAEXAMPLE1234567890", "CreateDate": CREATED,
                     "Arn": "arn:aws:iam::{0}:role{1}mlflow-task".format(ACCOUNT, path), "AssumeRolePolicyDocument": json.dumps(TRUST),
                     "MaxSessionDuration": 3600}}


def add_describe(iam, path="/", policies=None):
    iam.add_response("get_role", role_answer(path), {"RoleName": "mlflow-task"})
    iam.add_response("list_role_policies", {"PolicyNames": sorted(policies or {})}, {"RoleName": "mlflow-task"})
    for name, document in sorted((policies or {}).items()):
        iam.add_response("get_role_policy", {"RoleName": "mlflow-task", "PolicyName": name, "PolicyDocument": json.dumps(document)},
                         {"RoleName": "mlflow-task", "PolicyName": name})
    iam.add_response("list_attached_role_policies", {"AttachedPolicies": []}, {"RoleName": "mlflow-task"})
    iam.add_response("list_role_tags", {"Tags": []}, {"RoleName": "mlflow-task"})


def module_args(**changes):
    role = {"name": "mlflow-task", "assume_role_policy_document": TRUST, "inline_policies": {"logs": LOGS}}
    role.update(changes)
    return {"roles": [role]}


def test_an_unchanged_role_is_only_described(iam):
    add_describe(iam, policies={"logs": LOGS})
    outcome = run(module_args(), diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] is False
    assert outcome.result["roles"]["mlflow-task"]["inline_policy_names"] == ["logs"]
    assert outcome.result["diff"]["before"] == outcome.result["diff"]["after"]


def test_a_changed_inline_policy_is_put_and_an_extra_one_deleted(iam):
    other = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    add_describe(iam, policies={"logs": other, "extra": other})
    iam.add_response("put_role_policy", {}, {"RoleName": "mlflow-task", "PolicyName": "logs", "PolicyDocument": json.dumps(LOGS, sort_keys=True)})
    iam.add_response("delete_role_policy", {}, {"RoleName": "mlflow-task", "PolicyName": "extra"})
    outcome = run(module_args())
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] is True and outcome.result["roles"]["mlflow-task"]["inline_policy_names"] == ["logs"]


def test_another_path_fails_before_any_change(iam):
    add_describe(iam, path="/other/", policies={"logs": LOGS})
    outcome = run(module_args(inline_policies={}))
    assert outcome.failed and "IAM cannot change the path of an existing role: mlflow-task (path /other/, asked /)" in outcome.result["msg"]


def test_bad_input_fails_before_any_call(iam):
    outcome = run(module_args(inline_policies={"logs": "{"}))
    assert outcome.failed and "inline policy logs is not valid JSON" in outcome.result["msg"]
    assert iam.created == []


def test_check_mode_absent_only_describes(iam):
    add_describe(iam, policies={"logs": LOGS})
    outcome = run({"state": "absent", "roles": [{"name": "mlflow-task"}]}, check_mode=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result == {"changed": True, "roles": {}}


def test_documentation_matches_the_argument_spec():
    spec_roles = harness.argument_spec(module)["roles"]["options"]
    assert sorted(spec_roles) == ["assume_role_policy_document", "description", "inline_policies", "managed_policy_arns",
                                  "max_session_duration", "name", "path", "permissions_boundary", "tags"]
