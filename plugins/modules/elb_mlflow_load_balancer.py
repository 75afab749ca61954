#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: elb_mlflow_load_balancer
version_added: 0.1.0
short_description: Manage an Application Load Balancer with its one IP target group and its listeners, in one run
description:
  - Creates, updates and deletes an Application Load Balancer, the one target group its listeners forward to (both
    named O(name)), and its listeners, in one module run.
  - This module exists for speed and for two bugs. It replaces two module runs (M(community.aws.elb_target_group), then
    M(amazon.aws.elb_application_lb)), each of which costs about a second before its first API call.
    M(amazon.aws.elb_application_lb) 10.1.2 crashes on a re-run with an C(authenticate-oidc) or C(authenticate-cognito)
    listener action (its C(_sort_listener_actions) compares a dict with None), and M(community.aws.elb_target_group) has
    no check mode.
  - Idempotent. The target group, the load balancer, their attributes and tags and the listeners are described and
    compared in the form AWS stores them (the defaults AWS fills in, such as an action's C(Order), a redirect's
    C(#{host}) placeholders or the C(ForwardConfig) AWS shows next to a forward action's C(TargetGroupArn), count as
    no difference); only what differs is changed. A re-run that changes nothing only describes.
  - Every option is checked before the first API call, so a bad input changes nothing. What ELBv2 cannot change in
    place (the scheme; the target group's port, protocol, VPC and target type) makes the module fail before any change,
    and say so.
options:
  name:
    description:
      - The name of the load balancer and of the target group (1 to 32 letters, digits and hyphens, neither first nor
        last a hyphen).
    type: str
    required: true
  state:
    description:
      - V(present) creates the target group, the load balancer and the listeners, or brings them in line with the options.
      - V(absent) deletes the load balancer (its listeners go with it), then the target group. A load balancer with
        deletion protection is only deleted when O(deletion_protection=false) is given (the module then lifts the
        protection first). The target group cannot be deleted while a listener still forwards to it; the module retries
        its deletion until O(wait_timeout).
    type: str
    choices: [present, absent]
    default: present
  scheme:
    description:
      - V(internal) (reachable from the VPC only) or V(internet-facing).
      - It cannot change in place; when the load balancer exists with the other scheme, the module fails.
    type: str
    choices: [internal, internet-facing]
    default: internal
  subnets:
    description:
      - The subnet IDs of the load balancer (two Availability Zones at least). Required with O(state=present).
    type: list
    elements: str
  security_groups:
    description:
      - The security group IDs of the load balancer. Not given, a new load balancer gets the VPC's default group and
        an existing one keeps its groups.
    type: list
    elements: str
  idle_timeout:
    description:
      - The C(idle_timeout.timeout_seconds) attribute (1 to 4000).
    type: int
    default: 60
  deletion_protection:
    description:
      - The C(deletion_protection.enabled) attribute. With O(state=present), not given means V(false).
      - With O(state=absent), V(false) lifts the protection before the deletion; not given, a protected load balancer
        makes the module fail.
    type: bool
  http_drop_invalid_header_fields:
    description:
      - The C(routing.http.drop_invalid_header_fields.enabled) attribute.
    type: bool
    default: true
  access_logs_enabled:
    description:
      - The C(access_logs.s3.enabled) attribute. V(true) needs O(access_logs_s3_bucket).
    type: bool
    default: false
  access_logs_s3_bucket:
    description:
      - The C(access_logs.s3.bucket) attribute (the bucket policy must let ELB write to it).
    type: str
  access_logs_s3_prefix:
    description:
      - The C(access_logs.s3.prefix) attribute. Compared with O(access_logs_s3_bucket) only when access logs are
        enabled or a bucket is given.
    type: str
    default: ''
  target_group:
    description:
      - The target group the listeners forward to. Required with O(state=present).
    type: dict
    suboptions:
      vpc_id:
        description:
          - The VPC of the targets. Cannot change in place.
        type: str
        required: true
      port:
        description:
          - The port the targets listen on. Cannot change in place.
        type: int
        required: true
      protocol:
        description:
          - The protocol to the targets. Cannot change in place.
        type: str
        choices: [HTTP, HTTPS]
        default: HTTP
      target_type:
        description:
          - V(ip) for Fargate tasks (C(awsvpc) network mode), V(instance) for EC2 instances. Cannot change in place.
        type: str
        choices: [ip, instance]
        default: ip
      health_check_path:
        description:
          - The path of the health check.
        type: str
        default: /health
      health_check_protocol:
        description:
          - The protocol of the health check.
        type: str
        choices: [HTTP, HTTPS]
        default: HTTP
      health_check_interval:
        description:
          - Seconds between health checks.
        type: int
        default: 15
      health_check_timeout:
        description:
          - Seconds without answer that fail a health check.
        type: int
        default: 5
      healthy_threshold_count:
        description:
          - Passed health checks that make a target healthy.
        type: int
        default: 2
      unhealthy_threshold_count:
        description:
          - Failed health checks that make a target unhealthy.
        type: int
        default: 3
      successful_response_codes:
        description:
          - The HTTP codes of a passed health check (C(200), C(200,202), C(200-299)).
        type: str
        default: '200'
      deregistration_delay_timeout:
        description:
          - The C(deregistration_delay.timeout_seconds) attribute.
        type: int
        default: 30
  listeners:
    description:
      - The listeners, each as C(CreateListener) takes it (C(Protocol), C(Port), C(SslPolicy), C(Certificates),
        C(DefaultActions)), one per port.
      - An action's C(Type) is V(forward), V(redirect) (with C(RedirectConfig)), V(fixed-response) (with
        C(FixedResponseConfig)), V(authenticate-oidc) (with C(AuthenticateOidcConfig), C(ClientSecret) included) or
        V(authenticate-cognito) (with C(AuthenticateCognitoConfig)). With several actions each needs an C(Order).
      - A V(forward) action with C(TargetGroupName) O(name), or with neither C(TargetGroupArn) nor C(TargetGroupName),
        forwards to the module's target group. Another C(TargetGroupName) must name an existing target group.
      - The OIDC client secret is never returned, nor shown in a diff. This option cannot be marked secret as a whole,
        so a task that passes a client secret should have C(no_log) (its arguments would otherwise be logged).
    type: list
    elements: dict
    suboptions:
      Protocol:
        description:
          - The protocol clients use.
        type: str
        required: true
        choices: [HTTP, HTTPS]
      Port:
        description:
          - The port clients use.
        type: int
        required: true
      SslPolicy:
        description:
          - The security policy of an HTTPS listener. Not given, AWS chooses one, and the module keeps whichever the
            listener has.
        type: str
      Certificates:
        description:
          - The default certificate of an HTTPS listener, as a list of one C({CertificateArn}). More certificates
            (C(AddListenerCertificates)) are not managed.
        type: list
        elements: dict
      DefaultActions:
        description:
          - The actions, as C(CreateListener) takes them.
        type: list
        elements: dict
        required: true
  purge_listeners:
    description:
      - Delete the listeners on ports that O(listeners) does not name.
    type: bool
    default: true
  oidc_client_secret_update:
    description:
      - ELBv2 never returns an OIDC client secret, so it cannot be compared. With V(on_create) an OIDC action is
        compared without it and an existing listener keeps its secret (when the listener changes otherwise and already
        authenticates with the same client, C(ModifyListener) is given C(UseExistingClientSecret) and no secret).
      - With V(always) every listener with an OIDC action is modified with the given secret on every run, and the
        module reports a change each time.
    type: str
    choices: [always, on_create]
    default: on_create
  wait:
    description:
      - With O(state=present), wait until the load balancer is C(active); with O(state=absent), until it is deleted.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait at most (for O(wait), and for the target group's deletion).
    type: int
    default: 600
notes:
  - Only one target group is managed, the one named O(name). The listeners' rules (other than the default actions) are
    not managed.
  - A new load balancer is C(provisioning) for a few minutes; it answers once C(active) (O(wait)).
  - Diff mode shows the managed part of the target group, the load balancer and the listeners before and after, without
    client secrets.
  - Check mode makes no call that changes anything; a new stack is returned with empty ARNs and DNS name.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: An internal load balancer for MLflow tasks on port 5000
  mlops.mlflow.elb_mlflow_load_balancer:
    name: mlflow
    subnets: [subnet-0a1b2c3d, subnet-0b2c3d4e]
    security_groups: [sg-0c3d4e5f]
    target_group:
      vpc_id: vpc-0123456789abcdef0
      port: 5000
    listeners:
      - Protocol: HTTP
        Port: 80
        DefaultActions:
          - Type: forward
    tags:
      application: mlflow
  register: mlflow_lb

- name: Use its DNS name and the target group's ARN
  ansible.builtin.debug:
    msg: "{{ mlflow_lb.load_balancer.dns_name }} {{ mlflow_lb.target_group.target_group_arn }}"

- name: Internet-facing, HTTPS only, behind an OIDC identity provider
  mlops.mlflow.elb_mlflow_load_balancer:
    name: mlflow
    scheme: internet-facing
    subnets: [subnet-0a1b2c3d, subnet-0b2c3d4e]
    security_groups: [sg-0c3d4e5f]
    target_group:
      vpc_id: vpc-0123456789abcdef0
      port: 5000
    listeners:
      - Protocol: HTTP
        Port: 80
        DefaultActions:
          - Type: redirect
            RedirectConfig: {Protocol: HTTPS, Port: "443", StatusCode: HTTP_301}
      - Protocol: HTTPS
        Port: 443
        SslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
        Certificates:
          - CertificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0000-0000-0000-000000000000
        DefaultActions:
          - Type: authenticate-oidc
            Order: 1
            AuthenticateOidcConfig:
              Issuer: https://idp.example.com
              AuthorizationEndpoint: https://idp.example.com/authorize
              TokenEndpoint: https://idp.example.com/token
              UserInfoEndpoint: https://idp.example.com/userinfo
              ClientId: mlflow
              ClientSecret: "{{ oidc_client_secret }}"
          - Type: forward
            Order: 2
    wait: true
  no_log: true  # the arguments hold the client secret

- name: Delete the load balancer and its target group
  mlops.mlflow.elb_mlflow_load_balancer:
    name: mlflow
    state: absent
    deletion_protection: false
    wait: true
"""

RETURN = r"""
load_balancer:
  description:
    - The load balancer as C(DescribeLoadBalancers) describes it, keys in snake_case, with its attributes (keys with
      C(_) for C(.)) and tags.
    - In check mode, the load balancer as it would be (empty ARN and DNS name for one not yet created).
    - Empty with O(state=absent).
  returned: always
  type: dict
  contains:
    load_balancer_arn:
      description: The ARN.
      type: str
      sample: arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/mlflow/0123456789abcdef
    load_balancer_name:
      description: The name.
      type: str
      sample: mlflow
    dns_name:
      description: The DNS name.
      type: str
      sample: internal-mlflow-123456789.eu-west-1.elb.amazonaws.com
    canonical_hosted_zone_id:
      description: The Route 53 hosted zone of the DNS name (for an alias record).
      type: str
      sample: Z32O12XQLNTSW2
    scheme:
      description: C(internal) or C(internet-facing).
      type: str
      sample: internal
    state:
      description: The state, C(code) C(provisioning), C(active), C(active_impaired) or C(failed).
      type: dict
      sample: {code: active}
    vpc_id:
      description: The VPC.
      type: str
      sample: vpc-0123456789abcdef0
    security_groups:
      description: The security group IDs.
      type: list
      elements: str
      sample: [sg-0c3d4e5f]
    availability_zones:
      description: The zones and subnets.
      type: list
      elements: dict
      sample: [{zone_name: eu-west-1a, subnet_id: subnet-0a1b2c3d}]
    attributes:
      description: The attributes.
      type: dict
      sample: {idle_timeout_timeout_seconds: "60", deletion_protection_enabled: "false"}
    tags:
      description: The tags.
      type: dict
      sample: {application: mlflow}
target_group:
  description:
    - The target group as C(DescribeTargetGroups) describes it, keys in snake_case, with its attributes and tags.
    - In check mode, the target group as it would be (empty ARN for one not yet created). Empty with O(state=absent).
  returned: always
  type: dict
  contains:
    target_group_arn:
      description: The ARN.
      type: str
      sample: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/mlflow/0123456789abcdef
    target_group_name:
      description: The name.
      type: str
      sample: mlflow
    port:
      description: The targets' port.
      type: int
      sample: 5000
    protocol:
      description: The targets' protocol.
      type: str
      sample: HTTP
    target_type:
      description: C(ip) or C(instance).
      type: str
      sample: ip
    health_check_path:
      description: The health check's path.
      type: str
      sample: /health
    health_check_interval_seconds:
      description: Seconds between health checks.
      type: int
      sample: 15
    matcher:
      description: The successful response codes.
      type: dict
      sample: {http_code: "200"}
    attributes:
      description: The attributes.
      type: dict
      sample: {deregistration_delay_timeout_seconds: "30"}
    tags:
      description: The tags.
      type: dict
      sample: {application: mlflow}
listeners:
  description:
    - The listeners as C(DescribeListeners) describes them, keys in snake_case, ordered by port, without client secrets.
    - Empty with O(state=absent).
  returned: always
  type: list
  elements: dict
  sample:
    - listener_arn: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/mlflow/0123456789abcdef/0123456789abcdef
      port: 80
      protocol: HTTP
      default_actions:
        - type: forward
          order: 1
          target_group_arn: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/mlflow/0123456789abcdef
changes:
  description: What changed (or, in check mode, would change), in a few words each.
  returned: always
  type: list
  elements: str
  sample: [target_group created, load_balancer created, listener 80 created]
diff:
  description:
    - In diff mode, the managed part of the target group, the load balancer and the listeners (listeners in the form in
      which they are compared, without client secrets) before and after; empty when there is nothing.
  returned: diff mode
  type: dict
"""

import time

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.mlops.mlflow.plugins.module_utils import elb_mlflow_load_balancer as shared
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import change_summary
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import comparable
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import describe
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import has_changes
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import plan
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import predicted
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import validate
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import with_existing_secret
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import without_secrets
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput

POLL_SECONDS = 5


def _attribute_list(attributes):
    return [{"Key": key, "Value": value} for key, value in sorted(attributes.items())]


def _retag(client, arn, change):
    to_set, to_unset = change
    if to_unset:
        client.remove_tags(aws_retry=True, ResourceArns=[arn], TagKeys=list(to_unset))
    if to_set:
        client.add_tags(aws_retry=True, ResourceArns=[arn], Tags=ansible_dict_to_boto3_tag_list(to_set))


def apply_target_group(client, params, final, planned):
    options = params["target_group"]
    if planned.get("create"):
        arguments = dict(
            Name=params["name"], Protocol=options["protocol"], Port=options["port"], VpcId=options["vpc_id"],
            TargetType=options["target_type"], HealthCheckEnabled=True, HealthCheckProtocol=options["health_check_protocol"],
            HealthCheckPath=options["health_check_path"], HealthCheckIntervalSeconds=options["health_check_interval"],
            HealthCheckTimeoutSeconds=options["health_check_timeout"], HealthyThresholdCount=options["healthy_threshold_count"],
            UnhealthyThresholdCount=options["unhealthy_threshold_count"], Matcher={"HttpCode": options["successful_response_codes"]})
        if params["tags"]:
            arguments["Tags"] = ansible_dict_to_boto3_tag_list(params["tags"])
        final["target_group"] = client.create_target_group(aws_retry=True, **arguments)["TargetGroups"][0]
    arn = final["target_group"]["TargetGroupArn"]
    if planned.get("modify"):
        final["target_group"] = client.modify_target_group(aws_retry=True, TargetGroupArn=arn, **planned["modify"])["TargetGroups"][0]
    if planned.get("attributes"):
        answer = client.modify_target_group_attributes(aws_retry=True, TargetGroupArn=arn, Attributes=_attribute_list(planned["attributes"]))
        final["target_group_attributes"] = shared._attributes(answer.get("Attributes")) or final["target_group_attributes"]
    if planned.get("tags") and not planned.get("create"):
        _retag(client, arn, planned["tags"])
    return arn


def apply_load_balancer(client, params, final, planned):
    if planned.get("create"):
        arguments = dict(Name=params["name"], Subnets=list(params["subnets"]), Scheme=params["scheme"], Type="application",
                         IpAddressType="ipv4")
        if params["security_groups"] is not None:
            arguments["SecurityGroups"] = list(params["security_groups"])
        if params["tags"]:
            arguments["Tags"] = ansible_dict_to_boto3_tag_list(params["tags"])
        final["load_balancer"] = client.create_load_balancer(aws_retry=True, **arguments)["LoadBalancers"][0]
    arn = final["load_balancer"]["LoadBalancerArn"]
    if planned.get("subnets"):
        client.set_subnets(aws_retry=True, LoadBalancerArn=arn, Subnets=planned["subnets"])
    if planned.get("security_groups"):
        client.set_security_groups(aws_retry=True, LoadBalancerArn=arn, SecurityGroups=planned["security_groups"])
    if planned.get("attributes"):
        answer = client.modify_load_balancer_attributes(aws_retry=True, LoadBalancerArn=arn, Attributes=_attribute_list(planned["attributes"]))
        final["load_balancer_attributes"] = shared._attributes(answer.get("Attributes")) or final["load_balancer_attributes"]
    if planned.get("tags") and not planned.get("create"):
        _retag(client, arn, planned["tags"])
    if planned.get("subnets") or planned.get("security_groups"):
        final["load_balancer"] = shared.describe_load_balancer(client, params["name"]) or final["load_balancer"]
    return arn


def _to_target_group(listener, target_group_arn):
    """The listener with the ARN of a target group created in this run in place of the ""."""
    for action in listener["DefaultActions"]:
        if action.get("Type") == "forward" and action.get("TargetGroupArn") == "":
            action["TargetGroupArn"] = target_group_arn
    return listener


def apply_listeners(client, final, planned, balancer_arn, target_group_arn):
    listeners = dict((listener["Port"], listener) for listener in final["listeners"])
    for listener in planned["delete"]:
        client.delete_listener(aws_retry=True, ListenerArn=listener["ListenerArn"])
        listeners.pop(listener["Port"], None)
    for current, wanted, keeps_secret in planned["modify"]:
        arguments = _to_target_group(dict(wanted), target_group_arn)
        if keeps_secret:
            arguments["DefaultActions"] = with_existing_secret(arguments["DefaultActions"])
        answer = client.modify_listener(aws_retry=True, ListenerArn=current["ListenerArn"], **arguments)
        listeners[current["Port"]] = answer["Listeners"][0]
    for wanted in planned["create"]:
        answer = client.create_listener(aws_retry=True, LoadBalancerArn=balancer_arn, **_to_target_group(dict(wanted), target_group_arn))
        listeners[wanted["Port"]] = answer["Listeners"][0]
    final["listeners"] = [without_secrets(listeners[port]) for port in sorted(listeners)]


def wait_until_active(module, client, final):
    arn = final["load_balancer"]["LoadBalancerArn"]
    deadline = time.monotonic() + module.params["wait_timeout"]
    while True:
        balancer = client.describe_load_balancers(aws_retry=True, LoadBalancerArns=[arn])["LoadBalancers"][0]
        final["load_balancer"] = balancer
        code = (balancer.get("State") or {}).get("Code")
        if code == "active":
            return
        if code == "failed" or time.monotonic() >= deadline:
            module.fail_json(msg="The load balancer {0} is {1}{2}.".format(
                module.params["name"], code, "" if code == "failed" else " after {0} seconds (wait_timeout)".format(module.params["wait_timeout"])),
                **result_of(final, []))
        time.sleep(POLL_SECONDS)


def result_of(stack, summary):
    return dict(load_balancer=shared.snake_resource(stack, "load_balancer"), target_group=shared.snake_resource(stack, "target_group"),
                listeners=shared.snake_listeners(stack), changes=summary)


def ensure_present(module, client):
    params = module.params
    try:
        stack = describe(client, params)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe the load balancer {0} and its target group".format(params["name"]))
    changes = plan(stack, params)
    if changes["conflicts"]:
        module.fail_json(msg=" ".join(message for option, message in changes["conflicts"]),
                         conflicts=[option for option, message in changes["conflicts"]])
    summary = change_summary(changes)
    final = predicted(stack, params, changes)
    if not module.check_mode:
        try:
            if has_changes(changes):
                final = dict(final, listeners=list(stack["listeners"]))
                target_group_arn = apply_target_group(client, params, final, changes["target_group"])
                balancer_arn = apply_load_balancer(client, params, final, changes["load_balancer"])
                apply_listeners(client, final, changes["listeners"], balancer_arn, target_group_arn)
            if params["wait"]:
                wait_until_active(module, client, final)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not {0} the load balancer {1} and its target group".format(
                "create" if stack["load_balancer"] is None else "update", params["name"]), changes=summary)
    result = dict(changed=bool(summary), **result_of(final, summary))
    if module._diff:
        result["diff"] = dict(before=comparable(stack), after=comparable(predicted(stack, params, changes)))
    module.exit_json(**result)


def delete_target_group(module, client, arn):
    deadline = time.monotonic() + module.params["wait_timeout"]
    while True:
        try:
            client.delete_target_group(aws_retry=True, TargetGroupArn=arn)
            return
        except is_boto3_error_code("ResourceInUse"):
            # A listener of the load balancer being deleted still forwards to it.
            if time.monotonic() >= deadline:
                raise
        time.sleep(POLL_SECONDS)


def wait_until_deleted(module, client, arn):
    deadline = time.monotonic() + module.params["wait_timeout"]
    while True:
        try:
            if not client.describe_load_balancers(aws_retry=True, LoadBalancerArns=[arn])["LoadBalancers"]:
                return
        except is_boto3_error_code("LoadBalancerNotFound"):
            return
        if time.monotonic() >= deadline:
            module.fail_json(msg="The load balancer {0} is still there after {1} seconds (wait_timeout).".format(
                module.params["name"], module.params["wait_timeout"]))
        time.sleep(POLL_SECONDS)


def ensure_absent(module, client):
    params = module.params
    try:
        stack = describe(client, params, full=module._diff)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe the load balancer {0} and its target group".format(params["name"]))
    group, balancer = stack["target_group"], stack["load_balancer"]
    protected = bool(balancer) and stack["load_balancer_attributes"].get("deletion_protection.enabled") == "true"
    if protected and params["deletion_protection"] is not False:
        module.fail_json(msg="The load balancer {0} has deletion protection (deletion_protection.enabled). Give "
                             "deletion_protection=false to lift it and delete the load balancer.".format(params["name"]))
    summary = []
    if protected:
        summary.append("load_balancer deletion_protection disabled")
    if balancer:
        summary.append("load_balancer deleted")
    if group:
        summary.append("target_group deleted")
    if not module.check_mode:
        try:
            if balancer:
                arn = balancer["LoadBalancerArn"]
                if protected:
                    client.modify_load_balancer_attributes(aws_retry=True, LoadBalancerArn=arn,
                                                           Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
                client.delete_load_balancer(aws_retry=True, LoadBalancerArn=arn)
                if params["wait"]:
                    wait_until_deleted(module, client, arn)
            if group:
                delete_target_group(module, client, group["TargetGroupArn"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not delete the load balancer {0} and its target group".format(params["name"]),
                                 changes=summary)
    result = dict(changed=bool(summary), load_balancer={}, target_group={}, listeners=[], changes=summary)
    if module._diff:
        result["diff"] = dict(before=comparable(stack), after={})
    module.exit_json(**result)


def main():
    module = AnsibleAWSModule(argument_spec=shared.argument_spec(), supports_check_mode=True)
    module.no_log_values.update(shared.secrets_in(module.params["listeners"]))
    try:
        validate(module.params)
    except InvalidInput as error:
        module.fail_json(msg=str(error))
    client = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    if module.params["state"] == "present":
        ensure_present(module, client)
    else:
        ensure_absent(module, client)


if __name__ == "__main__":
    main()
