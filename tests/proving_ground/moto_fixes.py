"""Corrections of moto 5.2.5's answers where they differ from AWS's.

Each overlay below corrects one moto bug (RunTask: the few that make it fail) that the collection's
roles, or the amazon.aws and community.aws modules they use, run into. Its docstring says what moto does, what AWS does and where
AWS documents it; ``tests/integration/test_moto_fixes.py`` shows moto's own wrong answer next to the
proving ground's corrected one, so that the test fails (and the overlay can go) once moto is fixed.

The overlays run inside the proving ground's process, which is also moto's process: where moto's
*state* is wrong (not only its answer), they correct the state through moto's backends, so that every
later answer built from that state is right too.
"""

from __future__ import annotations

import abc
import json
import os
import re
import sys
import threading
import types
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Optional

from botocore import xform_name

from . import bucket_policy, xmlutil
from .aws_protocol import AwsRequest, Response, error_response

_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")
# How a container definition can state its memory (boto3 lower camel case, CloudFormation upper).
_MEMORY_KEYS = frozenset({"memory", "memoryReservation", "Memory", "MemoryReservation"})


def moto_account_id(request: AwsRequest) -> str:
    """The account whose moto backends serve this request, chosen as moto itself chooses it."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if "x-moto-account-id" in request.headers:
        return request.headers["x-moto-account-id"]
    from moto.iam.models import get_account_id_from

    match = _ACCESS_KEY.search(request.headers.get("authorization", ""))
    return get_account_id_from(match.group(1) if match else "AKIAEXAMPLE")


class _Correction(abc.ABC):
    """An overlay that only corrects moto's successful answers of some operations.

    Subclasses name the operations as ``"service:Operation"`` in ``operations`` and implement
    ``correct(request, response)``, which returns the corrected response.
    """

    name = "moto-fix"
    operations: frozenset = frozenset()

    def handle(self, request: AwsRequest) -> Optional[Response]:
        return None

    def after(self, request: AwsRequest, response: Response) -> Response:
        if response.status >= 300 or f"{request.service}:{request.operation}" not in self.operations:
            return response
        return self.correct(request, response)

    @abc.abstractmethod
    def correct(self, request: AwsRequest, response: Response) -> Response:
        """The corrected answer (``response`` itself, edited, or ``response`` unchanged)."""

    def reset(self) -> None:
        """These corrections keep no state of their own: moto's reset empties what they corrected."""


class EcsClusterEmptyCapacityProviders(_Correction):
    """ECS clusters without capacity providers: moto omits the two lists, AWS answers them empty.

    moto leaves ``capacityProviders`` and ``defaultCapacityProviderStrategy`` out of every Cluster it
    returns (CreateCluster, DescribeClusters, UpdateCluster, DeleteCluster)
    until PutClusterCapacityProviders has set them. AWS returns both as empty lists for such a
    cluster: see the ``aws ecs create-cluster`` output in the ECS Developer Guide ("Encrypt data stored
    on Amazon ECS Fargate ephemeral storage": ``"capacityProviders": [], "defaultCapacityProviderStrategy":
    []``) and Example 3 of ``aws ecs put-cluster-capacity-providers`` in the AWS CLI reference (both
    lists ``[]`` once every provider is removed). community.aws.ecs_cluster reads
    ``existing["capacityProviders"]`` unconditionally, so with moto's answer its second run crashes
    with ``KeyError: 'capacityProviders'``; its own integration test, run against AWS, creates the
    same cluster twice without providers and expects no change.
    """

    name = "moto-fix:ecs-cluster-capacity-providers"
    operations = frozenset(f"ecs:{operation}" for operation in (
        "CreateCluster", "DescribeClusters", "UpdateCluster", "PutClusterCapacityProviders", "DeleteCluster"))

    def correct(self, request, response):
        document = response.json()
        clusters = document.get("clusters", [])
        if "cluster" in document:
            clusters = [document["cluster"]]
        for cluster in clusters:
            cluster.setdefault("capacityProviders", [])
            cluster.setdefault("defaultCapacityProviderStrategy", [])
        return response.with_json(document)


