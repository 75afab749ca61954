"""What `make bench` runs: how fast the role mlflow_aws_fargate deploys on the proving ground, and how many
AWS API calls it makes.

    cd tests && python -m bench.fargate [--markdown ../docs/benchmarks.md] [--json ../docs/benchmarks.json]

One run starts a proving ground of its own (fresh state directory, free ports), makes a VPC and three
subnets (one per availability zone) with boto3, writes a vars file from
playbooks/vars/mlflow_aws_fargate_minimal.yml with their ids and the region, and runs the playbook as a
user does (``ansible-playbook mlops.mlflow.mlflow_aws_fargate -e @vars.yml``, the collection found through
ANSIBLE_COLLECTIONS_PATH), with the ``ansible.posix.profile_tasks`` callback for per-task timings:

1. a fresh deployment, latency model off: wall time, changed tasks, API calls;
2. a no-op re-run: wall time, changed tasks (must be 0), API calls, the slowest tasks;
3. a ``--check`` run: wall time, changed tasks, API calls, of which mutating (must be 0);
4. with the latency model on (scale 0.1; Aurora cluster 480 s, Aurora instance 360 s, load balancer 180 s,
   ECS service deployment 120 s, in AWS seconds): a second, fresh stack; its wall time over the longest
   chain of waits that depend on each other (``longest_chain``).

API calls come from the proving ground's request log, cleared before each run. The load average is taken
before each run, so that a reader can judge a machine shared with other work. The table goes to stdout
and to the Markdown file, the raw numbers to the JSON file (docs/benchmarks.json by default).

Exit status: 0 when every run worked, even when a target is missed (the table says so); 1 when a run
failed, the no-op run changed something, or the check run made a mutating call.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Optional

import boto3
import yaml

from helpers.ansible import REPO_ROOT, collections_tree
from proving_ground.server import launch

PLAYBOOK = "mlops.mlflow.mlflow_aws_fargate"
EXAMPLE_VARS = REPO_ROOT / "playbooks" / "vars" / "mlflow_aws_fargate_minimal.yml"
DEFAULT_MARKDOWN = REPO_ROOT / "docs" / "benchmarks.md"
DEFAULT_JSON = REPO_ROOT / "docs" / "benchmarks.json"
STACK = "mlflow-bench"
LATENCY_STACK = "mlflow-bench-latency"
VPC_CIDR = "10.60.0.0/16"
ZONES = ("a", "b", "c")
RUN_TIMEOUT = 1800
TOP_TASKS = 10

TARGETS = {"fresh_seconds": 25.0, "noop_seconds": 12.0, "latency_ratio": 1.15}
LATENCY_SCALE = 0.1
# AWS seconds, set as latency_overrides so that the bench does not depend on the built-in figures of
# proving_ground.latency.AWS_DURATIONS. The latency model times every ECS deployment (CreateService and
# UpdateService) with the figure of ecs:CreateService; UpdateService is set too for clarity.
LATENCY_FIGURES = {
    "rds:CreateDBCluster": 480,
    "rds:CreateDBInstance": 360,
    "elbv2:CreateLoadBalancer": 180,
    "ecs:CreateService": 120,
    "ecs:UpdateService": 120,
}
# Which wait a wait of the role cannot start before: the role creates the Aurora instance once the cluster
# is available, so those two are a chain. The load balancer and the service's deployment need nothing of
# the database (the task definition names the cluster endpoint, known as soon as the cluster is created),
# and the service does not wait for the load balancer: both run while the cluster is being created.
WAIT_DEPENDENCIES = {
    "rds:CreateDBCluster": (),
    "rds:CreateDBInstance": ("rds:CreateDBCluster",),
    "elbv2:CreateLoadBalancer": (),
    "ecs:CreateService": (),
}
WAIT_NAMES = {
    "rds:CreateDBCluster": "Aurora cluster",
    "rds:CreateDBInstance": "Aurora instance",
    "elbv2:CreateLoadBalancer": "load balancer",
    "ecs:CreateService": "ECS service deployment",
    "ecs:UpdateService": "ECS service update",
}
RUN_TITLES = {
    "baseline": "Baseline: ansible-playbook with one AWS task",
    "fresh": "Fresh deployment",
    "noop": "No-op re-run",
    "check": "`--check` run",
    "latency": "Fresh deployment, latency model on",
}

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$")
TASK_TIME_LINE = re.compile(r"^(?P<task>.*?) -+ (?P<seconds>\d+\.\d+)s$")


class RunFailed(Exception):
    """An ansible-playbook run of the bench failed: no numbers to report."""


# --- pure computations (tests/unit/test_bench.py) -----------------------------------------------------------------------


def wait_chains(figures: dict, dependencies: dict, scale: float = 1.0) -> list:
    """The chains of waits in ``dependencies`` ({wait: the waits it starts after}), each wait lasting
    ``figures[wait]`` AWS seconds: for every wait that no other wait follows, the longest chain that ends
    with it, as ``{"chain": [first, ..., it], "aws_seconds": ..., "seconds": aws_seconds * scale}``,
    longest first."""
    finished: dict = {}

    def finish(wait: str, path: tuple) -> tuple:
        if wait in path:
            raise ValueError("the waits depend on each other in a circle: " + " -> ".join(path + (wait,)))
        if wait not in finished:
            before = [finish(earlier, path + (wait,)) for earlier in dependencies.get(wait, ())]
            aws_seconds, chain = max(before, key=lambda item: item[0], default=(0, []))
            finished[wait] = (aws_seconds + figures[wait], chain + [wait])
        return finished[wait]

    for wait in dependencies:
        finish(wait, ())
    followed = {earlier for waits in dependencies.values() for earlier in waits}
    ends = [finished[wait] for wait in dependencies if wait not in followed]
    return [{"chain": chain, "aws_seconds": aws_seconds, "seconds": round(aws_seconds * scale, 3)}
            for aws_seconds, chain in sorted(ends, key=lambda item: -item[0])]


def longest_chain(figures: dict, dependencies: dict, scale: float = 1.0) -> dict:
    """The longest of ``wait_chains``: how long a deployment must wait at least, however well it overlaps."""
    chains = wait_chains(figures, dependencies, scale)
    return chains[0] if chains else {"chain": [], "aws_seconds": 0, "seconds": 0.0}


def api_calls(entries: list) -> dict:
    """Counts of the request log's ``entries``: total, mutating, errors (HTTP 400 and up), by service and
    by operation."""
    by_service: dict = {}
    for entry in entries:
        counts = by_service.setdefault(entry.get("service") or "unknown", {"calls": 0, "mutating": 0})
        counts["calls"] += 1
        counts["mutating"] += 1 if entry.get("mutating") else 0
    operations = Counter(f"{entry.get('service')}:{entry.get('operation')}" for entry in entries)
    mutating = Counter(f"{entry.get('service')}:{entry.get('operation')}" for entry in entries if entry.get("mutating"))
    return {
        "total": len(entries),
        "mutating": sum(mutating.values()),
        "errors": sum(1 for entry in entries if int(entry.get("status") or 0) >= 400),
        "by_service": dict(sorted(by_service.items())),
        "by_operation": dict(operations.most_common()),
        "mutating_operations": dict(mutating.most_common()),
    }


def parse_recap(output: str, host: str = "localhost") -> Optional[dict]:
    """The PLAY RECAP counts of ``host`` in ansible-playbook's default output (None when missing)."""
    found = None
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = RECAP_LINE.match(line.strip()) if in_recap else None
        if match and match.group("host") == host:
            found = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group("counts"))}
    return found


