"""The PostgreSQL port of the identity, USCC and date macros (dbt_project/macros/
identity_postgres.sql, engine.sql) against the DuckDB macros and the Python oracle of
tests/unit/test_identity_sql.py (python-stdnum, datetime, the region seed).

The macros are rendered with jinja2 alone (their postgres__ variants called by name) and
evaluated in a PostgreSQL database of the test's own, with the C collation as the peer's
database (bench/postgres_dbt.py), dropped afterwards.
"""

from __future__ import annotations

import csv
import datetime as dt
import secrets
from pathlib import Path

import jinja2
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_identity_sql import (
    LOAD,
    PROPERTY,
    SEED,
    expected,
    identity_like,
    load_dates,
    uscc_like,
)
from tests.unit.test_identity_sql import con as duckdb_con  # noqa: F401 (the DuckDB fixture)
from tests.unit.test_identity_sql import evaluate as evaluate_duckdb

pytestmark = pytest.mark.integration

MACROS = Path(__file__).resolve().parents[2] / "dbt_project" / "macros"
SOURCE = "\n".join(
    (MACROS / name).read_text(encoding="utf-8")
    for name in ("identity.sql", "identity_postgres.sql", "engine.sql")
)
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
USCC_BODY = "'^[0-9A-HJ-NP-RTUW-Y]{17}'"


def render(call: str, placeholders: bool = True) -> str:
    """The SQL of a macro call; with `%` doubled for a query that has psycopg placeholders."""
    sql = _ENV.from_string(SOURCE + "{{ " + call + " }}").render().strip()
    return sql.replace("%", "%%") if placeholders else sql


# The columns of the DuckDB test's query, in its order.
QUERY = f"""
with raw as (
    select v, load_date, ord
    from unnest(%(vals)s::text[], %(loads)s::date[]) with ordinality as raw (v, load_date, ord)
), normalised as (
    select ord, v, load_date,
           {render("postgres__normalise_identity('v')")} as n_id,
           {render("postgres__normalise_uscc('v')")} as n_uscc
    from raw
)
select n_id,
       n_uscc,
       {render("postgres__is_valid_identity('n_id', 'load_date', 'region_codes')")} as id_valid,
       {render("postgres__is_valid_identity('v', 'load_date', 'region_codes')")} as raw_id_valid,
       case when substr(n_id, 1, 17) ~ '^[0-9]{{17}}$'
           then {render("pg_ric_check_char('n_id')")} end as id_check,
       {render("postgres__is_valid_uscc('n_uscc', 'region_codes')")} as uscc_valid,
       {render("postgres__is_valid_uscc('v', 'region_codes')")} as raw_uscc_valid,
       case when n_uscc ~ {USCC_BODY}
           then {render("pg_uscc_check_char('n_uscc')")} end as uscc_check
from normalised
order by ord
"""


@pytest.fixture(scope="module")
def pg():
    name = f"identity_test_{secrets.token_hex(6)}"
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
        admin.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    try:
        with psycopg.connect(dbname=name, autocommit=True, **PG) as conn:
            conn.execute("create table region_codes (code text)")
            with SEED.open(encoding="utf-8", newline="") as f:
                codes = [row["code"] for row in csv.DictReader(f)]
            with conn.cursor().copy("copy region_codes (code) from stdin") as copy:
                for code in codes:
                    copy.write_row([code])
            yield conn
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def evaluate(pg, values: list[str | None], load: dt.date | list[dt.date]) -> list[tuple]:
    loads = load if isinstance(load, list) else [load] * len(values)
    return pg.execute(QUERY, {"vals": values, "loads": loads}).fetchall()


def assert_same(pg, duckdb_con, values: list[str | None], load: dt.date) -> None:  # noqa: F811
    """PostgreSQL gives what DuckDB and the Python oracle give, value by value."""
    # PostgreSQL text cannot hold U+0000 (so neither can the copy of a warehouse)
    values = [v.replace("\x00", "") if v is not None else None for v in values]
    got = evaluate(pg, values, load)
    duck = evaluate_duckdb(duckdb_con, values, load)
    problems = [
        f"{v!r}: PostgreSQL {g} != DuckDB {d} / Python {expected(v, load)}"
        for v, g, d in zip(values, got, duck, strict=True)
        if not (tuple(g) == tuple(d) == expected(v, load))
    ]
    assert not problems, "\n".join(problems[:10])


@PROPERTY
@given(data=st.data(), load=load_dates)
def test_identity_like_strings_as_on_duckdb(pg, duckdb_con, data, load):  # noqa: F811
    values = data.draw(st.lists(identity_like(load), min_size=200, max_size=260))
    assert_same(pg, duckdb_con, values, load)


@PROPERTY
@given(data=st.data(), load=load_dates)
def test_uscc_like_strings_as_on_duckdb(pg, duckdb_con, data, load):  # noqa: F811
    values = data.draw(st.lists(uscc_like(), min_size=200, max_size=260))
    assert_same(pg, duckdb_con, values, load)


