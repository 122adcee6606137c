"""The expectation suites, as code: one per raw table, one per staging model, one per theme and
mart, and one per source system for its deliveries (freshness, accessibility, volume).

Each suite is a query evaluated inside DuckDB (its batch) plus checks. A check is one GX
expectation with the kind that sets its severity, threshold and GB/T 36344 dimension
(quality/config.yaml), the column it judges (for the scorecard) and, where it measures one of
the simulator's defects, that defect's id (so tests can compare with the manifest).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from contract import load_contract
from quality.config import QualityConfig, Rule

STAGING = "main_staging"
MARTS = "main_marts"


@dataclass(frozen=True)
class Check:
    id: str
    kind: str
    column: str | None
    expectation: gxe.Expectation
    rule: Rule
    defect: str | None = None


@dataclass
class Suite:
    name: str
    layer: str  # raw | staging | theme | delivery
    system: str
    table: str
    query: str
    key: str | None
    checks: list[Check] = field(default_factory=list)
    # The batch is evaluated once into a copy before the checks: its query joins or computes
    # columns that every metric's query would otherwise compute again. A plain model is read
    # in place (a copy of tier L's 150 M case steps spilled 17.5 GB to disk).
    copied: bool = False


@dataclass
class SuiteBuilder:
    """Builds checks with their rule applied (GX `mostly` = 1 - threshold)."""

    config: QualityConfig
    suite: Suite

    def add(self, kind, name, judged, make, defect=None, where=None, **kwargs) -> None:
        """One expectation; `judged` is the source column the scorecard credits it to."""
        check_id = f"{self.suite.name}.{name}.{kind}"
        rule = self.config.rule(kind, check_id)
        if rule.threshold > 0:
            kwargs["mostly"] = 1.0 - rule.threshold
        if where is not None:  # (column, value): only the rows where column = value
            kwargs["row_condition"] = Column(where[0]) == where[1]
        meta = {"severity": rule.severity, "threshold": rule.threshold, "dimension": rule.dimension}
        expectation = make(meta={**meta, "check_id": check_id}, **kwargs)
        self.suite.checks.append(Check(check_id, kind, judged, expectation, rule, defect))

    def in_set(self, kind, name, column, values, defect=None, where=None, value_column=None):
        self.add(
            kind,
            name,
            column,
            gxe.ExpectColumnValuesToBeInSet,
            defect,
            where,
            column=value_column or column,
            value_set=list(values),
        )

    def not_null(self, name, column, where=None, value_column=None):
        self.add(
            "required",
            name,
            column,
            gxe.ExpectColumnValuesToNotBeNull,
            None,
            where,
            column=value_column or column,
        )

    def unique(self, column):
        self.add("unique_key", column, column, gxe.ExpectColumnValuesToBeUnique, column=column)


# ── raw tables: every delivered value, landed or quarantined ─────────────────────────────────


def raw_query(table) -> str:
    """Long form: one row per delivered value of each column (column_name, value, outcome).

    Ingestion quarantines a row whose code, cast or required value fails (D7) and lands the rest,
    so a column's delivered values are its landed versions plus the quarantined values recorded
    for that column (distinct row versions: a re-pushed row is one delivery, D1).
    """
    key = " || '|' || ".join(f"coalesce(CAST(\"{k}\" AS VARCHAR), '')" for k in table.key)
    parts = []
    for column in table.columns:
        value = f'CAST("{column.name}" AS VARCHAR)'
        if column.kind != "code":  # only nullness matters for non-code columns: cheap form
            value = f"CASE WHEN \"{column.name}\" IS NULL THEN NULL ELSE '' END"
        parts.append(
            f"SELECT '{column.name}' AS column_name, {value} AS value, 'landed' AS outcome, "
            f"{key} AS row_key FROM raw.{table.name}"
        )
    parts.append(
        "SELECT column_name, raw_value, 'quarantined:' || rule, row_key FROM ("
        "SELECT DISTINCT row_hash, row_key, column_name, rule, raw_value FROM meta.quarantine "
        f"WHERE table_name = '{table.name}')"
    )
    return "\nUNION ALL\n".join(parts)


def raw_suite(config: QualityConfig, table) -> Suite:
    contract = load_contract()
    suite = Suite(f"raw.{table.name}", "raw", table.system, table.name, raw_query(table), "row_key")
    build = SuiteBuilder(config, suite)
    for column in table.columns:
        where = ("column_name", column.name)
        if column.kind == "code":
            codes = sorted(contract.code_values(column.code_list))
            build.in_set(
                "code_list", column.name, column.name, codes, "D7", where, value_column="value"
            )
        elif column.kind != "str":
            build.in_set(
                "parses",
                column.name,
                column.name,
                ["landed", "quarantined:required"],
                None,
                where,
                value_column="outcome",
            )
        if column.required:
            build.not_null(column.name, column.name, where, value_column="value")
    return suite


# ── staging models ─────────────────────────────────────────────────────────────────────────


def delivered_case_keys() -> str:
    """Every case key ever delivered (landed or quarantined): a reference to anything else is a
    reference to an unknown case (D8)."""
    return (
        "(SELECT SBLSH AS case_id FROM raw.bj_jbxx UNION "
        "SELECT row_key FROM meta.quarantine WHERE table_name = 'bj_jbxx')"
    )


def reference_column(at: str, as_of: dt.date, grace_days: int) -> str:
    """Known / unknown for references older than the grace period; null (not judged) for
    younger ones, which may point to a case arriving late (D9)."""
    cutoff = as_of - dt.timedelta(days=grace_days)
    return (
        f"CASE WHEN {at} < DATE '{cutoff}' THEN "
        f"CASE WHEN case_id IN (SELECT case_id FROM {delivered_case_keys()}) "
        "THEN 'known' ELSE 'unknown' END END AS case_reference"
    )


def identity_checks(build: SuiteBuilder, flag: str, type_column: str, person, enterprise) -> None:
    """Identity number validity (D4) and USCC validity (D5) of one identity column, judged
    apart so each defect has its count."""
    build.in_set(
        "identity_valid",
        f"{flag}.identity_number",
        flag,
        [True],
        "D4",
        (type_column, person),
    )
    build.in_set(
        "identity_valid",
        f"{flag}.uscc",
        flag,
        [True],
        "D5",
        (type_column, enterprise),
    )


def staging(
    name: str, system: str, table: str, model: str, key: str, select: str = "*", source: str = ""
) -> Suite:
    query = f"SELECT {select} FROM {source or f'{STAGING}.{model}'}"
    copied = bool(source) or select != "*"
    return Suite(f"staging.{model}", "staging", system, table, query, key, copied=copied)


def staging_suites(config: QualityConfig, as_of: dt.date) -> list[Suite]:
    grace = config.late_arrival_grace_days
    suites = []

    s = staging(
        "cases",
        "case_platform",
        "bj_jbxx",
        "stg_case_platform__cases",
        "case_id",
        "c.*, CASE WHEN accepted_at IS NOT NULL THEN is_accepted_before_applied END AS slsj_order,"
        " CASE WHEN completed_at IS NOT NULL AND accepted_at IS NOT NULL"
        " THEN is_completed_before_accepted END AS bjsj_order,"
        " CASE WHEN i.known_item IS NULL THEN 'unknown' ELSE 'known' END AS item_reference",
        f"{STAGING}.stg_case_platform__cases c LEFT JOIN (SELECT item_code AS known_item"
        f" FROM {STAGING}.stg_case_platform__service_items) i ON i.known_item = c.item_code",
    )
    b = SuiteBuilder(config, s)
    b.unique("case_id")
    for column in ("case_id", "item_code", "channel", "applied_at", "status", "region_code"):
        b.not_null(column, column)
    identity_checks(b, "is_applicant_id_valid", "applicant_id_type", "111", "001")
    b.in_set("timestamp_order", "SLSJ", "accepted_at", [False], "D6", value_column="slsj_order")
    b.in_set("timestamp_order", "BJSJ", "completed_at", [False], "D6", value_column="bjsj_order")
    b.in_set("reference", "item", "item_code", ["known"], value_column="item_reference")
    suites.append(s)

    s = staging("items", "case_platform", "sxml", "stg_case_platform__service_items", "item_code")
    b = SuiteBuilder(config, s)
    b.unique("item_code")
    for column in ("item_code", "item_name", "department_code", "committed_limit_workdays"):
        b.not_null(column, column)
    suites.append(s)

    s = staging("steps", "case_platform", "bj_gcxx", "stg_case_platform__case_steps", "step_id")
    b = SuiteBuilder(config, s)
    b.unique("step_id")
    for column in ("step_id", "case_id", "step_code", "handled_at"):
        b.not_null(column, column)
    suites.append(s)

    s = staging(
        "help",
        "case_platform",
        "bb_jl",
        "stg_case_platform__help_sessions",
        "help_session_id",
        "*, CASE WHEN first_responded_at IS NOT NULL THEN is_responded_before_requested END"
        " AS scxysj_order, CASE WHEN requester_id_raw IS NOT NULL THEN '111' END AS id_type",
    )
    b = SuiteBuilder(config, s)
    b.unique("help_session_id")
    b.not_null("requested_at", "requested_at")
    b.in_set(
        "identity_valid",
        "is_requester_id_valid.identity_number",
        "is_requester_id_valid",
        [True],
        "D4",
    )
    b.in_set("timestamp_order", "SCXYSJ", "first_responded_at", [False], "D6", None, "scxysj_order")
    suites.append(s)

    s = staging(
        "certificates",
        "certificate_library",
        "dzzz_zzxx",
        "stg_certificate_library__certificates",
        "certificate_id",
    )
    b = SuiteBuilder(config, s)
    b.unique("certificate_id")
    for column in ("certificate_id", "certificate_type", "holder_id_raw", "valid_from"):
        b.not_null(column, column)
    identity_checks(b, "is_holder_id_valid", "holder_id_type", "111", "001")
    b.in_set(
        "stale_status",
        "ZZZT",
        "recorded_status",
        [False],
        "D13",
        value_column="is_recorded_valid_but_expired",
    )
    suites.append(s)

    s = staging(
        "uses",
        "certificate_library",
        "dzzz_yyjl",
        "stg_certificate_library__certificate_uses",
        "certificate_use_id",
        "*, " + reference_column("used_at", as_of, grace),
    )
    b = SuiteBuilder(config, s)
    b.unique("certificate_use_id")
    b.not_null("case_id", "case_id")
    b.in_set("reference", "case", "case_id", ["known"], "D8", value_column="case_reference")
    suites.append(s)

    s = staging(
        "ratings",
        "evaluation_hcp",
        "hcp_pj",
        "stg_evaluation_hcp__ratings",
        "rating_id",
        "*, CASE WHEN rectified_at IS NOT NULL THEN is_rectified_before_rated END AS zgwcsj_order, "
        + reference_column("rated_at", as_of, grace),
    )
    b = SuiteBuilder(config, s)
    b.unique("rating_id")
    for column in ("rating_id", "case_id", "rated_at", "rating_level"):
        b.not_null(column, column)
    b.in_set("timestamp_order", "ZGWCSJ", "rectified_at", [False], "D6", None, "zgwcsj_order")
    b.in_set("reference", "case", "case_id", ["known"], "D8", value_column="case_reference")
    suites.append(s)

    s = staging(
        "work_orders",
        "hotline_12345",
        "work_orders",
        "stg_hotline_12345__work_orders",
        "work_order_id",
    )
    b = SuiteBuilder(config, s)
    b.unique("work_order_id")
    for column in ("work_order_id", "called_at", "appeal_type", "region_code", "status"):
        b.not_null(column, column)
    b.in_set(
        "identity_valid", "is_caller_id_valid.identity_number", "is_caller_id_valid", [True], "D4"
    )
    suites.append(s)

    s = staging(
        "entities", "legal_entity_base", "fr_jbxx", "stg_legal_entity_base__entities", "uscc"
    )
    b = SuiteBuilder(config, s)
    b.unique("uscc")
    for column in ("uscc", "entity_name", "established_on", "region_code"):
        b.not_null(column, column)
    b.in_set(
        "identity_valid",
        "is_legal_representative_id_valid.identity_number",
        "is_legal_representative_id_valid",
        [True],
        "D4",
    )
    suites.append(s)

    s = staging(
        "annual",
        "legal_entity_base",
        "fr_ndxx",
        "stg_legal_entity_base__annual_facts",
        "fact_key",
        "*, uscc || '|' || year AS fact_key",
    )
    b = SuiteBuilder(config, s)
    b.unique("fact_key")
    suites.append(s)

    s = staging(
        "residents", "population_base", "rk_jbxx", "stg_population_base__residents", "resident_id"
    )
    b = SuiteBuilder(config, s)
    b.unique("resident_id")
    for column in ("resident_id", "name", "sex", "birth_date", "hukou_region_code"):
        b.not_null(column, column)
    suites.append(s)

    s = staging(
        "groups",
        "population_base",
        "rk_tsqt",
        "stg_population_base__special_groups",
        "special_group_id",
    )
    b = SuiteBuilder(config, s)
    b.unique("special_group_id")
    for column in ("resident_id", "group_type", "started_on"):
        b.not_null(column, column)
    suites.append(s)

    s = staging(
        "grants",
        "population_base",
        "jf_ffjl",
        "stg_population_base__grants",
        "grant_id",
        "*, CASE subject_type WHEN 'person' THEN '111' WHEN 'enterprise' THEN '001' END AS id_type",
    )
    b = SuiteBuilder(config, s)
    b.unique("grant_id")
    for column in ("policy_code", "grant_period", "subject_id_raw", "amount_yuan"):
        b.not_null(column, column)
    identity_checks(b, "is_subject_id_valid", "id_type", "111", "001")
    suites.append(s)

    s = staging(
        "deliveries",
        "population_base",
        "jhkz",
        "stg_population_base__deliveries",
        "delivery_key",
        "*, table_name || '|' || snapshot_date AS delivery_key",
    )
    b = SuiteBuilder(config, s)
    b.unique("delivery_key")
    suites.append(s)
    return suites


# ── themes and marts: what the dashboards show ──────────────────────────────────────────────


def theme_suites(config: QualityConfig, as_of: dt.date) -> list[Suite]:
    suites = []
    s = Suite(
        "theme.person_file",
        "theme",
        "population_base",
        "rk_jbxx",
        f"SELECT *, identity_number_masked LIKE '%*%' AS is_number_masked FROM {MARTS}.person_file",
        "person_key",
    )
    b = SuiteBuilder(config, s)
    b.unique("person_key")
    b.not_null("person_key", "person_key")
    b.in_set(
        "theme_rule",
        "identity_number_masked",
        "identity_number_masked",
        [True],
        None,
        None,
        "is_number_masked",
    )
    b.add(
        "theme_rule",
        "age",
        "age",
        gxe.ExpectColumnValuesToBeBetween,
        column="age",
        min_value=0,
        max_value=150,
    )
    suites.append(s)

    s = Suite(
        "theme.enterprise_file",
        "theme",
        "legal_entity_base",
        "fr_jbxx",
        f"SELECT *, coalesce(legal_representative_id_masked LIKE '%*%', true) AS is_id_masked "
        f"FROM {MARTS}.enterprise_file",
        "enterprise_key",
    )
    b = SuiteBuilder(config, s)
    b.unique("enterprise_key")
    b.not_null("enterprise_key", "enterprise_key")
    b.in_set(
        "theme_rule",
        "legal_representative_id_masked",
        "legal_representative_id_masked",
        [True],
        None,
        None,
        "is_id_masked",
    )
    suites.append(s)

    s = Suite(
        "theme.kpi_monthly",
        "theme",
        "case_platform",
        "bj_jbxx",
        "SELECT *, numerator <= denominator AS is_numerator_within, kpi_id || '|' || month || '|' "
        "|| region_code || '|' || department || '|' || coalesce(item_code, '') || '|' || "
        f"coalesce(channel, '') AS kpi_row FROM {MARTS}.kpi_monthly",
        "kpi_row",
    )
    b = SuiteBuilder(config, s)
    b.unique("kpi_row")
    b.in_set("theme_rule", "numerator", "numerator", [True], None, None, "is_numerator_within")
    b.add(
        "theme_rule",
        "rate",
        "rate",
        gxe.ExpectColumnValuesToBeBetween,
        column="rate",
        min_value=0,
        max_value=1,
    )
    suites.append(s)
    return suites


# ── deliveries per source system: freshness, accessibility, volume ──────────────────────────


# The day a load was made for: the run's logical date it recorded; the local date of its end
# for loads recorded before round 2 (or started by hand without a date).
LOAD_DAY = "coalesce(as_of, CAST(finished_at AS DATE))"


def delivery_query(config: QualityConfig, system: str, tables: list[str], as_of: dt.date) -> str:
    """Long form (check_name, subject, outcome, detail) over the ingestion's bookkeeping."""
    rows = [freshness_sql(config, system, as_of), accessibility_sql(system)]
    rows += [volume_sql(config, system, table) for table in tables]
    rows.append(future_stamp_sql(system))
    return "\nUNION ALL\n".join(rows)


