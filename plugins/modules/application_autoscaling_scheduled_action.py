#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: application_autoscaling_scheduled_action
version_added: 0.1.0
short_description: Manage an Application Auto Scaling scheduled action
description:
  - Creates, updates or deletes one scheduled action of an Application Auto Scaling scalable target, for
    example an ECS service scaled to zero tasks every evening and back up every morning, in a time zone.
  - At the scheduled time Application Auto Scaling sets the scalable target's minimum and maximum capacity
    to O(min_capacity) and O(max_capacity); the current capacity is moved into that range.
  - This module exists because no collection manages these actions. M(community.aws.application_autoscaling_policy)
    manages scaling policies only, and M(community.aws.autoscaling_scheduled_action) is for EC2 Auto Scaling groups,
    a different API.
  - The action is compared with what C(DescribeScheduledActions) answers, so a re-run changes nothing.
    C(PutScheduledAction) creates or updates; when updating, AWS keeps a capacity that is left out of the
    request, so removing O(min_capacity) or O(max_capacity) from an existing action deletes the action and
    creates it again. Start and end times left out are removed by the update itself.
  - The scalable target must be registered before an action can be created, for example with
    M(mlops.mlflow.application_autoscaling_target_tracking). The module checks this first and fails with
    a message that says so; in check mode it warns instead, since an earlier task of the same run may
    register the target.
  - Every option is checked before the first API call that could change something (schedule expression
    syntax, time zone name, times, capacities, resource ID format).
  - Scheduled actions have no tags in the Application Auto Scaling API.
options:
  state:
    description:
      - V(present) creates or updates the action; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The name of the scheduled action, unique among the scalable target's actions. 1 to 256 characters, without
        C(:), C(/), C(|), control characters, or leading or trailing spaces.
    type: str
    required: true
    aliases: [scheduled_action_name]
  schedule:
    description:
      - When the action runs, in one of three forms. Required with O(state=present).
      - V(cron(<minutes> <hours> <day of month> <month> <day of week> <year>\)), six fields as in
        V(cron(0 20 ? * MON-FRI *\)) (20:00 on weekdays); one of day of month and day of week must be V(?).
        A five-field Unix crontab expression is refused.
      - V(rate(<value> <unit>\)), a positive integer and V(minute), V(minutes), V(hour), V(hours), V(day) or V(days),
        for example V(rate(6 hours\)).
      - V(at(yyyy-mm-ddThh:mm:ss\)), once, for example V(at(2030-01-31T18:00:00\)).
    type: str
  timezone:
    description:
      - The time zone of V(cron) and V(at) expressions, an IANA time zone name such as V(Europe/Berlin),
        V(America/New_York) or V(Etc/GMT+9). Daylight saving time is followed.
      - The module always sends it, so an action whose time zone is removed from the task goes back to V(UTC).
      - The name is checked against this host's time zone database when it has one.
    type: str
    default: UTC
  start_time:
    description:
      - When a recurring schedule begins, as an ISO 8601 date and time, for example V(2030-01-01T00:00:00Z) or
        V(2030-01-01T08:00:00+01:00). Without a UTC offset the time is taken as UTC.
      - Leaving it out of an existing action removes its start time.
    type: str
  end_time:
    description:
      - When a recurring schedule ends, in the same format as O(start_time). Must be later than O(start_time).
      - Leaving it out of an existing action removes its end time.
    type: str
  min_capacity:
    description:
      - The minimum capacity the scalable target gets when the action runs (for an ECS service, tasks).
        V(0) with O(max_capacity=0) stops an ECS service's tasks.
      - At least one of O(min_capacity) and O(max_capacity) is required with O(state=present).
    type: int
  max_capacity:
    description:
      - The maximum capacity the scalable target gets when the action runs.
    type: int
notes:
  - Diff mode shows the action's schedule, time zone, start and end times and capacities before and after.
  - An action whose V(at(\)) time has passed stays until it is deleted.
  - Deregistering the scalable target deletes its scheduled actions.
  - "Permissions: C(application-autoscaling:DescribeScalableTargets), C(application-autoscaling:DescribeScheduledActions),
    C(application-autoscaling:PutScheduledAction) and C(application-autoscaling:DeleteScheduledAction)."
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.application_autoscaling
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Register the MLflow service as a scalable target with CPU target tracking
  mlops.mlflow.application_autoscaling_target_tracking:
    resource_id: service/mlflow/mlflow
    policy_name: mlflow-cpu
    min_capacity: 1
    max_capacity: 4
    enforce_capacity: false  # the scheduled actions below change the capacity
    predefined_metric: ECSServiceAverageCPUUtilization
    target_value: 60

