#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gcp_cloudrun_service
version_added: 0.1.0
short_description: Manage a Cloud Run service (Admin API v2) with secrets, Cloud SQL, Direct VPC egress, probes and IAP
description:
  - Creates, updates and deletes a Cloud Run service with the Cloud Run Admin API v2 and waits until its latest
    revision serves.
  - This module exists because the google.cloud collection (1.10) has no Cloud Run module.
  - It manages one container (the first of the service), with its image, port, plain environment variables and variables
    from Secret Manager, Cloud SQL connections, resources, probes, and the revision's service account, scaling,
    concurrency, timeout and Direct VPC egress; and on the service its ingress, C(iapEnabled), C(invokerIamDisabled)
    and labels.
  - Idempotent. The service is read and only the fields of the options that are set are compared with it, after
    normalising what Cloud Run fills in (C(cpu) V(1000m) is V(1), memory V(1024Mi) is V(1Gi), ports get a name, probes
    their defaults, C(launchStage), C(client)...). Options left unset are not managed. A re-run changes nothing.
  - A change replaces the service with a PATCH that carries the whole service as read, output-only fields removed, the
    managed fields laid over it (the v2 API replaces rather than merges, as gcloud uses it). Fields this module does
    not manage are sent back as they were.
  - Every option is checked before the first API call, so a bad input changes nothing.
options:
  state:
    description:
      - V(present) creates the service or brings it in line with the options; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The service name, a lowercase letter then up to 48 lowercase letters, digits and hyphens, not ending with a hyphen.
    type: str
    required: true
  region:
    description:
      - The region of the service, for example V(europe-west1).
    type: str
    required: true
    aliases: [location]
  image:
    description:
      - The container image, for example V(europe-west1-docker.pkg.dev/my-project/mlflow/mlflow:v3.18.0-full).
      - Required to create the service.
    type: str
  port:
    description:
      - The port the container listens on; Cloud Run sends requests there and sets E(PORT).
      - Not managed when unset (Cloud Run uses V(8080) for a new service).
    type: int
  command:
    description:
      - The container entrypoint, replacing the image's. An empty list goes back to the image's.
    type: list
    elements: str
  args:
    description:
      - The arguments of the entrypoint. An empty list goes back to the image's.
    type: list
    elements: str
  env:
    description:
      - Plain environment variables, name to value. They are the container's only plain variables; variables from
        O(secret_env) are kept apart. An empty dictionary removes every plain variable.
      - Do not put passwords here; use O(secret_env).
    type: dict
  secret_env:
    description:
      - Environment variables whose value Cloud Run reads from Secret Manager when an instance starts. They are the
        container's only such variables; an empty list removes them.
      - The service account (O(service_account)) needs C(roles/secretmanager.secretAccessor) on each secret.
    type: list
    elements: dict
    suboptions:
      name:
        description: The variable name.
        type: str
        required: true
      secret:
        description: The secret, by name (same project) or as C(projects/<project>/secrets/<name>).
        type: str
        required: true
      version:
        description: The secret version, a number or V(latest).
        type: str
        default: latest
  cloudsql_instances:
    description:
      - Cloud SQL instances to connect, by connection name (C(<project>:<region>:<instance>)). Cloud Run mounts them
        as unix sockets under C(/cloudsql/<connection name>), through a volume named C(cloudsql).
      - An empty list removes the volume and its mount.
    type: list
    elements: str
  service_account:
    description:
      - The email of the service account the revision runs as. Not managed when unset (Cloud Run uses the Compute
        Engine default service account for a new service).
    type: str
  min_instances:
    description:
      - The minimum number of instances of the revision (V(0) scales to zero).
    type: int
  max_instances:
    description:
      - The maximum number of instances of the revision.
    type: int
  cpu:
    description:
      - The CPU limit of the container, for example V(1), V(2), V(4), V(8) or V(1000m).
    type: str
  memory:
    description:
      - The memory limit of the container, for example V(512Mi) or V(2Gi).
    type: str
  concurrency:
    description:
      - The maximum number of concurrent requests an instance receives (C(maxInstanceRequestConcurrency), 1 to 1000).
    type: int
  timeout:
    description:
      - The request timeout in seconds (1 to 3600).
    type: int
  ingress:
    description:
      - Where requests may come from. V(all), V(internal), V(internal-and-cloud-load-balancing) or V(none).
    type: str
    choices: [all, internal, internal-and-cloud-load-balancing, none]
  vpc_access:
    description:
      - Direct VPC egress (no Serverless VPC Access connector). Without O(vpc_access.network) and
        O(vpc_access.subnetwork), the revision has no network interface.
    type: dict
    suboptions:
      network:
        description: The VPC network, by name or as C(projects/<project>/global/networks/<name>).
        type: str
      subnetwork:
        description: The subnetwork in the service's region, by name or as C(projects/<project>/regions/<region>/subnetworks/<name>).
        type: str
      network_tags:
        description: Network tags of the revision's instances (for firewall rules).
        type: list
        elements: str
      egress:
        description:
          - V(private-ranges-only) sends only private IP ranges through the VPC, V(all-traffic) everything.
        type: str
        choices: [all-traffic, private-ranges-only]
        default: private-ranges-only
  startup_probe:
    description:
      - The startup probe of the container. With O(startup_probe.path) an HTTP GET, otherwise a TCP connection.
      - Not managed when unset (Cloud Run then probes the port over TCP).
    type: dict
    suboptions: &probe
      path:
        description: The HTTP path, for example V(/health). Without it, a TCP probe.
        type: str
      port:
        description: The port to probe; the container port when unset.
        type: int
      initial_delay_seconds:
        description: Seconds to wait before the first probe.
        type: int
        default: 0
      timeout_seconds:
        description: Seconds after which a probe fails.
        type: int
        default: 1
      period_seconds:
        description: Seconds between probes.
        type: int
        default: 10
      failure_threshold:
        description: Failed probes in a row after which the instance counts as failed.
        type: int
        default: 3
  liveness_probe:
    description:
      - The liveness probe of the container (an HTTP GET on O(liveness_probe.path)). Not managed when unset.
    type: dict
    suboptions: *probe
  iap_enabled:
    description:
      - Turns Identity-Aware Proxy on the service itself (C(iapEnabled); no load balancer needed) on or off.
      - M(mlops.mlflow.gcp_iap) manages who may pass IAP and grants the IAP service agent C(roles/run.invoker).
    type: bool
  invoker_iam_disabled:
    description:
      - V(true) turns Cloud Run's IAM invoker check off (C(invokerIamDisabled)), so that anyone who reaches the service
        may call it. Leave it V(false) behind IAP, which calls the service as its service agent.
    type: bool
  labels:
    description:
      - Labels of the service.
    type: dict
  purge_labels:
    description:
      - Whether labels not in O(labels) are removed. Nothing is removed when O(labels) is unset.
    type: bool
    default: true
  wait:
    description:
      - Wait until the operation is done and the latest revision is ready (or, with O(state=absent), deleted).
      - When the revision does not become ready, the module fails with Cloud Run's message.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait.
    type: int
    default: 600
