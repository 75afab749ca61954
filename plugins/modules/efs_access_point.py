#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: efs_access_point
version_added: 0.1.0
short_description: Manage an Amazon EFS access point, found by its name
description:
  - Creates, replaces and deletes an Amazon EFS access point of a file system, with its POSIX user, its root
    directory and its tags. The MLflow server on Fargate mounts its SQLite directory through one.
  - This module exists because neither amazon.aws nor community.aws (10.0) has a module for EFS access points.
  - Access points have no name of their own. The module keeps O(name) in the access point's C(Name) tag (which EFS
    also shows as the access point's C(Name)) and finds the access point by it among the file system's access
    points. It fails, changing nothing, when two of them carry the name.
  - EFS cannot change an access point apart from its tags. When the POSIX user or the root directory differ from
    the options, the module deletes the access point and creates a new one with the same name (O(replace_on_change)),
    and says so in its result (RV(replaced)) and in the diff. The new access point has a new ID and ARN; task
    definitions, mount options and IAM or file system policies that name the old one must be updated. Files and
    directories in the file system are not touched by the replacement, nor by O(state=absent).
  - Every option is checked before the first API call, so a bad input changes nothing.
options:
  state:
    description:
      - V(present) creates the access point, replaces it when it differs, and manages its tags.
      - V(absent) deletes the access point (not the data it gives access to). Clients that have it mounted lose
        access.
    type: str
    choices: [present, absent]
    default: present
  file_system_id:
    description:
      - The ID of the EFS file system (C(fs-...)).
      - With O(state=present) the file system must exist; when it is still being created and O(wait=true), the module
        waits until it is available. With O(state=absent), a file system that does not exist has no access point to
        delete.
    type: str
    required: true
  name:
    description:
      - The access point's name, kept in its C(Name) tag (up to 256 characters).
    type: str
    required: true
  posix_user:
    description:
      - The POSIX identity every file system request through the access point is made with, whatever user the
        client runs as. Without it, requests keep the client's identity.
    type: dict
    suboptions:
      uid:
        description:
          - The user ID (0 to 4294967295).
        type: int
        required: true
      gid:
        description:
          - The group ID (0 to 4294967295).
        type: int
        required: true
      secondary_gids:
        description:
          - Up to 16 more group IDs. The order does not matter.
        type: list
        elements: int
  root_directory:
    description:
      - The directory of the file system that clients of the access point see as C(/).
      - Without it, the root of the file system.
    type: dict
    suboptions:
      path:
        description:
          - An absolute path with up to four directories, for example V(/mlflow). No part may begin with C(.).
        type: str
        default: /
      creation_info:
        description:
          - The owner and permissions EFS gives the directory when it does not exist yet (it is created when a client
            first connects). Without it, a missing directory makes mounts through the access point fail.
        type: dict
        suboptions:
          owner_uid:
            description:
              - The owner's user ID.
            type: int
            required: true
          owner_gid:
            description:
              - The owner's group ID.
            type: int
            required: true
          permissions:
            description:
              - The permissions, three or four octal digits, for example V('0750'). Quote them in YAML, which reads an
                unquoted V(0750) as the number 488.
            type: str
            required: true
  replace_on_change:
    description:
      - What to do when O(posix_user) or O(root_directory) differ from the existing access point, which EFS cannot
        change in place.
      - V(true) deletes the access point and creates a new one with the same name, options and tags (a new ID). The
        data in the file system stays as it is.
      - V(false) fails and names the difference, changing nothing.
    type: bool
    default: true
  tags:
    description:
      - The access point's tags, apart from C(Name), which the module manages from O(name). A C(Name) key here must
        equal O(name).
      - If the O(tags) parameter is not set then tags other than C(Name) will not be modified.
      - O(purge_tags=true) never removes the C(Name) tag, nor tags whose key begins with V(aws:).
    type: dict
    aliases: [resource_tags]
  wait:
    description:
      - Waits until a new access point is C(available) and a deleted one is gone.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, each time.
    type: int
    default: 300
notes:
  - Access points of the file system that are being deleted are ignored when the module looks for O(name).
  - Diff mode shows the access point's name, POSIX user, root directory and tags before and after; when it would be
    replaced, the headers say so.
  - The caller needs C(elasticfilesystem:DescribeFileSystems), C(DescribeAccessPoints), C(CreateAccessPoint),
    C(DeleteAccessPoint), C(TagResource) and C(UntagResource).
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The access point MLflow's SQLite database lives under
  mlops.mlflow.efs_access_point:
    file_system_id: fs-0123456789abcdef0
    name: mlflow
    posix_user:
      uid: 1000
      gid: 1000
    root_directory:
      path: /mlflow
      creation_info:
        owner_uid: 1000
        owner_gid: 1000
        permissions: "0750"
    tags:
      application: mlflow
  register: mlflow_access_point

