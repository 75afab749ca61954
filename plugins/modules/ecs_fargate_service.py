#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_fargate_service
version_added: 0.1.0
short_description: Create, update and delete an ECS service on AWS Fargate and wait for its deployments
description:
  - Creates an Amazon ECS service that runs a task definition on AWS Fargate (rolling update deployments, C(awsvpc)
    networking, optionally behind load balancer target groups), brings an existing one to the desired settings with
    C(UpdateService), or deletes it.
  - Only what the module manages is compared, and both sides are compared as ECS means them. The defaults ECS fills in
    (circuit breaker off, C(assignPublicIp) V(DISABLED), C(propagateTags) V(NONE), a health check grace period of 0,
    platform version V(LATEST), no Availability Zone rebalancing for a service that never had the setting) are made
    explicit; subnets, security groups, load balancers and capacity providers are compared as sets; the task
    definition is compared as C(family:revision) whether given or returned as an ARN. So a second run with the same
    arguments changes nothing, and each real difference is one C(UpdateService) call. RV(changed_fields) names the
    settings that differ; diff mode shows them before and after.
  - After a create or an update the module waits, unless O(wait=false), until the service's deployment has
    completed (C(rolloutState) V(COMPLETED), as many tasks running as desired). When the deployment fails (the
    deployment circuit breaker stops it) or O(wait_timeout) passes, the module fails with the deployment's
    C(rolloutStateReason), the service's recent events and the C(stoppedReason) of the tasks that stopped since the
    deployment began, which is usually enough to see why a container does not start.
  - This module exists because M(community.aws.ecs_service) (10.0) is not fit to run a service from a playbook that
    runs again and again. It compares neither the network configuration, nor the deployment configuration with its
    circuit breaker, nor the capacity provider strategy, so changes to them go unnoticed; it compares the task
    definition as given with the end of the service's ARN, so a full task definition ARN reports a change on every
    run; its tags have no C(purge_tags), and it refuses to change the tags or the tag propagation of an existing
    service; it always enforces its desired count, fighting Application Auto Scaling; it has no Availability Zone
    rebalancing; and its O(ignore:wait) only waits for a deletion, never for a deployment to finish, so a playbook
    goes on while the new tasks crash.
  - Settings that C(UpdateService) cannot change are refused with a message that names the option, never ignored.
    The choice between O(launch_type) and O(capacity_provider_strategy) is made when the service is created;
    services on EC2 or external instances, or with the C(CODE_DEPLOY) or C(EXTERNAL) deployment controller, are not
    managed.
  - Every input is checked before any call that could change something; the task definition is described first, so a
    revision that does not exist, is not Fargate-compatible, or lacks the container and port a load balancer names is
    reported without touching the service.
