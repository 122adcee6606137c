"""Delivery of the exchange databases into real PostgreSQL and MariaDB servers.

In production the departments' 前置库 are PostgreSQL (case platform, population base) or
MariaDB (certificate library, legal-entity base) databases. ``--target SYSTEM=URL`` makes
the simulator copy a system's SQLite exchange file (``DIR/exchange/<system>.sqlite``) into
such a server, so that the pipeline can be run against the real thing:

- PostgreSQL (``postgresql://`` or ``postgresql+psycopg://``): the tables live in the
  schema ``SCHEMA_OF_SYSTEM[system]`` (``qzk_zw``, ``qzk_rk``, ...) of the URL's database;
  bulk loads use ``COPY ... FROM STDIN``.
- MariaDB / MySQL (``mysql+pymysql://`` or ``mysql://``): the tables live in the URL's
  database (``SCHEMA_OF_SYSTEM[system]`` if the URL names none), created with ``utf8mb4``
  if missing; bulk loads use multi-row ``INSERT`` in batches.

Tables are copied with the columns the SQLite table actually has (schema drift, D11):
contract columns get the contract's types (:func:`simulator.schema.column_sql_type`),
unknown columns ``VARCHAR(200)``. Like the departments' exchange tables they carry no
keys or constraints: duplicate rows are real and are copied as they are.

:func:`load_system` replaces a system's tables wholesale (idempotent). :func:`sync_changes`
applies what an ``advance`` changed, key by key, in one transaction per system.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from contract import Column, Table, load_contract
from simulator.schema import EXCHANGE_SYSTEMS, SCHEMA_OF_SYSTEM, column_sql_type

__all__ = [
    "WHOLESALE_TABLES",
    "key_text",
    "load_system",
    "load_targets",
    "parse_targets",
    "sync_changes",
]

# Tables a department replaces whole on every delivery (sources.yaml, `change`): a sync
# reloads them entirely instead of key by key.
WHOLESALE_TABLES = {
    "population_base": frozenset({"rk_jbxx", "jhkz"}),
    "legal_entity_base": frozenset({"fr_ndxx"}),
}

CHANGE_KINDS = frozenset({"added", "changed", "deleted"})
EXTRA_COLUMN_TYPE = "VARCHAR(200)"  # a column added by schema drift (D11)
FETCH_ROWS = 5000  # rows read from SQLite at a time
MYSQL_BATCH_ROWS = 5000  # rows per executemany (pymysql folds them into multi-row INSERTs)
CONNECT_TIMEOUT = 15

_SCHEMES = {
    "postgresql": "postgresql",
    "postgresql+psycopg": "postgresql",
    "mysql": "mysql",
    "mysql+pymysql": "mysql",
}
_STAGING_SUFFIX = "__sim_new"
_RETIRED_SUFFIX = "__sim_old"
_MYSQL_SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
_MYSQL_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

# progress(system, table, rows): called once per table when it has been written.
Progress = Callable[[str, str, int], None]


# --------------------------------------------------------------------------- targets


def parse_targets(specs: Iterable[str]) -> dict[str, str]:
    """Parse CLI values ``SYSTEM=URL`` into ``{system: url}``.

    Raises ValueError naming the offending item: no ``=``, an unknown system (the message
    lists the valid ones), a system given twice, or a URL that is not
    ``postgresql://``, ``postgresql+psycopg://``, ``mysql+pymysql://`` or ``mysql://``.
    """
    targets: dict[str, str] = {}
    for item in specs:
        system, sep, url = item.partition("=")
        system, url = system.strip(), url.strip()
        if not sep or not system or not url:
            raise ValueError(f"--target {item!r}: expected SYSTEM=URL")
        if system not in SCHEMA_OF_SYSTEM:
            raise ValueError(
                f"--target {item!r}: unknown system {system!r}; "
                f"valid systems are {', '.join(EXCHANGE_SYSTEMS)}"
            )
        if system in targets:
            raise ValueError(f"--target {item!r}: system {system!r} is given more than once")
        try:
            _Target.parse(system, url)
        except ValueError as exc:
            raise ValueError(f"--target {item!r}: {exc}") from None
        targets[system] = url
    return targets


@dataclass(frozen=True)
class _Target:
    """Where one system goes: dialect, connection parameters and namespace."""

    system: str
    dialect: str  # postgresql | mysql
    host: str | None
    port: int | None
    user: str | None
    password: str | None
    database: str | None  # PostgreSQL: the database; MariaDB: the database holding tables
    namespace: str  # PostgreSQL: the schema; MariaDB: the database
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, system: str, url: str) -> _Target:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in _SCHEMES:
            raise ValueError(
                f"unsupported URL {url!r}: it must start with postgresql://, "
                "postgresql+psycopg://, mysql+pymysql:// or mysql://"
            )
        dialect = _SCHEMES[scheme]
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in URL {url!r}: {exc}") from None
        database = unquote(parts.path.lstrip("/")) or None
        if database and "/" in database:
            raise ValueError(f"bad database name {database!r} in URL {url!r}")
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        if dialect == "mysql":
            unknown = set(options) - {"unix_socket", "charset"}
            if unknown:
                raise ValueError(f"unsupported option(s) {sorted(unknown)} in URL {url!r}")
            if options.get("charset", "utf8mb4").lower() != "utf8mb4":
                raise ValueError(f"URL {url!r}: only charset=utf8mb4 is supported")
            namespace = database or SCHEMA_OF_SYSTEM[system]
        else:
            namespace = SCHEMA_OF_SYSTEM[system]
        return cls(
            system=system,
            dialect=dialect,
            host=unquote(parts.hostname) if parts.hostname else None,
            port=port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            database=database,
            namespace=namespace,
            options=options,
        )

    def connect(self) -> Any:
        if self.dialect == "postgresql":
            import psycopg

            params: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, **self.options}
            for name in ("host", "port", "user", "password"):
                if getattr(self, name) is not None:
                    params[name] = getattr(self, name)
            if self.database:
                params["dbname"] = self.database
            conn = psycopg.connect(**params)
            encoding = conn.execute("SHOW server_encoding").fetchone()[0]
            if encoding.upper() not in ("UTF8", "UTF-8"):
                conn.close()
                raise ValueError(
                    f"{self.system}: PostgreSQL database {self.database!r} has encoding "
                    f"{encoding}; names outside the BMP need UTF8"
                )
            conn.execute("SET client_encoding TO 'UTF8'")
            conn.execute("SET datestyle TO 'ISO, YMD'")
            conn.commit()
            return conn
        import pymysql

        params = {
            "host": self.host or "localhost",
            "port": self.port or 3306,
            "user": self.user or "root",
            "password": self.password or "",
            "charset": "utf8mb4",
            "autocommit": False,
            "connect_timeout": CONNECT_TIMEOUT,
        }
        if "unix_socket" in self.options:
            params["unix_socket"] = self.options["unix_socket"]
        conn = pymysql.connect(**params)
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = %s", (_MYSQL_SQL_MODE,))
            cur.execute("SET NAMES utf8mb4 COLLATE utf8mb4_bin")
        return conn


# --------------------------------------------------------------------------- SQLite side


@dataclass(frozen=True)
class _Source:
    """One SQLite exchange table as it actually is (contract columns plus any drift)."""

    table: Table
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.table.name

    def sql_types(self, dialect: str) -> list[str]:
        contract = {c.name: c for c in self.table.columns}
        return [
            column_sql_type(contract[c], dialect) if c in contract else EXTRA_COLUMN_TYPE
            for c in self.columns
        ]

    def converters(self) -> list[Callable[[Any], Any]]:
        contract = {c.name: c for c in self.table.columns}
        return [_converter(contract.get(c)) for c in self.columns]

    def key_indexes(self) -> list[int]:
        missing = [k for k in self.table.key if k not in self.columns]
        if missing:
            raise ValueError(
                f"{self.table.system}.{self.name}: key column(s) {', '.join(missing)} "
                "missing from the exchange table"
            )
        return [self.columns.index(k) for k in self.table.key]


def _exchange_file(city_dir: str | Path, system: str) -> Path:
    if system not in SCHEMA_OF_SYSTEM:
        raise ValueError(
            f"unknown system {system!r}; valid systems are {', '.join(EXCHANGE_SYSTEMS)}"
        )
    path = Path(city_dir) / "exchange" / f"{system}.sqlite"
    if (Path(city_dir) / "exchange" / system).is_dir():
        raise ValueError(
            f"{system}: this city's exchange is in Parquet (generate --exchange-format parquet); "
            "loading into a server needs a city generated in SQLite"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{system}: no exchange database at {path}")
    return path


def _open_sqlite(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _sources(lite: sqlite3.Connection, system: str) -> list[_Source]:
    """The system's contract tables with the columns the SQLite file actually has."""
    result = []
    for table in load_contract().systems[system].tables.values():
        info = lite.execute(f"PRAGMA table_info({_q(table.name, 'sqlite')})").fetchall()
        if not info:
            raise ValueError(f"{system}: table {table.name} is missing from the exchange file")
        columns = tuple(row[1] for row in sorted(info, key=lambda r: r[0]))
        result.append(_Source(table=table, columns=columns))
    return result


