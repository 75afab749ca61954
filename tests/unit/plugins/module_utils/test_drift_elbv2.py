"""The ELBv2 drift kinds against fake clients: what counts as in sync, and every difference."""

from __future__ import annotations

import copy

import pytest
from botocore.exceptions import ClientError

from ansible_collections.mlops.mlflow.plugins.module_utils import drift_elbv2
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import validated
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput

VPC = "vpc-0123"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mlflow/abc"
OTHER_TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/def"
LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/mlflow/123"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/1"
REDIRECT = {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
            "StatusCode": "HTTP_301"}


def not_found(code):
    return ClientError({"Error": {"Code": code, "Message": "not found"}}, "Describe")


class FakeElbv2:
    def __init__(self):
        self.target_groups = {"mlflow": {
            "TargetGroupArn": TG_ARN, "TargetGroupName": "mlflow", "Protocol": "HTTP", "Port": 5000, "VpcId": VPC,
            "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckEnabled": True,
            "HealthCheckIntervalSeconds": 15, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3, "HealthCheckPath": "/health", "Matcher": {"HttpCode": "200"},
            "LoadBalancerArns": [LB_ARN], "TargetType": "ip", "ProtocolVersion": "HTTP1"}}
        self.tg_attributes = {"deregistration_delay.timeout_seconds": "30", "stickiness.enabled": "false",
                              "stickiness.type": "lb_cookie", "load_balancing.algorithm.type": "round_robin"}
        self.balancers = {"mlflow": {
            "LoadBalancerArn": LB_ARN, "LoadBalancerName": "mlflow", "DNSName": "mlflow-1.elb.amazonaws.com",
            "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K", "Scheme": "internet-facing", "VpcId": VPC,
            "State": {"Code": "active"}, "Type": "application", "IpAddressType": "ipv4",
            "AvailabilityZones": [{"ZoneName": "us-east-1a", "SubnetId": "subnet-a"},
                                  {"ZoneName": "us-east-1b", "SubnetId": "subnet-b"}],
            "SecurityGroups": ["sg-0aa"]}}
        self.lb_attributes = {"access_logs.s3.enabled": "false", "access_logs.s3.bucket": "",
                              "access_logs.s3.prefix": "", "deletion_protection.enabled": "false",
                              "idle_timeout.timeout_seconds": "60",
                              "routing.http.drop_invalid_header_fields.enabled": "true"}
        self.listeners = [listener(80, "HTTP", [forward_action(TG_ARN)])]
        self.tags = {TG_ARN: [{"Key": "app", "Value": "mlflow"}], LB_ARN: [{"Key": "app", "Value": "mlflow"}]}
        self.calls = []

    def _called(self, name, kwargs):
        assert kwargs.pop("aws_retry") is True
        self.calls.append(name)

    def describe_target_groups(self, **kwargs):
        self._called("describe_target_groups", kwargs)
        found = [copy.deepcopy(self.target_groups[name]) for name in kwargs["Names"] if name in self.target_groups]
        if not found:
            raise not_found("TargetGroupNotFound")
        return {"TargetGroups": found}

    def describe_target_group_attributes(self, **kwargs):
        self._called("describe_target_group_attributes", kwargs)
        return {"Attributes": [{"Key": key, "Value": value} for key, value in self.tg_attributes.items()]}

    def describe_tags(self, **kwargs):
        self._called("describe_tags", kwargs)
        return {"TagDescriptions": [{"ResourceArn": arn, "Tags": list(self.tags.get(arn, []))}
                                    for arn in kwargs["ResourceArns"]]}

    def describe_load_balancers(self, **kwargs):
        self._called("describe_load_balancers", kwargs)
        found = [copy.deepcopy(self.balancers[name]) for name in kwargs["Names"] if name in self.balancers]
        if not found:
            raise not_found("LoadBalancerNotFound")
        return {"LoadBalancers": found}

    def describe_load_balancer_attributes(self, **kwargs):
        self._called("describe_load_balancer_attributes", kwargs)
        return {"Attributes": [{"Key": key, "Value": value} for key, value in self.lb_attributes.items()]}

    def describe_listeners(self, **kwargs):
        self._called("describe_listeners", kwargs)
        if "Marker" not in kwargs and len(self.listeners) > 1:  # two pages
            return {"Listeners": copy.deepcopy(self.listeners[:1]), "NextMarker": "page2"}
        return {"Listeners": copy.deepcopy(self.listeners[1:] if "Marker" in kwargs else self.listeners)}


