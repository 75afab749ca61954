"""`make demo` and `make demo-down` (proving_ground.fargate_demo) do what the README says.

The demo runs in a subprocess as make runs it, with a state directory and a port of its own (so a demo
a developer left running on 127.0.0.1:5000 is not disturbed): the role mlflow_aws_fargate deployed with
its minimal example on a proving ground, the deployment run here, MLflow still answering after `up`
returned, the demo run visible through MLflow's REST API; then `down` stops every process it started.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from proving_ground.databases import free_port

TESTS_DIR = Path(__file__).resolve().parents[1]
DEMO = [sys.executable, "-m", "proving_ground.fargate_demo"]


def demo(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MLOPS_DEMO_"))}
    return subprocess.run(DEMO + list(args), cwd=TESTS_DIR, env=environment, capture_output=True, text=True, timeout=timeout,
                          check=False)


def request(port: int, path: str, method: str = "GET", body=None) -> tuple:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json"} if body is not None else {})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def processes_of(directory: Path) -> list:
    """Processes whose command line names ``directory`` or whose working directory is in it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if alive(int(entry.name)) and (str(directory) in command or cwd.startswith(str(directory))):
            found.append(f"{entry.name}: {command[:200]}")
    return found


@pytest.fixture
def demo_dir(tmp_path):
    state_dir = tmp_path / "demo"
    yield state_dir
    demo("down", "--state-dir", str(state_dir), timeout=300)  # whatever happened, nothing keeps running


def test_make_demo_says_so_when_its_port_is_taken(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = demo("up", "--state-dir", str(tmp_path / "demo"), "--port", str(port), timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"127.0.0.1:{port} is taken" in result.stderr
    assert "MLOPS_DEMO_PORT=" in result.stderr
    assert not (tmp_path / "demo").exists()  # it started nothing


def test_make_demo_down_without_a_demo_says_there_is_nothing_to_stop(tmp_path):
    result = demo("down", "--state-dir", str(tmp_path / "demo"), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to stop" in result.stdout


@pytest.mark.slow
def test_make_demo_deploys_the_role_and_leaves_mlflow_running_until_make_demo_down(demo_dir):
    port = free_port()
    up = demo("up", "--state-dir", str(demo_dir), "--port", str(port))
    assert up.returncode == 0, up.stdout + up.stderr
    url = f"http://127.0.0.1:{port}"

    # It printed the role's outputs, the UI and how to stop it.
    outputs = json.loads((demo_dir / "outputs.json").read_text())
    assert outputs["backend_store"] == "aurora-postgresql"
    for key in ("tracking_uri", "load_balancer_dns_name", "bucket_name", "database_endpoint", "service_name"):
        assert f"  {key} " in up.stdout and str(outputs[key]) in up.stdout, key
    assert f"UI and tracking URI   {url}" in up.stdout
    assert "make demo-down" in up.stdout
    written = (demo_dir / "vars.yml").read_text()
    assert outputs["region"] in written and "mlflow_aws_fargate_vpc_id: vpc-" in written

    # `up` has returned: MLflow answers through the load balancer, with the demo run in it.
    status, page = request(port, "/")
    assert status == 200 and "<title>MLflow</title>" in page
    status, body = request(port, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=demo")
    assert status == 200, body
    experiment_id = json.loads(body)["experiment"]["experiment_id"]
    status, body = request(port, "/api/2.0/mlflow/runs/search", "POST", {"experiment_ids": [experiment_id]})
    assert status == 200, body
    (run,) = json.loads(body)["runs"]
    assert {param["key"]: param["value"] for param in run["data"]["params"]} == {"learning_rate": "0.01", "epochs": "10",
                                                                                 "optimizer": "adam"}
    assert {metric["key"] for metric in run["data"]["metrics"]} == {"loss", "accuracy"}
    assert run["info"]["status"] == "FINISHED"
    status, body = request(port, f"/api/2.0/mlflow/artifacts/list?run_id={run['info']['run_id']}")
    assert status == 200 and [entry["path"] for entry in json.loads(body)["files"]] == ["notes.md"], body
    assert f"{url}/#/experiments/{experiment_id}/runs/{run['info']['run_id']}" in up.stdout

    # A second `make demo` says that one runs, and leaves it alone.
    again = demo("up", "--state-dir", str(demo_dir), "--port", str(port), timeout=120)
    assert again.returncode == 0 and "already runs" in again.stdout, again.stdout + again.stderr
    assert request(port, "/health")[0] == 200

    children = json.loads((demo_dir / "children.json").read_text())
    pids = {"supervisor": children["supervisor"], "PostgreSQL": children["postgres"], "task": children["tasks"][0],
            "proving ground": json.loads((demo_dir / "proving_ground" / "ready.json").read_text())["pid"]}
    assert [name for name, pid in pids.items() if not alive(pid)] == []

    down = demo("down", "--state-dir", str(demo_dir), timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert processes_of(demo_dir) == []
    assert not demo_dir.exists()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # the load balancer let go of its port
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
