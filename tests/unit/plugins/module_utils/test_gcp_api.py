"""module_utils gcp_api: authentication options (environment variables, exclusions, google.cloud's messages), retries
and backoff, error messages, long-running operations of both shapes, IAM bindings and the managed-field diff."""

import datetime

import pytest
import requests
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlops.mlflow.plugins.module_utils import gcp_api
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.gcp_fakes import FakeClock
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.gcp_fakes import FakeResponse
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.gcp_fakes import error

# --- authentication options -------------------------------------------------------------------------------------------------


@pytest.fixture
def exits(monkeypatch):
    for variable in ("GCP_PROJECT", "GCP_AUTH_KIND", "GCP_ACCESS_TOKEN", "GCP_SERVICE_ACCOUNT_FILE", "GCP_SERVICE_ACCOUNT_CONTENTS",
                     "GCP_SERVICE_ACCOUNT_EMAIL", "GCP_SCOPES", "GCP_ENV_TYPE"):
        monkeypatch.delenv(variable, raising=False)
    return harness.patch_module_exits(monkeypatch)


def make_module(args):
    with patch_module_args(args):
        try:
            return gcp_api.GcpModule(argument_spec={}, supports_check_mode=True)
        except harness.ModuleExit as exit_:
            return exit_


def test_options_come_from_the_environment(exits, monkeypatch):
    monkeypatch.setenv("GCP_PROJECT", "from-env")
    monkeypatch.setenv("GCP_AUTH_KIND", "accesstoken")
    monkeypatch.setenv("GCP_ACCESS_TOKEN", "token-from-env")
    monkeypatch.setenv("GCP_SCOPES", "https://www.googleapis.com/auth/cloud-platform.read-only")
    module = make_module({})
    assert isinstance(module, gcp_api.GcpModule)
    assert module.params["project"] == "from-env"
    assert module.params["access_token"] == "token-from-env"
    assert module.params["scopes"] == ["https://www.googleapis.com/auth/cloud-platform.read-only"]


def test_task_options_win_over_the_environment(exits, monkeypatch):
    monkeypatch.setenv("GCP_PROJECT", "from-env")
    module = make_module({"project": "from-task", "auth_kind": "accesstoken", "access_token": "t"})
    assert module.params["project"] == "from-task"


def test_access_token_is_no_log():
    spec = gcp_api.auth_argument_spec()
    assert spec["access_token"]["no_log"] and spec["service_account_contents"]["no_log"]


@pytest.mark.parametrize("args, message", [
    ({"auth_kind": "application", "service_account_email": "a@b"}, "Service Account Email only works with Machine Account-based authentication"),
    ({"auth_kind": "application", "service_account_file": "/k.json"}, "Service Account File only works with Service Account-based authentication"),
    ({"auth_kind": "machineaccount", "access_token": "t"}, "Supplying access_token requires auth_kind set to accesstoken"),
    ({"auth_kind": "serviceaccount"}, "Service Account authentication requires setting either service_account_file or service_account_contents"),
    ({"auth_kind": "accesstoken"}, "An access token must be supplied when auth_kind is accesstoken"),
    ({"auth_kind": "serviceaccount", "service_account_file": "/k.json", "service_account_contents": "{}"}, "mutually exclusive"),
    ({}, "auth_kind"),
])
def test_inconsistent_options_fail_with_google_clouds_messages(exits, args, message):
    outcome = make_module(dict({"project": "p"}, **args))
    assert isinstance(outcome, harness.ModuleExit) and outcome.failed
    assert message in outcome.result["msg"]


def test_project_is_required(exits):
    outcome = make_module({"auth_kind": "accesstoken", "access_token": "t"})
    assert outcome.failed and "GCP_PROJECT" in outcome.result["msg"]


