"""免申即享: when new themes are published, evaluate every active policy for the run's date."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from pipeline.alerts import on_task_failure
from pipeline.assets import MATCH_LEDGER_ASSET, START_DATE, THEMES_ASSET, WAREHOUSE_WRITER_POOL

with DAG(
    dag_id="policy_matching",
    description="Evaluate the 免申即享 policies, record the match ledger, write push lists",
    schedule=[THEMES_ASSET],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=1),
    tags=["matching", "免申即享"],
) as policy_matching:

    @task(
        task_id="evaluate_policies",
        pool=WAREHOUSE_WRITER_POOL,
        outlets=[MATCH_LEDGER_ASSET],
        on_failure_callback=on_task_failure,
        retries=1,
        retry_delay=dt.timedelta(minutes=2),
    )
    def evaluate_policies(**context):
        from pipeline import dates, tasks

        return tasks.evaluate_policies(dates.evaluation_date(context))

    evaluate_policies()
