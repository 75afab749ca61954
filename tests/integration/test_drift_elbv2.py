"""The ELBv2 drift kinds agree with community.aws.elb_target_group and amazon.aws.elb_application_lb on the
proving ground.

For each kind: the acting module creates the resource with the role's arguments; the kind says in sync and the
module, run again, changes nothing; a change made behind the module's back makes the kind name the option and the
module report a change; after that run the kind says in sync again.
"""

from __future__ import annotations

import tempfile

import pytest

from helpers import aws_resources
from helpers.ansible import import_path, run_tasks

import_path(tempfile.mkdtemp(prefix="mlops-mlflow-drift-elbv2-"))

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from ansible_collections.mlops.mlflow.plugins.module_utils import drift_elbv2  # noqa: E402
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import validated  # noqa: E402

pytestmark = pytest.mark.slow

NAME = "mlflow"
TAGS = {"application": "mlflow", "team": "ml"}
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
REDIRECT = {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
            "StatusCode": "HTTP_301"}
FORWARD = {"Type": "forward", "TargetGroupName": NAME}


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


@pytest.fixture
def network(aws):
    """A VPC with subnets in two zones and two security groups."""
    return aws_resources.network(aws.client("ec2"), 40, "ab", "mlflow-lb", "load balancer")


def check(aws, kind, spec):
    argument_spec, checker = drift_elbv2.KINDS[kind]

    def client(service):
        return RetryingBotoClientWrapper(aws.client(service), AWSRetry.jittered_backoff())
    return checker(client, validated(argument_spec, spec, kind))


def target_group_args(network):
    """What roles/mlflow_aws_fargate/tasks/load_balancer.yml passes."""
    return dict(name=NAME, protocol="HTTP", port=5000, target_type="ip", vpc_id=network["vpc"],
                health_check_protocol="HTTP", health_check_path="/health", health_check_interval=15,
                health_check_timeout=5, healthy_threshold_count=2, unhealthy_threshold_count=3,
                successful_response_codes="200", deregistration_delay_timeout=30, modify_targets=False,
                tags=dict(TAGS), purge_tags=True, state="present")


def load_balancer_args(network, listeners):
    return dict(name=NAME, scheme="internet-facing", subnets=network["subnets"], security_groups=network["groups"][:1],
                listeners=listeners, purge_listeners=True, idle_timeout=60, deletion_protection=False,
                http_drop_invalid_header_fields=True, tags=dict(TAGS), purge_tags=True, wait=False, state="present")


def http_listeners():
    return [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [dict(FORWARD)]}]


def https_listeners(certificate_arn):
    return [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "redirect", "RedirectConfig": dict(REDIRECT)}]},
            {"Protocol": "HTTPS", "Port": 443, "SslPolicy": SSL_POLICY, "Certificates": [{"CertificateArn": certificate_arn}],
             "DefaultActions": [dict(FORWARD)]}]


def changes_of(run):
    return [result.get("changed") for result in run.results]


def agree_after(aws, play, module, args, kind, change, option):
    """``change()`` behind the module's back: the kind names ``option``, the module changes it, then in sync."""
    change()
    result = check(aws, kind, args)
    assert not result["in_sync"] and option in result["differences"], (option, result)
    run = play([{module: args, "name": "repair " + option}])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True], option
    result = check(aws, kind, args)
    assert result["in_sync"], (option, result)


def test_target_group_agrees_with_elb_target_group(aws, play, network):
    module = "community.aws.elb_target_group"
    args = target_group_args(network)
    assert check(aws, "elb_target_group", args)["differences"] == ["exists"]
    run = play([{module: args, "name": "create"}])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True]
    result = check(aws, "elb_target_group", args)
    assert result["in_sync"], result
    assert result["resource"]["target_group_arn"] == run.results[0]["target_group_arn"]
    assert result["resource"]["target_group_name"] == NAME and result["resource"]["load_balancer_arns"] == []
    run = play([{module: args, "name": "again"}])
    assert run.rc == 0, run.output
    assert changes_of(run) == [False]

    elbv2 = aws.client("elbv2")
    arn = result["resource"]["target_group_arn"]
    agree_after(aws, play, module, args, "elb_target_group",
                lambda: elbv2.modify_target_group(TargetGroupArn=arn, HealthCheckPath="/"), "health_check_path")
    agree_after(aws, play, module, args, "elb_target_group",
                lambda: elbv2.modify_target_group(TargetGroupArn=arn, HealthCheckIntervalSeconds=30),
                "health_check_interval")
    agree_after(aws, play, module, args, "elb_target_group",
                lambda: elbv2.modify_target_group(TargetGroupArn=arn, Matcher={"HttpCode": "200-299"}),
                "successful_response_codes")
    agree_after(aws, play, module, args, "elb_target_group",
                lambda: elbv2.modify_target_group_attributes(
                    TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}]),
                "deregistration_delay_timeout")
    agree_after(aws, play, module, args, "elb_target_group",
                lambda: elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "extra", "Value": "x"}]), "tags")
    agree_after(aws, play, module, args, "elb_target_group",
                lambda: elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "team", "Value": "other"}]), "tags")

    # Without purging, an extra tag is no difference for either.
    elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "extra", "Value": "x"}])
    kept = dict(args, purge_tags=False)
    assert check(aws, "elb_target_group", kept)["in_sync"]
    run = play([{module: kept, "name": "keep tags"}])
    assert run.rc == 0, run.output
    assert changes_of(run) == [False]


