"""Payout (兑付): approved matches followed to their payment, and K23 免申即享兑付率.

policies.md v2: the payment of a ledger row is a `jf_ffjl` row (warehouse: benefit_grants) with
the policy's ZCBM, the subject and FFSSQ = the period. K23 (payout_rate): among approved
matches whose approval is at least 30 days before the run's logical date D, those paid within
30 days of approval; attributed to the month of approval; by policy and region. Also the
median days from approval to payment.

Choices where the spec is silent:
- days = payment date − approval date (calendar days); "within 30 days" is days ≤ 30;
- a payment dated before the approval (paid in advance) counts as paid within 30 days, with
  0 days in the median (it did not wait for the approval);
- a revoked row stays in the denominator if it was approved (revocation after approval is
  a payout failure worth seeing); rejected and pending rows never count;
- the region is the subject's current district (person hukou, enterprise domicile).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from matching.store import WAREHOUSE_ALIAS, replace_evaluation, store_beside_warehouse

WINDOW_DAYS = 30

FOLLOWED = f"""
with approved as (
    select policy_code, subject_type, subject_key, period, cast(decided_at as date) as approved_on
    from match_ledger
    -- a revoked row counts when it had been approved (a revoked pending row has no decided_at)
    where decided_at is not null and status in ('approved', 'revoked')
),
paid as (
    select policy_code, grant_period as period, coalesce(person_key, enterprise_key) as k,
        min(granted_on) as paid_on
    from {WAREHOUSE_ALIAS}.main_marts.benefit_grants group by all
),
district as (
    select person_key as k, hukou_region_code as region_code
    from {WAREHOUSE_ALIAS}.main_marts.person_file
    union all
    select enterprise_key, region_code from {WAREHOUSE_ALIAS}.main_marts.enterprise_file
)
select a.policy_code, coalesce(d.region_code, '未知') as region_code,
    date_trunc('month', a.approved_on)::date as month, a.subject_key, a.approved_on, p.paid_on,
    -- greatest() skips nulls: an unpaid row must keep a null
    case when p.paid_on is not null then greatest(p.paid_on - a.approved_on, 0) end
        as days_to_pay
from approved a
left join paid p on p.policy_code = a.policy_code and p.period = a.period
    and p.k = a.subject_key
left join district d on d.k = a.subject_key
where a.approved_on <= ? - interval {WINDOW_DAYS} day
"""

K23 = f"""
select policy_code, region_code, month,
    count(*) filter (where days_to_pay <= {WINDOW_DAYS}) as paid_within_30_days,
    count(*) as approved,
    count(paid_on) as paid_ever,
    median(days_to_pay) as median_days_to_pay
from followed group by grouping sets ((policy_code, region_code, month), (policy_code, month))
order by month, policy_code, region_code nulls first
"""


@dataclass(frozen=True)
class PayoutRow:
    policy_code: str
    region_code: str | None  # None: the policy's row over all regions
    month: dt.date
    paid_within_30_days: int
    approved: int
    paid_ever: int
    median_days_to_pay: float | None

    @property
    def payout_rate(self) -> float | None:
        return self.paid_within_30_days / self.approved if self.approved else None


def payout(warehouse: Path, operations: Path, on: dt.date) -> list[PayoutRow]:
    """K23 and the median days to pay as of the logical date `on`, by policy, region, month."""
    with store_beside_warehouse(warehouse, operations, "policy matching: payout") as store:
        store.execute(f"create or replace temp table followed as {FOLLOWED}", [on])
        rows = store.execute(K23).fetchall()
    return [
        PayoutRow(code, region, month, int(ok), int(n), int(ever),
                  None if median is None else float(median))
        for code, region, month, ok, n, ever, median in rows
    ]  # fmt: skip


PAYOUT_DDL = """
create table if not exists payout_monthly (
    evaluation_date date not null, policy_code varchar not null,
    region_code varchar, region_name varchar, month date not null,
    paid_within_30_days integer not null, approved integer not null, paid_ever integer not null,
    median_days_to_pay double)
"""


def record_payout(warehouse: Path, operations: Path, on: dt.date) -> int:
    """payout() as of `on` into the operations store's `payout_monthly` (what the 免申即享
    dashboard shows; a region None row is the policy over all regions), replacing the rows
    of an earlier record for the same date. Returns the number of rows."""
    rows = payout(warehouse, operations, on)
    with store_beside_warehouse(warehouse, operations, "policy matching: payout") as store:
        store.execute(PAYOUT_DDL)
        names = region_names(store)
        values = [
            (on, r.policy_code, r.region_code, region_name(r.region_code, names), r.month,
             r.paid_within_30_days, r.approved, r.paid_ever, r.median_days_to_pay)
            for r in rows
        ]  # fmt: skip
        replace_evaluation(store, "payout_monthly", on, values)
    return len(rows)


def region_names(store) -> dict[str, str]:
    """{code: name} of the regions in force (GB/T 2260) from the attached warehouse's reference
    seed; empty when the warehouse has none (a hand-made test warehouse)."""
    present = store.execute(
        "select count(*) from information_schema.tables where table_catalog = ?"
        " and table_schema = 'main_reference' and table_name = 'gb2260_codes'",
        [WAREHOUSE_ALIAS],
    ).fetchone()[0]
    if not present:
        return {}
    return dict(
        store.execute(
            f"select cast(code as varchar), name from {WAREHOUSE_ALIAS}.main_reference.gb2260_codes"
            " where last_year is null"
        ).fetchall()
    )


def region_name(code: str | None, names: dict[str, str]) -> str:
    """The Chinese name a dashboard shows: 全市 for a policy's row over all regions."""
    if code is None:
        return "全市"
    if code == "360700":
        return "市本级"
    return names.get(code, "未知" if code == "未知" else code)
