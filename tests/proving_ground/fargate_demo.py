"""What `make demo` runs: the role mlops.mlflow.mlflow_aws_fargate deployed with its minimal example on
the proving ground, its task run here, MLflow left running on http://127.0.0.1:5000.

    python -m proving_ground.fargate_demo up [--state-dir .demo] [--port 5000]     # make demo
    python -m proving_ground.fargate_demo down [--state-dir .demo]                 # make demo-down
    python -m proving_ground.fargate_demo status [--state-dir .demo]

``up``, step by step:

1. starts the AWS proving ground in the background (``<state dir>/proving_ground``);
2. creates a VPC with six subnets in two availability zones there, with boto3;
3. writes ``<state dir>/vars.yml``: ``playbooks/vars/mlflow_aws_fargate_minimal.yml`` with that network
   and the proving ground's region, nothing else changed;
4. runs ``ansible-playbook playbooks/mlflow_aws_fargate.yml -e @<state dir>/vars.yml`` (through a wrapper
   playbook that then saves ``mlflow_aws_fargate_outputs`` to ``<state dir>/outputs.json``) with the
   collection importable and the proving ground's environment: no real AWS account is ever reached;
5. starts the supervisor (``serve``), a process of its own that outlives ``up``: it starts a throwaway
   PostgreSQL server for the Aurora endpoint and runs the deployment with the Fargate e2e harness
   (``helpers.fargate_e2e``): the one-off tasks the role started, then the service's task (the venv's
   ``mlflow`` stands in for the image), behind a local load balancer on 127.0.0.1:<port>;
6. logs a run through it with the real MLflow client (experiment "demo": params, metrics, an artifact,
   which the server stores in the deployment's bucket);
7. prints the role's outputs, the UI's URL and how to stop it all.

``down`` stops the supervisor (which stops the task, the load balancer and PostgreSQL), then the proving
ground, and removes the state directory. A failed ``up`` stops what it started and keeps the state
directory for its logs; the next ``up`` or ``down`` removes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

HERE = Path(__file__).resolve().parent
TESTS_DIR = HERE.parent
REPO_ROOT = TESTS_DIR.parent
PLAYBOOK = REPO_ROOT / "playbooks" / "mlflow_aws_fargate.yml"
MINIMAL_VARS = REPO_ROOT / "playbooks" / "vars" / "mlflow_aws_fargate_minimal.yml"
DEFAULT_STATE_DIR = REPO_ROOT / ".demo"
DEFAULT_PORT = 5000
HOST = "127.0.0.1"
VPC_CIDR = "10.42.0.0/16"
# (vars key, third octet of each subnet): two availability zones for each tier, as the role asks.
SUBNETS = (("mlflow_aws_fargate_load_balancer_subnet_ids", (0, 1)), ("mlflow_aws_fargate_service_subnet_ids", (10, 11)),
           ("mlflow_aws_fargate_database_subnet_ids", (20, 21)))
EXPERIMENT = "demo"
READY_TIMEOUT = 1200.0
STOP_TIMEOUT = 60.0
# Variables of this process that must not reach a child: they could point it at a real AWS account.
CLOUD_PREFIXES = ("AWS_", "BOTO_")


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def say(text: str) -> None:
    print(f"    {text}", flush=True)


def duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def pid_alive(pid: Optional[int]) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (an exited child nobody reaped yet) no longer runs
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(path)  # readers never see half a file


def port_problem(port: int) -> Optional[str]:
    """Why the load balancer could not listen on 127.0.0.1:``port``, or None when it can."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the load balancer binds
    try:
        probe.bind((HOST, port))
    except OSError as error:
        return (f"{HOST}:{port} is taken ({error.strerror}): the demo's MLflow UI must listen there. Stop the program that "
                f"listens on it (`ss -ltnp 'sport = :{port}'` shows which), or choose another port: "
                f"make demo MLOPS_DEMO_PORT={port + 50 if port < 65000 else 5050}")
    finally:
        probe.close()
    return None


