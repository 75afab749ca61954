#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gcp_iam_member
version_added: 0.1.0
short_description: Grant or revoke one IAM role to principals on a project, a Secret Manager secret or a Cloud Storage bucket
description:
  - Adds principals to (or removes them from) the unconditional binding of one role in the IAM policy of a project, a
    Secret Manager secret or a Cloud Storage bucket, with a read-modify-write of the policy (C(getIamPolicy), then
    C(setIamPolicy) with the etag read). Other roles, other principals and conditional bindings are left as they are,
    as C(gcloud ... add-iam-policy-binding) and Terraform's C(google_*_iam_member) do.
  - This module exists because the google.cloud collection (1.10) has no module for IAM policies of projects, secrets
    or buckets (C(gcp_storage_bucket_access_control) manages ACLs, which uniform bucket-level access turns off).
  - Idempotent. The policy is only written when a principal must be added or removed; a concurrent change (an etag
    conflict) is retried with a fresh read.
options:
  state:
    description:
      - V(present) grants O(role) to O(members); V(absent) revokes it from them.
    type: str
    choices: [present, absent]
    default: present
  resource_type:
    description:
      - V(project) - the project O(project) itself (O(resource) is ignored).
      - V(secret) - the Secret Manager secret O(resource) of O(project).
      - V(bucket) - the Cloud Storage bucket O(resource).
    type: str
    choices: [project, secret, bucket]
    required: true
  resource:
    description:
      - The secret name or the bucket name. Required unless O(resource_type=project).
    type: str
  role:
    description:
      - The role, for example V(roles/cloudsql.client).
    type: str
    required: true
  members:
    description:
      - The principals, for example V(serviceAccount:mlflow@my-project.iam.gserviceaccount.com), V(user:ada@example.com),
        V(group:team@example.com), V(domain:example.com).
    type: list
    elements: str
    required: true
  allow_missing:
    description:
      - With O(state=absent), a resource that does not exist is fine (nothing to revoke).
      - In check mode a missing resource is always fine - an earlier task would create it - and the grant is reported as a
        change.
    type: bool
    default: true
notes:
  - Check mode only reads. Diff mode shows the principals of the role before and after.
  - The caller needs the C(setIamPolicy) permission of the resource (C(roles/resourcemanager.projectIamAdmin),
    C(roles/secretmanager.admin), C(roles/storage.admin)).
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.gcp
"""

EXAMPLES = r"""
- name: The MLflow server may connect to Cloud SQL (a project-level role)
  mlops.mlflow.gcp_iam_member:
    resource_type: project
    role: roles/cloudsql.client
    members: [serviceAccount:mlflow@my-project.iam.gserviceaccount.com]
    project: my-project
    auth_kind: application

- name: ... read its backend store URI, and nothing else of Secret Manager
  mlops.mlflow.gcp_iam_member:
    resource_type: secret
    resource: mlflow-backend-store-uri
    role: roles/secretmanager.secretAccessor
    members: [serviceAccount:mlflow@my-project.iam.gserviceaccount.com]

- name: ... and use its artifact bucket only
  mlops.mlflow.gcp_iam_member:
    resource_type: bucket
    resource: my-project-mlflow-artifacts
    role: roles/storage.objectAdmin
    members: [serviceAccount:mlflow@my-project.iam.gserviceaccount.com]
"""

RETURN = r"""
members:
  description: The principals that hold O(role) (unconditionally) after the change, or that would in check mode.
  returned: always
  type: list
  elements: str
  sample: [serviceAccount:mlflow@my-project.iam.gserviceaccount.com]
added:
  description: The principals granted the role by this run.
  returned: always
  type: list
  elements: str
removed:
  description: The principals whose role this run revoked.
  returned: always
  type: list
  elements: str
diff:
  description: In diff mode, the principals of the role before and after.
  returned: diff mode
  type: dict
