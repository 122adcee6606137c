"""The population base's daily snapshot (rk_jbxx), guarded by its control rows (D15).

A snapshot is read only when `jhkz` announces it complete (WCBZ = '1'); one whose row count
differs from the announced JLS is refused; one that shrinks by more than 5 % against the last
applied snapshot is held in `raw.rk_jbxx_pending` until an operator confirms it. An applied
snapshot becomes change history in `raw.rk_jbxx` (rows valid from / to), never a daily copy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from contract import load_contract
from ingestion.batch import Batch
from ingestion.config import TableConfig
from ingestion.connectors.sql import SqlConnector
from ingestion.landing import (
    INTERNAL,
    Checked,
    TableResult,
    check_chunks,
    now,
    record,
    record_checks,
)

SHRINK_LIMIT = 0.05


def _alert(conn, system, table, kind, message, load_id, severity="critical") -> None:
    conn.execute(
        "INSERT INTO meta.alerts VALUES (?, ?, ?, ?, ?, ?, ?)",
        [now(), system, table, severity, kind, message, load_id],
    )


def _decide(conn, system, table, day, announced, delivered, status, message, load_id) -> None:
    conn.execute(
        "INSERT INTO meta.snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [system, table, day, announced, delivered, status, message, load_id, now()],
    )


def last_applied(conn, table: str) -> tuple[dt.date | None, int | None]:
    rows = conn.execute(
        "SELECT snapshot_date, delivered_rows FROM meta.snapshots WHERE table_name = ? AND "
        "status = 'applied' ORDER BY snapshot_date DESC, decided_at DESC LIMIT 1",
        [table],
    ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def _complete_deliveries(connector: SqlConnector, table: TableConfig) -> pl.DataFrame:
    control = connector.read(f"SELECT * FROM {connector.relation(table.control)}")
    return (
        control.filter((pl.col("BM") == table.name) & (pl.col("WCBZ").cast(pl.Utf8) == "1"))
        .with_columns(pl.col("SJRQ").cast(pl.Utf8).str.slice(0, 10))
        .sort("SJRQ")
    )


@dataclass
class SnapshotPlan:
    """What a load will do with the population snapshot, decided before its transaction
    (the rows, when they are to be applied or held, already checked into scratch tables)."""

    result: TableResult
    decisions: list[tuple] = field(default_factory=list)  # (day, announced, delivered, status,
    # message, alert kind or None)
    checked: Checked | None = None
    action: str | None = None  # "apply" | "hold" | None
    day: dt.date | None = None


def stage_snapshot(
    conn, connector: SqlConnector, table: TableConfig, load_id: str, as_of: dt.date | None
) -> SnapshotPlan:
    """Decide on the newest complete snapshot and check its rows; writes nothing that counts
    (`apply_snapshot` does, inside the load's transaction)."""
    source = connector.relation(table.name)
    plan = SnapshotPlan(TableResult(connector.system, table.name, "snapshot", source))
    complete = _complete_deliveries(connector, table)
    applied, applied_rows = last_applied(conn, table.name)
    expected = as_of - dt.timedelta(days=1) if as_of else None
    if expected and (complete.is_empty() or complete["SJRQ"][-1] < expected.isoformat()):
        seen = conn.execute(
            "SELECT COUNT(*) FROM meta.snapshots WHERE table_name = ? AND "
            "snapshot_date = ? AND status = 'missing'",
            [table.name, expected],
        ).fetchall()[0][0]
        if not seen:
            message = (
                f"no complete {table.control} row for {table.name} on {expected}: "
                f"the snapshot of {applied} stays in force"
            )
            plan.decisions.append((expected, None, None, "missing", message, "snapshot_missing"))
        plan.result.note = "snapshot missing"
    if complete.is_empty():
        return plan
    day = dt.date.fromisoformat(complete["SJRQ"][-1])
    announced = int(complete["JLS"][-1])
    if applied is not None and day <= applied:
        return plan
    delivered = connector.count(table.name)
    if delivered != announced:
        message = (
            f"{table.name} snapshot of {day} refused: {delivered} rows delivered, "
            f"{announced} announced in {table.control}"
        )
        plan.decisions.append((day, announced, delivered, "refused", message, "snapshot_refused"))
        plan.result.note = "refused"
        return plan
    _check(conn, connector, table, load_id, plan)
    plan.day = day
    if applied_rows and delivered < applied_rows * (1 - SHRINK_LIMIT):
        message = (
            f"{table.name} snapshot of {day} held back: {delivered} rows against "
            f"{applied_rows} in force (more than {SHRINK_LIMIT:.0%} fewer); confirm with "
            f"`python -m ingestion confirm-snapshot --date {day}`"
        )
        plan.decisions.append((day, announced, delivered, "held", message, "snapshot_shrinking"))
        plan.action, plan.result.note = "hold", "held"
        return plan
    plan.decisions.append((day, announced, delivered, "applied", None, None))
    plan.action = "apply"
    return plan


def _check(conn, connector: SqlConnector, table: TableConfig, load_id: str, plan) -> None:
    result = plan.result
    chunks = (
        Batch(connector.system, table.name, frame, result.source, mode="snapshot")
        for frame in connector.stream(f"SELECT * FROM {connector.relation(table.name)}")
    )
    plan.checked, result.drift, _ = check_chunks(conn, chunks, load_id)
    result.rows_read, result.rows_quarantined = plan.checked.rows, plan.checked.bad_count
    result.rows_landed = plan.checked.rows - plan.checked.bad_count


def apply_snapshot(conn, plan: SnapshotPlan, load_id: str) -> TableResult:
    """Write what `stage_snapshot` decided, inside the load's transaction."""
    result, system = plan.result, plan.result.system
    if plan.checked is not None:
        record_checks(conn, plan.checked, system, result.table, result.drift, load_id)
    if plan.action == "hold":
        _hold(conn, plan.checked, plan.day, load_id)
    elif plan.action == "apply":
        result.rows_new_versions = apply_history(
            conn, plan.checked.good_rows(), plan.day, load_id, result.source
        )
    for day, announced, delivered, status, message, alert in plan.decisions:
        _decide(conn, system, result.table, day, announced, delivered, status, message, load_id)
        if alert:
            _alert(conn, system, result.table, alert, message, load_id)
    record(conn, result, load_id)
    return result


def _hold(conn, checked, day: dt.date, load_id: str) -> None:
    columns = ", ".join(f'"{c}"' for c in load_contract().table("rk_jbxx").column_names)
    conn.execute("DELETE FROM raw.rk_jbxx_pending")
    conn.execute(
        f"INSERT INTO raw.rk_jbxx_pending SELECT {columns}, _row_hash, ?, ? "
        f"FROM ({checked.good_rows()})",
        [day, load_id],
    )


def apply_history(conn, rows: str, day: dt.date, load_id: str, source: str) -> int:
    """Close the versions that left or changed, open the ones that came or changed.
    `rows` is a query of the snapshot's rows to apply (quarantined ones left out)."""
    columns = ", ".join(f'"{c}"' for c in load_contract().table("rk_jbxx").column_names)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE snapshot_in AS {rows}")
    conn.execute(
        "UPDATE raw.rk_jbxx SET _valid_to = ? WHERE _valid_to IS NULL AND "
        "_row_hash NOT IN (SELECT _row_hash FROM snapshot_in)",
        [day],
    )
    before = conn.execute("SELECT COUNT(*) FROM raw.rk_jbxx").fetchall()[0][0]
    conn.execute(
        f"INSERT INTO raw.rk_jbxx ({columns}, _load_id, _loaded_at, _source, _row_hash, _extra, "
        f"_valid_from, _valid_to) SELECT DISTINCT ON (_row_hash) {columns}, ?, ?, ?, _row_hash, "
        f"_extra, ?, NULL FROM snapshot_in WHERE _row_hash NOT IN "
        f"(SELECT _row_hash FROM raw.rk_jbxx WHERE _valid_to IS NULL)",
        [load_id, now(), source, day],
    )
    return conn.execute("SELECT COUNT(*) FROM raw.rk_jbxx").fetchall()[0][0] - before


def confirm_pending(conn, day: dt.date, load_id: str) -> int:
    """An operator's confirmation: apply the held snapshot of `day`."""
    held = conn.execute("SELECT COUNT(*), MIN(_snapshot_date) FROM raw.rk_jbxx_pending").fetchall()[
        0
    ]
    if not held[0] or held[1] != day:
        raise ValueError(f"no snapshot of {day} is held back (held: {held[1] or 'none'})")
    columns = ", ".join(f'"{c}"' for c in load_contract().table("rk_jbxx").column_names)
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE pending_rows AS SELECT {columns}, _row_hash, "
        f"CAST(NULL AS JSON) AS _extra, 0 AS {INTERNAL} FROM raw.rk_jbxx_pending"
    )
    added = apply_history(conn, "SELECT * FROM pending_rows", day, load_id, "confirmed by operator")
    row = conn.execute(
        "SELECT announced_rows, delivered_rows FROM meta.snapshots WHERE "
        "snapshot_date = ? AND status = 'held' ORDER BY decided_at DESC LIMIT 1",
        [day],
    ).fetchall()
    row = row[0] if row else None
    _decide(
        conn,
        "population_base",
        "rk_jbxx",
        day,
        row[0] if row else None,
        held[0],
        "applied",
        "confirmed by operator",
        load_id,
    )
    conn.execute("DELETE FROM raw.rk_jbxx_pending")
    return added
