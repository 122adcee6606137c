# Government-service data platform. `make` (or `make help`) lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := 3.11
UV_VERSION := 0.13.9
# uv through the interpreter: works right after `pip install uv`, before any shim exists
UV := python3 -m uv
VENV := .venv
SUPERSET_VENV := .venv-superset
CITY ?= data/city
WAREHOUSE ?= data/warehouse/warehouse.duckdb
SOURCES ?=
PEOPLE ?= 5000
SEED ?= 20250101
BENCH_PEOPLE ?= 1000000
TIER ?= S
export UV_PYTHON := $(PYTHON_VERSION)
# Trust the machine's certificate store (a TLS-inspecting proxy may sit before the registry).
export UV_SYSTEM_CERTS ?= true

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: uv
uv:
	@python3 -m uv --version >/dev/null 2>&1 || { echo "installing uv $(UV_VERSION) with pip"; \
		python3 -m pip install --quiet "uv==$(UV_VERSION)"; }

.PHONY: install
install: uv $(VENV)/.installed $(SUPERSET_VENV)/.installed ## create both environments from the lock files (idempotent)

$(VENV)/.installed: pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch $@

$(SUPERSET_VENV)/.installed: superset/requirements.lock
	$(UV) venv --allow-existing $(SUPERSET_VENV) --python $(PYTHON_VERSION)
	$(UV) pip install --quiet --python $(SUPERSET_VENV)/bin/python -r superset/requirements.lock
	@touch $@

.PHONY: lock
lock: uv ## re-resolve the lock files after changing dependencies
	$(UV) lock
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --quiet -o docker/airflow/requirements.txt
	$(UV) pip compile superset/requirements.in --python-version $(PYTHON_VERSION) -o superset/requirements.lock

.PHONY: demo
demo: install ## build the demo city of Ganzhou and run the whole chain on it through Airflow
	$(VENV)/bin/python -m simulator generate --people $(PEOPLE) --seed $(SEED) --out $(CITY)
	$(VENV)/bin/python -m simulator.demo --out $(CITY)
	@$(VENV)/bin/python -m groundfloor.settings ensure-dotenv
	rm -rf $(WAREHOUSE) $(WAREHOUSE).wal data/published data/operations data/push data/sharing
	CITY_DIR=$(CITY) WAREHOUSE=$(WAREHOUSE) scripts/with-demo-hotline.sh $(CITY) $(VENV)/bin/python \
		$(VENV)/bin/python -m pipeline.demo

.PHONY: run
run: install ## load the sources into the warehouse: make run [SOURCES=path/to/sources.yaml] [WAREHOUSE=path]
ifeq ($(SOURCES),)
	scripts/with-demo-hotline.sh $(CITY) $(VENV)/bin/python $(VENV)/bin/python -m ingestion \
		--warehouse $(WAREHOUSE) run --as-of $$($(VENV)/bin/python -c "import json; print(json.load(open('$(CITY)/city.json'))['clock'][:10])")
else
	$(VENV)/bin/python -m ingestion --sources $(SOURCES) --warehouse $(WAREHOUSE) run
endif

.PHONY: city
city: install ## (re)generate the demo city only: make city PEOPLE=20000 CITY=data/big
	$(VENV)/bin/python -m simulator generate --people $(PEOPLE) --seed $(SEED) --out $(CITY)

.PHONY: advance
advance: install ## move the demo city's clock on: make advance DAYS=3
	$(VENV)/bin/python -m simulator advance --out $(CITY) --days $(or $(DAYS),1)

# The date the warehouse is built "as of": the demo city's last day, unless AS_OF is given.
AS_OF ?= $(shell $(VENV)/bin/python -c "import json,datetime as d; print(d.date.fromisoformat(json.load(open('$(CITY)/city.json'))['clock'][:10]) - d.timedelta(days=1))" 2>/dev/null || date +%F)

# ENGINE=spark: the same dbt project on a local Spark session (dbt-spark), the raw layer
# exported as Parquet beside the warehouse, the built tables copied back (docs/spark.md).
ENGINE ?= duckdb
DBT_BUILD_TARGET := $(if $(filter spark,$(ENGINE)),spark,demo)
BUILD_NEEDS := $(if $(filter spark,$(ENGINE)),java)

