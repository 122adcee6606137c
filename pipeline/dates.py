"""The dates a run works for, from its Airflow context.

DAGs use trigger timetables (Airflow 3's default), so a run's logical date is the moment it is
due: the daily run of 1 November fires at 00:00 on 1 November (Asia/Shanghai). Asset-triggered
runs have no logical date; their moment is `run_after`.
- load day (ingestion as_of): the local date of that moment;
- build date (the themes' as_of_date): the day before, the last complete day;
- evaluation date E (policy matching): the local date of the moment.
"""

from __future__ import annotations

import datetime as dt

LOCAL_TZ = "Asia/Shanghai"


def run_moment(context) -> dt.datetime:
    moment = context.get("logical_date") or context["dag_run"].run_after
    import pendulum

    return pendulum.instance(moment).in_timezone(LOCAL_TZ)


def load_day(context) -> dt.date:
    return run_moment(context).date()


def build_date(context) -> dt.date:
    return run_moment(context).date() - dt.timedelta(days=1)


def evaluation_date(context) -> dt.date:
    return run_moment(context).date()
