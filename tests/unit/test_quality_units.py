"""The quality step's parts that need no city: configuration, samples of masked keys (the
masking itself: tests/unit/test_masking.py), scorecard arithmetic, the suites' ids and
publishing."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from pathlib import Path

import duckdb
import pytest
import yaml

from ingestion.warehouse import META_DDL
from quality.config import CONFIG_FILE, DIMENSIONS, ConfigError, QualityConfig, parse_model_suites
from quality.runner import blocks, describe, publish_operations, sample
from quality.store import DDL, write_scorecards
from quality.suites import (
    accessibility_sql,
    all_suites,
    freshness_sql,
    future_stamp_sql,
    volume_sql,
)

AS_OF = dt.date(2025, 8, 31)
ROOT = Path(__file__).resolve().parents[2]


def test_config_rules_come_from_the_kind_then_the_expectation_override():
    config = QualityConfig.load(overrides={"raw.bj_jbxx.SQFS.code_list": {"threshold": 0.005}})
    assert config.rule("code_list", "raw.bj_jbxx.SQFS.code_list").threshold == 0.005
    default = config.rule("code_list", "raw.bj_jbxx.XZQHDM.code_list")
    assert (default.severity, default.threshold, default.dimension) == ("critical", 0.01, "规范性")
    assert config.rule("timestamp_order", "x").severity == "warning"
    assert {config.checks[kind]["dimension"] for kind in config.checks} == set(DIMENSIONS)


def test_config_refuses_an_unknown_severity():
    config = QualityConfig.load(overrides={"x": {"severity": "fatal"}})
    with pytest.raises(ValueError, match="severity"):
        config.rule("required", "x")


def test_owning_department_by_table_then_system():
    config = QualityConfig.load()
    assert config.department("population_base", "rk_tsqt") == "市民政局"
    assert config.department("population_base", "rk_jbxx") == "市公安局"
    assert config.department("legal_entity_base", "fr_ndxx") == "市税务局"
    assert config.department("nowhere") == "unknown"


def test_every_expectation_has_a_unique_id_and_a_threshold_as_gx_mostly():
    suites = all_suites(QualityConfig.load(), AS_OF)
    checks = [c for s in suites for c in s.checks]
    assert len({c.id for c in checks}) == len(checks)
    for check in checks:
        mostly = check.expectation.mostly if check.rule.threshold else 1.0
        assert mostly == pytest.approx(1 - check.rule.threshold)
    defects = {c.defect for c in checks} - {None}
    assert defects == {"D4", "D5", "D6", "D7", "D8", "D13"}


def test_only_staging_batches_that_join_or_compute_columns_are_copied_first():
    suites = {s.name: s for s in all_suites(QualityConfig.load(), AS_OF)}
    copied = {name for name, s in suites.items() if s.copied}
    assert {"staging.stg_case_platform__cases", "staging.stg_evaluation_hcp__ratings"} <= copied
    plain = (
        "staging.stg_certificate_library__certificates",
        "staging.stg_hotline_12345__work_orders",
    )
    assert set(plain) <= set(suites) and not copied & set(plain)  # read in place
    # the case steps (a copy of tier L's spilled 17.5 GB) have no GX check left: dbt tests them
    assert "staging.stg_case_platform__case_steps" not in suites
    assert all(s.layer == "staging" for s in suites.values() if s.copied)
    for name in copied:  # a copied batch is the model with computed columns
        assert suites[name].query.startswith("SELECT *, ")


# ── the model suite table (quality/config.yaml `model_suites:`) ──────────────────────────────

# What the table must yield: suite -> its expectation ids (without the suite's name).
MODEL_SUITES = {
    "staging.stg_case_platform__cases": [
        "is_applicant_id_valid.identity_number.identity_valid",
        "is_applicant_id_valid.uscc.identity_valid",
        "SLSJ.timestamp_order",
        "BJSJ.timestamp_order",
        "item.reference",
    ],
    "staging.stg_case_platform__help_sessions": [
        "is_requester_id_valid.identity_number.identity_valid",
        "SCXYSJ.timestamp_order",
    ],
    "staging.stg_certificate_library__certificates": [
        "is_holder_id_valid.identity_number.identity_valid",
        "is_holder_id_valid.uscc.identity_valid",
        "ZZZT.stale_status",
    ],
    "staging.stg_certificate_library__certificate_uses": ["case.reference"],
    "staging.stg_evaluation_hcp__ratings": ["ZGWCSJ.timestamp_order", "case.reference"],
    "staging.stg_hotline_12345__work_orders": ["is_caller_id_valid.identity_number.identity_valid"],
    "staging.stg_legal_entity_base__entities": [
        "is_legal_representative_id_valid.identity_number.identity_valid"
    ],
    "staging.stg_population_base__grants": [
        "is_subject_id_valid.identity_number.identity_valid",
        "is_subject_id_valid.uscc.identity_valid",
    ],
    "theme.person_file": ["identity_number_masked.theme_rule", "age.theme_rule"],
    "theme.enterprise_file": ["legal_representative_id_masked.theme_rule"],
    "theme.kpi_monthly": ["rate.theme_rule"],
}


def test_the_suite_table_yields_exactly_the_expected_suites_and_expectations():
    suites = all_suites(QualityConfig.load(), AS_OF)
    model = [s for s in suites if s.layer in ("staging", "theme")]
    assert {s.name: [c.id.removeprefix(f"{s.name}.") for c in s.checks] for s in model} == (
        MODEL_SUITES
    )
    assert (len(model), sum(len(s.checks) for s in model)) == (11, 21)
    layers = [s.layer for s in suites]
    assert (layers.count("raw"), layers.count("delivery")) == (14, 6)  # built from the contract
    by_id = {c.id: (s, c) for s in suites for c in s.checks}
    suite, check = by_id[
        "staging.stg_case_platform__cases.is_applicant_id_valid.uscc.identity_valid"
    ]
    assert (suite.system, suite.table, suite.key, suite.copied) == (
        "case_platform", "bj_jbxx", "case_id", True,
    )  # fmt: skip
    assert (check.kind, check.column, check.defect) == (
        "identity_valid",
        "is_applicant_id_valid",
        "D5",
    )
    assert (check.rule.severity, check.rule.threshold) == ("warning", 0.02)
    assert check.expectation.value_set == [True] and check.expectation.mostly == 0.98
    assert check.expectation.row_condition.column.name == "applicant_id_type"
    _, uses = by_id["staging.stg_certificate_library__certificate_uses.case.reference"]
    assert (uses.column, uses.expectation.column, uses.defect) == (
        "case_id",
        "case_reference",
        "D8",
    )
    cutoff = AS_OF - dt.timedelta(days=QualityConfig.load().late_arrival_grace_days)
    assert f"used_at < DATE '{cutoff}'" in by_id[uses.id][0].query
    _, rate = by_id["theme.kpi_monthly.rate.theme_rule"]
    assert (rate.expectation.min_value, rate.expectation.max_value) == (0, 1)
    assert (rate.rule.severity, rate.rule.threshold) == ("critical", 0.0)


def dbt_tests() -> dict[str, dict[str, set[str]]]:
    """model -> column (or "<model>" for model-level tests) -> the names of its dbt data tests,
    from every yml of dbt_project/models, plus the singular tests of dbt_project/tests."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in (ROOT / "dbt_project" / "models").rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            tests = found.setdefault(model["name"], {})
            for test in model.get("data_tests") or []:
                (name, spec), *_ = test.items()
                tests.setdefault("<model>", set()).add(spec.get("name", name))
            for column in model.get("columns") or []:
                for test in column.get("data_tests") or []:
                    name = test if isinstance(test, str) else next(iter(test))
                    tests.setdefault(column["name"], set()).add(name)
    for path in (ROOT / "dbt_project" / "tests").glob("*.sql"):
        model = re.search(r"ref\('(\w+)'\)", path.read_text(encoding="utf-8")).group(1)
        found.setdefault(model, {}).setdefault("<model>", set()).add(path.stem)
    return found


