"""The quality suites on a small city at the simulator's default defect rates: the counts they
report for D4, D5, D6, D7, D8 and D13 equal what the manifest predicts (read apart from the
pipeline's code, as test_warehouse_themes does), the operations store holds every table the
quality dashboard reads, and the Data Docs hold no identity number, phone or name."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import duckdb
import pytest

from quality.config import DIMENSIONS, QualityConfig
from quality.runner import run_quality, validate
from quality.suites import Suite, SuiteBuilder
from tests.helpers.warehouse import query
from tests.integration import scan
from tests.integration.quality_cities import built_city
from transform.pii_scan import scan_files

pytestmark = pytest.mark.integration
GRACE = dt.timedelta(days=10)  # quality/config.yaml late_arrival_grace_days
IDENTITY_TABLES = ("bj_jbxx", "bb_jl", "dzzz_zzxx", "work_orders", "fr_jbxx", "jf_ffjl")


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("defaults")
    built = built_city(tmp, people=2500, seed=9, months=8)
    run = run_quality(
        built.warehouse,
        built.as_of,
        operations_store=tmp / "operations.duckdb",
        published_operations=tmp / "published" / "operations.duckdb",
        docs_dir=tmp / "quality" / "data_docs",
    )
    return built, run


def reported(run, defect: str) -> Counter:
    """Unexpected rows per table of the expectations that measure `defect`."""
    counts = Counter()
    for row in run.results:
        if row["defect"] == defect and row["unexpected_count"]:
            counts[row["table_name"]] += row["unexpected_count"]
    return counts


def gone(city, table: str) -> set[str]:
    """Keys not in staging: soft-deleted (D3) or quarantined (D7)."""
    return scan.defect_keys(city, "D3", table) | scan.defect_keys(city, "D7", table)


def predicted_invalid(city, defect: str) -> Counter:
    counts = Counter()
    for table in IDENTITY_TABLES:
        keys = {
            k
            for (k,) in scan.manifest(
                city,
                "SELECT key FROM defects WHERE table_name = ? AND defect = ? "
                "AND expected = 'invalid'",
                (table, defect),
            )
        }
        if keys - gone(city, table):
            counts[table] = len(keys - gone(city, table))
    return counts


@pytest.mark.parametrize("defect", ["D4", "D5"])
def test_invalid_identity_numbers_and_usccs_counted_as_the_manifest_predicts(checked, defect):
    built, run = checked
    expected = predicted_invalid(built.city, defect)
    assert expected, f"the city has no unrecoverable {defect}"
    assert reported(run, defect) == expected


def test_timestamps_out_of_order_counted_as_the_manifest_predicts(checked):
    built, run = checked
    city = built.city
    in_force = {path.name for path in scan.drops_in_force(city).values()}
    expected = Counter()
    for table, key, detail in scan.manifest(
        city, "SELECT table_name, key, detail FROM defects WHERE defect = 'D6'"
    ):
        if table == "hcp_pj" and detail.split("|")[0] not in in_force:
            continue  # a rating of a month delivered again: its old file is not in force
        if key not in gone(city, table):
            expected[table] += 1
    assert expected["bj_jbxx"]
    assert reported(run, "D6") == expected


def test_codes_outside_their_list_counted_as_the_manifest_predicts(checked):
    built, run = checked
    expected = Counter(
        dict(
            scan.manifest(
                built.city,
                "SELECT table_name, count(DISTINCT key || column_name) FROM defects "
                "WHERE defect = 'D7' GROUP BY 1",
            )
        )
    )
    assert sum(expected.values()) >= 3
    assert reported(run, "D7") == expected


def reference_times(city) -> dict[str, dict[str, dt.datetime]]:
    uses = {
        str(r["DYBH"]): dt.datetime.fromisoformat(r["DYSJ"])
        for r in scan.rows(city, "certificate_library", "dzzz_yyjl")
    }
    ratings = {
        row["PJBH"]: scan.parse_pjsj(row["PJSJ"])
        for path in scan.drops_in_force(city).values()
        for row in scan.read_drop(path)
    }
    return {"dzzz_yyjl": uses, "hcp_pj": ratings}


def test_references_to_unknown_cases_counted_as_the_manifest_predicts(checked):
    """Judged once older than the late-arrival grace period (a younger one may be a case
    still on its way, D9)."""
    built, run = checked
    cutoff = dt.datetime.combine(built.as_of - GRACE, dt.time())
    times = reference_times(built.city)
    expected = Counter()
    for table in ("dzzz_yyjl", "hcp_pj"):
        for key in scan.defect_keys(built.city, "D8", table) - gone(built.city, table):
            if key in times[table] and times[table][key] < cutoff:
                expected[table] += 1
    assert expected["dzzz_yyjl"] and expected["hcp_pj"]
    assert reported(run, "D8") == expected


def test_stale_certificate_status_counted_as_the_manifest_predicts(checked):
    built, run = checked
    stale = {
        key
        for key, detail in scan.manifest(
            built.city,
            "SELECT key, detail FROM defects WHERE table_name = 'dzzz_zzxx' AND defect = 'D13'",
        )
        if dt.date.fromisoformat(detail) < built.as_of
    } - gone(built.city, "dzzz_zzxx")
    assert stale
    assert reported(run, "D13") == Counter({"dzzz_zzxx": len(stale)})


def test_default_defects_are_below_every_critical_threshold(checked):
    _, run = checked
    assert run.passed, run.critical_failures


def test_the_published_store_holds_the_run_and_what_the_dashboard_reads(checked):
    _, run = checked
    store = run.published_operations
    tables = {t for (t,) in query(store, "SELECT table_name FROM duckdb_tables()")}
    assert {
        "quality_runs", "quality_results", "quality_scorecard", "quality_scorecard_columns",
        "quarantine_counts", "kpi_exclusions", "load_audit", "loads", "source_freshness",
    } <= tables  # fmt: skip
    assert query(store, "SELECT passed, data_docs FROM quality_runs") == [
        (True, str(run.data_docs))
    ]
    (results,) = query(store, "SELECT count(*) FROM quality_results")[0]
    assert results == len(run.results)
    dimensions = {d for (d,) in query(store, "SELECT DISTINCT dimension FROM quality_scorecard")}
    assert dimensions == set(DIMENSIONS)
    freshness = query(store, "SELECT source_system, fresh FROM source_freshness")
    assert len(freshness) == 6 and all(fresh for _, fresh in freshness)


def test_quarantine_counts_and_kpi_exclusions_match_the_warehouse(checked):
    built, run = checked
    quarantined = query(
        built.warehouse,
        "SELECT table_name, count(DISTINCT row_hash) FROM meta.quarantine GROUP BY 1 ORDER BY 1",
    )
    store = run.published_operations
    assert (
        quarantined
        and query(
            store, "SELECT table_name, sum(rows) FROM quarantine_counts GROUP BY 1 ORDER BY 1"
        )
        == quarantined
    )
    excluded = dict(
        query(store, "SELECT kpi, rows FROM kpi_exclusions WHERE reason = 'quarantined'")
    )
    counts = dict(quarantined)
    assert excluded["K1"] == counts.get("bj_jbxx", 0) and excluded["K1"] == excluded["K13"]
    (k4_flagged,) = query(
        store, "SELECT rows FROM kpi_exclusions WHERE kpi = 'K4' AND reason = 'timestamp_order'"
    )[0]
    (kpi_denominator_gap,) = query(
        built.warehouse,
        "SELECT count(*) FROM main_intermediate.int_cases__with_items WHERE is_item_known "
        "AND status = '3' AND accepted_at IS NOT NULL AND completed_at IS NOT NULL "
        "AND NOT (applied_at <= accepted_at AND accepted_at <= completed_at)",
    )[0]
    assert k4_flagged == kpi_denominator_gap > 0
    audit = query(built.warehouse, "SELECT count(*) FROM meta.load_audit")
    assert query(store, "SELECT count(*) FROM load_audit") == audit


def real_names(warehouse) -> set[str]:
    return {
        n
        for (n,) in query(
            warehouse,
            "SELECT name FROM main_restricted.identity_persons UNION "
            "SELECT applicant_name FROM main_staging.stg_case_platform__cases "
            "WHERE applicant_type = '1'",
        )
        if n
    }


def test_data_docs_are_written_and_hold_no_identity_number_phone_or_name(checked):
    built, run = checked
    assert run.data_docs.name == "index.html" and run.data_docs.exists()
    pages = sorted(run.data_docs.parent.rglob("*.html"))
    assert len(pages) > 30  # the index and one page per suite and its validation
    text = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert "raw.bj_jbxx.SQFS.code_list" in text or "raw.bj_jbxx" in text
    assert scan_files(pages, real_names(built.warehouse)) == []


def test_samples_keyed_by_identity_numbers_are_masked_in_results_and_data_docs(checked, tmp_path):
    """A suite over the residents (keyed by identity number) whose expectation every row
    fails: its sample and its Data Docs show masked numbers only."""
    built, _ = checked
    suite = Suite(
        "probe.residents", "staging", "population_base", "rk_jbxx",
        "SELECT * FROM main_staging.stg_population_base__residents", "resident_id",
    )  # fmt: skip
    SuiteBuilder(QualityConfig.load(), suite).in_set("code_list", "sex", "sex", ["none"])
    rows, docs = validate(built.warehouse, [suite], tmp_path / "docs")
    keys = rows[0]["unexpected_sample"].split(", ")
    assert rows[0]["unexpected_count"] > 100 and len(keys) == 5
    assert all(re.fullmatch(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]", key) for key in keys)
    pages = sorted(docs.parent.rglob("*.html"))
    # GX renders the sampled values (here sex codes), never the keys; the query it shows
    # masks the key column before GX reads it.
    text = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert "Sampled Unexpected Values" in text and "100% unexpected" in text
    assert scan_files(pages) == []


def test_only_checks_with_unexpected_rows_are_sampled_and_docs_hold_one_validation(
    checked, tmp_path
):
    """The counting pass samples nothing; the sampling pass runs the failing check alone, and
    its result replaces the counting one in the single validation Data Docs render."""
    built, _ = checked
    suite = Suite(
        "probe.sex", "staging", "population_base", "rk_jbxx",
        "SELECT * FROM main_staging.stg_population_base__residents", "resident_id",
    )  # fmt: skip
    build = SuiteBuilder(QualityConfig.load(), suite)
    build.in_set("code_list", "sex_none", "sex", ["none"])
    build.in_set("code_list", "sex_any", "sex", ["1", "2", "9"])
    rows, docs = validate(built.warehouse, [suite], tmp_path / "docs")
    failing, passing = rows
    assert failing["unexpected_count"] == failing["checked"] > 100
    assert len(failing["unexpected_sample"].split(", ")) == 5
    assert (passing["unexpected_count"], passing["unexpected_sample"]) == (0, None)
    validations = list((docs.parent / "validations").rglob("*.html"))
    assert len(validations) == 1 and "samples" not in str(validations[0])
    page = validations[0].read_text(encoding="utf-8")
    # both checks rendered, the failing one with its sample
    assert page.count("values must belong to this set") == 2
    assert page.count("Sampled Unexpected Values") == 1


def test_a_failing_uniqueness_check_of_identity_numbers_shows_them_masked(checked, tmp_path):
    """Uniqueness of a key judges the key itself: GX's sampled values (rendered in Data Docs)
    would be identity numbers; they are masked like the sample keys."""
    built, _ = checked
    residents = "SELECT * FROM main_staging.stg_population_base__residents"
    suite = Suite(
        "probe.twice", "theme", "population_base", "rk_jbxx",
        f"{residents} UNION ALL {residents}", "resident_id",
    )  # fmt: skip
    SuiteBuilder(QualityConfig.load(), suite).unique("resident_id")
    rows, docs = validate(built.warehouse, [suite], tmp_path / "docs")
    assert rows[0]["unexpected_count"] == rows[0]["checked"] > 1000
    pages = sorted(docs.parent.rglob("*.html"))
    text = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert "Sampled Unexpected Values" in text
    assert re.search(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]", text)
    assert scan_files(pages) == []


def test_the_run_releases_the_warehouse_file(checked):
    """GX's engines are closed: the same process (an Airflow task, the demo) can open the
    warehouse again, read-only or, once the run is over, for writing."""
    built, _ = checked
    duckdb.connect(str(built.warehouse)).close()
    assert query(built.warehouse, "SELECT count(*) FROM meta.loads")[0][0] == 6