def test_missing_library_is_named(exits, monkeypatch):
    monkeypatch.setattr(gcp_api, "GOOGLE_AUTH_IMPORT_ERROR", "Traceback: No module named 'google'")
    outcome = make_module({"project": "p", "auth_kind": "accesstoken", "access_token": "t"})
    assert outcome.failed and "google-auth" in outcome.result["msg"] and "Failed to import the required Python library" in outcome.result["msg"]


def test_access_token_credentials():
    found = gcp_api.build_credentials({"auth_kind": "accesstoken", "access_token": "abc", "scopes": None})
    assert found.token == "abc"


def test_unreadable_service_account_file():
    with pytest.raises(gcp_api.CredentialsError, match="Unable to read service_account_file at /nonexistent/key.json"):
        gcp_api.build_credentials({"auth_kind": "serviceaccount", "service_account_file": "/nonexistent/key.json", "scopes": None})


def test_bad_service_account_contents():
    with pytest.raises(gcp_api.CredentialsError, match="Unable to decode service_account_contents as JSON"):
        gcp_api.build_credentials({"auth_kind": "serviceaccount", "service_account_file": None, "service_account_contents": "{not json",
                                   "scopes": None})


# --- retries ----------------------------------------------------------------------------------------------------------------


class ScriptedSession(object):
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_with(*answers):
    clock = FakeClock()
    session = ScriptedSession(*answers)
    return gcp_api.GcpClient(session=session, sleep=clock.sleep, clock=clock.clock, rng=lambda: 1.0), session, clock


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retries_429_and_5xx(status):
    client, session, clock = client_with(error(status, "UNAVAILABLE", "try later"), FakeResponse(200, {"ok": True}))
    assert client.get("https://run.googleapis.com/v2/x") == {"ok": True}
    assert len(session.calls) == 2 and clock.sleeps == [1.0]


@pytest.mark.parametrize("status", [400, 403, 404, 409])
def test_does_not_retry_client_errors(status):
    client, session, clock = client_with(error(status, "X", "no"))
    with pytest.raises(gcp_api.GcpApiError):
        client.get("https://run.googleapis.com/v2/x")
    assert len(session.calls) == 1 and clock.sleeps == []


def test_retries_connection_errors_then_gives_up():
    answers = [requests.exceptions.ConnectionError("refused")] * gcp_api.RETRY_ATTEMPTS
    client, session, clock = client_with(*answers)
    with pytest.raises(gcp_api.GcpApiError, match="Could not reach the API after 7 attempts"):
        client.get("https://run.googleapis.com/v2/x")
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_exponential_backoff_is_capped_and_jittered():
    assert gcp_api.backoff_seconds(1, rng=lambda: 1.0) == 1.0
    assert gcp_api.backoff_seconds(4, rng=lambda: 1.0) == 8.0
    assert gcp_api.backoff_seconds(10, rng=lambda: 1.0) == gcp_api.RETRY_CAP_SECONDS
    assert gcp_api.backoff_seconds(4, rng=lambda: 0.25) == 2.0


