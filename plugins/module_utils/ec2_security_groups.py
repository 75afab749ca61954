# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pure logic of the ec2_security_groups module: input checks, rule normalisation and the comparison of
the rules and tags a set of security groups has with the ones it should have.

A rule is compared by its key ``(protocol, from_port, to_port, kind, target)``:

* ``protocol`` is what EC2 answers (``tcp``, ``udp``, ``icmp``, ``-1`` for all, or a protocol number as a
  string); ``from_port`` and ``to_port`` are ints, or None where the protocol has no ports;
* ``kind`` is ``cidr_ip``, ``cidr_ipv6``, ``group`` (a group known by name: one of the set, or a group of the
  VPC that a rule names), ``group_id`` (any other group) or ``prefix_list_id`` (only found on groups; the
  module's options cannot name one);
* ``target`` is the CIDR, the group name, the group ID or the prefix list ID.

The rule description is not part of the key: a rule whose description differs is updated in place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import check as _check

# What EC2 answers for the protocols it knows by name (it stores 6, 17, 1 and all as these).
_PROTOCOL_NAMES = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
                   "-1": "-1", "all": "-1", "icmpv6": "58", "58": "58"}
_PORTED = ("tcp", "udp")
_TYPED = ("icmp", "58")  # from_port is the ICMP type, to_port the code; -1 means all
_PORT_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
TARGETS = ("cidr_ip", "cidr_ipv6", "group_name", "group_id")
# A group that EC2 gives every new group in a VPC: all traffic out to anywhere (IPv4).
DEFAULT_EGRESS = {("-1", None, None, "cidr_ip", "0.0.0.0/0"): ""}
_KIND_OPTION = {"cidr_ip": "cidr_ip", "cidr_ipv6": "cidr_ipv6", "group": "group_name", "group_id": "group_id",
                "prefix_list_id": "prefix_list_id"}


def protocol_of(proto, where):
    """EC2's form of a protocol option (tcp, udp, icmp, -1 or a number 0-255 as a string)."""
    text = str(proto).strip().lower()
    if text in _PROTOCOL_NAMES:
        return _PROTOCOL_NAMES[text]
    _check(text.isdigit() and 0 <= int(text) <= 255,
           "{0}: proto must be tcp, udp, icmp, icmpv6, -1, all or a protocol number 0-255, got {1!r}.".format(where, proto))
    return str(int(text))


def _port(value, where):
    _check(isinstance(value, int) and 0 <= value <= 65535, "{0}: ports must be between 0 and 65535, got {1!r}.".format(where, value))
    return value


def port_ranges(rule, protocol, where):
    """The (from, to) pairs a rule covers."""
    ports = rule.get("ports")
    from_port, to_port = rule.get("from_port"), rule.get("to_port")
    given = ports not in (None, []) or from_port is not None or to_port is not None
    if protocol in _PORTED:
        _check(ports in (None, []) or (from_port is None and to_port is None),
               "{0}: give either ports or from_port and to_port, not both.".format(where))
        if ports not in (None, []):
            ranges = []
            for port in ports:
                match = _PORT_RANGE.match(str(port))
                _check(match, "{0}: ports takes numbers and 'from-to' ranges, got {1!r}.".format(where, port))
                low = _port(int(match.group(1)), where)
                high = _port(int(match.group(2) or match.group(1)), where)
                _check(low <= high, "{0}: the port range {1!r} ends before it begins.".format(where, port))
                ranges.append((low, high))
            return sorted(set(ranges))
        _check(from_port is not None and to_port is not None,
               "{0}: a {1} rule needs ports, or from_port and to_port.".format(where, protocol))
        low, high = _port(from_port, where), _port(to_port, where)
        _check(low <= high, "{0}: from_port {1} is above to_port {2}.".format(where, low, high))
        return [(low, high)]
    if protocol in _TYPED:
        _check(ports in (None, []), "{0}: an ICMP rule takes from_port (the type) and to_port (the code), not ports.".format(where))
        low = -1 if from_port is None else from_port
        high = -1 if to_port is None else to_port
        _check(-1 <= low <= 255 and -1 <= high <= 255, "{0}: the ICMP type and code must be between -1 and 255.".format(where))
        return [(low, high)]
    _check(not given, "{0}: protocol {1} has no ports; remove ports, from_port and to_port.".format(where, "-1 (all)" if protocol == "-1" else protocol))
    return [(None, None)]