- name: Use its ID in the task definition
  ansible.builtin.debug:
    msg: "{{ mlflow_access_point.access_point.access_point_id }}"

- name: Refuse to replace the access point if its POSIX user or root directory changed
  mlops.mlflow.efs_access_point:
    file_system_id: fs-0123456789abcdef0
    name: mlflow
    posix_user: {uid: 1000, gid: 1000}
    root_directory:
      path: /mlflow
      creation_info: {owner_uid: 1000, owner_gid: 1000, permissions: "0750"}
    replace_on_change: false

- name: Show what would change, change nothing
  mlops.mlflow.efs_access_point:
    file_system_id: fs-0123456789abcdef0
    name: mlflow
    posix_user: {uid: 2000, gid: 2000}
  check_mode: true
  diff: true

- name: Delete the access point (the files stay)
  mlops.mlflow.efs_access_point:
    file_system_id: fs-0123456789abcdef0
    name: mlflow
    state: absent
"""

RETURN = r"""
access_point:
  description:
    - The access point as EFS describes it, keys in snake_case, with its tags as a dictionary.
    - In check mode, when it would be created or replaced, the access point as it would be, without the members only
      EFS knows (ID, ARN, owner).
    - With O(state=absent), the access point that was deleted (or would be), or an empty dictionary when there was none.
  returned: always
  type: dict
  contains:
    access_point_id:
      description: The ID.
      type: str
      sample: fsap-0123456789abcdef0
    access_point_arn:
      description: The ARN.
      type: str
      sample: arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123456789abcdef0
    file_system_id:
      description: The file system.
      type: str
      sample: fs-0123456789abcdef0
    name:
      description: The name (the C(Name) tag).
      type: str
      sample: mlflow
    posix_user:
      description: The POSIX user; absent when the access point has none.
      type: dict
      sample: {uid: 1000, gid: 1000, secondary_gids: []}
    root_directory:
      description: The root directory and its creation info.
      type: dict
      sample: {path: /mlflow, creation_info: {owner_uid: 1000, owner_gid: 1000, permissions: "0750"}}
    life_cycle_state:
      description: C(creating), C(available), C(updating), C(deleting), C(deleted) or C(error).
      type: str
      sample: available
    owner_id:
      description: The AWS account that owns the access point.
      type: str
      sample: "123456789012"
    tags:
      description: The tags, C(Name) included.
      type: dict
      sample: {Name: mlflow, application: mlflow}
replaced:
  description:
    - Whether the access point was (in check mode, would be) deleted and created again because its POSIX user or root
      directory differed. RV(access_point) is then the new one.
  returned: O(state=present)
  type: bool
  sample: false
replaced_access_point_id:
  description: The ID of the access point that was (or would be) replaced.
  returned: when RV(replaced) is true
  type: str
  sample: fsap-0123456789abcdef0
diff:
  description:
    - In diff mode, the access point's name, file system, POSIX user, root directory and tags before and after (empty
      when there is none). When it is replaced, C(before_header) and C(after_header) name the old and the new one.
  returned: diff mode
  type: dict
