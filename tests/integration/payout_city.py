"""The bureau's 免申即享 approvals of the simulator's test city (its ground truth, manifest
`payouts`: simulator/payments.py) as approved rows of a match ledger, so that K23 and the
median days to pay have a history to follow on the city."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from matching.store import open_store
from tests.integration import scan


def keyed(kind: str, number: str) -> str:
    """The warehouse's pseudonymous key of an identity number or USCC (the test IDENTITY_KEY)."""
    text = f"{os.environ['IDENTITY_KEY']}|{kind}|{number}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def payouts(city: Path) -> list[tuple]:
    """(policy, period, subject, subject type, amount, approved_on, paid_on or None)."""
    return scan.manifest(
        city,
        "SELECT policy, period, subject, subject_type, amount, approved_on, paid_on FROM payouts",
    )


def record_approvals(city: Path, operations: Path, on: dt.date) -> list[tuple]:
    """Write the approvals made by `on` into the ledger of `operations` (approved by 李科长 on
    the day the truth says); returns the truth's payouts."""
    truth = payouts(city)
    store = open_store(operations)
    try:
        store.executemany(
            """insert into match_ledger (policy_code, subject_type, subject_key, period,
                policy_version, amount_yuan, explanation_json, explanation_zh, evaluation_date,
                warehouse_snapshot_id, run_id, recorded_at, status, decided_by, decided_at,
                decided_via)
            values (?, ?, ?, ?, '1', ?, '{}', '', ?, 'sim', 'sim', ?, 'approved', '李科长', ?,
                'cli')
            on conflict do nothing""",
            [
                (
                    code,
                    "enterprise" if kind == "001" else "person",
                    keyed("enterprise" if kind == "001" else "person", subject),
                    period,
                    amount,
                    approved,
                    approved,
                    f"{approved} 10:00:00",
                )
                for code, period, subject, kind, amount, approved, _ in truth
                if dt.date.fromisoformat(approved) <= on
            ],
        )
    finally:
        store.close()
    return truth
