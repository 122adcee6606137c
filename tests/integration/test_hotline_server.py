"""The simulated 12345 hotline API over real HTTP on 127.0.0.1.

A store of a few hundred synthetic work orders is built with ``write_orders``; the server
runs in a thread on an ephemeral port and is spoken to with httpx, as the pipeline will.
Besides the contract's behaviour (auth, inclusive watermark, order, paging, +08:00, D12
faults), two clients page through while the store changes between pages: the watermark
client the contract calls for ends with exactly the final store, and naive offset paging
skips a row, which proves the server reproduces the hazard.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from simulator.hotline_server import make_server
from simulator.hotline_store import count, open_store, store_path, write_orders
from tests.integration.hotline_orders import T0, local_text
from tests.integration.hotline_orders import synthetic_order as shared_order

pytestmark = pytest.mark.integration

TOKEN = "s3cret-12345"
API = "/api/v1/work-orders"
N_ORDERS = 300
TS_COLUMNS = ("ldsj", "pdsj", "clqx", "bjsj", "updated_at")
# The contract's columns, spelt out here so that the test checks the contract's order.
COLUMNS = (
    *("gdbh", "ldsj", "ldhm", "ldrxm", "ldrzjhm", "sqlx", "sqfl", "sqnr", "cbdw"),
    *("xzqhdm", "zjbj", "pdsj", "clqx", "bjsj", "gdzt", "sfjj", "myd", "updated_at"),
)


# --- the store ---------------------------------------------------------------------------


def synthetic_order(i: int, rng: random.Random) -> tuple:
    """One work order in contract column order; updated_at values often tie."""
    values = shared_order(i, rng, span_minutes=150, lags=(0, 0, 5, 30))
    return tuple(values[name] for name in COLUMNS)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    rng = random.Random(7)
    rows = [synthetic_order(i, rng) for i in range(N_ORDERS)]
    rng.shuffle(rows)  # physical order unlike API order: the server must sort
    path = store_path(tmp_path / "city")
    conn = open_store(path, create=True)
    write_orders(conn, rows)
    conn.close()
    return path


def store_rows(path: Path) -> list[dict]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    rows = [dict(row) for row in conn.execute("SELECT * FROM work_orders")]
    conn.close()
    return rows


def as_api_item(row: dict) -> dict:
    """What the API must answer for a store row: ts as ISO-8601 with +08:00."""
    return {
        name: row[name] and row[name].replace(" ", "T") + "+08:00"
        if name in TS_COLUMNS
        else row[name]
        for name in COLUMNS
    }


def expected_items(path: Path, since_local: str = "") -> list[dict]:
    rows = [r for r in store_rows(path) if r["updated_at"] >= since_local]
    rows.sort(key=lambda r: (r["updated_at"], r["gdbh"]))
    return [as_api_item(r) for r in rows]


class Clock:
    """Moves work orders on as the simulator's ``advance`` would: each change gets an
    updated_at later than everything in the store, so changed rows move to the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.now = T0 + timedelta(days=30)

    def touch(self, gdbhs: list[str]) -> None:
        self.now += timedelta(hours=1)
        by_key = {r["gdbh"]: r for r in store_rows(self.path)}
        changed = [
            {**by_key[g], "gdzt": "4", "myd": "1", "updated_at": local_text(self.now)}
            for g in gdbhs
        ]
        self._write(changed)

    def add(self, gdbh: str) -> None:
        self.now += timedelta(hours=1)
        row = dict(zip(COLUMNS, synthetic_order(0, random.Random(1)), strict=True))
        self._write([{**row, "gdbh": gdbh, "updated_at": local_text(self.now)}])

    def _write(self, rows: list[dict]) -> None:
        conn = open_store(self.path)
        write_orders(conn, [tuple(r[name] for name in COLUMNS) for r in rows])
        conn.close()


# --- the server --------------------------------------------------------------------------


