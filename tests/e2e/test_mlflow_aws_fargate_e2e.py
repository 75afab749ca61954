"""The role mlops.mlflow.mlflow_aws_fargate, end to end: the collection's playbook deploys MLflow on the
proving ground, and the deployment works for a real MLflow client.

For each backend store (Aurora PostgreSQL on a local PostgreSQL, Aurora MySQL on a local MariaDB, SQLite
on EFS) one test:

1. makes a VPC with three subnets in three availability zones (boto3), as a user has one;
2. runs ``playbooks/mlflow_aws_fargate.yml`` with ansible-playbook, as a user does (variables in the
   shape of ``playbooks/vars/mlflow_aws_fargate_minimal.yml``, the proving ground's region, an artifact
   prefix), once with ``-vvv``, then again: the second run changes nothing;
3. for the database backends, rotates the database password to one full of characters that break an
   unencoded URI;
4. runs what ECS would run from the role's outputs fact (``helpers.fargate_e2e``: the service's task on
   the local database server or a local EFS directory, behind a local load balancer that sends the load
   balancer's DNS name as Host), and uses it with a real MLflow client: experiment, params, metrics,
   artifacts, a registered model version, all read back, the artifacts found in the emulated bucket
   under the prefix; a foreign Host header gets 403, /health answers;
5. checks that the database password is nowhere it must not be: the playbook's output at ``-vvv``, the
   registered task definition, the outputs fact, the task's log.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
import time
from urllib.parse import quote

import pytest

from helpers.ansible import REPO_ROOT, run_playbook
from helpers.fargate_e2e import DeployedFargateMlflow
from helpers.mlflow_runs import list_keys

pytestmark = pytest.mark.slow

PLAYBOOK = REPO_ROOT / "playbooks" / "mlflow_aws_fargate.yml"
PREFIX = "team/mlflow"
FOREIGN_HOST = "evil.example.com"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=5"
OUTPUTS_TASK = "Publish the outputs of the deployment"
PLAYBOOK_TIMEOUT = 900
# backend store -> (stack name, database server fixture or None)
BACKENDS = {
    "aurora-postgresql": ("e2e-aurora-postgresql", "postgres_server"),
    "aurora-mysql": ("e2e-aurora-mysql", "mariadb_server"),
    "sqlite-efs": ("e2e-sqlite-efs", None),
}


@pytest.fixture
def network(aws):
    """A VPC with three subnets, one per availability zone of the proving ground's region."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{index}.0/24", AvailabilityZone=f"{aws.region}{zone}")["Subnet"]["SubnetId"]
               for index, zone in enumerate("abc", start=1)]
    return {"vpc_id": vpc, "subnet_ids": subnets}


def stack_variables(name: str, backend: str, network: dict, region: str) -> dict:
    """What playbooks/vars/mlflow_aws_fargate_minimal.yml says, with this test's ids, region and backend."""
    first, second, third = network["subnet_ids"]
    variables = {
        "mlflow_aws_fargate_name": name,
        "mlflow_aws_fargate_region": region,
        "mlflow_aws_fargate_backend_store": backend,
        "mlflow_aws_fargate_vpc_id": network["vpc_id"],
        "mlflow_aws_fargate_load_balancer_subnet_ids": [first, second],
        "mlflow_aws_fargate_service_subnet_ids": [second, third],
        "mlflow_aws_fargate_load_balancer_ingress_cidr_blocks": ["10.0.0.0/8"],
        "mlflow_aws_fargate_artifact_prefix": PREFIX,
        # One server worker: the task starts here, on a small machine, not on Fargate.
        "mlflow_aws_fargate_workers": 1,
        "mlflow_aws_fargate_tags": {"team": "e2e"},
    }
    if backend != "sqlite-efs":
        variables["mlflow_aws_fargate_database_subnet_ids"] = [first, third]
    return variables


def with_document(run):
    """The run with its JSON document, which at -vvv follows the verbose lines on stdout."""
    if run.document is not None:
        return run
    position = len(run.stdout)
    while True:
        position = run.stdout.rfind("\n{\n", 0, position)
        if position < 0:
            return run
        try:
            return dataclasses.replace(run, document=json.loads(run.stdout[position + 1:]))
        except ValueError:
            continue


def outputs_of(run) -> dict:
    published = [result for result in run.results if result["_task"].endswith(OUTPUTS_TASK)]
    assert published, f"no task {OUTPUTS_TASK!r} ran:\n{run.output[-6000:]}"
    return published[-1]["ansible_facts"]["mlflow_aws_fargate_outputs"]


def changed_tasks(run) -> list:
    return [result["_task"] for result in run.results if result.get("changed")]


def rotated_password() -> str:
    """Letters and every character that breaks an unencoded URI: @ : / # ? % + and space."""
    letters = "".join(secrets.choice(string.ascii_letters) for index in range(12))
    return f"{letters[:6]}@:/#?%+ {letters[6:]}"