def parse_task_times(output: str) -> list:
    """The summary of the ansible.posix.profile_tasks callback: ``[{"task": ..., "seconds": ...}]`` in the
    order printed (the order the tasks ran in with PROFILE_TASKS_SORT_ORDER=none)."""
    lines = output.splitlines()
    start = next((index for index, line in enumerate(lines) if line.startswith("TASKS RECAP")), None)
    if start is None:
        return []
    times = []
    for line in lines[start + 1:]:
        if not line.strip():
            if times:
                break
            continue
        match = TASK_TIME_LINE.match(line.rstrip())
        if match:
            times.append({"task": match.group("task").strip(), "seconds": float(match.group("seconds"))})
    return times


def slowest(times: list, count: int) -> list:
    return sorted(times, key=lambda item: -item["seconds"])[:count]


def chain_timeline(entries: list, chain: list, started: float, wall_seconds: float, figures: dict, scale: float) -> list:
    """Where the wall time of a run went along the longest chain of waits, from the request log: the time
    before the chain's first call, from each call of the chain to the next, and from the last to the end
    of the run; each segment with the wait the latency model imposes on it (``wait``, 0 before the chain)
    and the rest (``excess``: the role's own work and polling). ``started``: the run's start (epoch)."""
    marks = []
    for operation in chain:
        service, name = operation.split(":", 1)
        times = [entry["time"] for entry in entries if entry.get("service") == service and entry.get("operation") == name
                 and int(entry.get("status") or 0) < 400]
        if not times:
            return []
        marks.append((operation, min(times) - started))
    segments = [{"segment": f"start -> first {marks[0][0]}", "seconds": marks[0][1], "wait": 0.0}]
    ends = marks[1:] + [("end of the run", wall_seconds)]
    for (operation, at), (following, until) in zip(marks, ends):
        segments.append({"segment": f"{operation} -> {following}" if following.startswith("end") else f"{operation} -> first {following}",
                         "seconds": until - at, "wait": figures[operation] * scale})
    return [{"segment": item["segment"], "seconds": round(item["seconds"], 2), "wait": round(item["wait"], 2),
             "excess": round(item["seconds"] - item["wait"], 2)} for item in segments]


