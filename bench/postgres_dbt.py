"""The dbt project on PostgreSQL: the peer of the DuckDB build in the scale benchmark.

    python -m bench.postgres_dbt --warehouse W --database D [--as-of DATE] [--drop]

Given a DuckDB warehouse that the ingestion has loaded (its raw layer and the ingestion's
bookkeeping), `build_on_postgres` creates the PostgreSQL database D afresh, copies into it
every table the project's dbt sources read (same schema and table names, lower-case columns,
types mapped one to one; streamed in chunks through COPY, so a table need not fit in memory),
tunes the database (settings that need no server restart, indexes on the source keys,
ANALYZE), then runs `dbt build --target pg` (seeds, models, data and unit tests, as on
DuckDB) in a child process and times it: wall seconds and the dbt process's peak RSS. The
PostgreSQL server's own processes are not in that RSS.

The SQL differs from DuckDB's only through the adapter-dispatched macros (`postgres__*` in
dbt_project/macros; `transform.project.adapter_overrides` lists them, the report must show
them) and dbt's cross-database macros. docs/warehouse.md ("The build on PostgreSQL") describes
the port.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import queue
import re
import sys
import threading
import time
from pathlib import Path

from transform.dbt import dbt_environment
from transform.project import adapter_overrides, source_tables, timed_dbt

ROWS_PER_CHUNK = 200_000
# Settings of the peer database (ALTER DATABASE ... SET: no restart, every new session).
# The machine of the benchmark: 2 cores, 23 GiB; the server keeps its shared_buffers
# (128 MB here), which only a restart could change.
DATABASE_SETTINGS = {
    "work_mem": "512MB",  # sorts and hashes of the window functions and joins in memory
    "hash_mem_multiplier": "2",
    "maintenance_work_mem": "1GB",  # index builds
    "max_parallel_workers_per_gather": "2",  # the machine's 2 cores
    "effective_cache_size": "16GB",
    "random_page_cost": "1.1",  # SSD
    "synchronous_commit": "off",  # dbt commits once per model; a crash loses only a rebuild
    "jit": "off",  # the identity expressions are large: compiling them costs more than it saves
    # The staging views' `row_number() ... = 1` filters are estimated at a few rows, so the
    # planner chose nested loops over whole views (fct_help_sessions: 4.5 s on 2,000 people,
    # 0.06 s with hash joins). The models join on equality only: hash and merge joins.
    "enable_nestloop": "off",
    "default_statistics_target": "100",
}


class PostgresBuildFailed(RuntimeError):
    pass


def connection_settings() -> dict:
    """Where the peer runs (the same variables the pg target of profiles.yml reads)."""
    return {
        "host": os.environ.get("PG_DBT_HOST", "127.0.0.1"),
        "port": int(os.environ.get("PG_DBT_PORT", "5432")),
        "user": os.environ.get("PG_DBT_USER", "postgres"),
        "password": os.environ.get("PG_DBT_PASSWORD", "") or None,
    }


def connect(database: str, autocommit: bool = False):
    import psycopg

    return psycopg.connect(dbname=database, autocommit=autocommit, **connection_settings())


# ── what the project reads and what it overrides ───────────────────────────────────────────


# ── the copy ──────────────────────────────────────────────────────────────────────────────────

_TYPES = {
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39, 0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "JSON": "json",  # json keeps the text as DuckDB holds it (jsonb would respell it)
    "UUID": "uuid",
}


def postgres_type(duckdb_type: str) -> str:
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duckdb_type)
    if decimal:
        return f"numeric({decimal.group(1)}, {decimal.group(2)})"
    if duckdb_type not in _TYPES:
        raise ValueError(f"no PostgreSQL type for the DuckDB type {duckdb_type}")
    return _TYPES[duckdb_type]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_keys(table: str) -> tuple[str, ...]:
    """The business key of a raw table (the contract), or () for the bookkeeping tables."""
    from contract.sources import load_contract

    for candidate in load_contract().tables():
        if candidate.name == table:
            return tuple(candidate.key)
    return ()


# The bookkeeping tables the staging models join or filter on.
META_INDEXES = {"quarantine": ("table_name", "row_key"), "files": ("system", "month")}


def _csv_chunks(duck, schema: str, table: str, columns: list[tuple[str, str]], out: queue.Queue):
    """Producer: the table as CSV blocks of ROWS_PER_CHUNK rows (None at the end). NULL is
    an unquoted empty field, '' a quoted one, as PostgreSQL's CSV COPY reads them."""
    import pyarrow.csv as pacsv

    try:
        select = ", ".join(
            f"CAST({_quote(c)} AS VARCHAR)" if t == "JSON" else _quote(c) for c, t in columns
        )
        relation = duck.sql(f"SELECT {select} FROM {schema}.{_quote(table)}")
        reader = relation.to_arrow_reader(batch_size=ROWS_PER_CHUNK)
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        for batch in reader:
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            out.put((batch.num_rows, buffer.getvalue()))
        out.put(None)
    except BaseException as error:  # handed to the consumer, which raises it
        out.put(error)


