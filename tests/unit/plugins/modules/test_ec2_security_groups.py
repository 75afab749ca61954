"""mlops.mlflow.ec2_security_groups: rule normalisation, the comparison with described groups, the input checks,
and main() driven with EC2 stubbed by botocore's Stubber (which also checks every request against the EC2 API model)."""

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import ec2_security_groups as shared
from ansible_collections.mlops.mlflow.plugins.modules import ec2_security_groups as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

VPC = "vpc-0123456789abcdef0"
ACCOUNT = "123456789012"
run = harness.runner(module)


def rule(**options):
    values = dict(proto="tcp", ports=None, from_port=None, to_port=None, cidr_ip=None, cidr_ipv6=None, group_name=None,
                  group_id=None, rule_desc=None)
    values.update(options)
    return values


def group(name, description="d", rules=None, rules_egress=None, tags=None):
    return dict(name=name, description=description, rules=rules or [], rules_egress=rules_egress, tags=tags or {})


def params(groups, **changes):
    values = dict(state="present", vpc_id=VPC, groups=groups, purge_rules=True, purge_rules_egress=True, purge_tags=True,
                  wait=True, wait_timeout=300)
    values.update(changes)
    return values


def described(name, group_id, description="d", ingress=None, egress=None, tags=None):
    """A group as DescribeSecurityGroups answers."""
    return {
        "GroupName": name, "GroupId": group_id, "Description": description, "VpcId": VPC, "OwnerId": ACCOUNT,
        "IpPermissions": ingress or [],
        "IpPermissionsEgress": egress if egress is not None else [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                                                   "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}],
        "Tags": [{"Key": key, "Value": value} for key, value in (tags or {}).items()],
    }


# --- rule normalisation ---------------------------------------------------------------------------------------------------


def test_ports_and_targets_expand_to_one_key_each():
    keys = shared.rule_keys(rule(ports=[80, "8000-8100", "80"], cidr_ip=["10.0.0.0/8", "192.168.0.0/16"], rule_desc="web"), "r")
    assert keys == {
        ("tcp", 80, 80, "cidr_ip", "10.0.0.0/8"): "web", ("tcp", 80, 80, "cidr_ip", "192.168.0.0/16"): "web",
        ("tcp", 8000, 8100, "cidr_ip", "10.0.0.0/8"): "web", ("tcp", 8000, 8100, "cidr_ip", "192.168.0.0/16"): "web",
    }


@pytest.mark.parametrize("options, key", [
    (dict(proto="6", from_port=5000, to_port=5000, group_name=["lb"]), ("tcp", 5000, 5000, "group", "lb")),
    (dict(proto="ALL", cidr_ip=["0.0.0.0/0"]), ("-1", None, None, "cidr_ip", "0.0.0.0/0")),
    (dict(proto="-1", cidr_ipv6=["::/0"]), ("-1", None, None, "cidr_ipv6", "::/0")),
    (dict(proto="icmp", cidr_ip=["10.0.0.0/8"]), ("icmp", -1, -1, "cidr_ip", "10.0.0.0/8")),
    (dict(proto="1", from_port=8, to_port=0, cidr_ip=["10.0.0.0/8"]), ("icmp", 8, 0, "cidr_ip", "10.0.0.0/8")),
    (dict(proto="50", group_id=["sg-1"]), ("50", None, None, "group_id", "sg-1")),
    (dict(proto="udp", ports=["53"], cidr_ip=["10.0.0.5/32"]), ("udp", 53, 53, "cidr_ip", "10.0.0.5/32")),
    (dict(proto="udp", ports=["53"], cidr_ip=["10.0.0.5"]), ("udp", 53, 53, "cidr_ip", "10.0.0.5/32")),
    (dict(proto="tcp", ports=[443], cidr_ipv6=["2001:DB8::/32"]), ("tcp", 443, 443, "cidr_ipv6", "2001:db8::/32")),
])
def test_protocols_are_normalised_as_ec2_answers(options, key):
    assert shared.rule_keys(rule(**options), "r") == {key: None}


@pytest.mark.parametrize("options, message", [
    (dict(ports=[80], cidr_ip=["10.0.0.0/8"], group_name=["lb"]),
     "r: a rule needs exactly one of cidr_ip, cidr_ipv6, group_name, group_id, got cidr_ip, group_name."),
    (dict(ports=[80]), "got none."),
    (dict(cidr_ip=["10.0.0.0/8"]), "a tcp rule needs ports, or from_port and to_port."),
    (dict(ports=[80], from_port=80, to_port=80, cidr_ip=["10.0.0.0/8"]), "give either ports or from_port and to_port, not both."),
    (dict(ports=["90-80"], cidr_ip=["10.0.0.0/8"]), "ends before it begins"),
    (dict(ports=["http"], cidr_ip=["10.0.0.0/8"]), "ports takes numbers and 'from-to' ranges, got 'http'."),
    (dict(ports=["70000"], cidr_ip=["10.0.0.0/8"]), "ports must be between 0 and 65535"),
    (dict(proto="-1", ports=[80], cidr_ip=["10.0.0.0/8"]), "protocol -1 (all) has no ports"),
    (dict(proto="gre", cidr_ip=["10.0.0.0/8"]), "proto must be tcp, udp, icmp, icmpv6, -1, all or a protocol number 0-255, got 'gre'."),
    (dict(proto="icmp", ports=[8], cidr_ip=["10.0.0.0/8"]), "an ICMP rule takes from_port (the type)"),
    (dict(ports=[80], cidr_ip=["::/0"]), "'::/0' is not an IPv4 network; use cidr_ipv6."),
    (dict(ports=[80], cidr_ip=["nowhere"]), "'nowhere' is not an IPv4 network in CIDR notation."),
    (dict(ports=[80], group_id=["lb"]), "group_id must be a security group ID (sg-...)"),
    (dict(ports=[80], cidr_ip=["10.0.0.0/8"], rule_desc="users \u00e0 Paris"), "rule_desc 'users \u00e0 Paris' has a character EC2 refuses"),
])
def test_bad_rules_are_refused(options, message):
    with pytest.raises(shared.InvalidInput) as caught:
        shared.rule_keys(rule(**options), "r")
    assert message in str(caught.value)


@pytest.mark.parametrize("changes, message", [
    (dict(vpc_id="default"), "vpc_id must be a VPC ID (vpc-...)"),
    (dict(groups=[]), "groups must name at least one security group."),
    (dict(groups=[group("a"), group("a")]), "groups names a more than once."),
    (dict(groups=[group("sg-web")]), "EC2 refuses group names that begin with 'sg-'"),
    (dict(groups=[group("default")]), "'default' is the VPC's own group"),
    (dict(groups=[group("Default")]), "'default' is the VPC's own group"),
    (dict(groups=[group("a"), group("A")]), "groups names a more than once."),
    (dict(groups=[group("bad\u00e9")]), "has a character EC2 refuses in a group name"),
    (dict(groups=[group("a", description="caf\u00e9")]), "groups: a: the description has a character EC2 refuses"),
    (dict(groups=[group("a", tags=dict(("k{0}".format(index), "v") for index in range(51)))]), "EC2 allows 50 tags"),
    (dict(groups=[group("a", description=None)]), "groups: a: description is required with state=present."),
    (dict(groups=[group("a", tags={"aws:x": "1"})]), "groups: a: tag keys beginning with 'aws:' are reserved"),
    (dict(groups=[group("a", rules_egress=[rule(proto="tcp", cidr_ip=["10.0.0.0/8"])])]),
     "groups: a: rules_egress[0]: a tcp rule needs ports"),
])
def test_bad_input_is_refused(changes, message):
    values = params([group("a")])
    values.update(changes)
    with pytest.raises(shared.InvalidInput) as caught:
        shared.validate(values)
    assert message in str(caught.value)


def test_absent_needs_no_description_and_no_rules_are_checked():
    assert shared.validate(params([dict(name="a", description=None, rules=[rule(proto="bad")], rules_egress=None, tags={})],
                                  state="absent")) == {}


def test_validate_gives_the_desired_rules_and_the_names_they_reference():
    desired = shared.validate(params([
        group("lb", rules_egress=[rule(ports=[5000], group_name=["svc"])]),
        group("svc", rules=[rule(ports=[5000], group_name=["lb"])]),
        group("data", rules=[rule(ports=[5432], group_name=["svc", "bastion"])], rules_egress=[]),
    ]))
    assert desired["lb"] == {"ingress": {}, "egress": {("tcp", 5000, 5000, "group", "svc"): None}}
    assert desired["svc"]["egress"] is None  # left alone
    assert desired["data"]["egress"] == {}  # no egress at all
    assert shared.referenced_names(desired) == ["bastion", "lb", "svc"]


# --- comparison ------------------------------------------------------------------------------------------------------------


def test_current_rules_key_known_groups_by_name():
    permissions = [{"IpProtocol": "tcp", "FromPort": 5000, "ToPort": 5000,
                    "UserIdGroupPairs": [{"GroupId": "sg-lb", "UserId": ACCOUNT}, {"GroupId": "sg-other", "Description": "x"}],
                    "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "office"}], "Ipv6Ranges": [], "PrefixListIds": []},
                   {"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "IpRanges": [], "PrefixListIds": [{"PrefixListId": "pl-1"}]}]
    assert shared.current_rules(permissions, {"sg-lb": "lb"}) == {
        ("tcp", 5000, 5000, "group", "lb"): "", ("tcp", 5000, 5000, "group_id", "sg-other"): "x",
        ("tcp", 5000, 5000, "cidr_ip", "10.0.0.0/8"): "office", ("-1", None, None, "prefix_list_id", "pl-1"): "",
    }


def test_diff_rules_authorizes_revokes_and_describes():
    current = {("tcp", 80, 80, "cidr_ip", "10.0.0.0/8"): "old", ("tcp", 22, 22, "cidr_ip", "10.0.0.0/8"): "",
               ("tcp", 443, 443, "cidr_ip", "10.0.0.0/8"): "kept"}
    desired = {("tcp", 80, 80, "cidr_ip", "10.0.0.0/8"): "new", ("tcp", 8080, 8080, "group", "lb"): None,
               ("tcp", 443, 443, "cidr_ip", "10.0.0.0/8"): None}
    changes = shared.diff_rules(current, desired, purge=True)
    assert changes == {"authorize": [("tcp", 8080, 8080, "group", "lb")], "revoke": [("tcp", 22, 22, "cidr_ip", "10.0.0.0/8")],
                       "describe": {("tcp", 80, 80, "cidr_ip", "10.0.0.0/8"): "new"}}
    assert shared.diff_rules(current, desired, purge=False)["revoke"] == []
    assert shared.rules_after(current, desired, changes) == {
        ("tcp", 80, 80, "cidr_ip", "10.0.0.0/8"): "new", ("tcp", 443, 443, "cidr_ip", "10.0.0.0/8"): "kept",
        ("tcp", 8080, 8080, "group", "lb"): ""}


def test_a_group_id_of_the_set_is_the_same_rule_as_its_name():
    desired = {("tcp", 80, 80, "group_id", "sg-lb"): None}
    assert shared.canonical_desired(desired, {"lb": "sg-lb"}) == {("tcp", 80, 80, "group", "lb"): None}
    assert shared.canonical_desired(None, {}) is None


def test_plan_of_the_same_group_changes_nothing():
    wanted = group("svc", rules=[rule(ports=[5000], group_name=["lb"])], tags={"a": "1"})
    desired = shared.validate(params([wanted, group("lb")]))
    current = described("svc", "sg-svc", tags={"a": "1"}, ingress=[
        {"IpProtocol": "tcp", "FromPort": 5000, "ToPort": 5000, "UserIdGroupPairs": [{"GroupId": "sg-lb", "UserId": ACCOUNT}]}])
    group_plan = shared.plan(wanted, current, desired["svc"], params([]), {"svc": "sg-svc", "lb": "sg-lb"})
    assert not shared.changes_anything(group_plan)
    assert group_plan["before"]["ingress"] == group_plan["after"]["ingress"]


def test_plan_of_a_new_group_starts_from_the_default_egress():
    wanted = group("data", rules_egress=[], tags={"team": "ml"})
    desired = shared.validate(params([wanted]))
    group_plan = shared.plan(wanted, None, desired["data"], params([]), {"data": ""})
    assert group_plan["create"] and group_plan["before"] is None
    assert group_plan["egress"]["revoke"] == [("-1", None, None, "cidr_ip", "0.0.0.0/0")]
    assert group_plan["tags"] == ({"team": "ml"}, [])
    assert group_plan["after"] == {"ingress": {}, "egress": {}, "tags": {"team": "ml"}}
    left_alone = shared.plan(group("svc"), None, {"ingress": {}, "egress": None}, params([]), {"svc": ""})
    assert left_alone["after"]["egress"] == shared.DEFAULT_EGRESS and left_alone["egress"]["revoke"] == []


def test_tags_are_compared_with_purge():
    wanted = group("svc", tags={"a": "2"})
    current = described("svc", "sg-svc", tags={"a": "1", "b": "1"})
    assert shared.plan(wanted, current, {"ingress": {}, "egress": None}, params([]), {"svc": "sg-svc"})["tags"] == ({"a": "2"}, ["b"])
    kept = shared.plan(wanted, current, {"ingress": {}, "egress": None}, params([], purge_tags=False), {"svc": "sg-svc"})
    assert kept["tags"] == ({"a": "2"}, [])


def test_permissions_group_targets_by_ports_and_name_unknown_groups():
    keys = {("tcp", 80, 80, "cidr_ip", "10.0.0.0/8"): "web", ("tcp", 80, 80, "group", "lb"): None, ("-1", None, None, "group", "new"): None}
    assert shared.permissions(keys, {"lb": "sg-lb", "new": ""}) == [
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "", "GroupName": "new"}]},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "web"}],
         "UserIdGroupPairs": [{"GroupId": "sg-lb"}]},
    ]


