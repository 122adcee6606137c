"""Extraction benchmark: the ingestion's SQL connector (connectorx → Arrow) against
`pandas.read_sql` on the same tables of the same city, side by side, on PostgreSQL and MariaDB.

    python -m bench.ingestion --people 1000000

The city comes from bench/cache (generated once, reused); its case platform is loaded into
PostgreSQL and its certificate library into MariaDB (databases `bench_qzk`, reused while their
row counts match). Each extraction runs in its own child process so that its peak RSS is its
own. Prints rows/s and peak RSS per table and the ratios; writes bench/results/ingestion-N.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("bench/results")
DATABASE = "bench_qzk"


def cases(database: str = DATABASE) -> dict[str, tuple[str, str, list[str]]]:
    """dialect -> (system, URL of the exchange database `database`, tables measured)."""
    return {
        "postgresql": (
            "case_platform",
            f"postgresql://postgres@127.0.0.1:5432/{database}",
            ["bj_jbxx", "bj_gcxx"],
        ),
        "mysql": (
            "certificate_library",
            f"mysql+pymysql://root@127.0.0.1:3306/{database}",
            ["dzzz_zzxx", "dzzz_yyjl"],
        ),
    }


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


CHILD = r"""
import json, sys, time
kind, url, relation = sys.argv[1:4]
if kind == "connector":
    from ingestion.config import SystemConfig
    from ingestion.connectors.sql import SqlConnector

    config = SystemConfig(name="bench", delivery="database", schedule="", tables={}, url=url)
    connector = SqlConnector(config)
    started = time.perf_counter()
    # As ingestion reads: chunk by chunk (each chunk is handed on, then dropped).
    rows = sum(frame.height for frame in connector.stream(f"SELECT * FROM {relation}"))
else:
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    started = time.perf_counter()
    with engine.connect() as conn:
        # Sensible dtypes: Arrow-backed strings and nullable numbers.
        rows = len(pd.read_sql(f"SELECT * FROM {relation}", conn, dtype_backend="pyarrow"))
seconds = time.perf_counter() - started
from bench.memory import peak_rss_mib

peak = peak_rss_mib()
print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mib": peak}))
"""


def ensure_city(people: int) -> Path:
    city = Path("bench/cache") / f"sim-{people}"
    if not (city / "city.json").exists():
        subprocess.run(
            [sys.executable, "-m", "bench.simulator", "--people", str(people)], check=True
        )
    return city


def ensure_loaded(city: Path, system: str, url: str, tables: list[str]) -> None:
    import sqlite3

    from simulator.targets import load_system

    lite = sqlite3.connect(city / "exchange" / f"{system}.sqlite")
    want = {t: lite.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    lite.close()
    if _target_counts(url, system, tables) == want:
        return
    print(f"loading {system} into {url} …", flush=True)
    _create_database(url)
    load_system(city, system, url)


def ensure_loaded_apart(city: Path, system: str, url: str, tables: list[str]) -> None:
    """`ensure_loaded` in a child process: loading a large city takes gigabytes, and a parent
    that once held them would pass its high-water mark on to every child it starts next."""
    script = (
        "import sys; from pathlib import Path; from bench.ingestion import ensure_loaded; "
        "ensure_loaded(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(','))"
    )
    argv = [sys.executable, "-c", script, str(city), system, url, ",".join(tables)]
    subprocess.run(argv, check=True, cwd=ROOT)


def _create_database(url: str) -> None:
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
        ) as c:
            name = database_of(url)
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchall():
                c.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")


def _target_counts(url: str, system: str, tables: list[str]) -> dict[str, int] | None:
    from simulator.schema import SCHEMA_OF_SYSTEM

    try:
        if url.startswith("postgresql"):
            import psycopg

            with psycopg.connect(host="127.0.0.1", user="postgres", dbname=database_of(url)) as c:
                schema = SCHEMA_OF_SYSTEM[system]
                return {
                    t: c.execute(f"SELECT COUNT(*) FROM {schema}.{t}").fetchone()[0] for t in tables
                }
        import pymysql

        c = pymysql.connect(host="127.0.0.1", user="root", password="", database=database_of(url))
        with c.cursor() as cur:
            out = {}
            for t in tables:
                cur.execute(f"SELECT COUNT(*) FROM {t}")
                out[t] = cur.fetchone()[0]
        c.close()
        return out
    except Exception:
        return None


def measure(kind: str, url: str, relation: str) -> dict:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, kind, url, relation],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "RUST_LOG": "off"},
        cwd=ROOT,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def compare(dialect: str, table: str, url: str, relation: str) -> dict:
    """The connector and pandas.read_sql on one table, each in a child: rates, peaks, ratios."""
    ours, peer = measure("connector", url, relation), measure("pandas", url, relation)
    return {
        "dialect": dialect,
        "table": table,
        "rows": ours["rows"],
        "connector_rows_per_s": round(ours["rows"] / ours["seconds"]),
        "pandas_rows_per_s": round(peer["rows"] / peer["seconds"]),
        "speed_ratio": round(peer["seconds"] / ours["seconds"], 1),
        "connector_peak_rss_mib": round(ours["peak_rss_mib"]),
        "pandas_peak_rss_mib": round(peer["peak_rss_mib"]),
        "memory_ratio": round(peer["peak_rss_mib"] / ours["peak_rss_mib"], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    from simulator.schema import SCHEMA_OF_SYSTEM

    city = ensure_city(args.people)
    report = {"people": args.people, "tables": []}
    for dialect, (system, url, tables) in cases().items():
        ensure_loaded(city, system, url, tables)
        for table in tables:
            relation = f"{SCHEMA_OF_SYSTEM[system]}.{table}" if dialect == "postgresql" else table
            row = compare(dialect, table, url, relation)
            report["tables"].append(row)
            print(
                f"{dialect:<10} {table:<10} {row['rows']:>11,} rows  connector "
                f"{row['connector_rows_per_s']:>10,} rows/s "
                f"{row['connector_peak_rss_mib']:>6,} MiB  "
                f"pandas.read_sql {row['pandas_rows_per_s']:>9,} rows/s "
                f"{row['pandas_peak_rss_mib']:>6,} MiB  → {row['speed_ratio']}× faster "
                "(goal ≥ 5×), "
                f"{row['memory_ratio']}× less memory",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ingestion-{args.people}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
