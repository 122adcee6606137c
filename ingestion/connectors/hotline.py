"""The 12345 hotline vendor's HTTP JSON API (contract system ``hotline_12345``, D12).

``GET /api/v1/work-orders?updated_since=&page=&page_size=`` with a bearer token. The API
pages by offset against the store at request time, so a row updated while we page moves to
the end and offset paging alone skips the row that slides into its place. We therefore page
by keyset on ``updated_at``: always page 1 again, from the highest ``updated_at`` seen
(inclusive, so rows tied at a page boundary come back), keeping the latest version of each
``gdbh``. Only when more rows share one ``updated_at`` than fit a page do we fall back to
offset pages for that value; if rows move while we do, the pass is read again (bounded).

429 waits for ``Retry-After``; 5xx, timeouts and connection errors back off exponentially;
401 fails at once. Every request keeps the system's deadlines (sources.yaml ``deadlines``):
connect, read (between two reads), the whole request (a server trickling a byte a second
cannot hold it), and the whole run (all requests, retries and waits: ``max_attempts`` is
honoured within it). On expiry the load fails with a SourceError naming the deadline.

Timestamps arrive as ISO-8601 with an offset and leave as naive Asia/Shanghai text; every
value leaves as text, and no row is ever dropped here.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec
import polars as pl

from contract import load_contract
from groundfloor.settings import duckdb_settings, ingest_chunk_rows, secret
from ingestion.batch import Batch, SourceError
from ingestion.config import Deadlines, SystemConfig

TABLE = "work_orders"
API_PATH = "/api/v1/work-orders"  # the contract's api.endpoint
# China has kept UTC+8 without daylight saving since 1991: a fixed offset is exact.
SHANGHAI_OFFSET = timedelta(hours=8)
SHANGHAI = timezone(SHANGHAI_OFFSET, "Asia/Shanghai")
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
BACKOFF_FIRST = 0.5  # seconds before the second attempt; doubles per attempt
BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 300.0  # a vendor asking for more would stall the schedule; fail instead
MAX_TIE_REDOS = 3  # offset passes over tied rows read again because rows moved meanwhile
RETRYABLE = frozenset({408, 429})  # plus every 5xx


# --- values -----------------------------------------------------------------------------


def server_clock(response: httpx.Response) -> str | None:
    """The API's Date header as Asia/Shanghai wall time: the source's own clock."""
    try:
        moment = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(SHANGHAI).strftime(LOCAL_FORMAT)


def parse_local(value: Any) -> datetime | None:
    """ISO-8601 (any offset, or naive = already local) to naive Asia/Shanghai; else None."""
    if not isinstance(value, str):
        return None
    return _parse_local_text(value)


# A work order's updated_at is read by paging, de-duplication, ordering and the frame: parsed
# once, looked up after (the values are immutable; a page's stamps stay in the cache).
@lru_cache(maxsize=1 << 16)
def _parse_local_text(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            if moment.utcoffset() != SHANGHAI_OFFSET:  # the vendor's usual +08:00 needs none
                moment = moment.astimezone(SHANGHAI)
            moment = moment.replace(tzinfo=None)
    except (ValueError, OverflowError):
        return None
    return moment


def to_local_text(value: Any) -> str | None:
    """A timestamp as naive local ``YYYY-MM-DD HH:MM:SS``; what does not parse passes
    through as text, so that landing can quarantine it (never dropped here)."""
    if isinstance(value, str):
        return _local_text(value)
    return as_text(value)


@lru_cache(maxsize=1 << 16)
def _local_text(value: str) -> str:
    moment = _parse_local_text(value)
    if moment is None:
        return value
    # isoformat spells LOCAL_FORMAT at a third of strftime's cost, for four-digit years
    if moment.year < 1000:
        return moment.strftime(LOCAL_FORMAT)
    return moment.isoformat(" ", "seconds")


# The vendor's usual spelling: whole seconds at +08:00, a four-digit year from 1000 on (the
# rule `_local_text` follows for years before 1000 differs). Such a text is its local time with
# "T" for " " and the offset cut off, once its date is known to exist (no 30 February).
_USUAL_STAMP = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\+08:00$"


def local_texts(texts: pl.Series) -> pl.Series:
    """`to_local_text` of every text of a series: the usual spelling converted by polars,
    only the others parsed one by one."""
    head = texts.str.slice(0, 19)
    usual = (
        texts.str.contains(_USUAL_STAMP)
        & head.str.strptime(pl.Datetime, "%Y-%m-%dT%H:%M:%S", strict=False).is_not_null()
    )
    usual = usual.fill_null(False)
    local = pl.select(
        pl.when(usual).then(head.str.replace("T", " ", literal=True)).otherwise(texts)
    ).to_series()
    others = (~usual & texts.is_not_null()).arg_true()
    if len(others):
        local = local.scatter(others, [_local_text(text) for text in texts.gather(others)])
    return local.rename(texts.name)


def as_text(value: Any) -> str | None:
    """JSON scalars as text (numbers and booleans in their JSON spelling); null stays null."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def public_url(url: str) -> str:
    """The URL without any user or password, for messages and the load audit."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): 0.5, 1, 2, ..."""
    return min(BACKOFF_FIRST * 2 ** (attempt - 1), BACKOFF_MAX)


