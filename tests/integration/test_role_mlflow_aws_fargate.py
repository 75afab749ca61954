"""The role mlops.mlflow.mlflow_aws_fargate run by ansible-playbook against the proving ground.

Each deployment runs the collection's own playbook (playbooks/mlflow_aws_fargate.yml) with the user's variables as
extra vars, the AWS endpoint and its CA taken from the proving ground's environment alone, then checks what the
emulator holds through boto3 and what the role asked of AWS through the proving ground's request log.

A playbook run on this machine takes 30 to 80 seconds, so the tests share deployments: the module empties the
proving ground once, makes one VPC, and each class deploys one stack under a name of its own and runs its steps in
order (fresh deployment, re-run, check mode, change, removal). Every assertion on calls looks only at the requests of
its own run (``run.requests`` / ``run.mutations``), so the stacks do not see each other.
"""

from __future__ import annotations

import json
import os
import textwrap
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from conftest import AwsTestAccount
from helpers import aws_resources
from helpers.ansible import REPO_ROOT, run_playbook

pytestmark = pytest.mark.slow

ROLE = "mlops.mlflow.mlflow_aws_fargate"
PLAYBOOK = REPO_ROOT / "playbooks" / "mlflow_aws_fargate.yml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
CIDRS = ["10.0.0.0/8", "192.168.0.0/16"]
IMAGE = "ghcr.io/mlflow/mlflow:v3.18.0-full"  # the module's default
NEW_IMAGE = "ghcr.io/mlflow/mlflow:v3.19.0-full"
BROKEN_IMAGE = "ghcr.io/mlflow/mlflow:v3.20.0-full"
AWX_TOKEN = "awx-injected-temporary-token"
OUTPUT_KEYS = {
    "state", "name", "region", "account_id", "tracking_uri", "allowed_hosts", "cors_allowed_origins",
    "load_balancer_dns_name", "load_balancer_arn", "load_balancer_zone_id", "load_balancer_security_group_id",
    "target_group_arn", "cluster_name", "cluster_arn", "service_name", "service_arn", "service_security_group_id",
    "task_definition_arn", "execution_role_arn", "task_role_arn", "log_group_name", "bucket_name", "bucket_arn",
    "artifact_uri", "artifact_kms_key_arn", "backend_store", "database_cluster_identifier", "database_endpoint",
    "database_reader_endpoint", "database_port", "database_name", "database_secret_arn", "database_security_group_id",
    "data_kms_key_arn", "efs_file_system_id", "efs_access_point_id", "migration_task_arn"}
MIGRATION_TASK = "Run mlflow db upgrade as a one-off task with the new task definition"

# Loaded by every Python process of one ansible-playbook run (the controller, where lookups run, and each module):
# records whether botocore signed each request with a session token, to show what AWX-style credentials reach AWS.
SIGNING_RECORDER = textwrap.dedent('''\
    """Test aid: append one line per botocore request signature to $MLOPS_TEST_SIGNING_LOG."""
    import json
    import os

    if os.environ.get("MLOPS_TEST_SIGNING_LOG"):
        import botocore.auth

        _ORIGINAL_ADD_AUTH = botocore.auth.SigV4Auth.add_auth

        def _recording_add_auth(self, request):
            _ORIGINAL_ADD_AUTH(self, request)
            entry = {"pid": os.getpid(), "service": self._service_name, "url": request.url,
                     "target": request.headers.get("X-Amz-Target"), "token": request.headers.get("X-Amz-Security-Token")}
            for key in ("target", "token"):
                if isinstance(entry[key], bytes):
                    entry[key] = entry[key].decode()
            with open(os.environ["MLOPS_TEST_SIGNING_LOG"], "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\\n")

        botocore.auth.SigV4Auth.add_auth = _recording_add_auth
''')


# --- Running the role ----------------------------------------------------------------------------------------------

def json_document(stdout):
    """The JSON callback's document in the output of a verbose run (-vvv prints more lines around it)."""
    start, end = stdout.find("\n{\n"), stdout.rfind("\n}")
    if start < 0 or end < start:
        return None
    try:
        return json.loads(stdout[start + 1:end + 2])
    except ValueError:
        return None


def outputs(run):
    """The last mlflow_aws_fargate_outputs the run set (the set_fact result carries it)."""
    facts = [result["ansible_facts"]["mlflow_aws_fargate_outputs"] for result in run.results
             if "mlflow_aws_fargate_outputs" in result.get("ansible_facts", {})]
    assert facts, report(run)
    return facts[-1]


def report(run):
    """A failed run, short: exit code, recap, the failed tasks' messages and the end of stderr."""
    failed = ["{0}: {1}".format(result["_task"], result.get("msg")) for result in run.results if result.get("failed")]
    return "rc={0} recap={1}\nfailed: {2}\nstderr: {3}\nstdout: {4}".format(
        run.rc, run.recap, "\n".join(failed) or "-", run.stderr[-3000:], "" if run.document else run.stdout[-3000:])


def changed_tasks(run):
    return [result["_task"].split(" : ", 1)[-1] for result in run.results if result.get("changed")]


def failure(run):
    failed = [result for result in run.results if result.get("failed")]
    assert failed, report(run)
    return failed[-1]


class Stack:
    """One MLflow stack: ``run(**changes)`` runs the collection's playbook with the stack's variables (plus changes)
    and returns the PlaybookRun with the requests it made (``requests``) and the mutating ones (``mutations``)."""

    def __init__(self, account, workdir, name, **variables):
        self.account = account
        self.workdir = workdir
        self.name = name
        self.variables = {"mlflow_aws_fargate_name": name, "mlflow_aws_fargate_region": REGION}
        self.variables.update(variables)
        self.cache = {}

    def run(self, check=False, diff=False, environment=None, extra_args=(), **changes):
        variables = dict(self.variables, **changes)
        control = self.account.control
        start = control.last_request_id()
        run = run_playbook(self.workdir, environment or self.account.child_environment(), PLAYBOOK, extra_vars=variables,
                           check=check, diff=diff, extra_args=list(extra_args), timeout=900)
        if run.document is None:
            run.document = json_document(run.stdout)
        run.requests = control.requests(since=start)
        run.mutations = [(entry["service"], entry["operation"]) for entry in run.requests if entry["mutating"]]
        return run

    def once(self, key, make):
        """A run shared by several tests of the stack: made by the first test that asks for it."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


@pytest.fixture(scope="module")
def account(proving_ground):
    """The proving ground with default settings, emptied once for the whole module."""
    control = proving_ground.client
    control.configure(latency_scale=0.0, latency_overrides={}, fault_rate=0.0, fault_services=[],
                      fault_kinds=["throttle"], fault_seed=None, strict=True)
    if control.mutating_requests():
        control.reset()
    control.clear_task_outcomes()
    return AwsTestAccount(proving_ground)


@pytest.fixture(scope="module")
def network(account):
    """A VPC with three subnets in three availability zones, and the variables that name them."""
    ec2 = account.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.61.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for index, zone in enumerate("abc")]
    return {"mlflow_aws_fargate_vpc_id": vpc, "mlflow_aws_fargate_load_balancer_subnet_ids": subnets,
            "mlflow_aws_fargate_service_subnet_ids": subnets, "mlflow_aws_fargate_load_balancer_ingress_cidr_blocks": CIDRS}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fargate")


def make_stack(account, workdir, network, name, **variables):
    return Stack(account, workdir / name, name, **dict(network, **variables))


# --- Reading the emulator ------------------------------------------------------------------------------------------

def security_group(account, name):
    groups = account.client("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    assert len(groups) == 1, (name, groups)
    return groups[0]


def rules(permissions):
    """{(protocol, from port, to port, source or destination)} of a group's ingress or egress permissions."""
    found = set()
    for permission in permissions:
        ports = (permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"))
        found.update(ports + (ip_range["CidrIp"],) for ip_range in permission.get("IpRanges", []))
        found.update(ports + (ip_range["CidrIpv6"],) for ip_range in permission.get("Ipv6Ranges", []))
        found.update(ports + (pair["GroupId"],) for pair in permission.get("UserIdGroupPairs", []))
    return found


def policy_resources(document):
    resources = set()
    for statement in document["Statement"]:
        resource = statement["Resource"]
        resources.update([resource] if isinstance(resource, str) else resource)
    return resources


def inline_policies(account, role_name):
    iam = account.client("iam")
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    documents = {}
    for policy_name in names:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        documents[policy_name] = json.loads(document) if isinstance(document, str) else document
    return documents


def task_definition(account, arn):
    return account.client("ecs").describe_task_definition(taskDefinition=arn, include=["TAGS"])["taskDefinition"]


def mlflow_container(definition):
    (container,) = [container for container in definition["containerDefinitions"] if container["name"] == "mlflow"]
    return container


def environment_of(container):
    return {variable["name"]: variable["value"] for variable in container.get("environment", [])}


def service_of(account, name):
    (service,) = account.client("ecs").describe_services(cluster=name, services=[name])["services"]
    return service


def raises(code, call, **arguments):
    with pytest.raises(ClientError) as caught:
        call(**arguments)
    assert caught.value.response["Error"]["Code"] in (code if isinstance(code, tuple) else (code,)), caught.value.response


def secret_password(account, secret_arn):
    return json.loads(account.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])["password"]


