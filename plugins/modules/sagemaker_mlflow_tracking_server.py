#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: sagemaker_mlflow_tracking_server
version_added: 0.1.0
short_description: Manage an Amazon SageMaker managed MLflow tracking server
description:
  - Creates, updates, starts, stops and deletes a SageMaker managed MLflow tracking server, found by its name, with its
    tags.
  - This module exists because neither amazon.aws nor community.aws (10.0) has a module for SageMaker MLflow.
  - The module describes the server, compares it with the options and calls SageMaker only for what differs. The size,
    artifact store, automatic model registration, maintenance window and S3 bucket owner settings change in place
    (C(UpdateMlflowTrackingServer)).
  - SageMaker cannot change a tracking server's MLflow version (O(mlflow_version)) or execution role (O(role_arn)) in
    place. The module refuses such a change, before changing anything, rather than replace the server, because its experiments,
    runs and registered models live in the server's managed backend store and would be lost with it. To migrate, create
    a second tracking server with another name, copy the experiments (for example with mlflow-export-import), switch the
    clients to it, then delete the old one with O(state=absent).
  - Creating a tracking server takes 25 to 30 minutes or more, starting and stopping it several minutes. With O(wait=true)
    the module polls until SageMaker is done, and fails with the server's status when it ends in a failed one.
  - Every option is checked before the first API call, so a bad input changes nothing.
