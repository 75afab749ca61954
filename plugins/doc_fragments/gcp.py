# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The authentication options of the GCP modules: those of the google.cloud modules, with the same GCP_*
    # environment variables and checks. Their argument_spec is auth_argument_spec() in module_utils/gcp_api.py.
    DOCUMENTATION = r"""
options:
  project:
    description:
      - The ID of the Google Cloud project (not its number).
      - If not set, the value of the E(GCP_PROJECT) environment variable is used; one of them is required.
    type: str
  auth_kind:
    description:
      - How the module gets its credentials, as in the google.cloud collection.
      - V(application) uses Application Default Credentials (E(GOOGLE_APPLICATION_CREDENTIALS), C(gcloud auth
        application-default login), or the metadata server).
      - V(serviceaccount) uses a service account key from O(service_account_file) or O(service_account_contents).
      - V(machineaccount) uses the metadata server of the Compute Engine VM (or GKE node, Cloud Run job) the module runs
        on, with O(service_account_email) or the default service account.
      - V(accesstoken) uses the OAuth 2.0 access token in O(access_token) as it is (it is not refreshed).
      - If not set, the value of the E(GCP_AUTH_KIND) environment variable is used; one of them is required.
    type: str
    required: true
    choices: [accesstoken, application, machineaccount, serviceaccount]
  service_account_contents:
    description:
      - The contents of a service account key file (JSON), as a dictionary or a JSON string. Only with
        O(auth_kind=serviceaccount).
      - If not set, the value of the E(GCP_SERVICE_ACCOUNT_CONTENTS) environment variable is used.
    type: jsonarg
  service_account_file:
    description:
      - The path of a service account key file (JSON). Only with O(auth_kind=serviceaccount).
      - If not set, the value of the E(GCP_SERVICE_ACCOUNT_FILE) environment variable is used.
    type: path
  service_account_email:
    description:
      - The email of the VM's service account to use instead of the default one. Only with O(auth_kind=machineaccount).
      - If not set, the value of the E(GCP_SERVICE_ACCOUNT_EMAIL) environment variable is used.
    type: str
  access_token:
    description:
      - An OAuth 2.0 access token, for example from C(gcloud auth print-access-token). Only with O(auth_kind=accesstoken).
      - If not set, the value of the E(GCP_ACCESS_TOKEN) environment variable is used.
    type: str
  scopes:
    description:
      - The OAuth 2.0 scopes of the credentials.
      - If not set, the value of the E(GCP_SCOPES) environment variable is used; without either,
        V(https://www.googleapis.com/auth/cloud-platform).
    type: list
    elements: str
  env_type:
    description:
      - Appended to the User-Agent of the module's requests; nothing else.
      - If not set, the value of the E(GCP_ENV_TYPE) environment variable is used.
    type: str
notes:
  - O(service_account_email), O(service_account_file) and O(service_account_contents) are mutually exclusive, and each
    needs the O(auth_kind) it belongs to; O(access_token) needs O(auth_kind=accesstoken).
  - Options given in the task take precedence over the environment variables.
  - The module talks to the Google APIs over HTTPS with C(requests) and C(google-auth) (see the collection's
    C(requirements.txt)). It honours E(HTTPS_PROXY), E(NO_PROXY) and E(REQUESTS_CA_BUNDLE).
  - Calls answered with HTTP 429 or 5xx, and calls that could not reach the API, are retried up to 6 times with
    exponential backoff and jitter, never sooner than a C(Retry-After) header asks.
requirements:
  - python >= 3.9
  - google-auth >= 2.20.0
  - requests >= 2.31.0
"""
