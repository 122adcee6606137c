"""`python -m closing close|restatements|re-close|closes` (docs/close.md).

- `close [--date D]`: what the pipeline does after each publish: close every month whose close
  day is on or before D (default today) and that has not closed, refresh the restatements;
- `restatements [--month YYYY-MM] [--all]`: the closed months' figures that moved since they
  were reported (reported and current values, first seen on);
- `re-close --month YYYY-MM --reason TEXT --by NAME`: record the month again at today's
  figures; the earlier reported rows stay;
- `closes`: every close recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt

from closing import ledger


def month_arg(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y-%m").date()


def paths():
    from groundfloor.settings import Settings, quality_paths

    return quality_paths()[0], Settings.load().published


def show(rows: list[dict]) -> None:
    for row in rows:
        print("\t".join("" if v is None else str(v) for v in row.values()))


def main(argv: list[str] | None = None) -> int:
    from groundfloor.settings import close_settings

    parser = argparse.ArgumentParser(prog="python -m closing", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    close = commands.add_parser("close", help="close every due month")
    close.add_argument("--date", type=dt.date.fromisoformat, default=dt.date.today())
    listing = commands.add_parser("restatements", help="list the restatements")
    listing.add_argument("--month", type=month_arg)
    listing.add_argument("--all", action="store_true", help="also those no longer differing")
    again = commands.add_parser("re-close", help="close a month again, with a reason")
    again.add_argument("--month", type=month_arg, required=True)
    again.add_argument("--reason", required=True)
    again.add_argument("--by", required=True)
    again.add_argument("--date", type=dt.date.fromisoformat, default=dt.date.today())
    commands.add_parser("closes", help="every close recorded")
    args = parser.parse_args(argv)
    store, published = paths()
    if args.command == "close":
        closed = ledger.close(store, published, args.date, close_settings().close_workday)
        for c in closed:
            print(f"closed {c.month:%Y-%m} (due {c.due_on}) on {c.closed_on}: {c.kpi_rows} rows")
        if not closed:
            print(f"nothing due on {args.date}")
    elif args.command == "restatements":
        show(ledger.restatements(store, args.month, include_resolved=args.all))
    elif args.command == "re-close":
        try:
            c = ledger.re_close(store, published, args.month, args.date, args.by, args.reason)
        except (ledger.NotClosed, ValueError) as error:
            print(error)
            return 2
        print(f"re-closed {c.month:%Y-%m} as close {c.close_no} on {c.closed_on}", c.kpi_rows)
    else:
        show(ledger.closes(store))
    return 0
