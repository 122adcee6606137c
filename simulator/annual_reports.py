"""企业年报: when each enterprise files its annual report (fr_ndxx) of a year. The rule is
1 January – 30 June of the next year; most file in time, many in the last weeks, some late
(July – November, after the reminders' season), and the facts reach the legal-entity base on
the day they are filed. Whether an entity files facts at all is city.annual_facts; this module
only says when. Deterministic by seed, one stream per (entity, year); the planted late filers
are ground truth through `filed_on` (the manifest's `annual_reports` table).
"""

from __future__ import annotations

import datetime as dt

from simulator.config import substream

LATE = 0.15  # filed after 30 June (the 企业年报 reminder, 1 May – 30 June, names them)
ANNUAL_REPORT_COLUMNS = "uscc TEXT, year INTEGER, filed_on TEXT, late INTEGER"


def filed_on(seed: int, k: int, year: int) -> dt.date:
    """The day entity k files its annual report of `year` (a day of year + 1)."""
    rng = substream(seed, "annual-report", k, year)
    if rng.random() < LATE:
        return dt.date(year + 1, 7, 1) + dt.timedelta(days=rng.randrange(153))  # to 30 Nov
    # in time, more of them towards the deadline: day 0 .. 180 of the year, skewed late
    return dt.date(year + 1, 1, 2) + dt.timedelta(days=int(179 * rng.random() ** 0.6))


def is_late(day: dt.date) -> bool:
    return (day.month, day.day) > (6, 30)
