"""Find personal data where it must not be: identity numbers, mobile numbers and known names.

Used on the published snapshot and the published docs (tests, and an operator's check before
a snapshot leaves the building). A match is reported with where it was found and its masked form
(groundfloor/masking.py), never with the value itself.

- Identity numbers: 18 characters (17 digits and the MOD 11-2 check character) or the old 15
  digits, delimited by non-alphanumerics (so a run of digits inside a hex key does not count),
  whose region code is a GB/T 2260 code of any period and whose birth date is a real date. A
  masked form (360702********123X) never matches.
- Mobile numbers: 11 digits starting 13–19, delimited by non-alphanumerics (the hex keys
  contain runs of digits).
- Names: a value (a column value, or a quoted string in a file) exactly equal to a known
  person's name (names are short, so containment
  would flag ordinary words; registered entity names, public data that may contain an
  operator's name, are not names).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from contract.identity import ric_check_char
from contract.regions import all_region_codes
from groundfloor.masking import mask_identity_number, mask_name, mask_phone

IDENTITY_CANDIDATE = r"(?:^|[^0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9]{15})(?:$|[^0-9A-Za-z])"
MOBILE_CANDIDATE = r"(?:^|[^0-9A-Za-z])(1[3-9][0-9]{9})(?:$|[^0-9A-Za-z])"
QUOTED_SHORT_STRING = r'(?<=")([^"\\]{2,12})(?=")'


@dataclass(frozen=True)
class Finding:
    where: str
    kind: str
    masked: str


def _real_date(text: str) -> bool:
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= day <= dt.date.today()


def is_identity_number(candidate: str) -> bool:
    candidate = candidate.upper()
    if candidate[:6] not in all_region_codes():
        return False
    if len(candidate) == 15:
        return _real_date("19" + candidate[6:12])
    return _real_date(candidate[6:14]) and ric_check_char(candidate[:17]) == candidate[17]


def findings_in_text(text: str, where: str, names: frozenset[str] = frozenset()) -> list[Finding]:
    found = [
        Finding(where, "identity_number", mask_identity_number(m))
        for m in re.findall(IDENTITY_CANDIDATE, text)
        if is_identity_number(m)
    ]
    found += [
        Finding(where, "mobile_number", mask_phone(m)) for m in re.findall(MOBILE_CANDIDATE, text)
    ]
    quoted = set(re.findall(QUOTED_SHORT_STRING, text))
    found += [Finding(where, "name", mask_name(n)) for n in sorted(quoted & names)]
    return found


def string_columns(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        "WHERE data_type = 'VARCHAR' AND NOT internal ORDER BY 1, 2, 3"
    ).fetchall()


def _candidates(conn, relation: str, column: str, pattern: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            f'SELECT DISTINCT unnest(regexp_extract_all("{column}", ?, 1)) FROM {relation} '
            f'WHERE regexp_matches("{column}", ?)',
            [pattern, pattern],
        ).fetchall()
    ]


def scan_column(conn, schema: str, table: str, column: str, names: frozenset[str]) -> list[Finding]:
    relation = f'"{schema}"."{table}"'
    where = f"{schema}.{table}.{column}"
    found = [
        Finding(where, "identity_number", mask_identity_number(value))
        for value in _candidates(conn, relation, column, IDENTITY_CANDIDATE)
        if is_identity_number(value)
    ]
    found += [
        Finding(where, "mobile_number", mask_phone(value))
        for value in _candidates(conn, relation, column, MOBILE_CANDIDATE)
    ]
    if names:
        rows = conn.execute(
            f'SELECT DISTINCT "{column}" FROM {relation} WHERE "{column}" IN (SELECT unnest(?))',
            [sorted(names)],
        ).fetchall()
        found += [Finding(where, "name", mask_name(row[0])) for row in rows]
    return found


def scan_database(path: Path, names: Iterable[str] = ()) -> list[Finding]:
    """Every VARCHAR column of every table of the DuckDB file at `path`."""
    names = frozenset(n for n in names if n and len(n) >= 2)
    conn = duckdb.connect(str(path), read_only=True)
    try:
        found: list[Finding] = []
        for schema, table, column in string_columns(conn):
            found += scan_column(conn, schema, table, column, names)
        return found
    finally:
        conn.close()


def scan_files(paths: Iterable[Path], names: Iterable[str] = ()) -> list[Finding]:
    names = frozenset(n for n in names if n and len(n) >= 2)
    found: list[Finding] = []
    for path in paths:
        found += findings_in_text(path.read_text(encoding="utf-8"), str(path), names)
    return found
