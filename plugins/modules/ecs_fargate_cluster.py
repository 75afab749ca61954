#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_fargate_cluster
version_added: 0.1.0
short_description: Manage an ECS cluster for Fargate with Container Insights, capacity providers and tags
description:
  - Creates, updates and deletes an Amazon ECS cluster for AWS Fargate tasks, with its Container Insights
    setting, its capacity providers and default capacity provider strategy, and its tags.
  - This module exists because M(community.aws.ecs_cluster) (10.0) manages neither the cluster settings
    (Container Insights) nor the cluster's tags. A cluster it creates has Container Insights as the account
    default says, and nothing but the AWS console or the CLI changes it afterwards.
  - Idempotent. The cluster is described with its settings and tags and compared with the options; only what
    differs is changed, each part with its own call (C(UpdateCluster) with the settings, C(PutClusterCapacityProviders),
    C(TagResource) and C(UntagResource)). A re-run changes nothing and calls nothing but C(DescribeClusters).
  - A cluster in the C(INACTIVE) state (deleted; ECS keeps such clusters visible for a while) counts as absent, so
    O(state=present) creates it again.
  - Every option is checked before the first API call, so a bad input changes nothing.
  - Changes to a cluster take effect at once; there is nothing to wait for, so the module has no O(ignore:wait)
    option.
