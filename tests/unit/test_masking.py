"""The masking rule gives the same masked form in every form it is written in: Python, the
SQL run in DuckDB, and dbt's macros, which are generated from the same module (the SQL run in
PostgreSQL and dbt's compiled macros: tests/integration/test_masking_forms.py)."""

from __future__ import annotations

import duckdb
import jinja2
import pytest

from groundfloor import masking
from groundfloor.masking import RULES, dbt_macros, mask_source_value
from tests.helpers.masking_cases import CASES


@pytest.fixture(scope="module")
def cases_in_duckdb():
    conn = duckdb.connect()
    conn.execute("CREATE TABLE cases (i INTEGER, v VARCHAR)")
    conn.executemany("INSERT INTO cases VALUES (?, ?)", list(enumerate(v for _, v, _ in CASES)))
    return conn


@pytest.mark.parametrize(("rule", "value", "masked"), CASES)
def test_python_form(rule, value, masked):
    assert RULES[rule][0](value) == masked


def test_sql_form_in_duckdb(cases_in_duckdb):
    got = {}
    for rule in RULES:
        sql = RULES[rule][1]("v")
        got[rule] = dict(cases_in_duckdb.execute(f"SELECT i, {sql} FROM cases").fetchall())
    assert [(r, v, got[r][i]) for i, (r, v, _) in enumerate(CASES)] == CASES


def test_dbt_macros_render_the_duckdb_sql():
    """The macros as dbt-duckdb renders them (adapter.dispatch picks default__), with plain
    jinja2: the same SQL as the module's, for any column expression."""
    environment = jinja2.Environment()
    template = environment.from_string(masking.DBT_MACROS.read_text(encoding="utf-8"))
    module = template.make_module({"adapter": Dispatch(template)})
    for rule, (_, sql) in RULES.items():
        assert getattr(module, rule)("t.v").strip() == sql("t.v")


class Dispatch:
    def __init__(self, template):
        self.template = template

    def dispatch(self, name):
        return lambda column: getattr(self.module, f"default__{name}")(column)

    @property
    def module(self):
        return self.template.module


def test_the_dbt_macros_file_is_generated_from_the_module():
    assert masking.DBT_MACROS.read_text(encoding="utf-8") == dbt_macros(), (
        "run: .venv/bin/python -m groundfloor.masking dbt-macros"
    )


def test_quarantined_values_are_masked_by_their_column():
    assert mask_source_value("SQRZJHM", " 3607 0219800101123X") == "360702********123X"
    assert mask_source_value("LXDH", "13812345678") == "138****5678"
    assert mask_source_value("XM", "张") == "*"
    assert mask_source_value("SQFS", "9") == "9"
    assert mask_source_value("sqnr", "电话13812345678") == "电话138****5678"
