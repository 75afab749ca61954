"""mlops.mlflow.iam_service_roles run by ansible-playbook against the proving ground.

Each test runs the module as a user would (a playbook on localhost, the AWS endpoint from the environment alone)
and checks what IAM holds afterwards through boto3, and what the module asked of IAM through the proving ground's
request log.
"""

from __future__ import annotations

import json

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.iam_service_roles"
ACCOUNT = "123456789012"
MANAGED = "arn:aws:iam::aws:policy/ReadOnlyAccess"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def policy(actions, resource="*"):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


LOGS = policy(["logs:CreateLogStream", "logs:PutLogEvents"])
ARTIFACTS = policy(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::mlflow-artifacts/*")


def roles(execution_policy=None, task_policy=None, execution_tags=None):
    """The two ECS roles of a deployment, each with one inline policy."""
    return [
        {"name": "mlflow-execution", "assume_role_policy_document": TRUST,
         "inline_policies": {"logs": execution_policy or LOGS}, "tags": execution_tags or {"application": "mlflow"}},
        # The trust policy as a JSON string, as a file lookup gives it.
        {"name": "mlflow-task", "assume_role_policy_document": json.dumps(TRUST), "description": "MLflow tasks",
         "inline_policies": {"artifacts": task_policy or ARTIFACTS}},
    ]


def task(args, **keywords):
    """A task of the module (keywords: check_mode, diff, ignore_errors, name...)."""
    return dict({MODULE: args}, **keywords)


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def iam_calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "iam"]


def changes_of(run):
    return [result["changed"] for result in run.results]


def inline_policies(iam, name):
    return sorted(iam.list_role_policies(RoleName=name)["PolicyNames"])


def test_roles_converge_and_only_what_differs_changes(aws, play):
    iam = aws.client("iam")
    start = aws.control.last_request_id()
    run = play([task({"roles": roles()}, name="create"), task({"roles": roles()}, name="again")])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False]
    created, again = run.results
    assert sorted(mutating(aws, start)) == sorted(["CreateRole", "PutRolePolicy", "CreateRole", "PutRolePolicy"])
    task_role = created["roles"]["mlflow-task"]
    assert task_role["arn"] == f"arn:aws:iam::{ACCOUNT}:role/mlflow-task" and task_role["role_id"]
    assert task_role["inline_policy_names"] == ["artifacts"] and task_role["description"] == "MLflow tasks"
    assert task_role["assume_role_policy_document"] == TRUST and task_role["managed_policy_arns"] == []
    assert task_role["max_session_duration"] == 3600 and task_role["path"] == "/" and task_role["tags"] == {}
    assert created["roles"]["mlflow-execution"]["tags"] == {"application": "mlflow"}
    assert again["roles"] == created["roles"]

    # Out of band: an extra inline policy and a managed policy on the execution role.
    iam.put_role_policy(RoleName="mlflow-execution", PolicyName="extra", PolicyDocument=json.dumps(LOGS))
    iam.attach_role_policy(RoleName="mlflow-execution", PolicyArn=MANAGED)
    # The same documents with statements' lists in another order are no change; the task policy changes.
    reordered = policy(["logs:PutLogEvents", "logs:CreateLogStream"])
    changed_task_policy = policy(["s3:GetObject"], "arn:aws:s3:::mlflow-artifacts/*")
    new_roles = roles(execution_policy=reordered, task_policy=changed_task_policy, execution_tags={"team": "ml"})
    start = aws.control.last_request_id()
    run = play([task({"roles": new_roles}, name="change", diff=True), task({"roles": new_roles}, name="again")])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False]
    assert mutating(aws, start) == ["DeleteRolePolicy", "DetachRolePolicy", "UntagRole", "TagRole", "PutRolePolicy"]
    changed = run.results[0]
    execution = changed["roles"]["mlflow-execution"]
    assert execution["inline_policy_names"] == ["logs"] and execution["managed_policy_arns"] == []
    assert execution["tags"] == {"team": "ml"}
    before, after = changed["diff"]["before"], changed["diff"]["after"]
    assert sorted(before["mlflow-execution"]["inline_policies"]) == ["extra", "logs"]
    assert before["mlflow-execution"]["inline_policies"]["logs"] == after["mlflow-execution"]["inline_policies"]["logs"]
    assert before["mlflow-task"]["inline_policies"]["artifacts"] != after["mlflow-task"]["inline_policies"]["artifacts"]
    assert inline_policies(iam, "mlflow-execution") == ["logs"]
    assert iam.list_attached_role_policies(RoleName="mlflow-execution")["AttachedPolicies"] == []
    assert iam.get_role_policy(RoleName="mlflow-task", PolicyName="artifacts")["PolicyDocument"]["Statement"][0]["Action"] == ["s3:GetObject"]
    assert {tag["Key"]: tag["Value"] for tag in iam.list_role_tags(RoleName="mlflow-execution")["Tags"]} == {"team": "ml"}

    # Absent: the task role is in an instance profile, which stays.
    iam.create_instance_profile(InstanceProfileName="mlflow-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="mlflow-profile", RoleName="mlflow-task")
    iam.attach_role_policy(RoleName="mlflow-task", PolicyArn=MANAGED)
    absent = {"state": "absent", "roles": [{"name": "mlflow-execution"}, {"name": "mlflow-task"}]}
    start = aws.control.last_request_id()
    run = play([task(absent, name="check delete", check_mode=True), task(absent, name="delete", diff=True),
                task(absent, name="delete again")])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False]
    assert sorted(run.results[1]["diff"]["before"]) == ["mlflow-execution", "mlflow-task"]
    assert run.results[1]["roles"] == {} and run.results[2]["roles"] == {}
    assert mutating(aws, start) == ["DeleteRolePolicy", "DeleteRole", "DetachRolePolicy", "DeleteRolePolicy",
                                    "RemoveRoleFromInstanceProfile", "DeleteRole"]
    assert [role["RoleName"] for role in iam.list_roles()["Roles"] if role["RoleName"].startswith("mlflow")] == []
    assert iam.get_instance_profile(InstanceProfileName="mlflow-profile")["InstanceProfile"]["Roles"] == []


def test_check_mode_and_bad_input_change_nothing(aws, play):
    start = aws.control.last_request_id()
    bad_name = [dict(roles()[0], name="mlflow execution")]
    malformed = [dict(roles()[0], inline_policies={"logs": '{"Version": "2012-10-17", "Statement": ['})]
    run = play([
        task({"roles": roles()}, name="check create", check_mode=True, diff=True),
        task({"roles": bad_name}, name="bad name", ignore_errors=True),
        task({"roles": malformed}, name="malformed", ignore_errors=True),
    ])
    assert run.rc == 0, run.output
    check, bad, broken = run.results
    assert check["changed"] is True
    assert check["roles"]["mlflow-task"]["arn"] == f"arn:aws:iam::{ACCOUNT}:role/mlflow-task"
    assert check["roles"]["mlflow-task"]["role_id"] is None
    assert check["roles"]["mlflow-execution"]["inline_policy_names"] == ["logs"]
    assert check["diff"]["before"] == {} and sorted(check["diff"]["after"]) == ["mlflow-execution", "mlflow-task"]
    assert bad["failed"] and "name must be 1 to 64" in bad["msg"]
    assert broken["failed"] and "inline policy logs is not valid JSON" in broken["msg"]
    # Check mode only looked (GetRole for each role, and the caller's account); the bad inputs asked nothing.
    assert mutating(aws, start) == []
    assert iam_calls(aws, start) == ["GetRole", "GetRole"]
    assert [entry["operation"] for entry in aws.control.requests(since=start) if entry["service"] == "sts"] == ["GetCallerIdentity"]
