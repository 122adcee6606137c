"""Clock helpers: local naive timestamps as text, working days from the contract's calendar."""

from __future__ import annotations

import datetime as dt
import random
from itertools import accumulate

from contract.workdays import calendar

TS = "%Y-%m-%d %H:%M:%S"
# Cumulative weights computed once: random.choices accumulates plain weights on every call, to
# the same floats, so the draws are the same.
ONLINE_HOUR_CUM = list(
    accumulate([1, 1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 8, 6, 6, 8, 9, 9, 8, 7, 7, 8, 7, 5, 3])
)


def ts(value: dt.datetime | None) -> str | None:
    # isoformat is the same text as strftime(TS) (seconds truncated) at a third of the cost:
    # a city writes tens of millions of timestamps.
    return value.isoformat(" ", "seconds") if value is not None else None


def at(day: dt.date, seconds: float) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(seconds))


def office_time(rng: random.Random, day: dt.date) -> dt.datetime:
    """A moment in office hours (08:30-12:00, 14:00-17:30)."""
    if rng.random() < 0.5:
        return at(day, 8.5 * 3600 + rng.random() * 3.5 * 3600)
    return at(day, 14 * 3600 + rng.random() * 3.5 * 3600)


def online_time(rng: random.Random, day: dt.date) -> dt.datetime:
    """A moment when people use the online channels: mostly daytime and evening."""
    hour = rng.choices(range(24), cum_weights=ONLINE_HOUR_CUM)[0]
    return at(day, hour * 3600 + rng.random() * 3600)


def next_office_time(rng: random.Random, after: dt.datetime, max_workdays: int = 1) -> dt.datetime:
    """A moment in office hours on one of the next working days (or later today)."""
    cal = calendar()
    day = after.date()
    if cal.is_workday(day) and after.hour < 16 and rng.random() < 0.6:
        moment = office_time(rng, day)
        if moment > after:
            return moment
    day = cal.add_workdays(day, rng.randint(1, max(1, max_workdays)))
    return office_time(rng, day)


def workday_deadline(start: dt.datetime, workdays: int) -> dt.datetime:
    """End of the working day `workdays` working days after start (same day for 0)."""
    day = calendar().add_workdays(start.date(), workdays)
    return at(day, 17.5 * 3600)


def add_months(day: dt.date, months: int) -> dt.date:
    year = day.year + (day.month - 1 + months) // 12
    return dt.date(year, (day.month - 1 + months) % 12 + 1, 1)