def child_environment(proving_ground_environment: dict) -> dict:
    """This process's environment without cloud settings, pointed at the proving ground."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(CLOUD_PREFIXES)}
    environment.update(proving_ground_environment)
    return environment


class DemoState:
    """The files of one demo under its state directory."""

    def __init__(self, directory: Path):
        self.directory = Path(directory).absolute()
        self.proving_ground = self.directory / "proving_ground"
        self.ansible = self.directory / "ansible"
        self.vars_file = self.directory / "vars.yml"
        self.outputs_file = self.directory / "outputs.json"
        self.up_pid_file = self.directory / "up.pid"
        self.supervisor_pid_file = self.directory / "supervisor.pid"
        self.supervisor_log = self.directory / "supervisor.log"
        self.children_file = self.directory / "children.json"
        self.ready_file = self.directory / "ready.json"
        self.failed_file = self.directory / "failed.json"
        self.summary_file = self.directory / "summary.txt"

    @staticmethod
    def show(path: Path) -> str:
        """``path`` relative to the repository when it is in it (where make runs), else absolute."""
        try:
            return str(Path(path).absolute().relative_to(REPO_ROOT))
        except ValueError:
            return str(path)

    def _pid(self, path: Path) -> Optional[int]:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def up_pid(self) -> Optional[int]:
        return self._pid(self.up_pid_file)

    @property
    def supervisor_pid(self) -> Optional[int]:
        return self._pid(self.supervisor_pid_file)

    @property
    def proving_ground_pid(self) -> Optional[int]:
        return (read_json(self.proving_ground / "ready.json") or {}).get("pid")

    def running(self) -> bool:
        """The demo is up: its supervisor runs and said it is ready."""
        return pid_alive(self.supervisor_pid) and self.ready_file.exists()

    def starting(self) -> Optional[int]:
        """The pid of another ``up`` that is starting this demo right now, if any."""
        pid = self.up_pid
        return pid if pid != os.getpid() and pid_alive(pid) else None


# --- up -----------------------------------------------------------------------------------------------------------------


def start_proving_ground(state: DemoState):
    from .server import launch

    step("starting the AWS proving ground in the background")
    began = time.monotonic()
    # Free ports (tls_port 0: not MLOPS_AWS_TLS_PORT's), so that `make emulators` can run beside the demo.
    aws = launch(state.proving_ground, port=0, tls_port=0, detach=True)
    say(f"{aws.endpoint} (pid {aws.process.pid}, {duration(time.monotonic() - began)}); log: {state.show(aws.log_path)}")
    return aws


def aws_session(aws):
    import boto3

    environment = aws.environment
    return boto3.Session(aws_access_key_id=environment["AWS_ACCESS_KEY_ID"], aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
                         aws_session_token=environment["AWS_SESSION_TOKEN"], region_name=environment["AWS_REGION"])


def create_network(aws) -> dict:
    """A VPC and two subnets per tier in two availability zones; returns the role's network variables."""
    region = aws.environment["AWS_REGION"]
    step(f"creating a VPC ({VPC_CIDR}) and six subnets in {region}a and {region}b with boto3")
    ec2 = aws_session(aws).client("ec2", endpoint_url=aws.endpoint, verify=aws.ca_bundle)
    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "mlflow-demo"}]}])["Vpc"]["VpcId"]
    network = {"mlflow_aws_fargate_vpc_id": vpc_id}
    for key, octets in SUBNETS:
        tier = key[len("mlflow_aws_fargate_"):-len("_subnet_ids")]
        network[key] = []
        for octet, zone in zip(octets, ("a", "b")):
            subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{octet}.0/24", AvailabilityZone=region + zone, TagSpecifications=[
                {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"mlflow-demo-{tier.replace('_', '-')}-{zone}"}]}])
            network[key].append(subnet["Subnet"]["SubnetId"])
    say(f"{vpc_id}: " + ", ".join(f"{key[len('mlflow_aws_fargate_'):]} {' '.join(value)}" for key, value in network.items()
                                  if key != "mlflow_aws_fargate_vpc_id"))
    return network


def write_vars(state: DemoState, network: dict, region: str) -> dict:
    import yaml

    variables = yaml.safe_load(MINIMAL_VARS.read_text())
    variables.update(network, mlflow_aws_fargate_region=region)
    header = (f"# {MINIMAL_VARS.relative_to(REPO_ROOT)} with the demo's network (a VPC and subnets made in the proving ground)\n"
              f"# and the proving ground's region; every other variable as there or the role's default.\n")
    state.vars_file.write_text(header + yaml.safe_dump(variables, sort_keys=False))
    return variables


def write_wrapper_playbook(state: DemoState) -> Path:
    """The playbook, then a play that saves the role's outputs where the demo reads them."""
    wrapper = state.ansible / "demo.yml"
    wrapper.write_text(f"""---
# What `make demo` runs: the collection's playbook, then the role's outputs saved for the demo.
- name: Deploy MLflow on ECS Fargate
  ansible.builtin.import_playbook: {json.dumps(str(PLAYBOOK))}

- name: Save the outputs of the role for the demo
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Write mlflow_aws_fargate_outputs to {state.outputs_file.name}
      ansible.builtin.copy:
        content: "{{{{ mlflow_aws_fargate_outputs | to_nice_json }}}}"
        dest: {json.dumps(str(state.outputs_file))}
        mode: "0600"
""")
    return wrapper


