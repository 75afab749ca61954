#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gcp_compute_serverless_neg
version_added: 0.1.0
short_description: Manage a regional serverless network endpoint group for a Cloud Run service
description:
  - Creates and deletes a regional network endpoint group of type C(SERVERLESS) that points at a Cloud Run service
    (C(cloudRun.service), or a C(cloudRun.urlMask) for several services), the backend of an external or internal HTTPS
    load balancer in front of Cloud Run.
  - This module exists because the google.cloud collection (1.10) has C(gcp_compute_network_endpoint_group) for zonal
    groups only; it cannot make a regional serverless one.
  - Network endpoint groups cannot be changed. When the group exists and differs from the options, the module fails
    and names the differences; delete it (O(state=absent), after removing it from its backend service) and create it
    again. A group that matches changes nothing.
  - Every option is checked before the first API call, so a bad input changes nothing.
options:
  state:
    description:
      - V(present) creates the group; V(absent) deletes it. Compute refuses to delete a group a backend service still
        uses; the module then fails with compute's message.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The group name (a lowercase letter, then up to 62 lowercase letters, digits and hyphens, not ending with a hyphen).
    type: str
    required: true
  region:
    description:
      - The region of the group; the Cloud Run service must be in the same region.
    type: str
    required: true
  cloud_run_service:
    description:
      - The Cloud Run service the group sends requests to. One of O(cloud_run_service) and O(url_mask) is required.
    type: str
  cloud_run_tag:
    description:
      - A Cloud Run traffic tag, to send requests to the revision with that tag only.
    type: str
  url_mask:
    description:
      - A URL mask that maps request URLs to several services, for example V(<service>.example.com) or V(/<service>).
    type: str
  description:
    description:
      - A description of the group.
    type: str
  wait:
    description:
      - Wait until the compute operation is done.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait.
    type: int
    default: 300
notes:
  - Check mode only reads. Diff mode shows the managed fields before and after.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.gcp
"""

EXAMPLES = r"""
- name: A serverless NEG for the MLflow Cloud Run service
  mlops.mlflow.gcp_compute_serverless_neg:
    name: mlflow-neg
    region: europe-west1
    cloud_run_service: mlflow
    project: my-project
    auth_kind: application
  register: mlflow_neg

- name: Use it as the backend of a backend service
  google.cloud.gcp_compute_backend_service:
    name: mlflow-backend
    load_balancing_scheme: EXTERNAL_MANAGED
    backends:
      - group: "{{ mlflow_neg.network_endpoint_group.selfLink }}"
    project: my-project
    auth_kind: application

- name: Delete the group (after removing it from its backend service)
  mlops.mlflow.gcp_compute_serverless_neg:
    name: mlflow-neg
    region: europe-west1
    state: absent
"""

RETURN = r"""
network_endpoint_group:
  description:
    - The group as the Compute Engine API returns it (camelCase); in check mode, as it would be created; with
      O(state=absent), as it was, or an empty dictionary.
  returned: always
  type: dict
  sample:
    name: mlflow-neg
    networkEndpointType: SERVERLESS
    cloudRun: {service: mlflow}
    selfLink: https://www.googleapis.com/compute/v1/projects/my-project/regions/europe-west1/networkEndpointGroups/mlflow-neg
diff:
  description: In diff mode, the managed fields before and after.
  returned: diff mode
  type: dict
