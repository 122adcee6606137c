"""`python -m simulator`: the departmental systems of the demo city, simulated."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from simulator.config import DEFAULT_RATES, CityConfig

DEFAULT_OUT = Path("data/city")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _rate(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    if name not in DEFAULT_RATES or not value:
        raise argparse.ArgumentTypeError(
            f"expected DEFECT=RATE with DEFECT one of {', '.join(DEFAULT_RATES)}: {text!r}"
        )
    rate = float(value)
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1: {text!r}")
    return name, rate


def _add_workers(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--workers",
        type=int,
        choices=[1, 2],
        default=min(2, os.cpu_count() or 1),
        help="processes: 2 runs the case platform beside the registries and the hotline "
        "(default: 2 on a machine with 2 or more CPUs; docs/simulator.md)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="build the city's six systems from scratch")
    gen.add_argument("--people", type=int, default=5000)
    gen.add_argument("--seed", type=int, default=20250101)
    gen.add_argument("--start", type=_date, default=dt.date(2025, 1, 1))
    gen.add_argument("--months", type=int, default=22)
    gen.add_argument("--out", type=Path, default=DEFAULT_OUT)
    _add_workers(gen)
    gen.add_argument(
        "--defects",
        choices=["on", "off"],
        default="on",
        help="inject the defects of defects.md (default on)",
    )
    gen.add_argument(
        "--rate",
        type=_rate,
        action="append",
        default=[],
        help="override a defect rate, e.g. --rate D4=0.1 (repeatable)",
    )
    gen.add_argument(
        "--exchange-format",
        choices=["sqlite", "parquet"],
        default="sqlite",
        help="the four exchange databases as SQLite files (default) or as folders of Parquet "
        "files, a tenth of the disk, for the largest cities (docs/simulator.md)",
    )
    gen.add_argument(
        "--ground-truth",
        choices=["on", "off"],
        default="on",
        help="record the manifest's record-level truth (default on; off for a benchmark city: "
        "the same data, without what only tests read)",
    )
    gen.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="SYSTEM=URL",
        help="also load SYSTEM into a real database (postgresql://… or mysql+pymysql://…)",
    )

    adv = sub.add_parser("advance", help="move the city's clock on and record what changed")
    adv.add_argument("--out", type=Path, default=DEFAULT_OUT)
    adv.add_argument("--days", type=int, default=1)
    _add_workers(adv)
    adv.add_argument("--target", action="append", default=[], metavar="SYSTEM=URL")
    adv.add_argument(
        "--drift",
        metavar="KIND:TABLE.COLUMN",
        help="schema drift (D11) until the next advance: added, renamed or missing",
    )

    load = sub.add_parser("load", help="copy the exchange databases into real servers")
    load.add_argument("--out", type=Path, default=DEFAULT_OUT)
    load.add_argument("--target", action="append", required=True, metavar="SYSTEM=URL")

    serve = sub.add_parser("serve-hotline", help="serve the hotline vendor's HTTP API")
    serve.add_argument("--out", type=Path, default=DEFAULT_OUT)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument(
        "--token",
        default=os.environ.get("HOTLINE_API_TOKEN"),
        help="bearer token (default: $HOTLINE_API_TOKEN)",
    )
    serve.add_argument("--error-rate", type=float, default=DEFAULT_RATES["D12"])
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--verbose", action="store_true")
    return parser


class _Progress:
    """One live line per stage on a terminal; a line per stage otherwise (CI logs)."""

    def __init__(self, interactive: bool = True):
        # Two workers' live lines would overwrite each other: a line per stage then.
        self.interactive = interactive and sys.stderr.isatty()
        self.stage = None
        self.started = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.interactive:
            end = "\n" if done == total else ""
            print(f"\r  {stage:<14} {done:>9,}/{total:,}", end=end, file=sys.stderr, flush=True)
        elif stage != self.stage:
            print(f"  {stage} ({total:,}) …", file=sys.stderr, flush=True)
        self.stage = stage


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from simulator.generate import CityError

    try:
        return COMMANDS[args.command](args)
    except (CityError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _generate(args) -> int:
    from simulator.run import generate_city
    from simulator.targets import load_targets, parse_targets

    targets = parse_targets(args.target)
    rates = dict(DEFAULT_RATES)
    rates.update(dict(args.rate))
    config = CityConfig(
        people=args.people,
        seed=args.seed,
        start=args.start,
        months=args.months,
        rates=rates,
        defects=args.defects == "on",
        exchange_format=args.exchange_format,
        ground_truth=args.ground_truth == "on",
    )
    started = time.monotonic()
    print(
        f"generating {args.people:,} people, {args.start} + {args.months} months → {args.out}",
        file=sys.stderr,
    )
    progress = _Progress(interactive=args.workers == 1)
    summary = generate_city(config, args.out, progress, workers=args.workers)
    _print_counts(summary["counts"], time.monotonic() - started)
    if targets:
        load_targets(args.out, targets, progress=_print_loaded)
    return 0


def _advance(args) -> int:
    from simulator.run import advance_city
    from simulator.targets import parse_targets, sync_changes

    targets = parse_targets(args.target)
    progress = _Progress(interactive=args.workers == 1)
    result = advance_city(args.out, args.days, progress, drift=args.drift, workers=args.workers)
    print(f"clock now {result['clock']}", file=sys.stderr)
    for table, tally in sorted(result["changes"].items()):
        print(
            f"  {table:<12} " + ", ".join(f"{k} {v:,}" for k, v in tally.items()), file=sys.stderr
        )
    for system, url in targets.items():
        sync_changes(args.out, system, url, _changes_of(args.out, system, result["advance_no"]))
    return 0


def _changes_of(out: Path, system: str, advance_no: int) -> list[tuple[str, str, str]]:
    import sqlite3

    conn = sqlite3.connect(Path(out) / "manifest" / "manifest.sqlite")
    rows = conn.execute(
        "SELECT table_name, key, change FROM changes WHERE advance_no = ? "
        "AND system = ? AND table_name <> 'hcp_pj'",
        (advance_no, system),
    ).fetchall()
    conn.close()
    return rows


def _load(args) -> int:
    from simulator.run import read_city
    from simulator.targets import load_targets, parse_targets

    read_city(args.out)
    load_targets(args.out, parse_targets(args.target), progress=_print_loaded)
    return 0


def _serve(args) -> int:
    from simulator.hotline_server import serve_forever
    from simulator.hotline_store import store_path

    if not args.token:
        raise ValueError("serve-hotline needs --token or $HOTLINE_API_TOKEN")
    serve_forever(
        store_path(args.out),
        host=args.host,
        port=args.port,
        token=args.token,
        error_rate=args.error_rate,
        seed=args.seed,
        verbose=args.verbose,
    )
    return 0


def _print_counts(counts: dict[str, int], seconds: float) -> None:
    total = sum(v for k, v in counts.items() if k != "hcp_files")
    print(
        f"done in {seconds:.1f} s: {total:,} rows ({total / max(seconds, 1e-9):,.0f} rows/s), "
        f"{counts.get('hcp_files', 0)} 好差评 files",
        file=sys.stderr,
    )
    for table, count in counts.items():
        print(f"  {table:<12} {count:>12,}", file=sys.stderr)


def _print_loaded(system: str, table: str, rows: int) -> None:
    print(f"  loaded {system}.{table}: {rows:,} rows", file=sys.stderr)


COMMANDS = {"generate": _generate, "advance": _advance, "load": _load, "serve-hotline": _serve}