def run_playbook(state: DemoState, aws) -> dict:
    """ansible-playbook with the proving ground's environment; prints what the role changed."""
    from helpers.ansible import collections_tree

    state.ansible.mkdir(parents=True, exist_ok=True)
    collections_tree(state.ansible)
    wrapper = write_wrapper_playbook(state)
    log_path = state.ansible / "ansible.log"
    step(f"ansible-playbook {PLAYBOOK.relative_to(REPO_ROOT)} -e @{state.show(state.vars_file)}   "
         f"(then a play that saves mlflow_aws_fargate_outputs; full output: {state.show(log_path)})")
    environment = child_environment(aws.environment)
    environment.update(ANSIBLE_COLLECTIONS_PATH=str(state.ansible), ANSIBLE_HOME=str(state.ansible / ".ansible"),
                       ANSIBLE_LOCAL_TEMP=str(state.ansible / ".ansible" / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                       ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
                       PYTHONUNBUFFERED="1")
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", str(wrapper), "-e", f"@{state.vars_file}"]
    began = time.monotonic()
    counts = {"ok": 0, "changed": 0}
    task = ""
    reported = True
    recap = ""
    with open(log_path, "w", encoding="utf-8") as log, \
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                             env=environment, cwd=str(REPO_ROOT)) as process:
        try:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if line.startswith("TASK ["):
                    task = line[len("TASK ["):line.rfind("]")].replace("mlops.mlflow.", "")
                    reported = False
                elif line.startswith("localhost ") and "ok=" in line:
                    recap = " ".join(line.split()[2:])
                elif not reported:
                    status = line.split(":", 1)[0]
                    if status in ("ok", "changed", "fatal", "failed"):
                        reported = True
                        counts[status] = counts.get(status, 0) + 1
                        if status != "ok":
                            say(f"{status:8} {task}")
        except BaseException:
            process.terminate()  # interrupted: so is ansible-playbook
            raise
    seconds = time.monotonic() - began
    if process.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        raise DemoError(f"ansible-playbook failed with status {process.returncode} after {duration(seconds)}; the end of "
                        f"{state.show(log_path)}:\n{tail}")
    say(f"done in {duration(seconds)}: {recap or counts}")
    outputs = read_json(state.outputs_file)
    if not outputs:
        raise DemoError(f"the playbook ran but wrote no outputs to {state.outputs_file}")
    return outputs


def start_supervisor(state: DemoState, aws, port: int, workers: int) -> subprocess.Popen:
    step("starting the supervisor, which keeps MLflow running after `make demo` returns "
         f"(pid file {state.show(state.supervisor_pid_file)}, log {state.show(state.supervisor_log)})")
    environment = child_environment(aws.environment)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "proving_ground.fargate_demo", "serve", "--state-dir", str(state.directory), "--port", str(port),
               "--workers", str(workers)]
    with open(state.supervisor_log, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environment,
                                   cwd=str(TESTS_DIR), start_new_session=True)
    state.supervisor_pid_file.write_text(f"{process.pid}\n")
    return process


def wait_for_supervisor(state: DemoState, process: subprocess.Popen) -> dict:
    """Relay the supervisor's steps until it is ready; its ready file's content."""
    deadline = time.monotonic() + READY_TIMEOUT
    offset = 0
    relaying = True
    while True:
        with open(state.supervisor_log, "rb") as log:
            log.seek(offset)
            text = log.read()
        complete = text[:text.rfind(b"\n") + 1]
        offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            relaying = relaying and not line.startswith("Traceback")   # the failure is reported below
            if relaying and line.startswith(("==> ", "    ")):
                print(line, flush=True)
        ready = read_json(state.ready_file)
        if ready:
            return ready
        if process.poll() is not None:
            failure = (read_json(state.failed_file) or {}).get("error") or state.supervisor_log.read_text(errors="replace")[-4000:]
            raise DemoError(f"the supervisor exited with status {process.returncode}: {failure}\n(its log: {state.supervisor_log})")
        if time.monotonic() > deadline:
            raise DemoError(f"MLflow did not answer within {READY_TIMEOUT:.0f}s; see {state.supervisor_log}")
        time.sleep(0.2)


