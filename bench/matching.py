"""Matching benchmark: the five policies compiled to set-based SQL (matching.engine) against
the same rules evaluated row by row in plain Python (matching.rowwise), on the same warehouse.

    python -m bench.matching --people 1000000 [--warehouse PATH]

Without --warehouse a synthetic warehouse with the documented main_marts columns is generated
in bench/cache (once per size, reused). Prints seconds per million people for both and their
ratio, checks that the two give identical match sets and amounts, and writes
bench/results/matching-N.json. Goals (issue 6): ≤ 10 s per million people; ≥ 20× row-wise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import duckdb

from matching.compiler import compile_policy
from matching.engine import DEFAULT_POLICIES, evaluate
from matching.policy import load_policies
from matching.rowwise import evaluate_rowwise
from matching.synthetic import build

CACHE, RESULTS = Path("bench/cache"), Path("bench/results")
E = dt.date(2026, 2, 28)


def engine_matches(warehouse: Path, on: dt.date) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        evaluate(on, warehouse, Path(tmp) / "ops.duckdb", Path(tmp) / "push", snapshot_id="bench")
        seconds = time.perf_counter() - started
        with duckdb.connect(str(Path(tmp) / "ops.duckdb"), read_only=True) as store:
            rows = store.execute(
                "select policy_code, subject_key, amount_yuan from match_ledger"
            ).fetchall()
    found: dict[str, dict] = {}
    for code, key, amount in rows:
        found.setdefault(code, {})[key] = amount
    return seconds, found


def evaluation_only(warehouse: Path, on: dt.date) -> float:
    """The compiled evaluation queries alone (status and amount of the whole population),
    materialised, without explanations, ledger or push lists."""
    policies = load_policies(DEFAULT_POLICIES).policies
    with duckdb.connect() as connection:
        connection.execute(f"attach '{warehouse}' as wh (read_only)")
        started = time.perf_counter()
        for policy in policies:
            sql = compile_policy(policy, on).evaluation
            connection.execute(f"create or replace temp table evaluated as {sql}")
        return time.perf_counter() - started


def steady_run(warehouse: Path, on: dt.date) -> float:
    """A second run on the same day: the daily case, nothing new to record."""
    with tempfile.TemporaryDirectory() as tmp:
        store, push = Path(tmp) / "ops.duckdb", Path(tmp) / "push"
        evaluate(on, warehouse, store, push, snapshot_id="bench")
        started = time.perf_counter()
        evaluate(on, warehouse, store, push, snapshot_id="bench")
        return time.perf_counter() - started


def rowwise_matches(warehouse: Path, on: dt.date) -> tuple[float, dict]:
    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        found = evaluate_rowwise(connection, on)
    return time.perf_counter() - started, {c: rows for c, rows in found.items() if rows}


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--people", type=int, default=1_000_000)
    options.add_argument("--warehouse", type=Path, help="a built warehouse (default: synthetic)")
    options.add_argument("--date", type=dt.date.fromisoformat, default=E)
    args = options.parse_args()
    warehouse = args.warehouse or CACHE / f"matching-{args.people}.duckdb"
    if not warehouse.exists():
        print(f"generating {args.people:,} people into {warehouse}")
        build(warehouse, args.people, args.date)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        people = connection.execute("select count(*) from main_marts.person_file").fetchone()[0]
    eval_seconds = evaluation_only(warehouse, args.date)
    run_seconds, sql_found = engine_matches(warehouse, args.date)
    steady_seconds = steady_run(warehouse, args.date)
    row_seconds, row_found = rowwise_matches(warehouse, args.date)
    identical = sql_found == row_found
    per_million = 1_000_000 / max(people, 1)
    report = {
        "people": people,
        "evaluation_date": args.date.isoformat(),
        "matches": {code: len(rows) for code, rows in sorted(sql_found.items())},
        "sql_evaluation_seconds_per_million": round(eval_seconds * per_million, 3),
        "first_run_seconds_per_million": round(run_seconds * per_million, 3),
        "repeat_run_seconds_per_million": round(steady_seconds * per_million, 3),
        "rowwise_seconds_per_million": round(row_seconds * per_million, 3),
        "ratio_evaluation": round(row_seconds / eval_seconds, 1),
        "ratio_first_run": round(row_seconds / run_seconds, 1),
        "identical_match_sets": identical,
    }
    print(f"people {people:,} · E = {args.date} · matches {report['matches']}")
    lines = [
        ("set-based SQL, evaluation", "sql_evaluation_seconds_per_million"),
        ("first run (ledger, explanations, push)", "first_run_seconds_per_million"),
        ("repeat run, same day", "repeat_run_seconds_per_million"),
        ("row-wise Python, evaluation", "rowwise_seconds_per_million"),
    ]
    for label, name in lines:
        print(f"{label:<40} {report[name]:8.2f} s per million people")
    print(
        f"ratio row-wise / SQL evaluation {report['ratio_evaluation']:.1f}×, "
        f"row-wise / first run {report['ratio_first_run']:.1f}× · identical match sets: {identical}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"matching-{people}.json").write_text(json.dumps(report, indent=2) + "\n")
    if not identical:
        raise SystemExit("the two evaluations differ")


if __name__ == "__main__":
    main()
