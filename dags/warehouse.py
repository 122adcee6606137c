"""The warehouse DAG: when any source has landed, dbt build → quality gate → publish →
monthly close (结账) → KPI alerts.

Every task holds the warehouse writer slot (DuckDB allows one writer). Publishing updates the
themes asset, which schedules policy matching.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, AssetAny, task

from pipeline.alerts import on_task_failure
from pipeline.assets import RAW_ASSETS, START_DATE, THEMES_ASSET, WAREHOUSE_WRITER_POOL

with DAG(
    dag_id="warehouse",
    description="dbt build, quality gate, publish of the snapshot dashboards read",
    schedule=AssetAny(*RAW_ASSETS.values()),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=3),
    default_args={"pool": WAREHOUSE_WRITER_POOL, "on_failure_callback": on_task_failure},
    tags=["warehouse", "dbt", "quality"],
) as warehouse:

    @task(task_id="dbt_build", retries=1, retry_delay=dt.timedelta(minutes=2))
    def dbt_build(**context):
        from pipeline import dates, tasks

        tasks.build(dates.build_date(context))

    @task(task_id="quality_gate")
    def quality_gate(**context):
        from pipeline import dates, tasks

        return tasks.quality_gate(dates.build_date(context))

    @task(task_id="publish", outlets=[THEMES_ASSET])
    def publish(**context):
        from pipeline import dates, tasks

        return tasks.publish(dates.build_date(context))

    @task(task_id="kpi_close")
    def kpi_close(**context):
        from pipeline import dates, tasks

        return tasks.close_months(dates.load_day(context))

    @task(task_id="kpi_alerts")
    def kpi_alerts(**context):
        from pipeline import dates, tasks

        return tasks.kpi_alerts(dates.load_day(context))

    dbt_build() >> quality_gate() >> publish() >> kpi_close() >> kpi_alerts()
