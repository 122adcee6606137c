"""Land a batch in the raw layer: contract check, casts, codes, quarantine, new versions.

A delivery is landed in two steps. `stage_chunks` checks it chunk by chunk into scratch
tables of the `landing` schema, each chunk committed on its own: DuckDB keeps the rows a
still-open transaction appends in memory its limit does not govern (measured: about twice the
rows' size), so a delivery checked inside the load's transaction grew the process with the
table (3.7 GiB beyond the limit for a 1,000,000-person city's case platform). `land_checked`
then writes everything that counts (quarantine, drift, raw versions, audit) inside the
caller's transaction (one per system), a few set-based statements whose memory DuckDB bounds,
so a failure anywhere still leaves neither rows nor watermarks behind; the scratch tables are
dropped afterwards, and `clear_scratch` removes what a killed load left there.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from contract import Table, load_contract
from groundfloor.masking import mask_source_value
from ingestion.batch import Batch
from ingestion.warehouse import FULL_DELIVERY_TABLES, duck_type

INTERNAL = "_rn"
SCRATCH = "landing"  # schema of deliveries checked but not landed yet (never read elsewhere)
# A delivery's new versions are inserted in delivery order, this many rows per sort. One sort
# of a whole delivery spilled the delivery's full width to disk: tier L's case steps (168 M
# rows) filled more than 40 GB of temp files with a 6 GB memory limit.
LAND_SLICE_ROWS = 4_000_000
_DELIVERY_NUMBERS = itertools.count(1)  # one run stages many deliveries of a table (files)


class SchemaDriftError(RuntimeError):
    """A required column is missing or renamed: the system's whole load fails."""


class ReconciliationError(RuntimeError):
    """Rows read differ from rows landed plus rows quarantined."""


@dataclass
class TableResult:
    system: str
    table: str
    mode: str
    source: str
    rows_read: int = 0
    rows_landed: int = 0
    rows_new_versions: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0
    watermark_before: str | None = None
    watermark_after: str | None = None
    drift: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class Checked:
    """A delivery after the contract check: typed rows in a scratch table, the quarantined
    rows' numbers and their quarantine records in two more.

    All three live in the warehouse's `landing` schema (compressed on disk like any table),
    never in Python, so a delivery of any size is checked in chunks with bounded memory.
    """

    relation: str  # typed contract columns, _extra, _row_hash, _rn
    bad_relation: str  # the quarantined rows' _rn
    quarantine_relation: str  # their meta.quarantine records, written when the delivery lands
    first_relation: str  # _rn of each version's first good copy (a version may come twice)
    rows: int = 0
    bad_count: int = 0
    extras: list[str] = field(default_factory=list)

    def scratch(self) -> list[str]:
        return [self.relation, self.bad_relation, self.quarantine_relation, self.first_relation]

    def good_rows(self) -> str:
        """The rows not quarantined, as a subquery."""
        return (
            f"SELECT * FROM {self.relation} WHERE {INTERNAL} NOT IN "
            f"(SELECT {INTERNAL} FROM {self.bad_relation})"
        )


def now() -> dt.datetime:
    return dt.datetime.now()


def check_columns(
    batch: Batch, table: Table, offset: int = 0
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """Missing required columns fail the load; other differences are drift, recorded when the
    delivery lands (`record_checks`)."""
    present = batch.frame.columns
    missing = [c for c in table.column_names if c not in present]
    required = [c for c in missing if table.column(c).required]
    if required:
        raise SchemaDriftError(
            f"{batch.system}.{batch.table}: required column {', '.join(required)} is missing "
            f"from the delivery (columns delivered: {', '.join(present)})"
        )
    extras = [c for c in present if c not in table.column_names]
    drift = [f"added {c}" for c in extras] + [f"missing {c}" for c in missing]
    frame = batch.frame.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in missing])
    return frame.with_row_index(INTERNAL, offset=offset), extras, drift


def record_checks(
    conn, checked: Checked, system: str, table: str, drift: list[str], load_id: str
) -> None:
    """A checked delivery's drift and quarantine records, as it lands."""
    conn.execute(f"INSERT INTO meta.quarantine SELECT * FROM {checked.quarantine_relation}")
    for change in drift:
        kind, column = change.split(" ", 1)
        conn.execute(
            "INSERT INTO meta.schema_drift VALUES (?, ?, ?, ?, ?, ?)",
            [load_id, system, table, column, kind, now()],
        )