class FakeEc2:
    def __init__(self):
        self.groups = [{"GroupId": "sg-0aa", "GroupName": "mlflow-lb", "VpcId": VPC},
                       {"GroupId": "sg-0dd", "GroupName": "default", "VpcId": VPC}]

    def describe_security_groups(self, **kwargs):
        assert kwargs.pop("aws_retry") is True
        groups = self.groups
        for entry in kwargs.get("Filters", []):
            key = {"vpc-id": "VpcId", "group-name": "GroupName"}[entry["Name"]]
            groups = [group for group in groups if group[key] in entry["Values"]]
        return {"SecurityGroups": copy.deepcopy(groups)}


def forward_action(arn):
    return {"Type": "forward", "TargetGroupArn": arn,
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": arn, "Weight": 1}],
                              "TargetGroupStickinessConfig": {"Enabled": False}}}


def listener(port, protocol, actions, **extra):
    return dict({"ListenerArn": "%s/listener-%d" % (LB_ARN.replace(":loadbalancer/", ":listener/"), port),
                 "LoadBalancerArn": LB_ARN, "Port": port, "Protocol": protocol, "DefaultActions": actions}, **extra)


@pytest.fixture
def fakes():
    services = {"elbv2": FakeElbv2(), "ec2": FakeEc2()}
    return services


def run(kind, fakes, **overrides):
    spec, check = drift_elbv2.KINDS[kind]
    args = dict(TARGET_GROUP if kind == "elb_target_group" else LOAD_BALANCER)
    args.update(overrides)
    return check(fakes.__getitem__, validated(spec, args, kind))


TARGET_GROUP = dict(name="mlflow", protocol="HTTP", port=5000, target_type="ip", vpc_id=VPC,
                    health_check_protocol="HTTP", health_check_path="/health", health_check_interval=15,
                    health_check_timeout=5, healthy_threshold_count=2, unhealthy_threshold_count=3,
                    successful_response_codes="200", deregistration_delay_timeout=30, modify_targets=False,
                    tags={"app": "mlflow"}, purge_tags=True, state="present")
LOAD_BALANCER = dict(name="mlflow", scheme="internet-facing", subnets=["subnet-a", "subnet-b"],
                     security_groups=["sg-0aa"],
                     listeners=[{"Protocol": "HTTP", "Port": 80,
                                 "DefaultActions": [{"Type": "forward", "TargetGroupName": "mlflow"}]}],
                     purge_listeners=True, idle_timeout=60, deletion_protection=False,
                     http_drop_invalid_header_fields=True, tags={"app": "mlflow"}, purge_tags=True, wait=False,
                     state="present")