options:
  state:
    description:
      - V(present) creates the server when there is none, updates what differs and manages its tags. A stopped server stays
        stopped, a running one running.
      - V(started) does the same and starts the server when it is stopped.
      - V(stopped) does the same and stops the server when it runs (a stopped server costs nothing, and keeps its data).
        SageMaker changes settings only on a running server. So with O(state=stopped) or O(state=present), a stopped
        server whose settings differ is started, updated and stopped again (this needs O(wait=true), since each step
        waits for the one before).
      - V(absent) deletes the server and, with it, the experiments in its backend store (the artifacts in S3 stay).
    type: str
    choices: [present, absent, started, stopped]
    default: present
  name:
    description:
      - The tracking server's name, unique in the account and region (1 to 256 letters, digits and hyphens).
    type: str
    required: true
    aliases: [tracking_server_name]
  artifact_store_uri:
    description:
      - The S3 URI where MLflow keeps the artifacts, for example V(s3://my-bucket/mlflow).
      - Required to create the server. Changes in place.
    type: str
  role_arn:
    description:
      - The IAM role the server uses to reach the artifact store (trusted by C(sagemaker.amazonaws.com)).
      - Required to create the server. Cannot change in place (see the description).
    type: str
  size:
    description:
      - The server's size, by the number of users it is meant for. SageMaker's default is V(Small). Changes in place.
    type: str
    choices: [Small, Medium, Large]
  mlflow_version:
    description:
      - The MLflow version, as SageMaker takes it (V(major.minor), for example V(3.0)); SageMaker reports it with its patch
        version (V(3.0.0)), which matches. Without it, SageMaker's default version for new servers.
      - Cannot change in place (see the description).
    type: str
  automatic_model_registration:
    description:
      - Whether models registered in MLflow also appear in the SageMaker Model Registry. Changes in place.
    type: bool
  weekly_maintenance_window_start:
    description:
      - The start of the weekly maintenance window, C(Day:HH:MM) in UTC, for example V(Tue:03:30). Changes in place.
    type: str
  s3_bucket_owner_account_id:
    description:
      - The account (12 digits) that owns the artifact store's bucket, when it is not the server's account. Changes in place.
    type: str
  s3_bucket_owner_verification:
    description:
      - Whether SageMaker checks that the bucket belongs to O(s3_bucket_owner_account_id). Changes in place.
    type: bool
  wait:
    description:
      - Waits until SageMaker is done with each change (creating, updating, starting, stopping, deleting), and waits for a
        change someone else started before acting.
      - Steps that follow one another (create then stop, start then update, update then stop) need O(wait=true).
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, each time. Creation takes 25 to 30 minutes or more.
    type: int
    default: 3600
notes:
  - Diff mode shows the server's managed settings, whether it runs, and its tags, before and after.
  - The caller needs C(sagemaker:CreateMlflowTrackingServer), C(DescribeMlflowTrackingServer), C(UpdateMlflowTrackingServer),
    C(StartMlflowTrackingServer), C(StopMlflowTrackingServer), C(DeleteMlflowTrackingServer), C(ListTags), C(AddTags),
    C(DeleteTags), and C(iam:PassRole) on O(role_arn).
  - Clients use the server's ARN (RV(tracking_server_arn)) as tracking URI with the C(sagemaker-mlflow) plugin, and need
    C(sagemaker-mlflow:*) permissions.
seealso:
  - module: mlops.mlflow.sagemaker_mlflow_tracking_server_info
  - module: mlops.mlflow.sagemaker_mlflow_app
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A managed MLflow tracking server (creation takes about half an hour)
  mlops.mlflow.sagemaker_mlflow_tracking_server:
    name: team-a
    artifact_store_uri: s3://my-mlflow-artifacts/team-a
    role_arn: arn:aws:iam::123456789012:role/mlflow-tracking-server
    size: Small
    mlflow_version: "3.0"
    weekly_maintenance_window_start: Sun:02:00
    tags:
      team: a
  register: mlflow_server

- name: Tracking URI for the clients (with the sagemaker-mlflow plugin)
  ansible.builtin.debug:
    msg: "MLFLOW_TRACKING_URI={{ mlflow_server.tracking_server_arn }}"

- name: Grow it (in place)
  mlops.mlflow.sagemaker_mlflow_tracking_server:
    name: team-a
    size: Medium

- name: Stop it for the weekend (the data stays)
  mlops.mlflow.sagemaker_mlflow_tracking_server:
    name: team-a
    state: stopped

- name: Start it again
  mlops.mlflow.sagemaker_mlflow_tracking_server:
    name: team-a
    state: started

- name: Show what would change, change nothing
  mlops.mlflow.sagemaker_mlflow_tracking_server:
    name: team-a
    size: Large
    automatic_model_registration: true
  check_mode: true
  diff: true

- name: Delete it (its experiments go with it; the artifacts in S3 stay)
  mlops.mlflow.sagemaker_mlflow_tracking_server:
    name: team-a
    state: absent
"""

RETURN = r"""
tracking_server:
  description:
    - The tracking server as C(DescribeMlflowTrackingServer) answers, keys in snake_case, timestamps as ISO 8601 strings,
      with its tags as a dictionary.
    - In check mode, when it would be created, what the options say of it. With O(state=absent), the server that was
      deleted (or would be), or an empty dictionary when there was none.
  returned: always
  type: dict
  contains:
    tracking_server_arn:
      description: The ARN, the tracking URI of clients with the sagemaker-mlflow plugin.
      type: str
      sample: arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/team-a
    tracking_server_name:
      description: The name.
      type: str
      sample: team-a
    tracking_server_url:
      description: The URL of the MLflow UI and API.
      type: str
      sample: https://t-abcdefghijkl.eu-west-1.experiments.sagemaker.aws
    tracking_server_status:
      description: The status, for example C(Created), C(Updated), C(Started), C(Stopped), C(Creating) or C(CreateFailed).
      type: str
      sample: Created
    is_active:
      description: C(Active) while the server serves requests, C(Inactive) otherwise.
      type: str
      sample: Active
    tracking_server_size:
      description: The size.
      type: str
      sample: Small
    mlflow_version:
      description: The MLflow version, with its patch version.
      type: str
      sample: 3.0.0
    artifact_store_uri:
      description: The artifact store.
      type: str
      sample: s3://my-mlflow-artifacts/team-a
    role_arn:
      description: The execution role.
      type: str
      sample: arn:aws:iam::123456789012:role/mlflow-tracking-server
    automatic_model_registration:
      description: Whether models are registered in the SageMaker Model Registry too.
      type: bool
      sample: false
    weekly_maintenance_window_start:
      description: The weekly maintenance window's start.
      type: str
      sample: Tue:03:30
    tags:
      description: The tags.
      type: dict
      sample: {team: a}
tracking_server_arn:
  description: The server's ARN (empty when there is none, or before it is created in check mode).
  returned: always
  type: str
  sample: arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/team-a
tracking_server_url:
  description: The server's URL (empty when there is none, or before it is created in check mode).
  returned: always
  type: str
  sample: https://t-abcdefghijkl.eu-west-1.experiments.sagemaker.aws
actions:
  description: What the module did (in check mode, would do), in order, among C(create), C(start), C(update), C(tag), C(stop), C(delete).
  returned: always
  type: list
  elements: str
  sample: [update, tag]
diff:
  description: In diff mode, the managed settings, C(running) and the tags before and after (empty when there is no server).
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
    ("size", "TrackingServerSize"),
    ("automatic_model_registration", "AutomaticModelRegistration"),
    ("weekly_maintenance_window_start", "WeeklyMaintenanceWindowStart"),
    ("s3_bucket_owner_account_id", "S3BucketOwnerAccountId"),
    ("s3_bucket_owner_verification", "S3BucketOwnerVerification"),
)
# ... and those that do not.
IMMUTABLE = (
    ("mlflow_version", "MlflowVersion"),
    ("role_arn", "RoleArn"),
)
MANAGED = (("name", "TrackingServerName"),) + IMMUTABLE + MUTABLE
STATUS = "TrackingServerStatus"