def freshness_sql(config: QualityConfig, system: str, as_of: dt.date) -> str:
    """Fresh for a build as of `as_of`, judged by the run's date, not the wall clock: the day
    the system was last loaded for (the logical date each load records) is at most
    `max_load_age_hours` before the run's load day (as_of + 1); unless this is a re-run of a
    past date, its last successful load is also at most that much older than the newest load
    of any system (hours within the day); plus what the system must have delivered by then."""
    settings = config.freshness.get(system, {})
    hours = int(settings.get("max_load_age_hours", 26))
    due = (
        "TRUE"
        if system not in ("population_base", "evaluation_hcp")
        else population_due(settings, as_of)
        if system == "population_base"
        else ratings_due(settings, as_of)
    )
    if "data_lag_hours" in settings:
        due = f"({due}) AND {horizon_due(system, settings, as_of)}"
    load_day = as_of + dt.timedelta(days=1)
    oldest_fresh_day = load_day - dt.timedelta(days=hours // 24)
    return (
        f"SELECT 'freshness' AS check_name, '{system}' AS subject, "
        f"CASE WHEN last_ok_day >= DATE '{oldest_fresh_day}' AND (newest_day > DATE "
        f"'{load_day}' OR last_ok >= newest - INTERVAL {hours} HOUR) AND ({due}) "
        "THEN 'pass' ELSE 'fail' END AS outcome, "
        f"'{system}: last successful load ' || coalesce(CAST(last_ok AS VARCHAR), 'none') || "
        "' (for ' || coalesce(CAST(last_ok_day AS VARCHAR), '-') || '), newest load ' || "
        f"coalesce(CAST(newest AS VARCHAR), 'none') || ', run for {load_day}' AS detail FROM ("
        "SELECT (SELECT max(finished_at) FROM meta.loads) AS newest, "
        f"(SELECT max({LOAD_DAY}) FROM meta.loads) AS newest_day, "
        f"(SELECT max(finished_at) FROM meta.loads WHERE system = '{system}' "
        "AND status = 'ok') AS last_ok, "
        f"(SELECT max({LOAD_DAY}) FROM meta.loads WHERE system = '{system}' "
        "AND status = 'ok') AS last_ok_day)"
    )


def horizon_due(system: str, settings: dict, as_of: dt.date) -> str:
    """The newest change delivered (the watermark of the system's timestamp cursors) reaches
    within `data_lag_hours` of the end of the as-of day. Load times alone cannot tell a day
    that was never loaded when a later cycle ran (they are wall-clock); the data can."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    return (
        "coalesce((SELECT max(try_cast(value AS TIMESTAMP)) FROM meta.watermarks "
        f"WHERE system = '{system}') >= TIMESTAMP '{end}' - INTERVAL "
        f"{int(settings['data_lag_hours'])} HOUR, false)"
    )


def population_due(settings: dict, as_of: dt.date) -> str:
    """The snapshot of the as-of date (less the configured lag) must be in force (D15)."""
    due = as_of - dt.timedelta(days=int(settings.get("snapshot_lag_days", 0)))
    return (
        "coalesce((SELECT max(snapshot_date) FROM meta.snapshots WHERE table_name = 'rk_jbxx' "
        f"AND status = 'applied') >= DATE '{due}', false)"
    )


def ratings_due(settings: dict, as_of: dt.date) -> str:
    """Month M's file is due by `due_day` of M+1: the latest month delivered must be at least
    the latest month already due."""
    first = as_of.replace(day=1)
    due_month = (first - dt.timedelta(days=1)).replace(day=1)
    if as_of.day < int(settings.get("due_day", 7)):
        due_month = (due_month - dt.timedelta(days=1)).replace(day=1)
    return (
        "coalesce((SELECT max(month) FROM meta.files WHERE system = 'evaluation_hcp') >= "
        f"'{due_month:%Y%m}', false)"
    )


def accessibility_sql(system: str) -> str:
    """可访问性: the system's loads of the last 24 hours before the newest load; each passes when
    the source was reached and read (status ok)."""
    return (
        f"SELECT 'accessible', '{system}', CASE WHEN status = 'ok' THEN 'pass' ELSE 'fail' END, "
        "load_id || ': ' || coalesce(message, status) FROM meta.loads "
        f"WHERE system = '{system}' AND started_at >= "
        "(SELECT max(started_at) FROM meta.loads) - INTERVAL 24 HOUR"
    )


def future_stamp_sql(system: str) -> str:
    """Rows stamped after the source's own clock (a departmental server with a wrong clock):
    ingestion lands them, keeps them out of the watermark and raises a `future_timestamp`
    alert; this check fails while such an alert is among the last 24 hours' loads."""
    return (
        f"SELECT 'future_stamp', '{system}', CASE WHEN count(*) = 0 THEN 'pass' ELSE 'fail' "
        "END, coalesce(string_agg(message, '; '), 'no row stamped after its source clock') "
        f"FROM meta.alerts WHERE system = '{system}' AND kind = 'future_timestamp' AND "
        "raised_at >= (SELECT max(finished_at) FROM meta.loads) - INTERVAL 24 HOUR"
    )


def volume_sql(config: QualityConfig, system: str, table: str) -> str:
    """A table's latest load against the range of its previous loads (rows read)."""
    n, least, share = (
        config.volume_previous_loads,
        config.volume_min_previous_loads,
        config.volume_share,
    )
    return (
        f"SELECT 'volume', '{table}', CASE WHEN count(*) FILTER (rn > 1) < {least} THEN 'pass' "
        f"WHEN max(rows_read) FILTER (rn = 1) BETWEEN min(rows_read) FILTER (rn > 1) * "
        f"(1 - {share}) AND max(rows_read) FILTER (rn > 1) * (1 + {share}) THEN 'pass' "
        "ELSE 'fail' END, "
        f"'{table}: latest load read ' || coalesce(CAST(max(rows_read) FILTER (rn = 1) AS VARCHAR),"
        " 'nothing') || ' rows, previous loads ' || coalesce(CAST(min(rows_read) FILTER (rn > 1)"
        " AS VARCHAR), '-') || '..' || coalesce(CAST(max(rows_read) FILTER (rn > 1) AS VARCHAR),"
        " '-') FROM (SELECT rows_read, row_number() OVER (ORDER BY recorded_at DESC) AS rn "
        f"FROM meta.load_audit WHERE system = '{system}' AND table_name = '{table}' "
        f"QUALIFY rn <= {n + 1})"
    )


def delivery_suites(config: QualityConfig, as_of: dt.date) -> list[Suite]:
    suites = []
    for system in load_contract().systems.values():
        tables = list(system.tables)
        query = delivery_query(config, system.name, tables, as_of)
        suite = Suite(f"delivery.{system.name}", "delivery", system.name, "", query, "detail")
        b = SuiteBuilder(config, suite)
        b.in_set(
            "freshness",
            system.name,
            None,
            ["pass"],
            None,
            ("check_name", "freshness"),
            "outcome",
        )
        b.in_set(
            "accessible",
            system.name,
            None,
            ["pass"],
            None,
            ("check_name", "accessible"),
            "outcome",
        )
        for table in tables:
            b.in_set("volume", table, None, ["pass"], None, ("subject", table), "outcome")
        b.in_set(
            "future_stamp",
            system.name,
            None,
            ["pass"],
            None,
            ("check_name", "future_stamp"),
            "outcome",
        )
        suites.append(suite)
    return suites


def all_suites(config: QualityConfig, as_of: dt.date) -> list[Suite]:
    raw = [raw_suite(config, table) for table in load_contract().tables()]
    return (
        raw
        + staging_suites(config, as_of)
        + theme_suites(config, as_of)
        + delivery_suites(config, as_of)
    )
