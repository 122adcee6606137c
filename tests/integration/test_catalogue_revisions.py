"""The simulator's catalogue revisions (simulator/v2_cases.py): items whose SFQCWB, CNSX and
PDCS change mid-month in the days after the generated range. A city loaded, advanced past two
of them and loaded again has each revised item in two versions, and the month-end states of
K15–K18 (int_service_items__month_end, kpi_monthly) are the old listing before the revision's
month and the new one from it, as the independent reading of test_kpi_marts says."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

import pytest

from simulator.run import advance_city, generate_city
from tests.conftest import small_config
from tests.helpers.sources import sources_for
from tests.integration import scan
from tests.integration.dbt_city import dbt, hotline_up
from tests.integration.test_kpi_marts import ITEM_KPIS, as_of_date, expected_v2, mart, rows

pytestmark = pytest.mark.integration


def _load(sources, warehouse, city) -> None:
    from ingestion.runner import run

    with hotline_up(city):
        results = run(sources, warehouse, None, scan.clock(city).date())
    assert all(r.status == "ok" for r in results), [r.message for r in results]


@pytest.fixture(scope="module")
def revised(tmp_path_factory):
    """A small city of two months (clock 2025-03-01), loaded, advanced 50 days past the
    revisions of 15 March and 15 April, loaded again, and built up to kpi_monthly."""
    tmp = tmp_path_factory.mktemp("revisions")
    city = tmp / "city"
    generate_city(small_config(people=400, seed=23, months=2), city)
    warehouse = tmp / "warehouse.duckdb"
    sources = sources_for(tmp, city)
    _load(sources, warehouse, city)
    advance_city(city, 50)
    _load(sources, warehouse, city)
    as_of = as_of_date(city)
    for step in ("seed", "run"):
        done = dbt(
            warehouse, step, "--select", "+kpi_monthly", "--vars", f"{{as_of_date: '{as_of}'}}"
        )
        assert done.returncode == 0, done.stdout[-4000:]
    return city, warehouse, as_of


def revisions(city) -> dict[str, tuple[datetime, dict[str, str]]]:
    conn = sqlite3.connect(city / "manifest" / "manifest.sqlite")
    try:
        found = conn.execute(
            "SELECT key, detail, expected FROM planted WHERE kind = 'catalogue_revision'"
        ).fetchall()
    finally:
        conn.close()
    return {
        key: (
            datetime.fromisoformat(detail.removeprefix("from ")),
            dict(part.split("=") for part in expected.split(",")),
        )
        for key, detail, expected in found
    }


def test_the_advance_brought_the_revisions_as_recorded(revised):
    city, warehouse, as_of = revised
    truth = revisions(city)
    assert set(truth) == {"SJXK0003", "GAQR0001", "BDCQR0001", "MZJF0002"}
    due = {k: v for k, v in truth.items() if v[0].date() <= as_of}
    assert set(due) == {"SJXK0003", "GAQR0001", "BDCQR0001"}  # 15 May is after the clock
    versions = rows(warehouse, "SELECT * FROM raw.sxml ORDER BY SXBM, GXSJ")
    for code, (moment, changed) in truth.items():
        mine = [v for v in versions if v["SXBM"] == code]
        if code not in due:
            assert len(mine) == 1
            continue
        assert len(mine) == 2, code
        old, new = mine
        assert new["GXSJ"] == moment and old["GXSJ"] < moment
        for column, value in changed.items():
            assert str(new[column]) == value, (code, column)
            assert str(old[column]) != value, (code, column)


def test_month_end_states_are_the_listing_in_force_at_each_month_end(revised):
    city, warehouse, _ = revised
    truth = revisions(city)
    states = {
        (r["month"], r["item_code"]): r
        for r in rows(warehouse, "SELECT * FROM main_intermediate.int_service_items__month_end")
    }
    food = "SJXK0003"  # revised on 15 March: 全程网办, 零跑动, CNSX 5 → 3
    assert truth[food][0].date() == date(2025, 3, 15)
    february, march = states[(date(2025, 2, 1), food)], states[(date(2025, 3, 1), food)]
    assert (february["is_fully_online"], february["max_visits"]) == (False, 1)
    assert february["committed_limit_workdays"] == 5
    assert (march["is_fully_online"], march["max_visits"]) == (True, 0)
    assert march["committed_limit_workdays"] == 3
    land = "BDCQR0001"  # revised on 15 April: CNSX 5 → 1
    assert states[(date(2025, 3, 1), land)]["committed_limit_workdays"] == 5
    assert states[(date(2025, 4, 1), land)]["committed_limit_workdays"] == 1


def test_item_kpis_follow_the_revisions_as_the_independent_reading_does(revised):
    _, warehouse, as_of = revised
    expected = {k: v for k, v in expected_v2(warehouse, as_of).items() if k[0] in ITEM_KPIS}
    got = mart(warehouse, f"kpi_id IN {ITEM_KPIS}")
    assert got == expected

    def cell(kpi, m, dept):
        return got[(kpi, m, "ALL", dept, "ALL", None)]

    feb, mar = date(2025, 2, 1), date(2025, 3, 1)
    # SJ's food licence became fully online and zero-visit in March, the rest unchanged
    assert cell("K15", mar, "SJ")[0] == cell("K15", feb, "SJ")[0] + 1
    assert cell("K18", mar, "SJ")[0] == cell("K18", feb, "SJ")[0] + 1
    assert cell("K15", mar, "SJ")[1] == cell("K15", feb, "SJ")[1]
    # K17: FDSX − CNSX grows by 2 for the licence (5 → 3) and by 5 for GA's ID card (15 → 10)
    assert cell("K17", mar, "SJ")[0] == cell("K17", feb, "SJ")[0] + 2
    assert cell("K17", mar, "GA")[0] == cell("K17", feb, "GA")[0] + 5
