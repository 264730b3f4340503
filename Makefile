# reelsight developer entry points. `make demo` and `make test` install what they need on first run.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

# Fragments in mk/ add prerequisites to these and define their own targets.
TEST_PREREQS :=
DEMO_PREREQS :=
LINT_PATHS := reelsight stacks lambdas bench tools tests tests_mx app.py
# Every environment installs from a lock in requirements/ (hashes checked); `make lock` regenerates them.
LOCK_DIR := requirements
PIP_LOCKED := pip install --quiet --require-hashes

-include mk/*.mk

.PHONY: help venv test lint lock demo bench

help:
	@echo "make demo   - run reelsight's main job on the local stack (installs on first run)"
	@echo "make test   - run every test (installs on first run)"
	@echo "make lint   - ruff + mypy + import contracts"
	@echo "make lock   - regenerate every lock file in requirements/ from its .in input"
	@echo "make bench  - benchmark against the seed-002 handler"
	@echo "make soak   - 1000 uploads through the local stack with faults injected"
	@echo "make synth  - synthesize the CloudFormation templates (offline)"

$(VENV_STAMP): $(LOCK_DIR)/dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m $(PIP_LOCKED) -r $(LOCK_DIR)/dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

venv: $(VENV_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

test: $(VENV_STAMP) $(TEST_PREREQS)
	$(PY) -m pytest

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy reelsight stacks lambdas bench tools app.py
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m tools.locks check

# Needs the package registries. Keeps every pin that still satisfies its input; add
# LOCK_ARGS=--upgrade to move them all to the newest releases.
lock: $(VENV_STAMP)
	$(PY) -m tools.locks compile $(LOCK_ARGS)
