"""Policy files: the grammar refuses each kind of fault with its own message; the E-relative
helpers of the compiler agree with plain Python."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.compiler import age_sql, compile_policy, shift
from matching.engine import DEFAULT_POLICIES
from matching.policy import RelativeDate, load_policies, load_policy
from matching.rowwise import age_on

BASE = """\
code: TEST
name: 测试
subject: person
effective_from: 2020-01-01
legal_reference: 测试
period: month
conditions:
  all:
    - {field: is_alive, op: "=", value: true}
amount:
  fixed: 10
"""


def write(tmp_path: Path, text: str, name: str = "TEST.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(tmp_path: Path, text: str) -> str:
    loaded = load_policies(Path(write(tmp_path, text)).parent)
    assert loaded.policies == []
    (error,) = loaded.errors
    assert error.startswith("TEST.yaml: policy ")
    return error


def test_the_five_policies_load():
    loaded = load_policies(DEFAULT_POLICIES)
    assert loaded.errors == []
    assert [p.code for p in loaded.policies] == ["CJLB", "GLJT", "GXJL", "XWWG", "YEBT"]
    assert {p.code: p.period for p in loaded.policies} == {
        "CJLB": "month", "GLJT": "month", "GXJL": "year", "XWWG": "year", "YEBT": "year"
    }  # fmt: skip


def test_a_valid_base_file_loads(tmp_path):
    policy = load_policy(write(tmp_path, BASE))
    assert policy.code == "TEST" and len(policy.version) == 64


CONDITION = '    - {field: is_alive, op: "=", value: true}'


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("period: month", "period: week", "policy TEST: period: Input should be 'month' or 'year'"),
        ("name: 测试", "name: 测试\nowner: 民政局", "policy TEST: unknown field 'owner'"),
        ("name: 测试\n", "", "policy TEST: missing field 'name'"),
        ("subject: person", "subject: family", "policy TEST: subject: Input should be"),
        (
            "effective_from: 2020-01-01",
            "effective_from: 2020-13-01",
            "policy TEST: month must be in 1..12",
        ),
        (
            "code: TEST",
            "code: TEST\neffective_to: 2019-01-01",
            "policy TEST: effective_to is before effective_from",
        ),
        (
            CONDITION,
            "    - {field: hukou, op: starts_with, value: '3607'}",
            "policy TEST: conditions.all[0]: field 'hukou' does not exist in person_file",
        ),
        (
            CONDITION,
            "    - {field: age, op: '>=', value: 80}",
            "field 'age' is the age on the build date; use age_on_e",
        ),
        (
            CONDITION,
            "    - {field: is_alive, op: '~', value: true}",
            "conditions.all[0]: unknown operator '~'",
        ),
        (
            CONDITION,
            "    - {field: is_alive, op: '>=', value: true}",
            "'>=' needs a number or date field, 'is_alive' is bool",
        ),
        (
            CONDITION,
            "    - {field: age_on_e, op: '>=', value: eighty}",
            "'eighty' is not a int value for field 'age_on_e'",
        ),
        (CONDITION, "    - {field: sex, op: '=', value: '3'}", "'3' is not a code of sex"),
        (CONDITION, "    - has_ongoing_group: XX", "'XX' is not a code of group_type"),
        (
            CONDITION,
            "    - has_valid_certificate: {type: CJRZ, issued_in: last}",
            "issued_in 'last' is not Y or Y±n",
        ),
        (CONDITION, "    - has_annual_facts: Y-1", "has_annual_facts applies to enterprises only"),
        (CONDITION, "    - {sql: 'select 1'}", "conditions.all[0]: unknown condition ['sql']"),
        (
            CONDITION,
            "    - {field: birth_date, op: '<=', value: yesterday}",
            "'yesterday' is not a date nor E±n[y|m|d]",
        ),
        ("fixed: 10", "fixed: ten", "amount.fixed: 'ten' is not a number"),
        ("fixed: 10", "fixed: 10.001", "must be ≥ 0 with at most 2 decimals"),
        ("fixed: 10", "bonus: 10", "amount: unknown amount rule 'bonus'"),
        (
            "fixed: 10",
            "tiers: {by: age_on_e, bands: [{from: 80, to: 90, amount: 1}, {from: 90, amount: 2}]}",
            "amount.tiers.bands: bands overlap or are out of order",
        ),
        (
            "fixed: 10",
            "per_unit: {field: sex, amount: 3}",
            "amount.per_unit.field: 'sex' is str, a ratio needs numbers",
        ),
        ("amount:\n  fixed: 10\n", "", "policy TEST: missing field 'amount'"),
        ("all:\n", "all: [\n", "policy TEST: not valid YAML: while parsing"),
    ],
)
def test_each_fault_has_its_own_message(tmp_path, old, new, message):
    assert old in BASE
    error = refusal(tmp_path, BASE.replace(old, new, 1))
    assert message in error, error


def test_a_duplicate_code_is_refused_and_the_first_file_kept(tmp_path):
    write(tmp_path, BASE, "A.yaml")
    write(tmp_path, BASE, "B.yaml")
    loaded = load_policies(tmp_path)
    assert [p.path.name for p in loaded.policies] == ["A.yaml"]
    assert loaded.errors == ["B.yaml: policy TEST: code already defined by A.yaml"]


def test_a_policy_compiles_without_its_sql_holding_anything_but_literals_it_checked():
    policy = load_policy(DEFAULT_POLICIES / "XWWG.yaml")
    sql = compile_policy(policy, dt.date(2026, 2, 28)).evaluation
    assert '1000 * f_m1."insured_net_decrease" <= 55 * (f_m1."insured_employees"' in sql
    assert "year = 2025" in sql


@given(st.dates(dt.date(1900, 1, 1), dt.date(2030, 12, 31)),
       st.dates(dt.date(2000, 1, 1), dt.date(2040, 12, 31)))  # fmt: skip
def test_age_in_sql_equals_age_in_python(birth, on):
    query = f"select {age_sql(f'DATE {birth.isoformat()!r}', on)}"
    (age,) = duckdb.connect().execute(query).fetchone()
    assert age == age_on(birth, on)


def test_29_february_birthdays():
    assert age_on(dt.date(1936, 2, 29), dt.date(2026, 2, 28)) == 89
    assert age_on(dt.date(1936, 2, 29), dt.date(2026, 3, 1)) == 90
    assert age_on(dt.date(1936, 2, 29), dt.date(2024, 2, 29)) == 88


def test_dates_relative_to_e_clamp_to_the_end_of_the_month():
    assert shift(dt.date(2024, 2, 29), RelativeDate("E-1y", years=-1)) == dt.date(2023, 2, 28)
    assert shift(dt.date(2026, 3, 31), RelativeDate("E-1m", months=-1)) == dt.date(2026, 2, 28)
    assert shift(dt.date(2026, 3, 1), RelativeDate("E-1d", days=-1)) == dt.date(2026, 2, 28)