.PHONY: build
build: install $(BUILD_NEEDS) ## dbt build (seeds, models, data and unit tests) on WAREHOUSE as of AS_OF, then publish; ENGINE=spark on Spark
	@$(VENV)/bin/python -m groundfloor.settings ensure-dotenv
	$(VENV)/bin/python -m transform build --warehouse $(WAREHOUSE) --as-of $(AS_OF) --target $(DBT_BUILD_TARGET)
	@$(MAKE) --no-print-directory publish

.PHONY: publish
publish: install ## publish the marts as the read-only snapshot dashboards read, and the dbt docs
	$(VENV)/bin/python -m transform publish --warehouse $(WAREHOUSE) --as-of $(AS_OF)
	$(VENV)/bin/python -m transform docs --warehouse $(WAREHOUSE) --as-of $(AS_OF)

.PHONY: quality
quality: install ## run the quality step on WAREHOUSE as of AS_OF: summary table, Data Docs path
	$(VENV)/bin/python -m quality run --warehouse $(WAREHOUSE) --as-of $(AS_OF)

.PHONY: match
match: install ## 免申即享 matching on WAREHOUSE: make match [DATE=YYYY-MM-DD] [POLICY="GLJT CJLB"]
	$(VENV)/bin/python -m matching evaluate --warehouse $(WAREHOUSE) \
		--date $(or $(DATE),$$($(VENV)/bin/python -c "import json,datetime as d; print(d.date.fromisoformat(json.load(open('$(CITY)/city.json'))['clock'][:10]) - d.timedelta(days=1))" 2>/dev/null || date +%F)) \
		$(foreach code,$(POLICY),--policy $(code))

.PHONY: rerun
rerun: install ## re-run the whole chain through Airflow for a past date: make rerun DATE=YYYY-MM-DD
	@test -n "$(DATE)" || { echo "usage: make rerun DATE=YYYY-MM-DD"; exit 2; }
	CITY_DIR=$(CITY) WAREHOUSE=$(WAREHOUSE) scripts/with-demo-hotline.sh $(CITY) $(VENV)/bin/python \
		$(VENV)/bin/python -m pipeline.demo --date $(DATE)

.PHONY: serve
serve: install ## Airflow (UI, scheduler, DAG processor, triggerer) and Superset on 127.0.0.1; prints URLs and logins
	$(VENV)/bin/python -m pipeline.serve start

.PHONY: stop
stop: ## stop every process `make serve` started
	$(VENV)/bin/python -m pipeline.serve stop

.PHONY: dashboards superset-import
dashboards: install ## Superset: import dashboards/bundle, roles, RLS and demo accounts (idempotent)
	$(SUPERSET_VENV)/bin/python -m dashboards import
superset-import: dashboards

.PHONY: dashboards-export
dashboards-export: install ## Superset: export the dashboards back into dashboards/bundle (normalised)
	$(SUPERSET_VENV)/bin/python -m dashboards export

.PHONY: dashboards-screenshots
dashboards-screenshots: install browser ## the README's screenshots, from what `make demo` published, into docs/screenshots/
	$(VENV)/bin/python -m dashboards.screenshots

.PHONY: officer-screenshots
officer-screenshots: install browser ## issue 35: the approval step in Airflow's UI and the payout views, into docs/screenshots/
	$(VENV)/bin/python -m pipeline.screenshots

# The browser tests drive Debian's chromium (never a browser downloaded by Playwright); the CJK font makes the
# Chinese dashboards render as text, not boxes. Installed with apt when missing.
BROWSER_PACKAGES := chromium fonts-wqy-zenhei
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: browser
browser: ## Debian chromium and a CJK font for the browser tests (apt, when missing)
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { echo "installing $(BROWSER_PACKAGES) with apt"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
		--no-install-recommends $(BROWSER_PACKAGES) >/dev/null; }

# Spark (pyspark, the dbt-spark session target) runs on a Java 17 runtime: Debian's, with apt
# when no `java` is on the PATH.
JAVA_PACKAGES := openjdk-17-jre-headless

