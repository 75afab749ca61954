"""Makes ``ansible_collections.mlops.mlflow`` importable for the plugin unit tests.

pytest runs from the repository, which is not laid out as ``ansible_collections/mlops/mlflow``: a
temporary tree with that path, a symlink to the repository, goes on ``sys.path`` (``ansible_collections``
is a namespace package, so amazon.aws from the virtualenv stays importable beside it).
"""

import atexit
import shutil
import tempfile

from helpers.ansible import import_path

_TREE = tempfile.mkdtemp(prefix="mlops-mlflow-collections-")
atexit.register(shutil.rmtree, _TREE, True)
import_path(_TREE)
