"""The latency model: AWS resources are not ready the moment their Create call returns.

Each tracked operation starts a provisioning phase that lasts ``AWS seconds x latency_scale``; while it
lasts, describe calls show the resource as AWS does during that phase (an Aurora cluster
``creating``, a load balancer ``provisioning``, an ECS deployment in progress). With the scale at 0
(the default) every phase is over at once.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

from . import xmlutil
from .aws_protocol import AwsRequest, Response
from .settings import Settings

# How long AWS usually takes, in seconds, by "service:Operation".
AWS_DURATIONS = {
    "rds:CreateDBCluster": 480,
    "rds:CreateDBInstance": 360,
    "elbv2:CreateLoadBalancer": 180,
    "ecs:CreateService": 120,
    "ecs:UpdateService": 120,
    "efs:CreateFileSystem": 5,
    "efs:CreateMountTarget": 90,
    "ec2:CreateNatGateway": 90,
    "sagemaker:CreateMlflowTrackingServer": 1650,
    "sagemaker:UpdateMlflowTrackingServer": 600,
    "sagemaker:StartMlflowTrackingServer": 600,
    "sagemaker:StopMlflowTrackingServer": 300,
    "sagemaker:DeleteMlflowTrackingServer": 300,
    "sagemaker:CreateMlflowApp": 180,
    "sagemaker:UpdateMlflowApp": 120,
    "sagemaker:DeleteMlflowApp": 60,
}


class LatencyModel:
    def __init__(self, settings: Settings, clock=time.monotonic):
        self._settings = settings
        self._clock = clock
        self._phases: dict = {}
        self._lock = threading.Lock()

    def duration(self, service: str, operation: str) -> float:
        """Seconds of wall-clock time that the operation's provisioning phase lasts here."""
        key = f"{service}:{operation}"
        aws_seconds = self._settings.latency_overrides.get(key, AWS_DURATIONS.get(key, 0))
        return float(aws_seconds) * float(self._settings.latency_scale)

    def start(self, resource: tuple, service: str, operation: str) -> None:
        seconds = self.duration(service, operation)
        with self._lock:
            if seconds > 0:
                self._phases[resource] = self._clock() + seconds
            else:
                self._phases.pop(resource, None)

    def in_progress(self, resource: tuple) -> bool:
        with self._lock:
            ends = self._phases.get(resource)
            if ends is None:
                return False
            if self._clock() >= ends:
                del self._phases[resource]
                return False
            return True

    def reset(self) -> None:
        with self._lock:
            self._phases.clear()


class ProvisioningOverlay:
    """Shows moto's resources as still provisioning while their phase of the latency model lasts.

    It also gives ECS services the steady state that a healthy deployment reaches in AWS: moto keeps
    ``runningCount`` at 0 forever (it never runs tasks), so ``services_stable`` would never succeed.
    """

    name = "provisioning"

    def __init__(self, latency: LatencyModel):
        self.latency = latency

    def handle(self, request: AwsRequest) -> Optional[Response]:
        return None

    def reset(self) -> None:
        self.latency.reset()

    def after(self, request: AwsRequest, response: Response) -> Response:
        if response.status >= 300:
            return response
        handler = getattr(self, f"_{request.service}_{request.operation}".replace("-", "_"), None)
        return handler(request, response) or response if handler else response

    # RDS
    def _rds_CreateDBCluster(self, request, response):
        self.latency.start(("rds-cluster", request.params.get("DBClusterIdentifier", "").lower()),
                           "rds", "CreateDBCluster")

    def _rds_CreateDBInstance(self, request, response):
        self.latency.start(("rds-instance", request.params.get("DBInstanceIdentifier", "").lower()),
                           "rds", "CreateDBInstance")

    def _rds_DescribeDBClusters(self, request, response):
        return self._mark_xml(response, "DBCluster", "DBClusterIdentifier", "rds-cluster", "Status", "creating")

    def _rds_DescribeDBInstances(self, request, response):
        return self._mark_xml(response, "DBInstance", "DBInstanceIdentifier", "rds-instance",
                              "DBInstanceStatus", "creating")

    # Elastic Load Balancing v2
    def _elbv2_CreateLoadBalancer(self, request, response):
        arn = xmlutil.text(response.body, "LoadBalancerArn")
        if arn:
            self.latency.start(("elbv2", arn), "elbv2", "CreateLoadBalancer")

    def _elbv2_DescribeLoadBalancers(self, request, response):
        def change(root):
            changed = False
            for balancer in xmlutil.find_all(root, "member"):
                arn = xmlutil.child_text(balancer, "LoadBalancerArn")
                state = xmlutil.child(balancer, "State")
                if arn and state is not None and self.latency.in_progress(("elbv2", arn)):
                    xmlutil.child(state, "Code").text = "provisioning"
                    changed = True
            return changed
        return response.with_body(xmlutil.edit(response.body, change))

    # ECS
    def _ecs_CreateService(self, request, response):
        self._ecs_deployment_started(response)

    def _ecs_UpdateService(self, request, response):
        self._ecs_deployment_started(response)

    def _ecs_deployment_started(self, response):
        arn = response.json().get("service", {}).get("serviceArn")
        if arn:
            self.latency.start(("ecs-service", arn), "ecs", "CreateService")

    def _ecs_DescribeServices(self, request, response):
        document = response.json()
        for service in document.get("services", []):
            desired = service.get("desiredCount", 0)
            deploying = self.latency.in_progress(("ecs-service", service.get("serviceArn")))
            running = 0 if deploying else desired
            service["runningCount"], service["pendingCount"] = running, desired - running
            for deployment in service.get("deployments", []):
                if deployment.get("status") != "PRIMARY":
                    continue
                deployment["desiredCount"] = desired
                deployment["runningCount"], deployment["pendingCount"] = running, desired - running
                deployment["rolloutState"] = "IN_PROGRESS" if deploying else "COMPLETED"
                deployment["rolloutStateReason"] = (
                    f"ECS deployment {deployment.get('id')} {'in progress' if deploying else 'completed'}.")
        return response.with_json(document)

    # EFS
    def _efs_CreateFileSystem(self, request, response):
        self.latency.start(("efs", response.json().get("FileSystemId")), "efs", "CreateFileSystem")

    def _efs_CreateMountTarget(self, request, response):
        self.latency.start(("efs-mt", response.json().get("MountTargetId")), "efs", "CreateMountTarget")

    def _efs_DescribeFileSystems(self, request, response):
        return self._mark_json(response, "FileSystems", "FileSystemId", "efs")

    def _efs_DescribeMountTargets(self, request, response):
        return self._mark_json(response, "MountTargets", "MountTargetId", "efs-mt")

    def _mark_json(self, response, list_key, id_key, kind):
        document = response.json()
        for item in document.get(list_key, []):
            if self.latency.in_progress((kind, item.get(id_key))):
                item["LifeCycleState"] = "creating"
        return response.with_json(document)

    def _mark_xml(self, response, element_name, id_name, kind, status_name, status):
        def change(root):
            changed = False
            for element in xmlutil.find_all(root, element_name):
                identifier = (xmlutil.child_text(element, id_name) or "").lower()
                status_element = xmlutil.child(element, status_name)
                if status_element is not None and self.latency.in_progress((kind, identifier)):
                    status_element.text = status
                    changed = True
            return changed
        return response.with_body(xmlutil.edit(response.body, change))
