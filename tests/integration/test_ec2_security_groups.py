"""mlops.mlflow.ec2_security_groups run by ansible-playbook against the proving ground.

Three groups that name each other (a load balancer, the service behind it, its database) are created, converged,
changed, previewed in check mode and deleted, each through a playbook; what EC2 holds afterwards is read with boto3,
and what the module asked of EC2 with the proving ground's request log.
"""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.ec2_security_groups"
NAMES = ["lb", "svc", "data"]


def task(args, **keywords):
    return dict({MODULE: args}, **keywords)


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


@pytest.fixture
def vpc_id(aws):
    return aws.client("ec2").create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]


def the_set(vpc_id, lb_tags=None, svc_port=5000, **extra):
    groups = [
        {"name": "lb", "description": "load balancer", "tags": lb_tags if lb_tags is not None else {"app": "mlflow"},
         "rules": [{"proto": "tcp", "ports": [80], "cidr_ip": "10.0.0.0/8"}],
         "rules_egress": [{"proto": "tcp", "ports": [svc_port], "group_name": "svc", "rule_desc": "to the service"}]},
        {"name": "svc", "description": "service",
         "rules": [{"proto": "tcp", "from_port": svc_port, "to_port": svc_port, "group_name": "lb"}]},
        {"name": "data", "description": "database",
         "rules": [{"proto": "tcp", "ports": ["5432"], "group_name": "svc"}], "rules_egress": []},
    ]
    return dict({"vpc_id": vpc_id, "groups": groups}, **extra)


