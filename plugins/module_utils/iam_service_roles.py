# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of mlops.mlflow.iam_service_roles: the input checks, describing a role with its inline
policies, attached managed policies and tags, the plan (what differs), the role as it will be, and
applying the plan.

Policy documents are compared semantically with amazon.aws's ``compare_policies`` (order of statements
and of lists does not matter); tags with ``compare_aws_tags``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from urllib.parse import unquote

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import check as _check

# IAM's name patterns are ASCII: \w would admit other letters too.
ROLE_NAME = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,64}$")
POLICY_NAME = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,128}$")
ROLE_DESCRIPTION = re.compile("^[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*$")
INLINE_POLICIES_SIZE = 10240
# IAM paths: "/" or "/" + printable ASCII + "/", up to 512 characters.
ROLE_PATH = re.compile(r"^/([\x21-\x7e]*/)?$")
POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\x21-\x7e]+$")
MIN_SESSION, MAX_SESSION = 3600, 43200
DEFAULT_SESSION = 3600


def parse_document(value, where):
    """A policy document as a dict, from a dict or a JSON string; raises InvalidInput naming ``where``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise InvalidInput("{0} is not valid JSON ({1}).".format(where, error))
    _check(isinstance(value, dict), "{0} must be a JSON object (a dictionary), got {1}.".format(where, type(value).__name__))
    _check(value.get("Statement") is not None, "{0} has no Statement.".format(where))
    return value


def validate(params):
    """The roles as the module works with them (documents parsed, defaults applied); raises InvalidInput,
    naming the role and the option, for what IAM would refuse."""
    roles = params.get("roles") or []
    _check(roles, "roles is empty: give at least one role.")
    present = params.get("state", "present") == "present"
    seen = {}
    result = []
    for index, role in enumerate(roles):
        name = role.get("name")
        _check(isinstance(name, str) and ROLE_NAME.match(name),
               "roles[{0}]: name must be 1 to 64 letters, digits and +=,.@_- characters, got {1!r}.".format(index, name))
        # IAM role names are unique regardless of case.
        _check(name.lower() not in seen, "roles: {0} is given more than once (IAM role names ignore case).".format(name))
        seen[name.lower()] = True
        where = "role {0}".format(name)
        path = role.get("path") or "/"
        _check(len(path) <= 512 and ROLE_PATH.match(path),
               "{0}: path must begin and end with / and hold printable ASCII characters only (up to 512), got {1!r}.".format(where, path))
        spec = {"name": name, "path": path}
        if not present:
            result.append(spec)
            continue
        _check(role.get("assume_role_policy_document") is not None,
               "{0}: assume_role_policy_document is required with state=present.".format(where))
        spec["assume_role_policy_document"] = parse_document(role["assume_role_policy_document"],
                                                             "{0}: assume_role_policy_document".format(where))
        description = role.get("description")
        _check(description is None or len(description) <= 1000, "{0}: description may have up to 1000 characters.".format(where))
        _check(description is None or ROLE_DESCRIPTION.match(description),
               "{0}: description may hold printable Latin-1 characters only (IAM refuses others).".format(where))
        spec["description"] = description
        inline = {}
        for policy_name, document in (role.get("inline_policies") or {}).items():
            _check(POLICY_NAME.match(str(policy_name)),
                   "{0}: inline policy name must be 1 to 128 letters, digits and +=,.@_- characters, got {1!r}.".format(where, policy_name))
            inline[policy_name] = parse_document(document, "{0}: inline policy {1}".format(where, policy_name))
        # IAM counts a role's inline policies together, without whitespace.
        size = sum(len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":")))) for document in inline.values())
        _check(size <= INLINE_POLICIES_SIZE, "{0}: the inline policies have {1} characters without whitespace; IAM allows {2} per role. "
               "Split them across roles or use a managed policy.".format(where, size, INLINE_POLICIES_SIZE))
        spec["inline_policies"] = inline
        arns = list(role.get("managed_policy_arns") or [])
        for arn in arns:
            _check(POLICY_ARN.match(str(arn)), "{0}: managed_policy_arns holds {1!r}, which is no IAM policy ARN.".format(where, arn))
        duplicates = sorted(set(arn for arn in arns if arns.count(arn) > 1))
        _check(not duplicates, "{0}: managed_policy_arns lists {1} more than once.".format(where, ", ".join(duplicates)))
        _check(len(arns) <= 10, "{0}: IAM attaches up to 10 managed policies to a role by default, got {1}.".format(where, len(arns)))
        spec["managed_policy_arns"] = arns
        duration = role.get("max_session_duration")
        _check(duration is None or MIN_SESSION <= duration <= MAX_SESSION,
               "{0}: max_session_duration must be between {1} and {2} seconds, got {3}.".format(where, MIN_SESSION, MAX_SESSION, duration))
        spec["max_session_duration"] = duration
        boundary = role.get("permissions_boundary")
        _check(boundary is None or POLICY_ARN.match(boundary),
               "{0}: permissions_boundary must be an IAM policy ARN, got {1!r}.".format(where, boundary))
        spec["permissions_boundary"] = boundary
        tags = dict(role.get("tags") or {})
        for key, value in tags.items():
            _check(not str(key).lower().startswith("aws:"), "{0}: tag keys beginning with 'aws:' are reserved for AWS, got {1!r}.".format(where, key))
            _check(0 < len(str(key)) <= 128 and len(str(value)) <= 256,
                   "{0}: tag keys must have 1 to 128 characters and values up to 256, got {1!r}.".format(where, key))
        _check(len(tags) <= 50, "{0}: a role may have up to 50 tags, got {1}.".format(where, len(tags)))
        spec["tags"] = dict((str(key), str(value)) for key, value in tags.items())
        result.append(spec)
    return result


def as_document(value):
    """A policy document as IAM's answer holds it (boto3 decodes it into a dict; a string is URL-encoded JSON)."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


