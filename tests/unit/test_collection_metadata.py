"""The collection's metadata agrees with itself and with what tools read from it."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def _yaml(name):
    return yaml.safe_load((REPO_ROOT / name).read_text())


def test_galaxy_metadata():
    galaxy = _yaml("galaxy.yml")
    assert (galaxy["namespace"], galaxy["name"], galaxy["version"]) == ("mlops", "mlflow", "0.1.0")
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    assert galaxy["dependencies"] == {"amazon.aws": ">=10.0.0", "community.aws": ">=10.0.0",
                                      "google.cloud": ">=1.4.0"}
    for ignored in (".venv", "dist", "tests/output"):
        assert ignored in galaxy["build_ignore"]


def test_requirements_yml_matches_galaxy_dependencies():
    wanted = {entry["name"]: entry["version"] for entry in _yaml("requirements.yml")["collections"]}
    assert wanted == _yaml("galaxy.yml")["dependencies"]


def test_action_group_holds_every_module():
    runtime = _yaml("meta/runtime.yml")
    assert runtime["requires_ansible"] == ">=2.18.0"
    modules = sorted(path.stem for path in (REPO_ROOT / "plugins" / "modules").glob("*.py")
                     if path.stem != "__init__")
    assert sorted(runtime["action_groups"]["mlflow"]) == modules


def test_execution_environment_dependencies_are_found_by_ansible_builder(tmp_path):
    ee = _yaml("meta/execution-environment.yml")
    collection = tmp_path / "ansible_collections" / "mlops" / "mlflow"
    (collection / "meta").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "meta" / "execution-environment.yml", collection / "meta")
    shutil.copy(REPO_ROOT / "galaxy.yml", collection)
    for name in ee["dependencies"].values():
        shutil.copy(REPO_ROOT / name, collection / name)
    builder = Path(sys.executable).with_name("ansible-builder")
    result = subprocess.run([str(builder), "introspect", str(tmp_path)], capture_output=True, text=True,
                            check=True, timeout=120)
    found = yaml.safe_load(result.stdout.split("\n", 1)[1])
    requirements = [line.split("#")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
                    if line.split("#")[0].strip()]
    assert sorted(entry.split("#")[0].strip() for entry in found["python"]) == sorted(requirements)
    assert found["system"] == []
