"""Assets, pools and retry policy shared by the DAG files (light: no heavy imports)."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Asset

# Early on purpose: Airflow creates no task instances for a logical date before a DAG's
# start_date, and a city re-runs or catches up past dates. catchup=False on every DAG keeps
# the scheduler from backfilling the years in between.
START_DATE = pendulum.datetime(2020, 1, 1, tz="Asia/Shanghai")

SYSTEMS = (
    "case_platform",
    "certificate_library",
    "hotline_12345",
    "evaluation_hcp",
    "population_base",
    "legal_entity_base",
)
RAW_ASSETS = {system: Asset(f"govdata://warehouse/raw/{system}") for system in SYSTEMS}
THEMES_ASSET = Asset("govdata://published/themes")
MATCH_LEDGER_ASSET = Asset("govdata://operations/match_ledger")
SHARING_SNAPSHOT_ASSET = Asset("govdata://sharing/snapshot")

# DuckDB allows one writer process: every task that writes the warehouse takes this pool's
# single slot (`python -m pipeline.airflow_setup` creates it).
WAREHOUSE_WRITER_POOL = "warehouse_writer"
MAX_RETRY_DELAY = dt.timedelta(minutes=30)


def source_retry_args() -> dict:
    """Retries with exponential back-off for tasks that talk to a source."""
    from groundfloor.settings import retry_delay_seconds, source_retries

    return {
        "retries": source_retries(),
        "retry_delay": dt.timedelta(seconds=retry_delay_seconds()),
        "retry_exponential_backoff": True,
        "max_retry_delay": MAX_RETRY_DELAY,
    }
