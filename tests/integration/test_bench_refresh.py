"""`make bench` on the tiny tier, so that the scale benchmark cannot rot: every stage of a full
and a one-day incremental refresh runs, the marts of the incremental refresh equal a rebuild
from scratch, the peers run on the same data, and both reports are written."""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import subprocess
import sys

import pytest

from bench.refresh import FULL_STAGES, INCREMENTAL_STAGES, ROOT, drop_peer_databases, mart_hashes

pytestmark = pytest.mark.integration


def run_bench(tmp, *options: str) -> tuple[dict, str]:
    """`python -m bench.refresh` on the tiny tier under `tmp`, with peer databases of its own
    (dropped afterwards): the report it wrote and what it printed."""
    database = f"bench_test_{secrets.token_hex(5)}"
    argv = [sys.executable, "-m", "bench.refresh", "--tier", "tiny", "--cache", str(tmp / "cache")]
    argv += ["--results", str(tmp / "results"), "--peer-database", database, *options]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1500)
    finally:
        drop_peer_databases(database)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp / "results" / "refresh-tiny.json").read_text(encoding="utf-8"))
    return report, done.stdout


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    report, stdout = run_bench(tmp)
    return tmp, report, stdout


def test_every_stage_of_both_refreshes_is_measured(bench_run):
    _, report, _ = bench_run
    assert [s["name"] for s in report["full"]] == list(FULL_STAGES)
    assert [s["name"] for s in report["incremental"]] == list(INCREMENTAL_STAGES)
    for stage in report["full"] + report["incremental"]:
        assert stage["seconds"] > 0 and stage["peak_rss_mib"] > 50 and stage["rows"] > 0, stage
        assert len(stage["details"]["commit"]) >= 7, stage
        landed = stage["name"] != "extract"  # the extract-only pass comes before any landing
        assert (stage["details"]["warehouse_bytes"] > 1_000_000) is landed, stage
    assert report["city_generation_seconds"] > 0  # the run generated its city
    # the disk held meanwhile: the city at least, and the warehouse too once it has landed
    city = report["city_bytes"]
    assert city > 1_000_000
    for stage in report["full"] + report["incremental"]:
        landed = stage["details"]["warehouse_bytes"] or 0
        assert stage["details"]["disk_peak_bytes"] >= city + 0.5 * landed, stage
    peak = max(s["details"]["disk_peak_bytes"] for s in report["full"] + report["incremental"])
    assert report["summary"]["disk_peak_gb"] == round(
        max(peak, report["advance_disk_peak_bytes"]) / 1e9, 1
    )
    full = {s["name"]: s for s in report["full"]}
    assert full["extract"]["rows"] == full["ingest"]["rows"]  # both read every source row
    assert full["quality"]["details"]["passed"] is True
    # person_file: the residents in force (some died or left) and the non-residents seen
    assert 0.9 * report["people"] < full["matching"]["rows"] < 1.2 * report["people"]


def test_the_first_load_reads_exactly_the_city_rows(bench_run):
    tmp, report, _ = bench_run
    city = tmp / "cache" / "sim-2000"
    full = {s["name"]: s for s in report["full"]}
    incremental = {s["name"]: s for s in report["incremental"]}
    assert 0 < incremental["ingest"]["rows"] < full["ingest"]["rows"] / 5  # by watermark
    assert report["advanced_to"] > report["city_clock"]
    conn = sqlite3.connect(city / "exchange" / "case_platform.sqlite")
    cases = conn.execute("SELECT COUNT(*) FROM bj_gcxx").fetchone()[0]
    conn.close()
    extraction = {r["table"]: r for r in report["peers"]["extraction"]}
    assert extraction["bj_gcxx"]["rows"] == cases


def test_the_incremental_marts_equal_a_rebuild_from_scratch(bench_run):
    tmp, report, _ = bench_run
    check = report["marts_check"]
    assert check["identical"] is True and check["differing"] == []
    assert check["tables"] >= 10
    # Figures are kept as each phase ends, so a long tier stopped midway still leaves them.
    partial = json.loads((tmp / "cache" / "refresh-tiny" / "report.partial.json").read_text())
    assert partial["full"] == report["full"] and partial["marts_check"] == check


def test_the_peers_ran_on_the_same_data(bench_run):
    _, report, _ = bench_run
    extraction = report["peers"]["extraction"]
    assert {(r["dialect"], r["table"]) for r in extraction} == {
        ("postgresql", "bj_jbxx"),
        ("postgresql", "bj_gcxx"),
        ("mysql", "dzzz_zzxx"),
        ("mysql", "dzzz_yyjl"),
    }
    assert all(r["connector_rows_per_s"] > 0 and r["pandas_rows_per_s"] > 0 for r in extraction)
    matching = report["peers"]["matching"]
    incremental = {s["name"]: s for s in report["incremental"]}
    # The row-wise evaluator finds exactly the matches the engine recorded on the same day.
    assert matching["rowwise_matches"] == incremental["matching"]["details"]["matches"]
    assert matching["rowwise_seconds"] > 0 and matching["sql_evaluation_seconds"] > 0