def validate(params):
    """Raises common.InvalidInput, naming the option and the fix, for what SageMaker would refuse."""
    common.check_name(params["name"])
    if params["state"] == "absent":
        common.check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))
        return
    common.check_common(params)
    version = params["mlflow_version"]
    if version is not None:
        common.check(common.MLFLOW_VERSION_PATTERN.match(version),
                     "mlflow_version must be a version such as 3.0 (major.minor, as SageMaker takes it), got {0!r}. "
                     "Quote it in YAML: an unquoted 3.0 is the number 3.0.".format(version))
    owner = params["s3_bucket_owner_account_id"]
    if owner is not None:
        common.check(common.ACCOUNT_PATTERN.match(owner), "s3_bucket_owner_account_id must be an AWS account ID of 12 digits, got {0!r}.".format(owner))


# --- comparison ------------------------------------------------------------------------------------------------------------------


def matches(option, current, wanted):
    if option == "mlflow_version":
        return common.version_matches(current, wanted)
    return current == wanted


def differences(server, params):
    """(options that differ and change in place, (option, current, wanted) for those that cannot change)."""
    mutable = [option for option, member in MUTABLE if params[option] is not None and not matches(option, server.get(member), params[option])]
    immutable = [(option, server.get(member), params[option]) for option, member in IMMUTABLE
                 if params[option] is not None and not matches(option, server.get(member), params[option])]
    return mutable, immutable


def update_arguments(params, options):
    arguments = dict(TrackingServerName=params["name"])
    arguments.update(dict((member, params[option]) for option, member in MUTABLE if option in options))
    return arguments


def create_arguments(params, tags):
    arguments = dict(TrackingServerName=params["name"], ArtifactStoreUri=params["artifact_store_uri"], RoleArn=params["role_arn"])
    for option, member in MUTABLE + IMMUTABLE:
        if params[option] is not None and member not in arguments:
            arguments[member] = params[option]
    if tags:
        arguments["Tags"] = common.tag_list(tags)
    return arguments


def is_running(server):
    """Whether the server serves requests. SageMaker says so in IsActive, also after a failed update, stop or maintenance,
    where the status alone (UpdateFailed, StopFailed, MaintenanceFailed) does not tell."""
    if not server:
        return False
    if server.get("IsActive") is not None:
        return server["IsActive"] == "Active"
    return server.get(STATUS) in common.SERVER_RUNNING


