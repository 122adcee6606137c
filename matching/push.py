"""Push lists for the notification system: a run's approved ledger rows, per policy and period.

A row carries the pseudonymous key and the masked identity only; the notification system
resolves the key through the restricted identity vault (main_restricted), so no identity
number, full name or phone ever lands in a push file. Only approved rows are written, each
once: a row is marked pushed (with its file) in the same transaction that selects it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from matching.compiler import sql_text

PUSH_COLUMNS = (
    "policy_code, period, subject_key, display_name, display_id, amount_yuan, explanation_zh"
)


def write_push_lists(store: duckdb.DuckDBPyConnection, directory: Path, run_id: str) -> list[Path]:
    """CSV and JSON per (policy, period) evaluated in the run, written even when empty so the
    notification system can tell "nothing approved" from "not run". A later release of the
    same run (rows approved afterwards) gets files of its own, `<CODE>_<period>-2.csv`, …"""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    store.begin()
    try:
        for code, period in _evaluated(store, run_id):
            written += _write_one(store, directory, run_id, code, period)
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return written


def _evaluated(store: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, str]]:
    return store.execute(
        """select policy_code, period from run_policies
        where run_id = ? and outcome = 'evaluated' order by policy_code""",
        [run_id],
    ).fetchall()


def _write_one(store, directory: Path, run_id: str, code: str, period: str) -> list[Path]:
    stem = _free_stem(directory, f"{code}_{period}")
    where = (
        f"run_id = {sql_text(run_id)} and policy_code = {sql_text(code)}"
        f" and period = {sql_text(period)} and status = 'approved' and pushed_at is null"
    )
    rows = f"(select {PUSH_COLUMNS} from match_ledger where {where} order by subject_key)"
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    if csv_path.name != f"{code}_{period}.csv" and not _any(store, where):
        return []  # a later release with nothing new for this policy: no empty extra files
    store.execute(f"copy {rows} to {sql_text(str(csv_path))} (format csv, header true)")
    store.execute(f"copy {rows} to {sql_text(str(json_path))} (format json, array true)")
    store.execute(
        f"update match_ledger set pushed_at = now(), push_file = ? where {where}",
        [str(csv_path)],
    )
    return [csv_path, json_path]


def _any(store, where: str) -> bool:
    return store.execute(f"select count(*) from match_ledger where {where}").fetchone()[0] > 0


def _free_stem(directory: Path, name: str) -> Path:
    """`name`, or `name-2`, `name-3`, … when an earlier release of the run already wrote it."""
    stem, n = directory / name, 1
    while stem.with_suffix(".csv").exists():
        n += 1
        stem = directory / f"{name}-{n}"
    return stem
