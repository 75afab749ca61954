# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The options that identify an Application Auto Scaling scalable target, shared by the modules that
    # manage something on one. Their argument_spec is target_argument_spec() in module_utils/application_autoscaling.py;
    # the choices are its SERVICE_NAMESPACES and SCALABLE_DIMENSIONS.
    DOCUMENTATION = r"""
options:
  service_namespace:
    description:
      - The namespace of the AWS service that provides the resource.
    type: str
    choices: [appstream, cassandra, comprehend, custom-resource, dynamodb, ec2, ecs, elasticache, elasticmapreduce, kafka, lambda, neptune,
              rds, sagemaker, workspaces]
    default: ecs
  resource_id:
    description:
      - The scalable target's resource ID. For an ECS service C(service/<cluster name>/<service name>),
        for example V(service/mlflow/mlflow) (not the service ARN).
    type: str
    required: true
  scalable_dimension:
    description:
      - The scalable dimension, for example V(ecs:service:DesiredCount) (the ECS service's desired task count).
      - Defaults to V(ecs:service:DesiredCount) with O(service_namespace=ecs); required with other namespaces.
    type: str
    choices:
      - appstream:fleet:DesiredCapacity
      - cassandra:table:ReadCapacityUnits
      - cassandra:table:WriteCapacityUnits
      - comprehend:document-classifier-endpoint:DesiredInferenceUnits
      - comprehend:entity-recognizer-endpoint:DesiredInferenceUnits
      - custom-resource:ResourceType:Property
      - dynamodb:index:ReadCapacityUnits
      - dynamodb:index:WriteCapacityUnits
      - dynamodb:table:ReadCapacityUnits
      - dynamodb:table:WriteCapacityUnits
      - ec2:spot-fleet-request:TargetCapacity
      - ecs:service:DesiredCount
      - elasticache:cache-cluster:Nodes
      - elasticache:replication-group:NodeGroups
      - elasticache:replication-group:Replicas
      - elasticmapreduce:instancegroup:InstanceCount
      - kafka:broker-storage:VolumeSize
      - lambda:function:ProvisionedConcurrency
      - neptune:cluster:ReadReplicaCount
      - rds:cluster:ReadReplicaCount
      - sagemaker:inference-component:DesiredCopyCount
      - sagemaker:variant:DesiredInstanceCount
      - sagemaker:variant:DesiredProvisionedConcurrency
      - workspaces:workspacespool:DesiredUserSessions
"""