def retry_after(response: httpx.Response, attempt: int) -> float:
    """The server's ``Retry-After`` (seconds or an HTTP date), else our own back-off."""
    header = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(header)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return backoff(attempt)
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _key(item: dict) -> str:
    gdbh = item.get("gdbh")
    if gdbh is not None:
        return as_text(gdbh)
    # No key: never merge such rows with others; landing quarantines them.
    return "\0" + json.dumps(item, sort_keys=True, ensure_ascii=False)


# A page's item with its key and parsed updated_at, worked out once for every use.
Read = tuple[str, datetime | None, dict]


def _read(items: list[dict]) -> list[Read]:
    return [(_key(item), parse_local(item.get("updated_at")), item) for item in items]


def _highest(page: list[Read]) -> datetime | None:
    return max((stamp for _, stamp, _ in page if stamp is not None), default=None)


# --- HTTP with retries --------------------------------------------------------------------


class _Transient(Exception):
    """A failed attempt worth repeating, after ``delay`` seconds."""

    def __init__(self, problem: str, delay: float) -> None:
        super().__init__(problem)
        self.problem, self.delay = problem, delay


@dataclass
class _Session:
    client: httpx.Client
    system: str
    url: str
    token_env: str
    headers: dict[str, str]
    attempts: int
    sleep: Callable[[float], None]
    deadlines: Deadlines = field(default_factory=Deadlines)
    clock: Callable[[], float] = time.monotonic
    requests: int = 0
    pages: int = 0
    retries: int = 0
    waited: float = 0.0
    server_now: str | None = None  # the server's clock (Date header) at its first answer

    def __post_init__(self) -> None:
        self.run_ends = self.clock() + self.deadlines.run_seconds  # the run starts paging now

    def get(self, params: dict[str, Any]) -> dict:
        """One page, retried within the run deadline; SourceError when it cannot be had."""
        problem = ""
        for attempt in range(1, self.attempts + 1):
            self.requests += 1
            try:
                body = self._attempt(params, attempt)
            except _Transient as failure:
                problem = failure.problem
                if attempt < self.attempts:  # no pointless wait after the last attempt
                    self._wait(failure.delay, params, attempt, problem)
                continue
            self.pages += 1
            return body
        raise SourceError(
            f"{self.system}: GET {self._shown(params)} failed {_times(self.attempts)} "
            f"(waited {self.waited:g} s in all); last: {problem}"
        )

    def _wait(self, delay: float, params: dict[str, Any], attempt: int, problem: str) -> None:
        """Wait before the next attempt, unless the run deadline would pass meanwhile: then
        there is no time left for it, and waiting would only make the failure later."""
        if self.clock() + delay >= self.run_ends:
            raise SourceError(
                f"{self.system}: GET {self._shown(params)}: the run deadline of "
                f"{self.deadlines.run_seconds:g} s (deadlines.run_seconds) leaves no time for "
                f"attempt {attempt + 1} of {self.attempts} after a wait of {delay:g} s; "
                f"last: {problem}"
            )
        self.sleep(delay)
        self.retries += 1
        self.waited += delay

    def _attempt(self, params: dict[str, Any], attempt: int) -> dict:
        ends, bound = self._request_ends()
        timeout = self._timeout(ends)
        try:
            with self.client.stream(
                "GET", self.url, params=params, headers=self.headers, timeout=timeout
            ) as response:
                content = self._content(response, ends, bound, attempt)
        except httpx.UnsupportedProtocol as error:  # a misconfigured base_url: no use retrying
            message = f"{self.system}: cannot request {self._shown(params)}: {error}"
            raise SourceError(message) from error
        except httpx.TimeoutException as error:  # connect or read deadline: transient
            raise _Transient(self._timed_out(error, timeout, bound), backoff(attempt)) from None
        except httpx.TransportError as error:  # refused, reset: transient
            raise _Transient(f"{type(error).__name__}: {error}", backoff(attempt)) from None
        status = response.status_code
        if status == 401:
            raise SourceError(
                f"{self.system}: token rejected: check ${self.token_env} "
                f"(GET {self._shown(params)} answered 401)"
            )
        if status == 429:
            raise _Transient(_status_text(response, content), retry_after(response, attempt))
        if status >= 500 or status in RETRYABLE:
            raise _Transient(_status_text(response, content), backoff(attempt))
        if status != 200:
            detail = _status_text(response, content)
            raise SourceError(f"{self.system}: GET {self._shown(params)}: {detail}")
        if self.server_now is None:
            self.server_now = server_clock(response)
        return self._body(content, params, attempt)

    # -- deadlines ----------------------------------------------------------------------------

    def _request_ends(self) -> tuple[float, str]:
        """When this attempt must be done, and which deadline says so (the nearer one)."""
        now = self.clock()
        request_ends = now + self.deadlines.request_seconds
        if now >= self.run_ends:  # only after a wait the clock did not foresee
            raise SourceError(
                f"{self.system}: the run deadline of {self.deadlines.run_seconds:g} s "
                f"(deadlines.run_seconds) has passed"
            )
        if request_ends <= self.run_ends:
            seconds = self.deadlines.request_seconds
            return request_ends, f"request deadline of {seconds:g} s (deadlines.request_seconds)"
        seconds = self.deadlines.run_seconds
        return self.run_ends, f"run deadline of {seconds:g} s (deadlines.run_seconds)"

    def _timeout(self, ends: float) -> httpx.Timeout:
        """httpx's timeouts are per operation: none may reach past the attempt's deadline."""
        left = max(ends - self.clock(), 0.001)
        connect = min(self.deadlines.connect_seconds, left)
        read = min(self.deadlines.read_seconds, left)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)

    def _content(self, response: httpx.Response, ends: float, bound: str, attempt: int) -> bytes:
        """The body, read while the deadline holds: checked at every read, so a server that
        keeps sending a byte now and then is cut off (one read, read_seconds, at most late)."""
        parts, size = [], 0
        for part in response.iter_bytes():
            parts.append(part)
            size += len(part)
            if self.clock() > ends:
                raise _Transient(
                    f"the {bound} passed with {size:,} bytes of the answer read "
                    f"(HTTP {response.status_code})",
                    backoff(attempt),
                )
        return b"".join(parts)

    def _timed_out(self, error: httpx.TimeoutException, timeout: httpx.Timeout, bound: str) -> str:
        """Which deadline an httpx timeout was: its own, or the nearer one that capped it."""
        if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
            used, own, name = timeout.connect, self.deadlines.connect_seconds, "connect"
        else:
            used, own, name = timeout.read, self.deadlines.read_seconds, "read"
        if used is not None and used < own:
            return f"{type(error).__name__}: nothing within {used:.3g} s, the {bound} being nearer"
        return (
            f"{type(error).__name__}: nothing within the {name} deadline of {own:g} s "
            f"(deadlines.{name}_seconds)"
        )

    def _body(self, content: bytes, params: dict[str, Any], attempt: int) -> dict:
        try:
            # msgspec decodes to the same Python values as json.loads, several times faster
            body = msgspec.json.decode(content)
        except ValueError:  # cut off or not JSON (a proxy's page): may well pass
            raise _Transient("HTTP 200 with a body that is not JSON", backoff(attempt)) from None
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SourceError(
                f"{self.system}: GET {self._shown(params)}: the answer has no list of "
                f"work-order objects under 'items' (API changed?)"
            )
        return body

    def _shown(self, params: dict[str, Any]) -> str:
        return str(httpx.URL(public_url(self.url), params=params))


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _status_text(response: httpx.Response, content: bytes) -> str:
    try:
        detail = json.loads(content).get("message", "")
    except (ValueError, AttributeError):
        detail = content.decode(response.encoding or "utf-8", errors="replace")
    return f"HTTP {response.status_code} {response.reason_phrase}: {str(detail)[:200]}".rstrip(": ")


