"""Settings, the fault mode, the latency model and the request log, without a server."""

import pytest

from proving_ground.aws_protocol import AwsRequest
from proving_ground.faults import FaultInjector
from proving_ground.latency import AWS_DURATIONS, LatencyModel
from proving_ground.request_log import RequestLog
from proving_ground.settings import Settings


def _request(service="sagemaker", operation="DescribeMlflowApp"):
    request = AwsRequest(method="POST", path="/", query={}, headers={}, body=b"")
    request.service, request.operation = service, operation
    return request


@pytest.mark.parametrize("changes, message", [
    ({"fault_rate": 1.5}, "fault_rate must be between 0 and 1"),
    ({"latency_scale": -1}, "latency_scale must be 0 or more"),
    ({"fault_kinds": ["meteor"]}, "fault_kinds takes"),
    ({"no_such_setting": 1}, "unknown settings: no_such_setting"),
])
def test_bad_settings_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        Settings().update(changes)


def test_faults_are_off_by_default():
    injector = FaultInjector(Settings())
    assert all(injector.pick(_request()) is None for dummy in range(1000))


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_faults_come_at_the_configured_rate(rate):
    injector = FaultInjector(Settings(fault_rate=rate, fault_seed=7))
    hits = sum(injector.pick(_request()) is not None for dummy in range(4000))
    assert abs(hits / 4000 - rate) < 0.03


def test_faults_are_reproducible_with_a_seed():
    def pattern():
        injector = FaultInjector(Settings(fault_rate=0.3, fault_seed=42, fault_kinds=["throttle", "5xx"]))
        return [(injector.pick(_request()) or ("none",))[0] for dummy in range(200)]
    first = pattern()
    assert first == pattern()
    assert {"throttle", "5xx", "none"} == set(first)


def test_faults_only_hit_the_chosen_services():
    injector = FaultInjector(Settings(fault_rate=1.0, fault_services=["ecs"]))
    assert injector.pick(_request("sagemaker")) is None
    kind, response = injector.pick(_request("ecs", "DescribeServices"))
    assert kind == "throttle" and response.status == 400


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_latency_is_off_by_default():
    latency = LatencyModel(Settings(), clock=FakeClock())
    latency.start(("rds-cluster", "c1"), "rds", "CreateDBCluster")
    assert latency.duration("rds", "CreateDBCluster") == 0
    assert not latency.in_progress(("rds-cluster", "c1"))


def test_latency_scales_aws_durations_and_ends():
    clock = FakeClock()
    latency = LatencyModel(Settings(latency_scale=0.01), clock=clock)
    expected = AWS_DURATIONS["sagemaker:CreateMlflowTrackingServer"] * 0.01
    assert latency.duration("sagemaker", "CreateMlflowTrackingServer") == pytest.approx(expected)
    latency.start(("t", "a"), "sagemaker", "CreateMlflowTrackingServer")
    clock.now += expected - 0.1
    assert latency.in_progress(("t", "a"))
    clock.now += 0.2
    assert not latency.in_progress(("t", "a"))


def test_latency_overrides_replace_the_builtin_figure():
    latency = LatencyModel(Settings(latency_scale=1, latency_overrides={"rds:CreateDBCluster": 3}))
    assert latency.duration("rds", "CreateDBCluster") == 3
    assert latency.duration("ecs", "CreateCluster") == 0


def test_request_log_counts_and_filters():
    log = RequestLog(limit=3)
    for number in range(5):
        log.add(service="s3", operation=f"Op{number}", method="GET", path="/", status=200, duration=0.001,
                mutating=number % 2 == 0)
    entries = log.entries()
    assert [entry["operation"] for entry in entries] == ["Op2", "Op3", "Op4"]
    assert [entry["operation"] for entry in log.entries(since=entries[1]["id"])] == ["Op4"]
    assert log.last_id() == entries[-1]["id"]
    log.clear()
    assert log.entries() == []