def _network(text, version, where):
    text = str(text).strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidInput("{0}: {1!r} is not an IPv{2} network in CIDR notation.".format(where, text, version)) from None
    _check(network.version == version, "{0}: {1!r} is not an IPv{2} network; use {3}.".format(
        where, text, version, "cidr_ipv6" if version == 4 else "cidr_ip"))
    # Host bits are dropped (10.1.2.3/8 is 10.0.0.0/8), as amazon.aws.ec2_security_group does.
    return network.with_prefixlen


def rule_targets(rule, where):
    """[(kind, target)] of a rule; exactly one target option must be given."""
    given = [name for name in TARGETS if rule.get(name) not in (None, [], "")]
    _check(len(given) == 1, "{0}: a rule needs exactly one of {1}, got {2}.".format(where, ", ".join(TARGETS), ", ".join(given) or "none"))
    kind = given[0]
    values = rule[kind] if isinstance(rule[kind], list) else [rule[kind]]
    if kind == "cidr_ip":
        return [("cidr_ip", _network(value, 4, where)) for value in values]
    if kind == "cidr_ipv6":
        return [("cidr_ipv6", _network(value, 6, where)) for value in values]
    if kind == "group_name":
        _check(all(values), "{0}: group_name is empty.".format(where))
        return [("group", str(value)) for value in values]
    for value in values:
        _check(str(value).startswith("sg-"), "{0}: group_id must be a security group ID (sg-...), got {1!r}.".format(where, value))
    return [("group_id", str(value)) for value in values]


def rule_keys(rule, where):
    """{key: description or None} of one rule option (several keys for several ports or targets)."""
    _check(rule.get("proto") not in (None, ""), "{0}: proto is required.".format(where))
    protocol = protocol_of(rule["proto"], where)
    ranges = port_ranges(rule, protocol, where)
    targets = rule_targets(rule, where)
    description = rule.get("rule_desc")
    if description is not None:
        _check(len(description) <= 255, "{0}: rule_desc has more than 255 characters.".format(where))
        _check(EC2_TEXT.match(description), "{0}: rule_desc {1!r} has a character EC2 refuses; {2}.".format(where, description, EC2_TEXT_HINT))
    return dict(((protocol, low, high, kind, target), description) for low, high in ranges for kind, target in targets)


def desired_rules(rules, where):
    """{key: description or None} of a rules option; None stays None (egress left alone)."""
    if rules is None:
        return None
    keys = {}
    for index, rule in enumerate(rules):
        keys.update(rule_keys(rule, "{0}[{1}]".format(where, index)))
    return keys


# What EC2 accepts in a VPC security group's name, its description and a rule's description.
EC2_TEXT = re.compile(r"^[a-zA-Z0-9 ._:/()#,@\[\]+=&;{}!$*-]*$")
EC2_TEXT_HINT = "use letters a-z and A-Z, digits, spaces and ._-:/()#,@[]+=&;{}!$*"


def validate(params):
    """Raises InvalidInput, naming the group, the rule and the fix. Returns {name: {"ingress", "egress"}} with
    the desired rule keys of each group (nothing for state=absent)."""
    _check(str(params.get("vpc_id") or "").startswith("vpc-"), "vpc_id must be a VPC ID (vpc-...), got {0!r}.".format(params.get("vpc_id")))
    groups = params.get("groups") or []
    _check(groups, "groups must name at least one security group.")
    # EC2 compares group names without regard to case.
    names = [str(group.get("name") or "").lower() for group in groups]
    duplicates = sorted(set(name for name in names if names.count(name) > 1))
    _check(not duplicates, "groups names {0} more than once.".format(", ".join(duplicates)))
    _check(params.get("wait_timeout", 0) >= 0, "wait_timeout must not be negative.")
    desired = {}
    for group in groups:
        name = group.get("name") or ""
        _check(0 < len(name) <= 255, "groups: a name must have 1 to 255 characters, got {0!r}.".format(name))
        _check(not name.lower().startswith("sg-"), "groups: {0}: EC2 refuses group names that begin with 'sg-'.".format(name))
        _check(name.lower() != "default", "groups: 'default' is the VPC's own group, which EC2 creates and never deletes; choose another name.")
        _check(EC2_TEXT.match(name), "groups: {0!r} has a character EC2 refuses in a group name; {1}.".format(name, EC2_TEXT_HINT))
        if params.get("state") == "absent":
            continue
        description = group.get("description")
        _check(description, "groups: {0}: description is required with state=present.".format(name))
        _check(len(description) <= 255, "groups: {0}: description has more than 255 characters.".format(name))
        _check(EC2_TEXT.match(description), "groups: {0}: the description has a character EC2 refuses; {1}.".format(name, EC2_TEXT_HINT))
        _check(len(group.get("tags") or {}) <= 50, "groups: {0}: EC2 allows 50 tags on a resource.".format(name))
        for key, value in (group.get("tags") or {}).items():
            _check(not str(key).startswith("aws:"), "groups: {0}: tag keys beginning with 'aws:' are reserved for AWS, got {1!r}.".format(name, key))
            _check(0 < len(str(key)) <= 128 and len(str(value)) <= 256,
                   "groups: {0}: tag keys must have 1 to 128 characters and values up to 256, got {1!r}.".format(name, key))
        desired[name] = {
            "ingress": desired_rules(group.get("rules") or [], "groups: {0}: rules".format(name)),
            "egress": desired_rules(group.get("rules_egress"), "groups: {0}: rules_egress".format(name)),
        }
    return desired


