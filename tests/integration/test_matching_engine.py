"""免申即享 matching on a hand-made warehouse: every boundary of every rule of policies.md.

The warehouse tables are created here, directly (schema main_marts, the columns of
docs/warehouse.md), so the test does not depend on dbt. E = 2026-02-28, a common year: a
29 February birthday has not yet come. Expected matches and amounts are written out.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from matching import approval
from matching.engine import DEFAULT_POLICIES, evaluate
from matching.rowwise import evaluate_rowwise
from matching.synthetic import TABLES

D = dt.date
E = D(2026, 2, 28)
CITY, ELSEWHERE = "360702", "360102"  # 章贡区 / 南昌市东湖区

# The marts' columns as docs/warehouse.md gives them (shared with the benchmark's synthetic
# warehouse), plus the restricted identity table the push lists read.
DDL = (
    TABLES
    + """
create schema if not exists main_restricted;
create table main_restricted.identity_persons (
    person_key varchar, identity_number varchar, name varchar, mobile_phone varchar);
"""
)

# person_key, birth_date, hukou_region_code, is_alive (None: not in the population base)
PERSONS = [
    ("p-age79", D(1946, 3, 1), CITY, True),
    ("p-age80", D(1946, 2, 28), CITY, True),
    ("p-age89", D(1936, 3, 1), CITY, True),
    ("p-age90", D(1936, 2, 28), CITY, True),
    ("p-age99", D(1926, 3, 1), CITY, True),
    ("p-age100", D(1926, 2, 28), CITY, True),
    ("p-feb29", D(1936, 2, 29), CITY, True),  # 89 on E: turns 90 on 1 March 2026
    ("p-dead85", D(1940, 6, 1), CITY, False),
    ("p-away85", D(1940, 6, 1), ELSEWHERE, True),
    ("p-nonres85", D(1940, 6, 1), None, None),  # near miss: is_alive, hukou unknown
    ("p-advance", D(1940, 6, 1), CITY, True),  # GLJT paid in advance for 2026-02
    ("p-arrears", D(1940, 6, 1), CITY, True),  # GLJT paid in arrears for 2026-01
    ("c-l2", D(1970, 1, 1), CITY, True),  # CJR 2 from E
    ("c-l3", D(1970, 1, 1), CITY, True),  # CJR 3, no 低保
    ("c-l2db", D(1970, 1, 1), CITY, True),  # CJR 2 and DB through E
    ("c-l3db", D(1970, 1, 1), CITY, True),
    ("c-two", D(1970, 1, 1), CITY, True),  # CJR 3 and CJR 1, both ongoing
    ("c-ended", D(1970, 1, 1), CITY, True),  # CJR 4 ongoing, CJR 2 ended E-1
    ("c-cert-e", D(1970, 1, 1), CITY, True),  # CJRZ valid through E
    ("c-cert-e1", D(1970, 1, 1), CITY, True),  # CJRZ valid through E-1
    ("c-cert-void", D(1970, 1, 1), CITY, True),  # CJRZ recorded 注销
    ("c-nolevel", D(1970, 1, 1), CITY, True),  # CJR without CJDJ: near miss
    ("c-nolevel-db", D(1970, 1, 1), CITY, True),  # CJR without CJDJ but DB: 100
    ("t-open", D(1950, 5, 5), CITY, True),  # TK ongoing
    ("t-until-e", D(1950, 5, 5), CITY, True),  # TK ended on E
    ("t-ended", D(1950, 5, 5), CITY, True),  # TK ended E-1
    ("t-dead", D(1950, 5, 5), CITY, False),
    ("t-away", D(1950, 5, 5), ELSEWHERE, True),
    ("t-future", D(1950, 5, 5), CITY, True),  # TK from E+1
    ("y-2y364d", D(2023, 3, 1), CITY, True),
    ("y-3y", D(2023, 2, 28), CITY, True),
    ("y-unborn", D(2026, 3, 5), CITY, True),
    ("y-born-e", D(2026, 2, 28), CITY, True),
    ("y-away", D(2025, 6, 1), ELSEWHERE, True),
    ("y-feb29", D(2024, 2, 29), CITY, True),
    ("y-granted", D(2025, 1, 1), CITY, True),  # YEBT granted for 2026
    ("y-granted-last", D(2025, 1, 1), CITY, True),  # YEBT granted for 2025 only
]

# special_group_id, person_key, group_type, disability_level, started_on, ended_on
GROUPS = [
    ("g1", "c-l2", "CJR", 2, E, None),
    ("g2", "c-l3", "CJR", 3, D(2010, 1, 1), None),
    ("g3", "c-l2db", "CJR", 2, D(2010, 1, 1), None),
    ("g4", "c-l2db", "DB", None, D(2020, 1, 1), E),
    ("g5", "c-l3db", "CJR", 3, D(2010, 1, 1), None),
    ("g6", "c-l3db", "DB", None, D(2020, 1, 1), None),
    ("g7", "c-two", "CJR", 3, D(2010, 1, 1), None),
    ("g8", "c-two", "CJR", 1, D(2024, 1, 1), None),
    ("g9", "c-ended", "CJR", 4, D(2010, 1, 1), None),
    ("g10", "c-ended", "CJR", 2, D(2010, 1, 1), D(2026, 2, 27)),
    ("g11", "c-cert-e", "CJR", 1, D(2010, 1, 1), None),
    ("g12", "c-cert-e1", "CJR", 1, D(2010, 1, 1), None),
    ("g13", "c-cert-void", "CJR", 1, D(2010, 1, 1), None),
    ("g14", "c-nolevel", "CJR", None, D(2010, 1, 1), None),
    ("g15", "c-nolevel-db", "CJR", None, D(2010, 1, 1), None),
    ("g16", "c-nolevel-db", "DB", None, D(2010, 1, 1), None),
    ("g17", "t-open", "TK", None, D(2015, 1, 1), None),
    ("g18", "t-until-e", "TK", None, D(2015, 1, 1), E),
    ("g19", "t-ended", "TK", None, D(2015, 1, 1), D(2026, 2, 27)),
    ("g20", "t-dead", "TK", None, D(2015, 1, 1), None),
    ("g21", "t-away", "TK", None, D(2015, 1, 1), None),
    ("g22", "t-future", "TK", None, D(2026, 3, 1), None),
    ("g23", "c-l3", "YF", None, D(2015, 1, 1), None),
]

CJRZ_HOLDERS = ["c-l2", "c-l3", "c-l2db", "c-l3db", "c-two", "c-ended", "c-nolevel",
                "c-nolevel-db"]  # fmt: skip

# enterprise_key, entity_type, registration_status, region_code
ENTERPRISES = [
    ("x-rate-055", "YXGS", "1", CITY),  # 11 / (189 + 11) = 0.055 exactly
    ("x-rate-above", "YXGS", "1", CITY),  # 11 / (188 + 11) > 0.055
    ("x-cbrs30", "YXGS", "1", CITY),  # 7 / 37 ≤ 0.20 with CBRS 30
    ("x-cbrs31", "YXGS", "1", CITY),  # 7 / 38, CBRS 31: only 0.055 applies
    ("x-rate-20", "GFGS", "1", CITY),  # 7 / (28 + 7) = 0.20 exactly, CBRS 28
    ("x-cbrs300", "YXGS", "1", CITY),
    ("x-cbrs301", "YXGS", "1", CITY),
    ("x-cbrs0", "YXGS", "1", CITY),
    ("x-bd-null", "YXGS", "1", CITY),  # near miss: CYRS_BD
    ("x-cbrs-null", "YXGS", "1", CITY),  # near miss: CBRS
    ("x-gtgsh", "GTGSH", "1", CITY),
    ("x-closed", "YXGS", "2", CITY),
    ("x-away", "YXGS", "1", ELSEWHERE),
    ("x-old-facts", "YXGS", "1", CITY),  # facts of 2024 only
    ("x-granted", "YXGS", "1", CITY),  # XWWG granted for 2026
    ("h-2025-01-01", "YXGS", "1", CITY),  # GXJS issued 1 January of year(E) − 1
    ("h-2026-01-01", "YXGS", "1", CITY),  # GXJS issued 1 January of year(E)
    ("h-2024-12-31", "YXGS", "1", CITY),
    ("h-void", "YXGS", "1", CITY),  # GXJS of 2025 recorded 注销
    ("h-expired", "YXGS", "1", CITY),  # GXJS of 2025 valid through E − 1
    ("h-away", "YXGS", "1", ELSEWHERE),
]

# enterprise_key, year, CBRS, CYRS_BD
FACTS = [
    ("x-rate-055", 2025, 189, 11),
    ("x-rate-above", 2025, 188, 11),
    ("x-cbrs30", 2025, 30, 7),
    ("x-cbrs31", 2025, 31, 7),
    ("x-rate-20", 2025, 28, 7),
    ("x-cbrs300", 2025, 300, 0),
    ("x-cbrs301", 2025, 301, 0),
    ("x-cbrs0", 2025, 0, 0),
    ("x-bd-null", 2025, 50, None),
    ("x-cbrs-null", 2025, None, 0),
    ("x-gtgsh", 2025, 10, 0),
    ("x-closed", 2025, 10, 0),
    ("x-away", 2025, 10, 0),
    ("x-old-facts", 2024, 10, 0),
    ("x-granted", 2025, 50, 0),
    ("x-rate-055", 2024, 10, 9),  # another year does not count
]

# grant_id, policy_code, grant_period, person_key, enterprise_key, granted_on
GRANTS = [
    ("f1", "GLJT", "2026-02", "p-advance", None, D(2026, 1, 25)),
    ("f2", "GLJT", "2026-01", "p-arrears", None, D(2026, 2, 5)),
    ("f3", "YEBT", "2026", "y-granted", None, D(2026, 1, 10)),
    ("f4", "YEBT", "2025", "y-granted-last", None, D(2025, 3, 10)),
    ("f5", "XWWG", "2026", None, "x-granted", D(2026, 1, 20)),
    ("f6", "XWWG", "2025", None, "x-cbrs300", D(2025, 4, 1)),
]

EXPECTED = {
    "GLJT": {
        "p-age80": "100.00",
        "p-age89": "100.00",
        "p-age90": "200.00",
        "p-age99": "200.00",
        "p-age100": "500.00",
        "p-feb29": "100.00",
        "p-arrears": "100.00",
    },
    "CJLB": {
        "c-l2": "150.00",
        "c-l2db": "250.00",
        "c-l3db": "100.00",
        "c-two": "150.00",
        "c-cert-e": "150.00",
        "c-nolevel-db": "100.00",
    },
    "YEBT": {
        "y-2y364d": "3600.00",
        "y-born-e": "3600.00",
        "y-feb29": "3600.00",
        "y-granted-last": "3600.00",
    },
    "XWWG": {
        "x-rate-055": "56700.00",
        "x-cbrs30": "9000.00",
        "x-rate-20": "8400.00",
        "x-cbrs300": "90000.00",
    },
    "GXJL": {"h-2025-01-01": "100000.00"},
}
EXPECTED_GRANTED = {"GLJT": 1, "CJLB": 0, "YEBT": 1, "XWWG": 1, "GXJL": 0}
EXPECTED_NEAR_MISSES = {
    "GLJT": {"p-nonres85": ["hukou_region_code", "is_alive"]},
    "CJLB": {"c-nolevel": ["ongoing_group.CJR.disability_level"]},
    "YEBT": {},
    "XWWG": {
        "x-bd-null": ["annual_facts.Y-1.insured_net_decrease"],
        "x-cbrs-null": ["annual_facts.Y-1.insured_employees"],
    },
    "GXJL": {},
}
IDENTITY = {key: f"36070219{i:02d}0101{i:03d}X" for i, (key, *_) in enumerate(PERSONS)}

TKGY = """\
code: TKGY
name: 特困供养金
subject: person
effective_from: 2020-01-01
legal_reference: 特困人员认定办法（民发〔2021〕43号）
period: month
conditions:
  all:
    - {field: is_alive, op: "=", value: true, label: 健在}
    - {field: hukou_region_code, op: starts_with, value: "3607", label: 户籍在本市}
    - has_ongoing_group: TK
