"""The quality step: every suite through GX inside DuckDB, results into the operations store,
the store published, Data Docs written. `run_quality` is what the pipeline's gate calls.

The warehouse is opened read-only (the writer is not running while the gate runs); the
operations store is a separate DuckDB file that matching and alerts also write, so every write
waits out another writer's lock; the published copy is what Superset reads.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import great_expectations as gx

from groundfloor.masking import mask_key, mask_key_sql
from groundfloor.warehouse import writer_lock
from quality import QualityGateFailed
from quality.config import QualityConfig
from quality.store import write_run
from quality.suites import Check, Suite, all_suites

# Small results only: counts and a few masked keys (COMPLETE result formats are slow in GX
# and would carry every unexpected value).
SAMPLE_SIZE = 5
SAMPLE_COLUMN = "sample_key"
SAMPLES = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": SAMPLE_SIZE,
    "unexpected_index_column_names": [SAMPLE_COLUMN],
}
COUNTS = {**SAMPLES, "partial_unexpected_count": 0}  # GX's sample queries become LIMIT 0
__all__ = ["QualityGateFailed", "QualityRun", "publish_operations", "run_quality"]


@dataclass
class QualityRun:
    run_id: str
    as_of: dt.date
    passed: bool
    critical_failures: list[str]
    warnings: list[str]
    data_docs: Path
    operations_store: Path
    published_operations: Path
    results: list[dict] = field(default_factory=list, repr=False)

    def counts(self) -> dict[str, int]:
        return {
            "expectations": len(self.results),
            "failed_critical": len(self.critical_failures),
            "failed_warning": len(self.warnings),
        }


def run_quality(
    warehouse: Path,
    as_of: dt.date,
    *,
    operations_store: Path | None = None,
    published_operations: Path | None = None,
    config: QualityConfig | None = None,
    docs_dir: Path | None = None,
) -> QualityRun:
    """Run every suite on `warehouse` as of `as_of`, record and publish the results."""
    from groundfloor.settings import quality_paths

    store, published, gx_dir = quality_paths()
    store = Path(operations_store or store)
    published = Path(published_operations or published)
    docs_dir = Path(docs_dir or gx_dir / "data_docs")
    config = config or QualityConfig.load()
    run_id = f"q-{as_of:%Y%m%d}-{uuid.uuid4().hex[:10]}"
    started = dt.datetime.now()
    suites = all_suites(config, as_of)
    # The gate reads the warehouse as the build left it: no writer may open it meanwhile.
    with writer_lock(warehouse, "the quality step"):
        results, data_docs = validate(Path(warehouse), suites, docs_dir)
        critical = [describe(r) for r in results if blocks(r)]
        warnings = [describe(r) for r in results if not r["success"] and not blocks(r)]
        run = QualityRun(
            run_id, as_of, not critical, critical, warnings, data_docs, store, published, results
        )
        write_run(store, Path(warehouse), run, started, config)
    publish_operations(store, published)
    return run


def validate(warehouse: Path, suites: list[Suite], docs_dir: Path) -> tuple[list[dict], Path]:
    """Every suite through GX on one read-only connection; Data Docs rebuilt from scratch
    (a previous run's pages would otherwise linger beside this run's index)."""
    from quality.gx_duckdb import WarehouseSource

    scratch = docs_dir.with_name(f".{docs_dir.name}.{uuid.uuid4().hex[:8]}")
    source = WarehouseSource(warehouse, scratch)
    try:
        rows = []
        for suite in suites:
            rows += validate_suite(source, suite)
        source.build_docs()
    finally:
        source.close()
    return rows, swap_in(scratch, docs_dir) / "index.html"


def validate_suite(source, suite: Suite) -> list[dict]:
    """Two passes over one batch. The first counts: every expectation, no sample, so an
    expectation no row fails costs no query of its own (a sample query that finds nothing
    scans the whole batch, and most checks find nothing). The second samples: only the
    expectations with unexpected rows, whose sample queries stop at the first few."""
    batch = suite.query
    if suite.copied:  # once, and only the columns the checks and the key read
        batch = source.materialize(suite.name, f"SELECT {read_columns(suite)} FROM ({batch})")
    query = sample_query(suite.key, batch)
    try:
        counted = source.validate(suite.name, query, gx_suite(suite.name, suite.checks), COUNTS)
        by_id = results_by_check(counted)
        failing = [c for c in suite.checks if unexpected_rows(by_id[c.id])]
        if failing:
            name = f"{suite.name}.samples"
            sampled = source.validate(name, query, gx_suite(name, failing), SAMPLES)
            mask_sampled_values(sampled)
            by_id |= results_by_check(sampled)
            # Counts and success are the same in both passes (the same expectations on the
            # same batch); only the samples differ, so the sampled results replace theirs.
            counted.results = [
                by_id[r.expectation_config.meta["check_id"]] for r in counted.results
            ]
            source.replace_result(suite.name, name, counted)
    finally:
        if suite.copied:
            source.drop(batch)
    return [result_row(suite, check, by_id[check.id]) for check in suite.checks]


def gx_suite(name: str, checks: list[Check]) -> gx.ExpectationSuite:
    """A GX suite of copies: GX gives an expectation the id of the suite it joins, and a check
    may join two suites (the counting and the sampling pass)."""
    copies = [c.expectation.copy(update={"id": None}, deep=True) for c in checks]
    return gx.ExpectationSuite(name=name, expectations=copies)


def results_by_check(outcome) -> dict:
    return {r.expectation_config.meta["check_id"]: r for r in outcome.results}


def mask_sampled_values(outcome) -> None:
    """Mask the unexpected values GX keeps and Data Docs render, as the keys are masked: a
    failing uniqueness check of a key judges the key itself (an identity number, for the
    residents). Codes, flags and case numbers pass through `mask_key` unchanged."""
    for result in outcome.results:
        values = result.result or {}
        if "partial_unexpected_list" in values:
            values["partial_unexpected_list"] = [
                masked_value(v) for v in values["partial_unexpected_list"]
            ]
        for counted in values.get("partial_unexpected_counts") or []:
            counted["value"] = masked_value(counted["value"])
        for row in values.get("partial_unexpected_index_list") or []:
            for column in row:
                if column != SAMPLE_COLUMN:
                    row[column] = masked_value(row[column])


def masked_value(value):
    """The value masked if it is a person's number, else itself (of its own type)."""
    masked = mask_key(value)
    return value if value is None or masked == str(value) else masked


