"""dbt on the demo city: the four lists to act on (kpis.md v2) agree with a plain-Python
reading of the handbook's text computed from the staging rows and the KPI mart, independently
of the SQL: 差评整改 to-do (rectification_todo), 环节耗时 (case_step_waits and
item_step_waits_monthly with the bottleneck), 12345 热点 (hotline_hotspots_weekly) and the
部门考核 scorecard (department_scorecard_monthly). Each list's reading, changed by one
deliberate one-line mistake, is shown to disagree with its mart."""

from __future__ import annotations

import csv
import itertools
import math
import sqlite3
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.dbt_city import PROJECT, dbt, warehouse_copy
from tests.integration.test_kpi_marts import STG, as_of_date, month, rows, wd

pytestmark = pytest.mark.integration
MARTS = "main_marts"


@pytest.fixture(scope="module")
def built(ingested, tmp_path_factory):
    city, source = ingested
    warehouse = warehouse_copy(source, tmp_path_factory.mktemp("lists"))
    as_of = as_of_date(city)
    done = dbt(warehouse, "build", "--vars", f"{{as_of_date: '{as_of}'}}")
    assert done.returncode == 0, done.stdout[-4000:]
    return warehouse, as_of


# --- plain readings ---------------------------------------------------------------------------


def case_dimensions(warehouse: Path) -> dict[str, tuple]:
    items = {
        r["item_code"]: r
        for r in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__service_items")
    }
    out = {}
    for c in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__cases"):
        item = items.get(c["item_code"])
        dept = (item["department_code"] or "unknown") if item else "unknown"
        out[c["case_id"]] = (c["region_code"] or "unknown", dept, c)
    return out


def todo_reading(warehouse: Path, as_of: date, mistake: bool = False) -> dict:
    cases = case_dimensions(warehouse)
    out = {}
    end = datetime.combine(as_of, datetime.min.time())
    for r in rows(warehouse, f"SELECT * FROM {STG}.stg_evaluation_hcp__ratings"):
        pj, zg, st = r["rated_at"], r["rectified_at"], r["rectification_status"]
        if r["rating_level"] not in ("1", "2") or st not in (None, "0"):
            continue
        if pj is None or pj.date() > as_of or (zg is not None and zg < pj):
            continue
        # mistake: calendar days
        elapsed = (as_of - pj.date()).days if mistake else wd(pj, end)
        status = "overdue" if elapsed > 15 else "due_soon" if elapsed >= 13 else "open"
        region, dept, _ = cases.get(r["case_id"], ("unknown", "unknown", None))
        out[r["rating_id"]] = (region, dept, elapsed, 15 - elapsed, status)
    return out


def step_reading(warehouse: Path, mistake: bool = False) -> dict:
    cases = case_dimensions(warehouse)
    steps = defaultdict(list)
    for s in rows(warehouse, f"SELECT * FROM {STG}.stg_case_platform__case_steps"):
        if s["handled_at"] is not None:
            steps[s["case_id"]].append(s)
    out = {}
    for case_id, (_region, dept, c) in cases.items():
        if c["status"] != "3" or c["completed_at"] is None:
            continue
        ordered = sorted(steps[case_id], key=lambda s: (s["handled_at"], s["step_id"]))
        for previous, step in itertools.pairwise(ordered):
            a, b = previous["handled_at"], step["handled_at"]
            hours = (b - a).total_seconds() / 3600
            days = (b.date() - a.date()).days if mistake else wd(a, b)  # mistake: calendar days
            out[step["step_id"]] = (
                case_id,
                c["item_code"],
                dept,
                month(c["completed_at"]),
                step["step_code"],
                previous["step_code"],
                days,
                hours,
            )
    return out


