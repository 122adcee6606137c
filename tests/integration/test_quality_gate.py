"""The quality gate on small simulator cities, run as the warehouse DAG runs it (quality_gate,
then publish only if the gate passed): a city without defects passes every expectation and is
published; subtle breakage (2 % invalid channel codes in the case platform, one day the case
platform was not loaded) fails the gate, leaves the served snapshot byte-identical, raises an
alert naming the expectation and shows the failing run in the published operations store."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from groundfloor.files import file_sha256
from quality import QualityGateFailed
from quality.config import QualityConfig
from quality.runner import run_quality
from quality.suites import all_suites
from simulator.run import advance_city
from tests.helpers.warehouse import query
from tests.integration.quality_cities import (
    Deployment,
    build_day,
    built_city,
    copy_built,
    gate_then_publish,
    ingest,
)

pytestmark = pytest.mark.integration
CHANNEL_CHECK = "raw.bj_jbxx.SQFS.code_list"
FRESHNESS_CHECK = "delivery.case_platform.case_platform.freshness"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A city generated with every defect switched off, ingested and built."""
    return built_city(
        tmp_path_factory.mktemp("clean"), people=1500, seed=5, months=8, defects=False
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    return Deployment(tmp_path_factory.mktemp("deployment"))


@pytest.fixture(scope="module")
def served(clean, deployment):
    """The clean build through the gate and published: the last good snapshot."""
    gate = gate_then_publish(deployment, clean)
    return gate, file_sha256(deployment.published)


def break_channels(city, share: float) -> tuple[int, int]:
    """Set SQFS to 9 (not in the channel code list) in `share` of the delivered cases."""
    conn = sqlite3.connect(city / "exchange" / "case_platform.sqlite")
    try:
        (total,) = conn.execute("SELECT count(*) FROM bj_jbxx").fetchone()
        broken = round(total * share)
        conn.execute(
            "UPDATE bj_jbxx SET SQFS = '9' WHERE SBLSH IN "
            "(SELECT SBLSH FROM bj_jbxx ORDER BY SBLSH LIMIT ?)",
            [broken],
        )
        conn.commit()
    finally:
        conn.close()
    return broken, total


@pytest.fixture(scope="module")
def channel_breakage(clean, served, deployment, tmp_path_factory):
    """The clean city again, 2 % of its cases with an invalid channel, into a new warehouse."""
    tmp = tmp_path_factory.mktemp("channels")
    broken = copy_built(clean, tmp)
    counts = break_channels(broken.city, 0.02)
    broken.warehouse.unlink()
    ingest(broken.city, broken.warehouse)
    built = build_day(broken.city, broken.warehouse)
    with pytest.raises(QualityGateFailed) as failure:
        gate_then_publish(deployment, built)
    return failure.value, counts, file_sha256(deployment.published)


@pytest.fixture(scope="module")
def missing_day(clean, served, deployment, tmp_path_factory):
    """The clean city one day on, every source loaded but the case platform."""
    tmp = tmp_path_factory.mktemp("missing")
    moved = copy_built(clean, tmp)
    advance_city(moved.city, 1)
    others = ["certificate_library", "hotline_12345", "evaluation_hcp", "population_base",
              "legal_entity_base"]  # fmt: skip
    ingest(moved.city, moved.warehouse, others)
    built = build_day(moved.city, moved.warehouse)
    assert built.as_of > clean.as_of
    with pytest.raises(QualityGateFailed) as failure:
        gate_then_publish(deployment, built)
    return failure.value, file_sha256(deployment.published)


def test_a_city_without_defects_passes_every_critical_and_warning_expectation(clean, tmp_path):
    run = run_quality(
        clean.warehouse,
        clean.as_of,
        operations_store=tmp_path / "ops.duckdb",
        published_operations=tmp_path / "published.duckdb",
        docs_dir=tmp_path / "docs",
    )
    failed = [r["expectation_id"] for r in run.results if not r["success"]]
    assert failed == []
    assert run.passed and run.critical_failures == [] and run.warnings == []
    # every expectation of every suite ran, one result each (the structural checks of the
    # models are dbt's: test_structural_checks_are_dbt_tests_in_the_yml_and_not_in_gx)
    suites = all_suites(QualityConfig.load(), clean.as_of)
    assert [r["expectation_id"] for r in run.results] == [c.id for s in suites for c in s.checks]
    assert {r["layer"] for r in run.results} == {"raw", "staging", "theme", "delivery"}
    assert {r["severity"] for r in run.results} == {"critical", "warning"}


def test_the_clean_build_passes_the_gate_and_is_published(served, deployment):
    gate, digest = served
    assert gate["passed"] and gate["failed"] == [] and gate["failed_critical"] == 0
    assert deployment.published.exists() and len(digest) == 64
    runs = query(deployment.published_operations, "SELECT run_id, passed FROM quality_runs")
    assert (gate["run_id"], True) in runs


@pytest.mark.parametrize("scenario", ["channel_breakage", "missing_day"])
def test_subtle_breakage_fails_the_gate_and_the_served_snapshot_is_unchanged(
    scenario, request, served
):
    failure, *_, digest = request.getfixturevalue(scenario)
    assert not failure.run.passed
    assert digest == served[1]


def test_two_percent_invalid_channels_fail_only_the_channel_expectation(channel_breakage):
    failure, (broken, total), _ = channel_breakage
    assert 0.0195 < broken / total < 0.0205
    ids = [text.split(":")[0] for text in failure.run.critical_failures]
    assert ids == [CHANNEL_CHECK]
    row = next(r for r in failure.run.results if r["expectation_id"] == CHANNEL_CHECK)
    assert (row["unexpected_count"], row["checked"]) == (broken, total)
    assert row["threshold"] == 0.01 and not row["success"]


def test_one_missing_day_of_one_source_fails_its_freshness(missing_day):
    failure, _ = missing_day
    ids = [text.split(":")[0] for text in failure.run.critical_failures]
    assert ids == [FRESHNESS_CHECK]


@pytest.mark.parametrize(
    ("scenario", "check"),
    [("channel_breakage", CHANNEL_CHECK), ("missing_day", FRESHNESS_CHECK)],
)
def test_the_alert_names_the_failed_expectation(scenario, check, request, deployment):
    failure = request.getfixturevalue(scenario)[0]
    alerts = query(
        deployment.operations,
        "SELECT severity, task_id, message FROM task_alerts WHERE run_id = ?",
        [failure.run.run_id],
    )
    assert len(alerts) == 1
    severity, task, message = alerts[0]
    assert (severity, task) == ("critical", "quality_gate") and check in message


@pytest.mark.parametrize(
    ("scenario", "check"),
    [("channel_breakage", CHANNEL_CHECK), ("missing_day", FRESHNESS_CHECK)],
)
def test_the_published_operations_store_shows_the_failing_run(scenario, check, request, deployment):
    failure = request.getfixturevalue(scenario)[0]
    published = deployment.published_operations
    run_id = failure.run.run_id
    assert query(
        published, "SELECT passed, critical_failed FROM quality_runs WHERE run_id = ?", [run_id]
    ) == [(False, 1)]
    assert query(
        published,
        "SELECT success, severity FROM quality_results WHERE run_id = ? AND expectation_id = ?",
        [run_id, check],
    ) == [(False, "critical")]
    alerts = "SELECT count(*) FROM task_alerts WHERE run_id = ?"
    assert query(published, alerts, [run_id]) == [(1,)]
    assert stat.S_IMODE(published.stat().st_mode) == 0o644


def test_two_percent_invalid_channels_score_conformity_of_sqfs_at_0_980(
    channel_breakage, deployment
):
    failure, (broken, total), _ = channel_breakage
    (score,) = query(
        deployment.published_operations,
        "SELECT score FROM quality_scorecard_columns WHERE run_id = ? AND table_name = 'bj_jbxx'"
        " AND column_name = 'SQFS' AND dimension = '规范性'",
        [failure.run.run_id],
    )[0]
    assert round(score, 3) == 0.980
    assert score == (total - broken) / total


def test_a_system_score_is_its_column_scores_weighted_by_values_checked(
    channel_breakage, deployment
):
    run_id = channel_breakage[0].run.run_id
    columns = query(
        deployment.published_operations,
        "SELECT department, dimension, sum(checked), sum(passed), count(*) "
        "FROM quality_scorecard_columns WHERE run_id = ? AND source_system = 'case_platform' "
        "GROUP BY ALL",
        [run_id],
    )
    systems = {
        (department, dimension): (checked, passed, score)
        for department, dimension, checked, passed, score in query(
            deployment.published_operations,
            "SELECT department, dimension, checked, passed, score FROM quality_scorecard "
            "WHERE run_id = ? AND source_system = 'case_platform'",
            [run_id],
        )
    }
    assert len(systems) == 6  # every GB/T 36344 dimension
    assert any(n > 1 for *_, n in columns)
    for department, dimension, checked, passed, _ in columns:
        assert systems[department, dimension] == (checked, passed, passed / checked)
    conformity = systems["市行政审批局", "规范性"][2]
    assert 0.98 < conformity < 1.0
