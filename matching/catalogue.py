"""What a policy file may name: the fields of the person and enterprise files, the values the
engine derives relative to the evaluation date E, and the code lists that bound literal values.

The columns are those documented in docs/warehouse.md (schema `main_marts`). A column that the
themes compute as of the build date (age, ongoing groups, valid certificates) is not offered:
a policy is evaluated as of E, so it must use the E-relative form instead (see STALE_HINTS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from contract.sources import load_contract

# Field types of the grammar (not SQL types): what literals and operators they accept.
STR, INT, DEC, DATE, BOOL = "str", "int", "decimal", "date", "bool"


@dataclass(frozen=True)
class Column:
    type: str
    zh: str
    code_list: str | None = None


PERSON_COLUMNS: dict[str, Column] = {
    "sex": Column(STR, "性别", "sex"),
    "birth_date": Column(DATE, "出生日期"),
    "hukou_region_code": Column(STR, "户籍地区代码"),
    "is_alive": Column(BOOL, "生存状态（SWBZ=0）"),
    "death_date": Column(DATE, "死亡日期"),
    "is_resident": Column(BOOL, "人口库在册"),
    "cases_total": Column(INT, "办件总数"),
    "cases_last_12_months": Column(INT, "近12个月办件数"),
    "work_orders_total": Column(INT, "12345工单数"),
    "complaints_total": Column(INT, "投诉数"),
    "grants_total": Column(INT, "已发放次数"),
    "grant_amount_total": Column(DEC, "已发放金额"),
}

ENTERPRISE_COLUMNS: dict[str, Column] = {
    "entity_type": Column(STR, "主体类型", "entity_type"),
    "registration_status": Column(STR, "登记状态", "entity_status"),
    "established_on": Column(DATE, "成立日期"),
    "registered_capital_10k_yuan": Column(DEC, "注册资本（万元）"),
    "industry_code": Column(STR, "行业代码"),
    "industry_section": Column(STR, "行业门类"),
    "industry_division": Column(STR, "行业大类"),
    "region_code": Column(STR, "住所地区代码"),
    "is_registered": Column(BOOL, "法人库在册"),
    "cases_total": Column(INT, "办件总数"),
    "grants_total": Column(INT, "已发放次数"),
    "grant_amount_total": Column(DEC, "已发放金额"),
}

# Columns of enterprise_annual_facts a policy may read for "the annual facts of year(E) − n".
ANNUAL_COLUMNS: dict[str, Column] = {
    "insured_employees": Column(INT, "年末参保人数（CBRS）"),
    "insured_net_decrease": Column(INT, "参保人数净减少数（CYRS_BD）"),
    "revenue_10k_yuan": Column(DEC, "营业收入（万元）"),
    "rd_expense_10k_yuan": Column(DEC, "研发费用（万元）"),
    "total_tax_10k_yuan": Column(DEC, "纳税总额（万元）"),
}

STALE_HINTS = {
    "age": "is the age on the build date; use age_on_e (whole years on E)",
    "disability_level": "is as of the build date; use ongoing_group.CJR.disability_level",
    "special_groups": "is as of the build date; use has_ongoing_group",
    "valid_certificate_types": "is as of the build date; use has_valid_certificate",
    "valid_certificate_count": "is as of the build date; use has_valid_certificate",
    "insured_employees": "is of the latest year; use annual_facts.Y-1.insured_employees",
    "insured_net_decrease": "is of the latest year; use annual_facts.Y-1.insured_net_decrease",
}

SUBJECTS = {
    "person": {"table": "person_file", "key": "person_key", "columns": PERSON_COLUMNS},
    "enterprise": {
        "table": "enterprise_file",
        "key": "enterprise_key",
        "columns": ENTERPRISE_COLUMNS,
    },
}

AGE_ON_E = "age_on_e"
GROUP_FIELD = re.compile(r"^ongoing_group\.(?P<group>[A-Z]+)\.disability_level$")
ANNUAL_FIELD = re.compile(r"^annual_facts\.Y(?P<offset>-\d+)?\.(?P<column>[a-z0-9_]+)$")
YEAR_OFFSET = re.compile(r"^Y(?P<offset>[+-]\d+)?$")


@cache
def codes(code_list: str) -> dict[str, str]:
    """A code list of contract/spec/sources.yaml (group_type, certificate_type, ...)."""
    return load_contract().codes[code_list]


def year_offset(text: str) -> int | None:
    """'Y' → 0, 'Y-1' → -1 (a year relative to year(E)); None when malformed."""
    match = YEAR_OFFSET.match(str(text))
    if not match:
        return None
    return int(match.group("offset") or 0)