# The structural checks GX ran until issue #30 and dbt's yml runs now (docs/quality.md,
# "Where each check lives"): model -> column -> the dbt tests that must be there.
STRUCTURAL = {
    "stg_case_platform__cases": {
        "case_id": {"unique", "not_null"},
        **{
            c: {"not_null"} for c in ("item_code", "channel", "applied_at", "status", "region_code")
        },
    },
    "stg_case_platform__service_items": {
        "item_code": {"unique", "not_null"},
        **{c: {"not_null"} for c in ("item_name", "department_code", "committed_limit_workdays")},
    },
    "stg_case_platform__case_steps": {
        "step_id": {"unique", "not_null"},
        **{c: {"not_null"} for c in ("case_id", "step_code", "handled_at")},
    },
    "stg_case_platform__help_sessions": {
        "help_session_id": {"unique"},
        "requested_at": {"not_null"},
    },
    "stg_certificate_library__certificates": {
        "certificate_id": {"unique", "not_null"},
        **{c: {"not_null"} for c in ("certificate_type", "holder_id_raw", "valid_from")},
    },
    "stg_certificate_library__certificate_uses": {
        "certificate_use_id": {"unique"},
        "case_id": {"not_null"},
    },
    "stg_evaluation_hcp__ratings": {
        "rating_id": {"unique", "not_null"},
        **{c: {"not_null"} for c in ("case_id", "rated_at", "rating_level")},
    },
    "stg_hotline_12345__work_orders": {
        "work_order_id": {"unique", "not_null"},
        **{c: {"not_null"} for c in ("called_at", "appeal_type", "region_code", "status")},
    },
    "stg_legal_entity_base__entities": {
        "uscc": {"unique", "not_null"},
        **{c: {"not_null"} for c in ("entity_name", "established_on", "region_code")},
    },
    "stg_legal_entity_base__annual_facts": {
        "<model>": {"assert_stg_legal_entity_base__annual_facts_key_unique"}
    },
    "stg_population_base__residents": {
        "resident_id": {"unique", "not_null"},
        **{c: {"not_null"} for c in ("name", "sex", "birth_date", "hukou_region_code")},
    },
    "stg_population_base__special_groups": {
        "special_group_id": {"unique"},
        **{c: {"not_null"} for c in ("resident_id", "group_type", "started_on")},
    },
    "stg_population_base__grants": {
        "grant_id": {"unique"},
        **{
            c: {"not_null"}
            for c in ("policy_code", "grant_period", "subject_id_raw", "amount_yuan")
        },
    },
    "stg_population_base__deliveries": {
        "<model>": {"assert_stg_population_base__deliveries_key_unique"}
    },
    "person_file": {"person_key": {"unique", "not_null"}},
    "enterprise_file": {"enterprise_key": {"unique", "not_null"}},
    "kpi_monthly": {
        "<model>": {
            "kpi_monthly_grain_is_unique",
            "kpi_monthly_numerator_never_exceeds_denominator",
        }
    },
}