def assert_common_stack(account, stack, out, backend, data_port=None):
    """What every backend shares: groups, roles, load balancer, target group, log group, cluster, task definition."""
    name = stack.name
    assert set(out) == OUTPUT_KEYS, sorted(set(out) ^ OUTPUT_KEYS)
    assert (out["state"], out["name"], out["region"], out["account_id"], out["backend_store"]) == (
        "present", name, REGION, ACCOUNT, backend)

    lb_group = security_group(account, f"{name}-load-balancer")
    service_group = security_group(account, f"{name}-service")
    assert (out["load_balancer_security_group_id"], out["service_security_group_id"]) == (lb_group["GroupId"], service_group["GroupId"])
    # The load balancer: only the given networks, on the listener port; it talks to the tasks only.
    assert rules(lb_group["IpPermissions"]) == {("tcp", 80, 80, cidr) for cidr in CIDRS}
    assert rules(lb_group["IpPermissionsEgress"]) == {("tcp", 5000, 5000, service_group["GroupId"])}
    # The tasks: only the load balancer, on MLflow's port.
    assert rules(service_group["IpPermissions"]) == {("tcp", 5000, 5000, lb_group["GroupId"])}
    if data_port:
        data_group = security_group(account, f"{name}-{'efs' if backend == 'sqlite-efs' else 'database'}")
        assert rules(data_group["IpPermissions"]) == {("tcp", data_port, data_port, service_group["GroupId"])}
        assert rules(data_group["IpPermissionsEgress"]) == set()

    elbv2 = account.client("elbv2")
    (balancer,) = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    assert balancer["Scheme"] == "internal"
    assert balancer["SecurityGroups"] == [lb_group["GroupId"]]
    assert (out["load_balancer_arn"], out["load_balancer_dns_name"]) == (balancer["LoadBalancerArn"], balancer["DNSName"])
    assert out["tracking_uri"] == f"http://{balancer['DNSName']}"
    (target_group,) = elbv2.describe_target_groups(Names=[name])["TargetGroups"]
    assert out["target_group_arn"] == target_group["TargetGroupArn"]
    assert (target_group["HealthCheckPath"], target_group["Port"], target_group["Protocol"], target_group["TargetType"]) == (
        "/health", 5000, "HTTP", "ip")
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert [(listener["Protocol"], listener["Port"], [(action["Type"], action.get("TargetGroupArn")) for action in listener["DefaultActions"]])
            for listener in listeners] == [("HTTP", 80, [("forward", target_group["TargetGroupArn"])])]

    (log_group,) = account.client("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/{name}")["logGroups"]
    assert (log_group["logGroupName"], log_group["retentionInDays"]) == (f"/ecs/{name}", 30)

    (cluster,) = account.client("ecs").describe_clusters(clusters=[name], include=["SETTINGS"])["clusters"]
    assert cluster["status"] == "ACTIVE"
    assert {"name": "containerInsights", "value": "enabled"} in cluster.get("settings", [])

    # IAM: trusted by ECS tasks of this account only; no managed policy; one inline policy naming the stack's resources.
    iam = account.client("iam")
    for role_name, arn in ((f"{name}-execution", out["execution_role_arn"]), (f"{name}-task", out["task_role_arn"])):
        role = iam.get_role(RoleName=role_name)["Role"]
        assert role["Arn"] == arn
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert trust["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole",
                                       "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]

    definition = task_definition(account, out["task_definition_arn"])
    assert (definition["family"], definition["networkMode"], definition["requiresCompatibilities"]) == (name, "awsvpc", ["FARGATE"])
    assert (definition["executionRoleArn"], definition["taskRoleArn"]) == (out["execution_role_arn"], out["task_role_arn"])
    container = mlflow_container(definition)
    environment = environment_of(container)
    assert balancer["DNSName"] in environment["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert out["allowed_hosts"] == [balancer["DNSName"]]
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{name}"

    service = service_of(account, name)
    assert (service["status"], service["launchType"], service["taskDefinition"]) == ("ACTIVE", "FARGATE", out["task_definition_arn"])
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    vpc_configuration = service["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc_configuration["assignPublicIp"] == "DISABLED"
    assert sorted(vpc_configuration["subnets"]) == sorted(stack.variables["mlflow_aws_fargate_service_subnet_ids"])
    assert service["loadBalancers"] == [{"targetGroupArn": target_group["TargetGroupArn"], "containerName": "mlflow", "containerPort": 5000}]
    assert out["service_arn"] == service["serviceArn"]
    return {"lb_group": lb_group["GroupId"], "service_group": service_group["GroupId"], "definition": definition,
            "container": container, "environment": environment, "service": service, "balancer": balancer}


# --- Inputs that must fail before anything happens -----------------------------------------------------------------

# Each bad input (on top of a valid stack), and the words its failure message must hold: the variable and the fix.
BAD_INPUTS = {
    "name too long": ({"mlflow_aws_fargate_name": "m" * 33}, ["mlflow_aws_fargate_name", "at most 32"]),
    "name with uppercase": ({"mlflow_aws_fargate_name": "MLflow-Prod"}, ["mlflow_aws_fargate_name 'MLflow-Prod'", "lowercase"]),
    "empty name": ({"mlflow_aws_fargate_name": ""}, ["mlflow_aws_fargate_name", "empty"]),
    "region": ({"mlflow_aws_fargate_region": "Europe"}, ["mlflow_aws_fargate_region", "'Europe'"]),
    "no ingress": ({"mlflow_aws_fargate_load_balancer_ingress_cidr_blocks": []},
                   ["mlflow_aws_fargate_load_balancer_ingress_cidr_blocks", "at least one network"]),
    "bad cidr": ({"mlflow_aws_fargate_load_balancer_ingress_cidr_blocks": ["10.0.0.0/33"]},
                 ["mlflow_aws_fargate_load_balancer_ingress_cidr_blocks", "valid IPv4 CIDR"]),
    "public and open without login": ({"mlflow_aws_fargate_load_balancer_internal": False,
                                       "mlflow_aws_fargate_load_balancer_ingress_cidr_blocks": ["0.0.0.0/0"]},
                                      ["mlflow_aws_fargate_load_balancer_internal", "mlflow_aws_fargate_load_balancer_authentication"]),
    "oidc without certificate": ({"mlflow_aws_fargate_load_balancer_authentication": {
        "type": "oidc", "issuer": "https://login.example.com", "authorization_endpoint": "https://login.example.com/authorize",
        "token_endpoint": "https://login.example.com/token", "user_info_endpoint": "https://login.example.com/userinfo",
        "client_id": "mlflow", "client_secret": "never-shown-oidc-secret"}},
        ["mlflow_aws_fargate_load_balancer_authentication needs HTTPS", "mlflow_aws_fargate_load_balancer_certificate_arn"]),
    "oidc without client secret": ({"mlflow_aws_fargate_load_balancer_certificate_arn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc",
                                    "mlflow_aws_fargate_load_balancer_authentication": {
                                        "type": "oidc", "issuer": "https://login.example.com", "client_id": "mlflow"}},
                                   ["mlflow_aws_fargate_load_balancer_authentication", "client_secret"]),
    "cpu and memory": ({"mlflow_aws_fargate_cpu": 1024, "mlflow_aws_fargate_memory": 1024},
                       ["mlflow_aws_fargate_cpu=1024", "mlflow_aws_fargate_memory=1024"]),
    "no vpc": ({"mlflow_aws_fargate_vpc_id": ""}, ["mlflow_aws_fargate_vpc_id"]),
    "database in one zone": ({"mlflow_aws_fargate_service_subnet_ids": ["subnet-0a1a1a1a"]},
                             ["mlflow_aws_fargate_database_subnet_ids"]),
    "external without database": ({"mlflow_aws_fargate_backend_store": "external"}, ["mlflow_aws_fargate_external_database"]),
    "backend choice": ({"mlflow_aws_fargate_backend_store": "dynamodb"}, ["mlflow_aws_fargate_backend_store"]),
    "capacity": ({"mlflow_aws_fargate_database_min_capacity": 8, "mlflow_aws_fargate_database_max_capacity": 4},
                 ["mlflow_aws_fargate_database_min_capacity", "mlflow_aws_fargate_database_max_capacity"]),
    "autoscaling max below min": ({"mlflow_aws_fargate_autoscaling": {"min_capacity": 4, "max_capacity": 2}},
                                  ["mlflow_aws_fargate_autoscaling"]),
    "schedule without autoscaling": ({"mlflow_aws_fargate_scheduled_actions": [{"name": "night", "schedule": "cron(0 21 * * ? *)"}]},
                                     ["mlflow_aws_fargate_scheduled_actions"]),
    "bad schedule": ({"mlflow_aws_fargate_autoscaling": {"max_capacity": 4},
                      "mlflow_aws_fargate_scheduled_actions": [{"name": "night", "schedule": "every night"}]},
                     ["mlflow_aws_fargate_scheduled_actions"]),
    "sqlite with more tasks": ({"mlflow_aws_fargate_backend_store": "sqlite-efs", "mlflow_aws_fargate_autoscaling": {"max_capacity": 3}},
                               ["mlflow_aws_fargate_autoscaling", "one task"]),
    "state": ({"mlflow_aws_fargate_state": "gone"}, ["mlflow_aws_fargate_state"]),
    "static prefix without slash": ({"mlflow_aws_fargate_static_prefix": "mlflow"}, ["mlflow_aws_fargate_static_prefix", "'/mlflow'"]),
    # Refused by the artifact store role and by ecs_mlflow_task_definition as well, but only once the run is deep inside AWS.
    "artifact bucket name": ({"mlflow_aws_fargate_artifact_bucket_name": "Acme_Artifacts"},
                             ["mlflow_aws_fargate_artifact_bucket_name", "'Acme_Artifacts'", "lowercase"]),
    "artifact prefix": ({"mlflow_aws_fargate_artifact_prefix": "/mlflow/"}, ["mlflow_aws_fargate_artifact_prefix"]),
    "bucket named twice": ({"mlflow_aws_fargate_artifact_bucket_name": "acme-mlflow", "mlflow_aws_fargate_existing_artifact_bucket": "acme-data"},
                           ["mlflow_aws_fargate_artifact_bucket_name", "mlflow_aws_fargate_existing_artifact_bucket"]),
    "extra environment overriding the backend": ({"mlflow_aws_fargate_extra_environment": {"MLFLOW_BACKEND_STORE_URI": "sqlite:///x.db"}},
                                                 ["mlflow_aws_fargate_extra_environment", "MLFLOW_BACKEND_STORE_URI"]),
    "extra secret overriding the password": (
        {"mlflow_aws_fargate_extra_secrets": {"MLOPS_DB_PASSWORD": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:x-AbCdEf"}},
        ["mlflow_aws_fargate_extra_secrets", "MLOPS_DB_PASSWORD"]),
    "variable both plain and secret": (
        {"mlflow_aws_fargate_extra_environment": {"TEAM_TOKEN": "x"},
         "mlflow_aws_fargate_extra_secrets": {"TEAM_TOKEN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:x-AbCdEf"}},
        ["mlflow_aws_fargate_extra_secrets", "TEAM_TOKEN"]),
}

# The message of a failed task, with the messages of its failed items (a loop's own message is "One or more items failed").
FAILURE_MESSAGES = ("ansible_failed_result.msg ~ ' ' ~ (ansible_failed_result.results | default([]) | selectattr('failed', 'defined')"
                    " | selectattr('failed') | map(attribute='msg') | join(' '))")


def rescued_cases(network, cases):
    """One play that includes the role once per case, each in a block whose rescue records the failure message."""
    def record(case, outcome):
        return {"name": f"Record case {case}", "ansible.builtin.set_fact": {
            "mlops_failures": "{{ mlops_failures | combine({mlops_case: " + outcome + "}) }}"},
            "vars": {"mlops_case": case}}

    tasks = []
    for index, (case, (variables, dummy)) in enumerate(cases.items()):
        inclusion = dict(network, mlflow_aws_fargate_name=f"mlflow-bad-{index}", mlflow_aws_fargate_region=REGION)
        inclusion.update(variables)
        tasks.append({"name": f"Case {case}",
                      "block": [{"ansible.builtin.include_role": {"name": ROLE}, "vars": inclusion}, record(case, "'did not fail'")],
                      "rescue": [record(case, FAILURE_MESSAGES)]})
    tasks.append({"name": "Show the failures", "ansible.builtin.debug": {"var": "mlops_failures"}})
    return [{"name": "Bad inputs", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"mlops_failures": {}, "ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": tasks}]


def test_bad_inputs_fail_before_any_aws_request_with_the_variable_in_the_message(account, network, workdir):
    start = account.control.last_request_id()
    run = run_playbook(workdir / "bad-inputs", account.child_environment(), rescued_cases(network, BAD_INPUTS))
    assert run.rc == 0, report(run)
    failures = run.result()["mlops_failures"]
    wrong = {case: failures[case] for case, (dummy, words) in BAD_INPUTS.items() if not all(word in failures[case] for word in words)}
    assert wrong == {}
    assert account.control.requests(since=start) == []
    assert "never-shown-oidc-secret" not in run.stdout + run.stderr

    # The same through the collection's playbook: exit code 2, the message, still no request.
    plain = Stack(account, workdir / "bad-plain", "Mlflow_Prod", **network).run()
    assert plain.rc == 2, report(plain)
    assert "mlflow_aws_fargate_name 'Mlflow_Prod' cannot name the stack" in failure(plain)["msg"]
    assert plain.requests == []


def test_check_mode_on_a_new_stack_reports_changes_and_changes_nothing(account, network, workdir):
    run = make_stack(account, workdir, network, "mlflow-preview").run(check=True, diff=True)
    assert run.rc == 0, report(run)
    assert run.recap["changed"] >= 1, report(run)
    assert run.mutations == []
    assert "Report what a real run would create on a new stack" in changed_tasks(run)
    groups = account.client("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": ["mlflow-preview-*"]}])
    assert groups["SecurityGroups"] == []
    assert not [result for result in run.results if "mlflow_aws_fargate_outputs" in result.get("ansible_facts", {})]


# --- Aurora PostgreSQL: the whole life cycle of one stack ---------------------------------------------------------

class TestAuroraPostgresqlLifeCycle:
    """Fresh deployment (-vvv), re-run, check mode, drift preview, change, MLflow upgrade with and without a working
    migration, then removal: refused while protected, keeping the data, again, and purging the data."""

    @pytest.fixture(scope="class")
    def stack(self, account, workdir, network):
        stack = make_stack(account, workdir, network, "mlflow-pg", mlflow_aws_fargate_tags={"team": "ml", "environment": "test"})
        stack.fresh = stack.run(extra_args=["-vvv"])
        return stack

    def test_fresh_deployment(self, account, stack):
        run = stack.fresh
        assert run.rc == 0, report(run)
        assert run.recap["changed"] > 0
        out = outputs(run)
        common = assert_common_stack(account, stack, out, "aurora-postgresql", data_port=5432)
        database_group = security_group(account, "mlflow-pg-database")
        assert out["database_security_group_id"] == database_group["GroupId"]
        assert common["service"]["desiredCount"] == 2
        assert common["service"]["deploymentConfiguration"]["minimumHealthyPercent"] == 100
        assert common["service"]["deploymentConfiguration"]["maximumPercent"] == 200
        assert common["service"]["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == [common["service_group"]]

        kms = account.client("kms")
        data_key = out["data_kms_key_arn"]
        assert kms.describe_key(KeyId="alias/mlflow-pg-data")["KeyMetadata"]["Arn"] == data_key
        assert kms.get_key_rotation_status(KeyId=data_key)["KeyRotationEnabled"] is True

        rds = account.client("rds")
        (cluster,) = rds.describe_db_clusters(DBClusterIdentifier="mlflow-pg")["DBClusters"]
        assert (cluster["Engine"], cluster["EngineMode"], cluster["Port"], cluster["DatabaseName"], cluster["MasterUsername"]) == (
            "aurora-postgresql", "provisioned", 5432, "mlflow", "mlflow")
        assert (cluster["StorageEncrypted"], cluster["KmsKeyId"]) == (True, data_key)
        assert (cluster["DeletionProtection"], cluster["BackupRetentionPeriod"]) == (True, 14)
        assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4.0}
        assert [group["VpcSecurityGroupId"] for group in cluster["VpcSecurityGroups"]] == [database_group["GroupId"]]
        assert (out["database_endpoint"], out["database_port"], out["database_name"]) == (cluster["Endpoint"], 5432, "mlflow")
        (instance,) = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["mlflow-pg"]}])["DBInstances"]
        assert (instance["DBInstanceIdentifier"], instance["DBInstanceClass"], instance["PubliclyAccessible"]) == (
            "mlflow-pg-1", "db.serverless", False)

        secrets = account.client("secretsmanager")
        secret = json.loads(secrets.get_secret_value(SecretId=out["database_secret_arn"])["SecretString"])
        assert secret["username"] == "mlflow"
        assert len(secret["password"]) == 32
        assert secrets.describe_secret(SecretId=out["database_secret_arn"])["KmsKeyId"] in (data_key, data_key.split("/")[-1])

        # Each role's one inline policy names this stack's resources and nothing else.
        policies = inline_policies(account, "mlflow-pg-execution")
        assert list(policies) == ["mlflow-execution"]
        assert policy_resources(policies["mlflow-execution"]) == {
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/mlflow-pg:*", out["database_secret_arn"], data_key}
        policies = inline_policies(account, "mlflow-pg-task")
        assert list(policies) == ["mlflow-task"]
        assert policy_resources(policies["mlflow-task"]) == {out["bucket_arn"], out["bucket_arn"] + "/*", out["artifact_kms_key_arn"]}
        assert out["bucket_name"] == "mlflow-pg-mlflow-artifacts"

        # The credentials reach the container as references to the secret, never as values.
        container = common["container"]
        assert sorted(reference["valueFrom"] for reference in container["secrets"]) == [
            out["database_secret_arn"] + ":password::", out["database_secret_arn"] + ":username::"]
        assert not [name for name in common["environment"] if "PASSWORD" in name.upper()]
        assert secret["password"] not in json.dumps(common["environment"])
        assert out["migration_task_arn"] == ""
        assert container["image"] == IMAGE

    def test_no_password_anywhere_in_a_verbose_run(self, account, stack):
        run = stack.fresh
        assert run.rc == 0, report(run)
        assert "-vvv" in run.command
        out = outputs(run)
        password = secret_password(account, out["database_secret_arn"])
        encoded = quote(password, safe="")
        for where, text in (("stdout", run.stdout), ("stderr", run.stderr), ("outputs", json.dumps(out)),
                            ("task definition", json.dumps(task_definition(account, out["task_definition_arn"]), default=str)),
                            ("service", json.dumps(service_of(account, "mlflow-pg"), default=str))):
            assert password not in text, where
            assert encoded not in text, where

    def test_second_run_changes_nothing(self, stack):
        run = stack.once("second", stack.run)
        assert run.rc == 0, report(run)
        assert (run.recap["changed"], changed_tasks(run), run.mutations) == (0, [], [])
        assert outputs(run) == outputs(stack.fresh)

    def test_a_second_run_skips_every_acting_task_whose_resource_is_in_sync(self, stack):
        run = stack.once("second", stack.run)
        assert run.rc == 0, report(run)
        skipped = [result["_task"].split(" : ", 1)[-1] for result in run.results if result.get("skipped")]
        for acting in ("Create the KMS key of the database, its secret and the file system",
                       "Create the subnet group of the database", "Keep the database credentials in Secrets Manager",
                       "Create the Aurora Serverless v2 cluster without waiting for it",
                       "Create the load balancer, its target group and its listeners without waiting for the load balancer",
                       "Create the log group of the tasks", "Create the ECS cluster with Container Insights",
                       "Remove the target tracking policy and the scalable target of the service",
                       "Wait for the database cluster, create its instances and wait until they are available",
                       "Create the execution role (image, secrets, logs) and the task role (artifact store only)",
                       "Register the task definition of the MLflow server",
                       "Deploy the MLflow service and wait until its tasks are healthy"):
            assert acting in skipped, acting
        # The artifact key the role manages names the account: no STS call either.
        assert [entry["operation"] for entry in run.requests if entry["service"] == "sts"] == []

    def test_out_of_band_drift_of_each_resource_is_corrected_by_its_task(self, account, stack):
        """The drift checks skip a task only when its resource is in sync: one change per resource, made behind
        the role's back, must be undone by that resource's task, and the next run must change nothing."""
        out = outputs(stack.fresh)
        ec2, rds, elbv2 = account.client("ec2"), account.client("rds"), account.client("elbv2")
        logs, ecs, kms = account.client("logs"), account.client("ecs"), account.client("kms")
        scaling, secrets = account.client("application-autoscaling"), account.client("secretsmanager")
        service_group = security_group(account, "mlflow-pg-service")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=service_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        key_id = kms.describe_key(KeyId="alias/mlflow-pg-data")["KeyMetadata"]["KeyId"]
        kms.disable_key_rotation(KeyId=key_id)
        subnet_group_arn = rds.describe_db_subnet_groups(DBSubnetGroupName="mlflow-pg")["DBSubnetGroups"][0]["DBSubnetGroupArn"]
        rds.add_tags_to_resource(ResourceName=subnet_group_arn, Tags=[{"Key": "owner", "Value": "someone"}])
        secrets.tag_resource(SecretId=out["database_secret_arn"], Tags=[{"Key": "owner", "Value": "someone"}])
        rds.modify_db_cluster(DBClusterIdentifier="mlflow-pg", BackupRetentionPeriod=3, ApplyImmediately=True)
        rds.add_tags_to_resource(ResourceName=rds.describe_db_instances(DBInstanceIdentifier="mlflow-pg-1")["DBInstances"][0]["DBInstanceArn"],
                                 Tags=[{"Key": "owner", "Value": "someone"}])
        elbv2.modify_target_group(TargetGroupArn=out["target_group_arn"], HealthCheckPath="/")
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=out["load_balancer_arn"],
                                              Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "60"}])
        logs.put_retention_policy(logGroupName="/ecs/mlflow-pg", retentionInDays=1)
        # moto answers UpdateClusterSettings with a 500: a tag the role does not set is the cluster's drift.
        ecs.tag_resource(resourceArn=out["cluster_arn"], tags=[{"key": "owner", "value": "someone"}])
        scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/mlflow-pg/mlflow-pg",
                                         ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=3)
        iam = account.client("iam")
        iam.put_role_policy(RoleName="mlflow-pg-task", PolicyName="extra", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        ecs.tag_resource(resourceArn=out["task_definition_arn"], tags=[{"key": "owner", "value": "someone"}])
        ecs.update_service(cluster="mlflow-pg", service="mlflow-pg", desiredCount=1)

        run = stack.run()
        assert run.rc == 0, report(run)
        assert set(changed_tasks(run)) == {
            "Create the security groups of the load balancer, the MLflow tasks and the backend store",
            "Create the KMS key of the database, its secret and the file system",
            "Create the subnet group of the database", "Keep the database credentials in Secrets Manager",
            "Create the Aurora Serverless v2 cluster without waiting for it",
            "Create the load balancer, its target group and its listeners without waiting for the load balancer", "Create the log group of the tasks",
            "Create the ECS cluster with Container Insights",
            "Remove the target tracking policy and the scalable target of the service",
            "Wait for the database cluster, create its instances and wait until they are available",
            "Create the execution role (image, secrets, logs) and the task role (artifact store only)",
            "Register the task definition of the MLflow server", "Deploy the MLflow service and wait until its tasks are healthy"}
        assert iam.list_role_policies(RoleName="mlflow-pg-task")["PolicyNames"] == ["mlflow-task"]
        assert ecs.describe_services(cluster="mlflow-pg", services=["mlflow-pg"])["services"][0]["desiredCount"] == 2
        assert outputs(run)["task_definition_arn"] == out["task_definition_arn"]
        assert (22, 22) not in {(rule[1], rule[2]) for rule in rules(security_group(account, "mlflow-pg-service")["IpPermissions"])}
        assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
        assert rds.describe_db_clusters(DBClusterIdentifier="mlflow-pg")["DBClusters"][0]["BackupRetentionPeriod"] == 14
        assert elbv2.describe_target_groups(TargetGroupArns=[out["target_group_arn"]])["TargetGroups"][0]["HealthCheckPath"] == "/health"
        assert logs.describe_log_groups(logGroupNamePrefix="/ecs/mlflow-pg")["logGroups"][0]["retentionInDays"] == 30
        assert "owner" not in {tag["key"] for tag in ecs.list_tags_for_resource(resourceArn=out["cluster_arn"])["tags"]}
        assert scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=["service/mlflow-pg/mlflow-pg"])["ScalableTargets"] == []
        again = stack.run()
        assert again.rc == 0, report(again)
        assert (again.recap["changed"], changed_tasks(again), again.mutations) == (0, [], [])

    def test_check_mode_on_the_unchanged_stack_changes_nothing(self, stack):
        run = stack.run(check=True)
        assert run.rc == 0, report(run)
        assert (run.recap["changed"], changed_tasks(run), run.mutations) == (0, [], [])

    def test_drift_of_inputs_is_previewed_in_check_diff_mode_without_a_call(self, account, stack):
        run = stack.run(check=True, diff=True, mlflow_aws_fargate_database_max_capacity=8, mlflow_aws_fargate_load_balancer_idle_timeout=600)
        assert run.mutations == []
        assert run.rc == 0, report(run)
        assert changed_tasks(run) == ["Create the Aurora Serverless v2 cluster without waiting for it",
                                      "Create the load balancer, its target group and its listeners without waiting for the load balancer"]
        (cluster,) = account.client("rds").describe_db_clusters(DBClusterIdentifier="mlflow-pg")["DBClusters"]
        assert cluster["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 4.0
        attributes = account.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=outputs(stack.fresh)["load_balancer_arn"])
        assert {"Key": "idle_timeout.timeout_seconds", "Value": "300"} in attributes["Attributes"]

    def test_drift_of_the_log_retention_the_tags_and_the_task_is_previewed_without_a_call(self, account, stack):
        run = stack.run(check=True, diff=True, mlflow_aws_fargate_log_retention_days=14, mlflow_aws_fargate_workers=2,
                        mlflow_aws_fargate_tags={"team": "ml", "environment": "staging"})
        assert run.mutations == []
        assert run.rc == 0, report(run)
        assert {"Create the log group of the tasks", "Register the task definition of the MLflow server",
                "Deploy the MLflow service and wait until its tasks are healthy"} <= set(changed_tasks(run))

    def test_a_change_is_applied_without_a_migration(self, account, stack):
        before = service_of(account, "mlflow-pg")["taskDefinition"]
        stack.variables.update(mlflow_aws_fargate_log_retention_days=7, mlflow_aws_fargate_workers=2,
                               mlflow_aws_fargate_tags={"team": "ml", "environment": "staging"})
        run = stack.run()
        assert run.rc == 0, report(run)
        assert {"Create the log group of the tasks", "Register the task definition of the MLflow server",
                "Deploy the MLflow service and wait until its tasks are healthy"} <= set(changed_tasks(run))
        # Same image: a new revision and a deployment, but no schema migration.
        assert ("ecs", "RunTask") not in run.mutations
        assert ("ecs", "UpdateService") in run.mutations
        out = outputs(run)
        assert out["migration_task_arn"] == ""
        assert out["task_definition_arn"] != before
        assert service_of(account, "mlflow-pg")["taskDefinition"] == out["task_definition_arn"]
        assert environment_of(mlflow_container(task_definition(account, out["task_definition_arn"])))["MLFLOW_WORKERS"] == "2"
        (log_group,) = account.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/mlflow-pg")["logGroups"]
        assert log_group["retentionInDays"] == 7
        staging = {"team": "ml", "environment": "staging"}
        assert account.client("logs").list_tags_log_group(logGroupName="/ecs/mlflow-pg")["tags"] == staging
        elbv2 = account.client("elbv2")
        (described,) = elbv2.describe_tags(ResourceArns=[outputs(run)["load_balancer_arn"]])["TagDescriptions"]
        assert {tag["Key"]: tag["Value"] for tag in described["Tags"]} == staging
        (cluster,) = account.client("rds").describe_db_clusters(DBClusterIdentifier="mlflow-pg")["DBClusters"]
        assert {tag["Key"]: tag["Value"] for tag in cluster["TagList"]} == staging
        group = security_group(account, "mlflow-pg-service")
        assert {tag["Key"]: tag["Value"] for tag in group["Tags"]} == dict(staging, Name="mlflow-pg-service")

    def test_an_image_change_migrates_the_schema_before_the_service_moves(self, account, stack):
        before = service_of(account, "mlflow-pg")["taskDefinition"]
        stack.variables.update(mlflow_aws_fargate_image=NEW_IMAGE)
        run = stack.run()
        assert run.rc == 0, report(run)
        out = outputs(run)
        assert out["task_definition_arn"] != before
        assert mlflow_container(task_definition(account, out["task_definition_arn"]))["image"] == NEW_IMAGE
        # Only the revision, the migration and the deployment: the earlier change has converged.
        assert changed_tasks(run) == ["Register the task definition of the MLflow server", MIGRATION_TASK,
                                      "Deploy the MLflow service and wait until its tasks are healthy"]
        operations = [(entry["id"], entry["operation"]) for entry in run.requests if entry["service"] == "ecs" and entry["mutating"]]
        run_task = [identifier for identifier, operation in operations if operation == "RunTask"]
        update = [identifier for identifier, operation in operations if operation == "UpdateService"]
        assert len(run_task) == 1 and update and run_task[0] < min(update), operations
        assert out["migration_task_arn"]
        (task,) = account.client("ecs").describe_tasks(cluster="mlflow-pg", tasks=[out["migration_task_arn"]])["tasks"]
        assert task["taskDefinitionArn"] == out["task_definition_arn"]
        assert task["overrides"]["containerOverrides"] == [{"name": "mlflow", "command": ["db-upgrade"]}]
        assert service_of(account, "mlflow-pg")["taskDefinition"] == out["task_definition_arn"]
        stack.cache["upgraded"] = out

    def test_a_failed_migration_fails_the_run_and_the_service_keeps_its_revision(self, account, stack):
        running = service_of(account, "mlflow-pg")["taskDefinition"]
        reason = "alembic.util.exc.CommandError: Can't locate revision identified by '4f2a'"
        account.control.set_task_outcome("mlflow-pg", 1, command_contains="db-upgrade", reason=reason)
        try:
            run = stack.run(mlflow_aws_fargate_image=BROKEN_IMAGE)
        finally:
            account.control.clear_task_outcomes()
        assert run.rc == 2, report(run)
        assert [result for result in run.results if result["_task"].endswith(MIGRATION_TASK) and result.get("failed")], report(run)
        message = failure(run)["msg"]
        assert "exited with code 1" in message
        assert reason in message
        assert running in message  # the revision the service stays on
        assert "mlflow_aws_fargate_image" in message
        assert ("ecs", "RunTask") in run.mutations
        assert ("ecs", "UpdateService") not in run.mutations
        assert service_of(account, "mlflow-pg")["taskDefinition"] == running
        assert mlflow_container(task_definition(account, running))["image"] == NEW_IMAGE

    def test_absent_refuses_a_protected_database_before_any_change(self, account, stack):
        run = stack.run(mlflow_aws_fargate_state="absent")
        assert run.rc == 2, report(run)
        assert "mlflow_aws_fargate_database_deletion_protection" in failure(run)["msg"]
        assert run.mutations == []
        assert service_of(account, "mlflow-pg")["status"] == "ACTIVE"
        assert account.client("rds").describe_db_clusters(DBClusterIdentifier="mlflow-pg")["DBClusters"][0]["DeletionProtection"]

    def test_absent_removes_everything_but_the_data(self, account, stack):
        out = stack.cache.get("upgraded") or outputs(stack.fresh)
        run = stack.run(mlflow_aws_fargate_state="absent", mlflow_aws_fargate_database_deletion_protection=False)
        assert run.rc == 0, report(run)
        assert_stack_removed(account, "mlflow-pg")
        rds = account.client("rds")
        snapshots = rds.describe_db_cluster_snapshots(DBClusterIdentifier="mlflow-pg", SnapshotType="manual")["DBClusterSnapshots"]
        assert len(snapshots) == 1, snapshots
        snapshot = snapshots[0]
        assert snapshot["DBClusterSnapshotIdentifier"].startswith("mlflow-pg-final-")
        tags = {tag["Key"]: tag["Value"] for tag in rds.list_tags_for_resource(ResourceName=snapshot["DBClusterSnapshotArn"])["TagList"]}
        assert tags.get("mlops.mlflow/final-snapshot") == "true"
        assert account.client("secretsmanager").describe_secret(SecretId="mlflow-pg/database").get("DeletedDate") is None
        kms = account.client("kms")
        assert kms.describe_key(KeyId="alias/mlflow-pg-data")["KeyMetadata"]["KeyState"] == "Enabled"
        assert kms.describe_key(KeyId=out["artifact_kms_key_arn"])["KeyMetadata"]["KeyState"] == "Enabled"
        account.client("s3").head_bucket(Bucket="mlflow-pg-mlflow-artifacts")
        assert outputs(run)["state"] == "absent"
        assert outputs(run)["kept"]["database_snapshot"] == snapshot["DBClusterSnapshotIdentifier"]
        stack.cache["absent"] = run

    def test_absent_lists_what_it_kept_under_the_documented_keys(self, stack):
        run = stack.cache.get("absent")
        assert run is not None, "the removal did not run"
        snapshot = outputs(run)["kept"].get("database_snapshot")
        assert outputs(run) == {"state": "absent", "name": "mlflow-pg", "kept": {
            "database_snapshot": snapshot, "database_secret": "mlflow-pg/database",
            "database_kms_key": "alias/mlflow-pg-data", "artifact_bucket": "mlflow-pg-mlflow-artifacts"}}

    def test_absent_again_changes_nothing(self, stack):
        run = stack.run(mlflow_aws_fargate_state="absent", mlflow_aws_fargate_database_deletion_protection=False)
        assert run.rc == 0, report(run)
        assert (run.recap["changed"], changed_tasks(run)) == (0, [])
        assert outputs(run) == outputs(stack.cache["absent"])  # what is kept, from what exists
        # amazon.aws.rds_subnet_group (state absent) always tries DeleteDBSubnetGroup; AWS answers that nothing is there.
        attempts = [(entry["service"], entry["operation"], entry["error_code"]) for entry in run.requests if entry["mutating"]]
        assert [attempt for attempt in attempts if "NotFound" not in (attempt[2] or "")] == [], attempts

    def test_absent_with_purge_deletes_the_data_that_was_kept(self, account, stack):
        out = stack.cache.get("upgraded") or outputs(stack.fresh)
        run = stack.run(mlflow_aws_fargate_state="absent", mlflow_aws_fargate_database_deletion_protection=False,
                        mlflow_aws_fargate_purge_data=True)
        assert run.rc == 0, report(run)
        assert_data_purged(account, "mlflow-pg", out)
        assert outputs(run) == {"state": "absent", "name": "mlflow-pg", "kept": {}}


