# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What mlops.mlflow.aws_drift_info shares with its kinds.

A kind compares one resource with the arguments its acting module would get, and says whether that module
would change nothing. Each kind lives in a module_utils file of its service (drift_kms, drift_rds, ...) and
exposes:

- ``ARGUMENT_SPEC``: the acting module's options that the kind compares, with the same names, types and
  defaults (a subset: an option the kind does not know makes the part fail validation, never pass
  unchecked);
- ``check(client, params)``: ``client(service)`` gives a boto3 client whose calls accept ``aws_retry=True``;
  ``params`` are the validated options. It returns ``outcome(...)``.

The rule every kind follows: ``in_sync`` is true only when the kind has compared everything its acting module
would change. Whatever it cannot read back or compare counts as a difference: a false "out of sync" costs one
module run, a false "in sync" would leave drift uncorrected.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.mlops.mlflow.plugins.module_utils.input_checks import InvalidInput


def outcome(exists, differences=(), resource=None):
    """The result of one part: ``differences`` are the names of the options that differ (never their values,
    which may be secret); a resource that does not exist differs by ``exists``."""
    differences = sorted(set(differences)) if exists else ["exists"]
    return dict(exists=bool(exists), in_sync=bool(exists) and not differences, differences=differences,
                resource=resource or {})


def validated(argument_spec, spec, where):
    """The options of a part as its acting module would see them (types converted, defaults applied); raises
    InvalidInput naming ``where`` for an unknown option, a missing required one or a wrong type."""
    result = ArgumentSpecValidator(argument_spec).validate(spec or {})
    if result.error_messages:
        raise InvalidInput("{0}: {1}".format(where, "; ".join(result.error_messages)))
    return result.validated_parameters


def tags_differ(current, desired, purge_tags):
    """Whether tagging with ``desired`` (None: leave the tags alone) and ``purge_tags`` would change ``current``
    (both ansible dicts)."""
    if desired is None:
        return False
    to_set, to_remove = compare_aws_tags(current or {}, desired, purge_tags=purge_tags)
    return bool(to_set or to_remove)
