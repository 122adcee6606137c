"""数据共享: after each publish, rebuild the sharing snapshot the service reads, then deliver
回流 to the district offices (one audit record per delivery)."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from pipeline.alerts import on_task_failure
from pipeline.assets import (
    SHARING_SNAPSHOT_ASSET,
    START_DATE,
    THEMES_ASSET,
    WAREHOUSE_WRITER_POOL,
)

with DAG(
    dag_id="data_sharing",
    description="Sharing snapshot for the verification/query service, then 回流 to districts",
    schedule=[THEMES_ASSET],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=1),
    default_args={"on_failure_callback": on_task_failure},
    tags=["sharing", "数据共享", "回流"],
) as data_sharing:
    # reads the working warehouse (its identity vault) under the writer lock, as publish does
    @task(task_id="sharing_snapshot", pool=WAREHOUSE_WRITER_POOL, outlets=[SHARING_SNAPSHOT_ASSET])
    def sharing_snapshot():
        from pipeline import tasks

        return tasks.sharing_snapshot()

    @task(task_id="backflow", retries=1, retry_delay=dt.timedelta(minutes=2))
    def backflow(**context):
        from pipeline import dates, tasks

        return tasks.sharing_backflow(dates.evaluation_date(context))

    sharing_snapshot() >> backflow()