"""

import re

from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import COMPUTE_API
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpModule
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import OperationTimeout
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import REGION_PATTERN
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import check
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import managed_diff

NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def validate(params):
    check(NAME.match(params["name"] or ""), "name must be a lowercase letter followed by up to 62 lowercase letters, digits and hyphens, "
          "not ending with a hyphen, got {0!r}.".format(params["name"]))
    check(REGION_PATTERN.match(params["region"] or ""), "region must be a region such as europe-west1, got {0!r}.".format(params["region"]))
    check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))
    if params["state"] == "absent":
        return
    check(params["cloud_run_service"] or params["url_mask"], "one of cloud_run_service and url_mask is required with state=present.")
    if params["cloud_run_service"]:
        check(re.match(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$", params["cloud_run_service"]),
              "cloud_run_service must be a Cloud Run service name, got {0!r}.".format(params["cloud_run_service"]))


def collection_url(params):
    return "{0}projects/{1}/regions/{2}/networkEndpointGroups".format(COMPUTE_API, params["project"], params["region"])


def desired(params):
    cloud_run = {"service": params["cloud_run_service"], "tag": params["cloud_run_tag"], "urlMask": params["url_mask"]}
    return {
        "name": params["name"],
        "networkEndpointType": "SERVERLESS",
        "cloudRun": dict((key, value) for key, value in cloud_run.items() if value),
        "description": params["description"],
    }


def comparable(group):
    """The managed fields of a group, for the comparison and diff mode."""
    if not group:
        return {}
    cloud_run = group.get("cloudRun") or {}
    return {
        "name": group.get("name"),
        "networkEndpointType": group.get("networkEndpointType"),
        "cloudRun": dict((key, cloud_run[key]) for key in ("service", "tag", "urlMask") if cloud_run.get(key)),
        "description": group.get("description") or "",
    }


def differences(params, group):
    """The managed fields that differ; description only when it is set. cloudRun is compared whole (unset parts must be unset)."""
    wanted = desired(params)
    found = comparable(group)
    paths = list(managed_diff(dict(wanted, cloudRun=None), found)[0])
    if wanted["cloudRun"] != found["cloudRun"]:
        paths.append("cloudRun")
    return paths


def ensure_present(module, client):
    params = module.params
    url = collection_url(params) + "/" + params["name"]
    try:
        group = client.get(url, allow_not_found=True)
    except GcpApiError as error:
        module.fail_json(msg="Could not read network endpoint group {0}: {1}".format(params["name"], error), **error.result())
    wanted = desired(params)
    if group is not None:
        paths = differences(params, group)
        if paths:
            found = comparable(group)
            described = ", ".join("{0} is {1!r}, wanted {2!r}".format(path, found.get(path), wanted.get(path)) for path in paths)
            module.fail_json(msg="Network endpoint group {0} exists and differs ({1}). Network endpoint groups cannot be changed: "
                                 "remove it from its backend service, delete it (state=absent) and run again.".format(params["name"], described),
                             network_endpoint_group=group, changed_fields=paths)
        result = dict(changed=False, network_endpoint_group=group)
        if module._diff:
            result["diff"] = dict(before=comparable(group), after=comparable(group))
        module.exit_json(**result)
    final = dict((key, value) for key, value in wanted.items() if value)
    if not module.check_mode:
        try:
            operation = client.post(collection_url(params), final)
            if params["wait"]:
                client.wait_for_operation(operation, params["wait_timeout"])
            final = client.get(url, allow_not_found=True) or final
        except OperationTimeout as error:
            module.fail_json(msg=str(error), changed=True)
        except GcpApiError as error:
            module.fail_json(msg="Could not create network endpoint group {0}: {1}".format(params["name"], error), **error.result())
    result = dict(changed=True, network_endpoint_group=final)
    if module._diff:
        result["diff"] = dict(before={}, after=comparable(final))
    module.exit_json(**result)


def ensure_absent(module, client):
    params = module.params
    url = collection_url(params) + "/" + params["name"]
    try:
        group = client.get(url, allow_not_found=True)
        if group is not None and not module.check_mode:
            operation = client.delete(url, allow_not_found=True)
            if operation and params["wait"]:
                client.wait_for_operation(operation, params["wait_timeout"])
    except OperationTimeout as error:
        module.fail_json(msg=str(error), changed=True)
    except GcpApiError as error:
        module.fail_json(msg="Could not delete network endpoint group {0}: {1}".format(params["name"], error), **error.result())
    result = dict(changed=group is not None, network_endpoint_group=group or {})
    if module._diff:
        result["diff"] = dict(before=comparable(group), after={})
    module.exit_json(**result)


def argument_spec():
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        region=dict(type="str", required=True),
        cloud_run_service=dict(type="str"),
        cloud_run_tag=dict(type="str"),
        url_mask=dict(type="str"),
        description=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )


def main():
    module = GcpModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.check_input(validate)
    client = module.client()
    if module.params["state"] == "present":
        ensure_present(module, client)
    else:
        ensure_absent(module, client)


if __name__ == "__main__":
    main()
