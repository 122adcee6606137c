"""The handbook's KPI definitions (contract.kpis) are the one source of every KPI chart's
口径; they agree with the targets seed; the tiles' 环比 and 结账 texts, run on DuckDB."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
import yaml

from contract.kpis import definitions
from dashboards import bundle
from dashboards.kpi_descriptions import kpi_charts

PROJECT = Path(__file__).resolve().parents[2]
SEED = PROJECT / "dbt_project" / "seeds" / "kpi_targets.csv"


def seed() -> dict[str, dict]:
    with open(SEED, encoding="utf-8") as handle:
        return {row["kpi_id"]: row for row in csv.DictReader(handle)}


def test_the_handbook_defines_k1_to_k22_as_the_targets_seed_does():
    handbook, targets = definitions(), seed()
    assert list(handbook) == [f"K{n}" for n in range(1, 23)]
    for kpi, row in targets.items():
        definition = handbook[kpi]
        assert definition.name.split()[0] == row["name_zh"], kpi
        assert definition.better == row["better"], kpi
        if row["target"]:
            assert float(definition.target.split()[0]) == float(row["target"]), kpi
        else:
            assert definition.target.startswith("—"), kpi


def test_every_kpi_chart_carries_its_definition_from_the_handbook():
    charts = kpi_charts()
    assert sorted(set(charts.values()), key=lambda k: int(k[1:])) == list(definitions())
    for path, kpi in charts.items():
        definition = definitions()[kpi]
        description = yaml.safe_load(path.read_text(encoding="utf-8"))["description"]
        assert description == definition.description(), path.name
        for part in (definition.numerator, definition.denominator, definition.month_of):
            assert part in description, (path.name, part)
    assert "越低越好" in definitions()["K22"].description()
    assert "不设目标" in definitions()["K19"].description()


def metric(name: str) -> str:
    dataset = bundle.documents(bundle.read_bundle(), "datasets")["datasets/kpi_as_reported.yaml"]
    (found,) = [m["expression"] for m in dataset["metrics"] if m["metric_name"] == name]
    return found


@pytest.mark.parametrize(
    ("rows", "change", "mark"),
    [
        # 90 % this month, 87.5 % last month
        ([("latest", 9, 10, "未结账", False), ("previous", 7, 8, "已结账", False)],
         "2.5 个百分点", "未结账"),
        # K9's case: no bad rating last month, so no denominator to compare with
        ([("latest", 1, 2, "未结账", False), ("previous", 0, 0, "已结账", False)],
         "—（上月无分母，无法比较）", "未结账"),
        ([("latest", 1, 2, "未结账", False)], "—（上月无分母，无法比较）", "未结账"),
        ([("latest", 0, 0, "已结账", True), ("previous", 1, 2, "已结账", False)],
         "—（本月无分母，无法比较）", "已结账 · 已重述"),
    ],
)  # fmt: skip
def test_the_tiles_change_and_close_texts(rows, change, mark):
    with duckdb.connect() as conn:
        conn.execute(
            "create table t (period varchar, numerator bigint, denominator bigint, "
            "close_status varchar, is_restated boolean)"
        )
        conn.executemany("insert into t values (?, ?, ?, ?, ?)", rows)
        got = conn.execute(f"select {metric('change_text')}, {metric('close_mark')} from t")
        assert got.fetchone() == (change, mark)