HTTPS_LISTENERS = [
    {"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "redirect", "RedirectConfig": dict(REDIRECT)}]},
    {"Protocol": "HTTPS", "Port": 443, "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
     "Certificates": [{"CertificateArn": CERT}], "DefaultActions": [{"Type": "forward", "TargetGroupName": "mlflow"}]},
]


def https_listeners():
    return [
        listener(80, "HTTP", [{"Type": "redirect", "RedirectConfig": dict(REDIRECT)}]),
        listener(443, "HTTPS", [forward_action(TG_ARN)], SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                 Certificates=[{"CertificateArn": CERT}]),
    ]


# --- elb_target_group ----------------------------------------------------------------------------------------------

def test_target_group_in_sync(fakes):
    result = run("elb_target_group", fakes)
    assert result == {"exists": True, "in_sync": True, "differences": [],
                      "resource": {"target_group_arn": TG_ARN, "target_group_name": "mlflow",
                                   "load_balancer_arns": [LB_ARN]}}


def test_target_group_missing(fakes):
    result = run("elb_target_group", fakes, name="other")
    assert result == {"exists": False, "in_sync": False, "differences": ["exists"], "resource": {}}


@pytest.mark.parametrize("change, option", [
    ({"HealthCheckPath": "/"}, "health_check_path"),
    ({"HealthCheckIntervalSeconds": 30}, "health_check_interval"),
    ({"HealthCheckTimeoutSeconds": 6}, "health_check_timeout"),
    ({"HealthyThresholdCount": 5}, "healthy_threshold_count"),
    ({"UnhealthyThresholdCount": 2}, "unhealthy_threshold_count"),
    ({"Matcher": {"HttpCode": "200,302"}}, "successful_response_codes"),
    ({"Port": 80}, "port"),
    ({"Protocol": "HTTPS"}, "protocol"),
    ({"VpcId": "vpc-other"}, "vpc_id"),
    ({"TargetType": "instance"}, "target_type"),
])
def test_target_group_each_difference(fakes, change, option):
    fakes["elbv2"].target_groups["mlflow"].update(change)
    result = run("elb_target_group", fakes)
    assert result["exists"] and not result["in_sync"] and result["differences"] == [option]


def test_target_group_health_check_protocol_changed(fakes):
    # From HTTP to TCP: the protocol differs; path and matcher are then not compared by the module.
    fakes["elbv2"].target_groups["mlflow"].update(HealthCheckProtocol="TCP", HealthCheckPath=None, Matcher={})
    assert run("elb_target_group", fakes)["differences"] == ["health_check_protocol"]


def test_target_group_matcher_is_a_set_and_protocol_case_is_ignored(fakes):
    fakes["elbv2"].target_groups["mlflow"]["Matcher"] = {"HttpCode": "302,200"}
    assert run("elb_target_group", fakes, successful_response_codes="200,302", protocol="http",
               health_check_protocol="http")["in_sync"]


def test_target_group_attributes_and_tags(fakes):
    fakes["elbv2"].tg_attributes["deregistration_delay.timeout_seconds"] = "300"
    fakes["elbv2"].tags[TG_ARN].append({"Key": "extra", "Value": "1"})
    assert run("elb_target_group", fakes)["differences"] == ["deregistration_delay_timeout", "tags"]
    # Without purging, an extra tag is no difference; other attributes (stickiness...) are never set.
    assert run("elb_target_group", fakes, purge_tags=False, deregistration_delay_timeout=300)["in_sync"]
    assert run("elb_target_group", fakes, tags=None, deregistration_delay_timeout=None)["in_sync"]
    fakes["elbv2"].tg_attributes.pop("deregistration_delay.timeout_seconds")
    assert run("elb_target_group", fakes, tags=None)["differences"] == ["deregistration_delay_timeout"]


def test_target_group_modify_targets_is_never_compared(fakes):
    result = run("elb_target_group", fakes, modify_targets=True)
    assert result["differences"] == ["modify_targets"]
    # Its default is true.
    spec, check = drift_elbv2.KINDS["elb_target_group"]
    args = dict((key, value) for key, value in TARGET_GROUP.items() if key != "modify_targets")
    assert check(fakes.__getitem__, validated(spec, args, "tg"))["differences"] == ["modify_targets"]


def test_target_group_unknown_options_and_absent_fail_validation():
    spec = drift_elbv2.TARGET_GROUP_SPEC
    for extra in ({"targets": []}, {"state": "absent"}, {"stickiness_enabled": True}, {"port": "eighty"}):
        with pytest.raises(InvalidInput):
            validated(spec, dict(TARGET_GROUP, **extra), "elb_target_group")


# --- elb_application_lb --------------------------------------------------------------------------------------------

def test_load_balancer_in_sync_with_target_group_name(fakes):
    result = run("elb_application_lb", fakes)
    assert result["in_sync"] and result["differences"] == []
    assert result["resource"] == {
        "load_balancer_arn": LB_ARN, "dns_name": "mlflow-1.elb.amazonaws.com", "canonical_hosted_zone_id": "Z35SXDOTRQ7X7K",
        "state": "active", "listener_arns": {"80": fakes["elbv2"].listeners[0]["ListenerArn"]}}


def test_load_balancer_in_sync_with_target_group_arn(fakes):
    listeners = [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}]}]
    assert run("elb_application_lb", fakes, listeners=listeners)["in_sync"]
    # Forwarding to another group (by name or ARN) differs.
    fakes["elbv2"].target_groups["other"] = dict(fakes["elbv2"].target_groups["mlflow"], TargetGroupArn=OTHER_TG_ARN)
    for action in ({"Type": "forward", "TargetGroupName": "other"}, {"Type": "forward", "TargetGroupArn": OTHER_TG_ARN}):
        listeners = [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [action]}]
        assert run("elb_application_lb", fakes, listeners=listeners)["differences"] == ["listeners"]


