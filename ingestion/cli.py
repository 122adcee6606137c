"""`python -m ingestion`: load the departmental systems into the warehouse's raw layer."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from groundfloor.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    settings = Settings.load()
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__)
    parser.add_argument(
        "--sources",
        type=Path,
        default=settings.sources,
        help="sources configuration (default: $SOURCES or ingestion/sources.yaml)",
    )
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=settings.warehouse,
        help="DuckDB warehouse file (default: $WAREHOUSE)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="load every configured system (or those named)")
    run.add_argument("--system", action="append", help="only this system (repeatable)")
    run.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=None,
        help="the run's logical date: the population snapshot of the day before is due",
    )
    confirm = sub.add_parser("confirm-snapshot", help="apply a population snapshot held back (D15)")
    confirm.add_argument("--date", type=dt.date.fromisoformat, required=True)
    return parser


class _Progress:
    """One line per table loaded; the rate since the same system's previous line (two
    systems load side by side, INGEST_WORKERS)."""

    def __init__(self, console: Console):
        self.console = console
        self.begun = time.monotonic()
        self.last: dict[str, float] = {}

    def __call__(self, system: str, table: str, rows: int) -> None:
        now = time.monotonic()
        rate = rows / max(now - self.last.get(system, self.begun), 1e-6)
        self.console.print(
            f"  {system}.{table}: {rows:,} rows ({rate:,.0f} rows/s)", highlight=False
        )
        self.last[system] = now


def summary_table(results) -> Table:
    table = Table(title="ingestion summary")
    for name in (
        "system",
        "status",
        "rows read",
        "new versions",
        "quarantined",
        "drift",
        "seconds",
    ):
        table.add_column(
            name, justify="right" if name not in ("system", "status", "drift") else "left"
        )
    for r in results:
        table.add_row(
            r.system,
            r.status if r.status == "ok" else f"[red]{r.status}[/red]",
            f"{r.rows_read:,}",
            f"{r.rows_new:,}",
            f"{r.rows_quarantined:,}",
            "; ".join(r.drift) or "-",
            f"{r.seconds:.1f}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True, width=120)
    if args.command == "confirm-snapshot":
        return _confirm(args, console)
    from ingestion.runner import run

    console.print(f"loading {args.sources} into {args.warehouse}")
    try:
        results = run(args.sources, args.warehouse, args.system, args.as_of, _Progress(console))
    except Exception as exc:  # configuration or lock problems: one clear line
        console.print(f"[red]error:[/red] {exc}")
        return 2
    console.print(summary_table(results))
    for failed in (r for r in results if r.status != "ok"):
        console.print(f"[red]{failed.system} failed:[/red] {failed.message}")
    for noted in (r for r in results if r.status == "ok" and r.message):  # files set aside
        console.print(f"[yellow]{noted.system}:[/yellow] {noted.message}", highlight=False)
    return 0 if all(r.status == "ok" for r in results) else 1


def _confirm(args, console: Console) -> int:
    from ingestion.landing import now
    from ingestion.snapshot import confirm_pending
    from ingestion.warehouse import writer

    with writer(args.warehouse) as conn:
        conn.execute("BEGIN TRANSACTION")
        try:
            added = confirm_pending(conn, args.date, f"confirm-{now():%Y%m%dT%H%M%S}")
        except ValueError as exc:
            conn.execute("ROLLBACK")
            console.print(f"[red]error:[/red] {exc}")
            return 2
        conn.execute("COMMIT")
    console.print(f"snapshot of {args.date} applied: {added:,} row versions opened")
    return 0


if __name__ == "__main__":
    sys.exit(main())
