"""The 12345 hotline vendor's HTTP API over its work-order store (stdlib http.server).

Behaviour follows the contract (``sources.yaml``, system ``hotline_12345``, ``api``):

- ``GET /api/v1/work-orders?updated_since=<ISO-8601>&page=<n>&page_size=<m>`` with
  ``Authorization: Bearer <token>``; answers ``{"total", "page", "page_size", "items"}``;
- items with ``updated_at >= updated_since`` (inclusive), ordered by updated_at then gdbh,
  paged by OFFSET against the store *at request time*: rows updated while a client pages
  move to the end, so offset paging alone can skip rows (defect D12, on purpose);
- timestamps rendered ISO-8601 with ``+08:00``;
- 401 for a bad token; then, seeded, 429 with ``Retry-After`` or a transient 503 (D12).

``GET /health`` answers ``{"status": "ok"}`` without a token and without faults.
"""

from __future__ import annotations

import hmac
import random
import sqlite3
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import msgspec
import numpy as np

from contract import load_contract
from simulator.hotline_store import (
    BUSY_TIMEOUT_MS,
    SHANGHAI,
    SYSTEM,
    TABLE,
    work_orders_table,
)

API_PATH = "/api/v1/work-orders"
HEALTH_PATH = "/health"
DEFAULT_PAGE_SIZE = 100
PAGE_SIZE_MAX = int(load_contract().systems[SYSTEM].api["page_size_max"])
# Keeps (page - 1) * page_size inside SQLite's 64-bit integers.
PAGE_MAX = 2**31
DEFAULT_CLI_ERROR_RATE = 0.01  # D12: 1 % of requests


class BadRequest(ValueError):
    """A query parameter the API refuses (answered with 400)."""


@dataclass(frozen=True)
class PageRequest:
    since: str | None  # naive Asia/Shanghai text, comparable with the store's text
    page: int
    page_size: int


# --- query parameters -------------------------------------------------------------------


def parse_page_request(query: str) -> PageRequest:
    params = parse_qs(query, keep_blank_values=True)
    since = _single(params, "updated_since")
    return PageRequest(
        since=None if since is None else parse_updated_since(since),
        page=_bounded_int(params, "page", default=1, maximum=PAGE_MAX),
        page_size=_bounded_int(params, "page_size", DEFAULT_PAGE_SIZE, PAGE_SIZE_MAX),
    )


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise BadRequest(f"{name} is given more than once")
    return values[0]


def _bounded_int(params: dict[str, list[str]], name: str, default: int, maximum: int) -> int:
    text = _single(params, name)
    if text is None:
        return default
    # Only plain ASCII digits: int() would also take "+3", " 3" or Arabic-Indic digits.
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"{name} must be a whole number, got {text!r}")
    value = int(text)
    if not 1 <= value <= maximum:
        raise BadRequest(f"{name} must be between 1 and {maximum}, got {value}")
    return value


def parse_updated_since(text: str) -> str:
    """ISO-8601 to the store's naive local text; an offset (``+08:00``, ``Z``) is converted
    to Asia/Shanghai, a naive value is already local time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        hint = " (a '+' in a query string must be encoded as %2B)" if " " in text else ""
        raise BadRequest(f"updated_since is not an ISO-8601 timestamp: {text!r}{hint}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(SHANGHAI).replace(tzinfo=None)
    # isoformat drops zero microseconds, so whole seconds compare exactly with the store.
    return moment.isoformat(sep=" ")


# --- reading the store ------------------------------------------------------------------


def read_page(path: Path, request: PageRequest) -> dict:
    """One page, read with a fresh read-only connection so that another process can change
    the store between a client's pages. Total and items come from one read transaction."""
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.isolation_level = None  # we issue BEGIN ourselves
    try:
        conn.execute("BEGIN")
        conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchall()  # takes the read lock
        where, args = _since_filter(request.since)
        total = _UPDATED.count_since(path, conn, request.since)
        rows = conn.execute(
            f"SELECT {_rendered_columns()} FROM {TABLE} {where} "
            "ORDER BY updated_at, gdbh LIMIT ? OFFSET ?",
            [*args, request.page_size, (request.page - 1) * request.page_size],
        ).fetchall()
    finally:
        conn.close()
    items = [_item(row) for row in rows]
    return {"total": total, "page": request.page, "page_size": request.page_size, "items": items}


