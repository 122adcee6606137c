"""One ingestion run: every configured system, each in its own transaction.

A system's load either lands completely (rows, quarantine, drift log, files, watermarks and
load audit together) or not at all; a failing system is recorded with its reason and an
alert, and the other systems still load. Its deliveries are first checked into scratch tables
outside the transaction (ingestion.landing says why), then landed in it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from groundfloor.settings import ingest_workers
from ingestion.batch import Batch
from ingestion.config import SystemConfig, load_sources
from ingestion.file_problems import problems_note, record_file_problems
from ingestion.landing import (
    Staged,
    TableResult,
    clear_scratch,
    drop_scratch,
    land_checked,
    now,
    stage_chunks,
)
from ingestion.snapshot import apply_snapshot, stage_snapshot
from ingestion.warehouse import writer

Progress = Callable[[str, str, int], None]


@dataclass
class LoadResult:
    system: str
    load_id: str
    status: str = "running"  # ok | failed
    message: str | None = None
    seconds: float = 0.0
    tables: list[TableResult] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(t.rows_read for t in self.tables)

    @property
    def rows_new(self) -> int:
        return sum(t.rows_new_versions for t in self.tables)

    @property
    def rows_quarantined(self) -> int:
        return sum(t.rows_quarantined for t in self.tables)

    @property
    def drift(self) -> list[str]:
        return [f"{t.table}: {d}" for t in self.tables for d in t.drift]


def make_connector(config: SystemConfig, progress: Progress | None = None):
    if config.delivery == "database":
        from ingestion.connectors.sql import SqlConnector

        return SqlConnector(config)
    if config.delivery == "api":
        from ingestion.connectors.hotline import HotlineConnector

        return HotlineConnector(config, progress=_table_progress(config.name, progress))
    from ingestion.connectors.hcp_files import FileDropConnector

    return FileDropConnector(config)


def _table_progress(system: str, progress: Progress | None):
    if progress is None:
        return None
    return lambda table, rows: progress(system, table, rows)


def watermarks(conn, system: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT table_name, value FROM meta.watermarks WHERE system = ?", [system]
    ).fetchall()
    return dict(rows)


def known_files(conn, system: str) -> dict[str, dict]:
    rows = conn.execute(
        "SELECT file_name, size, sha256, arrival FROM meta.files WHERE system = ? "
        "ORDER BY recorded_at",
        [system],
    ).fetchall()
    return {
        name: {"size": size, "sha256": sha, "arrival": arrival} for name, size, sha, arrival in rows
    }


def _save_watermark(conn, delivery: Staged, config: SystemConfig, load_id: str) -> None:
    batch, mark = delivery.last, delivery.watermark_after
    table = config.tables[batch.table]
    if table.mode != "incremental" or mark is None:
        return
    conn.execute(
        "DELETE FROM meta.watermarks WHERE system = ? AND table_name = ?",
        [batch.system, batch.table],
    )
    conn.execute(
        "INSERT INTO meta.watermarks VALUES (?, ?, ?, ?, ?, ?)",
        [batch.system, batch.table, table.cursor, mark, load_id, now()],
    )


def _record_file(conn, batch: Batch, load_id: str) -> None:
    d = batch.details
    conn.execute(
        "INSERT INTO meta.files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            batch.system,
            d["file_name"],
            d["month"],
            d["size"],
            d["sha256"],
            d["arrival"],
            batch.frame.height,
            load_id,
            now(),
        ],
    )


def _delivery(batch: Batch) -> tuple[str, str]:
    """Consecutive batches of one table from one source are chunks of one delivery."""
    return batch.table, batch.source


def _extract(connector, config: SystemConfig, conn):
    if config.delivery == "files":
        return connector.extract(watermarks(conn, config.name), known_files(conn, config.name))
    return connector.extract(watermarks(conn, config.name))


def load_system(
    conn, config: SystemConfig, as_of: dt.date | None = None, progress: Progress | None = None
) -> LoadResult:
    started, clock = now(), time.monotonic()
    result = LoadResult(
        config.name, f"{config.name}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    )
    staged: list[Staged] = []
    snapshots = []
    in_transaction = False
    try:
        connector = make_connector(config, progress)
        marks = watermarks(conn, config.name)
        for (name, _), delivery in itertools.groupby(_extract(connector, config, conn), _delivery):
            staged.append(stage_chunks(conn, delivery, result.load_id, marks.get(name)))
            if progress:
                progress(config.name, name, staged[-1].checked.rows)
        for table in config.tables.values():
            if table.mode == "snapshot":
                snapshots.append(stage_snapshot(conn, connector, table, result.load_id, as_of))
        conn.execute("BEGIN TRANSACTION")
        in_transaction = True
        _land(conn, config, staged, snapshots, result)
        note = _record_file_problems(conn, connector, result.load_id)
        _finish(conn, result, started, "ok", note, clock, as_of)
        conn.execute("COMMIT")
    except Exception as exc:  # any failure rolls the whole system back, never half-written
        if in_transaction:
            conn.execute("ROLLBACK")
        result.tables = []
        _fail(conn, result, started, exc, clock, as_of)
    finally:
        for checked in [s.checked for s in staged] + [p.checked for p in snapshots if p.checked]:
            drop_scratch(conn, checked)
    return result


def _land(conn, config: SystemConfig, staged: list[Staged], snapshots, result) -> None:
    for delivery in staged:
        result.tables.append(land_checked(conn, delivery, result.load_id))
        _save_watermark(conn, delivery, config, result.load_id)
        if delivery.last.mode == "file":
            _record_file(conn, delivery.last, result.load_id)
    for plan in snapshots:
        result.tables.append(apply_snapshot(conn, plan, result.load_id))


def _record_file_problems(conn, connector, load_id: str) -> str | None:
    """Files a drop set aside rather than fail the load (issue 29): recorded and alerted
    once per content; the run's note names every file rejected in this run."""
    problems = getattr(connector, "problems", [])  # only a file-drop connector has them
    if not problems:
        return None
    table = getattr(connector, "table", None)
    record_file_problems(conn, connector.system, table, problems, load_id, now)
    return problems_note(problems)


