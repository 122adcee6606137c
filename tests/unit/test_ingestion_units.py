"""Ingestion parts that need no service: configuration, URLs, the writer lock (masking:
tests/unit/test_masking.py)."""

from __future__ import annotations

import os
import threading
import time

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundfloor.warehouse import WarehouseBusy
from ingestion.config import ConfigError, expand, load_sources
from ingestion.connectors.hotline import local_texts, to_local_text
from ingestion.connectors.sql import connectorx_url, public_url
from ingestion.runner import OneStatementAtATime
from ingestion.warehouse import writer


def test_the_default_sources_cover_every_system_of_the_contract():
    systems = load_sources("ingestion/sources.yaml", env={})
    assert set(systems) == {
        "case_platform",
        "certificate_library",
        "hotline_12345",
        "evaluation_hcp",
        "population_base",
        "legal_entity_base",
    }
    assert systems["certificate_library"].tables["dzzz_yyjl"].cursor == "DYBH"
    assert systems["population_base"].tables["rk_jbxx"].mode == "snapshot"
    assert systems["legal_entity_base"].tables["fr_ndxx"].mode == "full"
    assert systems["hotline_12345"].token_env == "HOTLINE_API_TOKEN"
    assert systems["case_platform"].url == "sqlite:///data/city/exchange/case_platform.sqlite"


def test_environment_fills_the_file_and_missing_secrets_are_named():
    assert (
        expand("postgresql://etl:${PW}@db/qzk", {"PW": "s3cret"})
        == "postgresql://etl:s3cret@db/qzk"
    )
    assert expand("${CITY_DIR:-data/city}/x", {}) == "data/city/x"
    with pytest.raises(ConfigError, match="QZK_PASSWORD"):
        expand("postgresql://etl:${QZK_PASSWORD}@db/qzk", {})


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("systems: {nowhere: {delivery: database, url: x, tables: {}}}", "not a system"),
        ("systems: {case_platform: {delivery: fax, tables: {}}}", "delivery must be"),
        (
            "systems: {case_platform: {delivery: database, url: x, tables: {nope: {key: [A]}}}}",
            "not a table",
        ),
        (
            "systems: {case_platform: {delivery: database, url: x, tables: {sxml: {key: [SXBM]}}}}",
            "needs a cursor",
        ),
        (
            "systems: {case_platform: {delivery: database, url: x, tables: "
            "{sxml: {key: [SXBM], cursor: WHEN}}}}",
            "WHEN is not a column",
        ),
        ("systems: {hotline_12345: {delivery: api, tables: {}}}", "needs base_url"),
    ],
)
def test_a_wrong_sources_file_is_refused_naming_the_fault(tmp_path, text, fault):
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fault):
        load_sources(path, env={})


def test_urls_for_connectorx_and_for_messages(tmp_path):
    assert connectorx_url("mysql+pymysql://root@h:3306/db") == "mysql://root@h:3306/db"
    assert connectorx_url("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
    assert connectorx_url("sqlite:///data/x.sqlite").startswith("sqlite:///")
    assert public_url("postgresql://etl:s3cret@h/db") == "postgresql://etl:***@h/db"


def test_a_second_writer_waits_and_then_names_the_holder(tmp_path):
    path = tmp_path / "w.duckdb"
    held, release = threading.Event(), threading.Event()

    def hold():
        with writer(path):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    try:
        with pytest.raises(WarehouseBusy, match="pid"), writer(path, wait_seconds=0.5):
            pass
    finally:
        release.set()
        thread.join()
    with writer(path, wait_seconds=1) as conn:  # free again
        assert conn.execute("SELECT COUNT(*) FROM meta.loads").fetchall() == [(0,)]


def test_duckdb_settings_come_from_the_environment_with_machine_defaults(monkeypatch):
    from groundfloor.settings import MissingSetting, duckdb_settings, ingest_chunk_rows

    for name in ("DUCKDB_MEMORY_LIMIT", "DUCKDB_THREADS", "DUCKDB_TEMP_DIRECTORY"):
        monkeypatch.setenv(name, "")
    default = duckdb_settings()
    total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    assert default.memory_limit == f"{max(1, int(total_gib * 0.4))}GB"
    assert default.threads == os.cpu_count() and default.temp_directory is None
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "3GB")
    monkeypatch.setenv("DUCKDB_THREADS", "1")
    monkeypatch.setenv("DUCKDB_TEMP_DIRECTORY", "/tmp/spill here")
    assert duckdb_settings().config() == {
        "memory_limit": "3GB",
        "threads": "1",
        "temp_directory": "/tmp/spill here",
    }
    assert duckdb_settings().statements() == [
        "SET memory_limit = '3GB'",
        "SET threads = '1'",
        "SET temp_directory = '/tmp/spill here'",
    ]
    monkeypatch.setenv("INGEST_CHUNK_ROWS", "0")
    with pytest.raises(MissingSetting, match="INGEST_CHUNK_ROWS must be a whole number"):
        ingest_chunk_rows()
    monkeypatch.setenv("INGEST_CHUNK_ROWS", "1000")
    assert ingest_chunk_rows() == 1000


