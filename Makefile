# TyreHero: `make run` serves the app on http://localhost:3000, `make test` runs every test.
# `make prod` serves the production shape (nginx, 2 app processes, PgBouncer) on the same port.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools/node_modules/.bin
export PATH := $(CURDIR)/$(TOOLS):$(PATH)
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export REFLEX_USE_SYSTEM_BUN := 1

.PHONY: run test test-unit test-integration test-e2e test-prod deps browser promtool lb prod prod-restart top-statements lint bench clean

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

# Debian's nginx, PgBouncer and PostgreSQL 15 (with pg_stat_statements) for the production shape.
lb:
	@command -v nginx >/dev/null && command -v pgbouncer >/dev/null && test -x /usr/lib/postgresql/15/bin/initdb || { \
	  pkgs="nginx-light pgbouncer postgresql-15"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$pkgs >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $$pkgs >/dev/null; fi; }

run: deps
	$(BIN)/python -m tyrehero_app.serve

test: deps browser promtool lb
	$(BIN)/python -m pytest tests

test-unit: deps
	$(BIN)/python -m pytest tests/unit

test-integration: deps
	$(BIN)/python -m pytest tests/integration

test-e2e: deps browser
	$(BIN)/python -m pytest tests/e2e

# Failover through the load balancer: a process killed, a rolling restart, PgBouncer restarted.
test-prod: deps browser lb
	$(BIN)/python -m pytest tests/prod

# nginx -> 2 app processes -> PgBouncer -> PostgreSQL, on http://localhost:3000 (docs/DEPLOYMENT.md).
prod: deps lb
	$(BIN)/python -m deploy.prod

# A rolling restart of the running `make prod`, one process at a time, without a failed request.
prod-restart: deps
	$(BIN)/python -m deploy.prod restart

# The statements that took the most PostgreSQL time (pg_stat_statements).
top-statements: deps
	$(BIN)/python -m deploy.prod top-statements

# Ruff's lint rules everywhere and mypy --strict on core/ (pyproject.toml holds both configurations).
# `ruff format --check` joins once the tree is formatted: today most files are not.
lint: deps
	$(BIN)/ruff check core tyrehero_app tests bench deploy rxconfig.py
	$(BIN)/mypy core

bench: deps
	$(BIN)/python -m bench.nearest

clean:
	rm -rf .web .states __pycache__
