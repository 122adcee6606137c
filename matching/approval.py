"""The officer's decisions on the match ledger (policies.md v2): approve, reject, revoke, and the
release of push lists, which only ever carry approved rows.

Both ways an officer works — the approval step of the matching DAG in Airflow's UI and
`python -m matching approve|reject|revoke` — call these functions, so they write the same
columns. A decision touches only rows still pending, which makes it safe to repeat: the second
of two approvals of one run (say from the command line, then in Airflow) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from matching.push import write_push_lists
from matching.store import open_store

VIAS = ("cli", "airflow")


class DecisionRefused(ValueError):
    """A decision that the ledger's rules do not allow (no reason, unknown row, ...)."""


@dataclass(frozen=True)
class Officer:
    name: str
    via: str = "cli"  # where the decision was taken: cli | airflow

    def __post_init__(self):
        if not self.name.strip():
            raise DecisionRefused("a decision needs the officer's name")
        if self.via not in VIAS:
            raise DecisionRefused(f"via must be one of {VIAS}")


@dataclass(frozen=True)
class Selection:
    """Which pending rows of a run a decision covers: all, or some policies or subjects."""

    run_id: str
    policies: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()

    def where(self) -> tuple[str, list]:
        clauses, values = ["run_id = ?", "status = 'pending'"], [self.run_id]
        if self.policies:
            clauses.append("list_contains(?, policy_code)")
            values.append(list(self.policies))
        if self.subjects:
            clauses.append("list_contains(?, subject_key)")
            values.append(list(self.subjects))
        return " and ".join(clauses), values


def approve(operations: Path, selection: Selection, officer: Officer) -> int:
    """Approve the selected pending rows; returns how many were approved."""
    return _decide(operations, selection, officer, "approved", None)


def reject(operations: Path, selection: Selection, officer: Officer, reason: str) -> int:
    """Reject the selected pending rows with a reason; they are never pushed."""
    if not (reason or "").strip():
        raise DecisionRefused("a rejection needs a reason")
    return _decide(operations, selection, officer, "rejected", reason.strip())


def _decide(operations, selection, officer, status, reason) -> int:
    where, values = selection.where()
    store = open_store(operations)
    try:
        store.begin()
        chosen = f"select policy_code, subject_key, period from match_ledger where {where}"
        action = "approve" if status == "approved" else "reject"
        _log(store, chosen, values, action, officer, reason)
        count = store.execute(
            f"""update match_ledger set status = ?, decided_by = ?, decided_at = now(),
                decided_via = ?, decision_reason = ?
            where {where} returning 1""",
            [status, officer.name, officer.via, reason, *values],
        ).fetchall()
        store.commit()
        return len(count)
    finally:
        store.close()


def revoke(
    operations: Path, policy: str, subject: str, period: str, officer: Officer, reason: str
) -> None:
    """Revoke a pending or approved row with a reason (wrong data, death before payment,
    fraud). The row stays in the ledger, with the earlier decision and the revocation."""
    if not (reason or "").strip():
        raise DecisionRefused("a revocation needs a reason")
    store = open_store(operations)
    try:
        key = [policy, subject, period]
        found = store.execute(
            "select status from match_ledger"
            " where policy_code = ? and subject_key = ? and period = ?",
            key,
        ).fetchone()
        if found is None:
            raise DecisionRefused(f"no ledger row {policy} {subject} {period}")
        if found[0] not in ("pending", "approved"):
            raise DecisionRefused(f"ledger row {policy} {subject} {period} is {found[0]}")
        store.begin()
        chosen = (
            "select policy_code, subject_key, period from match_ledger"
            " where policy_code = ? and subject_key = ? and period = ?"
        )
        _log(store, chosen, key, "revoke", officer, reason.strip())
        store.execute(
            """update match_ledger set status = 'revoked', revoked_by = ?, revoked_at = now(),
                revoke_reason = ?
            where policy_code = ? and subject_key = ? and period = ?""",
            [officer.name, reason.strip(), *key],
        )
        store.commit()
    finally:
        store.close()


def _log(store, chosen: str, values: list, action: str, officer: Officer, reason) -> None:
    """Every decision is also appended to ledger_decisions: the ledger row shows the latest
    state, the log shows who did what when."""
    store.execute(
        f"""insert into ledger_decisions
        select policy_code, subject_key, period, ?, ?, now(), ?, ? from ({chosen})""",
        [action, officer.name, officer.via, reason, *values],
    )


def release(operations: Path, push_root: Path, run_id: str) -> list[Path]:
    """Write the push lists of a run's approved rows not pushed yet, and mark them pushed."""
    store = open_store(operations)
    try:
        return write_push_lists(store, push_root / run_id, run_id)
    finally:
        store.close()


def status_counts(operations: Path, run_id: str | None = None) -> dict[str, int]:
    """Ledger rows by status (of one run, or all)."""
    store = open_store(operations)
    try:
        rows = store.execute(
            "select status, count(*) from match_ledger"
            " where ? is null or run_id = ? group by status",
            [run_id, run_id],
        ).fetchall()
    finally:
        store.close()
    return dict(rows)


def latest_run(operations: Path) -> str | None:
    """The most recent matching run (what `approve --run latest` means)."""
    store = open_store(operations)
    try:
        found = store.execute(
            "select run_id from matching_runs order by started_at desc limit 1"
        ).fetchone()
    finally:
        store.close()
    return found[0] if found else None


def pending_by_policy(operations: Path) -> list[tuple]:
    """(run, policy, period, pending rows, amount) for everything awaiting a decision."""
    store = open_store(operations)
    try:
        return store.execute(
            """select run_id, policy_code, period, count(*), sum(amount_yuan)
            from match_ledger where status = 'pending'
            group by all order by run_id, policy_code"""
        ).fetchall()
    finally:
        store.close()


def ledger_rows(store: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    """The decision columns of a run's rows, in a stable order (for comparing two runs)."""
    return store.execute(
        """select policy_code, subject_key, period, amount_yuan, status, decided_by,
            decision_reason, pushed_at is not null
        from match_ledger where run_id = ? order by all""",
        [run_id],
    ).fetchall()
