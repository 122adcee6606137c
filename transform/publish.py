"""Publish the warehouse's marts as a read-only snapshot for dashboards and officers.

The snapshot is a new DuckDB file holding only `main_marts` and `main_reference` (keys and
masked forms, never a raw name, number or phone); it replaces the served file with an atomic
`os.replace`, so a reader sees the old snapshot or the new one, never a half-written file, and
the served file is never opened for writing (a writer's lock would break readers).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from groundfloor.settings import duckdb_settings
from groundfloor.warehouse import writer_lock

PUBLISHED_SCHEMAS = ("main_marts", "main_reference")
SNAPSHOT_TABLE = "main_reference.snapshot_info"


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    path: Path
    tables: int
    rows: int


def published_tables(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = 'working' AND schema_name IN (SELECT unnest(?)) "
        "ORDER BY 1, 2",
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall()


def copy_tables(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    tables = published_tables(conn)
    rows = 0
    for schema in PUBLISHED_SCHEMAS:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    for schema, table in tables:
        conn.execute(
            f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM working."{schema}"."{table}"'
        )
        rows += conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
    return len(tables), rows


def record_snapshot(conn, snapshot_id: str, working: Path, as_of: dt.date | None) -> None:
    conn.execute(
        f"CREATE TABLE {SNAPSHOT_TABLE} AS SELECT ? AS snapshot_id, "
        "current_localtimestamp() AS published_at, CAST(? AS DATE) AS as_of_date, "
        "? AS working_warehouse",
        [snapshot_id, as_of, working.name],
    )


def publish(working: Path, published: Path, as_of: dt.date | None = None) -> Snapshot:
    """Copy the published schemas of `working` into a new file and swap it in at `published`."""
    working, published = Path(working), Path(published)
    if not working.exists():
        raise FileNotFoundError(f"no warehouse at {working}: run the ingestion and dbt first")
    published.parent.mkdir(parents=True, exist_ok=True)
    snapshot_id = uuid.uuid4().hex
    staging = published.with_name(f".{published.name}.{snapshot_id}")
    # Reading the working file needs it free of writers: the publish queues behind them.
    with writer_lock(working, "publish"):
        conn = duckdb.connect(str(staging), config=duckdb_settings().config())
        try:
            conn.execute(f"ATTACH '{working}' AS working (READ_ONLY)")
            tables, rows = copy_tables(conn)
            record_snapshot(conn, snapshot_id, working, as_of)
            conn.execute("DETACH working")
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
    staging.chmod(0o644)
    os.replace(staging, published)
    return Snapshot(snapshot_id, published, tables, rows)
