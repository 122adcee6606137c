"""The 12345 hotline vendor's own store of work orders: one SQLite file per city.

The vendor keeps work orders in a plain table with the contract's columns (all TEXT,
timestamps as naive Asia/Shanghai text ``YYYY-MM-DD HH:MM:SS``) and no unique constraint,
like a real vendor export. The simulator writes it; :mod:`simulator.hotline_server`
serves it over HTTP. Nothing here knows about HTTP.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from contract import Table, load_contract

SYSTEM = "hotline_12345"
TABLE = "work_orders"
# Long enough that a reader (the server) and a writer (`advance`) wait for each other
# instead of failing with "database is locked".
BUSY_TIMEOUT_MS = 30_000
# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for
# every date the city has and needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def work_orders_table() -> Table:
    return load_contract().systems[SYSTEM].tables[TABLE]


def column_names() -> list[str]:
    """The store's columns: exactly the contract's, in the contract's order."""
    return work_orders_table().column_names


def store_path(city_dir: str | Path) -> Path:
    return Path(city_dir) / "hotline" / "work_orders.sqlite"


def unsynced(conn: sqlite3.Connection) -> None:
    """No fsync at each commit: the simulator's files are rebuilt from their config if the
    machine fails mid-write, and a generate commits its work orders once a day of the city
    (an fsync each cost more than the day's inserts)."""
    conn.execute("PRAGMA synchronous = OFF")


def open_store(path: str | Path, create: bool = False) -> sqlite3.Connection:
    """Open the store for writing; with ``create``, make its folder and table first."""
    path = Path(path)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        # sqlite3.connect would silently create an empty file and hide the mistake.
        raise FileNotFoundError(f"no hotline store at {path}")
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    unsynced(conn)
    if create:
        # The default rollback journal (not WAL) leaves one self-contained, deterministic
        # file once the connection is closed.
        conn.execute("PRAGMA journal_mode = DELETE")
        _create_table(conn)
    return conn


def _create_table(conn: sqlite3.Connection) -> None:
    columns = ", ".join(f'"{name}" TEXT' for name in column_names())
    with conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})")
        # The API filters and orders by (updated_at, gdbh).
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {TABLE}_updated_at_gdbh ON {TABLE} (updated_at, gdbh)"
        )


def write_orders(conn: sqlite3.Connection, rows: Iterable[Sequence], new_only: bool = False) -> int:
    """Insert or replace work orders by gdbh; rows are in contract column order.

    Any existing row with the same gdbh is deleted first (the table has no unique
    constraint). Within one call the last row of a gdbh wins. Returns rows written.
    `new_only` says that no row's gdbh is in the store yet (a city being generated): the
    delete, a pass over the whole table, is then skipped.
    """
    names = column_names()
    key_at = names.index("gdbh")
    latest = {}
    for row in rows:
        if len(row) != len(names):
            raise ValueError(f"a work order has {len(names)} columns, got {len(row)}: {row!r}")
        latest[row[key_at]] = tuple(_as_text(value) for value in row)
    if not latest:
        return 0
    marks = ", ".join("?" * len(names))
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS incoming (gdbh TEXT PRIMARY KEY)")
    with conn:  # one transaction: a reader never sees a batch half replaced
        # The batch's keys go to a temporary table (never written to the store's file) so
        # that the delete is one pass over the table: there is no index on gdbh alone.
        if not new_only:
            conn.execute("DELETE FROM temp.incoming")
            conn.executemany("INSERT INTO temp.incoming VALUES (?)", ((k,) for k in latest))
            conn.execute(f"DELETE FROM {TABLE} WHERE gdbh IN (SELECT gdbh FROM temp.incoming)")
        conn.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", latest.values())
    return len(latest)


def _as_text(value: object) -> str | None:
    """Store values as text; datetimes in the store's naive local format."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(SHANGHAI).replace(tzinfo=None)
        return value.isoformat(" ", "seconds")
    return str(value)


def count(conn: sqlite3.Connection) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]