def log_demo_run(state: DemoState, tracking_uri: str) -> dict:
    """A run in experiment "demo", logged as a data scientist logs one: the real MLflow client, nothing
    but the tracking URI (artifacts go through the server to the deployment's bucket)."""
    from helpers.mlflow_runs import mlflow_client_environment

    step(f"logging a run with the MLflow client: MLFLOW_TRACKING_URI={tracking_uri}, experiment \"{EXPERIMENT}\"")
    notes = state.directory / "notes.md"
    notes.write_text("# Logged by make demo\n\nThis file went through the MLflow server to the S3 bucket the role made.\n")
    # The venv's sagemaker-mlflow plugin (for the SageMaker tests) takes every tracking URI for an ARN and
    # makes MLflow warn at each request; a data scientist's client has no such plugin.
    logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)
    with mlflow_client_environment(tracking_uri):
        import mlflow  # imported late: it takes seconds

        experiment = mlflow.set_experiment(EXPERIMENT)
        with mlflow.start_run(run_name="make-demo") as run:
            mlflow.log_params({"learning_rate": 0.01, "epochs": 10, "optimizer": "adam"})
            for epoch in range(10):
                mlflow.log_metrics({"loss": round(1.0 / (epoch + 1), 4), "accuracy": round(0.5 + 0.045 * epoch, 4)}, step=epoch)
            mlflow.log_artifact(str(notes))
            mlflow.set_tag("logged_by", "make demo")
        logged = mlflow.MlflowClient().get_run(run.info.run_id)
        artifacts = [entry.path for entry in mlflow.MlflowClient().list_artifacts(run.info.run_id)]
    say(f"run {run.info.run_id}: params {logged.data.params}, metrics {logged.data.metrics}, artifacts {artifacts}")
    return {"experiment_id": experiment.experiment_id, "run_id": run.info.run_id, "artifacts": artifacts}


def artifact_objects(aws, outputs: dict, run_id: str) -> list:
    from helpers.mlflow_runs import list_keys

    s3 = aws_session(aws).client("s3", endpoint_url=aws.endpoint, verify=aws.ca_bundle)
    prefix = outputs["artifact_uri"].split("://", 1)[1].partition("/")[2]
    return [key for key in list_keys(s3, outputs["bucket_name"], prefix) if f"/{run_id}/" in f"/{key}"]


def summary(state: DemoState, outputs: dict, ready: dict, logged: dict, objects: list, seconds: float) -> str:
    url = ready["tracking_uri"]
    width = max(len(key) for key in outputs) + 2
    lines = [f"The role's outputs (mlflow_aws_fargate_outputs; also in {state.show(state.outputs_file)}):"]
    lines += [f"  {key:<{width}}{json.dumps(value) if isinstance(value, (list, dict)) else value}" for key, value in outputs.items()]
    lines += [
        "",
        f"MLflow runs here, behind a local load balancer that stands for {outputs['load_balancer_dns_name']}:",
        f"  UI and tracking URI   {url}",
        f"  the demo run          {url}/#/experiments/{logged['experiment_id']}/runs/{logged['run_id']}",
        f"  its artifact          s3://{outputs['bucket_name']}/{objects[0] if objects else '?'}",
        f"  clients               export MLFLOW_TRACKING_URI={url}",
        f"  logs                  {state.show(Path(ready['task_logs'][0]))} (the task), {state.show(state.supervisor_log)}",
        "",
        f"Ready in {duration(seconds)}. Stop it all: make demo-down",
    ]
    return "\n".join(lines)


def up(state: DemoState, port: int, workers: int) -> int:
    """``make demo``: see the module docstring."""
    if state.running():
        print(f"A demo already runs from {state.show(state.directory)} (supervisor pid {state.supervisor_pid}); it said:\n", flush=True)
        print(state.summary_file.read_text() if state.summary_file.exists() else json.dumps(read_json(state.ready_file), indent=2), end="")
        print("To start afresh: make demo-down && make demo", flush=True)
        return 0
    other = state.starting() if state.directory.exists() else None
    if other:
        print(f"Another `make demo` (pid {other}) is starting the demo in {state.show(state.directory)} right now: wait for it, "
              "or stop it with make demo-down.", file=sys.stderr, flush=True)
        return 1
    if state.directory.exists():
        step(f"removing what a previous demo left in {state.show(state.directory)}")
        down(state, quiet=True)
    problem = port_problem(port)
    if problem:
        print(f"make demo: {problem}", file=sys.stderr, flush=True)
        return 1
    state.directory.mkdir(parents=True)
    state.up_pid_file.write_text(f"{os.getpid()}\n")
    for key in [key for key in os.environ if key.startswith(CLOUD_PREFIXES)]:
        del os.environ[key]  # no process of the demo may reach a real AWS account, whatever the shell says
    began = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        aws = start_proving_ground(state)
        region = aws.environment["AWS_REGION"]
        network = create_network(aws)
        write_vars(state, network, region)
        step(f"wrote {state.show(state.vars_file)}: {MINIMAL_VARS.relative_to(REPO_ROOT)} with that network and region {region}")
        outputs = run_playbook(state, aws)
        say(f"tracking URI {outputs['tracking_uri']}, database {outputs['database_endpoint']}, bucket {outputs['bucket_name']}")
        process = start_supervisor(state, aws, port, workers)
        ready = wait_for_supervisor(state, process)
        logged = log_demo_run(state, ready["tracking_uri"])
        objects = artifact_objects(aws, outputs, logged["run_id"])
        say(f"in the bucket: s3://{outputs['bucket_name']}/{objects[0]}" if objects else "the artifact is not in the bucket")
        text = summary(state, outputs, ready, logged, objects, time.monotonic() - began)
        state.summary_file.write_text(text + "\n")
        print("\n" + text, flush=True)
        return 0
    except BaseException as error:  # pylint: disable=broad-exception-caught
        interrupted = isinstance(error, KeyboardInterrupt)
        if not interrupted and not isinstance(error, DemoError):
            traceback.print_exc()
        print(f"\nmake demo {'was interrupted' if interrupted else 'failed'}: {error or type(error).__name__}", file=sys.stderr, flush=True)
        step("stopping what the demo started")
        down(state, keep=True)
        print(f"The logs stay in {state.show(state.directory)}; make demo-down removes them (so does the next make demo).",
              file=sys.stderr, flush=True)
        return 130 if interrupted else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        state.up_pid_file.unlink(missing_ok=True)


def _interrupt(*args) -> None:
    raise KeyboardInterrupt("stopped by SIGTERM")


# --- serve (the supervisor) ---------------------------------------------------------------------------------------------


class _Supervisor:
    """What the supervisor process owns, and how SIGTERM reaches it."""

    def __init__(self):
        self.waiting = False   # the deployment runs: SIGTERM ends the wait and the harness stops it cleanly
        self.stop_requested = False

    def on_sigterm(self, *args) -> None:
        self.stop_requested = True
        if not self.waiting:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)   # cleanup must not be interrupted a second time
            raise SystemExit(0)


def serve(state: DemoState, port: int, workers: int) -> int:
    """The supervisor: PostgreSQL, the deployment's task(s) and the load balancer, until SIGTERM."""
    from helpers.fargate_e2e import DeployedFargateMlflow

    from .databases import PostgresServer
    from .server import aws_environment

    supervisor = _Supervisor()
    signal.signal(signal.SIGTERM, supervisor.on_sigterm)
    state.supervisor_pid_file.write_text(f"{os.getpid()}\n")
    state.failed_file.unlink(missing_ok=True)
    children: dict = {"supervisor": os.getpid()}
    postgres = None
    try:
        outputs = read_json(state.outputs_file)
        info = read_json(state.proving_ground / "ready.json")
        endpoint = f"https://{info['host']}:{info['tls_port']}"
        aws = SimpleNamespace(endpoint=endpoint, environment=aws_environment(endpoint, info["ca_bundle"]), region=outputs["region"])

        step(f"starting a throwaway PostgreSQL server for the database endpoint {outputs['database_endpoint']}")
        began = time.monotonic()
        postgres = PostgresServer(state.directory / "postgres").start()
        children.update(postgres=postgres.pid, postgres_runtime=str(postgres.runtime_dir))
        write_json(state.children_file, children)
        say(f"127.0.0.1:{postgres.port} (pid {postgres.pid}, {duration(time.monotonic() - began)})")

        deployment = DeployedFargateMlflow.from_outputs(outputs, aws, state.directory / "deployment")
        local = {"MLFLOW_WORKERS": str(workers)} if workers else {}
        step("running the deployment here with the Fargate e2e harness: its one-off tasks, then the service's task with the "
             f"venv's mlflow for the image{f' and MLFLOW_WORKERS={workers}' if workers else ''}, "
             f"behind a local load balancer on {HOST}:{port}")
        began = time.monotonic()
        with deployment.run(database_server=postgres, extra_environment=local, timeout=READY_TIMEOUT, load_balancer_port=port) as running:
            children.update(tasks=[task.pid for task in running.tasks])
            write_json(state.children_file, children)
            say(f"MLflow answers on {running.tracking_uri} as {running.host_header} (task pid {running.task.pid}, "
                f"ready in {duration(time.monotonic() - began)}); database {running.database.name} on the local PostgreSQL")
            write_json(state.ready_file, {"pid": os.getpid(), "tracking_uri": running.tracking_uri, "host_header": running.host_header,
                                          "load_balancer_port": running.load_balancer.port, "tasks": children["tasks"],
                                          "task_logs": [str(task.log_path) for task in running.tasks], "postgres": postgres.pid})
            supervisor.waiting = True
            while not supervisor.stop_requested:
                time.sleep(0.2)
            supervisor.waiting = False
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            step("SIGTERM: stopping the load balancer and the task")
        return 0
    except BaseException as error:  # pylint: disable=broad-exception-caught
        if isinstance(error, SystemExit) and supervisor.stop_requested:
            step("SIGTERM: stopping")
            return 0
        traceback.print_exc()
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        if isinstance(error, OSError) and error.errno == 98:
            text = port_problem(port) or text
        write_json(state.failed_file, {"error": text})
        return 1
    finally:
        state.ready_file.unlink(missing_ok=True)
        if postgres is not None:
            postgres.stop()
        step("the supervisor stopped")


