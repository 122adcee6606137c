"""dbt on a small city with the run's logical date set (var as_of_date): the supervision marts
agree with a plain-Python reading of kpis.md computed from the staging views' rows and the
workdays calendar, independently of the SQL. overdue_cases (电子监察) holds exactly the open
cases past or at their committed limit, with the right days overdue; one_thing_bundles_monthly
splits K13's denominators and numerators by bundle instead of region."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path
from statistics import median

import pytest

from tests.integration import scan
from tests.integration.dbt_city import dbt, warehouse_copy
from tests.integration.test_kpi_marts import STG, month, rows, wd

pytestmark = pytest.mark.integration
MARTS = "main_marts"
OPEN = ("1", "2")
PII_WORDS = ("name", "applicant", "id_number", "id_card", "phone", "mobile", "address")
# names of an agency and of a service item, shown on the dashboards: not personal data
PUBLIC_NAMES = ("department_name", "item_name")


def as_of_vars(d: date) -> str:
    return "{as_of_date: '" + d.isoformat() + "'}"


def open_cases(warehouse: Path) -> list[dict]:
    """Open, accepted cases with a known item's CNSX."""
    items = {
        r["item_code"]: r
        for r in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__service_items")
    }
    out = []
    for c in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__cases"):
        item = items.get(c["item_code"])
        if c["status"] not in OPEN or c["accepted_at"] is None or item is None:
            continue
        if item["committed_limit_workdays"] is None:
            continue
        out.append({**c, "cnsx": item["committed_limit_workdays"]})
    return out


def expected_supervision(cases: list[dict], as_of: date) -> dict[str, tuple[str, int, int]]:
    """case_id -> (supervision_status, working_days_elapsed, days_overdue)."""
    d = datetime.combine(as_of, time())
    out = {}
    for c in cases:
        elapsed = wd(c["accepted_at"], d)
        if elapsed >= c["cnsx"]:
            status = "overdue" if elapsed > c["cnsx"] else "due_soon"
            out[c["case_id"]] = (status, elapsed, elapsed - c["cnsx"])
    return out


def supervision(warehouse: Path) -> tuple[dict[str, tuple[str, int, int]], list[dict]]:
    got = rows(warehouse, f"SELECT * FROM {MARTS}.overdue_cases")
    return {
        r["case_id"]: (r["supervision_status"], r["working_days_elapsed"], r["days_overdue"])
        for r in got
    }, got


def as_date(v: date | datetime) -> date:
    return v.date() if isinstance(v, datetime) else v


def due_date(accepted_at: datetime, cnsx: int) -> date:
    """The first day D with wd(accepted_at, D) = cnsx."""
    d = accepted_at.date()
    while wd(accepted_at, datetime.combine(d, time())) < cnsx:
        d += timedelta(days=1)
    return d


@pytest.fixture(scope="module")
def built(ingested, tmp_path_factory):
    city, source = ingested
    warehouse = warehouse_copy(source, tmp_path_factory.mktemp("supervision"))
    clock = scan.clock(city).date()
    done = dbt(warehouse, "build", "--vars", as_of_vars(clock))
    at_clock = supervision(warehouse) if done.returncode == 0 else ({}, [])
    # A later logical date: the latest committed due date among the open cases, so that one
    # case is due that day and the earlier ones are overdue.
    cases = open_cases(warehouse)
    later = max((due_date(c["accepted_at"], c["cnsx"]) for c in cases), default=clock)
    later = max(later, clock)
    rerun = dbt(warehouse, "build", "--select", "overdue_cases", "--vars", as_of_vars(later))
    return {
        "warehouse": warehouse,
        "done": done,
        "clock": clock,
        "at_clock": at_clock,
        "later": later,
        "rerun": rerun,
        "cases": cases,
    }


def test_dbt_build_with_the_logical_date_passes(built):
    for done in (built["done"], built["rerun"]):
        assert done.returncode == 0, done.stdout[-4000:]
        assert "ERROR=0" in done.stdout.replace(" ", "")


def test_overdue_cases_at_the_city_clock_equal_an_independent_reading(built):
    got, raw = built["at_clock"]
    assert built["cases"], "the test city should have open accepted cases"
    assert got == expected_supervision(built["cases"], built["clock"])
    assert all(r["as_of_date"] == built["clock"] for r in raw)