def test_retry_after_is_honoured():
    client, session, clock = client_with(FakeResponse(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"}),
                                         FakeResponse(200, {}))
    client.get("https://run.googleapis.com/v2/x")
    assert clock.sleeps == [7.0]
    assert gcp_api.backoff_seconds(1, retry_after=100000, rng=lambda: 0.0) == gcp_api.RETRY_AFTER_CAP_SECONDS


def test_retry_after_as_http_date():
    now = datetime.datetime(2026, 3, 19, 12, 0, 0, tzinfo=datetime.timezone.utc)
    assert gcp_api.retry_after_seconds({"Retry-After": "Thu, 19 Mar 2026 12:00:30 GMT"}, now=now) == 30.0
    assert gcp_api.retry_after_seconds({"Retry-After": "soon"}) is None
    assert gcp_api.retry_after_seconds({}) is None


def test_persistent_5xx_fails_with_the_apis_message():
    answers = [error(503, "UNAVAILABLE", "The service is currently unavailable.")] * gcp_api.RETRY_ATTEMPTS
    client, session, clock = client_with(*answers)
    with pytest.raises(gcp_api.GcpApiError) as caught:
        client.get("https://run.googleapis.com/v2/x")
    assert caught.value.status == "UNAVAILABLE" and caught.value.status_code == 503
    assert "The service is currently unavailable." in str(caught.value)
    assert len(session.calls) == gcp_api.RETRY_ATTEMPTS


def test_compute_errors_list_is_read():
    body = {"error": {"code": 400, "message": "Invalid value for field 'resource.name'", "errors": [
        {"reason": "invalid", "message": "Invalid value for field 'resource.name'"}, {"reason": "invalid", "message": "second"}]}}
    found = gcp_api.error_from_body(body, 400, "POST", "https://compute.googleapis.com/compute/v1/x")
    assert found.message == "Invalid value for field 'resource.name'; second"
    assert found.status == "invalid"


def test_not_found_can_be_allowed():
    client, session, clock = client_with(error(404, "NOT_FOUND", "gone"))
    assert client.get("https://run.googleapis.com/v2/x", allow_not_found=True) is None


# --- long-running operations --------------------------------------------------------------------------------------------------


def test_polls_a_longrunning_operation_until_done():
    done = {"name": "projects/p/locations/r/operations/o", "done": True, "response": {"name": "svc"}}
    client, session, clock = client_with(FakeResponse(200, {"name": done["name"]}), FakeResponse(200, done))
    finished = client.wait_for_operation({"name": done["name"], "done": False}, 60, api_base=gcp_api.RUN_API)
    assert finished["response"] == {"name": "svc"}
    assert [call[1] for call in session.calls] == ["https://run.googleapis.com/v2/projects/p/locations/r/operations/o"] * 2
    assert clock.sleeps == [1.0, 1.5]


def test_longrunning_error_raises_with_its_message():
    client, session, clock = client_with()
    operation = {"name": "o", "done": True, "error": {"code": 9, "message": "Revision 'x' is not ready"}}
    with pytest.raises(gcp_api.OperationFailed) as caught:
        client.wait_for_operation(operation, 60)
    assert caught.value.status == "FAILED_PRECONDITION" and "Revision 'x' is not ready" in str(caught.value)


def test_compute_operation_polls_the_self_link_on_compute_googleapis():
    link = "https://www.googleapis.com/compute/v1/projects/p/regions/r/operations/op-1"
    client, session, clock = client_with(FakeResponse(200, {"status": "DONE", "selfLink": link, "name": "op-1"}))
    client.wait_for_operation({"status": "RUNNING", "selfLink": link, "name": "op-1"}, 60)
    assert session.calls[0][1] == "https://compute.googleapis.com/compute/v1/projects/p/regions/r/operations/op-1"


def test_compute_operation_errors():
    operation = {"status": "DONE", "name": "op", "httpErrorStatusCode": 400,
                 "error": {"errors": [{"code": "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", "message": "is already being used by 'b'"}]}}
    with pytest.raises(gcp_api.OperationFailed, match="already being used") as caught:
        client_with()[0].wait_for_operation(operation, 60)
    assert caught.value.status == "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE"


def test_operation_timeout():
    running = {"name": "o", "done": False}
    client, session, clock = client_with(*[FakeResponse(200, running)] * 50)
    with pytest.raises(gcp_api.OperationTimeout, match="wait_timeout"):
        client.wait_for_operation(running, 30)
    assert clock.now <= 30


# --- IAM ----------------------------------------------------------------------------------------------------------------------


def test_add_members_keeps_others_and_conditions():
    policy = {"etag": "e", "bindings": [{"role": "r", "members": ["user:a"]}, {"role": "r", "members": ["user:c"], "condition": {"title": "t"}}]}
    new, added, removed = gcp_api.plan_role_members(policy, "r", ["user:b", "user:a"], "add")
    assert added == ["user:b"] and removed == []
    assert {"role": "r", "members": ["user:a", "user:b"]} in new["bindings"]
    assert {"role": "r", "members": ["user:c"], "condition": {"title": "t"}} in new["bindings"]
    assert new["etag"] == "e" and new["version"] == 3


def test_exact_members_removes_the_others():
    policy = {"bindings": [{"role": "r", "members": ["user:a", "user:b"]}, {"role": "other", "members": ["user:z"]}]}
    new, added, removed = gcp_api.plan_role_members(policy, "r", ["user:b"], "exact")
    assert removed == ["user:a"] and added == []
    assert new["bindings"] == [{"role": "other", "members": ["user:z"]}, {"role": "r", "members": ["user:b"]}]
    assert gcp_api.plan_role_members(new, "r", ["user:b"], "exact") == (None, [], [])
    emptied, _added, removed = gcp_api.plan_role_members(new, "r", [], "exact")
    assert emptied["bindings"] == [{"role": "other", "members": ["user:z"]}]


# --- the diff -------------------------------------------------------------------------------------------------------------------


def test_diff_ignores_server_filled_fields_and_unmanaged_options():
    desired = {"a": 1, "b": None, "c": {"d": "x"}}
    current = {"a": 1, "b": 2, "c": {"d": "x", "filled": True}, "launchStage": "GA"}
    assert gcp_api.managed_diff(desired, current) == ([], {"a": 1, "c": {"d": "x"}}, {"a": 1, "c": {"d": "x"}})


def test_diff_absent_equals_empty():
    assert gcp_api.managed_diff({"flag": False, "n": 0, "s": "", "l": [], "m": {}}, {})[0] == []
    assert gcp_api.managed_diff({"flag": True}, {})[0] == ["flag"]


def test_diff_sets_and_keyed_lists():
    desired = {"t": {"tags": ["b", "a"], "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]}}
    current = {"t": {"tags": ["a", "b"], "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2", "extra": 1}]}}
    assert gcp_api.managed_diff(desired, current, set_paths=["t.tags"], keyed_lists={"t.env": "name"})[0] == []
    assert gcp_api.managed_diff(desired, current)[0] == ["t.tags", "t.env"]


def test_diff_reports_lists_whole_and_exact_dicts():
    desired = {"items": [{"k": 1}, {"k": 2}], "labels": {"a": "1"}}
    current = {"items": [{"k": 1}, {"k": 3}], "labels": {"a": "1", "b": "2"}}
    changed, before, after = gcp_api.managed_diff(desired, current, exact_paths=["labels"])
    assert changed == ["items", "labels"]
    assert before["labels"] == {"a": "1", "b": "2"} and after["labels"] == {"a": "1"}


def test_diff_paths_name_list_elements_by_pattern():
    desired = {"containers": [{"env": [{"name": "B"}, {"name": "A"}]}]}
    current = {"containers": [{"env": [{"name": "A"}, {"name": "B"}]}]}
    assert gcp_api.managed_diff(desired, current, keyed_lists={"containers[].env": "name"})[0] == []


def test_labels_wanted_and_checked():
    assert gcp_api.labels_wanted({"a": "1"}, {"b": "2"}, purge=True) == {"b": "2"}
    assert gcp_api.labels_wanted({"a": "1"}, {"b": "2"}, purge=False) == {"a": "1", "b": "2"}
    assert gcp_api.labels_wanted({"a": "1"}, None, purge=True) is None
    assert gcp_api.label_problem({"ok": "fine-1"}) is None
    assert "values must" in gcp_api.label_problem({"ok": "Not Fine"})


def test_project_number_lookup():
    client, session, clock = client_with(FakeResponse(200, {"projectId": "p", "projectNumber": "42"}))
    assert gcp_api.project_number(client, "p") == "42"
    assert session.calls[0][1] == "https://cloudresourcemanager.googleapis.com/v1/projects/p"
    assert gcp_api.project_number(client, "123") == "123"


def test_module_instance_is_an_ansible_module():
    assert issubclass(gcp_api.GcpModule, basic.AnsibleModule)
