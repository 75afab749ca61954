# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of mlops.mlflow.elb_mlflow_load_balancer that mlops.mlflow.aws_drift_info shares: the options, the
input checks, describing the load balancer with its target group and listeners, the normal form in which listeners
are compared, and the plan (what differs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from copy import deepcopy

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import check as _check

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
ACTION_TYPES = ("forward", "redirect", "fixed-response", "authenticate-oidc", "authenticate-cognito")
OIDC = "authenticate-oidc"
COGNITO = "authenticate-cognito"
# ELBv2 never returns the client secret; the module never returns it either.
SECRET_KEYS = ("ClientSecret",)
# What AWS fills in when a request leaves these out (ELBv2 API reference, RedirectActionConfig and
# Authenticate*ActionConfig).
REDIRECT_DEFAULTS = {"Protocol": "#{protocol}", "Port": "#{port}", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}"}
AUTHENTICATE_DEFAULTS = {"SessionCookieName": "AWSELBAuthSessionCookie", "Scope": "openid", "SessionTimeout": 604800,
                         "OnUnauthenticatedRequest": "authenticate"}
OIDC_KEYS = ("Issuer", "AuthorizationEndpoint", "TokenEndpoint", "UserInfoEndpoint", "ClientId")
COGNITO_KEYS = ("UserPoolArn", "UserPoolClientId", "UserPoolDomain")


def _bool(value):
    return "true" if value else "false"


# option -> (attribute key, the attribute's string form of the option's value)
LB_ATTRIBUTES = (
    ("idle_timeout", "idle_timeout.timeout_seconds", str),
    ("deletion_protection", "deletion_protection.enabled", _bool),
    ("http_drop_invalid_header_fields", "routing.http.drop_invalid_header_fields.enabled", _bool),
    ("access_logs_enabled", "access_logs.s3.enabled", _bool),
    ("access_logs_s3_bucket", "access_logs.s3.bucket", lambda value: value or ""),
    ("access_logs_s3_prefix", "access_logs.s3.prefix", lambda value: value or ""),
)
DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"

# target_group suboption -> the target group's key (ModifyTargetGroup takes the same names)
HEALTH_CHECK = (
    ("health_check_protocol", "HealthCheckProtocol"),
    ("health_check_path", "HealthCheckPath"),
    ("health_check_interval", "HealthCheckIntervalSeconds"),
    ("health_check_timeout", "HealthCheckTimeoutSeconds"),
    ("healthy_threshold_count", "HealthyThresholdCount"),
    ("unhealthy_threshold_count", "UnhealthyThresholdCount"),
)
# Set only when a target group is created: option, target group key
TARGET_GROUP_IDENTITY = (("port", "Port"), ("protocol", "Protocol"), ("vpc_id", "VpcId"), ("target_type", "TargetType"))


def argument_spec():
    """The options of mlops.mlflow.elb_mlflow_load_balancer."""
    return dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        scheme=dict(type="str", choices=["internal", "internet-facing"], default="internal"),
        subnets=dict(type="list", elements="str"),
        security_groups=dict(type="list", elements="str"),
        idle_timeout=dict(type="int", default=60),
        # No default: with state=absent, only an explicit false lifts the protection.
        deletion_protection=dict(type="bool"),
        http_drop_invalid_header_fields=dict(type="bool", default=True),
        access_logs_enabled=dict(type="bool", default=False),
        access_logs_s3_bucket=dict(type="str"),
        access_logs_s3_prefix=dict(type="str", default=""),
        target_group=dict(type="dict", options=dict(
            vpc_id=dict(type="str", required=True),
            port=dict(type="int", required=True),
            protocol=dict(type="str", choices=["HTTP", "HTTPS"], default="HTTP"),
            target_type=dict(type="str", choices=["ip", "instance"], default="ip"),
            health_check_path=dict(type="str", default="/health"),
            health_check_protocol=dict(type="str", choices=["HTTP", "HTTPS"], default="HTTP"),
            health_check_interval=dict(type="int", default=15),
            health_check_timeout=dict(type="int", default=5),
            healthy_threshold_count=dict(type="int", default=2),
            unhealthy_threshold_count=dict(type="int", default=3),
            successful_response_codes=dict(type="str", default="200"),
            deregistration_delay_timeout=dict(type="int", default=30),
        )),
        listeners=dict(type="list", elements="dict", options=dict(
            Protocol=dict(type="str", required=True, choices=["HTTP", "HTTPS"]),
            Port=dict(type="int", required=True),
            SslPolicy=dict(type="str"),
            Certificates=dict(type="list", elements="dict"),
            DefaultActions=dict(type="list", elements="dict", required=True),
        )),
        purge_listeners=dict(type="bool", default=True),
        oidc_client_secret_update=dict(type="str", choices=["always", "on_create"], default="on_create"),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=600),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )


# --- input checks --------------------------------------------------------------------------------------------------


def validate(params):
    """Raises InvalidInput, naming the option and the fix, for what ELBv2 would refuse."""
    name = params["name"]
    _check(_NAME.match(name or ""), "name must be 1 to 32 letters, digits and hyphens, neither beginning nor ending with a "
                                    "hyphen (it names the load balancer and the target group), got {0!r}.".format(name))
    _check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))
    if params["state"] != "present":
        return
    _check(params["subnets"], "subnets is required with state=present: give the subnets of the load balancer (two zones at least).")
    _check(params["target_group"], "target_group is required with state=present (at least vpc_id and port).")
    _check(1 <= params["target_group"]["port"] <= 65535, "target_group.port must be 1 to 65535.")
    _check(not params["access_logs_enabled"] or params["access_logs_s3_bucket"],
           "access_logs_enabled=true needs access_logs_s3_bucket.")
    _check(1 <= params["idle_timeout"] <= 4000, "idle_timeout must be 1 to 4000 seconds, got {0}.".format(params["idle_timeout"]))
    ports = [listener["Port"] for listener in params["listeners"] or []]
    duplicates = sorted(set(port for port in ports if ports.count(port) > 1))
    _check(not duplicates, "listeners: port {0} is given more than once.".format(", ".join(str(port) for port in duplicates)))
    for listener in params["listeners"] or []:
        _validate_listener(listener)
    for key, value in (params["tags"] or {}).items():
        _check(not str(key).startswith("aws:"), "tags: keys beginning with 'aws:' are reserved for AWS, got {0!r}.".format(key))


def _validate_listener(listener):
    where = "listeners (port {0})".format(listener["Port"])
    _check(1 <= listener["Port"] <= 65535, "{0}: Port must be 1 to 65535.".format(where))
    certificates = listener["Certificates"] or []
    if listener["Protocol"] == "HTTPS":
        _check(len(certificates) == 1 and (certificates[0] or {}).get("CertificateArn"),
               "{0}: an HTTPS listener needs Certificates with one CertificateArn (its default certificate).".format(where))
    else:
        _check(not certificates and not listener["SslPolicy"], "{0}: SslPolicy and Certificates are for HTTPS listeners only.".format(where))
    actions = listener["DefaultActions"]
    _check(actions, "{0}: DefaultActions needs one action at least.".format(where))
    for action in actions:
        kind = action.get("Type")
        _check(kind in ACTION_TYPES, "{0}: action Type must be one of {1}, got {2!r}.".format(where, ", ".join(ACTION_TYPES), kind))
        _check(len(actions) == 1 or action.get("Order") is not None,
               "{0}: with several actions, each needs an Order (the authentication first, the forward last).".format(where))
        if kind == "redirect":
            _check(action.get("RedirectConfig", {}).get("StatusCode"), "{0}: a redirect action needs RedirectConfig.StatusCode.".format(where))
        elif kind == "fixed-response":
            _check(action.get("FixedResponseConfig", {}).get("StatusCode"),
                   "{0}: a fixed-response action needs FixedResponseConfig.StatusCode.".format(where))
        elif kind == OIDC:
            config = action.get("AuthenticateOidcConfig") or {}
            missing = [key for key in OIDC_KEYS + ("ClientSecret",) if not config.get(key)]
            _check(not missing, "{0}: AuthenticateOidcConfig needs {1}.".format(where, ", ".join(missing)))
        elif kind == COGNITO:
            config = action.get("AuthenticateCognitoConfig") or {}
            missing = [key for key in COGNITO_KEYS if not config.get(key)]
            _check(not missing, "{0}: AuthenticateCognitoConfig needs {1}.".format(where, ", ".join(missing)))