# --- down ---------------------------------------------------------------------------------------------------------------


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _terminate(pid: Optional[int], what: str, quiet: bool, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM ``pid``, then SIGKILL its process group if it has not exited within ``timeout``."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 10)
    if not quiet:
        say(f"stopped {what} (pid {pid})")


def down(state: DemoState, quiet: bool = False, keep: bool = False) -> int:
    """Stop everything the demo in ``state`` started; remove its directory unless ``keep``."""
    if not state.directory.exists():
        if not quiet:
            print(f"No demo in {state.show(state.directory)}: nothing to stop.", flush=True)
        return 0
    if not quiet and not keep:
        step(f"stopping the demo in {state.show(state.directory)}")
    if state.starting():
        _terminate(state.starting(), "the `make demo` that was starting it", quiet)
    _terminate(state.supervisor_pid, "the supervisor, with the MLflow task, the load balancer and PostgreSQL", quiet)
    # What a supervisor that had to be killed could not stop.
    children = read_json(state.children_file) or {}
    for pid in children.get("tasks", []) + [children.get("postgres")]:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
    if children.get("postgres_runtime") and not str(children["postgres_runtime"]).startswith(str(state.directory)):
        shutil.rmtree(children["postgres_runtime"], ignore_errors=True)
    _terminate(state.proving_ground_pid, "the AWS proving ground", quiet, timeout=15)
    for name in ("ready.json", "children.json", "up.pid"):
        (state.directory / name).unlink(missing_ok=True)
    if not keep:
        shutil.rmtree(state.directory, ignore_errors=True)
        if not quiet:
            say(f"removed {state.show(state.directory)}")
    return 0


def status(state: DemoState) -> int:
    if state.running():
        print(state.summary_file.read_text() if state.summary_file.exists() else "the demo is starting", end="")
        return 0
    print(f"No demo runs from {state.show(state.directory)}.")
    return 3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="proving_ground.fargate_demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "deploy and leave MLflow running (make demo)"), ("down", "stop it all (make demo-down)"),
                       ("status", "say whether a demo runs"), ("serve", "the supervisor (started by up)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--state-dir", type=Path, default=Path(os.environ.get("MLOPS_DEMO_DIR") or DEFAULT_STATE_DIR),
                         help="where the demo keeps its state and logs (default: MLOPS_DEMO_DIR, else .demo in the repository)")
        if name in ("up", "serve"):
            sub.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_DEMO_PORT") or DEFAULT_PORT),
                             help="the local port of MLflow's load balancer (default: MLOPS_DEMO_PORT, else 5000)")
            sub.add_argument("--workers", type=int, default=1,
                             help="MLflow workers of the local task (default 1, light on a laptop; 0: as the task definition says)")
    args = parser.parse_args(argv)
    state = DemoState(args.state_dir)
    if args.command == "up":
        return up(state, args.port, args.workers)
    if args.command == "serve":
        return serve(state, args.port, args.workers)
    if args.command == "down":
        return down(state)
    return status(state)


if __name__ == "__main__":
    sys.exit(main())