options:
  state:
    description:
      - V(present) creates the service or updates it to the desired settings, then waits for the deployment.
      - V(absent) scales the service to 0 tasks, deletes it (with C(force)) and waits until it is C(INACTIVE).
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The service name (up to 255 letters, digits, hyphens and underscores), unique in the cluster.
    type: str
    required: true
  cluster:
    description:
      - The cluster, by name or ARN. It must exist.
    type: str
    required: true
  task_definition:
    description:
      - The task definition the service runs, as C(family:revision) or as a task definition ARN; both are compared as
        C(family:revision). A bare family means its latest C(ACTIVE) revision at the time of the run.
      - It must use the C(awsvpc) network mode and be compatible with Fargate. Required with O(state=present).
      - A new task definition starts a new deployment.
    type: str
  desired_count:
    description:
      - The number of tasks to keep running.
      - When the service is created and this is not set, it starts with 1 task. When the service exists and this is not
        set, its desired count is left as it is.
      - See O(desired_count_managed_externally) for services that Application Auto Scaling scales.
    type: int
  desired_count_managed_externally:
    description:
      - Whether something else owns the desired count of the existing service, typically an Application Auto Scaling
        target. Then the module uses O(desired_count) only to create the service and never changes the desired count
        of an existing one, so a run does not undo what the scaling policy did.
    type: bool
    default: false
  launch_type:
    description:
      - The launch type. Only V(FARGATE); it is what the service uses when O(capacity_provider_strategy) is not given.
      - The choice between a launch type and a capacity provider strategy is made when the service is created. The module
        refuses to switch an existing service from one to the other (delete it with O(state=absent) and create it again).
    type: str
    choices: [FARGATE]
  capacity_provider_strategy:
    description:
      - Runs the service with a capacity provider strategy instead of O(launch_type), for example on V(FARGATE_SPOT) with
        a V(FARGATE) base. The capacity providers must be associated with the cluster.
      - A change of the strategy of a service that already uses one is applied with a new deployment (ECS requires one).
    type: list
    elements: dict
    suboptions:
      capacity_provider:
        description:
          - The capacity provider, V(FARGATE) or V(FARGATE_SPOT).
        type: str
        required: true
      weight:
        description:
          - The relative share of tasks placed with this provider (0 to 1000). At least one provider needs a weight above 0.
        type: int
        default: 1
      base:
        description:
          - How many tasks, at least, run with this provider (0 to 100000). Only one provider may have a base.
        type: int
        default: 0
  platform_version:
    description:
      - The Fargate platform version, for example V(1.4.0). A change starts a new deployment.
    type: str
    default: LATEST
  network_configuration:
    description:
      - Where the tasks run. Required with O(state=present). A change starts a new deployment.
    type: dict
    suboptions:
      subnets:
        description:
          - The subnet IDs (1 to 16) of the tasks' network interfaces; private subnets for a private service.
        type: list
        elements: str
        required: true
      security_groups:
        description:
          - The security group IDs (1 to 5) of the tasks. Required, so that no task runs in the VPC's default group by
            accident.
        type: list
        elements: str
        required: true
      assign_public_ip:
        description:
          - Whether the tasks get a public IP address. Tasks in private subnets need a NAT gateway or VPC endpoints to pull
            images and read secrets instead.
        type: bool
        default: false
  load_balancers:
    description:
      - The target groups that the service registers its tasks with. C(UpdateService) can change them on a rolling update
        service, which starts a new deployment; V([]) removes every one.
      - When not set, the service's load balancers are left as they are (none for a new service).
    type: list
    elements: dict
    suboptions:
      target_group_arn:
        description:
          - The ARN of the target group (of target type C(ip)).
        type: str
        required: true
      container_name:
        description:
          - The container of the task definition that receives the traffic.
        type: str
        required: true
      container_port:
        description:
          - The container port, one of the container's port mappings.
        type: int
        required: true
  health_check_grace_period_seconds:
    description:
      - Seconds after a task starts during which ECS ignores failing load balancer and container health checks (0 to
        2147483647). MLflow creates its schema on the first start against an empty database, which takes a while.
      - When not set, a new service gets ECS's default (0) and an existing one keeps its value.
    type: int
  deployment_configuration:
    description:
      - How a deployment replaces tasks, and the deployment circuit breaker.
      - Members of the service's deployment configuration that the module does not manage (CloudWatch alarms, for
        example) are kept when it changes these.
    type: dict
    suboptions:
      minimum_healthy_percent:
        description:
          - The lower limit, in percent of the desired count, of healthy tasks during a deployment (0 to 100). V(0) with
            O(deployment_configuration.maximum_percent=100) stops the old task before the new one starts, as a single
            SQLite writer needs.
        type: int
        default: 100
      maximum_percent:
        description:
          - The upper limit, in percent of the desired count, of tasks during a deployment. It must be above
            O(deployment_configuration.minimum_healthy_percent).
        type: int
        default: 200
      circuit_breaker:
        description:
          - The deployment circuit breaker, which stops a deployment whose tasks keep failing to start or to become healthy.
        type: dict
        suboptions:
          enable:
            description:
              - Whether the circuit breaker watches deployments. Without it a broken deployment retries until the module
                times out.
            type: bool
            default: true
          rollback:
            description:
              - Whether a failed deployment rolls back to the last deployment that completed.
            type: bool
            default: true
  availability_zone_rebalancing:
    description:
      - Whether ECS moves tasks to even out their spread across Availability Zones, for example after a zone outage.
      - A service that never had the setting counts as V(DISABLED), as ECS treats it.
    type: str
    choices: [ENABLED, DISABLED]
    default: ENABLED
  propagate_tags:
    description:
      - Where the tasks' tags come from, the service's tags, the task definition's, or none.
      - Tags reach tasks started after a change only; O(force_new_deployment) replaces the running ones.
    type: str
    choices: [SERVICE, TASK_DEFINITION, NONE]
    default: SERVICE
  enable_execute_command:
    description:
      - Whether C(aws ecs execute-command) can open a shell in the tasks. The task role then needs the SSM messages
        permissions. Applies to tasks started after a change.
    type: bool
    default: false
  force_new_deployment:
    description:
      - Starts a new deployment on every run, even when nothing changed, so that the tasks are replaced, to pick up a
        rotated database password or a new image under the same tag. The module then always reports a change.
      - Ignored when the service is created, which is a new deployment anyway.
    type: bool
    default: false
  wait:
    description:
      - With O(state=present), whether to wait after a create or an update until the deployment has completed (all
        desired tasks running); the module fails when the deployment fails or O(wait_timeout) passes.
      - With O(state=absent), whether to wait until the service is C(INACTIVE).
      - Not in check mode, and not when nothing changed.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait, at most.
    type: int
    default: 900
