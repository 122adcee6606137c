"""The warehouse file's writer lock and the pipeline's DuckDB connections.

DuckDB allows one writer process per file. Every process that writes the warehouse (an
ingestion run, the dbt build, publish, the quality step, matching) takes an exclusive
advisory lock on `<warehouse>.lock` first and holds it until it has committed and closed the
file. A second writer says whom it waits for, waits up to WAREHOUSE_LOCK_WAIT_SECONDS and
then stops with a message naming the holder, so concurrent runs queue instead of failing
with DuckDB's own lock error. Airflow adds a pool of size one on top; the lock keeps
hand-started runs safe as well.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from groundfloor.settings import duckdb_settings, lock_wait_seconds

# Lock files this thread holds: a step that calls another step must not wait for itself
# (flock is per open file, so a second open in one process would block on the first).
_HELD = threading.local()


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse's writer lock."""


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


def lock_path(warehouse: Path) -> Path:
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + ".lock")


@contextlib.contextmanager
def writer_lock(warehouse: Path, purpose: str, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the warehouse's writer lock for `purpose` (e.g. "dbt build"), waiting for another
    writer up to `wait_seconds` (default: the setting WAREHOUSE_LOCK_WAIT_SECONDS)."""
    path = lock_path(warehouse).resolve()
    held = _HELD.__dict__.setdefault("paths", set())
    if path in held:
        yield
        return
    wait = lock_wait_seconds() if wait_seconds is None else wait_seconds
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        _acquire(handle, wait, Path(warehouse))
        handle.seek(0)
        handle.truncate()
        started = dt.datetime.now().isoformat(timespec="seconds")
        handle.write(f"{purpose} (pid {os.getpid()}, since {started})")
        handle.flush()
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _acquire(handle, wait_seconds: float, warehouse: Path) -> None:
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _holder(handle)
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"the warehouse {warehouse} is being written by {holder}; waited "
                    f"{wait_seconds:.0f} s (WAREHOUSE_LOCK_WAIT_SECONDS) for it to finish"
                ) from None
            if not announced:
                print(
                    f"waiting up to {wait_seconds:.0f} s for the warehouse writer lock, "
                    f"held by {holder}",
                    file=sys.stderr,
                    flush=True,
                )
                announced = True
            time.sleep(0.2)


def _holder(handle) -> str:
    handle.seek(0)
    return handle.read().strip() or "another process"


def connect_for_writing(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse opened for writing with the pipeline's limits and time zone (the caller
    holds the writer lock)."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    conn = duckdb.connect(str(path))
    restrict(path)
    conn.execute("SET TimeZone = 'Asia/Shanghai'")
    for statement in duckdb_settings().statements():
        conn.execute(statement)
    return conn


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
