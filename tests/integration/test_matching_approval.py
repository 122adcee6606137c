"""Approval, rejection and revocation on the hand-made warehouse of test_matching_engine, through
the command line (`python -m matching approve|reject|revoke`) as an officer would type it."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from groundfloor.settings import PROJECT
from matching.engine import evaluate
from tests.integration.test_matching_engine import EXPECTED, E, build_warehouse

ALL_MATCHES = {(code, key) for code, rows in EXPECTED.items() for key in rows}


@pytest.fixture
def first_run(tmp_path: Path):
    warehouse = build_warehouse(tmp_path / "warehouse.duckdb")
    result = evaluate(
        E, warehouse, tmp_path / "operations.duckdb", tmp_path / "push", snapshot_id="fixture"
    )
    return tmp_path, result.run_id


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    options = ["--operations", str(tmp_path / "operations.duckdb")]
    if args[0] in ("approve", "reject"):
        options += ["--push-dir", str(tmp_path / "push")]
    return subprocess.run(
        [sys.executable, "-m", "matching", *args, *options],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )


def rows(tmp_path: Path, columns: str = "status") -> dict[tuple[str, str], tuple]:
    with duckdb.connect(str(tmp_path / "operations.duckdb"), read_only=True) as store:
        found = store.execute(
            f"select policy_code, subject_key, {columns} from match_ledger"
        ).fetchall()
    return {(code, key): tuple(rest) for code, key, *rest in found}


def pushed(tmp_path: Path) -> set[tuple[str, str]]:
    found = set()
    for path in (tmp_path / "push").rglob("*.csv"):
        with path.open(encoding="utf-8") as handle:
            found |= {(r["policy_code"], r["subject_key"]) for r in csv.DictReader(handle)}
    return found


def test_new_rows_are_pending_and_nothing_is_pushed_before_approval(first_run):
    tmp_path, _ = first_run
    assert rows(tmp_path) == dict.fromkeys(ALL_MATCHES, ("pending",))
    assert pushed(tmp_path) == set()


def test_approval_from_the_command_line_records_who_when_and_pushes(first_run):
    tmp_path, run_id = first_run
    done = cli(tmp_path, "approve", "--run", run_id, "--by", "李科长")
    assert done.returncode == 0, done.stderr
    decided = rows(tmp_path, "status, decided_by, decided_via, decided_at is not null, "
                             "pushed_at is not null")  # fmt: skip
    assert decided == dict.fromkeys(ALL_MATCHES, ("approved", "李科长", "cli", True, True))
    assert pushed(tmp_path) == ALL_MATCHES
    again = cli(tmp_path, "approve", "--run", "latest", "--by", "王科员")
    assert again.returncode == 0 and "0 rows approved" in again.stdout
    assert {r[1] for r in rows(tmp_path, "status, decided_by").values()} == {"李科长"}


def test_a_rejected_row_never_reaches_a_push_list(first_run):
    tmp_path, run_id = first_run
    refused = cli(tmp_path, "reject", "--run", run_id, "--by", "李科长", "--policy", "CJLB",
                  "--reason", " ")  # fmt: skip
    assert refused.returncode == 2 and "needs a reason" in refused.stdout
    done = cli(tmp_path, "reject", "--run", run_id, "--by", "李科长", "--policy", "CJLB",
               "--reason", "残疾证数据待核实")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert cli(tmp_path, "approve", "--run", run_id, "--by", "李科长").returncode == 0
    cjlb = {key for code, key in ALL_MATCHES if code == "CJLB"}
    assert {k for (c, k), r in rows(tmp_path, "status, decision_reason").items() if c == "CJLB"
            and r == ("rejected", "残疾证数据待核实")} == cjlb  # fmt: skip
    assert pushed(tmp_path) == {m for m in ALL_MATCHES if m[0] != "CJLB"}


def test_partial_approval_then_the_rest_pushes_each_row_once(first_run):
    tmp_path, run_id = first_run
    assert cli(tmp_path, "approve", "--run", run_id, "--by", "李科长", "--policy", "GLJT",
               "--subject", "p-age80").returncode == 0  # fmt: skip
    assert pushed(tmp_path) == {("GLJT", "p-age80")}
    assert cli(tmp_path, "approve", "--run", run_id, "--by", "李科长").returncode == 0
    files = sorted(p.name for p in (tmp_path / "push" / run_id).glob("GLJT*.csv"))
    assert files == ["GLJT_2026-02-2.csv", "GLJT_2026-02.csv"]
    assert pushed(tmp_path) == ALL_MATCHES


def test_revoke_keeps_the_row_with_its_reason_and_earlier_approval(first_run):
    tmp_path, run_id = first_run
    cli(tmp_path, "approve", "--run", run_id, "--by", "李科长")
    key = ["--policy", "GLJT", "--subject", "p-age90", "--period", "2026-02", "--by", "赵主任"]
    assert cli(tmp_path, "revoke", *key, "--reason", "").returncode == 2
    done = cli(tmp_path, "revoke", *key, "--reason", "发放前已死亡")
    assert done.returncode == 0, done.stderr
    after = rows(tmp_path, "status, decided_by, revoked_by, revoke_reason")
    assert len(after) == len(ALL_MATCHES)
    assert after[("GLJT", "p-age90")] == ("revoked", "李科长", "赵主任", "发放前已死亡")
    assert cli(tmp_path, "revoke", *key, "--reason", "again").returncode == 2
    with duckdb.connect(str(tmp_path / "operations.duckdb"), read_only=True) as store:
        log = store.execute(
            "select action, decided_by from ledger_decisions where subject_key = 'p-age90'"
            " order by decided_at"
        ).fetchall()
    assert log == [("approve", "李科长"), ("revoke", "赵主任")]