def referenced_names(desired):
    """The group names the rules name, sorted."""
    found = set()
    for rules in desired.values():
        for keys in (rules["ingress"], rules["egress"]):
            found.update(key[4] for key in keys or {} if key[3] == "group")
    return sorted(found)


def referenced_ids(desired):
    """The group IDs the rules name, sorted."""
    found = set()
    for rules in desired.values():
        for keys in (rules["ingress"], rules["egress"]):
            found.update(key[4] for key in keys or {} if key[3] == "group_id")
    return sorted(found)


def _ports_of(permission):
    protocol = _PROTOCOL_NAMES.get(str(permission.get("IpProtocol")), str(permission.get("IpProtocol")))
    if protocol in _PORTED or protocol in _TYPED:
        return protocol, permission.get("FromPort"), permission.get("ToPort")
    return protocol, None, None


def current_rules(permissions, id_to_name):
    """{key: description ('' when none)} of a described group's IpPermissions or IpPermissionsEgress.
    Groups that id_to_name knows are keyed by name."""
    keys = {}
    for permission in permissions or []:
        protocol, low, high = _ports_of(permission)
        for item in permission.get("IpRanges") or []:
            keys[(protocol, low, high, "cidr_ip", item["CidrIp"])] = item.get("Description") or ""
        for item in permission.get("Ipv6Ranges") or []:
            keys[(protocol, low, high, "cidr_ipv6", item["CidrIpv6"])] = item.get("Description") or ""
        for item in permission.get("UserIdGroupPairs") or []:
            group_id = item.get("GroupId")
            if group_id in id_to_name:
                keys[(protocol, low, high, "group", id_to_name[group_id])] = item.get("Description") or ""
            else:
                keys[(protocol, low, high, "group_id", group_id)] = item.get("Description") or ""
        for item in permission.get("PrefixListIds") or []:
            keys[(protocol, low, high, "prefix_list_id", item["PrefixListId"])] = item.get("Description") or ""
    return keys


def canonical_desired(keys, name_to_id):
    """Desired keys with group_id targets that name a known group keyed by that group's name."""
    if keys is None:
        return None
    id_to_name = dict((group_id, name) for name, group_id in name_to_id.items() if group_id)
    result = {}
    for key, description in keys.items():
        if key[3] == "group_id" and key[4] in id_to_name:
            key = key[:3] + ("group", id_to_name[key[4]])
        result[key] = description
    return result


def diff_rules(current, desired, purge):
    """{"authorize": [keys], "revoke": [keys], "describe": {key: description}} to go from current to desired;
    a desired description of None leaves the description alone."""
    authorize = sorted((key for key in desired if key not in current), key=sort_key)
    revoke = sorted((key for key in current if key not in desired), key=sort_key) if purge else []
    describe = dict((key, description) for key, description in desired.items()
                    if key in current and description is not None and description != current[key])
    return {"authorize": authorize, "revoke": revoke, "describe": describe}


def rules_after(current, desired, changes):
    """{key: description} once the changes are made."""
    result = dict((key, value) for key, value in current.items() if key not in changes["revoke"])
    for key in changes["authorize"]:
        result[key] = desired[key] or ""
    result.update(changes["describe"])
    return result


def sort_key(key):
    return tuple(-2 if part is None else part for part in key[:3]) + key[3:]


