"""Reminders (matching/reminders/*.yaml) on the hand-made warehouse of test_matching_engine, with
certificates added around the 60-day boundary: who is reminded, once per occasion across
re-runs, and the annual-report season."""

from __future__ import annotations

import csv
import datetime as dt

import duckdb
import pytest

from matching.reminders import remind
from tests.integration.test_matching_engine import ENTERPRISES, FACTS, E, build_warehouse

D = dt.date
DAY = dt.timedelta(days=1)
# certificate_id, type, subject_type, person_key, enterprise_key, valid_from, valid_to
ADDED = [
    ("jsz-60", "JSZ", "person", "p-age80", None, D(2020, 1, 1), E + 60 * DAY),  # in
    ("jsz-61", "JSZ", "person", "p-age89", None, D(2020, 1, 1), E + 61 * DAY),  # out
    ("jsz-dead", "JSZ", "person", "p-dead85", None, D(2020, 1, 1), E + 10 * DAY),  # dead: out
    ("jsz-later", "JSZ", "person", "p-age90", None, E + DAY, E + 30 * DAY),  # not yet valid
    ("sfz-30", "SFZ", "person", "p-age99", None, D(2020, 1, 1), E + 30 * DAY),  # not a type
    ("spjy-e", "SPJY", "enterprise", None, "x-cbrs30", D(2021, 1, 1), E),  # in (ends on E)
    ("gxjs-59", "GXJS", "enterprise", None, "x-cbrs31", D(2023, 1, 1), E + 59 * DAY),  # in
    ("spjy-closed", "SPJY", "enterprise", None, "x-closed", D(2021, 1, 1), E + 5 * DAY),  # out
]
EXPECTED_CERTIFICATES = {
    "CERTP": {("p-age80", f"jsz-60@{E + 60 * DAY}"), ("c-cert-e", f"cj-e@{E}")},
    "CERTE": {("x-cbrs30", f"spjy-e@{E}"), ("x-cbrs31", f"gxjs-59@{E + 59 * DAY}")},
}


@pytest.fixture
def stores(tmp_path):
    warehouse = build_warehouse(tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(warehouse)) as connection:
        connection.executemany(
            "insert into main_marts.certificate_validity values (?, ?, ?, ?, ?, ?, ?, ?, '1')",
            [(c, t, s, p, e, start, start, end) for c, t, s, p, e, start, end in ADDED],
        )
    return warehouse, tmp_path / "operations.duckdb", tmp_path / "push"


def ledger(operations) -> dict[str, set[tuple[str, str]]]:
    with duckdb.connect(str(operations), read_only=True) as store:
        rows = store.execute("select reminder_code, subject_key, occasion from reminder_ledger")
        found: dict[str, set[tuple[str, str]]] = {}
        for code, key, occasion in rows.fetchall():
            found.setdefault(code, set()).add((key, occasion))
    return found


def test_expiring_certificates_are_reminded_once_per_occasion(stores):
    warehouse, operations, push = stores
    first = remind(warehouse, operations, push, E)
    assert first.new == {"CERTP": 2, "CERTE": 2, "NDBG": 0}
    assert ledger(operations) == EXPECTED_CERTIFICATES
    again = remind(warehouse, operations, push, E)
    later = remind(warehouse, operations, push, E + 20 * DAY)
    assert again.new == {"CERTP": 0, "CERTE": 0, "NDBG": 0}
    # 20 days on, two more certificates come within 60 days (one valid only from E + 1)
    assert later.new == {"CERTP": 2, "CERTE": 0, "NDBG": 0}
    assert ledger(operations)["CERTP"] - EXPECTED_CERTIFICATES["CERTP"] == {
        ("p-age89", f"jsz-61@{E + 61 * DAY}"),
        ("p-age90", f"jsz-later@{E + 30 * DAY}"),
    }
    with (push / first.run_id / "CERTP.csv").open(encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    assert {(r["subject_key"], r["occasion"]) for r in listed} == EXPECTED_CERTIFICATES["CERTP"]
    assert all(r["display_id"].count("*") == 8 for r in listed)
    assert (push / again.run_id / "CERTP.csv").read_text("utf-8").count("\n") == 1  # header


def late_with_annual_report(year: int) -> set[str]:
    """In business on file and without annual facts of year − 1 (independent reading)."""
    reported = {key for key, facts_year, *_ in FACTS if facts_year == year - 1}
    return {key for key, _, status, _ in ENTERPRISES if status == "1" and key not in reported}


def test_the_annual_report_reminder_runs_from_1_may_to_30_june_once_a_year(stores):
    warehouse, operations, push = stores
    assert remind(warehouse, operations, push, D(2026, 4, 30)).new["NDBG"] == 0
    expected = late_with_annual_report(2026)
    assert remind(warehouse, operations, push, D(2026, 5, 1)).new["NDBG"] == len(expected)
    assert remind(warehouse, operations, push, D(2026, 6, 30)).new["NDBG"] == 0
    assert remind(warehouse, operations, push, D(2026, 7, 1)).new["NDBG"] == 0
    assert ledger(operations)["NDBG"] == {(key, "2026") for key in expected}
    assert expected and "x-old-facts" in expected and "x-closed" not in expected


def test_a_faulty_reminder_file_is_refused_by_name(tmp_path):
    from matching.policy import PolicyError
    from matching.reminders import DEFAULT_REMINDERS, load_reminder

    text = (DEFAULT_REMINDERS / "NDBG.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "BAD.yaml"
    bad.write_text(text.replace("occasion: year", "occasion: week"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"BAD\.yaml: reminder: occasion must be"):
        load_reminder(bad)
    bad.write_text(text.replace("registration_status", "djzt"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"BAD\.yaml: reminder: .*field 'djzt' does not exist"):
        load_reminder(bad)