# --- describing ----------------------------------------------------------------------------------------------------


def _attributes(attribute_list):
    return dict((item["Key"], item.get("Value")) for item in attribute_list or [])


def describe_target_group(client, name):
    try:
        groups = client.describe_target_groups(aws_retry=True, Names=[name])["TargetGroups"]
    except is_boto3_error_code("TargetGroupNotFound"):
        return None
    return groups[0] if groups else None


def describe_load_balancer(client, name):
    try:
        balancers = client.describe_load_balancers(aws_retry=True, Names=[name])["LoadBalancers"]
    except is_boto3_error_code("LoadBalancerNotFound"):
        return None
    return balancers[0] if balancers else None


def describe_listeners(client, load_balancer_arn):
    listeners, marker = [], None
    while True:
        extra = dict(Marker=marker) if marker else {}
        page = client.describe_listeners(aws_retry=True, LoadBalancerArn=load_balancer_arn, **extra)
        listeners.extend(page.get("Listeners") or [])
        marker = page.get("NextMarker")
        if not marker:
            return sorted(listeners, key=lambda listener: listener["Port"])


def other_target_group_names(params):
    """The target groups that forward actions name, other than the module's own."""
    names = set()
    for listener in params.get("listeners") or []:
        for action in listener["DefaultActions"]:
            name = action.get("TargetGroupName")
            if action.get("Type") == "forward" and name and name != params["name"]:
                names.add(name)
    return sorted(names)


def describe(client, params, full=None):
    """The stack as ELBv2 holds it: a dict of target_group and load_balancer (None when absent), their attributes
    and tags (dicts), the load balancer's listeners (by port), and the ARNs of the other target groups that forward
    actions name (None for one that does not exist). Unless ``full`` (default: with state=present), only what
    deleting needs is read."""
    name = params["name"]
    present = params["state"] == "present" if full is None else full
    stack = dict(target_group=describe_target_group(client, name), load_balancer=describe_load_balancer(client, name),
                 target_group_attributes={}, load_balancer_attributes={}, target_group_tags={}, load_balancer_tags={},
                 listeners=[], other_target_groups={})
    group, balancer = stack["target_group"], stack["load_balancer"]
    if balancer:
        stack["load_balancer_attributes"] = _attributes(client.describe_load_balancer_attributes(
            aws_retry=True, LoadBalancerArn=balancer["LoadBalancerArn"])["Attributes"])
    if not present:
        return stack
    arns = [resource[key] for resource, key in ((group, "TargetGroupArn"), (balancer, "LoadBalancerArn")) if resource]
    if arns:
        found = dict((item["ResourceArn"], boto3_tag_list_to_ansible_dict(item.get("Tags") or []))
                     for item in client.describe_tags(aws_retry=True, ResourceArns=arns)["TagDescriptions"])
        stack["target_group_tags"] = found.get(group["TargetGroupArn"], {}) if group else {}
        stack["load_balancer_tags"] = found.get(balancer["LoadBalancerArn"], {}) if balancer else {}
    if group:
        stack["target_group_attributes"] = _attributes(client.describe_target_group_attributes(
            aws_retry=True, TargetGroupArn=group["TargetGroupArn"])["Attributes"])
    if balancer:
        stack["listeners"] = describe_listeners(client, balancer["LoadBalancerArn"])
    for other in other_target_group_names(params):
        found = describe_target_group(client, other)
        stack["other_target_groups"][other] = found["TargetGroupArn"] if found else None
    return stack