"""

import re

from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpModule
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import RESOURCE_MANAGER_API
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import plan_role_members
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import role_members

SECRET_MANAGER_API = "https://secretmanager.googleapis.com/v1/"
STORAGE_API = "https://storage.googleapis.com/storage/v1/"
MEMBER = re.compile(r"^(user|group|serviceAccount|domain|principal|principalSet):.+$|^(allUsers|allAuthenticatedUsers)$")
ROLE = re.compile(r"^(roles/[A-Za-z0-9_.]+|projects/[^/]+/roles/[A-Za-z0-9_.]+|organizations/[0-9]+/roles/[A-Za-z0-9_.]+)$")
ETAG_RETRIES = 3


def validate(params):
    if params["resource_type"] != "project" and not params["resource"]:
        raise InvalidInput("resource (the {0} name) is required with resource_type={0}.".format(params["resource_type"]))
    if not ROLE.match(params["role"] or ""):
        raise InvalidInput("role must be a role name such as roles/cloudsql.client, got {0!r}.".format(params["role"]))
    bad = [member for member in params["members"] if not MEMBER.match(member or "")]
    if bad:
        raise InvalidInput("members must be principals such as user:ada@example.com, group:team@example.com, "
                           "serviceAccount:name@project.iam.gserviceaccount.com or domain:example.com, got {0}.".format(", ".join(map(repr, bad))))


class Target(object):
    """How to read and write the IAM policy of one kind of resource."""

    def __init__(self, params):
        kind = params["resource_type"]
        self.kind = kind
        if kind == "project":
            base = "{0}projects/{1}".format(RESOURCE_MANAGER_API, params["project"])
            self.get = ("POST", base + ":getIamPolicy", {"options": {"requestedPolicyVersion": 3}})
            self.set = ("POST", base + ":setIamPolicy", True)
        elif kind == "secret":
            base = "{0}projects/{1}/secrets/{2}".format(SECRET_MANAGER_API, params["project"], params["resource"])
            self.get = ("GET", base + ":getIamPolicy", None)
            self.set = ("POST", base + ":setIamPolicy", True)
        else:
            base = "{0}b/{1}/iam".format(STORAGE_API, params["resource"])
            self.get = ("GET", base, None)
            self.set = ("PUT", base, False)

    def read(self, client, allow_not_found):
        method, url, body = self.get
        return client.request(method, url, body=body, allow_not_found=allow_not_found)

    def write(self, client, policy):
        method, url, wrapped = self.set
        return client.request(method, url, body={"policy": policy} if wrapped else policy)


def run(module, client):
    params = module.params
    target = Target(params)
    members = list(dict.fromkeys(params["members"]))
    absent = params["state"] == "absent"
    label = params["resource"] if params["resource_type"] != "project" else params["project"]
    attempt = 0
    while True:
        attempt += 1
        try:
            policy = target.read(client, allow_not_found=(absent and params["allow_missing"]) or module.check_mode)
        except GcpApiError as error:
            module.fail_json(msg="Could not read the IAM policy of {0} {1}: {2}".format(params["resource_type"], label, error), **error.result())
        if policy is None:
            # absent: nothing to revoke; check mode: the resource would be made by an earlier task, then granted.
            would = [] if absent else members
            module.exit_json(changed=bool(would), members=would, added=would, removed=[])
        before = role_members(policy, params["role"])
        if absent:
            wanted = [member for member in before if member not in members]
            new_policy, added, removed = plan_role_members(policy, params["role"], wanted, "exact")
        else:
            new_policy, added, removed = plan_role_members(policy, params["role"], members, "add")
        after = role_members(new_policy, params["role"]) if new_policy is not None else before
        if new_policy is not None and not module.check_mode:
            try:
                target.write(client, new_policy)
            except GcpApiError as error:
                if error.status_code in (409, 412) and attempt < ETAG_RETRIES:
                    continue
                module.fail_json(msg="Could not set the IAM policy of {0} {1}: {2}".format(params["resource_type"], label, error), **error.result())
        break
    result = dict(changed=new_policy is not None, members=after, added=added, removed=removed)
    if module._diff:
        result["diff"] = dict(before={params["role"]: before}, after={params["role"]: after})
    module.exit_json(**result)


def argument_spec():
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        resource_type=dict(type="str", choices=["project", "secret", "bucket"], required=True),
        resource=dict(type="str"),
        role=dict(type="str", required=True),
        members=dict(type="list", elements="str", required=True),
        allow_missing=dict(type="bool", default=True),
    )


def main():
    module = GcpModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.check_input(validate)
    run(module, module.client())


if __name__ == "__main__":
    main()
