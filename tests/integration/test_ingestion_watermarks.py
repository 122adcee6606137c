"""Watermarks that cannot be poisoned (issue 29), on real SQLite, PostgreSQL and MariaDB
exchange tables: a row stamped in the future, a late commit, a garbage cursor value.

Each test builds one case-platform table (bj_gcxx, the case steps) in a fresh exchange
database, loads it, changes the source as a departmental system would, loads again and
reads what landed.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pymysql
import pytest

from ingestion.runner import run
from tests.integration.test_ingestion_sql import query

pytestmark = pytest.mark.integration
COLUMNS = ("GCBH", "SBLSH", "HJDM", "CLSJ", "CLYJ", "GXSJ")
FORMAT = "%Y-%m-%d %H:%M:%S"


def stamp(moment: dt.datetime) -> str:
    return moment.strftime(FORMAT)


def shanghai_now() -> dt.datetime:
    """Wall time in Asia/Shanghai, the form the sources stamp GXSJ in."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=8)


@dataclass
class Exchange:
    """One exchange database holding bj_gcxx; `insert` adds rows as the department would."""

    dialect: str
    url: str  # as sources.yaml takes it
    connect: object

    def execute(self, sql: str, rows=()) -> None:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            if rows:
                cursor.executemany(sql, rows)
            else:
                cursor.execute(sql)
            conn.commit()
        finally:
            conn.close()

    def create(self, cursor_type: str) -> None:
        text = "VARCHAR(64)"
        types = {"CLSJ": cursor_type, "GXSJ": cursor_type}
        quote = "`" if self.dialect == "mysql" else '"'  # PostgreSQL folds bare names
        columns = ", ".join(f"{quote}{c}{quote} {types.get(c, text)}" for c in COLUMNS)
        self.execute(f"CREATE TABLE bj_gcxx ({columns})")

    def insert(self, *rows: tuple) -> None:
        mark = "?" if self.dialect == "sqlite" else "%s"
        marks = ", ".join([mark] * len(COLUMNS))
        self.execute(f"INSERT INTO bj_gcxx VALUES ({marks})", rows)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def exchange(request, tmp_path) -> Iterator[Exchange]:
    name = f"wm_test_{secrets.token_hex(5)}"
    if request.param == "sqlite":
        path = tmp_path / "case_platform.sqlite"
        yield Exchange("sqlite", f"sqlite:///{path}", lambda: sqlite3.connect(path))
        return
    if request.param == "postgresql":
        admin = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "autocommit": True}
        with psycopg.connect(dbname="postgres", **admin) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            yield Exchange(
                "postgresql",
                f"postgresql://postgres@127.0.0.1:5432/{name}",
                lambda: psycopg.connect(dbname=name, host="127.0.0.1", user="postgres"),
            )
        finally:
            with psycopg.connect(dbname="postgres", **admin) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return
    server = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
    admin = pymysql.connect(**server, autocommit=True)
    try:
        admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield Exchange(
            "mysql",
            f"mysql+pymysql://root@127.0.0.1:3306/{name}",
            lambda: pymysql.connect(**server, database=name, charset="utf8mb4"),
        )
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def sources(tmp: Path, exchange: Exchange, lookback_minutes: int = 10) -> Path:
    path = tmp / "sources.yaml"
    path.write_text(
        "systems:\n"
        "  case_platform:\n"
        "    delivery: database\n"
        f"    url: {exchange.url}\n"
        "    tables:\n"
        "      bj_gcxx: {key: [GCBH], cursor: GXSJ, "
        f"lookback_minutes: {lookback_minutes}}}\n",
        encoding="utf-8",
    )
    return path


def step(number: int, at: str, changed: str | None = None) -> tuple:
    return (f"GC{number:04d}", f"SB{number:04d}", "SL", at, None, changed or at)


def load(tmp: Path, exchange: Exchange, **options) -> str:
    (result,) = run(sources(tmp, exchange, **options), tmp / "w.duckdb", ["case_platform"])
    assert result.status == "ok", result.message
    return result.load_id


