#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gcp_compute_managed_ssl_certificate
version_added: 0.1.0
short_description: Manage a Google-managed SSL certificate (global) for an external HTTPS load balancer
description:
  - Creates and deletes a global compute SSL certificate of type C(MANAGED) - Google obtains and renews it for the
    domains once they resolve to the load balancer's address.
  - This module exists because C(google.cloud.gcp_compute_ssl_certificate) (1.10) only makes self-managed certificates
    (it requires a certificate and a private key) and the collection has no module for managed ones.
  - Certificates cannot be changed. When the certificate exists with other domains, the module fails and names them;
    make a certificate under another name, point the target HTTPS proxy at it, then delete the old one.
  - Returns the provisioning status (C(PROVISIONING) until DNS points at the load balancer, then C(ACTIVE)); it does not
    wait for it.
options:
  state:
    description:
      - V(present) creates the certificate; V(absent) deletes it (compute refuses while a target proxy uses it).
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The certificate name (a lowercase letter, then up to 62 lowercase letters, digits and hyphens).
    type: str
    required: true
  domains:
    description:
      - The domains of the certificate (up to 100), for example V(mlflow.example.com). Required with O(state=present).
    type: list
    elements: str
  description:
    description:
      - A description of the certificate (only used to create).
    type: str
  wait:
    description:
      - Wait until the compute operation is done (not until the certificate is provisioned).
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait.
    type: int
    default: 300
notes:
  - Check mode only reads. Diff mode shows the domains before and after.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.gcp
"""

EXAMPLES = r"""
- name: A Google-managed certificate for the MLflow domain
  mlops.mlflow.gcp_compute_managed_ssl_certificate:
    name: mlflow-cert
    domains: [mlflow.example.com]
    project: my-project
    auth_kind: application
  register: mlflow_certificate

- name: Delete it (after its target HTTPS proxy)
  mlops.mlflow.gcp_compute_managed_ssl_certificate:
    name: mlflow-cert
    state: absent
"""

RETURN = r"""
ssl_certificate:
  description:
    - The certificate as the Compute Engine API returns it (camelCase); in check mode, as it would be created; with
      O(state=absent), as it was, or an empty dictionary.
  returned: always
  type: dict
  sample:
    name: mlflow-cert
    type: MANAGED
    managed: {domains: [mlflow.example.com], status: PROVISIONING}
    selfLink: https://www.googleapis.com/compute/v1/projects/my-project/global/sslCertificates/mlflow-cert
status:
  description: The provisioning status of the certificate (C(PROVISIONING), C(ACTIVE), C(FAILED_NOT_VISIBLE)...), or empty.
  returned: always
  type: str
  sample: PROVISIONING
diff:
  description: In diff mode, the domains before and after.
  returned: diff mode
  type: dict
"""

import re

from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import COMPUTE_API
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpModule
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import OperationTimeout

NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def validate(params):
    if not NAME.match(params["name"] or ""):
        raise InvalidInput("name must be a lowercase letter followed by up to 62 lowercase letters, digits and hyphens, not ending with a "
                           "hyphen, got {0!r}.".format(params["name"]))
    if params["wait_timeout"] <= 0:
        raise InvalidInput("wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))
    if params["state"] == "present":
        domains = params["domains"] or []
        if not domains or len(domains) > 100:
            raise InvalidInput("domains must list 1 to 100 domains with state=present.")
        bad = [domain for domain in domains if not DOMAIN.match(domain or "")]
        if bad:
            raise InvalidInput("domains must be fully qualified lowercase domain names such as mlflow.example.com, got {0}.".format(
                ", ".join(map(repr, bad))))


def domains_of(certificate):
    return sorted(((certificate or {}).get("managed") or {}).get("domains") or [])


def run(module, client):
    params = module.params
    collection = "{0}projects/{1}/global/sslCertificates".format(COMPUTE_API, params["project"])
    url = collection + "/" + params["name"]
    try:
        current = client.get(url, allow_not_found=True)
    except GcpApiError as error:
        module.fail_json(msg="Could not read SSL certificate {0}: {1}".format(params["name"], error), **error.result())
    before = {"domains": domains_of(current)} if current else {}
    if params["state"] == "absent":
        if current is not None and not module.check_mode:
            try:
                operation = client.delete(url, allow_not_found=True)
                if operation and params["wait"]:
                    client.wait_for_operation(operation, params["wait_timeout"])
            except OperationTimeout as error:
                module.fail_json(msg=str(error), changed=True)
            except GcpApiError as error:
                module.fail_json(msg="Could not delete SSL certificate {0}: {1}".format(params["name"], error), **error.result())
        result = dict(changed=current is not None, ssl_certificate=current or {}, status="")
        if module._diff:
            result["diff"] = dict(before=before, after={})
        module.exit_json(**result)
    wanted = sorted(set(params["domains"]))
    if current is not None:
        if current.get("type") != "MANAGED" or domains_of(current) != wanted:
            module.fail_json(msg="SSL certificate {0} exists as a {1} certificate for {2}, not a managed one for {3}; certificates cannot be "
                                 "changed. Use another name, point the target HTTPS proxy at it, then delete this one.".format(
                                     params["name"], current.get("type") or "SELF_MANAGED", domains_of(current) or "no domain", wanted),
                             ssl_certificate=current)
        result = dict(changed=False, ssl_certificate=current, status=(current.get("managed") or {}).get("status", ""))
        if module._diff:
            result["diff"] = dict(before=before, after=before)
        module.exit_json(**result)
    body = {"name": params["name"], "type": "MANAGED", "managed": {"domains": wanted}}
    if params["description"]:
        body["description"] = params["description"]
    final = body
    if not module.check_mode:
        try:
            operation = client.post(collection, body)
            if params["wait"]:
                client.wait_for_operation(operation, params["wait_timeout"])
            final = client.get(url, allow_not_found=True) or body
        except OperationTimeout as error:
            module.fail_json(msg=str(error), changed=True)
        except GcpApiError as error:
            module.fail_json(msg="Could not create SSL certificate {0}: {1}".format(params["name"], error), **error.result())
    result = dict(changed=True, ssl_certificate=final, status=(final.get("managed") or {}).get("status", ""))
    if module._diff:
        result["diff"] = dict(before={}, after={"domains": wanted})
    module.exit_json(**result)


def argument_spec():
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        domains=dict(type="list", elements="str"),
        description=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )


def main():
    module = GcpModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.check_input(validate)
    run(module, module.client())


if __name__ == "__main__":
    main()