def quantile_cont(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def step_summary_reading(steps: dict) -> dict:
    groups = defaultdict(list)
    for case_id, item, _dept, m, code, _prev, days, hours in steps.values():
        groups[(m, item, code)].append((case_id, days, hours))
    totals = defaultdict(float)
    for (m, item, _code), waits in groups.items():
        totals[(m, item)] += sum(h for _, _, h in waits)
    out = {}
    for (m, item, code), waits in groups.items():
        days = [d for _, d, _ in waits]
        hours = sum(h for _, _, h in waits)
        share = hours / totals[(m, item)] if totals[(m, item)] > 0 else None
        out[(m, item, code)] = [
            len({c for c, _, _ in waits}),
            float(statistics.median(days)),
            quantile_cont(days, 0.9),
            share,
            False,
        ]
    best = {}
    for (m, item, code), v in out.items():
        key = (m, item)
        if v[3] is not None and (key not in best or (-v[3], code) < (-best[key][1], best[key][0])):
            best[key] = (code, v[3])
    for (m, item), (code, _) in best.items():
        out[(m, item, code)][4] = True
    return {k: tuple(v) for k, v in out.items()}


def hotspot_reading(warehouse: Path, mistake: bool = False) -> dict:
    weekly = defaultdict(int)
    for w in rows(warehouse, f"SELECT * FROM {STG}.stg_hotline_12345__work_orders"):
        if w["called_at"] is None:
            continue
        d = w["called_at"].date()
        # mistake: weeks that start on Sunday
        monday = d - timedelta(days=(d.weekday() + 1) % 7 if mistake else d.weekday())
        weekly[(monday, w["region_code"] or "unknown", w["appeal_topic"])] += 1
    out = {}
    for (monday, region, topic), n in weekly.items():
        previous = [
            weekly.get((monday - timedelta(weeks=k), region, topic), 0) for k in range(1, 9)
        ]
        mean = sum(previous) / 8
        out[(monday, region, topic)] = (n, n >= 10 and n >= 2 * mean)
    return out


def scorecard_reading(warehouse: Path, mistake: bool = False) -> dict:
    with open(PROJECT / "seeds" / "scorecard_weights.csv", encoding="utf-8") as f:
        weights = {r["kpi_id"]: float(r["weight"]) for r in csv.DictReader(f)}
    with open(PROJECT / "seeds" / "kpi_targets.csv", encoding="utf-8") as f:
        seed = {r["kpi_id"]: r for r in csv.DictReader(f)}
    sums = defaultdict(lambda: [0, 0])
    for r in rows(warehouse, f"SELECT * FROM {MARTS}.kpi_monthly WHERE region_code = 'ALL'"):
        if r["kpi_id"] in weights and r["department"] != "unknown":
            cell = sums[(r["month"], r["department"], r["kpi_id"])]
            cell[0] += r["numerator"]
            cell[1] += r["denominator"]
    parts = defaultdict(list)
    for (m, dept, kpi), (num, den) in sums.items():
        parts[(m, dept)]  # every department with a weighted KPI has a row
        target = seed[kpi]["target"]
        if den < (1 if mistake else 30) or not target or weights[kpi] <= 0:
            continue
        rate, target = num / den, float(target)
        if seed[kpi]["better"] == "lower":
            component = 1.0 if rate == 0 else min(1.0, target / rate)
        else:
            component = min(1.0, rate / target)
        parts[(m, dept)].append((weights[kpi], component))
    scores = {
        k: (sum(w * c for w, c in p) / sum(w for w, _ in p) if p else None)
        for k, p in parts.items()
    }
    out = {}
    for (m, dept), score in scores.items():
        rank = None
        if score is not None:
            others = [s for (m2, _), s in scores.items() if m2 == m and s is not None]
            rank = 1 + sum(1 for s in others if s > score + 1e-12)
        out[(m, dept)] = (len(parts[(m, dept)]), None if score is None else round(score, 9), rank)
    return out


# --- mart readers -----------------------------------------------------------------------------


def todo_mart(warehouse: Path) -> dict:
    return {
        r["rating_id"]: (
            r["region_code"],
            r["department"],
            r["working_days_elapsed"],
            r["working_days_remaining"],
            r["todo_status"],
        )
        for r in rows(warehouse, f"SELECT * FROM {MARTS}.rectification_todo")
    }


def steps_mart(warehouse: Path) -> dict:
    return {
        r["step_id"]: (
            r["case_id"],
            r["item_code"],
            r["department"],
            r["month"],
            r["step_code"],
            r["previous_step_code"],
            r["wait_workdays"],
            r["wait_hours"],
        )
        for r in rows(warehouse, f"SELECT * FROM {MARTS}.case_step_waits")
    }


def summary_mart(warehouse: Path) -> dict:
    return {
        (r["month"], r["item_code"], r["step_code"]): (
            r["case_count"],
            r["median_wait_workdays"],
            r["p90_wait_workdays"],
            r["share_of_hours"],
            r["is_bottleneck"],
        )
        for r in rows(warehouse, f"SELECT * FROM {MARTS}.item_step_waits_monthly")
    }


def hotspot_mart(warehouse: Path) -> dict:
    return {
        (r["week_start"], r["region_code"], r["appeal_topic"]): (r["order_count"], r["is_spike"])
        for r in rows(warehouse, f"SELECT * FROM {MARTS}.hotline_hotspots_weekly")
    }


def scorecard_mart(warehouse: Path) -> dict:
    return {
        (r["month"], r["department"]): (
            r["kpis_scored"],
            None if r["score"] is None else round(r["score"], 9),
            r["score_rank"],
        )
        for r in rows(warehouse, f"SELECT * FROM {MARTS}.department_scorecard_monthly")
    }


def same(got: dict, expected: dict) -> bool:
    """Equal keys and values, floats equal to 1e-9 (sums of hours in another order)."""

    def close(a, b) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return a is not None and b is not None and math.isclose(a, b, abs_tol=1e-9)
        return a == b

    return got.keys() == expected.keys() and all(
        len(got[k]) == len(expected[k]) and all(map(close, got[k], expected[k])) for k in got
    )


# --- tests ------------------------------------------------------------------------------------


def test_rectification_todo_equals_the_reading(built):
    warehouse, as_of = built
    expected = todo_reading(warehouse, as_of)
    assert expected, "no rating to rectify in the test city"
    assert todo_mart(warehouse) == expected


def test_step_waits_equal_the_reading(built):
    warehouse, _ = built
    expected = step_reading(warehouse)
    assert len(expected) > 100
    assert same(steps_mart(warehouse), expected)


def test_step_summary_and_bottlenecks_equal_the_reading(built):
    warehouse, _ = built
    expected = step_summary_reading(step_reading(warehouse))
    assert same(summary_mart(warehouse), expected)
    assert any(v[4] for v in expected.values())


def test_hotspots_equal_the_reading(built):
    warehouse, _ = built
    expected = hotspot_reading(warehouse)
    assert expected
    assert hotspot_mart(warehouse) == expected


def test_scorecard_equals_the_reading(built):
    warehouse, _ = built
    expected = scorecard_reading(warehouse)
    assert any(v[1] is not None for v in expected.values())
    assert scorecard_mart(warehouse) == expected


@pytest.mark.parametrize(
    ("name", "reading", "mart"),
    [
        ("to-do: calendar days elapsed", lambda w, d: todo_reading(w, d, True), todo_mart),
        (
            "steps: wait in calendar days",
            lambda w, d: step_reading(w, True),
            steps_mart,
        ),
        (
            "hotspots: weeks starting on Sunday",
            lambda w, d: hotspot_reading(w, True),
            hotspot_mart,
        ),
        (
            "scorecard: every denominator counted, not only ≥ 30",
            lambda w, d: scorecard_reading(w, True),
            scorecard_mart,
        ),
    ],
)
def test_a_one_line_mistake_in_a_list_reading_is_caught(built, name, reading, mart):
    warehouse, as_of = built
    assert not same(mart(warehouse), reading(warehouse, as_of)), f"{name} is not caught"


# --- the planted v2 cases (simulator/v2_cases.py, the manifest's `planted`) --------------------


def planted(city: Path, kind: str) -> list[dict]:
    """The ground truth's planted rows of one kind."""
    conn = sqlite3.connect(city / "manifest" / "manifest.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM planted WHERE kind = ?", (kind,))]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def city(ingested):
    return ingested[0]