# --- the normal form of listeners ------------------------------------------------------------------------------------


def _present(config):
    return dict((key, value) for key, value in (config or {}).items() if value is not None and value != "" and value != {})


def _normal_forward(action):
    arn = action.get("TargetGroupArn")
    forward = action.get("ForwardConfig")
    if not forward:
        return {"TargetGroupArn": arn}
    groups = forward.get("TargetGroups") or []
    stickiness = forward.get("TargetGroupStickinessConfig") or {}
    # AWS shows a plain forward with a ForwardConfig of its one target group alongside TargetGroupArn.
    if len(groups) == 1 and not stickiness.get("Enabled"):
        return {"TargetGroupArn": arn or groups[0].get("TargetGroupArn")}
    result = {"ForwardConfig": {"TargetGroups": sorted(
        ({"TargetGroupArn": group.get("TargetGroupArn"), "Weight": int(group.get("Weight", 1))} for group in groups),
        key=lambda group: group["TargetGroupArn"] or "")}}
    if stickiness.get("Enabled"):
        result["ForwardConfig"]["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": int(stickiness.get("DurationSeconds") or 3600)}
    return result


def _normal_authenticate(config, keys):
    result = dict((key, config.get(key)) for key in keys)
    for key, default in AUTHENTICATE_DEFAULTS.items():
        result[key] = config.get(key) if config.get(key) not in (None, "") else default
    result["SessionTimeout"] = int(result["SessionTimeout"])
    extra = config.get("AuthenticationRequestExtraParams")
    if extra:
        result["AuthenticationRequestExtraParams"] = dict((str(key), str(value)) for key, value in extra.items())
    return result


def normal_action(action, position):
    """An action in the form in which the module compares it: AWS's defaults filled in, Order given, no secret."""
    kind = action.get("Type")
    result = {"Type": kind, "Order": int(action["Order"]) if action.get("Order") is not None else position + 1}
    if kind == "forward":
        result.update(_normal_forward(action))
    elif kind == "redirect":
        config = dict(REDIRECT_DEFAULTS, **_present(action.get("RedirectConfig")))
        config["Port"] = str(config["Port"])
        result["RedirectConfig"] = config
    elif kind == "fixed-response":
        config = _present(action.get("FixedResponseConfig"))
        config["StatusCode"] = str(config.get("StatusCode"))
        result["FixedResponseConfig"] = config
    elif kind == OIDC:
        result["AuthenticateOidcConfig"] = _normal_authenticate(action.get("AuthenticateOidcConfig") or {}, OIDC_KEYS)
    elif kind == COGNITO:
        result["AuthenticateCognitoConfig"] = _normal_authenticate(action.get("AuthenticateCognitoConfig") or {}, COGNITO_KEYS)
    else:
        result.update(without_secrets(dict((key, value) for key, value in action.items() if key not in ("Type", "Order"))))
    return result


def normal_listener(listener, compare_to=None):
    """A listener in its compared form. ``compare_to`` (the desired listener) leaves out what it does not set:
    a listener given without SslPolicy keeps the policy AWS chose, and a fixed response without ContentType the
    one AWS has."""
    actions = [normal_action(action, position) for position, action in enumerate(listener.get("DefaultActions") or [])]
    result = {"Protocol": listener.get("Protocol"), "Port": int(listener.get("Port")),
              "DefaultActions": sorted(actions, key=lambda action: action["Order"])}
    if result["Protocol"] == "HTTPS":
        certificates = listener.get("Certificates") or []
        result["Certificates"] = [{"CertificateArn": certificates[0].get("CertificateArn")}] if certificates else []
        if compare_to is None or compare_to.get("SslPolicy"):
            result["SslPolicy"] = listener.get("SslPolicy")
    if compare_to is not None:
        wanted = normal_listener(compare_to)
        for action, other in zip(result["DefaultActions"], wanted["DefaultActions"]):
            if action["Type"] == other["Type"] == "fixed-response" and "ContentType" not in other["FixedResponseConfig"]:
                action["FixedResponseConfig"].pop("ContentType", None)
    return result


