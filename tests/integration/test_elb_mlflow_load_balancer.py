"""mlops.mlflow.elb_mlflow_load_balancer run by ansible-playbook against the proving ground, and its drift kind.

Each test runs the module as a user would (a playbook on localhost, the AWS endpoint from the environment alone),
checks what ELBv2 holds afterwards through boto3 and what the module asked of ELBv2 through the proving ground's
request log.
"""

from __future__ import annotations

import tempfile

import pytest

from helpers import aws_resources
from helpers.ansible import import_path, run_tasks

import_path(tempfile.mkdtemp(prefix="mlops-mlflow-elb-lb-"))

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from ansible_collections.mlops.mlflow.plugins.module_utils import drift_mlops_modules  # noqa: E402
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import validated  # noqa: E402

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.elb_mlflow_load_balancer"
NAME = "mlflow"
TAGS = {"application": "mlflow", "team": "ml"}
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
SECRET = "integration-client-secret"
REDIRECT = {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301"}
OIDC = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
    "Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/auth",
    "TokenEndpoint": "https://idp.example.com/token", "UserInfoEndpoint": "https://idp.example.com/userinfo",
    "ClientId": "client", "ClientSecret": SECRET, "Scope": "openid", "SessionTimeout": 604800,
    "OnUnauthenticatedRequest": "authenticate"}}


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


@pytest.fixture
def network(aws):
    """A VPC with subnets in two zones and two security groups."""
    return aws_resources.network(aws.client("ec2"), 41, "ab", "mlflow-lb", "load balancer")


@pytest.fixture
def certificate_arn(aws):
    return aws_resources.imported_certificate(aws.client("acm"))


def module_args(network, listeners=None, **changes):
    """What roles/mlflow_aws_fargate would pass."""
    args = dict(name=NAME, scheme="internet-facing", subnets=network["subnets"], security_groups=network["groups"][:1],
                idle_timeout=60, deletion_protection=False, http_drop_invalid_header_fields=True,
                target_group=dict(vpc_id=network["vpc"], port=5000, protocol="HTTP", target_type="ip", health_check_path="/health",
                                  health_check_protocol="HTTP", health_check_interval=15, health_check_timeout=5,
                                  healthy_threshold_count=2, unhealthy_threshold_count=3, successful_response_codes="200",
                                  deregistration_delay_timeout=30),
                listeners=listeners if listeners is not None else http_listeners(), purge_listeners=True,
                tags=dict(TAGS), purge_tags=True, wait=False, state="present")
    args.update(changes)
    return args


def http_listeners():
    return [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupName": NAME}]}]


def https_listeners(certificate_arn, oidc=False):
    forward = {"Type": "forward", "TargetGroupName": NAME}
    actions = [dict(OIDC), dict(forward, Order=2)] if oidc else [forward]
    return [{"Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "redirect", "RedirectConfig": dict(REDIRECT)}]},
            {"Protocol": "HTTPS", "Port": 443, "SslPolicy": SSL_POLICY, "Certificates": [{"CertificateArn": certificate_arn}],
             "DefaultActions": actions}]


def task(args, **keywords):
    return dict({MODULE: args}, **keywords)


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def changes_of(run):
    return [result.get("changed") for result in run.results]


def drift(aws, args):
    argument_spec, checker = drift_mlops_modules.KINDS["elb_mlflow_load_balancer"]

    def client(service):
        return RetryingBotoClientWrapper(aws.client(service), AWSRetry.jittered_backoff())
    return checker(client, validated(argument_spec, args, "elb_mlflow_load_balancer"))


def attributes(aws, arn):
    answer = aws.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    return dict((item["Key"], item["Value"]) for item in answer)


def test_creates_in_one_run_then_changes_nothing(aws, play, network):
    args = module_args(network)
    assert drift(aws, args)["differences"] == ["exists"]
    start = aws.control.last_request_id()
    run = play([task(args, name="create")])
    assert run.rc == 0, run.output
    created = run.results[0]
    assert created["changed"] and created["changes"] == ["target_group created", "load_balancer created", "listener 80 created"]
    assert mutating(aws, start) == ["CreateTargetGroup", "ModifyTargetGroupAttributes", "CreateLoadBalancer",
                                    "ModifyLoadBalancerAttributes", "CreateListener"]
    balancer, group = created["load_balancer"], created["target_group"]
    assert balancer["scheme"] == "internet-facing" and balancer["dns_name"] and balancer["tags"] == TAGS
    assert group["tags"] == TAGS and group["health_check_path"] == "/health" and group["port"] == 5000
    assert created["listeners"][0]["default_actions"][0]["target_group_arn"] == group["target_group_arn"]

    elbv2 = aws.client("elbv2")
    stored = attributes(aws, balancer["load_balancer_arn"])
    assert stored["routing.http.drop_invalid_header_fields.enabled"] == "true" and stored["idle_timeout.timeout_seconds"] == "60"
    delay = elbv2.describe_target_group_attributes(TargetGroupArn=group["target_group_arn"])["Attributes"]
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "30"} in delay

    result = drift(aws, args)
    assert result["in_sync"], result
    assert result["resource"] == {"load_balancer_arn": balancer["load_balancer_arn"], "dns_name": balancer["dns_name"],
                                  "canonical_hosted_zone_id": balancer["canonical_hosted_zone_id"],
                                  "target_group_arn": group["target_group_arn"]}

    start = aws.control.last_request_id()
    run = play([task(args, name="again", diff=True)])
    assert run.rc == 0, run.output
    again = run.results[0]
    assert again["changed"] is False and again["changes"] == []
    assert again["diff"]["before"] == again["diff"]["after"]
    assert mutating(aws, start) == []

    # A change behind the module's back: the kind names it, the module repairs only that.
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=balancer["load_balancer_arn"],
                                          Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "120"}])
    elbv2.modify_target_group(TargetGroupArn=group["target_group_arn"], HealthCheckPath="/")
    result = drift(aws, args)
    assert not result["in_sync"] and result["differences"] == ["idle_timeout", "target_group"], result
    start = aws.control.last_request_id()
    run = play([task(args, name="repair")])
    assert run.rc == 0, run.output
    assert run.results[0]["changes"] == ["target_group health_check modified", "load_balancer attributes modified"]
    assert mutating(aws, start) == ["ModifyTargetGroup", "ModifyLoadBalancerAttributes"]
    assert drift(aws, args)["in_sync"]


