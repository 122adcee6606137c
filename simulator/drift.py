"""Schema drift (D11) on demand: `advance --drift KIND:table.column`.

- ``added:TABLE.COLUMN``: the department adds a column (the load should record it and go on);
- ``renamed:TABLE.COLUMN``: a required column is renamed (to COLUMN_NEW);
- ``missing:TABLE.COLUMN``: a required column disappears.

The last two must fail that system's whole load (defects.md). A drift lasts until the next
`advance`, which first undoes it (the department repairs its export) and then moves on.
The dropped column's data is kept in `.simulator/drift.sqlite` so that it can be restored.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from contract import load_contract

KINDS = ("added", "renamed", "missing")
_SPEC = re.compile(r"^(?P<kind>\w+):(?P<table>\w+)\.(?P<column>\w+)$")


@dataclass(frozen=True)
class Drift:
    kind: str
    table: str
    column: str

    @property
    def system(self) -> str:
        return load_contract().table(self.table).system

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.table}.{self.column}"


def parse_drift(text: str) -> Drift:
    match = _SPEC.match(text)
    if not match or match["kind"] not in KINDS:
        raise ValueError(
            f"--drift wants KIND:table.column with KIND one of {', '.join(KINDS)}: {text!r}"
        )
    try:
        table = load_contract().table(match["table"])
    except KeyError:
        raise ValueError(f"--drift names an unknown table: {match['table']}") from None
    if table.system not in (
        "case_platform",
        "certificate_library",
        "population_base",
        "legal_entity_base",
    ):
        raise ValueError(f"--drift applies to exchange-database tables, not {table.name}")
    known = match["column"] in table.column_names
    if match["kind"] == "added" and known:
        raise ValueError(
            f"{table.name}.{match['column']} already exists; an added column needs a new name"
        )
    if match["kind"] != "added" and not known:
        raise ValueError(f"{table.name} has no column {match['column']}")
    return Drift(match["kind"], table.name, match["column"])


def _exchange(out: Path, drift: Drift) -> sqlite3.Connection:
    return sqlite3.connect(out / "exchange" / f"{drift.system}.sqlite")


def apply(out: Path, drift: Drift) -> None:
    conn = _exchange(out, drift)
    table, column = drift.table, drift.column
    if drift.kind == "added":
        conn.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" TEXT')
    elif drift.kind == "renamed":
        conn.execute(f'ALTER TABLE {table} RENAME COLUMN "{column}" TO "{column}_NEW"')
    else:
        backup = out / ".simulator" / "drift.sqlite"
        backup.unlink(missing_ok=True)
        conn.execute("ATTACH DATABASE ? AS keep", (str(backup),))
        conn.execute(
            f'CREATE TABLE keep.{table} AS SELECT rowid AS rid, "{column}" AS v FROM {table}'
        )
        conn.commit()
        conn.execute("DETACH DATABASE keep")
        conn.execute(f'ALTER TABLE {table} DROP COLUMN "{column}"')
    conn.commit()
    conn.close()


def undo(out: Path, drift: Drift) -> None:
    """Put the table back as the contract has it (the column's order included)."""
    conn = _exchange(out, drift)
    table, column = drift.table, drift.column
    if drift.kind == "added":
        conn.execute(f'ALTER TABLE {table} DROP COLUMN "{column}"')
    elif drift.kind == "renamed":
        conn.execute(f'ALTER TABLE {table} RENAME COLUMN "{column}_NEW" TO "{column}"')
    else:
        _restore_dropped(conn, out, drift)
    conn.commit()
    conn.close()


def _restore_dropped(conn: sqlite3.Connection, out: Path, drift: Drift) -> None:
    from simulator.schema import create_table_sql

    table = load_contract().table(drift.table)
    present = [r[1] for r in conn.execute(f"PRAGMA table_info({table.name})")]
    extra = tuple(c for c in present if c not in table.column_names)
    conn.execute("ATTACH DATABASE ? AS keep", (str(out / ".simulator" / "drift.sqlite"),))
    conn.execute(
        create_table_sql(table, "sqlite", name=f"{table.name}__restored", extra_columns=extra)
    )
    columns = ", ".join(f'"{c}"' for c in [*table.column_names, *extra])
    chosen = ", ".join(
        "k.v" if c == drift.column else f't."{c}"' for c in [*table.column_names, *extra]
    )
    conn.execute(
        f"INSERT INTO {table.name}__restored ({columns}) SELECT {chosen} FROM {table.name} t "
        f"LEFT JOIN keep.{table.name} k ON k.rid = t.rowid ORDER BY t.rowid"
    )
    conn.execute(f"DROP TABLE {table.name}")
    conn.execute(f"ALTER TABLE {table.name}__restored RENAME TO {table.name}")
    conn.commit()
    conn.execute("DETACH DATABASE keep")