def test_the_warehouse_writer_applies_the_duckdb_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("DUCKDB_THREADS", "1")
    with writer(tmp_path / "w.duckdb") as conn:
        limit = conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        threads = conn.execute("SELECT current_setting('threads')").fetchone()[0]
    assert limit == "953.6 MiB" and int(threads) == 1  # 1 GB, as DuckDB prints it


# --- the hotline's timestamps, column-wise ---------------------------------------------------

_STAMP_PARTS = st.tuples(
    st.sampled_from(["0999", "1000", "2025", "2024", "９０２５"]),
    st.sampled_from(["01", "02", "12", "13", "2"]),
    st.sampled_from(["01", "28", "29", "30", "31", "00"]),
    st.sampled_from(["T", " ", "t"]),
    st.sampled_from(["00", "09", "23", "24"]),
    st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["", ".5", ".000001"]),
    st.sampled_from(["+08:00", "Z", "-05:00", "+0800", "", "+08:00\n", " +08:00"]),
)


@given(st.lists(st.one_of(st.none(), st.text(max_size=8), _STAMP_PARTS), max_size=40))
@settings(max_examples=300, deadline=None)
def test_hotline_timestamps_converted_by_column_as_value_by_value(values) -> None:
    """The usual `+08:00` spelling is converted by polars and the rest one by one: the result
    is what `to_local_text` gives each value, odd dates, offsets and leap seconds included."""
    texts = [v if v is None or isinstance(v, str) else _stamp_text(*v) for v in values]
    assert local_texts(pl.Series("ldsj", texts, dtype=pl.Utf8)).to_list() == [
        to_local_text(text) for text in texts
    ]


def _stamp_text(year, month, day, sep, hour, second, fraction, offset) -> str:
    return f"{year}-{month}-{day}{sep}{hour}:00:{second}{fraction}{offset}"


class _CountingCursor:
    """A cursor that records how many threads are inside it at once."""

    def __init__(self, inside: list[int], most: list[int]):
        self.inside, self.most = inside, most

    def execute(self, sql, parameters=None):
        self.inside[0] += 1
        self.most[0] = max(self.most[0], self.inside[0])
        time.sleep(0.01)  # long enough for the other thread to try to come in
        self.inside[0] -= 1


def test_systems_side_by_side_take_turns_inside_duckdb():
    inside, most = [0], [0]
    turn = threading.Lock()

    def system() -> None:
        cursor = OneStatementAtATime(_CountingCursor(inside, most), turn)
        for _ in range(20):
            cursor.execute("SELECT 1")

    threads = [threading.Thread(target=system) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == [1]


def test_a_system_taking_turns_still_reads_registers_and_fetches():
    conn = duckdb.connect()
    cursor = OneStatementAtATime(conn.cursor(), threading.Lock())
    cursor.register("incoming_frame", pl.DataFrame({"n": [1, 2, 3]}).to_arrow())
    assert cursor.execute("SELECT SUM(n) FROM incoming_frame WHERE n > ?", [1]).fetchall() == [(5,)]
    cursor.unregister("incoming_frame")
    with pytest.raises(duckdb.CatalogException):
        cursor.execute("SELECT * FROM incoming_frame")