"""

import re
import time
import uuid

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

NAME_TAG = "Name"
POLL_SECONDS = 3
MAX_ID = 4294967295
GONE_STATES = ("deleting", "deleted")
_FILE_SYSTEM_ID = re.compile(r"^fs-[0-9a-f]{8,40}$")
_PATH_FORBIDDEN = re.compile(r"[$#<>;`|&?{}^*\n]")
_PERMISSIONS = re.compile(r"^[0-7]{3,4}$")
_TAG_TEXT = re.compile(r"^[\w .:/=+\-@]*$", re.UNICODE)


class InvalidInput(Exception):
    """An argument EFS would refuse, found before any API call."""


def _check(condition, message):
    if not condition:
        raise InvalidInput(message)


def _check_id(value, option):
    _check(isinstance(value, int) and 0 <= value <= MAX_ID, "{0} must be between 0 and {1}, got {2!r}.".format(option, MAX_ID, value))


def path_error(path):
    """Why EFS would refuse a root directory path, or None."""
    if path == "/":
        return None
    if not path.startswith("/") or path.endswith("/") or "//" in path:
        return "must be an absolute path without a trailing '/' or empty parts"
    if len(path) > 100:
        return "may have up to 100 characters"
    parts = path[1:].split("/")
    if len(parts) > 4:
        return "may have up to four directories"
    if any(part.startswith(".") for part in parts):
        return "may have no part that begins with '.'"
    if _PATH_FORBIDDEN.search(path):
        return "may not contain any of $ # < > ; ` | & ? { } ^ * or a line break"
    return None


def validate(params):
    """Raises InvalidInput, naming the option and the fix, for what EFS would refuse."""
    file_system_id = params["file_system_id"]
    _check(_FILE_SYSTEM_ID.match(file_system_id or ""), "file_system_id must be an EFS file system ID (fs- and 8 to 40 hexadecimal digits), "
           "got {0!r}.".format(file_system_id))
    name = params["name"]
    _check(name and len(name) <= 256 and _TAG_TEXT.match(name),
           "name must be 1 to 256 letters, digits, spaces and _ . : / = + - @ (it is the value of the Name tag), got {0!r}.".format(name))
    if params["state"] != "present":
        return
    _check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))
    posix_user = params["posix_user"]
    if posix_user:
        _check_id(posix_user["uid"], "posix_user.uid")
        _check_id(posix_user["gid"], "posix_user.gid")
        secondary = posix_user["secondary_gids"] or []
        _check(len(secondary) <= 16, "posix_user.secondary_gids may list up to 16 groups, got {0}.".format(len(secondary)))
        for gid in secondary:
            _check_id(gid, "posix_user.secondary_gids")
    root = params["root_directory"]
    if root:
        problem = path_error(root["path"] or "")
        _check(problem is None, "root_directory.path {0}, got {1!r} (for example /mlflow).".format(problem, root["path"]))
        info = root["creation_info"]
        if info:
            _check_id(info["owner_uid"], "root_directory.creation_info.owner_uid")
            _check_id(info["owner_gid"], "root_directory.creation_info.owner_gid")
            _check(_PERMISSIONS.match(info["permissions"] or ""),
                   "root_directory.creation_info.permissions must be three or four octal digits such as '0750' (quoted: YAML reads an unquoted "
                   "0750 as the number 488), got {0!r}.".format(info["permissions"]))
    tags = params["tags"] or {}
    if NAME_TAG in tags:
        _check(str(tags[NAME_TAG]) == name, "tags: Name is the access point's name; leave it out of tags or make it equal name ({0!r}), "
               "got {1!r}.".format(name, tags[NAME_TAG]))
    for key, value in tags.items():
        _check(not str(key).startswith("aws:"), "tags: keys beginning with 'aws:' are reserved for AWS, got {0!r}.".format(key))
        _check(0 < len(str(key)) <= 128 and len(str(value)) <= 256 and _TAG_TEXT.match(str(key)) and _TAG_TEXT.match(str(value)),
               "tags: keys must have 1 to 128 characters and values up to 256, letters, digits, spaces and _ . : / = + - @ only, "
               "got {0!r}: {1!r}.".format(key, value))
    _check(len(set(tags) | {NAME_TAG}) <= 50, "tags: an access point may have up to 50 tags, Name included.")


# --- the configuration EFS cannot change ---------------------------------------------------------------------------------


def desired_posix_user(params):
    """The PosixUser to create (camelCase as EFS takes it), or None."""
    user = params["posix_user"]
    if not user:
        return None
    desired = {"Uid": user["uid"], "Gid": user["gid"]}
    if user["secondary_gids"]:
        desired["SecondaryGids"] = list(user["secondary_gids"])
    return desired


def desired_root_directory(params):
    """The RootDirectory to create."""
    root = params["root_directory"] or {}
    desired = {"Path": root.get("path") or "/"}
    info = root.get("creation_info")
    if info:
        desired["CreationInfo"] = {"OwnerUid": info["owner_uid"], "OwnerGid": info["owner_gid"], "Permissions": info["permissions"]}
    return desired


def normalise_posix_user(user):
    if not user:
        return None
    return {"uid": user.get("Uid"), "gid": user.get("Gid"), "secondary_gids": sorted(set(user.get("SecondaryGids") or []))}


def normalise_root_directory(root):
    """A root directory compared as EFS means it: path / when none, permissions as four octal digits."""
    root = root or {}
    normalised = {"path": root.get("Path") or "/", "creation_info": None}
    info = root.get("CreationInfo")
    if info:
        permissions = info.get("Permissions")
        if permissions and _PERMISSIONS.match(str(permissions)):
            permissions = "{0:04o}".format(int(str(permissions), 8))
        normalised["creation_info"] = {"owner_uid": info.get("OwnerUid"), "owner_gid": info.get("OwnerGid"), "permissions": permissions}
    return normalised


def differences(access_point, posix_user, root_directory):
    """Which of posix_user and root_directory differ between an access point and the desired ones."""
    found = []
    if normalise_posix_user(access_point.get("PosixUser")) != normalise_posix_user(posix_user):
        found.append("posix_user")
    if normalise_root_directory(access_point.get("RootDirectory")) != normalise_root_directory(root_directory):
        found.append("root_directory")
    return found


# --- tags ----------------------------------------------------------------------------------------------------------------


def access_point_tags(access_point):
    return boto3_tag_list_to_ansible_dict(access_point.get("Tags") or [])


def desired_tags(current_tags, name, tags, purge_tags):
    """The whole tag set the access point should carry: Name always, the others as tags and purge_tags say."""
    current = dict((key, value) for key, value in (current_tags or {}).items() if not key.startswith("aws:"))
    if tags is None:
        wanted = current
    elif purge_tags:
        wanted = dict((key, str(value)) for key, value in tags.items())
    else:
        wanted = dict(current, **dict((key, str(value)) for key, value in tags.items()))
    wanted[NAME_TAG] = name
    return wanted


def tag_changes(current_tags, name, tags, purge_tags):
    """(tags to set, keys to remove) on an existing access point; Name is never removed."""
    to_set, to_unset = compare_aws_tags(current_tags, desired_tags(current_tags, name, tags, purge_tags), purge_tags=True)
    return to_set, [key for key in to_unset if key != NAME_TAG]


# --- finding and waiting -------------------------------------------------------------------------------------------------


class NameTaken(Exception):
    """Two or more access points of the file system carry the name."""


def carries_name(access_point, name):
    return access_point_tags(access_point).get(NAME_TAG, access_point.get("Name")) == name


@AWSRetry.jittered_backoff()
def _list_access_points(client, file_system_id):
    paginator = client.get_paginator("describe_access_points")
    return paginator.paginate(FileSystemId=file_system_id).build_full_result().get("AccessPoints") or []


def find(client, file_system_id, name):
    """The file system's access point named name (being deleted ones ignored), or None."""
    named = [access_point for access_point in _list_access_points(client, file_system_id)
             if access_point.get("LifeCycleState") not in GONE_STATES and carries_name(access_point, name)]
    if len(named) > 1:
        raise NameTaken("{0} access points of file system {1} are named {2!r}: {3}. The module finds its access point by the Name tag; "
                        "delete the extra ones or rename them (change their Name tag), then run again.".format(
                            len(named), file_system_id, name, ", ".join(sorted(ap["AccessPointId"] for ap in named))))
    return named[0] if named else None