notes:
  - Check mode calls nothing but reads; it reports what would change (and the diff in diff mode).
  - Diff mode shows the managed fields before and after, in the API's field names.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.gcp
"""

EXAMPLES = r"""
- name: MLflow on Cloud Run with Cloud SQL, its backend store URI from Secret Manager, behind IAP
  mlops.mlflow.gcp_cloudrun_service:
    name: mlflow
    region: europe-west1
    project: my-project
    auth_kind: application
    image: europe-west1-docker.pkg.dev/my-project/mlflow/mlflow:v3.18.0-full
    port: 5000
    env:
      MLFLOW_HOST: 0.0.0.0
      MLFLOW_PORT: "5000"
      MLFLOW_ARTIFACTS_DESTINATION: gs://my-project-mlflow-artifacts
      MLFLOW_SERVER_ALLOWED_HOSTS: "mlflow-*.run.app"
    secret_env:
      - name: MLFLOW_BACKEND_STORE_URI
        secret: mlflow-backend-store-uri
    cloudsql_instances:
      - my-project:europe-west1:mlflow
    service_account: mlflow-server@my-project.iam.gserviceaccount.com
    min_instances: 0
    max_instances: 4
    cpu: "1"
    memory: 2Gi
    timeout: 300
    ingress: all
    iap_enabled: true
    startup_probe:
      path: /health
      period_seconds: 5
      failure_threshold: 24
    liveness_probe:
      path: /health
    labels:
      application: mlflow
  register: mlflow_service

- name: The service URL
  ansible.builtin.debug:
    msg: "{{ mlflow_service.uri }}"