def _read_rows(
    lite: sqlite3.Connection, source: _Source, keep: Callable[[tuple], bool] | None = None
) -> Iterator[list[tuple]]:
    """The table's rows, converted for the target, in chunks of at most FETCH_ROWS."""
    converters = source.converters()
    cols = ", ".join(_q(c, "sqlite") for c in source.columns)
    cur = lite.execute(f"SELECT {cols} FROM {_q(source.name, 'sqlite')}")
    try:
        while chunk := cur.fetchmany(FETCH_ROWS):
            if keep is not None:
                chunk = [row for row in chunk if keep(row)]
            if chunk:
                yield [tuple(f(v) for f, v in zip(converters, row, strict=True)) for row in chunk]
    finally:
        cur.close()


def _converter(column: Column | None) -> Callable[[Any], Any]:
    """SQLite value -> value for the target column (None: a drift column). NULL stays
    NULL; an empty string is NULL in typed columns (int, dec, date, ts) and kept as it is
    in text columns; decimals are exact at the column's scale."""
    if column is None:
        return _text
    if column.kind in ("int", "date", "ts"):
        return _typed_scalar
    if column.kind == "dec":
        quantum = Decimal(1).scaleb(-(column.scale or 0))

        def convert(value: Any) -> Any:
            number = _decimal(value)
            return None if number is None else number.quantize(quantum, ROUND_HALF_UP)

        return convert
    return _text


