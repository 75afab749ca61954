#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: sagemaker_mlflow_app
version_added: 0.1.0
short_description: Manage an Amazon SageMaker serverless MLflow App, found by its name
description:
  - Creates, updates and deletes a SageMaker serverless MLflow App, with its tags.
  - This module exists because neither amazon.aws nor community.aws (10.0) has a module for SageMaker MLflow.
  - SageMaker knows an App by its ARN and does not keep App names unique. The module finds the App by O(name) among the
    Apps of the account and region (Apps being deleted are ignored), and fails, changing nothing, when two carry the name.
  - The module describes the App, compares it with the options and calls SageMaker only for what differs. The artifact
    store, model registration mode, maintenance window, account default status and default domains change in place
    (C(UpdateMlflowApp)).
  - SageMaker cannot change an App's execution role (O(role_arn)) or KMS key (O(kms_key_id)) in place. The module refuses
    such a change, before changing anything, rather than replace the App, because its experiments, runs and registered models live
    in the App's managed backend store and would be lost with it. To migrate, create a second App with another name, copy
    the experiments (for example with mlflow-export-import), switch the clients to it, then delete the old one with
    O(state=absent).
  - Apps have no size, no MLflow version to choose (SageMaker runs its current MLflow) and cannot be stopped.
  - Every option is checked before the first API call, so a bad input changes nothing.