def test_structural_checks_are_dbt_tests_in_the_yml_and_not_in_gx():
    tests = dbt_tests()
    for model, columns in STRUCTURAL.items():
        for column, wanted in columns.items():
            assert wanted <= tests.get(model, {}).get(column, set()), (model, column)
    suites = all_suites(QualityConfig.load(), AS_OF)
    model_checks = [c for s in suites if s.layer in ("staging", "theme") for c in s.checks]
    assert model_checks and not [c.id for c in model_checks if c.kind in ("unique_key", "required")]
    ids = {c.id for c in model_checks}
    assert "staging.stg_case_platform__cases.case_id.unique_key" not in ids
    assert "theme.kpi_monthly.numerator.theme_rule" not in ids  # numerator <= denominator: dbt
    # what stays in GX feeds the defect rates (D4, D5, D6, D8, D13) or is a theme rule dbt
    # does not test (masking, age, rate within [0, 1])
    assert {c.kind for c in model_checks} == {
        "identity_valid", "stale_status", "timestamp_order", "reference", "theme_rule",
    }  # fmt: skip


CHECKS = QualityConfig.load().checks


def valid_suite(**changes) -> dict:
    suite = {
        "suite": "staging.stg_x",
        "system": "case_platform",
        "table": "bj_jbxx",
        "model": "stg_x",
        "key": "x_id",
        "copied": False,
        "expectations": [
            {"check": "identity_valid", "expect": "in_set", "column": "ok", "values": [True]}
        ],
    }
    return {**suite, **changes}