.PHONY: java
java: ## a Java runtime for Spark (apt, when `java` is missing)
	@command -v java >/dev/null 2>&1 || { echo "installing $(JAVA_PACKAGES) with apt"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
		--no-install-recommends $(JAVA_PACKAGES) >/dev/null; }

.PHONY: test-spark
test-spark: install java ## the Spark build against DuckDB's, mart by mart, alone (tests marked spark)
	$(VENV)/bin/python -m pytest tests -q -p no:cacheprovider -m spark

.PHONY: test
test: install browser java ## run every test (unit, integration against local services, end to end, browser)
	$(VENV)/bin/python -m pytest tests -q -p no:cacheprovider --durations=30

.PHONY: test-unit
test-unit: install ## run the fast tests only
	$(VENV)/bin/python -m pytest tests/unit -q

.PHONY: lint
# sqlfluff renders the models with dbt itself (dbt templater, target ci) on a scratch DuckDB
# file; the pseudonymisation key is never rendered into SQL, so lint needs only a placeholder.
LINT_ENV := WAREHOUSE=$(CURDIR)/data/lint/lint.duckdb DBT_TARGET=ci \
	IDENTITY_KEY=$${IDENTITY_KEY:-lint-placeholder-never-keys-data}

lint: install ## ruff (lint with Airflow's AIR rules, format check) and sqlfluff (dbt templater) on the models
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@mkdir -p data/lint
	$(LINT_ENV) $(VENV)/bin/sqlfluff lint dbt_project/models

.PHONY: fmt
fmt: install ## format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: bench
bench: install ## full + one-day incremental refresh of tier TIER (S, M, L; default S) beside its peers; reports in bench/results
	$(VENV)/bin/python -m bench.refresh --tier $(TIER)

.PHONY: bench-dbt
bench-dbt: install ## dbt build (and run/test apart): wall time, peak RSS, on a BENCH_PEOPLE warehouse
	$(VENV)/bin/python -m bench.dbt --people $(BENCH_PEOPLE)

.PHONY: bench-quality
bench-quality: install ## quality step time as a share of dbt build time, BENCH_PEOPLE city (goal <= 10 %)
	$(VENV)/bin/python -m bench.quality --people $(BENCH_PEOPLE)

.PHONY: bench-ingestion
bench-ingestion: install ## extraction from PostgreSQL/MariaDB vs pandas.read_sql, BENCH_PEOPLE city
	$(VENV)/bin/python -m bench.ingestion --people $(BENCH_PEOPLE)

.PHONY: bench-simulator
bench-simulator: install ## simulator rows/s, peak RSS and disk for BENCH_PEOPLE (default 1,000,000)
	$(VENV)/bin/python -m bench.simulator --people $(BENCH_PEOPLE) --out bench/cache/sim-$(BENCH_PEOPLE)

.PHONY: bench-matching
bench-matching: install ## matching: SQL vs row-wise Python, s per million people and ratio (BENCH_PEOPLE)
	$(VENV)/bin/python -m bench.matching --people $(BENCH_PEOPLE)

SHARING_WAREHOUSE ?= bench/cache/refresh-M/warehouse/warehouse.duckdb
SHARING_SECONDS ?= 60

SHARING_STORES ?= sqlite postgresql

.PHONY: bench-sharing
bench-sharing: install wrk ## sharing service: verification and query req/s, p50/p95/p99 vs a DuckDB-per-request peer (SHARING_WAREHOUSE; both stores)
	$(VENV)/bin/python -m bench.sharing --warehouse $(SHARING_WAREHOUSE) --seconds $(SHARING_SECONDS) --name $(TIER) $(foreach s,$(SHARING_STORES),--store $(s))

# The sharing benchmark's load generator: Debian's wrk (C, epoll), far cheaper per request than
# a Python client on the 2 cores the service shares with it.
.PHONY: wrk
wrk: ## wrk, the sharing benchmark's load generator (apt, when missing)
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk with apt"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
		--no-install-recommends wrk >/dev/null; }

.PHONY: clean
clean: ## remove generated cities and caches (keeps the environments)
	rm -rf data .pytest_cache .ruff_cache
