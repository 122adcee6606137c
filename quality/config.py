"""The quality step's configuration (quality/config.yaml): severities, thresholds, schedules,
owning departments, and the table of model suites (staging models and marts). Loaded once per
run; tests pass their own overrides. The suite table is validated on load (`ConfigError`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CONFIG_FILE = Path(__file__).with_name("config.yaml")
SEVERITIES = ("critical", "warning")
DIMENSIONS = ("规范性", "完整性", "准确性", "一致性", "时效性", "可访问性")
# The model suites' layers (raw and delivery suites are built from the contract, per table and
# per system: quality/suites.py).
MODEL_LAYERS = {"staging": "main_staging", "theme": "main_marts"}
# GX expectation of a table row (`expect`) -> the parameters it needs besides `column`.
EXPECTS = {"in_set": ("values",), "between": ("min", "max"), "not_null": (), "unique": ()}
SUITE_KEYS = {"suite", "system", "table", "model", "key", "copied", "computed", "expectations"}
REQUIRED_SUITE_KEYS = SUITE_KEYS - {"computed"}
EXPECTATION_KEYS = {
    "check", "name", "expect", "column", "value_column", "where", "defect", "severity",
    "threshold", "values", "min", "max",
}  # fmt: skip


class ConfigError(ValueError):
    """quality/config.yaml says something the quality step cannot build."""


@dataclass(frozen=True)
class Rule:
    severity: str
    threshold: float
    dimension: str


@dataclass(frozen=True)
class ExpectationSpec:
    """One row of a model suite: `check` (the kind of check: severity, threshold and dimension
    from `checks:`), `expect` (the GX expectation), `column` (the column the scorecard credits),
    `value_column` (the column the expectation reads, when it is a computed one), `where`
    (only the rows where a column has a value), the defect it measures, its parameters."""

    check: str
    name: str
    expect: str
    column: str
    value_column: str | None = None
    where: tuple[str, object] | None = None
    defect: str | None = None
    severity: str | None = None
    threshold: float | None = None
    params: tuple[tuple[str, object], ...] = ()

    @property
    def id_part(self) -> str:
        return f"{self.name}.{self.check}"


@dataclass(frozen=True)
class SuiteSpec:
    """A suite over one staging model or mart: `SELECT *, <computed> FROM <schema>.<model>`."""

    name: str
    layer: str
    system: str
    table: str
    model: str
    key: str
    copied: bool
    computed: tuple[tuple[str, str], ...]
    expectations: tuple[ExpectationSpec, ...]

    @property
    def relation(self) -> str:
        return f"{MODEL_LAYERS[self.layer]}.{self.model}"


@dataclass
class QualityConfig:
    checks: dict[str, dict]
    overrides: dict[str, dict] = field(default_factory=dict)
    late_arrival_grace_days: int = 10
    volume_previous_loads: int = 7
    volume_min_previous_loads: int = 3
    volume_share: float = 0.5
    freshness: dict[str, dict] = field(default_factory=dict)
    owners: dict[str, dict] = field(default_factory=dict)
    model_suites: list = field(default_factory=list)

    @classmethod
    def load(cls, path: Path = CONFIG_FILE, overrides: dict | None = None) -> QualityConfig:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        config = cls(**data)
        config.overrides = {**(config.overrides or {}), **(overrides or {})}
        config.model_suites = parse_model_suites(config.model_suites or [], config.checks)
        return config

    def rule(self, kind: str, expectation_id: str, default: dict | None = None) -> Rule:
        """The severity, threshold and dimension of one expectation: its kind's defaults, then
        what its row of the suite table sets (`default`), then any override by expectation id."""
        merged = {**self.checks[kind], **(default or {}), **self.overrides.get(expectation_id, {})}
        if merged["severity"] not in SEVERITIES or merged["dimension"] not in DIMENSIONS:
            raise ValueError(f"{expectation_id}: bad severity or dimension in {merged}")
        return Rule(merged["severity"], float(merged["threshold"]), merged["dimension"])

    def department(self, system: str, table: str | None = None) -> str:
        owners = self.owners.get(system, {})
        return owners.get(table or "", owners.get("default", "unknown"))


def parse_model_suites(table: list, kinds: dict) -> list[SuiteSpec]:
    """The `model_suites:` table, checked row by row: every error names the suite and the row."""
    if not isinstance(table, list):
        raise ConfigError("model_suites: must be a list of suites")
    specs, ids = [], set()
    for i, entry in enumerate(table):
        where = f"model_suites[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: a suite must be a mapping")
        name = entry.get("suite")
        where = f"model_suites[{i}] ({name})" if name else where
        _keys(where, entry, SUITE_KEYS, REQUIRED_SUITE_KEYS)
        layer, _, model = str(name).partition(".")
        if layer not in MODEL_LAYERS or model != entry["model"]:
            raise ConfigError(
                f"{where}: the suite is named <layer>.<model>, layer one of "
                f"{sorted(MODEL_LAYERS)}, model {entry['model']!r}"
            )
        if not isinstance(entry["copied"], bool):
            raise ConfigError(f"{where}: copied must be true or false")
        computed = entry.get("computed") or {}
        if not isinstance(computed, dict) or not all(
            isinstance(v, str) and v.strip() for v in computed.values()
        ):
            raise ConfigError(f"{where}: computed maps a column name to an SQL expression")
        rows = entry["expectations"]
        if not isinstance(rows, list) or not rows:
            raise ConfigError(f"{where}: expectations must be a non-empty list")
        expectations = tuple(
            parse_expectation(f"{where}.expectations[{j}]", row, kinds)
            for j, row in enumerate(rows)
        )
        for expectation in expectations:
            check_id = f"{name}.{expectation.id_part}"
            if check_id in ids:
                raise ConfigError(f"{where}: expectation id {check_id} twice")
            ids.add(check_id)
        system, source, key = (str(entry[k]) for k in ("system", "table", "key"))
        copied, columns = entry["copied"], tuple(computed.items())
        specs.append(
            SuiteSpec(name, layer, system, source, model, key, copied, columns, expectations)
        )
    return specs


def parse_expectation(where: str, row, kinds: dict) -> ExpectationSpec:
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: an expectation must be a mapping")
    expect = row.get("expect")
    if expect not in EXPECTS:
        raise ConfigError(
            f"{where}: unknown expectation kind expect={expect!r} (one of {sorted(EXPECTS)})"
        )
    _keys(where, row, EXPECTATION_KEYS, {"check", "expect", "column", *EXPECTS[expect]})
    extra = ({"values", "min", "max"} - set(EXPECTS[expect])) & row.keys()
    if extra:
        raise ConfigError(f"{where}: {sorted(extra)} mean nothing to expect={expect}")
    if row["check"] not in kinds:
        raise ConfigError(
            f"{where}: unknown check {row['check']!r} (a kind of `checks:`: {sorted(kinds)})"
        )
    if row.get("severity") is not None and row["severity"] not in SEVERITIES:
        raise ConfigError(f"{where}: severity {row['severity']!r} not one of {SEVERITIES}")
    threshold = row.get("threshold")
    if threshold is not None and not (isinstance(threshold, int | float) and 0 <= threshold < 1):
        raise ConfigError(f"{where}: threshold {threshold!r} is a share in [0, 1)")
    condition = row.get("where")
    if condition is not None:
        if not isinstance(condition, dict) or len(condition) != 1:
            raise ConfigError(f"{where}: where is one {{column: value}}")
        condition = next(iter(condition.items()))
    if expect == "in_set" and (not isinstance(row["values"], list) or not row["values"]):
        raise ConfigError(f"{where}: values must be a non-empty list")
    params = tuple((p, row[p]) for p in EXPECTS[expect])
    return ExpectationSpec(
        check=row["check"],
        name=str(row.get("name") or row["column"]),
        expect=expect,
        column=str(row["column"]),
        value_column=row.get("value_column"),
        where=condition,
        defect=row.get("defect"),
        severity=row.get("severity"),
        threshold=threshold,
        params=params,
    )


def _keys(where: str, entry: dict, allowed: set, required: set) -> None:
    missing = sorted(required - {k for k, v in entry.items() if v is not None})
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(entry.keys() - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
