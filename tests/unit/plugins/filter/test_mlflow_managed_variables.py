"""The filter roles use to refuse extra variables that would override what the collection sets."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.mlflow.plugins.filter.mlflow_managed_variables import FilterModule
from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_server import MANAGED_VARIABLES

managed = FilterModule().filters()["mlflow_managed_variables"]


def test_names_the_managed_variables_of_a_mapping_sorted():
    variables = {"MLFLOW_WORKERS": "4", "TEAM": "ml", "MLOPS_DB_PASSWORD": "x", "MLFLOW_BACKEND_STORE_URI": "sqlite://"}
    assert managed(variables) == ["MLFLOW_BACKEND_STORE_URI", "MLFLOW_WORKERS", "MLOPS_DB_PASSWORD"]


def test_takes_a_list_of_names_and_finds_nothing_in_free_names():
    assert managed(["TEAM", "MLFLOW_TRACKING_USERNAME", "HTTP_PROXY"]) == []
    assert managed({}) == []


def test_knows_every_variable_the_task_definition_module_refuses():
    assert managed(sorted(MANAGED_VARIABLES)) == sorted(MANAGED_VARIABLES)


@pytest.mark.parametrize("value", ["MLFLOW_WORKERS", 3, None])
def test_refuses_what_is_neither_a_mapping_nor_a_list(value):
    with pytest.raises(AnsibleFilterError, match="mapping of environment variables or a list"):
        managed(value)
