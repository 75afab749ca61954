# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Drift kinds for Elastic Load Balancing v2 (see drift.py for the contract).

- ``elb_target_group`` mirrors community.aws.elb_target_group (community.aws 10.0.0);
- ``elb_application_lb`` mirrors amazon.aws.elb_application_lb and module_utils/elbv2.py (amazon.aws 10.1.2).

Each comparison repeats the acting module's own (same keys, same string forms, same "only when the option is
set" rules). Where the module would fail instead (a port, protocol or VPC that cannot change, a missing
attribute, an unsortable list of actions), the option counts as a difference. Where the module silently ignores
a difference it cannot fix (a target group's type, a load balancer's scheme), the option counts as a difference
too: the resource is not what was asked for.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from copy import deepcopy

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import outcome
from ansible_collections.mlops.mlflow.plugins.module_utils.drift import tags_differ
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import describe_listeners
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import describe_load_balancer
from ansible_collections.mlops.mlflow.plugins.module_utils.elb_mlflow_load_balancer import describe_target_group

_PROTOCOLS = ["http", "https", "tcp", "tls", "udp", "tcp_udp", "HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP"]


def _attributes(attribute_list):
    """Attributes as the modules read them: a dict with '.' in the keys replaced by '_'."""
    attributes = boto3_tag_list_to_ansible_dict(attribute_list or [])
    return dict((key.replace(".", "_"), value) for key, value in attributes.items())


def _tags(elbv2, arn):
    descriptions = elbv2.describe_tags(ResourceArns=[arn], aws_retry=True)["TagDescriptions"]
    return boto3_tag_list_to_ansible_dict(descriptions[0]["Tags"] if descriptions else [])


# --- elb_target_group --------------------------------------------------------------------------------------------

TARGET_GROUP_SPEC = dict(
    name=dict(type="str", required=True),
    protocol=dict(type="str", choices=_PROTOCOLS),
    port=dict(type="int"),
    target_type=dict(type="str", choices=["instance", "ip", "lambda", "alb"]),
    vpc_id=dict(type="str"),
    health_check_protocol=dict(type="str", choices=_PROTOCOLS),
    health_check_path=dict(type="str"),
    health_check_interval=dict(type="int"),
    health_check_timeout=dict(type="int"),
    healthy_threshold_count=dict(type="int"),
    unhealthy_threshold_count=dict(type="int"),
    successful_response_codes=dict(type="str"),
    deregistration_delay_timeout=dict(type="int"),
    modify_targets=dict(type="bool", default=True),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    state=dict(type="str", choices=["present"], default="present"),
)

# module option -> (create/modify parameter, target group key); elb_target_group.py lines 629-646, 675-708.
_HEALTH_NUMBERS = (
    ("health_check_interval", "HealthCheckIntervalSeconds"),
    ("health_check_timeout", "HealthCheckTimeoutSeconds"),
    ("healthy_threshold_count", "HealthyThresholdCount"),
    ("unhealthy_threshold_count", "UnhealthyThresholdCount"),
)