def forms(password: str) -> dict:
    return {"the database password": password, "the percent-encoded database password": quote(password, safe="")}


def assert_nowhere(password: str, places: dict) -> None:
    for place, text in places.items():
        for form, value in forms(password).items():
            assert value not in text, f"{form} is in {place}"


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_the_playbook_deploys_an_mlflow_that_works(backend, aws, network, tmp_path, request):
    name, server_fixture = BACKENDS[backend]
    database_server = request.getfixturevalue(server_fixture) if server_fixture else None
    variables = stack_variables(name, backend, network, aws.region)
    workdir = tmp_path / "ansible"
    started = time.monotonic()

    deploy = with_document(run_playbook(workdir, aws.child_environment(), PLAYBOOK, extra_vars=variables, extra_args=["-vvv"],
                                        timeout=PLAYBOOK_TIMEOUT))
    assert deploy.rc == 0, deploy.output[-20000:]
    assert deploy.recap.get("failures") == 0 and deploy.recap.get("changed", 0) > 0, deploy.recap
    assert "<localhost> EXEC " in deploy.stdout, "ansible-playbook was not verbose: the check of its output below would prove little"
    outputs = outputs_of(deploy)
    print(f"\n{backend}: deployed after {time.monotonic() - started:.0f}s")
    assert (outputs["name"], outputs["region"], outputs["backend_store"]) == (name, aws.region, backend)
    assert outputs["artifact_uri"] == f"s3://{outputs['bucket_name']}/{PREFIX}", outputs["artifact_uri"]
    assert outputs["tracking_uri"] == f"http://{outputs['load_balancer_dns_name']}", outputs["tracking_uri"]

    again = run_playbook(workdir, aws.child_environment(), PLAYBOOK, extra_vars=variables, timeout=PLAYBOOK_TIMEOUT)
    assert again.rc == 0, again.output[-20000:]
    assert again.recap.get("changed") == 0, f"the second run changed {changed_tasks(again)}"
    assert outputs_of(again) == outputs
    print(f"{backend}: deployed again, changing nothing, after {time.monotonic() - started:.0f}s")

    deployment = DeployedFargateMlflow.from_outputs(outputs, aws, tmp_path / "deployment")
    assert deployment.artifact_prefix == PREFIX
    generated = rotated = None
    if database_server is not None:
        secretsmanager = aws.client("secretsmanager")
        document = json.loads(secretsmanager.get_secret_value(SecretId=outputs["database_secret_arn"])["SecretString"])
        generated = document["password"]
        assert len(generated) >= 16, "the role generated no real password"
        definition = aws.client("ecs").describe_task_definition(taskDefinition=outputs["task_definition_arn"], include=["TAGS"])
        (container,) = [entry for entry in definition["taskDefinition"]["containerDefinitions"] if entry["name"] == "mlflow"]
        assert [entry for entry in container.get("secrets", []) if entry["valueFrom"].startswith(outputs["database_secret_arn"])]
        assert_nowhere(generated, {
            "the output of ansible-playbook -vvv": deploy.stdout + deploy.stderr,
            "the output of the second run": again.stdout + again.stderr,
            "the registered task definition": json.dumps(definition, default=str),
            "the outputs fact": json.dumps(outputs),
        })
        # A rotation. RDS refuses / @ " and spaces in a master password it is given, so the role generates
        # none of them; but the secret holds whatever a rotation (or a person) put there, and the task must
        # start with it: that is what the container's percent-encoding of the credentials is for.
        rotated = document["password"] = rotated_password()
        secretsmanager.put_secret_value(SecretId=outputs["database_secret_arn"], SecretString=json.dumps(document))

    with deployment.run(database_server=database_server) as running:
        print(f"{backend}: MLflow answered after {time.monotonic() - started:.0f}s (the task took {running.task.startup_seconds:.0f}s)")
        if rotated is not None:
            assert running.database.password == rotated
        exercised = running.exercise(tmp_path)
        hosts = {entry.host for entry in running.load_balancer.requests}
        assert hosts == {outputs["load_balancer_dns_name"]}, hosts
        keys = list_keys(deployment.client("s3"), outputs["bucket_name"], PREFIX)
        assert exercised.object_keys and set(exercised.object_keys) <= set(keys), (exercised.object_keys, keys)
        assert all(key.startswith(PREFIX + "/") for key in exercised.object_keys), exercised.object_keys
        status, body = running.request("GET", SEARCH)
        assert status == 200 and exercised.experiment_name in body, (status, body[:500])
        status, body = running.request("GET", SEARCH, host=FOREIGN_HOST)
        assert status == 403 and "Invalid Host header" in body, (status, body[:500])
        assert running.request("GET", "/health")[0] == 200
        assert running.request("GET", "/health", host=FOREIGN_HOST)[0] == 200
    print(f"{backend}: exercised and stopped after {time.monotonic() - started:.0f}s")
    assert running.leaked_secrets() == []
    if generated is not None:
        assert_nowhere(generated, {"the task's log": running.log_text()})