amount:
  fixed: 500
"""


def build_warehouse(path: Path) -> Path:
    connection = duckdb.connect(str(path))
    connection.execute(DDL)
    for key, birth, hukou, alive in PERSONS:
        connection.execute(
            "insert into main_marts.person_file (person_key, identity_number_masked, name_masked,"
            " birth_date, hukou_region_code, is_alive, is_resident, as_of_date)"
            " values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                key,
                IDENTITY[key][:6] + "********" + IDENTITY[key][-4:],
                "张*",
                birth,
                hukou,
                alive,
                alive is not None,
                E,
            ],
        )
        connection.execute(
            "insert into main_restricted.identity_persons values (?, ?, '张三', '13800000000')",
            [key, IDENTITY[key]],
        )
    connection.executemany(
        "insert into main_marts.person_special_groups values (?, ?, ?, ?, ?, ?)", GROUPS
    )
    insert_certificates(connection)
    for i, (key, kind, status, region) in enumerate(ENTERPRISES):
        connection.execute(
            "insert into main_marts.enterprise_file (enterprise_key, uscc, entity_name,"
            " entity_type, registration_status, region_code, is_registered, as_of_date)"
            " values (?, ?, ?, ?, ?, ?, true, ?)",
            [key, f"91360702MA{i:07d}X", f"赣州测试{i}有限公司", kind, status, region, E],
        )
    connection.executemany(
        "insert into main_marts.enterprise_annual_facts values (?, null, ?, ?, ?, 1, 1, 1)", FACTS
    )
    connection.executemany(
        "insert into main_marts.benefit_grants values (?, ?, ?,"
        " case when ? is null then 'enterprise' else 'person' end, ?, ?, ?, 100)",
        [
            (g, code, period, person, person, firm, on)
            for g, code, period, person, firm, on in GRANTS
        ],
    )
    connection.close()
    return path


def insert_certificates(connection) -> None:
    rows = [(f"cj-{k}", "CJRZ", "person", k, None, D(2015, 1, 1), D(2015, 1, 1), None, "1")
            for k in CJRZ_HOLDERS]  # fmt: skip
    rows += [
        ("cj-e", "CJRZ", "person", "c-cert-e", None, D(2016, 1, 1), D(2016, 1, 1), E, "1"),
        ("cj-e1", "CJRZ", "person", "c-cert-e1", None, D(2016, 1, 1), D(2016, 1, 1),
         D(2026, 2, 27), "1"),
        ("cj-void", "CJRZ", "person", "c-cert-void", None, D(2016, 1, 1), D(2016, 1, 1), None, "2"),
        ("cj-other", "CJRZ", "other", None, None, D(2016, 1, 1), D(2016, 1, 1), None, "1"),
    ]  # fmt: skip
    for key, issued, status, valid_to in [
        ("h-2025-01-01", D(2025, 1, 1), "1", D(2027, 12, 31)),
        ("h-2026-01-01", D(2026, 1, 1), "1", D(2028, 12, 31)),
        ("h-2024-12-31", D(2024, 12, 31), "1", D(2027, 12, 30)),
        ("h-void", D(2025, 6, 1), "2", D(2028, 5, 31)),
        ("h-expired", D(2025, 3, 1), "1", D(2026, 2, 27)),
        ("h-away", D(2025, 1, 1), "1", D(2027, 12, 31)),
    ]:
        rows.append(
            (f"gx-{key}", "GXJS", "enterprise", None, key, issued, issued, valid_to, status)
        )
    connection.executemany(
        "insert into main_marts.certificate_validity values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "warehouse.duckdb")


def run(tmp_path: Path, warehouse: Path, on: dt.date = E, **options):
    return evaluate(on, warehouse, tmp_path / "operations.duckdb", tmp_path / "push",
                    snapshot_id="fixture", **options)  # fmt: skip


def approve_and_release(tmp_path: Path, result) -> None:
    """Push lists leave only after approval (policies.md v2): approve the whole run."""
    operations = tmp_path / "operations.duckdb"
    approval.approve(operations, approval.Selection(result.run_id), approval.Officer("测试审核员"))
    approval.release(operations, tmp_path / "push", result.run_id)


def ledger(tmp_path: Path, where: str = "true") -> dict[str, dict[str, str]]:
    with duckdb.connect(str(tmp_path / "operations.duckdb"), read_only=True) as store:
        rows = store.execute(
            f"select policy_code, subject_key, amount_yuan from match_ledger where {where}"
        ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for code, key, amount in rows:
        found.setdefault(code, {})[key] = str(amount)
    return found


def near_misses(tmp_path: Path, run_id: str) -> dict[str, dict[str, list[str]]]:
    with duckdb.connect(str(tmp_path / "operations.duckdb"), read_only=True) as store:
        rows = store.execute(
            "select policy_code, subject_key, missing_fields from near_misses where run_id = ?",
            [run_id],
        ).fetchall()
    found: dict[str, dict[str, list[str]]] = {code: {} for code in EXPECTED}
    for code, key, fields in rows:
        found[code][key] = sorted(fields)
    return found


def test_every_boundary_gives_the_expected_matches_and_amounts(tmp_path, warehouse):
    result = run(tmp_path, warehouse)
    assert result.errors == []
    assert ledger(tmp_path) == {code: rows for code, rows in EXPECTED.items() if rows}
    assert near_misses(tmp_path, result.run_id) == EXPECTED_NEAR_MISSES
    summary = {s.code: s for s in result.summaries}
    for code, rows in EXPECTED.items():
        assert summary[code].matches == summary[code].new == len(rows), code
        assert summary[code].already_granted == EXPECTED_GRANTED[code], code
        assert summary[code].new_amount == sum(Decimal(a) for a in rows.values()), code


def test_the_row_wise_evaluator_finds_the_same_matches(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        found = evaluate_rowwise(connection, E)
    assert {c: {k: f"{a:.2f}" for k, a in rows.items()} for c, rows in found.items()} == EXPECTED


def test_a_29_february_birthday_turns_on_1_march_in_a_common_year(tmp_path, warehouse):
    run(tmp_path, warehouse, D(2026, 3, 1), only=["GLJT"])
    assert ledger(tmp_path)["GLJT"]["p-feb29"] == "200.00"


def test_a_second_run_adds_no_ledger_rows_and_no_push_rows(tmp_path, warehouse):
    first = run(tmp_path, warehouse)
    approve_and_release(tmp_path, first)
    second = run(tmp_path, warehouse)
    approve_and_release(tmp_path, second)
    assert sum(s.new for s in first.summaries) == sum(len(r) for r in EXPECTED.values())
    assert [s.new for s in second.summaries] == [0] * 5
    assert [s.matches for s in second.summaries] == [s.matches for s in first.summaries]
    for path in (second.push_dir).glob("*.csv"):
        assert len(path.read_text(encoding="utf-8").splitlines()) == 1, path  # header only
    for path in (second.push_dir).glob("*.json"):
        assert json.loads(path.read_text(encoding="utf-8")) == [], path
    assert ledger(tmp_path) == {code: rows for code, rows in EXPECTED.items() if rows}


def test_a_later_day_of_the_same_month_adds_only_the_newly_eligible(tmp_path, warehouse):
    run(tmp_path, warehouse, D(2026, 2, 27))
    later = run(tmp_path, warehouse, E)
    assert ledger(tmp_path, f"run_id = '{later.run_id}'") == {
        "GLJT": {"p-age80": "100.00"},
        "CJLB": {"c-l2": "150.00"},
        "YEBT": {"y-born-e": "3600.00"},
    }
    # the amount stays the one of the first run that found the subject (99 on 27 February)
    assert ledger(tmp_path)["GLJT"]["p-age100"] == "200.00"


def test_a_sixth_policy_is_added_by_a_yaml_file_alone(tmp_path, warehouse):
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES, policies)
    (policies / "TKGY.yaml").write_text(TKGY, encoding="utf-8")
    result = run(tmp_path, warehouse, policies_dir=policies)
    assert result.errors == []
    assert ledger(tmp_path)["TKGY"] == {"t-open": "500.00", "t-until-e": "500.00"}
    assert ledger(tmp_path)["GLJT"] == EXPECTED["GLJT"]


INVALID = {
    "BADFIELD.yaml": (TKGY.replace("code: TKGY", "code: BADF") + "owner: 民政局\n",
                      "BADFIELD.yaml: policy BADF: unknown field 'owner'"),
    "BADCOL.yaml": (TKGY.replace("code: TKGY", "code: BADC").replace("hukou_region_code", "hukou"),
                    "BADCOL.yaml: policy BADC: conditions.all[1]: field 'hukou' does not exist "
                    "in person_file"),
    "BADAMT.yaml": (TKGY.replace("code: TKGY", "code: BADA").replace("fixed: 500", "fixed: -5"),
                    "BADAMT.yaml: policy BADA: amount.fixed: amount -5 must be ≥ 0"),
    "BADPER.yaml": (TKGY.replace("code: TKGY", "code: BADP").replace("period: month",
                                                                     "period: week"),
                    "BADPER.yaml: policy BADP: period: Input should be 'month' or 'year'"),
}  # fmt: skip


def test_an_invalid_file_is_refused_by_name_and_the_others_run(tmp_path, warehouse):
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES, policies)
    for name, (text, _) in INVALID.items():
        (policies / name).write_text(text, encoding="utf-8")
    result = run(tmp_path, warehouse, policies_dir=policies)
    for _, message in INVALID.values():
        assert any(error.startswith(message) for error in result.errors), (message, result.errors)
    assert len(result.errors) == len(INVALID)
    assert {s.code: s.outcome for s in result.summaries} == dict.fromkeys(EXPECTED, "evaluated")
    assert ledger(tmp_path) == {code: rows for code, rows in EXPECTED.items() if rows}


def test_a_changed_policy_file_records_its_version_without_new_notices(tmp_path, warehouse):
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES, policies)
    run(tmp_path, warehouse, policies_dir=policies)
    gljt = policies / "GLJT.yaml"
    gljt.write_text(gljt.read_text(encoding="utf-8").replace("amount: 100}", "amount: 120}"),
                    encoding="utf-8")  # fmt: skip
    second = run(tmp_path, warehouse, policies_dir=policies)
    assert {s.code: s.new for s in second.summaries}["GLJT"] == 0
    with duckdb.connect(str(tmp_path / "operations.duckdb"), read_only=True) as store:
        versions = store.execute(
            "select count(*) from policy_versions where policy_code = 'GLJT'"
        ).fetchone()[0]
        amounts = store.execute(
            "select distinct amount_yuan from match_ledger where policy_code = 'GLJT'"
        ).fetchall()
    assert versions == 2
    assert {a for (a,) in amounts} == {Decimal("100"), Decimal("200"), Decimal("500")}


def test_push_lists_carry_keys_and_masked_identities_only(tmp_path, warehouse):
    result = run(tmp_path, warehouse)
    approve_and_release(tmp_path, result)
    files = sorted(p.name for p in result.push_dir.iterdir())
    assert files == sorted(
        f"{code}_{period}.{ext}"
        for code, period in [("GLJT", "2026-02"), ("CJLB", "2026-02"), ("YEBT", "2026"),
                             ("XWWG", "2026"), ("GXJL", "2026")]
        for ext in ("csv", "json")
    )  # fmt: skip
    with (result.push_dir / "GLJT_2026-02.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["subject_key"]: r["amount_yuan"] for r in rows} == EXPECTED["GLJT"]
    assert rows[0]["display_id"].count("*") == 8
    pushed = "".join(p.read_text(encoding="utf-8") for p in result.push_dir.iterdir())
    assert not any(number in pushed for number in IDENTITY.values())
    assert "13800000000" not in pushed


def test_the_explanation_names_every_condition_with_value_threshold_and_outcome(
    tmp_path, warehouse
):
    run(tmp_path, warehouse)
    with duckdb.connect(str(tmp_path / "operations.duckdb"), read_only=True) as store:
        text, document = store.execute(
            "select explanation_zh, explanation_json from match_ledger"
            " where policy_code = 'XWWG' and subject_key = 'x-rate-055'"
        ).fetchone()
    conditions = json.loads(document)["conditions"]
    assert [c["condition"] for c in conditions] == [
        "存续", "非个体工商户", "住所在本市", "有评估年度-1年年度经营信息",
        "评估年度-1年年末参保人数（CBRS）", "评估年度-1年年末参保人数（CBRS）",
        "评估年度-1年参保人数净减少数（CYRS_BD）已填报", "上年度裁员率", "上年度参保人数不超过30人",
        "上年度裁员率（30人及以下）",
    ]  # fmt: skip
    assert conditions[7]["threshold"] == "0.055" and conditions[7]["outcome"] == "pass"
    assert conditions[8]["value"] == 189 and conditions[8]["outcome"] == "fail"
    assert all(c["condition"] in text for c in conditions)
    assert "11/(189+11) = 0.055 ≤ 0.055，符合" in text
    assert text.endswith("合计56700.00元。")
