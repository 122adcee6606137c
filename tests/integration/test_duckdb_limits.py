"""Every DuckDB connection that runs heavy SQL takes the pipeline's limits (DUCKDB_MEMORY_LIMIT,
DUCKDB_THREADS, DUCKDB_TEMP_DIRECTORY), not DuckDB's own 80 % of RAM: quality and publish
without them peaked at 20 and 19 GiB on tier L. Real DuckDB files, no services."""

from __future__ import annotations

import duckdb
import pytest

ONE_GB = "953.6 MiB"  # 1GB as DuckDB prints it


@pytest.fixture
def limits(monkeypatch, tmp_path):
    spill = tmp_path / "spill"
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("DUCKDB_THREADS", "1")
    monkeypatch.setenv("DUCKDB_TEMP_DIRECTORY", str(spill))
    return (ONE_GB, 1, str(spill))


def settings_of(conn) -> tuple:
    sql = (
        "SELECT current_setting('memory_limit'), current_setting('threads'), "
        "current_setting('temp_directory')"
    )
    return tuple(conn.execute(sql).fetchone())


@pytest.fixture
def working(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA main_marts")
        conn.execute("CREATE TABLE main_marts.kpi AS SELECT range AS n FROM range(1000)")
        conn.execute("CREATE SCHEMA main_reference")
    return path


def test_publish_copies_the_marts_under_the_limits(limits, working, tmp_path, monkeypatch):
    from transform import publish

    seen = []
    copy = publish.copy_tables

    def watched(conn):
        seen.append(settings_of(conn))
        return copy(conn)

    monkeypatch.setattr(publish, "copy_tables", watched)
    snapshot = publish.publish(working, tmp_path / "published" / "warehouse.duckdb")
    assert seen == [limits]
    assert (snapshot.tables, snapshot.rows) == (1, 1000)


def test_quality_validates_through_a_connection_under_the_limits(limits, working, tmp_path):
    import sqlalchemy as sa

    from quality.gx_duckdb import WarehouseSource

    source = WarehouseSource(working, tmp_path / "docs")
    try:
        engine = source.source.get_execution_engine()
        with engine.get_connection() as connection:
            sql = sa.text(
                "SELECT current_setting('memory_limit'), current_setting('threads'), "
                "current_setting('temp_directory')"
            )
            assert tuple(connection.execute(sql).fetchone()) == limits
        query = source.materialize("kpi", "SELECT * FROM main_marts.kpi")
        with engine.get_connection() as connection:
            assert connection.execute(sa.text(f"SELECT count(*) FROM ({query})")).scalar() == 1000
    finally:
        source.close()


def test_the_operations_store_is_opened_alike_by_matching_quality_and_alerts(limits, tmp_path):
    """One configuration per file in a process: DuckDB refuses a second connection to the
    store with other settings, so an alert raised while matching holds it must open it alike."""
    from groundfloor.warehouse import open_operations_store
    from matching.store import open_store
    from pipeline.alerts import Alert, record

    store = tmp_path / "operations" / "operations.duckdb"
    matching = open_store(store)
    try:
        assert settings_of(matching) == limits
        quality = open_operations_store(store)
        assert settings_of(quality) == limits
        quality.close()
        alert = Alert("warning", "dag", "task", "run", "2026-11-01", 1, "a message")
        record(alert, store, "log", None)
        ids = matching.execute("SELECT alert_id FROM task_alerts").fetchall()
        assert ids == [(alert.alert_id,)]
    finally:
        matching.close()


HOLD_THE_STORE = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def hold_in_another_process(store, seconds: float):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_STORE, str(store), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_writer_waits_for_the_operations_store_held_by_another_process(limits, tmp_path):
    """Matching, quality and an alert run in separate processes (Airflow tasks, callbacks); DuckDB
    lets one process write a file, so the one that comes second waits instead of failing."""
    from groundfloor.warehouse import open_operations_store
    from matching.store import open_store

    store = tmp_path / "operations.duckdb"
    holder = hold_in_another_process(store, 1.5)
    try:
        conn = open_store(store)  # matching's table created once the holder has let go
        assert holder.poll() == 0
        conn.close()
        holder = hold_in_another_process(store, 30)
        with pytest.raises(RuntimeError, match="stayed locked"):
            open_operations_store(store, attempts=2)
    finally:
        holder.kill()
        holder.wait()
