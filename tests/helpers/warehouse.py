"""Reading a DuckDB file in a test: read-only, so a test never holds the writer's lock."""

from __future__ import annotations

from pathlib import Path

import duckdb


def query(path: Path | str, sql: str, params=()) -> list[tuple]:
    """Every row of `sql` on the DuckDB file at `path`, opened read-only and closed again."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