def valid_row(**changes) -> dict:
    row = {"check": "theme_rule", "expect": "between", "column": "age", "min": 0, "max": 150}
    return {k: v for k, v in {**row, **changes}.items() if v is not None}


def test_a_valid_table_row_parses_into_its_spec():
    (spec,) = parse_model_suites([valid_suite(computed={"ok": "a = b"})], CHECKS)
    assert (spec.relation, spec.copied, spec.computed) == (
        "main_staging.stg_x",
        False,
        (("ok", "a = b"),),
    )
    (row,) = spec.expectations
    assert (row.name, row.check, row.expect, row.params) == (
        "ok",
        "identity_valid",
        "in_set",
        (("values", [True]),),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"suites": []}, "model_suites: must be a list"),
        (
            [valid_suite(expectations=[valid_row(expect="matches_regex")])],
            "unknown expectation kind expect='matches_regex'",
        ),
        (
            [valid_suite(expectations=[valid_row(column=None)])],
            r"expectations\[0\]: missing column",
        ),
        ([valid_suite(expectations=[valid_row(max=None)])], "missing max"),
        (
            [valid_suite(expectations=[valid_row(values=[1])])],
            r"\['values'\] mean nothing to expect=between",
        ),
        ([valid_suite(expectations=[valid_row(check="tidy")])], "unknown check 'tidy'"),
        ([valid_suite(expectations=[valid_row(severity="fatal")])], "severity 'fatal'"),
        ([valid_suite(expectations=[valid_row(threshold=2)])], "threshold 2 is a share"),
        ([valid_suite(expectations=[valid_row(colour="red")])], "unknown key.s. colour"),
        ([valid_suite(expectations=[valid_row(where={"a": 1, "b": 2})])], "where is one"),
        ([valid_suite(expectations=[])], "expectations must be a non-empty list"),
        (
            [valid_suite(expectations=[valid_row(), valid_row()])],
            "staging.stg_x.age.theme_rule twice",
        ),
        ([valid_suite(key=None)], r"model_suites\[0\] \(staging.stg_x\): missing key"),
        ([{k: v for k, v in valid_suite().items() if k != "copied"}], "missing copied"),
        ([valid_suite(suite="mart.stg_x")], "named <layer>.<model>"),
        ([valid_suite(model="stg_y")], "named <layer>.<model>"),
        ([valid_suite(copied="yes")], "copied must be true or false"),
        ([valid_suite(computed={"ok": ""})], "computed maps a column name to an SQL expression"),
    ],
)
def test_the_suite_table_is_validated_on_load_with_clear_errors(table, message):
    with pytest.raises(ConfigError, match=message):
        parse_model_suites(table, CHECKS)


def test_the_config_file_is_validated_when_loaded(tmp_path):
    broken = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    broken["model_suites"][0]["expectations"][0]["expect"] = "in_list"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"staging.stg_case_platform__cases.*expect='in_list'"):
        QualityConfig.load(path)


def test_a_sample_holds_distinct_masked_keys_only():
    values = {
        "partial_unexpected_index_list": [
            {"sample_key": "36070219900101123X", "value": "9"},
            {"sample_key": "36070219900101123X", "value": "9"},
            {"sample_key": "BB1", "value": "9"},
        ]
    }
    assert sample(values) == "360702********123X, BB1"
    assert sample({}) is None