def without_secrets(value):
    """``value`` (a listener, an action, a list of them) without the OIDC client secret, at any depth."""
    if isinstance(value, dict):
        return dict((key, without_secrets(item)) for key, item in value.items() if key not in SECRET_KEYS)
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def secrets_in(value):
    """The client secrets in ``value`` (listeners, actions, any nesting), for the caller's no_log values: the
    listeners option cannot be no_log as a whole."""
    if isinstance(value, dict):
        return [str(item) for key, item in value.items() if key in SECRET_KEYS and item] + [
            secret for key, item in value.items() if key not in SECRET_KEYS for secret in secrets_in(item)]
    if isinstance(value, list):
        return [secret for item in value for secret in secrets_in(item)]
    return []


def has_oidc(listener):
    return any(action.get("Type") == OIDC for action in listener.get("DefaultActions") or [])


def desired_listener(listener, own_arn, other_arns, name):
    """A listener as CreateListener/ModifyListener take it: None options dropped, the module's own target group and
    any other named target group resolved to their ARNs."""
    result = dict((key, value) for key, value in deepcopy(listener).items() if value is not None)
    if not result.get("Certificates"):
        result.pop("Certificates", None)
    for action in result["DefaultActions"]:
        if action.get("Type") != "forward":
            continue
        group_name = action.pop("TargetGroupName", None)
        if group_name and group_name != name:
            action["TargetGroupArn"] = other_arns.get(group_name) or ""
        elif not action.get("TargetGroupArn") and not action.get("ForwardConfig"):
            action["TargetGroupArn"] = own_arn
    return result


# --- the plan ------------------------------------------------------------------------------------------------------


def desired_lb_attributes(params):
    attributes = {}
    for option, key, form in LB_ATTRIBUTES:
        if option.startswith("access_logs_s3_") and not (params["access_logs_enabled"] or params["access_logs_s3_bucket"]):
            continue
        value = params[option]
        if option == "deletion_protection" and value is None:
            value = False
        attributes[key] = form(value)
    return attributes


def desired_target_group(params, arn=""):
    """The target group as DescribeTargetGroups would show it once created (the ARN only when known)."""
    options = params["target_group"]
    group = {"TargetGroupArn": arn, "TargetGroupName": params["name"], "Protocol": options["protocol"], "Port": options["port"],
             "VpcId": options["vpc_id"], "TargetType": options["target_type"], "HealthCheckEnabled": True,
             "HealthCheckPort": "traffic-port", "Matcher": {"HttpCode": options["successful_response_codes"]}, "LoadBalancerArns": []}
    for option, key in HEALTH_CHECK:
        group[key] = options[option]
    return group


def _codes(value):
    return set(code.strip() for code in (value or "").split(",") if code.strip())


def _differing(current, desired):
    return sorted(key for key, value in desired.items() if current.get(key) != value)