class EcsServiceCreateSettings(_Correction):
    """CreateService: moto drops settings that AWS keeps and reports on the service.

    moto's CreateService ignores ``healthCheckGracePeriodSeconds``, ``enableExecuteCommand``,
    ``enableECSManagedTags``, ``placementConstraints``, ``placementStrategy`` and
    ``deploymentConfiguration``: neither its answer nor any later DescribeServices shows them (its
    UpdateService does store them). AWS stores what CreateService was given and reports it in the
    Service (ECS API reference, Service data type), and fills what was not given: "If you do not
    specify a health check grace period value, the default value of 0 is used" (CreateService,
    ``healthCheckGracePeriodSeconds``); the default ``deploymentConfiguration`` of a REPLICA service
    is ``maximumPercent`` 200 and ``minimumHealthyPercent`` 100 (DeploymentConfiguration data type).
    AWS's answers show the defaults: ``aws ecs create-service`` and ``update-service`` examples in
    the AWS CLI reference carry ``"healthCheckGracePeriodSeconds": 0``, ``"enableExecuteCommand":
    false``, ``"enableECSManagedTags": false``, ``"placementConstraints": []``,
    ``"placementStrategy": []`` and ``"deploymentConfiguration": {"maximumPercent": 200,
    "minimumHealthyPercent": 100}`` for services created without them.

    community.aws.ecs_service compares ``healthCheckGracePeriodSeconds`` and ``enableExecuteCommand``
    with its parameters, so with moto's answer it updates the service on every run. The correction
    stores the values on moto's Service (under the attribute names that moto's own UpdateService
    uses), so DescribeServices and later UpdateService answers agree with AWS as well. Defaults that
    AWS adds beyond the documented ones (for instance ``deploymentCircuitBreaker``) are not invented.
    """

    name = "moto-fix:ecs-service-create-settings"
    operations = frozenset({"ecs:CreateService"})

    # Service members that CreateService takes and moto drops, with AWS's value when not given.
    DEFAULTS = {
        "healthCheckGracePeriodSeconds": 0,
        "enableExecuteCommand": False,
        "enableECSManagedTags": False,
        "placementConstraints": [],
        "placementStrategy": [],
    }
    DEPLOYMENT_DEFAULTS = {"maximumPercent": 200, "minimumHealthyPercent": 100}

    def correct(self, request, response):
        from moto.ecs.models import ecs_backends

        document = response.json()
        service = document.get("service", {})
        cluster_name = service.get("clusterArn", "").rsplit("/", 1)[-1]
        backend = ecs_backends[moto_account_id(request)][request.region]
        stored = backend.services.get(f"{cluster_name}:{service.get('serviceName')}")
        settings = {name: request.params.get(name, default) for name, default in self.DEFAULTS.items()}
        if service.get("schedulingStrategy", "REPLICA") == "REPLICA":
            settings["deploymentConfiguration"] = dict(self.DEPLOYMENT_DEFAULTS,
                                                       **request.params.get("deploymentConfiguration", {}))
        elif "deploymentConfiguration" in request.params:
            settings["deploymentConfiguration"] = request.params["deploymentConfiguration"]
        for name, value in settings.items():
            if name in service:  # moto answered it itself: nothing to correct
                continue
            service[name] = value
            if stored is not None:
                setattr(stored, xform_name(name), value)
        return response.with_json(document)


class RdsClusterMemberSubnetGroup(_Correction):
    """Aurora cluster members: moto leaves out the DB subnet group that AWS reports on them.

    An Aurora DB instance created with ``DBClusterIdentifier`` and without ``DBSubnetGroupName`` runs
    in its cluster's DB subnet group. AWS reports that group in the instance's ``DBSubnetGroup``: see
    the Aurora User Guide's ``aws rds create-db-instance --db-cluster-identifier my-new-80-cluster``
    example (no subnet group given), whose answer carries the cluster's ``"DBSubnetGroup":
    {"DBSubnetGroupName": "default", ... "Subnets": [...]}``. moto leaves ``DBSubnetGroup`` out of
    CreateDBInstance and every later DescribeDBInstances answer, and amazon.aws.rds_instance then
    fails its second run with ``KeyError: 'DBSubnetGroup'``.

    The correction gives moto's instance its cluster's subnet group (so every later answer carries
    it) and adds the group to the CreateDBInstance answer, rendered by moto's own serializer as in
    DescribeDBSubnetGroups. A cluster whose group moto does not know (its implicit "default") is left
    as moto has it: AWS's default group lists the default VPC's subnets, which moto does not model.
    """

    name = "moto-fix:rds-cluster-member-subnet-group"
    operations = frozenset({"rds:CreateDBInstance"})

    def correct(self, request, response):
        from moto.rds.models import rds_backends

        cluster_id = request.params.get("DBClusterIdentifier")
        instance_id = request.params.get("DBInstanceIdentifier")
        if not cluster_id or not instance_id or request.params.get("DBSubnetGroupName"):
            return response
        backend = rds_backends[moto_account_id(request)][request.region]
        cluster = backend.clusters.get(cluster_id)
        instance = backend.databases.get(instance_id)
        if cluster is None or instance is None or getattr(instance, "db_subnet_group", None) is not None:
            return response
        group_name = cluster.db_subnet_group_name
        if group_name not in backend.subnet_groups:
            return response
        instance.db_subnet_group_name = group_name  # moto's setter looks the group up
        group_element = self._rendered_subnet_group(backend.subnet_groups[group_name])

        def add_group(root):
            changed = False
            for element in xmlutil.find_all(root, "DBInstance"):
                if xmlutil.child(element, "DBSubnetGroup") is None:
                    element.append(group_element)
                    changed = True
            return changed

        return response.with_body(xmlutil.edit(response.body, add_group))

    @staticmethod
    def _rendered_subnet_group(group):
        """The <DBSubnetGroup> element of a group, as moto's serializer writes it everywhere else."""
        from moto.core.serialize import XFormedAttributePicker, get_serializer_class
        from moto.core.utils import get_service_model
        from moto.rds.responses import RDSResponse

        serializer = get_serializer_class("rds", "query")(
            operation_model=get_service_model("rds").operation_model("DescribeDBSubnetGroups"),
            value_picker=XFormedAttributePicker(
                response_transformers=getattr(RDSResponse, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)),
        )
        body = serializer.serialize({"DBSubnetGroups": [group]})["body"]
        return next(xmlutil.find_all(ET.fromstring(body), "DBSubnetGroup"))


