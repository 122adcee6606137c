"""K23 免申即享兑付率 and the median days to pay on hand-worked rows: GLJT's seven matches of the
fixture warehouse approved on 1 March 2026, paid after 29, 30 and 31 days, one in advance,
the others never (or for another month); the run's logical date is 15 April 2026."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import duckdb
import pytest

from groundfloor.settings import PROJECT
from matching import approval
from matching.engine import evaluate
from matching.payout import payout
from tests.integration.test_matching_engine import CITY, E, build_warehouse

D = dt.date
APPROVED_ON = D(2026, 3, 1)
RUN_DATE = D(2026, 4, 15)
# subject → payment date of a GLJT grant (FFSSQ as given)
PAYMENTS = {
    "p-age80": (D(2026, 3, 30), "2026-02"),  # 29 days: within
    "p-age89": (D(2026, 3, 31), "2026-02"),  # 30 days: within
    "p-age90": (D(2026, 4, 1), "2026-02"),  # 31 days: late
    "p-age100": (D(2026, 2, 20), "2026-02"),  # before approval: within, 0 days
    "p-feb29": (D(2026, 3, 10), "2026-01"),  # another period: not this match's payment
}  # p-age99 and p-arrears: never paid


@pytest.fixture
def followed(tmp_path):
    warehouse = build_warehouse(tmp_path / "warehouse.duckdb")
    operations = tmp_path / "operations.duckdb"
    run = evaluate(E, warehouse, operations, tmp_path / "push", snapshot_id="fixture")
    approval.approve(operations, approval.Selection(run.run_id), approval.Officer("李科长"))
    with duckdb.connect(str(operations)) as store:
        # hand-worked approval dates: GLJT on 1 March; CJLB too recent to count (1 April)
        store.execute("update match_ledger set decided_at = ? where policy_code = 'GLJT'",
                      [APPROVED_ON])  # fmt: skip
        store.execute("update match_ledger set decided_at = ? where policy_code <> 'GLJT'",
                      [D(2026, 4, 1)])  # fmt: skip
    with duckdb.connect(str(warehouse)) as connection:
        for n, (key, (paid_on, period)) in enumerate(PAYMENTS.items()):
            connection.execute(
                "insert into main_marts.benefit_grants values (?, 'GLJT', ?, 'person', ?, null,"
                " ?, 100)",
                [f"pay{n}", period, key, paid_on],
            )
    return warehouse, operations


def test_k23_counts_29_and_30_days_as_within_and_31_as_late(followed):
    warehouse, operations = followed
    rows = {(r.policy_code, r.region_code): r for r in payout(warehouse, operations, RUN_DATE)}
    assert set(rows) == {("GLJT", CITY), ("GLJT", None)}
    for row in rows.values():
        assert row.month == D(2026, 3, 1)
        assert (row.paid_within_30_days, row.approved, row.paid_ever) == (3, 7, 4)
        assert row.payout_rate == pytest.approx(3 / 7)
        assert row.median_days_to_pay == 29.5  # of 0, 29, 30, 31


def test_approvals_younger_than_30_days_do_not_count_yet(followed):
    warehouse, operations = followed
    assert payout(warehouse, operations, D(2026, 3, 30)) == []
    counted = payout(warehouse, operations, D(2026, 3, 31))  # 1 March + 30 days
    assert {r.approved for r in counted} == {7}


def test_the_payout_command_prints_the_rate(followed):
    warehouse, operations = followed
    shown = subprocess.run(
        [sys.executable, "-m", "matching", "payout", "--date", RUN_DATE.isoformat(),
         "--warehouse", str(warehouse), "--operations", str(operations)],
        cwd=PROJECT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "42.9%" in shown and "29.5" in shown


def test_the_dashboards_payout_table_holds_the_rate_and_the_median(followed):
    from matching.payout import record_payout

    warehouse, operations = followed
    assert record_payout(warehouse, operations, RUN_DATE) == 2
    assert record_payout(warehouse, operations, RUN_DATE) == 2  # replaces the date's rows
    with duckdb.connect(str(operations), read_only=True) as store:
        stored = store.execute(
            "select policy_code, region_code, region_name, month, paid_within_30_days, approved,"
            " paid_ever, median_days_to_pay from payout_monthly where evaluation_date = ?",
            [RUN_DATE],
        ).fetchall()
    assert sorted(stored, key=repr) == sorted(
        [
            ("GLJT", None, "全市", D(2026, 3, 1), 3, 7, 4, 29.5),
            ("GLJT", CITY, CITY, D(2026, 3, 1), 3, 7, 4, 29.5),
        ],
        key=repr,
    )


def test_recording_a_date_without_old_enough_approvals_leaves_no_rows(followed):
    from matching.payout import record_payout

    warehouse, operations = followed
    assert record_payout(warehouse, operations, RUN_DATE) == 2
    assert record_payout(warehouse, operations, D(2026, 3, 30)) == 0  # 29 days after approval
    with duckdb.connect(str(operations), read_only=True) as store:
        dates = store.execute("select distinct evaluation_date from payout_monthly").fetchall()
    assert dates == [(RUN_DATE,)]
