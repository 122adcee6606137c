"""One stage of a warehouse refresh, run by `bench.refresh` in a child process so that its
peak RSS is its own.

    python -m bench.stage {extract,ingest,build,quality,matching,publish,rowwise} --as-of DATE

Every path comes from the environment, as in the pipeline (WAREHOUSE, SOURCES,
PUBLISHED_WAREHOUSE, OPERATIONS_STORE, QUALITY_DIR, PUSH_DIR …); the stages call the same task
bodies Airflow calls. Prints one JSON line: the rows the stage went through and what it found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys


def raw_rows() -> int:
    """Rows in the raw layer: the common measure of work for build, quality and publish."""
    import duckdb

    from groundfloor.settings import Settings

    with duckdb.connect(str(Settings.load().warehouse), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'"
        ).fetchall()
        return sum(conn.execute(f"SELECT COUNT(*) FROM raw.{t}").fetchone()[0] for (t,) in tables)


def extract(as_of: dt.date) -> dict:
    """Read every source as a first load would (no watermarks), landing nothing."""
    from groundfloor.settings import Settings
    from ingestion.config import load_sources
    from ingestion.runner import make_connector

    rows = 0
    for config in load_sources(Settings.load().sources).values():
        connector = make_connector(config)
        batches = connector.extract({}, {}) if config.delivery == "files" else connector.extract({})
        rows += sum(batch.frame.height for batch in batches)
        for table in config.tables.values():
            if table.mode == "snapshot":
                query = f"SELECT * FROM {connector.relation(table.name)}"
                rows += sum(frame.height for frame in connector.stream(query))
    return {"rows": rows}


def ingest(as_of: dt.date) -> dict:
    from groundfloor.settings import Settings
    from ingestion.runner import run

    settings = Settings.load()
    results = run(settings.sources, settings.warehouse, None, as_of)
    failed = [f"{r.system}: {r.message}" for r in results if r.status != "ok"]
    if failed:
        raise SystemExit("ingestion failed: " + "; ".join(failed))
    return {
        "rows": sum(r.rows_read for r in results),
        "new_versions": sum(r.rows_new for r in results),
        "quarantined": sum(r.rows_quarantined for r in results),
        "seconds_by_system": {r.system: round(r.seconds, 1) for r in results},
    }


def build(as_of: dt.date) -> dict:
    """dbt build as the pipeline runs it; what limits it: time per node type, slowest nodes
    (dbt's run_results.json)."""
    from pipeline.tasks import build as dbt_build
    from transform.dbt import DBT_PROJECT
    from transform.project import node_times

    dbt_build(as_of)
    times = node_times(json.loads((DBT_PROJECT / "target" / "run_results.json").read_text()))
    times["slowest_nodes"] = times["slowest_nodes"][:5]
    return {"rows": raw_rows(), **times}


def quality(as_of: dt.date) -> dict:
    from groundfloor.settings import Settings
    from quality.runner import run_quality

    run = run_quality(Settings.load().warehouse, as_of)
    failures = [text.split(":")[0] for text in run.critical_failures]
    return {"rows": raw_rows(), "passed": run.passed, "critical_failures": failures, **run.counts()}


def matching(as_of: dt.date) -> dict:
    import duckdb

    from groundfloor.settings import Settings
    from pipeline.tasks import evaluate_policies

    result = evaluate_policies(as_of)
    with duckdb.connect(str(Settings.load().warehouse), read_only=True) as conn:
        people = conn.execute("SELECT COUNT(*) FROM main_marts.person_file").fetchone()[0]
    matches = sum(p["matches"] for p in result["policies"].values())
    return {"rows": people, "matches": matches}


def publish(as_of: dt.date) -> dict:
    from pipeline.tasks import publish as publish_snapshot

    return {"rows": publish_snapshot(as_of)["rows"]}


def rowwise(as_of: dt.date) -> dict:
    """The peer of policy matching: the row-by-row Python evaluator, beside the compiled SQL
    evaluation alone (no explanations, ledger or push lists), and whether they agree."""
    import time

    import duckdb

    from bench.matching import evaluation_only
    from groundfloor.settings import Settings
    from matching.rowwise import evaluate_rowwise

    warehouse = Settings.load().warehouse
    # Measured on the second run: the first reads the warehouse file from disk after the
    # peers before it filled the page cache (M: 2.0 s cold against 0.3 s warm), while the
    # row-wise run, 50 times longer, hardly notices its own cold start.
    evaluation_only(warehouse, as_of)
    sql_seconds = evaluation_only(warehouse, as_of)
    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        found = evaluate_rowwise(conn, as_of)
        people = conn.execute("SELECT COUNT(*) FROM main_marts.person_file").fetchone()[0]
    return {
        "rows": people,
        "sql_evaluation_seconds": round(sql_seconds, 3),
        "rowwise_seconds": round(time.perf_counter() - started, 3),
        "rowwise_matches": sum(len(rows) for rows in found.values()),
    }


def warehouse_bytes() -> int:
    """The working warehouse's size on disk after the stage, WAL included (the disk an L run
    needs is mostly that file)."""
    from groundfloor.settings import Settings

    warehouse = Settings.load().warehouse
    files = (warehouse, warehouse.with_name(warehouse.name + ".wal"))
    return sum(f.stat().st_size for f in files if f.exists())


STAGES = {f.__name__: f for f in (extract, ingest, build, quality, matching, publish, rowwise)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument(
        "--as-of", type=dt.date.fromisoformat, required=True, help="the run's day (city clock)"
    )
    args = parser.parse_args(argv)
    # As the pipeline's dates (pipeline/dates.py): sources load and policies are evaluated as
    # of the run's day; the build, its quality step and the snapshot cover the day before.
    day = args.as_of
    if args.stage in ("build", "quality", "publish"):
        day -= dt.timedelta(days=1)
    from bench.refresh import commit as checked_out

    commit = checked_out()  # when the stage starts: a long tier may move on while it runs
    outcome = STAGES[args.stage](day)
    from bench.memory import peak_rss_mib

    outcome["peak_rss_mib"] = peak_rss_mib()
    outcome.update(commit=commit, warehouse_bytes=warehouse_bytes())
    print(json.dumps(outcome), flush=True)
    sys.stdout.flush()
    # Skip interpreter teardown: DuckDB 2.0 prints a leak report when GX still holds references.
    from groundfloor.process import exit_quietly

    exit_quietly(0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