def groups_in(aws, vpc_id):
    found = aws.client("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    return {group["GroupName"]: group for group in found if group["GroupName"] != "default"}


def ec2_mutations(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def rules_of(permissions):
    """{(proto, from, to, target)} of EC2 IpPermissions (group targets by ID)."""
    found = set()
    for permission in permissions:
        ports = (permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"))
        found.update(ports + (item["CidrIp"],) for item in permission.get("IpRanges", []))
        found.update(ports + (item["GroupId"],) for item in permission.get("UserIdGroupPairs", []))
    return found


def test_creates_three_groups_that_name_each_other_then_converges_then_changes_only_what_differs(aws, play, vpc_id):
    start = aws.control.last_request_id()
    run = play([task(the_set(vpc_id), name="create", diff=True)])
    assert run.rc == 0, run.output
    result = run.result()
    assert result["changed"] is True
    assert sorted(result["groups"]) == sorted(NAMES) and sorted(result["created"]) == sorted(NAMES)
    mutations = ec2_mutations(aws, start)
    assert mutations.count("CreateSecurityGroup") == 3
    assert set(mutations) == {"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
                              "RevokeSecurityGroupEgress"}
    held = groups_in(aws, vpc_id)
    ids = {name: held[name]["GroupId"] for name in NAMES}
    assert {name: result["groups"][name]["group_id"] for name in NAMES} == ids
    assert rules_of(held["lb"]["IpPermissions"]) == {("tcp", 80, 80, "10.0.0.0/8")}
    assert rules_of(held["lb"]["IpPermissionsEgress"]) == {("tcp", 5000, 5000, ids["svc"])}
    assert rules_of(held["svc"]["IpPermissions"]) == {("tcp", 5000, 5000, ids["lb"])}
    assert rules_of(held["svc"]["IpPermissionsEgress"]) == {("-1", None, None, "0.0.0.0/0")}  # left alone: EC2's default
    assert rules_of(held["data"]["IpPermissions"]) == {("tcp", 5432, 5432, ids["svc"])}
    assert held["data"]["IpPermissionsEgress"] == []
    assert {tag["Key"]: tag["Value"] for tag in held["lb"]["Tags"]} == {"app": "mlflow"}
    assert not held["svc"].get("Tags")  # no tags the user did not give
    lb = result["groups"]["lb"]
    assert set(lb) == {"group_id", "group_name", "description", "vpc_id", "ip_permissions", "ip_permissions_egress", "tags"}
    assert lb["tags"] == {"app": "mlflow"} and lb["vpc_id"] == vpc_id and lb["description"] == "load balancer"
    assert lb["ip_permissions_egress"][0]["user_id_group_pairs"][0]["group_id"] == ids["svc"]
    assert lb["ip_permissions_egress"][0]["user_id_group_pairs"][0]["description"] == "to the service"
    assert result["diff"]["before"] == {"lb": {}, "svc": {}, "data": {}}
    assert result["diff"]["after"]["svc"]["rules"] == [{"proto": "tcp", "from_port": 5000, "to_port": 5000, "group_name": "lb"}]

    # A re-run only looks.
    start = aws.control.last_request_id()
    run = play([task(the_set(vpc_id), name="again", diff=True)])
    assert run.rc == 0, run.output
    assert run.result()["changed"] is False
    assert run.result()["diff"]["before"] == run.result()["diff"]["after"]
    assert run.result()["groups"] == result["groups"]
    assert ec2_mutations(aws, start) == []
    assert [entry["operation"] for entry in aws.control.requests(since=start) if entry["service"] == "ec2"] == ["DescribeSecurityGroups"]

    # One tag and one port change: only those.
    start = aws.control.last_request_id()
    run = play([task(the_set(vpc_id, lb_tags={"app": "mlflow", "team": "ml"}, svc_port=5001), name="change")])
    assert run.rc == 0, run.output
    assert run.result()["changed"] is True
    assert sorted(ec2_mutations(aws, start)) == sorted(["CreateTags", "RevokeSecurityGroupEgress", "AuthorizeSecurityGroupEgress",
                                                        "RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress"])
    held = groups_in(aws, vpc_id)
    assert rules_of(held["lb"]["IpPermissionsEgress"]) == {("tcp", 5001, 5001, ids["svc"])}
    assert rules_of(held["svc"]["IpPermissions"]) == {("tcp", 5001, 5001, ids["lb"])}
    assert rules_of(held["data"]["IpPermissions"]) == {("tcp", 5432, 5432, ids["svc"])}
    assert {tag["Key"]: tag["Value"] for tag in held["lb"]["Tags"]} == {"app": "mlflow", "team": "ml"}

    # A description alone, then purge_tags. (A CIDR rule's description: moto 5.2's UpdateSecurityGroupRuleDescriptions*
    # does not update the description of a rule that names a group.)
    changed = the_set(vpc_id, lb_tags={}, svc_port=5001)
    changed["groups"][0]["rules"][0]["rule_desc"] = "from the office"
    start = aws.control.last_request_id()
    run = play([task(changed, name="describe"), task(changed, name="converged")])
    assert run.rc == 0, run.output
    assert [item["changed"] for item in run.results] == [True, False]
    assert run.results[1]["created"] == []
    assert sorted(ec2_mutations(aws, start)) == ["DeleteTags", "UpdateSecurityGroupRuleDescriptionsIngress"]
    assert run.result()["groups"]["lb"]["ip_permissions"][0]["ip_ranges"] == [{"cidr_ip": "10.0.0.0/8", "description": "from the office"}]
    assert run.result()["groups"]["lb"]["tags"] == {}

    # Absent removes all three (they name each other); a second absent is a no-op.
    absent = {"vpc_id": vpc_id, "state": "absent", "groups": [{"name": name} for name in NAMES]}
    start = aws.control.last_request_id()
    run = play([task(absent, name="check delete", check_mode=True), task(absent, name="delete", diff=True),
                task(absent, name="delete again")])
    assert run.rc == 0, run.output
    assert [item["changed"] for item in run.results] == [True, True, False]
    assert sorted(run.results[1]["diff"]["before"]) == sorted(NAMES) and run.results[1]["groups"] == {}
    mutations = ec2_mutations(aws, start)
    # The rules between the groups went first, then the groups.
    assert mutations[-3:] == ["DeleteSecurityGroup"] * 3
    assert sorted(mutations[:-3]) == ["RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupIngress"]
    assert groups_in(aws, vpc_id) == {}


def test_check_mode_on_a_new_set_creates_nothing(aws, play, vpc_id):
    start = aws.control.last_request_id()
    run = play([task(the_set(vpc_id), name="check", check_mode=True, diff=True)])
    assert run.rc == 0, run.output
    result = run.result()
    assert result["changed"] is True
    assert {name: group["group_id"] for name, group in result["groups"].items()} == {"lb": "", "svc": "", "data": ""}
    assert sorted(result["created"]) == ["data", "lb", "svc"]
    pairs = result["groups"]["svc"]["ip_permissions"][0]["user_id_group_pairs"]
    assert pairs == [{"group_id": "", "group_name": "lb"}]
    assert result["groups"]["svc"]["ip_permissions_egress"][0]["ip_ranges"] == [{"cidr_ip": "0.0.0.0/0"}]
    assert result["groups"]["data"]["ip_permissions_egress"] == []
    assert ec2_mutations(aws, start) == []
    assert groups_in(aws, vpc_id) == {}


def test_bad_input_fails_before_any_change(aws, play, vpc_id):
    two_targets = the_set(vpc_id)
    two_targets["groups"][0]["rules"][0]["group_name"] = "svc"
    unknown = the_set(vpc_id)
    unknown["groups"][2]["rules"][0]["group_name"] = "nothing-by-this-name"
    missing_id = the_set(vpc_id)
    missing_id["groups"][0]["rules"][0] = dict(proto="tcp", ports=[80], group_id="sg-0123456789abcdef0", rule_desc="users")
    start = aws.control.last_request_id()
    run = play([task(two_targets, ignore_errors=True), task(unknown, ignore_errors=True), task(missing_id, ignore_errors=True)])
    assert run.rc == 0, run.output
    first, second, third = run.results
    assert third["failed"] and "do not exist" in third["msg"] and "sg-0123456789abcdef0" in third["msg"], third["msg"]
    assert first["failed"] and "groups: lb: rules[0]: a rule needs exactly one of cidr_ip, cidr_ipv6, group_name, group_id, " \
                               "got cidr_ip, group_name." in first["msg"], first["msg"]
    assert second["failed"] and "nothing-by-this-name" in second["msg"] and "neither in groups nor in VPC" in second["msg"], second["msg"]
    assert ec2_mutations(aws, start) == []
    assert groups_in(aws, vpc_id) == {}


def test_description_differs_fails_naming_the_group_and_the_fix(aws, play, vpc_id):
    ec2 = aws.client("ec2")
    ec2.create_security_group(GroupName="svc", Description="old", VpcId=vpc_id)
    start = aws.control.last_request_id()
    run = play([task(the_set(vpc_id), ignore_errors=True)])
    assert run.rc == 0, run.output
    message = run.result()["msg"]
    assert "Security group svc" in message and "cannot change a group's description" in message and "state=absent" in message
    assert ec2_mutations(aws, start) == []