def plan(stack, params):
    """What the module would do to bring the stack in line with the options (state=present), as a dict:

    - ``conflicts``: [(option, message)] for what cannot change in place (the module fails with the messages);
    - ``target_group``: ``create`` (bool), ``modify`` (ModifyTargetGroup arguments), ``attributes`` (to set),
      ``tags`` ((to set, to remove));
    - ``load_balancer``: ``create``, ``subnets`` (None or the list to set), ``security_groups`` (likewise),
      ``attributes``, ``tags``;
    - ``listeners``: ``create`` (desired listeners), ``modify`` ((current, desired, use_existing_secret)),
      ``delete`` (current listeners).

    Listeners name the target group by its ARN, "" while it does not exist yet."""
    name = params["name"]
    group, balancer = stack["target_group"], stack["load_balancer"]
    result = dict(conflicts=[], target_group={}, load_balancer={}, listeners=dict(create=[], modify=[], delete=[]))
    options = params["target_group"]

    wanted_group = desired_target_group(params)
    if group is None:
        result["target_group"] = dict(create=True, attributes={DEREGISTRATION_DELAY: str(options["deregistration_delay_timeout"])},
                                      tags=(dict(params["tags"] or {}), []))
    else:
        for option, key in TARGET_GROUP_IDENTITY:
            if group.get(key) != wanted_group[key]:
                result["conflicts"].append(("target_group." + option, (
                    "The target group {0} has {1} {2!r}, not {3!r}, and ELBv2 cannot change it in place: delete the stack "
                    "(state=absent) or give it another name.").format(name, option, group.get(key), wanted_group[key])))
        modify = dict((key, wanted_group[key]) for key in _differing(group, dict((key, wanted_group[key]) for option, key in HEALTH_CHECK)))
        if _codes((group.get("Matcher") or {}).get("HttpCode")) != _codes(options["successful_response_codes"]):
            modify["Matcher"] = {"HttpCode": options["successful_response_codes"]}
        attributes = {DEREGISTRATION_DELAY: str(options["deregistration_delay_timeout"])}
        attributes = dict((key, attributes[key]) for key in _differing(stack["target_group_attributes"], attributes))
        to_set, to_unset = compare_aws_tags(stack["target_group_tags"], params["tags"], params["purge_tags"]) \
            if params["tags"] is not None else ({}, [])
        result["target_group"] = dict((key, value) for key, value in (
            ("modify", modify), ("attributes", attributes), ("tags", (to_set, to_unset) if to_set or to_unset else None)) if value)

    lb_attributes = desired_lb_attributes(params)
    if balancer is None:
        result["load_balancer"] = dict(create=True, attributes=lb_attributes, tags=(dict(params["tags"] or {}), []))
    else:
        if balancer.get("Scheme") != params["scheme"]:
            result["conflicts"].append(("scheme", (
                "The load balancer {0} is {1}, not {2}, and ELBv2 cannot change the scheme in place: delete the stack "
                "(state=absent) or give it another name.").format(name, balancer.get("Scheme"), params["scheme"])))
        if balancer.get("Type") != "application":
            result["conflicts"].append(("name", "The load balancer {0} is of type {1}, not application: give another name.".format(
                name, balancer.get("Type"))))
        changes = {}
        subnets = sorted(zone.get("SubnetId") for zone in balancer.get("AvailabilityZones") or [])
        if subnets != sorted(params["subnets"]):
            changes["subnets"] = list(params["subnets"])
        if params["security_groups"] is not None and sorted(balancer.get("SecurityGroups") or []) != sorted(params["security_groups"]):
            changes["security_groups"] = list(params["security_groups"])
        attributes = dict((key, lb_attributes[key]) for key in _differing(stack["load_balancer_attributes"], lb_attributes))
        if attributes:
            changes["attributes"] = attributes
        to_set, to_unset = compare_aws_tags(stack["load_balancer_tags"], params["tags"], params["purge_tags"]) \
            if params["tags"] is not None else ({}, [])
        if to_set or to_unset:
            changes["tags"] = (to_set, to_unset)
        result["load_balancer"] = changes

    own_arn = group["TargetGroupArn"] if group else ""
    for other, arn in sorted(stack["other_target_groups"].items()):
        if arn is None:
            result["conflicts"].append(("listeners", "A forward action names the target group {0}, which does not exist.".format(other)))
    current_by_port = dict((listener["Port"], listener) for listener in stack["listeners"])
    for listener in params["listeners"] or []:
        wanted = desired_listener(listener, own_arn, stack["other_target_groups"], name)
        current = current_by_port.pop(wanted["Port"], None)
        if current is None:
            result["listeners"]["create"].append(wanted)
            continue
        differs = normal_listener(current, wanted) != normal_listener(wanted, wanted)
        if has_oidc(wanted) and params["oidc_client_secret_update"] == "always":
            differs = True
        if differs:
            result["listeners"]["modify"].append((current, wanted, _keeps_secret(current, wanted, params)))
    if params["purge_listeners"]:
        result["listeners"]["delete"] = sorted(current_by_port.values(), key=lambda listener: listener["Port"])
    return result