- name: Reach the database over Direct VPC egress (private IP)
  mlops.mlflow.gcp_cloudrun_service:
    name: mlflow
    region: europe-west1
    image: europe-west1-docker.pkg.dev/my-project/mlflow/mlflow:v3.18.0-full
    vpc_access:
      network: default
      subnetwork: default
      egress: private-ranges-only

- name: Delete the service
  mlops.mlflow.gcp_cloudrun_service:
    name: mlflow
    region: europe-west1
    state: absent
"""

RETURN = r"""
service:
  description:
    - The service as the Cloud Run Admin API v2 returns it, with its field names (camelCase) unchanged, so that
      label keys and environment variable names stay as they are.
    - In check mode, when the service would be created or changed, the service as it would be sent.
    - With O(state=absent), the service as it was before the deletion, or an empty dictionary.
  returned: always
  type: dict
  sample:
    name: projects/my-project/locations/europe-west1/services/mlflow
    uri: https://mlflow-abcdefghij-ew.a.run.app
    ingress: INGRESS_TRAFFIC_ALL
    iapEnabled: true
    launchStage: GA
    latestReadyRevision: projects/my-project/locations/europe-west1/services/mlflow/revisions/mlflow-00002-xyz
uri:
  description: The service URL (the audience of ID tokens for the service).
  returned: when the service exists
  type: str
  sample: https://mlflow-abcdefghij-ew.a.run.app
latest_ready_revision:
  description: The name of the latest revision that is ready to serve.
  returned: when the service exists
  type: str
  sample: projects/my-project/locations/europe-west1/services/mlflow/revisions/mlflow-00002-xyz
conditions:
  description: The service's terminal condition followed by its other conditions, as Cloud Run reports them.
  returned: when the service exists
  type: list
  elements: dict
  sample: [{type: Ready, state: CONDITION_SUCCEEDED}]
changed_fields:
  description: The managed fields that differed, as dotted paths in the API's names.
  returned: always
  type: list
  elements: str
  sample: ["template.containers[0].image", labels]
diff:
  description: In diff mode, the managed fields before and after.
  returned: diff mode
  type: dict
