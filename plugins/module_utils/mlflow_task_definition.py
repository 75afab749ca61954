# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of mlops.mlflow.ecs_mlflow_task_definition that mlops.mlflow.aws_drift_info shares: the options,
the task definition of an MLflow server built from them (with the input checks), the family's latest ACTIVE
revision and the tags a new revision gets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_server
from ansible_collections.mlops.mlflow.plugins.module_utils.ecs_task_definition import fargate_size_error
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import check as _check

BACKEND_OPTIONS = ("backend_store_uri_secret_arn", "database", "sqlite_efs")
EFS_VOLUME = "mlflow-efs"
_FAMILY = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$")
_SECRET_REFERENCE = re.compile(r"^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:\d{12}:secret:|ssm:[a-z0-9-]+:\d{12}:parameter/)\S+$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^:\s]+$")
_ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
_HEALTH_CHECK_RANGES = {"interval": (5, 300), "timeout": (2, 60), "retries": (1, 10), "start_period": (0, 300)}


def _environment_list(variables):
    return [{"name": name, "value": variables[name]} for name in sorted(variables)]


def _secret_list(references):
    return [{"name": name, "valueFrom": references[name]} for name in sorted(references)]


def _environment_value(value):
    """A string, with YAML booleans as MLflow and most tools read them (true, false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _validate_extra_variables(params, managed):
    environment = params["extra_environment"] or {}
    secrets = params["extra_secrets"] or {}
    for option, names in (("extra_environment", environment), ("extra_secrets", secrets)):
        clashes = sorted(set(names) & managed)
        _check(not clashes, "{0} may not set {1}: the module sets {2} from its own options; use those options instead.".format(
            option, ", ".join(clashes), "it" if len(clashes) == 1 else "them"))
        _check(all(name for name in names), "{0} has an empty variable name.".format(option))
    both = sorted(set(environment) & set(secrets))
    _check(not both, "{0} set both in extra_environment and in extra_secrets: keep each in one of them.".format(", ".join(both)))
    _check(all(isinstance(value, str) and value for value in secrets.values()),
           "extra_secrets values must be valueFrom references (a Secrets Manager or SSM parameter ARN or name).")
    return {name: _environment_value(value) for name, value in environment.items()}, dict(secrets)


def _backend(params):
    """(environment, secrets, volumes, mount points, entry point) of the chosen backend store."""
    if params["backend_store_uri_secret_arn"]:
        reference = params["backend_store_uri_secret_arn"]
        _check(_SECRET_REFERENCE.match(reference),
               "backend_store_uri_secret_arn must be the ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>) "
               "or of an SSM parameter (arn:aws:ssm:<region>:<account>:parameter/<name>), got {0!r}.".format(reference))
        return {}, {"MLFLOW_BACKEND_STORE_URI": reference}, [], [], mlflow_server.START_ENTRY_POINT

    if params["database"]:
        database = params["database"]
        arn = database["credentials_secret_arn"]
        _check(_SECRET_ARN.match(arn),
               "database.credentials_secret_arn must be the full ARN of a Secrets Manager secret "
               "(arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>) without a JSON key suffix, got {0!r}: "
               "the module adds :{1}:: and :{2}:: itself.".format(arn, database["username_key"], database["password_key"]))
        host = database["host"]
        _check(host and not re.search(r"[/@:\s]", host),
               "database.host must be a bare host name such as the cluster endpoint, got {0!r}: put the port in database.port, "
               "and no scheme, user or path.".format(host))
        _check(database["name"], "database.name must not be empty.")
        for key in ("username_key", "password_key"):
            _check(database[key] and ":" not in database[key], "database.{0} must be a JSON key without ':'.".format(key))
        port = database["port"] or mlflow_server.DEFAULT_DATABASE_PORTS[database["engine"]]
        _check(1 <= port <= 65535, "database.port must be between 1 and 65535, got {0}.".format(port))
        environment = mlflow_server.database_environment(database["engine"], host, port, database["name"],
                                                         {str(k): str(v) for k, v in (database["query"] or {}).items()})
        secrets = {
            mlflow_server.DATABASE_USERNAME_VARIABLE: "{0}:{1}::".format(arn, database["username_key"]),
            mlflow_server.DATABASE_PASSWORD_VARIABLE: "{0}:{1}::".format(arn, database["password_key"]),
        }
        return environment, secrets, [], [], mlflow_server.START_ENTRY_POINT

    efs = params["sqlite_efs"]
    _check(re.match(r"^fs-[0-9a-f]+$", efs["file_system_id"] or ""),
           "sqlite_efs.file_system_id must be an EFS file system ID (fs-...), got {0!r}.".format(efs["file_system_id"]))
    _check(re.match(r"^fsap-[0-9a-f]+$", efs["access_point_id"] or ""),
           "sqlite_efs.access_point_id must be an EFS access point ID (fsap-...), got {0!r}.".format(efs["access_point_id"]))
    mount_path = efs["mount_path"]
    _check(mount_path.startswith("/") and mount_path != "/" and not mount_path.endswith("/"),
           "sqlite_efs.mount_path must be an absolute directory path such as /mnt/efs, without a trailing '/', got {0!r}.".format(mount_path))
    _check(efs["database_file"] and "/" not in efs["database_file"],
           "sqlite_efs.database_file must be a file name without '/', got {0!r}.".format(efs["database_file"]))
    volume = {
        "name": EFS_VOLUME,
        "efsVolumeConfiguration": {
            "fileSystemId": efs["file_system_id"],
            "rootDirectory": "/",
            "transitEncryption": "ENABLED",
            "authorizationConfig": {
                "accessPointId": efs["access_point_id"],
                "iam": "ENABLED" if efs["iam_authorization"] else "DISABLED",
            },
        },
    }
    environment = {"MLFLOW_BACKEND_STORE_URI": mlflow_server.sqlite_uri(mount_path + "/" + efs["database_file"])}
    mount = {"sourceVolume": EFS_VOLUME, "containerPath": mount_path}
    return environment, {}, [volume], [mount], mlflow_server.START_ENTRY_POINT


def _log_configuration(awslogs, region):
    _check(awslogs["group"], "awslogs.group must not be empty.")
    _check(awslogs["region"] or region, "awslogs.region is required when the module has no region (set region or AWS_REGION).")
    options = {
        "awslogs-group": awslogs["group"],
        "awslogs-region": awslogs["region"] or region,
        "awslogs-stream-prefix": awslogs["stream_prefix"],
        "mode": awslogs["mode"],
    }
    if awslogs["create_group"]:
        options["awslogs-create-group"] = "true"
    if awslogs["max_buffer_size"]:
        options["max-buffer-size"] = awslogs["max_buffer_size"]
    return {"logDriver": "awslogs", "options": options}


def _health_check(settings, port, static_prefix):
    for name, (low, high) in _HEALTH_CHECK_RANGES.items():
        _check(low <= settings[name] <= high, "health_check.{0} must be between {1} and {2}, got {3}.".format(name, low, high, settings[name]))
    health_check = {
        "command": mlflow_server.health_check_command(port, static_prefix, settings["timeout"]),
        "interval": settings["interval"],
        "timeout": settings["timeout"],
        "retries": settings["retries"],
    }
    if settings["start_period"]:
        health_check["startPeriod"] = settings["start_period"]
    return health_check


def _sidecars(sidecars, container_name):
    names = [container_name]
    for index, sidecar in enumerate(sidecars):
        _check(isinstance(sidecar, dict) and sidecar.get("name") and sidecar.get("image"),
               "sidecars[{0}] must be an ECS container definition with at least name and image.".format(index))
        _check(sidecar["name"] not in names,
               "sidecars[{0}] is named {1!r} like another container of the task: container names must be unique.".format(index, sidecar["name"]))
        names.append(sidecar["name"])
    return [dict(sidecar) for sidecar in sidecars]


def build_task_definition(params, region):
    """The task definition to register (RegisterTaskDefinition's arguments, without tags) and the
    warnings for the user. Raises InvalidInput, naming the option and the fix, for anything ECS or
    MLflow would refuse."""
    warnings = []
    family = params["family"]
    _check(_FAMILY.match(family), "family must be 1 to 255 letters, digits, hyphens and underscores, got {0!r}.".format(family))
    size_error = fargate_size_error(params["cpu"], params["memory"])
    _check(size_error is None, size_error)
    port = params["port"]
    _check(1 <= port <= 65535, "port must be between 1 and 65535, got {0}.".format(port))
    _check(params["workers"] >= 1, "workers must be at least 1, got {0}.".format(params["workers"]))
    static_prefix = params["static_prefix"] or None
    if static_prefix:
        problem = mlflow_server.static_prefix_error(static_prefix)
        _check(problem is None, "static_prefix {0}, got {1!r} (for example /mlflow).".format(problem, static_prefix))
    for option in ("execution_role_arn", "task_role_arn"):
        value = params[option]
        _check(value is None or _ROLE_ARN.match(value),
               "{0} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got {1!r}: give the role's ARN, "
               "not its name.".format(option, value))
    _check(params["artifacts_uri"], "artifacts_uri must not be empty (for example s3://bucket/mlflow).")
    if params["prometheus_metrics"]:
        _check(params["prometheus_metrics_dir"].startswith("/"),
               "prometheus_metrics_dir must be an absolute path, got {0!r}.".format(params["prometheus_metrics_dir"]))

    environment, secrets, volumes, mount_points, entry_point = _backend(params)
    environment.update(mlflow_server.server_environment(
        port=port,
        workers=params["workers"],
        artifacts_uri=params["artifacts_uri"],
        artifacts_mode=params["artifacts_mode"],
        static_prefix=static_prefix,
        allowed_hosts=params["allowed_hosts"],
        cors_allowed_origins=params["cors_allowed_origins"],
        prometheus_dir=params["prometheus_metrics_dir"] if params["prometheus_metrics"] else None,
    ))
    extra_environment, extra_secrets = _validate_extra_variables(params, mlflow_server.MANAGED_VARIABLES)
    environment.update(extra_environment)
    secrets.update(extra_secrets)

    container = {
        "name": params["container_name"],
        "image": params["image"],
        "essential": True,
        "entryPoint": list(entry_point),
        "portMappings": [{"containerPort": port, "hostPort": port, "protocol": "tcp"}],
        "environment": _environment_list(environment),
    }
    if secrets:
        container["secrets"] = _secret_list(secrets)
    if mount_points:
        container["mountPoints"] = mount_points
    if params["awslogs"]:
        container["logConfiguration"] = _log_configuration(params["awslogs"], region)
    health_check = params["health_check"]
    if health_check["enabled"]:
        container["healthCheck"] = _health_check(health_check, port, static_prefix)
    containers = [container] + _sidecars(params["sidecars"] or [], params["container_name"])

    needs = []
    if secrets or any(sidecar.get("secrets") for sidecar in containers[1:]):
        needs.append("read the secrets")
    if params["awslogs"] or any((sidecar.get("logConfiguration") or {}).get("logDriver") == "awslogs" for sidecar in containers[1:]):
        needs.append("send logs to CloudWatch Logs")
    if any(_ECR_IMAGE.match(c["image"]) for c in containers):
        needs.append("pull images from ECR")
    _check(params["execution_role_arn"] or not needs,
           "execution_role_arn is required: ECS needs it to {0}. Give the ARN of a role that ecs-tasks.amazonaws.com may assume, "
           "with the AmazonECSTaskExecutionRolePolicy managed policy and secretsmanager:GetSecretValue on the secrets.".format(" and to ".join(needs)))

    if not params["allowed_hosts"]:
        warnings.append("allowed_hosts is not set: MLflow 3 then accepts only localhost and private IP addresses in the Host header, "
                        "so users who reach it through a load balancer's DNS name or a custom domain get 403 'Invalid Host header'. "
                        "List those names in allowed_hosts.")

    definition = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(params["cpu"]),
        "memory": str(params["memory"]),
        "runtimePlatform": {"cpuArchitecture": params["cpu_architecture"], "operatingSystemFamily": "LINUX"},
        "containerDefinitions": containers,
    }
    if params["execution_role_arn"]:
        definition["executionRoleArn"] = params["execution_role_arn"]
    if params["task_role_arn"]:
        definition["taskRoleArn"] = params["task_role_arn"]
    if volumes:
        definition["volumes"] = volumes
    return definition, warnings


def argument_spec():
    """The options of mlops.mlflow.ecs_mlflow_task_definition."""
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        family=dict(type="str", required=True),
        image=dict(type="str", default=mlflow_server.DEFAULT_IMAGE),
        container_name=dict(type="str", default="mlflow"),
        cpu=dict(type="int", default=1024),
        memory=dict(type="int", default=2048),
        cpu_architecture=dict(type="str", choices=["X86_64", "ARM64"], default="X86_64"),
        execution_role_arn=dict(type="str"),
        task_role_arn=dict(type="str"),
        port=dict(type="int", default=5000),
        workers=dict(type="int", default=4),
        static_prefix=dict(type="str"),
        allowed_hosts=dict(type="list", elements="str"),
        cors_allowed_origins=dict(type="list", elements="str"),
        prometheus_metrics=dict(type="bool", default=False),
        prometheus_metrics_dir=dict(type="str", default="/tmp/mlflow-prometheus"),
        backend_store_uri_secret_arn=dict(type="str", no_log=False),
        database=dict(type="dict", options=dict(
            engine=dict(type="str", choices=["postgresql", "mysql"], required=True),
            host=dict(type="str", required=True),
            port=dict(type="int"),
            name=dict(type="str", required=True),
            credentials_secret_arn=dict(type="str", required=True, no_log=False),
            username_key=dict(type="str", default="username", no_log=False),
            password_key=dict(type="str", default="password", no_log=False),
            query=dict(type="dict", default={}),
        )),
        sqlite_efs=dict(type="dict", options=dict(
            file_system_id=dict(type="str", required=True),
            access_point_id=dict(type="str", required=True),
            iam_authorization=dict(type="bool", default=True),
            mount_path=dict(type="str", default="/mnt/efs"),
            database_file=dict(type="str", default="mlflow.db"),
        )),
        artifacts_uri=dict(type="str"),
        artifacts_mode=dict(type="str", choices=["proxied", "direct"], default="proxied"),
        extra_environment=dict(type="dict", default={}),
        extra_secrets=dict(type="dict", default={}, no_log=False),
        sidecars=dict(type="list", elements="dict", default=[]),
        awslogs=dict(type="dict", options=dict(
            group=dict(type="str", required=True),
            region=dict(type="str"),
            stream_prefix=dict(type="str", default="mlflow"),
            create_group=dict(type="bool", default=False),
            mode=dict(type="str", choices=["blocking", "non-blocking"], default="non-blocking"),
            max_buffer_size=dict(type="str"),
        )),
        health_check=dict(type="dict", apply_defaults=True, options=dict(
            enabled=dict(type="bool", default=True),
            interval=dict(type="int", default=30),
            timeout=dict(type="int", default=5),
            retries=dict(type="int", default=3),
            start_period=dict(type="int", default=60),
        )),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )


def latest_active_revision(client, family):
    """(task definition, tags) of the family's latest ACTIVE revision, or (None, {})."""
    arns = client.list_task_definitions(aws_retry=True, familyPrefix=family, status="ACTIVE", sort="DESC", maxResults=1)["taskDefinitionArns"]
    if not arns:
        return None, {}
    described = client.describe_task_definition(aws_retry=True, taskDefinition=arns[0], include=["TAGS"])
    return described["taskDefinition"], boto3_tag_list_to_ansible_dict(described.get("tags") or [], "key", "value")


def desired_tags(current_tags, tags, purge_tags):
    """The tags a new revision gets: the current ones when tags is None, else as purge_tags says.
    Tags with the reserved aws: prefix cannot be set and are never copied."""
    current = {key: value for key, value in current_tags.items() if not key.startswith("aws:")}
    if tags is None:
        return current
    if purge_tags:
        return dict(tags)
    return dict(current, **tags)
