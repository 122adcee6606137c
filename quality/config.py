"""The quality step's configuration (quality/config.yaml): severities, thresholds, schedules,
owning departments. Loaded once per run; tests pass their own overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CONFIG_FILE = Path(__file__).with_name("config.yaml")
SEVERITIES = ("critical", "warning")
DIMENSIONS = ("规范性", "完整性", "准确性", "一致性", "时效性", "可访问性")


@dataclass(frozen=True)
class Rule:
    severity: str
    threshold: float
    dimension: str


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

    @classmethod
    def load(cls, path: Path = CONFIG_FILE, overrides: dict | None = None) -> QualityConfig:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        config = cls(**data)
        config.overrides = {**(config.overrides or {}), **(overrides or {})}
        return config

    def rule(self, kind: str, expectation_id: str) -> Rule:
        """The severity, threshold and dimension of one expectation: its kind's defaults, then
        any override by expectation id."""
        merged = {**self.checks[kind], **self.overrides.get(expectation_id, {})}
        if merged["severity"] not in SEVERITIES or merged["dimension"] not in DIMENSIONS:
            raise ValueError(f"{expectation_id}: bad severity or dimension in {merged}")
        return Rule(merged["severity"], float(merged["threshold"]), merged["dimension"])

    def department(self, system: str, table: str | None = None) -> str:
        owners = self.owners.get(system, {})
        return owners.get(table or "", owners.get("default", "unknown"))