def test_examples_as_on_duckdb(pg, duckdb_con):  # noqa: F811
    values = ["360721199001011231", " 360721 1990 0101 1231\u3000", "36210119800229018ｘ"]
    values += ["360721900101123", "362101199002301234", "999999199001011231", "", None]
    values += ["9111 0000 6000 3734 1l", "Y1360721MA35F12345", "9111000060003734IL"]
    values += ["360721000001011231", "36072119000229123X", "36072120000229123X"]
    assert_same(pg, duckdb_con, values, LOAD)


def test_whitespace_is_what_python_calls_whitespace(pg):
    """Every code point (but NUL and the surrogates): the port removes exactly the characters
    of str.isspace(), as the DuckDB macro does."""
    cleaned = render("postgres__normalise_uscc(\"chr(i) || 'A'\")", placeholders=False)
    removed = pg.execute(
        f"""select array_agg(i order by i)
        from generate_series(1, 1114111) as t (i)
        where (i < 55296 or i > 57343) and {cleaned} = 'A'"""
    ).fetchone()[0]
    assert removed == [i for i in range(1, 0x110000) if chr(i).isspace()]


def test_full_width_ascii_maps_to_ascii_and_nothing_else_moves(pg, duckdb_con):  # noqa: F811
    chars = [chr(c) for c in range(0xFF00, 0xFF61)]
    assert [r[1] for r in evaluate(pg, chars, LOAD)] == [
        r[1] for r in evaluate_duckdb(duckdb_con, chars, LOAD)
    ]


# --- the date and timestamp readers of engine.sql -------------------------------------------

DATE_TEXTS = ["19900101", "20000229", "19000229", "19900230", "19901301", "19900000", "00000101"]
DATE_TEXTS += ["00000229", "99991231", " 19900101", "19900101 ", "1990-01-01", "", None, "abcdefgh"]
TIMESTAMP_TEXTS = ["2025-01-05", "2025-01-05 10:00:00", "2025-01-05T10:00:00", "2025-01-05 10:00"]
TIMESTAMP_TEXTS += ["2025-01-05 10:00:59.123456", "2025-01-05 10:00:59.1", "2024-02-29 23:59:59"]
TIMESTAMP_TEXTS += ["2025-02-29", "2025-13-01", "2025-01-32", "2025-01-05 25:00:00", "x", None]
TIMESTAMP_TEXTS += ["2025-01-05 10:60:00", "2025-01-05 10:00:60", "", "2025-01-05 10"]
# DuckDB reads these too; the port gives NULL (documented in engine.sql): not compared.
TIMESTAMP_ONLY_DUCKDB = ["2025-1-5", "2025-01-05 10:00:00+08", "infinity", "2025-01-05 24:00:00"]


def both(pg, duckdb_con, macro: str, values: list[str | None], as_text: bool = False):  # noqa: F811
    """The macro's PostgreSQL and DuckDB variants over `values` (as text: dates before year 1
    do not fit Python's date)."""
    duck_sql = render(f"default__{macro}('v')", placeholders=False)
    pg_sql = render(f"postgres__{macro}('v')")
    if as_text:
        duck_sql, pg_sql = f"cast({duck_sql} as varchar)", f"cast({pg_sql} as varchar)"
    duck = duckdb_con.execute(
        f"select {duck_sql} from unnest($vals::varchar[]) with ordinality as t (v, o) order by o",
        {"vals": values},
    ).fetchall()
    got = pg.execute(
        f"select {pg_sql} from unnest(%(vals)s::text[]) with ordinality as t (v, o) order by o",
        {"vals": values},
    ).fetchall()
    return [r[0] for r in got], [r[0] for r in duck]


def test_yyyymmdd_dates_as_on_duckdb(pg, duckdb_con):  # noqa: F811
    got, want = both(pg, duckdb_con, "try_date_from_yyyymmdd", DATE_TEXTS, as_text=True)
    # year 0 is 1 BC on both engines, spelled '0001-01-01 BC' and '0001-01-01 (BC)'
    assert got == [w.replace(" (BC)", " BC") if w else w for w in want]
    assert got[0] == "1990-01-01" and got[3] is None and got[6] == "0001-01-01 BC"


def test_timestamps_as_on_duckdb(pg, duckdb_con):  # noqa: F811
    got, want = both(pg, duckdb_con, "try_cast_timestamp", TIMESTAMP_TEXTS)
    assert got == want
    assert got[1] == dt.datetime(2025, 1, 5, 10) and got[7] is None
    got, want = both(pg, duckdb_con, "try_cast_timestamp", TIMESTAMP_ONLY_DUCKDB)
    assert got == [None] * len(TIMESTAMP_ONLY_DUCKDB) and None not in want