def _typed_scalar(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bytes):
        return value.decode("utf-8").strip() or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _decimal(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return Decimal(repr(value))  # shortest decimal text of the stored binary value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    text = str(value).strip()
    return Decimal(text) if text else None


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def key_text(values: Sequence[Any]) -> str:
    """The business key of a row as the simulator writes it: key column values as text
    (NULL as ''), composite keys joined by '|'."""
    return "|".join("" if v is None else str(v) for v in values)


# --------------------------------------------------------------------------- dialect SQL


def _q(identifier: str, dialect: str) -> str:
    if dialect == "mysql":
        return "`" + identifier.replace("`", "``") + "`"
    return '"' + identifier.replace('"', '""') + '"'


def _qualified(target: _Target, table: str) -> str:
    return f"{_q(target.namespace, target.dialect)}.{_q(table, target.dialect)}"


def _create_sql(target: _Target, source: _Source, table_name: str | None = None) -> str:
    d = target.dialect
    cols = ", ".join(
        f"{_q(c, d)} {t}" for c, t in zip(source.columns, source.sql_types(d), strict=True)
    )
    sql = f"CREATE TABLE {_qualified(target, table_name or source.name)} ({cols})"
    return f"{sql} {_MYSQL_TABLE_OPTIONS}" if d == "mysql" else sql


def _insert_rows(cur: Any, target: _Target, table_name: str, source: _Source, chunks) -> int:
    """Write chunks of rows into table_name; returns the number of rows written."""
    d = target.dialect
    cols = ", ".join(_q(c, d) for c in source.columns)
    written = 0
    if d == "postgresql":
        copy_sql = f"COPY {_qualified(target, table_name)} ({cols}) FROM STDIN"
        with cur.copy(copy_sql) as copy:
            for chunk in chunks:
                for row in chunk:
                    copy.write_row(row)
                written += len(chunk)
        return written
    placeholders = ", ".join(["%s"] * len(source.columns))
    sql = f"INSERT INTO {_qualified(target, table_name)} ({cols}) VALUES ({placeholders})"
    batch: list[tuple] = []
    for chunk in chunks:
        batch.extend(chunk)
        if len(batch) >= MYSQL_BATCH_ROWS:
            cur.executemany(sql, batch)
            written += len(batch)
            batch = []
    if batch:
        cur.executemany(sql, batch)
        written += len(batch)
    return written


def _target_columns(cur: Any, target: _Target, table_name: str) -> list[str] | None:
    """The columns of a target table in order, or None if it does not exist."""
    if target.dialect == "postgresql":
        cur.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (target.namespace, table_name),
        )
    else:
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (target.namespace, table_name),
        )
    columns = [row[0] for row in cur.fetchall()]
    return columns or None