def test_https_with_redirect_and_oidc_converge(aws, play, network, certificate_arn):
    args = module_args(network, https_listeners(certificate_arn))
    oidc_args = module_args(network, https_listeners(certificate_arn, oidc=True))
    run = play([task(args, name="https"), task(args, name="https again"),
                task(oidc_args, name="oidc"), task(oidc_args, name="oidc again", diff=True)])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False, True, False]
    assert run.results[2]["changes"] == ["listener 443 modified"]
    # What the module returns never holds the secret; Ansible's ``invocation`` (the task's arguments) does, which
    # is why a task that passes a client secret needs no_log.
    for result in run.results:
        assert SECRET not in repr(dict((key, value) for key, value in result.items() if key != "invocation"))
    assert drift(aws, oidc_args)["in_sync"]
    listeners = run.results[3]["listeners"]
    assert [listener["port"] for listener in listeners] == [80, 443]
    assert listeners[1]["default_actions"][0]["type"] == "authenticate-oidc"

    # With oidc_client_secret_update=always, the listener is modified every run, and the kind is never in sync.
    always = dict(oidc_args, oidc_client_secret_update="always")
    assert drift(aws, always)["differences"] == ["listeners"]
    start = aws.control.last_request_id()
    run = play([task(always, name="always")])
    assert run.rc == 0, run.output
    assert run.results[0]["changes"] == ["listener 443 modified"]
    assert mutating(aws, start) == ["ModifyListener"]

    # Back to plain HTTP: the 443 listener goes (purge_listeners), the 80 one forwards again.
    run = play([task(module_args(network), name="http only")])
    assert run.rc == 0, run.output
    assert run.results[0]["changes"] == ["listener 80 modified", "listener 443 deleted"]


def test_check_mode_on_an_existing_stack_changes_nothing(aws, play, network):
    args = module_args(network)
    changed = module_args(network, security_groups=network["groups"], idle_timeout=300, tags={"application": "mlflow"},
                          listeners=http_listeners() + [{"Protocol": "HTTP", "Port": 8080, "DefaultActions": [
                              {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]}])
    run = play([task(args, name="create")])
    assert run.rc == 0, run.output
    start = aws.control.last_request_id()
    run = play([task(changed, name="check", check_mode=True, diff=True)])
    assert run.rc == 0, run.output
    checked = run.results[0]
    assert checked["changed"] is True
    assert checked["changes"] == ["target_group tags modified", "load_balancer security_groups modified",
                                  "load_balancer attributes modified", "load_balancer tags modified", "listener 8080 created"]
    before, after = checked["diff"]["before"], checked["diff"]["after"]
    assert before["load_balancer"]["attributes"]["idle_timeout.timeout_seconds"] == "60"
    assert after["load_balancer"]["attributes"]["idle_timeout.timeout_seconds"] == "300"
    assert mutating(aws, start) == []
    assert drift(aws, args)["in_sync"]


def test_immutable_settings_fail_with_a_message(aws, play, network):
    run = play([task(module_args(network), name="create"),
                task(module_args(network, scheme="internal"), name="scheme", ignore_errors=True),
                task(module_args(network, target_group=dict(vpc_id=network["vpc"], port=8080)), name="port", ignore_errors=True)])
    assert run.rc == 0, run.output
    scheme, port = run.results[1], run.results[2]
    assert scheme["failed"] and "cannot change the scheme" in scheme["msg"]
    assert port["failed"] and "delete the stack (state=absent) or give it another name" in port["msg"]


def test_absent_removes_the_load_balancer_and_the_target_group(aws, play, network):
    args = module_args(network, deletion_protection=True)
    absent = dict(name=NAME, state="absent", wait=True, wait_timeout=60)
    run = play([task(args, name="create"),
                task(absent, name="protected", ignore_errors=True),
                task(dict(absent, deletion_protection=False), name="absent", check_mode=True),
                task(dict(absent, deletion_protection=False), name="absent"),
                task(absent, name="absent again")])
    assert run.rc == 0, run.output
    protected, checked, deleted, again = run.results[1:]
    assert protected["failed"] and "deletion_protection" in protected["msg"]
    assert checked["changed"] and deleted["changed"]
    assert deleted["changes"] == ["load_balancer deletion_protection disabled", "load_balancer deleted", "target_group deleted"]
    assert again["changed"] is False
    elbv2 = aws.client("elbv2")
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    assert drift(aws, module_args(network))["differences"] == ["exists"]