def assert_stack_removed(account, name):
    """Service, task definitions, cluster, load balancer, target group, roles, log group, groups, database: gone."""
    ecs = account.client("ecs")
    services = ecs.describe_services(cluster=name, services=[name])["services"] if ecs.list_clusters()["clusterArns"] else []
    assert [service for service in services if service["status"] != "INACTIVE"] == []
    assert [cluster for cluster in ecs.describe_clusters(clusters=[name])["clusters"] if cluster["status"] != "INACTIVE"] == []
    assert ecs.list_task_definitions(familyPrefix=name, status="ACTIVE")["taskDefinitionArns"] == []
    elbv2 = account.client("elbv2")
    raises("LoadBalancerNotFound", elbv2.describe_load_balancers, Names=[name])
    raises("TargetGroupNotFound", elbv2.describe_target_groups, Names=[name])
    for role in (f"{name}-execution", f"{name}-task"):
        raises("NoSuchEntity", account.client("iam").get_role, RoleName=role)
    assert account.client("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/{name}")["logGroups"] == []
    groups = account.client("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{name}-*"]}])["SecurityGroups"]
    assert [group["GroupName"] for group in groups] == []
    rds = account.client("rds")
    assert rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [name]}])["DBInstances"] == []
    raises("DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier=name)
    raises("DBSubnetGroupNotFoundFault", rds.describe_db_subnet_groups, DBSubnetGroupName=name)
    scaling = account.client("application-autoscaling")
    resource = f"service/{name}/{name}"
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"] == []
    assert scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)["ScalingPolicies"] == []
    # Not the scheduled actions: DeregisterScalableTarget deletes them in AWS, but moto 5.2.5 keeps them.