def test_a_planted_hotline_spike_is_a_spike_of_the_hotspots_list(built, city):
    warehouse, as_of = built
    spikes = defaultdict(set)  # (week, region, topic, calls) -> planted work orders
    for p in planted(city, "hotline_spike"):
        week, region, topic, calls = p["detail"].split("|")
        spikes[(date.fromisoformat(week[5:]), region, topic, int(calls.split()[0]))].add(p["key"])
    whole = {k: v for k, v in spikes.items() if k[0] + timedelta(days=6) <= as_of}
    assert whole, "no planted spike in the test city"
    orders = {
        w["work_order_id"]: w
        for w in rows(warehouse, f"SELECT * FROM {STG}.stg_hotline_12345__work_orders")
    }
    hotspots = hotspot_mart(warehouse)
    for (week, region, topic, calls), keys in whole.items():
        # the city holds the calls as recorded: that week, that district, that topic
        assert len(keys) == calls
        for key in keys:
            w = orders[key]
            assert (w["region_code"], w["appeal_topic"]) == (region, topic)
            assert week <= w["called_at"].date() <= week + timedelta(days=6)
        count, is_spike = hotspots[(week, region, topic)]
        assert is_spike, (week, region, topic)
        assert count >= calls


def test_planted_bad_ratings_are_on_the_to_do_list_as_delivered(built, city):
    """A planted bad rating is on the to-do list exactly when the file in force for its month
    still had it open (the pipeline knows the state it was delivered with), and then overdue:
    the monthly drop comes after working day 15 for all but the month's last days."""
    warehouse, _ = built
    conn = sqlite3.connect(city / "manifest" / "manifest.sqlite")
    delivered = dict(conn.execute("SELECT month, delivered_at FROM hcp_deliveries WHERE in_force"))
    conn.close()
    todo = todo_mart(warehouse)
    known = {
        r["rating_id"]: r
        for r in rows(warehouse, "SELECT * FROM main_intermediate.int_ratings__with_cases")
    }
    kinds = ("rating_near_limit", "rating_past_limit", "rating_left_open")
    plants = [(k, p) for k in kinds for p in planted(city, k)]
    assert {k for k, _ in plants} == set(kinds)
    on_list = 0
    for kind, p in plants:
        month_tag, _file, rated, rectified = p["detail"].split("|")
        rated = datetime.fromisoformat(rated.removeprefix("rated "))
        rectified = rectified.removeprefix("rectified ")
        rectified = None if rectified == "-" else datetime.fromisoformat(rectified)
        at = datetime.fromisoformat(delivered[month_tag])
        still_open = rectified is None or rectified > at
        rating = known[p["key"]]  # the city holds the rating as recorded: bad, rated then
        assert rating["rating_level"] in ("1", "2")
        assert rating["rated_at"].replace(second=0) == rated.replace(second=0)
        if still_open:
            on_list += 1
            assert todo[p["key"]][4] == "overdue", p
            assert todo[p["key"]][2] > 15
        else:
            assert p["key"] not in todo, p
            days = rating["working_days_to_rectify"]
            assert (days <= 15) == (kind == "rating_near_limit"), (p, days)
    assert on_list


def test_the_planted_bottleneck_step_is_the_bottleneck_of_its_items(built, city):
    warehouse, _ = built
    truth = {p["key"]: p["expected"] for p in planted(city, "bottleneck_step")}
    assert set(truth) == {"SJXK0003", "BDCQR0001"}
    summary = summary_mart(warehouse)
    bottlenecks = defaultdict(set)
    for (m, item, code), v in summary.items():
        if v[4]:
            bottlenecks[item].add((m, code))
    for item, step in truth.items():
        months = {m for (m, i, _c) in summary if i == item}
        assert len(months) >= 3, item
        # the review, which waits for the inspection, in at least three months of four (a
        # month of few cases may have one held up elsewhere, e.g. over the Spring Festival)
        at_review = {m for m, code in bottlenecks[item] if code == step}
        assert len(at_review) >= 0.75 * len(months), (item, sorted(bottlenecks[item]))
    others = [code for item, found in bottlenecks.items() if item not in truth for _, code in found]
    assert others.count("SC") < len(others) / 2  # elsewhere the decision waits longest
