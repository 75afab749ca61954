"""The harness for the unit tests of this collection's modules: main() driven with its AWS client
answered by botocore's Stubber (which also checks every request against the service's API model).

Every ``tests/unit/plugins/modules/test_*.py`` that runs a module's main() uses it; a new test file
should too, rather than writing its own::

    import pytest

    from ansible_collections.mlops.mlflow.plugins.modules import ecs_fargate_cluster as module
    from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

    run = harness.runner(module)  # run(args, check_mode=False, diff=False) -> harness.ModuleExit


    @pytest.fixture
    def ecs(monkeypatch):
        stubber = harness.stub_client(monkeypatch, "ecs")
        # ... patch the module's clock or sleeps here, add attributes to stubber ...
        with stubber:  # activates the Stubber; deactivates it after the test
            yield stubber
            stubber.assert_no_pending_responses()  # optional: every queued answer was asked for


    def test_creates_the_cluster(ecs):
        ecs.add_response("describe_clusters", {...answer...}, {...expected request...})
        outcome = run(dict(harness.AWS_ARGS, name="mlflow"), diff=True)
        assert not outcome.failed, outcome.result["msg"]
        assert outcome.result["changed"]
        assert ecs.created == ["ecs"]  # the clients the module asked for
        assert ecs.warnings == []  # what it passed to module.warn()

``run`` ends with exit_json or fail_json, both of which raise :class:`ModuleExit`: ``.result`` holds
what the module returned (with ``msg`` and ``failed=True`` on failure), ``.failed`` says which.
:class:`FakeClock` stands in for a module's clock and sleep in waits. :func:`validated_params` and
:func:`argument_spec` give a module's parameters and argument_spec without any AWS call. The
credentials in :data:`AWS_ARGS` only satisfy AnsibleAWSModule: no request leaves the process.
"""

import boto3
import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils import modules as aws_modules

REGION = "us-east-1"
AWS_ARGS = {"region": REGION, "access_key": "testing", "secret_key": "testing"}


class ModuleExit(Exception):
    """What AnsibleModule.exit_json (``failed`` False) or fail_json (``failed`` True) was given."""

    def __init__(self, result, failed):
        super().__init__(result)
        self.result = result
        self.failed = failed


class FakeClock:
    """Time that passes only when the code under test sleeps: put ``clock`` (or ``monotonic``, the same)
    where it reads the time and ``sleep`` where it sleeps. ``now`` is the time, ``sleeps`` every wait."""

    def __init__(self, now=0.0):
        self.now = now
        self.sleeps = []

    def clock(self):
        return self.now

    monotonic = clock

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def patch_module_exits(monkeypatch):
    """Make exit_json and fail_json raise :class:`ModuleExit`; returns the list that collects module.warn()'s texts."""

    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs, failed=False)

    def fail_json(self, msg=None, **kwargs):
        raise ModuleExit(dict(kwargs, msg=msg, failed=True), failed=True)

    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning, *args, **kwargs: warnings.append(warning))
    return warnings


def stub_client(monkeypatch, service):
    """A Stubber (not yet active: use it as a context manager) on a real boto3 client of ``service``.

    Every client the module asks for (``module.client(...)``) is this one; ``stubber.client`` is it,
    ``stubber.created`` lists the services the module asked for, ``stubber.warnings`` what it warned.
    exit_json and fail_json raise :class:`ModuleExit` (see :func:`patch_module_exits`).
    """
    client = boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    created = []

    def fake_boto3_conn(module_, conn_type=None, resource=None, **kwargs):
        created.append(resource)
        return client

    monkeypatch.setattr(aws_modules, "boto3_conn", fake_boto3_conn)
    stubber.created = created
    stubber.warnings = patch_module_exits(monkeypatch)
    return stubber


def stub_clients(monkeypatch, *services):
    """Like :func:`stub_client`, for a module that asks for clients of several services: a dict of Stubbers by
    service (not yet active), each on its own client. Each Stubber has ``created`` (every service the module asked
    for) and ``warnings``."""
    stubbers = {}
    for service in services:
        client = boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        stubbers[service] = Stubber(client)
    created = []

    def fake_boto3_conn(module_, conn_type=None, resource=None, **kwargs):
        created.append(resource)
        return stubbers[resource].client

    monkeypatch.setattr(aws_modules, "boto3_conn", fake_boto3_conn)
    warnings = patch_module_exits(monkeypatch)
    for stubber in stubbers.values():
        stubber.created, stubber.warnings = created, warnings
    return stubbers


def active_stubs(monkeypatch, *services):
    """The body of a fixture (``yield from``): :func:`stub_clients`, active during the test; afterwards every
    queued answer must have been used."""
    stubbers = stub_clients(monkeypatch, *services)
    for stubber in stubbers.values():
        stubber.activate()
    yield stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def runner(module, defaults=None):
    """``run(args, check_mode=False, diff=False)``: ``module.main()`` with ``args`` (over ``defaults``) as its
    parameters; returns the :class:`ModuleExit` it ended with. Needs :func:`patch_module_exits` (or a
    :func:`stub_client` fixture) in effect."""

    def run(args, check_mode=False, diff=False):
        args = dict(defaults or {}, **args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args):
            with pytest.raises(ModuleExit) as caught:
                module.main()
        return caught.value

    return run


def _capture(module, capturing):
    """Run ``module.main()`` with ``capturing`` in place of its AnsibleAWSModule, which raises ModuleExit."""
    original = module.AnsibleAWSModule
    module.AnsibleAWSModule = capturing
    try:
        with pytest.raises(ModuleExit):
            module.main()
    finally:
        module.AnsibleAWSModule = original


def validated_params(module):
    """The module's parameters as main() gets them (validated, defaults applied), from the arguments that
    ``patch_module_args`` sets; no AWS call is made."""
    captured = {}

    class Capturing(module.AnsibleAWSModule):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            captured.update(self.params)
            raise ModuleExit({}, failed=False)

    _capture(module, Capturing)
    return captured


def argument_spec(module):
    """The module's argument_spec, as main() gives it to AnsibleAWSModule."""
    captured = {}

    class Capturing:
        def __init__(self, argument_spec=None, **kwargs):
            captured.update(argument_spec)
            raise ModuleExit({}, failed=False)

    _capture(module, Capturing)
    return captured