def describe_file_system(client, file_system_id):
    """The file system, or None when it does not exist."""
    try:
        return client.describe_file_systems(aws_retry=True, FileSystemId=file_system_id)["FileSystems"][0]
    except is_boto3_error_code("FileSystemNotFound"):
        return None


def describe_access_point(client, access_point_id):
    """The access point, or None when it is gone."""
    try:
        found = client.describe_access_points(aws_retry=True, AccessPointId=access_point_id).get("AccessPoints") or []
    except is_boto3_error_code("AccessPointNotFound"):
        return None
    return found[0] if found else None


class WaitFailed(Exception):
    """A resource did not reach the state waited for."""


def wait_for(describe, what, ready, timeout):
    """Polls describe() until ready(answer) is true, or raises WaitFailed after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = describe()
        if ready(answer):
            return answer
        state = (answer or {}).get("LifeCycleState")
        if state == "error":
            raise WaitFailed("{0} is in the error state.".format(what))
        if time.monotonic() >= deadline:
            raise WaitFailed("{0} was still {1} after {2} seconds (wait_timeout).".format(what, state or "there", timeout))
        time.sleep(POLL_SECONDS)


def wait_available(client, access_point_id, timeout):
    return wait_for(lambda: describe_access_point(client, access_point_id), "Access point {0}".format(access_point_id),
                    lambda found: found is not None and found.get("LifeCycleState") == "available", timeout)


def wait_deleted(client, access_point_id, timeout):
    wait_for(lambda: describe_access_point(client, access_point_id), "Access point {0}".format(access_point_id),
             lambda found: found is None or found.get("LifeCycleState") == "deleted", timeout)


def wait_file_system(client, file_system, timeout):
    """The file system once it is available (it may still be creating)."""
    file_system_id = file_system["FileSystemId"]
    if file_system.get("LifeCycleState") == "creating":
        file_system = wait_for(lambda: describe_file_system(client, file_system_id), "File system {0}".format(file_system_id),
                               lambda found: found is None or found.get("LifeCycleState") != "creating", timeout)
    return file_system


# --- results -------------------------------------------------------------------------------------------------------------


def snake_access_point(access_point):
    """The access point for the module's result: snake_case keys, tags as a dictionary."""
    if not access_point:
        return {}
    tags = access_point_tags(access_point)
    result = camel_dict_to_snake_dict(dict((key, value) for key, value in access_point.items() if key not in ("Tags", "ClientToken")))
    result["tags"] = tags
    result["name"] = tags.get(NAME_TAG, access_point.get("Name"))
    return result