def check_target(value: float, operator: str, bound: float) -> bool:
    if operator == "<=":
        return value <= bound
    if operator == "=":
        return value == bound
    raise ValueError(f"unknown operator {operator!r}")


def result_rows(report: dict) -> list:
    """The table: one row per measurement with the value as shown, its target and whether it was met
    (``passed`` None: no target), and the load average before the run it comes from."""
    runs, latency, targets = report["runs"], report["latency"], report["targets"]

    def row(name, value, unit="", target=None, run=None, shown=None):
        operator, bound = target if target else (None, None)
        return {"measurement": name, "value": value, "shown": shown or f"{_number(value)}{unit}",
                "target": f"{operator} {_number(bound)}{unit}" if target else "",
                "passed": check_target(value, operator, bound) if target else None,
                "load_average": run["load_average_before"] if run else None,
                "cpu_seconds": run.get("cpu_seconds") if run else None}

    def calls(name, run):
        counts = run["api_calls"]
        return row(f"{name}: API calls", counts["total"], shown=f"{counts['total']} ({counts['mutating']} mutating)")

    fresh, noop, check, slow = runs["fresh"], runs["noop"], runs["check"], runs["latency"]
    return [
        row("Baseline: ansible-playbook with one AWS task, wall time", report["baseline"]["wall_seconds"], " s", None,
            report["baseline"]),
        row("Fresh deployment: wall time", fresh["wall_seconds"], " s", ("<=", targets["fresh_seconds"]), fresh),
        row("Fresh deployment: changed tasks", fresh["changed"]),
        calls("Fresh deployment", fresh),
        row("No-op re-run: wall time", noop["wall_seconds"], " s", ("<=", targets["noop_seconds"]), noop),
        row("No-op re-run: changed tasks", noop["changed"], "", ("=", 0)),
        calls("No-op re-run", noop),
        row("`--check` run: wall time", check["wall_seconds"], " s", None, check),
        row("`--check` run: changed tasks", check["changed"]),
        calls("`--check` run", check),
        row("`--check` run: mutating API calls", check["api_calls"]["mutating"], "", ("=", 0)),
        row("Latency model on, fresh stack: wall time", slow["wall_seconds"], " s", None, slow),
        row("Longest chain of dependent waits", latency["longest_chain"]["seconds"], " s"),
        row("Wall time / longest chain", latency["ratio"], "", ("<=", targets["latency_ratio"])),
    ]