def landed(tmp: Path) -> set[str]:
    return {k for (k,) in query(tmp / "w.duckdb", 'SELECT "GCBH" FROM raw.bj_gcxx')}


def watermark(tmp: Path) -> str:
    sql = "SELECT value FROM meta.watermarks WHERE table_name = 'bj_gcxx'"
    return query(tmp / "w.duckdb", sql)[0][0]


def alerts(tmp: Path, kind: str) -> list[tuple]:
    sql = "SELECT table_name, severity, message FROM meta.alerts WHERE kind = ?"
    return query(tmp / "w.duckdb", sql, [kind])


@pytest.mark.parametrize("cursor_type", ["TIMESTAMP"])
def test_a_row_stamped_in_the_future_is_flagged_and_later_updates_still_land(
    tmp_path, exchange, cursor_type
):
    cursor_type = "DATETIME" if exchange.dialect == "mysql" else cursor_type
    exchange.create("TEXT" if exchange.dialect == "sqlite" else cursor_type)
    genuine = stamp(shanghai_now() - dt.timedelta(hours=2))
    exchange.insert(step(1, genuine), step(2, genuine, "2030-01-01 00:00:00"))
    load(tmp_path, exchange)
    assert landed(tmp_path) == {"GC0001", "GC0002"}  # the wrong clock's row lands too
    assert watermark(tmp_path) == genuine  # but never becomes the watermark
    exchange.insert(step(3, stamp(shanghai_now() - dt.timedelta(minutes=30))))
    load(tmp_path, exchange)
    assert landed(tmp_path) == {"GC0001", "GC0002", "GC0003"}
    flagged = alerts(tmp_path, "future_timestamp")
    assert len(flagged) == 1  # once, when it landed; re-reading it lands nothing new
    table, severity, message = flagged[0]
    assert (table, severity) == ("bj_gcxx", "warning")
    assert "2030-01-01 00:00:00" in message and "GC0002" in message


@pytest.mark.parametrize(("lookback", "lands"), [(10, True), (0, False)])
def test_a_late_commit_stamped_before_the_watermark_lands_within_the_look_back(
    tmp_path, exchange, lookback, lands
):
    exchange.create("VARCHAR(32)")
    last = shanghai_now() - dt.timedelta(hours=1)
    exchange.insert(step(1, stamp(last - dt.timedelta(hours=1))), step(2, stamp(last)))
    load(tmp_path, exchange, lookback_minutes=lookback)
    assert watermark(tmp_path) == stamp(last)
    # A long transaction in the 前置库 commits after that load a row stamped 3 minutes earlier.
    exchange.insert(step(3, stamp(last - dt.timedelta(minutes=3))))
    second = load(tmp_path, exchange, lookback_minutes=lookback)
    assert ("GC0003" in landed(tmp_path)) is lands
    new_versions = query(
        tmp_path / "w.duckdb",
        "SELECT rows_new_versions FROM meta.load_audit WHERE load_id = ?",
        [second],
    )
    assert new_versions == [(1 if lands else 0,)]  # re-read rows are not landed twice


def test_a_garbage_cursor_value_is_quarantined_and_never_becomes_the_watermark(tmp_path, exchange):
    exchange.create("VARCHAR(32)")
    good = stamp(shanghai_now() - dt.timedelta(hours=2))
    exchange.insert(step(1, good), step(2, good, "not a time"))
    load(tmp_path, exchange)
    rules = query(
        tmp_path / "w.duckdb",
        "SELECT DISTINCT row_key, column_name, rule FROM meta.quarantine",
    )
    assert rules == [("GC0002", "GXSJ", "cast:TIMESTAMP")]
    assert watermark(tmp_path) == good
    exchange.insert(step(3, stamp(shanghai_now() - dt.timedelta(hours=1))))
    load(tmp_path, exchange)
    assert landed(tmp_path) == {"GC0001", "GC0003"}
