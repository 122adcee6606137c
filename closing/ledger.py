"""The monthly close (结账, kpis.md v2): reported KPI rows kept once per closed month in the
operations store, the restatements of closed months, re-close with a reason.

The operations store, not the warehouse, holds them: dbt rebuilds the warehouse on every run
and a reported figure must outlive every rebuild (as the match ledger does). The current
figures are read from the published snapshot, the one dashboards show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from contract.workdays import calendar

GRAIN = ("kpi_id", "month", "region_code", "department", "item_code", "channel")

DDL = """
create table if not exists kpi_closes (
    month date not null,
    close_no integer not null,
    due_on date not null,
    closed_on date not null,
    closed_at timestamp not null,
    snapshot_id varchar not null,
    closed_by varchar not null,
    reason varchar,
    kpi_rows integer not null,
    primary key (month, close_no)
);
create table if not exists kpi_reported (
    month date not null,
    close_no integer not null,
    kpi_id varchar not null,
    kpi_name_zh varchar,
    region_code varchar not null,
    department varchar not null,
    item_code varchar,
    channel varchar,
    numerator bigint not null,
    denominator bigint not null,
    rate double,
    target double,
    better varchar,
    closed_on date not null,
    snapshot_id varchar not null
);
create table if not exists kpi_restatements (
    month date not null,
    close_no integer not null,
    grain_key varchar not null,
    kpi_id varchar not null,
    kpi_name_zh varchar,
    region_code varchar not null,
    department varchar not null,
    item_code varchar,
    channel varchar,
    reported_numerator bigint not null,
    reported_denominator bigint not null,
    reported_rate double,
    current_numerator bigint not null,
    current_denominator bigint not null,
    current_rate double,
    first_seen_on date not null,
    last_seen_on date not null,
    still_differs boolean not null,
    primary key (month, close_no, grain_key)
);
"""

# the grain as one string (item and channel are NULL for some KPIs)
GRAIN_KEY = (
    "concat_ws('|', kpi_id, month, region_code, department, "
    "coalesce(item_code, '<null>'), coalesce(channel, '<null>'))"
)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def close_day(month: dt.date, workday: int) -> dt.date:
    """The close day of `month`: its `workday`-th working day of the next month (the official
    calendar with 调休, contract/workdays)."""
    return calendar().add_workdays(next_month(month) - dt.timedelta(days=1), workday)


@dataclass(frozen=True)
class Closed:
    month: dt.date
    close_no: int
    due_on: dt.date
    closed_on: dt.date
    kpi_rows: int


def open_store(store: Path) -> duckdb.DuckDBPyConnection:
    from groundfloor.warehouse import open_operations_store

    conn = open_operations_store(store)
    conn.execute(DDL)
    return conn


def attach_published(conn: duckdb.DuckDBPyConnection, published: Path) -> str:
    """Attach the published snapshot read-only as `published`; its snapshot id."""
    conn.execute(f"ATTACH '{Path(published)}' AS published (READ_ONLY)")
    sql = "select snapshot_id from published.main_reference.snapshot_info"
    return conn.execute(sql).fetchone()[0]


def due_months(conn, day: dt.date, workday: int) -> list[tuple[dt.date, dt.date]]:
    """(month, close day) of every month in the published KPIs whose close day is on or before
    `day` and that has never closed: a month whose close day passed while the platform was
    down closes on the first run after it."""
    months = [
        m
        for (m,) in conn.execute(
            "select distinct month from published.main_marts.kpi_monthly "
            "where month < ? order by month",
            [month_start(day)],
        ).fetchall()
    ]
    closed = {m for (m,) in conn.execute("select distinct month from kpi_closes").fetchall()}
    return [
        (m, close_day(m, workday))
        for m in months
        if m not in closed and close_day(m, workday) <= day
    ]


def record_close(
    conn, month: dt.date, due_on: dt.date, day: dt.date, snapshot_id: str, by: str, reason
) -> Closed:
    """Record every KPI row of `month` of the attached snapshot as the month's next close."""
    (close_no,) = conn.execute(
        "select coalesce(max(close_no), 0) + 1 from kpi_closes where month = ?", [month]
    ).fetchone()
    conn.execute(
        f"""
        insert into kpi_reported
        select month, ? as close_no, kpi_id, kpi_name_zh, region_code, department, item_code,
            channel, numerator, denominator, rate, target, better, ? as closed_on,
            ? as snapshot_id
        from published.main_marts.kpi_monthly
        where month = ?
        order by {", ".join(GRAIN)}
        """,
        [close_no, day, snapshot_id, month],
    )
    (rows,) = conn.execute(
        "select count(*) from kpi_reported where month = ? and close_no = ?", [month, close_no]
    ).fetchone()
    conn.execute(
        "insert into kpi_closes values (?, ?, ?, ?, current_localtimestamp(), ?, ?, ?, ?)",
        [month, close_no, due_on, day, snapshot_id, by, reason, rows],
    )
    return Closed(month, close_no, due_on, day, rows)


