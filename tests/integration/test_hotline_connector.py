"""The hotline connector against the REAL simulated API over HTTP on 127.0.0.1.

A store of a few thousand synthetic work orders (updated_at values tie often; names outside
GBK) is served by ``simulator.hotline_server`` in a thread. The connector must return every
row exactly once at its latest version, also when rows change between its pages (D12), and
must retry 429/5xx with the waits the server asks for, without ever really sleeping.
"""

from __future__ import annotations

import datetime as dt
import random
import socket
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

from contract import load_contract
from groundfloor.settings import PROJECT
from ingestion.batch import Batch, SourceError
from ingestion.config import SystemConfig, load_sources
from ingestion.connectors.hotline import API_PATH, HotlineConnector
from simulator.hotline_server import make_server
from simulator.hotline_store import open_store, store_path, write_orders
from tests.integration.hotline_orders import T0, local_text
from tests.integration.hotline_orders import synthetic_order as shared_order

pytestmark = pytest.mark.integration

TOKEN = "tok-12345-test"
TABLE = "work_orders"
COLUMNS = load_contract().table(TABLE).column_names
N_ORDERS = 3000
PAGE = 250


# --- the store ---------------------------------------------------------------------------


def synthetic_order(i: int, rng: random.Random, updated_at: datetime | None = None) -> dict:
    """One work order; 3000 orders over ~600 minutes tie about five to an updated_at."""
    return shared_order(i, rng, span_minutes=600, lags=(0, 5), updated_at=updated_at)


def build_store(tmp_path: Path, orders: list[dict]) -> Path:
    random.Random(1).shuffle(orders)  # physical order unlike API order
    path = store_path(tmp_path / "city")
    conn = open_store(path, create=True)
    write_orders(conn, [tuple(o[c] for c in COLUMNS) for o in orders])
    conn.close()
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    rng = random.Random(7)
    return build_store(tmp_path, [synthetic_order(i, rng) for i in range(N_ORDERS)])


def store_rows(path: Path, since: str = "") -> list[dict]:
    """What a load from `since` must return: the store's rows, in (updated_at, gdbh) order."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    rows = [
        dict(r) for r in conn.execute("SELECT * FROM work_orders WHERE updated_at >= ?", [since])
    ]
    conn.close()
    return sorted(rows, key=lambda r: (r["updated_at"], r["gdbh"]))


def tied_value(path: Path, at: float) -> str:
    """The most shared updated_at around a fraction `at` of the store."""
    values = [r["updated_at"] for r in store_rows(path)]
    window = values[int(len(values) * at) : int(len(values) * at) + 200]
    return max(window, key=window.count)


class Clock:
    """Changes work orders as the vendor would: updated_at later than everything so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.now = T0 + timedelta(days=30)

    def touch(self, *gdbhs: str) -> None:
        self.now += timedelta(hours=1)
        by_key = {r["gdbh"]: r for r in store_rows(self.path)}
        self._write([{**by_key[g], "gdzt": "4", "updated_at": local_text(self.now)} for g in gdbhs])

    def add(self, gdbh: str) -> None:
        self.now += timedelta(hours=1)
        self._write([{**synthetic_order(0, random.Random(1), self.now), "gdbh": gdbh}])

    def _write(self, rows: list[dict]) -> None:
        conn = open_store(self.path)
        write_orders(conn, [tuple(r[c] for c in COLUMNS) for r in rows])
        conn.close()


# --- server, config, connector ------------------------------------------------------------


@pytest.fixture
def serve():
    """Starts API servers over a store on ephemeral ports; stops them after the test."""
    running = []

    def start(path: Path, **options) -> str:
        server = make_server(path, token=TOKEN, **options)
        # A short poll interval keeps shutdown (each test's teardown) quick.
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def token(monkeypatch) -> None:
    monkeypatch.setenv("HOTLINE_API_TOKEN", TOKEN)


