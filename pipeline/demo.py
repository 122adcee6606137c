"""`make demo`'s last step: run the whole chain through Airflow for the demo city's date and end
with a one-screen summary.

    python -m pipeline.demo [--date YYYY-MM-DD]   (default: the demo city's clock)

Airflow's own log (every task's output, dbt's included) goes to data/airflow/demo.log; the
screen shows progress and the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from groundfloor.process import exit_quietly
from groundfloor.settings import Settings, matching_paths, sharing_settings

AIRFLOW_HOME = Path("data/airflow")


def city_date(city: Path) -> dt.date:
    return dt.date.fromisoformat(json.loads((city / "city.json").read_text())["clock"][:10])


@contextlib.contextmanager
def output_to(log: Path):
    """Send this process's stdout/stderr (Airflow's and dbt's logs) to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(1), os.dup(2)
    with open(log, "a", encoding="utf-8") as handle:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run(day: dt.date, console: Console):
    import pendulum

    from pipeline.airflow_setup import migrate_and_create_pool, use_airflow_home

    use_airflow_home(AIRFLOW_HOME)
    log = AIRFLOW_HOME / "demo.log"
    started = time.perf_counter()
    preparing = "preparing Airflow (metadata database, writer pool)…"
    with console.status(preparing) as status, output_to(log):
        migrate_and_create_pool()
        from pipeline.chain import run_chain

        def announce(dag_id: str) -> None:
            status.update(f"Airflow DAG run: {dag_id} ({time.perf_counter() - started:.0f} s)")

        result = run_chain(
            pendulum.datetime(day.year, day.month, day.day, tz="Asia/Shanghai"),
            announce=announce,
        )
    elapsed = time.perf_counter() - started
    done = f"chain ran through Airflow in {elapsed:.0f} s; log: {log.resolve()}"
    console.print(done, soft_wrap=True)
    return result


KPI_IDS = tuple(f"K{n}" for n in range(1, 23))


def kpi_table(published: Path) -> tuple[Table, set[str]]:
    """The KPI summary table and the KPIs it shows."""
    import duckdb

    conn = duckdb.connect(str(published), read_only=True)
    try:
        rows = conn.execute(KPI_SUMMARY_SQL).fetchall()
        as_of = conn.execute("SELECT as_of_date FROM main_reference.snapshot_info").fetchall()[0][0]
    finally:
        conn.close()
    table = Table(title=f"政务服务效能 KPIs, latest complete month of each (数据截至 {as_of})")
    for heading in (
        "KPI",
        "指标",
        "month",
        "value",
        "target",
        "vs target",
        "numerator / denominator",
    ):
        table.add_column(heading)
    for kpi, name, month, num, den, target, better in rows:
        value = num / den if den else None
        table.add_row(
            kpi,
            name,
            f"{month:%Y-%m}",
            "n/a" if value is None else f"{value:.1%}",
            "—" if target is None else f"{'≤' if better == 'lower' else '≥'}{float(target):.0%}",
            verdict(value, target, better),
            f"{num:,} / {den:,}",
        )
    return table, {row[0] for row in rows}


def verdict(value: float | None, target, better: str) -> str:
    """met / missed by the KPI's `better` direction (kpis.md v2); monitored without a target."""
    if target is None:
        return "monitored"
    if value is None:
        return "–"
    met = value <= float(target) if better == "lower" else value >= float(target)
    return "met" if met else "missed"


# Each KPI at the city level (region ALL), summed over departments, items and channels, for
# its latest month that ended before the data's as-of date (好差评 ratings of a month arrive in
# the next month, so K8/K9 may be a month behind).
KPI_SUMMARY_SQL = """
WITH city AS (
    SELECT kpi_id, any_value(kpi_name_zh) AS name, month, sum(numerator) AS numerator,
        sum(denominator) AS denominator, any_value(target) AS target,
        any_value(better) AS better
    FROM main_marts.kpi_monthly
    WHERE region_code = 'ALL'
        AND month + INTERVAL 1 MONTH <= (SELECT as_of_date + 1 FROM main_reference.snapshot_info)
    GROUP BY kpi_id, month
)
SELECT kpi_id, name, month, numerator, denominator, target, better
FROM city
QUALIFY month = max(month) OVER (PARTITION BY kpi_id)
ORDER BY CAST(substr(kpi_id, 2) AS INTEGER)
"""


def matching_table(outputs: dict) -> Table:
    table = Table(title="免申即享 policy matching")
    for heading in ("policy", "matches", "new notices", "near misses", "new amount (元)"):
        table.add_column(heading)
    policies = outputs.get("policy_matching.evaluate_policies", {}).get("policies", {})
    for code, s in policies.items():
        table.add_row(
            code,
            f"{s['matches']:,}",
            f"{s['new']:,}",
            f"{s['near_misses']:,}",
            f"{s['new_amount']:,.0f}",
        )
    return table


