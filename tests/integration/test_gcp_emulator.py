"""The GCP emulator itself: routing from the discovery documents, validation in the APIs' words,
long-running operations, IAM etags, the Cloud Run revision failure hook, IAP, the proxy and the
token endpoint. Every call goes through the proxy to the real https://<api>.googleapis.com URLs."""

from __future__ import annotations

import json
import time

import pytest
import requests

RUN = "https://run.googleapis.com/v2"
COMPUTE = "https://compute.googleapis.com/compute/v1"
IMAGE = "europe-docker.pkg.dev/mlops-test/mlflow/mlflow:3.18.0"


@pytest.fixture
def api(gcp):
    return gcp.session()


def services(gcp) -> str:
    return f"{RUN}/projects/{gcp.project}/locations/{gcp.region}/services"


def create_service(api, gcp, name="mlflow", **fields):
    body = {"template": {"containers": [{"image": IMAGE}]}, **fields}
    answer = api.post(services(gcp), params={"serviceId": name}, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_error(answer, code, status, contains=""):
    assert answer.status_code == code, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error.get("status") == status
    assert contains in error["message"], error["message"]
    return error


# ------------------------------------------------------------------------------------------ Cloud Run
def test_cloud_run_service_life_cycle(api, gcp):
    op = create_service(api, gcp, iapEnabled=True, invokerIamDisabled=False)
    assert op["done"] is True
    assert op["name"].startswith(f"projects/{gcp.project}/locations/{gcp.region}/operations/")
    assert op["metadata"]["@type"] == "type.googleapis.com/google.cloud.run.v2.Service"
    service = op["response"]
    assert service["@type"] == "type.googleapis.com/google.cloud.run.v2.Service"
    assert service["uri"] == f"https://mlflow-{gcp.project_number}.{gcp.region}.run.app"
    assert service["iapEnabled"] is True
    assert service["generation"] == service["observedGeneration"] == "1"
    assert service["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"
    first = service["latestReadyRevision"]
    assert first == service["latestCreatedRevision"]
    assert first.startswith(f"projects/{gcp.project}/locations/{gcp.region}/services/mlflow/revisions/mlflow-00001-")
    assert service["template"]["containers"][0]["ports"] == [{"name": "http1", "containerPort": 8080}]

    # The project number names the same service.
    by_number = api.get(f"{RUN}/projects/{gcp.project_number}/locations/{gcp.region}/services/mlflow")
    assert by_number.status_code == 200 and by_number.json()["uid"] == service["uid"]

    # A label change: new generation, same revision. A template change: a new revision.
    name = f"{services(gcp)}/mlflow"
    labelled = api.patch(name, params={"updateMask": "labels"}, json={"labels": {"team": "ml"}}).json()["response"]
    assert labelled["generation"] == "2" and labelled["latestReadyRevision"] == first
    changed = api.patch(name, params={"updateMask": "template"},
                        json={"template": {"containers": [{"image": IMAGE + "-2"}]}}).json()["response"]
    assert changed["latestReadyRevision"] != first and "-00002-" in changed["latestReadyRevision"]
    revisions = api.get(f"{name}/revisions").json()["revisions"]
    assert len(revisions) == 2

    # A revision name given by the client cannot be reused for another template.
    named = api.patch(name, params={"updateMask": "template"},
                      json={"template": {"revision": "mlflow-v3", "containers": [{"image": IMAGE}]}}).json()
    assert named["response"]["latestReadyRevision"].endswith("/revisions/mlflow-v3")
    reused = api.patch(name, params={"updateMask": "template"},
                       json={"template": {"revision": "mlflow-v3", "containers": [{"image": IMAGE + "-3"}]}})
    assert_error(reused, 409, "ALREADY_EXISTS", "with different configuration already exists")

    listed = api.get(services(gcp)).json()["services"]
    assert [s["name"] for s in listed] == [service["name"]]
    assert_error(api.delete(name, params={"etag": '"stale"'}), 409, "ABORTED")
    deleted = api.delete(name).json()
    assert deleted["done"] is True and deleted["response"]["name"] == service["name"]
    assert_error(api.get(name), 404, "NOT_FOUND", "does not exist")


def test_cloud_run_create_conflict_validate_only_and_allow_missing(api, gcp):
    answer = api.post(services(gcp), params={"serviceId": "dry", "validateOnly": "true"},
                      json={"template": {"containers": [{"image": IMAGE}]}})
    assert answer.status_code == 200 and answer.json()["response"]["name"].endswith("/services/dry")
    assert_error(api.get(f"{services(gcp)}/dry"), 404, "NOT_FOUND")
    create_service(api, gcp, "twice")
    body = {"template": {"containers": [{"image": IMAGE}]}}
    again = api.post(services(gcp), params={"serviceId": "twice"}, json=body)
    assert_error(again, 409, "ALREADY_EXISTS", "already exists")
    upsert = api.patch(f"{services(gcp)}/upserted", params={"allowMissing": "true"},
                       json={"template": {"containers": [{"image": IMAGE}]}})
    assert upsert.status_code == 200, upsert.text
    assert api.get(f"{services(gcp)}/upserted").status_code == 200
    assert_error(api.patch(f"{services(gcp)}/absent", json={"template": {"containers": [{"image": IMAGE}]}}),
                 404, "NOT_FOUND")


@pytest.mark.parametrize("body, message", [
    ({"template": {"containers": [{"image": IMAGE}]}, "fooBar": 1},
     "Invalid JSON payload received. Unknown name \"fooBar\" at 'service': Cannot find field."),
    ({"template": {"containers": [{"image": IMAGE, "bogus": True}]}},
     "Unknown name \"bogus\" at 'service.template.containers[0]': Cannot find field."),
    ({"template": {"containers": [{"image": IMAGE}], "maxInstanceRequestConcurrency": "many"}},
     "Invalid value at 'service.template.max_instance_request_concurrency' (TYPE_INT32), \"many\""),
    ({"template": {"containers": [{"image": IMAGE}]}, "ingress": "EVERYONE"},
     "Invalid value at 'service.ingress' (TYPE_ENUM), \"EVERYONE\""),
    ({"template": {"containers": [{"image": IMAGE}], "timeout": "5m"}},
     "Invalid value at 'service.template.timeout' (type.googleapis.com/google.protobuf.Duration), \"5m\""),
    ({"template": {}}, "service.template.containers"),
], ids=["unknown-field", "unknown-nested", "wrong-type", "bad-enum", "bad-duration", "missing-container"])
def test_cloud_run_rejects_invalid_bodies_as_the_api_does(api, gcp, body, message):
    error = assert_error(api.post(services(gcp), params={"serviceId": "bad"}, json=body), 400, "INVALID_ARGUMENT",
                         message)
    violations = error["details"][0]
    assert violations["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert violations["fieldViolations"][0]["description"] == error["message"]
    assert gcp.control.mutating_requests()[-1]["status"] == 400


def test_output_only_fields_are_accepted_and_ignored(api, gcp):
    op = create_service(api, gcp, "echo", uri="https://forged.example", generation="42", reconciling=True)
    assert op["response"]["uri"].endswith(".run.app") and op["response"]["generation"] == "1"
    # int64 fields accept numbers as well as strings (proto JSON)
    answer = api.patch(f"{services(gcp)}/echo", params={"updateMask": "scaling"},
                       json={"scaling": {"minInstanceCount": 1}})
    assert answer.status_code == 200, answer.text


def test_missing_required_query_parameter_and_unknown_route(api, gcp):
    assert_error(api.post(services(gcp), json={"template": {"containers": [{"image": IMAGE}]}}), 400,
                 "INVALID_ARGUMENT", "service_id")
    assert_error(api.get(f"{RUN}/nowhere"), 404, "NOT_FOUND")
    assert_error(api.get(services(gcp), params={"pageSise": "5"}), 400, "INVALID_ARGUMENT",
                 "Unknown name \"pageSise\": Cannot bind query parameter.")
    assert api.get(services(gcp), params={"page_size": "5"}).status_code == 200  # the proto field name binds
    # storage.buckets.list requires ?project=
    answer = api.get("https://storage.googleapis.com/storage/v1/b")
    error = answer.json()["error"]  # storage's errors have no `status`
    assert answer.status_code == 400 and "project" in error["message"] and error["errors"][0]["reason"] == "required"


def test_cloud_run_operation_delay_and_wait(api, gcp):
    gcp.control.configure(operation_delay=1.0)
    op = create_service(api, gcp, "slow")
    assert "done" not in op and "response" not in op
    service = api.get(f"{services(gcp)}/slow").json()
    assert service["reconciling"] is True
    assert service["terminalCondition"]["state"] == "CONDITION_RECONCILING"
    assert "latestReadyRevision" not in service
    polled = api.get(f"{RUN}/{op['name']}").json()
    assert "done" not in polled
    started = time.monotonic()
    waited = api.post(f"{RUN}/{op['name']}:wait", json={"timeout": "10s"}).json()
    assert waited["done"] is True and time.monotonic() - started < 5
    assert api.get(f"{services(gcp)}/slow").json()["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"
    listed = api.get(f"{RUN}/projects/{gcp.project}/locations/{gcp.region}/operations").json()["operations"]
    assert op["name"] in [item["name"] for item in listed]


def test_cloud_run_next_revision_fails_when_told(api, gcp):
    create_service(api, gcp, "fragile")
    name = f"{services(gcp)}/fragile"
    first = api.get(name).json()["latestReadyRevision"]
    gcp.control.fail_next_revision("fragile")
    op = api.patch(name, params={"updateMask": "template"},
                   json={"template": {"containers": [{"image": IMAGE + "-broken"}]}}).json()
    assert op["done"] is True and "response" not in op
    assert op["error"]["code"] == 9
    assert "failed to start and listen on the port defined provided by the PORT=8080" in op["error"]["message"]
    service = api.get(name).json()
    assert service["terminalCondition"]["state"] == "CONDITION_FAILED"
    assert "PORT=8080" in service["terminalCondition"]["message"]
    assert service["latestReadyRevision"] == first != service["latestCreatedRevision"]
    # Only once: the next template change succeeds.
    fixed = api.patch(name, params={"updateMask": "template"},
                      json={"template": {"containers": [{"image": IMAGE + "-fixed"}]}}).json()
    assert fixed["response"]["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"


def test_iam_policies_with_etags(api, gcp):
    create_service(api, gcp, "guarded")
    resource = f"{services(gcp)}/guarded"
    empty = api.get(f"{resource}:getIamPolicy").json()
    assert "bindings" not in empty and empty["etag"]
    binding = {"role": "roles/run.invoker",
               "members": [f"serviceAccount:service-{gcp.project_number}@gcp-sa-iap.iam.gserviceaccount.com"]}
    policy = {"bindings": [binding], "etag": empty["etag"]}
    stored = api.post(f"{resource}:setIamPolicy", json={"policy": policy}).json()
    assert stored["bindings"] == [binding] and stored["etag"] != empty["etag"]
    stale = api.post(f"{resource}:setIamPolicy", json={"policy": {"bindings": [], "etag": empty["etag"]}})
    assert_error(stale, 409, "ABORTED", "concurrent policy changes")
    assert_error(api.post(f"{resource}:setIamPolicy", json={"policy": {"bindings": [
        {"role": "roles/run.invoker", "members": ["nobody"]}]}}), 400, "INVALID_ARGUMENT")
    tested = api.post(f"{resource}:testIamPermissions", json={"permissions": ["run.services.get"]}).json()
    assert tested == {"permissions": ["run.services.get"]}
    assert_error(api.get(f"{services(gcp)}/ghost:getIamPolicy"), 404, "NOT_FOUND")
    project_policy = api.post(f"https://cloudresourcemanager.googleapis.com/v1/projects/{gcp.project}:getIamPolicy",
                              json={}).json()
    assert project_policy["bindings"][0]["role"] == "roles/owner"


def test_responses_fit_the_discovery_response_schemas(api, gcp):
    """With ``strict`` the emulator checks its answers itself; check a few here independently."""
    from gcp_emulator.discovery import load

    create_service(api, gcp, "typed")
    run = load("run").validator
    assert run.check("GoogleCloudRunV2Service", api.get(f"{services(gcp)}/typed").json(), "", response=True) == []
    assert run.check("GoogleIamV1Policy", api.get(f"{services(gcp)}/typed:getIamPolicy").json(), "",
                     response=True) == []
    op = api.post(f"{COMPUTE}/projects/{gcp.project}/global/addresses", json={"name": "lb-ip"}).json()
    compute = load("compute").validator
    assert compute.check("Operation", op, "", response=True) == []
    assert compute.check("Address", api.get(f"{COMPUTE}/projects/{gcp.project}/global/addresses/lb-ip").json(), "",
                         response=True) == []


# ------------------------------------------------------------------------------------------ IAP
def test_iap_settings_and_policies_on_a_cloud_run_service(api, gcp):
    create_service(api, gcp, "mlflow", iapEnabled=True)
    resource = f"projects/{gcp.project_number}/iap_web/cloud_run-{gcp.region}/services/mlflow"
    iap = f"https://iap.googleapis.com/v1/{resource}"
    assert api.get(f"{iap}:iapSettings").json() == {"name": resource}
    settings = {"accessSettings": {"allowedDomainsSettings": {"enable": True, "domains": ["example.com"]}}}
    mask = "iapSettings.accessSettings.allowedDomainsSettings"
    patched = api.patch(f"{iap}:iapSettings", params={"updateMask": mask},
                        json=dict(settings, name=resource))
    assert patched.status_code == 200, patched.text
    assert api.get(f"{iap}:iapSettings").json()["accessSettings"] == settings["accessSettings"]
    bad = api.patch(f"{iap}:iapSettings", json={"accessSettings": {"allowedDomains": {}}})
    assert_error(bad, 400, "INVALID_ARGUMENT", "Unknown name \"allowedDomains\"")

    policy = api.post(f"{iap}:getIamPolicy", json={}).json()
    binding = {"role": "roles/iap.httpsResourceAccessor", "members": ["group:ml-team@example.com"]}
    stored = api.post(f"{iap}:setIamPolicy", json={"policy": {"bindings": [binding], "etag": policy["etag"]}}).json()
    assert stored["bindings"] == [binding]
    assert api.post(f"{iap}:getIamPolicy", json={}).json()["bindings"] == [binding]
    missing = iap.rsplit("/", 1)[0] + "/none"
    assert_error(api.post(f"{missing}:getIamPolicy", json={}), 404, "NOT_FOUND")


def test_iap_brands_api_is_shut_down(api, gcp):
    for answer in (api.get(f"https://iap.googleapis.com/v1/projects/{gcp.project_number}/brands"),
                   api.post(f"https://iap.googleapis.com/v1/projects/{gcp.project_number}/brands",
                            json={"applicationTitle": "MLflow", "supportEmail": "ml@example.com"})):
        assert_error(answer, 400, "FAILED_PRECONDITION", "shut down on March 19, 2026")


# ------------------------------------------------------------------------------------------ Compute
def compute_insert(api, gcp, path, body, region=None):
    scope = f"regions/{region}" if region else "global"
    op = api.post(f"{COMPUTE}/projects/{gcp.project}/{scope}/{path}", json=body)
    assert op.status_code == 200, op.text
    op = op.json()
    assert op["kind"] == "compute#operation" and op["status"] == "DONE" and op["operationType"] == "insert"
    return api.get(op["targetLink"]).json()


def test_compute_load_balancer_chain_references_and_in_use(api, gcp):
    create_service(api, gcp, "mlflow")
    neg = compute_insert(api, gcp, "networkEndpointGroups", {
        "name": "mlflow-neg", "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "mlflow"}}, gcp.region)
    assert neg["selfLink"] == (f"https://www.googleapis.com/compute/v1/projects/{gcp.project}/regions/{gcp.region}"
                               "/networkEndpointGroups/mlflow-neg")
    backend = compute_insert(api, gcp, "backendServices", {
        "name": "mlflow-backend", "loadBalancingScheme": "EXTERNAL_MANAGED",
        "backends": [{"group": f"projects/{gcp.project}/regions/{gcp.region}/networkEndpointGroups/mlflow-neg"}],
        "iap": {"enabled": True, "oauth2ClientId": "client", "oauth2ClientSecret": "s3cret"}})
    assert backend["backends"][0]["group"] == neg["selfLink"]
    assert "oauth2ClientSecret" not in backend["iap"] and len(backend["iap"]["oauth2ClientSecretSha256"]) == 64
    url_map = compute_insert(api, gcp, "urlMaps", {"name": "mlflow", "defaultService": backend["selfLink"]})
    cert = compute_insert(api, gcp, "sslCertificates", {"name": "mlflow", "type": "MANAGED",
                                                        "managed": {"domains": ["mlflow.example.com"]}})
    assert cert["managed"]["status"] == "PROVISIONING"
    assert cert["managed"]["domainStatus"] == {"mlflow.example.com": "PROVISIONING"}
    proxy = compute_insert(api, gcp, "targetHttpsProxies", {
        "name": "mlflow", "urlMap": "global/urlMaps/mlflow", "sslCertificates": [cert["selfLink"]]})
    address = compute_insert(api, gcp, "addresses", {"name": "mlflow-ip"})
    rule = compute_insert(api, gcp, "forwardingRules", {
        "name": "mlflow-https", "target": proxy["selfLink"], "portRange": "443", "IPAddress": address["selfLink"],
        "loadBalancingScheme": "EXTERNAL_MANAGED"})
    assert rule["IPAddress"] == address["address"] and rule["portRange"] == "443-443"
    address = api.get(address["selfLink"]).json()
    assert address["status"] == "IN_USE" and address["users"] == [rule["selfLink"]]
    assert_error(api.delete(address["selfLink"]), 400, "INVALID_ARGUMENT", "is already being used by")

    in_use = api.delete(backend["selfLink"].replace("www.googleapis.com", "compute.googleapis.com"))
    error = assert_error(in_use, 400, "INVALID_ARGUMENT", "is already being used by")
    assert error["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    dangling = api.post(f"{COMPUTE}/projects/{gcp.project}/global/urlMaps",
                        json={"name": "other", "defaultService": "global/backendServices/nope"})
    assert_error(dangling, 404, "NOT_FOUND", "global/backendServices/nope")
    again = api.post(f"{COMPUTE}/projects/{gcp.project}/global/urlMaps",
                     json={"name": "mlflow", "defaultService": backend["selfLink"]})
    assert_error(again, 409, "ALREADY_EXISTS", "already exists")
    stale = api.put(url_map["selfLink"], json=dict(url_map, fingerprint="AAAAAAAAAAA="))
    assert_error(stale, 412, "FAILED_PRECONDITION", "fingerprint")
    # Backend services and URL maps are updated with their current fingerprint only.
    without = api.patch(backend["selfLink"], json={"iap": {"enabled": True}})
    assert_error(without, 412, "FAILED_PRECONDITION", "fingerprint")
    assert_error(api.post(f"{COMPUTE}/projects/{gcp.project}/global/backendServices",
                          json={"name": "x", "loadBalancingScheme": "NOPE"}), 400, "INVALID_ARGUMENT", "Must be one of")

    # IAP on a backend service, by name and by id
    for ref in ("mlflow-backend", backend["id"]):
        iap = f"https://iap.googleapis.com/v1/projects/{gcp.project_number}/iap_web/compute/services/{ref}"
        assert api.post(f"{iap}:getIamPolicy", json={}).status_code == 200


def test_compute_operation_delay_and_wait(api, gcp):
    gcp.control.configure(operation_delay=0.5)
    op = api.post(f"{COMPUTE}/projects/{gcp.project}/global/addresses", json={"name": "slow-ip"}).json()
    assert op["status"] == "RUNNING"
    assert api.get(op["selfLink"]).json()["status"] == "RUNNING"
    done = api.post(op["selfLink"] + "/wait").json()
    assert done["status"] == "DONE" and done["targetLink"].endswith("/global/addresses/slow-ip")


# ------------------------------------------------------------------------------------------ Transport
def test_proxy_refuses_hosts_it_does_not_emulate(gcp):
    session = gcp.session()
    for url in ("https://example.com/", "https://pypi.example.org/simple/", "https://accounts.google.com/"):
        with pytest.raises(requests.exceptions.ProxyError):
            session.get(url, timeout=10)


def test_chunked_bodies_and_keep_alive(api, gcp):
    """A body sent chunked (no Content-Length) arrives whole; one connection serves many requests."""
    chunks = iter([b'{"name": ', b'"chunked-ip", ', b'"description": "sent in chunks"}'])
    answer = api.post(f"{COMPUTE}/projects/{gcp.project}/global/addresses", data=chunks,
                      headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert api.get(answer.json()["targetLink"]).json()["description"] == "sent in chunks"
    api.get(answer.json()["targetLink"])
    first, second = gcp.control.requests()[-2:]  # two GETs in a row: one connection
    assert first["connection"] == second["connection"]


def test_requests_without_a_token_are_unauthenticated(gcp):
    session = gcp.session()
    del session.headers["Authorization"]
    assert_error(session.get(services(gcp)), 401, "UNAUTHENTICATED", "invalid authentication credentials")


def test_service_account_key_file_through_google_auth(gcp, tmp_path, monkeypatch):
    """google-auth's service-account credentials sign a JWT and trade it at oauth2.googleapis.com."""
    import google.auth.transport.requests
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": gcp.project, "private_key_id": "1", "private_key": key,
            "client_email": f"deployer@{gcp.project}.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token"}
    (tmp_path / "key.json").write_text(json.dumps(info))
    for name, value in gcp.environment.items():
        monkeypatch.setenv(name, value)
    credentials = service_account.Credentials.from_service_account_file(
        str(tmp_path / "key.json"), scopes=["https://www.googleapis.com/auth/cloud-platform"])
    session = google.auth.transport.requests.AuthorizedSession(credentials)
    answer = session.get(f"https://cloudresourcemanager.googleapis.com/v1/projects/{gcp.project}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["projectNumber"] == gcp.project_number
    assert credentials.token.startswith("ya29.")
    # The token stands for the service account: Cloud Run records it as the creator.
    created = session.post(services(gcp), params={"serviceId": "by-key"},
                           json={"template": {"containers": [{"image": IMAGE}]}}).json()
    assert created["response"]["creator"] == info["client_email"]
    # ID tokens (what a client of an IAP-protected service presents)
    id_credentials = service_account.IDTokenCredentials.from_service_account_info(
        info, target_audience=f"https://mlflow-{gcp.project_number}.{gcp.region}.run.app")
    id_credentials.refresh(google.auth.transport.requests.Request())
    assert id_credentials.token.count(".") == 2


def test_request_log_says_what_mutated(api, gcp):
    start = gcp.control.last_request_id()
    api.get(services(gcp))
    api.post(f"https://iap.googleapis.com/v1/projects/{gcp.project_number}/iap_web:getIamPolicy", json={})
    assert gcp.control.mutating_requests(since=start) == []
    create_service(api, gcp, "logged")
    entries = gcp.control.requests(since=start)
    assert [(e["api"], e["method"], e["mutating"]) for e in entries] == [
        ("run", "run.projects.locations.services.list", False),
        ("iap", "iap.getIamPolicy", False),
        ("run", "run.projects.locations.services.create", True)]
    assert entries[-1]["status"] == 200 and entries[-1]["http_method"] == "POST"


# ------------------------------------------------------------------------------------------ Others
def test_other_apis_round_trip(api, gcp):
    """One pass over the remaining APIs: Secret Manager, IAM, Storage, Cloud SQL, Service Usage."""
    sm = f"https://secretmanager.googleapis.com/v1/projects/{gcp.project}/secrets"
    assert_error(api.post(sm, params={"secretId": "db"}, json={}), 400, "INVALID_ARGUMENT", "replication")
    secret = api.post(sm, params={"secretId": "db"}, json={"replication": {"automatic": {}}}).json()
    assert secret["name"] == f"projects/{gcp.project_number}/secrets/db"
    assert_error(api.post(sm, params={"secretId": "db"}, json={"replication": {"automatic": {}}}), 409,
                 "ALREADY_EXISTS")
    version = api.post(f"{sm}/db:addVersion", json={"payload": {"data": "czNjcmV0"}}).json()
    assert version["name"].endswith("/versions/1") and version["state"] == "ENABLED"
    assert api.get(f"{sm}/db/versions/latest:access").json()["payload"]["data"] == "czNjcmV0"
    api.post(f"{sm}/db/versions/1:destroy", json={})
    assert_error(api.get(f"{sm}/db/versions/1:access"), 400, "FAILED_PRECONDITION", "DESTROYED")

    iam = f"https://iam.googleapis.com/v1/projects/{gcp.project}/serviceAccounts"
    account = api.post(iam, json={"accountId": "mlflow-server", "serviceAccount": {"displayName": "MLflow"}}).json()
    assert account["email"] == f"mlflow-server@{gcp.project}.iam.gserviceaccount.com"
    assert api.get(f"{iam}/{account['email']}").json()["uniqueId"] == account["uniqueId"]
    assert_error(api.post(iam, json={"accountId": "mlflow-server"}), 409, "ALREADY_EXISTS")

    storage = "https://storage.googleapis.com/storage/v1/b"
    bucket = api.post(storage, params={"project": gcp.project}, json={
        "name": "mlops-test-artifacts", "location": "europe-west1",
        "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}, "publicAccessPrevention": "enforced"}})
    assert bucket.status_code == 200, bucket.text
    assert bucket.json()["location"] == "EUROPE-WEST1"
    conflict = api.post(storage, params={"project": gcp.project}, json={"name": "mlops-test-artifacts"})
    assert conflict.status_code == 409 and conflict.json()["error"]["errors"][0]["reason"] == "conflict"
    policy = api.get(f"{storage}/mlops-test-artifacts/iam").json()
    assert policy["kind"] == "storage#policy"
    assert api.put(f"{storage}/mlops-test-artifacts/iam", json=dict(policy, etag="CAx=")).status_code == 412

    sql = f"https://sqladmin.googleapis.com/sql/v1beta4/projects/{gcp.project}"
    op = api.post(f"{sql}/instances", json={"name": "mlflow-db", "databaseVersion": "POSTGRES_17",
                                            "region": gcp.region, "settings": {"tier": "db-f1-micro"}}).json()
    assert op["kind"] == "sql#operation" and op["status"] == "DONE" and op["operationType"] == "CREATE"
    instance = api.get(f"{sql}/instances/mlflow-db").json()
    assert instance["serverCaCert"]["cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert instance["connectionName"] == f"{gcp.project}:{gcp.region}:mlflow-db"
    assert instance["state"] == "RUNNABLE" and instance["settings"]["settingsVersion"] == "1"
    assert api.get(f"{sql}/operations/{op['name']}").json()["status"] == "DONE"

    su = f"https://serviceusage.googleapis.com/v1/projects/{gcp.project}/services/run.googleapis.com"
    assert api.get(su).json()["state"] == "DISABLED"
    enabled = api.post(f"{su}:enable", json={}).json()
    assert enabled["name"].startswith("operations/") and enabled["done"] is True
    assert enabled["response"]["service"]["state"] == "ENABLED"
    assert api.get(su).json()["name"] == f"projects/{gcp.project_number}/services/run.googleapis.com"


def test_apis_must_be_enabled_when_required(api, gcp):
    gcp.control.configure(require_enabled_services=True)
    error = assert_error(api.get(services(gcp)), 403, "PERMISSION_DENIED", "has not been used in project")
    assert error["details"][0]["reason"] == "SERVICE_DISABLED"
    enable = f"https://serviceusage.googleapis.com/v1/projects/{gcp.project}/services:batchEnable"
    assert api.post(enable, json={"serviceIds": ["run.googleapis.com"]}).json()["done"] is True
    assert api.get(services(gcp)).status_code == 200
    # storage is among the services a new project has enabled
    assert api.get("https://storage.googleapis.com/storage/v1/b", params={"project": gcp.project}).status_code == 200