def _target_group_differences(params, group):
    differences = []
    target_type = params["target_type"] or "instance"  # elb_target_group.py 1037-1038
    # The type is never compared by the module (it cannot change it): a difference all the same.
    if group.get("TargetType") != target_type:
        differences.append("target_type")
    # Port, Protocol and VpcId: the module fails when they differ (lines 666-668).
    wanted = dict(Port=params["port"], VpcId=params["vpc_id"],
                  Protocol=params["protocol"].upper() if target_type != "lambda" and params["protocol"] else None)
    for key, option in (("Port", "port"), ("Protocol", "protocol"), ("VpcId", "vpc_id")):
        if group.get(key) != wanted[key]:
            differences.append(option)

    health_keys = ["health_check_path", "health_check_protocol", "successful_response_codes"]
    health_keys.extend(option for option, key in _HEALTH_NUMBERS)
    if any(params[option] is not None for option in health_keys):  # lines 617-626, 673
        protocol = params["health_check_protocol"]
        if protocol is not None and group.get("HealthCheckProtocol") != protocol.upper():
            differences.append("health_check_protocol")
        for option, key in _HEALTH_NUMBERS:
            if params[option] is not None and group.get(key) != params[option]:
                differences.append(option)
        # Path and matcher: only set for an HTTP(S) health check asked for (648-660), only compared when the
        # current health check is HTTP(S) (711).
        if protocol is not None and protocol.upper() in ("HTTP", "HTTPS") \
                and group.get("HealthCheckProtocol") in ("HTTP", "HTTPS"):
            if params["health_check_path"] is not None and group.get("HealthCheckPath") != params["health_check_path"]:
                differences.append("health_check_path")
            if params["successful_response_codes"] is not None:  # 718-726 (no protocol_version: HttpCode)
                code_key = "GrpcCode" if group.get("ProtocolVersion") == "GRPC" else "HttpCode"
                current = (group.get("Matcher") or {}).get(code_key)
                if current is None or set(current.split(",")) != set(params["successful_response_codes"].split(",")):
                    differences.append("successful_response_codes")
    return differences


def check_target_group(client, params):
    """community.aws.elb_target_group with state=present and modify_targets=false."""
    elbv2 = client("elbv2")
    group = describe_target_group(elbv2, params["name"])
    if group is None:
        return outcome(False)
    arn = group["TargetGroupArn"]
    resource = dict(target_group_arn=arn, target_group_name=group.get("TargetGroupName"),
                    load_balancer_arns=list(group.get("LoadBalancerArns") or []))
    differences = _target_group_differences(params, group)
    # With modify_targets (its default) the module registers/deregisters targets (738-885): not compared here.
    if params["modify_targets"]:
        differences.append("modify_targets")
    if params["deregistration_delay_timeout"] is not None:  # create_or_update_attributes, 535-541
        attributes = _attributes(elbv2.describe_target_group_attributes(TargetGroupArn=arn, aws_retry=True)["Attributes"])
        if str(params["deregistration_delay_timeout"]) != attributes.get("deregistration_delay_timeout_seconds"):
            differences.append("deregistration_delay_timeout")
    if tags_differ(_tags(elbv2, arn), params["tags"], params["purge_tags"]):  # 931-958
        differences.append("tags")
    return outcome(True, differences, resource)


# --- elb_application_lb ------------------------------------------------------------------------------------------

APPLICATION_LB_SPEC = dict(
    name=dict(type="str", required=True),
    scheme=dict(type="str", default="internet-facing", choices=["internet-facing", "internal"]),
    subnets=dict(type="list", elements="str"),
    security_groups=dict(type="list", elements="str"),
    # The listener options of the module but Rules, which this kind does not compare.
    listeners=dict(type="list", elements="dict", options=dict(
        Protocol=dict(type="str", required=True),
        Port=dict(type="int", required=True),
        SslPolicy=dict(type="str"),
        Certificates=dict(type="list", elements="dict"),
        DefaultActions=dict(type="list", required=True, elements="dict"),
    )),
    purge_listeners=dict(type="bool", default=True),
    idle_timeout=dict(type="int"),
    deletion_protection=dict(type="bool"),
    http_drop_invalid_header_fields=dict(type="bool"),
    access_logs_enabled=dict(type="bool"),
    access_logs_s3_bucket=dict(type="str"),
    access_logs_s3_prefix=dict(type="str"),
    ip_address_type=dict(type="str", choices=["ipv4", "dualstack"]),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    wait=dict(type="bool", default=False),
    state=dict(type="str", choices=["present"], default="present"),
)

# option -> (attribute as the module reads it, how the module turns the option into the attribute's value);
# elbv2.py ApplicationLoadBalancer.compare_elb_attributes, lines 497-576.
_LB_ATTRIBUTES = (
    ("access_logs_enabled", "access_logs_s3_enabled", lambda value: str(value).lower()),
    ("access_logs_s3_bucket", "access_logs_s3_bucket", lambda value: value),
    ("access_logs_s3_prefix", "access_logs_s3_prefix", lambda value: value),
    ("deletion_protection", "deletion_protection_enabled", lambda value: str(value).lower()),
    ("idle_timeout", "idle_timeout_timeout_seconds", str),
    ("http_drop_invalid_header_fields", "routing_http_drop_invalid_header_fields_enabled",
     lambda value: str(value).lower()),
)
_ACTION_KEYS = ("AuthenticateOidcConfig", "FixedResponseConfig", "RedirectConfig", "TargetGroupArn", "Type")