notes:
  - In check mode no call that changes anything is made; RV(changed_fields), the diff and RV(service) show what
    would change. A O(task_definition) given as C(family:revision) or ARN that does not exist yet is taken, with a
    warning, for the revision an earlier task of the same check run would register (as
    M(mlops.mlflow.ecs_mlflow_task_definition) reports it), so that the deployment of it can be previewed.
  - Tags are set and removed with C(TagResource) and C(UntagResource); tags with the reserved C(aws:) prefix are never
    removed.
  - With Application Auto Scaling, set O(desired_count_managed_externally=true), or leave O(desired_count) out of the
    runs that follow the creation.
  - Diff mode shows, before and after, the managed settings in the module's terms (the option names), as they are
    compared.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: MLflow on Fargate behind an internal load balancer, in private subnets
  mlops.mlflow.ecs_fargate_service:
    name: mlflow
    cluster: mlflow
    task_definition: "{{ mlflow_task_definition.task_definition_arn }}"
    desired_count: 2
    network_configuration:
      subnets: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
      security_groups: [sg-0123456789abcdef0]
    load_balancers:
      - target_group_arn: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/mlflow/0123456789abcdef
        container_name: "{{ mlflow_task_definition.container_name }}"
        container_port: "{{ mlflow_task_definition.container_port }}"
    health_check_grace_period_seconds: 120
    tags:
      application: mlflow
  register: mlflow_service

- name: Application Auto Scaling owns the desired count after the creation
  mlops.mlflow.ecs_fargate_service:
    name: mlflow
    cluster: mlflow
    task_definition: mlflow:8
    desired_count: 2
    desired_count_managed_externally: true
    network_configuration:
      subnets: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
      security_groups: [sg-0123456789abcdef0]

- name: A single SQLite writer on Fargate Spot with an on-demand base; old task stops before the new one starts
  mlops.mlflow.ecs_fargate_service:
    name: mlflow-small
    cluster: mlflow
    task_definition: mlflow-small:3
    desired_count: 1
    capacity_provider_strategy:
      - capacity_provider: FARGATE
        base: 1
        weight: 0
      - capacity_provider: FARGATE_SPOT
        weight: 1
    network_configuration:
      subnets: [subnet-0123456789abcdef0]
      security_groups: [sg-0123456789abcdef0]
    deployment_configuration:
      minimum_healthy_percent: 0
      maximum_percent: 100

