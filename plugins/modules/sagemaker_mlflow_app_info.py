#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: sagemaker_mlflow_app_info
version_added: 0.1.0
short_description: Describe SageMaker serverless MLflow Apps, and get a presigned URL of one
description:
  - Describes the SageMaker serverless MLflow Apps of one name, or one App by its ARN, or lists the Apps of the account and
    region, optionally filtered.
  - With O(presigned_url=true), also asks SageMaker for a presigned URL of the App's MLflow UI (a browser opens it without
    AWS credentials, until it expires).
  - This module exists because neither amazon.aws nor community.aws (10.0) has a module for SageMaker MLflow.
  - The module changes nothing.
options:
  name:
    description:
      - Describes the Apps of this name (SageMaker does not keep App names unique; Apps being deleted are left out).
    type: str
  arn:
    description:
      - Describes the App of this ARN.
    type: str
  status:
    description:
      - Lists only the Apps in this status.
    type: str
    choices: [Creating, Created, CreateFailed, Updating, Updated, UpdateFailed, Deleting, DeleteFailed, Deleted]
  mlflow_version:
    description:
      - Lists only the Apps of this MLflow version.
    type: str
  default_for_domain_id:
    description:
      - Lists only the Apps that are the default of this SageMaker domain.
    type: str
  account_default_status:
    description:
      - Lists only the Apps that are (V(ENABLED)) or are not (V(DISABLED)) the account's default.
    type: str
    choices: [ENABLED, DISABLED]
  created_after:
    description:
      - Lists only the Apps created after this moment, an ISO 8601 date or time such as V(2026-01-31T12:00:00Z).
    type: str
  created_before:
    description:
      - Lists only the Apps created before this moment, an ISO 8601 date or time.
    type: str
  presigned_url:
    description:
      - Also return a presigned URL of the MLflow UI of the App given by O(arn), or by O(name) when one App carries it.
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
  - The caller needs C(sagemaker:ListMlflowApps), C(DescribeMlflowApp), C(ListTags), and for the presigned URL
    C(CreatePresignedMlflowAppUrl).
  - The filters apply to the listing, with or without O(name); O(arn) ignores them. Without O(name) and O(arn), the list holds
    what C(ListMlflowApps) says of each App (no tags, no settings).
seealso:
  - module: mlops.mlflow.sagemaker_mlflow_app
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: One App, with a link to its UI
  mlops.mlflow.sagemaker_mlflow_app_info:
    name: team-a
    presigned_url: true
  register: mlflow_app

- name: Open this in a browser within five minutes
  ansible.builtin.debug:
    msg: "{{ mlflow_app.presigned_url }}"

- name: The account's default App
  mlops.mlflow.sagemaker_mlflow_app_info:
    account_default_status: ENABLED
  register: default_app
"""

RETURN = r"""
apps:
  description:
    - With O(name) or O(arn), each App as C(DescribeMlflowApp) answers with its tags (as M(mlops.mlflow.sagemaker_mlflow_app)
      returns it); an empty list when there is none.
    - Without, the summaries of C(ListMlflowApps). Keys in snake_case, timestamps as ISO 8601 strings.
  returned: always
  type: list
  elements: dict
  sample:
    - name: team-a
      arn: arn:aws:sagemaker:eu-west-1:123456789012:mlflow-app/app-ABCDEFGHIJKL
      status: Created
      mlflow_version: 3.10.1
presigned_url:
  description: The presigned URL of the App's MLflow UI.
  returned: when O(presigned_url=true) and the App exists
  type: str
  sample: https://app-abcdefghijkl.eu-west-1.experiments.sagemaker.aws/auth?authToken=...
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
    if params["arn"] is not None:
        common.check(len(params["arn"]) <= 128 and common.APP_ARN_PATTERN.match(params["arn"]),
                     "arn must be an MLflow App ARN (arn:aws:sagemaker:<region>:<account>:mlflow-app/<id>), got {0!r}.".format(params["arn"]))
    common.check(not params["presigned_url"] or params["name"] or params["arn"], "presigned_url needs the name or the arn of the App.")
    common.check_presigned(params)
    filters = {}
    for option, member in (("status", "Status"), ("mlflow_version", "MlflowVersion"), ("default_for_domain_id", "DefaultForDomainId"),
                           ("account_default_status", "AccountDefaultStatus")):
        if params[option]:
            filters[member] = params[option]
    if params["mlflow_version"]:
        common.check(common.MLFLOW_VERSION_PATTERN.match(params["mlflow_version"]),
                     "mlflow_version must be a version such as 3.10 or 3.10.1, got {0!r}.".format(params["mlflow_version"]))
    for option, member in (("created_after", "CreatedAfter"), ("created_before", "CreatedBefore")):
        moment = common.parse_time(params[option], option)
        if moment is not None:
            filters[member] = moment
    return filters


def main():
    argument_spec = dict(
        name=dict(type="str"),
        arn=dict(type="str"),
        status=dict(type="str", choices=["Creating", "Created", "CreateFailed", "Updating", "Updated", "UpdateFailed", "Deleting", "DeleteFailed",
                                         "Deleted"]),
        mlflow_version=dict(type="str"),
        default_for_domain_id=dict(type="str"),
        account_default_status=dict(type="str", choices=["ENABLED", "DISABLED"]),
        created_after=dict(type="str"),
        created_before=dict(type="str"),
        presigned_url=dict(type="bool", default=False),
        presigned_url_expires_in_seconds=dict(type="int"),
        session_expiration_duration_in_seconds=dict(type="int"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True, mutually_exclusive=[("name", "arn")])
    try:
        filters = validate(module.params)
    except common.InvalidInput as error:
        module.fail_json(msg=str(error))
    sagemaker = common.client(module)
    params = module.params
    result = dict(changed=False, apps=[])
    try:
        if params["arn"] is None and params["name"] is None:
            result["apps"] = [common.snake(summary) for summary in common.list_apps(sagemaker, **filters)]
            module.exit_json(**result)
        if params["arn"] is not None:
            arns = [params["arn"]]
        else:
            arns = [app["Arn"] for app in common.list_apps(sagemaker, **filters)
                    if app.get("Name") == params["name"] and app.get("Status") not in ("Deleting", "Deleted")]
        apps = [app for app in (common.describe_app(sagemaker, arn) for arn in arns) if app is not None]
        result["apps"] = [common.snake(app, common.get_tags(sagemaker, app["Arn"])) for app in apps]
        if params["presigned_url"] and len(apps) > 1:
            module.fail_json(msg="{0} MLflow Apps are named {1!r}: {2}. Give the arn of the one to make a presigned URL for.".format(
                len(apps), params["name"], ", ".join(sorted(app["Arn"] for app in apps))), apps=result["apps"])
        if params["presigned_url"] and apps:
            result["presigned_url"] = common.presigned_app_url(sagemaker, apps[0]["Arn"], params)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe the MLflow App{0}".format(" " + (params["name"] or params["arn"])))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
