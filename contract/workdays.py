"""The official working-day calendar (with 调休 make-up days), kept as data.

``wd(a, b)`` = the number of working days d with date(a) < d <= date(b) (kpis.md).
Beyond the seed, Monday to Friday count as working days and the answer is provisional:
a warning is issued, never an error, and callers may ask whether a date is covered.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import warnings
from functools import cache
from pathlib import Path

SEED = Path(__file__).resolve().parent / "calendar" / "workdays.csv"


class ProvisionalCalendarWarning(UserWarning):
    """A date beyond the calendar seed was treated with the Monday-Friday rule."""


class WorkdayCalendar:
    def __init__(self, seed: Path = SEED):
        with open(seed, encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        self._flags = {
            dt.date.fromisoformat(r["calendar_date"]): r["is_workday"] == "1" for r in rows
        }
        self.first = min(self._flags)
        self.last = max(self._flags)
        self._workdays = sorted(d for d, w in self._flags.items() if w)
        self._warned = False

    def covers(self, day: dt.date) -> bool:
        return self.first <= day <= self.last

    def is_workday(self, day: dt.date) -> bool:
        flag = self._flags.get(day)
        if flag is not None:
            return flag
        self._warn(day)
        return day.weekday() < 5

    def _warn(self, day: dt.date) -> None:
        if not self._warned:
            warnings.warn(
                f"{day} is outside the working-day calendar seed ({self.first}..{self.last}); "
                "Monday-Friday used, results are provisional",
                ProvisionalCalendarWarning,
                stacklevel=3,
            )
            self._warned = True

    def add_workdays(self, start: dt.date, count: int) -> dt.date:
        """The date on which `count` working days after `start` have passed (count >= 0)."""
        day = start
        remaining = count
        while remaining > 0:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day

    def wd(self, a: dt.date, b: dt.date) -> int:
        """Working days d with a < d <= b (negative when b < a)."""
        if b < a:
            return -self.wd(b, a)
        if self.covers(a) and self.covers(b):
            return bisect.bisect_right(self._workdays, b) - bisect.bisect_right(self._workdays, a)
        count, day = 0, a
        while day < b:
            day += dt.timedelta(days=1)
            count += self.is_workday(day)
        return count


@cache
def calendar() -> WorkdayCalendar:
    return WorkdayCalendar()