def _security_group_ids(client, names, vpc_id):
    """The IDs the module would set (elb_application_lb.py 1046-1048 and ec2.py
    get_ec2_security_group_ids_from_names, 1510-1554: one unpaginated describe_security_groups); None where it
    would fail."""
    if names and all(re.match("sg-[a-fA-F0-9]+$", name) for name in names):
        # No group can be named like an ID (EC2 refuses names that begin with sg-): the module keeps them as given.
        return list(names)
    if names == []:
        found = client("ec2").describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}],
            aws_retry=True)["SecurityGroups"]
        return [found[0]["GroupId"]] if len(found) == 1 else None
    groups = client("ec2").describe_security_groups(aws_retry=True)["SecurityGroups"]
    unmatched = set(names).difference(str(group["GroupName"]) for group in groups)
    if any(not re.match("sg-[a-fA-F0-9]+$", name) for name in unmatched):
        return None
    by_name = set(names) - unmatched
    return list(unmatched) + [str(group["GroupId"]) for group in groups if str(group["GroupName"]) in by_name]


def _sort_listener_actions(actions):
    """elbv2.py _sort_listener_actions (162-172); raises TypeError where the module would."""
    return sorted(actions, key=lambda action: tuple(action.get(key) for key in _ACTION_KEYS))


def _prepare_listener(elbv2, listener, target_group_arns):
    """elbv2.py _prepare_listeners (873-900): None options dropped, TargetGroupName replaced by the group's ARN.
    Returns None where the module would fail (a target group that does not exist)."""
    listener = dict((key, value) for key, value in deepcopy(listener).items() if value is not None)
    for action in listener["DefaultActions"]:
        group_name = action.pop("TargetGroupName", None)
        if group_name:
            if group_name not in target_group_arns:
                group = describe_target_group(elbv2, group_name)
                target_group_arns[group_name] = group["TargetGroupArn"] if group else None
            if target_group_arns[group_name] is None:
                return None
            action["TargetGroupArn"] = target_group_arns[group_name]
    return listener


def _listener_differs(current, new):
    """Whether elbv2.py _compare_listener (759-832) would modify the listener (or fail comparing it)."""
    if current.get("Protocol") != new["Protocol"]:
        return True
    if new["Protocol"] in ("HTTPS", "TLS"):
        if new.get("SslPolicy") and current.get("SslPolicy") != new["SslPolicy"]:
            return True
        certificates = new.get("Certificates")
        if certificates:
            if "CertificateArn" not in certificates[0]:
                return True  # the module fails with a KeyError
            current_certificates = current.get("Certificates")
            if not current_certificates or current_certificates[0].get("CertificateArn") != certificates[0]["CertificateArn"]:
                return True
    new_actions = new.get("DefaultActions")
    if new_actions:
        current_actions = current.get("DefaultActions")
        if not current_actions or len(current_actions) != len(new_actions):
            return True
        # The module compares the current actions, cut down to five keys, with the given actions as they are:
        # an Order or an AuthenticateCognitoConfig given always differs.
        current_cut = [dict((key, value) for key, value in action.items() if key in _ACTION_KEYS)
                       for action in current_actions]
        try:
            if _sort_listener_actions(current_cut) != _sort_listener_actions(new_actions):
                return True
        except TypeError:
            return True
    return False


