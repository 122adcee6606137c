"""The dbt project on PostgreSQL (bench/postgres_dbt.py, target pg) against the same project on
DuckDB, on the small simulator city: the build passes there too (models, data and unit
tests), and every mart holds the same rows: kpi_monthly's numerators and denominators per
KPI, month and grain, the row counts, the key sets of the person and enterprise files, and
the whole content of every mart table."""

from __future__ import annotations

import datetime as dt
import secrets

import psycopg
import pytest

from bench.postgres_dbt import build_on_postgres, drop_database, source_tables
from tests.helpers.marts import KPI_COLUMNS, difference, differing_marts, mart_names, row_bag
from tests.helpers.warehouse import query
from tests.integration import scan
from tests.integration.dbt_city import warehouse_copy
from transform.dbt import build

pytestmark = pytest.mark.integration
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture(scope="module")
def engines(ingested, tmp_path_factory):
    """(DuckDB warehouse, PostgreSQL database, the peer's report), both built as of the same
    day; the database is dropped afterwards."""
    city, source = ingested
    tmp = tmp_path_factory.mktemp("postgres_dbt")
    warehouse = warehouse_copy(source, tmp)
    as_of = scan.clock(city).date() - dt.timedelta(days=1)
    build(warehouse, as_of, target="ci", capture=True)
    database = f"pgpeer_test_{secrets.token_hex(5)}"
    try:
        report = build_on_postgres(warehouse, database, as_of, work=tmp / "pg")
        yield warehouse, database, report
    finally:
        drop_database(database)


def pg_rows(database: str, sql: str) -> list[tuple]:
    with psycopg.connect(dbname=database, **PG) as conn:
        return conn.execute(sql).fetchall()


def test_the_build_passes_on_postgresql_with_the_overrides_listed(engines):
    warehouse, _, report = engines
    assert report["dbt_exit_code"] == 0
    by_type = report["dbt"]["node_seconds_by_type"]
    assert {"model", "seed", "test", "unit_test"} <= set(by_type)
    assert all(entry["not_ok"] == 0 for entry in by_type.values()), by_type
    assert report["build_seconds"] > 0 and report["dbt_peak_rss_mib"] > 50
    assert {"normalise_identity", "is_valid_identity", "keyed_hash", "group_by_all"} <= set(
        report["overrides"]
    )
    # every source table copied whole
    for schema, table in source_tables():
        (count,) = query(warehouse, f"SELECT count(*) FROM {schema}.{table}")[0]
        assert report["load"]["rows_by_table"][f"{schema}.{table}"] == count, table


def test_every_mart_has_as_many_rows(engines):
    warehouse, database, _ = engines
    names = mart_names(warehouse)
    pg_marts = pg_rows(
        database,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main_marts' "
        "ORDER BY 1",
    )
    assert [t for (t,) in pg_marts] == names and len(names) >= 14
    counts = {}
    for table in names:
        duck = query(warehouse, f"SELECT count(*) FROM main_marts.{table}")[0][0]
        pg = pg_rows(database, f"SELECT count(*) FROM main_marts.{table}")[0][0]
        counts[table] = (duck, pg)
    assert all(duck == pg for duck, pg in counts.values()), counts
    assert counts["kpi_monthly"][0] > 1000 and counts["person_file"][0] > 500


def test_kpi_numerators_and_denominators_agree(engines):
    warehouse, database, _ = engines
    sql = f"SELECT {KPI_COLUMNS} FROM main_marts.kpi_monthly"
    duck, pg = row_bag(query(warehouse, sql)), row_bag(pg_rows(database, sql))
    assert sum(duck.values()) > 1000
    assert len({r[0] for r in duck}) == 22  # K1-K22
    assert duck == pg, difference(duck, pg)


def test_the_person_and_enterprise_files_hold_the_same_keys(engines):
    warehouse, database, _ = engines
    for table, key, flag in [
        ("person_file", "person_key", "is_resident"),
        ("enterprise_file", "enterprise_key", "is_registered"),
    ]:
        sql = f"SELECT {key}, {flag} FROM main_marts.{table}"
        duck, pg = set(query(warehouse, sql)), set(pg_rows(database, sql))
        assert duck == pg, (table, sorted(duck - pg)[:5], sorted(pg - duck)[:5])
        assert len(duck) > 50 and {True, False} <= {f for _, f in duck}, table


def test_every_mart_holds_the_same_rows(engines):
    warehouse, database, _ = engines
    differing = differing_marts(
        warehouse,
        lambda table, columns: pg_rows(database, f"SELECT {columns} FROM main_marts.{table}"),
    )
    assert not differing, differing
