"""KPI alerts (kpis.md v2): after each publish, for the latest closed month and each KPI ×
region with a target and a denominator of at least 30, an alert when the reported rate misses
the target by more than 5 percentage points, or moved the wrong way (against `better`) by
more than 5 points from the previous month. Each (KPI, region, month, reason) alerts once:
the kpi_alerts table of the operations store is the memory of what was raised.

This module finds and records them; the pipeline delivers them through the alert channel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from closing.ledger import LATEST_REPORTED, open_store

DDL = """
create table if not exists kpi_alerts (
    kpi_id varchar not null,
    region_code varchar not null,
    month date not null,
    reason varchar not null,
    kpi_name_zh varchar,
    better varchar,
    rate double not null,
    target double,
    previous_rate double,
    denominator bigint not null,
    message varchar not null,
    raised_on date not null,
    primary key (kpi_id, region_code, month, reason)
)"""

MISSES_TARGET = "misses_target"
WRONG_WAY = "wrong_way"


@dataclass(frozen=True)
class KpiAlert:
    kpi_id: str
    region_code: str
    month: dt.date
    reason: str
    kpi_name_zh: str
    better: str
    rate: float
    target: float | None
    previous_rate: float | None
    denominator: int
    message: str


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def message(a: dict) -> str:
    where = "全市" if a["region_code"] == "ALL" else a["region_code"]
    month = f"{a['month']:%Y年%m月}"
    head = f"{a['kpi_id']} {a['kpi_name_zh']} {where} {month} 报告值 {percent(a['rate'])}"
    if a["reason"] == MISSES_TARGET:
        side = "低于" if a["better"] == "higher" else "高于"
        return f"{head}，{side}目标 {percent(a['target'])} 超过阈值（分母 {a['denominator']}）"
    side = "下降" if a["better"] == "higher" else "上升"
    return f"{head}，较上月 {percent(a['previous_rate'])} {side}超过阈值（分母 {a['denominator']}）"


def candidates(conn, miss_points: float, move_points: float, min_denominator: int) -> list[dict]:
    """Every alert the latest closed month's reported rows call for (raised or not)."""
    rows = conn.execute(
        f"""
        with reported as ({LATEST_REPORTED}),
        latest as (select max(month) as month from kpi_closes),
        by_region as (
            select kpi_id, any_value(kpi_name_zh) as kpi_name_zh, month, region_code,
                any_value(target) as target, any_value(better) as better,
                sum(numerator) as numerator, sum(denominator) as denominator
            from reported
            group by kpi_id, month, region_code
        ),
        this_month as (
            select b.*, cast(b.numerator as double) / b.denominator as rate
            from by_region as b
            where b.month = (select month from latest)
                and b.target is not null and b.denominator >= ?
        ),
        previous as (
            select kpi_id, region_code, cast(numerator as double) / denominator as rate
            from by_region
            where month = (select month from latest) - interval 1 month and denominator > 0
        )
        select t.kpi_id, t.kpi_name_zh, t.month, t.region_code, t.target, t.better,
            t.denominator, t.rate, p.rate as previous_rate,
            round(100 * case when t.better = 'lower' then t.rate - t.target
                else t.target - t.rate end, 6) as miss,
            round(100 * case when t.better = 'lower' then t.rate - p.rate
                else p.rate - t.rate end, 6) as wrong_move
        from this_month as t
        left join previous as p using (kpi_id, region_code)
        order by t.kpi_id, t.region_code
        """,
        [min_denominator],
    ).fetchall()
    found = []
    for kpi, name, month, region, target, better, den, rate, prev, miss, move in rows:
        base = {
            "kpi_id": kpi,
            "kpi_name_zh": name,
            "month": month,
            "region_code": region,
            "target": target,
            "better": better,
            "denominator": int(den),
            "rate": rate,
            "previous_rate": prev,
        }
        if miss > miss_points:
            found.append({**base, "reason": MISSES_TARGET})
        if move is not None and move > move_points:
            found.append({**base, "reason": WRONG_WAY})
    return found


def raise_new(store: Path, day: dt.date, settings) -> list[KpiAlert]:
    """Record the alerts not raised before (each (KPI, region, month, reason) once) and return
    them for delivery. Nothing before the first close."""
    conn = open_store(store)
    try:
        conn.execute(DDL)
        conn.execute("begin transaction")
        new = []
        for found in candidates(
            conn,
            settings.alert_miss_points,
            settings.alert_move_points,
            settings.alert_min_denominator,
        ):
            (seen,) = conn.execute(
                "select count(*) from kpi_alerts where kpi_id = ? and region_code = ? "
                "and month = ? and reason = ?",
                [found["kpi_id"], found["region_code"], found["month"], found["reason"]],
            ).fetchone()
            if seen:
                continue
            alert = KpiAlert(**{**found, "message": message(found)})
            conn.execute(
                "insert into kpi_alerts values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    alert.kpi_id,
                    alert.region_code,
                    alert.month,
                    alert.reason,
                    alert.kpi_name_zh,
                    alert.better,
                    alert.rate,
                    alert.target,
                    alert.previous_rate,
                    alert.denominator,
                    alert.message,
                    day,
                ],
            )
            new.append(alert)
        conn.execute("commit")
        return new
    finally:
        conn.close()