def test_a_failure_is_described_with_its_counts_and_threshold():
    row = {"expectation_id": "raw.bj_jbxx.SQFS.code_list", "error": None, "checked": 1000,
           "unexpected_count": 20, "unexpected_share": 0.02, "threshold": 0.01}  # fmt: skip
    assert describe(row) == (
        "raw.bj_jbxx.SQFS.code_list: 20 of 1,000 (2.00%) unexpected, 1.00% tolerated"
    )


@pytest.mark.parametrize(
    ("success", "severity", "error", "blocking"),
    [
        (False, "critical", None, True),
        (False, "warning", None, False),  # warnings never block
        (True, "critical", None, False),
        (False, "warning", "MetricResolutionError", True),  # a check that cannot run
    ],
)
def test_what_blocks_the_gate(success, severity, error, blocking):
    assert blocks({"success": success, "severity": severity, "error": error}) is blocking


def store_with(results: list[tuple]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    for statement in DDL:
        conn.execute(statement)
    for run_id, day, table, column, dimension, checked, unexpected in results:
        conn.execute(
            "INSERT INTO quality_results (run_id, as_of, source_system, department, table_name, "
            "column_name, dimension, checked, unexpected_count) VALUES (?, ?, 'case_platform', "
            "'市行政审批局', ?, ?, ?, ?, ?)",
            [run_id, day, table, column, dimension, checked, unexpected],
        )
    return conn


def test_scorecard_scores_columns_and_aggregates_systems_by_values_checked():
    conn = store_with([
        ("r1", AS_OF, "bj_jbxx", "SQFS", "规范性", 1000, 20),
        ("r1", AS_OF, "bj_jbxx", "XZQHDM", "规范性", 500, 0),
        ("r1", AS_OF, "bj_jbxx", "SQFS", "完整性", 1000, 0),
        ("r1", AS_OF, "bj_gcxx", "HJDM", "规范性", 500, 5),
    ])  # fmt: skip
    write_scorecards(conn, "r1", AS_OF)
    columns = dict(
        conn.execute(
            "SELECT table_name || '.' || column_name, score FROM quality_scorecard_columns "
            "WHERE dimension = '规范性'"
        ).fetchall()
    )
    assert columns == {"bj_jbxx.SQFS": 0.98, "bj_jbxx.XZQHDM": 1.0, "bj_gcxx.HJDM": 0.99}
    system = conn.execute(
        "SELECT checked, passed, score FROM quality_scorecard WHERE dimension = '规范性'"
    ).fetchall()
    assert system == [(2000, 1975, 1975 / 2000)]


def test_scorecard_rerun_of_a_day_replaces_that_day_and_keeps_history():
    conn = store_with([
        ("r1", AS_OF, "bj_jbxx", "SQFS", "规范性", 100, 10),
        ("r0", AS_OF - dt.timedelta(days=1), "bj_jbxx", "SQFS", "规范性", 100, 0),
        ("r2", AS_OF, "bj_jbxx", "SQFS", "规范性", 100, 1),
    ])  # fmt: skip
    for run_id, day in [("r0", AS_OF - dt.timedelta(days=1)), ("r1", AS_OF), ("r2", AS_OF)]:
        write_scorecards(conn, run_id, day)
    rows = conn.execute(
        "SELECT as_of, run_id, score FROM quality_scorecard ORDER BY as_of"
    ).fetchall()
    assert rows == [(AS_OF - dt.timedelta(days=1), "r0", 1.0), (AS_OF, "r2", 0.99)]


def test_publish_operations_swaps_in_a_readable_copy(tmp_path):
    store = tmp_path / "ops.duckdb"
    conn = duckdb.connect(str(store))
    conn.execute("CREATE TABLE quality_runs AS SELECT 'r1' AS run_id")
    conn.close()
    published = tmp_path / "published" / "ops.duckdb"
    publish_operations(store, published)
    os.chmod(published, 0o600)  # a stale copy: the next publish must replace it, mode and all
    publish_operations(store, published)
    assert stat.S_IMODE(published.stat().st_mode) == 0o644
    assert sorted(p.name for p in published.parent.iterdir()) == ["ops.duckdb"]
    copy = duckdb.connect(str(published), read_only=True)
    assert copy.execute("SELECT run_id FROM quality_runs").fetchall() == [("r1",)]
    copy.close()


# ── the delivery suite's SQL (freshness, accessibility, volume) on a bookkeeping of one's own ──


def bookkeeping(loads=(), watermarks=(), snapshots=(), files=(), audit=()):
    """An in-memory warehouse holding only the ingestion's meta tables, filled by hand."""
    conn = duckdb.connect()
    for statement in META_DDL:
        conn.execute(statement)
    for system, finished, status, *as_of in loads:  # as_of: the day the run loaded for
        conn.execute(
            "INSERT INTO meta.loads VALUES (?, ?, ?, ?, ?, NULL, ?)",
            [f"{system}-{finished}", system, finished, finished, status, *(as_of or [None])],
        )
    for system, value in watermarks:
        conn.execute(
            "INSERT INTO meta.watermarks VALUES (?, 't', 'GXSJ', ?, 'l', NULL)", [system, value]
        )
    for day, status in snapshots:
        conn.execute(
            "INSERT INTO meta.snapshots VALUES ('population_base', 'rk_jbxx', ?, 1, 1, ?, "
            "NULL, 'l', NULL)",
            [day, status],
        )
    for month in files:
        conn.execute("INSERT INTO meta.files (system, month) VALUES ('evaluation_hcp', ?)", [month])
    for n, rows in enumerate(audit):
        conn.execute(
            "INSERT INTO meta.load_audit (system, table_name, rows_read, recorded_at) "
            "VALUES ('case_platform', 'bj_jbxx', ?, TIMESTAMP '2025-08-01' + ? * INTERVAL 1 HOUR)",
            [rows, n],
        )
    return conn


def outcomes(conn, sql: str) -> list[str]:
    return [row[2] for row in conn.execute(sql).fetchall()]


NEWEST = dt.datetime(2025, 9, 1, 2, 0)


@pytest.mark.parametrize(
    ("hours_behind", "watermark", "fresh"),
    [
        (1, "2025-08-31 22:00:00", "pass"),
        (5, "2025-08-31 22:00:00", "fail"),  # not loaded in the last cycles (max 3 h)
        (1, "2025-08-30 23:59:00", "fail"),  # loaded, but nothing of the as-of day arrived
    ],
)
def test_case_platform_freshness_by_load_age_and_data_horizon(hours_behind, watermark, fresh):
    behind = NEWEST - dt.timedelta(hours=hours_behind)
    conn = bookkeeping(
        loads=[("case_platform", behind, "ok"), ("hotline_12345", NEWEST, "ok")],
        watermarks=[("case_platform", watermark)],
    )
    sql = freshness_sql(QualityConfig.load(), "case_platform", AS_OF)
    assert outcomes(conn, sql) == [fresh]


def test_a_re_run_of_a_past_date_is_judged_by_the_days_loaded_for_not_the_wall_clock():
    """Every system was loaded for 10 September; days later an operator re-runs the case
    platform for 1 September and builds 31 August. The other systems' last loads are days
    older on the wall clock than that re-run, yet they were loaded for later days: fresh."""
    first = dt.datetime(2025, 9, 10, 2, 0)
    rerun = dt.datetime(2025, 9, 12, 15, 0)
    conn = bookkeeping(
        loads=[
            ("case_platform", first, "ok", dt.date(2025, 9, 10)),
            ("hotline_12345", first, "ok", dt.date(2025, 9, 10)),
            ("case_platform", rerun, "ok", dt.date(2025, 9, 1)),
        ],
        watermarks=[("case_platform", "2025-09-10 01:00:00")],
    )
    config = QualityConfig.load()
    for system in ("case_platform", "hotline_12345"):
        assert outcomes(conn, freshness_sql(config, system, AS_OF)) == ["pass"], system


@pytest.mark.parametrize(
    ("system", "fresh"),
    [("certificate_library", "fail"), ("legal_entity_base", "pass")],  # 3 h and 26 h allowed
)
def test_a_system_last_loaded_for_the_day_before_is_judged_by_its_allowed_age(system, fresh):
    """Loaded for 31 August, not for the run's day (1 September), though the loads' wall-clock
    times are the same: an hourly system is stale, a daily one (26 h) is not."""
    conn = bookkeeping(
        loads=[
            (system, NEWEST, "ok", dt.date(2025, 8, 31)),
            ("case_platform", NEWEST, "ok", dt.date(2025, 9, 1)),
        ]
    )
    assert outcomes(conn, freshness_sql(QualityConfig.load(), system, AS_OF)) == [fresh]


@pytest.mark.parametrize(
    ("snapshots", "fresh"),
    [
        ([(AS_OF, "applied")], "pass"),
        ([(AS_OF - dt.timedelta(days=1), "applied"), (AS_OF, "refused")], "fail"),  # D15
    ],
)
def test_population_freshness_needs_the_snapshot_of_the_day(snapshots, fresh):
    conn = bookkeeping(loads=[("population_base", NEWEST, "ok")], snapshots=snapshots)
    sql = freshness_sql(QualityConfig.load(), "population_base", AS_OF)
    assert outcomes(conn, sql) == [fresh]


@pytest.mark.parametrize(
    ("as_of", "latest_month", "fresh"),
    [
        (AS_OF, "202507", "pass"),
        (AS_OF, "202506", "fail"),  # July's file was due by 7 August
        (dt.date(2025, 8, 5), "202506", "pass"),  # July's is not due before the 7th
    ],
)
def test_ratings_files_are_due_by_the_seventh_of_the_next_month(as_of, latest_month, fresh):
    conn = bookkeeping(loads=[("evaluation_hcp", NEWEST, "ok")], files=["202505", latest_month])
    sql = freshness_sql(QualityConfig.load(), "evaluation_hcp", as_of)
    assert outcomes(conn, sql) == [fresh]


@pytest.mark.parametrize(
    ("raised_hours_before_newest", "outcome"), [(None, "pass"), (3, "fail"), (30, "pass")]
)
def test_a_row_stamped_after_its_source_clock_fails_the_future_stamp_check(
    raised_hours_before_newest, outcome
):
    conn = bookkeeping(loads=[("case_platform", NEWEST, "ok")])
    if raised_hours_before_newest is not None:
        conn.execute(
            "INSERT INTO meta.alerts VALUES (?, 'case_platform', 'bj_gcxx', 'warning', "
            "'future_timestamp', '1 row(s) stamped GXSJ after the source''s clock', 'l')",
            [NEWEST - dt.timedelta(hours=raised_hours_before_newest)],
        )
    assert outcomes(conn, future_stamp_sql("case_platform")) == [outcome]


def test_every_load_of_the_last_day_counts_for_accessibility():
    conn = bookkeeping(
        loads=[
            ("hotline_12345", NEWEST - dt.timedelta(hours=30), "failed"),  # older than a day
            ("hotline_12345", NEWEST - dt.timedelta(hours=2), "failed"),
            ("hotline_12345", NEWEST, "ok"),
        ]
    )
    assert sorted(outcomes(conn, accessibility_sql("hotline_12345"))) == ["fail", "pass"]


@pytest.mark.parametrize(
    ("rows_read", "volume"),
    [
        ([100, 110, 90, 120], "pass"),
        ([100, 110, 90, 170], "fail"),  # above 1.5 × the previous maximum
        ([100, 110, 90, 40], "fail"),  # below 0.5 × the previous minimum
        ([100, 110, 500], "pass"),  # fewer than 3 previous loads: not judged
    ],
)
def test_volume_flags_a_load_outside_the_range_of_the_previous_ones(rows_read, volume):
    conn = bookkeeping(audit=rows_read)
    sql = volume_sql(QualityConfig.load(), "case_platform", "bj_jbxx")
    assert outcomes(conn, sql) == [volume]
