"""Officers' decisions as data: accept or reject one candidate person for one record. They
live in the operations store (not the warehouse), so a rebuild of the warehouse keeps them,
and every later run applies them before the rules and the model."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

WORK_ORDER = "work_order"  # the record kind of the first slice: a 12345 work order

TABLE = """
create table if not exists linkage_decisions (
    record_kind varchar, record_key varchar, person_id varchar, decision varchar,
    decided_by varchar, decided_at timestamp, note varchar
)
"""


@dataclass(frozen=True)
class Decision:
    record_kind: str
    record_key: str
    person_id: str
    decision: str  # 'accept' or 'reject'


def record(store: duckdb.DuckDBPyConnection, decision: Decision, by: str, note: str = "") -> None:
    if decision.decision not in ("accept", "reject"):
        raise ValueError(f"a decision is accept or reject, not {decision.decision!r}")
    store.execute(TABLE)
    store.execute(
        "insert into linkage_decisions values (?, ?, ?, ?, ?, ?, ?)",
        [
            decision.record_kind,
            decision.record_key,
            decision.person_id,
            decision.decision,
            by,
            dt.datetime.now(),
            note,
        ],
    )


def load(store: duckdb.DuckDBPyConnection) -> list[Decision]:
    """The decisions in force: the latest per (record, person)."""
    store.execute(TABLE)
    rows = store.execute(
        "select record_kind, record_key, person_id, decision from linkage_decisions "
        "qualify row_number() over (partition by record_kind, record_key, person_id "
        "order by decided_at desc) = 1"
    ).fetchall()
    return [Decision(*row) for row in rows]


QUEUED = """
create table if not exists linkage_queue_seen (
    record_kind varchar, record_key varchar, first_queued date, last_queued date,
    primary key (record_kind, record_key)
)
"""


def note_queued(store: duckdb.DuckDBPyConnection, keys: list[tuple[str, str]], on: dt.date):
    """Remember when each record now in the review queue was first queued (the queue's age,
    which a rebuilt warehouse would forget); `last_queued` says it is still there."""
    store.execute(QUEUED)
    if not keys:
        return
    kinds, records = [k for k, _ in keys], [r for _, r in keys]
    # two lists unnested side by side: one statement, not a row-by-row executemany
    store.execute(
        "insert into linkage_queue_seen "
        "select unnest(?::varchar[]), unnest(?::varchar[]), ?::date, ?::date "
        "on conflict do update set last_queued = excluded.last_queued",
        [kinds, records, on, on],
    )


def queue_age(store: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dt.date]:
    """(record kind, key) → the day it was first queued."""
    store.execute(QUEUED)
    rows = store.execute(
        "select record_kind, record_key, first_queued from linkage_queue_seen"
    ).fetchall()
    return {(kind, key): first for kind, key, first in rows}
