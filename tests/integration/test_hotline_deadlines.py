"""A slow hotline server must not hold a run forever (issue 29, part B).

Real HTTP servers on 127.0.0.1 (tests/integration/slow_http.py): one trickles a byte a second
after its headers, one accepts and never answers. The connect, read, whole-request and run
deadlines come from the sources file; on expiry the load fails with a SourceError naming the
deadline, and the watermark stays where it was. Timings are only bounded generously.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import pytest

from groundfloor.settings import PROJECT
from ingestion.config import ConfigError, Deadlines, load_sources
from ingestion.runner import run
from ingestion.warehouse import writer
from tests.integration import slow_http

pytestmark = pytest.mark.integration

SYSTEM, TABLE = "hotline_12345", "work_orders"
WATERMARK = "2025-03-01 09:00:00"


@pytest.fixture(autouse=True)
def token(monkeypatch) -> None:
    monkeypatch.setenv("HOTLINE_API_TOKEN", "tok-deadlines")


def sources(tmp_path: Path, base_url: str, max_attempts: int, deadlines: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "systems:\n"
        f"  {SYSTEM}:\n"
        "    delivery: api\n"
        f"    base_url: {base_url}\n"
        "    token_env: HOTLINE_API_TOKEN\n"
        f"    max_attempts: {max_attempts}\n"
        f"    deadlines: {deadlines}\n"
        "    tables:\n"
        "      work_orders: {key: [gdbh], cursor: updated_at}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A warehouse whose hotline watermark is already set by an earlier load."""
    path = tmp_path / "w.duckdb"
    with writer(path) as conn:
        conn.execute(
            "INSERT INTO meta.watermarks VALUES (?, ?, 'updated_at', ?, 'earlier', ?)",
            [SYSTEM, TABLE, WATERMARK, dt.datetime(2025, 3, 1, 9, 5)],
        )
    return path


def query(warehouse: Path, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def timed_run(path: Path, warehouse: Path):
    started = time.monotonic()
    (result,) = run(path, warehouse, [SYSTEM])
    return result, time.monotonic() - started


def assert_nothing_landed(warehouse: Path, result) -> None:
    assert query(warehouse, "SELECT value FROM meta.watermarks") == [(WATERMARK,)]
    assert query(warehouse, "SELECT count(*) FROM raw.work_orders") == [(0,)]
    assert query(warehouse, "SELECT status FROM meta.loads") == [("failed",)]
    ((kind, message),) = query(warehouse, "SELECT kind, message FROM meta.alerts")
    assert kind == "load_failed" and message == result.message


# -- the deadlines in force ---------------------------------------------------------------------
def test_a_trickling_server_fails_within_the_request_deadline(tmp_path, warehouse):
    server = slow_http.trickling(interval=1.0)
    try:
        # A byte a second: no read waits long enough for read_seconds; the request's does.
        deadlines = "{connect_seconds: 1, read_seconds: 2, request_seconds: 2, run_seconds: 60}"
        path = sources(tmp_path, server.url, 1, deadlines)
        result, seconds = timed_run(path, warehouse)
    finally:
        server.stop()
    assert result.status == "failed"
    assert result.message.startswith("SourceError: hotline_12345: ")
    assert "request deadline of 2 s (deadlines.request_seconds)" in result.message
    assert seconds < 3 * 2
    assert server.requests == 1
    assert_nothing_landed(warehouse, result)


def test_a_server_that_never_answers_fails_within_the_run_deadline(tmp_path, warehouse):
    server = slow_http.silent()
    try:
        deadlines = "{connect_seconds: 1, read_seconds: 1, request_seconds: 2, run_seconds: 3}"
        path = sources(tmp_path, server.url, 6, deadlines)
        result, seconds = timed_run(path, warehouse)
    finally:
        server.stop()
    assert result.status == "failed"
    assert "run deadline of 3 s (deadlines.run_seconds)" in result.message
    assert "ReadTimeout" in result.message  # what the last attempt met
    assert seconds < 3 * 3  # not 6 attempts x a minute
    assert 1 <= server.requests < 6
    assert_nothing_landed(warehouse, result)


# -- configuration --------------------------------------------------------------------------------
def test_the_sources_file_sets_the_hotline_deadlines():
    hotline = load_sources(PROJECT / "ingestion" / "sources.yaml")[SYSTEM]
    assert hotline.deadlines == Deadlines(
        connect_seconds=10, read_seconds=30, request_seconds=120, run_seconds=3600
    )
    assert hotline.max_attempts == 6


def test_deadlines_default_when_not_set(tmp_path):
    text = sources(tmp_path, "http://127.0.0.1:1", 3, "{}").read_text(encoding="utf-8")
    path = tmp_path / "no-deadlines.yaml"
    path.write_text(text.replace("    deadlines: {}\n", ""), encoding="utf-8")
    assert load_sources(path)[SYSTEM].deadlines == Deadlines()
    assert Deadlines().request_seconds >= Deadlines().read_seconds > 0


@pytest.mark.parametrize(
    ("deadlines", "fault"),
    [
        ("{read_seconds: 0}", "read_seconds must be a number of seconds above 0"),
        ("{read_seconds: soon}", "read_seconds must be a number of seconds above 0"),
        ("{total_seconds: 5}", "unknown deadline total_seconds"),
        ("{read_seconds: 50, request_seconds: 20}", "read_seconds (50) exceeds request_seconds"),
        ("{request_seconds: 200, run_seconds: 100}", "request_seconds (200) exceeds run_seconds"),
        ("[1, 2]", "deadlines must be a mapping"),
    ],
)
def test_bad_deadlines_are_refused_naming_the_system(tmp_path, deadlines, fault):
    with pytest.raises(ConfigError) as raised:
        load_sources(sources(tmp_path, "http://127.0.0.1:1", 3, deadlines))
    assert f"{SYSTEM}.deadlines" in str(raised.value) and fault in str(raised.value)


def test_max_attempts_must_be_at_least_one(tmp_path):
    with pytest.raises(ConfigError, match=r"hotline_12345.max_attempts must be a whole number"):
        load_sources(sources(tmp_path, "http://127.0.0.1:1", 0, "{}"))


def test_deadlines_belong_to_an_api_system(tmp_path):
    path = tmp_path / "files.yaml"
    path.write_text(
        "systems:\n  evaluation_hcp:\n    delivery: files\n    inbox: /nowhere\n"
        "    deadlines: {read_seconds: 5}\n"
        "    tables:\n      hcp_pj: {key: [PJBH], mode: file}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"evaluation_hcp\.deadlines: only an api system"):
        load_sources(path)
