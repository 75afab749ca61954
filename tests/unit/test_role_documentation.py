"""Every role documents every variable it has, in its argument spec and in its README, and nothing else.

For each role under ``roles/``: each variable of ``defaults/main.yml`` is an option of
``meta/argument_specs.yml`` with exactly the same default (value and type) and is named in the role's
``README.md``; each option of the argument spec is a variable of ``defaults/main.yml``; the defaults pass
the role's own argument spec (the validation Ansible runs before the role's first task); every option
and suboption has a description and a type.

A required option has no default in the argument spec. ``defaults/main.yml`` may still hold an empty
placeholder for it (``""`` or null), so that the role's own checks can name the problem.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.parent.parent.name for path in (REPO_ROOT / "roles").glob("*/defaults/main.yml"))
# The keys of an argument spec option that ArgumentSpecValidator knows; the rest is documentation.
VALIDATOR_KEYS = {"type", "elements", "default", "choices", "required", "no_log", "aliases", "apply_defaults",
                  "options", "mutually_exclusive", "required_together", "required_one_of", "required_if",
                  "required_by", "fallback", "removed_in_version", "removed_at_date", "removed_from_collection",
                  "deprecated_aliases"}
# Option names whose values are secrets wherever they appear.
SECRET_NAMES = {"client_secret", "password", "secret", "token", "api_key", "secret_key"}
PLACEHOLDERS = ("", None)


def _load(path: Path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


def _defaults(role: str) -> dict:
    return _load(REPO_ROOT / "roles" / role / "defaults" / "main.yml") or {}


def _entry_points(role: str) -> dict:
    document = _load(REPO_ROOT / "roles" / role / "meta" / "argument_specs.yml")
    assert document, "roles/{0}/meta/argument_specs.yml is missing or empty".format(role)
    return document["argument_specs"]


def _options(role: str) -> dict:
    return _entry_points(role)["main"].get("options") or {}


def _same(left, right) -> bool:
    """Equal in value and in type, all the way down (True is not 1, 4 is not 4.0, "" is not None)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right))
    return left == right


def _walk(options: dict, prefix: str = ""):
    """Every option and suboption as (dotted name, spec)."""
    for name, spec in options.items():
        yield prefix + name, spec
        yield from _walk(spec.get("options") or {}, prefix + name + ".")


def _validator_spec(options: dict) -> dict:
    """The argument spec as validate_argument_spec hands it to ArgumentSpecValidator."""
    spec = {}
    for name, option in options.items():
        spec[name] = {key: value for key, value in option.items() if key in VALIDATOR_KEYS}
        if "options" in option:
            spec[name]["options"] = _validator_spec(option["options"])
    return spec


def test_there_are_roles():
    assert "mlflow_artifact_store" in ROLES and "mlflow_aws_fargate" in ROLES, ROLES


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_an_option_with_the_same_default(role):
    options = _options(role)
    problems = []
    for name, value in _defaults(role).items():
        if name not in options:
            problems.append("{0} is in defaults/main.yml but not in meta/argument_specs.yml".format(name))
            continue
        option = options[name]
        if option.get("required"):
            if "default" in option:
                problems.append("{0} is required, so its argument spec has no default".format(name))
            if value not in PLACEHOLDERS:
                problems.append("{0} is required, yet defaults/main.yml gives it a value ({1!r})".format(name, value))
            continue
        if not _same(value, option.get("default")):
            problems.append("{0}: defaults/main.yml has {1!r}, meta/argument_specs.yml has {2!r}".format(
                name, value, option.get("default")))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_a_default(role):
    defaults = _defaults(role)
    missing = ["{0} (entry point {1})".format(name, entry_point)
               for entry_point, spec in _entry_points(role).items()
               for name in (spec.get("options") or {}) if name not in defaults]
    assert not missing, "options without a variable in defaults/main.yml: " + ", ".join(missing)


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_in_the_readme(role):
    readme = REPO_ROOT / "roles" / role / "README.md"
    assert readme.exists(), "roles/{0}/README.md is missing".format(role)
    text = readme.read_text()
    missing = [name for name in _defaults(role)
               if not re.search(r"(?<![A-Za-z0-9_]){0}(?![A-Za-z0-9_])".format(re.escape(name)), text)]
    assert not missing, "roles/{0}/README.md does not name: {1}".format(role, ", ".join(missing))


@pytest.mark.parametrize("role", ROLES)
def test_the_defaults_pass_the_argument_spec(role):
    # Ansible validates the role's variables (its defaults included) against the spec before the first task:
    # a required suboption of a dict whose default is {} would fail every run.
    options = _options(role)
    defaults = {name: value for name, value in _defaults(role).items() if name in options}
    result = ArgumentSpecValidator(_validator_spec(options)).validate(defaults)
    assert not result.error_messages, result.error_messages


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_a_description_and_a_type(role):
    problems = []
    for entry_point, spec in _entry_points(role).items():
        assert spec.get("short_description") and spec.get("description"), entry_point
        for name, option in _walk(spec.get("options") or {}):
            if not option.get("description"):
                problems.append("{0} has no description".format(name))
            if not option.get("type"):
                problems.append("{0} has no type".format(name))
            if option.get("type") == "list" and not option.get("elements"):
                problems.append("{0} is a list without elements".format(name))
            if name.rsplit(".", 1)[-1] in SECRET_NAMES and not option.get("no_log"):
                problems.append("{0} holds a secret but is not no_log".format(name))
    assert not problems, "\n".join(problems)
