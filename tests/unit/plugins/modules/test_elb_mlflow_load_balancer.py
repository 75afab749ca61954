"""mlops.mlflow.elb_mlflow_load_balancer: the normal form of listeners, the plan, and main() driven with ELBv2 stubbed by
botocore's Stubber (which also checks every request against the ELBv2 API model)."""

import pytest

from ansible_collections.mlops.mlflow.plugins.module_utils import elb_mlflow_load_balancer as shared
from ansible_collections.mlops.mlflow.plugins.modules import elb_mlflow_load_balancer as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

PREFIX = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
TG_ARN = PREFIX + "targetgroup/mlflow/0123456789abcdef"
LB_ARN = PREFIX + "loadbalancer/app/mlflow/0123456789abcdef"
OTHER_TG_ARN = PREFIX + "targetgroup/other/fedcba9876543210"
VPC = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0a1b2c3d", "subnet-0b2c3d4e"]
GROUPS = ["sg-0c3d4e5f"]
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-0000-0000-000000000000"
SECRET = "very-secret-value"
TAGS = {"application": "mlflow"}
OIDC_CONFIG = {"Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/auth",
               "TokenEndpoint": "https://idp.example.com/token", "UserInfoEndpoint": "https://idp.example.com/userinfo",
               "ClientId": "mlflow"}


def listener_arn(port):
    return PREFIX + "listener/app/mlflow/0123456789abcdef/{0:016d}".format(port)


def http_listener():
    return {"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward"}]}


def https_listeners(oidc=False):
    actions = [{"Type": "forward", "TargetGroupName": "mlflow"}]
    if oidc:
        actions = [{"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": dict(OIDC_CONFIG, ClientSecret=SECRET)},
                   dict(actions[0], Order=2)]
    redirect = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    return [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [redirect]},
            {"Protocol": "HTTPS", "Port": 443, "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
             "Certificates": [{"CertificateArn": CERTIFICATE}], "DefaultActions": actions}]


def args(**changes):
    values = dict(harness.AWS_ARGS, name="mlflow", subnets=list(SUBNETS), security_groups=list(GROUPS),
                  target_group={"vpc_id": VPC, "port": 5000}, listeners=[http_listener()], tags=dict(TAGS))
    values.update(changes)
    return values


def target_group(**changes):
    group = {"TargetGroupArn": TG_ARN, "TargetGroupName": "mlflow", "Protocol": "HTTP", "Port": 5000, "VpcId": VPC,
             "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckEnabled": True,
             "HealthCheckIntervalSeconds": 15, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 2,
             "UnhealthyThresholdCount": 3, "HealthCheckPath": "/health", "Matcher": {"HttpCode": "200"}, "TargetType": "ip",
             "LoadBalancerArns": [LB_ARN]}
    group.update(changes)
    return group


def load_balancer(state="active", **changes):
    balancer = {"LoadBalancerArn": LB_ARN, "DNSName": "internal-mlflow-1.us-east-1.elb.amazonaws.com",
                "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K", "LoadBalancerName": "mlflow", "Scheme": "internal", "VpcId": VPC,
                "State": {"Code": state}, "Type": "application",
                "AvailabilityZones": [{"ZoneName": "us-east-1a", "SubnetId": SUBNETS[1]}, {"ZoneName": "us-east-1b", "SubnetId": SUBNETS[0]}],
                "SecurityGroups": list(GROUPS), "IpAddressType": "ipv4"}
    balancer.update(changes)
    return balancer


LB_ATTRIBUTES = {"idle_timeout.timeout_seconds": "60", "deletion_protection.enabled": "false",
                 "routing.http.drop_invalid_header_fields.enabled": "true", "access_logs.s3.enabled": "false",
                 "access_logs.s3.bucket": "", "access_logs.s3.prefix": "", "routing.http2.enabled": "true"}