@pytest.fixture
def start_hotline(store: Path):
    """Starts servers over the store on ephemeral ports; stops them after the test."""
    running = []

    def start(**options) -> httpx.Client:
        server = make_server(store, token=TOKEN, **options)
        # A short poll interval keeps shutdown (and so each test's teardown) quick.
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        host, port = server.server_address[:2]
        # trust_env=False: a proxy from the environment must not sit in front of 127.0.0.1.
        client = httpx.Client(
            base_url=f"http://{host}:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            trust_env=False,
            timeout=10,
        )
        running.append((server, thread, client))
        return client

    yield start
    for server, thread, client in running:
        client.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def api(start_hotline) -> httpx.Client:
    return start_hotline()


def fetch(client: httpx.Client, **params) -> dict:
    response = client.get(API, params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- auth, health, errors ----------------------------------------------------------------


def test_health_needs_no_token(api: httpx.Client) -> None:
    response = httpx.get(str(api.base_url.join("/health")), trust_env=False)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", TOKEN, f"Bearer {TOKEN}x"],
)
def test_missing_or_wrong_token_is_401(api: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    request = api.build_request("GET", API, headers=headers)
    if authorization is None:
        del request.headers["Authorization"]
    response = api.send(request)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {
        "error": "unauthorized",
        "message": "missing or invalid bearer token",
    }


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"page_size": "1001"}, "page_size must be between 1 and 1000, got 1001"),
        ({"page_size": "5000"}, "between 1 and 1000"),
        ({"page_size": "0"}, "page_size must be between 1 and 1000, got 0"),
        ({"page_size": "1.5"}, "page_size must be a whole number"),
        ({"page": "0"}, "page must be between 1"),
        ({"page": "-1"}, "page must be a whole number"),
        ({"page": "abc"}, "page must be a whole number"),
        ({"updated_since": "yesterday"}, "updated_since is not an ISO-8601 timestamp"),
        ({"updated_since": ""}, "updated_since is not an ISO-8601 timestamp"),
        ({"page": ["1", "2"]}, "page is given more than once"),
    ],
)
def test_bad_parameters_are_400_with_a_message(api: httpx.Client, params, needle) -> None:
    response = api.get(API, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request"
    assert needle in body["message"]


def test_an_unencoded_plus_gets_a_hint(api: httpx.Client) -> None:
    # A raw '+' in a query string means a space: the offset is lost, the API says why.
    response = api.get(f"{API}?updated_since=2025-03-01T10:00:00+08:00")
    assert response.status_code == 400
    assert "%2B" in response.json()["message"]


def test_unknown_path_is_404_and_post_is_405(api: httpx.Client) -> None:
    assert api.get("/api/v1/nothing").status_code == 404
    response = api.post(API, json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


# --- content, order, paging --------------------------------------------------------------


def test_all_items_in_order_with_exact_values(api: httpx.Client, store: Path) -> None:
    response = api.get(API, params={"page_size": 1000})
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    # Non-ASCII as UTF-8 bytes, not \\u escapes (𠇔 is outside the BMP and GBK).
    assert "王𠇔".encode() in response.content
    body = response.json()
    assert (body["total"], body["page"], body["page_size"]) == (N_ORDERS, 1, 1000)
    assert body["items"] == expected_items(store)
    keys = [(item["updated_at"], item["gdbh"]) for item in body["items"]]
    assert keys == sorted(keys)
    assert len({item["updated_at"] for item in body["items"]}) < N_ORDERS  # ties occur


def test_timestamps_carry_plus_0800_and_nulls_stay_null(api: httpx.Client) -> None:
    items = fetch(api, page_size=1000)["items"]
    direct = next(item for item in items if item["zjbj"] == "1")
    assert direct["pdsj"] is None and direct["cbdw"] is None
    assert direct["bjsj"].endswith("+08:00")
    for item in items:
        for name in TS_COLUMNS:
            value = item[name]
            assert value is None or datetime.fromisoformat(value).utcoffset() == timedelta(hours=8)
            assert value is None or len(value) == len("2025-03-05T09:07:00+08:00")
    assert tuple(items[0]) == COLUMNS  # lower-case names in contract order


def test_default_page_size_is_100(api: httpx.Client, store: Path) -> None:
    body = fetch(api)
    assert (body["total"], body["page"], body["page_size"]) == (N_ORDERS, 1, 100)
    assert body["items"] == expected_items(store)[:100]


def test_pages_partition_the_result_and_beyond_last_is_empty(
    api: httpx.Client, store: Path
) -> None:
    page_size = 64
    pages = [fetch(api, page=n, page_size=page_size) for n in range(1, 6)]
    assert [len(p["items"]) for p in pages] == [64, 64, 64, 64, N_ORDERS - 4 * 64]
    assert [item for p in pages for item in p["items"]] == expected_items(store)
    beyond = fetch(api, page=6, page_size=page_size)
    assert beyond == {"total": N_ORDERS, "page": 6, "page_size": 64, "items": []}
    far = fetch(api, page=10**6, page_size=1000)
    assert (far["total"], far["items"]) == (N_ORDERS, [])


def tied_watermark(path: Path) -> str:
    """An updated_at (local text) shared by several rows, mid-way through the store."""
    values = sorted(r["updated_at"] for r in store_rows(path))
    middle = values[len(values) // 3 :]
    return max(set(middle), key=lambda v: (middle.count(v), v))


def test_updated_since_is_inclusive(api: httpx.Client, store: Path) -> None:
    watermark = tied_watermark(store)
    expected = expected_items(store, since_local=watermark)
    at_watermark = [i for i in expected if i["updated_at"].startswith(watermark.replace(" ", "T"))]
    assert len(at_watermark) >= 2
    body = fetch(api, updated_since=watermark.replace(" ", "T"), page_size=1000)
    assert body["total"] == len(expected) < N_ORDERS
    assert body["items"] == expected
    assert body["items"][: len(at_watermark)] == at_watermark
    one_second_later = datetime.fromisoformat(watermark) + timedelta(seconds=1)
    later = fetch(api, updated_since=one_second_later.isoformat(), page_size=1000)
    assert later["total"] == len(expected) - len(at_watermark)


def test_total_follows_the_store_when_it_changes_between_pages(
    api: httpx.Client, store: Path
) -> None:
    """The server counts from a sorted copy of updated_at: a write must refresh it."""
    watermark = tied_watermark(store)
    since = watermark.replace(" ", "T")
    before = fetch(api, updated_since=since, page_size=10)["total"]
    rows = store_rows(store)
    moved = [r for r in rows if r["updated_at"] < watermark][:5]
    assert len(moved) == 5
    conn = open_store(store)
    write_orders(
        conn, [tuple({**r, "updated_at": "2031-01-01 00:00:00"}[c] for c in COLUMNS) for r in moved]
    )
    conn.close()
    after = fetch(api, updated_since=since, page_size=10)
    assert after["total"] == before + 5 == len(expected_items(store, since_local=watermark))
    assert fetch(api, page_size=10)["total"] == N_ORDERS


def test_offsets_are_converted_to_shanghai_time(api: httpx.Client, store: Path) -> None:
    watermark = datetime.fromisoformat(tied_watermark(store))
    expected = expected_items(store, since_local=local_text(watermark))
    utc = watermark - timedelta(hours=8)
    forms = [
        watermark.isoformat(),  # naive: local time
        f"{watermark.isoformat()}+08:00",
        f"{utc.isoformat()}Z",
        f"{utc.isoformat()}+00:00",
        f"{(utc - timedelta(hours=5)).isoformat()}-05:00",
    ]
    for form in forms:
        body = fetch(api, updated_since=form, page_size=1000)
        assert body["items"] == expected, form
    assert expected[0]["updated_at"] == f"{watermark:%Y-%m-%dT%H:%M:%S}+08:00"


# --- faults (D12) ------------------------------------------------------------------------


def test_rate_limited_429_carries_retry_after(start_hotline) -> None:
    client = start_hotline(rate_limit_rate=1.0, retry_after=7)
    response = client.get(API)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"error": "rate_limited", "message": "retry after 7 s"}
    # Auth comes first: a bad token is a deterministic 401, never a random fault.
    unauthorised = client.get(API, headers={"Authorization": "Bearer nope"})
    assert unauthorised.status_code == 401


def test_server_error_rate_gives_a_transient_5xx(start_hotline) -> None:
    client = start_hotline(server_error_rate=1.0)
    response = client.get(API, params={"page_size": 10})
    assert 500 <= response.status_code < 600
    assert response.json()["error"] == "service_unavailable"
    assert "items" not in response.json()
    assert client.get("/health").status_code == 200  # health is never faulted


def test_faults_are_seeded_and_split_half_and_half(start_hotline) -> None:
    def statuses(client: httpx.Client) -> list[int]:
        return [client.get(API, params={"page_size": 1}).status_code for _ in range(40)]

    first = statuses(start_hotline(error_rate=0.5, seed=11))
    again = statuses(start_hotline(error_rate=0.5, seed=11))
    other = statuses(start_hotline(error_rate=0.5, seed=12))
    assert first == again
    assert first != other
    assert {200, 429, 503} <= set(first)


def test_reader_waits_for_a_writer_instead_of_failing(api: httpx.Client, store: Path) -> None:
    writer = sqlite3.connect(store, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN EXCLUSIVE")  # blocks readers, as a commit in progress would
    threading.Timer(0.5, writer.execute, ("COMMIT",)).start()
    started = time.monotonic()
    body = fetch(api, page_size=5)
    assert time.monotonic() - started >= 0.4
    assert body["total"] == N_ORDERS
    writer.close()


# --- clients paging while the store changes ----------------------------------------------


def get_with_retry(client: httpx.Client, params: dict, faults: list[int]) -> dict:
    """GET honouring Retry-After on 429 and backing off on 5xx (records each fault)."""
    for attempt in range(50):
        response = client.get(API, params=params)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 429 or response.status_code >= 500, response.text
        faults.append(response.status_code)
        delay = float(response.headers.get("retry-after", 0.01 * attempt))
        time.sleep(min(delay, 0.05))  # the test server asks for 0 s; stay fast anyway
    raise AssertionError("still failing after 50 attempts")


def keep_latest(seen: dict[str, dict], items: list[dict]) -> None:
    for item in items:
        known = seen.get(item["gdbh"])
        moment = datetime.fromisoformat(item["updated_at"])
        if known is None or moment >= datetime.fromisoformat(known["updated_at"]):
            seen[item["gdbh"]] = item


def sync_by_watermark(
    client: httpx.Client,
    since: str,
    page_size: int,
    between_requests: Callable[[int], None],
    faults: list[int] | None = None,
) -> dict[str, dict]:
    """The strategy the contract calls for: always page 1, re-querying from the highest
    updated_at seen (inclusive, so rows tied at the page boundary are not lost), keeping
    the latest version of each gdbh. Changed rows move past the watermark and are found."""
    seen: dict[str, dict] = {}
    watermark = since
    for request_no in itertools.count(1):
        items = get_with_retry(
            client,
            {"updated_since": watermark, "page_size": page_size},
            [] if faults is None else faults,
        )["items"]
        keep_latest(seen, items)
        if len(items) < page_size:
            return seen
        highest = items[-1]["updated_at"]
        # A full page all at the watermark would loop; the test data ties far fewer rows.
        assert highest != watermark, "more rows share one updated_at than page_size"
        watermark = highest
        between_requests(request_no)
    raise AssertionError("unreachable")


def sync_by_offset(
    client: httpx.Client, since: str, page_size: int, between_requests: Callable[[int], None]
) -> dict[str, dict]:
    """Naive paging: one fixed updated_since, page 1, 2, 3, ... until an empty page."""
    seen: dict[str, dict] = {}
    for page in itertools.count(1):
        items = fetch(client, updated_since=since, page=page, page_size=page_size)["items"]
        if not items:
            return seen
        keep_latest(seen, items)
        between_requests(page)
    raise AssertionError("unreachable")


def changes_while_paging(store: Path, since_local: str, page_size: int):
    """Between the first requests: re-touch rows already read, one not yet read, one below
    the watermark (it must now be included) and add a new work order."""
    clock = Clock(store)
    before = expected_items(store, since_local=since_local)
    below = next(r["gdbh"] for r in store_rows(store) if r["updated_at"] < since_local)
    plan = {
        1: lambda: clock.touch([before[0]["gdbh"], before[1]["gdbh"], below]),
        2: lambda: (clock.touch([before[3 * page_size]["gdbh"]]), clock.add("GD99999999")),
        3: lambda: clock.touch([before[0]["gdbh"], before[-1]["gdbh"]]),
    }
    return lambda request_no: plan.get(request_no, lambda: None)()


def watermark_of(store: Path) -> tuple[str, str]:
    """A watermark about a fifth into the store: (local text, ISO-8601 with +08:00)."""
    local = sorted(r["updated_at"] for r in store_rows(store))[N_ORDERS // 5]
    return local, local.replace(" ", "T") + "+08:00"


def test_watermark_client_ends_with_exactly_the_final_store(api: httpx.Client, store: Path) -> None:
    since_local, since = watermark_of(store)
    page_size = 25
    between = changes_while_paging(store, since_local, page_size)
    seen = sync_by_watermark(api, since, page_size, between)
    final = {item["gdbh"]: item for item in expected_items(store, since_local=since_local)}
    assert count(open_store(store)) == N_ORDERS + 1
    assert "GD99999999" in seen
    assert seen == final  # every gdbh once, each at its latest version


def test_watermark_client_survives_faults(start_hotline, store: Path) -> None:
    client = start_hotline(error_rate=0.5, retry_after=0, seed=5)
    since_local, since = watermark_of(store)
    faults: list[int] = []
    between = changes_while_paging(store, since_local, 25)
    seen = sync_by_watermark(client, since, 25, between, faults)
    assert {429, 503} <= set(faults)
    assert seen == {i["gdbh"]: i for i in expected_items(store, since_local=since_local)}


def test_offset_paging_alone_skips_a_row(api: httpx.Client, store: Path) -> None:
    since_local, since = watermark_of(store)
    page_size = 20
    before = expected_items(store, since_local=since_local)
    clock = Clock(store)

    def between(page: int) -> None:
        if page == 1:  # a row already read is updated: everything after shifts left by one
            clock.touch([before[0]["gdbh"]])

    seen = sync_by_offset(api, since, page_size, between)
    final = {item["gdbh"]: item for item in expected_items(store, since_local=since_local)}
    skipped = before[page_size]["gdbh"]  # was first on page 2, slid onto page 1
    assert set(final) - set(seen) == {skipped}
    assert final[skipped] == before[page_size]  # unchanged, simply never served
    assert seen[before[0]["gdbh"]] == final[before[0]["gdbh"]]  # the moved row: at the end


# --- the store ---------------------------------------------------------------------------


def test_write_orders_replaces_by_gdbh(store: Path) -> None:
    conn = open_store(store)
    original = dict(zip(COLUMNS, synthetic_order(0, random.Random(3)), strict=True))
    first = tuple({**original, "gdbh": "GD00000001", "gdzt": "2"}[n] for n in COLUMNS)
    second = tuple({**original, "gdbh": "GD00000001", "gdzt": "4"}[n] for n in COLUMNS)
    # A duplicate left by some other writer goes too: the table has no unique constraint.
    conn.execute(f"INSERT INTO work_orders VALUES ({', '.join('?' * len(COLUMNS))})", first)
    conn.commit()
    assert count(conn) == N_ORDERS + 1
    assert write_orders(conn, [first, second]) == 1  # within a batch the last one wins
    rows = conn.execute("SELECT gdzt FROM work_orders WHERE gdbh = 'GD00000001'").fetchall()
    assert rows == [("4",)]
    assert count(conn) == N_ORDERS
    with pytest.raises(ValueError, match="18 columns"):
        write_orders(conn, [first[:-1]])
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    indexes = conn.execute("PRAGMA index_list(work_orders)").fetchall()
    index_columns = [[c[2] for c in conn.execute(f"PRAGMA index_info({i[1]})")] for i in indexes]
    assert index_columns == [["updated_at", "gdbh"]]
    conn.close()


def test_open_store_does_not_create_by_accident(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_store(store_path(tmp_path / "nowhere"))
    assert not (tmp_path / "nowhere").exists()