"""

import re

from ansible_collections.mlops.mlflow.plugins.module_utils import gcp_cloud_run as cloud_run
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpModule
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import OperationTimeout
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import REGION_PATTERN
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import check
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import label_problem
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import labels_wanted
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import managed_diff
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import merge

NAME = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
CONNECTION_NAME = re.compile(r"^[a-z0-9.:-]+:[a-z]+-[a-z]+[0-9]+:[a-z][a-z0-9-]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CPU = re.compile(r"^(\d+(\.\d+)?)(m?)$")
MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
MEMORY_UNITS = {None: 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40}
RESERVED_ENV = frozenset(("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"))
INGRESS = {"all": "INGRESS_TRAFFIC_ALL", "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
           "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "none": "INGRESS_TRAFFIC_NONE"}
EGRESS = {"all-traffic": "ALL_TRAFFIC", "private-ranges-only": "PRIVATE_RANGES_ONLY"}
CLOUDSQL_VOLUME = "cloudsql"
CLOUDSQL_PATH = "/cloudsql"
# How the diff compares lists: env by name, volumes and mounts by name, Cloud SQL instances and tags as sets.
KEYED_LISTS = {"template.containers[].env": "name", "template.volumes": "name", "template.containers[].volumeMounts": "name"}
SET_PATHS = ("template.volumes[].cloudSqlInstance.instances", "template.vpcAccess.networkInterfaces[].tags")
EXACT_PATHS = ("labels",)


def validate(params):
    """Raises InvalidInput, naming the option and what it takes, for what Cloud Run would refuse."""
    check(NAME.match(params["name"] or ""), "name must be a lowercase letter followed by up to 48 lowercase letters, digits and hyphens, "
          "not ending with a hyphen, got {0!r}.".format(params["name"]))
    check(REGION_PATTERN.match(params["region"] or ""), "region must be a Cloud Run region such as europe-west1, got {0!r}.".format(params["region"]))
    check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))
    if params["state"] == "absent":
        return
    check(params["image"] is None or params["image"].strip(), "image must not be empty.")
    for option in ("port",):
        if params[option] is not None:
            check(1 <= params[option] <= 65535, "{0} must be between 1 and 65535, got {1}.".format(option, params[option]))
    if params["cpu"] is not None:
        check(millicores(params["cpu"]) is not None, "cpu must be a number of CPUs such as 1, 2, 4 or 8, or millicores such as 1000m, "
              "got {0!r}.".format(params["cpu"]))
    if params["memory"] is not None:
        check(memory_bytes(params["memory"]) is not None, "memory must be a quantity such as 512Mi or 2Gi, got {0!r}.".format(params["memory"]))
    for option, low, high in (("min_instances", 0, 1000), ("max_instances", 1, 1000), ("concurrency", 1, 1000), ("timeout", 1, 3600)):
        if params[option] is not None:
            check(low <= params[option] <= high, "{0} must be between {1} and {2}, got {3}.".format(option, low, high, params[option]))
    if params["min_instances"] is not None and params["max_instances"] is not None:
        check(params["min_instances"] <= params["max_instances"], "min_instances ({0}) must not be above max_instances ({1}).".format(
            params["min_instances"], params["max_instances"]))
    names = []
    for name in list((params["env"] or {}).keys()) + [item["name"] for item in params["secret_env"] or []]:
        check(ENV_NAME.match(str(name)), "env and secret_env: {0!r} is not a valid environment variable name.".format(name))
        check(str(name) not in RESERVED_ENV, "env and secret_env: Cloud Run sets {0} itself; it cannot be set.".format(name))
        check(name not in names, "env and secret_env: {0} is given more than once.".format(name))
        names.append(name)
    for item in params["secret_env"] or []:
        check(item["secret"].strip(), "secret_env: the secret of {0} is empty.".format(item["name"]))
        check(item["version"] == "latest" or re.match(r"^\d+$", item["version"]),
              "secret_env: the version of {0} must be a number or latest, got {1!r}.".format(item["name"], item["version"]))
    for connection in params["cloudsql_instances"] or []:
        check(CONNECTION_NAME.match(connection), "cloudsql_instances: {0!r} is not a connection name <project>:<region>:<instance>.".format(connection))
    vpc = params["vpc_access"]
    if vpc is not None and vpc.get("network_tags"):
        check(vpc.get("network") or vpc.get("subnetwork"), "vpc_access.network_tags needs vpc_access.network or vpc_access.subnetwork.")
    for option in ("startup_probe", "liveness_probe"):
        probe = params[option]
        if probe is None:
            continue
        check(option != "liveness_probe" or probe.get("path"), "liveness_probe.path is required: Cloud Run liveness probes are HTTP GETs here.")
        check(probe.get("path") is None or probe["path"].startswith("/"), "{0}.path must begin with /, got {1!r}.".format(option, probe.get("path")))
        if probe.get("port") is not None:
            check(1 <= probe["port"] <= 65535, "{0}.port must be between 1 and 65535, got {1}.".format(option, probe["port"]))
        check(probe["period_seconds"] >= 1 and probe["timeout_seconds"] >= 1 and probe["failure_threshold"] >= 1 and probe["initial_delay_seconds"] >= 0,
              "{0}: period_seconds, timeout_seconds and failure_threshold must be at least 1, initial_delay_seconds at least 0.".format(option))
        check(probe["timeout_seconds"] <= probe["period_seconds"], "{0}.timeout_seconds ({1}) must not be above period_seconds ({2}).".format(
            option, probe["timeout_seconds"], probe["period_seconds"]))
    problem = label_problem(params["labels"])
    check(problem is None, problem)


def millicores(value):
    match = CPU.match(str(value).strip())
    if not match:
        return None
    number = float(match.group(1))
    return int(round(number if match.group(3) else number * 1000))


def canonical_cpu(value):
    """CPU in the form Cloud Run answers with: whole CPUs as "1", "2"..., the rest as millicores ("500m")."""
    cores = millicores(value)
    if cores is None:
        return value
    return str(cores // 1000) if cores % 1000 == 0 else "{0}m".format(cores)


def memory_bytes(value):
    match = MEMORY.match(str(value).strip())
    if not match:
        return None
    return int(match.group(1)) * MEMORY_UNITS[match.group(2)]


def canonical_memory(value):
    """Memory in the largest binary unit that holds it whole ("1024Mi" -> "1Gi"), or as given when it has none."""
    amount = memory_bytes(value)
    if amount is None:
        return value
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        if amount % MEMORY_UNITS[unit] == 0:
            return "{0}{1}".format(amount // MEMORY_UNITS[unit], unit)
    for unit in ("T", "G", "M", "k"):
        if amount % MEMORY_UNITS[unit] == 0:
            return "{0}{1}".format(amount // MEMORY_UNITS[unit], unit)
    return str(amount)


def main_container(service):
    containers = ((service or {}).get("template") or {}).get("containers") or []
    return containers[0] if containers else {}


def container_port(container, params):
    if params.get("port") is not None:
        return params["port"]
    ports = container.get("ports") or []
    return ports[0].get("containerPort") if ports else 8080


def probe_body(probe, port):
    body = {"initialDelaySeconds": probe["initial_delay_seconds"], "timeoutSeconds": probe["timeout_seconds"],
            "periodSeconds": probe["period_seconds"], "failureThreshold": probe["failure_threshold"]}
    if probe.get("path"):
        body["httpGet"] = {"path": probe["path"], "port": probe.get("port") or port}
    else:
        body["tcpSocket"] = {"port": probe.get("port") or port}
    return body


def is_secret(variable):
    return "valueSource" in variable


def env_value(value):
    """An environment variable's value as a container sees it: YAML booleans as true/false (not Python's True/False)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def env_wanted(params, container):
    """The container's env: plain variables from env, secret ones from secret_env; each kind kept as it is when its
    option is unset. None when neither is set."""
    if params["env"] is None and params["secret_env"] is None:
        return None
    current = container.get("env") or []
    if params["env"] is None:
        plain = [variable for variable in current if not is_secret(variable)]
    else:
        plain = [{"name": str(name), "value": env_value(value)} for name, value in sorted(params["env"].items())]
    if params["secret_env"] is None:
        secret = [variable for variable in current if is_secret(variable)]
    else:
        secret = [{"name": item["name"], "valueSource": {"secretKeyRef": {"secret": item["secret"], "version": item["version"]}}}
                  for item in params["secret_env"]]
    return plain + secret