options:
  state:
    description:
      - V(present) creates the cluster or brings it in line with the options.
      - V(absent) deletes the cluster. A cluster that still has C(ACTIVE) services is not deleted; the module fails
        and names them (delete the services first, for example with M(community.aws.ecs_service)). Tasks that
        are still stopping after their service was deleted make ECS refuse the deletion for a while; the module
        retries it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The cluster name (up to 255 letters, digits, hyphens and underscores).
    type: str
    required: true
  container_insights:
    description:
      - The C(containerInsights) setting of the cluster. V(enabled) sends cluster and service metrics to CloudWatch
        (billed as custom metrics and logs), V(enhanced) adds task and container metrics, V(disabled) sends none.
      - Changing it on an existing cluster takes effect at once (C(UpdateCluster) with C(settings), as in the AWS CLI
        reference's first C(update-cluster) example; the caller needs C(ecs:UpdateCluster)).
    type: str
    choices: [disabled, enabled, enhanced]
    default: enabled
  capacity_providers:
    description:
      - The capacity providers the cluster may use. V(FARGATE) and V(FARGATE_SPOT) are always available; the names of
        Auto Scaling group capacity providers may be given too.
      - The whole list is set, so providers in use elsewhere but missing here are removed from the cluster. An empty
        list removes every provider (the strategy must then be empty too).
    type: list
    elements: str
    default: [FARGATE, FARGATE_SPOT]
  default_capacity_provider_strategy:
    description:
      - The capacity provider strategy of services and tasks that are started without a launch type or strategy of
        their own. Each entry must name one of O(capacity_providers).
      - The order does not matter; the module compares the strategy by provider.
    type: list
    elements: dict
    default: [{capacity_provider: FARGATE, weight: 1, base: 0}]
    suboptions:
      capacity_provider:
        description:
          - The capacity provider.
        type: str
        required: true
      weight:
        description:
          - The relative share of tasks placed on this provider (0 to 1000). When the strategy has several entries, at
            least one needs a weight above 0.
        type: int
        default: 1
      base:
        description:
          - How many tasks at least run on this provider (0 to 100000). Only one entry may have a base above 0.
        type: int
        default: 0
notes:
  - The capacity providers and the strategy are set with one C(PutClusterCapacityProviders) call, which ECS refuses
    while the cluster is being updated; the module retries it.
  - Services created with a launch type (C(launchType=FARGATE)) ignore the default capacity provider strategy.
  - Diff mode shows the managed part of the cluster (Container Insights, capacity providers, strategy, tags) before
    and after.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A Fargate cluster for MLflow with Container Insights
  mlops.mlflow.ecs_fargate_cluster:
    name: mlflow
    tags:
      application: mlflow
  register: mlflow_cluster

- name: Use the cluster's ARN
  ansible.builtin.debug:
    msg: "{{ mlflow_cluster.cluster.cluster_arn }}"

- name: Enhanced observability; one task at least on FARGATE, the rest mostly on FARGATE_SPOT
  mlops.mlflow.ecs_fargate_cluster:
    name: mlflow-research
    container_insights: enhanced
    capacity_providers: [FARGATE, FARGATE_SPOT]
    default_capacity_provider_strategy:
      - capacity_provider: FARGATE
        weight: 1
        base: 1
      - capacity_provider: FARGATE_SPOT
        weight: 3
    tags:
      application: mlflow
      team: research
    purge_tags: false

- name: Show what would change, change nothing
  mlops.mlflow.ecs_fargate_cluster:
    name: mlflow
    container_insights: disabled
  check_mode: true
  diff: true

- name: Delete the cluster (its services must be deleted first)
  mlops.mlflow.ecs_fargate_cluster:
    name: mlflow-research
    state: absent
"""

RETURN = r"""
cluster:
  description:
    - The cluster as ECS describes it, keys in snake_case, with its tags as a dictionary.
    - In check mode, when the cluster would be created or changed, the cluster as it would be (without the members
      only ECS knows, such as the ARN of a cluster not yet created).
    - With O(state=absent), the cluster as the deletion left it (status C(INACTIVE)), or an empty dictionary when there
      was none.
  returned: always
  type: dict
  contains:
    cluster_name:
      description: The name.
      type: str
      sample: mlflow
    cluster_arn:
      description: The ARN.
      type: str
      sample: arn:aws:ecs:eu-west-1:123456789012:cluster/mlflow
    status:
      description: C(ACTIVE), C(PROVISIONING), C(DEPROVISIONING), C(FAILED) or C(INACTIVE).
      type: str
      sample: ACTIVE
    settings:
      description: The cluster settings.
      type: list
      elements: dict
      sample: [{name: containerInsights, value: enabled}]
    capacity_providers:
      description: The capacity providers.
      type: list
      elements: str
      sample: [FARGATE, FARGATE_SPOT]
    default_capacity_provider_strategy:
      description: The default capacity provider strategy.
      type: list
      elements: dict
      sample: [{capacity_provider: FARGATE, weight: 1, base: 0}]
    tags:
      description: The tags.
      type: dict
      sample: {application: mlflow}
    active_services_count:
      description: Services in the C(ACTIVE) state.
      type: int
      sample: 1
    running_tasks_count:
      description: Tasks in the C(RUNNING) state.
      type: int
      sample: 1
    pending_tasks_count:
      description: Tasks in the C(PENDING) state.
      type: int
      sample: 0
diff:
  description:
    - In diff mode, the managed part of the cluster before and after (C(name), C(container_insights),
      C(capacity_providers), C(default_capacity_provider_strategy), C(tags)); empty when there is no cluster.
  returned: diff mode
  type: dict
"""

import time

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule


from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.mlops.mlflow.plugins.module_utils import ecs_fargate_cluster as shared
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_fargate_cluster import INSIGHTS
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_fargate_cluster import comparable
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_fargate_cluster import describe
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_fargate_cluster import desired_strategy
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_fargate_cluster import plan
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_fargate_cluster import predicted
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_fargate_cluster import snake_cluster
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_fargate_cluster import validate

# ECS refuses these while something else changes the cluster, or while stopping tasks still hold it.
_BUSY_CODES = ["UpdateInProgressException"]
_DELETE_BUSY_CODES = ["UpdateInProgressException", "ClusterContainsTasksException", "ClusterContainsServicesException"]
# On an account's first use of ECS, CreateCluster can fail while ECS creates its service-linked role.
_LINKED_ROLE_MESSAGE = "Unable to assume the service linked role"
CREATE_ATTEMPTS = 6
CREATE_RETRY_SECONDS = 5


def create(client, params):
    arguments = dict(
        clusterName=params["name"],
        settings=[{"name": INSIGHTS, "value": params["container_insights"]}],
        capacityProviders=list(params["capacity_providers"] or []),
        defaultCapacityProviderStrategy=desired_strategy(params),
    )
    if params["tags"]:
        arguments["tags"] = ansible_dict_to_boto3_tag_list(params["tags"], "key", "value")
    attempt = 1
    while True:
        try:
            return client.create_cluster(aws_retry=True, **arguments)["cluster"]
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if attempt >= CREATE_ATTEMPTS or code != "InvalidParameterException" or _LINKED_ROLE_MESSAGE not in str(error):
                raise
        attempt += 1
        time.sleep(CREATE_RETRY_SECONDS)


def apply_changes(client, cluster, changes):
    name = cluster["clusterName"]
    if "insights" in changes:
        client.update_cluster(aws_retry=True, cluster=name, settings=[{"name": INSIGHTS, "value": changes["insights"]}])
    if "capacity_providers" in changes:
        providers, strategy = changes["capacity_providers"]
        client.put_cluster_capacity_providers(aws_retry=True, cluster=name, capacityProviders=providers,
                                              defaultCapacityProviderStrategy=strategy)
    if "tags" in changes:
        to_set, to_unset = changes["tags"]
        if to_unset:
            client.untag_resource(aws_retry=True, resourceArn=cluster["clusterArn"], tagKeys=to_unset)
        if to_set:
            client.tag_resource(aws_retry=True, resourceArn=cluster["clusterArn"], tags=ansible_dict_to_boto3_tag_list(to_set, "key", "value"))


def ensure_present(module, client):
    params = module.params
    name = params["name"]
    try:
        current = describe(client, name)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe ECS cluster {0}".format(name))

    changes = plan(current, params) if current is not None else {"create": True}
    final = predicted(current, params, changes)
    if changes and not module.check_mode:
        try:
            if current is None:
                create(client, params)
            else:
                apply_changes(client, current, changes)
            final = describe(client, name) or final
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not {0} ECS cluster {1}".format("create" if current is None else "update", name))

    result = dict(changed=bool(changes), cluster=snake_cluster(final))
    if module._diff:
        result["diff"] = dict(before=comparable(current), after=comparable(predicted(current, params, changes)))
    module.exit_json(**result)


@AWSRetry.jittered_backoff()
def _list_services(client, name):
    return client.get_paginator("list_services").paginate(cluster=name).build_full_result().get("serviceArns") or []


def active_services(client, name):
    """Names of the cluster's services in the ACTIVE state."""
    arns = _list_services(client, name)
    names = []
    for start in range(0, len(arns), 10):  # DescribeServices takes up to 10 services
        answer = client.describe_services(aws_retry=True, cluster=name, services=arns[start:start + 10])
        names.extend(service["serviceName"] for service in answer.get("services") or [] if service.get("status") == "ACTIVE")
    return sorted(names)


def ensure_absent(module, client):
    name = module.params["name"]
    try:
        current = describe(client, name)
        services = active_services(client, name) if current is not None else []
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe ECS cluster {0} and its services".format(name))
    if services:
        module.fail_json(msg="ECS cluster {0} still has ACTIVE services: {1}. Delete them first (community.aws.ecs_service with "
                             "state=absent), then the cluster.".format(name, ", ".join(services)), services=services)
    final = current
    if current is not None and not module.check_mode:
        deleting = AWSRetry.jittered_backoff(catch_extra_error_codes=_DELETE_BUSY_CODES)(client.delete_cluster)
        try:
            final = deleting(cluster=name)["cluster"]
        except is_boto3_error_code("ClusterNotFoundException"):
            final = None
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:  # pylint: disable=duplicate-except
            module.fail_json_aws(error, msg="Could not delete ECS cluster {0}".format(name))
    result = dict(changed=current is not None, cluster=snake_cluster(final))
    if module._diff:
        result["diff"] = dict(before=comparable(current), after={})
    module.exit_json(**result)


def main():
    argument_spec = shared.argument_spec()
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        validate(module.params)
    except InvalidInput as error:
        module.fail_json(msg=str(error))
    client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=_BUSY_CODES))
    if module.params["state"] == "present":
        ensure_present(module, client)
    else:
        ensure_absent(module, client)


if __name__ == "__main__":
    main()
