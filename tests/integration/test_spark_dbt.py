"""The dbt project on Apache Spark (transform/spark.py, target spark: dbt-spark's session
method on a local Spark session) against the same project on DuckDB, on the small simulator
city of the other dbt tests. The Spark side is built as the platform builds it: the warehouse
DAG through Airflow (`dag.test`) with DBT_TARGET=spark, its dbt_build task exporting the raw
layer as Parquet, running `dbt build` on Spark (seeds and models: the data and unit tests run
on DuckDB here) and copying the built tables back, then the quality gate, publish, close and
KPI alerts on them as on a DuckDB build. Checked: the Parquet raw layer holds the raw tables'
rows, columns and loads; the Spark build passes; every mart Spark wrote holds the same rows as
DuckDB's: kpi_monthly's numerators and denominators per KPI, month and grain, the row counts,
the key sets of the person and enterprise files, and the whole content of every mart table;
and the snapshot the DAG published (what the dashboards read) holds the Spark build's KPIs.

Marked `spark` so that it also runs alone: `make test-spark` (Java 17 installed by `make`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import NamedTuple

import duckdb
import pendulum
import pytest

from tests.helpers.marts import (
    KPI_COLUMNS,
    difference,
    differing_marts,
    mart_names,
    row_bag,
)
from tests.helpers.warehouse import query
from tests.integration import scan
from transform.dbt import build
from transform.spark import REPORT_NAME, source_tables, spark_tables

# The Spark build of the small city takes 4-7 minutes on 2 free cores (session start, a
# planned job per model), over 10 on a busy machine: past pytest's default 600 s.
pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.timeout(2400)]
WAREHOUSE_TASKS = ("dbt_build", "quality_gate", "publish", "kpi_close", "kpi_alerts")


class Engines(NamedTuple):
    duckdb: Path  # the warehouse built by dbt on DuckDB
    work: Path  # the Spark build's folder: metastore, the tables it wrote, its report
    report: dict  # the Spark build's report (transform.spark.build_into_warehouse)
    lake: Path  # the raw layer exported as Parquet
    on_spark: Path  # the warehouse the DAG built on Spark (the built tables copied in)
    published: Path  # the snapshot the DAG published from it
    states: dict[str, str]  # the DAG's task states


def warehouse_in(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    return Path(shutil.copyfile(source, folder / "warehouse.duckdb"))


def run_warehouse_dag_on_spark(warehouse: Path, as_of: dt.date, outputs: Path) -> dict[str, str]:
    """The warehouse DAG for the day after `as_of` (its build date is `as_of`), as Airflow runs
    it, with DBT_TARGET=spark and its own outputs: the task states."""
    from pipeline.airflow_setup import migrate_and_create_pool
    from pipeline.chain import dag_bag

    migrate_and_create_pool()
    dag = dag_bag().dags["warehouse"]
    day = as_of + dt.timedelta(days=1)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DBT_TARGET", "spark")
        # dbt's own setting: the data and unit tests ran on DuckDB over the same raw data in
        # this module; on Spark they would double the build (1,500 s against about 900 s on
        # this loaded machine). `make build ENGINE=spark` and the benchmark run them on Spark.
        env.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "test unit_test")
        env.setenv("WAREHOUSE", str(warehouse))
        for name, relative in {
            "PUBLISHED_WAREHOUSE": "published/warehouse.duckdb",
            "PUBLISHED_DOCS": "published/docs",
            "OPERATIONS_STORE": "operations/operations.duckdb",
            "PUBLISHED_OPERATIONS": "published/operations.duckdb",
            "QUALITY_DIR": "quality",
        }.items():
            env.setenv(name, str(outputs / relative))
        env.delenv("ALERT_WEBHOOK_URL", raising=False)
        env.delenv("ALERT_SMTP_HOST", raising=False)
        run = dag.test(
            logical_date=pendulum.datetime(day.year, day.month, day.day, tz="Asia/Shanghai")
        )
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture(scope="module")
def engines(ingested, tmp_path_factory) -> Engines:
    """DuckDB's build (transform.dbt.build, target ci) and the warehouse DAG's build on Spark,
    both as of the same day from copies of the same raw data."""
    city, source = ingested
    tmp = tmp_path_factory.mktemp("spark_dbt")
    as_of = scan.clock(city).date() - dt.timedelta(days=1)
    on_duckdb = warehouse_in(source, tmp / "duckdb")
    build(on_duckdb, as_of, target="ci", capture=True)
    on_spark = warehouse_in(source, tmp / "spark_dag")
    states = run_warehouse_dag_on_spark(on_spark, as_of, tmp / "outputs")
    work = on_spark.parent / "spark"
    report = json.loads((work / REPORT_NAME).read_text(encoding="utf-8"))
    published = tmp / "outputs" / "published" / "warehouse.duckdb"
    return Engines(on_duckdb, work, report, on_spark.parent / "lake", on_spark, published, states)


def spark_mart(work, table: str) -> str:
    """A FROM item reading the mart Spark wrote (its Parquet folder)."""
    folder = spark_tables(work, "main_marts")[table]
    return f"read_parquet('{folder}/*.parquet')"


def spark_rows(sql: str) -> list[tuple]:
    """Rows of `sql` on the Parquet files Spark wrote, read with DuckDB."""
    with duckdb.connect() as conn:
        return conn.execute(sql).fetchall()


def test_the_raw_layer_exported_as_parquet_holds_every_row_column_and_load(engines):
    warehouse, report, lake = engines.duckdb, engines.report, engines.lake
    assert report["export"]["tables"] == len(source_tables()) >= 18
    for schema, table in source_tables():
        raw_columns = [
            c
            for (c,) in query(
                warehouse,
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = '{schema}' AND table_name = '{table}'",
            )
        ]
        load_column = "_load_id" if "_load_id" in raw_columns else "load_id"
        raw = query(warehouse, f"SELECT {load_column}, count(*) FROM {schema}.{table} GROUP BY 1")
        assert report["export"]["rows_by_table"][f"{schema}.{table}"] == sum(n for _, n in raw)
        if not raw:
            continue
        parquet = f"read_parquet('{lake}/{schema}/{table}/*/*.parquet', hive_partitioning = true)"
        exported = spark_rows(f"SELECT {load_column}, count(*) FROM {parquet} GROUP BY 1")
        assert sorted(exported) == sorted(raw), table  # one partition per load, every row
        names = [r[0] for r in spark_rows(f"DESCRIBE SELECT * FROM {parquet}")]
        assert sorted(names) == sorted(raw_columns), table


def test_the_build_passes_on_spark_with_the_overrides_listed(engines):
    report = engines.report
    assert report["dbt_exit_code"] == 0
    by_type = report["dbt"]["node_seconds_by_type"]
    assert {"model", "seed"} <= set(by_type) and "test" not in by_type
    assert all(entry["not_ok"] == 0 for entry in by_type.values()), by_type
    assert by_type["model"]["nodes"] >= 40
    assert {"normalise_identity", "is_valid_identity", "keyed_hash", "listagg", "dateadd"} <= set(
        report["overrides"]
    )


def test_every_mart_has_as_many_rows(engines):
    warehouse, work = engines.duckdb, engines.work
    names = mart_names(warehouse)
    assert sorted(spark_tables(work, "main_marts")) == names and len(names) >= 14
    counts = {}
    for table in names:
        duck = query(warehouse, f"SELECT count(*) FROM main_marts.{table}")[0][0]
        spark = spark_rows(f"SELECT count(*) FROM {spark_mart(work, table)}")[0][0]
        counts[table] = (duck, spark)
    assert all(duck == spark for duck, spark in counts.values()), counts
    assert counts["kpi_monthly"][0] > 1000 and counts["person_file"][0] > 500


def test_kpi_numerators_and_denominators_agree(engines):
    warehouse, work = engines.duckdb, engines.work
    duck = row_bag(query(warehouse, f"SELECT {KPI_COLUMNS} FROM main_marts.kpi_monthly"))
    spark = row_bag(spark_rows(f"SELECT {KPI_COLUMNS} FROM {spark_mart(work, 'kpi_monthly')}"))
    assert sum(duck.values()) > 1000
    assert len({r[0] for r in duck}) == 22  # K1-K22
    assert duck == spark, difference(duck, spark)


def test_the_person_and_enterprise_files_hold_the_same_keys(engines):
    warehouse, work = engines.duckdb, engines.work
    for table, key, flag in [
        ("person_file", "person_key", "is_resident"),
        ("enterprise_file", "enterprise_key", "is_registered"),
    ]:
        duck = set(query(warehouse, f"SELECT {key}, {flag} FROM main_marts.{table}"))
        spark = set(spark_rows(f"SELECT {key}, {flag} FROM {spark_mart(work, table)}"))
        assert duck == spark, (table, sorted(duck - spark)[:5], sorted(spark - duck)[:5])
        assert len(duck) > 50 and {True, False} <= {f for _, f in duck}, table


def test_every_mart_holds_the_same_rows(engines):
    work = engines.work
    differing = differing_marts(
        engines.duckdb,
        lambda table, columns: spark_rows(f"SELECT {columns} FROM {spark_mart(work, table)}"),
    )
    assert not differing, differing


def test_the_warehouse_dag_builds_on_spark_by_configuration(engines):
    # every task of the DAG ran: dbt_build on Spark, the rest on the tables it copied back
    assert engines.states == dict.fromkeys(WAREHOUSE_TASKS, "success"), engines.states
    assert engines.report["engine"] == "spark" and engines.report["dbt_exit_code"] == 0
    assert engines.report["session"]["spark.master"].startswith("local[")
    built = set(spark_tables(engines.work, "main_marts"))
    imported = query(
        engines.on_spark,
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main_marts'",
    )
    assert {t for (t,) in imported} == built == set(mart_names(engines.duckdb))
    assert engines.report["import"]["tables"] >= len(built)


def test_the_snapshot_the_dag_published_holds_the_spark_build(engines):
    select = f"SELECT {KPI_COLUMNS} FROM main_marts.kpi_monthly"
    duck = row_bag(query(engines.duckdb, select))
    published = row_bag(query(engines.published, select))
    on_spark = select.replace("main_marts.kpi_monthly", spark_mart(engines.work, "kpi_monthly"))
    spark = row_bag(spark_rows(on_spark))
    assert sum(duck.values()) > 1000 and published == spark == duck
    as_of = query(engines.published, "SELECT as_of_date FROM main_reference.snapshot_info")
    assert as_of == [(dt.date.fromisoformat(engines.report["as_of"]),)]
