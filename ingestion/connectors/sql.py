"""Exchange databases (前置库): PostgreSQL, MySQL/MariaDB and SQLite, read as Arrow record
batches (whole columns, never row by row, a bounded chunk at a time), incrementally by each
table's cursor column.

PostgreSQL and MariaDB are read with connectorx; SQLite with the ADBC SQLite driver, because
connectorx cannot type a SQLite column whose first value is NULL ("Cannot infer type from
null"), which exchange tables with optional columns have all the time.

A folder of Parquet files per table (`parquet:///path/to/system`, `<table>/*.parquet` under it:
how the simulator stores a city too large for SQLite) is read as a database too: DuckDB, in
memory, puts a view over each table's files and runs the same SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import adbc_driver_sqlite.dbapi as adbc_sqlite
import connectorx as cx
import polars as pl
import pyarrow as pa

from groundfloor.settings import ingest_chunk_rows
from ingestion.batch import Batch, SourceError
from ingestion.config import SystemConfig, TableConfig

RETRY_DELAYS = (0.5, 2.0, 5.0)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# The server's clock as Asia/Shanghai wall time, the form cursor columns are stamped in.
SOURCE_NOW = {
    "postgresql": "SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', "
    "'YYYY-MM-DD HH24:MI:SS') AS source_now",
    # CONVERT_TZ with offsets needs no time zone tables (often not loaded on a 前置库)
    "mysql": "SELECT DATE_FORMAT(CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', '+08:00'), "
    "'%Y-%m-%d %H:%i:%s') AS source_now",
}
SQLITE_BATCH_ROWS = "adbc.sqlite.query.batch_rows"
SQLITE_BATCH = 65_536  # rows per Arrow record batch from the drivers; chunks gather several
CX_BATCH = 65_536


def connectorx_url(url: str) -> str:
    """SQLAlchemy-style URLs as connectorx wants them (relative SQLite paths made absolute)."""
    for scheme in ("sqlite", "parquet"):
        if url.startswith(f"{scheme}:///"):
            return f"{scheme}://" + str(Path(url[len(scheme) + 4 :]).resolve())
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
        chunk_rows: int | None = None,
    ):
        self.config = config
        self.chunk_rows = chunk_rows or ingest_chunk_rows()
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
        """A small query's whole result (counts, control rows)."""
        return pl.concat(self.stream(sql), how="vertical_relaxed", rechunk=True)

    def stream(self, sql: str) -> Iterator[pl.DataFrame]:
        """A query's result in chunks of about `chunk_rows` rows (at least one, perhaps empty),
        so that memory outside DuckDB stays one chunk whatever the table's size. Opening the
        query is retried; a failure in the middle raises SourceError (the load rolls back)."""
        with contextlib.ExitStack() as stack:
            reader = self._open(sql, stack)
            pending, rows, yielded = [], 0, False
            try:
                for record_batch in reader:
                    pending.append(record_batch)
                    rows += record_batch.num_rows
                    if rows >= self.chunk_rows:
                        yield _frame(reader.schema, pending)
                        pending, rows, yielded = [], 0, True
            except SourceError:
                raise
            except Exception as exc:
                raise self._error(exc, "while reading") from exc
            if pending or not yielded:
                yield _frame(reader.schema, pending)

    def _open(self, sql: str, stack: contextlib.ExitStack) -> pa.RecordBatchReader:
        """Start the query with bounded retries; a source that stays down raises SourceError."""
        last = None
        for attempt in range(len(self.delays) + 1):
            try:
                return self._reader(sql, stack)
            except Exception as exc:  # connectorx raises plain RuntimeErrors for everything
                last = exc
                if attempt < len(self.delays):
                    self.sleep(self.delays[attempt])
        raise self._error(last, f"after {len(self.delays) + 1} attempts")

    def _error(self, exc: Exception, when: str) -> SourceError:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return SourceError(
            f"{self.system}: cannot read {public_url(self.config.url)} {when}: {reason}"
        )

    def _reader(self, sql: str, stack: contextlib.ExitStack) -> pa.RecordBatchReader:
        if self.dialect == "parquet":
            conn = stack.enter_context(_parquet_database(Path(self.url[len("parquet://") :])))
            return conn.sql(sql).to_arrow_reader(batch_size=min(SQLITE_BATCH, self.chunk_rows))
        if self.dialect == "sqlite":
            path = self.url[len("sqlite://") :]
            if not Path(path).exists():  # the driver would create an empty database
                raise FileNotFoundError(f"no SQLite file at {path}")
            conn = stack.enter_context(adbc_sqlite.connect(path))
            cursor = stack.enter_context(conn.cursor())
            # The driver types each column from its first record batch: the larger the batch, the
            # fewer optional columns that are all NULL in it (a later text value would not fit).
            batch = min(SQLITE_BATCH, self.chunk_rows)
            cursor.adbc_statement.set_options(**{SQLITE_BATCH_ROWS: str(batch)})
            cursor.execute(sql)
            return cursor.fetch_record_batch()
        self._reachable()
        batch = min(CX_BATCH, self.chunk_rows)
        return cx.read_sql(self.url, sql, return_type="arrow_stream", batch_size=batch)

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
        # From the look-back before the watermark, inclusive: rows stamped in the same second,
        # or committed late with an earlier stamp, may arrive after the last load.
        since = looked_back(watermark, table.lookback_minutes)
        if since is None:  # a watermark poisoned before round 2: read whole, rows dedupe
            return sql
        return f"{sql} WHERE {column} >= '{since}'"

    def source_now(self) -> str:
        """The source's own clock (Asia/Shanghai wall time) as the extraction starts: no row
        can rightly be stamped later. A file database (SQLite, Parquet) has no server: the
        clock of the machine reading it is the source's."""
        if self.dialect in ("postgresql", "mysql"):
            return str(self.read(SOURCE_NOW[self.dialect]).item(0, 0))
        return dt.datetime.now(SHANGHAI).strftime(TIMESTAMP_FORMAT)

    def extract(self, watermarks: dict[str, str]) -> Iterator[Batch]:
        source_now = self.source_now()
        for table in self.config.tables.values():
            if table.mode == "snapshot":
                continue  # read by ingestion.snapshot, under its control row
            before = watermarks.get(table.name)
            query = self.query_for(table, before)
            # Chunks of one table share its source: the landing code takes them as one delivery
            # and derives the watermark from the rows it lands (ingestion.landing).
            for frame in self.stream(query):
                yield Batch(
                    self.system,
                    table.name,
                    frame,
                    f"{public_url(self.config.url)}#{table.name}",
                    watermark=before,
                    mode=table.mode,
                    details={"query": query},
                    cursor=table.cursor if table.mode == "incremental" else None,
                    source_now=source_now,
                )


def looked_back(watermark: str, minutes: int) -> str | None:
    """The watermark moved back by the look-back; None for a value that is no timestamp (the
    landing code never saves one, but a warehouse written before it may hold one)."""
    try:
        moment = dt.datetime.strptime(watermark[:19], TIMESTAMP_FORMAT)
    except ValueError:
        return None
    return (moment - dt.timedelta(minutes=minutes)).strftime(TIMESTAMP_FORMAT)


def _parquet_database(folder: Path):
    """An in-memory DuckDB with a view per table folder of `folder`: the SQL meant for the
    exchange database runs unchanged. Reading streams; the memory stays small."""
    import duckdb

    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of Parquet tables at {folder}")
    conn = duckdb.connect(config={"memory_limit": "1GB", "threads": 1})
    for table in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = str(table / "*.parquet").replace("'", "''")
        conn.execute(f"CREATE VIEW \"{table.name}\" AS SELECT * FROM read_parquet('{files}')")
    return conn


def _frame(schema: pa.Schema, batches: list[pa.RecordBatch]) -> pl.DataFrame:
    return pl.from_arrow(pa.Table.from_batches(batches, schema=schema))
