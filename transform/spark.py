"""The dbt project on Apache Spark: the raw layer as open Parquet files, dbt-spark on top.

    python -m transform.spark export   --warehouse W [--lake L]
    python -m transform.spark build    --warehouse W [--lake L] [--work D] [--as-of DATE]

A province that outgrows one machine runs the same project on Spark (docs/spark.md). The raw
layer reaches Spark as files any cluster can read: `export_raw` writes every table the dbt
sources declare (the raw tables and the ingestion's bookkeeping) from the DuckDB warehouse as
Parquet, one folder per table and one Hive-style partition per load:

    <lake>/raw/bj_jbxx/_load_id=case_platform-20261207T183840-1e2137/data_0.parquet
    <lake>/meta/quarantine/load_id=evaluation_hcp-.../data_0.parquet

with the same columns and load metadata as the DuckDB raw layer (`_load_id`, `_loaded_at`,
`_source`, `_row_hash`, `_extra` as JSON text; the partition column lives in the folder name,
as Hive and Spark write it). `register_sources` declares each folder as an external Parquet
table of the Spark catalogue (schema `raw` / `meta`, the columns typed from the warehouse, the
partitions found in the folders when read), and `build_on_spark` runs `dbt build --target
spark` on it: dbt-spark's `session` method, a local Spark session (`local[N]`), a Derby
metastore and a warehouse folder under `work`. The SQL differs from DuckDB's only through the
adapter-dispatched macros (`spark__*` in dbt_project/macros). On a cluster the same folders
live on HDFS or object storage, the metastore is Hive's (or an Iceberg catalogue) and dbt talks
to Kyuubi or the Spark Thrift Server (method `thrift`): docs/spark.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from groundfloor.settings import identity_key
from transform.dbt import DbtFailed, dbt_environment
from transform.project import adapter_overrides, source_tables, timed_dbt

# The partition column of a table: the load that wrote the row.
LOAD_COLUMNS = ("_load_id", "load_id")

_SPARK_TYPES = {
    "VARCHAR": "string",
    "JSON": "string",
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "DATE": "date",
    # session setting spark.sql.timestampType = TIMESTAMP_NTZ: a wall-clock time, as DuckDB's
    "TIMESTAMP": "timestamp",
}


class SparkBuildFailed(RuntimeError):
    pass


def spark_type(duckdb_type: str) -> str:
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duckdb_type)
    if decimal:
        return f"decimal({decimal.group(1)}, {decimal.group(2)})"
    if duckdb_type not in _SPARK_TYPES:
        raise ValueError(f"no Spark type for the DuckDB type {duckdb_type}")
    return _SPARK_TYPES[duckdb_type]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ── the raw layer as Parquet ──────────────────────────────────────────────────────────────────


def table_columns(duck, schema: str, table: str) -> list[tuple[str, str]]:
    columns = duck.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    if not columns:
        raise ValueError(f"{schema}.{table} is not in the warehouse")
    return columns


def partition_column(columns: list[tuple[str, str]]) -> str | None:
    names = [name for name, _ in columns]
    return next((c for c in LOAD_COLUMNS if c in names), None)


def export_raw(warehouse: Path, lake: Path) -> dict:
    """Write every source table of `warehouse` under `lake` as Parquet, partitioned by load;
    returns rows by table, the columns of each table and the seconds taken. A table's folder
    is replaced whole (an export is a snapshot of the raw layer, which only grows)."""
    import duckdb

    lake = Path(lake).resolve()
    started = time.perf_counter()
    rows: dict[str, int] = {}
    layout: dict[str, dict] = {}
    with duckdb.connect(str(warehouse), read_only=True) as duck:
        for schema, table in source_tables():
            columns = table_columns(duck, schema, table)
            folder = lake / schema / table
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            select = ", ".join(
                f"CAST({_quote(c)} AS VARCHAR) AS {_quote(c)}" if t == "JSON" else _quote(c)
                for c, t in columns
            )
            (count,) = duck.execute(f"SELECT count(*) FROM {schema}.{_quote(table)}").fetchone()
            partition = partition_column(columns)
            if count:
                options = "FORMAT parquet, COMPRESSION zstd"
                if partition:
                    options += f", PARTITION_BY ({_quote(partition)})"
                target = str(folder) if partition else str(folder / "data_0.parquet")
                query = f"SELECT {select} FROM {schema}.{_quote(table)}"
                duck.execute(f"COPY ({query}) TO '{target}' ({options})")
            rows[f"{schema}.{table}"] = count
            layout[f"{schema}.{table}"] = {
                "path": str(folder),
                "partition_column": partition,
                "columns": [[c, spark_type(t)] for c, t in columns],
            }
    (lake / "_tables.json").write_text(json.dumps(layout, indent=2), encoding="utf-8")
    return {
        "lake": str(lake),
        "tables": len(rows),
        "rows": sum(rows.values()),
        "rows_by_table": rows,
        "export_seconds": round(time.perf_counter() - started, 2),
    }


# ── the Spark session ─────────────────────────────────────────────────────────────────────────


def spark_environment(work: Path, cores: int | None = None, memory: str | None = None) -> dict:
    """The variables the spark target of profiles.yml reads: where the local session keeps its
    metastore (Derby) and tables, how many cores and how much driver memory it takes."""
    work = Path(work).resolve()
    return {
        "SPARK_WORK": str(work),
        "SPARK_CORES": str(cores or os.environ.get("SPARK_CORES", "2")),
        "SPARK_DRIVER_MEMORY": memory or os.environ.get("SPARK_DRIVER_MEMORY", "4g"),
    }


def session_settings(env: dict) -> dict[str, str]:
    """The session's settings, the same as the spark target's server_side_parameters in
    dbt_project/profiles.yml (tests/unit/test_spark_settings.py holds the two equal)."""
    work = env["SPARK_WORK"]
    return {
        "spark.master": f"local[{env['SPARK_CORES']}]",
        "spark.driver.memory": env["SPARK_DRIVER_MEMORY"],
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": f"{work}/warehouse",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={work}/metastore_db;create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={work}",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.sql.sources.default": "parquet",
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
        # partitions found in the folders when a table is read, not kept in the metastore:
        # a new load is a new folder, visible without MSCK REPAIR
        "spark.sql.hive.manageFilesourcePartitions": "false",
        "spark.sql.session.timeZone": "Asia/Shanghai",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.parser.escapedStringLiterals": "true",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.ansi.enabled": "true",
    }


def raw_table_statements(lake: Path) -> list[str]:
    """The DDL that declares the exported folders as external Parquet tables of the Spark
    catalogue (dropped and declared again; the partitions are found in the folders when read).
    The same statements declare them in a cluster's Hive Metastore (docs/spark.md)."""
    layout = json.loads((Path(lake) / "_tables.json").read_text(encoding="utf-8"))
    statements = []
    for name, table in sorted(layout.items()):
        schema = name.split(".")[0]
        partition = table["partition_column"]
        columns = [c for c in table["columns"] if c[0] != partition]
        if partition:
            columns.append([partition, "string"])
        definition = ", ".join(f"`{c}` {t}" for c, t in columns)
        statements.append(f"create database if not exists {schema}")
        statements.append(f"drop table if exists {name}")
        create = f"create table {name} ({definition}) using parquet"
        if partition:
            create += f" partitioned by (`{partition}`)"
        statements.append(f"{create} location '{table['path']}'")
    return statements