- name: No MLflow tasks on weekday nights (Berlin time)
  mlops.mlflow.application_autoscaling_scheduled_action:
    resource_id: service/mlflow/mlflow
    name: mlflow-night
    schedule: cron(0 20 ? * MON-FRI *)
    timezone: Europe/Berlin
    min_capacity: 0
    max_capacity: 0

- name: Back in the morning
  mlops.mlflow.application_autoscaling_scheduled_action:
    resource_id: service/mlflow/mlflow
    name: mlflow-morning
    schedule: cron(0 7 ? * MON-FRI *)
    timezone: Europe/Berlin
    min_capacity: 1
    max_capacity: 4

- name: A one-off capacity bump for a training week, within a time window
  mlops.mlflow.application_autoscaling_scheduled_action:
    resource_id: service/mlflow/mlflow
    name: training-week
    schedule: rate(1 day)
    start_time: "2030-03-02T06:00:00Z"
    end_time: "2030-03-07T18:00:00Z"
    min_capacity: 3

- name: Show what would change, change nothing
  mlops.mlflow.application_autoscaling_scheduled_action:
    resource_id: service/mlflow/mlflow
    name: mlflow-night
    schedule: cron(0 21 ? * MON-FRI *)
    timezone: Europe/Berlin
    min_capacity: 0
    max_capacity: 0
  check_mode: true
  diff: true

- name: Delete the action
  mlops.mlflow.application_autoscaling_scheduled_action:
    resource_id: service/mlflow/mlflow
    name: training-week
    state: absent
"""

RETURN = r"""
scheduled_action:
  description:
    - The scheduled action as C(DescribeScheduledActions) describes it, keys in snake_case, times in ISO 8601.
    - In check mode, when the action would be created or changed, the action as it would be (without ARN
      and creation time).
  returned: O(state=present)
  type: dict
  contains:
    scheduled_action_name:
      description: The name.
      type: str
      sample: mlflow-night
    scheduled_action_arn:
      description: The ARN.
      type: str
      sample: "arn:aws:autoscaling:eu-west-1:123456789012:scheduledAction:0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f:resource/ecs/service/mlflow/mlflow:\
        scheduledActionName/mlflow-night"
    service_namespace:
      description: The service namespace.
      type: str
      sample: ecs
    resource_id:
      description: The scalable target's resource ID.
      type: str
      sample: service/mlflow/mlflow
    scalable_dimension:
      description: The scalable dimension.
      type: str
      sample: ecs:service:DesiredCount
    schedule:
      description: The schedule expression.
      type: str
      sample: cron(0 20 ? * MON-FRI *)
    timezone:
      description: The time zone of the schedule.
      type: str
      sample: Europe/Berlin
    start_time:
      description: When the recurring schedule begins, if it has a start time.
      type: str
      sample: "2030-03-02T06:00:00+00:00"
    end_time:
      description: When the recurring schedule ends, if it has an end time.
      type: str
      sample: "2030-03-07T18:00:00+00:00"
    scalable_target_action:
      description: The capacities the action sets.
      type: dict
      sample: {min_capacity: 0, max_capacity: 0}
    creation_time:
      description: When the action was created.
      type: str
      sample: "2030-01-10T09:12:44.310000+00:00"
diff:
  description: In diff mode, the action before and after (empty when there is none).
  returned: diff mode
  type: dict
  contains:
    before:
      description: The current action's schedule, timezone, start_time, end_time, min_capacity and max_capacity.
      type: dict
    after:
      description: The desired action's, in the same form.
      type: dict