def volumes_wanted(params, template, container):
    """(volumes, volumeMounts) with the cloudsql volume as cloudsql_instances says, the others kept; (None, None) when unset."""
    if params["cloudsql_instances"] is None:
        return None, None
    volumes = [volume for volume in template.get("volumes") or [] if volume.get("name") != CLOUDSQL_VOLUME]
    mounts = [mount for mount in container.get("volumeMounts") or [] if mount.get("name") != CLOUDSQL_VOLUME]
    if params["cloudsql_instances"]:
        volumes.append({"name": CLOUDSQL_VOLUME, "cloudSqlInstance": {"instances": list(params["cloudsql_instances"])}})
        mounts.append({"name": CLOUDSQL_VOLUME, "mountPath": CLOUDSQL_PATH})
    return volumes, mounts


def vpc_wanted(vpc):
    if vpc is None:
        return None
    if not vpc.get("network") and not vpc.get("subnetwork"):
        return {"networkInterfaces": []}
    interface = {"network": vpc.get("network"), "subnetwork": vpc.get("subnetwork"), "tags": list(vpc.get("network_tags") or [])}
    return {"networkInterfaces": [interface], "egress": EGRESS[vpc.get("egress") or "private-ranges-only"]}


def desired_fields(params, current):
    """The managed fields in the API's shape (None: not managed), from the options and, where a field is only partly
    managed (env, volumes, containers beyond the first), from the current service."""
    current = current or {}
    template = current.get("template") or {}
    container = main_container(current)
    port = container_port(container, params)
    limits = {}
    if params["cpu"] is not None:
        limits["cpu"] = canonical_cpu(params["cpu"])
    if params["memory"] is not None:
        limits["memory"] = canonical_memory(params["memory"])
    volumes, mounts = volumes_wanted(params, template, container)
    wanted_container = {
        "image": params["image"],
        "command": params["command"],
        "args": params["args"],
        "ports": [{"containerPort": params["port"]}] if params["port"] is not None else None,
        "env": env_wanted(params, container),
        "resources": {"limits": limits} if limits else None,
        "volumeMounts": mounts,
        "startupProbe": probe_body(params["startup_probe"], port) if params["startup_probe"] is not None else None,
        "livenessProbe": probe_body(params["liveness_probe"], port) if params["liveness_probe"] is not None else None,
    }
    scaling = {"minInstanceCount": params["min_instances"], "maxInstanceCount": params["max_instances"]}
    others = [dict(item) for item in (template.get("containers") or [])[1:]]
    return {
        "labels": labels_wanted(current.get("labels"), params["labels"], params["purge_labels"]),
        "ingress": INGRESS[params["ingress"]] if params["ingress"] else None,
        "iapEnabled": params["iap_enabled"],
        "invokerIamDisabled": params["invoker_iam_disabled"],
        "template": {
            "serviceAccount": params["service_account"],
            "timeout": "{0}s".format(params["timeout"]) if params["timeout"] is not None else None,
            "maxInstanceRequestConcurrency": params["concurrency"],
            "scaling": scaling if any(value is not None for value in scaling.values()) else None,
            "vpcAccess": vpc_wanted(params["vpc_access"]),
            "volumes": volumes,
            "containers": [wanted_container] + others,
        },
    }