def _typed_select(table: Table, extras: list[str], source_hash: str | None) -> tuple[str, str]:
    """The typed projection of the incoming frame, and the row-hash expression over it."""
    parts = [INTERNAL]
    for column in table.columns:
        kind = duck_type(column)
        raw = f'"{column.name}"'
        if kind == "VARCHAR":
            parts.append(f'CAST({raw} AS VARCHAR) AS "{column.name}"')
        else:
            parts.append(f'TRY_CAST(CAST({raw} AS VARCHAR) AS {kind}) AS "{column.name}"')
        parts.append(f'CAST({raw} AS VARCHAR) AS "{column.name}__raw"')
    extra = (
        (
            "to_json(struct_pack("
            + ", ".join(f'"{c}" := CAST("{c}" AS VARCHAR)' for c in extras)
            + "))"
        )
        if extras
        else "CAST(NULL AS JSON)"
    )
    parts.append(f"{extra} AS _extra")
    hashed = " , ".join(f"coalesce(CAST(\"{c.name}\" AS VARCHAR), '\x01')" for c in table.columns)
    salt = f", '{source_hash}'" if source_hash else ""
    return ", ".join(
        parts
    ), f"md5(concat_ws('\x1f', {hashed}, coalesce(CAST(_extra AS VARCHAR), ''){salt}))"


def _violations_sql(table: Table, relation: str) -> str:
    codes = load_contract().codes
    checks = []
    for column in table.columns:
        name = column.name
        if column.kind not in ("str", "code"):
            checks.append(
                f"SELECT {INTERNAL}, '{name}', 'cast:{duck_type(column)}', \"{name}__raw\" "
                f'FROM {relation} WHERE "{name}__raw" IS NOT NULL AND "{name}" IS NULL'
            )
        if column.kind == "code":
            allowed = ", ".join(f"'{v}'" for v in codes[column.code_list])
            checks.append(
                f"SELECT {INTERNAL}, '{name}', 'code:{column.code_list}', \"{name}__raw\" "
                f'FROM {relation} WHERE "{name}" IS NOT NULL AND "{name}" NOT IN ({allowed})'
            )
        if column.required:
            checks.append(
                f"SELECT {INTERNAL}, '{name}', 'required', NULL "
                f'FROM {relation} WHERE "{name}__raw" IS NULL'
            )
    return " UNION ALL ".join(checks)


class RowChecker:
    """Casts and checks a delivery chunk by chunk inside DuckDB into the `landing` schema.

    Each chunk is typed in a chunk-sized temp table (typed and raw text side by side, for the
    checks), then its typed columns are appended to the delivery's scratch table. Called
    outside a transaction, every statement commits on its own and memory stays one chunk."""

    def __init__(self, conn, table: Table, load_id: str, source_hash: str | None = None):
        self.conn, self.table, self.load_id, self.source_hash = conn, table, load_id, source_hash
        name = f"{SCRATCH}.d{next(_DELIVERY_NUMBERS)}_{table.name}"
        self.checked = Checked(
            f"{name}__typed", f"{name}__bad", f"{name}__quarantine", f"{name}__first"
        )
        self.drift: list[str] | None = None
        self.chunk = f"chunk_{table.name}"
        conn.execute(f"CREATE OR REPLACE TABLE {self.checked.bad_relation} ({INTERNAL} BIGINT)")
        conn.execute(
            f"CREATE OR REPLACE TABLE {self.checked.quarantine_relation} AS "
            "SELECT * FROM meta.quarantine LIMIT 0"
        )

    def add(self, batch: Batch) -> None:
        checked, first = self.checked, self.drift is None
        frame, extras, drift = check_columns(batch, self.table, checked.rows)
        if first:
            self.drift, checked.extras = drift, extras
        select, row_hash = _typed_select(self.table, extras, self.source_hash)
        typed = f"SELECT *, {row_hash} AS _row_hash FROM (SELECT {select} FROM incoming_frame)"
        self.conn.register("incoming_frame", frame.to_arrow())
        try:
            self.conn.execute(f"CREATE OR REPLACE TEMP TABLE {self.chunk} AS {typed}")
        finally:
            self.conn.unregister("incoming_frame")
        violations = self.conn.execute(_violations_sql(self.table, self.chunk)).fetchall()
        _quarantine(self.conn, batch, self.table, self.chunk, violations, self.load_id, checked)
        bad = sorted({v[0] for v in violations})
        if bad:
            self.conn.execute(f"INSERT INTO {checked.bad_relation} SELECT UNNEST(?)", [bad])
        kept = ", ".join([INTERNAL, *(f'"{c}"' for c in self.table.column_names), "_extra"])
        rows = f"SELECT {kept}, _row_hash FROM {self.chunk}"
        if first:
            self.conn.execute(f"CREATE OR REPLACE TABLE {checked.relation} AS {rows}")
        else:
            self.conn.execute(f"INSERT INTO {checked.relation} {rows}")
        self.conn.execute(f"DROP TABLE {self.chunk}")
        checked.rows += frame.height
        checked.bad_count += len(bad)