def hard_failures(report: dict) -> list:
    """What makes the bench exit non-zero (a missed target does not)."""
    failures = []
    if report["runs"]["noop"]["changed"] != 0:
        failures.append(f"the no-op re-run changed {report['runs']['noop']['changed']} tasks")
    mutating = report["runs"]["check"]["api_calls"]["mutating_operations"]
    if mutating:
        failures.append(f"the --check run made mutating calls: {mutating}")
    return failures


def _number(value) -> str:
    """At most two decimals, none when they are zeros: 84.0 -> "84", 1.1349 -> "1.13"."""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _load(values) -> str:
    return " / ".join(f"{value:.2f}" for value in values) if values else ""


def _verdict(passed) -> str:
    return "" if passed is None else ("pass" if passed else "**MISSED**")


def _cpu(seconds) -> str:
    if not seconds:
        return ""
    return " / ".join("?" if seconds.get(key) is None else f"{seconds[key]:.1f}" for key in ("ansible", "proving_ground"))


def render_table(rows: list) -> list:
    lines = ["| Measurement | Measured | Target | Result | Load average before (1 / 5 / 15 min) | CPU seconds used (Ansible / proving ground) |",
             "| --- | ---: | --- | --- | --- | --- |"]
    for item in rows:
        lines.append(f"| {item['measurement']} | {item['shown']} | {item['target']} | "
                     f"{_verdict(item['passed'])} | {_load(item['load_average'])} | {_cpu(item.get('cpu_seconds'))} |")
    return lines