def unexpected_rows(result) -> bool:
    return bool((result.result or {}).get("unexpected_count"))


def sample_query(key: str, batch: str) -> str:
    """The batch's rows with a masked key beside them: GX samples that column, so its
    results (and the Data Docs rendered from them) hold masked keys only. The mask is a
    projection DuckDB computes only when a query reads it: a count drops it, a sample query
    computes it for the rows it returns (masking every row cost more than copying it)."""
    return f"SELECT *, {mask_key_sql(key)} AS {SAMPLE_COLUMN} FROM ({batch})"


def read_columns(suite: Suite) -> str:
    """The columns a suite's expectations read (judged columns, row conditions, the key)."""
    names = {suite.key}
    for check in suite.checks:
        names.add(check.expectation.column)
        condition = getattr(check.expectation, "row_condition", None)
        if condition is not None and hasattr(condition, "column"):
            names.add(condition.column.name)
    return ", ".join(f'"{name}"' for name in sorted(names))


def result_row(suite: Suite, check: Check, result) -> dict:
    values = result.result or {}
    error = None
    if result.exception_info and result.exception_info.get("raised_exception"):
        error = result.exception_info.get("exception_message")
    elements = int(values.get("element_count") or 0)
    checked = elements - int(values.get("missing_count") or 0)
    unexpected = int(values.get("unexpected_count") or 0)
    return {
        "suite": suite.name,
        "layer": suite.layer,
        "table_name": suite.table,
        "source_system": suite.system,
        "expectation_id": check.id,
        "expectation_type": check.expectation.expectation_type,
        "kind": check.kind,
        "column_name": check.column,
        "defect": check.defect,
        "severity": check.rule.severity,
        "dimension": check.rule.dimension,
        "threshold": check.rule.threshold,
        # An expectation that raised is a failure: a check that cannot run proves nothing.
        "success": bool(result.success) and error is None,
        "element_count": elements,
        "checked": checked,
        "unexpected_count": unexpected,
        "unexpected_share": unexpected / checked if checked else 0.0,
        "unexpected_sample": sample(values),
        "error": error,
    }


def sample(values: dict) -> str | None:
    """Up to SAMPLE_SIZE masked keys of unexpected rows, comma-separated."""
    keys = [row.get(SAMPLE_COLUMN) for row in values.get("partial_unexpected_index_list") or []]
    keys = [mask_key(k) for k in keys if k is not None]
    return ", ".join(dict.fromkeys(keys)) or None


def blocks(row: dict) -> bool:
    """A failed critical expectation blocks; so does any expectation that could not be
    evaluated (a broken check must not let a build through as a mere warning)."""
    return not row["success"] and (row["severity"] == "critical" or row["error"] is not None)


def describe(row: dict) -> str:
    if row["error"]:
        return f"{row['expectation_id']}: could not be evaluated ({row['error'][:200]})"
    return (
        f"{row['expectation_id']}: {row['unexpected_count']:,} of {row['checked']:,} "
        f"({row['unexpected_share']:.2%}) unexpected, {row['threshold']:.2%} tolerated"
    )


def swap_in(scratch: Path, target: Path) -> Path:
    """Replace the Data Docs directory with the freshly built one (readers see old or new)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(scratch, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def publish_operations(store: Path, published: Path) -> Path:
    """Copy the operations store to `published` atomically (a temporary file in the same
    directory, then os.replace), readable by all (0644): Superset reads the copy, never the
    store a writer may hold."""
    store, published = Path(store), Path(published)
    published.parent.mkdir(parents=True, exist_ok=True)
    temporary = published.with_name(f".{published.name}.{uuid.uuid4().hex[:8]}")
    with_store_unlocked(store, lambda: shutil.copyfile(store, temporary))
    temporary.chmod(0o644)
    os.replace(temporary, published)
    return published


def with_store_unlocked(store: Path, action, attempts: int = 20):
    """Run `action` while no process writes the store: a read-only open fails while a writer
    holds it, and a copy taken then could be torn."""
    for attempt in range(attempts):
        try:
            conn = duckdb.connect(str(store), read_only=True)
        except duckdb.IOException:
            time.sleep(0.5 * (attempt + 1))
            continue
        try:
            return action()
        finally:
            conn.close()
    raise RuntimeError(f"operations store {store} stayed locked")