def comparable(access_point):
    """What diff mode shows of an access point."""
    if not access_point:
        return {}
    posix_user = normalise_posix_user(access_point.get("PosixUser"))
    return {
        "access_point_id": access_point.get("AccessPointId"),
        "file_system_id": access_point.get("FileSystemId"),
        "name": access_point_tags(access_point).get(NAME_TAG, access_point.get("Name")),
        "posix_user": posix_user,
        "root_directory": normalise_root_directory(access_point.get("RootDirectory")),
        "tags": access_point_tags(access_point),
    }


def planned(params, tags, current=None):
    """The access point as it will be (check mode, diff mode): the current one with new tags, or a new one."""
    if current is not None:
        result = dict(current)
    else:
        result = {"FileSystemId": params["file_system_id"], "RootDirectory": desired_root_directory(params), "LifeCycleState": "available"}
        posix_user = desired_posix_user(params)
        if posix_user:
            result["PosixUser"] = posix_user
    result["Name"] = params["name"]
    result["Tags"] = ansible_dict_to_boto3_tag_list(tags)
    return result


# --- the states ----------------------------------------------------------------------------------------------------------


def create(module, client, tags):
    params = module.params
    arguments = dict(
        ClientToken=str(uuid.uuid4()),  # one token for every retry of this request
        FileSystemId=params["file_system_id"],
        RootDirectory=desired_root_directory(params),
        Tags=ansible_dict_to_boto3_tag_list(tags),
    )
    posix_user = desired_posix_user(params)
    if posix_user:
        arguments["PosixUser"] = posix_user
    created = client.create_access_point(aws_retry=True, **arguments)
    created.pop("ResponseMetadata", None)
    if params["wait"] and created.get("LifeCycleState") != "available":
        created = wait_available(client, created["AccessPointId"], params["wait_timeout"])
    return created


def delete(module, client, access_point_id):
    try:
        client.delete_access_point(aws_retry=True, AccessPointId=access_point_id)
    except is_boto3_error_code("AccessPointNotFound"):
        return
    if module.params["wait"]:
        wait_deleted(client, access_point_id, module.params["wait_timeout"])


