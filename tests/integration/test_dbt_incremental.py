"""Incremental staging models: after the city moves on and is loaded again, an incremental
build holds exactly the rows that a full build of the same models gives on the same raw layer,
soft deletes and quarantined versions included (macros/incremental_keys.sql)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from simulator.run import advance_city, generate_city
from tests.conftest import small_config
from tests.helpers.sources import load, sources_for
from tests.helpers.warehouse import query
from tests.integration.dbt_city import PROJECT, dbt

pytestmark = pytest.mark.integration
MODELS = {  # model: (raw table, key)
    "stg_case_platform__cases": ("bj_jbxx", "SBLSH"),
    "stg_case_platform__case_steps": ("bj_gcxx", "GCBH"),
}
# More soft deletes (D3) and quarantined versions (D7) than usual, so that the advance brings
# keys that leave the model as well as keys that change.
RATES = {"D3": 0.05, "D7": 0.03}


def compiled(model: str, folder: str) -> str:
    """The model's SQL as dbt last compiled it (unit tests compile beside it, under their yml)."""
    path = PROJECT / "target" / folder / "govdata" / "models" / "staging" / "case_platform"
    return (path / f"{model}.sql").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def built_twice(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    city = tmp / "city"
    generate_city(small_config(people=1500, seed=12, months=8, rates=RATES), city)
    warehouse = tmp / "warehouse.duckdb"
    sources = sources_for(tmp, city)
    _load_case_platform(sources, warehouse)
    _plant_retired_marts(warehouse)
    first = dbt(warehouse, "build", "--select", *(f"+{m}" for m in MODELS))  # seeds, tests too
    assert first.returncode == 0, first.stdout[-3000:]
    marts = "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main_marts'"
    left = query(warehouse, marts)
    before = {m: query(warehouse, f"SELECT count(*) FROM main_staging.{m}")[0][0] for m in MODELS}
    advance_city(city, 4)
    spoiled = _spoil_one_case(city, warehouse)
    _load_case_platform(sources, warehouse)
    second = dbt(warehouse, "run", "--select", *MODELS)
    assert second.returncode == 0, second.stdout[-3000:]
    incremental_sql = {m: compiled(m, "compiled") for m in MODELS}  # before the next compile
    full = dbt(warehouse, "compile", "--full-refresh", "--select", *MODELS)
    assert full.returncode == 0, full.stdout[-3000:]
    full_sql = {m: compiled(m, "compiled") for m in MODELS}
    return warehouse, before, incremental_sql, full_sql, spoiled, left, first.stdout


def _plant_retired_marts(warehouse: Path) -> None:
    """What a warehouse built before a mart was removed holds: its table (fct_case_steps was
    one) and a view, both of which publish would go on copying."""
    conn = duckdb.connect(str(warehouse))
    try:
        conn.execute("CREATE SCHEMA IF NOT EXISTS main_marts")
        conn.execute("CREATE TABLE main_marts.fct_case_steps AS SELECT 'S1' AS step_id")
        conn.execute("CREATE VIEW main_marts.retired_view AS SELECT 1 AS x")
    finally:
        conn.close()


def _load_case_platform(sources: Path, warehouse: Path) -> None:
    results = load(sources, warehouse, systems=["case_platform"])
    assert all(r.status == "ok" for r in results.values()), results


def _spoil_one_case(city: Path, warehouse: Path) -> str:
    """The department re-sends one case the model holds with a channel code outside its list
    (D7), stamped after the advance: the load quarantines that version, and the case's state
    is unknown until a valid later version comes, so it must leave the model."""
    key = query(warehouse, "SELECT min(case_id) FROM main_staging.stg_case_platform__cases")[0][0]
    clock = json.loads((city / "city.json").read_text())["clock"]
    with sqlite3.connect(city / "exchange" / "case_platform.sqlite") as conn:
        conn.execute("UPDATE bj_jbxx SET SQFS = '9', GXSJ = ? WHERE SBLSH = ?", [clock, key])
    return key


def test_a_build_drops_the_marts_whose_models_were_removed(built_twice):
    left, output = built_twice[5], built_twice[6]
    assert left == []  # this build selected no mart: the graph still knows them all
    assert "dropping retired table main_marts.fct_case_steps" in output
    assert "dropping retired view main_marts.retired_view" in output


@pytest.mark.parametrize("model", MODELS)
def test_the_second_build_recomputes_only_the_touched_keys(built_twice, model):
    incremental_sql, full_sql = built_twice[2], built_twice[3]
    assert "_loaded_at > cast(" in incremental_sql[model]
    assert "_loaded_at > cast(" not in full_sql[model]


@pytest.mark.parametrize("model", MODELS)
def test_an_incremental_build_equals_a_full_build(built_twice, model):
    warehouse, before, _, full_sql = built_twice[:4]
    table = f"main_staging.{model}"
    full = f"({full_sql[model]})"
    differing = query(
        warehouse,
        f"SELECT count(*) FROM ((SELECT * FROM {table} EXCEPT ALL SELECT * FROM {full}) "
        f"UNION ALL (SELECT * FROM {full} EXCEPT ALL SELECT * FROM {table}))",
    )[0][0]
    assert differing == 0
    rows = query(warehouse, f"SELECT count(*) FROM {table}")[0][0]
    assert rows == query(warehouse, f"SELECT count(*) FROM {full}")[0][0]
    assert rows > before[model] > 0  # the advance brought new keys


def test_the_advance_brought_changed_deleted_and_quarantined_keys(built_twice):
    warehouse = built_twice[0]
    versions = "SELECT SBLSH FROM raw.bj_jbxx GROUP BY SBLSH HAVING count(DISTINCT _load_id) > 1"
    assert query(warehouse, f"SELECT count(*) FROM ({versions})")[0][0] > 0
    deleted = "SELECT count(*) FROM raw.bj_jbxx WHERE SFSC = '1' AND SBLSH IN (" + versions + ")"
    assert query(warehouse, deleted)[0][0] > 0
    quarantined = "SELECT count(DISTINCT load_id) FROM meta.quarantine WHERE table_name = 'bj_jbxx'"
    assert query(warehouse, quarantined)[0][0] == 2  # in both loads


def test_a_case_whose_newest_version_was_quarantined_leaves_the_model(built_twice):
    warehouse, spoiled = built_twice[0], built_twice[4]
    cases = "main_staging.stg_case_platform__cases"
    assert query(warehouse, f"SELECT count(*) FROM {cases} WHERE case_id = '{spoiled}'") == [(0,)]
    steps = "main_staging.stg_case_platform__case_steps"  # its steps are other keys: they stay
    assert query(warehouse, f"SELECT count(*) FROM {steps} WHERE case_id = '{spoiled}'")[0][0] > 0


def _rebuild_steps(warehouse: Path, min_rows: int) -> str:
    """Rebuild the case steps (full refresh: the table is replaced); the run's debug log."""
    run = dbt(
        warehouse,
        "run",
        "--full-refresh",
        "--select",
        "stg_case_platform__case_steps",
        "--vars",
        f"{{release_blocks_min_rows: {min_rows}}}",
        "--debug",
    )
    assert run.returncode == 0, run.stdout[-3000:]
    return run.stdout


def test_a_model_of_the_threshold_s_size_checkpoints_after_it_replaced_its_table(built_twice):
    # What the checkpoint saves shows at scale only (tier L: docs/warehouse.md, "Disk"); a
    # city this small fits DuckDB's log, whose own checkpoints reuse the blocks anyway.
    warehouse = built_twice[0]
    assert "nothing_to_release" in _rebuild_steps(warehouse, 10**12)
    assert "force checkpoint" in _rebuild_steps(warehouse, 0)