def check_chunks(
    conn, chunks: Iterable[Batch], load_id: str, source_hash: str | None = None
) -> tuple[Checked, list[str], Batch]:
    """Cast every column by the contract inside DuckDB; list what fails for the quarantine.
    Returns the checked delivery, its drift and its last chunk (watermark, details)."""
    checker, last = None, None
    for batch in chunks:
        if checker is None:
            checker = RowChecker(conn, load_contract().table(batch.table), load_id, source_hash)
        checker.add(batch)
        last = batch
    if checker is None:
        raise ValueError("a delivery needs at least one chunk")
    return checker.checked, checker.drift or [], last


def drop_scratch(conn, checked: Checked) -> None:
    for relation in checked.scratch():
        conn.execute(f"DROP TABLE IF EXISTS {relation}")


def clear_scratch(conn) -> None:
    """Empty the `landing` schema of what a killed load left there. Called by a run under
    the warehouse's writer lock, before its systems load: no load can be using it."""
    conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
    conn.execute(f"CREATE SCHEMA {SCRATCH}")


def _quarantine(
    conn, batch: Batch, table: Table, relation: str, violations, load_id: str, checked: Checked
) -> None:
    if not violations:
        return
    key_sql = " || '|' || ".join(f"coalesce(CAST(\"{k}__raw\" AS VARCHAR), '')" for k in table.key)
    wanted = sorted({v[0] for v in violations})
    # The row's change value lets staging tell whether a key's latest state was quarantined.
    change = f'"{table.change_column}__raw"' if table.change_column else "NULL"
    found = conn.execute(
        f"SELECT {INTERNAL}, {key_sql}, _row_hash, {change} FROM {relation} "
        f"WHERE {INTERNAL} IN (SELECT UNNEST(?))",
        [wanted],
    ).fetchall()
    keys = {row[0]: (row[1], row[2], row[3]) for row in found}
    rows = {
        "load_id": load_id,
        "system": batch.system,
        "table_name": batch.table,
        "source": batch.source,
        "row_key": [keys[rn][0] for rn, *_ in violations],
        "column_name": [column for _, column, _, _ in violations],
        "rule": [rule for _, _, rule, _ in violations],
        "raw_value": [mask_source_value(column, raw) for _, column, _, raw in violations],
        "row_hash": [keys[rn][1] for rn, *_ in violations],
        "change_value": [keys[rn][2] for rn, *_ in violations],
        "quarantined_at": now(),
    }
    # One set-based insert: executemany is row by row and a bad delivery can be large.
    conn.register("quarantined_rows", pl.DataFrame(rows, strict=False).to_arrow())
    try:
        conn.execute(
            f"INSERT INTO {checked.quarantine_relation} BY NAME SELECT * FROM quarantined_rows"
        )
    finally:
        conn.unregister("quarantined_rows")


def find_first_copies(conn, checked: Checked) -> None:
    """Number the first good copy of each version (row hash) of a staged delivery. Run while
    staging, outside the load's transaction: grouping a large delivery by its row hash is the
    heaviest step of its landing, and there its memory and spill are DuckDB's to bound."""
    # Two narrow columns, not a window over the wide rows (that took twice as long).
    conn.execute(
        f"CREATE OR REPLACE TABLE {checked.first_relation} AS SELECT min({INTERNAL}) AS "
        f"{INTERNAL} FROM ({checked.good_rows()}) GROUP BY _row_hash"
    )