def tag_changes(current_tags, tags, purge_tags):
    """(tags to set, keys to remove)."""
    return compare_aws_tags(current_tags, tags or {}, purge_tags)


def group_tags(group):
    return boto3_tag_list_to_ansible_dict(group.get("Tags") or [])


def plan(group, current, desired, params, name_to_id):
    """What to change on one group: {"create", "ingress", "egress", "tags", "after"}. ``current`` is the described
    group or None; ``desired`` its validated option and ``params`` the module options."""
    id_to_name = dict((group_id, name) for name, group_id in name_to_id.items() if group_id)
    if current is None:
        ingress_now, egress_now, tags_now = {}, dict(DEFAULT_EGRESS), {}
    else:
        ingress_now = current_rules(current.get("IpPermissions"), id_to_name)
        egress_now = current_rules(current.get("IpPermissionsEgress"), id_to_name)
        tags_now = group_tags(current)
    ingress = canonical_desired(desired["ingress"], name_to_id)
    egress = canonical_desired(desired["egress"], name_to_id)
    ingress_changes = diff_rules(ingress_now, ingress, params["purge_rules"])
    empty = {"authorize": [], "revoke": [], "describe": {}}
    egress_changes = diff_rules(egress_now, egress, params["purge_rules_egress"]) if egress is not None else empty
    # What a revoke names, with the current descriptions (moto matches them; EC2 ignores them).
    ingress_changes["current"], egress_changes["current"] = ingress_now, egress_now
    if current is None:
        to_set, to_unset = dict(group.get("tags") or {}), []
    else:
        to_set, to_unset = tag_changes(tags_now, group.get("tags"), params["purge_tags"])
    return {
        "create": current is None,
        "ingress": ingress_changes,
        "egress": egress_changes,
        "tags": (to_set, to_unset),
        "before": None if current is None else {"ingress": ingress_now, "egress": egress_now, "tags": tags_now},
        "after": {
            "ingress": rules_after(ingress_now, ingress, ingress_changes),
            "egress": rules_after(egress_now, egress, egress_changes) if egress is not None else egress_now,
            "tags": dict((key, value) for key, value in dict(tags_now, **to_set).items() if key not in to_unset),
        },
    }


def changes_anything(group_plan):
    to_set, to_unset = group_plan["tags"]
    return bool(group_plan["create"] or to_set or to_unset or any(
        group_plan[direction][part] for direction in ("ingress", "egress") for part in ("authorize", "revoke", "describe")))


def permissions(keys, name_to_id, with_descriptions=True):
    """EC2 IpPermissions for rule keys ({key: description} or a list of keys), one permission per protocol and
    port range. A group known only by name (not yet created, in check mode) gets GroupId '' and its GroupName."""
    descriptions = keys if isinstance(keys, dict) else dict((key, None) for key in keys)
    grouped = {}
    for key in sorted(descriptions, key=sort_key):
        protocol, low, high, kind, target = key
        permission = grouped.setdefault((protocol, low, high), {"IpProtocol": protocol})
        if low is not None:
            permission["FromPort"], permission["ToPort"] = low, high
        if kind == "cidr_ip":
            entry, member = {"CidrIp": target}, "IpRanges"
        elif kind == "cidr_ipv6":
            entry, member = {"CidrIpv6": target}, "Ipv6Ranges"
        elif kind == "prefix_list_id":
            entry, member = {"PrefixListId": target}, "PrefixListIds"
        elif kind == "group":
            entry, member = {"GroupId": name_to_id.get(target) or ""}, "UserIdGroupPairs"
            if not entry["GroupId"]:
                entry["GroupName"] = target
        else:
            entry, member = {"GroupId": target}, "UserIdGroupPairs"
        if with_descriptions and descriptions[key]:
            entry["Description"] = descriptions[key]
        permission.setdefault(member, []).append(entry)
    return [grouped[ports] for ports in sorted(grouped, key=lambda ports: tuple(-2 if part is None else part for part in ports))]


def rendered(keys):
    """Rules for diff mode: a sorted list of dicts in the module's option names."""
    result = []
    for key in sorted(keys, key=sort_key):
        protocol, low, high, kind, target = key
        rule = {"proto": protocol}
        if low is not None:
            rule["from_port"], rule["to_port"] = low, high
        rule[_KIND_OPTION[kind]] = target
        if keys[key]:
            rule["rule_desc"] = keys[key]
        result.append(rule)
    return result


