#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: sagemaker_mlflow_tracking_server_info
version_added: 0.1.0
short_description: Describe SageMaker managed MLflow tracking servers, and get a presigned URL of one
description:
  - Describes one SageMaker managed MLflow tracking server by its name, or lists the tracking servers of the account and
    region, optionally filtered.
  - With O(presigned_url=true), also asks SageMaker for a presigned URL of the server's MLflow UI (a browser opens it
    without AWS credentials, until it expires).
  - This module exists because neither amazon.aws nor community.aws (10.0) has a module for SageMaker MLflow.
  - The module changes nothing.
options:
  name:
    description:
      - The tracking server to describe. Without it, every tracking server that passes the filters is listed.
    type: str
    aliases: [tracking_server_name]
  status:
    description:
      - Lists only the servers in this status (C(ListMlflowTrackingServers) C(TrackingServerStatus)).
    type: str
    choices: [Creating, Created, CreateFailed, Updating, Updated, UpdateFailed, Deleting, DeleteFailed, Stopping, Stopped, StopFailed,
              Starting, Started, StartFailed, MaintenanceInProgress, MaintenanceComplete, MaintenanceFailed]
  mlflow_version:
    description:
      - Lists only the servers of this MLflow version.
    type: str
  created_after:
    description:
      - Lists only the servers created after this moment, an ISO 8601 date or time such as V(2026-01-31T12:00:00Z).
    type: str
  created_before:
    description:
      - Lists only the servers created before this moment, an ISO 8601 date or time.
    type: str
  presigned_url:
    description:
      - Also return a presigned URL of the MLflow UI of the server named O(name) (required then).
    type: bool
    default: false
  presigned_url_expires_in_seconds:
    description:
      - How long the presigned URL can be used to open a session, 5 to 300 seconds. SageMaker's default when not given.
    type: int
  session_expiration_duration_in_seconds:
    description:
      - How long the session it opens lasts, 1800 to 43200 seconds. SageMaker's default when not given.
    type: int
notes:
  - The caller needs C(sagemaker:DescribeMlflowTrackingServer), C(ListMlflowTrackingServers), C(ListTags), and for the presigned
    URL C(CreatePresignedMlflowTrackingServerUrl).
  - Without O(name), the list holds what C(ListMlflowTrackingServers) says of each server (no tags, no settings).
seealso:
  - module: mlops.mlflow.sagemaker_mlflow_tracking_server
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: One tracking server, with a link to its UI
  mlops.mlflow.sagemaker_mlflow_tracking_server_info:
    name: team-a
    presigned_url: true
    presigned_url_expires_in_seconds: 300
  register: mlflow_server

- name: Open this in a browser within five minutes
  ansible.builtin.debug:
    msg: "{{ mlflow_server.presigned_url }}"

- name: Every stopped tracking server
  mlops.mlflow.sagemaker_mlflow_tracking_server_info:
    status: Stopped
  register: stopped_servers
"""

RETURN = r"""
tracking_servers:
  description:
    - With O(name), the server as C(DescribeMlflowTrackingServer) answers with its tags (as
      M(mlops.mlflow.sagemaker_mlflow_tracking_server) returns it), or nothing when there is none of that name.
    - Without, the summaries of C(ListMlflowTrackingServers). Keys in snake_case, timestamps as ISO 8601 strings.
  returned: always
  type: list
  elements: dict
  sample:
    - tracking_server_name: team-a
      tracking_server_arn: arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/team-a
      tracking_server_status: Created
      is_active: Active
      mlflow_version: 3.0.0
presigned_url:
  description: The presigned URL of the MLflow UI.
  returned: when O(presigned_url=true) and the server exists
  type: str
  sample: https://t-abcdefghijkl.eu-west-1.experiments.sagemaker.aws/auth?authToken=...
"""

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mlops.mlflow.plugins.module_utils import sagemaker_mlflow as common


def validate(params):
    """Raises common.InvalidInput for what SageMaker would refuse; returns the List filters."""
    if params["name"] is not None:
        common.check_name(params["name"])
    common.check(not params["presigned_url"] or params["name"], "presigned_url needs the name of the tracking server.")
    common.check_presigned(params)
    filters = {}
    if params["status"]:
        filters["TrackingServerStatus"] = params["status"]
    if params["mlflow_version"]:
        common.check(common.MLFLOW_VERSION_PATTERN.match(params["mlflow_version"]),
                     "mlflow_version must be a version such as 3.0 or 3.0.0, got {0!r}.".format(params["mlflow_version"]))
        filters["MlflowVersion"] = params["mlflow_version"]
    for option, member in (("created_after", "CreatedAfter"), ("created_before", "CreatedBefore")):
        moment = common.parse_time(params[option], option)
        if moment is not None:
            filters[member] = moment
    return filters


def main():
    argument_spec = dict(
        name=dict(type="str", aliases=["tracking_server_name"]),
        status=dict(type="str", choices=[
            "Creating", "Created", "CreateFailed", "Updating", "Updated", "UpdateFailed", "Deleting", "DeleteFailed", "Stopping", "Stopped",
            "StopFailed", "Starting", "Started", "StartFailed", "MaintenanceInProgress", "MaintenanceComplete", "MaintenanceFailed"]),
        mlflow_version=dict(type="str"),
        created_after=dict(type="str"),
        created_before=dict(type="str"),
        presigned_url=dict(type="bool", default=False),
        presigned_url_expires_in_seconds=dict(type="int"),
        session_expiration_duration_in_seconds=dict(type="int"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        filters = validate(module.params)
    except common.InvalidInput as error:
        module.fail_json(msg=str(error))
    sagemaker = common.client(module)
    name = module.params["name"]
    result = dict(changed=False, tracking_servers=[])
    try:
        if name is None:
            result["tracking_servers"] = [common.snake(summary) for summary in common.list_tracking_servers(sagemaker, **filters)]
        else:
            server = common.describe_tracking_server(sagemaker, name)
            if server is not None:
                result["tracking_servers"] = [common.snake(server, common.get_tags(sagemaker, server["TrackingServerArn"]))]
                if module.params["presigned_url"]:
                    result["presigned_url"] = common.presigned_tracking_server_url(sagemaker, name, module.params)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe the MLflow tracking server{0}".format(" " + name if name else "s"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