def test_overdue_and_due_soon_sets_at_a_later_date_equal_an_independent_reading(built):
    got, raw = supervision(built["warehouse"])
    expected = expected_supervision(built["cases"], built["later"])
    statuses = {s for s, _, _ in expected.values()}
    assert statuses == {"overdue", "due_soon"}, "the later date should give both statuses"
    assert got == expected
    assert all(r["as_of_date"] == built["later"] for r in raw)
    assert all(r["days_overdue"] >= 0 for r in raw)
    by_id = {c["case_id"]: c for c in built["cases"]}
    for r in raw:
        c = by_id[r["case_id"]]
        assert (r["item_code"], r["accepted_at"], r["committed_days"]) == (
            c["item_code"],
            c["accepted_at"],
            c["cnsx"],
        )
        assert r["region_code"] == (c["region_code"] or "unknown")


def test_overdue_cases_carries_no_personal_data(built):
    columns = [
        r["column_name"]
        for r in rows(
            built["warehouse"],
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = '{MARTS}' AND table_name = 'overdue_cases'",
        )
    ]
    assert columns == [
        "case_id",
        "department",
        "department_name",
        "region_code",
        "item_code",
        "item_name",
        "accepted_at",
        "committed_days",
        "working_days_elapsed",
        "days_overdue",
        "supervision_status",
        "as_of_date",
    ]
    personal = [c for c in columns if c not in PUBLIC_NAMES and any(w in c for w in PII_WORDS)]
    assert personal == []


def department_names(warehouse: Path) -> dict[str, str]:
    """BLBM -> the BLBMMC most of its current items give (then the first in order)."""
    spellings: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__service_items"):
        if item["department_code"] and item["department_name"]:
            spellings[item["department_code"]][item["department_name"]] += 1
    return {
        code: min(names, key=lambda name: (-names[name], name)) for code, names in spellings.items()
    }


def test_overdue_cases_name_each_department_and_item_as_the_catalogue_does(built):
    warehouse = built["warehouse"]
    items = {
        r["item_code"]: r["item_name"]
        for r in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__service_items")
    }
    departments = department_names(warehouse)
    got = rows(warehouse, f"SELECT * FROM {MARTS}.overdue_cases")
    assert got
    for r in got:
        assert r["item_name"] == items[r["item_code"]], r["case_id"]
        assert r["department_name"] == departments.get(r["department"], r["department"])
    assert {r["department"]: r["department_name"] for r in got}.get("GA") in (None, "赣州市公安局")
    named = {
        r["department_code"]: r["department_name"]
        for r in rows(warehouse, f"SELECT * FROM {MARTS}.departments")
    }
    assert named == departments


def test_bundle_instances_and_online_instances_sum_to_k13(built):
    warehouse = built["warehouse"]
    k13 = rows(
        warehouse,
        f"""
        SELECT month, sum(denominator) AS instances, sum(numerator) AS online_instances
        FROM {MARTS}.kpi_monthly WHERE kpi_id = 'K13' AND region_code <> 'ALL'
        GROUP BY month
        """,
    )
    bundles = rows(
        warehouse,
        f"""
        SELECT month, sum(instances) AS instances, sum(online_instances) AS online_instances
        FROM {MARTS}.one_thing_bundles_monthly GROUP BY month
        """,
    )
    assert k13, "the test city should have one-thing instances"
    key = {r["month"]: (r["instances"], r["online_instances"]) for r in k13}
    assert {r["month"]: (r["instances"], r["online_instances"]) for r in bundles} == key


def test_bundles_equal_an_independent_reading(built):
    warehouse = built["warehouse"]
    items = {
        r["item_code"]: r
        for r in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__service_items")
    }
    instances: dict[str, list[dict]] = defaultdict(list)
    for c in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__cases"):
        if c["one_thing_instance_id"] is not None:
            instances[c["one_thing_instance_id"]].append(c)
    groups: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, []])
    for members in instances.values():
        members.sort(key=lambda c: (c["applied_at"], c["case_id"]))
        codes = [
            items[c["item_code"]]["one_thing_code"]
            for c in members
            if c["item_code"] in items and items[c["item_code"]]["one_thing_code"] is not None
        ]
        first = members[0]["applied_at"]
        cell = groups[(codes[0] if codes else "unknown", month(first))]
        cell[0] += 1
        cell[1] += len(members)
        cell[2] += all(c["channel"] in ("1", "2") for c in members)
        if all(c["status"] == "3" and c["completed_at"] is not None for c in members):
            cell[3].append(wd(first, max(c["completed_at"] for c in members)))
    expected = {
        k: (n, cases, online, len(e2e), median(e2e) if e2e else None)
        for k, (n, cases, online, e2e) in groups.items()
    }
    got = {
        (r["one_thing_code"], as_date(r["month"])): (
            r["instances"],
            r["cases"],
            r["online_instances"],
            r["completed_instances"],
            r["median_end_to_end_working_days"],
        )
        for r in rows(warehouse, f"SELECT * FROM {MARTS}.one_thing_bundles_monthly")
    }
    assert got == expected
    assert any(v[4] is not None for v in got.values())
