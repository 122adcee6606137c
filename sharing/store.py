"""The sharing store: consumers, API keys, grants and the audit log, in one transactional
database through SQLAlchemy: an embedded SQLite file by default, PostgreSQL when
SHARING_STORE_URL names one (the same code; the tests run both).

The audit log is append-only and hash-chained: record n carries the hash of record n-1 and
its own hash, SHA-256 of that previous hash and its canonical content. A one-row head table
holds the last sequence number and hash; appending locks it (SELECT ... FOR UPDATE on
PostgreSQL, BEGIN IMMEDIATE on SQLite), so concurrent workers extend one chain, and a
deleted record, an altered one or a cut tail shows in `verify_chain`.

The service appends through `AuditWriter` (group commit): the records of the requests that
arrive while one transaction commits are appended together in the next one, one head lock
and one commit for all of them, each still chained record by record; every request waits
for its own record's commit before it is answered, and a failed commit fails them all.

A one-row registry version, raised by every change of keys or grants, lets the service keep
what it authenticated in memory and drop it as soon as a key is issued, rotated or revoked
or the grants are loaded again, whichever process did it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import queue
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from sharing.registry import Consumer, Grant, GrantedField

GENESIS = "0" * 64
KEY_PREFIX = "gsk"

metadata = sa.MetaData()

consumers_table = sa.Table(
    "sharing_consumers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("regions", sa.Text, nullable=False),
    sa.Column("rate_per_second", sa.Float),
    sa.Column("burst", sa.Integer),
)

keys_table = sa.Table(
    "sharing_api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("consumer_id", sa.String(64), nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.String(32)),
    sa.Column("revoked_at", sa.String(32)),
)

grants_table = sa.Table(
    "sharing_grants",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("consumer_id", sa.String(64), nullable=False, index=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("loaded_at", sa.String(32), nullable=False),
)

AUDIT_CONTENT = (
    "seq",
    "at",
    "consumer_id",
    "key_id",
    "call",
    "resource",
    "fields",
    "subject",
    "purpose",
    "grant_id",
    "result",
    "status",
    "latency_us",
    "rows",
    "detail",
)

AUDIT_COLUMNS = (*AUDIT_CONTENT, "prev_hash", "hash")

audit_table = sa.Table(
    "sharing_audit",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("consumer_id", sa.String(64)),
    sa.Column("key_id", sa.String(32)),
    sa.Column("call", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(64)),
    sa.Column("fields", sa.Text),
    sa.Column("subject", sa.String(64), index=True),
    sa.Column("purpose", sa.Text),
    sa.Column("grant_id", sa.String(64)),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("latency_us", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.BigInteger),
    sa.Column("detail", sa.Text),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

head_table = sa.Table(
    "sharing_audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


registry_table = sa.Table(
    "sharing_registry_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)


class AuditWriteFailed(RuntimeError):
    """The audit record could not be written: the request it records must fail."""


class RegistryChanged(RuntimeError):
    """Keys or grants changed after the request was decided on what the service had cached:
    its record is not written, and the request is decided again on the store's registry."""

    def __init__(self, version: int | None):
        super().__init__(f"registry version is now {version}")
        self.version = version


STALE = None  # the sequence number append_audits gives a record decided on an old registry
REGISTRY_VERSION_FIELD = "_registry_version"  # in a record: the registry it was decided on


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    consumer_id: str
    secret: str  # the whole key as the consumer sends it; shown once, never stored


@dataclass(frozen=True)
class ChainReport:
    records: int
    broken_at: int | None
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def key_hash(secret_part: str) -> str:
    """A key is 256 random bits, so one SHA-256 is enough (no slow hash is needed for it)."""
    return hashlib.sha256(secret_part.encode()).hexdigest()


