#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gcp_sql_user
version_added: 0.1.0
short_description: Manage a built-in user of a Cloud SQL instance (PostgreSQL or MySQL) and its password
description:
  - Creates, updates the password of, and deletes a built-in database user of a Cloud SQL instance with the Cloud SQL
    Admin API (C(users.list), C(users.insert), C(users.update), C(users.delete)) and waits for the operation.
  - This module exists because C(google.cloud.gcp_sql_user) (1.10) fails on every run against Cloud SQL for PostgreSQL
    - it finds its user in C(users.list) by C(item["host"]), and PostgreSQL users have no host, so it stops with
    C(KeyError 'host') after creating the user (ansible/ansible#64056) - and because it cannot tell whether a password
    differs (Cloud SQL never returns passwords), so it cannot be idempotent and set a password at the same time.
  - The password is never returned or logged. Cloud SQL cannot say whether a password matches, so the password is only
    sent when the user is created, or on every run with O(update_password=always).
options:
  state:
    description:
      - V(present) creates the user (with O(password)); V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  instance:
    description:
      - The name of the Cloud SQL instance (not its connection name).
    type: str
    required: true
  name:
    description:
      - The user name.
    type: str
    required: true
  host:
    description:
      - MySQL only - the host the user may connect from, for example V(%) (any). Leave it unset for PostgreSQL and SQL
        Server, whose users have no host.
    type: str
  password:
    description:
      - The password. Required to create the user.
    type: str
  update_password:
    description:
      - V(on_create) sends O(password) only when the user is created; an existing user is left alone.
      - V(always) sets O(password) on every run and always reports a change (Cloud SQL cannot compare passwords).
    type: str
    choices: [always, on_create]
    default: on_create
  wait:
    description:
      - Wait until the Cloud SQL operation is done.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait.
    type: int
    default: 300
notes:
  - Check mode only reads. Diff mode shows whether the user exists before and after (never the password).
  - The caller needs C(cloudsql.users.list), C(cloudsql.users.create), C(cloudsql.users.update) and
    C(cloudsql.users.delete) (C(roles/cloudsql.admin)).
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.gcp
"""

EXAMPLES = r"""
- name: The MLflow database user, its password kept elsewhere (Secret Manager)
  mlops.mlflow.gcp_sql_user:
    instance: mlflow-db
    name: mlflow
    password: "{{ mlflow_db_password }}"
    project: my-project
    auth_kind: application
  no_log: true

- name: A MySQL user that may connect from anywhere, its password reset on every run
  mlops.mlflow.gcp_sql_user:
    instance: mlflow-mysql
    name: mlflow
    host: "%"
    password: "{{ mlflow_db_password }}"
    update_password: always

- name: Delete the user
  mlops.mlflow.gcp_sql_user:
    instance: mlflow-db
    name: mlflow
    state: absent
"""

RETURN = r"""
user:
  description:
    - The user as C(users.list) returns it (no password); in check mode, as it would be created; with O(state=absent), as
      it was, or an empty dictionary.
  returned: always
  type: dict
  sample:
    kind: sql#user
    name: mlflow
    instance: mlflow-db
    project: my-project
password_set:
  description: Whether the password was sent (or, in check mode, would be).
  returned: always
  type: bool
  sample: true
diff:
  description: In diff mode, the user (name, host) before and after.
  returned: diff mode
  type: dict
"""

import re

from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpModule
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import OperationTimeout

SQL_API = "https://sqladmin.googleapis.com/sql/v1beta4/"
INSTANCE = re.compile(r"^[a-z]([-a-z0-9]{0,96}[a-z0-9])?$")


def validate(params):
    if not INSTANCE.match(params["instance"] or ""):
        raise InvalidInput("instance must be a Cloud SQL instance name (lowercase letters, digits and hyphens, starting with a letter), "
                           "not a connection name, got {0!r}.".format(params["instance"]))
    if not params["name"] or len(params["name"]) > 63:
        raise InvalidInput("name must be 1 to 63 characters, got {0!r}.".format(params["name"]))
    if params["wait_timeout"] <= 0:
        raise InvalidInput("wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))


def users_url(params):
    return "{0}projects/{1}/instances/{2}/users".format(SQL_API, params["project"], params["instance"])


def find_user(users, name, host):
    """The user named ``name`` with ``host`` (users without a host field, as PostgreSQL's, match an unset host)."""
    for user in users:
        if user.get("name") == name and (user.get("host") or "") == (host or ""):
            return user
    return None


def identity(user):
    if not user:
        return {}
    return dict((key, user[key]) for key in ("name", "host") if user.get(key))


def where(params):
    query = {"name": params["name"]}
    if params["host"]:
        query["host"] = params["host"]
    return query


def run(module, client):
    params = module.params
    url = users_url(params)
    try:
        # In check mode the instance may not exist yet (it would be created by an earlier task): the user would be too.
        listed = client.get(url, allow_not_found=module.check_mode or params["state"] == "absent")
        if listed is None:
            listed = {}
    except GcpApiError as error:
        module.fail_json(msg="Could not list the users of Cloud SQL instance {0}: {1}".format(params["instance"], error), **error.result())
    user = find_user(listed.get("items") or [], params["name"], params["host"])
    body = {"name": params["name"]}
    if params["host"]:
        body["host"] = params["host"]
    operation = None
    password_set = False
    if params["state"] == "present":
        if user is None and not params["password"]:
            module.fail_json(msg="password is required to create user {0} on Cloud SQL instance {1}.".format(params["name"], params["instance"]))
        password_set = user is None or params["update_password"] == "always"
        changed = password_set
        final = user if user is not None else dict(body, kind="sql#user", instance=params["instance"], project=params["project"])
        try:
            if changed and not module.check_mode:
                if user is None:
                    operation = client.post(url, dict(body, password=params["password"]))
                else:
                    operation = client.request("PUT", url, params=where(params), body=dict(body, password=params["password"]))
                if params["wait"]:
                    client.wait_for_operation(operation, params["wait_timeout"])
                listed = client.get(url)
                final = find_user(listed.get("items") or [], params["name"], params["host"]) or final
        except OperationTimeout as error:
            module.fail_json(msg=str(error), changed=True)
        except GcpApiError as error:
            module.fail_json(msg="Could not {0} user {1} on Cloud SQL instance {2}: {3}".format(
                "create" if user is None else "update", params["name"], params["instance"], error), **error.result())
        after = identity(final)
    else:
        changed = user is not None
        final = user or {}
        try:
            if changed and not module.check_mode:
                operation = client.delete(url, params=where(params), allow_not_found=True)
                if operation and params["wait"]:
                    client.wait_for_operation(operation, params["wait_timeout"])
        except OperationTimeout as error:
            module.fail_json(msg=str(error), changed=True)
        except GcpApiError as error:
            module.fail_json(msg="Could not delete user {0} on Cloud SQL instance {1}: {2}".format(params["name"], params["instance"], error),
                             **error.result())
        after = {}
    result = dict(changed=changed, user=final, password_set=password_set)
    if module._diff:
        result["diff"] = dict(before=identity(user), after=after)
    module.exit_json(**result)


def argument_spec():
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        instance=dict(type="str", required=True),
        name=dict(type="str", required=True),
        host=dict(type="str"),
        password=dict(type="str", no_log=True),
        update_password=dict(type="str", choices=["always", "on_create"], default="on_create", no_log=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )


def main():
    module = GcpModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.check_input(validate)
    run(module, module.client())


if __name__ == "__main__":
    main()
