"""Run ansible-playbook on this collection, as a user would, from the tests.

``collections_tree(base)`` lays out ``base/ansible_collections/mlops/mlflow`` as a symlink to the
repository, so that Ansible (through ``ANSIBLE_COLLECTIONS_PATH``) and Python (through ``sys.path``)
find the collection under its real name. ``run_playbook`` runs ``ansible-playbook`` against localhost
with the test's Python as interpreter and the environment it is given (usually
``aws.child_environment()``, which points the AWS modules at the proving ground), with the JSON
callback, and returns the exit code, the output, every task's result and the recap counts.

    run = run_tasks(tmp_path, aws.child_environment(), [{"mlops.mlflow.ecs_mlflow_task_definition": {...}}])
    assert run.rc == 0, run.output
    assert run.recap["changed"] == 1
    result = run.result()          # the last task's result
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "mlops"
NAME = "mlflow"


def collections_tree(base: Path) -> Path:
    """``base`` with ``ansible_collections/mlops/mlflow`` -> the repository; returns ``base``.

    Put ``base`` in ``ANSIBLE_COLLECTIONS_PATH`` for Ansible, or in ``sys.path`` for Python imports of
    ``ansible_collections.mlops.mlflow``.
    """
    base = Path(base)
    link = base / "ansible_collections" / NAMESPACE / NAME
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        except FileExistsError:  # another process made it meanwhile
            pass
    return base


@dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run."""

    rc: int
    stdout: str
    stderr: str
    command: list = field(default_factory=list)
    document: Optional[dict] = None

    @property
    def output(self) -> str:
        """Everything the run printed, for assertion messages."""
        return "$ {0}\n{1}\n{2}".format(" ".join(self.command), self.stdout, self.stderr)

    @property
    def recap(self) -> dict:
        """localhost's counts: ok, changed, failures, skipped, unreachable, rescued, ignored."""
        if not self.document:
            return {}
        return self.document.get("stats", {}).get("localhost", {})

    @property
    def results(self) -> list:
        """Every task's result for localhost, in order, each with the task's name under ``_task``."""
        found = []
        for play in (self.document or {}).get("plays", []):
            for task in play.get("tasks", []):
                result = task.get("hosts", {}).get("localhost")
                if result is not None:
                    found.append(dict(result, _task=task.get("task", {}).get("name", "")))
        return found

    def result(self, index: int = -1) -> dict:
        """One task's result (the last by default)."""
        return self.results[index]


def run_playbook(workdir: Path, environment: dict, playbook: Any, extra_vars: Optional[dict] = None,
                 check: bool = False, diff: bool = False, timeout: int = 300,
                 extra_args: Optional[list] = None) -> PlaybookRun:
    """Run ``playbook`` (a path, or the plays as Python data) with ansible-playbook on localhost.

    ``workdir`` holds the playbook, the extra vars and the collections tree; a test's ``tmp_path``
    does. ``environment`` is the whole environment of the child process.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    collections_tree(workdir)
    if isinstance(playbook, (str, Path)) and Path(playbook).exists():
        playbook_path = Path(playbook)
    else:
        playbook_path = workdir / "playbook-{0}.yml".format(len(list(workdir.glob("playbook-*.yml"))))
        playbook_path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter={0}".format(sys.executable)]
    if extra_vars:
        vars_path = workdir / "extra-vars-{0}.json".format(len(list(workdir.glob("extra-vars-*.json"))))
        vars_path.write_text(json.dumps(extra_vars))
        command += ["-e", "@{0}".format(vars_path)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    command += list(extra_args or [])
    command.append(str(playbook_path))
    env = dict(environment)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(workdir),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_LOCAL_TEMP=str(workdir / ".ansible" / "tmp"),
        ANSIBLE_HOME=str(workdir / ".ansible"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(workdir), check=False)
    try:
        document = json.loads(completed.stdout)
    except ValueError:
        document = None
    return PlaybookRun(completed.returncode, completed.stdout, completed.stderr, command, document)


def run_tasks(workdir: Path, environment: dict, tasks: list, **options) -> PlaybookRun:
    """Run ``tasks`` as one play on localhost without fact gathering (options as for run_playbook)."""
    play = {"name": "test", "hosts": "localhost", "gather_facts": False, "tasks": tasks}
    return run_playbook(workdir, environment, [play], **options)


def import_path(base: Path) -> str:
    """Make ``ansible_collections.mlops.mlflow`` importable in this Python; returns the path added."""
    path = str(collections_tree(base))
    if path not in sys.path:
        sys.path.insert(0, path)
    return path


__all__ = ["PlaybookRun", "collections_tree", "import_path", "run_playbook", "run_tasks", "REPO_ROOT"]
