"""dbt on the demo city, all models: the KPI mart (kpi_monthly) agrees with a plain-Python
reading of the indicator handbook (contract/spec/kpis.md v2) computed from the staging views'
rows (and, for the item KPIs K15–K18, from the raw catalogue versions and the quarantine),
independently of the SQL; rates are NULL exactly when the denominator is 0; the city
roll-up rows (region 'ALL') are the sums over every region. Each v2 KPI's reading, changed
by one deliberate one-line mistake, is shown to disagree with the mart."""

from __future__ import annotations

import csv
import sqlite3
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.integration import scan
from tests.integration.dbt_city import PROJECT, dbt, warehouse_copy

pytestmark = pytest.mark.integration
STG = "main_staging"
MART = "main_marts.kpi_monthly"


@pytest.fixture(scope="module")
def built(ingested, tmp_path_factory):
    city, source = ingested
    warehouse = warehouse_copy(source, tmp_path_factory.mktemp("kpi"))
    as_of = as_of_date(city)
    return warehouse, dbt(warehouse, "build", "--vars", f"{{as_of_date: '{as_of}'}}")


def as_of_date(city: Path) -> date:
    """The run's logical date: the city's last day (as `make build` does)."""
    return scan.clock(city).date() - timedelta(days=1)


def rows(warehouse: Path, sql: str) -> list[dict]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = conn.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        conn.close()


# --- an independent reading of kpis.md -----------------------------------------------------


def workday_calendar() -> tuple[set[date], date]:
    """Working days of the seed, and the seed's last day (beyond it: Monday–Friday)."""
    days, last = set(), date.min
    with open(PROJECT / "seeds" / "workdays.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            d = date.fromisoformat(r["calendar_date"])
            last = max(last, d)
            if r["is_workday"] == "1":
                days.add(d)
    return days, last


WORKDAYS, SEED_LAST = workday_calendar()


def is_workday(d: date) -> bool:
    return d in WORKDAYS if d <= SEED_LAST else d.weekday() < 5


def wd(a: datetime, b: datetime) -> int:
    """Working days d with date(a) < d <= date(b); negative when b is before a."""
    lo, hi, sign = a.date(), b.date(), 1
    if hi < lo:
        lo, hi, sign = hi, lo, -1
    n, d = 0, lo + timedelta(days=1)
    while d <= hi:
        n += is_workday(d)
        d += timedelta(days=1)
    return sign * n


def month(ts: datetime) -> date:
    return date(ts.year, ts.month, 1)


def expected_kpis(warehouse: Path) -> dict[tuple, list[int]]:
    """(kpi, month, region, department, item, channel) -> [numerator, denominator]."""
    out: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])

    def add(key: tuple, in_denominator: bool, in_numerator: bool) -> None:
        cell = out[key]
        if in_denominator:
            cell[1] += 1
            cell[0] += bool(in_numerator)

    items = {
        r["item_code"]: r
        for r in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__service_items")
    }
    reused = {
        r["case_id"]
        for r in rows(
            warehouse,
            f"SELECT case_id FROM {STG}.stg_certificate_library__certificate_uses "
            "WHERE use_mode = '1'",
        )
    }
    cases = rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__cases")
    by_case = {}
    for c in cases:
        item = items.get(c["item_code"])
        dept = (item["department_code"] or "unknown") if item else "unknown"
        region = c["region_code"] or "unknown"
        online = c["channel"] in ("1", "2")
        by_case[c["case_id"]] = (region, dept)
        grain = (month(c["applied_at"]), region, dept, c["item_code"], c["channel"])
        add(("K1", *grain), True, online)
        decided = c["accepted_at"] is not None or c["status"] == "4"
        first_time = (
            c["accepted_at"] is not None and c["status"] != "4" and c["correction_count"] == 0
        )
        add(("K2", *grain), decided, first_time)
        if item is None:
            continue  # no KPI that needs an item attribute
        add(("K3", *grain), online and item["is_high_frequency"] is True, c["is_prefilled"] is True)
        add(("K5", *grain), item["needs_certificate"] is True, c["case_id"] in reused)
        if c["completed_at"] is not None:
            sq, sl, bj = c["applied_at"], c["accepted_at"], c["completed_at"]
            eligible = c["status"] == "3" and sl is not None and sq <= sl <= bj
            on_time = False
            if eligible and item["committed_limit_workdays"] is not None:
                cnsx = item["committed_limit_workdays"]
                on_time = bj.date() == sl.date() if cnsx == 0 else wd(sl, bj) <= cnsx
            add(("K4", month(bj), region, dept, c["item_code"], c["channel"]), eligible, on_time)

    for s in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__help_sessions"):
        if s["help_channel"] != "1" or s["requested_at"] is None:
            continue
        grain = (month(s["requested_at"]), s["region_code"] or "unknown", "help_desk", None, None)
        add(("K6", *grain), s["is_resolved"] is not None, s["is_resolved"] is True)
        rq, fr = s["requested_at"], s["first_responded_at"]
        add(
            ("K7", *grain),
            not (fr is not None and fr < rq),
            fr is not None and (fr - rq).total_seconds() <= 60,
        )

    for r in rows(warehouse, f"SELECT * FROM {STG}.stg_evaluation_hcp__ratings"):
        if r["rated_at"] is None:
            continue
        region, dept = by_case.get(r["case_id"], ("unknown", "unknown"))
        grain = (month(r["rated_at"]), region, dept, None, None)
        add(("K8", *grain), True, r["rating_level"] in ("3", "4", "5"))
        pj, zg, st = r["rated_at"], r["rectified_at"], r["rectification_status"]
        in_k9 = r["rating_level"] in ("1", "2") and st != "2" and not (zg is not None and zg < pj)
        add(("K9", *grain), in_k9, st == "1" and zg is not None and wd(pj, zg) <= 15)

    for w in rows(warehouse, f"SELECT * FROM {STG}.stg_hotline_12345__work_orders"):
        if w["called_at"] is None:
            continue
        grain = (
            month(w["called_at"]),
            w["region_code"] or "unknown",
            w["handling_unit_code"] or "hotline",
            None,
            None,
        )
        done, due = w["completed_at"], w["due_at"]
        add(
            ("K10", *grain),
            done is not None,
            w["is_answered_directly"] is True
            or (due is not None and done is not None and done <= due),
        )
        add(("K11", *grain), w["is_resolved"] is not None, w["is_resolved"] is True)
        add(("K12", *grain), w["satisfaction"] is not None, w["satisfaction"] in ("1", "2"))

    instances: dict[str, list[dict]] = defaultdict(list)
    for c in cases:
        if c["one_thing_instance_id"] is not None:
            instances[c["one_thing_instance_id"]].append(c)
    for members in instances.values():
        first = min(members, key=lambda c: (c["applied_at"], c["case_id"]))
        region, dept = by_case[first["case_id"]]
        add(
            ("K13", month(first["applied_at"]), region, dept, None, None),
            True,
            all(c["channel"] in ("1", "2") for c in members),
        )
    return dict(out)