def documents_differ(current, desired):
    return compare_policies(current, desired)


def digest(document):
    """A short fingerprint of a document, for diff mode: it shows that a document changes without showing it."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- describing --------------------------------------------------------------------------------------------------------


@AWSRetry.jittered_backoff()
def _paginate(client, operation, key, **arguments):
    return client.get_paginator(operation).paginate(**arguments).build_full_result().get(key) or []


def describe(client, name):
    """The role with its inline policies, managed policies and tags, or None when there is none."""
    try:
        role = client.get_role(aws_retry=True, RoleName=name)["Role"]
    except is_boto3_error_code("NoSuchEntity"):
        return None
    inline = {}
    for policy_name in _paginate(client, "list_role_policies", "PolicyNames", RoleName=name):
        answer = client.get_role_policy(aws_retry=True, RoleName=name, PolicyName=policy_name)
        inline[policy_name] = as_document(answer["PolicyDocument"])
    attached = [item["PolicyArn"] for item in _paginate(client, "list_attached_role_policies", "AttachedPolicies", RoleName=name)]
    tags = boto3_tag_list_to_ansible_dict(_paginate(client, "list_role_tags", "Tags", RoleName=name))
    return {
        "arn": role["Arn"],
        "role_name": role["RoleName"],
        "role_id": role.get("RoleId"),
        "path": role.get("Path") or "/",
        "description": role.get("Description"),
        "assume_role_policy_document": as_document(role.get("AssumeRolePolicyDocument")) or {},
        "max_session_duration": role.get("MaxSessionDuration") or DEFAULT_SESSION,
        "permissions_boundary": (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        "inline_policies": inline,
        "managed_policy_arns": attached,
        "tags": tags,
    }


def instance_profiles(client, name):
    """The names of the instance profiles that hold the role."""
    return [item["InstanceProfileName"] for item in _paginate(client, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name)]


# --- planning ----------------------------------------------------------------------------------------------------------


def plan(current, spec, purge_inline=True, purge_managed=True, purge_tags=True):
    """What to change so that the role ``current`` (as describe() gives it, or None) matches ``spec``.

    A dict with the keys that apply: create (True), path (the path asked for when it differs: IAM cannot change it),
    trust (document), update (UpdateRole's arguments), boundary (ARN), put_inline ({name: document}),
    delete_inline ([names]), attach ([ARNs]), detach ([ARNs]), tags ((to set, to remove)).
    """
    if current is None:
        changes = {"create": True}
        if spec["inline_policies"]:
            changes["put_inline"] = dict(spec["inline_policies"])
        if spec["managed_policy_arns"]:
            changes["attach"] = list(spec["managed_policy_arns"])
        return changes
    changes = {}
    if current["path"] != spec["path"]:
        changes["path"] = spec["path"]
    if documents_differ(current["assume_role_policy_document"], spec["assume_role_policy_document"]):
        changes["trust"] = spec["assume_role_policy_document"]
    update = {}
    if spec["description"] is not None and (current["description"] or "") != spec["description"]:
        update["Description"] = spec["description"]
    if spec["max_session_duration"] is not None and current["max_session_duration"] != spec["max_session_duration"]:
        update["MaxSessionDuration"] = spec["max_session_duration"]
    if update:
        changes["update"] = update
    if spec["permissions_boundary"] is not None and current["permissions_boundary"] != spec["permissions_boundary"]:
        changes["boundary"] = spec["permissions_boundary"]
    put = dict((name, document) for name, document in spec["inline_policies"].items()
               if name not in current["inline_policies"] or documents_differ(current["inline_policies"][name], document))
    if put:
        changes["put_inline"] = put
    if purge_inline:
        delete = sorted(name for name in current["inline_policies"] if name not in spec["inline_policies"])
        if delete:
            changes["delete_inline"] = delete
    attach = [arn for arn in spec["managed_policy_arns"] if arn not in current["managed_policy_arns"]]
    if attach:
        changes["attach"] = attach
    if purge_managed:
        detach = [arn for arn in current["managed_policy_arns"] if arn not in spec["managed_policy_arns"]]
        if detach:
            changes["detach"] = detach
    to_set, to_unset = compare_aws_tags(current["tags"], spec["tags"], purge_tags)
    if to_set or to_unset:
        changes["tags"] = (to_set, sorted(to_unset))
    return changes


def role_arn(partition, account, path, name):
    return "arn:{0}:iam::{1}:role{2}{3}".format(partition, account, path, name)


def predicted(current, spec, changes, arn=None):
    """The role (as describe() gives it) as it will be after ``changes``. For a role to be created, ``arn`` is its
    ARN when known (the role ID is not)."""
    if current is None:
        return {
            "arn": arn,
            "role_name": spec["name"],
            "role_id": None,
            "path": spec["path"],
            "description": spec["description"],
            "assume_role_policy_document": spec["assume_role_policy_document"],
            "max_session_duration": spec["max_session_duration"] or DEFAULT_SESSION,
            "permissions_boundary": spec["permissions_boundary"],
            "inline_policies": dict(spec["inline_policies"]),
            "managed_policy_arns": list(spec["managed_policy_arns"]),
            "tags": dict(spec["tags"]),
        }
    result = dict(current)
    if "trust" in changes:
        result["assume_role_policy_document"] = changes["trust"]
    update = changes.get("update") or {}
    if "Description" in update:
        result["description"] = update["Description"]
    if "MaxSessionDuration" in update:
        result["max_session_duration"] = update["MaxSessionDuration"]
    if "boundary" in changes:
        result["permissions_boundary"] = changes["boundary"]
    inline = dict((name, document) for name, document in current["inline_policies"].items()
                  if name not in changes.get("delete_inline", []))
    inline.update(changes.get("put_inline") or {})
    result["inline_policies"] = inline
    result["managed_policy_arns"] = [arn for arn in current["managed_policy_arns"] if arn not in changes.get("detach", [])] + \
        list(changes.get("attach") or [])
    if "tags" in changes:
        to_set, to_unset = changes["tags"]
        tags = dict((key, value) for key, value in current["tags"].items() if key not in to_unset)
        tags.update(to_set)
        result["tags"] = tags
    return result


def returned(role):
    """A role (as describe() or predicted() give it) as the module returns it: inline policies by name only."""
    return {
        "arn": role["arn"],
        "role_name": role["role_name"],
        "role_id": role["role_id"],
        "path": role["path"],
        "description": role["description"],
        "assume_role_policy_document": role["assume_role_policy_document"],
        "inline_policy_names": sorted(role["inline_policies"]),
        "managed_policy_arns": sorted(role["managed_policy_arns"]),
        "max_session_duration": role["max_session_duration"],
        "permissions_boundary": role["permissions_boundary"],
        "tags": dict(role["tags"]),
    }


def comparable(role):
    """A role for diff mode: what the module returns, with each inline policy as a fingerprint of its document."""
    if role is None:
        return None
    result = returned(role)
    del result["inline_policy_names"]
    result["inline_policies"] = dict((name, digest(document)) for name, document in sorted(role["inline_policies"].items()))
    return result


# --- changing ----------------------------------------------------------------------------------------------------------


def _dumps(document):
    return json.dumps(document, sort_keys=True)


def create(client, spec):
    """CreateRole with everything it takes; returns IAM's Role."""
    arguments = dict(RoleName=spec["name"], Path=spec["path"], AssumeRolePolicyDocument=_dumps(spec["assume_role_policy_document"]))
    if spec["description"] is not None:
        arguments["Description"] = spec["description"]
    if spec["max_session_duration"] is not None:
        arguments["MaxSessionDuration"] = spec["max_session_duration"]
    if spec["permissions_boundary"] is not None:
        arguments["PermissionsBoundary"] = spec["permissions_boundary"]
    if spec["tags"]:
        arguments["Tags"] = ansible_dict_to_boto3_tag_list(spec["tags"])
    return client.create_role(aws_retry=True, **arguments)["Role"]


def apply_changes(client, name, changes):
    """Everything in ``changes`` but create, in the order: trust, UpdateRole, boundary, inline policies, managed
    policies, tags."""
    if "trust" in changes:
        client.update_assume_role_policy(aws_retry=True, RoleName=name, PolicyDocument=_dumps(changes["trust"]))
    if changes.get("update"):
        client.update_role(aws_retry=True, RoleName=name, **changes["update"])
    if "boundary" in changes:
        client.put_role_permissions_boundary(aws_retry=True, RoleName=name, PermissionsBoundary=changes["boundary"])
    for policy_name, document in sorted((changes.get("put_inline") or {}).items()):
        client.put_role_policy(aws_retry=True, RoleName=name, PolicyName=policy_name, PolicyDocument=_dumps(document))
    for policy_name in changes.get("delete_inline") or []:
        client.delete_role_policy(aws_retry=True, RoleName=name, PolicyName=policy_name)
    for arn in changes.get("attach") or []:
        client.attach_role_policy(aws_retry=True, RoleName=name, PolicyArn=arn)
    for arn in changes.get("detach") or []:
        client.detach_role_policy(aws_retry=True, RoleName=name, PolicyArn=arn)
    if "tags" in changes:
        to_set, to_unset = changes["tags"]
        if to_unset:
            client.untag_role(aws_retry=True, RoleName=name, TagKeys=list(to_unset))
        if to_set:
            client.tag_role(aws_retry=True, RoleName=name, Tags=ansible_dict_to_boto3_tag_list(to_set))


def delete(client, current, profiles):
    """Detach the managed policies, delete the inline policies, take the role out of its instance profiles (which stay),
    delete the role."""
    name = current["role_name"]
    for arn in current["managed_policy_arns"]:
        client.detach_role_policy(aws_retry=True, RoleName=name, PolicyArn=arn)
    for policy_name in sorted(current["inline_policies"]):
        client.delete_role_policy(aws_retry=True, RoleName=name, PolicyName=policy_name)
    for profile in profiles:
        client.remove_role_from_instance_profile(aws_retry=True, RoleName=name, InstanceProfileName=profile)
    client.delete_role(aws_retry=True, RoleName=name)


def argument_spec():
    """The options of mlops.mlflow.iam_service_roles (also what mlops.mlflow.aws_drift_info compares)."""
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        roles=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            path=dict(type="str", default="/"),
            description=dict(type="str"),
            assume_role_policy_document=dict(type="raw"),
            inline_policies=dict(type="dict", default={}),
            managed_policy_arns=dict(type="list", elements="str", default=[]),
            max_session_duration=dict(type="int"),
            permissions_boundary=dict(type="str"),
            tags=dict(type="dict", default={}),
        )),
        purge_inline_policies=dict(type="bool", default=True),
        purge_managed_policies=dict(type="bool", default=True),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=120),
    )