def _keeps_secret(current, wanted, params):
    """Whether ModifyListener keeps the listener's client secret (UseExistingClientSecret): with on_create, when the
    listener already authenticates with the same OIDC client."""
    if params["oidc_client_secret_update"] != "on_create":
        return False
    current_clients = set((action.get("AuthenticateOidcConfig") or {}).get("ClientId")
                          for action in current.get("DefaultActions") or [] if action.get("Type") == OIDC)
    wanted_clients = set((action.get("AuthenticateOidcConfig") or {}).get("ClientId")
                         for action in wanted["DefaultActions"] if action.get("Type") == OIDC)
    return bool(wanted_clients) and wanted_clients <= current_clients


def with_existing_secret(actions):
    """OIDC actions that keep the listener's client secret rather than send one."""
    result = deepcopy(actions)
    for action in result:
        if action.get("Type") == OIDC:
            config = action["AuthenticateOidcConfig"]
            config.pop("ClientSecret", None)
            config["UseExistingClientSecret"] = True
    return result


def has_changes(changes):
    return bool(changes["target_group"] or changes["load_balancer"] or any(changes["listeners"].values()))


def change_summary(changes):
    """Short strings naming what changes, for the module's ``changes`` result (and the drift kind)."""
    summary = []
    for part, label in (("target_group", "target_group"), ("load_balancer", "load_balancer")):
        planned = changes[part]
        if planned.get("create"):
            summary.append("{0} created".format(label))
            continue
        for key in ("modify", "subnets", "security_groups", "attributes", "tags"):
            if planned.get(key):
                summary.append("{0} {1} modified".format(label, "health_check" if key == "modify" else key))
    for listener in changes["listeners"]["create"]:
        summary.append("listener {0} created".format(listener["Port"]))
    for current, wanted, keeps in changes["listeners"]["modify"]:
        summary.append("listener {0} modified".format(current["Port"]))
    for listener in changes["listeners"]["delete"]:
        summary.append("listener {0} deleted".format(listener["Port"]))
    return summary


# --- the stack as it will be, and the module's views of it ---------------------------------------------------------------


def _apply_tags(tags, change):
    if not change:
        return dict(tags)
    to_set, to_unset = change
    result = dict((key, value) for key, value in tags.items() if key not in to_unset)
    result.update(to_set)
    return result