ITEM_KPIS = ("K15", "K16", "K17", "K18")
V2_KPIS = tuple(f"K{i}" for i in range(14, 23))

# One deliberate one-line mistake per v2 KPI: the reading with it must disagree with the mart.
MISTAKES = {
    "K14": "a rating counts only in the month the case was finished",
    "K15": "an item counts as fully online when SFQCWB is '0'",
    "K16": "an item with CNSX 1 counts as 即办件",
    "K17": "the denominator sums CNSX instead of FDSX",
    "K18": "an item with at most one visit counts as 零跑动",
    "K19": "only 跨省通办 (YDBL 2) counts",
    "K20": "the denominator is every case, accepted or not",
    "K21": "online sessions (BBQD 1) are counted with the offline ones",
    "K22": "a repeat is the same phone whatever the topic",
}


def month_ends(first: date, as_of: date) -> list[tuple[date, datetime]]:
    """(month, T) from `first`'s month to as_of's: the month's last second, or the end of
    the logical date for the current month."""
    out, m = [], date(first.year, first.month, 1)
    while m <= as_of:
        following = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        end = datetime.combine(following, datetime.min.time()) - timedelta(seconds=1)
        end_of_as_of = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
        out.append((m, min(end, end_of_as_of - timedelta(seconds=1))))
        m = following
    return out


