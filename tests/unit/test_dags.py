"""Every DAG imports; task ids, schedules, assets, the writer pool and retries are as designed."""

from __future__ import annotations

import datetime as dt

import pytest

from groundfloor.settings import PROJECT
from ingestion.config import load_sources
from pipeline.assets import (
    RAW_ASSETS,
    SHARING_SNAPSHOT_ASSET,
    SYSTEMS,
    THEMES_ASSET,
    WAREHOUSE_WRITER_POOL,
)

CRON = {"@hourly": "0 * * * *", "@daily": "0 0 * * *"}


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT / "dags"))


def test_every_dag_imports_without_errors(bag):
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {f"ingest_{s}" for s in SYSTEMS} | {
        "warehouse",
        "policy_matching",
        "data_sharing",
    }


def test_ingestion_dags_follow_the_sources_schedules(bag):
    configs = load_sources(PROJECT / "ingestion" / "sources.yaml")
    for system, config in configs.items():
        dag = bag.dags[f"ingest_{system}"]
        assert dag.timetable.expression == CRON.get(config.schedule, config.schedule), system
        assert str(dag.timezone.name) == "Asia/Shanghai"
        assert not dag.catchup and dag.max_active_runs == 1


def test_ingestion_tasks_write_through_the_writer_pool_with_backoff_and_alerts(bag):
    for system in SYSTEMS:
        (task,) = bag.dags[f"ingest_{system}"].tasks
        assert task.task_id == "load"
        assert task.pool == WAREHOUSE_WRITER_POOL
        assert task.retries >= 3 and task.retry_exponential_backoff
        assert task.max_retry_delay <= dt.timedelta(minutes=30)
        assert task.outlets == [RAW_ASSETS[system]]
        assert task.on_failure_callback


def test_warehouse_dag_runs_on_any_source_asset_build_gate_publish_close_alerts(bag):
    dag = bag.dags["warehouse"]
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"
    assert set(condition.objects) == set(RAW_ASSETS.values())
    assert [t.task_id for t in dag.topological_sort()] == [
        "dbt_build",
        "quality_gate",
        "publish",
        "kpi_close",
        "kpi_alerts",
    ]
    assert all(t.pool == WAREHOUSE_WRITER_POOL for t in dag.tasks)
    assert all(t.on_failure_callback for t in dag.tasks)
    assert dag.get_task("publish").outlets == [THEMES_ASSET]


def test_matching_dag_runs_on_the_themes_asset_and_waits_for_an_officer(bag):
    from airflow.providers.standard.operators.hitl import HITLOperator

    dag = bag.dags["policy_matching"]
    assert list(dag.timetable.asset_condition.objects) == [THEMES_ASSET]
    downstream = {t.task_id: t.downstream_task_ids for t in dag.tasks}
    assert downstream == {
        "evaluate_policies": {"ask_officer", "send_reminders", "tags_and_payout"},
        "ask_officer": {"approve_run", "nothing_to_approve"},
        "nothing_to_approve": set(),
        "approve_run": {"record_decision"},
        "record_decision": {"write_push_lists"},
        "write_push_lists": set(),
        "send_reminders": set(),
        "tags_and_payout": set(),
    }
    assert dag.get_task("evaluate_policies").pool == WAREHOUSE_WRITER_POOL
    assert dag.get_task("send_reminders").pool == WAREHOUSE_WRITER_POOL
    assert dag.get_task("tags_and_payout").pool == WAREHOUSE_WRITER_POOL
    approve = dag.get_task("approve_run")
    assert isinstance(approve, HITLOperator) and approve.options == ["Approve", "Reject"]
    assert set(approve.params) == {"reason", "policies"}
    # both may be left empty in Airflow's form (a non-null field is required there)
    for name in ("reason", "policies"):
        param = approve.params.get_param(name)
        assert "null" in param.schema["type"] and param.resolve(None) is None, name


def test_sharing_dag_runs_on_the_themes_asset_snapshot_then_backflow(bag):
    dag = bag.dags["data_sharing"]
    assert list(dag.timetable.asset_condition.objects) == [THEMES_ASSET]
    assert [t.task_id for t in dag.topological_sort()] == ["sharing_snapshot", "backflow"]
    assert dag.get_task("sharing_snapshot").pool == WAREHOUSE_WRITER_POOL
    assert dag.get_task("sharing_snapshot").outlets == [SHARING_SNAPSHOT_ASSET]
    assert all(t.on_failure_callback for t in dag.tasks)


def test_dag_files_import_nothing_heavy_at_module_level():
    """Parsing happens every few seconds in the DAG processor: the files and the modules they
    import at the top must not pull in duckdb, polars, dbt or great_expectations."""
    import subprocess
    import sys

    probe = (
        "import sys, runpy\n"
        "for f in ('ingestion', 'warehouse', 'policy_matching', 'data_sharing'):\n"
        "    runpy.run_path(f'dags/{f}.py')\n"
        "heavy = [m for m in ('duckdb', 'polars', 'dbt', 'great_expectations', 'pandas')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1:] in ([], [""])
