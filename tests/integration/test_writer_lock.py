"""One writer lock for every process that writes the warehouse (issue 29, case 6): a second
writer waits and then proceeds, or fails with a message naming the holder — never DuckDB's
own lock error. The holder is a real second process."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from groundfloor.warehouse import WarehouseBusy

pytestmark = pytest.mark.integration
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from groundfloor.warehouse import writer_lock
    warehouse, purpose, seconds, released = sys.argv[1:5]
    with writer_lock(Path(warehouse), purpose, wait_seconds=0):
        print("held", flush=True)
        time.sleep(float(seconds))
        Path(released).write_text("released")
    """
)


def hold(warehouse: Path, purpose: str, seconds: float) -> tuple[subprocess.Popen, Path]:
    """A second process holding the lock for `seconds`; returns once it holds it."""
    released = warehouse.with_name("released")
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse), purpose, str(seconds), str(released)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    return child, released


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    return path


def publish(warehouse: Path) -> None:
    from transform.publish import publish as publish_snapshot

    publish_snapshot(warehouse, warehouse.with_name("published.duckdb"))


def dbt_build(warehouse: Path) -> None:
    from transform.dbt import run_dbt

    run_dbt(warehouse, "build")


def ingest(warehouse: Path) -> None:
    from ingestion.runner import run

    sources = warehouse.with_name("sources.yaml")
    sources.write_text("systems: {}\n", encoding="utf-8")
    run(sources, warehouse)


def match(warehouse: Path) -> None:
    from matching.engine import evaluate

    tmp = warehouse.parent
    evaluate(dt.date(2026, 10, 1), warehouse, tmp / "ops.duckdb", tmp / "push", only=["NONE"])


def quality(warehouse: Path) -> None:
    from quality.runner import run_quality

    tmp = warehouse.parent
    run_quality(warehouse, dt.date(2026, 10, 1), operations_store=tmp / "ops.duckdb",
                published_operations=tmp / "pub.duckdb", docs_dir=tmp / "docs")  # fmt: skip


@pytest.mark.parametrize(
    ("second_writer", "holder"),
    [
        (dbt_build, "an ingestion run"),
        (publish, "an ingestion run"),
        (match, "an ingestion run"),
        (quality, "an ingestion run"),
        (ingest, "dbt build"),
    ],
    ids=[
        "dbt-during-ingest",
        "publish-during-ingest",
        "matching-during-ingest",
        "quality-during-ingest",
        "ingest-during-dbt",
    ],
)
def test_a_second_writer_fails_clearly_naming_the_holder(
    warehouse, monkeypatch, second_writer, holder
):
    monkeypatch.setenv("WAREHOUSE_LOCK_WAIT_SECONDS", "1")
    monkeypatch.setenv("IDENTITY_KEY", "k" * 64)
    child, released = hold(warehouse, holder, 60)
    try:
        with pytest.raises(WarehouseBusy) as busy:
            second_writer(warehouse)
    finally:
        child.kill()
        child.wait()
    message = str(busy.value)
    assert f"{holder} (pid {child.pid}" in message
    assert "WAREHOUSE_LOCK_WAIT_SECONDS" in message
    assert not released.exists()


def test_a_second_writer_waits_for_the_first_then_proceeds(warehouse, monkeypatch, capfd):
    monkeypatch.setenv("WAREHOUSE_LOCK_WAIT_SECONDS", "120")
    child, released = hold(warehouse, "an ingestion run", 2)
    try:
        publish(warehouse)  # queues behind the ingestion, then publishes
    finally:
        child.wait()
    assert released.exists()  # it ran only after the holder let go
    assert warehouse.with_name("published.duckdb").exists()
    assert "held by an ingestion run (pid" in capfd.readouterr().err
