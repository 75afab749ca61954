# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the SageMaker MLflow modules share: the SageMaker client, input checks worded after botocore's
model, the waiter loop over transitional statuses, tags (SageMaker's ListTags / AddTags / DeleteTags),
the modules' snake_case views and the presigned URL calls.

Tracking servers (addressed by name) and MLflow Apps (addressed by ARN) have the same life cycle:
a status that is transitional while SageMaker works (``Creating``, ``Updating``, ``Deleting``, and for
tracking servers ``Starting``, ``Stopping``, ``MaintenanceInProgress``) and ends in a settled one, or
in a ``...Failed`` one. Neither Describe operation returns the resource's tags: they come from ListTags.
"""

import datetime
import re
import time

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

POLL_SECONDS = 15
# Statuses in which SageMaker is still working on the resource: wait, then look again.
SERVER_TRANSITIONAL = frozenset(("Creating", "Updating", "Deleting", "Starting", "Stopping", "MaintenanceInProgress"))
APP_TRANSITIONAL = frozenset(("Creating", "Updating", "Deleting"))
# Statuses in which a tracking server serves requests and can be updated or stopped.
SERVER_RUNNING = frozenset(("Created", "Updated", "Started", "MaintenanceComplete"))
SERVER_STOPPED = frozenset(("Stopped",))

# botocore's model (sagemaker service-2), as regular expressions that must match the whole value.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
S3_URI_PATTERN = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
WINDOW_PATTERN = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)$")
ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
KMS_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9:/_-]{1,2048}$")
DOMAIN_ID_PATTERN = re.compile(r"^d-(-*[a-z0-9]){1,61}$")
APP_ARN_PATTERN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:mlflow-app/.+$")
MLFLOW_VERSION_PATTERN = re.compile(r"^\d+\.\d+(\.\d+)?$")
EXPIRES_IN_RANGE = (5, 300)
SESSION_RANGE = (1800, 43200)
MAX_TAGS = 50


class InvalidInput(Exception):
    """An argument SageMaker would refuse, found before any API call."""


class WaitFailed(Exception):
    """The resource ended in a failed status, or did not settle within wait_timeout."""


def check(condition, message):
    if not condition:
        raise InvalidInput(message)


def check_name(value, option="name"):
    check(value and len(value) <= 256 and NAME_PATTERN.match(value),
          "{0} must be 1 to 256 letters, digits and hyphens, beginning and ending with a letter or digit, got {1!r}.".format(option, value))


def check_common(params):
    """The options the tracking server and App modules share, when given."""
    uri = params.get("artifact_store_uri")
    if uri is not None:
        check(len(uri) <= 1024 and S3_URI_PATTERN.match(uri),
              "artifact_store_uri must be an S3 URI such as s3://bucket/prefix (up to 1024 characters), got {0!r}.".format(uri))
    role = params.get("role_arn")
    if role is not None:
        check(20 <= len(role) <= 2048 and ROLE_ARN_PATTERN.match(role),
              "role_arn must be the ARN of an IAM role (arn:aws:iam::<account>:role/<name>), got {0!r}.".format(role))
    window = params.get("weekly_maintenance_window_start")
    if window is not None:
        check(WINDOW_PATTERN.match(window),
              "weekly_maintenance_window_start must be Day:HH:MM in UTC with Day one of Mon Tue Wed Thu Fri Sat Sun, for example Tue:03:30, "
              "got {0!r}.".format(window))
    check_tags(params.get("tags"))
    if "wait_timeout" in params:
        check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))


def check_tags(tags):
    tags = tags or {}
    check(len(tags) <= MAX_TAGS, "tags: SageMaker allows up to {0} tags, got {1}.".format(MAX_TAGS, len(tags)))
    for key, value in tags.items():
        key, value = str(key), "" if value is None else str(value)
        check(not key.lower().startswith("aws:"), "tags: keys beginning with 'aws:' are reserved for AWS, got {0!r}.".format(key))
        check(0 < len(key) <= 128 and len(value) <= 256,
              "tags: keys must have 1 to 128 characters and values up to 256, got {0!r}: {1!r}.".format(key, value))


def check_presigned(params):
    """The presigned URL options of the info modules."""
    expires = params.get("presigned_url_expires_in_seconds")
    if expires is not None:
        check(EXPIRES_IN_RANGE[0] <= expires <= EXPIRES_IN_RANGE[1],
              "presigned_url_expires_in_seconds must be between {0} and {1}, got {2}.".format(EXPIRES_IN_RANGE[0], EXPIRES_IN_RANGE[1], expires))
    session = params.get("session_expiration_duration_in_seconds")
    if session is not None:
        check(SESSION_RANGE[0] <= session <= SESSION_RANGE[1],
              "session_expiration_duration_in_seconds must be between {0} and {1} (30 minutes to 12 hours), got {2}.".format(
                  SESSION_RANGE[0], SESSION_RANGE[1], session))


def parse_time(value, option):
    """An ISO 8601 date or time (the filters CreatedAfter and CreatedBefore), as a timezone-aware datetime."""
    if value is None:
        return None
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("{0} must be an ISO 8601 date or time such as 2026-01-31 or 2026-01-31T12:00:00Z, got {1!r}.".format(option, value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def client(module):
    """The SageMaker client, every call retried with jittered backoff when the module passes aws_retry=True."""
    return module.client("sagemaker", retry_decorator=AWSRetry.jittered_backoff())


# IAM is eventually consistent: for some seconds after CreateRole or PutRolePolicy, SageMaker may refuse a role it
# cannot assume yet (ValidationException naming the role). The AWS provider of Terraform retries the same way.
ROLE_PROPAGATION_SECONDS = 90
ROLE_NOT_READY = re.compile(r"assume|role.*(not (valid|authorized|found)|does not exist)", re.IGNORECASE)


def create_when_role_is_ready(create, role_arn, timeout=ROLE_PROPAGATION_SECONDS, sleep=None, clock=None):
    """create(), retried while SageMaker refuses role_arn as not (yet) usable, for up to timeout seconds."""
    sleep, clock = sleep or time.sleep, clock or time.monotonic
    deadline = clock() + timeout
    delay = 2
    while True:
        try:
            return create()
        except botocore.exceptions.ClientError as error:
            message = error.response.get("Error", {}).get("Message", "")
            retry = (error.response.get("Error", {}).get("Code") == "ValidationException" and role_arn and role_arn in message
                     and ROLE_NOT_READY.search(message) and clock() + delay < deadline)
            if not retry:
                raise
        sleep(delay)
        delay = min(delay * 2, 16)


# --- waiting -----------------------------------------------------------------------------------------------------------------


def wait_until_settled(describe, status_key, transitional, what, timeout, accept_failed=False, sleep=None, clock=None, poll=POLL_SECONDS):
    """Polls describe() while the resource's status is transitional; returns the last answer (None when it is gone).

    The status that describe() finds at first counts too: a resource someone else is changing is waited for.

    Raises WaitFailed when the status ends in ``...Failed`` (unless accept_failed) or after timeout seconds.
    """
    sleep, clock = sleep or time.sleep, clock or time.monotonic
    deadline = clock() + timeout
    delay = 1
    while True:
        answer = describe()
        status = (answer or {}).get(status_key)
        if answer is None or status not in transitional:
            if status and status.endswith("Failed") and not accept_failed:
                raise WaitFailed(failure_message(what, answer, status_key))
            return answer
        if clock() >= deadline:
            raise WaitFailed("{0} was still {1} after {2} seconds (wait_timeout). SageMaker goes on working on it: run again later "
                             "or with a longer wait_timeout.".format(what, status, timeout))
        # 1, 2, 4, 8 seconds, then every poll seconds: quick changes end quickly, a half-hour creation costs few calls.
        sleep(max(0, min(delay, poll, deadline - clock())))
        delay *= 2


def failure_message(what, answer, status_key):
    message = "{0} is {1}".format(what, answer.get(status_key))
    details = [answer[key] for key in ("FailureReason", "StatusMessage") if answer.get(key)]
    maintenance = answer.get("TrackingServerMaintenanceStatus") or answer.get("MaintenanceStatus")
    if maintenance:
        details.append("maintenance status {0}".format(maintenance))
    if details:
        message += " ({0})".format("; ".join(details))
    return message + ". See the SageMaker console or CloudTrail for the reason; a resource that failed to be created can only be deleted."


# --- tags ----------------------------------------------------------------------------------------------------------------------


@AWSRetry.jittered_backoff()
def _list_tags(sagemaker, arn):
    return sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn).build_full_result().get("Tags") or []


def get_tags(sagemaker, arn):
    """The resource's tags as a dictionary ({} when the resource is gone)."""
    try:
        return boto3_tag_list_to_ansible_dict(_list_tags(sagemaker, arn))
    except is_boto3_error_code(("ResourceNotFound", "ValidationException")):
        return {}


def desired_tags(current, tags, purge_tags):
    """The tags the resource ends with: the current ones when tags is None."""
    if tags is None:
        return dict(current)
    wanted = dict((str(key), "" if value is None else str(value)) for key, value in tags.items())
    if not purge_tags:
        return dict(current, **wanted)
    wanted.update(dict((key, value) for key, value in current.items() if key.startswith("aws:")))
    return wanted


def tag_changes(current, tags, purge_tags):
    """(tags to set, keys to remove); tags None changes nothing, aws: tags are never removed."""
    if tags is None:
        return {}, []
    to_set, to_unset = compare_aws_tags(current, desired_tags(current, tags, purge_tags), purge_tags=True)
    return to_set, sorted(to_unset)


def apply_tags(sagemaker, arn, to_set, to_unset):
    if to_unset:
        sagemaker.delete_tags(aws_retry=True, ResourceArn=arn, TagKeys=list(to_unset))
    if to_set:
        sagemaker.add_tags(aws_retry=True, ResourceArn=arn, Tags=ansible_dict_to_boto3_tag_list(to_set))


def tag_list(tags):
    return ansible_dict_to_boto3_tag_list(tags or {})


# --- results -------------------------------------------------------------------------------------------------------------------


def _plain(value):
    """Timestamps as ISO 8601 strings, everything else as it is."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def snake(described, tags=None):
    """A Describe or List answer for a module's result: snake_case keys, timestamps as strings, tags as a dictionary."""
    if not described:
        return {}
    result = camel_dict_to_snake_dict(_plain(dict((key, value) for key, value in described.items() if key not in ("ResponseMetadata", "Tags"))))
    if tags is not None:
        result["tags"] = dict(tags)
    return result


def without_response_metadata(answer):
    answer = dict(answer or {})
    answer.pop("ResponseMetadata", None)
    return answer


# --- presigned URLs ----------------------------------------------------------------------------------------------------------


def presigned_arguments(params):
    arguments = {}
    if params.get("presigned_url_expires_in_seconds") is not None:
        arguments["ExpiresInSeconds"] = params["presigned_url_expires_in_seconds"]
    if params.get("session_expiration_duration_in_seconds") is not None:
        arguments["SessionExpirationDurationInSeconds"] = params["session_expiration_duration_in_seconds"]
    return arguments


def presigned_tracking_server_url(sagemaker, name, params):
    return sagemaker.create_presigned_mlflow_tracking_server_url(aws_retry=True, TrackingServerName=name, **presigned_arguments(params))["AuthorizedUrl"]


def presigned_app_url(sagemaker, arn, params):
    return sagemaker.create_presigned_mlflow_app_url(aws_retry=True, Arn=arn, **presigned_arguments(params))["AuthorizedUrl"]


# --- describing ------------------------------------------------------------------------------------------------------------------


def describe_tracking_server(sagemaker, name):
    """The tracking server, or None when there is none of that name."""
    try:
        return without_response_metadata(sagemaker.describe_mlflow_tracking_server(aws_retry=True, TrackingServerName=name))
    except is_boto3_error_code("ResourceNotFound"):
        return None


def describe_app(sagemaker, arn):
    """The MLflow App, or None when it is gone."""
    try:
        answer = without_response_metadata(sagemaker.describe_mlflow_app(aws_retry=True, Arn=arn))
    except is_boto3_error_code("ResourceNotFound"):
        return None
    return None if answer.get("Status") == "Deleted" else answer


@AWSRetry.jittered_backoff()
def list_tracking_servers(sagemaker, **filters):
    paginator = sagemaker.get_paginator("list_mlflow_tracking_servers")
    return paginator.paginate(**filters).build_full_result().get("TrackingServerSummaries") or []


@AWSRetry.jittered_backoff()
def list_apps(sagemaker, **filters):
    return sagemaker.get_paginator("list_mlflow_apps").paginate(**filters).build_full_result().get("Summaries") or []


class NameTaken(Exception):
    """Two or more MLflow Apps carry the name."""


def find_app(sagemaker, name):
    """The summary of the MLflow App named name (those being deleted ignored), or None. Raises NameTaken."""
    named = [app for app in list_apps(sagemaker) if app.get("Name") == name and app.get("Status") not in ("Deleting", "Deleted")]
    if len(named) > 1:
        raise NameTaken("{0} MLflow Apps are named {1!r}: {2}. SageMaker does not keep App names unique, and the module finds its App by name; "
                        "delete or rename the extra ones, then run again.".format(len(named), name, ", ".join(sorted(app["Arn"] for app in named))))
    return named[0] if named else None


def is_aws_error(error):
    return isinstance(error, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError))


