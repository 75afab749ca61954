"""What the end-to-end tests do with a real MLflow client once a tracking server answers."""

from __future__ import annotations

import uuid
from pathlib import Path


def log_a_run(experiment_prefix: str, tmp_path: Path) -> tuple:
    """Create an experiment and log a param, a metric (with a step) and an artifact file to the
    tracking URI MLflow is configured with; return (run_id, experiment_id)."""
    import mlflow  # imported late: it takes seconds

    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(f"{experiment_prefix}-{uuid.uuid4().hex[:8]}")
    report = tmp_path / "summary.txt"
    report.write_text("rmse went down\n")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_metric("rmse", 0.25, step=3)
        mlflow.log_artifact(str(report), artifact_path="reports")
    return run.info.run_id, experiment_id
