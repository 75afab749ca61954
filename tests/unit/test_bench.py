"""The pure parts of `make bench` (tests/bench/fargate.py): the chain of waits, the counts, the parsers, the table."""

from __future__ import annotations

import pytest

from bench.fargate import (LATENCY_FIGURES, TARGETS, WAIT_DEPENDENCIES, api_calls, chain_timeline, check_target, hard_failures,
                           longest_chain, parse_recap, parse_task_times, render_markdown, render_text, result_rows, slowest,
                           wait_chains)

PLAYBOOK_OUTPUT = """\
TASK [mlops.mlflow.mlflow_aws_fargate : Publish the outputs of the deployment] ***
ok: [localhost]

PLAY RECAP *********************************************************************
localhost                  : ok=59   changed=21   unreachable=0    failed=0    skipped=26   rescued=0    ignored=0

TASKS RECAP ********************************************************************
Sunday 22 November 2026  10:40:16 +0000 (0:00:00.070)       0:01:35.945 *******
===============================================================================
mlops.mlflow.mlflow_aws_fargate : Wait until every database instance is available -- 42.58s
mlops.mlflow.mlflow_aws_fargate : Create the security group of the load balancer --- 7.10s
Deploy MLflow on ECS Fargate - with a dash in its name ------------------------ 0.48s
[WARNING]: Deprecation warnings can be disabled by setting `deprecation_warnings=False` in ansible.cfg.
"""


def test_the_longest_chain_is_the_aurora_cluster_then_its_instance():
    figures = {key: LATENCY_FIGURES[key] for key in WAIT_DEPENDENCIES}
    chain = longest_chain(figures, WAIT_DEPENDENCIES, 0.1)
    assert chain == {"chain": ["rds:CreateDBCluster", "rds:CreateDBInstance"], "aws_seconds": 840, "seconds": 84.0}


def test_the_issue_figures_are_the_ones_configured():
    assert LATENCY_FIGURES["rds:CreateDBCluster"] == 480
    assert LATENCY_FIGURES["rds:CreateDBInstance"] == 360
    assert LATENCY_FIGURES["elbv2:CreateLoadBalancer"] == 180
    assert LATENCY_FIGURES["ecs:CreateService"] == 120
    assert TARGETS == {"fresh_seconds": 25.0, "noop_seconds": 12.0, "latency_ratio": 1.15}


def test_every_chain_ends_in_a_wait_nothing_follows_longest_first():
    chains = wait_chains(LATENCY_FIGURES, WAIT_DEPENDENCIES, 0.1)
    assert [item["chain"] for item in chains] == [["rds:CreateDBCluster", "rds:CreateDBInstance"],
                                                  ["elbv2:CreateLoadBalancer"], ["ecs:CreateService"]]
    assert [item["seconds"] for item in chains] == [84.0, 18.0, 12.0]


def test_a_service_behind_a_slow_load_balancer_would_make_a_longer_chain():
    figures = {"cluster": 10, "instance": 10, "balancer": 30, "service": 5}
    dependencies = {"cluster": (), "instance": ("cluster",), "balancer": (), "service": ("balancer",)}
    assert longest_chain(figures, dependencies) == {"chain": ["balancer", "service"], "aws_seconds": 35, "seconds": 35.0}


def test_a_circle_of_waits_is_refused():
    with pytest.raises(ValueError, match="circle"):
        wait_chains({"a": 1, "b": 1}, {"a": ("b",), "b": ("a",)})


def test_no_waits_no_chain():
    assert longest_chain({}, {}) == {"chain": [], "aws_seconds": 0, "seconds": 0.0}


def test_api_calls_are_counted_by_service_and_operation():
    entries = [
        {"service": "ec2", "operation": "CreateVpc", "mutating": True, "status": 200},
        {"service": "ec2", "operation": "DescribeVpcs", "mutating": False, "status": 200},
        {"service": "rds", "operation": "DescribeDBClusters", "mutating": False, "status": 404},
        {"service": None, "operation": None, "mutating": False, "status": 500},
    ]
    counts = api_calls(entries)
    assert counts["total"] == 4
    assert counts["mutating"] == 1
    assert counts["errors"] == 2
    assert counts["by_service"] == {"ec2": {"calls": 2, "mutating": 1}, "rds": {"calls": 1, "mutating": 0},
                                    "unknown": {"calls": 1, "mutating": 0}}
    assert counts["mutating_operations"] == {"ec2:CreateVpc": 1}


