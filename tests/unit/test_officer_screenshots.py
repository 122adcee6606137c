"""`make officer-screenshots` (pipeline/screenshots.py): the bureau's approvals read from a
city's manifest as ledger rows, keyed as the warehouse keys its subjects."""

from __future__ import annotations

import datetime as dt
import sqlite3

import duckdb

from pipeline.screenshots import bureau_approvals, pseudonym


def test_the_pseudonym_is_the_warehouse_macro_s_key(monkeypatch):
    monkeypatch.setenv("IDENTITY_KEY", "key-of-issue-35-xyz")
    number = "360702195001011234"
    # dbt_project/macros/pseudonyms.sql on DuckDB
    conn = duckdb.connect()
    (expected,) = conn.execute(
        "select left(sha256('key-of-issue-35-xyz' || '|person|' || ?), 32)", [number]
    ).fetchone()
    conn.close()
    assert pseudonym("person", number) == expected
    assert pseudonym("enterprise", number) != expected


def test_bureau_approvals_are_those_made_by_the_date(tmp_path, monkeypatch):
    monkeypatch.setenv("IDENTITY_KEY", "key-of-issue-35-xyz")
    (tmp_path / "manifest").mkdir()
    conn = sqlite3.connect(tmp_path / "manifest" / "manifest.sqlite")
    conn.execute(
        "create table payouts (policy, period, subject, subject_type, amount, approved_on, paid_on)"
    )
    conn.executemany(
        "insert into payouts values (?, ?, ?, ?, ?, ?, ?)",
        [
            ("YEBT", "2026-09", "360702202501011234", "111", 500, "2026-09-03", "2026-09-20"),
            ("GXJL", "2026", "91360700MA00000001", "001", 20000, "2026-10-31", None),
            ("YEBT", "2026-11", "360702202501011234", "111", 500, "2026-11-02", None),
        ],
    )
    conn.commit()
    conn.close()
    rows = bureau_approvals(tmp_path, dt.date(2026, 10, 31))
    assert rows == [
        ("YEBT", "person", pseudonym("person", "360702202501011234"), "2026-09", 500,
         "2026-09-03"),
        ("GXJL", "enterprise", pseudonym("enterprise", "91360700MA00000001"), "2026", 20000,
         "2026-10-31"),
    ]  # fmt: skip