- name: New tasks after the database password rotated, without waiting
  mlops.mlflow.ecs_fargate_service:
    name: mlflow
    cluster: mlflow
    task_definition: mlflow:8
    network_configuration:
      subnets: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
      security_groups: [sg-0123456789abcdef0]
    force_new_deployment: true
    wait: false

- name: Show what would change, change nothing
  mlops.mlflow.ecs_fargate_service:
    name: mlflow
    cluster: mlflow
    task_definition: mlflow:9
    network_configuration:
      subnets: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
      security_groups: [sg-0123456789abcdef0]
  check_mode: true
  diff: true

- name: Scale to zero, delete and wait until the service is INACTIVE
  mlops.mlflow.ecs_fargate_service:
    name: mlflow
    cluster: mlflow
    state: absent
"""

RETURN = r"""
service:
  description:
    - The service as ECS describes it after the run (keys in snake_case, tags as a dictionary, the 10 most recent
      events); empty when there is none.
    - In check mode, when the service would be created or updated, the service with the settings it would get (no ARN
      when it would be created).
  returned: always
  type: dict
  contains:
    service_name:
      description: The name.
      type: str
      sample: mlflow
    service_arn:
      description: The ARN.
      type: str
      sample: arn:aws:ecs:eu-west-1:123456789012:service/mlflow/mlflow
    cluster_arn:
      description: The cluster's ARN.
      type: str
      sample: arn:aws:ecs:eu-west-1:123456789012:cluster/mlflow
    status:
      description: C(ACTIVE), C(DRAINING) or C(INACTIVE).
      type: str
      sample: ACTIVE
    task_definition:
      description: The task definition ARN.
      type: str
      sample: arn:aws:ecs:eu-west-1:123456789012:task-definition/mlflow:8
    desired_count:
      description: The desired number of tasks.
      type: int
      sample: 2
    running_count:
      description: The number of running tasks.
      type: int
      sample: 2
    launch_type:
      description: C(FARGATE), absent with a capacity provider strategy.
      type: str
      sample: FARGATE
    capacity_provider_strategy:
      description: The capacity provider strategy.
      type: list
      elements: dict
      sample: []
    platform_version:
      description: The platform version.
      type: str
      sample: LATEST
    network_configuration:
      description: The tasks' subnets, security groups and public IP setting.
      type: dict
      sample: {awsvpc_configuration: {subnets: [subnet-0123456789abcdef0], security_groups: [sg-0123456789abcdef0], assign_public_ip: DISABLED}}
    load_balancers:
      description: The target groups.
      type: list
      elements: dict
      sample: [{target_group_arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/mlflow/0123456789abcdef",
                container_name: mlflow, container_port: 5000}]
    health_check_grace_period_seconds:
      description: The health check grace period.
      type: int
      sample: 120
    deployment_configuration:
      description: The deployment configuration with its circuit breaker.
      type: dict
      sample: {minimum_healthy_percent: 100, maximum_percent: 200, deployment_circuit_breaker: {enable: true, rollback: true}}
    availability_zone_rebalancing:
      description: C(ENABLED) or C(DISABLED).
      type: str
      sample: ENABLED
    propagate_tags:
      description: C(SERVICE), C(TASK_DEFINITION) or C(NONE).
      type: str
      sample: SERVICE
    enable_execute_command:
      description: Whether ECS Exec is on.
      type: bool
      sample: false
    deployments:
      description: The deployments, the C(PRIMARY) one with its C(rollout_state) and C(rollout_state_reason).
      type: list
      elements: dict
      sample: [{id: ecs-svc/1234567890123456789, status: PRIMARY, rollout_state: COMPLETED, running_count: 2, desired_count: 2}]
    events:
      description: The 10 most recent service events, newest first.
      type: list
      elements: dict
      sample: [{created_at: "2026-01-01T10:00:00+00:00", message: "(service mlflow) has reached a steady state."}]
    tags:
      description: The service's tags.
      type: dict
      sample: {application: mlflow}