def record_hash(prev_hash: str, record: dict) -> str:
    content = json.dumps(
        [record.get(name) for name in AUDIT_CONTENT], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def engine_url(url: str) -> str:
    """postgresql://… is read with psycopg 3 (the driver the project installs)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engines(url: str) -> tuple[sa.Engine, sa.Engine]:
    """(writer, reader). On PostgreSQL they are one engine. On SQLite the writer begins every
    transaction IMMEDIATE, taking the write lock at once, so two workers appending to the
    audit chain queue instead of one failing on a lock upgrade; the reader runs each SELECT
    in its own implicit transaction and never takes the write lock."""
    url = engine_url(url)
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
        return engine, engine
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Created owner-only before SQLite opens it: SQLite gives its -wal and -shm files the
        # database file's mode, and they hold audit rows too.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        Path(path).chmod(0o600)
    engines = []
    for immediate in (True, False):
        # isolation_level None: pysqlite's own transaction handling is off
        engine = sa.create_engine(url, connect_args={"timeout": 30, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        if immediate:
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        engines.append(engine)
    return engines[0], engines[1]


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Store:
    def __init__(self, url: str):
        self.url = url
        self.engine, self.reader = make_engines(url)
        self._version_lock = threading.Lock()
        self._version_conn = None  # one DBAPI connection kept for `registry_version`
        self._audit_lock = threading.Lock()
        self._audit_conn = None  # one DBAPI connection kept for `append_audits`
        self.last_registry_version: int | None = None  # as the last append read it
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        self._lock_path = f"{database}.audit-lock" if database and database != ":memory:" else None

    def create(self) -> None:
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if conn.execute(sa.select(head_table.c.id)).first() is None:
                conn.execute(head_table.insert().values(id=1, seq=0, hash=GENESIS))
            if conn.execute(sa.select(registry_table.c.id)).first() is None:
                conn.execute(registry_table.insert().values(id=1, version=0))
        if self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if database:
                Path(database).chmod(0o600)

    def dispose(self) -> None:
        with self._version_lock:
            if self._version_conn is not None:
                self._version_conn.close()
                self._version_conn = None
        with self._audit_lock:
            if self._audit_conn is not None:
                self._audit_conn.close()
                self._audit_conn = None
        self.engine.dispose()
        self.reader.dispose()

    # --- the registry version: any change of keys or grants raises it ---------------------

    @staticmethod
    def _changed(conn) -> None:
        conn.execute(
            registry_table.update()
            .where(registry_table.c.id == 1)
            .values(version=registry_table.c.version + 1)
        )

    def registry_version(self) -> int | None:
        """The current version; None when it cannot be read (a store created before the
        version existed, until `create` runs again; the store unreachable), and then nothing is
        cached: each request authenticates against the store. A plain DBAPI query on a
        connection kept for it: this runs once per request."""
        with self._version_lock:
            try:
                if self._version_conn is None:
                    self._version_conn = self.reader.raw_connection()
                cursor = self._version_conn.cursor()
                try:
                    cursor.execute("SELECT version FROM sharing_registry_version WHERE id = 1")
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                self._version_conn.rollback()  # no transaction left open (PostgreSQL)
            except Exception:
                if self._version_conn is not None:
                    self._version_conn.invalidate()
                    self._version_conn = None
                return None
        return row[0] if row else None

    # --- consumers and grants -----------------------------------------------------------

    def load_registry(self, consumers: list[Consumer], grants: list[Grant]) -> None:
        """Upsert the consumers and replace every grant, in one transaction."""
        with self.engine.begin() as conn:
            for consumer in consumers:
                row = {
                    "name": consumer.name,
                    "kind": consumer.kind,
                    "regions": json.dumps(list(consumer.regions)),
                    "rate_per_second": consumer.rate_per_second,
                    "burst": consumer.burst,
                }
                done = conn.execute(
                    consumers_table.update().where(consumers_table.c.id == consumer.id), row
                )
                if done.rowcount == 0:
                    conn.execute(consumers_table.insert(), {"id": consumer.id, **row})
            conn.execute(grants_table.delete())
            self._changed(conn)
            loaded = now_text()
            for grant in grants:
                conn.execute(
                    grants_table.insert(),
                    {
                        "id": grant.id,
                        "consumer_id": grant.consumer,
                        "document": grant_to_json(grant),
                        "loaded_at": loaded,
                    },
                )

    def consumer(self, consumer_id: str) -> Consumer | None:
        with self.reader.connect() as conn:
            row = conn.execute(
                sa.select(consumers_table).where(consumers_table.c.id == consumer_id)
            ).first()
        return _consumer(row) if row else None

    def grants_of(self, consumer_id: str) -> list[Grant]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(grants_table.c.document).where(grants_table.c.consumer_id == consumer_id)
            ).all()
        return [grant_from_json(r.document) for r in rows]

    def all_grants(self) -> list[Grant]:
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(grants_table.c.document)).all()
        return [grant_from_json(r.document) for r in rows]

    # --- keys ---------------------------------------------------------------------------

    def issue_key(self, consumer_id: str) -> IssuedKey:
        if self.consumer(consumer_id) is None:
            raise KeyError(f"consumer {consumer_id} is not loaded (python -m sharing grants load)")
        key_id = secrets.token_hex(8)
        secret_part = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                keys_table.insert(),
                {
                    "key_id": key_id,
                    "consumer_id": consumer_id,
                    "key_hash": key_hash(secret_part),
                    "created_at": now_text(),
                },
            )
            self._changed(conn)
        return IssuedKey(key_id, consumer_id, f"{KEY_PREFIX}_{key_id}_{secret_part}")

    def rotate_key(self, consumer_id: str, grace: dt.timedelta) -> tuple[IssuedKey, list[str]]:
        """A new key; the consumer's other live keys expire after `grace` (both work meanwhile)."""
        new = self.issue_key(consumer_id)
        expires = (dt.datetime.now(dt.UTC) + grace).isoformat(timespec="microseconds")
        with self.engine.begin() as conn:
            live = conn.execute(
                sa.select(keys_table.c.key_id).where(
                    keys_table.c.consumer_id == consumer_id,
                    keys_table.c.key_id != new.key_id,
                    keys_table.c.revoked_at.is_(None),
                    keys_table.c.expires_at.is_(None),
                )
            ).scalars()
            old = list(live)
            conn.execute(
                keys_table.update().where(keys_table.c.key_id.in_(old)).values(expires_at=expires)
            )
            self._changed(conn)
        return new, old

    def revoke_key(self, key_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                keys_table.update()
                .where(keys_table.c.key_id == key_id, keys_table.c.revoked_at.is_(None))
                .values(revoked_at=now_text())
            )
            self._changed(conn)
        return done.rowcount == 1

    def authenticate(self, presented: str | None) -> tuple[Consumer, str] | None:
        """(consumer, key id) of a live key, None for anything else."""
        found = self.authenticate_until(presented)
        return found[:2] if found else None

    def authenticate_until(self, presented: str | None) -> tuple[Consumer, str, str | None] | None:
        """(consumer, key id, when the key expires or None) of a live key, None otherwise."""
        parts = (presented or "").split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1].isalnum():
            return None
        with self.reader.connect() as conn:
            row = conn.execute(
                sa.select(keys_table, consumers_table)
                .join(consumers_table, consumers_table.c.id == keys_table.c.consumer_id)
                .where(keys_table.c.key_id == parts[1])
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, key_hash(parts[2])):
            return None
        if row.revoked_at is not None or (row.expires_at and row.expires_at <= now_text()):
            return None
        return _consumer(row), row.key_id, row.expires_at

    # --- audit --------------------------------------------------------------------------

    def append_audit(self, record: dict) -> int:
        """Append one record to the chain; its sequence number. Raises AuditWriteFailed."""
        return self.append_audits([record])[0]

    def append_audits(self, records: list[dict]) -> list[int | None]:
        """Append the records to the chain in order, in one transaction; their sequence
        numbers. Raises AuditWriteFailed (and none of them is written).

        A record carrying the registry version its request was decided on (the service's
        cached keys and grants) is written only if that is still the store's version, read in
        the same transaction: otherwise its number is STALE and the request must be decided
        again. So a key revoked, rotated out or a grant changed by any process is honoured from
        the first request committed after the change, without a query per request.

        On one DBAPI connection kept for it, with one multi-row INSERT: this runs for every
        request the service answers, and SQLAlchemy's per-statement work and a pool checkout
        cost more than the commit. Across processes the head row's lock orders the appends;
        on SQLite a lock file is taken first, so that a worker waiting for another's commit
        is woken when it ends instead of polling SQLite's busy handler (1, 2, 5 … ms)."""
        with self._audit_lock:
            try:
                if self._audit_conn is None:
                    self._audit_conn = self.engine.raw_connection()
                with self._cross_process_lock():
                    return self._append_on(self._audit_conn, records)
            except Exception as error:  # any failure: the callers must not answer
                if self._audit_conn is not None:
                    with contextlib.suppress(Exception):
                        self._audit_conn.invalidate()
                    self._audit_conn = None
                raise AuditWriteFailed(str(error)) from error

    def _append_on(self, conn, records: list[dict]) -> list[int | None]:
        sqlite = self.engine.dialect.name == "sqlite"
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        cursor = conn.cursor()
        try:
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(
                "SELECT seq, hash, (SELECT version FROM sharing_registry_version WHERE id = 1) "
                "FROM sharing_audit_head WHERE id = 1" + ("" if sqlite else " FOR UPDATE")
            )
            seq, prev, version = cursor.fetchone()
            self.last_registry_version = version
            values: list = []
            seqs: list[int | None] = []
            for record in records:
                if record.get(REGISTRY_VERSION_FIELD, version) != version:
                    seqs.append(STALE)  # decided on keys or grants that have changed since
                    continue
                row = {name: record.get(name) for name in AUDIT_CONTENT}
                seq += 1
                row["seq"] = seq
                row["at"] = row["at"] or now_text()
                row["prev_hash"] = prev
                row["hash"] = prev = record_hash(prev, row)
                values.extend(row[name] for name in AUDIT_COLUMNS)
                seqs.append(seq)
            if values:
                rows = len(values) // len(AUDIT_COLUMNS)
                one = "(" + ", ".join([mark] * len(AUDIT_COLUMNS)) + ")"
                columns = ", ".join(f'"{c}"' for c in AUDIT_COLUMNS)
                cursor.execute(
                    f"INSERT INTO sharing_audit ({columns}) VALUES " + ", ".join([one] * rows),
                    values,
                )
                cursor.execute(
                    f"UPDATE sharing_audit_head SET seq = {mark}, hash = {mark} WHERE id = 1",
                    (seq, prev),
                )
            if sqlite:
                cursor.execute("COMMIT")
            else:
                conn.commit()
            return seqs
        except BaseException:
            with contextlib.suppress(Exception):
                if sqlite:
                    cursor.execute("ROLLBACK")
                else:
                    conn.rollback()
            raise
        finally:
            cursor.close()

    @contextlib.contextmanager
    def _cross_process_lock(self):
        if self._lock_path is None:
            yield
            return
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def audit_records(self, subject: str | None = None) -> list[dict]:
        query = sa.select(audit_table).order_by(audit_table.c.seq)
        if subject is not None:
            query = query.where(audit_table.c.subject == subject)
        with self.reader.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def verify_chain(self, batch: int = 10_000) -> ChainReport:
        """The first broken link: a record missing, altered, or the tail cut after the head."""
        expected_seq, prev, count = 1, GENESIS, 0
        with self.reader.connect() as conn:
            head = conn.execute(sa.select(head_table).where(head_table.c.id == 1)).one()
            # records appended after the head was read are not part of this check
            result = conn.execution_options(yield_per=batch).execute(
                sa.select(audit_table)
                .where(audit_table.c.seq <= head.seq)
                .order_by(audit_table.c.seq)
            )
            for row in result:
                record = dict(row._mapping)
                if record["seq"] != expected_seq:
                    return ChainReport(count, expected_seq, f"record {expected_seq} is missing")
                if record["prev_hash"] != prev:
                    return ChainReport(count, expected_seq, "its previous hash does not match")
                if record_hash(prev, record) != record["hash"]:
                    return ChainReport(count, expected_seq, "its content does not match its hash")
                prev, expected_seq, count = record["hash"], expected_seq + 1, count + 1
        if head.seq != count or head.hash != prev:
            return ChainReport(count, count + 1, f"records {count + 1}..{head.seq} are missing")
        return ChainReport(count, None, None)