def render_text(rows: list) -> str:
    """The table for a terminal."""
    cells = [("Measurement", "Measured", "Target", "Result", "Load before", "CPU s (Ansible / proving ground)")]
    cells += [(item["measurement"].replace("`", ""), item["shown"], item["target"],
               "" if item["passed"] is None else ("pass" if item["passed"] else "MISSED"), _load(item["load_average"]),
               _cpu(item.get("cpu_seconds")))
              for item in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(cells[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells)


def render_markdown(report: dict) -> str:
    rows = report["results"]
    machine, runs, latency = report["machine"], report["runs"], report["latency"]
    missed = [item["measurement"] for item in rows if item["passed"] is False]
    lines = [
        "# Benchmarks: mlflow_aws_fargate on the proving ground",
        "",
        f"Written by `make bench` ({report['tool']}); the raw numbers are in `{report['json_path']}`. Do not edit by hand:",
        "run `make bench` again.",
        "",
        f"Run on {report['date']} at commit {report['commit']}.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {machine['cpu']} ({machine['cores']} cores) |",
        f"| Memory | {machine['memory_gib']} GiB |",
        f"| OS | {machine['os']} |",
        f"| Python | {machine['python']} |",
        f"| ansible-core | {machine['ansible_core']} |",
        f"| amazon.aws / community.aws | {machine['amazon.aws']} / {machine['community.aws']} |",
        f"| moto | {machine['moto']} |",
        f"| boto3 / botocore | {machine['boto3']} / {machine['botocore']} |",
        "",
        f"The machine may be shared with other work, so the table gives, for each run, the load average before it (on {machine['cores']}",
        f"cores, a load above {machine['cores']} means processes waited for a CPU) and the CPU seconds the run used: those of",
        "`ansible-playbook` and every process it started, and those of the proving ground while it answered. Ansible runs",
        "one task at a time against localhost, so on an idle machine a run's wall time is close to the sum of the two",
        "(plus the waits of the latency model); a wall time well above that sum is time spent waiting for a CPU.",
        "",
        "## Results",
        "",
    ]
    lines += render_table(rows)
    lines += [
        "",
        ("Every target met." if not missed else "Missed: " + "; ".join(missed) + "."),
        "",
        "How it runs: a proving ground of its own (fresh state, free ports), a VPC and three subnets in three",
        "availability zones made with boto3, a vars file made from `playbooks/vars/mlflow_aws_fargate_minimal.yml`",
        "with their ids and the region, and `ansible-playbook mlops.mlflow.mlflow_aws_fargate -e @vars.yml` as a user",
        "runs it (wall time of the whole command, Ansible's start included). The first three runs have the latency",
        "model off (every resource is ready at once), so they measure the role and the API calls alone.",
        "",
        "### Longest chain of dependent waits",
        "",
        f"The fourth run deploys a second, fresh stack with `latency_scale` {_number(latency['scale'])} and `latency_overrides`",
        "(AWS seconds) " + ", ".join(f"{WAIT_NAMES.get(key, key)} `{key}` {value}" for key, value in latency["overrides"].items()) + ".",
        "The role creates the Aurora instance only once the cluster is available, so those two waits form a chain;",
        "the load balancer and the service's deployment need nothing of the database (the task definition names the",
        "cluster endpoint, known as soon as the cluster is created) and the service does not wait for the load",
        "balancer, so both run while the cluster is being created. The chains, in wall-clock seconds:",
        "",
    ]
    for chain in wait_chains(latency["figures"], latency["dependencies"], latency["scale"]):
        terms = " + ".join(str(latency["figures"][key]) for key in chain["chain"])
        terms = f"({terms})" if len(chain["chain"]) > 1 else terms
        names = " then ".join(WAIT_NAMES.get(key, key) for key in chain["chain"])
        lines.append(f"- {names}: {terms} x {_number(latency['scale'])} = {_number(chain['seconds'])} s")
    lines += [
        "",
        f"max = {_number(latency['longest_chain']['seconds'])} s; wall time {_number(runs['latency']['wall_seconds'])} s; "
        f"ratio {_number(latency['ratio'])} (1.0 would mean the role adds nothing to the waits AWS imposes).",
        "",
    ]
    if latency.get("timeline"):
        lines += [
            "Where the wall time went along that chain (from the request log: the first successful call of each",
            "operation of the chain; \"wait\" is what the latency model imposes, the rest is the role's own work, Ansible's",
            "start-up and the polling interval):",
            "",
            "| From -> to | Seconds | Wait | Rest |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [f"| {item['segment']} | {_number(float(item['seconds']))} | {_number(float(item['wait']))} | "
                  f"{_number(float(item['excess']))} |" for item in latency["timeline"]]
        lines.append("")
    lines += [
        "## API calls per run",
        "",
        "From the proving ground's request log, cleared before each run: calls (of which mutating).",
        "",
        "| Service | " + " | ".join(RUN_TITLES[name] for name in runs) + " |",
        "| --- | " + " | ".join("---:" for name in runs) + " |",
    ]
    services = sorted({service for run in runs.values() for service in run["api_calls"]["by_service"]})
    for service in services:
        cells = []
        for run in runs.values():
            counts = run["api_calls"]["by_service"].get(service, {"calls": 0, "mutating": 0})
            cells.append(f"{counts['calls']} ({counts['mutating']})")
        lines.append(f"| {service} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{run['api_calls']['total']} ({run['api_calls']['mutating']})**"
                                               for run in runs.values()) + " |")
    lines.append("| answered with an error (4xx/5xx) | " + " | ".join(str(run["api_calls"]["errors"]) for run in runs.values()) + " |")
    lines += [
        "",
        f"## The {TOP_TASKS} slowest tasks of the no-op re-run",
        "",
        "From `ansible.posix.profile_tasks` (the time between one task's start and the next's); where a no-op run",
        "spends its time is where optimisation pays.",
        "",
    ]
    lines += _task_table(slowest(runs["noop"]["task_times"], TOP_TASKS))
    lines += [
        "",
        "## The 5 slowest tasks of the run with the latency model on",
        "",
    ]
    lines += _task_table(slowest(runs["latency"]["task_times"], 5))
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench",
        "```",
        "",
        "It needs nothing but the virtualenv (`make venv`): the bench starts and stops its own proving ground on",
        "free ports, so it can run next to `make emulators` or the tests. This run took "
        f"{_number(report['bench_minutes'])} minutes. It exits non-zero only when a run fails, the no-op re-run changes",
        "something, or the `--check` run makes a mutating call; a missed target shows in the table.",
        "",
    ]
    return "\n".join(lines)


