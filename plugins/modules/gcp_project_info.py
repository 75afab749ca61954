#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gcp_project_info
version_added: 0.1.0
short_description: Read a Google Cloud project's number and state
description:
  - Reads one project with Resource Manager (C(projects.get)) and returns its number, which Cloud Run URLs
    (C(https://<service>-<number>.<region>.run.app)), IAP resource names and Google's service agents use.
  - This module exists because C(google.cloud.gcp_resourcemanager_project_info) (1.10) lists every project the caller
    can see (C(projects.list)), which needs more permissions than reading one project and is slow in large organisations.
options: {}
notes:
  - Needs C(resourcemanager.projects.get) on the project.
  - Supports check mode (it only reads).
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.gcp
"""

EXAMPLES = r"""
- name: The project number
  mlops.mlflow.gcp_project_info:
    project: my-project
    auth_kind: application
  register: mlflow_project

- name: The deterministic URL of a Cloud Run service
  ansible.builtin.debug:
    msg: "https://mlflow-{{ mlflow_project.project_number }}.europe-west1.run.app"
"""

RETURN = r"""
project_id:
  description: The project ID.
  returned: always
  type: str
  sample: my-project
project_number:
  description: The project number, as a string.
  returned: always
  type: str
  sample: "123456789012"
lifecycle_state:
  description: V(ACTIVE), or V(DELETE_REQUESTED) for a project being deleted.
  returned: always
  type: str
  sample: ACTIVE
project:
  description: The project as Resource Manager returns it.
  returned: always
  type: dict
"""

from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import RESOURCE_MANAGER_API
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpModule


def main():
    module = GcpModule(argument_spec={}, supports_check_mode=True)
    project = module.params["project"]
    try:
        answer = module.client().get(RESOURCE_MANAGER_API + "projects/" + project)
    except GcpApiError as error:
        module.fail_json(msg="Could not read project {0}: {1}".format(project, error), **error.result())
    module.exit_json(changed=False, project_id=answer.get("projectId", project), project_number=str(answer.get("projectNumber", "")),
                     lifecycle_state=answer.get("lifecycleState", ""), project=answer)


if __name__ == "__main__":
    main()
