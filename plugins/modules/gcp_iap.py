#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gcp_iap
version_added: 0.1.0
short_description: Identity-Aware Proxy for a Cloud Run service or a backend service, with its settings and accessors
description:
  - Turns Identity-Aware Proxy (IAP) on or off for a Cloud Run service (IAP directly on the service, C(iapEnabled), no
    load balancer) or for a compute backend service (C(iap.enabled)); manages the IAP settings of the resource
    (C(accessSettings), C(applicationSettings)) and who may pass IAP (C(roles/iap.httpsResourceAccessor)).
  - For a Cloud Run service it also grants C(roles/run.invoker) on the service to the IAP service agent
    C(service-<project number>@gcp-sa-iap.iam.gserviceaccount.com), through which IAP calls the service.
  - This module exists because the google.cloud collection (1.10) has nothing for IAP settings or IAP access, nor for
    Cloud Run; its IAP brand and OAuth client modules used the IAP OAuth Admin API, which Google shut down on
    19 March 2026.
  - IAP uses the Google-managed OAuth client. This module never calls the brands or OAuth clients API and takes no
    client ID or secret. Users signing in with a browser need nothing more.
  - Programmatic clients (the MLflow SDK, CI jobs) cannot sign in with a browser. IAP documents two kinds of credential
    for them, sent as C(Authorization) header C(Bearer <token>) (or in C(Proxy-Authorization) when the service itself
    needs C(Authorization)). One is a JWT that a service account signs itself (IAM Credentials C(signJwt)) whose C(aud)
    is the resource URL followed by C(/*), for example C(https://mlflow-abcdefghij-ew.a.run.app/*). The other is a
    Google-signed OIDC ID token whose C(aud) is the OAuth client ID of the IAP application; with a custom OAuth client
    (made in the console) list its ID in O(access_settings.programmatic_clients).
  - With the Google-managed OAuth client, use the self-signed service-account JWT, which does not depend on the OAuth
    client; a Google-signed ID token needs a custom OAuth client whose ID is listed in
    O(access_settings.programmatic_clients). Either way the service account needs C(roles/iap.httpsResourceAccessor)
    (O(members)). For MLflow, E(MLFLOW_TRACKING_TOKEN) is sent as the bearer token of the C(Authorization) header; tokens expire after
    at most one hour, so long jobs refresh it (or use a request header provider plugin that does).
  - Idempotent. The resource, its IAP settings and IAM policies are read and only what differs is changed, IAP settings
    with C(updateIapSettings) and an C(updateMask) of the changed fields, IAM policies with C(setIamPolicy) and the etag
    read with the policy. A re-run changes nothing.
options:
  resource_type:
    description:
      - V(cloud_run) protects a Cloud Run service directly; the IAP resource is
        C(projects/<number>/iap_web/cloud_run-<region>/services/<service>).
      - V(backend_service) protects a compute backend service of a load balancer; the IAP resource is
        C(projects/<number>/iap_web/compute/services/<backend service>) (global) or
        C(projects/<number>/iap_web/compute-<region>/services/<backend service>) (regional).
      - IAP cannot be on both a load balancer and the Cloud Run service behind it.
    type: str
    choices: [cloud_run, backend_service]
    default: cloud_run
  service:
    description:
      - The Cloud Run service name, or the backend service name.
    type: str
    required: true
  region:
    description:
      - The region of the Cloud Run service (required with O(resource_type=cloud_run)), or of a regional backend service
        (unset for a global one).
    type: str
  project_number:
    description:
      - The project number. IAP resource names and the IAP service agent use it; when unset it is read from Resource
        Manager (C(resourcemanager.projects.get)).
    type: str
  enabled:
    description:
      - Whether IAP is on for the resource. V(false) turns it off (settings and accessors stay, for when it is turned on
        again).
    type: bool
    default: true
  members:
    description:
      - Principals that may pass IAP (C(roles/iap.httpsResourceAccessor) on the IAP resource), for example
        V(user:ada@example.com), V(group:mlflow-users@example.com), V(serviceAccount:ci@my-project.iam.gserviceaccount.com),
        V(domain:example.com).
      - Not managed when unset.
    type: list
    elements: str
  members_mode:
    description:
      - V(add) grants the role to O(members) and keeps the principals that already have it.
      - V(exact) makes O(members) the only principals with the role (conditional bindings are kept).
    type: str
    choices: [add, exact]
    default: add
  grant_invoker_to_iap_agent:
    description:
      - With O(resource_type=cloud_run), grant C(roles/run.invoker) on the service to the IAP service agent (additive).
        Without it IAP cannot call the service and every request gets 403. The grant stays when IAP is turned off.
    type: bool
    default: true
  access_settings:
    description:
      - IAP access settings. Only the suboptions that are set are managed.
    type: dict
    suboptions:
      allowed_domains:
        description:
          - Only users of these domains may sign in (C(allowedDomainsSettings)). An empty list turns the restriction off.
        type: list
        elements: str
      allow_cors_preflight:
        description:
          - Let CORS preflight requests (C(OPTIONS)) through without authentication (C(corsSettings.allowHttpOptions)).
        type: bool
      login_hint:
        description:
          - Domain hint for the sign-in page (C(oauthSettings.loginHint)).
        type: str
      programmatic_clients:
        description:
          - OAuth client IDs whose ID tokens IAP accepts for programmatic access (C(oauthSettings.programmaticClients)).
            Such clients are made in the Google Cloud console; nothing here creates one.
        type: list
        elements: str
      reauth:
        description:
          - Reauthentication policy (C(reauthSettings)). Set together, as IAP requires.
        type: dict
        suboptions:
          method:
            description: How users reauthenticate.
            type: str
            choices: [LOGIN, SECURE_KEY, ENROLLED_SECOND_FACTORS]
            required: true
          max_age:
            description: Seconds after which users must reauthenticate.
            type: int
            required: true
          policy_type:
            description: V(MINIMUM) lets stricter settings of parent resources apply, V(DEFAULT) makes this one apply.
            type: str
            choices: [MINIMUM, DEFAULT]
            default: MINIMUM
  application_settings:
    description:
      - IAP application settings. Only the suboptions that are set are managed.
    type: dict
    suboptions:
      cookie_domain:
        description: The domain of IAP's session cookie.
        type: str
      access_denied_page_uri:
        description: A page users are sent to when IAP denies access.
        type: str
  wait:
    description:
      - Wait until turning IAP on or off is done (a Cloud Run or compute operation).
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait.
    type: int
    default: 300
notes:
  - Order of changes. The invoker grant, the IAP settings and the accessors first, then IAP on; IAP off first when it
    is turned off. A resource is never exposed with IAP on before its accessors are set.
  - The caller needs C(roles/iap.admin) (settings, accessors), C(roles/run.admin) or C(roles/compute.loadBalancerAdmin)
    (turning IAP on), and C(resourcemanager.projects.get) unless O(project_number) is given.
  - Check mode only reads. Diff mode shows IAP on or off, the managed settings and the members before and after.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.gcp
"""

EXAMPLES = r"""
- name: IAP directly on the MLflow Cloud Run service; the team and CI may pass
  mlops.mlflow.gcp_iap:
    service: mlflow
    region: europe-west1
    project: my-project
    auth_kind: application
    members:
      - group:mlflow-users@example.com
      - serviceAccount:mlflow-ci@my-project.iam.gserviceaccount.com
    access_settings:
      allowed_domains: [example.com]
      allow_cors_preflight: true

- name: Exactly these accessors, reauthentication every 12 hours
  mlops.mlflow.gcp_iap:
    service: mlflow
    region: europe-west1
    members: [group:mlflow-users@example.com]
    members_mode: exact
    access_settings:
      reauth:
        method: LOGIN
        max_age: 43200

- name: IAP on the backend service of an external HTTPS load balancer
  mlops.mlflow.gcp_iap:
    resource_type: backend_service
    service: mlflow-backend
    members: [domain:example.com]

- name: IAP off
  mlops.mlflow.gcp_iap:
    service: mlflow
    region: europe-west1
    enabled: false
"""

RETURN = r"""
resource:
  description: The IAP resource name.
  returned: always
  type: str
  sample: projects/123456789012/iap_web/cloud_run-europe-west1/services/mlflow
enabled:
  description: Whether IAP is on for the resource (after the change; in check mode, as it would be).
  returned: always
  type: bool
  sample: true
iap_settings:
  description: The IAP settings as the IAP API returns them (camelCase).
  returned: always
  type: dict
  sample: {name: projects/123456789012/iap_web/cloud_run-europe-west1/services/mlflow, accessSettings: {corsSettings: {allowHttpOptions: true}}}
members:
  description: The principals with C(roles/iap.httpsResourceAccessor) (without conditions).
  returned: always
  type: list
  elements: str
  sample: [group:mlflow-users@example.com]
members_added:
  description: Principals granted the accessor role by this run.
  returned: always
  type: list
  elements: str
members_removed:
  description: Principals whose accessor role this run removed (O(members_mode=exact)).
  returned: always
  type: list
  elements: str
iap_service_agent:
  description: The IAP service agent of the project.
  returned: always
  type: str
  sample: service-123456789012@gcp-sa-iap.iam.gserviceaccount.com
invoker_granted:
  description: Whether this run granted C(roles/run.invoker) to the IAP service agent.
  returned: always
  type: bool
project_number:
  description: The project number.
  returned: always
  type: str
  sample: "123456789012"
changed_fields:
  description: What differed, as dotted paths (C(enabled), C(accessSettings...), C(applicationSettings...), C(members), C(invoker)).
  returned: always
  type: list
  elements: str
diff:
  description: In diff mode, what the module manages, before and after.
  returned: diff mode
  type: dict
"""

import re

from ansible_collections.mlops.mlflow.plugins.module_utils import gcp_cloud_run as cloud_run
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import COMPUTE_API
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpModule
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import IAP_API
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import OperationTimeout
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import REGION_PATTERN
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import check
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import managed_diff
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import plan_role_members
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import project_number
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import prune
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import role_members

ACCESSOR_ROLE = "roles/iap.httpsResourceAccessor"
MEMBER = re.compile(r"^(user|group|serviceAccount|domain|principal|principalSet|deleted:[a-zA-Z]+):.+$|^(allUsers|allAuthenticatedUsers)$")
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
# IAP wants the reauth settings set as a whole.
WHOLE_SETTINGS = ("accessSettings.reauthSettings", "accessSettings.allowedDomainsSettings", "accessSettings.oauthSettings.programmaticClients")
SET_PATHS = ("accessSettings.allowedDomainsSettings.domains", "accessSettings.oauthSettings.programmaticClients")


def validate(params):
    check(NAME.match(params["service"] or ""), "service must be a lowercase letter followed by lowercase letters, digits and hyphens, "
          "not ending with a hyphen, got {0!r}.".format(params["service"]))
    if params["resource_type"] == "cloud_run":
        check(params["region"], "region is required with resource_type=cloud_run.")
    if params["region"] is not None:
        check(REGION_PATTERN.match(params["region"]), "region must be a region such as europe-west1, got {0!r}.".format(params["region"]))
    if params["project_number"] is not None:
        check(re.match(r"^\d+$", params["project_number"]), "project_number must be digits only, got {0!r}.".format(params["project_number"]))
    for member in params["members"] or []:
        check(MEMBER.match(member), "members: {0!r} is not a principal such as user:ada@example.com, group:..., serviceAccount:..., "
              "domain:example.com.".format(member))
    access = params["access_settings"] or {}
    reauth = access.get("reauth")
    if reauth is not None:
        check(reauth["max_age"] > 0, "access_settings.reauth.max_age must be above 0 seconds, got {0}.".format(reauth["max_age"]))
    check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))


def iap_resource(params, number):
    if params["resource_type"] == "cloud_run":
        return "projects/{0}/iap_web/cloud_run-{1}/services/{2}".format(number, params["region"], params["service"])
    where = "compute-{0}".format(params["region"]) if params["region"] else "compute"
    return "projects/{0}/iap_web/{1}/services/{2}".format(number, where, params["service"])


def backend_service_url(params):
    scope = "regions/{0}".format(params["region"]) if params["region"] else "global"
    return "{0}projects/{1}/{2}/backendServices/{3}".format(COMPUTE_API, params["project"], scope, params["service"])


def service_agent(number):
    return "service-{0}@gcp-sa-iap.iam.gserviceaccount.com".format(number)


def desired_settings(params):
    """The managed IAP settings in the API's shape (None: not managed)."""
    access = params["access_settings"] or {}
    application = params["application_settings"] or {}
    domains = access.get("allowed_domains")
    reauth = access.get("reauth")
    desired = {
        "accessSettings": {
            "allowedDomainsSettings": {"enable": bool(domains), "domains": list(domains)} if domains is not None else None,
            "corsSettings": {"allowHttpOptions": access["allow_cors_preflight"]} if access.get("allow_cors_preflight") is not None else None,
            "oauthSettings": {"loginHint": access.get("login_hint"), "programmaticClients": access.get("programmatic_clients")},
            "reauthSettings": {"method": reauth["method"], "maxAge": "{0}s".format(reauth["max_age"]), "policyType": reauth["policy_type"]}
            if reauth is not None else None,
        },
        "applicationSettings": {
            "cookieDomain": application.get("cookie_domain"),
            "accessDeniedPageSettings": {"accessDeniedPageUri": application["access_denied_page_uri"]}
            if application.get("access_denied_page_uri") is not None else None,
        },
    }
    return desired


def update_mask(paths):
    """IAP's updateMask for the changed settings paths; settings IAP wants whole are named whole."""
    mask = []
    for path in paths:
        for whole in WHOLE_SETTINGS:
            if path == whole or path.startswith(whole + "."):
                path = whole
        entry = "iapSettings." + re.sub(r"\[\d+\]", "", path)
        if entry not in mask:
            mask.append(entry)
    return ",".join(mask)


def settings_body(name, desired):
    """The settings to send: the managed fields (masked fields absent from the body are cleared, as wanted)."""
    body = prune(desired)
    for section in list(body):
        for key in list(body[section]):
            if body[section][key] == {}:
                del body[section][key]
        if not body[section]:
            del body[section]
    body["name"] = name
    return body


def normalised_settings(settings):
    """IAP answers a duration as "3600s" or "3600.000s"; the module writes "3600s"."""
    reauth = ((settings or {}).get("accessSettings") or {}).get("reauthSettings") or {}
    age = reauth.get("maxAge")
    if isinstance(age, str) and re.match(r"^\d+(\.0+)?s$", age):
        reauth["maxAge"] = "{0}s".format(int(float(age[:-1])))
    return settings or {}


def is_enabled(params, resource):
    if params["resource_type"] == "cloud_run":
        return bool(resource.get("iapEnabled"))
    return bool((resource.get("iap") or {}).get("enabled"))


def read_resource(client, params):
    if params["resource_type"] == "cloud_run":
        name = cloud_run.service_name(params["project"], params["region"], params["service"])
        return cloud_run.get_service(client, name)
    return client.get(backend_service_url(params), allow_not_found=True)


def switch(client, params, resource, enabled):
    """Turns IAP on or off on the resource; returns the resource afterwards."""
    if params["resource_type"] == "cloud_run":
        body = cloud_run.request_body(resource, {"iapEnabled": enabled})
        operation = cloud_run.replace_service(client, resource, body)
        return cloud_run.finish(client, operation, resource["name"], params["wait"], params["wait_timeout"])
    iap = dict(resource.get("iap") or {})
    iap["enabled"] = enabled
    # Compute refuses an update of a backend service without its current fingerprint (412 conditionNotMet).
    operation = client.patch(backend_service_url(params), {"iap": iap, "fingerprint": resource.get("fingerprint")})
    if params["wait"]:
        client.wait_for_operation(operation, params["wait_timeout"])
    return client.get(backend_service_url(params))


def run(module, client):
    params = module.params
    what = "Cloud Run service" if params["resource_type"] == "cloud_run" else "backend service"
    action = "read"
    name = None
    try:
        number = params["project_number"] or project_number(client, params["project"])
        resource = read_resource(client, params)
        if resource is None:
            module.fail_json(msg="{0} {1} does not exist{2}: create it first{3}.".format(
                what, params["service"], " in " + params["region"] if params["region"] else "",
                " (mlops.mlflow.gcp_cloudrun_service)" if params["resource_type"] == "cloud_run" else ""))
        name = iap_resource(params, number)
        agent = service_agent(number)
        settings = client.get(IAP_API + name + ":iapSettings") or {}
        policy = client.post(IAP_API + name + ":getIamPolicy", {"options": {"requestedPolicyVersion": 3}})
        invoker_policy = None
        if params["resource_type"] == "cloud_run" and params["grant_invoker_to_iap_agent"]:
            invoker_policy = cloud_run.get_iam_policy(client, resource["name"])

        changed = []
        was_enabled = is_enabled(params, resource)
        if was_enabled != params["enabled"]:
            changed.append("enabled")
        settings_paths, settings_before, settings_after = managed_diff(desired_settings(params), normalised_settings(settings), set_paths=SET_PATHS)
        changed.extend(settings_paths)
        new_policy, added, removed = (None, [], [])
        if params["members"] is not None:
            new_policy, added, removed = plan_role_members(policy, ACCESSOR_ROLE, params["members"], params["members_mode"])
            if new_policy is not None:
                changed.append("members")
        new_invoker = None
        if invoker_policy is not None:
            new_invoker, _added, _removed = plan_role_members(invoker_policy, cloud_run.INVOKER_ROLE, ["serviceAccount:" + agent], "add")
            if new_invoker is not None:
                changed.append("invoker")

        members_now = role_members(policy, ACCESSOR_ROLE)
        members_after = role_members(new_policy, ACCESSOR_ROLE) if new_policy is not None else members_now
        if changed and not module.check_mode:
            if not params["enabled"] and was_enabled:
                action = "turn IAP off on"
                resource = switch(client, params, resource, False)
            if new_invoker is not None:
                action = "grant roles/run.invoker to the IAP service agent on"
                cloud_run.set_iam_policy(client, resource["name"], new_invoker)
            if settings_paths:
                action = "update the IAP settings of"
                settings = client.patch(IAP_API + name + ":iapSettings", settings_body(name, desired_settings(params)),
                                        params={"updateMask": update_mask(settings_paths)})
            if new_policy is not None:
                action = "set the IAP accessors of"
                policy = client.post(IAP_API + name + ":setIamPolicy", {"policy": new_policy})
                members_after = role_members(policy, ACCESSOR_ROLE)
            if params["enabled"] and not was_enabled:
                action = "turn IAP on on"
                resource = switch(client, params, resource, True)
    except cloud_run.RevisionFailed as error:
        module.fail_json(msg="Could not {0} {1} {2}: {3}".format(action, what, params["service"], error), changed=True)
    except OperationTimeout as error:
        module.fail_json(msg=str(error), changed=True)
    except GcpApiError as error:
        module.fail_json(msg="Could not {0} {1} {2} (IAP resource {3}): {4}".format(
            action, what, params["service"], name or "not yet known", error), **error.result())

    result = dict(changed=bool(changed), changed_fields=changed, resource=name, enabled=params["enabled"] if changed else was_enabled,
                  iap_settings=settings, members=members_after, members_added=added, members_removed=removed, iap_service_agent=agent,
                  invoker_granted=new_invoker is not None, project_number=str(number))
    if module._diff:
        result["diff"] = dict(
            before=dict(enabled=was_enabled, settings=settings_before, members=members_now),
            after=dict(enabled=params["enabled"], settings=settings_after, members=role_members(new_policy, ACCESSOR_ROLE) if new_policy else members_now))
    module.exit_json(**result)


def argument_spec():
    return dict(
        resource_type=dict(type="str", choices=["cloud_run", "backend_service"], default="cloud_run"),
        service=dict(type="str", required=True),
        region=dict(type="str"),
        project_number=dict(type="str"),
        enabled=dict(type="bool", default=True),
        members=dict(type="list", elements="str"),
        members_mode=dict(type="str", choices=["add", "exact"], default="add"),
        grant_invoker_to_iap_agent=dict(type="bool", default=True),
        access_settings=dict(type="dict", options=dict(
            allowed_domains=dict(type="list", elements="str"),
            allow_cors_preflight=dict(type="bool"),
            login_hint=dict(type="str"),
            programmatic_clients=dict(type="list", elements="str"),
            reauth=dict(type="dict", options=dict(
                method=dict(type="str", choices=["LOGIN", "SECURE_KEY", "ENROLLED_SECOND_FACTORS"], required=True),
                max_age=dict(type="int", required=True),
                policy_type=dict(type="str", choices=["MINIMUM", "DEFAULT"], default="MINIMUM"),
            )),
        )),
        application_settings=dict(type="dict", options=dict(
            cookie_domain=dict(type="str"),
            access_denied_page_uri=dict(type="str"),
        )),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )


def main():
    module = GcpModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.check_input(validate)
    run(module, module.client())


if __name__ == "__main__":
    main()
