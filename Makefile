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

.PHONY: setup demo dev test test-fast bench lint lint-sql fmt manifest java browser clean

setup: $(STAMP) java $(DAGSTER_HOME)/dagster.yaml manifest

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev]" 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import data_platform, dagster, dagster_dbt, pyspark, kafka, duckdb"
	touch $@

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

# The dbt manifest is prepared ahead (dbt parse), so importing the definitions never parses.
# Re-parsed only when a file of the dbt project changed.
DBT_MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -path dbt_project/logs -prune -o \
  -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.yaml' -o -name '*.csv' \) -print)

manifest: $(DBT_MANIFEST)

$(DBT_MANIFEST): $(STAMP) $(DBT_SOURCES)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-dbt project prepare-and-package \
	  --file data_platform/dbt/project.py
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@
	@# Create the storage once, before concurrent runs could race to initialise it.
	$(BIN)/dagster instance migrate >/dev/null

demo: setup
	$(BIN)/data-platform broker --port 0 -- $(BIN)/data-platform demo

dev: setup
	@# The venv's bin on PATH: dagster dev re-parses dbt (prepare_if_dev), which looks up `dbt`.
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/data-platform broker --port $(KAFKA_PORT) -- \
	  $(BIN)/dagster dev -h 127.0.0.1 -p 3000

test: setup browser
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: setup
	$(BIN)/pytest -q -m "not spark and not ui"

# Figures go to stdout; Dagster's and dbt's run logs to build/bench.log (shown on failure).
bench: setup
	@mkdir -p build
	$(BIN)/python -m benchmarks 2>build/bench.log || { tail -n 60 build/bench.log; exit 1; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# SQL lint of the dbt models and snapshots (sqlfluff, dbt templater; config in .sqlfluff). dbt
# compiles against an in-memory DuckDB, so the lint never waits on (or creates) a warehouse file.
lint-sql: setup
	DATA_PLATFORM_WAREHOUSE=:memory: $(BIN)/sqlfluff lint dbt_project/models dbt_project/snapshots

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .data .dagster_home build
