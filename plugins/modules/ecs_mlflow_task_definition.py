#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_mlflow_task_definition
version_added: 0.1.0
short_description: Register the ECS Fargate task definition of an MLflow tracking server
description:
  - Registers the Amazon ECS task definition that runs C(mlflow server) on AWS Fargate, with its
    backend store, artifact store, security settings, logs and health check, and registers a new
    revision only when the desired definition differs from the latest C(ACTIVE) revision of the family.
  - Both sides are compared as ECS means them. The members ECS fills in on registration (container
    C(cpu) 0, C(essential), C(hostPort) equal to C(containerPort) and C(protocol) C(tcp) in awsvpc mode,
    the EFS C(rootDirectory) V(/), health check interval, timeout and retries, empty lists) and the
    read-only members (ARN, revision, status, C(requiresAttributes), C(compatibilities),
    C(registeredAt)) are normalised away; environment variables and secrets are sorted by name. So a
    re-run registers nothing, and any real change (an environment value, the task size, a role, the
    image) registers exactly one new revision.
  - This module exists because M(community.aws.ecs_taskdefinition) (10.0) gets that comparison wrong in
    both directions. Its comparison of list members has no branch for an entry that differs, so a changed
    environment value goes unnoticed; it compares neither the task C(cpu) and C(memory) nor the execution
    role; and it compares nested settings whole, so the defaults ECS fills into them (the EFS volume's
    C(rootDirectory), a health check's interval, timeout and retries) make it register a new revision on
    every run. It also accepts any matching C(ACTIVE) revision of the family, not only the latest one.
  - Fargate only, C(awsvpc) network mode, Linux. The task size is checked before any API call.
  - Nothing secret is ever written into the task definition, the module's arguments or its return
    values. The backend store credentials are ECS C(secrets) (C(valueFrom) a Secrets Manager or SSM
    Parameter Store ARN), which ECS resolves when a task starts; the execution role needs
    C(secretsmanager:GetSecretValue) (and C(kms:Decrypt) for a customer managed key) on them.
  - Registering a task definition takes effect at once; there is nothing to wait for, so the module
    has no O(ignore:wait) option. Services pick a new revision up when they are updated to it.
options:
  state:
    description:
      - V(present) registers a new revision when needed and manages the latest revision's tags.
      - V(absent) deregisters every C(ACTIVE) revision of the family. ECS keeps deregistered revisions
        as C(INACTIVE); tasks already running from them go on running, and services that use them keep
        them until they are updated.
    type: str
    choices: [present, absent]
    default: present
  family:
    description:
      - The task definition family (up to 255 letters, digits, hyphens and underscores).
    type: str
    required: true
  image:
    description:
      - The MLflow server image.
      - The default is the official image with the cloud and database drivers (boto3, psycopg2, PyMySQL),
        pinned to an exact MLflow release. The image without C(-full) has no database driver.
      - Another image (a mirror in ECR, an image with more plugins) must have C(mlflow) and C(python) on
        its C(PATH); the module sets the container's C(entryPoint) to a short python start script that
        starts C(mlflow server). A one-off task whose container command is V(db-upgrade) runs
        C(mlflow db upgrade) on the same backend store instead (a schema migration with exactly the
        service's configuration; see mlops.mlflow.ecs_run_task).
      - The default changes with new releases of this collection, which means a new revision; pin the
        image to control when MLflow is upgraded. A database with an older schema makes a newer MLflow
        refuse to start until C(mlflow db upgrade) has run.
    type: str
    default: ghcr.io/mlflow/mlflow:v3.18.0-full
  container_name:
    description:
      - The name of the MLflow container, as a service's load balancer configuration names it.
    type: str
    default: mlflow
  cpu:
    description:
      - Task CPU units (1024 = 1 vCPU). One of V(256), V(512), V(1024), V(2048), V(4096), V(8192), V(16384).
      - Together with O(memory) it must be a size Fargate runs; see the ECS documentation on task sizes.
    type: int
    default: 1024
  memory:
    description:
      - Task memory in MiB. V(256) CPU units take 512, 1024 or 2048; V(512) take 1024 to 4096 and V(1024)
        take 2048 to 8192 in steps of 1024; V(2048) take 4096 to 16384 and V(4096) take 8192 to 30720 in
        steps of 1024; V(8192) take 16384 to 61440 in steps of 4096; V(16384) take 32768 to 122880 in steps
        of 8192.
      - Each MLflow worker process needs a few hundred MiB.
    type: int
    default: 2048
  cpu_architecture:
    description:
      - The CPU architecture of the task. V(ARM64) runs on Graviton and needs an image with an arm64
        variant.
    type: str
    choices: [X86_64, ARM64]
    default: X86_64
  execution_role_arn:
    description:
      - ARN of the role ECS uses to start the task, to read the secrets, to send logs to CloudWatch
        Logs and to pull images from ECR.
      - Required whenever the definition has secrets (every backend store but O(sqlite_efs)), O(awslogs)
        or an ECR image.
    type: str
  task_role_arn:
    description:
      - ARN of the role the MLflow server runs as. It needs access to the artifact store (for example
        C(s3:GetObject), C(s3:PutObject), C(s3:DeleteObject) and C(s3:ListBucket) on the bucket) and, with
        O(sqlite_efs) and IAM authorization, C(elasticfilesystem:ClientMount) and C(ClientWrite).
    type: str
  port:
    description:
      - The port C(mlflow server) listens on (C(MLFLOW_PORT)), on all interfaces of the task.
    type: int
    default: 5000
  workers:
    description:
      - Number of server worker processes (C(MLFLOW_WORKERS)).
      - With O(sqlite_efs), fewer workers mean less lock contention on the database file.
    type: int
    default: 4
  static_prefix:
    description:
      - A path prefix for every route of the server (C(MLFLOW_STATIC_PREFIX)), for example V(/mlflow).
        Must begin with V(/) and not end with one. The health check path becomes C(<prefix>/health).
    type: str
  allowed_hosts:
    description:
      - The Host headers the server accepts (C(MLFLOW_SERVER_ALLOWED_HOSTS)). MLflow 3 answers any other
        Host with 403 "Invalid Host header"; its default accepts only localhost and private IP addresses.
      - Behind a load balancer, list the names users reach MLflow by, for example the custom domain and
        the load balancer's DNS name. A Host header that carries a port must match with the port, so
        add V(name:*) for listeners on other ports than 80 and 443. V(*) wildcards match, for example
        V(*.example.com). Setting this replaces MLflow's default, so add V(10.*) if clients also reach tasks
        by private IP address.
      - C(/health) and C(/version) are exempt, so health checks pass even when users get 403.
      - When not set, the module warns.
    type: list
    elements: str
  cors_allowed_origins:
    description:
      - Origins allowed to make state-changing cross-origin calls (C(MLFLOW_SERVER_CORS_ALLOWED_ORIGINS)),
        for example V(https://notebooks.example.com). MLflow's default allows localhost origins only.
    type: list
    elements: str
  prometheus_metrics:
    description:
      - Exposes Prometheus metrics on C(/metrics) (C(--expose-prometheus)). Anyone who reaches the server
        can read them.
    type: bool
    default: false
  prometheus_metrics_dir:
    description:
      - The directory inside the container where the worker processes keep their metrics, when
        O(prometheus_metrics=true).
    type: str
    default: /tmp/mlflow-prometheus
  backend_store_uri_secret_arn:
    description:
      - ARN of a Secrets Manager secret (or SSM SecureString parameter) whose value is the whole backend
        store URI, injected as C(MLFLOW_BACKEND_STORE_URI). Name the driver in it
        (C(postgresql+psycopg2://), C(mysql+pymysql://)) and percent-encode the credentials.
      - A Secrets Manager ARN may select a JSON key, for example C(<arn>:uri::).
      - Exactly one of O(backend_store_uri_secret_arn), O(database) and O(sqlite_efs) is required with
        O(state=present).
    type: str
  database:
    description:
      - A PostgreSQL or MySQL database as backend store, with its credentials in a Secrets Manager secret
        that holds JSON with a user name and a password, as RDS-managed master user secrets do
        (C(rds!cluster-...) with keys C(username) and C(password)).
      - ECS injects the two keys into the container as environment variables (C(valueFrom)
        C(<arn>:username::) and C(<arn>:password::)); the container's start command percent-encodes them
        with the image's python, builds C(MLFLOW_BACKEND_STORE_URI) with the driver named
        (C(postgresql+psycopg2), C(mysql+pymysql)), removes the raw credentials from the environment and
        becomes C(mlflow server). The password is in no task definition, module argument or return value;
        inside the container only the C(mlflow server) process holds it.
      - A running task keeps the password it started with. After a rotation, new tasks must be started
        (a new deployment of the service).
    type: dict
    suboptions:
      engine:
        description:
          - The database engine (Aurora included).
        type: str
        choices: [postgresql, mysql]
        required: true
      host:
        description:
          - The database host name, for example the cluster's writer endpoint. No port, no scheme.
        type: str
        required: true
      port:
        description:
          - The database port. Defaults to 5432 for V(postgresql), 3306 for V(mysql).
        type: int
      name:
        description:
          - The database name.
        type: str
        required: true
      credentials_secret_arn:
        description:
          - The full ARN of the Secrets Manager secret that holds the credentials as JSON (without a JSON
            key suffix, which the module adds).
        type: str
        required: true
      username_key:
        description:
          - The JSON key of the user name in the secret.
        type: str
        default: username
      password_key:
        description:
          - The JSON key of the password in the secret.
        type: str
        default: password
      query:
        description:
          - Query parameters added to the URI, for example C(sslmode=require) for PostgreSQL.
        type: dict
        default: {}
  sqlite_efs:
    description:
      - SQLite on an EFS file system as backend store (C(sqlite:////<mount_path>/<database_file>)). MLflow
        refuses a plain file store since 3.13; SQLite is what a single server on EFS can use.
      - SQLite allows one writer. Run exactly one task of this definition (a service with a desired count
        of 1 and a deployment that stops the old task before starting the new one); two tasks on the same
        file corrupt it or fail with "database is locked".
      - The volume uses transit encryption and the access point; the task role needs
        C(elasticfilesystem:ClientMount) and C(elasticfilesystem:ClientWrite) when O(sqlite_efs.iam_authorization=true).
    type: dict
    suboptions:
      file_system_id:
        description:
          - The EFS file system ID (C(fs-...)).
        type: str
        required: true
      access_point_id:
        description:
          - The EFS access point ID (C(fsap-...)); its root directory and POSIX user apply.
        type: str
        required: true
      iam_authorization:
        description:
          - Mount with the task role's IAM identity, so the file system policy can restrict access to it.
        type: bool
        default: true
      mount_path:
        description:
          - Where the file system is mounted in the container (an absolute path).
        type: str
        default: /mnt/efs
      database_file:
        description:
          - The SQLite file name under O(sqlite_efs.mount_path).
        type: str
        default: mlflow.db
  artifacts_uri:
    description:
      - Where artifacts are stored, for example V(s3://bucket/mlflow). Required with O(state=present).
    type: str
  artifacts_mode:
    description:
      - V(proxied) (C(--artifacts-destination)), the server reads and writes artifacts for its clients,
        which need no storage credentials; the task role needs access to the store.
      - V(direct) (C(--default-artifact-root), C(--no-serve-artifacts)), every client reads and writes
        the store itself and needs its own credentials for it.
    type: str
    choices: [proxied, direct]
    default: proxied
  extra_environment:
    description:
      - More environment variables of the MLflow container (names to values; values become strings).
        They may not name a variable the module sets.
      - For secret values use O(extra_secrets). Environment values are visible to anyone who can
        describe the task definition.
    type: dict
    default: {}
  extra_secrets:
    description:
      - More secret environment variables of the MLflow container, names mapped to C(valueFrom) references
        (a Secrets Manager ARN, optionally with C(:json-key:version-stage:version-id), or an SSM parameter
        ARN or name).
    type: dict
    default: {}
  sidecars:
    description:
      - More containers of the task, as ECS container definitions (camelCase keys as in the ECS API,
        for example C(name), C(image), C(essential), C(portMappings), C(logConfiguration)). They follow
        the MLflow container in the task definition, in the order given.
    type: list
    elements: dict
    default: []
  awslogs:
    description:
      - Sends the MLflow container's output to CloudWatch Logs with the C(awslogs) driver. Without it
        the container has no log configuration.
    type: dict
    suboptions:
      group:
        description:
          - The log group.
        type: str
        required: true
      region:
        description:
          - The log group's region. Defaults to the module's region.
        type: str
      stream_prefix:
        description:
          - The prefix of the log stream names (C(<prefix>/<container>/<task id>)).
        type: str
        default: mlflow
      create_group:
        description:
          - Lets ECS create the log group when it does not exist (the execution role then needs
            C(logs:CreateLogGroup)). Creating the group beforehand sets its retention and encryption.
        type: bool
        default: false
      mode:
        description:
          - V(non-blocking) buffers output and drops it when the buffer is full instead of stalling the server.
        type: str
        choices: [blocking, non-blocking]
        default: non-blocking
      max_buffer_size:
        description:
          - The buffer size for V(non-blocking) mode, for example V(25m).
        type: str
  health_check:
    description:
      - The container health check, an HTTP request to C(http://127.0.0.1:<port><static_prefix>/health)
        made with the image's python, healthy when it answers 200.
    type: dict
    suboptions:
      enabled:
        description:
          - Whether the container has a health check.
        type: bool
        default: true
      interval:
        description:
          - Seconds between checks (5 to 300).
        type: int
        default: 30
      timeout:
        description:
          - Seconds a check may take (2 to 60).
        type: int
        default: 5
      retries:
        description:
          - Failed checks before the container is unhealthy (1 to 10).
        type: int
        default: 3
      start_period:
        description:
          - Seconds after start during which failures do not count (0 to 300). A first start on an empty
            database creates the schema, which takes a while.
        type: int
        default: 60
notes:
  - The module compares the definition with the latest C(ACTIVE) revision only. Going back to an earlier
    configuration registers a new revision identical to an older one, as ECS itself would.
  - Tags belong to a revision. Without O(tags), a new revision gets the tags of the revision it replaces.
  - Diff mode shows the normalised definition (and tags) of the latest revision before and the desired one
    after, so it shows exactly what makes a new revision.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: MLflow on Fargate with an Aurora PostgreSQL backend store and artifacts proxied to S3
  mlops.mlflow.ecs_mlflow_task_definition:
    family: mlflow
    cpu: 1024
    memory: 2048
    execution_role_arn: arn:aws:iam::123456789012:role/mlflow-execution
    task_role_arn: arn:aws:iam::123456789012:role/mlflow-task
    database:
      engine: postgresql
      host: mlflow.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com
      name: mlflow
      # The secret RDS manages for the master user: JSON with "username" and "password"
      credentials_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0a1b2c3d-AbCdEf
      query:
        sslmode: require
    artifacts_uri: s3://example-mlflow-artifacts/mlflow
    allowed_hosts:
      - mlflow.example.com
      - internal-mlflow-123456789.eu-west-1.elb.amazonaws.com
    awslogs:
      group: /ecs/mlflow
    tags:
      application: mlflow
  register: mlflow_task_definition

- name: Use the revision in a service
  ansible.builtin.debug:
    msg: "{{ mlflow_task_definition.task_definition_arn }} serves {{ mlflow_task_definition.container_name }}:{{ mlflow_task_definition.container_port }}"

- name: The whole backend store URI from one secret, clients writing artifacts directly, on Graviton
  mlops.mlflow.ecs_mlflow_task_definition:
    family: mlflow-research
    cpu: 2048
    memory: 4096
    cpu_architecture: ARM64
    workers: 8
    execution_role_arn: arn:aws:iam::123456789012:role/mlflow-execution
    task_role_arn: arn:aws:iam::123456789012:role/mlflow-task
    backend_store_uri_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlflow/backend-uri-AbCdEf
    artifacts_uri: s3://example-mlflow-artifacts/research
    artifacts_mode: direct
    static_prefix: /mlflow
    allowed_hosts: [tools.example.com]
    cors_allowed_origins: [https://notebooks.example.com]
    prometheus_metrics: true
    extra_environment:
      MLFLOW_SERVER_X_FRAME_OPTIONS: DENY
    awslogs:
      group: /ecs/mlflow-research
      stream_prefix: research

- name: A small single-writer server with SQLite on EFS
  mlops.mlflow.ecs_mlflow_task_definition:
    family: mlflow-small
    cpu: 512
    memory: 1024
    workers: 1
    task_role_arn: arn:aws:iam::123456789012:role/mlflow-task
    sqlite_efs:
      file_system_id: fs-0123456789abcdef0
      access_point_id: fsap-0123456789abcdef0
    artifacts_uri: s3://example-mlflow-artifacts/small
    allowed_hosts: ["*.internal.example.com"]

- name: Show what would change, change nothing
  mlops.mlflow.ecs_mlflow_task_definition:
    family: mlflow
    image: ghcr.io/mlflow/mlflow:v3.18.0-full
    execution_role_arn: arn:aws:iam::123456789012:role/mlflow-execution
    backend_store_uri_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlflow/backend-uri-AbCdEf
    artifacts_uri: s3://example-mlflow-artifacts/mlflow
    allowed_hosts: [mlflow.example.com]
  check_mode: true
  diff: true

- name: Deregister every revision of the family
  mlops.mlflow.ecs_mlflow_task_definition:
    family: mlflow-small
    state: absent
"""

RETURN = r"""
task_definition_arn:
  description:
    - ARN of the latest revision, registered or kept.
    - In check mode, when a new revision would be registered, the ARN it would get (the family's highest revision number,
      deregistered revisions included, plus one).
  returned: O(state=present)
  type: str
  sample: arn:aws:ecs:eu-west-1:123456789012:task-definition/mlflow:7
revision:
  description: Revision number of RV(task_definition_arn).
  returned: O(state=present)
  type: int
  sample: 7
family:
  description: The task definition family.
  returned: always
  type: str
  sample: mlflow
container_name:
  description: The name of the MLflow container, for a service's load balancer configuration.
  returned: O(state=present)
  type: str
  sample: mlflow
container_port:
  description: The port the MLflow container listens on, for a service's load balancer configuration.
  returned: O(state=present)
  type: int
  sample: 5000
health_check_path:
  description: The path of MLflow's health endpoint, for a target group's health check.
  returned: O(state=present)
  type: str
  sample: /health
task_definition:
  description:
    - The task definition as ECS describes it (keys in snake_case, except the free-form C(options) of a log
      configuration and C(docker_labels)), with its tags as a dictionary.
    - In check mode, when a new revision would be registered, the definition that would be registered.
  returned: O(state=present)
  type: dict
  contains:
    family:
      description: The family.
      type: str
      sample: mlflow
    revision:
      description: The revision.
      type: int
      sample: 7
    task_definition_arn:
      description: The ARN.
      type: str
      sample: arn:aws:ecs:eu-west-1:123456789012:task-definition/mlflow:7
    status:
      description: C(ACTIVE).
      type: str
      sample: ACTIVE
    cpu:
      description: Task CPU units.
      type: str
      sample: "1024"
    memory:
      description: Task memory in MiB.
      type: str
      sample: "2048"
    network_mode:
      description: Always C(awsvpc).
      type: str
      sample: awsvpc
    requires_compatibilities:
      description: Always C([FARGATE]).
      type: list
      elements: str
      sample: [FARGATE]
    runtime_platform:
      description: CPU architecture and operating system family.
      type: dict
      sample: {cpu_architecture: X86_64, operating_system_family: LINUX}
    execution_role_arn:
      description: The execution role.
      type: str
      sample: arn:aws:iam::123456789012:role/mlflow-execution
    task_role_arn:
      description: The task role.
      type: str
      sample: arn:aws:iam::123456789012:role/mlflow-task
    volumes:
      description: The EFS volume with O(sqlite_efs).
      type: list
      elements: dict
      sample: []
    container_definitions:
      description: The MLflow container, then the sidecars.
      type: list
      elements: dict
      sample:
        - name: mlflow
          image: ghcr.io/mlflow/mlflow:v3.18.0-full
          essential: true
          entry_point: [mlflow, server]
          port_mappings: [{container_port: 5000, host_port: 5000, protocol: tcp}]
          environment:
            - {name: MLFLOW_ARTIFACTS_DESTINATION, value: "s3://example-mlflow-artifacts/mlflow"}
            - {name: MLFLOW_HOST, value: 0.0.0.0}
            - {name: MLFLOW_PORT, value: "5000"}
            - {name: MLFLOW_SERVE_ARTIFACTS, value: "true"}
            - {name: MLFLOW_SERVER_ALLOWED_HOSTS, value: mlflow.example.com}
            - {name: MLFLOW_WORKERS, value: "4"}
          secrets:
            - {name: MLFLOW_BACKEND_STORE_URI, value_from: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlflow/backend-uri-AbCdEf"}
    tags:
      description: The revision's tags.
      type: dict
      sample: {application: mlflow}
deregistered_task_definition_arns:
  description: The revisions deregistered (or, in check mode, that would be).
  returned: O(state=absent)
  type: list
  elements: str
  sample: [arn:aws:ecs:eu-west-1:123456789012:task-definition/mlflow-small:1]
diff:
  description:
    - In diff mode, the normalised task definition and tags of the latest C(ACTIVE) revision (C(before))
      and of the desired one (C(after)).
  returned: diff mode
  type: dict
  contains:
    before:
      description: The latest revision, normalised; empty when there is none.
      type: dict
    after:
      description: The desired revision, normalised; empty with O(state=absent).
      type: dict
"""

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_server
from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_task_definition as shared
from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_task_definition import BACKEND_OPTIONS
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_task_definition import build_task_definition
from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_task_definition import desired_tags
from ansible_collections.mlops.mlflow.plugins.module_utils.mlflow_task_definition import latest_active_revision
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import camel_task_definition_to_snake
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import normalise_task_definition
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import revision_from_arn


@AWSRetry.jittered_backoff()
def _list_active_arns(client, family):
    paginator = client.get_paginator("list_task_definitions")
    return paginator.paginate(familyPrefix=family, status="ACTIVE").build_full_result()["taskDefinitionArns"]


def next_revision_arn(module, client, family, current):
    """The ARN the next revision of the family would get: ECS numbers revisions on from the family's
    highest one, deregistered (INACTIVE) ones included. Check mode reports it so that a playbook can
    preview what uses the new revision (a service update) without registering it."""
    arns = [current["taskDefinitionArn"]] if current else []
    for status in ("INACTIVE", "DELETE_IN_PROGRESS"):
        arns += client.list_task_definitions(aws_retry=True, familyPrefix=family, status=status, sort="DESC", maxResults=1)["taskDefinitionArns"]
    arns = [arn for arn in arns if arn.rsplit("/", 1)[1].rsplit(":", 1)[0] == family]
    if arns:
        latest = max(arns, key=revision_from_arn)
        return "{0}:{1}".format(latest.rsplit(":", 1)[0], revision_from_arn(latest) + 1)
    account = module.client("sts", retry_decorator=AWSRetry.jittered_backoff()).get_caller_identity(aws_retry=True)["Account"]
    partition = "aws-cn" if module.region.startswith("cn-") else "aws-us-gov" if module.region.startswith("us-gov-") else "aws"
    return "arn:{0}:ecs:{1}:{2}:task-definition/{3}:1".format(partition, module.region, account, family)


def _comparable(definition, tags):
    if definition is None:
        return {}
    comparable = normalise_task_definition(definition)
    if tags:
        comparable["tags"] = dict(sorted(tags.items()))
    return comparable


def _present_result(module, definition, tags, container_name, port, static_prefix):
    result = dict(
        family=module.params["family"],
        container_name=container_name,
        container_port=port,
        health_check_path=mlflow_server.health_path(static_prefix),
        task_definition=dict(camel_task_definition_to_snake(definition), tags=tags),
    )
    if definition.get("taskDefinitionArn"):
        result["task_definition_arn"] = definition["taskDefinitionArn"]
        result["revision"] = definition.get("revision") or revision_from_arn(definition["taskDefinitionArn"])
    return result


def ensure_present(module, client, desired):
    params = module.params
    try:
        current, current_tags = latest_active_revision(client, params["family"])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not find the latest ACTIVE revision of task definition family {0}".format(params["family"]))

    changed = False
    register = current is None or normalise_task_definition(desired) != normalise_task_definition(current)
    if register:
        tags = desired_tags(current_tags, params["tags"], params["purge_tags"])
        final, final_tags = desired, tags
        changed = True
        if module.check_mode:
            try:
                arn = next_revision_arn(module, client, params["family"], current)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg="Could not find the next revision number of task definition family {0}".format(params["family"]))
            final = dict(desired, taskDefinitionArn=arn, revision=revision_from_arn(arn))
        else:
            arguments = dict(desired)
            if tags:
                arguments["tags"] = ansible_dict_to_boto3_tag_list(tags, "key", "value")
            try:
                final = client.register_task_definition(aws_retry=True, **arguments)["taskDefinition"]
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg="Could not register a revision of task definition family {0}".format(params["family"]))
    else:
        final, final_tags = current, current_tags
        if params["tags"] is not None:
            to_set, to_unset = compare_aws_tags(current_tags, params["tags"], params["purge_tags"])
            if to_set or to_unset:
                changed = True
                final_tags = dict((key, value) for key, value in current_tags.items() if key not in to_unset)
                final_tags.update(to_set)
                if not module.check_mode:
                    arn = current["taskDefinitionArn"]
                    try:
                        if to_unset:
                            client.untag_resource(aws_retry=True, resourceArn=arn, tagKeys=to_unset)
                        if to_set:
                            client.tag_resource(aws_retry=True, resourceArn=arn, tags=ansible_dict_to_boto3_tag_list(to_set, "key", "value"))
                    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                        module.fail_json_aws(error, msg="Could not update the tags of {0}".format(arn))

    result = _present_result(module, final, final_tags, params["container_name"], params["port"], params["static_prefix"] or None)
    result["changed"] = changed
    if module._diff:
        result["diff"] = dict(before=_comparable(current, current_tags), after=_comparable(desired, final_tags))
    module.exit_json(**result)


def ensure_absent(module, client):
    family = module.params["family"]
    try:
        arns = _list_active_arns(client, family)
        current, current_tags = latest_active_revision(client, family) if module._diff and arns else (None, {})
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not list the ACTIVE revisions of task definition family {0}".format(family))
    arns = sorted(arns, key=revision_from_arn)
    if not module.check_mode:
        for arn in arns:
            try:
                client.deregister_task_definition(aws_retry=True, taskDefinition=arn)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg="Could not deregister {0}".format(arn))
    result = dict(changed=bool(arns), family=family, deregistered_task_definition_arns=arns)
    if module._diff:
        result["diff"] = dict(before=_comparable(current, current_tags), after={})
    module.exit_json(**result)


def main():
    argument_spec = shared.argument_spec()
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[BACKEND_OPTIONS],
        required_if=[
            ("state", "present", BACKEND_OPTIONS, True),
            ("state", "present", ("artifacts_uri",)),
        ],
        supports_check_mode=True,
    )
    if module.params["state"] == "present":
        # Everything is checked before the first API call: bad input changes nothing.
        try:
            desired, warnings = build_task_definition(module.params, module.region)
        except InvalidInput as error:
            module.fail_json(msg=str(error))
        for warning in warnings:
            module.warn(warning)
        ensure_present(module, module.client("ecs", retry_decorator=AWSRetry.jittered_backoff()), desired)
    else:
        client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
        ensure_absent(module, client)


if __name__ == "__main__":
    main()
