"""The quality step's tables in the operations store (docs/quality.md, "Operations store").

One transaction per run: a reader of the published copy sees a run whole or not at all. The
warehouse is attached read-only so the load bookkeeping, the quarantine and the KPI exclusions
are counted inside DuckDB, never pulled into Python.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from contract import load_contract
from groundfloor.warehouse import open_operations_store
from quality.config import QualityConfig

DDL = [
    """CREATE TABLE IF NOT EXISTS quality_runs (
        run_id VARCHAR, as_of DATE, started_at TIMESTAMP, finished_at TIMESTAMP,
        passed BOOLEAN, critical_failed INTEGER, warnings_failed INTEGER, data_docs VARCHAR,
        failed_expectations VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS quality_results (
        run_id VARCHAR, as_of DATE, suite VARCHAR, layer VARCHAR, table_name VARCHAR,
        source_system VARCHAR, department VARCHAR, expectation_id VARCHAR,
        expectation_type VARCHAR, kind VARCHAR, column_name VARCHAR, defect VARCHAR,
        severity VARCHAR, dimension VARCHAR, threshold DOUBLE, success BOOLEAN,
        element_count BIGINT, checked BIGINT, unexpected_count BIGINT, unexpected_share DOUBLE,
        unexpected_sample VARCHAR, error VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS quality_scorecard (
        as_of DATE, run_id VARCHAR, source_system VARCHAR, department VARCHAR,
        dimension VARCHAR, checked BIGINT, passed BIGINT, score DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS quality_scorecard_columns (
        as_of DATE, run_id VARCHAR, source_system VARCHAR, department VARCHAR,
        table_name VARCHAR, column_name VARCHAR, dimension VARCHAR, checked BIGINT,
        passed BIGINT, score DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS quarantine_counts (
        run_id VARCHAR, as_of DATE, source_system VARCHAR, table_name VARCHAR, reason VARCHAR,
        rows BIGINT)""",
    """CREATE TABLE IF NOT EXISTS kpi_exclusions (
        run_id VARCHAR, as_of DATE, kpi VARCHAR, reason VARCHAR, rows BIGINT)""",
    """CREATE TABLE IF NOT EXISTS source_freshness (
        run_id VARCHAR, as_of DATE, source_system VARCHAR, last_load_at TIMESTAMP,
        age_hours DOUBLE, max_age_hours DOUBLE, data_horizon TIMESTAMP, fresh BOOLEAN)""",
]

RESULT_COLUMNS = [
    "suite", "layer", "table_name", "source_system", "department", "expectation_id",
    "expectation_type", "kind", "column_name", "defect", "severity", "dimension", "threshold",
    "success", "element_count", "checked", "unexpected_count", "unexpected_share",
    "unexpected_sample", "error",
]  # fmt: skip

# The rows each KPI leaves out (kpis.md, "Rows that KPIs leave out"): the table a KPI counts,
# and which of its flagged rows it drops. Quarantined keys are in no KPI of their table.
KPIS_OF_TABLE = {
    "bj_jbxx": ("K1", "K2", "K3", "K4", "K5", "K13", "K14", "K19", "K20"),
    "bb_jl": ("K6", "K7", "K21"),
    "hcp_pj": ("K8", "K9"),
    "work_orders": ("K10", "K11", "K12", "K22"),
    "sxml": ("K15", "K16", "K17", "K18"),
}
CURRENT_KEYS = {
    "sxml": "SELECT item_code FROM wh.main_staging.stg_case_platform__service_items",
    "bj_jbxx": "SELECT case_id FROM wh.main_staging.stg_case_platform__cases",
    "bb_jl": "SELECT help_session_id FROM wh.main_staging.stg_case_platform__help_sessions",
    "hcp_pj": "SELECT rating_id FROM wh.main_staging.stg_evaluation_hcp__ratings",
    "work_orders": "SELECT work_order_id FROM wh.main_staging.stg_hotline_12345__work_orders",
}
FLAGGED_EXCLUSIONS = [
    (
        ("K3", "K4", "K5"),
        "item_unknown",
        "SELECT count(*) FROM wh.main_intermediate.int_cases__with_items WHERE NOT is_item_known",
    ),
    (
        ("K4",),
        "timestamp_order",
        "SELECT count(*) FROM wh.main_intermediate.int_cases__with_items WHERE is_item_known "
        "AND status = '3' AND accepted_at IS NOT NULL AND completed_at IS NOT NULL "
        "AND (is_accepted_before_applied OR is_completed_before_accepted)",
    ),
    (
        ("K7",),
        "timestamp_order",
        "SELECT count(*) FROM wh.main_staging.stg_case_platform__help_sessions "
        "WHERE help_channel = '1' AND requested_at IS NOT NULL AND is_responded_before_requested",
    ),
    (
        ("K9",),
        "timestamp_order",
        "SELECT count(*) FROM wh.main_intermediate.int_ratings__with_cases "
        "WHERE rated_at IS NOT NULL AND rating_level IN ('1', '2') "
        "AND (rectification_status IS NULL OR rectification_status <> '2') "
        "AND is_rectified_before_rated",
    ),
]


def write_run(store: Path, warehouse: Path, run, started: dt.datetime, config) -> None:
    conn = open_operations_store(Path(store))
    try:
        for statement in DDL:
            conn.execute(statement)
        conn.execute(f"ATTACH '{Path(warehouse).resolve()}' AS wh (READ_ONLY)")
        conn.execute("BEGIN")
        write_results(conn, run, config)
        write_scorecards(conn, run.run_id, run.as_of)
        write_quarantine(conn, run.run_id, run.as_of)
        write_kpi_exclusions(conn, run.run_id, run.as_of)
        copy_load_bookkeeping(conn)
        write_freshness(conn, run, config)
        write_run_row(conn, run, started)
        conn.execute("COMMIT")
        conn.execute("DETACH wh")
    finally:
        conn.close()


def write_run_row(conn, run, started: dt.datetime) -> None:
    failed = [text.split(":")[0] for text in run.critical_failures + run.warnings]
    conn.execute(
        "INSERT INTO quality_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id, run.as_of, started, dt.datetime.now(), run.passed,
            len(run.critical_failures), len(run.warnings), str(run.data_docs),
            ", ".join(failed) or None,
        ],
    )  # fmt: skip


def write_results(conn, run, config: QualityConfig) -> None:
    rows = []
    for result in run.results:
        result = {**result, "department": config.department(
            result["source_system"], result["table_name"]
        )}  # fmt: skip
        rows.append([run.run_id, run.as_of, *(result[c] for c in RESULT_COLUMNS)])
    marks = ", ".join("?" * (len(RESULT_COLUMNS) + 2))
    conn.executemany(f"INSERT INTO quality_results VALUES ({marks})", rows)


def write_scorecards(conn, run_id: str, as_of: dt.date) -> None:
    """Per column, then per source system and department: each dimension's score is passed /
    checked over the values (or loads) its expectations checked. A system's score is the
    aggregate of its column scores weighted by values checked (Σ passed / Σ checked), never
    an average of scores. A re-run for the same day replaces that day's rows (history by day).
    """
    conn.execute("DELETE FROM quality_scorecard WHERE as_of = ?", [as_of])
    conn.execute("DELETE FROM quality_scorecard_columns WHERE as_of = ?", [as_of])
    conn.execute(
        "INSERT INTO quality_scorecard_columns SELECT as_of, run_id, source_system, department, "
        "table_name, coalesce(column_name, ''), dimension, sum(checked), "
        "sum(checked - least(unexpected_count, checked)), NULL FROM quality_results "
        "WHERE run_id = ? GROUP BY ALL",
        [run_id],
    )
    conn.execute(
        "INSERT INTO quality_scorecard SELECT as_of, run_id, source_system, department, "
        "dimension, sum(checked), sum(passed), NULL FROM quality_scorecard_columns "
        "WHERE run_id = ? GROUP BY ALL",
        [run_id],
    )
    for table in ("quality_scorecard", "quality_scorecard_columns"):
        conn.execute(
            f"UPDATE {table} SET score = CASE WHEN checked > 0 THEN passed / checked END "
            "WHERE run_id = ?",
            [run_id],
        )


def write_quarantine(conn, run_id: str, as_of: dt.date) -> None:
    """Rows quarantined by ingestion, by rule (one row version counted once, however often
    it was pushed)."""
    conn.execute(
        "INSERT INTO quarantine_counts SELECT ?, ?, system, table_name, rule, "
        "count(DISTINCT row_hash) FROM wh.meta.quarantine GROUP BY ALL",
        [run_id, as_of],
    )


def write_kpi_exclusions(conn, run_id: str, as_of: dt.date) -> None:
    rows = []
    for table, kpis in KPIS_OF_TABLE.items():
        (count,) = conn.execute(
            "SELECT count(DISTINCT row_key) FROM wh.meta.quarantine WHERE table_name = ? "
            f"AND row_key NOT IN ({CURRENT_KEYS[table]})",
            [table],
        ).fetchone()
        rows += [(kpi, "quarantined", count) for kpi in kpis]
    for kpis, reason, sql in FLAGGED_EXCLUSIONS:
        (count,) = conn.execute(sql).fetchone()
        rows += [(kpi, reason, count) for kpi in kpis]
    conn.executemany(
        "INSERT INTO kpi_exclusions VALUES (?, ?, ?, ?, ?)",
        [(run_id, as_of, *row) for row in rows],
    )


def copy_load_bookkeeping(conn) -> None:
    """The load audit and the loads as the warehouse holds them (they are the history)."""
    conn.execute("CREATE OR REPLACE TABLE load_audit AS SELECT * FROM wh.meta.load_audit")
    conn.execute("CREATE OR REPLACE TABLE loads AS SELECT * FROM wh.meta.loads")


def write_freshness(conn, run, config: QualityConfig) -> None:
    fresh = {r["source_system"]: r["success"] for r in run.results if r["kind"] == "freshness"}
    for system in load_contract().systems:
        settings = config.freshness.get(system, {})
        conn.execute(
            "INSERT INTO source_freshness SELECT ?, ?, ?, last_ok, "
            "date_diff('second', last_ok, newest) / 3600.0, ?, horizon, ? FROM (SELECT "
            "(SELECT max(finished_at) FROM wh.meta.loads) AS newest, "
            "(SELECT max(finished_at) FROM wh.meta.loads WHERE system = ? AND status = 'ok') "
            "AS last_ok, (SELECT max(try_cast(value AS TIMESTAMP)) FROM wh.meta.watermarks "
            "WHERE system = ?) AS horizon)",
            [
                run.run_id, run.as_of, system, settings.get("max_load_age_hours"),
                fresh.get(system, False), system, system,
            ],
        )  # fmt: skip