def register_sources(lake: Path, env: dict) -> dict:
    """Hand the DDL of the raw tables to the build: dbt's on-run-start hook
    (`register_raw_tables`, dbt_project/macros/spark_raw.sql) runs it in the build's own
    session, so no second JVM opens the Derby metastore (embedded Derby admits one at a
    time) and no second session start is paid."""
    statements = raw_table_statements(lake)
    env["SPARK_RAW_TABLES"] = json.dumps(statements)
    return {"tables": sum(s.startswith("create table") for s in statements)}


def run_dbt_on_spark(
    warehouse: Path, env: dict, as_of: dt.date | None, command: str = "build", *args: str
) -> dict:
    """`dbt <command> --target spark` in a child process (transform.project.timed_dbt): its
    peak RSS is dbt's and its JVM's (the session's driver is dbt's child)."""
    full_env = {**dbt_environment(warehouse, "spark"), **env}
    return timed_dbt(command, "spark", Path(env["SPARK_WORK"]), full_env, as_of, *args)


def build_on_spark(
    warehouse: Path,
    lake: Path | None = None,
    work: Path | None = None,
    as_of: dt.date | None = None,
    check: bool = True,
    export: bool = True,
    tests: bool = True,
) -> dict:
    """Export `warehouse`'s raw layer to `lake` as Parquet, declare it in a fresh local Spark
    metastore under `work` and run the dbt build there (as of `as_of`). Raises
    SparkBuildFailed when dbt fails (unless check=False). tests=False builds the seeds and
    models only (the data and unit tests ran on DuckDB over the same raw data)."""
    warehouse = Path(warehouse).resolve()
    lake = Path(lake) if lake else warehouse.parent / "lake"
    work = Path(work) if work else warehouse.parent / "spark"
    identity_key()  # fails early, with a clear message, when the key is missing
    shutil.rmtree(work / "metastore_db", ignore_errors=True)
    shutil.rmtree(work / "warehouse", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    env = spark_environment(work)
    exported = export_raw(warehouse, lake) if export else None
    registered = register_sources(lake, env)
    skip = (
        () if tests else ("--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")
    )
    built = run_dbt_on_spark(warehouse, env, as_of, "build", *skip)
    report = {
        "engine": "spark",
        "as_of": as_of.isoformat() if as_of else None,
        "export": exported,
        "register": registered,
        **built,
        "session": session_settings(env),
        "overrides": adapter_overrides("spark"),
    }
    if check and built["dbt_exit_code"] != 0:
        tail = Path(built["dbt_log"]).read_text(encoding="utf-8")[-6000:]
        raise SparkBuildFailed(f"dbt build on Spark failed:\n{tail}")
    return report


def spark_tables(work: Path, schema: str) -> dict[str, Path]:
    """The Parquet folders of the tables dbt built in `schema` (the local session's warehouse
    folder), by table name: what a reader without a Spark session opens."""
    folder = Path(work) / "warehouse" / f"{schema}.db"
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_dir()} if folder.exists() else {}