def ensure_present(module, client):
    params = module.params
    file_system_id, name = params["file_system_id"], params["name"]
    try:
        file_system = describe_file_system(client, file_system_id)
        if file_system is None:
            module.fail_json(msg="EFS file system {0} does not exist in {1}: create it first (community.aws.efs).".format(file_system_id, module.region))
        current = find(client, file_system_id, name)
    except NameTaken as error:
        module.fail_json(msg=str(error))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not look for access point {0} of EFS file system {1}".format(name, file_system_id))

    result = dict(changed=False, replaced=False)
    differing, to_set, to_unset = [], {}, []
    if current is None:
        tags = desired_tags({}, name, params["tags"], params["purge_tags"])
        final = planned(params, tags)
        result["changed"] = True
    else:
        current_tags = access_point_tags(current)
        tags = desired_tags(current_tags, name, params["tags"], params["purge_tags"])
        differing = differences(current, desired_posix_user(params), desired_root_directory(params))
        if differing and not params["replace_on_change"]:
            module.fail_json(msg="Access point {0} ({1}) has another {2} than asked for, and EFS cannot change an access point in place. "
                                 "Set replace_on_change=true to replace it (a new access point ID; the data in the file system stays), "
                                 "or ask for what it has.".format(current["AccessPointId"], name, " and ".join(differing)),
                             differences=dict((option, {"current": comparable(current)[option], "desired": comparable(planned(params, tags))[option]})
                                              for option in differing))
        if differing:
            final = planned(params, tags)
            result.update(changed=True, replaced=True, replaced_access_point_id=current["AccessPointId"])
        else:
            final = planned(params, tags, current)
            to_set, to_unset = tag_changes(current_tags, name, params["tags"], params["purge_tags"])
            result["changed"] = bool(to_set or to_unset)

    if result["changed"] and not module.check_mode:
        deleted = False
        try:
            if current is None or result["replaced"]:
                if file_system.get("LifeCycleState") == "creating" and params["wait"]:
                    file_system = wait_file_system(client, file_system, params["wait_timeout"])
                if file_system is None or file_system.get("LifeCycleState") != "available":
                    module.fail_json(msg="EFS file system {0} is {1}: access points can be created on an available file system only.".format(
                        file_system_id, (file_system or {}).get("LifeCycleState", "gone")))
                if result["replaced"]:
                    delete(module, client, current["AccessPointId"])
                    deleted = True
                final = create(module, client, tags)
            else:
                if to_unset:
                    client.untag_resource(aws_retry=True, ResourceId=current["AccessPointId"], TagKeys=to_unset)
                if to_set:
                    client.tag_resource(aws_retry=True, ResourceId=current["AccessPointId"], Tags=ansible_dict_to_boto3_tag_list(to_set))
                final = describe_access_point(client, current["AccessPointId"]) or final
        except WaitFailed as error:
            module.fail_json(msg=str(error))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            action = "replace" if result["replaced"] else "create" if current is None else "update the tags of"
            module.fail_json_aws(error, msg="Could not {0} access point {1} of EFS file system {2}{3}".format(
                action, name, file_system_id,
                " ({0} is deleted already; the next run creates its replacement)".format(current["AccessPointId"]) if deleted else ""))

    result["access_point"] = snake_access_point(final)
    if module._diff:
        result["diff"] = dict(before=comparable(current), after=comparable(planned(params, tags, None if result["replaced"] else current)))
        if result["replaced"]:
            result["diff"]["after"]["access_point_id"] = final.get("AccessPointId")
            result["diff"]["before_header"] = "access point {0} (deleted: EFS cannot change its {1})".format(
                current["AccessPointId"], " and ".join(differing))
            result["diff"]["after_header"] = "new access point {0}(replaces {1}; the data in the file system stays)".format(
                final.get("AccessPointId") + " " if final.get("AccessPointId") else "", current["AccessPointId"])
    module.exit_json(**result)


def ensure_absent(module, client):
    params = module.params
    file_system_id, name = params["file_system_id"], params["name"]
    try:
        current = None
        if describe_file_system(client, file_system_id) is not None:
            current = find(client, file_system_id, name)
    except NameTaken as error:
        module.fail_json(msg=str(error))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not look for access point {0} of EFS file system {1}".format(name, file_system_id))
    if current is not None and not module.check_mode:
        try:
            delete(module, client, current["AccessPointId"])
        except WaitFailed as error:
            module.fail_json(msg=str(error))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not delete access point {0} ({1})".format(current["AccessPointId"], name))
    result = dict(changed=current is not None, access_point=snake_access_point(current))
    if module._diff:
        result["diff"] = dict(before=comparable(current), after={})
    module.exit_json(**result)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        file_system_id=dict(type="str", required=True),
        name=dict(type="str", required=True),
        posix_user=dict(type="dict", options=dict(
            uid=dict(type="int", required=True),
            gid=dict(type="int", required=True),
            secondary_gids=dict(type="list", elements="int"),
        )),
        root_directory=dict(type="dict", options=dict(
            path=dict(type="str", default="/"),
            creation_info=dict(type="dict", options=dict(
                owner_uid=dict(type="int", required=True),
                owner_gid=dict(type="int", required=True),
                permissions=dict(type="str", required=True),
            )),
        )),
        replace_on_change=dict(type="bool", default=True),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        validate(module.params)
    except InvalidInput as error:
        module.fail_json(msg=str(error))
    client = module.client("efs", retry_decorator=AWSRetry.jittered_backoff())
    if module.params["state"] == "present":
        ensure_present(module, client)
    else:
        ensure_absent(module, client)


if __name__ == "__main__":
    main()