LATEST_REPORTED = """
    select r.* from kpi_reported as r
    join (select month, max(close_no) as close_no from kpi_closes group by month) as latest
        using (month, close_no)
"""


def refresh_restatements(conn, day: dt.date) -> int:
    """Compare each closed month's latest reported rows with the attached snapshot: a grain
    whose numerator or denominator moved is listed (first seen on `day` the first time);
    a listed one that no longer differs is kept, marked still_differs = false. Returns the
    number of grains that differ now."""
    conn.execute(
        f"""
        create or replace temp table restated_now as
        with reported as ({LATEST_REPORTED}),
        closes as (select month, max(close_no) as close_no from kpi_closes group by month),
        current_rows as (
            select k.* from published.main_marts.kpi_monthly as k
            where k.month in (select month from closes)
        ),
        compared as (
            select
                coalesce(r.month, c.month) as month,
                coalesce(r.kpi_id, c.kpi_id) as kpi_id,
                coalesce(r.kpi_name_zh, c.kpi_name_zh) as kpi_name_zh,
                coalesce(r.region_code, c.region_code) as region_code,
                coalesce(r.department, c.department) as department,
                coalesce(r.item_code, c.item_code) as item_code,
                coalesce(r.channel, c.channel) as channel,
                coalesce(r.numerator, 0) as reported_numerator,
                coalesce(r.denominator, 0) as reported_denominator,
                r.rate as reported_rate,
                coalesce(c.numerator, 0) as current_numerator,
                coalesce(c.denominator, 0) as current_denominator,
                c.rate as current_rate
            from reported as r
            full outer join current_rows as c
                on r.kpi_id = c.kpi_id and r.month = c.month
                and r.region_code = c.region_code and r.department = c.department
                and r.item_code is not distinct from c.item_code
                and r.channel is not distinct from c.channel
        )
        select compared.*, closes.close_no, {GRAIN_KEY} as grain_key
        from compared join closes using (month)
        where reported_numerator <> current_numerator
            or reported_denominator <> current_denominator
        """
    )
    conn.execute(
        """
        update kpi_restatements as s set
            current_numerator = n.current_numerator,
            current_denominator = n.current_denominator,
            current_rate = n.current_rate,
            last_seen_on = ?,
            still_differs = true
        from restated_now as n
        where s.month = n.month and s.close_no = n.close_no and s.grain_key = n.grain_key
        """,
        [day],
    )
    conn.execute(
        """
        update kpi_restatements as s set still_differs = false
        where still_differs and not exists (
            select 1 from restated_now as n
            where s.month = n.month and s.close_no = n.close_no and s.grain_key = n.grain_key
        )
        """
    )
    conn.execute(
        """
        insert into kpi_restatements
        select n.month, n.close_no, n.grain_key, n.kpi_id, n.kpi_name_zh, n.region_code,
            n.department, n.item_code, n.channel, n.reported_numerator,
            n.reported_denominator, n.reported_rate, n.current_numerator,
            n.current_denominator, n.current_rate, ? as first_seen_on, ? as last_seen_on,
            true as still_differs
        from restated_now as n
        where not exists (
            select 1 from kpi_restatements as s
            where s.month = n.month and s.close_no = n.close_no and s.grain_key = n.grain_key
        )
        """,
        [day, day],
    )
    (count,) = conn.execute("select count(*) from restated_now").fetchone()
    conn.execute("drop table restated_now")
    return count


