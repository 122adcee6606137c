"""Every KPI chart's description is its 口径 from the indicator handbook (contract.kpis, the one
source): `python -m dashboards.kpi_descriptions` writes it into the bundle's tile_K<n> and
trend_K<n> charts (run it after the handbook changes; tests/unit/test_dashboards_bundle.py
fails while a description differs). Pure Python and PyYAML, like bundle.py."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from contract.kpis import definitions
from dashboards.bundle import BUNDLE, dump

KPI_CHART = re.compile(r"^(tile|trend)_(K\d+)\.yaml$")


def kpi_charts(root: Path = BUNDLE) -> dict[Path, str]:
    """{chart file: KPI id} of the charts that show one KPI."""
    return {
        path: match.group(2)
        for path in sorted((root / "charts").glob("*.yaml"))
        if (match := KPI_CHART.match(path.name))
    }


def write(root: Path = BUNDLE) -> list[Path]:
    """Set each KPI chart's description to its 口径; the files changed."""
    changed = []
    handbook = definitions()
    for path, kpi in kpi_charts(root).items():
        chart = yaml.safe_load(path.read_text(encoding="utf-8"))
        wanted = handbook[kpi].description()
        if chart.get("description") != wanted:
            chart["description"] = wanted
            path.write_text(dump(chart), encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for path in write():
        print(f"described {path.name}")
