"""mlops.mlflow.aws_drift_info run by ansible-playbook against the proving ground, beside the acting modules.

The property under test is agreement: a part is in sync exactly when its acting module, run with the same
arguments, changes nothing. Each test makes the resource with the acting module, reads the drift, changes the
resource out of band, reads the drift again, lets the acting module correct it and reads the drift a third time.
"""

from __future__ import annotations

import json

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.aws_drift_info"
TRUST = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
LOGS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "*"}]}


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check)
    return tasks


def drift(*parts, **keywords):
    return dict({MODULE: {"parts": [{"name": name, "kind": kind, "spec": spec} for name, kind, spec in parts]}}, **keywords)


def security_groups(vpc_id, tags=None):
    return {"vpc_id": vpc_id, "purge_tags": True, "groups": [
        {"name": "mlflow-lb", "description": "load balancer", "rules": [{"proto": "tcp", "ports": [80], "cidr_ip": ["10.0.0.0/8"]}],
         "rules_egress": [{"proto": "tcp", "ports": [5000], "group_name": "mlflow-svc"}], "tags": tags or {"app": "mlflow"}},
        {"name": "mlflow-svc", "description": "tasks", "rules": [{"proto": "tcp", "ports": [5000], "group_name": "mlflow-lb",
                                                                  "rule_desc": "from the load balancer"}]},
    ]}


def roles(tags=None):
    return {"roles": [{"name": "mlflow-exec", "assume_role_policy_document": TRUST, "inline_policies": {"logs": LOGS},
                       "tags": tags or {"app": "mlflow"}}]}


def parts_of(run, index):
    return run.results[index]["parts"]


def test_security_groups_and_roles_agree_with_their_modules(aws, play):
    vpc_id = aws.client("ec2").create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    both = [("groups", "ec2_security_groups", security_groups(vpc_id)), ("roles", "iam_service_roles", roles())]
    run = play([drift(*both, name="before"),
                {"mlops.mlflow.ec2_security_groups": security_groups(vpc_id)},
                {"mlops.mlflow.iam_service_roles": roles()},
                drift(*both, name="after")])
    assert run.rc == 0, run.output
    before, after = parts_of(run, 0), parts_of(run, 3)
    assert before["groups"] == {"kind": "ec2_security_groups", "exists": False, "in_sync": False, "differences": ["exists"],
                                "resource": {"groups": {}}}
    assert before["roles"]["in_sync"] is False and before["roles"]["exists"] is False
    assert after["groups"]["in_sync"] and after["roles"]["in_sync"] and run.results[3]["in_sync"] is True
    assert run.results[3]["changed"] is False
    ids = after["groups"]["resource"]["groups"]
    assert ids["mlflow-lb"]["group_id"] == run.results[1]["groups"]["mlflow-lb"]["group_id"]
    assert after["roles"]["resource"]["roles"]["mlflow-exec"]["arn"] == run.results[2]["roles"]["mlflow-exec"]["arn"]

    # Out of band: a rule and a tag on the groups, an extra inline policy on the role.
    ec2, iam = aws.client("ec2"), aws.client("iam")
    ec2.authorize_security_group_ingress(GroupId=ids["mlflow-svc"]["group_id"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.create_tags(Resources=[ids["mlflow-lb"]["group_id"]], Tags=[{"Key": "owner", "Value": "someone"}])
    iam.put_role_policy(RoleName="mlflow-exec", PolicyName="extra", PolicyDocument=json.dumps(LOGS))
    run = play([drift(*both, name="drifted"), drift(*both, name="drifted, check mode", check_mode=True),
                {"mlops.mlflow.ec2_security_groups": security_groups(vpc_id)},
                {"mlops.mlflow.iam_service_roles": roles()},
                drift(*both, name="corrected")])
    assert run.rc == 0, run.output
    drifted = parts_of(run, 0)
    assert (drifted["groups"]["in_sync"], drifted["groups"]["differences"]) == (False, ["rules", "tags"])
    assert (drifted["roles"]["in_sync"], drifted["roles"]["differences"]) == (False, ["inline_policies"])
    assert parts_of(run, 1) == drifted
    assert run.results[2]["changed"] and run.results[3]["changed"]
    assert run.results[4]["in_sync"] is True

    # A change of the arguments is a difference too: the tags of the role.
    changed = [("roles", "iam_service_roles", roles(tags={"app": "mlflow", "team": "ml"}))]
    run = play([drift(*changed)])
    assert run.rc == 0, run.output
    assert parts_of(run, 0)["roles"]["differences"] == ["tags"]


def test_stale_autoscaling_is_out_of_sync_until_removed(aws, play):
    resource_id = "service/mlflow/mlflow"
    absent = {"service_namespace": "ecs", "resource_id": resource_id, "scalable_dimension": "ecs:service:DesiredCount",
              "policy_name": "mlflow-target-tracking", "deregister_scalable_target": True, "state": "absent"}
    part = ("scaling", "application_autoscaling_target_tracking", absent)
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="mlflow")
    ecs.register_task_definition(family="mlflow", containerDefinitions=[{"name": "mlflow", "image": "mlflow", "memory": 512}])
    ecs.create_service(cluster="mlflow", serviceName="mlflow", taskDefinition="mlflow", desiredCount=1)
    scaling = aws.client("application-autoscaling")
    scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension="ecs:service:DesiredCount",
                                     MinCapacity=1, MaxCapacity=4)
    scaling.put_scaling_policy(PolicyName="mlflow-target-tracking", ServiceNamespace="ecs", ResourceId=resource_id,
                               ScalableDimension="ecs:service:DesiredCount", PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration={
                                   "TargetValue": 60.0,
                                   "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}})
    run = play([drift(part), {"mlops.mlflow.application_autoscaling_target_tracking": absent}, drift(part)])
    assert run.rc == 0, run.output
    stale, gone = parts_of(run, 0)["scaling"], parts_of(run, 2)["scaling"]
    assert (stale["in_sync"], stale["exists"], stale["differences"]) == (False, True, ["deregister_scalable_target", "policy_name"])
    assert run.results[1]["changed"] is True
    assert (gone["in_sync"], gone["exists"], gone["differences"]) == (True, False, [])


def test_bad_parts_fail_before_any_request_naming_the_part(aws, play):
    start = aws.control.last_request_id()
    run = play([drift(("roles", "iam_service_roles", dict(roles(), unknown_option=1)), ignore_errors=True),
                drift(("roles", "iam_service_roles", dict(roles(), state="absent")), ignore_errors=True),
                {MODULE: {"parts": [{"name": "twice", "kind": "iam_service_roles", "spec": roles()},
                                    {"name": "twice", "kind": "iam_service_roles", "spec": roles()}]}, "ignore_errors": True}])
    assert [result.get("failed") for result in run.results] == [True, True, True]
    assert "parts[roles] (iam_service_roles)" in run.results[0]["msg"] and "unknown_option" in run.results[0]["msg"]
    assert "state" in run.results[1]["msg"]
    assert "twice" in run.results[2]["msg"]
    assert aws.control.requests(since=start) == []
