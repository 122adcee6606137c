"""Dirty identity values (D4, D5) and the ground-truth manifest beside the data."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import ClassVar

from contract.identity import USCC_ALPHABET, ric_check_char
from simulator.annual_reports import ANNUAL_REPORT_COLUMNS
from simulator.payments import PAYOUT_COLUMNS

FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789X"}


def _spaced(value: str, rng: random.Random) -> str:
    cut = sorted(rng.sample(range(1, len(value)), rng.randint(1, 3)))
    parts = [value[i:j] for i, j in zip([0, *cut], [*cut, len(value)], strict=True)]
    text = " ".join(parts)
    return (" " + text) if rng.random() < 0.2 else (text + " " if rng.random() < 0.2 else text)


def _full_width(value: str, rng: random.Random) -> str:
    return "".join(FULL_WIDTH.get(c, c) if rng.random() < 0.7 else c for c in value)


def dirty_identity_number(number: str, rng: random.Random, unrecoverable: bool) -> tuple[str, str]:
    """(raw value written, expected outcome): the normalised number or 'invalid'."""
    if unrecoverable:
        if rng.random() < 0.5:
            wrong = rng.choice([c for c in "0123456789X" if c != number[-1]])
            return number[:-1] + wrong, "invalid"
        body = number[:10] + rng.choice(["1300", "0230", "0431", "0000", "1132"]) + number[14:17]
        return body + ric_check_char(body), "invalid"
    forms = ["spaces", "full_width", "fifteen"]
    if number.endswith("X"):
        forms.append("lower_x")
    form = rng.choice(forms)
    if form == "fifteen" and number[6:8] != "19":
        form = "spaces"
    if form == "fifteen":
        raw = number[:6] + number[8:17]
    elif form == "lower_x":
        raw = number[:-1] + "x"
    else:
        raw = number
    if form == "full_width" or (form != "fifteen" and rng.random() < 0.25):
        raw = _full_width(raw, rng)
    if form == "spaces" or rng.random() < 0.25:
        raw = _spaced(raw, rng)
    return raw, number


def maybe_dirty_identity(number: str, rng: random.Random, config) -> tuple[str, str | None]:
    """At the D4 rates of `config`: (value as written, expected outcome), or (number, None)
    when the value is left clean."""
    if rng.random() >= config.rate("D4"):
        return number, None
    share = config.rate("D4_unrecoverable") / config.rate("D4")
    return dirty_identity_number(number, rng, rng.random() < share)


def dirty_uscc(code: str, rng: random.Random) -> tuple[str, str]:
    form = rng.choice(["lower", "spaces", "lower_spaces", "wrong_check"])
    if form == "wrong_check":
        wrong = rng.choice([c for c in USCC_ALPHABET if c != code[-1]])
        return code[:-1] + wrong, "invalid"
    raw = code.lower() if "lower" in form else code
    if raw == code and form == "lower":  # an all-digit code has no lower case: use spaces
        form = "spaces"
    if "spaces" in form:
        raw = _spaced(raw, rng)
    return raw, code


class Manifest:
    """Ground truth written beside the data (docs/simulator.md, 'Ground truth')."""

    TABLES: ClassVar[dict[str, str]] = {
        "defects": "system TEXT, table_name TEXT, key TEXT, defect TEXT, column_name TEXT, "
        "detail TEXT, expected TEXT",
        # identity_truth is a view over these two (one row per record stays small)
        "identity_columns": "t INTEGER PRIMARY KEY, system TEXT, table_name TEXT, column_name TEXT",
        "identity_records": "t INTEGER, key TEXT, id_type TEXT, true_id TEXT",
        "hcp_deliveries": "file_name TEXT, month TEXT, delivered_at TEXT, rows INTEGER, "
        "in_force INTEGER",
        "changes": "advance_no INTEGER, clock TEXT, system TEXT, table_name TEXT, key TEXT, "
        "change TEXT",
        # data gaps that are not defects (a legitimate null a policy needs)
        "data_gaps": "system TEXT, table_name TEXT, key TEXT, column_name TEXT, detail TEXT",
        # people and firms the systems name who are in neither the population nor the
        # legal-entity base; `since` is the first visit, the birth or the certification
        "non_residents": "subject_type TEXT, id_number TEXT, kind TEXT, name TEXT, sex TEXT, "
        "birth_date TEXT, region_code TEXT, since TEXT",
        # every 免申即享 payout of the world, paid or not, reached by the clock or not
        # (simulator/payments.py); paid_on null: never paid
        "payouts": PAYOUT_COLUMNS,
        # every annual report (fr_ndxx) of the world and the day it is filed (annual_reports.py)
        "annual_reports": ANNUAL_REPORT_COLUMNS,
        # what the city shows on purpose for the handbook's v2 (simulator/v2_cases.py)
        "planted": "kind TEXT, system TEXT, table_name TEXT, key TEXT, detail TEXT, expected TEXT",
        # the hard cases of identity linkage planted in a record (simulator/linkage_cases.py)
        "linkage_cases": "system TEXT, table_name TEXT, key TEXT, kind TEXT, detail TEXT",
    }

    # What `truth` False leaves out (identity_columns only numbers identity_records' columns).
    RECORD_TRUTH = frozenset(
        {"defects", "identity_records", "data_gaps", "non_residents", "payouts", "annual_reports"}
        | {"planted", "linkage_cases"}
    )

    def __init__(self, path: Path, create: bool = False, truth: bool = True):
        """`truth` False: record-level truth is not kept (CityConfig.ground_truth)."""
        self.truth = truth
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path)
        self.conn.execute("PRAGMA synchronous = OFF")  # as hotline_store.unsynced says
        if create:
            self.conn.execute("DROP VIEW IF EXISTS identity_truth")
            for name, cols in self.TABLES.items():
                self.conn.execute(f"DROP TABLE IF EXISTS {name}")
                self.conn.execute(f"CREATE TABLE {name} ({cols})")
            self.conn.execute(
                "CREATE VIEW identity_truth AS SELECT c.system, c.table_name, r.key, "
                "c.column_name, "
                "COALESCE(r.id_type, '111') AS id_type, r.true_id FROM identity_records r "
                "JOIN identity_columns c USING (t)"
            )
        else:  # an advance deletes a changed record's defects by key
            self.conn.execute(
                "CREATE INDEX IF NOT EXISTS defects_by_key ON defects (table_name, key)"
            )
        self._buffers: dict[str, list[tuple]] = {name: [] for name in self.TABLES}
        self._columns = {
            (s, t, c): n
            for n, s, t, c in self.conn.execute(
                "SELECT t, system, table_name, column_name FROM identity_columns"
            )
        }

    def defect(self, system, table, key, defect, column=None, detail=None, expected=None):
        self._add("defects", (system, table, key, defect, column, detail, expected))

    def identity(self, system, table, key, column, id_type, true_id):
        if not self.truth:
            return
        where = (system, table, column)
        if where not in self._columns:
            self._columns[where] = len(self._columns) + 1
            self.conn.execute(
                "INSERT INTO identity_columns VALUES (?, ?, ?, ?)", (self._columns[where], *where)
            )
        kind = None if id_type == "111" else id_type
        self._add("identity_records", (self._columns[where], key, kind, true_id))

    def gap(self, system, table, key, column, detail):
        self._add("data_gaps", (system, table, key, column, detail))

    def non_resident(self, subject_type, id_number, kind, name, sex, birth, region, since):
        self._add("non_residents", (subject_type, id_number, kind, name, sex, birth, region, since))

    def payout(self, row: tuple) -> None:
        self._add("payouts", row)

    def annual_report(self, row: tuple) -> None:
        self._add("annual_reports", row)

    def planted(self, system, table, key, kind, detail, expected):
        self._add("planted", (kind, system, table, key, detail, expected))

    def linkage_case(self, system, table, key, kind, detail):
        self._add("linkage_cases", (system, table, key, kind, detail))

    def delivery(self, file_name, month, delivered_at, rows, in_force):
        self._add("hcp_deliveries", (file_name, month, delivered_at, rows, in_force))

    def change(self, advance_no, clock, system, table, key, change):
        self._add("changes", (advance_no, clock, system, table, key, change))

    def forget_defects(self, table: str, key: str) -> None:
        """A changed record's defects go; its changes are judged again (D10 stays: it
        belongs to a delivered file, not to the record)."""
        if not self.truth:
            return
        self.conn.execute(
            "DELETE FROM defects WHERE table_name = ? AND key = ? AND defect <> 'D10'",
            (table, key),
        )

    def _add(self, table: str, row: tuple) -> None:
        if not self.truth and table in self.RECORD_TRUTH:
            return
        buffer = self._buffers[table]
        buffer.append(row)
        if len(buffer) >= 20_000:
            self.flush()

    def flush(self) -> None:
        for table, rows in self._buffers.items():
            if rows:
                marks = ",".join("?" * len(rows[0]))
                self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
                rows.clear()
        self.conn.commit()

    def close(self) -> None:
        self.flush()
        self.conn.close()


class ManifestJournal:
    """Stands in for the Manifest in the second process of an advance: records every call,
    in order, for the first process to replay into the one manifest file (`replay`)."""

    RECORDED = ("defect", "identity", "gap", "non_resident", "payout", "annual_report")
    RECORDED += ("delivery", "change", "planted", "linkage_case")
    RECORDED += ("forget_defects", "flush")

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        if name not in self.RECORDED:
            raise AttributeError(f"the manifest journal does not record {name}")
        return lambda *args: self.calls.append((name, args))


def replay(calls: list[tuple[str, tuple]], manifest: Manifest) -> None:
    for name, args in calls:
        getattr(manifest, name)(*args)