def items_in_force(warehouse: Path, at: datetime) -> list[dict]:
    """Each sxml key's last version with GXSJ <= at (GXSJ, then load, then row hash; a
    quarantined version as late wins), when it is valid and not soft-deleted."""
    last: dict[str, tuple] = {}
    for v in rows(warehouse, "SELECT * FROM raw.sxml"):
        if v["GXSJ"] <= at:
            order = (v["GXSJ"], 0, v["_loaded_at"], v["_row_hash"])
            if v["SXBM"] not in last or order > last[v["SXBM"]][0]:
                last[v["SXBM"]] = (order, v)
    for q in rows(warehouse, "SELECT * FROM meta.quarantine WHERE table_name = 'sxml'"):
        try:
            changed = datetime.fromisoformat(q["change_value"])
        except (TypeError, ValueError):
            continue
        if changed <= at:
            order = (changed, 1, datetime.max, "")
            if q["row_key"] not in last or order > last[q["row_key"]][0]:
                last[q["row_key"]] = (order, None)
    return [v for _, v in last.values() if v is not None and v["SFSC"] == "0"]


def expected_v2(warehouse: Path, as_of: date, mistake: str | None = None) -> dict:
    """K14–K22: (kpi, month, region, department, item, channel) -> [numerator, denominator];
    the item KPIs K15–K18 at region 'ALL' only. `mistake` names a KPI whose reading is
    changed by the one-line mistake in MISTAKES."""
    out: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])

    def add(key: tuple, in_denominator: bool, numerator: int | bool, weight: int = 1) -> None:
        cell = out[key]  # every group of a KPI's source records is a row, even at 0 / 0
        if in_denominator:
            cell[1] += weight
            cell[0] += int(numerator)

    items = {
        r["item_code"]: r
        for r in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__service_items")
    }
    ratings = rows(warehouse, f"SELECT * FROM {STG}.stg_evaluation_hcp__ratings")
    rated_months = defaultdict(set)
    for r in ratings:
        rated_months[r["case_id"]].add(month(r["rated_at"]) if r["rated_at"] else None)
    cases = rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__cases")
    for c in cases:
        item = items.get(c["item_code"])
        dept = (item["department_code"] or "unknown") if item else "unknown"
        region = c["region_code"] or "unknown"
        grain = (region, dept, c["item_code"], c["channel"])
        if c["status"] == "3" and c["completed_at"] is not None:
            rated = c["case_id"] in rated_months
            if mistake == "K14":
                rated = month(c["completed_at"]) in rated_months[c["case_id"]]
            add(("K14", month(c["completed_at"]), *grain), True, rated)
        cross = ("2",) if mistake == "K19" else ("1", "2")
        add(("K19", month(c["applied_at"]), *grain), True, c["cross_region_type"] in cross)
        accepted = c["accepted_at"] is not None
        add(
            ("K20", month(c["applied_at"]), *grain),
            accepted or mistake == "K20",
            accepted and c["acceptance_mode"] in ("2", "3"),
        )

    for h in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__help_sessions"):
        channels = ("1", "2") if mistake == "K21" else ("2",)
        if h["help_channel"] not in channels or h["requested_at"] is None:
            continue
        key = ("K21", month(h["requested_at"]), h["region_code"] or "unknown", "help_desk")
        add((*key, None, None), h["is_resolved"] is not None, h["is_resolved"] is True)

    orders = [
        w
        for w in rows(warehouse, f"SELECT * FROM {STG}.stg_hotline_12345__work_orders")
        if w["called_at"] is not None
    ]
    by_caller: dict[tuple, list[datetime]] = defaultdict(list)
    for w in orders:
        topic = None if mistake == "K22" else w["appeal_topic"]
        by_caller[(w["caller_phone"], topic)].append(w["called_at"])
    for w in orders:
        topic = None if mistake == "K22" else w["appeal_topic"]
        t = w["called_at"]
        repeat = any(t - timedelta(days=30) <= e < t for e in by_caller[(w["caller_phone"], topic)])
        key = (
            "K22",
            month(t),
            w["region_code"] or "unknown",
            w["handling_unit_code"] or "hotline",
            None,
            None,
        )
        add(key, w["caller_phone"] is not None, w["caller_phone"] is not None and repeat)

    first_case = min(c["applied_at"] for c in cases).date()
    for m, at in month_ends(first_case, as_of):
        for it in items_in_force(warehouse, at):
            dept = it["BLBM"] or "unknown"
            grain = (m, "ALL", dept, "ALL", None)
            online = "0" if mistake == "K15" else "1"
            add(("K15", *grain), True, it["SFQCWB"] == online)
            add(("K16", *grain), True, it["CNSX"] in ((0, 1) if mistake == "K16" else (0,)))
            fdsx, cnsx = it["FDSX"], it["CNSX"]
            in_k17 = fdsx is not None and fdsx > 0 and cnsx is not None
            weight = (cnsx if mistake == "K17" else fdsx) if in_k17 else 0
            add(("K17", *grain), in_k17, fdsx - cnsx if in_k17 else 0, weight)
            visits = it["PDCS"]
            zero = visits is not None and visits <= (1 if mistake == "K18" else 0)
            add(("K18", *grain), visits is not None, zero)
    return dict(out)