def test_load_balancer_forward_to_missing_target_group_differs(fakes):
    listeners = [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupName": "gone"}]}]
    assert run("elb_application_lb", fakes, listeners=listeners)["differences"] == ["listeners"]


def test_load_balancer_missing(fakes):
    assert run("elb_application_lb", fakes, name="other") == {
        "exists": False, "in_sync": False, "differences": ["exists"], "resource": {}}


def test_load_balancer_https_with_redirect(fakes):
    fakes["elbv2"].listeners = https_listeners()
    result = run("elb_application_lb", fakes, listeners=copy.deepcopy(HTTPS_LISTENERS))
    assert result["in_sync"], result
    assert sorted(result["resource"]["listener_arns"]) == ["443", "80"]
    # A redirect that differs in one field, another certificate, another policy: the listeners differ.
    for mutate in (lambda listeners: listeners[0]["DefaultActions"][0]["RedirectConfig"].update(StatusCode="HTTP_302"),
                   lambda listeners: listeners[0]["DefaultActions"][0]["RedirectConfig"].pop("Query"),
                   lambda listeners: listeners[1].update(Certificates=[{"CertificateArn": CERT + "2"}]),
                   lambda listeners: listeners[1].update(SslPolicy="ELBSecurityPolicy-2016-08"),
                   lambda listeners: listeners[1].update(Protocol="HTTP", SslPolicy=None, Certificates=None)):
        listeners = copy.deepcopy(HTTPS_LISTENERS)
        mutate(listeners)
        assert run("elb_application_lb", fakes, listeners=listeners)["differences"] == ["listeners"]


def test_load_balancer_https_without_policy_fails_in_the_module(fakes):
    fakes["elbv2"].listeners = https_listeners()
    listeners = copy.deepcopy(HTTPS_LISTENERS)
    del listeners[1]["SslPolicy"]
    assert run("elb_application_lb", fakes, listeners=listeners)["differences"] == ["listeners"]


def test_load_balancer_oidc_is_never_in_sync(fakes):
    oidc = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
        "Issuer": "https://idp", "AuthorizationEndpoint": "https://idp/auth", "TokenEndpoint": "https://idp/token",
        "UserInfoEndpoint": "https://idp/userinfo", "ClientId": "client", "ClientSecret": "secret", "Scope": "openid",
        "SessionTimeout": 604800, "OnUnauthenticatedRequest": "authenticate"}}
    current_oidc = copy.deepcopy(oidc)
    del current_oidc["AuthenticateOidcConfig"]["ClientSecret"]
    current = https_listeners()
    current[1]["DefaultActions"] = [current_oidc, dict(forward_action(TG_ARN), Order=2)]
    fakes["elbv2"].listeners = current
    listeners = copy.deepcopy(HTTPS_LISTENERS)
    listeners[1]["DefaultActions"] = [oidc, {"Type": "forward", "TargetGroupName": "mlflow", "Order": 2}]
    result = run("elb_application_lb", fakes, listeners=listeners)
    assert result["differences"] == ["listeners"] and not result["in_sync"]
    assert "secret" not in repr(result)