def create_load_balancer(aws, play, network, listeners):
    target_group = target_group_args(network)
    args = load_balancer_args(network, listeners)
    assert check(aws, "elb_application_lb", args)["differences"] == ["exists"]
    run = play([{"community.aws.elb_target_group": target_group, "name": "target group"},
                {"amazon.aws.elb_application_lb": args, "name": "create"}])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True]
    result = check(aws, "elb_application_lb", args)
    assert result["in_sync"], result
    created = run.results[1]
    assert result["resource"]["load_balancer_arn"] == created["load_balancer_arn"]
    assert result["resource"]["dns_name"] == created["dns_name"]
    assert result["resource"]["canonical_hosted_zone_id"] == created["canonical_hosted_zone_id"]
    assert result["resource"]["listener_arns"] == dict(
        (str(listener["port"]), listener["listener_arn"]) for listener in created["listeners"])
    run = play([{"amazon.aws.elb_application_lb": args, "name": "again"}])
    assert run.rc == 0, run.output
    assert changes_of(run) == [False]
    # The target group now names the load balancer.
    assert check(aws, "elb_target_group", target_group)["resource"]["load_balancer_arns"] == [created["load_balancer_arn"]]
    return args, result["resource"]


def test_load_balancer_agrees_with_elb_application_lb(aws, play, network):
    module = "amazon.aws.elb_application_lb"
    args, resource = create_load_balancer(aws, play, network, http_listeners())
    elbv2 = aws.client("elbv2")
    arn = resource["load_balancer_arn"]
    listener_arn = resource["listener_arns"]["80"]

    def set_attribute(key, value):
        return lambda: elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[{"Key": key, "Value": value}])

    agree_after(aws, play, module, args, "elb_application_lb", set_attribute("idle_timeout.timeout_seconds", "120"),
                "idle_timeout")
    agree_after(aws, play, module, args, "elb_application_lb", set_attribute("deletion_protection.enabled", "true"),
                "deletion_protection")
    agree_after(aws, play, module, args, "elb_application_lb",
                set_attribute("routing.http.drop_invalid_header_fields.enabled", "false"),
                "http_drop_invalid_header_fields")
    agree_after(aws, play, module, args, "elb_application_lb",
                lambda: elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=network["groups"]),
                "security_groups")
    agree_after(aws, play, module, args, "elb_application_lb",
                lambda: elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "extra", "Value": "x"}]), "tags")
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain"}}
    agree_after(aws, play, module, args, "elb_application_lb",
                lambda: elbv2.modify_listener(ListenerArn=listener_arn, DefaultActions=[fixed]), "listeners")
    agree_after(aws, play, module, args, "elb_application_lb",
                lambda: elbv2.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=8080, DefaultActions=[fixed]),
                "listeners")


def test_load_balancer_forward_by_arn_or_name_agree(aws, play, network):
    args, resource = create_load_balancer(aws, play, network, http_listeners())
    group_arn = check(aws, "elb_target_group", target_group_args(network))["resource"]["target_group_arn"]
    by_arn = dict(args, listeners=[{"Protocol": "HTTP", "Port": 80,
                                    "DefaultActions": [{"Type": "forward", "TargetGroupArn": group_arn}]}])
    assert check(aws, "elb_application_lb", by_arn)["in_sync"]
    run = play([{"amazon.aws.elb_application_lb": by_arn, "name": "by ARN"}])
    assert run.rc == 0, run.output
    assert changes_of(run) == [False]


def test_https_load_balancer_with_redirect_agrees(aws, play, network):
    try:
        certificate_arn = aws_resources.imported_certificate(aws.client("acm"))
    except Exception as error:  # noqa: BLE001 - whatever the proving ground refuses
        pytest.skip("the proving ground cannot import an ACM certificate: {0}".format(error))
    module = "amazon.aws.elb_application_lb"
    args, resource = create_load_balancer(aws, play, network, https_listeners(certificate_arn))
    assert sorted(resource["listener_arns"]) == ["443", "80"]
    elbv2 = aws.client("elbv2")
    other = dict(REDIRECT, StatusCode="HTTP_302")
    agree_after(aws, play, module, args, "elb_application_lb",
                lambda: elbv2.modify_listener(ListenerArn=resource["listener_arns"]["80"],
                                              DefaultActions=[{"Type": "redirect", "RedirectConfig": other}]),
                "listeners")
    agree_after(aws, play, module, args, "elb_application_lb",
                lambda: elbv2.modify_listener(ListenerArn=resource["listener_arns"]["443"],
                                              SslPolicy="ELBSecurityPolicy-2016-08"),
                "listeners")

    # An OIDC action is never in sync: its client secret cannot be read back (and the module always changes it).
    oidc = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
        "Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/auth",
        "TokenEndpoint": "https://idp.example.com/token", "UserInfoEndpoint": "https://idp.example.com/userinfo",
        "ClientId": "client", "ClientSecret": "secret", "Scope": "openid", "SessionTimeout": 604800,
        "OnUnauthenticatedRequest": "authenticate"}}
    listeners = https_listeners(certificate_arn)
    listeners[1]["DefaultActions"] = [oidc, dict(FORWARD, Order=2)]
    with_oidc = dict(args, listeners=listeners)
    # The module's re-run on an existing two-action listener sorts actions by keys holding None and dicts: it fails
    # (TypeError) or changes the listener; either way it is no "changed=false".
    run = play([{module: with_oidc, "name": "oidc"},
                {module: with_oidc, "name": "oidc again", "ignore_errors": True}])
    assert run.rc == 0, run.output
    assert run.results[0]["changed"] is True
    again = run.results[1]
    assert again.get("failed") or again.get("changed"), again
    result = check(aws, "elb_application_lb", with_oidc)
    assert not result["in_sync"] and result["differences"] == ["listeners"]
    assert "secret" not in repr(result)