def forward_as_aws_shows_it(order=1, arn=TG_ARN):
    return {"Type": "forward", "Order": order, "TargetGroupArn": arn,
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": arn, "Weight": 1}], "TargetGroupStickinessConfig": {"Enabled": False}}}


def described_http_listener(actions=None):
    return {"ListenerArn": listener_arn(80), "LoadBalancerArn": LB_ARN, "Port": 80, "Protocol": "HTTP",
            "DefaultActions": actions or [forward_as_aws_shows_it()]}


def described_https_listeners(oidc=False, client_id="mlflow"):
    redirect = {"Type": "redirect", "Order": 1, "RedirectConfig": {
        "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301"}}
    actions = [forward_as_aws_shows_it()]
    if oidc:
        config = dict(OIDC_CONFIG, ClientId=client_id, SessionCookieName="AWSELBAuthSessionCookie", Scope="openid",
                      SessionTimeout=604800, OnUnauthenticatedRequest="authenticate", AuthenticationRequestExtraParams={})
        actions = [{"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": config}, forward_as_aws_shows_it(order=2)]
    return [{"ListenerArn": listener_arn(80), "LoadBalancerArn": LB_ARN, "Port": 80, "Protocol": "HTTP", "DefaultActions": [redirect]},
            {"ListenerArn": listener_arn(443), "LoadBalancerArn": LB_ARN, "Port": 443, "Protocol": "HTTPS",
             "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06", "Certificates": [{"CertificateArn": CERTIFICATE}],
             "DefaultActions": actions}]


# --- the normal form -----------------------------------------------------------------------------------------------------


def test_aws_filled_defaults_are_no_difference():
    given = {"Protocol": "HTTP", "Port": 80, "DefaultActions": [
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": 443, "StatusCode": "HTTP_301"}}]}
    shown = described_https_listeners()[0]
    assert shared.normal_listener(shown, given) == shared.normal_listener(given, given)
    forward = {"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]}
    assert shared.normal_listener(described_http_listener(), forward) == shared.normal_listener(forward, forward)


def test_oidc_is_compared_without_its_secret_and_with_aws_defaults():
    given = https_listeners(oidc=True)[1]
    wanted = shared.desired_listener(given, TG_ARN, {}, "mlflow")
    assert shared.normal_listener(described_https_listeners(oidc=True)[1], wanted) == shared.normal_listener(wanted, wanted)
    assert SECRET not in repr(shared.normal_listener(wanted))
    assert shared.without_secrets([given]) == [dict(given, DefaultActions=[
        {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": OIDC_CONFIG}, given["DefaultActions"][1]])]


def test_the_client_secrets_are_found_at_any_depth_for_no_log():
    assert shared.secrets_in(https_listeners(oidc=True)) == [SECRET]
    assert shared.secrets_in(https_listeners(oidc=False)) == []
    assert shared.secrets_in(None) == []


def test_forward_resolution():
    listener = {"Protocol": "HTTP", "Port": 80, "DefaultActions": [
        {"Type": "forward", "TargetGroupName": "mlflow", "Order": 1}, {"Type": "forward"},
        {"Type": "forward", "TargetGroupName": "other"}, {"Type": "forward", "TargetGroupArn": OTHER_TG_ARN}]}
    actions = shared.desired_listener(listener, TG_ARN, {"other": OTHER_TG_ARN}, "mlflow")["DefaultActions"]
    assert [action["TargetGroupArn"] for action in actions] == [TG_ARN, TG_ARN, OTHER_TG_ARN, OTHER_TG_ARN]
    assert all("TargetGroupName" not in action for action in actions)


@pytest.mark.parametrize("changes, message", [
    ({"name": "x" * 33}, "name must be 1 to 32"),
    ({"name": "-mlflow"}, "name must be 1 to 32"),
    ({"subnets": None}, "subnets is required"),
    ({"target_group": None}, "target_group is required"),
    ({"access_logs_enabled": True}, "needs access_logs_s3_bucket"),
    ({"listeners": [http_listener(), http_listener()]}, "port 80 is given more than once"),
    ({"listeners": [{"Protocol": "HTTPS", "Port": 443, "DefaultActions": [{"Type": "forward"}]}]}, "needs Certificates"),
    ({"listeners": [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "jump"}]}]}, "action Type must be one of"),
    ({"listeners": [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "fixed-response"}, {"Type": "forward"}]}]},
     "each needs an Order"),
    ({"listeners": [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [
        {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": OIDC_CONFIG}, {"Type": "forward", "Order": 2}]}]},
     "AuthenticateOidcConfig needs ClientSecret"),
])
def test_bad_input_fails_before_any_call(stubbed, changes, message):
    outcome = run(args(**changes))
    assert outcome.failed and message in outcome.result["msg"]


# --- main() with a stubbed ELBv2 -------------------------------------------------------------------------------------------


@pytest.fixture
def stubbed(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "elbv2")
    clock = harness.FakeClock()
    monkeypatch.setattr(module.time, "sleep", clock.sleep)
    monkeypatch.setattr(module.time, "monotonic", clock.monotonic)
    stubber.clock = clock
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


run = harness.runner(module)


def expect_nothing(elbv2, name="mlflow"):
    elbv2.add_client_error("describe_target_groups", "TargetGroupNotFound", "One or more target groups not found",
                           expected_params={"Names": [name]})
    elbv2.add_client_error("describe_load_balancers", "LoadBalancerNotFound", "One or more load balancers not found",
                           expected_params={"Names": [name]})


def expect_stack(elbv2, group=None, balancer=None, listeners=None, lb_attributes=None, tg_delay="30", tags=None, lb_tags=None):
    group = group or target_group()
    balancer = balancer or load_balancer()
    elbv2.add_response("describe_target_groups", {"TargetGroups": [group]}, {"Names": ["mlflow"]})
    elbv2.add_response("describe_load_balancers", {"LoadBalancers": [balancer]}, {"Names": ["mlflow"]})
    elbv2.add_response("describe_load_balancer_attributes",
                       {"Attributes": [{"Key": key, "Value": value} for key, value in (lb_attributes or LB_ATTRIBUTES).items()]},
                       {"LoadBalancerArn": LB_ARN})
    tag_list = [{"Key": key, "Value": value} for key, value in (TAGS if tags is None else tags).items()]
    lb_tag_list = tag_list if lb_tags is None else [{"Key": key, "Value": value} for key, value in lb_tags.items()]
    # An untagged resource comes without Tags (the model wants one tag at least in a list).
    descriptions = [dict({"ResourceArn": arn}, **({"Tags": tags} if tags else {}))
                    for arn, tags in ((TG_ARN, tag_list), (LB_ARN, lb_tag_list))]
    elbv2.add_response("describe_tags", {"TagDescriptions": descriptions}, {"ResourceArns": [TG_ARN, LB_ARN]})
    elbv2.add_response("describe_target_group_attributes",
                       {"Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": tg_delay},
                                       {"Key": "stickiness.enabled", "Value": "false"}]}, {"TargetGroupArn": TG_ARN})
    elbv2.add_response("describe_listeners", {"Listeners": listeners if listeners is not None else [described_http_listener()]},
                       {"LoadBalancerArn": LB_ARN})


def test_creates_target_group_load_balancer_listeners_attributes_and_tags(stubbed):
    expect_nothing(stubbed)
    tag_list = [{"Key": "application", "Value": "mlflow"}]
    stubbed.add_response("create_target_group", {"TargetGroups": [target_group(LoadBalancerArns=[])]}, {
        "Name": "mlflow", "Protocol": "HTTP", "Port": 5000, "VpcId": VPC, "TargetType": "ip", "HealthCheckEnabled": True,
        "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 15, "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3, "Matcher": {"HttpCode": "200"}, "Tags": tag_list})
    stubbed.add_response("modify_target_group_attributes", {"Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]},
                         {"TargetGroupArn": TG_ARN, "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]})
    stubbed.add_response("create_load_balancer", {"LoadBalancers": [load_balancer(state="provisioning")]}, {
        "Name": "mlflow", "Subnets": SUBNETS, "SecurityGroups": GROUPS, "Scheme": "internal", "Type": "application",
        "IpAddressType": "ipv4", "Tags": tag_list})
    attributes = [{"Key": "deletion_protection.enabled", "Value": "false"}, {"Key": "idle_timeout.timeout_seconds", "Value": "60"},
                  {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
                  {"Key": "access_logs.s3.enabled", "Value": "false"}]
    stubbed.add_response("modify_load_balancer_attributes", {"Attributes": attributes},
                         {"LoadBalancerArn": LB_ARN, "Attributes": sorted(attributes, key=lambda item: item["Key"])})
    stubbed.add_response("create_listener", {"Listeners": [described_http_listener()]}, {
        "LoadBalancerArn": LB_ARN, "Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]})
    stubbed.add_response("describe_load_balancers", {"LoadBalancers": [load_balancer(state="provisioning")]}, {"LoadBalancerArns": [LB_ARN]})
    stubbed.add_response("describe_load_balancers", {"LoadBalancers": [load_balancer()]}, {"LoadBalancerArns": [LB_ARN]})
    outcome = run(args(wait=True), diff=True)
    assert not outcome.failed, outcome.result["msg"]
    result = outcome.result
    assert result["changed"]
    assert result["changes"] == ["target_group created", "load_balancer created", "listener 80 created"]
    assert result["load_balancer"]["load_balancer_arn"] == LB_ARN and result["load_balancer"]["state"] == {"code": "active"}
    assert result["load_balancer"]["attributes"]["idle_timeout_timeout_seconds"] == "60"
    assert result["load_balancer"]["tags"] == TAGS and result["target_group"]["tags"] == TAGS
    assert result["target_group"]["target_group_arn"] == TG_ARN
    assert result["target_group"]["attributes"] == {"deregistration_delay_timeout_seconds": "30"}
    assert result["listeners"][0]["listener_arn"] == listener_arn(80)
    assert result["diff"]["before"] == {} and result["diff"]["after"]["load_balancer"]["scheme"] == "internal"
    assert stubbed.clock.sleeps == [module.POLL_SECONDS]


def test_an_unchanged_stack_is_only_described(stubbed):
    expect_stack(stubbed)
    outcome = run(args(), diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert not outcome.result["changed"] and outcome.result["changes"] == []
    assert outcome.result["diff"]["before"] == outcome.result["diff"]["after"]
    assert outcome.result["load_balancer"]["dns_name"] == load_balancer()["DNSName"]


def test_oidc_listener_rerun_with_on_create_changes_nothing_and_returns_no_secret(stubbed):
    expect_stack(stubbed, listeners=described_https_listeners(oidc=True))
    outcome = run(args(listeners=https_listeners(oidc=True)), diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert not outcome.result["changed"]
    assert SECRET not in repr(outcome.result) and "client_secret" not in repr(outcome.result)


def test_oidc_listener_with_always_is_modified_with_its_secret(stubbed):
    expect_stack(stubbed, listeners=described_https_listeners(oidc=True))
    listeners = https_listeners(oidc=True)
    wanted = shared.desired_listener(listeners[1], TG_ARN, {}, "mlflow")
    stubbed.add_response("modify_listener", {"Listeners": [described_https_listeners(oidc=True)[1]]},
                         dict(wanted, ListenerArn=listener_arn(443)))
    outcome = run(args(listeners=listeners, oidc_client_secret_update="always"), diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] and outcome.result["changes"] == ["listener 443 modified"]
    assert SECRET not in repr(outcome.result)


def test_oidc_listener_changed_otherwise_keeps_its_secret(stubbed):
    current = described_https_listeners(oidc=True)
    current[1]["SslPolicy"] = "ELBSecurityPolicy-2016-08"
    expect_stack(stubbed, listeners=current)
    listeners = https_listeners(oidc=True)
    wanted = shared.desired_listener(listeners[1], TG_ARN, {}, "mlflow")
    wanted["DefaultActions"][0]["AuthenticateOidcConfig"] = dict(OIDC_CONFIG, UseExistingClientSecret=True)
    stubbed.add_response("modify_listener", {"Listeners": [described_https_listeners(oidc=True)[1]]},
                         dict(wanted, ListenerArn=listener_arn(443)))
    outcome = run(args(listeners=listeners))
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changes"] == ["listener 443 modified"]


def test_a_new_oidc_client_sends_its_secret(stubbed):
    expect_stack(stubbed, listeners=described_https_listeners(oidc=True, client_id="old"))
    listeners = https_listeners(oidc=True)
    wanted = shared.desired_listener(listeners[1], TG_ARN, {}, "mlflow")
    stubbed.add_response("modify_listener", {"Listeners": [described_https_listeners(oidc=True)[1]]},
                         dict(wanted, ListenerArn=listener_arn(443)))
    assert run(args(listeners=listeners)).result["changed"]


def test_a_listener_on_a_port_not_given_is_purged(stubbed):
    expect_stack(stubbed, listeners=described_https_listeners())
    stubbed.add_response("delete_listener", {}, {"ListenerArn": listener_arn(443)})
    stubbed.add_response("modify_listener", {"Listeners": [described_http_listener()]}, {
        "ListenerArn": listener_arn(80), "Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]})
    outcome = run(args())
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changes"] == ["listener 80 modified", "listener 443 deleted"]
    assert [listener["port"] for listener in outcome.result["listeners"]] == [80]


def test_without_purge_other_listeners_stay(stubbed):
    listeners = described_https_listeners()
    listeners[0] = described_http_listener()
    expect_stack(stubbed, listeners=listeners)
    outcome = run(args(purge_listeners=False))
    assert not outcome.result["changed"] and len(outcome.result["listeners"]) == 2


def test_only_differing_settings_are_changed(stubbed):
    attributes = dict(LB_ATTRIBUTES, **{"idle_timeout.timeout_seconds": "120"})
    expect_stack(stubbed, group=target_group(HealthCheckPath="/", Matcher={"HttpCode": "200-299"}), lb_attributes=attributes,
                 tg_delay="300", lb_tags={"application": "mlflow", "extra": "x"})
    stubbed.add_response("modify_target_group", {"TargetGroups": [target_group()]},
                         {"TargetGroupArn": TG_ARN, "HealthCheckPath": "/health", "Matcher": {"HttpCode": "200"}})
    stubbed.add_response("modify_target_group_attributes", {"Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]},
                         {"TargetGroupArn": TG_ARN, "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]})
    stubbed.add_response("modify_load_balancer_attributes", {"Attributes": [{"Key": "idle_timeout.timeout_seconds", "Value": "60"}]},
                         {"LoadBalancerArn": LB_ARN, "Attributes": [{"Key": "idle_timeout.timeout_seconds", "Value": "60"}]})
    stubbed.add_response("remove_tags", {}, {"ResourceArns": [LB_ARN], "TagKeys": ["extra"]})
    outcome = run(args())
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changes"] == ["target_group health_check modified", "target_group attributes modified",
                                         "load_balancer attributes modified", "load_balancer tags modified"]


def test_a_scheme_change_fails_before_any_change(stubbed):
    expect_stack(stubbed, balancer=load_balancer(Scheme="internet-facing"))
    outcome = run(args())
    assert outcome.failed and outcome.result["conflicts"] == ["scheme"]
    assert "is internet-facing, not internal" in outcome.result["msg"] and "cannot change the scheme" in outcome.result["msg"]


def test_a_target_group_port_change_fails_and_says_to_delete_or_rename(stubbed):
    expect_stack(stubbed)
    outcome = run(args(target_group={"vpc_id": VPC, "port": 8080}))
    assert outcome.failed and outcome.result["conflicts"] == ["target_group.port"]
    assert "delete the stack (state=absent) or give it another name" in outcome.result["msg"]


def test_check_mode_makes_no_mutating_call(stubbed):
    expect_stack(stubbed, balancer=load_balancer(SecurityGroups=["sg-other"]), tags={})
    outcome = run(args(listeners=[]), check_mode=True, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changes"] == ["target_group tags modified", "load_balancer security_groups modified",
                                         "load_balancer tags modified", "listener 80 deleted"]
    assert outcome.result["load_balancer"]["security_groups"] == GROUPS and outcome.result["listeners"] == []
    assert outcome.result["diff"]["before"]["load_balancer"]["security_groups"] == ["sg-other"]
    assert outcome.result["diff"]["after"]["listeners"] == []


def test_check_mode_on_a_new_stack_returns_what_is_known(stubbed):
    expect_nothing(stubbed)
    outcome = run(args(), check_mode=True)
    assert outcome.result["changed"]
    assert outcome.result["load_balancer"]["load_balancer_arn"] == "" and outcome.result["load_balancer"]["scheme"] == "internal"
    assert outcome.result["target_group"]["target_group_arn"] == "" and outcome.result["target_group"]["port"] == 5000
    assert outcome.result["listeners"][0]["default_actions"][0]["target_group_arn"] == ""


def expect_absent_describe(elbv2, protected=False):
    elbv2.add_response("describe_target_groups", {"TargetGroups": [target_group()]}, {"Names": ["mlflow"]})
    elbv2.add_response("describe_load_balancers", {"LoadBalancers": [load_balancer()]}, {"Names": ["mlflow"]})
    attributes = dict(LB_ATTRIBUTES, **{"deletion_protection.enabled": "true" if protected else "false"})
    elbv2.add_response("describe_load_balancer_attributes", {"Attributes": [{"Key": key, "Value": value} for key, value in attributes.items()]},
                       {"LoadBalancerArn": LB_ARN})


def test_absent_deletes_the_load_balancer_then_the_target_group(stubbed):
    expect_absent_describe(stubbed)
    stubbed.add_response("delete_load_balancer", {}, {"LoadBalancerArn": LB_ARN})
    stubbed.add_response("describe_load_balancers", {"LoadBalancers": [load_balancer()]}, {"LoadBalancerArns": [LB_ARN]})
    stubbed.add_client_error("describe_load_balancers", "LoadBalancerNotFound", "gone", expected_params={"LoadBalancerArns": [LB_ARN]})
    stubbed.add_client_error("delete_target_group", "ResourceInUse", "in use by a listener", expected_params={"TargetGroupArn": TG_ARN})
    stubbed.add_response("delete_target_group", {}, {"TargetGroupArn": TG_ARN})
    outcome = run(args(state="absent", wait=True))
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] and outcome.result["changes"] == ["load_balancer deleted", "target_group deleted"]
    assert outcome.result["load_balancer"] == {} and outcome.result["target_group"] == {}


def test_absent_refuses_a_protected_load_balancer_unless_told(stubbed):
    expect_absent_describe(stubbed, protected=True)
    outcome = run(args(state="absent"))
    assert outcome.failed and "deletion_protection=false" in outcome.result["msg"]
    expect_absent_describe(stubbed, protected=True)
    stubbed.add_response("modify_load_balancer_attributes", {}, {
        "LoadBalancerArn": LB_ARN, "Attributes": [{"Key": "deletion_protection.enabled", "Value": "false"}]})
    stubbed.add_response("delete_load_balancer", {}, {"LoadBalancerArn": LB_ARN})
    stubbed.add_response("delete_target_group", {}, {"TargetGroupArn": TG_ARN})
    outcome = run(args(state="absent", deletion_protection=False))
    assert outcome.result["changes"][0] == "load_balancer deletion_protection disabled"


def test_absent_when_nothing_exists(stubbed):
    expect_nothing(stubbed)
    outcome = run(args(state="absent"))
    assert not outcome.failed and not outcome.result["changed"] and outcome.result["changes"] == []


def test_absent_in_check_mode_deletes_nothing(stubbed):
    expect_absent_describe(stubbed)
    outcome = run(args(state="absent"), check_mode=True)
    assert outcome.result["changed"] and outcome.result["changes"] == ["load_balancer deleted", "target_group deleted"]


# --- the drift kind of mlops.mlflow.aws_drift_info ----------------------------------------------------------------------

def drift(spec):
    from ansible_collections.mlops.mlflow.plugins.modules import aws_drift_info

    spec = dict((key, value) for key, value in spec.items() if key not in harness.AWS_ARGS)
    return harness.runner(aws_drift_info)(dict(harness.AWS_ARGS, parts=[
        {"name": "load_balancer", "kind": "elb_mlflow_load_balancer", "spec": spec}]))


def test_drift_kind_in_sync_gives_the_identifiers(stubbed):
    expect_stack(stubbed, listeners=described_https_listeners(oidc=True))
    outcome = drift(args(listeners=https_listeners(oidc=True)))
    assert not outcome.failed, outcome.result["msg"]
    part = outcome.result["parts"]["load_balancer"]
    assert (part["exists"], part["in_sync"], part["differences"]) == (True, True, [])
    assert part["resource"] == {"load_balancer_arn": LB_ARN, "dns_name": load_balancer()["DNSName"],
                                "canonical_hosted_zone_id": "Z35SXDOTRQ7X7K", "target_group_arn": TG_ARN}
    assert SECRET not in repr(outcome.result)


def test_drift_kind_names_what_differs(stubbed):
    expect_stack(stubbed, listeners=described_https_listeners(oidc=True), balancer=load_balancer(state="provisioning"),
                 lb_attributes=dict(LB_ATTRIBUTES, **{"idle_timeout.timeout_seconds": "120"}))
    outcome = drift(args(listeners=https_listeners(oidc=True), oidc_client_secret_update="always", wait=True))
    assert outcome.result["parts"]["load_balancer"]["differences"] == ["idle_timeout", "listeners", "wait"]
    expect_stack(stubbed, balancer=load_balancer(Scheme="internet-facing"), listeners=described_https_listeners())
    outcome = drift(args())
    assert outcome.result["parts"]["load_balancer"]["differences"] == ["listeners", "purge_listeners", "scheme"]


def test_drift_kind_without_a_stack(stubbed):
    expect_nothing(stubbed)
    outcome = drift(args())
    assert outcome.result["parts"]["load_balancer"] == dict(kind="elb_mlflow_load_balancer", exists=False, in_sync=False,
                                                            differences=["exists"], resource={})
