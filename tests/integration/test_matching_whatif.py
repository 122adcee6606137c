"""What-if on the hand-made warehouse of test_matching_engine: the policy files in force give a
real run's matches and write nothing; a changed GLJT age threshold's gains and losses equal a
computation straight from the fixture's rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from groundfloor.settings import PROJECT
from matching.engine import DEFAULT_POLICIES, evaluate
from matching.whatif import what_if, write_report
from tests.integration.test_matching_engine import CITY, GRANTS, PERSONS, E, build_warehouse

CODES = ("GLJT", "CJLB", "YEBT", "XWWG", "GXJL")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("whatif") / "warehouse.duckdb")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_what_if_of_the_files_in_force_equals_a_real_run_and_writes_nothing(warehouse, tmp_path):
    before = digest(warehouse)
    drafts = {code: what_if(warehouse, DEFAULT_POLICIES / f"{code}.yaml", E) for code in CODES}
    assert digest(warehouse) == before
    assert sorted(p.name for p in warehouse.parent.iterdir() if "operations" in p.name) == []

    operations = tmp_path / "operations.duckdb"
    evaluate(E, warehouse, operations, tmp_path / "push", snapshot_id="fixture")
    with duckdb.connect(str(operations), read_only=True) as store:
        rows = store.execute("select policy_code, subject_key, amount_yuan from match_ledger")
        ledger = rows.fetchall()
    for code, result in drafts.items():
        recorded = {key: amount for c, key, amount in ledger if c == code}
        assert result.matched_keys == set(recorded), code
        assert result.cost == sum(recorded.values(), Decimal(0)), code
        assert sum(n for _, _, n, _ in result.by_district) == len(recorded), code
        assert sum(t for _, _, t in result.by_tier) == result.cost, code
        assert (result.gains, result.losses) == ([], []), code


def age_on(birth: dt.date, day: dt.date) -> int:
    """Whole years; a 29 February birthday counts from 1 March in common years."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def eligible_for_gljt(threshold: int) -> set[str]:
    """GLJT straight from the fixture rows: alive, hukou in the city, age ≥ threshold, and not
    granted for E's month."""
    granted = {person for _, code, period, person, _, _ in GRANTS
               if code == "GLJT" and period == "2026-02"}  # fmt: skip
    return {
        key
        for key, birth, hukou, alive in PERSONS
        if alive and hukou == CITY and age_on(birth, E) >= threshold and key not in granted
    }


@pytest.mark.parametrize("threshold", [75, 79, 85, 90, 100])
def test_a_changed_threshold_gains_and_loses_as_computed_independently(
    warehouse, tmp_path, threshold
):
    text = (DEFAULT_POLICIES / "GLJT.yaml").read_text(encoding="utf-8")
    assert "value: 80}" in text and "from: 80," in text
    # below 80 the lowest amount band must start lower too, or the new ages have no amount
    # (and are near misses, not matches)
    text = text.replace("value: 80}", f"value: {threshold}}}")
    text = text.replace("from: 80,", f"from: {min(threshold, 80)},")
    draft = tmp_path / "GLJT-draft.yaml"
    draft.write_text(text, encoding="utf-8")
    result = what_if(warehouse, draft, E)
    now, then = eligible_for_gljt(80), eligible_for_gljt(threshold)
    assert result.in_force is not None and result.in_force.version != result.draft.version
    assert set(result.gains) == then - now
    assert set(result.losses) == now - then
    assert result.gains or result.losses


def test_the_report_and_the_command(warehouse, tmp_path):
    result = what_if(warehouse, DEFAULT_POLICIES / "XWWG.yaml", E)
    markdown = write_report(result, tmp_path / "xwwg.md").read_text(encoding="utf-8")
    page = write_report(result, tmp_path / "xwwg.html").read_text(encoding="utf-8")
    assert "| 360702 | 章贡区 | 4 | 164,100.00 |" in markdown
    assert "<td>x-bd-null</td><td>annual_facts.Y-1.insured_net_decrease</td>" in page
    shown = subprocess.run(
        [sys.executable, "-m", "matching", "whatif", "--draft", str(DEFAULT_POLICIES / "XWWG.yaml"),
         "--date", E.isoformat(), "--warehouse", str(warehouse)],
        cwd=PROJECT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "符合 4，金额合计 164,100.00 元" in shown
