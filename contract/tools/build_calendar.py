"""Regenerate the working-day calendar seed (contract/calendar/workdays.csv).

The calendar is data the project owns: a city extends it each year when the State
Council publishes the next year's holiday arrangement (append the rows by hand or with
a newer `chinese-calendar`). This script rebuilds the seed from `chinese-calendar`,
which covers 2004 up to the last year it knows.

    uv run python -m contract.tools.build_calendar
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

SEED = Path(__file__).resolve().parent.parent / "calendar" / "workdays.csv"


def _day_type(day: dt.date, is_workday: bool) -> str:
    weekend = day.weekday() >= 5
    if is_workday:
        return "adjusted_workday" if weekend else "workday"
    return "weekend" if weekend else "holiday"


def build(first_year: int = 2004) -> int:
    import chinese_calendar
    from chinese_calendar import constants

    last = max(constants.holidays.keys() | constants.workdays.keys())
    end = dt.date(last.year, 12, 31)
    rows = []
    day = dt.date(first_year, 1, 1)
    while day <= end:
        working, name = chinese_calendar.get_holiday_detail(day)
        working = not working
        rows.append((day.isoformat(), int(working), _day_type(day, working), name or ""))
        day += dt.timedelta(days=1)
    SEED.parent.mkdir(parents=True, exist_ok=True)
    with SEED.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["calendar_date", "is_workday", "day_type", "holiday_name"])
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    print(f"wrote {build()} days to {SEED}")