def refresh_as_reported(conn) -> None:
    """kpi_monthly_as_reported, the dashboards' table: closed months at their latest reported
    values (已结账; is_restated when a restatement of the KPI and region is open; the current
    values beside them), the open months at their current values (未结账). Rebuilt on every
    run from the snapshot and the close ledger, with the snapshot's region and department
    names (the dashboards read the operations store, which has none)."""
    conn.execute(
        f"""
        create or replace table kpi_monthly_as_reported as
        with reported as ({LATEST_REPORTED}),
        closes as (
            select month, closed_on from kpi_closes
            qualify close_no = max(close_no) over (partition by month)
        ),
        restated as (
            select distinct s.month, s.kpi_id, s.region_code
            from kpi_restatements as s
            join (select month, max(close_no) as close_no from kpi_closes group by month)
                as latest using (month, close_no)
            where s.still_differs
        ),
        current_rows as (select * from published.main_marts.kpi_monthly),
        -- a closed month's grains as reported, and those that appeared after the close (a late
        -- case of a new district, item or channel): reported 0 of 0, their current values
        -- beside, so that a month's current figure is the sum of every grain
        closed_rows as (
            select coalesce(r.kpi_id, c.kpi_id) as kpi_id,
                coalesce(r.kpi_name_zh, c.kpi_name_zh) as kpi_name_zh,
                coalesce(r.month, c.month) as month,
                coalesce(r.region_code, c.region_code) as region_code,
                coalesce(r.department, c.department) as department,
                coalesce(r.item_code, c.item_code) as item_code,
                coalesce(r.channel, c.channel) as channel,
                coalesce(r.numerator, 0) as numerator,
                coalesce(r.denominator, 0) as denominator,
                coalesce(c.numerator, 0) as current_numerator,
                coalesce(c.denominator, 0) as current_denominator,
                coalesce(r.target, c.target) as target,
                coalesce(r.better, c.better) as better,
                '已结账' as close_status,
                coalesce(r.closed_on, k.closed_on) as closed_on
            from reported as r
            full outer join (
                select * from current_rows where month in (select month from closes)
            ) as c
                on r.kpi_id = c.kpi_id and r.month = c.month
                and r.region_code = c.region_code and r.department = c.department
                and r.item_code is not distinct from c.item_code
                and r.channel is not distinct from c.channel
            left join closes as k on k.month = coalesce(r.month, c.month)
        ),
        open_rows as (
            select kpi_id, kpi_name_zh, month, region_code, department, item_code, channel,
                numerator, denominator, numerator as current_numerator,
                denominator as current_denominator, target, better,
                '未结账' as close_status, cast(null as date) as closed_on
            from current_rows
            where month not in (select month from closes)
        ),
        all_rows as (
            select * from closed_rows
            union all by name
            select * from open_rows
        ),
        regions as (
            select cast(code as varchar) as region_code, any_value(name) as region_name
            from published.main_reference.gb2260_codes where last_year is null group by all
        )
        select
            a.*,
            a.kpi_id || ' ' || a.kpi_name_zh as kpi_label,
            strftime(a.month, '%Y年%m月') as month_text,
            case a.region_code when '360700' then '市本级' when 'unknown' then '未知'
                when 'ALL' then '全市' else coalesce(g.region_name, a.region_code) end
                as region_name,
            coalesce(d.department_name, case a.department when 'help_desk' then '帮办代办'
                when 'hotline' then '12345热线' when 'unknown' then '未知'
                else a.department end) as department_name,
            s.kpi_id is not null as is_restated
        from all_rows as a
        left join regions as g on g.region_code = a.region_code
        left join published.main_marts.departments as d on d.department_code = a.department
        left join restated as s
            on s.month = a.month and s.kpi_id = a.kpi_id and s.region_code = a.region_code
        """
    )


def close(store: Path, published: Path, day: dt.date, workday: int) -> list[Closed]:
    """The close step of the run of `day`: close every due month not closed yet, refresh the
    restatements and the dashboards' table. Running it again for the same day records
    nothing twice."""
    conn = open_store(store)
    try:
        snapshot_id = attach_published(conn, published)
        conn.execute("begin transaction")
        closed = [
            record_close(conn, month, due, day, snapshot_id, "pipeline", None)
            for month, due in due_months(conn, day, workday)
        ]
        refresh_restatements(conn, day)
        refresh_as_reported(conn)
        conn.execute("commit")
        return closed
    finally:
        conn.close()


class NotClosed(RuntimeError):
    """A re-close of a month that never closed."""


def re_close(store: Path, published: Path, month: dt.date, day: dt.date, by: str, reason: str):
    """Close `month` again at the snapshot's current values, with a reason; the earlier
    reported rows and their restatements are kept (the new close is compared from now on)."""
    if not reason.strip():
        raise ValueError("a re-close needs a reason")
    conn = open_store(store)
    try:
        snapshot_id = attach_published(conn, published)
        conn.execute("begin transaction")
        (due,) = conn.execute(
            "select min(due_on) from kpi_closes where month = ?", [month]
        ).fetchone()
        if due is None:
            conn.execute("rollback")
            raise NotClosed(f"{month:%Y-%m} has not closed; it closes on its close day")
        closed = record_close(conn, month, due, day, snapshot_id, by, reason.strip())
        refresh_restatements(conn, day)
        refresh_as_reported(conn)
        conn.execute("commit")
        return closed
    finally:
        conn.close()


def restatements(store: Path, month: dt.date | None = None, include_resolved=False):
    """The restatements listed (dicts), oldest month first."""
    if not has_table(store, "kpi_restatements"):
        return []
    conn = duckdb.connect(str(store), read_only=True)
    try:
        where, params = [], []
        if month is not None:
            where.append("month = ?")
            params.append(month)
        if not include_resolved:
            where.append("still_differs")
        sql = "select * from kpi_restatements" + (" where " + " and ".join(where) if where else "")
        cursor = conn.execute(sql + " order by month, close_no, grain_key", params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


def has_table(store: Path, table: str) -> bool:
    if not Path(store).exists():
        return False
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return bool(
            conn.execute(
                "select count(*) from duckdb_tables() where table_name = ?", [table]
            ).fetchone()[0]
        )
    finally:
        conn.close()


def closes(store: Path) -> list[dict]:
    if not has_table(store, "kpi_closes"):
        return []
    conn = duckdb.connect(str(store), read_only=True)
    try:
        cursor = conn.execute("select * from kpi_closes order by month, close_no")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()
