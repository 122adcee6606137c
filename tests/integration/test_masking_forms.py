"""The masking rule's other forms give the table's masked forms too: dbt's macros as dbt
compiles them (run in DuckDB), and the PostgreSQL SQL run in PostgreSQL (the peer of the
build). Python and the DuckDB SQL: tests/unit/test_masking.py."""

from __future__ import annotations

import duckdb
import psycopg

from groundfloor.masking import RULES
from tests.helpers.masking_cases import CASES
from tests.integration.dbt_city import dbt


def masked_by_rule(run_query) -> list[tuple[str, str | None, str | None]]:
    """The table as `run_query(rule)` masks it: (rule, input, output) per case."""
    got = {rule: dict(run_query(rule)) for rule in RULES}
    return [(rule, value, got[rule][i]) for i, (rule, value, _) in enumerate(CASES)]


def test_dbt_compiled_macros_in_duckdb(tmp_path):
    columns = ", ".join(f"{{{{ {rule}('v') }}}} AS {rule}" for rule in RULES)
    compiled = dbt(tmp_path / "w.duckdb", "compile", "--quiet", "--inline",
                   f"SELECT i, {columns} FROM cases")  # fmt: skip
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    sql = compiled.stdout.strip()
    assert "{{" not in sql and "list_transform" in sql
    conn = duckdb.connect()
    conn.execute("CREATE TABLE cases (i INTEGER, v VARCHAR)")
    conn.executemany("INSERT INTO cases VALUES (?, ?)", list(enumerate(v for _, v, _ in CASES)))
    rows = conn.execute(sql).fetchall()
    names = list(RULES)
    by_rule = {rule: [(row[0], row[1 + names.index(rule)]) for row in rows] for rule in RULES}
    assert masked_by_rule(by_rule.__getitem__) == CASES


def test_postgres_sql_in_postgres(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE cases (i integer, v text)")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO cases VALUES (%s, %s)", list(enumerate(v for _, v, _ in CASES))
            )

        def run(rule: str):
            sql = RULES[rule][1]("v", "postgres")
            # no parameters: psycopg then leaves the % of the SQL alone
            return conn.execute(f"SELECT i, {sql} FROM cases").fetchall()

        assert masked_by_rule(run) == CASES