class Sleeps(list):
    """A fake time.sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def hotline_config(base_url: str, lookback_minutes: int = 0, **changes) -> SystemConfig:
    """The real sources file, pointed at the test server. The paging tests read exactly from
    the watermark (no look-back overlap) unless they ask for one."""
    sources = load_sources(
        PROJECT / "ingestion" / "sources.yaml", env={"HOTLINE_BASE_URL": base_url}
    )
    system = sources["hotline_12345"]
    tables = {
        name: replace(table, lookback_minutes=lookback_minutes)
        for name, table in system.tables.items()
    }
    return replace(system, **{"page_size": PAGE, "tables": tables, **changes})


def counting_client(counter: list) -> httpx.Client:
    """A client that records each request it sends (trust_env=False: no proxy on 127.0.0.1)."""
    return httpx.Client(
        trust_env=False, timeout=10, event_hooks={"request": [lambda r: counter.append(r.url)]}
    )


def load(connector: HotlineConnector, watermark: str | None = None) -> Batch:
    batches = list(connector.extract({TABLE: watermark} if watermark else {}))
    assert len(batches) == 1
    return batches[0]


def assert_exactly(batch: Batch, path: Path, since: str = "") -> None:
    """Every row of the store from `since` once, values exact, timestamps local text."""
    assert batch.frame.columns == COLUMNS
    assert set(batch.frame.schema.values()) == {pl.Utf8}
    assert batch.frame["gdbh"].is_unique().all()
    assert batch.frame.rows(named=True) == store_rows(path, since)


# --- loads ----------------------------------------------------------------------------------


def test_full_load_returns_every_row_once(store: Path, serve) -> None:
    base = serve(store)
    seen: list[tuple[str, int]] = []
    batch = load(HotlineConnector(hotline_config(base), progress=lambda *a: seen.append(a)))
    assert_exactly(batch, store)
    assert batch.frame.height == N_ORDERS
    assert "王𠇔" in batch.frame["ldrxm"].to_list()
    assert (batch.system, batch.table, batch.mode) == ("hotline_12345", TABLE, "incremental")
    assert batch.watermark == store_rows(store)[-1]["updated_at"]
    assert batch.source == base + API_PATH and TOKEN not in batch.source
    details = batch.details
    assert details["requests"] == details["pages"] == len(seen) > N_ORDERS // PAGE
    assert (details["retries"], details["waited_seconds"]) == (0, 0)
    # Each keyset request reads the rows at the page's last updated_at again.
    assert details["duplicates_dropped"] > 0
    assert seen[-1] == (TABLE, N_ORDERS)


def test_next_load_is_inclusive_from_the_watermark(store: Path, serve) -> None:
    connector = HotlineConnector(hotline_config(serve(store)))
    first = load(connector)
    Clock(store).touch("GD00000001", "GD00000002", "GD00000003")
    second = load(connector, first.watermark)
    assert_exactly(second, store, first.watermark)
    at_old_watermark = store_rows(store, first.watermark)[:-3]
    assert at_old_watermark and {r["updated_at"] for r in at_old_watermark} == {first.watermark}
    assert second.watermark == store_rows(store)[-1]["updated_at"] > first.watermark


def test_load_from_a_tied_watermark_mid_store(store: Path, serve) -> None:
    since = tied_value(store, 0.4)
    batch = load(HotlineConnector(hotline_config(serve(store), page_size=40)), since)
    assert_exactly(batch, store, since)
    assert sum(r["updated_at"] == since for r in store_rows(store, since)) >= 2
    assert batch.details["duplicates_dropped"] > 0


def test_the_look_back_reads_the_overlap_before_the_watermark_again(store: Path, serve) -> None:
    since = tied_value(store, 0.5)
    batch = load(HotlineConnector(hotline_config(serve(store), lookback_minutes=30)), since)
    earlier = dt.datetime.fromisoformat(since) - dt.timedelta(minutes=30)
    assert_exactly(batch, store, earlier.strftime("%Y-%m-%d %H:%M:%S"))
    assert batch.frame.height > len(store_rows(store, since))  # the overlap came too


def test_nothing_new_keeps_the_watermark(store: Path, serve) -> None:
    batch = load(HotlineConnector(hotline_config(serve(store))), "2030-01-01 00:00:00")
    assert batch.frame.columns == COLUMNS and batch.frame.height == 0
    assert batch.watermark == "2030-01-01 00:00:00"


def test_rows_changed_between_pages_come_once_at_their_latest_version(store: Path, serve) -> None:
    since = tied_value(store, 0.2)
    before = store_rows(store, since)
    below = store_rows(store)[0]["gdbh"]
    clock = Clock(store)
    plan = {  # after page n: rows already read, one not yet read, one below the watermark
        1: lambda: clock.touch(before[0]["gdbh"], before[1]["gdbh"], below),
        2: lambda: (clock.touch(before[3 * PAGE]["gdbh"]), clock.add("GD99999999")),
        3: lambda: clock.touch(before[0]["gdbh"], before[-1]["gdbh"]),
    }
    pages = iter(range(1, 1000))
    connector = HotlineConnector(
        hotline_config(serve(store)), progress=lambda *_: plan.get(next(pages), lambda: None)()
    )
    batch = load(connector, since)
    assert_exactly(batch, store, since)
    rows = {r["gdbh"]: r for r in batch.frame.rows(named=True)}
    assert {"GD99999999", below} <= set(rows)
    assert rows[before[0]["gdbh"]]["updated_at"] == local_text(clock.now)


# --- more rows on one updated_at than fit a page ----------------------------------------------


@pytest.fixture
def tied_store(tmp_path: Path) -> Path:
    """450 orders share one updated_at: four and a half pages of 100."""
    rng = random.Random(5)
    tie = T0 + timedelta(hours=3)
    orders = [synthetic_order(i, rng, tie if 1000 <= i < 1450 else None) for i in range(2000)]
    return build_store(tmp_path, orders)


def test_ties_larger_than_a_page(tied_store: Path, serve) -> None:
    connector = HotlineConnector(hotline_config(serve(tied_store), page_size=100))
    assert_exactly(load(connector), tied_store)
    tie = local_text(T0 + timedelta(hours=3))
    batch = load(connector, tie)
    assert_exactly(batch, tied_store, tie)
    assert batch.details["tie_redos"] == 0


def test_rows_moving_during_a_tie_pass_are_not_skipped(tied_store: Path, serve) -> None:
    tie = local_text(T0 + timedelta(hours=3))
    first_of_tie = store_rows(tied_store, tie)[0]["gdbh"]
    clock = Clock(tied_store)
    pages = iter(range(1, 1000))

    def after_page(*_) -> None:
        # Offset paging alone would now skip the row that slides back onto page 1.
        if next(pages) == 1:
            clock.touch(first_of_tie)

    config = hotline_config(serve(tied_store), page_size=100)
    batch = load(HotlineConnector(config, progress=after_page), tie)
    assert_exactly(batch, tied_store, tie)
    assert batch.details["tie_redos"] == 1


# --- faults (D12) ----------------------------------------------------------------------------


def test_rate_limits_and_server_errors_are_retried(store: Path, serve) -> None:
    sleeps = Sleeps()
    base = serve(store, error_rate=0.3, retry_after=7, seed=3)
    batch = load(HotlineConnector(hotline_config(base), sleep=sleeps))
    assert_exactly(batch, store)
    details = batch.details
    assert details["retries"] == len(sleeps) > 0
    assert details["requests"] == details["pages"] + details["retries"]
    assert details["waited_seconds"] == pytest.approx(sum(sleeps))
    assert 7 in sleeps  # 429: the server's Retry-After
    assert 0.5 in sleeps  # 503: our first back-off


@pytest.mark.parametrize(
    ("fault", "status", "waits"),
    [
        ({"server_error_rate": 1.0}, "503", [0.5, 1, 2, 4, 8]),
        ({"rate_limit_rate": 1.0, "retry_after": 4}, "429", [4] * 5),
    ],
)
def test_a_server_that_keeps_failing_gives_up_after_max_attempts(
    store: Path, serve, fault: dict, status: str, waits: list[float]
) -> None:
    base = serve(store, **fault)
    config = hotline_config(base)
    sent, sleeps = [], Sleeps()
    connector = HotlineConnector(config, client=counting_client(sent), sleep=sleeps)
    with pytest.raises(SourceError) as raised:
        load(connector)
    assert config.max_attempts == 6 == len(sent)
    assert sleeps == waits  # no wait after the last attempt
    message = str(raised.value)
    assert "hotline_12345" in message and base + API_PATH in message and status in message
    assert TOKEN not in message


def test_wrong_token_fails_at_once(store: Path, serve, monkeypatch) -> None:
    monkeypatch.setenv("HOTLINE_API_TOKEN", "not-the-token")
    sent, sleeps = [], Sleeps()
    connector = HotlineConnector(
        hotline_config(serve(store)), client=counting_client(sent), sleep=sleeps
    )
    with pytest.raises(SourceError, match=r"token rejected: check \$HOTLINE_API_TOKEN"):
        load(connector)
    assert (len(sent), sleeps) == (1, [])


def test_missing_token_names_the_variable(store: Path, serve, monkeypatch) -> None:
    monkeypatch.delenv("HOTLINE_TEST_UNSET_TOKEN", raising=False)
    config = hotline_config(serve(store), token_env="HOTLINE_TEST_UNSET_TOKEN")
    with pytest.raises(SourceError, match="HOTLINE_TEST_UNSET_TOKEN"):
        load(HotlineConnector(config))


def test_server_not_running_fails_after_bounded_retries() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    connector = HotlineConnector(hotline_config(f"http://127.0.0.1:{port}"), sleep=sleeps)
    with pytest.raises(SourceError) as raised:
        load(connector)
    assert sleeps == [0.5, 1, 2, 4, 8]
    message = str(raised.value)
    assert f"127.0.0.1:{port}{API_PATH}" in message and "ConnectError" in message
    assert "failed 6 times" in message


# --- what other vendors' answers may look like -------------------------------------------------


def test_offsets_oddities_and_extra_fields_become_text() -> None:
    """A stub API (not the simulator): other offsets, a bad timestamp, numbers, a new field,
    a column no item carries. Values are text; nothing is dropped; drift is left to landing."""
    items = [
        {"gdbh": "GD1", "ldsj": "2025-03-01T00:00:00Z", "xzqhdm": 360702, "bz": "新字段",
         "updated_at": "2025-03-01T09:00:00+08:00"},
        {"gdbh": "GD2", "ldsj": "2025-02-28T19:30:00-05:00", "xzqhdm": None, "bz": None,
         "updated_at": "2025-13-45 99:00"},
    ]  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return httpx.Response(200, json={"total": 2, "page": 1, "page_size": PAGE, "items": items})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    batch = load(HotlineConnector(hotline_config("http://vendor.example"), client=client))
    frame = batch.frame
    assert frame.columns == ["gdbh", "ldsj", "xzqhdm", "updated_at", "bz"]
    assert frame.rows() == [
        ("GD1", "2025-03-01 08:00:00", "360702", "2025-03-01 09:00:00", "新字段"),
        ("GD2", "2025-03-01 08:30:00", None, "2025-13-45 99:00", None),
    ]
    assert batch.watermark == "2025-03-01 09:00:00"  # the unparseable one cannot be it


def test_a_large_delivery_comes_in_chunks_that_add_up_to_one(store: Path, serve, monkeypatch):
    """The rows are kept on disk while paging and handed on INGEST_CHUNK_ROWS at a time, in
    the delivery's order, each chunk with the delivery's columns, watermark and details."""
    connector = HotlineConnector(hotline_config(serve(store)))
    whole = load(connector)
    monkeypatch.setenv("INGEST_CHUNK_ROWS", "37")
    chunks = list(connector.extract({}))
    assert len(chunks) == -(-N_ORDERS // 37) > 1
    assert all(c.frame.columns == whole.frame.columns for c in chunks)
    assert {c.watermark for c in chunks} == {whole.watermark}
    assert all(
        c.details["duplicates_dropped"] == whole.details["duplicates_dropped"] for c in chunks
    )
    assert pl.concat([c.frame for c in chunks]).equals(whole.frame)
