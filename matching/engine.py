"""One matching run: every selected policy in force on E, compiled to SQL and evaluated over
the warehouse (attached read-only) inside the operations store, then the ledger. New ledger rows
are pending: push lists are written when an officer approves them (matching/approval.py).

Each policy runs in its own transaction: a policy that fails (refused file, SQL error on a
warehouse that lacks a table) is recorded with its message and the others still run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from matching.compiler import compile_policy
from matching.policy import Policy, field_label, load_policies
from matching.store import WAREHOUSE_ALIAS, store_beside_warehouse

DEFAULT_POLICIES = Path(__file__).resolve().parent / "policies"


@dataclass
class PolicySummary:
    code: str
    name: str
    period: str | None
    outcome: str  # evaluated | not_in_force | refused | failed
    matches: int = 0
    new: int = 0
    already_granted: int = 0
    near_misses: int = 0
    new_amount: Decimal = Decimal(0)
    message: str = ""


@dataclass
class RunResult:
    run_id: str
    evaluation_date: dt.date
    snapshot_id: str
    push_dir: Path
    summaries: list[PolicySummary] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def snapshot_of(warehouse: Path) -> str:
    """Default snapshot id: the SHA-256 of the warehouse file (what the run read)."""
    digest = hashlib.sha256()
    with warehouse.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def new_run_id() -> str:
    return f"{dt.datetime.now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def evaluate(
    on: dt.date,
    warehouse: Path,
    operations: Path,
    push_root: Path,
    policies_dir: Path = DEFAULT_POLICIES,
    only: list[str] | None = None,
    run_id: str | None = None,
    snapshot_id: str | None = None,
) -> RunResult:
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    loaded = load_policies(policies_dir, only)
    run = RunResult(
        run_id=run_id or new_run_id(),
        evaluation_date=on,
        snapshot_id=snapshot_id or snapshot_of(warehouse),
        push_dir=push_root,
        errors=list(loaded.errors),
    )
    run.push_dir = push_root / run.run_id
    unknown = sorted(set(only or []) - {p.code for p in loaded.policies})
    run.errors += [f"policy {code}: no valid policy file defines it" for code in unknown]
    with store_beside_warehouse(warehouse, operations, "policy matching") as store:
        _evaluate_in(store, run, loaded, on)
    return run


def _evaluate_in(store: duckdb.DuckDBPyConnection, run: RunResult, loaded, on) -> None:
    """The run itself, in the operations store beside the locked warehouse."""
    store.execute(
        "insert into matching_runs values (?, ?, ?, now(), null)",
        [run.run_id, on, run.snapshot_id],
    )
    for error in run.errors:
        _record(store, run, PolicySummary(_code_in(error), "", None, "refused", message=error))
    for policy in loaded.policies:
        run.summaries.append(_run_policy(store, run, policy))
    store.execute("update matching_runs set finished_at = now() where run_id = ?", [run.run_id])


def _code_in(error: str) -> str:
    match = re.search(r"policy (\S+):", error)
    return match.group(1) if match else "?"


def _run_policy(store: duckdb.DuckDBPyConnection, run: RunResult, policy: Policy) -> PolicySummary:
    if not policy.in_force(run.evaluation_date):
        summary = PolicySummary(
            policy.code,
            policy.name,
            None,
            "not_in_force",
            message=f"in force {policy.effective_from} – {policy.effective_to or '…'}",
        )
        _record(store, run, summary, policy)
        return summary
    store.begin()
    try:
        summary = _evaluate_policy(store, run, policy)
        _record(store, run, summary, policy)
        store.commit()
    except duckdb.Error as error:
        store.rollback()
        summary = PolicySummary(
            policy.code,
            policy.name,
            policy.period_of(run.evaluation_date),
            "failed",
            message=f"{policy.path.name}: policy {policy.code}: {error}",
        )
        _record(store, run, summary, policy)
    return summary


def _evaluate_policy(
    store: duckdb.DuckDBPyConnection, run: RunResult, policy: Policy
) -> PolicySummary:
    on, period = run.evaluation_date, policy.period_of(run.evaluation_date)
    compiled = compile_policy(policy, on, f"{WAREHOUSE_ALIAS}.main_marts")
    store.execute(f"create or replace temp table scored as {scored_sql(policy, compiled)}",
                  [policy.code, period])  # fmt: skip
    store.execute(
        """create or replace temp table fresh as
        select subject_key, amount from scored s
        where status = 'match' and not granted and not exists (
            select 1 from match_ledger l
            where l.policy_code = ? and l.period = ? and l.subject_key = s.subject_key)""",
        [policy.code, period],
    )
    store.execute(f"create or replace temp table explained as {compiled.explanations}")
    # new rows wait for an officer's approval (policies.md v2): no push list leaves before it
    store.execute(
        """insert into match_ledger (policy_code, subject_type, subject_key, period,
            policy_version, amount_yuan, explanation_json, explanation_zh, evaluation_date,
            warehouse_snapshot_id, run_id, recorded_at, status, display_name, display_id)
        select ?, ?, f.subject_key, ?, ?, f.amount, x.explanation_json, x.explanation_zh,
            ?, ?, ?, now(), 'pending', x.display_name, x.display_id
        from fresh f join explained x using (subject_key)""",
        [policy.code, policy.subject, period, policy.version, on, run.snapshot_id, run.run_id],
    )
    store.execute(
        """insert into near_misses
        select ?, ?, ?, subject_key, missing_fields, ? from scored
        where status = 'near_miss' and not granted""",
        [run.run_id, policy.code, period, on],
    )
    _record_field_labels(store, policy)
    _record_version(store, run, policy)
    return _counts(store, policy, period)


def scored_sql(policy: Policy, compiled) -> str:
    """The evaluation with each subject's `granted` flag (parameters: code, period): a grant
    for the same policy and period (FFSSQ) blocks the match, whenever it was paid."""
    key = "person_key" if policy.subject == "person" else "enterprise_key"
    return f"""select e.*, g.k is not null as granted
        from ({compiled.evaluation}) e left join (
            select distinct {key} as k from {WAREHOUSE_ALIAS}.main_marts.benefit_grants
            where policy_code = ? and grant_period = ? and {key} is not null
        ) g on g.k = e.subject_key"""


def _counts(store: duckdb.DuckDBPyConnection, policy: Policy, period: str) -> PolicySummary:
    matches, granted, near = store.execute(
        """select
            count(*) filter (where status = 'match' and not granted),
            count(*) filter (where status = 'match' and granted),
            count(*) filter (where status = 'near_miss' and not granted)
        from scored"""
    ).fetchone()
    new, amount = store.execute("select count(*), coalesce(sum(amount), 0) from fresh").fetchone()
    return PolicySummary(
        policy.code, policy.name, period, "evaluated", matches, new, granted, near, Decimal(amount)
    )


def _record_field_labels(store: duckdb.DuckDBPyConnection, policy: Policy) -> None:
    """The Chinese label of each field this run's near misses name, for the dashboards: a
    reader of 差一点符合 sees 登记状态, not registration_status."""
    fields = store.execute(
        "select distinct unnest(missing_fields) from scored where status = 'near_miss'"
    ).fetchall()
    labels = [(name, field_label(name, policy.subject)) for (name,) in fields]
    if labels:
        store.executemany("insert or replace into field_labels values (?, ?)", labels)


def _record_version(store: duckdb.DuckDBPyConnection, run: RunResult, policy: Policy) -> None:
    """A policy file seen for the first time with this content: its version is kept."""
    store.execute(
        """insert into policy_versions
        select ?, ?, ?, ?, ?, now()
        where not exists (
            select 1 from policy_versions where policy_code = ? and policy_version = ?)""",
        [
            policy.code,
            policy.version,
            policy.path.name,
            policy.source,
            run.run_id,
            policy.code,
            policy.version,
        ],
    )


def _record(store, run: RunResult, summary: PolicySummary, policy: Policy | None = None) -> None:
    store.execute(
        "insert into run_policies values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id,
            summary.code,
            policy.version if policy else None,
            summary.period,
            summary.outcome,
            summary.matches,
            summary.new,
            summary.already_granted,
            summary.near_misses,
            summary.new_amount,
            summary.message,
        ],
    )