options:
  state:
    description:
      - V(present) creates the App when there is none of that name, updates what differs and manages its tags.
      - V(absent) deletes the App and, with it, its experiments (the artifacts in S3 stay).
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The App's name (1 to 256 letters, digits and hyphens).
    type: str
    required: true
  artifact_store_uri:
    description:
      - The S3 URI where MLflow keeps the artifacts, for example V(s3://my-bucket/mlflow).
      - Required to create the App. Changes in place.
    type: str
  role_arn:
    description:
      - The IAM role the App uses to reach the artifact store (trusted by C(sagemaker.amazonaws.com)).
      - Required to create the App. Cannot change in place (see the description).
    type: str
  kms_key_id:
    description:
      - The customer-managed KMS key (ID or ARN) that encrypts the App's data. Without it, an AWS-owned key.
      - A key given as ID and reported as ARN, or the other way round, is the same key; an alias is compared as written.
      - Cannot change in place (see the description).
    type: str
  model_registration_mode:
    description:
      - Whether models registered in MLflow also appear in the SageMaker Model Registry. SageMaker's default is
        V(AutoModelRegistrationDisabled). Changes in place.
    type: str
    choices: [AutoModelRegistrationEnabled, AutoModelRegistrationDisabled]
  weekly_maintenance_window_start:
    description:
      - The start of the weekly maintenance window, C(Day:HH:MM) in UTC, for example V(Tue:03:30). Changes in place.
    type: str
  account_default_status:
    description:
      - V(ENABLED) makes the App the account's default MLflow App. SageMaker's default is V(DISABLED). Changes in place.
    type: str
    choices: [ENABLED, DISABLED]
  default_domain_id_list:
    description:
      - The SageMaker domains (C(d-...)) whose default MLflow App this is. The order does not matter; V([]) removes every
        domain. Changes in place.
    type: list
    elements: str
  wait:
    description:
      - Waits until SageMaker is done creating, updating or deleting the App, and waits for a change someone else started
        before acting.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, each time.
    type: int
    default: 3600
notes:
  - Diff mode shows the App's managed settings and tags before and after.
  - The caller needs C(sagemaker:ListMlflowApps), C(DescribeMlflowApp), C(CreateMlflowApp), C(UpdateMlflowApp), C(DeleteMlflowApp),
    C(ListTags), C(AddTags), C(DeleteTags), and C(iam:PassRole) on O(role_arn).
  - Clients use the App's ARN (RV(app_arn)) as tracking URI with the C(sagemaker-mlflow) plugin, and need
    C(sagemaker:CallMlflowAppApi).
seealso:
  - module: mlops.mlflow.sagemaker_mlflow_app_info
  - module: mlops.mlflow.sagemaker_mlflow_tracking_server
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A serverless MLflow App
  mlops.mlflow.sagemaker_mlflow_app:
    name: team-a
    artifact_store_uri: s3://my-mlflow-artifacts/team-a
    role_arn: arn:aws:iam::123456789012:role/mlflow-app
    model_registration_mode: AutoModelRegistrationEnabled
    default_domain_id_list: [d-abc123def456]
    tags:
      team: a
  register: mlflow_app

- name: Tracking URI for the clients (with the sagemaker-mlflow plugin)
  ansible.builtin.debug:
    msg: "MLFLOW_TRACKING_URI={{ mlflow_app.app_arn }}"

- name: Show what would change, change nothing
  mlops.mlflow.sagemaker_mlflow_app:
    name: team-a
    account_default_status: ENABLED
  check_mode: true
  diff: true

- name: Delete it (its experiments go with it; the artifacts in S3 stay)
  mlops.mlflow.sagemaker_mlflow_app:
    name: team-a
    state: absent
"""

RETURN = r"""
app:
  description:
    - The App as C(DescribeMlflowApp) answers, keys in snake_case, timestamps as ISO 8601 strings, with its tags as a dictionary.
    - In check mode, when it would be created, what the options say of it. With O(state=absent), the App that was deleted
      (or would be), or an empty dictionary when there was none.
  returned: always
  type: dict
  contains:
    arn:
      description: The ARN, the tracking URI of clients with the sagemaker-mlflow plugin.
      type: str
      sample: arn:aws:sagemaker:eu-west-1:123456789012:mlflow-app/app-ABCDEFGHIJKL
    name:
      description: The name.
      type: str
      sample: team-a
    status:
      description: The status, for example C(Created), C(Updated), C(Creating) or C(CreateFailed).
      type: str
      sample: Created
    mlflow_version:
      description: The MLflow version SageMaker runs the App on.
      type: str
      sample: 3.10.1
    artifact_store_uri:
      description: The artifact store.
      type: str
      sample: s3://my-mlflow-artifacts/team-a
    role_arn:
      description: The execution role.
      type: str
      sample: arn:aws:iam::123456789012:role/mlflow-app
    kms_key_id:
      description: The customer-managed KMS key; absent without one.
      type: str
    model_registration_mode:
      description: The model registration mode.
      type: str
      sample: AutoModelRegistrationDisabled
    account_default_status:
      description: Whether the App is the account's default.
      type: str
      sample: DISABLED
    default_domain_id_list:
      description: The domains whose default App this is; absent when none.
      type: list
      elements: str
    weekly_maintenance_window_start:
      description: The weekly maintenance window's start.
      type: str
      sample: Tue:03:30
    tags:
      description: The tags.
      type: dict
      sample: {team: a}
app_arn:
  description: The App's ARN (empty when there is none, or before it is created in check mode).
  returned: always
  type: str
  sample: arn:aws:sagemaker:eu-west-1:123456789012:mlflow-app/app-ABCDEFGHIJKL
actions:
  description: What the module did (in check mode, would do), in order, among C(create), C(update), C(tag), C(delete).
  returned: always
  type: list
  elements: str
  sample: [update]
diff:
  description: In diff mode, the managed settings and tags before and after (empty when there is no App).
  returned: diff mode
  type: dict
"""

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mlops.mlflow.plugins.module_utils import sagemaker_mlflow as common

# Module option -> the member of Describe / Create / Update, for the settings that change in place.
MUTABLE = (
    ("artifact_store_uri", "ArtifactStoreUri"),
    ("model_registration_mode", "ModelRegistrationMode"),
    ("weekly_maintenance_window_start", "WeeklyMaintenanceWindowStart"),
    ("account_default_status", "AccountDefaultStatus"),
    ("default_domain_id_list", "DefaultDomainIdList"),
)
# ... and those that do not.
IMMUTABLE = (
    ("role_arn", "RoleArn"),
    ("kms_key_id", "KmsKeyId"),
)
MANAGED = (("name", "Name"),) + IMMUTABLE + MUTABLE
STATUS = "Status"


def validate(params):
    """Raises common.InvalidInput, naming the option and the fix, for what SageMaker would refuse."""
    common.check_name(params["name"])
    if params["state"] == "absent":
        common.check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))
        return
    common.check_common(params)
    key = params["kms_key_id"]
    if key is not None:
        common.check(common.KMS_KEY_PATTERN.match(key), "kms_key_id must be a KMS key ID, key ARN or alias (letters, digits and : / _ -), "
                                                        "got {0!r}.".format(key))
    for domain in params["default_domain_id_list"] or []:
        common.check(isinstance(domain, str) and len(domain) <= 63 and common.DOMAIN_ID_PATTERN.match(domain),
                     "default_domain_id_list: each entry must be a SageMaker domain ID such as d-abc123def456, got {0!r}.".format(domain))


# --- comparison ------------------------------------------------------------------------------------------------------------------


def matches(option, current, wanted):
    if option == "default_domain_id_list":
        return sorted(current or []) == sorted(wanted)
    if option == "kms_key_id":
        return common.same_kms_key(current, wanted)
    return current == wanted


def differences(app, params):
    """(options that differ and change in place, (option, current, wanted) for those that cannot change)."""
    mutable = [option for option, member in MUTABLE if params[option] is not None and not matches(option, app.get(member), params[option])]
    immutable = [(option, app.get(member), params[option]) for option, member in IMMUTABLE
                 if params[option] is not None and not matches(option, app.get(member), params[option])]
    return mutable, immutable


def update_arguments(arn, params, options):
    arguments = dict(Arn=arn)
    arguments.update(dict((member, params[option]) for option, member in MUTABLE if option in options))
    return arguments


def create_arguments(params, tags):
    arguments = dict(Name=params["name"], ArtifactStoreUri=params["artifact_store_uri"], RoleArn=params["role_arn"])
    for option, member in MUTABLE + IMMUTABLE:
        if params[option] is not None and member not in arguments:
            arguments[member] = params[option]
    if tags:
        arguments["Tags"] = common.tag_list(tags)
    return arguments


def plan(app, params, current_tags):
    """The steps that bring the App to the options: [(action, detail)...]. Raises common.InvalidInput when it cannot be done."""
    name = params["name"]
    if app is None:
        missing = [option for option in ("artifact_store_uri", "role_arn") if not params[option]]
        common.check(not missing, "MLflow App {0} does not exist; to create it, give {1}.".format(name, " and ".join(missing)))
        return [("create", None)]
    common.check(app.get(STATUS) != "CreateFailed", "MLflow App {0} ({1}) is CreateFailed: SageMaker could not create it, and it can only be "
                                                    "deleted. Delete it (state=absent) and create it again.".format(name, app["Arn"]))
    mutable, immutable = differences(app, params)
    if immutable:
        raise common.InvalidInput(common.refusal("MLflow App", name, immutable, "the MLflow database SageMaker runs for the App"))
    steps = [("update", mutable)] if mutable else []
    to_set, to_unset = common.tag_changes(current_tags, params["tags"], params["purge_tags"])
    if to_set or to_unset:
        steps.append(("tag", (to_set, to_unset)))
    return steps


# --- views -----------------------------------------------------------------------------------------------------------------------


def comparable(app, tags):
    """What diff mode shows of an App."""
    if not app:
        return {}
    view = dict((option, app.get(member)) for option, member in MANAGED)
    view["default_domain_id_list"] = sorted(view["default_domain_id_list"] or [])
    view["tags"] = dict(tags)
    return view


def planned(app, params, tags):
    """The App as it will be (check mode, diff mode)."""
    result = dict(app or {})
    if app is None:
        result.update(Name=params["name"], Status="Created")
    for option, member in MUTABLE + IMMUTABLE:
        if params[option] is not None and (app is None or option not in dict(IMMUTABLE)):
            result[member] = params[option]
    return result


# --- the states ------------------------------------------------------------------------------------------------------------------


def waiter(module, sagemaker, arn, accept_failed=False):
    def wait():
        return common.wait_until_settled(lambda: common.describe_app(sagemaker, arn), STATUS, common.APP_TRANSITIONAL,
                                         "MLflow App {0} ({1})".format(module.params["name"], arn), module.params["wait_timeout"],
                                         accept_failed=accept_failed)
    return wait


def find(module, sagemaker):
    """The App named name, described, after waiting for a change under way when wait=true; (app, busy status or None)."""
    summary = common.find_app(sagemaker, module.params["name"])
    app = common.describe_app(sagemaker, summary["Arn"]) if summary else None
    if app is not None and app.get(STATUS) in common.APP_TRANSITIONAL:
        if not module.params["wait"]:
            return app, app.get(STATUS)
        app = waiter(module, sagemaker, app["Arn"], accept_failed=True)()
    return app, None


def ensure_present(module, sagemaker):
    params, name = module.params, module.params["name"]
    try:
        app, busy = find(module, sagemaker)
        current_tags = common.get_tags(sagemaker, app["Arn"]) if app else {}
    except (common.NameTaken, common.WaitFailed) as error:
        module.fail_json(msg=str(error))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not look for MLflow App {0}".format(name))
    tags = common.desired_tags(current_tags, params["tags"], params["purge_tags"])
    try:
        steps = plan(app, params, current_tags)
    except common.InvalidInput as error:
        module.fail_json(msg=str(error))
    actions = [action for action, detail in steps]
    if busy and "update" in actions:
        module.fail_json(msg="MLflow App {0} ({1}) is {2}, and wait=false: the module cannot update it now. Run again once SageMaker is done, "
                             "or with wait=true.".format(name, app["Arn"], busy))
    final = planned(app, params, tags) if steps else app
    if steps and not module.check_mode:
        arn = (app or {}).get("Arn")
        try:
            for action, detail in steps:
                if action == "create":
                    arn = common.create_when_role_is_ready(
                        lambda: sagemaker.create_mlflow_app(aws_retry=True, **create_arguments(params, tags)),
                        params["role_arn"])["Arn"]
                elif action == "update":
                    sagemaker.update_mlflow_app(aws_retry=True, **update_arguments(arn, params, detail))
                else:
                    common.apply_tags(sagemaker, arn, *detail)
                    continue
                if params["wait"]:
                    waiter(module, sagemaker, arn)()
            final = common.describe_app(sagemaker, arn) or final
            tags = common.get_tags(sagemaker, arn)
        except common.WaitFailed as error:
            module.fail_json(msg=str(error), actions=actions)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not {0} MLflow App {1}".format(" and ".join(actions), name), actions=actions)
    result = dict(changed=bool(steps), actions=actions, app=common.snake(final, tags), app_arn=(final or {}).get("Arn", ""))
    if module._diff:
        result["diff"] = dict(before=comparable(app, current_tags), after=comparable(planned(app, params, tags), tags))
    module.exit_json(**result)


def ensure_absent(module, sagemaker):
    params, name = module.params, module.params["name"]
    actions, app, tags = [], None, {}
    try:
        app, busy = find(module, sagemaker)
        tags = common.get_tags(sagemaker, app["Arn"]) if app else {}
        if busy:
            module.fail_json(msg="MLflow App {0} ({1}) is {2}, and SageMaker deletes an App only once that is over. Run again later, "
                                 "or with wait=true.".format(name, app["Arn"], busy))
        if app is not None:
            actions.append("delete")
            if not module.check_mode:
                sagemaker.delete_mlflow_app(aws_retry=True, Arn=app["Arn"])
                if params["wait"]:
                    waiter(module, sagemaker, app["Arn"])()
    except (common.NameTaken, common.WaitFailed) as error:
        module.fail_json(msg=str(error), actions=actions)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not delete MLflow App {0}".format(name))
    result = dict(changed=bool(actions), actions=actions, app=common.snake(app, tags), app_arn=(app or {}).get("Arn", ""))
    if module._diff:
        result["diff"] = dict(before=comparable(app, tags), after={})
    module.exit_json(**result)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        artifact_store_uri=dict(type="str"),
        role_arn=dict(type="str"),
        kms_key_id=dict(type="str"),
        model_registration_mode=dict(type="str", choices=["AutoModelRegistrationEnabled", "AutoModelRegistrationDisabled"]),
        weekly_maintenance_window_start=dict(type="str"),
        account_default_status=dict(type="str", choices=["ENABLED", "DISABLED"]),
        default_domain_id_list=dict(type="list", elements="str"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        validate(module.params)
    except common.InvalidInput as error:
        module.fail_json(msg=str(error))
    sagemaker = common.client(module)
    if module.params["state"] == "absent":
        ensure_absent(module, sagemaker)
    else:
        ensure_present(module, sagemaker)


if __name__ == "__main__":
    main()
