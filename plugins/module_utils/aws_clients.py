# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Boto3 clients shared by the threads of one module run (mlops.mlflow.aws_drift_info, s3_artifact_store_info)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# JSON services answer ThrottlingException, which AWSRetry does not retry by default.
RETRY_CODES = ["ThrottlingException"]


class SharedClients:
    """``clients(service)``: one client per service for the whole run, whose calls accept ``aws_retry=True``. Each
    client costs the parsing of its service model. ``region`` is the module's. Clients are made one at a time (a botocore session is not
    thread-safe), then shared (a client is)."""

    def __init__(self, module):
        self.module = module
        self.region = module.region
        self.cache = {}
        self.lock = threading.Lock()

    def __call__(self, service):
        with self.lock:
            if service not in self.cache:
                self.cache[service] = self.module.client(
                    service, retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=RETRY_CODES))
            return self.cache[service]