def _task_table(times: list) -> list:
    lines = ["| # | Task | Seconds |", "| ---: | --- | ---: |"]
    for index, item in enumerate(times, 1):
        lines.append(f"| {index} | {item['task'].replace('|', '/')} | {item['seconds']:.2f} |")
    return lines


# --- the machine --------------------------------------------------------------------------------------------------------


def machine_info() -> dict:
    from ansible.release import __version__ as ansible_core  # pylint: disable=import-outside-toplevel

    cpu = platform.processor() or "unknown"
    memory_gib = None
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
        memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
        memory_gib = round(memory_kib / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{_os_name()}, {platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "ansible_core": ansible_core,
        "amazon.aws": _collection_version("amazon", "aws"),
        "community.aws": _collection_version("community", "aws"),
        "ansible.posix": _collection_version("ansible", "posix"),
        "moto": _package_version("moto"),
        "boto3": _package_version("boto3"),
        "botocore": _package_version("botocore"),
    }


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _collection_version(namespace: str, name: str) -> str:
    """The version ansible-playbook uses here: the collections it finds on sys.path (the ``ansible`` package's)."""
    for entry in sys.path:
        manifest = Path(entry or ".") / "ansible_collections" / namespace / name / "MANIFEST.json"
        if manifest.is_file():
            return json.loads(manifest.read_text())["collection_info"]["version"]
    return "not installed"


def _commit() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (working tree with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")


def _children_cpu() -> float:
    """CPU seconds (user and system) of this process's finished children and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> Optional[float]:
    """CPU seconds (user and system) a running process has used so far (Linux; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def load_average() -> list:
    return [round(value, 2) for value in os.getloadavg()]


# --- the runs -----------------------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.running = None
        self.environment: dict = {}
        self.requests: dict = {}  # label -> the request log of that run

    def start(self) -> None:
        state_dir = self.workdir / "proving_ground"
        shutil.rmtree(state_dir, ignore_errors=True)
        self.running = launch(state_dir)
        collections_tree(self.workdir)
        self.environment = {key: value for key, value in os.environ.items()
                            if not key.startswith(("AWS_", "BOTO_", "ANSIBLE_", "PROFILE_TASKS_"))}
        self.environment.update(self.running.environment)
        self.environment.update(
            ANSIBLE_COLLECTIONS_PATH=str(self.workdir),
            ANSIBLE_HOME=str(self.workdir / ".ansible"),
            ANSIBLE_LOCAL_TEMP=str(self.workdir / ".ansible" / "tmp"),
            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
            ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
            PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
            PROFILE_TASKS_SORT_ORDER="none",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            PYTHONDONTWRITEBYTECODE="1",
        )

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None

    def make_network(self, region: str) -> dict:
        """A VPC and one subnet in each of three availability zones; returns their ids."""
        env = self.running.environment
        ec2 = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=env.get("AWS_SESSION_TOKEN"), region_name=region).client(
            "ec2", endpoint_url=self.running.endpoint, verify=env.get("AWS_CA_BUNDLE"))
        vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
        subnet_ids = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.60.{index}.0/24",
                                        AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
                      for index, zone in enumerate(ZONES, 1)]
        return {"vpc_id": vpc_id, "subnet_ids": subnet_ids}

    def write_vars(self, name: str, region: str, network: dict) -> Path:
        """The minimal example with this stack's name, region, VPC and subnets (the three subnets serve the
        load balancer, the tasks and the database alike)."""
        variables = yaml.safe_load(EXAMPLE_VARS.read_text())
        variables.update({
            "mlflow_aws_fargate_name": name,
            "mlflow_aws_fargate_region": region,
            "mlflow_aws_fargate_vpc_id": network["vpc_id"],
            "mlflow_aws_fargate_load_balancer_subnet_ids": list(network["subnet_ids"]),
            "mlflow_aws_fargate_service_subnet_ids": list(network["subnet_ids"]),
            "mlflow_aws_fargate_database_subnet_ids": list(network["subnet_ids"]),
        })
        path = self.workdir / f"{name}.yml"
        path.write_text("---\n" + yaml.safe_dump(variables, sort_keys=False))
        return path

    def write_baseline(self, region: str) -> Path:
        """A playbook of one AWS task: what starting ansible-playbook and one module costs on this machine."""
        play = {"name": "Baseline", "hosts": "localhost", "connection": "local", "gather_facts": False,
                "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                "tasks": [{"name": "Find the account", "amazon.aws.aws_caller_info": {"region": region}}]}
        path = self.workdir / "baseline.yml"
        path.write_text("---\n" + yaml.safe_dump([play], sort_keys=False))
        return path

    def run(self, label: str, vars_file: Optional[Path], check: bool = False, playbook: str = PLAYBOOK) -> dict:
        """One ansible-playbook run, timed, with the API calls it made (the request log is cleared first)."""
        command = [str(Path(sys.executable).with_name("ansible-playbook")), playbook]
        if vars_file:
            command += ["-e", f"@{vars_file}"]
        if check:
            command.append("--check")
        self.running.client.clear_requests()
        load = load_average()
        children_before, server_before = _children_cpu(), _process_cpu(self.running.process.pid)
        print(f"==> {RUN_TITLES[label].replace('`', '')}: {' '.join(command[1:])} (load average {_load(load)})", flush=True)
        started, started_epoch = time.monotonic(), time.time()
        completed = subprocess.run(command, env=self.environment, cwd=str(self.workdir), capture_output=True, text=True,
                                   timeout=RUN_TIMEOUT, check=False)
        wall_seconds = round(time.monotonic() - started, 2)
        server_after = _process_cpu(self.running.process.pid)
        cpu_seconds = {"ansible": round(_children_cpu() - children_before, 2),
                       "proving_ground": round(server_after - server_before, 2) if None not in (server_before, server_after) else None}
        entries = self.requests[label] = self.running.client.requests()
        log = self.workdir / f"{label}.log"
        log.write_text(completed.stdout + completed.stderr)
        recap = parse_recap(completed.stdout)
        task_times = parse_task_times(completed.stdout)
        if completed.returncode != 0 or recap is None:
            tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-60:])
            raise RunFailed(f"{RUN_TITLES[label]} failed (exit code {completed.returncode}); log: {log}\n{tail}")
        result = {
            "command": ["ansible-playbook"] + command[1:],
            "stack": vars_file.stem if vars_file else None,
            "check": check,
            "rc": completed.returncode,
            "wall_seconds": wall_seconds,
            "load_average_before": load,
            "cpu_seconds": cpu_seconds,
            "recap": recap,
            "changed": recap.get("changed"),
            "api_calls": api_calls(entries),
            "started_epoch": started_epoch,
            "task_times": task_times,
            "tasks_seconds_total": round(sum(item["seconds"] for item in task_times), 2),
        }
        print(f"    {wall_seconds:.1f} s, changed={result['changed']}, {result['api_calls']['total']} API calls "
              f"({result['api_calls']['mutating']} mutating), CPU seconds {_cpu(cpu_seconds)} (Ansible / proving ground)", flush=True)
        return result

    def configure_latency(self) -> dict:
        self.running.client.configure(latency_scale=LATENCY_SCALE, latency_overrides=dict(LATENCY_FIGURES))
        settings = self.running.client.settings()
        settings = settings.get("settings", settings)
        if float(settings["latency_scale"]) != LATENCY_SCALE or settings["latency_overrides"] != LATENCY_FIGURES:
            raise RunFailed(f"the proving ground did not take the latency settings: {settings}")
        return {"latency_scale": settings["latency_scale"], "latency_overrides": settings["latency_overrides"]}