def copy_table(duck, pg, schema: str, table: str) -> int:
    """Create `schema.table` in PostgreSQL and COPY the DuckDB table into it; rows copied.
    Created and filled in one transaction, so COPY FREEZE writes the rows already frozen (no
    hint-bit writes when the build first reads them); unlogged: a benchmark copy."""
    columns = duck.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    if not columns:
        raise ValueError(f"{schema}.{table} is not in the warehouse")
    definition = ", ".join(f"{_quote(c.lower())} {postgres_type(t)}" for c, t in columns)
    blocks: queue.Queue = queue.Queue(maxsize=2)
    producer = threading.Thread(
        target=_csv_chunks, args=(duck.cursor(), schema, table, columns, blocks), daemon=True
    )
    producer.start()
    rows = 0
    with pg.transaction(), pg.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        cur.execute(f"CREATE UNLOGGED TABLE {_quote(schema)}.{_quote(table)} ({definition})")
        with cur.copy(
            f"COPY {_quote(schema)}.{_quote(table)} FROM STDIN (FORMAT csv, FREEZE true)"
        ) as copy:
            while (item := blocks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                rows += item[0]
                copy.write(item[1])
    producer.join()
    return rows


def create_database(database: str) -> None:
    """Drop and create `database`: UTF8 with the C collation, so that text sorts and compares
    by code point as in DuckDB (max(), min(), ORDER BY and < on text give the same answers)."""
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {_quote(database)} WITH (FORCE)")
        admin.execute(
            f"CREATE DATABASE {_quote(database)} TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
        )
        for name, value in DATABASE_SETTINGS.items():
            admin.execute(f"ALTER DATABASE {_quote(database)} SET {name} = '{value}'")


def drop_database(database: str) -> None:
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {_quote(database)} WITH (FORCE)")


def load(warehouse: Path, database: str) -> dict:
    """Create `database` and copy the tables the dbt sources read; index and analyse them."""
    import duckdb

    create_database(database)
    tables = source_tables()
    started = time.perf_counter()
    rows: dict[str, int] = {}
    with duckdb.connect(str(warehouse), read_only=True) as duck, connect(database, True) as pg:
        for schema, table in tables:
            rows[f"{schema}.{table}"] = copy_table(duck, pg, schema, table)
    copy_seconds = time.perf_counter() - started
    indexes = []
    with connect(database, autocommit=True) as pg:
        for schema, table in tables:
            keys = table_keys(table) if schema == "raw" else META_INDEXES.get(table, ())
            if keys:
                columns = ", ".join(_quote(k.lower()) for k in keys)
                name = _quote(f"{table}__key")
                pg.execute(f"CREATE INDEX {name} ON {_quote(schema)}.{_quote(table)} ({columns})")
                indexes.append(f"{schema}.{table} ({', '.join(k.lower() for k in keys)})")
        pg.execute("ANALYZE")
    return {
        "tables": len(tables),
        "rows": sum(rows.values()),
        "rows_by_table": rows,
        "copy_seconds": round(copy_seconds, 2),
        "load_seconds": round(time.perf_counter() - started, 2),
        "indexes": indexes,
    }


# ── the build ─────────────────────────────────────────────────────────────────────────────────


def run_build(
    database: str, as_of: dt.date | None, work: Path, warehouse: Path, *args: str
) -> dict:
    """`dbt build --target pg` in a child process (transform.project.timed_dbt): wall
    seconds, dbt's peak RSS (the server's processes are not in it), exit code and the node
    timings. Its target and log folders are `work`'s, so a DuckDB build of the same project
    can run meanwhile."""
    env = {**dbt_environment(warehouse, "pg"), "PG_DBT_DATABASE": database}
    built = timed_dbt("build", "pg", work, env, as_of, *args)
    built["dbt_peak_rss_mib"] = built.pop("peak_rss_mib")
    return built


def server() -> dict:
    with connect("postgres", autocommit=True) as admin:
        version = admin.execute("SHOW server_version").fetchone()[0]
        shared_buffers = admin.execute("SHOW shared_buffers").fetchone()[0]
    return {"version": version, "shared_buffers": shared_buffers}


def build_on_postgres(
    warehouse: Path,
    database: str,
    as_of: dt.date | None = None,
    work: Path | None = None,
    check: bool = True,
) -> dict:
    """Load `warehouse`'s source tables into a fresh PostgreSQL `database` and run the dbt
    build there (as of `as_of`, as the DuckDB build's var as_of_date: the day before the run).
    Returns load and build figures, the tuning applied and the overrides; raises
    PostgresBuildFailed when dbt fails (unless check=False)."""
    warehouse = Path(warehouse).resolve()
    work = Path(work) if work else warehouse.parent / f"postgres-{database}"
    loaded = load(warehouse, database)
    built = run_build(database, as_of, work, warehouse)
    report = {
        "database": database,
        "server": server(),
        "as_of": as_of.isoformat() if as_of else None,
        "load": loaded,
        "load_seconds": loaded["load_seconds"],
        **built,
        "tuning": {
            "database_settings": DATABASE_SETTINGS,
            "collation": "C (code-point order, as DuckDB)",
            "source_tables": "unlogged, filled with COPY FREEZE in their creating transaction",
            "indexes": loaded["indexes"],
            "analyze": True,
        },
        "overrides": adapter_overrides("postgres"),
        "cross_database_macros": ["dbt.dateadd", "dbt.listagg"],
    }
    if check and built["dbt_exit_code"] != 0:
        tail = Path(built["dbt_log"]).read_text(encoding="utf-8")[-4000:]
        raise PostgresBuildFailed(f"dbt build on PostgreSQL {database} failed:\n{tail}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="a loaded DuckDB warehouse")
    parser.add_argument("--database", required=True, help="PostgreSQL database (recreated)")
    parser.add_argument(
        "--as-of", type=dt.date.fromisoformat, help="the build's as_of_date (default: today)"
    )
    parser.add_argument("--work", type=Path, help="dbt target and logs (default: by the warehouse)")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    args = parser.parse_args(argv)
    try:
        report = build_on_postgres(args.warehouse, args.database, args.as_of, args.work)
    finally:
        if args.drop:
            drop_database(args.database)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