@cache
def _rendered_columns() -> str:
    """The store's columns in contract order, each timestamp followed by its rendering."""
    names, ts_columns = _layout()
    return ", ".join(
        f"{_quoted(name)}, {render_ts_sql(_quoted(name))}" if name in ts_columns else _quoted(name)
        for name in names
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def render_ts_sql(column: str) -> str:
    """`render_ts` in SQLite for the store's usual text, a valid `YYYY-MM-DD HH:MM:SS` (it
    is the one spelling that SQLite's datetime gives back unchanged, once asked to normalise
    it; year 0 is none to Python); NULL for anything else, left to `render_ts`."""
    return (
        f"CASE WHEN datetime({column}, '+0 seconds') = {column} AND substr({column}, 1, 4) "
        f"<> '0000' THEN substr({column}, 1, 10) || 'T' || substr({column}, 12) || '+08:00' END"
    )


def _item(row: tuple) -> dict:
    """A row of `_rendered_columns` as the JSON object `render_item` makes of the store row."""
    names, ts_columns = _layout()
    values, at = [], 0
    for name in names:
        if name in ts_columns:
            text, rendered = row[at], row[at + 1]
            values.append(rendered if rendered is not None or text is None else render_ts(text))
            at += 2
        else:
            values.append(row[at])
            at += 1
    return dict(zip(_lower_names(), values, strict=True))


@cache
def _lower_names() -> tuple[str, ...]:
    return tuple(name.lower() for name in _layout()[0])


class _UpdatedAtIndex:
    """Every updated_at of the store, sorted, to count the rows from a moment by bisection.

    A COUNT(*) per page walks the index from `updated_since` to the end: summed over a first
    load of 11 million work orders that is about an hour of the vendor's CPU. The sorted
    values are read again when the store's file has changed; the check runs while the
    page's read transaction holds SQLite's shared lock, so no writer can commit in between
    and the total matches the items of the same page."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stores: dict[Path, tuple[tuple, int, np.ndarray]] = {}

    def count_since(self, path: Path, conn: sqlite3.Connection, since: str | None) -> int:
        stat = path.stat()
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._stores.get(path)
            if known is None or known[0] != version:
                rows = conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]
                known = (version, rows, self._read(conn))
                self._stores[path] = known
        _, rows, values = known
        if since is None:
            return rows
        # Byte order of UTF-8 is SQLite's BINARY collation: bisection agrees with `>=`.
        return len(values) - int(np.searchsorted(values, since.encode(), side="left"))

    @staticmethod
    def _read(conn: sqlite3.Connection) -> np.ndarray:
        rows = conn.execute(
            f"SELECT updated_at FROM {TABLE} WHERE updated_at IS NOT NULL ORDER BY updated_at"
        )
        return np.array([value.encode() for (value,) in rows], dtype=bytes)


_UPDATED = _UpdatedAtIndex()


def _since_filter(since: str | None) -> tuple[str, list[str]]:
    if since is None:
        return "", []  # without updated_since, all items
    return "WHERE updated_at >= ?", [since]  # inclusive, as the contract says


def render_item(row: tuple) -> dict:
    """A store row (contract order) as a JSON object with lower-case field names: the
    Python reference that the pages' SQL rendering (`_item`) is tested against."""
    names, ts_columns = _layout()
    return {
        name.lower(): render_ts(value) if name in ts_columns else value
        for name, value in zip(names, row, strict=True)
    }


@cache
def _layout() -> tuple[tuple[str, ...], frozenset[str]]:
    """The store's column names and which of them are timestamps (kind ``ts``)."""
    columns = work_orders_table().columns
    return tuple(c.name for c in columns), frozenset(c.name for c in columns if c.kind == "ts")


def render_ts(text: str | None) -> str | None:
    """Naive local store text to ISO-8601 with ``+08:00``."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=SHANGHAI).isoformat()
        return moment.astimezone(SHANGHAI).isoformat()
    # a garbled stamp, or one at the calendar's edge (9999-12-31T23:59Z moved to +08:00):
    # the vendor passes on what it holds; the pipeline's checks judge it
    except (ValueError, OverflowError):
        return text


# --- faults (D12) -----------------------------------------------------------------------


class FaultInjector:
    """Seeded choice per authorised request: rate limited (429), server error (503) or
    none. One draw per request under a lock, so a sequential client sees a reproducible
    sequence for a given seed."""

    def __init__(
        self, rate_limit_rate: float, server_error_rate: float, seed: int, outage_requests: int = 0
    ) -> None:
        if outage_requests < 0:
            raise ValueError(f"outage_requests must be >= 0, got {outage_requests}")
        for name, rate in (
            ("rate_limit_rate", rate_limit_rate),
            ("server_error_rate", server_error_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if rate_limit_rate + server_error_rate > 1.0:
            raise ValueError("rate_limit_rate + server_error_rate must not exceed 1")
        self.rate_limit_rate = rate_limit_rate
        self.server_error_rate = server_error_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        # An outage: the first requests all fail with 503, as when the vendor's server restarts.
        self._outage_left = outage_requests

    def draw(self) -> str | None:
        with self._lock:
            if self._outage_left > 0:
                self._outage_left -= 1
                return "server_error"
            roll = self._random.random()
        if roll < self.rate_limit_rate:
            return "rate_limited"
        if roll < self.rate_limit_rate + self.server_error_rate:
            return "server_error"
        return None


def fault_rates(
    error_rate: float, rate_limit_rate: float | None, server_error_rate: float | None
) -> tuple[float, float]:
    """A specific rate wins; a missing one is half of error_rate."""
    return (
        error_rate / 2 if rate_limit_rate is None else rate_limit_rate,
        error_rate / 2 if server_error_rate is None else server_error_rate,
    )


# --- HTTP -------------------------------------------------------------------------------


class HotlineHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not block shutdown

    def __init__(
        self,
        address: tuple[str, int],
        store_path: Path,
        token: str,
        faults: FaultInjector,
        retry_after: int,
        verbose: bool,
    ) -> None:
        self.store_path = store_path
        self.token = token
        self.faults = faults
        self.retry_after = retry_after
        self.verbose = verbose
        super().__init__(address, HotlineRequestHandler)


class HotlineRequestHandler(BaseHTTPRequestHandler):
    server: HotlineHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "Hotline12345/1.0"
    timeout = 30  # seconds an idle keep-alive connection is held
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == HEALTH_PATH:
            self._send_json(HTTPStatus.OK, {"status": "ok"})
        elif url.path == API_PATH:
            self._serve_work_orders(url.query)
        else:
            self._send_error(HTTPStatus.NOT_FOUND, "not_found", f"no resource at {url.path}")

    def _refuse_method(self) -> None:
        self.close_connection = True  # any request body is left unread
        self._send_error(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "only GET is supported",
            {"Allow": "GET"},
        )

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse_method

    def _serve_work_orders(self, query: str) -> None:
        # Auth first: a bad token is always 401, never hidden behind a random fault.
        if not self._authorised():
            self._send_error(
                HTTPStatus.UNAUTHORIZED,
                "unauthorized",
                "missing or invalid bearer token",
                {"WWW-Authenticate": 'Bearer realm="12345"'},
            )
            return
        if self._sent_fault():
            return
        try:
            request = parse_page_request(query)
        except BadRequest as error:
            self._send_error(HTTPStatus.BAD_REQUEST, "bad_request", str(error))
            return
        try:
            body = read_page(self.server.store_path, request)
        except sqlite3.Error as error:
            self._send_error(HTTPStatus.SERVICE_UNAVAILABLE, "store_unavailable", str(error))
            return
        self._send_json(HTTPStatus.OK, body)

    def _authorised(self) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        return hmac.compare_digest(token.strip().encode(), self.server.token.encode())

    def _sent_fault(self) -> bool:
        fault = self.server.faults.draw()
        if fault == "rate_limited":
            seconds = self.server.retry_after
            self._send_error(
                HTTPStatus.TOO_MANY_REQUESTS,
                "rate_limited",
                f"retry after {seconds} s",
                {"Retry-After": str(seconds)},
            )
        elif fault == "server_error":
            self._send_error(
                HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable", "transient, retry later"
            )
        return fault is not None

    def _send_error(
        self, status: HTTPStatus, error: str, message: str, headers: dict | None = None
    ) -> None:
        self._send_json(status, {"error": error, "message": message}, headers)

    def _send_json(self, status: HTTPStatus, payload: dict, headers: dict | None = None) -> None:
        # UTF-8 as json.dumps(ensure_ascii=False) writes it, at a fraction of its cost
        body = msgspec.json.encode(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args) -> None:
        # One line per request on stderr, only when asked for: tests and the CLI stay quiet.
        if self.server.verbose:
            super().log_message(fmt, *args)


def make_server(
    store_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    token: str,
    error_rate: float = 0.0,
    rate_limit_rate: float | None = None,
    server_error_rate: float | None = None,
    retry_after: int = 1,
    seed: int = 0,
    verbose: bool = False,
    outage_requests: int = 0,
) -> HotlineHTTPServer:
    """A bound, not yet serving, API server; port 0 picks a free port (see
    ``server.server_address``). Run it with ``serve_forever()`` (e.g. in a thread)."""
    store_path = Path(store_path)
    if not store_path.exists():
        raise FileNotFoundError(f"no hotline store at {store_path}")
    if not token:
        raise ValueError("a bearer token is required")
    if retry_after < 0:
        raise ValueError(f"retry_after must be >= 0 seconds, got {retry_after}")
    faults = FaultInjector(
        *fault_rates(error_rate, rate_limit_rate, server_error_rate), seed, outage_requests
    )
    return HotlineHTTPServer((host, port), store_path, token, faults, retry_after, verbose)


def serve_forever(
    store_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    token: str,
    error_rate: float = DEFAULT_CLI_ERROR_RATE,
    rate_limit_rate: float | None = None,
    server_error_rate: float | None = None,
    retry_after: int = 1,
    seed: int = 0,
    verbose: bool = False,
) -> None:
    """Serve until interrupted (the CLI's ``serve-hotline``). Prints the API's URL on
    stdout, so that a caller that asked for port 0 learns the port."""
    server = make_server(
        store_path,
        host,
        port,
        token=token,
        error_rate=error_rate,
        rate_limit_rate=rate_limit_rate,
        server_error_rate=server_error_rate,
        retry_after=retry_after,
        seed=seed,
        verbose=verbose,
    )
    bound_host, bound_port = server.server_address[:2]
    print(f"hotline API on http://{bound_host}:{bound_port}{API_PATH}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("hotline API stopped", file=sys.stderr)
    finally:
        server.server_close()