"""

import datetime
import re

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

try:
    import zoneinfo
except ImportError:  # Python < 3.9: the time zone is left to AWS to check
    zoneinfo = None

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import RETRY_CODES
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import capacity_error
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import check
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import describe_target
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import iso_timestamp
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import missing_target_message
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import retry_decorator
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import snake_result
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import target_argument_spec
from ansible_collections.mlops.mlflow.plugins.module_utils.application_autoscaling import target_identity

_NAME = re.compile(r"^(?![ ])(?!.*[ ]$)[^\x00-\x1f\x7f-\x9f:/|]{1,256}$")
_RATE = re.compile(r"^rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_CRON_FIELDS = ("minutes", "hours", "day of month", "month", "day of week", "year")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/#LW-]+$")


def schedule_error(schedule):
    """Why AWS would refuse the schedule expression, or None."""
    schedule = schedule or ""
    if schedule.startswith("rate("):
        match = _RATE.fullmatch(schedule)
        if not match:
            return "a rate expression is rate(<value> <unit>) with unit minute, minutes, hour, hours, day or days, for example rate(6 hours)"
        if int(match.group(1)) < 1:
            return "the value of a rate expression must be a positive integer"
        return None
    if schedule.startswith("at("):
        match = _AT.fullmatch(schedule)
        if not match:
            return "an at expression is at(yyyy-mm-ddThh:mm:ss), for example at(2030-01-31T18:00:00)"
        try:
            datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return "{0} is not a valid date and time".format(match.group(1))
        return None
    if schedule.startswith("cron("):
        match = _CRON.fullmatch(schedule)
        if not match:
            return "a cron expression is cron(<minutes> <hours> <day of month> <month> <day of week> <year>)"
        fields = match.group(1).split()
        if len(fields) == 5:
            return ("a cron expression has six fields (minutes hours day-of-month month day-of-week year), this one has five as in a Unix "
                    "crontab: add the year and use ? for day of month or day of week, for example cron(0 20 ? * MON-FRI *)")
        if len(fields) != 6:
            return "a cron expression has six fields (minutes hours day-of-month month day-of-week year), this one has {0}".format(len(fields))
        for name, field in zip(_CRON_FIELDS, fields):
            if not _CRON_FIELD.fullmatch(field):
                return "the {0} field {1!r} holds characters cron expressions do not use".format(name, field)
        day_of_month, day_of_week = fields[2], fields[4]
        if (day_of_month == "?") == (day_of_week == "?"):
            return ("exactly one of day of month and day of week must be ?, for example cron(0 20 ? * MON-FRI *) "
                    "(weekdays) or cron(0 20 1 * ? *) (the first of each month)")
        return None
    return "it must be a cron(...), rate(...) or at(...) expression, for example cron(0 20 ? * MON-FRI *)"


def timezone_error(name):
    """Why the time zone name is wrong, or None (also when this host has no time zone database)."""
    if zoneinfo is None:
        return None
    known = zoneinfo.available_timezones()
    if not known or name in known or name == "UTC":
        return None
    return "timezone must be an IANA time zone name such as Europe/Berlin, America/New_York or Etc/GMT+9, got {0!r}".format(name)


def parse_time(value, option):
    """An ISO 8601 date and time as an aware datetime in UTC (naive means UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    check(parsed is not None, "{0} must be an ISO 8601 date and time such as 2030-01-01T00:00:00Z, got {1!r}.".format(option, value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc).replace(microsecond=0)


def build_desired(params):
    """(identity, the action to put as PutScheduledAction's arguments, the action in comparable form).

    Raises InvalidInput, naming the option and the fix, for anything AWS would refuse."""
    namespace, resource_id, dimension = target_identity(params)
    name = params["name"]
    check(_NAME.fullmatch(name or ""),
          "name must be 1 to 256 characters without ':', '/', '|', control characters, or leading or trailing spaces, got {0!r}.".format(name))
    identity = dict(ServiceNamespace=namespace, ResourceId=resource_id, ScalableDimension=dimension, ScheduledActionName=name)
    if params["state"] != "present":
        return identity, None, None

    schedule = params["schedule"].strip()
    problem = schedule_error(schedule)
    check(problem is None, "schedule {0!r} is not valid: {1}.".format(params["schedule"], problem))
    timezone = params["timezone"].strip()
    problem = timezone_error(timezone)
    check(problem is None, "{0}.".format(problem))
    start = parse_time(params["start_time"], "start_time") if params["start_time"] else None
    end = parse_time(params["end_time"], "end_time") if params["end_time"] else None
    check(start is None or end is None or start < end,
          "end_time ({0}) must be later than start_time ({1}).".format(iso_timestamp(end), iso_timestamp(start)))
    minimum, maximum = params["min_capacity"], params["max_capacity"]
    problem = capacity_error(minimum, maximum)
    check(problem is None, problem)

    action = dict(identity, Schedule=schedule, Timezone=timezone, ScalableTargetAction={})
    if start is not None:
        action["StartTime"] = start
    if end is not None:
        action["EndTime"] = end
    if minimum is not None:
        action["ScalableTargetAction"]["MinCapacity"] = minimum
    if maximum is not None:
        action["ScalableTargetAction"]["MaxCapacity"] = maximum
    return identity, action, comparable(action)


def comparable(action):
    """A scheduled action (desired or described) in the form the module compares and shows in a diff."""
    if not action:
        return {}
    capacity = action.get("ScalableTargetAction") or {}
    values = dict(
        schedule=action.get("Schedule"),
        # An action created without a time zone runs in UTC.
        timezone=action.get("Timezone") or "UTC",
        start_time=iso_timestamp(action.get("StartTime")),
        end_time=iso_timestamp(action.get("EndTime")),
        min_capacity=capacity.get("MinCapacity"),
        max_capacity=capacity.get("MaxCapacity"),
    )
    return dict((key, value) for key, value in values.items() if value is not None)


def needs_recreate(current, desired):
    """True when an update cannot reach the desired action: PutScheduledAction keeps a capacity the
    request leaves out, so dropping one takes a delete and a new action."""
    return any(key in current and key not in desired for key in ("min_capacity", "max_capacity"))


@AWSRetry.jittered_backoff(catch_extra_error_codes=RETRY_CODES)
def _describe_actions(client, identity):
    paginator = client.get_paginator("describe_scheduled_actions")
    return paginator.paginate(ServiceNamespace=identity["ServiceNamespace"], ResourceId=identity["ResourceId"],
                              ScalableDimension=identity["ScalableDimension"],
                              ScheduledActionNames=[identity["ScheduledActionName"]]).build_full_result()["ScheduledActions"]


def describe_action(client, identity):
    """The scheduled action as DescribeScheduledActions gives it, or None."""
    for action in _describe_actions(client, identity):
        if all(action.get(key) == value for key, value in identity.items()):
            return action
    return None


def _label(identity):
    return "scheduled action {0} of {1}".format(identity["ScheduledActionName"], identity["ResourceId"])


def ensure_present(module, client, identity, action, desired):
    describe_failure = "Could not describe " + _label(identity)
    try:
        target = describe_target(client, identity["ServiceNamespace"], identity["ResourceId"], identity["ScalableDimension"])
        current_action = describe_action(client, identity)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg=describe_failure)
    if target is None:
        message = missing_target_message(identity["ServiceNamespace"], identity["ResourceId"], identity["ScalableDimension"],
                                         "scheduled action {0}".format(identity["ScheduledActionName"]))
        if not module.check_mode:
            module.fail_json(msg=message)
        module.warn(message + " (check mode: a real run fails unless an earlier task registers the target.)")

    current = comparable(current_action)
    changed = current != desired
    recreate = bool(current_action) and changed and needs_recreate(current, desired)
    final = current_action
    if changed:
        # In check mode: the action as it would be.
        final = action
        if not module.check_mode:
            try:
                if recreate:
                    client.delete_scheduled_action(aws_retry=True, **identity)
                client.put_scheduled_action(aws_retry=True, **action)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg="Could not put " + _label(identity))
            try:
                final = describe_action(client, identity) or action
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
                module.fail_json_aws(error, msg=describe_failure)

    result = dict(changed=changed, scheduled_action=snake_result(final))
    if module._diff:
        result["diff"] = dict(before=current, after=desired)
    module.exit_json(**result)


