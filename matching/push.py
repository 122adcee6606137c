"""Push lists for the notification system: the new ledger rows of a run, per policy and period.

A row carries the pseudonymous key and the masked identity only; the notification system
resolves the key through the restricted identity vault (main_restricted), so no identity
number, full name or phone ever lands in a push file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from matching.compiler import sql_text
from matching.policy import Policy


def push_file_stem(policy: Policy, period: str) -> str:
    return f"{policy.code}_{period}"


def write_push_list(
    store: duckdb.DuckDBPyConnection, directory: Path, policy: Policy, period: str
) -> tuple[Path, Path]:
    """CSV and JSON of this run's new matches (temp tables `fresh` and `explained`), written
    even when empty so the notification system can tell "nothing new" from "not run"."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / push_file_stem(policy, period)
    rows = f"""(
        select {sql_text(policy.code)} as policy_code, {sql_text(period)} as period, subject_key,
            display_name, display_id, amount as amount_yuan, explanation_zh
        from fresh join explained using (subject_key) order by subject_key)"""
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    store.execute(f"copy {rows} to {sql_text(str(csv_path))} (format csv, header true)")
    store.execute(f"copy {rows} to {sql_text(str(json_path))} (format json, array true)")
    return csv_path, json_path
