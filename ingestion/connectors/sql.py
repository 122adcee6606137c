"""Exchange databases (前置库): PostgreSQL, MySQL/MariaDB and SQLite, read into Arrow (whole
columns, never row by row), incrementally by each table's cursor column.

PostgreSQL and MariaDB are read with connectorx; SQLite with the ADBC SQLite driver, because
connectorx cannot type a SQLite column whose first value is NULL ("Cannot infer type from
null"), which exchange tables with optional columns have all the time.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import adbc_driver_sqlite.dbapi as adbc_sqlite
import connectorx as cx
import polars as pl

from ingestion.batch import Batch, SourceError
from ingestion.config import SystemConfig, TableConfig

RETRY_DELAYS = (0.5, 2.0, 5.0)


def connectorx_url(url: str) -> str:
    """SQLAlchemy-style URLs as connectorx wants them (relative SQLite paths made absolute)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        return "sqlite://" + str(Path(path).resolve())
    return re.sub(r"^(postgresql|mysql)\+\w+://", r"\1://", url)


def public_url(url: str) -> str:
    """The URL without its password, for messages and the load audit."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class SqlConnector:
    def __init__(
        self,
        config: SystemConfig,
        sleep: Callable[[float], None] = time.sleep,
        delays: tuple[float, ...] = RETRY_DELAYS,
    ):
        self.config = config
        self.system = config.name
        self.url = connectorx_url(config.url)
        self.dialect = self.url.split(":", 1)[0]
        self.sleep = sleep
        self.delays = delays

    def quote(self, name: str) -> str:
        return f"`{name}`" if self.dialect == "mysql" else f'"{name}"'

    def relation(self, table: str) -> str:
        schema = self.config.schema if self.dialect == "postgresql" else None
        return f"{schema}.{table}" if schema else table

    def read(self, sql: str) -> pl.DataFrame:
        """Run a query with bounded retries; a source that stays down raises SourceError."""
        last = None
        for attempt in range(len(self.delays) + 1):
            try:
                return pl.from_arrow(self._arrow(sql))
            except Exception as exc:  # connectorx raises plain RuntimeErrors for everything
                last = exc
                if attempt < len(self.delays):
                    self.sleep(self.delays[attempt])
        raise SourceError(
            f"{self.system}: cannot read {public_url(self.config.url)} after "
            f"{len(self.delays) + 1} attempts: {str(last).splitlines()[0]}"
        )

    def _arrow(self, sql: str):
        if self.dialect == "sqlite":
            path = self.url[len("sqlite://") :]
            if not Path(path).exists():  # the driver would create an empty database
                raise FileNotFoundError(f"no SQLite file at {path}")
            with adbc_sqlite.connect(path) as conn, conn.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetch_arrow_table()
        self._reachable()
        return cx.read_sql(self.url, sql, return_type="arrow")

    def _reachable(self) -> None:
        """Fail fast when the server refuses connections: connectorx's pool would otherwise
        keep retrying for 30 s per attempt before it gives up."""
        parts = urlsplit(self.url)
        port = parts.port or {"postgresql": 5432, "mysql": 3306}[self.dialect]
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=5):
            pass

    def count(self, table: str) -> int:
        frame = self.read(f"SELECT COUNT(*) AS n FROM {self.relation(table)}")
        return int(frame.item(0, 0))

    def query_for(self, table: TableConfig, watermark: str | None) -> str:
        sql = f"SELECT * FROM {self.relation(table.name)}"
        if table.mode != "incremental" or watermark is None:
            return sql
        column = self.quote(table.cursor)
        if watermark.isdigit():  # an increasing number (DYBH): strictly after the last one
            return f"{sql} WHERE {column} > {int(watermark)}"
        # Inclusive: rows stamped in the same second may arrive after the last load.
        literal = watermark.replace("'", "''")
        return f"{sql} WHERE {column} >= '{literal}'"

    def extract(self, watermarks: dict[str, str]) -> Iterator[Batch]:
        for table in self.config.tables.values():
            if table.mode == "snapshot":
                continue  # read by ingestion.snapshot, under its control row
            before = watermarks.get(table.name)
            frame = self.read(self.query_for(table, before))
            yield Batch(
                self.system,
                table.name,
                frame,
                f"{public_url(self.config.url)}#{table.name}",
                watermark=_max_cursor(frame, table.cursor, before),
                mode=table.mode,
                details={"query": self.query_for(table, before)},
            )


def _max_cursor(frame: pl.DataFrame, cursor: str | None, before: str | None) -> str | None:
    if cursor is None or frame.height == 0 or cursor not in frame.columns:
        return before
    column = frame.get_column(cursor)
    if column.dtype.is_temporal():
        value = column.max().strftime("%Y-%m-%d %H:%M:%S")
    else:
        value = str(column.max())
    if before is None:
        return value
    if value.isdigit() and before.isdigit():
        return str(max(int(value), int(before)))
    return max(value, before)