def _prepare_namespace(conn: Any, target: _Target) -> None:
    with conn.cursor() as cur:
        if target.dialect == "postgresql":
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(target.namespace, 'postgresql')}")
        else:
            cur.execute(
                f"CREATE DATABASE IF NOT EXISTS {_q(target.namespace, 'mysql')} "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
    if target.dialect == "mysql":
        # Multi-table DELETE resolves its aliases in the default database.
        conn.select_db(target.namespace)


# --------------------------------------------------------------------------- load


def load_system(
    city_dir: str | Path, system: str, url: str, progress: Progress | None = None
) -> dict[str, int]:
    """Copy ``DIR/exchange/<system>.sqlite`` into the target at ``url``, replacing the
    system's tables wholesale (drop and create; a re-run gives the same result).

    PostgreSQL: everything happens in one transaction (DDL included), so readers see the
    old tables or the new ones. MariaDB: the tables are built under staging names and
    swapped in with one atomic ``RENAME TABLE``. Returns ``{table: rows written}``.
    """
    target = _Target.parse(system, url)
    path = _exchange_file(city_dir, system)
    with closing(_open_sqlite(path)) as lite:
        sources = _sources(lite, system)
        conn = target.connect()
        try:
            if target.dialect == "postgresql":
                counts = _load_postgresql(conn, target, lite, sources, progress)
            else:
                counts = _load_mysql(conn, target, lite, sources, progress)
        except BaseException:
            _rollback_quietly(conn)
            raise
        finally:
            conn.close()
    return counts


def _load_postgresql(conn, target, lite, sources, progress) -> dict[str, int]:
    counts: dict[str, int] = {}
    _prepare_namespace(conn, target)
    with conn.cursor() as cur:
        for source in sources:
            cur.execute(f"DROP TABLE IF EXISTS {_qualified(target, source.name)}")
            cur.execute(_create_sql(target, source))
            counts[source.name] = _insert_rows(
                cur, target, source.name, source, _read_rows(lite, source)
            )
            if progress:
                progress(target.system, source.name, counts[source.name])
    conn.commit()
    return counts


def _load_mysql(conn, target, lite, sources, progress) -> dict[str, int]:
    counts: dict[str, int] = {}
    _prepare_namespace(conn, target)
    with conn.cursor() as cur:
        for source in sources:
            staging = source.name + _STAGING_SUFFIX
            cur.execute(f"DROP TABLE IF EXISTS {_qualified(target, staging)}")
            cur.execute(f"DROP TABLE IF EXISTS {_qualified(target, source.name + _RETIRED_SUFFIX)}")
            cur.execute(_create_sql(target, source, staging))
            counts[source.name] = _insert_rows(
                cur, target, staging, source, _read_rows(lite, source)
            )
            conn.commit()
            if progress:
                progress(target.system, source.name, counts[source.name])
        renames, retired = [], []
        for source in sources:
            live = _qualified(target, source.name)
            if _target_columns(cur, target, source.name) is not None:
                old = source.name + _RETIRED_SUFFIX
                renames.append(f"{live} TO {_qualified(target, old)}")
                retired.append(old)
            renames.append(f"{_qualified(target, source.name + _STAGING_SUFFIX)} TO {live}")
        cur.execute("RENAME TABLE " + ", ".join(renames))  # atomic over all pairs
        for old in retired:
            cur.execute(f"DROP TABLE IF EXISTS {_qualified(target, old)}")
    conn.commit()
    return counts


def load_targets(
    city_dir: str | Path, targets: dict[str, str], progress: Progress | None = None
) -> dict[str, dict[str, int]]:
    """Load every system of ``targets`` ({system: url}); returns {system: {table: rows}}.
    An error in one system propagates (systems loaded before it stay loaded)."""
    return {system: load_system(city_dir, system, url, progress) for system, url in targets.items()}


# --------------------------------------------------------------------------- sync


def sync_changes(
    city_dir: str | Path,
    system: str,
    url: str,
    changes: Iterable[tuple[str, str, str]],
) -> dict[str, int]:
    """Apply an ``advance``'s changes of one system to its target.

    ``changes`` holds ``(table_name, key_value, change)`` with change ``added``,
    ``changed`` or ``deleted`` and key_value the business key (composite keys joined by
    '|'). For every key the target's rows of that key are deleted and the SQLite rows of
    that key (none, one or several: duplicates are real) inserted. Tables replaced whole
    on every delivery (:data:`WHOLESALE_TABLES`), tables missing from the target and
    tables whose columns changed (schema drift) are reloaded entirely.

    All data changes of the system happen in one transaction. On PostgreSQL schema changes
    are part of it too; MariaDB cannot roll back DDL, so there a missing table or an added
    column is created just before the transaction and a column that disappeared from the
    exchange file is dropped just after it. Returns ``{table: rows written}`` for every
    table touched.
    """
    target = _Target.parse(system, url)
    tables = load_contract().systems[system].tables
    keys: dict[str, set[str]] = {}
    for item in changes:
        table_name, key_value, change = item
        if table_name not in tables:
            raise ValueError(
                f"{system}: change to unknown table {table_name!r}; "
                f"the system's tables are {', '.join(tables)}"
            )
        if change not in CHANGE_KINDS:
            raise ValueError(
                f"{system}.{table_name} key {key_value!r}: unknown change {change!r}; "
                f"expected one of {', '.join(sorted(CHANGE_KINDS))}"
            )
        keys.setdefault(table_name, set()).add(str(key_value))
    if not keys:
        return {}
    path = _exchange_file(city_dir, system)
    with closing(_open_sqlite(path)) as lite:
        sources = {s.name: s for s in _sources(lite, system) if s.name in keys}
        conn = target.connect()
        try:
            return _sync(conn, target, lite, [sources[t] for t in tables if t in keys], keys)
        except BaseException:
            _rollback_quietly(conn)
            raise
        finally:
            conn.close()


def _sync(conn, target, lite, sources: list[_Source], keys: dict[str, set[str]]) -> dict:
    d = target.dialect
    wholesale = WHOLESALE_TABLES.get(target.system, frozenset())
    _prepare_namespace(conn, target)
    if d == "mysql":
        conn.commit()
    written: dict[str, int] = {}
    full: set[str] = set()
    drop_after: list[tuple[str, str]] = []
    with conn.cursor() as cur:
        # 1. Bring each table's columns in line with the exchange file.
        for source in sources:
            existing = _target_columns(cur, target, source.name)
            if existing is None:
                cur.execute(_create_sql(target, source))
                full.add(source.name)
                continue
            if source.name in wholesale:
                full.add(source.name)
            if list(existing) == list(source.columns):
                continue
            full.add(source.name)
            types = dict(zip(source.columns, source.sql_types(d), strict=True))
            for column in source.columns:
                if column not in existing:
                    cur.execute(
                        f"ALTER TABLE {_qualified(target, source.name)} "
                        f"ADD COLUMN {_q(column, d)} {types[column]}"
                    )
            drop_after.extend((source.name, c) for c in existing if c not in source.columns)
        if d == "mysql":
            conn.commit()  # DDL commits implicitly in MariaDB; the data transaction starts here
        else:
            for table_name, column in drop_after:
                cur.execute(
                    f"ALTER TABLE {_qualified(target, table_name)} DROP COLUMN {_q(column, d)}"
                )
            drop_after = []
        # 2. The data, in one transaction.
        if d == "mysql":
            conn.begin()
        for source in sources:
            if source.name in full:
                cur.execute(f"DELETE FROM {_qualified(target, source.name)}")
                written[source.name] = _insert_rows(
                    cur, target, source.name, source, _read_rows(lite, source)
                )
                continue
            wanted = keys[source.name]
            _delete_keys(cur, target, source, wanted)
            idx = source.key_indexes()

            def keep(row: tuple, idx=idx, wanted=wanted) -> bool:
                return key_text([row[i] for i in idx]) in wanted

            written[source.name] = _insert_rows(
                cur, target, source.name, source, _read_rows(lite, source, keep)
            )
        conn.commit()
        # 3. MariaDB only: columns gone from the exchange file.
        for table_name, column in drop_after:
            cur.execute(f"ALTER TABLE {_qualified(target, table_name)} DROP COLUMN {_q(column, d)}")
    return written


def _delete_keys(cur: Any, target: _Target, source: _Source, wanted: set[str]) -> None:
    """Delete the target rows whose business key is in ``wanted``. The keys go into a
    temporary table and are matched on the key columns' text (byte-exact on MariaDB)."""
    d = target.dialect
    key_cols = source.table.key
    source.key_indexes()  # the key columns must exist
    width = len(key_cols)
    rows = []
    for value in wanted:
        parts = value.split("|", width - 1)
        parts += [""] * (width - len(parts))
        rows.append(tuple(parts))
    live = _qualified(target, source.name)
    if d == "postgresql":
        cur.execute("DROP TABLE IF EXISTS pg_temp._sync_keys")
        cols = ", ".join(f"k{i} text" for i in range(width))
        cur.execute(f"CREATE TEMP TABLE _sync_keys ({cols}) ON COMMIT DROP")
        with cur.copy("COPY _sync_keys FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute("ANALYZE _sync_keys")
        match = " AND ".join(
            f"COALESCE(t.{_q(k, d)}::text, '') = s.k{i}" for i, k in enumerate(key_cols)
        )
        cur.execute(f"DELETE FROM {live} AS t USING _sync_keys AS s WHERE {match}")
        cur.execute("DROP TABLE _sync_keys")
        return
    # MariaDB: a temporary table is not DDL that commits; compare bytes (no collation
    # folding of case or trailing spaces).
    keys_table = _qualified(target, "_sync_keys")  # temporary: this session only
    cur.execute(f"DROP TEMPORARY TABLE IF EXISTS {keys_table}")
    cols = ", ".join(f"k{i} VARBINARY(1024) NOT NULL" for i in range(width))
    index = ", ".join(f"k{i}" for i in range(width))
    cur.execute(f"CREATE TEMPORARY TABLE {keys_table} ({cols}, KEY ({index})) ENGINE=InnoDB")
    placeholders = ", ".join(["%s"] * width)
    encoded = [tuple(p.encode("utf-8") for p in row) for row in rows]
    for start in range(0, len(encoded), MYSQL_BATCH_ROWS):
        cur.executemany(
            f"INSERT INTO {keys_table} VALUES ({placeholders})",
            encoded[start : start + MYSQL_BATCH_ROWS],
        )
    match = " AND ".join(
        f"s.k{i} = IFNULL(CAST(t.{_q(k, d)} AS BINARY), _binary'')" for i, k in enumerate(key_cols)
    )
    cur.execute(f"DELETE t FROM {live} AS t JOIN {keys_table} AS s ON {match}")
    cur.execute(f"DROP TEMPORARY TABLE {keys_table}")


def _rollback_quietly(conn: Any) -> None:
    with suppress(Exception):
        conn.rollback()