def mart(warehouse: Path, where: str) -> dict[tuple, list[int]]:
    got = {}
    for r in rows(warehouse, f"SELECT * FROM {MART} WHERE {where}"):
        key = (
            r["kpi_id"],
            r["month"],
            r["region_code"],
            r["department"],
            r["item_code"],
            r["channel"],
        )
        assert key not in got, key
        got[key] = [r["numerator"], r["denominator"]]
    return got


# --- tests ------------------------------------------------------------------------------------


def test_dbt_build_of_all_models_passes(built):
    _, done = built
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout.replace(" ", "")


@pytest.fixture(scope="module")
def as_of(ingested) -> date:
    return as_of_date(ingested[0])


def test_every_kpi_equals_an_independent_reading_of_the_handbook(built, as_of):
    warehouse, _ = built
    expected = expected_kpis(warehouse)
    v2 = expected_v2(warehouse, as_of)
    expected.update({k: v for k, v in v2.items() if k[0] not in ITEM_KPIS})
    got = mart(warehouse, "region_code <> 'ALL'")
    for kpi in [f"K{i}" for i in range(1, 23) if f"K{i}" not in ITEM_KPIS]:
        exp_k = {k: v for k, v in expected.items() if k[0] == kpi}
        got_k = {k: v for k, v in got.items() if k[0] == kpi}
        assert sum(v[1] for v in exp_k.values()) > 0, f"{kpi}: empty denominator in the test city"
        assert got_k == exp_k, kpi
    assert set(got) == set(expected)


def test_item_kpis_equal_an_independent_reading_of_the_catalogue_at_each_month_end(built, as_of):
    warehouse, _ = built
    expected = {k: v for k, v in expected_v2(warehouse, as_of).items() if k[0] in ITEM_KPIS}
    got = mart(warehouse, f"kpi_id IN {ITEM_KPIS}")
    for kpi in ITEM_KPIS:
        exp_k = {k: v for k, v in expected.items() if k[0] == kpi}
        assert sum(v[1] for v in exp_k.values()) > 0, f"{kpi}: empty denominator in the test city"
        assert {k: v for k, v in got.items() if k[0] == kpi} == exp_k, kpi
    # no region but the city: the item KPIs are not attributed to a region
    assert {k[2] for k in got} == {"ALL"}
    months = {k[1] for k in got}
    assert max(months) == date(as_of.year, as_of.month, 1)


@pytest.mark.parametrize("kpi", sorted(MISTAKES, key=lambda k: int(k[1:])))
def test_a_one_line_mistake_in_the_reading_is_caught(built, as_of, kpi):
    """The comparison is not vacuous: the reading with MISTAKES[kpi] disagrees with the mart."""
    warehouse, _ = built
    wrong = {k: v for k, v in expected_v2(warehouse, as_of, mistake=kpi).items() if k[0] == kpi}
    got = mart(warehouse, f"kpi_id = '{kpi}'")
    if kpi not in ITEM_KPIS:
        got = {k: v for k, v in got.items() if k[2] != "ALL"}
    assert got != wrong, f"{kpi}: {MISTAKES[kpi]} is not caught"


def test_the_city_roll_up_equals_the_independent_sums(built, as_of):
    warehouse, _ = built
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    regional = expected_kpis(warehouse)
    v2 = expected_v2(warehouse, as_of)
    regional.update({k: v for k, v in v2.items() if k[0] not in ITEM_KPIS})
    for (kpi, m, _region, dept, item, channel), (num, den) in regional.items():
        cell = expected[(kpi, m, "ALL", dept, item, channel)]
        cell[0] += num
        cell[1] += den
    expected.update({k: v for k, v in v2.items() if k[0] in ITEM_KPIS})
    assert mart(warehouse, "region_code = 'ALL'") == dict(expected)


