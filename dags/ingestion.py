"""One ingestion DAG per source system, on the schedule of ingestion/sources.yaml (a test checks
that the two agree). Each run loads its system into the raw layer and updates the system's
asset, which schedules the warehouse DAG."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from pipeline.alerts import on_task_failure
from pipeline.assets import RAW_ASSETS, START_DATE, WAREHOUSE_WRITER_POOL, source_retry_args

SCHEDULES = {
    "case_platform": "@hourly",
    "certificate_library": "@hourly",
    "hotline_12345": "*/15 * * * *",
    "evaluation_hcp": "@daily",
    "population_base": "@daily",
    "legal_entity_base": "@daily",
}


def ingestion_dag(system: str, schedule: str) -> DAG:
    with DAG(
        dag_id=f"ingest_{system}",
        description=f"Load {system} into the warehouse's raw layer",
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=2),
        tags=["ingestion", system],
    ) as dag:

        @task(
            task_id="load",
            pool=WAREHOUSE_WRITER_POOL,
            outlets=[RAW_ASSETS[system]],
            on_failure_callback=on_task_failure,
            **source_retry_args(),
        )
        def load(**context):
            from pipeline import dates, tasks

            return tasks.ingest(system, dates.load_day(context))

        load()
    return dag


for _system, _schedule in SCHEDULES.items():
    globals()[f"ingest_{_system}"] = ingestion_dag(_system, _schedule)