def _finish(
    conn, result: LoadResult, started, status: str, message: str | None, clock: float, as_of
) -> None:
    """The load's row: its wall-clock times, and the day it loaded for (the run's logical
    date, by which the quality gate judges freshness; the local date when not given)."""
    result.status, result.message = status, message
    result.seconds = time.monotonic() - clock
    conn.execute(
        "INSERT INTO meta.loads (load_id, system, started_at, finished_at, status, message, "
        "as_of) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [result.load_id, result.system, started, now(), status, message, as_of or started.date()],
    )


def _fail(conn, result: LoadResult, started, exc: Exception, clock: float, as_of) -> None:
    message = f"{type(exc).__name__}: {exc}"
    conn.execute("BEGIN TRANSACTION")
    _finish(conn, result, started, "failed", message, clock, as_of)
    conn.execute(
        "INSERT INTO meta.alerts VALUES (?, ?, ?, ?, ?, ?, ?)",
        [now(), result.system, None, "critical", "load_failed", message, result.load_id],
    )
    conn.execute("COMMIT")


def run(
    sources: Path,
    warehouse: Path,
    systems: list[str] | None = None,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
) -> list[LoadResult]:
    configs = load_sources(sources)
    unknown = set(systems or []) - set(configs)
    if unknown:
        raise ValueError(
            f"not in {sources}: {', '.join(sorted(unknown))} (configured: {', '.join(configs)})"
        )
    chosen = [c for name, c in configs.items() if not systems or name in systems]
    workers = min(ingest_workers(), len(chosen)) if chosen else 1
    with writer(warehouse) as conn:
        clear_scratch(conn)
        if workers == 1:
            return [load_system(conn, config, as_of, progress) for config in chosen]
        return _load_side_by_side(conn, chosen, as_of, progress, workers)


def _load_side_by_side(conn, chosen, as_of, progress, workers: int) -> list[LoadResult]:
    """Each system on its own connection to the one database (its own transaction and temp
    tables), `workers` at a time. Systems write different raw tables and only append to the
    shared meta tables, so their transactions never conflict. What runs side by side is one
    system's Python work (reading its source, parsing JSON pages and workbooks) beside another
    system's statements; the statements themselves take turns (OneStatementAtATime)."""
    from concurrent.futures import ThreadPoolExecutor

    turn = threading.Lock()

    def load(config: SystemConfig) -> LoadResult:
        with conn.cursor() as cursor:
            cursor.execute("SET TimeZone = 'Asia/Shanghai'")
            return load_system(OneStatementAtATime(cursor, turn), config, as_of, progress)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        return list(pool.map(load, chosen))


class OneStatementAtATime:
    """A system's connection whose statements wait for the other systems' to finish.

    Why: DuckDB's Python client takes the GIL from inside the engine (a registered Arrow
    frame is read through Python) and holds it around some calls into the engine; with two
    threads inside the engine at once, each can wait for what the other holds. DuckDB's
    trackers have such reports (duckdb#2540, duckdb#18225, duckdb-python#182), and a
    2,500-person city's ingest once hung in CI with two systems side by side (stopped by its
    600 s timeout; more than a hundred runs since have not reproduced it). With one thread
    inside DuckDB at a time no such cycle can form; each statement still uses all of
    DuckDB's threads, and the systems' Python work still overlaps."""

    def __init__(self, cursor, turn: threading.Lock):
        self._cursor = cursor
        self._turn = turn

    def execute(self, sql: str, parameters=None):
        with self._turn:
            self._cursor.execute(sql, parameters)
        return self

    def fetchall(self) -> list[tuple]:
        with self._turn:
            return self._cursor.fetchall()

    def register(self, name: str, data) -> None:
        with self._turn:
            self._cursor.register(name, data)

    def unregister(self, name: str) -> None:
        with self._turn:
            self._cursor.unregister(name)
