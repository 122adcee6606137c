"""A city whose exchange databases are Parquet folders holds the same rows as the same city in
SQLite, after generate and after advances, and the platform's connector reads the same rows
from either (tier L of the benchmark uses Parquet: docs/simulator.md, "Parquet exchange")."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from contract import load_contract
from ingestion.config import SystemConfig, TableConfig
from ingestion.connectors.sql import SqlConnector
from simulator import run
from simulator.cli import main as simulator
from simulator.parquet_exchange import EMPTY_PART, parts

pytestmark = pytest.mark.integration

PEOPLE = "1500"
EXCHANGE_TABLES = [
    t for t in load_contract().tables() if t.system not in ("hotline_12345", "evaluation_hcp")
]


def sqlite_rows(city: Path, system: str, table: str) -> Counter:
    conn = sqlite3.connect(city / "exchange" / f"{system}.sqlite")
    rows = Counter(conn.execute(f"SELECT * FROM {table}"))
    conn.close()
    return rows


def parquet_rows(city: Path, system: str, table: str) -> Counter:
    files = parts(city / "exchange" / system / table)
    data = pq.read_table(files).to_pylist() if files else []
    return Counter(tuple(row.values()) for row in data)


def assert_same_exchange(lite: Path, parquet: Path) -> None:
    for table in EXCHANGE_TABLES:
        expected = sqlite_rows(lite, table.system, table.name)
        # an amount stored as 1200 in SQLite is 1200.0 in its DOUBLE column: equal in Python
        assert parquet_rows(parquet, table.system, table.name) == expected, table.name


@pytest.fixture(scope="module")
def cities(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cities")
    lite, parquet = root / "sqlite", root / "parquet"
    with pytest.MonkeyPatch.context() as patch:
        # the second process takes the last 60 case days: the merge appends its parts
        patch.setattr(run, "RESERVED_TAIL_DAYS", 60)
        argv = ["generate", "--people", PEOPLE, "--out", str(lite), "--workers", "2"]
        assert simulator(argv) == 0
        argv = ["generate", "--people", PEOPLE, "--out", str(parquet), "--workers", "2"]
        assert simulator([*argv, "--exchange-format", "parquet"]) == 0
    return lite, parquet


def test_a_parquet_city_holds_the_rows_of_the_same_city_in_sqlite(cities):
    lite, parquet = cities
    assert not list((parquet / "exchange").glob("*.sqlite"))
    assert_same_exchange(lite, parquet)
    # every table has a part, an empty one (schema only) at least
    for table in EXCHANGE_TABLES:
        assert parts(parquet / "exchange" / table.system / table.name), table.name


def test_advances_replace_the_same_rows_in_both(cities):
    """Cases change after they are filed, the population snapshot is replaced whole, use
    records are numbered on: after advances in two processes and in one, the tables agree."""
    lite, parquet = cities
    for workers, days in (("2", "1"), ("1", "2")):
        for city in cities:
            argv = ["advance", "--out", str(city), "--days", days, "--workers", workers]
            assert simulator(argv) == 0
        assert_same_exchange(lite, parquet)
    cases = [p.name for p in parts(parquet / "exchange" / "case_platform" / "bj_jbxx")]
    # the parts from before the last advance, rewritten into one without the keys it replaced,
    # then the part of the new versions it appended
    assert len(cases) == 2 and cases[0] == EMPTY_PART


def test_the_connector_reads_the_same_rows_from_either(cities):
    lite, parquet = cities
    tables = {"bj_jbxx": TableConfig("bj_jbxx", ("SBLSH",), "GXSJ")}

    def read(url: str, watermarks: dict) -> list:
        config = SystemConfig("case_platform", "database", "@hourly", tables, url=url)
        return list(SqlConnector(config).extract(watermarks))

    for watermarks in ({}, {"bj_jbxx": "2026-10-15 00:00:00"}):
        (from_lite,) = read(f"sqlite:///{lite}/exchange/case_platform.sqlite", watermarks)
        (from_parquet,) = read(f"parquet:///{parquet}/exchange/case_platform", watermarks)
        assert from_parquet.frame.schema == from_lite.frame.schema
        assert from_parquet.frame.height == from_lite.frame.height > 0
        assert from_parquet.frame.sort("SBLSH", "GXSJ").equals(
            from_lite.frame.sort("SBLSH", "GXSJ")
        )
        assert from_parquet.watermark == from_lite.watermark
        assert from_parquet.source.startswith("parquet:///")


def test_what_a_parquet_city_cannot_do_is_refused_clearly(cities, capsys):
    _, parquet = cities
    argv = ["advance", "--out", str(parquet), "--drift", "added:bb_jl.BBXX"]
    assert simulator(argv) == 2
    assert "needs a city whose exchange is in SQLite" in capsys.readouterr().err
    argv = ["load", "--out", str(parquet), "--target", "case_platform=postgresql://x@127.0.0.1/x"]
    assert simulator(argv) == 2
    assert "exchange is in Parquet" in capsys.readouterr().err
    missing = SystemConfig("case_platform", "database", "@hourly", {}, url="parquet:///nowhere")
    with pytest.raises(Exception, match="no folder of Parquet tables"):
        SqlConnector(missing, delays=()).read("SELECT 1")