# --- paging -------------------------------------------------------------------------------


class _Latest:
    """The latest version of every work order read so far.

    Kept in a temporary SQLite file, not in Python objects: a city's first load holds
    millions of work orders (10 million people: about 11 million, tens of GB as dicts).
    Each row keeps its sort key and its field names, so that the chunks handed on later come
    in the order and with the columns the whole delivery has."""

    def __init__(self, temp_dir: str | None = None):
        if temp_dir:  # DuckDB's spill folder, which DuckDB itself creates only when it spills
            Path(temp_dir).mkdir(parents=True, exist_ok=True)
        self._dir = tempfile.TemporaryDirectory(prefix="hotline-", dir=temp_dir)
        self.conn = sqlite3.connect(Path(self._dir.name) / "latest.sqlite")
        self.conn.execute("PRAGMA journal_mode = OFF")  # scratch: nothing to recover
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute(
            "CREATE TABLE latest (key TEXT PRIMARY KEY, stamp TEXT, sort_ts TEXT, "
            "sort_key TEXT, fields TEXT, item BLOB)"
        )
        self.received = 0
        self.count = 0
        self.highest: datetime | None = None

    def add(self, page: list[Read]) -> int:
        """Keep newer versions; returns how many items were new or changed."""
        fresh, changed = 0, {}
        known = self._stored({key for key, _, _ in page})
        for key, stamp, item in page:
            old = changed.get(key, known.get(key))
            if old is None or (item != old[1] and _not_older(stamp, old[0])):
                self.count += old is None
                changed[key] = (stamp, item)
                fresh += 1
        self.received += len(page)
        self.highest = max(filter(None, (self.highest, _highest(page))), default=None)
        self.conn.executemany(
            "INSERT OR REPLACE INTO latest VALUES (?, ?, ?, ?, ?, ?)",
            [_stored_row(key, *version) for key, version in changed.items()],
        )
        return fresh

    def _stored(self, keys: set[str]) -> dict[str, tuple[datetime | None, dict]]:
        """The kept versions of these keys, each with its parsed updated_at."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        query = f"SELECT key, item FROM latest WHERE key IN ({marks})"
        items = {key: pickle.loads(item) for key, item in self.conn.execute(query, list(keys))}
        return {key: (parse_local(item.get("updated_at")), item) for key, item in items.items()}

    def highest_kept(self) -> datetime | None:
        value = self.conn.execute("SELECT MAX(stamp) FROM latest").fetchone()[0]
        return datetime.fromisoformat(value) if value else None

    def field_names(self) -> list[str]:
        """Every field name the kept rows carry, in order of first appearance in the sorted
        rows (as one list of them would give)."""
        sets = self.conn.execute(
            "SELECT fields FROM (SELECT fields, row_number() OVER (ORDER BY sort_ts, sort_key) "
            "AS pos FROM latest) GROUP BY fields ORDER BY MIN(pos)"
        )
        return list(dict.fromkeys(name for (fields,) in sets for name in fields.split("\x1f")))

    def chunks(self, size: int) -> Iterator[list[dict]]:
        rows = self.conn.execute("SELECT item FROM latest ORDER BY sort_ts, sort_key")
        while chunk := rows.fetchmany(size):
            yield [pickle.loads(item) for (item,) in chunk]

    def close(self) -> None:
        self.conn.close()
        self._dir.cleanup()


def _stored_row(key: str, stamp: datetime | None, item: dict) -> tuple:
    """(key, stamp for the watermark, sort key as _order, field names, the item)."""
    sort_ts, sort_key = _order(item)
    text = stamp.isoformat(" ") if stamp is not None else None  # sorts as the moments do
    fields = "\x1f".join(item)
    return key, text, sort_ts, sort_key, fields, pickle.dumps(item, pickle.HIGHEST_PROTOCOL)


def _not_older(stamp: datetime | None, known: datetime | None) -> bool:
    # Without two comparable stamps the later read wins: it is the more recent answer.
    return stamp is None or known is None or stamp >= known


@dataclass
class _Cursor:
    """Where the next request reads: keyset on updated_at, offset pages only for ties."""

    since: datetime | None
    page_size: int
    page: int = 1
    redos: int = 0
    in_pass: dict[str, datetime | None] = field(default_factory=dict)
    moved: bool = False

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"page": self.page, "page_size": self.page_size}
        if self.since is not None:  # inclusive; sent with its offset, as the contract shows
            params["updated_since"] = self.since.replace(tzinfo=SHANGHAI).isoformat()
        return params

    def advance(self, page: list[Read], fresh: int, highest: datetime | None) -> bool:
        """Move on after a page; False when the load is complete."""
        self._watch_moves(page)
        if len(page) >= self.page_size:
            top = _highest(page)
            if self.page == 1 and top is not None and (self.since is None or top > self.since):
                self._restart(top)  # keyset: the rows at `top` come again (inclusive)
            else:
                self.page += 1  # one updated_at fills the page: offset pages until short
        elif self.moved and self.redos < MAX_TIE_REDOS:
            # Rows read on earlier pages of this pass moved to the end, so every later row
            # slid back and one may have been skipped: read the pass again.
            self.redos += 1
            self._restart(self.since)
        elif fresh:
            self._restart(max(filter(None, (self.since, highest)), default=None))
        else:
            return False  # a short page with nothing new: we hold everything
        return True

    def _restart(self, since: datetime | None) -> None:
        self.since, self.page, self.in_pass, self.moved = since, 1, {}, False

    def _watch_moves(self, page: list[Read]) -> None:
        """A row seen again in one offset pass with a newer updated_at has moved."""
        for key, stamp, _ in page:
            before = self.in_pass.get(key)
            if stamp is not None and before is not None and stamp > before:
                self.moved = True
            self.in_pass[key] = stamp


# --- the connector ------------------------------------------------------------------------


class HotlineConnector:
    """Pulls ``work_orders`` from the hotline API: one incremental Batch per load."""

    def __init__(
        self,
        config: SystemConfig,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        if config.delivery != "api" or not config.base_url or not config.token_env:
            raise ValueError(f"{config.name}: the hotline connector needs an 'api' system")
        self.config = config
        self.system = config.name
        self.client = client
        self.sleep = sleep
        self.progress = progress
        self.url = config.base_url.rstrip("/") + API_PATH
        api = load_contract().systems[config.name].api
        self.page_size = max(1, min(config.page_size, int(api.get("page_size_max", 1000))))
        table = load_contract().systems[config.name].tables[TABLE]
        self.columns = table.column_names
        self.ts_columns = {c.name for c in table.columns if c.kind == "ts"}

    def extract(self, watermarks: dict[str, str]) -> Iterator[Batch]:
        """One delivery, handed on in chunks of INGEST_CHUNK_ROWS rows in (updated_at, gdbh)
        order; every chunk carries the delivery's columns, watermark and details."""
        if TABLE not in self.config.tables:
            return
        incoming = watermarks.get(TABLE)
        since = self._since(incoming)
        if since is not None:  # the look-back overlap (docs/ingestion.md, watermarks)
            since -= timedelta(minutes=self.config.tables[TABLE].lookback_minutes)
        cursor = _Cursor(since, self.page_size)
        latest = _Latest(duckdb_settings().temp_directory)
        try:
            with self._client() as client:
                session = self._session(client)
                self._page_through(session, cursor, latest)
            yield from self._batches(latest, session, cursor, incoming)
        finally:
            latest.close()

    def _since(self, watermark: str | None) -> datetime | None:
        since = parse_local(watermark)
        if watermark is not None and since is None:
            raise SourceError(f"{self.system}.{TABLE}: the watermark {watermark!r} is no timestamp")
        return since

    def _client(self):
        if self.client is not None:
            return nullcontext(self.client)  # the caller's: not ours to close
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise SourceError(f"{self.system}: base_url must be http(s)://..., got {self.url!r}")
        # trust_env=False: settings come from groundfloor.settings only, and a proxy from the
        # environment must not sit between us and the vendor (nor read .netrc).
        # The timeouts are set per request, from the system's deadlines (_Session._timeout).
        return httpx.Client(trust_env=False)

    def _session(self, client: httpx.Client) -> _Session:
        token = secret(self.config.token_env)
        if not token:
            raise SourceError(
                f"{self.system}: no API token: set the environment variable "
                f"{self.config.token_env} (or put it in .env)"
            )
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        return _Session(
            client, self.system, self.url, self.config.token_env, headers,
            max(1, self.config.max_attempts), self.sleep, self.config.deadlines,
        )  # fmt: skip

    def _page_through(self, session: _Session, cursor: _Cursor, latest: _Latest) -> None:
        while True:
            body = session.get(cursor.params())
            page = _read(body["items"])
            served = body.get("page_size")
            if isinstance(served, int) and 0 < served < cursor.page_size:
                # The server caps pages lower than asked: judge "short" by its size, or a
                # capped full page would look like the last one.
                cursor.page_size = served
            fresh = latest.add(page)
            if self.progress is not None:
                self.progress(TABLE, latest.count)
            if not cursor.advance(page, fresh, latest.highest):
                return

    def _batches(
        self, latest: _Latest, session: _Session, cursor: _Cursor, incoming: str | None
    ) -> Iterator[Batch]:
        since = parse_local(incoming)
        top = max(filter(None, (latest.highest_kept(), since)), default=None)
        watermark = incoming if top is None or top == since else top.strftime(LOCAL_FORMAT)
        details = {
            "requests": session.requests,
            "pages": session.pages,
            "retries": session.retries,
            "waited_seconds": round(session.waited, 3),
            "duplicates_dropped": latest.received - latest.count,
            "page_size": self.page_size,
            "tie_redos": cursor.redos,
        }
        names = latest.field_names()
        chunks = latest.chunks(ingest_chunk_rows()) if latest.count else iter([[]])
        for rows in chunks:
            yield Batch(
                system=self.system,
                table=TABLE,
                frame=self._frame(rows, names),
                source=public_url(self.url),
                watermark=watermark,
                mode="incremental",
                details=details,
                # the landing code derives the saved watermark from the rows it keeps,
                # capped at the server's clock (a row stamped later is flagged, not followed)
                cursor="updated_at",
                source_now=session.server_now,
            )

    def _frame(self, rows: list[dict], names: list[str]) -> pl.DataFrame:
        """Contract columns in contract order, then unknown fields as they came; all text.
        `names` are the field names of the whole delivery, not only of this chunk's rows.

        A contract column that no item carries is left out (not filled with nulls), so that
        landing sees the column missing (D11) rather than a column of nulls."""
        present = set(names)
        columns = [c for c in self.columns if c in present or not names]
        extras = [n for n in names if n not in self.columns]
        return pl.DataFrame([self._column(name, rows) for name in columns + extras])

    def _column(self, name: str, rows: list[dict]) -> pl.Series:
        """One field of every row as text: column-wise, since a delivery has millions."""
        values = [row.get(name) for row in rows]
        try:
            texts = pl.Series(name, values, dtype=pl.Utf8, strict=True)
        except TypeError:  # numbers, booleans or objects among the texts: value by value
            convert = to_local_text if name in self.ts_columns else as_text
            return pl.Series(name, [convert(value) for value in values], dtype=pl.Utf8)
        return local_texts(texts) if name in self.ts_columns else texts


def _order(row: dict) -> tuple[str, str]:
    return (to_local_text(row.get("updated_at")) or "", as_text(row.get("gdbh")) or "")