def test_all_rows_are_the_sums_over_regions_including_unknown(built):
    warehouse, _ = built
    mismatches = rows(
        warehouse,
        f"""
        WITH regions AS (
            SELECT kpi_id, month, department, item_code, channel,
                   sum(numerator) AS n, sum(denominator) AS d
            FROM {MART} WHERE region_code <> 'ALL'
            GROUP BY ALL
        )
        SELECT regions.*, city.numerator, city.denominator FROM regions
        FULL JOIN (
            SELECT * FROM {MART} WHERE region_code = 'ALL' AND kpi_id NOT IN {ITEM_KPIS}
        ) AS city
            ON city.kpi_id = regions.kpi_id AND city.month = regions.month
            AND city.department = regions.department
            AND city.item_code IS NOT DISTINCT FROM regions.item_code
            AND city.channel IS NOT DISTINCT FROM regions.channel
        WHERE city.numerator IS DISTINCT FROM regions.n
           OR city.denominator IS DISTINCT FROM regions.d
        """,
    )
    assert mismatches == []
    (n_all,) = rows(warehouse, f"SELECT count(*) AS n FROM {MART} WHERE region_code = 'ALL'")
    assert n_all["n"] > 0


def test_rate_is_null_exactly_when_the_denominator_is_0(built):
    warehouse, _ = built
    got = rows(warehouse, f"SELECT kpi_id, numerator, denominator, rate FROM {MART}")
    zero = [r for r in got if r["denominator"] == 0]
    assert zero, "the test city should have a KPI group with an empty denominator"
    assert all(r["rate"] is None for r in zero)
    assert all(
        r["rate"] is not None and abs(r["rate"] - r["numerator"] / r["denominator"]) < 1e-12
        for r in got
        if r["denominator"] > 0
    )


def test_targets_come_from_the_seed(built):
    warehouse, _ = built
    with open(PROJECT / "seeds" / "kpi_targets.csv", encoding="utf-8") as f:
        seed = {
            r["kpi_id"]: (float(r["target"]) if r["target"] else None, r["better"])
            for r in csv.DictReader(f)
        }
    got = rows(
        warehouse, f"SELECT DISTINCT kpi_id, CAST(target AS DOUBLE) AS target, better FROM {MART}"
    )
    assert {r["kpi_id"]: (r["target"], r["better"]) for r in got} == {
        k: seed[k] for k in {r["kpi_id"] for r in got}
    }
    assert {r["kpi_id"] for r in got} == {f"K{i}" for i in range(1, 23)}
    # kpis.md v2: K19, K20 are monitored (no target), K22 is better when lower
    assert seed["K19"][0] is None and seed["K20"][0] is None
    assert seed["K22"][1] == "lower"
    assert {k for k, (_, better) in seed.items() if better == "lower"} == {"K22"}


def test_working_days_follow_the_calendar_including_make_up_days(built):
    warehouse, _ = built
    index = {
        r["calendar_date"]: r["working_day_index"]
        for r in rows(
            warehouse,
            "SELECT * FROM main_intermediate.int_working_day_index "
            "WHERE calendar_date BETWEEN DATE '2024-12-25' AND DATE '2027-02-01'",
        )
    }
    start = datetime(2024, 12, 31, 18)
    for offset in range(0, 760, 7):
        end = start + timedelta(days=offset, hours=3)
        assert index[end.date()] - index[start.date()] == wd(start, end), end


def test_planted_repeat_callers_are_the_repeats_of_k22(built, ingested):
    """The simulator's repeat callers (simulator/v2_cases.py): the same phone and topic again
    within 30 days is a repeat in the model K22 reads, a call after more than 30 days is not;
    and K22's numerator of each month counts them."""
    warehouse, _ = built
    conn = sqlite3.connect(ingested[0] / "manifest" / "manifest.sqlite")
    truth = dict(conn.execute("SELECT key, expected FROM planted WHERE kind = 'repeat_call'"))
    conn.close()
    flagged = {
        r["work_order_id"]: r
        for r in rows(warehouse, "SELECT * FROM main_intermediate.int_work_orders__repeat_calls")
    }
    assert "repeat" in truth.values()
    assert any(e.startswith("not a repeat (") for e in truth.values()), "none after 30 days"
    repeats_by_month = defaultdict(int)
    for key, expected in truth.items():
        order = flagged[key]  # the city holds every planted call
        if expected == "repeat":
            assert order["is_repeat_call"], key
            repeats_by_month[month(order["called_at"])] += 1
        elif expected.startswith("not a repeat ("):
            assert not order["is_repeat_call"], key
    numerators = defaultdict(int)
    for r in rows(warehouse, f"SELECT * FROM {MART} WHERE kpi_id = 'K22' AND region_code = 'ALL'"):
        numerators[r["month"]] += r["numerator"]
    for m, planted_repeats in repeats_by_month.items():
        assert numerators[m] >= planted_repeats, m
