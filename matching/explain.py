"""`explain`: why a subject is (or is not) matched by a policy on a date, for appeals.

The explanation is the engine's own (compiler.explanation_sql, evaluated for this one subject):
for a matched subject it is the explanation the ledger records; for any other it gives every
condition's outcome, so the failed and missing conditions can be named.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from groundfloor.warehouse import writer_lock
from matching.compiler import compile_policy, sql_text
from matching.policy import Policy, load_policies

WH = "wh"


@dataclass
class Explanation:
    policy: str
    subject_key: str
    on: dt.date
    period: str
    status: str  # match | near_miss | not_matched | already_granted
    explanation: dict
    explanation_zh: str
    missing_fields: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[dict]:
        """The conditions that failed or lack data. For a match these can only be branches of
        an `any` that another branch satisfied (CJLB's 低保 when the level is 1 or 2)."""
        return [c for c in self.explanation["conditions"] if c["outcome"] != "pass"]


class UnknownSubject(LookupError):
    pass


def find_policy(policies_dir: Path, code: str) -> Policy:
    loaded = load_policies(policies_dir, [code])
    if not loaded.policies:
        raise LookupError("; ".join(loaded.errors) or f"no valid policy file defines {code}")
    return loaded.policies[0]


def explain(warehouse: Path, policy: Policy, subject_key: str, on: dt.date) -> Explanation:
    with writer_lock(warehouse, "policy matching: explain"):
        connection = duckdb.connect()
        try:
            connection.execute(f"attach {sql_text(str(warehouse.resolve()))} as {WH} (read_only)")
            return _explain(connection, policy, subject_key, on)
        finally:
            connection.close()


def _explain(connection, policy: Policy, subject_key: str, on: dt.date) -> Explanation:
    compiled = compile_policy(policy, on, f"{WH}.main_marts")
    period = policy.period_of(on)
    # the explanation query reads its subjects from a table named `fresh`, as in a run
    connection.execute("create temp table fresh as select ? as subject_key", [subject_key])
    found = connection.execute(
        f"select explanation_json, explanation_zh from ({compiled.explanations})"
    ).fetchone()
    if found is None:
        raise UnknownSubject(f"{subject_key} is not in the {policy.subject} file")
    evaluated = connection.execute(
        f"select status, missing_fields from ({compiled.evaluation}) where subject_key = ?",
        [subject_key],
    ).fetchone()
    status, missing = evaluated if evaluated else ("not_matched", [])
    if status == "match" and _granted(connection, policy, subject_key, period):
        status = "already_granted"
    return Explanation(
        policy.code, subject_key, on, period, status, json.loads(found[0]), found[1], missing
    )


def _granted(connection, policy: Policy, subject_key: str, period: str) -> bool:
    key = "person_key" if policy.subject == "person" else "enterprise_key"
    return connection.execute(
        f"select count(*) > 0 from {WH}.main_marts.benefit_grants"
        f" where policy_code = ? and grant_period = ? and {key} = ?",
        [policy.code, period, subject_key],
    ).fetchone()[0]


STATUS_ZH = {
    "match": "符合条件",
    "near_miss": "数据缺失，暂不能认定",
    "not_matched": "不符合条件",
    "already_granted": "符合条件，但本期已发放",
}