def _listener_differences(elbv2, params, balancer_arn, resource):
    listeners = params["listeners"] or []
    current_listeners = describe_listeners(elbv2, balancer_arn)
    resource["listener_arns"] = dict((str(listener["Port"]), listener["ListenerArn"]) for listener in current_listeners)
    # The module fails on an HTTPS listener without SslPolicy or Certificates (elb_application_lb.py 1027-1036).
    if any(listener["Protocol"] == "HTTPS" and (listener.get("SslPolicy") is None or listener.get("Certificates") is None)
           for listener in listeners):
        return True
    # The OIDC client secret cannot be read back: such a listener can never be known to be in sync.
    if any(action.get("Type") == "authenticate-oidc" for listener in listeners for action in listener["DefaultActions"]):
        return True
    target_group_arns = {}
    new_listeners = []
    for listener in listeners:
        prepared = _prepare_listener(elbv2, listener, target_group_arns)
        if prepared is None:
            return True
        new_listeners.append(prepared)
    # elbv2.py _group_listeners (835-870) and ELBListeners.compare_listeners (929-942).
    to_add = list(new_listeners)
    for current in current_listeners:
        index = next((number for number, listener in enumerate(to_add) if int(listener["Port"]) == current["Port"]), -1)
        if index == -1:
            if params["purge_listeners"]:
                return True
            continue
        if _listener_differs(current, to_add.pop(index)):
            return True
    return bool(to_add)


def check_application_lb(client, params):
    """amazon.aws.elb_application_lb with state=present (wait changes nothing that is compared)."""
    elbv2 = client("elbv2")
    balancer = describe_load_balancer(elbv2, params["name"])
    if balancer is None:
        return outcome(False)
    arn = balancer["LoadBalancerArn"]
    resource = dict(load_balancer_arn=arn, dns_name=balancer.get("DNSName"),
                    canonical_hosted_zone_id=balancer.get("CanonicalHostedZoneId"),
                    state=(balancer.get("State") or {}).get("Code"), listener_arns={})
    if balancer.get("Type") != "application":
        return outcome(True, ["name"], resource)  # the module fails (elbv2.py 483-486)
    differences = []
    # The module never compares the scheme (it cannot change it): a difference all the same.
    if balancer.get("Scheme") != params["scheme"]:
        differences.append("scheme")
    # Subnets: elbv2.py compare_subnets (346-379), a set of {SubnetId[, AllocationId]}; the module requires them.
    current_subnets = set()
    for zone in balancer.get("AvailabilityZones") or []:
        mapping = {"SubnetId": zone.get("SubnetId")}
        for address in zone.get("LoadBalancerAddresses") or []:
            if "AllocationId" in address:
                mapping["AllocationId"] = address["AllocationId"]
                break
        current_subnets.add(frozenset(mapping.items()))
    if params["subnets"] is None or current_subnets != set(
            frozenset({"SubnetId": subnet}.items()) for subnet in params["subnets"]):
        differences.append("subnets")
    # Security groups: a set comparison of IDs (compare_security_groups, 669-678).
    wanted_groups = None
    if params["security_groups"] is not None:
        wanted_groups = _security_group_ids(client, params["security_groups"], balancer.get("VpcId"))
    if wanted_groups is None or set(balancer.get("SecurityGroups") or []) != set(wanted_groups):
        differences.append("security_groups")
    # Attributes: only those given, a missing attribute fails the module (KeyError).
    attributes = _attributes(elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn, aws_retry=True)["Attributes"])
    for option, key, form in _LB_ATTRIBUTES:
        if params[option] is not None and (key not in attributes or form(params[option]) != attributes[key]):
            differences.append(option)
    # Tags (elb_application_lb.py 829-846).
    if tags_differ(_tags(elbv2, arn), params["tags"], params["purge_tags"]):
        differences.append("tags")
    if _listener_differences(elbv2, params, arn, resource):
        differences.append("listeners")
    # IP address type only when given (elb_application_lb.py 918-924).
    if params["ip_address_type"] and balancer.get("IpAddressType") != params["ip_address_type"]:
        differences.append("ip_address_type")
    return outcome(True, differences, resource)


KINDS = {
    "elb_target_group": (TARGET_GROUP_SPEC, check_target_group),
    "elb_application_lb": (APPLICATION_LB_SPEC, check_application_lb),
}
