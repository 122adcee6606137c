"""The warehouse file: its writer lock, the raw layer's tables and the load bookkeeping.

DuckDB allows one writer process per file. Every process that writes the warehouse takes an
exclusive advisory lock on `<warehouse>.lock` first and holds it until it has committed and
closed the file; a second run waits (up to `wait_seconds`) and then stops with a message
naming the holder, so concurrent runs queue instead of fighting over the file. Airflow adds a
pool of size one on top (issue 7); the lock keeps hand-started runs safe as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from contract import Column, Table, load_contract
from ingestion.settings import duckdb_settings

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
]
LOAD_COLUMNS = (
    "_load_id VARCHAR, _loaded_at TIMESTAMP, _source VARCHAR, _row_hash VARCHAR, _extra JSON"
)


# Tables without a change column, delivered whole each time (sources.yaml: mode full).
FULL_DELIVERY_TABLES = ("fr_ndxx", "jhkz")


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse's writer lock."""


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


def restrict(path: Path) -> None:
    """Make the working warehouse readable by its owner only.

    It holds the sources' names, identity numbers and phones as delivered (the raw layer lands
    unchanged), so it is the restricted file: 0600, and so is its write-ahead log. (A directory
    the warehouse creates is 0700; an existing one is left as the operator set it.) Only the
    published snapshot is for other readers.
    """
    for file in (path, path.with_name(path.name + ".wal")):
        if file.exists():
            file.chmod(0o600)


@contextlib.contextmanager
def writer(path: Path, wait_seconds: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse opened for writing, under the writer lock, schema in place."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _lock(path.with_name(path.name + ".lock"), wait_seconds):
        conn = duckdb.connect(str(path))
        restrict(path)
        try:
            conn.execute("SET TimeZone = 'Asia/Shanghai'")
            for statement in duckdb_settings().statements():
                conn.execute(statement)
            ensure_schema(conn)
            yield conn
        finally:
            conn.close()


def open_operations_store(path: Path, attempts: int = 20) -> duckdb.DuckDBPyConnection:
    """The operations store opened for writing. Matching, quality and the alerts write it; one
    of them may hold it for a moment, so wait rather than fail the run. All open it with the
    pipeline's limits: DuckDB refuses a second connection to one file with other settings in
    the same process (an alert raised while matching holds it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        try:
            return duckdb.connect(str(path), config=duckdb_settings().config())
        except duckdb.IOException:  # another process is writing the store
            time.sleep(0.5 * (attempt + 1))
    raise RuntimeError(f"operations store {path} stayed locked")


@contextlib.contextmanager
def _lock(lock_path: Path, wait_seconds: float) -> Iterator[None]:
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise WarehouseBusy(
                        f"the warehouse is being written by {holder}; waited {wait_seconds:.0f} s"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
