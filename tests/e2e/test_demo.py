"""`make demo-sagemaker` (the SageMaker MLflow demo, `make demo` until the Fargate role landed) does what the README says."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_logs_a_run_through_a_sagemaker_tracking_server_and_cleans_up(tmp_path):
    result = subprocess.run([sys.executable, "-m", "proving_ground.demo", "--workdir", str(tmp_path)],
                            cwd=TESTS_DIR, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout[result.stdout.index("{\n"):result.stdout.index("\n}\n") + 2])
    assert summary["statuses_seen"] == ["Creating", "Created"]
    assert summary["params"] == {"learning_rate": "0.01"}
    assert summary["metrics"] == {"accuracy": 0.93}
    assert [key for key in summary["artifact_objects"] if key.endswith("/artifacts/notes.txt")]
    assert result.stdout.rstrip().endswith("are stopped")
    # Nothing keeps running: the servers' processes are gone.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == ""