class EfsLegacyTagApi:
    """EFS's original tag API, which moto does not route (it answers 404 with an HTML page).

    botocore's efs model still carries the three operations (deprecated, still served by AWS):
    DescribeTags ``GET /2015-02-01/tags/{FileSystemId}/`` answering ``{"Tags": [...], "Marker"?,
    "NextMarker"?}``; CreateTags ``POST /2015-02-01/create-tags/{FileSystemId}`` with ``{"Tags":
    [...]}``, which adds tags or overwrites the value of an existing key; DeleteTags ``POST
    /2015-02-01/delete-tags/{FileSystemId}`` with ``{"TagKeys": [...]}``, which ignores keys that do
    not exist. The last two answer 204 with no body. DescribeTags pages at 100 tags: "Currently, this
    number is automatically set to 100, and other values are ignored" (``MaxItems``); the answer
    repeats the request's ``Marker``. All three answer ``FileSystemNotFound`` (404, body ``ErrorCode``
    and ``Message``) for an unknown file system. community.aws.efs uses this API for tags, so with moto
    every run fails.

    They are answered from moto's EFS backend, whose tags TagResource, ListTagsForResource and
    DescribeFileSystems (the ``Name`` tag) also use, so both tag APIs agree as they do in AWS.
    """

    name = "moto-fix:efs-legacy-tags"
    PAGE_SIZE = 100
    _PATHS = {
        "DescribeTags": re.compile(r"^/2015-02-01/tags/(?P<id>[^/]+)/?$"),
        "CreateTags": re.compile(r"^/2015-02-01/create-tags/(?P<id>[^/]+)/?$"),
        "DeleteTags": re.compile(r"^/2015-02-01/delete-tags/(?P<id>[^/]+)/?$"),
    }

    def handle(self, request: AwsRequest) -> Optional[Response]:
        pattern = self._PATHS.get(request.operation) if request.service == "efs" else None
        match = pattern.match(request.path) if pattern else None
        if match is None:
            return None
        from moto.efs.models import efs_backends

        backend = efs_backends[moto_account_id(request)][request.region]
        file_system_id = match.group("id")
        if file_system_id not in backend.file_systems_by_id:
            return self._error(404, "FileSystemNotFound", f"File system '{file_system_id}' does not exist.")
        if request.operation == "DescribeTags":
            return self._describe_tags(backend, file_system_id, request.query.get("Marker"))
        body = request.json_body()
        if request.operation == "CreateTags":
            backend.tagging_service.tag_resource(file_system_id, body.get("Tags") or [])
        else:
            backend.tagging_service.untag_resource_using_names(file_system_id, body.get("TagKeys") or [])
        return Response(status=204, headers=[("x-amzn-RequestId", str(uuid.uuid4())),
                                             ("Content-Length", "0")])

    def _describe_tags(self, backend, file_system_id: str, marker: Optional[str]) -> Response:
        tags = backend.list_tags_for_resource(file_system_id)
        start = 0
        if marker is not None:
            if not marker.isdigit() or int(marker) > len(tags):
                # A marker this API never issued; worded as moto's DescribeFileSystems words it.
                return self._error(400, "BadRequest", "Invalid Marker")
            start = int(marker)
        document = {"Tags": tags[start:start + self.PAGE_SIZE]}
        if marker is not None:
            document["Marker"] = marker
        if start + self.PAGE_SIZE < len(tags):
            document["NextMarker"] = str(start + self.PAGE_SIZE)
        return Response(status=200, headers=[("Content-Type", "application/json"),
                                             ("x-amzn-RequestId", str(uuid.uuid4()))]).with_json(document)

    @staticmethod
    def _error(status: int, code: str, message: str) -> Response:
        # EFS's error shapes have ErrorCode and Message; botocore reads the code from the header.
        return Response(status=status, headers=[("Content-Type", "application/json"),
                                                ("x-amzn-ErrorType", code),
                                                ("x-amzn-RequestId", str(uuid.uuid4()))]).with_json(
            {"ErrorCode": code, "Message": message})

    def after(self, request: AwsRequest, response: Response) -> Response:
        return response

    def reset(self) -> None:
        """The tags live in moto's EFS backend, which moto's reset empties."""