def plan(server, params, current_tags):
    """The steps that bring the server to the options, in order: [(action, detail)...]. Raises common.InvalidInput when it cannot be done.

    server is the described server once settled (or None); the steps are among create, start, update, tag, stop.
    """
    state, name = params["state"], params["name"]
    steps = []
    if server is None:
        missing = [option for option in ("artifact_store_uri", "role_arn") if not params[option]]
        common.check(not missing, "Tracking server {0} does not exist; to create it, give {1}.".format(name, " and ".join(missing)))
        steps.append(("create", None))
        if state == "stopped":
            steps.append(("stop", None))
    else:
        status = server.get(STATUS)
        common.check(status != "CreateFailed", "Tracking server {0} is CreateFailed: SageMaker could not create it, and it can only be deleted. "
                                               "Delete it (state=absent) and create it again.".format(name))
        mutable, immutable = differences(server, params)
        if immutable:
            raise common.InvalidInput(common.refusal("Tracking server", name, immutable, "the MLflow database SageMaker runs for the server"))
        # A server being created, updated or started runs once SageMaker is done (wait=false only: else it is settled here).
        running = is_running(server) or status in ("Creating", "Updating", "Starting")
        # SageMaker changes the settings of a running server only: a stopped one is started for the update and, unless
        # state=started, stopped again.
        stop_after_update = bool(mutable) and not running and state != "started"
        if not running and (state == "started" or mutable):
            steps.append(("start", None))
            running = True
        if mutable:
            steps.append(("update", mutable))
        to_set, to_unset = common.tag_changes(current_tags, params["tags"], params["purge_tags"])
        if to_set or to_unset:
            steps.append(("tag", (to_set, to_unset)))
        if (state == "stopped" or stop_after_update) and running:
            steps.append(("stop", None))
    long_steps = [action for action, detail in steps if action != "tag"]
    common.check(params["wait"] or len(long_steps) <= 1,
                 "Tracking server {0} needs {1}, one after the other: that needs wait=true (each step waits for the one before).".format(
                     name, ", then ".join(long_steps)))
    return steps


# --- views -----------------------------------------------------------------------------------------------------------------------


def comparable(server, tags):
    """What diff mode shows of a server."""
    if not server:
        return {}
    view = dict((option, server.get(member)) for option, member in MANAGED)
    view["running"] = is_running(server) or server.get(STATUS) in ("Creating", "Starting")
    view["tags"] = dict(tags)
    return view


def planned(server, params, tags):
    """The server as it will be after the steps (check mode, diff mode)."""
    result = dict(server or {})
    if server is None:
        result.update(TrackingServerName=params["name"], TrackingServerStatus="Created")
    for option, member in MUTABLE + IMMUTABLE:
        if params[option] is not None and (server is None or option not in dict(IMMUTABLE)):
            result[member] = params[option]
    if server is None:
        result["IsActive"] = "Active"
    if params["state"] == "started" and not is_running(result):
        result.update({STATUS: "Started", "IsActive": "Active"})
    elif params["state"] == "stopped":
        result.update({STATUS: "Stopped", "IsActive": "Inactive"})
    return result


# --- the states ------------------------------------------------------------------------------------------------------------------


def waiter(module, sagemaker, accept_failed=False):
    name = module.params["name"]

    def wait():
        return common.wait_until_settled(lambda: common.describe_tracking_server(sagemaker, name), STATUS, common.SERVER_TRANSITIONAL,
                                         "Tracking server {0}".format(name), module.params["wait_timeout"], accept_failed=accept_failed)
    return wait


def settled_server(module, sagemaker):
    """The server, after waiting for a change under way when wait=true; (server, busy status or None)."""
    server = common.describe_tracking_server(sagemaker, module.params["name"])
    if server is not None and server.get(STATUS) in common.SERVER_TRANSITIONAL:
        if not module.params["wait"]:
            return server, server.get(STATUS)
        server = waiter(module, sagemaker, accept_failed=True)()
    return server, None


def run_steps(module, sagemaker, steps, tags):
    params, name = module.params, module.params["name"]
    wait = waiter(module, sagemaker)
    arn = None
    for action, detail in steps:
        if action == "create":
            arn = common.create_when_role_is_ready(
                lambda: sagemaker.create_mlflow_tracking_server(aws_retry=True, **create_arguments(params, tags)),
                params["role_arn"])["TrackingServerArn"]
        elif action == "start":
            sagemaker.start_mlflow_tracking_server(aws_retry=True, TrackingServerName=name)
        elif action == "update":
            sagemaker.update_mlflow_tracking_server(aws_retry=True, **update_arguments(params, detail))
        elif action == "stop":
            sagemaker.stop_mlflow_tracking_server(aws_retry=True, TrackingServerName=name)
        elif action == "tag":
            if arn is None:
                arn = common.describe_tracking_server(sagemaker, name)["TrackingServerArn"]
            common.apply_tags(sagemaker, arn, *detail)
            continue
        if params["wait"]:
            wait()