def insert_new_versions(conn, checked: Checked, table: Table, batch: Batch, load_id: str) -> int:
    """Land the rows not quarantined whose version (row hash) the raw table lacks, in delivery
    order, one slice of LAND_SLICE_ROWS at a time (module constant: why)."""
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    before = conn.execute(f"SELECT COUNT(*) FROM raw.{table.name}").fetchall()[0][0]
    # An empty raw table (a first load) needs no anti-join.
    unknown = f"AND _row_hash NOT IN (SELECT _row_hash FROM raw.{table.name}) " if before else ""
    last = conn.execute(f"SELECT max({INTERNAL}) FROM {checked.first_relation}").fetchall()[0][0]
    loaded_at = now()  # one stamp for the whole delivery: it orders versions (D2)
    in_slice = f"{INTERNAL} >= ? AND {INTERNAL} < ?"
    for start in range(0, 0 if last is None else last + 1, LAND_SLICE_ROWS):
        bounds = [start, start + LAND_SLICE_ROWS]
        conn.execute(
            f"INSERT INTO raw.{table.name} "
            f"({columns}, _load_id, _loaded_at, _source, _row_hash, _extra) "
            f"SELECT {columns}, ?, ?, ?, _row_hash, _extra FROM {checked.relation} "
            f"WHERE {in_slice} AND {INTERNAL} IN (SELECT {INTERNAL} FROM "
            f"{checked.first_relation} WHERE {in_slice}) {unknown}ORDER BY {INTERNAL}",
            [load_id, loaded_at, batch.source, *bounds, *bounds],
        )
    return conn.execute(f"SELECT COUNT(*) FROM raw.{table.name}").fetchall()[0][0] - before


def replace_delivery(conn, checked: Checked, table: Table, batch: Batch, load_id: str) -> int:
    """A whole delivery (fr_ndxx, jhkz): versions it no longer holds are closed, new ones
    opened, so that a re-delivered year replaces that year's rows exactly."""
    if table.name not in FULL_DELIVERY_TABLES:
        raise ValueError(f"{table.name} is not kept as a whole delivery (mode full)")
    stamp = now()
    good = checked.good_rows()
    conn.execute(
        f"UPDATE raw.{table.name} SET _valid_to = ? WHERE _valid_to IS NULL AND "
        f"_row_hash NOT IN (SELECT _row_hash FROM ({good}))",
        [stamp],
    )
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    before = conn.execute(f"SELECT COUNT(*) FROM raw.{table.name}").fetchall()[0][0]
    conn.execute(
        f"INSERT INTO raw.{table.name} ({columns}, _load_id, _loaded_at, _source, _row_hash, "
        f"_extra, _valid_from, _valid_to) SELECT DISTINCT ON (_row_hash) {columns}, ?, ?, ?, "
        f"_row_hash, _extra, ?, NULL FROM ({good}) WHERE _row_hash NOT IN "
        f"(SELECT _row_hash FROM raw.{table.name} WHERE _valid_to IS NULL)",
        [load_id, stamp, batch.source, stamp],
    )
    return conn.execute(f"SELECT COUNT(*) FROM raw.{table.name}").fetchall()[0][0] - before


@dataclass
class Staged:
    """A delivery checked into the `landing` schema, waiting for its load's transaction."""

    table: Table
    checked: Checked
    drift: list[str]
    last: Batch  # the delivery's last chunk: its watermark and details
    watermark_before: str | None
    started: float
    watermark_after: str | None = None


def stage_chunks(
    conn, chunks: Iterable[Batch], load_id: str, watermark_before: str | None = None
) -> Staged:
    """Check one delivery that arrives in chunks (consecutive batches of one table from one
    source) into the `landing` schema; call it outside a transaction (module docstring)."""
    started = time.monotonic()
    chunks = iter(chunks)
    first = next(chunks)
    table = load_contract().table(first.table)
    source_hash = first.details.get("sha256") if first.mode == "file" else None
    delivery = itertools.chain([first], chunks)
    checked, drift, last = check_chunks(conn, delivery, load_id, source_hash)
    if last.mode != "full":  # a whole delivery is compared with raw whole (replace_delivery)
        find_first_copies(conn, checked)
    if source_hash:  # a file's rows are versions of that delivery: name and content
        last.source = f"{last.source}@{source_hash}"
    staged = Staged(table, checked, drift, last, watermark_before, started)
    staged.watermark_after = watermark_after(conn, staged)
    return staged


