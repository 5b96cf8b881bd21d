# TyreHero: `make run` serves the app on http://localhost:3000, `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools/node_modules/.bin
export PATH := $(CURDIR)/$(TOOLS):$(PATH)
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export REFLEX_USE_SYSTEM_BUN := 1

.PHONY: run test test-unit test-integration test-e2e deps browser promtool lint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(TOOLS)/bun: .tools/package.json
	cd .tools && npm install --no-audit --no-fund --loglevel=error
	test -x $@ && touch $@

deps: $(VENV)/.installed $(TOOLS)/bun

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

# Debian's promtool and amtool check the alerting rules and the Alertmanager example (deploy/prometheus/).
promtool:
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null; fi; }

run: deps
	$(BIN)/python -m tyrehero_app.serve

test: deps browser promtool
	$(BIN)/python -m pytest tests

test-unit: deps
	$(BIN)/python -m pytest tests/unit

test-integration: deps
	$(BIN)/python -m pytest tests/integration

test-e2e: deps browser
	$(BIN)/python -m pytest tests/e2e

# Ruff's lint rules everywhere and mypy --strict on core/ (pyproject.toml holds both configurations).
# `ruff format --check` joins once the tree is formatted: today most files are not.
lint: deps
	$(BIN)/ruff check core tyrehero_app tests bench rxconfig.py
	$(BIN)/mypy core

bench: deps
	$(BIN)/python -m bench.nearest

clean:
	rm -rf .web .states __pycache__