def approval_lines(outputs: dict) -> tuple[list[str], list[str]]:
    """What the officer did with the run: the command-line approval, the Airflow step's answer
    and the ledger's rows by status; and what is wrong with it."""
    approval = outputs.get("policy_matching.approval", {})
    decision = outputs.get("policy_matching.record_decision", {})
    pushed = outputs.get("policy_matching.write_push_lists", {})
    nothing = outputs.get("policy_matching.nothing_to_approve", {})
    lines = [
        line.strip() for line in approval.get("command_line", "").splitlines() if "approved" in line
    ]
    if decision:
        lines.append(
            f"Airflow approval step: {decision['decision']} by {decision['by']}"
            f" ({decision['rows']} rows still pending then)"
        )
    if nothing:
        lines.append(f"Airflow approval step: {nothing['decision']} (no officer asked)")
    if pushed:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(pushed.get("ledger", {}).items()))
        lines.append(f"ledger rows of the run: {counts or 'none'}")
    problems = []
    if approval.get("errors"):
        problems.append(f"approval: {approval['errors'].strip().splitlines()[-1]}")
    if pushed.get("ledger", {}).get("pending"):
        problems.append("approval: rows of the run are still pending")
    return lines, problems


def summary(result, console: Console) -> list[str]:
    """Print the summary; return what is wrong with the run (empty when all is well)."""
    settings = Settings.load()
    problems = [f"DAG {d}: {s}" for d, s in result.states.items() if s != "success"]
    states = Table(title="Airflow DAG runs")
    states.add_column("DAG")
    states.add_column("state")
    for dag_id, state in result.states.items():
        failed = ", ".join(result.failed_tasks.get(dag_id) or [])
        states.add_row(dag_id, state + (f" (failed: {failed})" if failed else ""))
    console.print(states)
    shown: set[str] = set()
    if settings.published.exists():
        table, shown = kpi_table(settings.published)
        console.print(table)
    if missing := [k for k in KPI_IDS if k not in shown]:
        problems.append(f"KPIs missing from the summary: {', '.join(missing)}")
    console.print(matching_table(result.outputs))
    approved, approval_problems = approval_lines(result.outputs)
    for line in approved:
        console.print(f"审批 {line}", highlight=False)
    problems += approval_problems
    gate = result.outputs.get("warehouse.quality_gate", {})
    console.print(f"quality gate: {gate_verdict(gate)}")
    operations, push = matching_paths()
    push_dir = result.outputs.get("policy_matching.write_push_lists", {}).get("push_dir", push)
    data_docs = gate.get("data_docs")
    for label, where in [
        ("warehouse (restricted)", settings.warehouse.resolve()),
        ("published snapshot", settings.published.resolve()),
        ("dbt docs", page_url(settings.published_docs / "index.html")),
        ("Data Docs", page_url(Path(data_docs)) if data_docs else "(quality step not run)"),
        ("operations store", Path(operations).resolve()),
        ("push lists", Path(push_dir).resolve()),
    ]:
        # unwrapped, so that a long path stays one piece to copy or click
        console.print(f"  {label:24} {where}", soft_wrap=True, highlight=False)
    problems += sharing_summary(result, console)
    for problem in problems:
        console.print(f"[red]problem:[/red] {problem}")
    return problems


def sharing_summary(result, console: Console) -> list[str]:
    """数据共享: one verification, one query and one denial against the service started for a
    moment on the sharing snapshot the chain built, and the chain's 回流 deliveries."""
    from sharing.demo import demo_resident, exercise, issue_demo_keys, service_for_a_moment
    from sharing.operations import open_store

    deliveries = result.outputs.get("data_sharing.backflow", {}).get("deliveries", [])
    table = Table(title="数据共享 data sharing (every call audited)")
    table.add_column("what")
    table.add_column("answer")
    for delivery in deliveries:
        table.add_row(
            f"回流 {delivery['consumer']} {delivery['grant']}", f"{delivery['rows']:,} rows"
        )
    problems = [] if deliveries else ["no 回流 delivery was written"]
    resident = demo_resident(Settings.load().warehouse)
    if resident is None or result.states.get("data_sharing") != "success":
        console.print(table)
        return [*problems, "the sharing service was not exercised (no snapshot or resident)"]
    store = open_store()
    try:
        keys = issue_demo_keys(store)
        with service_for_a_moment(AIRFLOW_HOME / "sharing-demo.log") as base:
            calls = exercise(base, keys, resident)
        chain = store.verify_chain()
    finally:
        store.dispose()
    for label, want in (("verification", 200), ("query", 200), ("denial", 403)):
        status, body = calls[label]
        table.add_row(
            f"{label} ({calls['subject']})", f"{status} {json.dumps(body, ensure_ascii=False)}"
        )
        if status != want:
            problems.append(f"sharing {label} answered {status}, expected {want}")
    table.add_row(
        "audit chain", f"{chain.records:,} records, intact" if chain.intact else str(chain)
    )
    console.print(table)
    settings = sharing_settings()
    console.print(f"  {'sharing snapshot':24} {settings.snapshot}")
    console.print(f"  {'回流 extracts':24} {settings.backflow_dir}")
    return problems if chain.intact else [*problems, f"audit chain broken: {chain.problem}"]


def page_url(page: Path) -> str:
    """A page to open, as a file:// URL a terminal makes clickable from any directory."""
    return page.resolve().as_uri()


def gate_verdict(gate: dict) -> str:
    if not gate:
        return "not run"
    return (
        "passed, snapshot published"
        if gate.get("passed")
        else "HELD BACK: " + str(gate.get("failed", "critical expectations failed"))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    console = Console()
    day = args.date or city_date(Settings.load().city_dir)
    result = run(day, console)
    problems = summary(result, console)
    return 0 if result.ok and not problems else 1


if __name__ == "__main__":
    exit_quietly(main())