class EfsMountTargetDefaultSecurityGroup(_Correction):
    """Mount targets created without security groups: moto reports none, AWS the VPC's default group.

    CreateMountTarget (EFS API reference): "If the request provides SecurityGroups, this network
    interface is associated with those security groups. Otherwise, it belongs to the default security
    group for the subnet's VPC." DescribeMountTargetSecurityGroups "returns the security groups
    currently in effect for a mount target", and ``SecurityGroups`` is a required member of its answer.
    moto gives the mount target's network interface the VPC's default group but keeps the mount
    target's own list empty, so DescribeMountTargetSecurityGroups answers ``{"SecurityGroups": null}``
    and community.aws.efs fails with ``KeyError: 'SecurityGroups'``. The correction records the
    network interface's groups as the mount target's.
    """

    name = "moto-fix:efs-mount-target-default-security-group"
    operations = frozenset({"efs:CreateMountTarget"})

    def correct(self, request, response):
        from moto.efs.models import efs_backends

        if request.json_body().get("SecurityGroups"):
            return response
        backend = efs_backends[moto_account_id(request)][request.region]
        mount_target = backend.mount_targets_by_id.get(response.json().get("MountTargetId"))
        if mount_target is not None and not mount_target.security_groups:
            interface = backend.ec2_backend.get_network_interface(mount_target.network_interface_id)
            mount_target.security_groups = [group.id for group in interface.group_set]
        return response