class _Pending:
    """One record waiting for its commit: a thread waits on `done`, a coroutine on `future`."""

    __slots__ = ("done", "error", "future", "record", "seq")

    def __init__(self, record: dict, future: asyncio.Future | None = None):
        self.record, self.future = record, future
        self.done = threading.Event() if future is None else None
        self.seq: int | None = None
        self.error: Exception | None = None

    def settle(self) -> None:
        if self.future is None:
            self.done.set()  # type: ignore[union-attr]
        elif not self.future.done():
            if self.error is None:
                self.future.set_result(self.seq)
            else:
                self.future.set_exception(self.error)


class AuditWriter:
    """Group commit of the audit chain for one process (the service's worker).

    A request is answered only once the transaction holding its record has committed (its
    sequence number) and fails with AuditWriteFailed when that transaction fails. Records
    that arrive while a transaction commits go together into the next one: no waiting
    window, so a lone request is committed at once and a busy worker commits many records per
    transaction. Across worker processes the head lock orders the transactions into one chain.

    `append_async` (the calls, in the worker's event loop): the loop itself commits, once it
    has run every request ready; `append` (from a thread: the access log) hands the record to
    a writer thread."""

    def __init__(self, store: Store, max_batch: int = 512):
        self.store, self.max_batch = store, max_batch
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._in_loop: list[_Pending] = []  # the event loop's records awaiting their commit

    def append(self, record: dict) -> int:
        """From a thread: wait for the commit holding `record`; its sequence number. Raises
        AuditWriteFailed, or RegistryChanged (decide the request again)."""
        pending = _Pending(record)
        self._start()
        self._queue.put(pending)
        pending.done.wait()  # type: ignore[union-attr]
        if pending.error is not None:
            raise pending.error
        return pending.seq  # type: ignore[return-value]

    async def append_async(self, record: dict) -> int:
        """From the event loop: the same, committed by the loop once nothing else is ready
        (`call_soon`), with the records of every request it ran meanwhile. No thread is woken
        and none wakes the loop: on a busy machine a wake-up waits for a core, and costs more
        than the commit."""
        loop = asyncio.get_running_loop()
        pending = _Pending(record, loop.create_future())
        self._in_loop.append(pending)
        if len(self._in_loop) == 1:
            loop.call_soon(self._commit_in_loop)
        return await pending.future  # type: ignore[misc]

    def _commit_in_loop(self) -> None:
        batch, self._in_loop = self._in_loop, []
        for start in range(0, len(batch), self.max_batch):
            part = batch[start : start + self.max_batch]
            self._commit(part)
            for pending in part:
                pending.settle()

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            seqs = self.store.append_audits([p.record for p in batch])
            for pending, seq in zip(batch, seqs, strict=True):
                pending.seq = seq
                if seq is STALE:
                    pending.error = RegistryChanged(self.store.last_registry_version)
        except Exception as error:  # AuditWriteFailed or worse: none is answered
            for pending in batch:
                pending.error = AuditWriteFailed(str(error))

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            finally:
                for pending in batch:
                    pending.settle()


def _consumer(row) -> Consumer:
    return Consumer(
        id=row.id,
        name=row.name,
        kind=row.kind,
        regions=tuple(json.loads(row.regions)),
        rate_per_second=row.rate_per_second,
        burst=row.burst,
    )


def grant_to_json(grant: Grant) -> str:
    document = asdict(grant)
    document["valid_from"] = grant.valid_from.isoformat()
    document["valid_to"] = grant.valid_to.isoformat() if grant.valid_to else None
    return json.dumps(document, ensure_ascii=False)


def grant_from_json(text: str) -> Grant:
    document = json.loads(text)
    return Grant(
        id=document["id"],
        consumer=document["consumer"],
        resource=document["resource"],
        uses=tuple(document["uses"]),
        fields=tuple(GrantedField(**f) for f in document["fields"]),
        purpose=document["purpose"],
        legal_basis=document["legal_basis"],
        valid_from=dt.date.fromisoformat(document["valid_from"]),
        valid_to=dt.date.fromisoformat(document["valid_to"]) if document["valid_to"] else None,
        approved_by=document["approved_by"],
        region_scope=tuple(document["region_scope"]),
        certificate_types=tuple(document["certificate_types"]),
    )