def test_references_to_keeps_only_the_pairs_of_the_set():
    permissions = [{"IpProtocol": "tcp", "FromPort": 5000, "ToPort": 5000, "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                    "UserIdGroupPairs": [{"GroupId": "sg-lb", "UserId": ACCOUNT, "Description": "x"}, {"GroupId": "sg-out"}]},
                   {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    assert shared.references_to(permissions, {"sg-lb"}) == [
        {"IpProtocol": "tcp", "FromPort": 5000, "ToPort": 5000, "UserIdGroupPairs": [{"GroupId": "sg-lb", "Description": "x"}]}]


def test_rendered_rules_use_the_option_names():
    keys = {("tcp", 5000, 5000, "group", "lb"): "", ("-1", None, None, "cidr_ip", "0.0.0.0/0"): "all"}
    assert shared.rendered(keys) == [{"proto": "-1", "cidr_ip": "0.0.0.0/0", "rule_desc": "all"},
                                     {"proto": "tcp", "from_port": 5000, "to_port": 5000, "group_name": "lb"}]


# --- main() with EC2 stubbed --------------------------------------------------------------------------------------------------


@pytest.fixture
def ec2(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "ec2")
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


ARGS = dict(harness.AWS_ARGS, vpc_id=VPC, groups=[
    {"name": "lb", "description": "load balancer", "rules": [{"proto": "tcp", "ports": [80], "cidr_ip": "10.0.0.0/8"}],
     "rules_egress": [{"proto": "tcp", "ports": [5000], "group_name": "svc"}]},
    {"name": "svc", "description": "service", "rules": [{"proto": "tcp", "ports": [5000], "group_name": "lb"}]},
])


def expect_describe(ec2, names, groups):
    ec2.add_response("describe_security_groups", {"SecurityGroups": groups},
                     {"Filters": [{"Name": "vpc-id", "Values": [VPC]}, {"Name": "group-name", "Values": sorted(names)}]})


def test_check_mode_on_a_new_set_calls_nothing_but_describe(ec2):
    expect_describe(ec2, ["lb", "svc"], [])
    outcome = run(ARGS, check_mode=True, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] is True
    groups = outcome.result["groups"]
    assert groups["lb"]["group_id"] == "" and groups["svc"]["group_id"] == ""
    assert groups["lb"]["ip_permissions_egress"] == [{"ip_protocol": "tcp", "from_port": 5000, "to_port": 5000,
                                                      "user_id_group_pairs": [{"group_id": "", "group_name": "svc"}]}]
    assert groups["svc"]["ip_permissions_egress"] == [{"ip_protocol": "-1", "ip_ranges": [{"cidr_ip": "0.0.0.0/0"}]}]
    assert outcome.result["diff"]["before"] == {"lb": {}, "svc": {}}
    assert outcome.result["diff"]["after"]["svc"]["rules"] == [{"proto": "tcp", "from_port": 5000, "to_port": 5000, "group_name": "lb"}]


def test_an_unchanged_set_is_described_once(ec2):
    lb = described("lb", "sg-lb", "load balancer",
                   ingress=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
                   egress=[{"IpProtocol": "tcp", "FromPort": 5000, "ToPort": 5000, "UserIdGroupPairs": [{"GroupId": "sg-svc", "UserId": ACCOUNT}]}])
    svc = described("svc", "sg-svc", "service",
                    ingress=[{"IpProtocol": "tcp", "FromPort": 5000, "ToPort": 5000, "UserIdGroupPairs": [{"GroupId": "sg-lb", "UserId": ACCOUNT}]}])
    expect_describe(ec2, ["lb", "svc"], [lb, svc])
    outcome = run(ARGS)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] is False
    assert outcome.result["groups"]["svc"]["group_id"] == "sg-svc" and outcome.result["groups"]["svc"]["tags"] == {}


def test_a_name_that_names_nothing_fails_after_the_describe_only(ec2):
    args = dict(ARGS, groups=[{"name": "svc", "description": "service", "rules": [{"proto": "tcp", "ports": [5000], "group_name": "nope"}]}])
    expect_describe(ec2, ["nope", "svc"], [])
    outcome = run(args)
    assert outcome.failed
    assert outcome.result["msg"] == ("Rules name security groups that are neither in groups nor in VPC " + VPC + ": nope. Add them to groups "
                                     "or fix the group_name.")


def test_a_different_description_fails_naming_the_group_and_the_fix(ec2):
    expect_describe(ec2, ["lb", "svc"], [described("svc", "sg-svc", "old")])
    outcome = run(ARGS)
    assert outcome.failed
    assert outcome.result["msg"].startswith("Security group svc (sg-svc) has the description 'old', not 'service'")
    assert "delete the group (state=absent)" in outcome.result["msg"]


def test_bad_input_fails_before_any_call(ec2):
    args = dict(ARGS, groups=[{"name": "svc", "description": "service", "rules": [{"proto": "tcp", "ports": [5000], "group_name": "lb",
                                                                                  "cidr_ip": "10.0.0.0/8"}]}])
    outcome = run(args)
    assert outcome.failed and "exactly one of cidr_ip, cidr_ipv6, group_name, group_id" in outcome.result["msg"]


def test_documentation_matches_the_argument_spec():
    spec = harness.argument_spec(module)
    assert set(spec) == {"state", "vpc_id", "groups", "purge_rules", "purge_rules_egress", "purge_tags", "wait", "wait_timeout"}
    assert set(spec["groups"]["options"]) == {"name", "description", "rules", "rules_egress", "tags"}