def ensure_absent(module, client, identity):
    try:
        current_action = describe_action(client, identity)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not describe " + _label(identity))
    if current_action and not module.check_mode:
        try:
            client.delete_scheduled_action(aws_retry=True, **identity)
        except botocore.exceptions.ClientError as error:
            # Deleted meanwhile (or with its target): what was asked for.
            if error.response.get("Error", {}).get("Code") != "ObjectNotFoundException":
                module.fail_json_aws(error, msg="Could not delete " + _label(identity))
        except botocore.exceptions.BotoCoreError as error:
            module.fail_json_aws(error, msg="Could not delete " + _label(identity))
    result = dict(changed=bool(current_action))
    if module._diff:
        result["diff"] = dict(before=comparable(current_action), after={})
    module.exit_json(**result)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        **target_argument_spec(),
        name=dict(type="str", required=True, aliases=["scheduled_action_name"]),
        schedule=dict(type="str"),
        timezone=dict(type="str", default="UTC"),
        start_time=dict(type="str"),
        end_time=dict(type="str"),
        min_capacity=dict(type="int"),
        max_capacity=dict(type="int"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[
            ("state", "present", ("schedule",)),
            ("state", "present", ("min_capacity", "max_capacity"), True),
        ],
        supports_check_mode=True,
    )
    # Everything is checked before the first API call: bad input changes nothing.
    try:
        identity, action, desired = build_desired(module.params)
    except InvalidInput as error:
        module.fail_json(msg=str(error))
    client = module.client("application-autoscaling", retry_decorator=retry_decorator())
    if module.params["state"] == "present":
        ensure_present(module, client, identity, action, desired)
    else:
        ensure_absent(module, client, identity)


if __name__ == "__main__":
    main()
