"""The matching DAG's human-in-the-loop approval step through `dag.test()` (SQLite metadata
database of the test session's Airflow home) against the command line, on the hand-made
warehouse of test_matching_engine: the same decisions give the same ledger state.

Nobody clicks in a UI here: a process of its own (`python -m pipeline.approval`) answers the
parked step through Airflow's own HITL endpoint handler, as the Required Actions page would.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pendulum
import pytest

from groundfloor.settings import PROJECT
from matching.approval import ledger_rows
from pipeline.approval import Approver
from tests.integration.test_matching_engine import E, build_warehouse


@pytest.fixture(scope="module")
def matching_dag():
    from pipeline.airflow_setup import migrate_and_create_pool
    from pipeline.chain import dag_bag

    migrate_and_create_pool()
    return dag_bag().dags["policy_matching"]


def use_stores(monkeypatch, folder: Path) -> Path:
    folder.mkdir()
    warehouse = build_warehouse(folder / "warehouse.duckdb")
    monkeypatch.setenv("WAREHOUSE", str(warehouse))
    monkeypatch.setenv("OPERATIONS_STORE", str(folder / "operations.duckdb"))
    monkeypatch.setenv("PUSH_DIR", str(folder / "push"))
    monkeypatch.setenv("PUBLISHED_WAREHOUSE", str(folder / "none.duckdb"))
    return folder


def through_airflow(dag, day: dt.date, chosen: str, officer: str, params: dict) -> dict:
    """One DAG run whose approval step is answered by `officer`; the ledger rows after it."""
    approver = Approver(chosen, officer, params).start()
    try:
        run = dag.test(logical_date=pendulum.datetime(day.year, day.month, day.day,
                                                      tz="Asia/Shanghai"))  # fmt: skip
    finally:
        code, _, errors = approver.finish()
    assert code == 0, errors
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    asked = {task: state for task, state in states.items() if task != "nothing_to_approve"}
    assert set(asked.values()) == {"success"}, states
    assert states["nothing_to_approve"] == "skipped"  # the run had rows to approve
    return states


def through_command_line(day: dt.date, *decision: str) -> None:
    def matching(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "matching", *args], cwd=PROJECT, check=True,
                       capture_output=True)  # fmt: skip

    matching("evaluate", "--date", day.isoformat())
    matching(*decision)


def ledger(folder: Path) -> tuple[list[tuple], set[str]]:
    with duckdb.connect(str(folder / "operations.duckdb"), read_only=True) as store:
        (run_id,) = store.execute("select distinct run_id from match_ledger").fetchone()
        vias = {
            v for (v,) in store.execute("select distinct decided_via from match_ledger").fetchall()
        }
        return ledger_rows(store, run_id), vias


def test_approval_in_airflow_and_on_the_command_line_give_the_same_ledger(
    matching_dag, tmp_path, monkeypatch
):
    use_stores(monkeypatch, tmp_path / "airflow")
    through_airflow(matching_dag, E, "Approve", "李科长", {})
    in_airflow, via_airflow = ledger(tmp_path / "airflow")

    use_stores(monkeypatch, tmp_path / "cli")
    through_command_line(E, "approve", "--run", "latest", "--by", "李科长")
    on_command_line, via_cli = ledger(tmp_path / "cli")

    assert in_airflow == on_command_line
    assert {row[4:] for row in in_airflow} == {("approved", "李科长", None, True)}
    assert (via_airflow, via_cli) == ({"airflow"}, {"cli"})


def test_a_rejection_in_airflow_matches_the_command_line_and_is_never_pushed(
    matching_dag, tmp_path, monkeypatch
):
    day = E - dt.timedelta(days=1)  # a run of its own in the metadata database
    reason = "残疾证数据待核实"
    params = {"reason": reason, "policies": "cjlb"}
    use_stores(monkeypatch, tmp_path / "airflow")
    through_airflow(matching_dag, day, "Reject", "李科长", params)
    in_airflow, _ = ledger(tmp_path / "airflow")

    use_stores(monkeypatch, tmp_path / "cli")
    through_command_line(day, "reject", "--run", "latest", "--by", "李科长", "--policy", "CJLB",
                         "--reason", reason)  # fmt: skip
    on_command_line, _ = ledger(tmp_path / "cli")

    assert in_airflow == on_command_line
    cjlb = [row for row in in_airflow if row[0] == "CJLB"]
    assert cjlb and {row[4:] for row in cjlb} == {("rejected", "李科长", reason, False)}
    assert {row[4] for row in in_airflow if row[0] != "CJLB"} == {"pending"}
    push_lists = [p for p in (tmp_path / "airflow" / "push").rglob("*.csv")
                  if "reminders" not in p.parts]  # fmt: skip
    assert push_lists  # the approval step's run wrote its (header-only or GLJT…) lists
    pushed = "".join(p.read_text("utf-8") for p in push_lists)
    assert not any(row[1] in pushed for row in cjlb)


def test_a_run_with_no_pending_row_asks_no_one_and_ends_as_nothing_to_approve(
    matching_dag, tmp_path, monkeypatch, caplog
):
    day = E - dt.timedelta(days=2)  # a run of its own in the metadata database
    folder = use_stores(monkeypatch, tmp_path / "airflow")
    # the officer has already approved everything this date finds from the command line
    through_command_line(day, "approve", "--run", "latest", "--by", "李科长")
    before, _ = ledger(folder)
    assert before and {row[4] for row in before} == {"approved"}

    # an approver stands by: if the step wrongly parked, it would be answered (not hang) and
    # the states below would show approve_run as success
    approver = Approver("Reject", "李科长", {"reason": "不应被询问"}).start()
    caplog.set_level("INFO", logger="pipeline.tasks")
    try:
        run = matching_dag.test(logical_date=pendulum.datetime(day.year, day.month, day.day,
                                                               tz="Asia/Shanghai"))  # fmt: skip
    finally:
        approver.stop()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success"
    assert states == {
        "evaluate_policies": "success",
        "ask_officer": "success",
        "nothing_to_approve": "success",
        "approve_run": "skipped",
        "record_decision": "skipped",
        "write_push_lists": "skipped",
        "send_reminders": "success",
        "tags_and_payout": "success",
    }
    done = {ti.task_id: ti for ti in run.get_task_instances()}
    evaluated = done["evaluate_policies"].xcom_pull(task_ids="evaluate_policies")
    assert evaluated["pending"] == 0
    assert sum(p["new"] for p in evaluated["policies"].values()) == 0
    outcome = done["nothing_to_approve"].xcom_pull(task_ids="nothing_to_approve")
    assert outcome["decision"] == "nothing to approve"
    assert outcome["run_id"] == evaluated["run_id"]
    assert any("nothing to approve" in r.getMessage() and evaluated["run_id"] in r.getMessage()
               for r in caplog.records)  # fmt: skip
    # the ledger is as the officer left it, and this run wrote no push list
    with duckdb.connect(str(folder / "operations.duckdb"), read_only=True) as store:
        rows = store.execute(
            "select count(*), count(*) filter (where status = 'approved')"
            " from match_ledger where run_id = ?",
            [evaluated["run_id"]],
        ).fetchone()
        assert rows == (0, 0)
        assert store.execute("select count(*) from match_ledger").fetchone()[0] == len(before)
    assert not (folder / "push" / evaluated["run_id"]).exists()
