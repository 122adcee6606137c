"""The five policies of contract/spec/policies.md written out by hand, row by row, in plain
Python: an independent check of the SQL compiler (same match sets and amounts on the same data)
and the baseline of the benchmark. Deliberately shares nothing with matching.compiler.

evaluate_rowwise(connection, E) → {policy code: {subject key: amount}} of the subjects that
match and have no grant for the period. The connection must see schema main_marts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal


def age_on(birth: dt.date, on: dt.date) -> int:
    try:
        birthday = birth.replace(year=on.year)
    except ValueError:  # 29 February in a common year: the birthday is 1 March
        birthday = dt.date(on.year, 3, 1)
    return on.year - birth.year - (1 if on < birthday else 0)


def in_city(code: str | None) -> bool:
    return code is not None and code.startswith("3607")


def fetch(connection, sql: str) -> list[tuple]:
    return connection.execute(sql).fetchall()


def ongoing_groups(connection, on: dt.date) -> dict[str, list[tuple[str, int | None]]]:
    by_person: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
    rows = fetch(
        connection,
        "select person_key, group_type, disability_level, started_on, ended_on "
        "from main_marts.person_special_groups",
    )
    for key, group, level, started, ended in rows:
        if key is not None and started <= on and (ended is None or ended >= on):
            by_person[key].append((group, level))
    return by_person


def valid_certificates(connection, on: dt.date) -> dict[str, list[tuple[str, dt.date]]]:
    by_holder: dict[str, list[tuple[str, dt.date]]] = defaultdict(list)
    rows = fetch(
        connection,
        "select coalesce(person_key, enterprise_key), certificate_type, "
        "issued_on, valid_from, valid_to, recorded_status "
        "from main_marts.certificate_validity",
    )
    for key, ctype, issued, start, end, status in rows:
        if key is not None and status == "1" and start <= on and (end is None or end >= on):
            by_holder[key].append((ctype, issued))
    return by_holder


def grants(connection) -> set[tuple[str, str, str]]:
    rows = fetch(
        connection,
        "select policy_code, grant_period, coalesce(person_key, enterprise_key) "
        "from main_marts.benefit_grants",
    )
    return {row for row in rows if row[2] is not None}


def person_policies(connection, on: dt.date, granted) -> dict[str, dict[str, Decimal]]:
    groups = ongoing_groups(connection, on)
    certificates = valid_certificates(connection, on)
    month, year = on.strftime("%Y-%m"), on.strftime("%Y")
    found: dict[str, dict[str, Decimal]] = {"GLJT": {}, "CJLB": {}, "YEBT": {}}
    rows = fetch(
        connection,
        "select person_key, birth_date, hukou_region_code, is_alive from main_marts.person_file",
    )
    for key, birth, hukou, alive in rows:
        if key is None or alive is not True or not in_city(hukou) or birth is None:
            continue
        age = age_on(birth, on)
        if age >= 80 and ("GLJT", month, key) not in granted:
            found["GLJT"][key] = Decimal(100 if age < 90 else 200 if age < 100 else 500)
        if birth <= on and age < 3 and ("YEBT", year, key) not in granted:
            found["YEBT"][key] = Decimal(3600)
        amount = disability_amount(groups.get(key, []), certificates.get(key, []))
        if amount is not None and ("CJLB", month, key) not in granted:
            found["CJLB"][key] = amount
    return found


def disability_amount(groups, certificates) -> Decimal | None:
    levels = [level for group, level in groups if group == "CJR"]
    if not levels or not any(ctype == "CJRZ" for ctype, _ in certificates):
        return None
    known = [level for level in levels if level is not None]
    severe = bool(known) and min(known) in (1, 2)
    low_income = any(group == "DB" for group, _ in groups)
    if not (severe or low_income):
        return None
    return Decimal(150 * severe + 100 * low_income)


def enterprise_policies(connection, on: dt.date, granted) -> dict[str, dict[str, Decimal]]:
    certificates = valid_certificates(connection, on)
    facts = {
        key: (employees, decrease)
        for key, year, employees, decrease in fetch(
            connection,
            "select enterprise_key, year, insured_employees, insured_net_decrease "
            "from main_marts.enterprise_annual_facts",
        )
        if key is not None and year == on.year - 1
    }
    year = on.strftime("%Y")
    found: dict[str, dict[str, Decimal]] = {"XWWG": {}, "GXJL": {}}
    rows = fetch(
        connection,
        "select enterprise_key, entity_type, registration_status, region_code "
        "from main_marts.enterprise_file",
    )
    for key, kind, status, region in rows:
        if key is None or status != "1" or not in_city(region):
            continue
        staff_kept = kind != "GTGSH" and key in facts and keeps_staff(*facts[key])
        if staff_kept and ("XWWG", year, key) not in granted:
            found["XWWG"][key] = Decimal(300 * facts[key][0])
        certified = any(
            ctype == "GXJS" and issued.year == on.year - 1
            for ctype, issued in certificates.get(key, [])
        )
        if certified and ("GXJL", year, key) not in granted:
            found["GXJL"][key] = Decimal(100000)
    return found


def keeps_staff(employees: int | None, decrease: int | None) -> bool:
    if employees is None or decrease is None or not 1 <= employees <= 300:
        return False
    total = employees + decrease
    return 1000 * decrease <= 55 * total or (employees <= 30 and 100 * decrease <= 20 * total)


def evaluate_rowwise(connection, on: dt.date) -> dict[str, dict[str, Decimal]]:
    granted = grants(connection)
    return {
        **person_policies(connection, on, granted),
        **enterprise_policies(connection, on, granted),
    }
