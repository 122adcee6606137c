"""The KPI definitions of the indicator handbook (spec/kpis.md v2), read from its two tables:
the one source of a KPI's 口径 (numerator, denominator, month attribution, target and its
source, `better` direction) for whatever shows it (the dashboards' chart descriptions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HANDBOOK = Path(__file__).resolve().parent / "spec" / "kpis.md"


@dataclass(frozen=True)
class KpiDefinition:
    kpi_id: str
    name: str
    month_of: str
    denominator: str
    numerator: str
    target: str
    better: str

    def description(self) -> str:
        """The 口径 as the dashboards show it (Chinese labels, the handbook's own wording)."""
        direction = "越低越好" if self.better == "lower" else "越高越好"
        target = "不设目标（监测指标）" if self.target.startswith("—") else self.target
        return (
            f"口径（指标手册 v2，{self.kpi_id} {self.name}）：分子 = {self.numerator}；"
            f"分母 = {self.denominator}；归属月份 = {self.month_of}；目标 = {target}"
            f"（达标方向：{direction}）。比率 = SUM(分子) / SUM(分母)，分母为 0 时不显示。"
        )


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@cache
def definitions(path: Path = HANDBOOK) -> dict[str, KpiDefinition]:
    """{kpi_id: definition} of K1–K22, in the handbook's order."""
    found: dict[str, KpiDefinition] = {}
    header: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if cells[0] == "id":
            header = cells
            continue
        if header is None or not re.fullmatch(r"K\d+", cells[0]):
            continue
        row = dict(zip(header, cells, strict=True))
        found[row["id"]] = KpiDefinition(
            kpi_id=row["id"],
            name=row["KPI (zh)"],
            month_of=row["attributed to the month of"],
            denominator=row["denominator"],
            numerator=row["numerator"],
            target=row["target"],
            better=row.get("better", "higher"),
        )
    return found