def normalised(service):
    """The service with what Cloud Run fills in written the way the module writes it (cpu, memory, probe ports)."""
    if not service:
        return {}
    service = merge(service, {})
    for container in (service.get("template") or {}).get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        if "cpu" in limits:
            limits["cpu"] = canonical_cpu(limits["cpu"])
        if "memory" in limits:
            limits["memory"] = canonical_memory(limits["memory"])
        ports = container.get("ports") or []
        port = ports[0].get("containerPort") if ports else 8080
        for probe_key in ("startupProbe", "livenessProbe"):
            probe = container.get(probe_key) or {}
            for kind in ("httpGet", "tcpSocket"):
                if kind in probe and not probe[kind].get("port"):
                    probe[kind]["port"] = port
    return service


def compare(params, current):
    """(changed paths, before, after) of the managed fields."""
    desired = desired_fields(params, current)
    return managed_diff(desired, normalised(current), set_paths=SET_PATHS, exact_paths=EXACT_PATHS, keyed_lists=KEYED_LISTS)


def complete_container(current_container, wanted):
    """The first container as sent: the current one with the managed fields replaced (resources.limits merged)."""
    container = dict(current_container or {})
    for key, value in wanted.items():
        if value is None:
            continue
        if key == "resources":
            resources = dict(container.get("resources") or {})
            limits = dict(resources.get("limits") or {})
            limits.update(value["limits"])
            resources["limits"] = limits
            container["resources"] = resources
        elif key == "ports":
            ports = [dict(item) for item in container.get("ports") or [{}]]
            ports[0]["containerPort"] = value[0]["containerPort"]
            container["ports"] = ports
        else:
            container[key] = value
    return container


def service_body(params, current):
    """The whole service to send: current (or nothing) with every managed field set."""
    desired = desired_fields(params, current)
    template = dict((current or {}).get("template") or {})
    wanted_template = desired["template"]
    for key in ("serviceAccount", "timeout", "maxInstanceRequestConcurrency", "volumes"):
        if wanted_template[key] is not None:
            template[key] = wanted_template[key]
    if wanted_template["scaling"] is not None:
        scaling = dict(template.get("scaling") or {})
        scaling.update(dict((key, value) for key, value in wanted_template["scaling"].items() if value is not None))
        template["scaling"] = scaling
    if wanted_template["vpcAccess"] is not None:
        vpc = dict(template.get("vpcAccess") or {})
        vpc.update(wanted_template["vpcAccess"])
        if vpc["networkInterfaces"]:
            # Direct VPC egress and a Serverless VPC Access connector exclude each other.
            vpc.pop("connector", None)
        else:
            vpc.pop("egress", None)
            vpc.pop("networkInterfaces")
        template["vpcAccess"] = vpc
    if template.get("volumes") == []:
        template.pop("volumes")
    containers = wanted_template["containers"]
    first = complete_container(main_container(current), containers[0])
    if first.get("volumeMounts") == []:
        first.pop("volumeMounts")
    template["containers"] = [first] + containers[1:]
    overlay = {"template": template}
    for key in ("labels", "ingress", "iapEnabled", "invokerIamDisabled"):
        if desired[key] is not None:
            overlay[key] = desired[key]
    return cloud_run.request_body(current, overlay)


def outputs(service):
    if not service:
        return {}
    conditions = ([service["terminalCondition"]] if service.get("terminalCondition") else []) + list(service.get("conditions") or [])
    return dict(uri=service.get("uri"), latest_ready_revision=service.get("latestReadyRevision"), conditions=conditions)