def assert_data_purged(account, name, out):
    raises("ResourceNotFoundException", account.client("secretsmanager").describe_secret, SecretId=f"{name}/database")
    kms = account.client("kms")
    assert kms.describe_key(KeyId=out["data_kms_key_arn"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=out["artifact_kms_key_arn"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    raises(("404", "NoSuchBucket"), account.client("s3").head_bucket, Bucket=f"{name}-mlflow-artifacts")


# --- Aurora MySQL with autoscaling and scheduled actions, deployed with AWX-style credentials -----------------------

class TestAuroraMysqlWithAutoscaling:
    """Deployed as an AWX job template does (AWS_SECURITY_TOKEN, no AWS_SESSION_TOKEN), re-run, then purged."""

    SCHEDULE = [{"name": "night", "schedule": "cron(0 21 ? * MON-FRI *)", "timezone": "Europe/Berlin", "min_capacity": 0, "max_capacity": 0},
                {"name": "morning", "schedule": "cron(0 6 ? * MON-FRI *)", "timezone": "Europe/Berlin", "min_capacity": 2, "max_capacity": 6}]

    @pytest.fixture(scope="class")
    def stack(self, account, workdir, network):
        stack = make_stack(account, workdir, network, "mlflow-my", mlflow_aws_fargate_backend_store="aurora-mysql",
                           mlflow_aws_fargate_autoscaling={"min_capacity": 2, "max_capacity": 6, "metric": "requests", "target_value": 500},
                           mlflow_aws_fargate_scheduled_actions=self.SCHEDULE)
        recorder = workdir / "signing-recorder"
        recorder.mkdir(exist_ok=True)
        (recorder / "sitecustomize.py").write_text(SIGNING_RECORDER)
        stack.signing_log = workdir / "signing-log.jsonl"
        environment = account.child_environment(AWS_SECURITY_TOKEN=AWX_TOKEN, MLOPS_TEST_SIGNING_LOG=str(stack.signing_log))
        del environment["AWS_SESSION_TOKEN"]
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(recorder), environment.get("PYTHONPATH")]))
        stack.fresh = stack.run(environment=environment)
        return stack

    def test_fresh_deployment(self, account, stack):
        run = stack.fresh
        assert run.rc == 0, report(run)
        out = outputs(run)
        common = assert_common_stack(account, stack, out, "aurora-mysql", data_port=3306)
        (cluster,) = account.client("rds").describe_db_clusters(DBClusterIdentifier="mlflow-my")["DBClusters"]
        assert (cluster["Engine"], cluster["Port"], cluster["StorageEncrypted"], cluster["DeletionProtection"]) == ("aurora-mysql", 3306, True, True)
        assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4.0}
        assert out["database_port"] == 3306
        # Autoscaling owns the count; the service starts at its minimum.
        assert common["service"]["desiredCount"] == 2
        scaling = account.client("application-autoscaling")
        resource = "service/mlflow-my/mlflow-my"
        (target,) = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"]
        assert (target["ScalableDimension"], target["MinCapacity"], target["MaxCapacity"]) == ("ecs:service:DesiredCount", 2, 6)
        (policy,) = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)["ScalingPolicies"]
        configuration = policy["TargetTrackingScalingPolicyConfiguration"]
        assert (policy["PolicyName"], policy["PolicyType"], configuration["TargetValue"]) == ("mlflow-my-target-tracking", "TargetTrackingScaling", 500)
        balancer_part = out["load_balancer_arn"].split(":loadbalancer/")[-1]
        group_part = out["target_group_arn"].split(":")[-1]
        assert configuration["PredefinedMetricSpecification"] == {"PredefinedMetricType": "ALBRequestCountPerTarget",
                                                                  "ResourceLabel": f"{balancer_part}/{group_part}"}
        actions = scaling.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=resource)["ScheduledActions"]
        assert sorted((action["ScheduledActionName"], action["Schedule"], action.get("Timezone"), action["ScalableTargetAction"]["MinCapacity"],
                       action["ScalableTargetAction"]["MaxCapacity"]) for action in actions) == [
            ("morning", "cron(0 6 ? * MON-FRI *)", "Europe/Berlin", 2, 6), ("night", "cron(0 21 ? * MON-FRI *)", "Europe/Berlin", 0, 0)]

    def test_awx_style_credentials_reach_every_request(self, stack):
        """AWS_SECURITY_TOKEN only: the run succeeds, and every request of it is signed with that token.

        The proving ground does not check tokens and its request log does not record them, so a recorder loaded into
        each Python process of the run (controller and modules) notes the X-Amz-Security-Token header of each signature.
        """
        run = stack.fresh
        assert run.rc == 0, report(run)
        signatures = [json.loads(line) for line in stack.signing_log.read_text().splitlines()]
        assert len(signatures) >= len(run.requests) > 0  # the recorder saw the run's requests
        unsigned = sorted({(entry["service"], entry["target"] or entry["url"].split("?")[0]) for entry in signatures if entry["token"] != AWX_TOKEN})
        assert unsigned == []

    def test_second_run_changes_nothing(self, stack):
        run = stack.run()
        assert run.rc == 0, report(run)
        assert (run.recap["changed"], changed_tasks(run), run.mutations) == (0, [], [])

    def test_absent_with_purge_leaves_nothing(self, account, stack):
        out = outputs(stack.fresh)
        run = stack.run(mlflow_aws_fargate_state="absent", mlflow_aws_fargate_database_deletion_protection=False,
                        mlflow_aws_fargate_purge_data=True)
        assert run.rc == 0, report(run)
        assert ("application-autoscaling", "DeregisterScalableTarget") in run.mutations  # which deletes the scheduled actions
        assert_stack_removed(account, "mlflow-my")
        assert_data_purged(account, "mlflow-my", out)
        assert account.client("rds").describe_db_cluster_snapshots(DBClusterIdentifier="mlflow-my", SnapshotType="manual")["DBClusterSnapshots"] == []
        assert outputs(run) == {"state": "absent", "name": "mlflow-my", "kept": {}}


