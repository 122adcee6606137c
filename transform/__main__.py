"""python -m transform build|publish|docs — the warehouse's transformation step.

python -m transform build   [--warehouse W] [--as-of YYYY-MM-DD] [-- dbt args…]
python -m transform publish [--warehouse W] [--published P] [--as-of YYYY-MM-DD]
python -m transform docs    [--warehouse W] [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from groundfloor.settings import MissingSetting, Settings
from transform import docs
from transform.dbt import DbtFailed, build
from transform.publish import publish


def parse(argv: list[str]) -> argparse.Namespace:
    settings = Settings.load()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--warehouse", type=Path, default=settings.warehouse)
    common.add_argument("--as-of", type=dt.date.fromisoformat, default=None)
    common.add_argument("--target", default="demo", help="dbt target (demo, ci, prod)")
    parser = argparse.ArgumentParser(prog="python -m transform", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser(
        "build", parents=[common], help="dbt build (seeds, models, data and unit tests)"
    )
    build_parser.add_argument("dbt_args", nargs="*", help="extra dbt arguments after --")
    publish_parser = commands.add_parser(
        "publish", parents=[common], help="swap in a new published snapshot"
    )
    publish_parser.add_argument("--published", type=Path, default=settings.published)
    docs_parser = commands.add_parser(
        "docs", parents=[common], help="generate and publish the dbt docs"
    )
    docs_parser.add_argument("--out", type=Path, default=settings.published_docs)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "build":
            build(args.warehouse, args.as_of, *args.dbt_args, target=args.target)
        elif args.command == "publish":
            snapshot = publish(args.warehouse, args.published, args.as_of)
            print(
                f"published snapshot {snapshot.snapshot_id}: {snapshot.tables} tables, "
                f"{snapshot.rows:,} rows -> {Path(snapshot.path).resolve()}"
            )
        else:
            target = docs.generate(args.warehouse, args.as_of)
            # a URL the terminal makes clickable, whatever the working directory
            print(f"dbt docs: {docs.publish_docs(target, args.out).resolve().as_uri()}")
    except (DbtFailed, MissingSetting, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
