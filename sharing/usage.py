"""The sharing usage for data officers (the Superset dashboard reads it): the audit log counted
per day, consumer, call, resource, result and reason, and the 回流 deliveries, published as a
DuckDB file swapped in atomically like the operations store's published copy.

Counts only: no subject key, no field value, no key id leaves the store this way.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from pathlib import Path

import duckdb

from sharing.store import Store


def usage_rows(store: Store) -> tuple[list[tuple], list[tuple]]:
    """(calls, deliveries): calls counted by (day, consumer, call, resource, result, status,
    reason); each 回流 delivery with its day, consumer, grant, resource and rows."""
    names = {}
    calls: Counter = Counter()
    rows_of: Counter = Counter()
    deliveries = []
    for record in store.audit_records():
        consumer = record["consumer_id"] or "(unauthenticated)"
        if consumer not in names:
            found = store.consumer(consumer) if record["consumer_id"] else None
            names[consumer] = found.name if found else consumer
        day = record["at"][:10]
        if record["call"] == "backflow":
            deliveries.append(
                (
                    day,
                    consumer,
                    names[consumer],
                    record["grant_id"],
                    record["resource"],
                    record["rows"],
                )
            )
            continue
        reason = (record["detail"] or "").split(":")[0] or None
        key = (day, consumer, names[consumer], record["call"], record["resource"], record["result"],
               record["status"], reason)  # fmt: skip
        calls[key] += 1
        rows_of[key] += record["rows"] or 0
    return [(*key, n, rows_of[key]) for key, n in sorted(calls.items(), key=str)], deliveries


def publish_usage(store: Store, target: Path) -> int:
    """Write the usage file next to `target` and swap it in; the number of calls counted."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    calls, deliveries = usage_rows(store)
    conn = duckdb.connect(str(staging))
    try:
        conn.execute(
            "CREATE TABLE sharing_calls (day DATE, consumer_id VARCHAR, consumer_name VARCHAR, "
            "call VARCHAR, resource VARCHAR, result VARCHAR, status INTEGER, reason VARCHAR, "
            "requests BIGINT, rows_returned BIGINT)"
        )
        if calls:
            conn.executemany(
                "INSERT INTO sharing_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", calls
            )
        conn.execute(
            "CREATE TABLE sharing_deliveries (day DATE, consumer_id VARCHAR, "
            "consumer_name VARCHAR, grant_id VARCHAR, resource VARCHAR, rows_delivered BIGINT)"
        )
        if deliveries:
            conn.executemany("INSERT INTO sharing_deliveries VALUES (?, ?, ?, ?, ?, ?)", deliveries)
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
    staging.chmod(0o644)  # counts only: readable by Superset
    os.replace(staging, target)
    return sum(row[8] for row in calls)