class EcsRunFargateTask(_Correction):
    """RunTask for a Fargate (awsvpc) task definition: moto answers 500, AWS starts the task.

    Two moto bugs make RunTask fail before a task exists:

    * ``_calculate_task_resource_requirements`` adds up container-level ``memory`` (or
      ``memoryReservation``) of every container and raises ``TypeError`` when a container has neither.
      For Fargate, task-level ``memory`` is required and container-level memory is optional
      (RegisterTaskDefinition, ``memory``), and those requirements only serve placement on EC2
      container instances. The patched function counts a container without memory as 0 and, where
      the task definition has task-level memory, reserves that, as AWS does on EC2.
    * The ENI attachment reads ``private_dns_name`` of the ENI, which moto sets only in a VPC with
      ``enableDnsHostnames``, so RunTask raises ``AttributeError`` in any other VPC. The patch lets the
      attribute read as missing, and the ``privateDnsName`` detail is then left out, as in the
      ``aws ecs describe-tasks`` example of the AWS CLI reference (its ENI details are subnetId,
      networkInterfaceId, macAddress and privateIPv4Address).

    Both are patched once in moto's classes when this overlay is built (moto runs in this process).

    moto's RunTask answer then describes a task that is already RUNNING. AWS answers with the task as
    it is when RunTask returns (``aws ecs run-task`` examples, AWS CLI reference): ``lastStatus``
    ``PROVISIONING`` for an awsvpc task (``PENDING`` otherwise), ``desiredStatus`` ``RUNNING``, the
    task-level ``cpu`` and ``memory``, ``createdAt``, an ``ElasticNetworkInterface`` attachment in status
    ``PRECREATED`` whose only detail is ``subnetId``, no ``stoppedReason`` (moto sends ``""``), and
    containers ``PENDING`` with no ``exitCode`` (none has run) and ``networkInterfaces: []``. moto's containers also name the task definition as
    their ``taskArn``; AWS names the task, and its ``containerArn`` is
    ``arn:aws:ecs:<region>:<account>:container/<cluster>/<task id>/<uuid>``. The correction answers
    so and stores what belongs to the task (``createdAt``, ``cpu``, ``memory``, the container ARNs, the
    ENI details) on moto's Task. It also starts moto's task lifecycle at PROVISIONING (moto's model
    has the PROVISIONING -> PENDING -> ACTIVATING -> RUNNING steps of the ECS task lifecycle commented
    out), so that DescribeTasks goes on from there rather than from RUNNING. What moto does after
    RUNNING (it walks the task to STOPPED, one step per DescribeTasks, with exit code 0) is moto's own
    and not corrected here: nothing runs, so no outcome is invented or changed.
    """

    name = "moto-fix:ecs-run-fargate-task"
    operations = frozenset({"ecs:RunTask"})
    START_OF_LIFECYCLE = {
        "awsvpc": [("PROVISIONING", "PENDING"), ("PENDING", "ACTIVATING"), ("ACTIVATING", "RUNNING")],
        "other": [("PENDING", "RUNNING")],
    }

    _patch_lock = threading.Lock()
    _patched = False

    def __init__(self):
        self.install_moto_patches()

    @classmethod
    def install_moto_patches(cls) -> None:
        with cls._patch_lock:
            if cls._patched:
                return
            from moto.ec2.models.elastic_network_interfaces import NetworkInterface
            from moto.ecs.models import EC2ContainerServiceBackend

            original = EC2ContainerServiceBackend.__dict__["_calculate_task_resource_requirements"].__func__

            def task_resource_requirements(task_definition):
                definitions = task_definition.container_definitions
                if all(_MEMORY_KEYS & set(container) for container in definitions):
                    return original(task_definition)
                # moto's function reads only container_definitions: give it one where a container
                # without container-level memory counts as 0.
                requirements = original(types.SimpleNamespace(container_definitions=[
                    container if _MEMORY_KEYS & set(container) else dict(container, memory=0)
                    for container in definitions]))
                if getattr(task_definition, "memory", None):
                    requirements["MEMORY"] = max(requirements["MEMORY"], int(task_definition.memory))
                return requirements

            EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(
                task_resource_requirements)
            # An instance attribute still wins where moto sets one (VPCs with DNS hostnames).
            NetworkInterface.private_dns_name = None
            cls._patched = True

    def correct(self, request, response):
        from moto.ecs.models import ecs_backends

        document = response.json()
        backend = ecs_backends[moto_account_id(request)][request.region]
        for answer in document.get("tasks", []):
            task = backend.tasks.get(answer.get("clusterArn", "").rsplit("/", 1)[-1], {}).get(answer["taskArn"])
            if task is None:
                continue
            # AWS's timestamps (and moto's rendering of them) have millisecond precision.
            now = datetime.now(timezone.utc)
            self._correct_stored_task(task, backend, now.replace(microsecond=now.microsecond // 1000 * 1000))
            self._correct_answer(answer, task)
        return response.with_json(document)

    def _correct_stored_task(self, task, backend, now) -> None:
        definition = backend.describe_task_definition(task.task_definition_arn)
        for attachment in task.attachments:
            attachment["details"] = [detail for detail in attachment["details"] if detail.get("value") is not None]
        for container in task.containers:
            container.task_arn = task.task_arn
            container.container_arn = f"{task.task_arn.replace(':task/', ':container/', 1)}/{uuid.uuid4()}"
        task.created_at = now
        task.stopped_reason = None  # moto's "" until StopTask; AWS has no stoppedReason before then
        if definition.cpu:
            task.cpu = str(definition.cpu)
        if definition.memory:
            task.memory = str(definition.memory)
        lifecycle = "awsvpc" if definition.network_mode == "awsvpc" else "other"
        task._transitions = self.START_OF_LIFECYCLE[lifecycle] + list(task._transitions)
        task.status = self.START_OF_LIFECYCLE[lifecycle][0][0]

    def _correct_answer(self, answer: dict, task) -> None:
        answer["lastStatus"] = task.status
        answer["desiredStatus"] = "RUNNING"
        answer["createdAt"] = task.created_at.timestamp()
        if not answer.get("stoppedReason"):
            answer.pop("stoppedReason", None)
        for member in ("cpu", "memory"):
            if getattr(task, member, None):
                answer[member] = getattr(task, member)
        for attachment in answer.get("attachments", []):
            if attachment.get("type") == "ElasticNetworkInterface":
                attachment["status"] = "PRECREATED"
                attachment["details"] = [d for d in attachment.get("details", []) if d.get("name") == "subnetId"]
        for container, stored in zip(answer.get("containers", []), task.containers):
            container.pop("exitCode", None)
            container["lastStatus"] = "PENDING"
            container["networkInterfaces"] = []
            container["taskArn"] = stored.task_arn
            container["containerArn"] = stored.container_arn
            if "healthStatus" in container:
                container["healthStatus"] = "UNKNOWN"


class EcsListTaskDefinitionsOrderAndPages(_Correction):
    """ListTaskDefinitions: moto ignores ``sort``, ``maxResults`` and ``nextToken``; AWS honours them.

    moto answers every matching ARN at once, in registration order, whatever the request asks. AWS
    (ECS API reference, ListTaskDefinitions): ``sort`` "The order to sort the results in. Valid
    values are ASC and DESC. By default, (ASC) task definitions are listed lexicographically by family
    name and in ascending numerical order by revision so that the newest task definitions in a family
    are listed last. Setting this parameter to DESC reverses the sort order on family name and revision.
    This is so that the newest task definitions in a family are listed first"; ``maxResults`` (1 to
    100, default 100) pages the answer, with a ``nextToken`` for the next page. ``familyPrefix`` with
    ``sort=DESC`` and ``maxResults=1`` is how a client asks for a family's latest revision, so with
    moto's answer it gets the oldest one.
    """

    name = "moto-fix:ecs-list-task-definitions-order-and-pages"
    operations = frozenset({"ecs:ListTaskDefinitions"})
    PAGE_SIZE = 100

    @staticmethod
    def _order(arn: str) -> tuple:
        family, revision = arn.rsplit("/", 1)[-1].rsplit(":", 1)
        return family, int(revision)

    def correct(self, request, response):
        params = request.params
        arns = sorted(response.json().get("taskDefinitionArns", []), key=self._order,
                      reverse=params.get("sort") == "DESC")
        start = int(params["nextToken"]) if str(params.get("nextToken", "")).isdigit() else 0
        size = params.get("maxResults") or self.PAGE_SIZE
        document = {"taskDefinitionArns": arns[start:start + size]}
        if start + size < len(arns):
            document["nextToken"] = str(start + size)
        return response.with_json(document)


class KmsKeyArnAccepted(_Correction):
    """ScheduleKeyDeletion, CancelKeyDeletion, EnableKey, DisableKey: moto answers 500 for a key ARN.

    The KMS API reference takes ``KeyId`` as "the key ID or key ARN" for all four; moto's backend
    indexes its keys by key ID only (``self.keys[key_id]``) and raises ``KeyError`` for an ARN, which
    ``amazon.aws.kms_key`` always passes. The four backend methods are patched once, in moto's class
    (moto runs in this process), to look the key up by ID as moto's other methods do
    (``KmsBackend.get_key_id``); the answers are moto's own.
    """

    name = "moto-fix:kms-key-arn-accepted"
    operations = frozenset()
    _patch_lock = threading.Lock()
    _patched = False

    def __init__(self):
        with self._patch_lock:
            if KmsKeyArnAccepted._patched:
                return
            from moto.kms.models import KmsBackend

            for method_name in ("schedule_key_deletion", "cancel_key_deletion", "enable_key", "disable_key"):
                original = getattr(KmsBackend, method_name)

                def by_key_id(backend, key_id, *args, original=original, **kwargs):
                    return original(backend, backend.get_key_id(key_id), *args, **kwargs)

                setattr(KmsBackend, method_name, by_key_id)
            KmsKeyArnAccepted._patched = True

    def correct(self, request, response):
        return response


class ElbDefaultAttributes(_Correction):
    """DescribeLoadBalancerAttributes: moto leaves out ``idle_timeout.timeout_seconds``.

    AWS always returns it for an application load balancer (60 unless changed); moto comments its
    default out "for TF compatibility", and ``amazon.aws.elb_application_lb`` then fails with
    KeyError 'idle_timeout_timeout_seconds' whenever ``idle_timeout`` is given. moto's model class is
    patched once so that a new load balancer starts with AWS's defaults for the attributes it omits.
    """

    name = "moto-fix:elb-default-attributes"
    operations = frozenset()
    _patch_lock = threading.Lock()
    _patched = False
    DEFAULTS = {"idle_timeout.timeout_seconds": "60", "access_logs.s3.enabled": "false",
                "routing.http.drop_invalid_header_fields.enabled": "false", "routing.http2.enabled": "true"}

    def __init__(self):
        with self._patch_lock:
            if ElbDefaultAttributes._patched:
                return
            from moto.elbv2.models import FakeLoadBalancer

            original = FakeLoadBalancer.__init__

            def with_defaults(balancer, *args, **kwargs):
                original(balancer, *args, **kwargs)
                if balancer.type == "application":
                    for key, value in ElbDefaultAttributes.DEFAULTS.items():
                        balancer.attrs.setdefault(key, value)

            FakeLoadBalancer.__init__ = with_defaults
            ElbDefaultAttributes._patched = True

    def correct(self, request, response):
        return response


class S3BucketPolicyEvaluation:
    """Bucket policies on object requests: moto denies wrongly; S3 decides by the statements that apply.

    moto evaluates a bucket's policy on object requests (GetObject, PutObject, HeadObject,
    DeleteObject, DeleteObjects) with ``FakeBucket.get_permission``, which hands the policy to
    ``moto.iam.access_control.IAMPolicy`` without the requester and without any condition value. There
    (``IAMPolicyStatement.is_action_permitted``) a condition whose operator moto does not know
    (everything but ``StringEquals``, so ``Bool`` too) or whose key it was not given counts as
    matching, and a Principal that does not name the requester is not checked at all (when a
    principal is given, a mismatch answers DENIED whatever the Effect). So a Deny statement applies to
    every request whatever its Condition and Principal: under the usual TLS-only statement (``Deny
    s3:*`` when ``aws:SecureTransport`` is false) every object request gets 403, over TLS as well; so
    does every request to a bucket with a Deny for some other account. moto's 403 also has no body,
    where S3 answers ``AccessDenied``.

    S3 (IAM User Guide, "Policy evaluation logic"; S3 User Guide, "How Amazon S3 authorizes a request
    for an object operation"): a statement counts only when its action, resource, principal and every
    condition match the request; an explicit Deny that counts denies; an Allow that counts grants;
    otherwise the bucket policy does not decide. ``aws:SecureTransport`` is true for a request made
    over TLS (IAM User Guide, "AWS global condition context keys").

    The correction replaces ``FakeBucket.get_permission`` (once, in moto's class: moto runs in this
    process) with ``bucket_policy.evaluate`` given the request's context: ``aws:SecureTransport``
    true on the proving ground's HTTPS port and false on its HTTP port, the requester (an IAM user's or
    an assumed role's access key, else the account's root, as moto's account resolution has it;
    anonymous without credentials), ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:SourceIp``
    and the ``s3:x-amz-*`` headers. HeadObject is authorized as ``s3:GetObject`` and POST object
    requests (multipart uploads) as ``s3:PutObject``, as S3 does. A 403 that the policy caused is
    answered as S3 words it (``AccessDenied``, "Access Denied"). Conditions with operators the
    evaluator does not know leave their statement out and say so in the proving ground's log.
    """

    name = "moto-fix:s3-bucket-policy-evaluation"
    ACTION_ALIASES = {"s3:HeadObject": "s3:GetObject", "s3:PostObject": "s3:PutObject"}
    _patch_lock = threading.Lock()
    _patched = False
    # The request being answered in this thread (moto answers in the thread that received it).
    _current = threading.local()

    def __init__(self):
        self.install_moto_patches()

    @classmethod
    def install_moto_patches(cls) -> None:
        with cls._patch_lock:
            if cls._patched:
                return
            from moto.s3.models import FakeBucket

            def get_permission(bucket, action, resource):
                return cls.permission(bucket.policy, action, resource)

            FakeBucket.get_permission = get_permission
            cls._patched = True

    @classmethod
    def permission(cls, policy, action: str, resource: str):
        """moto's PermissionResult for a bucket whose policy is ``policy`` (bytes, str or None)."""
        from moto.iam.access_control import PermissionResult

        if not policy:
            return PermissionResult.NEUTRAL
        document = json.loads(policy.decode() if isinstance(policy, bytes) else policy)
        request = getattr(cls._current, "request", None)
        context = cls.request_context(request) if request is not None else bucket_policy.RequestContext()
        decision = bucket_policy.evaluate(document, cls.ACTION_ALIASES.get(action, action), resource, context,
                                          unsupported=cls._report_unsupported)
        if decision == bucket_policy.DENY:
            cls._current.denied = True
            return PermissionResult.DENIED
        return PermissionResult.PERMITTED if decision == bucket_policy.ALLOW else PermissionResult.NEUTRAL

    _reported: set = set()

    @classmethod
    def _report_unsupported(cls, statement: dict, error: Exception) -> None:
        if (statement.get("Sid"), str(error)) in cls._reported:
            return
        cls._reported.add((statement.get("Sid"), str(error)))
        print(f"proving ground: bucket policy statement {statement.get('Sid', '')!r} left out: condition operator "
              f"{error} is not evaluated here", file=sys.stderr, flush=True)

    @staticmethod
    def access_key(request: AwsRequest) -> Optional[str]:
        match = _ACCESS_KEY.search(request.headers.get("authorization", ""))
        if match:
            return match.group(1)
        if "X-Amz-Credential" in request.query:
            return request.query["X-Amz-Credential"].split("/", 1)[0]
        return request.query.get("AWSAccessKeyId")

    @classmethod
    def request_context(cls, request: AwsRequest) -> bucket_policy.RequestContext:
        """Who makes ``request`` and the condition keys it brings."""
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends
        from moto.utilities.utils import get_partition

        values = {"aws:SecureTransport": "true" if request.secure else "false"}
        if request.source_ip:
            values["aws:SourceIp"] = request.source_ip
        values.update({f"s3:{name}": value for name, value in request.headers.items() if name.startswith("x-amz-")})
        key = cls.access_key(request)
        if not key:
            return bucket_policy.RequestContext(values=values)
        account = moto_account_id(request)
        partition = get_partition(request.region)
        principal, role = f"arn:{partition}:iam::{account}:root", None
        users = list(iam_backends[account][partition].users.values())
        user = next((user for user in users if any(k.access_key_id == key for k in user.access_keys)), None)
        if user is not None:
            principal = user.arn
        else:
            assumed = sts_backends[account][partition].get_assumed_role_from_access_key(key)
            if assumed is not None:
                principal, role = assumed.arn, assumed.role_arn
        values.update({"aws:PrincipalArn": role or principal, "aws:PrincipalAccount": account})
        return bucket_policy.RequestContext(principal_arn=principal, account=account, role_arn=role, values=values)

    def handle(self, request: AwsRequest) -> Optional[Response]:
        self._current.request = request if request.service == "s3" else None
        self._current.denied = False
        return None

    def after(self, request: AwsRequest, response: Response) -> Response:
        denied = getattr(self._current, "denied", False)
        self._current.request, self._current.denied = None, False
        if denied and response.status == 403 and not response.body.strip() and request.method != "HEAD":
            return error_response(request, "AccessDenied", "Access Denied", 403)
        return response

    def reset(self) -> None:
        """Nothing of its own: the policies live on moto's buckets."""


class EcsServiceAvailabilityZoneRebalancing(_Correction):
    """CreateService, UpdateService, DescribeServices: moto does not know ``availabilityZoneRebalancing``.

    AWS stores the value CreateService or UpdateService was given and reports it on the Service
    (ECS API reference, Service data type, ``availabilityZoneRebalancing``: ENABLED or DISABLED).
    moto ignores the parameter, so a module that sets it sees it missing on every run and updates the
    service again. The correction keeps the value on moto's service object and adds it to the
    service in the three answers. A service never given a value shows none, as moto has it.
    """

    name = "moto-fix:ecs-service-az-rebalancing"
    operations = frozenset({"ecs:CreateService", "ecs:UpdateService", "ecs:DescribeServices"})
    ATTRIBUTE = "_proving_ground_az_rebalancing"

    def correct(self, request, response):
        from moto.ecs.models import ecs_backends

        if response.status >= 400:
            return response
        document = response.json()
        backend = ecs_backends[moto_account_id(request)][request.region]
        services = [document["service"]] if "service" in document else document.get("services", [])
        for service in services:
            cluster_name = service.get("clusterArn", "").rsplit("/", 1)[-1]
            stored = backend.services.get(f"{cluster_name}:{service.get('serviceName')}")
            if stored is None:
                continue
            given = request.params.get("availabilityZoneRebalancing")
            if given and request.operation in ("CreateService", "UpdateService"):
                setattr(stored, self.ATTRIBUTE, given)
            value = getattr(stored, self.ATTRIBUTE, None)
            if value:
                service["availabilityZoneRebalancing"] = value
        return response.with_json(document)


def overlays() -> list:
    return [
        EcsClusterEmptyCapacityProviders(),
        EcsServiceCreateSettings(),
        RdsClusterMemberSubnetGroup(),
        EfsLegacyTagApi(),
        EfsMountTargetDefaultSecurityGroup(),
        EcsRunFargateTask(),
        EcsListTaskDefinitionsOrderAndPages(),
        KmsKeyArnAccepted(),
        ElbDefaultAttributes(),
        EcsServiceAvailabilityZoneRebalancing(),
        S3BucketPolicyEvaluation(),
    ]