def ensure_present(module, sagemaker):
    params, name = module.params, module.params["name"]
    try:
        server, busy = settled_server(module, sagemaker)
        current_tags = common.get_tags(sagemaker, server["TrackingServerArn"]) if server else {}
    except common.WaitFailed as error:
        module.fail_json(msg=str(error))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe tracking server {0}".format(name))
    tags = common.desired_tags(current_tags, params["tags"], params["purge_tags"])
    try:
        steps = plan(server, params, current_tags)
    except common.InvalidInput as error:
        module.fail_json(msg=str(error))
    if busy and steps:
        module.fail_json(msg="Tracking server {0} is {1}, and wait=false: the module cannot {2} it now. Run again once SageMaker is done, "
                             "or with wait=true.".format(name, busy, " and ".join(action for action, detail in steps)))
    actions = [action for action, detail in steps]
    final = planned(server, params, tags)
    if steps and not module.check_mode:
        try:
            run_steps(module, sagemaker, steps, tags)
            final = common.describe_tracking_server(sagemaker, name) or final
            tags = common.get_tags(sagemaker, final["TrackingServerArn"]) if final.get("TrackingServerArn") else tags
        except common.WaitFailed as error:
            module.fail_json(msg=str(error), actions=actions)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            module.fail_json_aws(error, msg="Could not {0} tracking server {1}".format(" and ".join(actions), name), actions=actions)
    elif not steps and server is not None:
        final = server
    result = dict(changed=bool(steps), actions=actions, tracking_server=common.snake(final, tags),
                  tracking_server_arn=final.get("TrackingServerArn", ""), tracking_server_url=final.get("TrackingServerUrl", ""))
    if module._diff:
        result["diff"] = dict(before=comparable(server, current_tags), after=comparable(planned(server, params, tags), tags))
    module.exit_json(**result)


def ensure_absent(module, sagemaker):
    params, name = module.params, module.params["name"]
    actions = []
    try:
        server = common.describe_tracking_server(sagemaker, name)
        tags = common.get_tags(sagemaker, server["TrackingServerArn"]) if server else {}
        status = (server or {}).get(STATUS)
        if server is not None and status != "Deleting":
            actions.append("delete")
            if status in common.SERVER_TRANSITIONAL:
                if not params["wait"]:
                    module.fail_json(msg="Tracking server {0} is {1}, and SageMaker deletes a server only once that is over. Run again later, "
                                         "or with wait=true.".format(name, status))
                if not module.check_mode:
                    server = waiter(module, sagemaker, accept_failed=True)()
                    if server is None:  # it was being deleted meanwhile: nothing left to delete
                        actions = []
        if actions and not module.check_mode:
            sagemaker.delete_mlflow_tracking_server(aws_retry=True, TrackingServerName=name)
        if server is not None and params["wait"] and not module.check_mode:
            waiter(module, sagemaker)()
    except common.WaitFailed as error:
        module.fail_json(msg=str(error), actions=actions)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not delete tracking server {0}".format(name))
    result = dict(changed=bool(actions), actions=actions, tracking_server=common.snake(server, tags),
                  tracking_server_arn=(server or {}).get("TrackingServerArn", ""), tracking_server_url=(server or {}).get("TrackingServerUrl", ""))
    if module._diff:
        result["diff"] = dict(before=comparable(server, tags), after={})
    module.exit_json(**result)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent", "started", "stopped"], default="present"),
        name=dict(type="str", required=True, aliases=["tracking_server_name"]),
        artifact_store_uri=dict(type="str"),
        role_arn=dict(type="str"),
        size=dict(type="str", choices=["Small", "Medium", "Large"]),
        mlflow_version=dict(type="str"),
        automatic_model_registration=dict(type="bool"),
        weekly_maintenance_window_start=dict(type="str"),
        s3_bucket_owner_account_id=dict(type="str"),
        s3_bucket_owner_verification=dict(type="bool"),
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
