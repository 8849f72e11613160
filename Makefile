# bookbridge: `make run` starts everything locally, `make test` sets up and runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help setup venv node browser run lint test smoke bench clean connect-link

help:
	@echo "make run    - set up, start Azurite, the Microsoft stand-in, the SMTP sink and the local host"
	@echo "make lint   - ruff, mypy and the size limits (tools/check_size.py)"
	@echo "make test   - set up, lint, then run the whole test suite"
	@echo "make connect-link WS=demo USER=alex KIND=teams - a fresh one-time connect link from the running stack"
	@echo "make smoke  - walk the seeds' verification checklist against a running (or new) stack"
	@echo "make bench  - benchmarks, printed as ratios and written to bench/results.json"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium"; exit 1; fi; }

setup: venv node

run: setup
	$(PY) -m devhost.stack

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m tools.check_size

test: setup browser lint
	$(PY) -m pytest $(PYTEST_ARGS)

# A fresh one-time connect link from the stack `make run` started: make connect-link WS=demo USER=alex KIND=teams
WS ?= demo
USER_ID ?= $(if $(filter command line,$(origin USER)),$(USER),alex)
KIND ?= teams
connect-link: venv
	@$(PY) -m devhost.connect_link --workspace "$(WS)" --user "$(USER_ID)" --kind "$(KIND)"

smoke: setup
	$(PY) -m devhost.smoke

bench: setup
	$(PY) -m bench.run

clean:
	rm -rf .run .azurite tests/artifacts bench/results.json