# The report of the last build_into_warehouse, in its work folder.
REPORT_NAME = "build-report.json"

# The schemas dbt builds (profiles.yml schema `main` plus each folder's +schema).
BUILT_SCHEMAS = (
    "main_reference",
    "main_staging",
    "main_intermediate",
    "main_marts",
    "main_restricted",
)


def import_results(work: Path, warehouse: Path, schemas: tuple[str, ...] = BUILT_SCHEMAS) -> dict:
    """Copy the tables the Spark build wrote (Parquet folders of the local session's
    warehouse) into the DuckDB warehouse, replacing its own: the quality gate, the published
    snapshot, the dashboards and matching then read the Spark build as they read DuckDB's.
    On a cluster this is the serving layer's load (StarRocks/Doris read the same Parquet)."""
    import duckdb

    from groundfloor.warehouse import writer_lock

    rows: dict[str, int] = {}
    with writer_lock(warehouse, "import the Spark build"), duckdb.connect(str(warehouse)) as duck:
        for schema in schemas:
            duck.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for table, folder in spark_tables(work, schema).items():
                files = sorted(str(p) for p in folder.glob("*.parquet"))
                if not files:
                    continue
                duck.execute(
                    f"CREATE OR REPLACE TABLE {schema}.{_quote(table)} AS "
                    "SELECT * FROM read_parquet(?)",
                    [files],
                )
                (rows[f"{schema}.{table}"],) = duck.execute(
                    f"SELECT count(*) FROM {schema}.{_quote(table)}"
                ).fetchone()
    return {"tables": len(rows), "rows": sum(rows.values())}


def build_into_warehouse(warehouse: Path, as_of: dt.date | None, *args: str) -> dict:
    """What `make build ENGINE=spark` and the warehouse DAG (DBT_TARGET=spark) run: export the
    raw layer as Parquet beside the warehouse (lake/), build on Spark (spark/), copy the built
    tables back into the warehouse. The report is kept as spark/build-report.json: what the
    last Spark build exported, ran and took, for the operator (and the DAG's test)."""
    warehouse = Path(warehouse).resolve()
    if args:
        raise SparkBuildFailed(f"extra dbt arguments are not passed to the Spark build: {args}")
    work = warehouse.parent / "spark"
    report = build_on_spark(warehouse, warehouse.parent / "lake", work, as_of)
    report["import"] = import_results(work, warehouse)
    (work / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transform.spark", description=__doc__)
    parser.add_argument("command", choices=["export", "build"])
    parser.add_argument("--warehouse", type=Path, required=True, help="a loaded DuckDB warehouse")
    parser.add_argument("--lake", type=Path, help="the Parquet raw layer (default: by warehouse)")
    parser.add_argument("--work", type=Path, help="Spark metastore, tables, dbt logs")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help="the build's as_of_date")
    parser.add_argument("--no-tests", action="store_true", help="seeds and models only")
    args = parser.parse_args(argv)
    lake = args.lake or Path(args.warehouse).resolve().parent / "lake"
    try:
        if args.command == "export":
            report = export_raw(args.warehouse, lake)
        else:
            report = build_on_spark(
                args.warehouse, lake, args.work, args.as_of, tests=not args.no_tests
            )
    except (SparkBuildFailed, DbtFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
