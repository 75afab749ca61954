# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Input checks made before any API call, so that bad input changes nothing: a module raises InvalidInput with
a message that names the option and the fix, and fails with it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class InvalidInput(Exception):
    """An argument the API would refuse, or that names nothing, found before any change."""


def check(condition, message):
    if not condition:
        raise InvalidInput(message)
