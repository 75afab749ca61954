#!/usr/bin/env bash
# Lays out the tree ansible-test needs: <root>/mlops/mlflow holding the collection's files (those git
# tracks or would track) and, beside it, the collections it depends on, taken from the `ansible`
# package in the virtualenv. ansible-test ignores ANSIBLE_COLLECTIONS_PATH, hence the copy.
# Without docker, ansible-test bootstraps its virtualenvs with a get-pip script it downloads; this
# machine cannot download it, so a stand-in that uses the standard library's ensurepip takes its place.
set -euo pipefail
root=$1
python=$2
repo=$(git rev-parse --show-toplevel)
tree="$root/mlops/mlflow"

rm -rf "$tree"
mkdir -p "$tree"
(cd "$repo" && git ls-files --cached --others --exclude-standard -z) |
  (cd "$repo" && while IFS= read -r -d '' file; do
    [ -e "$file" ] && printf '%s\0' "$file"
  done) |
  (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$tree"
# ansible-test reads the collection's git state for some tests: give the copy its own repository.
(cd "$tree" && git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm tree)

site=$("$python" -c 'import ansible_collections.amazon.aws as c, pathlib; print(pathlib.Path(c.__path__[0]).parents[2])')
for dependency in amazon/aws community/aws google/cloud community/general ansible/utils; do
  namespace=${dependency%/*}
  if [ -d "$site/ansible_collections/$dependency" ]; then
    mkdir -p "$root/$namespace"
    ln -sfn "$site/ansible_collections/$dependency" "$root/$dependency"
  fi
done

cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
pip_version=$("$python" - <<'PY'
import inspect
from ansible_test._internal import python_requirements
print(inspect.getsource(python_requirements.get_venv_packages).split("pip='", 1)[1].split("'", 1)[0])
PY
)
standin="$cache/get_pip_${pip_version//./_}.py"
cat >"$standin" <<'PY'
"""Stand-in for the get-pip script that ansible-test downloads: bootstrap pip with the standard
library's ensurepip, then install the packages ansible-test asked for (pip==<version> among them)."""
import subprocess
import sys

# In a child process: ensurepip turns pip's configuration off in its own environment, and the pip
# below needs that configuration (certificates, indexes) to reach the package index.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
wanted = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *wanted]))
PY
