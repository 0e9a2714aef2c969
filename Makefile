# The single entry point. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

# The Lambda runtime is python3.13: use it for the venv when available (pyenv or PATH), else the newest >= 3.11.
PYTHON ?= $(shell for p in python3.13 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 python3.12 python3.11 python3; do \
	  "$$p" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
# `sam build` needs an interpreter named python3.13 on PATH (no Docker here).
PY313_DIR := $(shell for p in python3.13 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13; do \
	  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { dirname "$$(command -v "$$p")"; break; }; done)

.PHONY: help install run test lint unit integration e2e sam-validate sam-build openapi bench fuzz clean env-vars invoke

help:
	@echo "make run    - start the local stack (API + embedded AWS) on http://127.0.0.1:$(PORT)"
	@echo "make test   - lint, SAM validate + build, unit, integration and end-to-end tests"
	@echo "make env-vars - SAM --env-vars file + template pointing every function at the running local stack"
	@echo "make invoke EVENT=events/X.json [FUNCTION=Name] - one event through the real handler, against the running stack"
	@echo "make fuzz   - schemathesis, all checks, each kind of credential, >= 5,000 generated requests"
	@echo "make openapi / bench / clean"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 is required (3.13 preferred)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml layers/common/requirements.txt clients/python/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e 'clients/python[aws,django]'
	@touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python -m local --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

sam-validate: install
	$(BIN)/sam validate --lint
	$(BIN)/sam validate
	$(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -t template.yaml

sam-build: install
	@test -n "$(PY313_DIR)" || { echo "sam build needs python3.13 (the Lambda runtime) on PATH"; exit 1; }
	PATH="$(PY313_DIR):$$PATH" $(BIN)/sam build --cached --parallel

openapi: install
	$(BIN)/python -m tools.openapi

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install
	$(BIN)/pytest tests/e2e

test: lint sam-validate sam-build
	MAILRELAY_BUILT_LAYER=.aws-sam/build/CommonLayer $(BIN)/pytest

# schemathesis --checks all with each kind of credential, many more cases than `make test` runs (≥ 5,000 in all);
# a new seed each run unless MAILRELAY_FUZZ_SEED is given (the seed is printed, to replay a failure).
fuzz: install
	MAILRELAY_FUZZ_EXAMPLES=$${MAILRELAY_FUZZ_EXAMPLES:-100} MAILRELAY_FUZZ_MIN_CASES=5000 \
	MAILRELAY_FUZZ_SEED=$${MAILRELAY_FUZZ_SEED:-$$RANDOM$$RANDOM} $(BIN)/pytest tests/e2e/test_schema.py -s -p no:cacheprovider

# The layer-size figure is of .aws-sam/build/CommonLayer: sam-build makes it the current code's.
bench: install sam-build
	$(BIN)/python -m tools.bench

env-vars: install
	$(BIN)/python -m local env-vars

invoke: install
	@test -n "$(EVENT)" || { echo "usage: make invoke EVENT=events/relay-send-message.json [FUNCTION=RelayFunction]" >&2; exit 2; }
	$(BIN)/python -m local invoke $(EVENT) $(if $(FUNCTION),--function $(FUNCTION))

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache
