"""The expectation suites: one per raw table and one per source system for its deliveries
(freshness, accessibility, volume), built here from the contract; and the model suites (staging
models and marts), a table in quality/config.yaml read by one builder, `model_suite`.

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
from quality.config import QualityConfig, Rule, SuiteSpec

# The GX expectation of each `expect` of the suite table, and its parameters' GX names.
EXPECTATIONS = {
    "in_set": gxe.ExpectColumnValuesToBeInSet,
    "between": gxe.ExpectColumnValuesToBeBetween,
    "not_null": gxe.ExpectColumnValuesToNotBeNull,
    "unique": gxe.ExpectColumnValuesToBeUnique,
}
PARAMETERS = {"values": "value_set", "min": "min_value", "max": "max_value"}


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

    def add(
        self, kind, name, judged, make, defect=None, where=None, default=None, **kwargs
    ) -> None:
        """One expectation; `judged` is the source column the scorecard credits it to;
        `default` what its row of the suite table sets for its rule (severity, threshold)."""
        check_id = f"{self.suite.name}.{name}.{kind}"
        rule = self.config.rule(kind, check_id, default)
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


def model_suite(config: QualityConfig, spec: SuiteSpec, as_of: dt.date) -> Suite:
    """The one builder of the model suites (`model_suites:` in quality/config.yaml): the
    batch is the model with its computed columns, each row of the table one expectation."""
    cutoff = as_of - dt.timedelta(days=config.late_arrival_grace_days)
    fill = {"reference_cutoff": cutoff.isoformat(), "delivered_case_keys": delivered_case_keys()}
    columns = ["*"] + [f"{sql.format(**fill)} AS {name}" for name, sql in spec.computed]
    query = f"SELECT {', '.join(columns)} FROM {spec.relation}"
    suite = Suite(
        spec.name, spec.layer, spec.system, spec.table, query, spec.key, copied=spec.copied
    )
    build = SuiteBuilder(config, suite)
    for row in spec.expectations:
        defaults = {"severity": row.severity, "threshold": row.threshold}
        build.add(
            row.check,
            row.name,
            row.column,
            EXPECTATIONS[row.expect],
            row.defect,
            row.where,
            {k: v for k, v in defaults.items() if v is not None},
            column=row.value_column or row.column,
            **{PARAMETERS.get(k, k): v for k, v in row.params},
        )
    return suite


def model_suites(config: QualityConfig, as_of: dt.date) -> list[Suite]:
    return [model_suite(config, spec, as_of) for spec in config.model_suites]


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
    return raw + model_suites(config, as_of) + delivery_suites(config, as_of)
