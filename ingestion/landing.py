"""Land a batch in the raw layer: contract check, casts, codes, quarantine, new versions.

Everything here runs inside the caller's transaction (one per system), so a failure anywhere
leaves neither rows nor watermarks behind.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import duckdb
import polars as pl

from contract import Table, load_contract
from ingestion.batch import Batch
from ingestion.masking import mask_value
from ingestion.warehouse import FULL_DELIVERY_TABLES, duck_type

INTERNAL = "_rn"


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
    """A batch after the contract check: typed rows in a temp table, bad rows listed."""

    relation: str  # temp table with typed contract columns, _extra, _row_hash, _rn
    bad_rows: set[int]
    extras: list[str]


def now() -> dt.datetime:
    return dt.datetime.now()


def check_columns(
    conn, batch: Batch, table: Table, load_id: str
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """Missing required columns fail the load; other differences are recorded as drift."""
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
    for change in drift:
        kind, column = change.split(" ", 1)
        conn.execute(
            "INSERT INTO meta.schema_drift VALUES (?, ?, ?, ?, ?, ?)",
            [load_id, batch.system, batch.table, column, kind, now()],
        )
    frame = batch.frame.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in missing])
    return frame.with_row_index(INTERNAL), extras, drift


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


def check_rows(
    conn, batch: Batch, load_id: str, source_hash: str | None = None
) -> tuple[Checked, list[str]]:
    """Cast every column by the contract inside DuckDB; list and quarantine what fails."""
    table = load_contract().table(batch.table)
    frame, extras, drift = check_columns(conn, batch, table, load_id)
    conn.register("incoming_frame", frame.to_arrow())
    select, row_hash = _typed_select(table, extras, source_hash)
    relation = f"typed_{batch.table}"
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT {select} FROM incoming_frame")
    conn.execute(f"ALTER TABLE {relation} ADD COLUMN _row_hash VARCHAR")
    conn.execute(f"UPDATE {relation} SET _row_hash = {row_hash}")
    conn.unregister("incoming_frame")
    violations = conn.execute(_violations_sql(table, relation)).fetchall()
    _quarantine(conn, batch, table, relation, violations, load_id)
    return Checked(relation, {v[0] for v in violations}, extras), drift


def _quarantine(conn, batch: Batch, table: Table, relation: str, violations, load_id: str) -> None:
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
    stamp = now()
    rows = [
        (
            load_id,
            batch.system,
            batch.table,
            batch.source,
            keys[rn][0],
            column,
            rule,
            mask_value(column, raw),
            keys[rn][1],
            keys[rn][2],
            stamp,
        )
        for rn, column, rule, raw in violations
    ]
    conn.executemany("INSERT INTO meta.quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def insert_new_versions(conn, checked: Checked, table: Table, batch: Batch, load_id: str) -> int:
    """Land the rows not quarantined whose version (row hash) the raw table lacks."""
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    before = conn.execute(f"SELECT COUNT(*) FROM raw.{table.name}").fetchall()[0][0]
    conn.execute(
        f"INSERT INTO raw.{table.name} "
        f"({columns}, _load_id, _loaded_at, _source, _row_hash, _extra) "
        f"SELECT {columns}, ?, ?, ?, _row_hash, _extra FROM ("
        f"  SELECT *, row_number() OVER (PARTITION BY _row_hash ORDER BY {INTERNAL}) AS _copy"
        f"  FROM {checked.relation} WHERE {INTERNAL} NOT IN (SELECT UNNEST(?))) AS t "
        f"WHERE _copy = 1 AND _row_hash NOT IN (SELECT _row_hash FROM raw.{table.name}) "
        f"ORDER BY {INTERNAL}",
        [load_id, now(), batch.source, sorted(checked.bad_rows)],
    )
    return conn.execute(f"SELECT COUNT(*) FROM raw.{table.name}").fetchall()[0][0] - before


def replace_delivery(conn, checked: Checked, table: Table, batch: Batch, load_id: str) -> int:
    """A whole delivery (fr_ndxx, jhkz): versions it no longer holds are closed, new ones
    opened, so that a re-delivered year replaces that year's rows exactly."""
    if table.name not in FULL_DELIVERY_TABLES:
        raise ValueError(f"{table.name} is not kept as a whole delivery (mode full)")
    stamp = now()
    good = f"SELECT * FROM {checked.relation} WHERE {INTERNAL} NOT IN (SELECT UNNEST(?))"
    bad = sorted(checked.bad_rows)
    conn.execute(
        f"UPDATE raw.{table.name} SET _valid_to = ? WHERE _valid_to IS NULL AND "
        f"_row_hash NOT IN (SELECT _row_hash FROM ({good}))",
        [stamp, bad],
    )
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    before = conn.execute(f"SELECT COUNT(*) FROM raw.{table.name}").fetchall()[0][0]
    conn.execute(
        f"INSERT INTO raw.{table.name} ({columns}, _load_id, _loaded_at, _source, _row_hash, "
        f"_extra, _valid_from, _valid_to) SELECT DISTINCT ON (_row_hash) {columns}, ?, ?, ?, "
        f"_row_hash, _extra, ?, NULL FROM ({good}) WHERE _row_hash NOT IN "
        f"(SELECT _row_hash FROM raw.{table.name} WHERE _valid_to IS NULL)",
        [load_id, stamp, batch.source, stamp, bad],
    )
    return conn.execute(f"SELECT COUNT(*) FROM raw.{table.name}").fetchall()[0][0] - before


def land(
    conn: duckdb.DuckDBPyConnection, batch: Batch, load_id: str, watermark_before: str | None = None
) -> TableResult:
    """Check and land one batch of an incremental, full or file delivery."""
    started = time.monotonic()
    table = load_contract().table(batch.table)
    source_hash = batch.details.get("sha256") if batch.mode == "file" else None
    checked, drift = check_rows(conn, batch, load_id, source_hash)
    if source_hash:  # a file's rows are versions of that delivery: name and content
        batch.source = f"{batch.source}@{source_hash}"
    if batch.mode == "full":
        new_versions = replace_delivery(conn, checked, table, batch, load_id)
    else:
        new_versions = insert_new_versions(conn, checked, table, batch, load_id)
    result = TableResult(
        system=batch.system,
        table=batch.table,
        mode=batch.mode,
        source=batch.source,
        rows_read=batch.frame.height,
        rows_landed=batch.frame.height - len(checked.bad_rows),
        rows_new_versions=new_versions,
        rows_quarantined=len(checked.bad_rows),
        watermark_before=watermark_before,
        watermark_after=batch.watermark or watermark_before,
        drift=drift,
    )
    result.seconds = time.monotonic() - started
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