def measure(workdir: Path) -> dict:
    example = yaml.safe_load(EXAMPLE_VARS.read_text())
    region = example.get("mlflow_aws_fargate_region") or "us-east-1"
    bench = Bench(workdir)
    print("==> starting a proving ground of its own", flush=True)
    bench.start()
    try:
        network = bench.make_network(region)
        print(f"    {bench.running.endpoint}; VPC {network['vpc_id']}, subnets {', '.join(network['subnet_ids'])} in {region}",
              flush=True)
        baseline = bench.run("baseline", None, playbook=str(bench.write_baseline(region)))
        vars_file = bench.write_vars(STACK, region, network)
        runs = {
            "fresh": bench.run("fresh", vars_file),
            "noop": bench.run("noop", vars_file),
            "check": bench.run("check", vars_file, check=True),
        }
        settings = bench.configure_latency()
        runs["latency"] = bench.run("latency", bench.write_vars(LATENCY_STACK, region, network))
    finally:
        print("==> stopping the proving ground", flush=True)
        bench.stop()
    figures = {key: settings["latency_overrides"][key] for key in WAIT_DEPENDENCIES}
    scale = float(settings["latency_scale"])
    chain = longest_chain(figures, WAIT_DEPENDENCIES, scale)
    timeline = chain_timeline(bench.requests["latency"], chain["chain"], runs["latency"]["started_epoch"],
                              runs["latency"]["wall_seconds"], figures, scale)
    return {
        "region": region,
        "network": network,
        "baseline": baseline,
        "runs": runs,
        "latency": {
            "scale": scale,
            "overrides": settings["latency_overrides"],
            "figures": figures,
            "dependencies": {key: list(value) for key, value in WAIT_DEPENDENCIES.items()},
            "longest_chain": chain,
            "ratio": round(runs["latency"]["wall_seconds"] / chain["seconds"], 3),
            "timeline": timeline,
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fargate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", default=str(DEFAULT_MARKDOWN), help="where the table goes (default: %(default)s)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where the raw numbers go (default: %(default)s)")
    parser.add_argument("--workdir", help="where the proving ground, the vars files and the run logs go "
                                          "(default: a temporary directory, removed unless a run failed)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="mlops-bench-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        measured = measure(workdir)
    except RunFailed as error:
        print(f"bench: {error}\nbench: logs kept in {workdir}", file=sys.stderr)
        return 1
    bench_minutes = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds() / 60, 1)
    json_path, markdown_path = Path(args.json).resolve(), Path(args.markdown).resolve()
    report = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "tool": "tests/bench/fargate.py",
        "bench_minutes": bench_minutes,
        "json_path": _relative(json_path),
        "machine": machine_info(),
        "targets": dict(TARGETS),
    }
    report.update(measured)
    report["results"] = result_rows(report)
    report["hard_failures"] = hard_failures(report)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(render_markdown(report))
    print()
    print(render_text(report["results"]))
    print(f"\nwritten: {_relative(markdown_path)}, {_relative(json_path)}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    for failure in report["hard_failures"]:
        print(f"bench: {failure}", file=sys.stderr)
    return 1 if report["hard_failures"] else 0


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
