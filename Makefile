# Developer entry points. Each target is idempotent and works on a fresh machine: `make test` installs
# what it needs (a virtualenv from pinned requirements, database servers) and runs every check.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := dist/mlops-mlflow-$(VERSION).tar.gz
COLLECTIONS_ROOT := build/ansible_collections
SANITY_TREE := $(COLLECTIONS_ROOT)/mlops/mlflow
MLOPS_AWS_PORT ?= 5100
# The GCP emulator's HTTPS proxy (and control API) port
MLOPS_GCP_PORT ?= 5110
# Initial settings of the proving ground, e.g. '{"latency_scale": 0.01, "fault_rate": 0.1}'
MLOPS_AWS_SETTINGS ?= {}
# make demo: where MLflow's UI listens (127.0.0.1) and where the demo keeps its state and logs
MLOPS_DEMO_PORT ?= 5000
DEMO_DIR := $(CURDIR)/.demo
PYTEST := $(BIN)/python -m pytest
PYTEST_OPTS ?=

.PHONY: help venv lock build lint sanity unit integration e2e molecule test demo demo-down demo-sagemaker emulators emulators-down clean bench

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Create .venv from the pinned requirements; install database servers if missing

$(VENV)/.installed: test-requirements.txt requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r test-requirements.txt
	bash tests/setup/install-database-servers.sh
	touch $@

lock: ## Re-pin test-requirements.txt from test-requirements.in
	@test -x $(BIN)/uv || $(MAKE) venv
	$(BIN)/uv pip compile --quiet --python-version 3.11 --no-header --annotation-style line \
		test-requirements.in -o test-requirements.txt

build: $(TARBALL) ## Build the collection tarball under dist/

$(TARBALL): venv $(shell git ls-files --cached --others --exclude-standard 2>/dev/null | grep -vE '^(tests/|\.ci/)')
	@mkdir -p dist
	$(BIN)/ansible-galaxy collection build --force --output-path dist .

lint: venv build ## ansible-lint (production profile), yamllint, changelog lint, galaxy-importer
	$(BIN)/yamllint --strict .
	@# Playbooks name the collection's roles by FQCN: lint sees the repository as mlops.mlflow.
	@mkdir -p build/lint-collections/ansible_collections/mlops && ln -sfn ../../../.. build/lint-collections/ansible_collections/mlops/mlflow
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/lint-collections $(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint
	@mkdir -p build
	cd build && GALAXY_IMPORTER_CONFIG=../tests/setup/galaxy-importer.cfg $(BIN)/python -m galaxy_importer.main \
		../$(TARBALL) | tee galaxy-importer.log
	@! grep -E '^(ERROR|WARNING)' build/galaxy-importer.log

sanity: venv ## ansible-test sanity, offline, from a tree under build/ansible_collections
	bash tests/setup/sanity-tree.sh $(COLLECTIONS_ROOT) $(BIN)/python
	cd $(SANITY_TREE) && $(BIN)/ansible-test sanity --color no --python 3.11

unit: venv ## Unit tests (no network, no servers)
	$(PYTEST) tests/unit $(PYTEST_OPTS)

# Two workers, each with its own proving ground and database servers (free ports): a test drives one
# ansible-playbook at a time, about one core. A file stays on one worker (its fixtures build stacks step by step).
INTEGRATION_WORKERS ?= 2
integration: venv ## Integration tests against the proving ground and real database servers
	$(PYTEST) tests/integration -n $(INTEGRATION_WORKERS) --dist loadfile $(PYTEST_OPTS)

e2e: venv ## End-to-end tests with a real MLflow server and client
	$(PYTEST) tests/e2e $(PYTEST_OPTS)

# The collection under test as build/molecule/collections/ansible_collections/mlops/mlflow (a link to this tree):
# extensions/molecule/config.yml points ANSIBLE_COLLECTIONS_PATH there. The scenario starts and stops its own
# proving ground; AWS_PROFILE and AWX's AWS_SECURITY_TOKEN would clash with its test credentials.
molecule: venv ## Molecule scenarios mlflow_aws_fargate, mlflow_sagemaker and mlflow_gcp_cloudrun (extensions/molecule), each on a proving ground of its own, offline
	@mkdir -p build/molecule/collections/ansible_collections/mlops
	@ln -sfn ../../../../.. build/molecule/collections/ansible_collections/mlops/mlflow
	env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SECURITY_TOKEN $(BIN)/molecule test -s mlflow_aws_fargate
	env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SECURITY_TOKEN $(BIN)/molecule test -s mlflow_sagemaker
	env -u GCP_PROJECT -u GCP_AUTH_KIND -u GCP_ACCESS_TOKEN -u GCP_SERVICE_ACCOUNT_FILE -u GCP_SERVICE_ACCOUNT_CONTENTS $(BIN)/molecule test -s mlflow_gcp_cloudrun

test: unit lint sanity integration e2e molecule ## Everything CI runs

demo: venv ## Deploy mlflow_aws_fargate on the proving ground and leave MLflow on http://127.0.0.1:5000 (see README)
	@cd tests && $(BIN)/python -m proving_ground.fargate_demo up --state-dir $(DEMO_DIR) --port $(MLOPS_DEMO_PORT)

demo-down: ## Stop everything make demo started and remove .demo/
	@if test -x $(BIN)/python; then cd tests && $(BIN)/python -m proving_ground.fargate_demo down --state-dir $(DEMO_DIR); fi

demo-sagemaker: venv ## The SageMaker MLflow demo: a tracking server through the AWS API, a run logged, all stopped
	cd tests && $(BIN)/python -m proving_ground.demo

bench: venv ## Time mlflow_aws_fargate on the proving ground; writes docs/benchmarks.md and .json
	cd tests && $(BIN)/python -m bench.fargate

emulators: venv ## Start the AWS proving ground and the GCP emulator in the background and print what to export
	@cd tests && $(BIN)/python -m proving_ground start --state-dir $(CURDIR)/.proving_ground --port $(MLOPS_AWS_PORT) \
		--settings '$(MLOPS_AWS_SETTINGS)'
	@cd tests && $(BIN)/python -m gcp_emulator start --state-dir $(CURDIR)/.gcp_emulator --port $(MLOPS_GCP_PORT)

emulators-down: ## Stop the AWS proving ground and the GCP emulator
	@if test -x $(BIN)/python; then cd tests && $(BIN)/python -m proving_ground stop --state-dir $(CURDIR)/.proving_ground; fi
	@if test -x $(BIN)/python; then cd tests && $(BIN)/python -m gcp_emulator stop --state-dir $(CURDIR)/.gcp_emulator; fi

clean: emulators-down ## Remove build output (keeps .venv)
	rm -rf build dist tests/output .pytest_cache