# --- SQLite on EFS -------------------------------------------------------------------------------------------------

class TestSqliteOnEfs:

    @pytest.fixture(scope="class")
    def stack(self, account, workdir, network):
        stack = make_stack(account, workdir, network, "mlflow-efs", mlflow_aws_fargate_backend_store="sqlite-efs",
                           mlflow_aws_fargate_cpu=512, mlflow_aws_fargate_memory=1024)
        stack.fresh = stack.run()
        return stack

    def test_fresh_deployment(self, account, stack):
        run = stack.fresh
        assert run.rc == 0, report(run)
        out = outputs(run)
        common = assert_common_stack(account, stack, out, "sqlite-efs", data_port=2049)
        service = common["service"]
        # One writer: one task, and a deployment stops it before the next one starts.
        assert service["desiredCount"] == 1
        assert (service["deploymentConfiguration"]["minimumHealthyPercent"], service["deploymentConfiguration"]["maximumPercent"]) == (0, 100)
        efs = account.client("efs")
        (file_system,) = efs.describe_file_systems(FileSystemId=out["efs_file_system_id"])["FileSystems"]
        assert (file_system["Encrypted"], file_system["KmsKeyId"]) == (True, out["data_kms_key_arn"])
        efs_group = security_group(account, "mlflow-efs-efs")["GroupId"]
        targets = efs.describe_mount_targets(FileSystemId=out["efs_file_system_id"])["MountTargets"]
        assert sorted(target["SubnetId"] for target in targets) == sorted(stack.variables["mlflow_aws_fargate_service_subnet_ids"])
        for target in targets:
            assert efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"] == [efs_group]
        (access_point,) = efs.describe_access_points(FileSystemId=out["efs_file_system_id"])["AccessPoints"]
        assert access_point["AccessPointId"] == out["efs_access_point_id"]
        assert access_point["PosixUser"] == {"Uid": 1000, "Gid": 1000}
        assert access_point["RootDirectory"]["Path"] == "/mlflow"
        definition, container = common["definition"], common["container"]
        assert definition["volumes"] == [{"name": "mlflow-efs", "efsVolumeConfiguration": {
            "fileSystemId": out["efs_file_system_id"], "rootDirectory": "/", "transitEncryption": "ENABLED",
            "authorizationConfig": {"accessPointId": out["efs_access_point_id"], "iam": "ENABLED"}}}]
        assert [(mount["sourceVolume"], mount["containerPath"]) for mount in container["mountPoints"]] == [("mlflow-efs", "/mnt/efs")]
        assert common["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("sqlite:////mnt/efs/")
        assert container.get("secrets", []) == []
        assert (definition["cpu"], definition["memory"]) == ("512", "1024")
        task_policy = inline_policies(account, "mlflow-efs-task")["mlflow-task"]
        (mount_statement,) = [statement for statement in task_policy["Statement"] if statement.get("Sid") == "MountItsFileSystem"]
        assert mount_statement["Resource"] == [file_system["FileSystemArn"]]
        assert mount_statement["Condition"] == {"StringEquals": {"elasticfilesystem:AccessPointArn": access_point["AccessPointArn"]}}
        raises("DBClusterNotFoundFault", account.client("rds").describe_db_clusters, DBClusterIdentifier="mlflow-efs")
        assert (out["database_endpoint"], out["database_port"], out["database_secret_arn"]) == ("", 0, "")

    def test_second_run_changes_nothing(self, stack):
        run = stack.run()
        assert run.rc == 0, report(run)
        assert (run.recap["changed"], changed_tasks(run), run.mutations) == (0, [], [])


# --- An external database ------------------------------------------------------------------------------------------

class TestExternalDatabase:
    HOST = "shared-db.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com"

    @pytest.fixture(scope="class")
    def stack(self, account, workdir, network):
        secret_arn = account.client("secretsmanager").create_secret(
            Name="shared-db/mlflow", SecretString=json.dumps({"username": "mlflow_ext", "password": "Ext-P@ss:/w#rd?%"}))["ARN"]
        clients = account.client("ec2").create_security_group(GroupName="shared-db-clients", Description="may reach the shared database",
                                                              VpcId=network["mlflow_aws_fargate_vpc_id"])["GroupId"]
        stack = make_stack(account, workdir, network, "mlflow-ext", mlflow_aws_fargate_backend_store="external",
                           mlflow_aws_fargate_external_database={"engine": "postgresql", "host": self.HOST, "port": 5432,
                                                                 "name": "mlflow_ext", "secret_arn": secret_arn,
                                                                 "security_group_id": clients})
        stack.secret_arn, stack.clients = secret_arn, clients
        stack.fresh = stack.run()
        return stack

    def test_fresh_deployment(self, account, stack):
        run = stack.fresh
        assert run.rc == 0, report(run)
        out = outputs(run)
        common = assert_common_stack(account, stack, out, "external")
        assert (out["database_endpoint"], out["database_port"], out["database_name"], out["database_secret_arn"]) == (
            self.HOST, 5432, "mlflow_ext", stack.secret_arn)
        assert (out["database_cluster_identifier"], out["database_security_group_id"], out["data_kms_key_arn"]) == ("", "", "")
        # The tasks join the group the database admits; the role makes no database, no data key, no data group.
        assert sorted(common["service"]["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"]) == sorted(
            [common["service_group"], stack.clients])
        raises("DBClusterNotFoundFault", account.client("rds").describe_db_clusters, DBClusterIdentifier="mlflow-ext")
        aliases = [alias["AliasName"] for alias in account.client("kms").list_aliases()["Aliases"]]
        assert "alias/mlflow-ext-data" not in aliases
        groups = account.client("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": ["mlflow-ext-database"]}])
        assert groups["SecurityGroups"] == []
        assert sorted(reference["valueFrom"] for reference in common["container"]["secrets"]) == [
            stack.secret_arn + ":password::", stack.secret_arn + ":username::"]
        assert "Ext-P@ss" not in json.dumps(common["definition"], default=str)
        assert self.HOST in json.dumps(common["environment"])
        execution = inline_policies(account, "mlflow-ext-execution")["mlflow-execution"]
        assert policy_resources(execution) == {f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/mlflow-ext:*", stack.secret_arn}
        assert "Ext-P@ss" not in run.stdout + run.stderr

    def test_second_run_changes_nothing(self, stack):
        run = stack.run()
        assert run.rc == 0, report(run)
        assert (run.recap["changed"], changed_tasks(run), run.mutations) == (0, [], [])


# --- HTTPS with an OIDC login --------------------------------------------------------------------------------------

class TestHttpsWithOidcLogin:
    """The listeners of a login: a redirect from 80, and on 443 the login, then the forward. amazon.aws.elb_application_lb
    10.1.2 failed on the re-run of such a listener; the client secret never shows."""

    SECRET = "never-shown-oidc-client-secret"
    LOGIN = {"type": "oidc", "issuer": "https://login.example.com", "authorization_endpoint": "https://login.example.com/authorize",
             "token_endpoint": "https://login.example.com/token", "user_info_endpoint": "https://login.example.com/userinfo",
             "client_id": "mlflow", "client_secret": SECRET}

    @pytest.fixture(scope="class")
    def stack(self, account, workdir, network):
        certificate_arn = aws_resources.imported_certificate(account.client("acm"))
        secret_arn = account.client("secretsmanager").create_secret(
            Name="login-db/mlflow", SecretString=json.dumps({"username": "mlflow", "password": "Login-P@ss"}))["ARN"]
        artifact_key = account.client("kms").create_key(
            Description="the artifact key of the security team", KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["Arn"]
        stack = make_stack(account, workdir, network, "mlflow-login", mlflow_aws_fargate_backend_store="external",
                           mlflow_aws_fargate_artifact_kms_key_id=artifact_key,
                           mlflow_aws_fargate_external_database={"engine": "postgresql", "host": "db.example.internal", "port": 5432,
                                                                 "name": "mlflow", "secret_arn": secret_arn},
                           mlflow_aws_fargate_load_balancer_certificate_arn=certificate_arn,
                           mlflow_aws_fargate_load_balancer_authentication=self.LOGIN)
        stack.certificate_arn, stack.artifact_key = certificate_arn, artifact_key
        stack.fresh = stack.run()
        return stack

    def listeners(self, account, out):
        elbv2 = account.client("elbv2")
        return {listener["Port"]: listener for listener in elbv2.describe_listeners(LoadBalancerArn=out["load_balancer_arn"])["Listeners"]}

    def test_fresh_deployment(self, account, stack):
        run = stack.fresh
        assert run.rc == 0, report(run)
        out = outputs(run)
        assert out["tracking_uri"].startswith("https://")
        listeners = self.listeners(account, out)
        assert sorted(listeners) == [80, 443]
        assert [action["Type"] for action in listeners[80]["DefaultActions"]] == ["redirect"]
        assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
        https = listeners[443]
        assert [certificate["CertificateArn"] for certificate in https["Certificates"]] == [stack.certificate_arn]
        actions = sorted(https["DefaultActions"], key=lambda action: action["Order"])
        assert [action["Type"] for action in actions] == ["authenticate-oidc", "forward"]
        assert actions[0]["AuthenticateOidcConfig"]["ClientId"] == "mlflow"
        assert actions[1]["TargetGroupArn"] == out["target_group_arn"]
        assert self.SECRET not in run.stdout + run.stderr
        # With a key of the user for the artifacts, the account still comes from the artifact store's one lookup.
        assert out["artifact_kms_key_arn"] == stack.artifact_key
        assert [entry["operation"] for entry in run.requests if entry["service"] == "sts"] == ["GetCallerIdentity"]

    def test_second_run_changes_nothing(self, stack):
        run = stack.run()
        assert run.rc == 0, report(run)
        assert (run.recap["changed"], changed_tasks(run), run.mutations) == (0, [], [])
        # The drift check gets the listeners too; its arguments show the secret masked.
        assert self.SECRET not in run.stdout + run.stderr

    def test_a_secret_rotation_is_sent_when_asked(self, account, stack):
        rotated = dict(self.LOGIN, client_secret="rotated-secret", client_secret_update="always")
        run = stack.run(mlflow_aws_fargate_load_balancer_authentication=rotated)
        assert run.rc == 0, report(run)
        assert [operation for dummy, operation in run.mutations] == ["ModifyListener"]
        assert "rotated-secret" not in run.stdout + run.stderr
