"""The sharing snapshot: what the service and 回流 need of the warehouse, and no more.

Built after each publish from the working warehouse's marts and its restricted identity vault
(read under the warehouse's writer lock, as the publish reads it) into a new SQLite file,
readable by its owner only (0600), then swapped in with an atomic `os.replace`: a reader
holds the old file open until it is done, and the next request opens the new one.

It holds, per resource that a grant names (shared resources only): the subject's
pseudonymous key, its region, and the granted fields as they leave the platform (L3/L4
masked by the catalogue's rule; the unmasked value only for a field some grant names
`unmasked`, and only for the rows in that grant's region scope). For existence, region and
verification: every person with a keyed digest of the name (never the name), the
enterprises' public registration and the certificates' validity. Never an identity number
or a name in clear unless a grant names it unmasked.

SQLite rather than DuckDB: the service answers point look-ups by key, which SQLite does in
microseconds from any number of reading processes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from groundfloor.settings import duckdb_settings
from groundfloor.warehouse import writer_lock
from sharing.catalogue import Catalogue, Resource
from sharing.masking import masked
from sharing.registry import Grant

WAREHOUSE_SCHEMAS = ("main_marts", "main_restricted")
BATCH = 50_000


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: str
    path: Path
    as_of_date: str | None
    published_snapshot_id: str | None
    rows: dict[str, int]


def name_digest(identity_key: str, person_key: str, name: str) -> str:
    """A keyed digest of a person's name: 人证一致 is checked without the snapshot holding a
    name, and without the key a digest cannot be tried against a list of names."""
    text = f"{identity_key}|name|{person_key}|{name.strip()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def table_name(resource_code: str) -> str:
    return f"r_{resource_code}"


ALL_REGIONS = None  # an unmasked grant without a region scope
Unmasked = frozenset | None


def needed_fields(resource: Resource, grants: list[Grant]) -> dict[str, Unmasked]:
    """The fields of `resource` some grant names, each with the regions whose rows some grant
    names it unmasked for: empty when none does, None for every region."""
    needed: dict[str, Unmasked] = {}
    for grant in grants:
        if grant.resource != resource.code:
            continue
        for granted in grant.fields:
            regions = needed.get(granted.name, frozenset())
            if granted.unmasked and regions is not ALL_REGIONS:
                scope = grant.region_scope
                regions = regions | frozenset(scope) if scope else ALL_REGIONS
            needed[granted.name] = regions
    # an unconditional resource is open to every consumer's queries, which need a subject
    if resource.share_type == "无条件共享" and resource.subject != "none":
        for field in resource.fields:
            if field.level != "L4":
                needed.setdefault(field.name, frozenset())
    return needed


def build_snapshot(
    warehouse: Path,
    target: Path,
    catalogue: Catalogue,
    grants: list[Grant],
    identity_key: str,
    published: Path | None = None,
) -> SnapshotInfo:
    """Build the snapshot from `warehouse` and swap it in at `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    snapshot_id = uuid.uuid4().hex
    staging = target.with_name(f".{target.name}.{snapshot_id}")
    # created 0600 before a byte is written: the file is never readable by others
    os.close(os.open(staging, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
    rows: dict[str, int] = {}
    try:
        with writer_lock(Path(warehouse), "sharing snapshot"):
            source = duckdb.connect(
                str(warehouse), read_only=True, config=duckdb_settings().config()
            )
            out = sqlite3.connect(staging)
            try:
                as_of = _copy_all(source, out, catalogue, grants, identity_key, rows)
                published_id = _published_id(published)
                out.execute(
                    "CREATE TABLE snapshot_info (snapshot_id TEXT, built_at TEXT, as_of_date TEXT,"
                    " published_snapshot_id TEXT)"
                )
                out.execute(
                    "INSERT INTO snapshot_info VALUES (?, ?, ?, ?)",
                    [snapshot_id, dt.datetime.now(dt.UTC).isoformat(), as_of, published_id],
                )
                out.commit()
            finally:
                out.close()
                source.close()
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return SnapshotInfo(snapshot_id, target, as_of, published_id, rows)


def _published_id(published: Path | None) -> str | None:
    if published is None or not Path(published).exists():
        return None
    conn = duckdb.connect(str(published), read_only=True)
    try:
        return conn.execute("SELECT snapshot_id FROM main_reference.snapshot_info").fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        conn.close()


def _copy_all(source, out, catalogue, grants, identity_key, rows) -> str | None:
    schemas = _schemas_of_models(source)
    for resource in catalogue.resources:
        fields = needed_fields(resource, grants)
        if resource.shared and fields:
            rows[resource.code] = _copy_resource(source, out, schemas, resource, fields)
    rows["persons"] = _copy_persons(source, out, schemas, identity_key)
    rows["enterprises"] = _copy_enterprises(source, out, schemas)
    rows["certificates"] = _copy_certificates(source, out, schemas)
    as_of = source.execute(f"SELECT max(as_of_date) FROM {schemas['person_file']}.person_file")
    value = as_of.fetchone()[0]
    return value.isoformat() if value else None


def _schemas_of_models(source) -> dict[str, str]:
    found = source.execute(
        "SELECT table_name, schema_name FROM duckdb_tables() "
        "WHERE schema_name IN (SELECT unnest(?))",
        [list(WAREHOUSE_SCHEMAS)],
    ).fetchall()
    return {table: schema for table, schema in found}


def _region_sql(resource: Resource, schemas: dict[str, str]) -> tuple[str, str]:
    """(join, expression) giving each row's region: a person's hukou region, an enterprise's
    registered region, or the resource's own region column."""
    if resource.subject == "person":
        join = f"LEFT JOIN {schemas['person_file']}.person_file AS region_source USING (person_key)"
        return join, "region_source.hukou_region_code"
    if resource.subject == "enterprise":
        join = (
            f"LEFT JOIN {schemas['enterprise_file']}.enterprise_file AS region_source "
            "USING (enterprise_key)"
        )
        return join, "region_source.region_code"
    return "", f"m.{resource.region_column}" if resource.region_column else "NULL"


def _copy_resource(source, out, schemas, resource: Resource, fields: dict[str, Unmasked]) -> int:
    key = resource.subject_key
    join, region = _region_sql(resource, schemas)
    joins, selects, columns = [join], [], []
    aliases: dict[str, str] = {}
    for name in fields:
        field = resource.field(name)
        alias = "m" if field.model == resource.model else aliases.get(field.model)
        if alias is None:
            alias = aliases[field.model] = f"j{len(aliases)}"
            joins.append(f"LEFT JOIN {schemas[field.model]}.{field.model} AS {alias} USING ({key})")
        selects.append(f"{alias}.{field.column}")
    type_column = "m.certificate_type" if resource.model == "certificate_validity" else "NULL"
    where = " AND ".join(f"m.{column} = '{value}'" for column, value in resource.where) or "TRUE"
    subject = f"m.{key}" if key else "NULL"
    query = (
        f"SELECT {subject}, {region}, {type_column}, {', '.join(selects)} "
        f"FROM {schemas[resource.model]}.{resource.model} AS m {' '.join(joins)} WHERE {where}"
    )
    for name, unmasked in fields.items():
        columns.append(f'"{name}"')
        if unmasked != frozenset() and resource.field(name).mask:
            columns.append(f'"{name}__unmasked"')
    table = table_name(resource.code)
    out.execute(
        f"CREATE TABLE {table} (_subject TEXT, _region TEXT, _type TEXT, {', '.join(columns)})"
    )
    placeholders = ", ".join("?" * (3 + len(columns)))
    result = source.execute(query)
    count = 0
    while batch := result.fetchmany(BATCH):
        shaped = [_shape_row(resource, fields, row) for row in batch]
        out.executemany(f"INSERT INTO {table} VALUES ({placeholders})", shaped)
        count += len(shaped)
    out.execute(f"CREATE INDEX {table}_subject ON {table} (_subject)")
    out.execute(f"CREATE INDEX {table}_region ON {table} (_region)")
    return count


def _shape_row(resource: Resource, fields: dict[str, Unmasked], row: tuple) -> list:
    shaped = list(row[:3])
    region = row[1]
    for (name, unmasked), value in zip(fields.items(), row[3:], strict=True):
        value = _plain(value)
        rule = resource.field(name).mask
        shaped.append(masked(rule, value) if rule else value)
        if unmasked != frozenset() and rule:
            # outside every unmasked grant's scope the clear value is not kept
            shaped.append(value if unmasked is ALL_REGIONS or region in unmasked else None)
    return shaped


def _plain(value):
    """Dates and timestamps as ISO text, decimals as floats: what JSON and CSV carry."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is not None and not isinstance(value, int | float | str | bool):
        return float(value) if hasattr(value, "as_integer_ratio") else str(value)
    return value


def _copy_persons(source, out, schemas, identity_key: str) -> int:
    """Every person of 一人一档 with the hukou region (existence and a district's scope) and,
    for residents of the population base, the digest of the name (人证一致)."""
    out.execute("CREATE TABLE persons (person_key TEXT PRIMARY KEY, region TEXT, name_digest TEXT)")
    result = source.execute(
        "SELECT p.person_key, p.hukou_region_code, CASE WHEN p.is_resident THEN v.name END "
        f"FROM {schemas['person_file']}.person_file AS p "
        f"LEFT JOIN {schemas['identity_persons']}.identity_persons AS v USING (person_key)"
    )
    count = 0
    while batch := result.fetchmany(BATCH):
        digests = [
            (key, region, name_digest(identity_key, key, name) if name else None)
            for key, region, name in batch
        ]
        out.executemany("INSERT INTO persons VALUES (?, ?, ?)", digests)
        count += len(digests)
    return count


def _copy_enterprises(source, out, schemas) -> int:
    out.execute(
        "CREATE TABLE enterprises (enterprise_key TEXT PRIMARY KEY, region TEXT, entity_name TEXT,"
        " registration_status TEXT, is_registered INTEGER)"
    )
    result = source.execute(
        "SELECT enterprise_key, region_code, entity_name, registration_status, is_registered "
        f"FROM {schemas['enterprise_file']}.enterprise_file"
    )
    count = 0
    while batch := result.fetchmany(BATCH):
        out.executemany("INSERT INTO enterprises VALUES (?, ?, ?, ?, ?)", batch)
        count += len(batch)
    return count


def _copy_certificates(source, out, schemas) -> int:
    out.execute(
        "CREATE TABLE certificates (holder_key TEXT, certificate_type TEXT, valid_from TEXT,"
        " valid_to TEXT, recorded_status TEXT)"
    )
    result = source.execute(
        "SELECT coalesce(person_key, enterprise_key), certificate_type, valid_from, valid_to, "
        f"recorded_status FROM {schemas['certificate_validity']}.certificate_validity "
        "WHERE coalesce(person_key, enterprise_key) IS NOT NULL"
    )
    count = 0
    while batch := result.fetchmany(BATCH):
        out.executemany(
            "INSERT INTO certificates VALUES (?, ?, ?, ?, ?)",
            [[_plain(v) for v in row] for row in batch],
        )
        count += len(batch)
    out.execute("CREATE INDEX certificates_holder ON certificates (holder_key, certificate_type)")
    return count


class SnapshotReader:
    """The current snapshot for the service: reopened when the file at `path` is replaced.

    A request takes `connection()` once and keeps it to the end, so a swap during the request
    changes nothing for it (the replaced file lives on while it is open). Each thread of the
    worker (requests run in its thread pool) has its own connection and its own `info`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()

    @property
    def info(self) -> dict:
        """snapshot_info of the snapshot this thread's connection reads."""
        return getattr(self._local, "info", {})

    def connection(self) -> sqlite3.Connection:
        stat = os.stat(self.path)
        identity = (stat.st_ino, stat.st_mtime_ns)
        local = self._local
        if identity != getattr(local, "identity", None) or getattr(local, "conn", None) is None:
            conn = sqlite3.connect(
                f"file:{self.path.resolve()}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM snapshot_info").fetchone()
            old = getattr(local, "conn", None)
            local.conn, local.identity, local.info = conn, identity, dict(row)
            if old is not None:
                old.close()
        return local.conn

    def tables(self) -> set[str]:
        found = self.connection().execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in found}