def version_matches(current, wanted):
    """Whether the MLflow version SageMaker reports (2.16.2) is the one asked for (2.16 or 2.16.2)."""
    if not wanted:
        return True
    if not current:
        return False
    return str(current).split(".")[:len(str(wanted).split("."))] == str(wanted).split(".")


def same_kms_key(current, wanted):
    """A key given as ID and reported as ARN (or the other way round) is the same key."""
    if (current or None) == (wanted or None):
        return True
    if not current or not wanted:
        return False
    return current.endswith("/" + wanted) or wanted.endswith("/" + current)


def refusal(what, name, differing, backend):
    """Why the module will not replace a resource whose settings SageMaker cannot change in place, and how to migrate.

    differing: (option, current value, wanted value) for each setting that differs.
    """
    return ("{what} {name} has {found}, and {wanted} was asked for. SageMaker cannot change the {options} of an existing {what_lower}, "
            "and this module will not replace it: deleting it would lose the experiments, runs and registered models kept in its "
            "managed backend store ({backend}). To migrate: create a second {what_lower} with the new settings under another name, copy the "
            "experiments and models to it (for example with mlflow-export-import), switch the clients' tracking URI to the new one's ARN, "
            "then delete the old one with state=absent. Or ask for what {name} has.").format(
        what=what, what_lower=what if what[1:2].isupper() else what[0].lower() + what[1:], name=name, backend=backend,
        found=" and ".join("{0} {1}".format(option, current if current not in (None, "") else "(none)") for option, current, wanted in differing),
        wanted=" and ".join("{0} {1}".format(option, wanted) for option, current, wanted in differing),
        options=" or ".join(option for option, current, wanted in differing))