def test_both_reports_show_the_ratios_and_goals(bench_run):
    tmp, report, stdout = bench_run
    summary = report["summary"]
    full = {s["name"]: s for s in report["full"]}
    assert summary["quality_share_of_build"] == round(
        full["quality"]["seconds"] / full["build"]["seconds"], 3
    )
    assert summary["marts_identical"] is True
    text = (tmp / "results" / "refresh-tiny.md").read_text(encoding="utf-8")
    for heading in ("## Full refresh", "## One-day incremental refresh", "## Peers", "## Goals"):
        assert heading in text
    assert "| ingest |" in text and "row-by-row Python" in text
    assert "quality" in stdout and "(goal ≤ 10 %)" in stdout
    share = f"= {full['quality']['seconds'] / full['build']['seconds']:.0%} of the dbt build"
    assert share in stdout  # printed as soon as the full refresh ends
    postgres = report["peers"]["postgres_dbt"]
    assert postgres["dbt_exit_code"] == 0 and postgres["build_seconds"] > 0
    rebuild = {s["name"]: s for s in report["rebuild"]}
    ratio = round(postgres["build_seconds"] / rebuild["build"]["seconds"], 1)
    assert summary["duckdb_vs_postgres_build"] == ratio
    assert f"→ {ratio}×" in text and "postgres__ macros): " in text
    assert "keyed_hash" in postgres["overrides"] and "normalise_identity" in postgres["overrides"]
    assert f"dbt build DuckDB vs PostgreSQL {ratio}× faster" in stdout


def test_the_peers_can_be_run_again_on_a_finished_run(bench_run):
    """`--peers-only` runs every peer again on the last run's warehouses, with the DuckDB build
    of the rebuilt warehouse measured again beside PostgreSQL's, and rewrites both reports."""
    tmp, before, _ = bench_run
    after, _ = run_bench(tmp, "--peers-only")
    peers = after["peers"]
    assert peers["rerun_at"] and peers["postgres_dbt"]["dbt_exit_code"] == 0
    assert after["full"] == before["full"] and after["incremental"] == before["incremental"]
    assert after["rebuild"] != before["rebuild"]  # the DuckDB build was measured again
    duck = {s["name"]: s for s in after["rebuild"]}["build"]
    assert after["summary"]["duckdb_vs_postgres_build"] == round(
        peers["postgres_dbt"]["build_seconds"] / duck["seconds"], 1
    )
    assert peers["matching"]["rowwise_matches"] == before["peers"]["matching"]["rowwise_matches"]
    assert {r["table"] for r in peers["extraction"]} == {
        r["table"] for r in before["peers"]["extraction"]
    }
    text = (tmp / "results" / "refresh-tiny.md").read_text(encoding="utf-8")
    assert "(`--peers-only`)" in text


def test_a_tier_runs_as_tier_l_does(bench_run):
    """`--plan large`: no extract-only pass, no rebuild, the peers are tier M's (its committed
    report), and the city's exchange databases are Parquet folders, without the simulator's
    ground truth: the platform reads the same rows from them and builds the same marts as
    from the SQLite city of the first run."""
    tmp, own, _ = bench_run
    from_sqlite = mart_hashes(tmp / "cache" / "refresh-tiny" / "warehouse" / "warehouse.duckdb")
    shutil.copy(ROOT / "bench" / "results" / "refresh-M.json", tmp / "results")
    m = json.loads((tmp / "results" / "refresh-M.json").read_text(encoding="utf-8"))
    report, stdout = run_bench(tmp, "--plan", "large")
    assert report["plan"]["exchange_format"] == "parquet" and not report["plan"]["ground_truth"]
    assert report["city_generation_seconds"] > 0
    city = tmp / "cache" / "sim-2000-parquet-no-truth" / "exchange"
    assert list((city / "case_platform" / "bj_gcxx").glob("part-*.parquet"))
    assert not list(city.glob("*.sqlite"))
    for refresh in ("full", "incremental"):
        ingested = {s["name"]: s for s in report[refresh]}["ingest"]
        from_own = {s["name"]: s for s in own[refresh]}["ingest"]
        assert ingested["rows"] == from_own["rows"] > 0
        assert ingested["details"]["quarantined"] == from_own["details"]["quarantined"]
    assert mart_hashes(tmp / "cache" / "refresh-tiny" / "warehouse" / "warehouse.duckdb") == (
        from_sqlite
    )
    assert [s["name"] for s in report["full"]] == [n for n in FULL_STAGES if n != "extract"]
    assert [s["name"] for s in report["incremental"]] == list(INCREMENTAL_STAGES)
    assert "rebuild" not in report and report.get("marts_check") is None
    peers = report["peers"]
    assert peers["from_tier"]["tier"] == "M" and peers["from_tier"]["started"] == m["started"]
    assert report["summary"]["duckdb_vs_postgres_build"] == m["summary"]["duckdb_vs_postgres_build"]
    assert peers["extraction"] == m["peers"]["extraction"]
    # so is the row-wise matching peer (at L it would hold about 20 GiB of Python objects)
    assert peers["matching"] == {**m["peers"]["matching"], "from_tier": "M"}
    assert report["summary"]["matching_vs_rowwise"] == m["summary"]["matching_vs_rowwise"]
    assert "matching vs row-wise Python" in stdout and "(tier M's figure)" in stdout
    assert "marts identical to a full rebuild: not checked on this tier" in stdout
    text = (tmp / "results" / "refresh-tiny.md").read_text(encoding="utf-8")
    assert "tier M's (run " in text and "no marts check" in text
    assert report["duckdb_memory_limits"]["ingest"] == "6GB"
