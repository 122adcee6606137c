"""simulator.targets against the real local PostgreSQL (127.0.0.1:5432, postgres, trust)
and MariaDB (127.0.0.1:3306, root, no password) servers.

Every test works in its own database (``sim_test_<hex>``), dropped afterwards.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pymysql
import pytest

from contract import Column, load_contract
from simulator import targets
from simulator.schema import SCHEMA_OF_SYSTEM, create_table_sql
from simulator.targets import load_system, load_targets, parse_targets, sync_changes

pytestmark = pytest.mark.integration

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MY = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
SYSTEMS = ("case_platform", "legal_entity_base")
NAME = "𠇔明"  # outside the BMP (and outside GBK)
DRIFT_COLUMN = "BZXX_EXTRA"  # D11: a column the contract does not know


# --------------------------------------------------------------------------- servers


@pytest.fixture(params=["postgresql", "mysql"])
def url(request) -> str:
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url")


def _dialect(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "mysql"


def _db(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    if _dialect(url) == "postgresql":
        with psycopg.connect(dbname=_db(url), **PG) as conn:
            return conn.execute(sql, params).fetchall()
    conn = pymysql.connect(database=_db(url), charset="utf8mb4", **MY)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall())
    finally:
        conn.close()


def _ident(url: str, name: str) -> str:
    return f"`{name}`" if _dialect(url) == "mysql" else f'"{name}"'


def _table_ref(url: str, system: str, table: str) -> str:
    if _dialect(url) == "postgresql":
        return f"{SCHEMA_OF_SYSTEM[system]}.{table}"
    return f"`{_db(url)}`.`{table}`"


def _target_columns(url: str, system: str, table: str) -> list[str]:
    schema = SCHEMA_OF_SYSTEM[system] if _dialect(url) == "postgresql" else _db(url)
    return [
        r[0]
        for r in _query(
            url,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
    ]


def _norm(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return Decimal(repr(value) if isinstance(value, float) else str(value)).normalize()
    return value


def _target_rows(url: str, system: str, table: str, columns: list[str], where: str = ""):
    cols = ", ".join(_ident(url, c) for c in columns)
    rows = _query(url, f"SELECT {cols} FROM {_table_ref(url, system, table)} {where}")
    return Counter(tuple(_norm(v) for v in row) for row in rows)


def _sqlite_columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as lite:
        return [r[1] for r in lite.execute(f"PRAGMA table_info({table})")]


def _sqlite_rows(path: Path, table: str, columns: list[str], where: str = ""):
    cols = ", ".join(f'"{c}"' for c in columns)
    with sqlite3.connect(path) as lite:
        rows = lite.execute(f"SELECT {cols} FROM {table} {where}").fetchall()
    return Counter(tuple(_norm(v) for v in row) for row in rows)


def _target_count(url: str, system: str, table: str) -> int:
    return _query(url, f"SELECT COUNT(*) FROM {_table_ref(url, system, table)}")[0][0]


# --------------------------------------------------------------------------- input


def _value(column: Column, i: int):
    """A deterministic valid value for a contract column; NULL now and then if optional."""
    if not column.required and i % 7 == 3:
        return None
    kind = column.kind
    if kind == "int":
        return i
    if kind == "dec":
        return round(i * 1.37 + 0.01, 2) if i % 5 else float(i * 10)  # some whole numbers
    if kind == "date":
        return f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"
    if kind == "ts":
        return (
            f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(7 * i) % 60:02d}"
        )
    if kind == "code":
        values = sorted(load_contract().codes[column.code_list])
        return values[i % len(values)]
    text = f"{column.name}{i:06d}"
    return text[: column.length] if column.length and column.length < len(text) else text


def _row(table, i: int, **overrides) -> dict:
    row = {c.name: _value(c, i) for c in table.columns}
    row.update(overrides)
    return row


def _insert(lite: sqlite3.Connection, table_name: str, rows: list[dict]) -> None:
    cols = list(rows[0])
    marks = ", ".join("?" * len(cols))
    names = ", ".join(f'"{c}"' for c in cols)
    lite.executemany(
        f"INSERT INTO {table_name} ({names}) VALUES ({marks})",
        [tuple(r[c] for c in cols) for r in rows],
    )


SIZES = {
    "sxml": 20,
    "bj_jbxx": 300,
    "bj_gcxx": 400,
    "bb_jl": 60,
    "dzzz_zzxx": 30,
    "dzzz_yyjl": 30,
    "jhkz": 5,
    "rk_jbxx": 50,
    "rk_tsqt": 30,
    "jf_ffjl": 40,
    "fr_jbxx": 120,
    "fr_ndxx": 200,
}


@pytest.fixture
def city(tmp_path: Path) -> Path:
    """A small city: exchange files for case_platform and legal_entity_base."""
    contract = load_contract()
    (tmp_path / "exchange").mkdir()
    for system in SYSTEMS:
        with sqlite3.connect(tmp_path / "exchange" / f"{system}.sqlite") as lite:
            for table in contract.systems[system].tables.values():
                extra = (DRIFT_COLUMN,) if table.name == "bj_jbxx" else ()
                lite.execute(create_table_sql(table, "sqlite", extra_columns=extra))
                rows = [_row(table, i) for i in range(SIZES[table.name])]
                if table.name == "bj_jbxx":
                    for i, row in enumerate(rows):
                        row[DRIFT_COLUMN] = None if i % 4 == 0 else f"drift {i}"
                    rows[5]["SQRMC"] = NAME
                    rows.append(dict(rows[10]))  # D1: the same row pushed again
                if table.name == "fr_jbxx":
                    rows[3]["FDDBR"] = "𬌗" + NAME
                    rows[4]["ZCZB"] = 9876543210123.45  # large, exact at DECIMAL(18,2)
                    rows[6]["ZCZB"] = 0.1
                    rows[7]["QYMC"] = ""  # empty text stays empty
                if table.name == "fr_ndxx":
                    for i, row in enumerate(rows):
                        row["TYSHXYDM"] = f"91360700MA{i // 2:08d}"
                        row["ND"] = 2023 + i % 2
                _insert(lite, table.name, rows)
    return tmp_path


def _exchange(city: Path, system: str) -> Path:
    return city / "exchange" / f"{system}.sqlite"


def _assert_same_as_sqlite(city: Path, url: str, system: str) -> None:
    path = _exchange(city, system)
    for table in load_contract().systems[system].tables:
        columns = _sqlite_columns(path, table)
        assert _target_columns(url, system, table) == columns, table
        assert _target_rows(url, system, table, columns) == _sqlite_rows(path, table, columns), (
            table
        )


# --------------------------------------------------------------------------- parse_targets


def test_parse_targets_accepts_the_four_schemes():
    specs = [
        "case_platform=postgresql://postgres@127.0.0.1:5432/db",
        "population_base=postgresql+psycopg://u:p@h/db",
        "certificate_library=mysql+pymysql://root@127.0.0.1:3306/qzk_dzzz",
        "legal_entity_base=mysql://root@127.0.0.1",
    ]
    assert parse_targets(specs) == {
        "case_platform": "postgresql://postgres@127.0.0.1:5432/db",
        "population_base": "postgresql+psycopg://u:p@h/db",
        "certificate_library": "mysql+pymysql://root@127.0.0.1:3306/qzk_dzzz",
        "legal_entity_base": "mysql://root@127.0.0.1",
    }
    assert parse_targets([]) == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("case_platform", "expected SYSTEM=URL"),
        ("=postgresql://h/db", "expected SYSTEM=URL"),
        ("case_platform=", "expected SYSTEM=URL"),
        ("hotline_12345=postgresql://h/db", "valid systems are case_platform, certificate_library"),
        ("case_platform=sqlite:///x.db", "must start with postgresql://"),
        ("case_platform=mysql+mysqldb://h/db", "must start with postgresql://"),
        ("case_platform=127.0.0.1:5432/db", "must start with postgresql://"),
        ("case_platform=postgresql://h:notaport/db", "bad port"),
    ],
)
def test_parse_targets_rejects_bad_items(spec, message):
    with pytest.raises(ValueError, match="--target") as info:
        parse_targets(["legal_entity_base=mysql://root@h/db", spec])
    assert repr(spec) in str(info.value)
    assert message in str(info.value)


def test_parse_targets_rejects_a_system_given_twice():
    with pytest.raises(ValueError, match="more than once"):
        parse_targets(["case_platform=postgresql://h/a", "case_platform=postgresql://h/b"])


def test_url_parts():
    t = targets._Target.parse("legal_entity_base", "mysql+pymysql://root:p%40ss@db.example:3307")
    assert (t.dialect, t.host, t.port, t.user, t.password) == (
        "mysql",
        "db.example",
        3307,
        "root",
        "p@ss",
    )
    assert t.database is None and t.namespace == "qzk_fr"  # no database: the system's name
    t = targets._Target.parse("legal_entity_base", "mysql://root@127.0.0.1/exchange")
    assert t.namespace == "exchange"
    t = targets._Target.parse("population_base", "postgresql://postgres@127.0.0.1:5432/city")
    assert (t.dialect, t.database, t.namespace, t.password) == (
        "postgresql",
        "city",
        "qzk_rk",
        None,
    )


# --------------------------------------------------------------------------- load


def test_load_copies_every_table_exactly(city, url):
    seen = []
    result = load_targets(city, dict.fromkeys(SYSTEMS, url), progress=lambda *a: seen.append(a))
    for system in SYSTEMS:
        path = _exchange(city, system)
        with sqlite3.connect(path) as lite:
            expected = {
                t: lite.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in load_contract().systems[system].tables
            }
        assert result[system] == expected
        for table, rows in expected.items():
            assert _target_count(url, system, table) == rows
            assert (system, table, rows) in seen
        _assert_same_as_sqlite(city, url, system)
    assert result["case_platform"]["bj_jbxx"] == SIZES["bj_jbxx"] + 1  # the duplicate is kept


def test_load_values_round_trip(city, url):
    load_targets(city, dict.fromkeys(SYSTEMS, url))
    ref = _table_ref(url, "case_platform", "bj_jbxx")
    q = _ident(url, "SQRMC")
    key = _ident(url, "SBLSH")
    if _dialect(url) == "postgresql":
        hex_sql = f"SELECT encode(convert_to({q}, 'UTF8'), 'hex') FROM {ref} WHERE {key} = %s"
    else:
        hex_sql = f"SELECT LOWER(HEX({q})) FROM {ref} WHERE {key} = %s"
    # the non-BMP name, byte-exact
    assert _query(url, hex_sql, ("SBLSH000005",)) == [(NAME.encode("utf-8").hex(),)]
    assert _query(url, f"SELECT {q} FROM {ref} WHERE {key} = %s", ("SBLSH000005",)) == [(NAME,)]
    # NULLs stay NULL: LXDH is optional and NULL on rows 3, 10, 17, ...; drift column too
    lxdh, drift = _ident(url, "LXDH"), _ident(url, DRIFT_COLUMN)
    rows = _query(url, f"SELECT {lxdh}, {drift} FROM {ref} WHERE {key} = %s", ("SBLSH000003",))
    assert rows == [(None, "drift 3")]
    rows = _query(url, f"SELECT {lxdh}, {drift} FROM {ref} WHERE {key} = %s", ("SBLSH000004",))
    assert rows == [("LXDH000004", None)]
    # timestamps
    sqsj = _ident(url, "SQSJ")
    rows = _query(url, f"SELECT {sqsj} FROM {ref} WHERE {key} = %s", ("SBLSH000030",))
    assert rows == [(datetime(2025, 7, 3, 6, 30, 30),)]
    # the duplicated row is there twice
    rows = _query(url, f"SELECT COUNT(*) FROM {ref} WHERE {key} = %s", ("SBLSH000010",))
    assert rows == [(2,)]
    # decimals exact at their scale, empty text stays empty, the second non-BMP name
    fr = _table_ref(url, "legal_entity_base", "fr_jbxx")
    zczb, fddbr, qymc, code = (_ident(url, c) for c in ("ZCZB", "FDDBR", "QYMC", "TYSHXYDM"))
    got = dict(_query(url, f"SELECT {code}, {zczb} FROM {fr}"))
    assert got["TYSHXYDM000004"] == Decimal("9876543210123.45")
    assert got["TYSHXYDM000006"] == Decimal("0.10")
    assert got["TYSHXYDM000003"] is None  # optional: NULL on row 3
    assert got["TYSHXYDM000008"] == Decimal("10.97")
    got = dict(_query(url, f"SELECT {code}, {fddbr} FROM {fr}"))
    assert got["TYSHXYDM000003"] == "𬌗" + NAME
    got = dict(_query(url, f"SELECT {code}, {qymc} FROM {fr}"))
    assert got["TYSHXYDM000007"] == ""


def test_load_is_idempotent(city, url):
    first = load_targets(city, dict.fromkeys(SYSTEMS, url))
    second = load_targets(city, dict.fromkeys(SYSTEMS, url))
    assert first == second
    for system in SYSTEMS:
        _assert_same_as_sqlite(city, url, system)
    if _dialect(url) == "mysql":
        tables = {r[0] for r in _query(url, "SHOW TABLES")}
        expected = {t for s in SYSTEMS for t in load_contract().systems[s].tables}
        assert tables == expected  # no staging tables left behind


def test_mysql_database_is_utf8mb4(city, mysql_url):
    load_system(city, "legal_entity_base", mysql_url)
    db = _db(mysql_url)
    assert _query(
        mysql_url,
        "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        (db,),
    ) == [("utf8mb4",)]
    charsets = _query(
        mysql_url,
        "SELECT DISTINCT CHARACTER_SET_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND CHARACTER_SET_NAME IS NOT NULL",
        (db,),
    )
    assert charsets == [("utf8mb4",)]


def test_load_types_follow_the_contract(city, pg_url):
    load_system(city, "case_platform", pg_url)
    types = dict(
        _query(
            pg_url,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'qzk_zw' AND table_name = 'bj_jbxx'",
        )
    )
    assert types["SQSJ"] == "timestamp without time zone"
    assert types["BZCS"] == "bigint"
    assert types["SQRMC"] == "character varying"
    assert types[DRIFT_COLUMN] == "character varying"


def test_load_refuses_a_missing_exchange_file(tmp_path, pg_url):
    with pytest.raises(FileNotFoundError, match="case_platform"):
        load_system(tmp_path, "case_platform", pg_url)


# --------------------------------------------------------------------------- sync


def test_sync_applies_added_changed_and_deleted_keys(city, url):
    load_targets(city, dict.fromkeys(SYSTEMS, url))
    path = _exchange(city, "case_platform")
    bj = load_contract().systems["case_platform"].tables["bj_jbxx"]
    with sqlite3.connect(path) as lite:
        new = _row(bj, 900, SBLSH="SBLSH_NEW", SQRMC=NAME)
        new[DRIFT_COLUMN] = "new"
        _insert(lite, "bj_jbxx", [new, dict(new)])  # added, pushed twice
        lite.execute(  # changed; SBLSH000010 is the duplicated key: both copies change
            "UPDATE bj_jbxx SET BJZT = '3', BJSJ = '2025-12-01 10:00:00', LXDH = NULL "
            "WHERE SBLSH IN ('SBLSH000020', 'SBLSH000010')"
        )
        lite.execute("DELETE FROM bj_jbxx WHERE SBLSH = 'SBLSH000007'")  # deleted
        # changed in the file but not announced: a key-by-key sync must leave it alone
        lite.execute("UPDATE bj_jbxx SET SQRMC = 'silent' WHERE SBLSH = 'SBLSH000030'")
        lite.execute("UPDATE bj_gcxx SET CLYJ = 'later' WHERE GCBH = 'GCBH000001'")
    changes = [
        ("bj_jbxx", "SBLSH_NEW", "added"),
        ("bj_jbxx", "SBLSH000020", "changed"),
        ("bj_jbxx", "SBLSH000010", "changed"),
        ("bj_jbxx", "SBLSH000007", "deleted"),
        ("bj_gcxx", "GCBH000001", "changed"),
    ]
    written = sync_changes(city, "case_platform", url, changes)
    assert written == {"bj_jbxx": 5, "bj_gcxx": 1}  # rows re-inserted
    columns = _sqlite_columns(path, "bj_jbxx")
    key = _ident(url, "SBLSH")
    for sblsh, copies in [("SBLSH_NEW", 2), ("SBLSH000020", 1), ("SBLSH000010", 2)]:
        where_t = f"WHERE {key} = '{sblsh}'"
        got = _target_rows(url, "case_platform", "bj_jbxx", columns, where_t)
        assert got == _sqlite_rows(path, "bj_jbxx", columns, f"WHERE SBLSH = '{sblsh}'")
        assert sum(got.values()) == copies
    gone = _query(
        url,
        f"SELECT COUNT(*) FROM {_table_ref(url, 'case_platform', 'bj_jbxx')} "
        f"WHERE {key} = 'SBLSH000007'",
    )
    assert gone == [(0,)]
    silent = _query(
        url,
        f"SELECT {_ident(url, 'SQRMC')} FROM {_table_ref(url, 'case_platform', 'bj_jbxx')} "
        f"WHERE {key} = 'SBLSH000030'",
    )
    assert silent == [("SQRMC000030",)]
    with sqlite3.connect(path) as lite:
        lite.execute("UPDATE bj_jbxx SET SQRMC = 'SQRMC000030' WHERE SBLSH = 'SBLSH000030'")
    _assert_same_as_sqlite(city, url, "case_platform")  # everything else is exact
    # syncing the same changes again changes nothing
    assert sync_changes(city, "case_platform", url, changes) == written
    _assert_same_as_sqlite(city, url, "case_platform")


def test_sync_reloads_wholesale_tables(city, url):
    load_targets(city, dict.fromkeys(SYSTEMS, url))
    path = _exchange(city, "legal_entity_base")
    with sqlite3.connect(path) as lite:
        lite.execute("DELETE FROM fr_ndxx WHERE ND = 2023")  # a re-delivered year
        lite.execute("UPDATE fr_ndxx SET YYSR = 99.99 WHERE ND = 2024")
        lite.execute("UPDATE fr_jbxx SET DJZT = '2' WHERE TYSHXYDM = 'TYSHXYDM000002'")
        lite.execute("UPDATE fr_jbxx SET DJZT = '3' WHERE TYSHXYDM = 'TYSHXYDM000009'")
    written = sync_changes(
        city,
        "legal_entity_base",
        url,
        [
            ("fr_ndxx", "91360700MA00000001|2024", "changed"),
            ("fr_jbxx", "TYSHXYDM000002", "changed"),
        ],
    )
    assert written == {"fr_jbxx": 1, "fr_ndxx": SIZES["fr_ndxx"] // 2}
    columns = _sqlite_columns(path, "fr_ndxx")
    assert _target_rows(url, "legal_entity_base", "fr_ndxx", columns) == _sqlite_rows(
        path, "fr_ndxx", columns
    )
    djzt = _query(
        url,
        f"SELECT {_ident(url, 'DJZT')} FROM {_table_ref(url, 'legal_entity_base', 'fr_jbxx')} "
        f"WHERE {_ident(url, 'TYSHXYDM')} IN ('TYSHXYDM000002', 'TYSHXYDM000009') "
        f"ORDER BY {_ident(url, 'TYSHXYDM')}",
    )
    assert djzt == [("2",), ("1",)]  # 000009 was not announced


def test_sync_follows_schema_drift(city, url):
    load_targets(city, dict.fromkeys(SYSTEMS, url))
    path = _exchange(city, "case_platform")
    with sqlite3.connect(path) as lite:
        lite.execute("ALTER TABLE bj_gcxx ADD COLUMN CLRY TEXT")  # added
        lite.execute("UPDATE bj_gcxx SET CLYJ = 'ok'")
        lite.execute("UPDATE bj_gcxx SET CLRY = '𬌗' WHERE GCBH = 'GCBH000002'")
        lite.execute("ALTER TABLE bb_jl RENAME COLUMN SFJJ TO SFJJ_NEW")  # renamed
        lite.execute(f"ALTER TABLE bj_jbxx DROP COLUMN {DRIFT_COLUMN}")  # gone again
    written = sync_changes(
        city,
        "case_platform",
        url,
        [
            ("bj_gcxx", "GCBH000002", "changed"),
            ("bb_jl", "BBBH000001", "changed"),
            ("bj_jbxx", "SBLSH000001", "changed"),
        ],
    )
    # a table whose columns changed is reloaded whole
    assert written == {"bj_jbxx": SIZES["bj_jbxx"] + 1, "bj_gcxx": SIZES["bj_gcxx"], "bb_jl": 60}
    assert _target_columns(url, "case_platform", "bj_gcxx")[-1] == "CLRY"
    for table in ("bj_jbxx", "bj_gcxx", "bb_jl"):
        columns = _sqlite_columns(path, table)
        assert sorted(_target_columns(url, "case_platform", table)) == sorted(columns)
        assert _target_rows(url, "case_platform", table, columns) == _sqlite_rows(
            path, table, columns
        )


def test_sync_is_all_or_nothing(city, url):
    load_targets(city, dict.fromkeys(SYSTEMS, url))
    path = _exchange(city, "case_platform")
    with sqlite3.connect(path) as lite:
        lite.execute("DELETE FROM bj_jbxx WHERE SBLSH = 'SBLSH000001'")
        lite.execute("UPDATE bb_jl SET QQSJ = 'not a time' WHERE BBBH = 'BBBH000001'")
    with pytest.raises(Exception):  # noqa: B017 - the server's own error
        sync_changes(
            city,
            "case_platform",
            url,
            [("bj_jbxx", "SBLSH000001", "deleted"), ("bb_jl", "BBBH000001", "changed")],
        )
    key = _ident(url, "SBLSH")
    still = _query(
        url,
        f"SELECT COUNT(*) FROM {_table_ref(url, 'case_platform', 'bj_jbxx')} "
        f"WHERE {key} = 'SBLSH000001'",
    )
    assert still == [(1,)]  # the deletion was rolled back with the failed insert


def test_sync_rejects_unknown_tables_and_changes(city, pg_url):
    with pytest.raises(ValueError, match="unknown table 'fr_jbxx'"):
        sync_changes(city, "case_platform", pg_url, [("fr_jbxx", "x", "changed")])
    with pytest.raises(ValueError, match="unknown change 'updated'"):
        sync_changes(city, "case_platform", pg_url, [("bj_jbxx", "x", "updated")])
    assert sync_changes(city, "case_platform", pg_url, []) == {}