def test_load_balancer_ordered_or_cognito_actions_differ_as_in_the_module(fakes):
    cognito = {"Type": "authenticate-cognito", "Order": 1, "AuthenticateCognitoConfig": {
        "UserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/x", "UserPoolClientId": "c",
        "UserPoolDomain": "d"}}
    current = https_listeners()
    current[1]["DefaultActions"] = [copy.deepcopy(cognito), dict(forward_action(TG_ARN), Order=2)]
    fakes["elbv2"].listeners = current
    listeners = copy.deepcopy(HTTPS_LISTENERS)
    listeners[1]["DefaultActions"] = [cognito, {"Type": "forward", "TargetGroupName": "mlflow", "Order": 2}]
    assert run("elb_application_lb", fakes, listeners=listeners)["differences"] == ["listeners"]


def test_load_balancer_fixed_response(fakes):
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain",
                                                               "MessageBody": "down"}}
    fakes["elbv2"].listeners = [listener(80, "HTTP", [copy.deepcopy(fixed)])]
    listeners = [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [copy.deepcopy(fixed)]}]
    assert run("elb_application_lb", fakes, listeners=listeners)["in_sync"]
    fixed["FixedResponseConfig"]["StatusCode"] = "500"
    listeners = [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [fixed]}]
    assert run("elb_application_lb", fakes, listeners=listeners)["differences"] == ["listeners"]


def test_load_balancer_listener_set_differences(fakes):
    # An extra listener is purged; without purging it stays and is no difference.
    fakes["elbv2"].listeners.append(listener(8080, "HTTP", [forward_action(TG_ARN)]))
    assert run("elb_application_lb", fakes)["differences"] == ["listeners"]
    assert run("elb_application_lb", fakes, purge_listeners=False)["in_sync"]
    # A missing listener is added.
    fakes["elbv2"].listeners = []
    assert run("elb_application_lb", fakes)["differences"] == ["listeners"]
    assert run("elb_application_lb", fakes, listeners=None)["in_sync"]
    fakes["elbv2"].listeners = [listener(80, "HTTP", [forward_action(TG_ARN)])]
    assert run("elb_application_lb", fakes, listeners=None)["differences"] == ["listeners"]


@pytest.mark.parametrize("attribute, value, option", [
    ("idle_timeout.timeout_seconds", "120", "idle_timeout"),
    ("deletion_protection.enabled", "true", "deletion_protection"),
    ("routing.http.drop_invalid_header_fields.enabled", "false", "http_drop_invalid_header_fields"),
])
def test_load_balancer_attribute_differences(fakes, attribute, value, option):
    fakes["elbv2"].lb_attributes[attribute] = value
    assert run("elb_application_lb", fakes)["differences"] == [option]
    del fakes["elbv2"].lb_attributes[attribute]
    assert run("elb_application_lb", fakes)["differences"] == [option]


def test_load_balancer_access_logs(fakes):
    logs = dict(access_logs_enabled=True, access_logs_s3_bucket="logs", access_logs_s3_prefix="mlflow")
    assert run("elb_application_lb", fakes, **logs)["differences"] == [
        "access_logs_enabled", "access_logs_s3_bucket", "access_logs_s3_prefix"]
    fakes["elbv2"].lb_attributes.update({"access_logs.s3.enabled": "true", "access_logs.s3.bucket": "logs",
                                         "access_logs.s3.prefix": "mlflow"})
    assert run("elb_application_lb", fakes, **logs)["in_sync"]
    # Not given: the module leaves access logs alone.
    assert run("elb_application_lb", fakes)["in_sync"]