def test_the_recap_and_the_task_times_are_read_from_the_output():
    assert parse_recap(PLAYBOOK_OUTPUT) == {"ok": 59, "changed": 21, "unreachable": 0, "failed": 0, "skipped": 26,
                                            "rescued": 0, "ignored": 0}
    assert parse_recap("no recap here") is None
    assert parse_task_times(PLAYBOOK_OUTPUT) == [
        {"task": "mlops.mlflow.mlflow_aws_fargate : Wait until every database instance is available", "seconds": 42.58},
        {"task": "mlops.mlflow.mlflow_aws_fargate : Create the security group of the load balancer", "seconds": 7.1},
        {"task": "Deploy MLflow on ECS Fargate - with a dash in its name", "seconds": 0.48},
    ]
    assert parse_task_times("PLAY RECAP\n") == []


def test_the_slowest_tasks_come_first():
    times = [{"task": "a", "seconds": 1.0}, {"task": "b", "seconds": 3.0}, {"task": "c", "seconds": 2.0}]
    assert [item["task"] for item in slowest(times, 2)] == ["b", "c"]


def test_the_timeline_splits_the_wall_time_along_the_chain():
    entries = [
        {"service": "rds", "operation": "CreateDBCluster", "time": 1005.0, "status": 200},
        {"service": "rds", "operation": "CreateDBInstance", "time": 1059.0, "status": 400},
        {"service": "rds", "operation": "CreateDBInstance", "time": 1060.0, "status": 200},
        {"service": "rds", "operation": "CreateDBInstance", "time": 1061.0, "status": 200},
    ]
    chain = ["rds:CreateDBCluster", "rds:CreateDBInstance"]
    assert chain_timeline(entries, chain, 1000.0, 100.0, LATENCY_FIGURES, 0.1) == [
        {"segment": "start -> first rds:CreateDBCluster", "seconds": 5.0, "wait": 0.0, "excess": 5.0},
        {"segment": "rds:CreateDBCluster -> first rds:CreateDBInstance", "seconds": 55.0, "wait": 48.0, "excess": 7.0},
        {"segment": "rds:CreateDBInstance -> end of the run", "seconds": 40.0, "wait": 36.0, "excess": 4.0},
    ]
    assert chain_timeline(entries[:1], chain, 1000.0, 100.0, LATENCY_FIGURES, 0.1) == []


def test_targets():
    assert check_target(25.0, "<=", 25.0)
    assert not check_target(25.01, "<=", 25.0)
    assert check_target(0, "=", 0)
    assert not check_target(1, "=", 0)
    with pytest.raises(ValueError):
        check_target(1, ">", 0)


def _run(wall, changed, mutating=0, load=(1.0, 1.0, 1.0)):
    by_operation = {"ec2:CreateVpc": mutating} if mutating else {}
    return {"wall_seconds": wall, "changed": changed, "load_average_before": list(load),
            "cpu_seconds": {"ansible": round(wall * 0.8, 2), "proving_ground": None if mutating else 1.3},
            "api_calls": {"total": 10 + mutating, "mutating": mutating, "errors": 0,
                          "by_service": {"ec2": {"calls": 10 + mutating, "mutating": mutating}},
                          "by_operation": by_operation, "mutating_operations": by_operation},
            "task_times": [{"task": "a task", "seconds": 1.5}]}


