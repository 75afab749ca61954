# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mlflow_managed_variables
version_added: 0.1.0
short_description: The names among given environment variables that the collection sets on an MLflow server itself
description:
  - Takes a mapping of environment variables (or a list of their names) meant for an MLflow server container and
    returns, sorted, the names that the collection's modules set themselves (host, port, workers, allowed hosts, backend
    store URI, database credentials, artifact settings and the like), which extra variables may not override.
  - Roles use it to refuse such extra variables before the first AWS call, with their own variable names in the message;
    M(mlops.mlflow.ecs_mlflow_task_definition) refuses the same names, from the same list.
options:
  _input:
    description: Environment variables (a mapping of names to values) or a list of names.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse extra environment variables that would override what the collection sets
  ansible.builtin.assert:
    that: my_extra_environment | mlops.mlflow.mlflow_managed_variables | length == 0
    fail_msg: "my_extra_environment may not set {{ my_extra_environment | mlops.mlflow.mlflow_managed_variables | join(', ') }}."
"""

RETURN = r"""
_value:
  description: The names the collection manages, sorted; empty when there are none.
  type: list
  elements: str
"""

from collections.abc import Iterable, Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_server import MANAGED_VARIABLES


def mlflow_managed_variables(variables):
    if isinstance(variables, Mapping):
        names = variables.keys()
    elif isinstance(variables, Iterable) and not isinstance(variables, (str, bytes)):
        names = variables
    else:
        raise AnsibleFilterError("mlops.mlflow.mlflow_managed_variables takes a mapping of environment variables or a list of "
                                 "their names, got {0}".format(type(variables).__name__))
    return sorted(set(str(name) for name in names) & MANAGED_VARIABLES)


class FilterModule:
    """The collection's filters."""

    def filters(self):
        return {"mlflow_managed_variables": mlflow_managed_variables}