def test_load_balancer_network_differences(fakes):
    balancer = fakes["elbv2"].balancers["mlflow"]
    balancer["SecurityGroups"] = ["sg-0aa", "sg-0bb"]
    balancer["Scheme"] = "internal"
    balancer["AvailabilityZones"] = balancer["AvailabilityZones"][:1]
    balancer["IpAddressType"] = "dualstack"
    assert run("elb_application_lb", fakes)["differences"] == ["scheme", "security_groups", "subnets"]
    assert run("elb_application_lb", fakes, ip_address_type="ipv4")["differences"] == [
        "ip_address_type", "scheme", "security_groups", "subnets"]


def test_load_balancer_security_groups_given_by_id_need_no_ec2_client(fakes):
    asked = []
    services = dict(fakes)

    def client(service):
        asked.append(service)
        return services[service]

    spec, check = drift_elbv2.KINDS["elb_application_lb"]
    assert check(client, validated(spec, dict(LOAD_BALANCER, security_groups=["sg-0aa"]), "elb_application_lb"))["in_sync"]
    assert "ec2" not in asked


def test_load_balancer_security_groups_by_name_and_default(fakes):
    assert run("elb_application_lb", fakes, security_groups=["mlflow-lb"])["in_sync"]
    assert run("elb_application_lb", fakes, security_groups=["no-such-group"])["differences"] == ["security_groups"]
    assert run("elb_application_lb", fakes, security_groups=["sg-0dd"])["differences"] == ["security_groups"]
    # An empty list means the VPC's default group.
    fakes["elbv2"].balancers["mlflow"]["SecurityGroups"] = ["sg-0dd"]
    assert run("elb_application_lb", fakes, security_groups=[])["in_sync"]
    assert run("elb_application_lb", fakes, security_groups=None)["differences"] == ["security_groups"]
    assert run("elb_application_lb", fakes, security_groups=["sg-0dd"], subnets=None)["differences"] == ["subnets"]


def test_load_balancer_tags(fakes):
    fakes["elbv2"].tags[LB_ARN] = [{"Key": "app", "Value": "other"}]
    assert run("elb_application_lb", fakes)["differences"] == ["tags"]
    fakes["elbv2"].tags[LB_ARN] = [{"Key": "app", "Value": "mlflow"}, {"Key": "extra", "Value": "x"}]
    assert run("elb_application_lb", fakes)["differences"] == ["tags"]
    assert run("elb_application_lb", fakes, purge_tags=False)["in_sync"]
    assert run("elb_application_lb", fakes, tags=None)["in_sync"]


def test_load_balancer_of_another_type(fakes):
    fakes["elbv2"].balancers["mlflow"]["Type"] = "network"
    result = run("elb_application_lb", fakes)
    assert result["exists"] and result["differences"] == ["name"]


def test_load_balancer_not_active_is_compared_as_the_module_does(fakes):
    fakes["elbv2"].balancers["mlflow"]["State"] = {"Code": "provisioning"}
    result = run("elb_application_lb", fakes)
    assert result["in_sync"] and result["resource"]["state"] == "provisioning"


def test_load_balancer_unknown_options_fail_validation():
    spec = drift_elbv2.APPLICATION_LB_SPEC
    rules = [dict(LOAD_BALANCER["listeners"][0], Rules=[])]
    for extra in ({"listeners": rules}, {"state": "absent"}, {"http2": True}, {"subnet_mappings": []}):
        with pytest.raises(InvalidInput):
            validated(spec, dict(LOAD_BALANCER, **extra), "elb_application_lb")
