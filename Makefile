# Every user-facing target does its own set-up first: a fresh clone needs only `make demo`
# or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export PYSPARK_PYTHON ?= $(CURDIR)/$(BIN)/python
# Local Kafka-protocol broker for `make dev` (make demo uses a free port).
KAFKA_PORT ?= 9092
# The Dagster UI's port for `make dev` (`DAGSTER_PORT=3001 make dev` when 3000 is taken).
DAGSTER_PORT ?= 3000

.PHONY: setup demo dev test test-fast bench lint lint-sql fmt manifest lock java browser clean

setup: $(STAMP) java $(DAGSTER_HOME)/dagster.yaml manifest

# Exactly the versions (and hashes) of requirements.lock, then the package itself without
# resolving anything again.
$(STAMP): pyproject.toml setup.py requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	set -o pipefail; $(BIN)/pip install -q --require-hashes -r requirements.lock 2>&1 \
	  | { grep -v "is ignored: it is neither" || true; }
	set -o pipefail; $(BIN)/pip install -q --no-deps -e . 2>&1 \
	  | { grep -v "is ignored: it is neither" || true; }
	$(BIN)/python -c "import data_platform, dagster, dagster_dbt, pyspark, kafka, duckdb"
	@# DuckLake's extensions from their wheels (INSTALL '<file>'): nothing downloads at run time.
	$(BIN)/python -m data_platform.warehouse.extensions
	touch $@

# Re-resolve requirements.lock from pyproject.toml (the runtime and dev dependencies), for the
# platform every machine and the image run: Linux x86_64, CPython 3.11. Versions already locked
# are kept where they still fit; `make lock LOCK_FLAGS=--upgrade` moves everything to the newest.
LOCK_FLAGS ?=
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --no-strip-extras \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet $(LOCK_FLAGS) -o requirements.lock

$(BIN)/uv:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "uv>=0.13.8"

# The UI tests drive Debian's Chromium through its chromedriver (never a downloaded driver);
# install both when missing.
browser:
	@{ test -x /usr/bin/chromium && test -x /usr/bin/chromedriver; } || { \
	  echo "chromium/chromedriver not found: installing chromium chromium-driver"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# pyspark needs a Java runtime; install one from Debian's packages when it is missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "java not found: installing openjdk-17-jre-headless"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }

# The dbt manifest is prepared ahead (dbt parse), so importing the definitions never parses, and
# the dbt asset specs are cached beside it (data_platform/dbt/spec_cache.py), so importing them
# needs no dagster-dbt. Re-prepared only when a file of the dbt project changed.
DBT_MANIFEST := dbt_project/target/dagster/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -path dbt_project/logs -prune -o \
  -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.yaml' -o -name '*.csv' \) -print)

manifest: $(DBT_MANIFEST)

$(DBT_MANIFEST): $(STAMP) $(DBT_SOURCES)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m data_platform.dbt.spec_cache
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@
	@# Create the storage once, before concurrent runs could race to initialise it.
	$(BIN)/dagster instance migrate >/dev/null

demo: setup
	$(BIN)/data-platform broker --port 0 -- $(BIN)/data-platform demo

# `dg dev` (what `dagster dev` now defers to) runs in DAGSTER_HOME: started anywhere else,
# Dagster warns about the repo's dagster.yaml (the template copied there). So the state
# directory and the workspace are passed as absolute paths.
dev: setup
	@# The venv's bin on PATH: dagster dev re-parses dbt (prepare_if_dev), which looks up `dbt`.
	cd "$(DAGSTER_HOME)" && PATH="$(CURDIR)/$(BIN):$$PATH" \
	  DATA_PLATFORM_STATE_DIR="$(abspath $(or $(DATA_PLATFORM_STATE_DIR),.data))" \
	  $(CURDIR)/$(BIN)/data-platform broker --port $(KAFKA_PORT) -- \
	  $(CURDIR)/$(BIN)/dg dev -h 127.0.0.1 -p $(DAGSTER_PORT) -w $(CURDIR)/workspace.yaml

# The checks run first, so CI (which runs `make test`) fails on a lint, type or import error.
test: setup browser lint
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: setup
	$(BIN)/pytest -q -m "not spark and not ui"

# Figures go to stdout; Dagster's and dbt's run logs to build/bench.log (shown on failure).
bench: setup
	@mkdir -p build
	$(BIN)/python -m benchmarks 2>build/bench.log || { tail -n 60 build/bench.log; exit 1; }

# ruff, mypy ([tool.mypy]), the import contract ([tool.importlinter]), and the SQL lint of the
# dbt models wherever a `lint-sql` target is defined (`make -n` fails for an unknown target).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	@if $(MAKE) -n lint-sql >/dev/null 2>&1; then $(MAKE) --no-print-directory lint-sql; fi

# SQL lint of the dbt models and snapshots (sqlfluff, dbt templater; config in .sqlfluff). dbt
# compiles against an in-memory DuckDB, so the lint never waits on (or creates) a warehouse file.
lint-sql: setup
	DATA_PLATFORM_WAREHOUSE=:memory: $(BIN)/sqlfluff lint dbt_project/models dbt_project/snapshots

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .data .dagster_home build
