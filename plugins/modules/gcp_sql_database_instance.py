#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the mlops.mlflow collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gcp_sql_database_instance
version_added: 0.1.0
short_description: Manage a Cloud SQL instance with backups, point-in-time recovery, deletion protection and SSL mode
description:
  - Creates, updates and deletes a Cloud SQL instance (PostgreSQL, MySQL or SQL Server) with the Cloud SQL Admin API
    and waits for the operation.
  - This module exists because C(google.cloud.gcp_sql_instance) (1.10) has no option for point-in-time recovery,
    transaction log retention, deletion protection, the edition, C(sslMode) or the preferred zone, and no check mode.
  - Idempotent. Only the settings of the options that are set are compared with the instance; a difference is sent with
    one C(PATCH) of those settings (with the C(settingsVersion) read, so that a concurrent change is refused, not
    overwritten). The database version, the region and the edition of an existing instance are not changed; a
    difference there fails and names it.
  - Every option is checked before the first API call, so a bad input changes nothing.
options:
  state:
    description:
      - V(present) creates the instance or brings its settings in line; V(absent) deletes it (and with it its databases
        and backups).
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The instance name (a lowercase letter, then up to 97 lowercase letters, digits and hyphens). Cloud SQL does not
        let a name be reused for about a week after the instance is deleted.
    type: str
    required: true
  region:
    description:
      - The region, for example V(europe-west1). Required to create.
    type: str
  zone:
    description:
      - The preferred zone of the primary (C(settings.locationPreference.zone)), for example V(europe-west1-b).
    type: str
  database_version:
    description:
      - For example V(POSTGRES_17), V(MYSQL_8_0). Required to create.
    type: str
  edition:
    description:
      - V(ENTERPRISE) or V(ENTERPRISE_PLUS). Cloud SQL makes new PostgreSQL 16+ instances Enterprise Plus unless told,
        which does not accept the shared-core tiers.
    type: str
    choices: [ENTERPRISE, ENTERPRISE_PLUS]
  tier:
    description:
      - The machine type, for example V(db-f1-micro), V(db-custom-1-3840). Required to create.
    type: str
  availability_type:
    description:
      - V(ZONAL), or V(REGIONAL) for a standby in another zone (high availability).
    type: str
    choices: [ZONAL, REGIONAL]
  disk_size_gb:
    description:
      - The initial disk size in GB (it grows automatically). Only used to create.
    type: int
  ipv4_enabled:
    description:
      - Whether the instance has a public IP address. No authorized network is ever added, so a public address only
        serves the Cloud SQL connectors (Cloud Run's C(/cloudsql) sockets), which authenticate with IAM.
    type: bool
  private_network:
    description:
      - The VPC network of the private IP address, as C(projects/<project>/global/networks/<name>). Private services
        access must already be configured on it.
    type: str
  ssl_mode:
    description:
      - V(ENCRYPTED_ONLY) refuses unencrypted connections; V(TRUSTED_CLIENT_CERTIFICATE_REQUIRED) also requires client
        certificates (the Cloud SQL connectors provide them); V(ALLOW_UNENCRYPTED_AND_ENCRYPTED) allows both.
    type: str
    choices: [ALLOW_UNENCRYPTED_AND_ENCRYPTED, ENCRYPTED_ONLY, TRUSTED_CLIENT_CERTIFICATE_REQUIRED]
  backups:
    description:
      - Automated daily backups.
    type: bool
  backup_start_time:
    description:
      - When the daily backup starts, C(HH:MM) in UTC.
    type: str
  backup_retained_count:
    description:
      - How many automated backups are kept.
    type: int
  point_in_time_recovery:
    description:
      - Point-in-time recovery (write-ahead logs kept; PostgreSQL and SQL Server; binary logs on MySQL). Needs O(backups).
    type: bool
  transaction_log_retention_days:
    description:
      - Days of transaction logs kept for point-in-time recovery (1 to 7, or 35 on Enterprise Plus).
    type: int
  deletion_protection:
    description:
      - Whether Cloud SQL refuses to delete the instance (C(settings.deletionProtectionEnabled)).
    type: bool
  labels:
    description:
      - User labels of the instance (C(settings.userLabels)); they replace the existing ones.
    type: dict
  force_delete:
    description:
      - With O(state=absent), turn deletion protection off first when it is on. Without it a protected instance is not
        deleted and the module fails, saying so.
    type: bool
    default: false
  wait:
    description:
      - Wait until the operation is done.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait (creating an instance takes several minutes).
    type: int
    default: 1800
notes:
  - Check mode only reads. Diff mode shows the managed settings before and after.
author:
  - mlops.mlflow maintainers (@mlops-collections)
extends_documentation_fragment:
  - mlops.mlflow.gcp
"""

EXAMPLES = r"""
- name: PostgreSQL for MLflow, reachable through the Cloud SQL connector only, backups and point-in-time recovery
  mlops.mlflow.gcp_sql_database_instance:
    name: mlflow-db
    region: europe-west1
    database_version: POSTGRES_17
    edition: ENTERPRISE
    tier: db-custom-1-3840
    availability_type: REGIONAL
    ipv4_enabled: true
    ssl_mode: ENCRYPTED_ONLY
    backups: true
    backup_start_time: "03:00"
    point_in_time_recovery: true
    transaction_log_retention_days: 7
    deletion_protection: true
    labels:
      application: mlflow
    project: my-project
    auth_kind: application
  register: mlflow_db

- name: Delete it, deletion protection included
  mlops.mlflow.gcp_sql_database_instance:
    name: mlflow-db
    state: absent
    force_delete: true
"""

RETURN = r"""
instance:
  description:
    - The instance as the Cloud SQL Admin API returns it (camelCase); in check mode, when it would be created, as it would
      be sent; with O(state=absent), as it was, or an empty dictionary.
  returned: always
  type: dict
  sample:
    name: mlflow-db
    connectionName: my-project:europe-west1:mlflow-db
    databaseVersion: POSTGRES_17
    state: RUNNABLE
connection_name:
  description: The connection name, C(<project>:<region>:<instance>).
  returned: when the instance exists or would be created
  type: str
  sample: my-project:europe-west1:mlflow-db
changed_fields:
  description: The managed fields that differed, as dotted paths in the API's names.
  returned: always
  type: list
  elements: str
diff:
  description: In diff mode, the managed fields before and after.
  returned: diff mode
  type: dict
"""

import re

from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpApiError
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import GcpModule
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import InvalidInput
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import OperationTimeout
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import REGION_PATTERN
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import check
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import label_problem
from ansible_collections.mlops.mlflow.plugins.module_utils.gcp_api import managed_diff

SQL_API = "https://sqladmin.googleapis.com/sql/v1beta4/"
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,96}[a-z0-9])?$")
ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# Fixed when the instance is made: a difference is refused rather than sent.
IMMUTABLE = ("region", "databaseVersion", "settings.edition")


def validate(params):
    check(NAME.match(params["name"] or ""), "name must be a lowercase letter followed by up to 97 lowercase letters, digits and hyphens, "
          "not ending with a hyphen, got {0!r}.".format(params["name"]))
    check(params["wait_timeout"] > 0, "wait_timeout must be above 0, got {0}.".format(params["wait_timeout"]))
    if params["state"] == "absent":
        return
    if params["region"] is not None:
        check(REGION_PATTERN.match(params["region"]), "region must be a region such as europe-west1, got {0!r}.".format(params["region"]))
    if params["zone"]:
        check(ZONE.match(params["zone"]) and (not params["region"] or params["zone"].startswith(params["region"] + "-")),
              "zone must be a zone of the region, such as {0}-b, got {1!r}.".format(params["region"] or "europe-west1", params["zone"]))
    if params["backup_start_time"] is not None:
        check(TIME.match(params["backup_start_time"]), "backup_start_time must be HH:MM (UTC), got {0!r}.".format(params["backup_start_time"]))
    if params["transaction_log_retention_days"] is not None:
        check(1 <= params["transaction_log_retention_days"] <= 35,
              "transaction_log_retention_days must be 1 to 7 (35 on Enterprise Plus), got {0}.".format(params["transaction_log_retention_days"]))
    if params["point_in_time_recovery"]:
        check(params["backups"] is not False, "point_in_time_recovery needs backups.")
    if params["private_network"]:
        check(re.match(r"^projects/[^/]+/global/networks/[^/]+$", params["private_network"]),
              "private_network must be projects/<project>/global/networks/<name>, got {0!r}.".format(params["private_network"]))
    if params["ipv4_enabled"] is False:
        check(params["private_network"], "an instance without a public IP address (ipv4_enabled=false) needs private_network.")
    problem = label_problem(params["labels"])
    check(problem is None, problem or "")


def instance_url(params):
    return "{0}projects/{1}/instances/{2}".format(SQL_API, params["project"], params["name"])


def desired(params):
    """The managed fields, None where an option is unset (not managed)."""
    backup = {
        "enabled": params["backups"],
        "startTime": params["backup_start_time"],
        "pointInTimeRecoveryEnabled": params["point_in_time_recovery"],
        "transactionLogRetentionDays": params["transaction_log_retention_days"],
        "backupRetentionSettings": ({"retentionUnit": "COUNT", "retainedBackups": params["backup_retained_count"]}
                                    if params["backup_retained_count"] is not None else None),
    }
    if params["database_version"] and params["database_version"].startswith("MYSQL") and params["point_in_time_recovery"] is not None:
        backup["binaryLogEnabled"] = backup.pop("pointInTimeRecoveryEnabled")
    ip = {"ipv4Enabled": params["ipv4_enabled"], "privateNetwork": params["private_network"], "sslMode": params["ssl_mode"]}
    if params["ssl_mode"] is not None:
        ip["requireSsl"] = params["ssl_mode"] != "ALLOW_UNENCRYPTED_AND_ENCRYPTED"
    settings = {
        "tier": params["tier"],
        "edition": params["edition"],
        "availabilityType": params["availability_type"],
        "ipConfiguration": ip,
        "backupConfiguration": backup,
        "deletionProtectionEnabled": params["deletion_protection"],
        "userLabels": dict((str(k), str(v)) for k, v in params["labels"].items()) if params["labels"] is not None else None,
        "locationPreference": {"zone": params["zone"]} if params["zone"] else None,
    }
    return {"region": params["region"], "databaseVersion": params["database_version"], "settings": settings}


def diff_paths(wanted, current):
    paths, before, after = managed_diff(wanted, current, exact_paths=("settings.userLabels",))
    return paths, before, after


def creation_body(params, wanted):
    check_create = [name for name in ("region", "database_version", "tier") if not params[name]]
    if check_create:
        raise InvalidInput("{0} required to create instance {1}.".format(", ".join(check_create) + (" is" if len(check_create) == 1 else " are"),
                                                                         params["name"]))
    body = managed_diff(wanted, {})[2]
    body["name"] = params["name"]
    body["settings"]["ipConfiguration"]["authorizedNetworks"] = []
    if params["disk_size_gb"]:
        body["settings"]["dataDiskSizeGb"] = str(params["disk_size_gb"])
    return prune_empty(body)


def prune_empty(value):
    if isinstance(value, dict):
        pruned = dict((key, prune_empty(item)) for key, item in value.items() if item is not None)
        return dict((key, item) for key, item in pruned.items() if item != {} or key == "userLabels")
    return value


def wait(client, params, operation):
    if operation and params["wait"]:
        client.wait_for_operation(operation, params["wait_timeout"])


def ensure_present(module, client):
    params = module.params
    url = instance_url(params)
    wanted = desired(params)
    try:
        current = client.get(url, allow_not_found=True)
    except GcpApiError as error:
        module.fail_json(msg="Could not read Cloud SQL instance {0}: {1}".format(params["name"], error), **error.result())
    if current is None:
        try:
            body = creation_body(params, wanted)
        except InvalidInput as error:
            module.fail_json(msg=str(error))
        final = dict(body, connectionName="{0}:{1}:{2}".format(params["project"], params["region"], params["name"]))
        if not module.check_mode:
            try:
                wait(client, params, client.post(SQL_API + "projects/{0}/instances".format(params["project"]), body))
                final = client.get(url, allow_not_found=True) or final
            except OperationTimeout as error:
                module.fail_json(msg=str(error), changed=True)
            except GcpApiError as error:
                module.fail_json(msg="Could not create Cloud SQL instance {0}: {1}".format(params["name"], error), **error.result())
        result = dict(changed=True, instance=final, connection_name=final.get("connectionName"), changed_fields=[])
        if module._diff:
            result["diff"] = dict(before={}, after=managed_diff(wanted, {})[2])
        module.exit_json(**result)
    paths, before, after = diff_paths(wanted, current)
    fixed = [path for path in paths if path.startswith(IMMUTABLE)]
    if fixed:
        module.fail_json(msg="Cloud SQL instance {0} exists with other {1} than asked ({2}); these cannot change in place.".format(
            params["name"], ", ".join(fixed), ", ".join("{0}: {1!r}".format(p, _get(before, p)) for p in fixed)), changed_fields=fixed, instance=current)
    final = current
    if paths and not module.check_mode:
        patch = {"settings": prune_empty(after["settings"])}
        patch["settings"]["settingsVersion"] = current.get("settings", {}).get("settingsVersion")
        try:
            wait(client, params, client.patch(url, patch))
            final = client.get(url, allow_not_found=True) or current
        except OperationTimeout as error:
            module.fail_json(msg=str(error), changed=True)
        except GcpApiError as error:
            module.fail_json(msg="Could not update Cloud SQL instance {0}: {1}".format(params["name"], error), **error.result())
    result = dict(changed=bool(paths), instance=final, connection_name=final.get("connectionName"), changed_fields=paths)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


def _get(document, path):
    for part in path.split("."):
        document = (document or {}).get(part) if isinstance(document, dict) else None
    return document


def ensure_absent(module, client):
    params = module.params
    url = instance_url(params)
    try:
        current = client.get(url, allow_not_found=True)
    except GcpApiError as error:
        module.fail_json(msg="Could not read Cloud SQL instance {0}: {1}".format(params["name"], error), **error.result())
    protected = bool(((current or {}).get("settings") or {}).get("deletionProtectionEnabled"))
    if protected and not params["force_delete"]:
        module.fail_json(msg="Cloud SQL instance {0} has deletion protection; nothing was deleted. Set force_delete to turn it off and "
                             "delete the instance.".format(params["name"]), instance=current)
    if current is not None and not module.check_mode:
        try:
            if protected:
                wait(client, params, client.patch(url, {"settings": {"deletionProtectionEnabled": False,
                                                                     "settingsVersion": current["settings"].get("settingsVersion")}}))
            wait(client, params, client.delete(url, allow_not_found=True))
        except OperationTimeout as error:
            module.fail_json(msg=str(error), changed=True)
        except GcpApiError as error:
            module.fail_json(msg="Could not delete Cloud SQL instance {0}: {1}".format(params["name"], error), **error.result())
    result = dict(changed=current is not None, instance=current or {}, changed_fields=[])
    if module._diff:
        result["diff"] = dict(before={"name": params["name"]} if current else {}, after={})
    module.exit_json(**result)


def argument_spec():
    return dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        region=dict(type="str"),
        zone=dict(type="str"),
        database_version=dict(type="str"),
        edition=dict(type="str", choices=["ENTERPRISE", "ENTERPRISE_PLUS"]),
        tier=dict(type="str"),
        availability_type=dict(type="str", choices=["ZONAL", "REGIONAL"]),
        disk_size_gb=dict(type="int"),
        ipv4_enabled=dict(type="bool"),
        private_network=dict(type="str"),
        ssl_mode=dict(type="str", choices=["ALLOW_UNENCRYPTED_AND_ENCRYPTED", "ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"]),
        backups=dict(type="bool"),
        backup_start_time=dict(type="str"),
        backup_retained_count=dict(type="int"),
        point_in_time_recovery=dict(type="bool"),
        transaction_log_retention_days=dict(type="int"),
        deletion_protection=dict(type="bool"),
        labels=dict(type="dict"),
        force_delete=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
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