def watermark_after(conn, staged: Staged) -> str | None:
    """The cursor value a delivery brings its table up to: the highest value among the rows
    it lands (a quarantined row's value may be garbage), never beyond the source's clock at
    the start of the extraction (a row stamped later comes from a wrong clock: it is landed and
    flagged, but moving the watermark there would skip every genuine later change), and never
    below the watermark before (a look-back re-reads older rows). Connectors that track their
    own watermark (no cursor on the batch) keep theirs."""
    last = staged.last
    if last.cursor is None or last.mode != "incremental":
        return last.watermark or staged.watermark_before
    column = f'"{last.cursor}"'
    cap = f"AND {column} <= TRY_CAST(? AS TIMESTAMP)" if last.source_now else ""
    is_time = staged.table.column(last.cursor).kind == "ts"
    params = [last.source_now] if last.source_now and is_time else []
    (highest,) = conn.execute(
        f"SELECT max({column}) FROM ({staged.checked.good_rows()}) "
        f"WHERE {column} IS NOT NULL {cap if is_time else ''}",
        params,
    ).fetchall()[0]
    return later_mark(render_mark(highest), staged.watermark_before)


def render_mark(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def later_mark(a: str | None, b: str | None) -> str | None:
    """The later of two watermarks (numbers compared as numbers, timestamps as text)."""
    if a is None or b is None:
        return a or b
    if a.isdigit() and b.isdigit():
        return str(max(int(a), int(b)))
    return max(a, b)


def flag_future_rows(conn, staged: Staged, load_id: str) -> int:
    """New versions this load landed whose change time lies beyond the source's clock at
    extraction: counted, and raised as a `future_timestamp` alert naming an example key.
    Re-reading them later (they stay above the watermark) lands nothing new and alerts nothing."""
    last = staged.last
    if not (last.cursor and last.source_now) or staged.table.column(last.cursor).kind != "ts":
        return 0
    key = " || '|' || ".join(f'CAST("{k}" AS VARCHAR)' for k in staged.table.key)
    count, example, latest = conn.execute(
        f'SELECT count(*), min({key}), max("{last.cursor}") FROM raw.{staged.table.name} '
        f'WHERE _load_id = ? AND "{last.cursor}" > TRY_CAST(? AS TIMESTAMP)',
        [load_id, last.source_now],
    ).fetchall()[0]
    if count:
        conn.execute(
            "INSERT INTO meta.alerts VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                now(), last.system, last.table, "warning", "future_timestamp",
                f"{last.system}.{last.table}: {count} row(s) stamped {last.cursor} after the "
                f"source's clock ({last.source_now}), up to {latest} (e.g. key {example}); "
                "landed, not used as the watermark",
                load_id,
            ],
        )  # fmt: skip
    return count


def land_checked(conn, staged: Staged, load_id: str) -> TableResult:
    """Land a staged delivery inside the caller's transaction: its drift and quarantine
    records, its rows de-duplicated into new versions, its audit row."""
    table, checked, last = staged.table, staged.checked, staged.last
    record_checks(conn, checked, last.system, last.table, staged.drift, load_id)
    if last.mode == "full":
        new_versions = replace_delivery(conn, checked, table, last, load_id)
    else:
        new_versions = insert_new_versions(conn, checked, table, last, load_id)
    result = TableResult(
        system=last.system,
        table=last.table,
        mode=last.mode,
        source=last.source,
        rows_read=checked.rows,
        rows_landed=checked.rows - checked.bad_count,
        rows_new_versions=new_versions,
        rows_quarantined=checked.bad_count,
        watermark_before=staged.watermark_before,
        watermark_after=staged.watermark_after,
        drift=staged.drift,
    )
    future = flag_future_rows(conn, staged, load_id)
    if future:
        result.note = f"{future} row(s) stamped after the source's clock"
    result.seconds = time.monotonic() - staged.started
    record(conn, result, load_id)
    return result


def record(conn, result: TableResult, load_id: str) -> None:
    """The load audit row, after checking that nothing was lost on the way."""
    if result.rows_read != result.rows_landed + result.rows_quarantined:
        raise ReconciliationError(
            f"{result.system}.{result.table}: read {result.rows_read} rows but landed "
            f"{result.rows_landed} and quarantined {result.rows_quarantined}"
        )
    conn.execute(
        "INSERT INTO meta.load_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            result.system,
            result.table,
            result.mode,
            result.source,
            result.rows_read,
            result.rows_landed,
            result.rows_new_versions,
            result.rows_quarantined,
            round(result.seconds, 3),
            result.watermark_before,
            result.watermark_after,
            now(),
        ],
    )
