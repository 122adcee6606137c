"""`python -m matching evaluate --date YYYY-MM-DD [--policy CODE ...] [--warehouse PATH]
[--operations PATH]`: one matching run and its summary table."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from groundfloor.settings import Settings, matching_paths
from matching.engine import DEFAULT_POLICIES, RunResult, evaluate


def parser() -> argparse.ArgumentParser:
    operations, push = matching_paths()
    root = argparse.ArgumentParser(
        prog="python -m matching", description="免申即享 policy matching"
    )
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("evaluate", help="evaluate policies as of a date")
    run.add_argument("--date", required=True, type=dt.date.fromisoformat, help="evaluation date E")
    run.add_argument(
        "--policy",
        action="append",
        dest="policies",
        metavar="CODE",
        help="only this policy (repeatable); default: every policy file",
    )
    run.add_argument("--warehouse", type=Path, default=Settings.load().warehouse)
    run.add_argument("--operations", type=Path, default=operations, help="operations store")
    run.add_argument("--push-dir", type=Path, default=push, help="push lists go to DIR/<run id>/")
    run.add_argument("--policies-dir", type=Path, default=DEFAULT_POLICIES)
    run.add_argument("--snapshot-id", help="warehouse snapshot id (default: SHA-256 of the file)")
    run.add_argument("--run-id", help="run id (default: timestamp and random suffix)")
    return root


def summary_table(result: RunResult) -> Table:
    table = Table(title=f"免申即享 run {result.run_id} · E = {result.evaluation_date}")
    for heading in (
        "policy",
        "period",
        "outcome",
        "matches",
        "new",
        "already granted",
        "near misses",
        "new amount (元)",
    ):
        table.add_column(heading, justify="right" if heading[0] in "mnar" else "left")
    for s in result.summaries:
        table.add_row(
            f"{s.code} {s.name}",
            s.period or "",
            s.outcome,
            str(s.matches),
            str(s.new),
            str(s.already_granted),
            str(s.near_misses),
            f"{s.new_amount:,.2f}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # a log or a pipe gets the whole table, not one squeezed to 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=140)
    result = evaluate(
        args.date,
        args.warehouse,
        args.operations,
        args.push_dir,
        args.policies_dir,
        args.policies,
        args.run_id,
        args.snapshot_id,
    )
    for error in result.errors:
        console.print(f"[red]refused[/red] {error}", highlight=False)
    console.print(summary_table(result))
    for s in result.summaries:
        if s.outcome == "failed":
            console.print(f"[red]failed[/red] {s.message}", highlight=False)
    console.print(f"push lists: {Path(result.push_dir).resolve()}", soft_wrap=True)
    failed = result.errors or any(s.outcome == "failed" for s in result.summaries)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