def fail_api(module, error, action, name):
    module.fail_json(msg="Could not {0} Cloud Run service {1}: {2}".format(action, name, error), **error.result())


def ensure_present(module, client, name):
    params = module.params
    try:
        current = cloud_run.get_service(client, name)
    except GcpApiError as error:
        fail_api(module, error, "read", name)
    if current is None and not params["image"]:
        module.fail_json(msg="image is required to create Cloud Run service {0}.".format(name))
    changed_paths, before, after = compare(params, current)
    changed = current is None or bool(changed_paths)
    final = current
    if changed:
        body = service_body(params, current)
        # In check mode: what would be sent, with what only Cloud Run knows (uri, revisions) as it is now.
        final = dict(current or {}, **body)
        final["name"] = name
        if not module.check_mode:
            try:
                if current is None:
                    operation = cloud_run.create_service(client, params["project"], params["region"], params["name"], body)
                else:
                    operation = cloud_run.replace_service(client, current, body)
                final = cloud_run.finish(client, operation, name, params["wait"], params["wait_timeout"])
            except cloud_run.RevisionFailed as error:
                module.fail_json(msg="Cloud Run service {0}: the new revision is not ready: {1}".format(name, error), changed=True,
                                 service=error.service or {}, **outputs(error.service))
            except OperationTimeout as error:
                module.fail_json(msg=str(error), changed=True)
            except GcpApiError as error:
                fail_api(module, error, "create" if current is None else "update", name)
    result = dict(changed=changed, service=final or {}, changed_fields=changed_paths if current is not None else [], **outputs(final))
    if module._diff:
        result["diff"] = dict(before=before if current is not None else {}, after=after)
    module.exit_json(**result)


def ensure_absent(module, client, name):
    params = module.params
    try:
        current = cloud_run.get_service(client, name)
        if current is not None and not module.check_mode:
            operation = cloud_run.delete_service(client, name)
            if operation and params["wait"]:
                client.wait_for_operation(operation, params["wait_timeout"], api_base=cloud_run.RUN_API)
    except OperationTimeout as error:
        module.fail_json(msg=str(error), changed=True)
    except GcpApiError as error:
        fail_api(module, error, "delete", name)
    result = dict(changed=current is not None, service=current or {}, changed_fields=[])
    if module._diff:
        result["diff"] = dict(before=compare(params, current)[1] if current else {}, after={})
    module.exit_json(**result)


def argument_spec():
    probe = dict(
        path=dict(type="str"),
        port=dict(type="int"),
        initial_delay_seconds=dict(type="int", default=0),
        timeout_seconds=dict(type="int", default=1),
        period_seconds=dict(type="int", default=10),
        failure_threshold=dict(type="int", default=3),
    )
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        region=dict(type="str", required=True, aliases=["location"]),
        image=dict(type="str"),
        port=dict(type="int"),
        command=dict(type="list", elements="str"),
        args=dict(type="list", elements="str"),
        env=dict(type="dict"),
        secret_env=dict(type="list", elements="dict", no_log=False, options=dict(
            name=dict(type="str", required=True),
            secret=dict(type="str", required=True, no_log=False),
            version=dict(type="str", default="latest"),
        )),
        cloudsql_instances=dict(type="list", elements="str"),
        service_account=dict(type="str"),
        min_instances=dict(type="int"),
        max_instances=dict(type="int"),
        cpu=dict(type="str"),
        memory=dict(type="str"),
        concurrency=dict(type="int"),
        timeout=dict(type="int"),
        ingress=dict(type="str", choices=sorted(INGRESS)),
        vpc_access=dict(type="dict", options=dict(
            network=dict(type="str"),
            subnetwork=dict(type="str"),
            network_tags=dict(type="list", elements="str"),
            egress=dict(type="str", choices=sorted(EGRESS), default="private-ranges-only"),
        )),
        startup_probe=dict(type="dict", options=dict(probe)),
        liveness_probe=dict(type="dict", options=dict(probe)),
        iap_enabled=dict(type="bool"),
        invoker_iam_disabled=dict(type="bool"),
        labels=dict(type="dict"),
        purge_labels=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )


def main():
    module = GcpModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.check_input(validate)
    client = module.client()
    name = cloud_run.service_name(module.params["project"], module.params["region"], module.params["name"])
    if module.params["state"] == "present":
        ensure_present(module, client, name)
    else:
        ensure_absent(module, client, name)


if __name__ == "__main__":
    main()
