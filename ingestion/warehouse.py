"""The raw layer's tables and the load bookkeeping, and the warehouse opened for an ingestion
run (under the ground floor's writer lock: groundfloor.warehouse)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from contract import Column, Table, load_contract
from groundfloor.warehouse import connect_for_writing, writer_lock

META_DDL = [
    "CREATE SCHEMA IF NOT EXISTS raw",
    "CREATE SCHEMA IF NOT EXISTS meta",
    "CREATE SCHEMA IF NOT EXISTS landing",  # deliveries checked, not landed (ingestion.landing)
    """CREATE TABLE IF NOT EXISTS meta.loads (
        load_id VARCHAR, system VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
        status VARCHAR, message VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS meta.load_audit (
        load_id VARCHAR, system VARCHAR, table_name VARCHAR, mode VARCHAR, source VARCHAR,
        rows_read BIGINT, rows_landed BIGINT, rows_new_versions BIGINT, rows_quarantined BIGINT,
        seconds DOUBLE, watermark_before VARCHAR, watermark_after VARCHAR,
        recorded_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS meta.watermarks (
        system VARCHAR, table_name VARCHAR, cursor_column VARCHAR, value VARCHAR,
        load_id VARCHAR, updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS meta.quarantine (
        load_id VARCHAR, system VARCHAR, table_name VARCHAR, source VARCHAR, row_key VARCHAR,
        column_name VARCHAR, rule VARCHAR, raw_value VARCHAR, row_hash VARCHAR,
        change_value VARCHAR, quarantined_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS meta.schema_drift (
        load_id VARCHAR, system VARCHAR, table_name VARCHAR, column_name VARCHAR,
        change VARCHAR, detected_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS meta.files (
        system VARCHAR, file_name VARCHAR, month VARCHAR, size BIGINT, sha256 VARCHAR,
        arrival TIMESTAMP, rows BIGINT, load_id VARCHAR, recorded_at TIMESTAMP)""",
    # Files of a drop set aside, once per content (ingestion.file_problems): rejected or ignored.
    """CREATE TABLE IF NOT EXISTS meta.file_problems (
        system VARCHAR, file_name VARCHAR, month VARCHAR, status VARCHAR, reason VARCHAR,
        size BIGINT, sha256 VARCHAR, arrival TIMESTAMP, load_id VARCHAR, recorded_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS meta.snapshots (
        system VARCHAR, table_name VARCHAR, snapshot_date DATE, announced_rows BIGINT,
        delivered_rows BIGINT, status VARCHAR, message VARCHAR, load_id VARCHAR,
        decided_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS meta.alerts (
        raised_at TIMESTAMP, system VARCHAR, table_name VARCHAR, severity VARCHAR,
        kind VARCHAR, message VARCHAR, load_id VARCHAR)""",
    # The day a load was made for (the run's logical date): freshness is judged by it, so a
    # re-run of a past date is judged as of then (added in round 2; older files gain it).
    "ALTER TABLE meta.loads ADD COLUMN IF NOT EXISTS as_of DATE",
]
LOAD_COLUMNS = (
    "_load_id VARCHAR, _loaded_at TIMESTAMP, _source VARCHAR, _row_hash VARCHAR, _extra JSON"
)


# Tables without a change column, delivered whole each time (sources.yaml: mode full).
FULL_DELIVERY_TABLES = ("fr_ndxx", "jhkz")


def duck_type(column: Column) -> str:
    return {
        "int": "BIGINT",
        "date": "DATE",
        "ts": "TIMESTAMP",
        "dec": f"DECIMAL({column.precision},{column.scale})",
    }.get(column.kind, "VARCHAR")


def raw_table_ddl(table: Table) -> str:
    columns = ", ".join(f'"{c.name}" {duck_type(c)}' for c in table.columns)
    if table.name == "rk_jbxx":  # kept as change history, not a copy per day
        history = "_valid_from DATE, _valid_to DATE"
        return f"CREATE TABLE IF NOT EXISTS raw.{table.name} ({columns}, {LOAD_COLUMNS}, {history})"
    if table.name in FULL_DELIVERY_TABLES:  # read whole: a row absent from a delivery is gone
        history = "_valid_from TIMESTAMP, _valid_to TIMESTAMP"
        return f"CREATE TABLE IF NOT EXISTS raw.{table.name} ({columns}, {LOAD_COLUMNS}, {history})"
    return f"CREATE TABLE IF NOT EXISTS raw.{table.name} ({columns}, {LOAD_COLUMNS})"


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    for statement in META_DDL:
        conn.execute(statement)
    for table in load_contract().tables():
        conn.execute(raw_table_ddl(table))
    pending = load_contract().table("rk_jbxx")
    columns = ", ".join(f'"{c.name}" {duck_type(c)}' for c in pending.columns)
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS raw.rk_jbxx_pending ({columns}, _row_hash VARCHAR, "
        "_snapshot_date DATE, _load_id VARCHAR)"
    )


@contextlib.contextmanager
def writer(
    path: Path, wait_seconds: float | None = None, purpose: str = "an ingestion run"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse opened for writing, under the writer lock, raw schema in place."""
    with writer_lock(path, purpose, wait_seconds):
        conn = connect_for_writing(path)
        try:
            ensure_schema(conn)
            yield conn
        finally:
            conn.close()
