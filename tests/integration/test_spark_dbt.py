"""The dbt project on Apache Spark (transform/spark.py, target spark: dbt-spark's session
method on a local Spark session) against the same project on DuckDB, on the small simulator
city of the other dbt tests: the raw layer exported as Parquet holds the raw tables' rows,
columns and loads; the Spark build passes (seeds and models); and every mart holds the same
rows on both engines: kpi_monthly's numerators and denominators per KPI, month and grain,
the row counts, the key sets of the person and enterprise files, and the whole content of
every mart table (read from the Parquet folders Spark wrote).

Marked `spark` so that it also runs alone: `make test-spark` (Java 17 installed by `make`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import Counter

import duckdb
import pytest

from tests.integration import scan
from tests.integration.dbt_city import warehouse_copy
from transform.dbt import build
from transform.spark import build_on_spark, source_tables, spark_tables

# The Spark build of the small city takes 4-7 minutes on 2 free cores (session start, a
# planned job per model), over 10 on a busy machine: past pytest's default 600 s.
pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.timeout(2400)]
KPI_GRAIN = "kpi_id, month, region_code, department, item_code, channel"


@pytest.fixture(scope="module")
def engines(ingested, tmp_path_factory):
    """(DuckDB warehouse, Spark work folder, the Spark build's report, the lake), both built
    as of the same day from the same raw data."""
    city, source = ingested
    tmp = tmp_path_factory.mktemp("spark_dbt")
    warehouse = warehouse_copy(source, tmp)
    as_of = scan.clock(city).date() - dt.timedelta(days=1)
    build(warehouse, as_of, target="ci", capture=True)
    # the data and unit tests ran on DuckDB over the same raw data; Spark builds seeds and models
    report = build_on_spark(warehouse, tmp / "lake", tmp / "spark", as_of, tests=False)
    return warehouse, tmp / "spark", report, tmp / "lake"


def duck_rows(warehouse, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def spark_mart(work, table: str) -> str:
    """A FROM item reading the mart Spark wrote (its Parquet folder)."""
    folder = spark_tables(work, "main_marts")[table]
    return f"read_parquet('{folder}/*.parquet')"


def spark_rows(work, sql: str) -> list[tuple]:
    with duckdb.connect() as conn:
        return conn.execute(sql).fetchall()


def comparable(row: tuple) -> tuple:
    """A row as both engines' files give it: numbers to 9 decimals (sums of doubles added in
    another order)."""
    return tuple(round(float(v), 9) if isinstance(v, float | decimal.Decimal) else v for v in row)


def marts(warehouse) -> list[str]:
    sql = "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main_marts' ORDER BY 1"
    return [t for (t,) in duck_rows(warehouse, sql)]


def columns(warehouse, table: str) -> list[str]:
    sql = (
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main_marts' "
        f"AND table_name = '{table}' ORDER BY ordinal_position"
    )
    return [c for (c,) in duck_rows(warehouse, sql)]


def test_the_raw_layer_exported_as_parquet_holds_every_row_column_and_load(engines):
    warehouse, _, report, lake = engines
    assert report["export"]["tables"] == len(source_tables()) >= 18
    for schema, table in source_tables():
        raw_columns = [
            c
            for (c,) in duck_rows(
                warehouse,
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = '{schema}' AND table_name = '{table}'",
            )
        ]
        load_column = "_load_id" if "_load_id" in raw_columns else "load_id"
        raw = duck_rows(
            warehouse, f"SELECT {load_column}, count(*) FROM {schema}.{table} GROUP BY 1"
        )
        assert report["export"]["rows_by_table"][f"{schema}.{table}"] == sum(n for _, n in raw)
        if not raw:
            continue
        parquet = f"read_parquet('{lake}/{schema}/{table}/*/*.parquet', hive_partitioning = true)"
        exported = spark_rows(
            warehouse, f"SELECT {load_column}, count(*) FROM {parquet} GROUP BY 1"
        )
        assert sorted(exported) == sorted(raw), table  # one partition per load, every row
        names = [r[0] for r in spark_rows(warehouse, f"DESCRIBE SELECT * FROM {parquet}")]
        assert sorted(names) == sorted(raw_columns), table


def test_the_build_passes_on_spark_with_the_overrides_listed(engines):
    _, _, report, _ = engines
    assert report["dbt_exit_code"] == 0
    by_type = report["dbt"]["node_seconds_by_type"]
    assert {"model", "seed"} <= set(by_type)
    assert all(entry["not_ok"] == 0 for entry in by_type.values()), by_type
    assert by_type["model"]["nodes"] >= 40
    assert {"normalise_identity", "is_valid_identity", "keyed_hash", "listagg", "dateadd"} <= set(
        report["overrides"]
    )


def test_every_mart_has_as_many_rows(engines):
    warehouse, work, _, _ = engines
    names = marts(warehouse)
    assert sorted(spark_tables(work, "main_marts")) == names and len(names) >= 14
    counts = {}
    for table in names:
        duck = duck_rows(warehouse, f"SELECT count(*) FROM main_marts.{table}")[0][0]
        spark = spark_rows(work, f"SELECT count(*) FROM {spark_mart(work, table)}")[0][0]
        counts[table] = (duck, spark)
    assert all(duck == spark for duck, spark in counts.values()), counts
    assert counts["kpi_monthly"][0] > 1000 and counts["person_file"][0] > 500


def test_kpi_numerators_and_denominators_agree(engines):
    warehouse, work, _, _ = engines
    select = f"SELECT {KPI_GRAIN}, numerator, denominator, rate, target FROM"
    duck = Counter(comparable(r) for r in duck_rows(warehouse, f"{select} main_marts.kpi_monthly"))
    spark = Counter(
        comparable(r) for r in spark_rows(work, f"{select} {spark_mart(work, 'kpi_monthly')}")
    )
    assert sum(duck.values()) > 1000
    assert len({r[0] for r in duck}) == 22  # K1-K22
    assert duck == spark, (list((duck - spark).elements())[:5], list((spark - duck).elements())[:5])


def test_the_person_and_enterprise_files_hold_the_same_keys(engines):
    warehouse, work, _, _ = engines
    for table, key, flag in [
        ("person_file", "person_key", "is_resident"),
        ("enterprise_file", "enterprise_key", "is_registered"),
    ]:
        duck = set(duck_rows(warehouse, f"SELECT {key}, {flag} FROM main_marts.{table}"))
        spark = set(spark_rows(work, f"SELECT {key}, {flag} FROM {spark_mart(work, table)}"))
        assert duck == spark, (table, sorted(duck - spark)[:5], sorted(spark - duck)[:5])
        assert len(duck) > 50 and {True, False} <= {f for _, f in duck}, table


def test_every_mart_holds_the_same_rows(engines):
    warehouse, work, _, _ = engines
    differing = {}
    for table in marts(warehouse):
        listed = ", ".join(f'"{c}"' for c in columns(warehouse, table))
        duck = Counter(
            comparable(r) for r in duck_rows(warehouse, f"SELECT {listed} FROM main_marts.{table}")
        )
        spark = Counter(
            comparable(r)
            for r in spark_rows(work, f"SELECT {listed} FROM {spark_mart(work, table)}")
        )
        if duck != spark:
            differing[table] = (
                list((duck - spark).elements())[:2],
                list((spark - duck).elements())[:2],
            )
    assert not differing, differing