changed_fields:
  description:
    - The managed settings (named as the options) that differed and were changed, or would be in check mode;
      C(tags) when tags were set or removed; C(force_new_deployment) when a new deployment was forced.
    - When the service is created, every setting it is created with. With O(state=absent), empty.
  returned: always
  type: list
  elements: str
  sample: [task_definition, network_configuration]
diff:
  description: In diff mode, the managed settings (and the tags, when O(tags) is set) before and after, as compared.
  returned: diff mode
  type: dict
  contains:
    before:
      description: The service's settings; empty when it does not exist.
      type: dict
    after:
      description: The desired settings; empty with O(state=absent).
      type: dict
"""

import uuid

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.mlops.mlflow.plugins.module_utils import ecs_service
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput


def describe_service(client, cluster, name):
    """The service with its tags, or None when ECS does not know it."""
    answer = client.describe_services(aws_retry=True, cluster=cluster, services=[name], include=["TAGS"])
    services = answer.get("services") or []
    return services[0] if services else None


def stopped_tasks(client, cluster, name):
    """The service's stopped tasks that ECS still knows (about an hour's worth), described."""
    arns = client.list_tasks(aws_retry=True, cluster=cluster, serviceName=name, desiredStatus="STOPPED", maxResults=100)["taskArns"]
    if not arns:
        return []
    return client.describe_tasks(aws_retry=True, cluster=cluster, tasks=arns)["tasks"]


class Runner:
    """One run of the module: the service, what it should be, and the calls between."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.name = module.params["name"]
        self.cluster = module.params["cluster"]

    def fail_aws(self, error, message):
        self.module.fail_json_aws(error, msg=message)

    def describe(self):
        try:
            return describe_service(self.client, self.cluster, self.name)
        except is_boto3_error_code("ClusterNotFoundException"):
            return None
        except (BotoCoreError, ClientError) as error:  # pylint: disable=duplicate-except
            self.fail_aws(error, "Could not describe ECS service {0} in cluster {1}".format(self.name, self.cluster))

    def describe_task_definition(self):
        """The described task definition; in check mode, None for a revision not registered yet."""
        reference = self.params["task_definition"]
        try:
            return self.client.describe_task_definition(aws_retry=True, taskDefinition=reference)["taskDefinition"]
        except is_boto3_error_code(("ClientException", "InvalidParameterException")) as error:
            # A check run previews the registration of the revision (its module returns the ARN it would get)
            # and then the deployment of it, which has to be previewed without the revision.
            if self.module.check_mode and ":" in reference:
                self.module.warn("task_definition {0} does not exist (yet): check mode assumes it is the revision an earlier task "
                                 "would register, and cannot check its containers against load_balancers.".format(reference))
                return None
            self.module.fail_json(msg="task_definition {0} was not found: ECS answered {1!r}. Register it first (for example with "
                                      "mlops.mlflow.ecs_mlflow_task_definition) and give its family:revision or ARN.".format(
                                          reference, error.response.get("Error", {}).get("Message", "")))
        except (BotoCoreError, ClientError) as error:  # pylint: disable=duplicate-except
            self.fail_aws(error, "Could not describe task definition {0}".format(reference))

    def wait_for_deployment(self, deployment_id, changed_fields, action):
        outcome, service, deployment, explanation = ecs_service.wait_for_deployment(
            self.describe, deployment_id, self.params["wait_timeout"])
        if outcome == ecs_service.COMPLETED:
            return service
        if outcome == ecs_service.FAILED:
            headline = "The deployment of ECS service {0} in cluster {1} failed: {2}".format(self.name, self.cluster, explanation)
        else:
            headline = ("Timed out after {0} seconds waiting for the deployment of ECS service {1} in cluster {2} to complete: {3}. "
                        "The service was {4} and ECS goes on deploying it; raise wait_timeout or run again".format(
                            self.params["wait_timeout"], self.name, self.cluster, explanation, action))
        tasks = []
        try:
            tasks = stopped_tasks(self.client, self.cluster, self.name)
        except (BotoCoreError, ClientError) as error:
            headline += " (the stopped tasks could not be listed: {0})".format(error)
        self.module.fail_json(msg=ecs_service.failure_message(headline, service, deployment, tasks), changed=True,
                              changed_fields=changed_fields, service=ecs_service.service_result(service))

    def present(self):
        params = self.params
        service = self.describe()
        if service is None:
            self.check_cluster()
        elif service.get("status") == "INACTIVE":  # deleted: ECS creates a new service under the name
            service = None
        elif service.get("status") == "DRAINING":
            self.module.fail_json(msg="ECS service {0} in cluster {1} is being deleted (DRAINING): wait until it is INACTIVE, "
                                      "then run again to create it anew.".format(self.name, self.cluster))
        exists = service is not None

        definition = self.describe_task_definition()
        arn = definition["taskDefinitionArn"] if definition else params["task_definition"]
        desired = ecs_service.desired_settings(params, exists, arn)
        current = ecs_service.current_settings(service) if exists else {}
        fields = ecs_service.differing_fields(desired, current) if exists else [f for f in ecs_service.MANAGED_FIELDS if f in desired]
        problems = ecs_service.task_definition_problems(definition, params["load_balancers"]) if definition else []
        if definition and "task_definition" in fields and definition.get("status", "ACTIVE") != "ACTIVE":
            problems.append("task_definition {0} is {1}: ECS creates and updates services with ACTIVE revisions only.".format(
                ecs_service.task_definition_key(definition["taskDefinitionArn"]), definition.get("status")))
        if exists:
            problem = ecs_service.creation_only_problem(desired, service)
            if problem:
                problems.append(problem)
        if problems:
            self.module.fail_json(msg=" ".join(problems))

        current_tags = ecs_service.tags_of(service)
        to_set, to_unset = {}, []
        final_tags = current_tags
        if params["tags"] is not None:
            to_set, to_unset = compare_aws_tags(current_tags, params["tags"], purge_tags=params["purge_tags"])
            final_tags = dict((key, value) for key, value in current_tags.items() if key not in to_unset)
            final_tags.update(to_set)
        if to_set or to_unset or (not exists and final_tags):
            fields.append("tags")
        changed_fields = list(fields)
        force = exists and params["force_new_deployment"]
        if force:
            changed_fields.append("force_new_deployment")

        tags_managed = params["tags"] is not None
        before = ecs_service.comparable(dict((k, current[k]) for k in desired), current_tags if tags_managed else None) if exists else {}
        after = ecs_service.comparable(desired, final_tags if tags_managed else None)

        if not exists:
            arguments = ecs_service.create_arguments(self.name, self.cluster, desired, arn, final_tags, str(uuid.uuid4()))
        else:
            arguments = ecs_service.update_arguments(self.name, self.cluster, desired, fields, service, arn, force)

        final = service
        if self.module.check_mode:
            if changed_fields:
                final = ecs_service.projected_service(service, arguments or {}, final_tags)
        else:
            deployment_id, action = None, None
            created = updated = None
            if not exists:
                try:
                    created = self.client.create_service(aws_retry=True, **arguments)["service"]
                except (BotoCoreError, ClientError) as error:
                    self.fail_aws(error, "Could not create ECS service {0} in cluster {1}".format(self.name, self.cluster))
                deployment_id, action, final = (ecs_service.primary_deployment(created) or {}).get("id"), "created", created
            else:
                if arguments:
                    try:
                        updated = self.client.update_service(aws_retry=True, **arguments)["service"]
                    except (BotoCoreError, ClientError) as error:
                        self.fail_aws(error, "Could not update ECS service {0} in cluster {1} ({2})".format(
                            self.name, self.cluster, ", ".join(changed_fields)))
                    deployment_id, action, final = (ecs_service.primary_deployment(updated) or {}).get("id"), "updated", updated
                self.apply_tags(service["serviceArn"], to_set, to_unset)
            if action and params["wait"]:
                final = self.wait_for_deployment(deployment_id, changed_fields, action)
            elif changed_fields:
                final = self.describe() or final

        result = dict(changed=bool(changed_fields), changed_fields=changed_fields, service=ecs_service.service_result(final))
        if self.module._diff:
            result["diff"] = dict(before=before, after=after)
        self.module.exit_json(**result)

    def check_cluster(self):
        """Fails with a clear message when the cluster does not exist (DescribeServices said ClusterNotFound)."""
        try:
            clusters = self.client.describe_clusters(aws_retry=True, clusters=[self.cluster])
        except (BotoCoreError, ClientError) as error:
            self.fail_aws(error, "Could not describe ECS cluster {0}".format(self.cluster))
        if not any(cluster.get("status") in ("ACTIVE", "PROVISIONING") for cluster in clusters.get("clusters") or []):
            self.module.fail_json(msg="cluster {0} does not exist (or is INACTIVE): create the ECS cluster first.".format(self.cluster))

    def apply_tags(self, arn, to_set, to_unset):
        try:
            if to_unset:
                self.client.untag_resource(aws_retry=True, resourceArn=arn, tagKeys=to_unset)
            if to_set:
                self.client.tag_resource(aws_retry=True, resourceArn=arn, tags=ansible_dict_to_boto3_tag_list(to_set, "key", "value"))
        except (BotoCoreError, ClientError) as error:
            self.fail_aws(error, "Could not update the tags of ECS service {0}".format(arn))

    def absent(self):
        service = self.describe()
        status = (service or {}).get("status")
        result = dict(changed=False, changed_fields=[], service=ecs_service.service_result(service))
        if self.module._diff:
            before = {}
            if status == "ACTIVE":
                before = ecs_service.comparable(ecs_service.current_settings(service), ecs_service.tags_of(service))
            result["diff"] = dict(before=before, after={})
        if status not in ("ACTIVE", "DRAINING"):
            self.module.exit_json(**result)
        result["changed"] = status == "ACTIVE"
        if self.module.check_mode:
            self.module.exit_json(**result)

        final = service
        if status == "ACTIVE":
            try:
                if service.get("desiredCount", 0) > 0:
                    self.client.update_service(aws_retry=True, cluster=self.cluster, service=self.name, desiredCount=0)
                final = self.client.delete_service(aws_retry=True, cluster=self.cluster, service=self.name, force=True)["service"]
            except (BotoCoreError, ClientError) as error:
                self.fail_aws(error, "Could not delete ECS service {0} in cluster {1}".format(self.name, self.cluster))
        if self.params["wait"]:
            inactive, described = ecs_service.wait_until_inactive(self.describe, self.params["wait_timeout"])
            final = described or final
            if not inactive:
                self.module.fail_json(
                    msg="Timed out after {0} seconds waiting for ECS service {1} in cluster {2} to become INACTIVE; it is {3} "
                        "with {4} tasks running.".format(self.params["wait_timeout"], self.name, self.cluster,
                                                         (described or {}).get("status"), (described or {}).get("runningCount", 0)),
                    changed=result["changed"], changed_fields=[], service=ecs_service.service_result(described))
        result["service"] = ecs_service.service_result(final)
        self.module.exit_json(**result)


def main():
    argument_spec = ecs_service.argument_spec()
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("launch_type", "capacity_provider_strategy")],
        required_if=[("state", "present", ("task_definition", "network_configuration"))],
        supports_check_mode=True,
    )
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        ecs_service.validate_params(module.params)
    except InvalidInput as error:
        module.fail_json(msg=str(error))
    runner = Runner(module, module.client("ecs", retry_decorator=AWSRetry.jittered_backoff()))
    if module.params["state"] == "present":
        runner.present()
    else:
        runner.absent()


if __name__ == "__main__":
    main()
