# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of mlops.mlflow.ecs_fargate_cluster that mlops.mlflow.aws_drift_info shares: the options, the
input checks, describing the cluster and the plan (what differs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import check as _check

INSIGHTS = "containerInsights"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def argument_spec():
    """The options of mlops.mlflow.ecs_fargate_cluster."""
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        container_insights=dict(type="str", choices=["disabled", "enabled", "enhanced"], default="enabled"),
        capacity_providers=dict(type="list", elements="str", default=["FARGATE", "FARGATE_SPOT"]),
        default_capacity_provider_strategy=dict(
            type="list", elements="dict", default=[{"capacity_provider": "FARGATE", "weight": 1, "base": 0}],
            options=dict(
                capacity_provider=dict(type="str", required=True),
                weight=dict(type="int", default=1),
                base=dict(type="int", default=0),
            )),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )


def validate(params):
    """Raises InvalidInput, naming the option and the fix, for what ECS would refuse."""
    name = params["name"]
    _check(_NAME.match(name or ""), "name must be 1 to 255 letters, digits, hyphens and underscores, got {0!r}.".format(name))
    if params["state"] != "present":
        return
    providers = params["capacity_providers"] or []
    _check(all(provider for provider in providers), "capacity_providers has an empty name.")
    duplicates = sorted(set(provider for provider in providers if providers.count(provider) > 1))
    _check(not duplicates, "capacity_providers lists {0} more than once.".format(", ".join(duplicates)))
    strategy = params["default_capacity_provider_strategy"] or []
    named = [item["capacity_provider"] for item in strategy]
    duplicates = sorted(set(provider for provider in named if named.count(provider) > 1))
    _check(not duplicates, "default_capacity_provider_strategy names {0} more than once.".format(", ".join(duplicates)))
    unknown = [provider for provider in named if provider not in providers]
    _check(not unknown, "default_capacity_provider_strategy names {0}, which capacity_providers does not list ({1}): "
           "add it to capacity_providers or remove it from the strategy.".format(", ".join(unknown), ", ".join(providers) or "empty"))
    for item in strategy:
        _check(0 <= item["weight"] <= 1000, "default_capacity_provider_strategy: the weight of {0} must be between 0 and 1000, got {1}.".format(
            item["capacity_provider"], item["weight"]))
        _check(0 <= item["base"] <= 100000, "default_capacity_provider_strategy: the base of {0} must be between 0 and 100000, got {1}.".format(
            item["capacity_provider"], item["base"]))
    with_base = [item["capacity_provider"] for item in strategy if item["base"] > 0]
    _check(len(with_base) <= 1, "default_capacity_provider_strategy: only one capacity provider may have a base above 0, got {0}.".format(
        ", ".join(with_base)))
    _check(len(strategy) < 2 or any(item["weight"] > 0 for item in strategy),
           "default_capacity_provider_strategy: at least one capacity provider needs a weight above 0.")
    for key, value in (params["tags"] or {}).items():
        _check(not str(key).startswith("aws:"), "tags: keys beginning with 'aws:' are reserved for AWS, got {0!r}.".format(key))
        _check(0 < len(str(key)) <= 128 and len(str(value)) <= 256,
               "tags: keys must have 1 to 128 characters and values up to 256, got {0!r}.".format(key))


def desired_strategy(params):
    """The strategy as ECS takes it (camelCase)."""
    return [{"capacityProvider": item["capacity_provider"], "weight": item["weight"], "base": item["base"]}
            for item in params["default_capacity_provider_strategy"] or []]


def insights_of(cluster):
    """The containerInsights value of a described cluster ("disabled" when ECS shows no such setting)."""
    for setting in cluster.get("settings") or []:
        if setting.get("name") == INSIGHTS:
            return setting.get("value")
    return "disabled"


def normalise_providers(providers):
    return sorted(providers or [])


def normalise_strategy(strategy):
    """A strategy compared by provider: weight and base default to 0, as ECS fills them."""
    return sorted(({"capacityProvider": item["capacityProvider"], "weight": item.get("weight") or 0, "base": item.get("base") or 0}
                   for item in strategy or []), key=lambda item: item["capacityProvider"])


def cluster_tags(cluster):
    return boto3_tag_list_to_ansible_dict(cluster.get("tags") or [], "key", "value")


def tag_changes(current_tags, tags, purge_tags):
    """(tags to set, keys to remove); nothing when tags is None."""
    if tags is None:
        return {}, []
    return compare_aws_tags(current_tags, tags, purge_tags)


def plan(cluster, params):
    """What to change on an existing ACTIVE cluster: a dict with the keys that differ among insights,
    capacity_providers (providers and strategy together, as PutClusterCapacityProviders takes them) and tags
    ((to set, to remove))."""
    changes = {}
    if insights_of(cluster) != params["container_insights"]:
        changes["insights"] = params["container_insights"]
    strategy = desired_strategy(params)
    if (normalise_providers(cluster.get("capacityProviders")) != normalise_providers(params["capacity_providers"])
            or normalise_strategy(cluster.get("defaultCapacityProviderStrategy")) != normalise_strategy(strategy)):
        changes["capacity_providers"] = (list(params["capacity_providers"] or []), strategy)
    to_set, to_unset = tag_changes(cluster_tags(cluster), params["tags"], params["purge_tags"])
    if to_set or to_unset:
        changes["tags"] = (to_set, to_unset)
    return changes


def comparable(cluster):
    """The managed part of a described cluster, for diff mode."""
    if not cluster:
        return {}
    return {
        "name": cluster.get("clusterName"),
        "container_insights": insights_of(cluster),
        "capacity_providers": normalise_providers(cluster.get("capacityProviders")),
        "default_capacity_provider_strategy": [camel_dict_to_snake_dict(item) for item in normalise_strategy(cluster.get("defaultCapacityProviderStrategy"))],
        "tags": cluster_tags(cluster),
    }


def predicted(cluster, params, changes):
    """The cluster as it will be after the changes (for check mode and diff mode)."""
    result = dict(cluster or {})
    if cluster is None:
        result = {"clusterName": params["name"], "status": "ACTIVE", "tags": []}
        changes = {
            "insights": params["container_insights"],
            "capacity_providers": (list(params["capacity_providers"] or []), desired_strategy(params)),
            "tags": (dict(params["tags"] or {}), []),
        }
    if "insights" in changes:
        others = [setting for setting in result.get("settings") or [] if setting.get("name") != INSIGHTS]
        result["settings"] = others + [{"name": INSIGHTS, "value": changes["insights"]}]
    if "capacity_providers" in changes:
        result["capacityProviders"], result["defaultCapacityProviderStrategy"] = changes["capacity_providers"]
    if "tags" in changes:
        to_set, to_unset = changes["tags"]
        tags = dict((key, value) for key, value in cluster_tags(result).items() if key not in to_unset)
        tags.update(to_set)
        result["tags"] = ansible_dict_to_boto3_tag_list(tags, "key", "value")
    return result


def snake_cluster(cluster):
    """The cluster for the module's result: snake_case keys, tags as a dictionary."""
    if not cluster:
        return {}
    tags = cluster_tags(cluster)
    result = camel_dict_to_snake_dict(dict((key, value) for key, value in cluster.items() if key != "tags"))
    result["tags"] = tags
    return result


def describe(client, name):
    """The cluster, or None when there is none or it is INACTIVE."""
    answer = client.describe_clusters(aws_retry=True, clusters=[name], include=["SETTINGS", "TAGS"])
    for cluster in answer.get("clusters") or []:
        if cluster.get("clusterName") == name and cluster.get("status") != "INACTIVE":
            return cluster
    return None
