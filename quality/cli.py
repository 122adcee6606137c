"""`python -m quality run --warehouse W --as-of D [--operations PATH] [--published PATH]`:
the whole quality step on demand, a summary table per suite, and the Data Docs path.

Exit status 0 when no critical expectation failed, 1 when the gate would hold the build back.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from groundfloor.settings import Settings, quality_paths
from quality.runner import QualityRun, run_quality


def parser() -> argparse.ArgumentParser:
    store, published, gx_dir = quality_paths()
    root = argparse.ArgumentParser(prog="python -m quality", description="data quality step")
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run every suite on the warehouse as of a date")
    run.add_argument("--warehouse", type=Path, default=Settings.load().warehouse)
    run.add_argument("--as-of", required=True, type=dt.date.fromisoformat)
    run.add_argument("--operations", type=Path, default=store, help="operations store")
    run.add_argument("--published", type=Path, default=published, help="its published copy")
    run.add_argument("--docs-dir", type=Path, default=gx_dir / "data_docs")
    return root


def summary(run: QualityRun) -> Table:
    """One line per suite: expectations, failures by severity, values checked, worst share."""
    table = Table(title=f"quality run {run.run_id} as of {run.as_of}")
    for heading in ("suite", "expectations", "critical failed", "warnings", "checked", "worst"):
        table.add_column(heading, justify="left" if heading == "suite" else "right")
    suites: dict[str, list[dict]] = {}
    for row in run.results:
        suites.setdefault(row["suite"], []).append(row)
    for name, rows in suites.items():
        failed = [r for r in rows if not r["success"]]
        critical = sum(r["severity"] == "critical" for r in failed)
        worst = max(rows, key=lambda r: r["unexpected_share"])
        table.add_row(
            name,
            str(len(rows)),
            f"[red]{critical}[/]" if critical else "0",
            f"[yellow]{len(failed) - critical}[/]" if len(failed) > critical else "0",
            f"{sum(r['checked'] for r in rows):,}",
            f"{worst['unexpected_share']:.2%}" if worst["unexpected_count"] else "-",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    console = Console()
    run = run_quality(
        args.warehouse,
        args.as_of,
        operations_store=args.operations,
        published_operations=args.published,
        docs_dir=args.docs_dir,
    )
    console.print(summary(run))
    for text in run.critical_failures:
        console.print(f"[red]critical[/] {text}")
    for text in run.warnings:
        console.print(f"[yellow]warning[/]  {text}")
    held = "[red]FAILED: the build would not be published[/]"
    console.print(f"gate: {'[green]passed[/]' if run.passed else held}")
    # absolute, unwrapped: a path or URL to copy or click in one go
    console.print(f"operations store: {run.operations_store.resolve()}", soft_wrap=True)
    console.print(f"published copy:   {run.published_operations.resolve()}", soft_wrap=True)
    console.print(f"Data Docs: {Path(run.data_docs).resolve().as_uri()}", soft_wrap=True)
    return 0 if run.passed else 1