def _report(fresh=20.0, noop=(10.0, 0), check_mutating=0, latency_wall=92.4):
    figures = {key: LATENCY_FIGURES[key] for key in WAIT_DEPENDENCIES}
    chain = longest_chain(figures, WAIT_DEPENDENCIES, 0.1)
    report = {
        "date": "2026-11-22 10:00 UTC", "commit": "abc1234", "tool": "tests/bench/fargate.py", "bench_minutes": 4.2,
        "json_path": "docs/benchmarks.json", "targets": dict(TARGETS),
        "machine": {"cpu": "AMD EPYC", "cores": 2, "memory_gib": 23.5, "os": "Debian", "python": "3.11.7",
                    "ansible_core": "2.19.14", "amazon.aws": "10.1.2", "community.aws": "10.0.0", "moto": "5.2.5",
                    "boto3": "1.44.5", "botocore": "1.44.5"},
        "baseline": _run(3.0, 0),
        "runs": {"fresh": _run(fresh, 21, 42, load=(2.5, 2.0, 1.5)), "noop": _run(*noop), "check": _run(8.0, 0, check_mutating),
                 "latency": _run(latency_wall, 21, 42)},
        "latency": {"scale": 0.1, "overrides": dict(LATENCY_FIGURES), "figures": figures,
                    "dependencies": {key: list(value) for key, value in WAIT_DEPENDENCIES.items()},
                    "longest_chain": chain, "ratio": round(latency_wall / chain["seconds"], 3),
                    "timeline": [{"segment": "start -> first rds:CreateDBCluster", "seconds": 5.0, "wait": 0.0, "excess": 5.0}]},
    }
    report["results"] = result_rows(report)
    return report


def test_the_table_says_which_targets_were_met():
    rows = {item["measurement"]: item for item in _report(fresh=26.0)["results"]}
    assert rows["Fresh deployment: wall time"]["passed"] is False
    assert rows["Fresh deployment: wall time"]["target"] == "<= 25 s"
    assert rows["Fresh deployment: wall time"]["load_average"] == [2.5, 2.0, 1.5]
    assert rows["No-op re-run: wall time"]["passed"] is True
    assert rows["No-op re-run: changed tasks"]["passed"] is True
    assert rows["Wall time / longest chain"]["value"] == 1.1
    assert rows["Wall time / longest chain"]["passed"] is True
    assert rows["Longest chain of dependent waits"]["shown"] == "84 s"
    assert rows["Fresh deployment: API calls"]["shown"] == "52 (42 mutating)"
    assert rows["Fresh deployment: changed tasks"]["passed"] is None


def test_a_ratio_above_the_target_is_missed():
    rows = {item["measurement"]: item for item in _report(latency_wall=100.0)["results"]}
    assert rows["Wall time / longest chain"]["shown"] == "1.19"
    assert rows["Wall time / longest chain"]["passed"] is False


def test_only_a_changing_noop_run_or_a_mutating_check_run_is_a_hard_failure():
    assert hard_failures(_report(fresh=99.0, latency_wall=500.0)) == []
    assert hard_failures(_report(noop=(10.0, 2))) == ["the no-op re-run changed 2 tasks"]
    assert hard_failures(_report(check_mutating=1)) == ["the --check run made mutating calls: {'ec2:CreateVpc': 1}"]


def test_the_markdown_and_the_text_table():
    report = _report(fresh=26.0)
    markdown = render_markdown(report)
    assert "| Fresh deployment: wall time | 26 s | <= 25 s | **MISSED** | 2.50 / 2.00 / 1.50 | 20.8 / ? |" in markdown
    assert "| No-op re-run: wall time | 10 s | <= 12 s | pass | 1.00 / 1.00 / 1.00 | 8.0 / 1.3 |" in markdown
    assert "| Longest chain of dependent waits | 84 s |  |  |  |  |" in markdown
    assert "- Aurora cluster then Aurora instance: (480 + 360) x 0.1 = 84 s" in markdown
    assert "- load balancer: 180 x 0.1 = 18 s" in markdown
    assert "| **total** | **52 (42)** | **10 (0)** | **10 (0)** | **52 (42)** |" in markdown
    assert "| 1 | a task | 1.50 |" in markdown
    assert "| start -> first rds:CreateDBCluster | 5 | 0 | 5 |" in markdown
    assert "Missed: Fresh deployment: wall time." in markdown
    assert "make bench" in markdown
    text = render_text(report["results"])
    assert "MISSED" in text and "`" not in text
