"""`explain` on the hand-made warehouse of test_matching_engine: for every matched subject it
equals the explanation the engine recorded; for others it names the failing condition."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from groundfloor.settings import PROJECT
from matching.engine import DEFAULT_POLICIES, evaluate
from matching.explain import UnknownSubject, explain, find_policy
from tests.integration.test_matching_engine import E, build_warehouse


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain")
    warehouse = build_warehouse(tmp / "warehouse.duckdb")
    evaluate(E, warehouse, tmp / "operations.duckdb", tmp / "push", snapshot_id="fixture")
    with duckdb.connect(str(tmp / "operations.duckdb"), read_only=True) as store:
        rows = store.execute(
            "select policy_code, subject_key, explanation_json, explanation_zh from match_ledger"
        ).fetchall()
    return warehouse, rows


def test_explain_equals_the_engines_explanation_for_every_match(recorded):
    warehouse, rows = recorded
    policies = {code: find_policy(DEFAULT_POLICIES, code) for code, *_ in rows}
    for code, key, document, sentence in rows:
        found = explain(warehouse, policies[code], key, E)
        assert found.status == "match", (code, key)
        assert found.explanation == json.loads(document), (code, key)
        assert found.explanation_zh == sentence


# subject → (status, the conditions that did not pass, with their outcome)
NOT_MATCHED = {
    ("GLJT", "p-age79"): ("not_matched", [("评估日年龄", "fail")]),
    ("GLJT", "p-dead85"): ("not_matched", [("健在", "fail")]),
    ("GLJT", "p-nonres85"): ("near_miss", [("健在", "missing"), ("户籍在本市", "missing")]),
    ("GLJT", "p-advance"): ("already_granted", []),
    # level 1 passes the (level 1–2 or 低保) branch; the 低保 leaf of it fails but does not count
    ("CJLB", "c-cert-e1"): ("not_matched", [("评估日有效的残疾人证（CJRZ）", "fail"),
                                            ("评估日持续中的最低生活保障对象（DB）认定", "fail")]),
    # 11/199 > 0.055; the 0.20 rule's ratio passes but CBRS 188 is over 30
    ("XWWG", "x-rate-above"): ("not_matched", [("上年度裁员率", "fail"),
                                               ("上年度参保人数不超过30人", "fail")]),
}  # fmt: skip


def test_explain_names_the_failing_or_missing_condition_of_others(recorded):
    warehouse, _ = recorded
    for (code, key), (status, failing) in NOT_MATCHED.items():
        found = explain(warehouse, find_policy(DEFAULT_POLICIES, code), key, E)
        assert found.status == status, (code, key, found.status)
        assert [(c["condition"], c["outcome"]) for c in found.failing] == failing, (code, key)


def test_explain_refuses_an_unknown_subject_and_prints_from_the_command_line(recorded):
    warehouse, _ = recorded
    with pytest.raises(UnknownSubject):
        explain(warehouse, find_policy(DEFAULT_POLICIES, "GLJT"), "nobody", E)
    shown = subprocess.run(
        [sys.executable, "-m", "matching", "explain", "--policy", "GLJT", "--subject", "p-age79",
         "--date", E.isoformat(), "--warehouse", str(warehouse)],
        cwd=PROJECT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "不符合条件" in shown and "不满足/缺失：评估日年龄（fail）" in shown