def predicted(stack, params, changes):
    """The stack as it will be after the changes (for check mode and diff mode)."""
    result = deepcopy(stack)
    planned = changes["target_group"]
    if planned.get("create"):
        result["target_group"] = desired_target_group(params)
    elif planned.get("modify"):
        result["target_group"].update(planned["modify"])
    result["target_group_attributes"].update(planned.get("attributes") or {})
    result["target_group_tags"] = _apply_tags(result["target_group_tags"], planned.get("tags"))

    planned = changes["load_balancer"]
    if planned.get("create"):
        result["load_balancer"] = {
            "LoadBalancerArn": "", "DNSName": "", "CanonicalHostedZoneId": "", "LoadBalancerName": params["name"],
            "Scheme": params["scheme"], "VpcId": params["target_group"]["vpc_id"], "State": {"Code": "provisioning"},
            "Type": "application", "AvailabilityZones": [{"SubnetId": subnet} for subnet in params["subnets"]],
            "SecurityGroups": list(params["security_groups"] or []), "IpAddressType": "ipv4"}
    if planned.get("subnets"):
        result["load_balancer"]["AvailabilityZones"] = [{"SubnetId": subnet} for subnet in planned["subnets"]]
    if planned.get("security_groups"):
        result["load_balancer"]["SecurityGroups"] = list(planned["security_groups"])
    result["load_balancer_attributes"].update(planned.get("attributes") or {})
    result["load_balancer_tags"] = _apply_tags(result["load_balancer_tags"], planned.get("tags"))

    planned = changes["listeners"]
    balancer_arn = result["load_balancer"]["LoadBalancerArn"]
    listeners = dict((listener["Port"], listener) for listener in result["listeners"])
    for listener in planned["delete"]:
        listeners.pop(listener["Port"], None)
    for current, wanted, keeps in planned["modify"]:
        listeners[current["Port"]] = dict(without_secrets(wanted), ListenerArn=current["ListenerArn"], LoadBalancerArn=balancer_arn)
    for wanted in planned["create"]:
        listeners[wanted["Port"]] = dict(without_secrets(wanted), ListenerArn="", LoadBalancerArn=balancer_arn)
    result["listeners"] = [listeners[port] for port in sorted(listeners)]
    return result


def comparable(stack):
    """The managed part of the stack, for diff mode (no secret)."""
    if not stack or not (stack.get("load_balancer") or stack.get("target_group")):
        return {}
    view = {}
    group = stack.get("target_group")
    if group:
        view["target_group"] = dict(
            name=group.get("TargetGroupName"), port=group.get("Port"), protocol=group.get("Protocol"), vpc_id=group.get("VpcId"),
            target_type=group.get("TargetType"), successful_response_codes=(group.get("Matcher") or {}).get("HttpCode"),
            deregistration_delay_timeout=stack["target_group_attributes"].get(DEREGISTRATION_DELAY), tags=stack["target_group_tags"])
        for option, key in HEALTH_CHECK:
            view["target_group"][option] = group.get(key)
    balancer = stack.get("load_balancer")
    if balancer:
        attributes = stack["load_balancer_attributes"]
        view["load_balancer"] = dict(
            name=balancer.get("LoadBalancerName"), scheme=balancer.get("Scheme"),
            subnets=sorted(zone.get("SubnetId") for zone in balancer.get("AvailabilityZones") or []),
            security_groups=sorted(balancer.get("SecurityGroups") or []), tags=stack["load_balancer_tags"],
            attributes=dict((key, attributes.get(key)) for option, key, form in LB_ATTRIBUTES if key in attributes))
        view["listeners"] = [camel_dict_to_snake_dict(normal_listener(listener)) for listener in stack.get("listeners") or []]
    return view


def snake_resource(stack, part):
    """The ``part`` (load_balancer or target_group) of the stack as the module returns it: snake_case keys, with its
    attributes ('.' in their keys replaced by '_') and its tags; {} when it does not exist."""
    resource = stack.get(part)
    if not resource:
        return {}
    result = camel_dict_to_snake_dict(resource)
    result["attributes"] = dict((key.replace(".", "_"), value) for key, value in stack[part + "_attributes"].items())
    result["tags"] = dict(stack[part + "_tags"])
    return result


def snake_listeners(stack):
    return [camel_dict_to_snake_dict(without_secrets(listener)) for listener in stack.get("listeners") or []]


def identifiers(stack):
    """What a role needs on a re-run, when the acting task is skipped."""
    balancer, group = stack.get("load_balancer") or {}, stack.get("target_group") or {}
    return dict(load_balancer_arn=balancer.get("LoadBalancerArn", ""), dns_name=balancer.get("DNSName", ""),
                canonical_hosted_zone_id=balancer.get("CanonicalHostedZoneId", ""), target_group_arn=group.get("TargetGroupArn", ""))