def comparable(state, description):
    """One group's managed part for diff mode ({} when there is no group)."""
    if not state:
        return {}
    return {"description": description, "rules": rendered(state["ingress"]), "rules_egress": rendered(state["egress"]),
            "tags": dict(state["tags"])}


def snake_group(group):
    """A described group for the result: group_id, group_name, description, vpc_id, ip_permissions,
    ip_permissions_egress (snake_case) and tags (a dict)."""
    return {
        "group_id": group.get("GroupId") or "",
        "group_name": group.get("GroupName"),
        "description": group.get("Description"),
        "vpc_id": group.get("VpcId"),
        "ip_permissions": [camel_dict_to_snake_dict(item) for item in group.get("IpPermissions") or []],
        "ip_permissions_egress": [camel_dict_to_snake_dict(item) for item in group.get("IpPermissionsEgress") or []],
        "tags": group_tags(group),
    }


def predicted_group(name, description, vpc_id, group_id, group_plan, name_to_id):
    """The group as it will be after the plan (check mode), in DescribeSecurityGroups' shape."""
    after = group_plan["after"]
    return {
        "GroupId": group_id or "", "GroupName": name, "Description": description, "VpcId": vpc_id,
        "IpPermissions": permissions(after["ingress"], name_to_id),
        "IpPermissionsEgress": permissions(after["egress"], name_to_id),
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(after["tags"].items())],
    }


def references_to(permissions_list, group_ids):
    """The part of IpPermissions that names one of group_ids (what blocks deleting those groups), for a revoke."""
    found = []
    for permission in permissions_list or []:
        pairs = [dict((key, pair[key]) for key in ("GroupId", "Description") if pair.get(key))
                 for pair in permission.get("UserIdGroupPairs") or [] if pair.get("GroupId") in group_ids]
        if pairs:
            item = {"IpProtocol": permission["IpProtocol"], "UserIdGroupPairs": pairs}
            for port in ("FromPort", "ToPort"):
                if permission.get(port) is not None:
                    item[port] = permission[port]
            found.append(item)
    return found


def argument_spec():
    """The options of mlops.mlflow.ec2_security_groups (also what mlops.mlflow.aws_drift_info compares)."""
    rule_options = dict(
        proto=dict(type="str", required=True),
        ports=dict(type="list", elements="str"),
        from_port=dict(type="int"),
        to_port=dict(type="int"),
        cidr_ip=dict(type="list", elements="str"),
        cidr_ipv6=dict(type="list", elements="str"),
        group_name=dict(type="list", elements="str"),
        group_id=dict(type="list", elements="str"),
        rule_desc=dict(type="str"),
    )
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        vpc_id=dict(type="str", required=True),
        groups=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            description=dict(type="str"),
            rules=dict(type="list", elements="dict", default=[], options=rule_options),
            rules_egress=dict(type="list", elements="dict", options=rule_options),
            tags=dict(type="dict", default={}),
        )),
        purge_rules=dict(type="bool", default=True),
        purge_rules_egress=dict(type="bool", default=True),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )


def _describe(client, **kwargs):
    return client.get_paginator("describe_security_groups").paginate(**kwargs).build_full_result().get("SecurityGroups") or []


def describe_by_name(client, vpc_id, names):
    """{name: group} of the VPC's groups with these names (one DescribeSecurityGroups call)."""
    found = _describe(client, Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": sorted(names)}])
    return dict((group["GroupName"], group) for group in found)


def check_against(existing, desired, params):
    """Raise InvalidInput for rules naming groups that neither the set nor the VPC has, and descriptions EC2
    cannot change."""
    known = set(desired) | set(existing)
    unknown = [name for name in referenced_names(desired) if name not in known]
    if unknown:
        raise InvalidInput("Rules name security groups that are neither in groups nor in VPC {0}: {1}. Add them to groups "
                           "or fix the group_name.".format(params["vpc_id"], ", ".join(unknown)))
    for group in params["groups"]:
        current = existing.get(group["name"])
        if current is not None and current.get("Description") != group["description"]:
            raise InvalidInput(
                "Security group {0} ({1}) has the description {2!r}, not {3!r}, and EC2 cannot change a group's description. "
                "Give the existing description, or delete the group (state=absent) so that it is created again.".format(
                    group["name"], current["GroupId"], current.get("Description"), group["description"]))
