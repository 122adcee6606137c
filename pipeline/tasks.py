"""Task bodies of the pipeline, one per Airflow task. Each is idempotent for its date: loads are
incremental by watermark, dbt rebuilds its tables, publishing swaps in a whole new snapshot and
the match ledger records a (policy, subject, period) once."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any


class SourceLoadFailed(RuntimeError):
    """A source could not be loaded; raised so that Airflow retries the task."""


def ingest(system: str, as_of: dt.date) -> dict[str, Any]:
    """Load one source system into the raw layer as of `as_of` (the day the run happens)."""
    from groundfloor.settings import Settings
    from ingestion.runner import run

    settings = Settings.load()
    (result,) = run(settings.sources, settings.warehouse, [system], as_of)
    if result.status != "ok":
        raise SourceLoadFailed(f"{system}: {result.message}")
    return {
        "system": system,
        "load_id": result.load_id,
        "rows_read": result.rows_read,
        "tables": {t.table: t.rows_landed for t in result.tables},
    }


def build(as_of: dt.date) -> None:
    """dbt build (seeds, models, data and unit tests) of the warehouse as of `as_of`."""
    from groundfloor.settings import Settings
    from transform.dbt import build as dbt_build

    dbt_build(Settings.load().warehouse, as_of, target=dbt_target())


def publish(as_of: dt.date) -> dict[str, Any]:
    """Swap in a new published snapshot and the dbt docs."""
    from groundfloor.settings import Settings
    from transform import docs
    from transform.publish import publish as publish_snapshot

    settings = Settings.load()
    snapshot = publish_snapshot(settings.warehouse, settings.published, as_of)
    docs.publish_docs(docs.generate(settings.warehouse, as_of), settings.published_docs)
    return {"snapshot_id": snapshot.snapshot_id, "tables": snapshot.tables, "rows": snapshot.rows}


def close_months(day: dt.date) -> dict[str, Any]:
    """The monthly close after publish (kpis.md v2): every month whose close day is on or
    before the run's logical date and that has not closed is recorded at the published values;
    the restatements are refreshed; the operations store is published for the dashboards."""
    from closing.ledger import close
    from groundfloor.settings import Settings, close_settings, quality_paths
    from quality.runner import publish_operations

    store, published_operations, _ = quality_paths()
    closed = close(store, Settings.load().published, day, close_settings().close_workday)
    publish_operations(store, published_operations)
    return {
        "day": day.isoformat(),
        "closed": [
            {"month": f"{c.month:%Y-%m}", "due_on": c.due_on.isoformat(), "rows": c.kpi_rows}
            for c in closed
        ],
    }


def kpi_alerts(day: dt.date) -> dict[str, Any]:
    """KPI alerts of the latest closed month (kpis.md v2), each (KPI, region, month, reason)
    once, through the alert channel (recorded in task_alerts, shown on the quality
    dashboard's alert list)."""
    from closing.kpi_alerts import raise_new
    from groundfloor.settings import close_settings, quality_paths
    from pipeline.alerts import Alert, ensure_table, raise_alert
    from quality.runner import publish_operations

    store, published_operations, _ = quality_paths()
    ensure_table(store)
    new = raise_new(store, day, close_settings())
    for alert in new:
        raise_alert(
            Alert(
                "warning",
                "warehouse",
                "kpi_alerts",
                f"kpi:{alert.kpi_id}:{alert.region_code}:{alert.month:%Y-%m}:{alert.reason}",
                day.isoformat(),
                1,
                alert.message,
            )
        )
    publish_operations(store, published_operations)
    return {"day": day.isoformat(), "raised": [a.message for a in new]}


def dbt_target() -> str:
    from groundfloor.settings import environment

    return environment().get("DBT_TARGET", "demo")


def published_snapshot_id() -> str | None:
    """The id of the snapshot dashboards currently read (None before the first publish)."""
    import duckdb

    from groundfloor.settings import Settings

    published = Settings.load().published
    if not published.exists():
        return None
    conn = duckdb.connect(str(published), read_only=True)
    try:
        return conn.execute("SELECT snapshot_id FROM main_reference.snapshot_info").fetchall()[0][0]
    finally:
        conn.close()


def evaluate_policies(on: dt.date) -> dict[str, Any]:
    """Evaluate every policy as of E = `on`; refused policy files raise an alert, the others run."""
    from groundfloor.settings import Settings, matching_paths, quality_paths
    from matching import approval
    from matching.engine import evaluate
    from pipeline.alerts import Alert, raise_alert
    from quality.runner import publish_operations

    operations, push = matching_paths()
    result = evaluate(
        on, Settings.load().warehouse, operations, push, snapshot_id=published_snapshot_id()
    )
    # the 免申即享 dashboard reads the published copy: without this it would show the
    # matching of the day before (the quality gate, which runs first, publishes too)
    publish_operations(operations, quality_paths()[1])
    for error in result.errors:
        raise_alert(
            Alert(
                "warning",
                "policy_matching",
                "evaluate_policies",
                result.run_id,
                on.isoformat(),
                1,
                error,
            )
        )
    failed = [s for s in result.summaries if s.outcome == "failed"]
    if failed:
        raise RuntimeError("; ".join(f"{s.code}: {s.message}" for s in failed))
    return {
        "run_id": result.run_id,
        "push_dir": str(result.push_dir),
        "approval_body": approval_body(result),
        "pending": approval.status_counts(operations, result.run_id).get("pending", 0),
        "policies": {
            s.code: {
                "matches": s.matches,
                "new": s.new,
                "near_misses": s.near_misses,
                "new_amount": float(s.new_amount),
            }
            for s in result.summaries
        },
    }


def approval_body(result) -> str:
    """What the officer reads in Airflow's Required Actions page before deciding (Markdown)."""
    lines = [
        f"评估日期 E = {result.evaluation_date}，运行 `{result.run_id}`。",
        "",
        "| 政策 | 期间 | 新增待审批 | 金额（元） | 数据缺失 |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {s.code} {s.name} | {s.period or ''} | {s.new} | {s.new_amount:,.2f} "
        f"| {s.near_misses} |"
        for s in result.summaries
    ]
    lines += [
        "",
        "批准后写出推送名单；驳回须填写原因，驳回的记录永不推送。",
        f"命令行同样可审批：`python -m matching approve --run {result.run_id} --by 姓名`。",
    ]
    return "\n".join(lines)


def ask_officer(evaluated: dict[str, Any]) -> str:
    """The approval step's branch: ask an officer (`approve_run`) only when the run left rows
    pending; a run that found nothing new goes to `nothing_to_approve`."""
    return "approve_run" if evaluated.get("pending") else "nothing_to_approve"


def nothing_to_approve(evaluated: dict[str, Any]) -> dict[str, Any]:
    """A run with no pending row: no one is asked, no push list is written; logged."""
    message = (
        f"免申即享 run {evaluated['run_id']}: no new ledger row is pending, nothing to approve;"
        " no officer is asked and no push list is written"
    )
    logging.getLogger(__name__).info(message)
    return {"decision": "nothing to approve", "run_id": evaluated["run_id"], "message": message}


def record_decision(evaluated: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """Write the officer's answer to the approval step into the ledger, as the command line
    would (matching.approval); rows already decided there are left as they are."""
    from groundfloor.settings import matching_paths
    from matching import approval

    operations, _ = matching_paths()
    params = response.get("params_input") or {}
    codes = tuple(c.strip().upper() for c in (params.get("policies") or "").split(",") if c.strip())
    selection = approval.Selection(evaluated["run_id"], codes)
    officer = approval.Officer(response["responded_by_user"]["name"], "airflow")
    chosen = response["chosen_options"][0]
    if chosen == "Approve":
        count = approval.approve(operations, selection, officer)
    else:
        reason = (params.get("reason") or "").strip() or "在审批步骤中驳回（未填写原因）"
        count = approval.reject(operations, selection, officer, reason)
    return {"decision": chosen, "by": officer.name, "rows": count, "policies": list(codes)}


def write_push_lists(evaluated: dict[str, Any]) -> dict[str, Any]:
    """Push lists of the run's approved rows (none leave for pending or rejected rows)."""
    from groundfloor.settings import matching_paths, quality_paths
    from matching import approval
    from quality.runner import publish_operations

    operations, push = matching_paths()
    files = approval.release(operations, push, evaluated["run_id"])
    publish_operations(operations, quality_paths()[1])  # the dashboard shows the decisions
    return {
        "push_dir": str(push / evaluated["run_id"]),
        "files": [str(f) for f in files],
        "ledger": approval.status_counts(operations, evaluated["run_id"]),
    }


def send_reminders(on: dt.date) -> dict[str, Any]:
    """The reminders due on E (主动提醒): each (reminder, subject, occasion) once, and the lists."""
    from groundfloor.settings import Settings, matching_paths
    from matching.reminders import remind

    operations, push = matching_paths()
    run = remind(Settings.load().warehouse, operations, push / "reminders", on)
    return {"run_id": run.run_id, "new": run.new, "lists": str(push / "reminders" / run.run_id)}


def tags_and_payout(on: dt.date) -> dict[str, Any]:
    """The policy officer's views of E: the tags (千人千面) and K23 payout with the median days
    to pay, into the operations store, published for the 免申即享 dashboard."""
    from groundfloor.settings import Settings, matching_paths, quality_paths
    from matching.payout import record_payout
    from matching.tags import evaluate_tags
    from quality.runner import publish_operations

    operations, _ = matching_paths()
    warehouse = Settings.load().warehouse
    tagged = evaluate_tags(warehouse, operations, on)
    payout_rows = record_payout(warehouse, operations, on)
    publish_operations(operations, quality_paths()[1])
    return {"tags": tagged, "payout_rows": payout_rows}


def quality_gate(as_of: dt.date) -> dict[str, Any]:
    """Run the quality step on the working warehouse; when critical expectations fail, raise an
    alert naming them and QualityGateFailed, so publish does not run and the last good
    snapshot stays served. Warnings never block. The operations store is published either way.
    """
    from groundfloor.settings import Settings
    from pipeline.alerts import Alert, raise_alert
    from quality.runner import QualityGateFailed, publish_operations, run_quality

    run = run_quality(Settings.load().warehouse, as_of)
    if not run.passed:
        failed = ", ".join(text.split(":")[0] for text in run.critical_failures)
        message = f"quality gate held back the build of {as_of}: {failed}. " + "; ".join(
            run.critical_failures
        )
        day = as_of.isoformat()
        raise_alert(Alert("critical", "warehouse", "quality_gate", run.run_id, day, 1, message))
        publish_operations(run.operations_store, run.published_operations)  # the alert too
        raise QualityGateFailed(run)
    return {
        "run_id": run.run_id,
        "passed": True,
        "failed": [],
        **run.counts(),
        "warnings": run.warnings,
        "data_docs": str(run.data_docs),
    }


def sharing_snapshot() -> dict[str, Any]:
    """数据共享: load the consumers and grants under version control into the sharing store, then
    build the sharing snapshot from the freshly published warehouse and swap it in."""
    from sharing.operations import build_sharing_snapshot, load_registry, open_store

    store = open_store()
    try:
        consumers, grants = load_registry(store)
        info = build_sharing_snapshot(store)
    finally:
        store.dispose()
    return {
        "snapshot_id": info.snapshot_id,
        "published_snapshot_id": info.published_snapshot_id,
        "as_of_date": info.as_of_date,
        "consumers": consumers,
        "grants": grants,
        "rows": info.rows,
    }


def sharing_backflow(day: dt.date) -> dict[str, Any]:
    """回流: each district office's granted extract of the current sharing snapshot, then the
    usage counts (audit log) published for the dashboard."""
    from sharing.operations import deliver_backflow, open_store, publish_sharing_usage

    store = open_store()
    try:
        deliveries = deliver_backflow(store, day)
        publish_sharing_usage(store)  # the usage dashboard shows the deliveries just made
    finally:
        store.dispose()
    return {
        "deliveries": [
            {
                "consumer": d.consumer_id,
                "grant": d.grant_id,
                "rows": d.rows,
                "folder": str(d.folder),
            }
            for d in deliveries
        ]
    }
