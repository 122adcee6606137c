"""免申即享 matching on the simulator's test city, built by dbt: the engine reads the real
themes, agrees with the row-wise evaluator, and explains every condition of a match."""

from __future__ import annotations

import collections
import datetime as dt
import json
import statistics

import duckdb
import pytest

from matching.engine import DEFAULT_POLICIES, evaluate
from matching.policy import AllOf, AnyOf, Not, load_policies
from matching.rowwise import evaluate_rowwise
from tests.integration import scan
from tests.integration.dbt_city import warehouse_copy
from tests.integration.payout_city import keyed, record_approvals
from transform.dbt import build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city_run(ingested, tmp_path_factory):
    city, source = ingested
    tmp = tmp_path_factory.mktemp("matching-city")
    warehouse = warehouse_copy(source, tmp)
    as_of = scan.clock(city).date() - dt.timedelta(days=1)
    build(warehouse, as_of, target="ci", capture=True)
    result = evaluate(as_of, warehouse, tmp / "operations.duckdb", tmp / "push")
    return warehouse, tmp / "operations.duckdb", result


def leaf_count(node) -> int:
    if isinstance(node, AllOf | AnyOf):
        return sum(leaf_count(item) for item in node.items)
    if isinstance(node, Not):
        return leaf_count(node.item)
    return 1


def test_every_policy_runs_on_the_built_themes(city_run):
    _, _, result = city_run
    assert result.errors == []
    assert {s.code: s.outcome for s in result.summaries} == {
        code: "evaluated" for code in ("CJLB", "GLJT", "GXJL", "XWWG", "YEBT")
    }
    assert sum(s.matches for s in result.summaries) > 0


def test_the_row_wise_evaluator_agrees_on_the_city(city_run):
    warehouse, operations, result = city_run
    with duckdb.connect(str(operations), read_only=True) as store:
        rows = store.execute("select policy_code, subject_key, amount_yuan from match_ledger")
        sql = {}
        for code, key, amount in rows.fetchall():
            sql.setdefault(code, {})[key] = amount
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rowwise = evaluate_rowwise(connection, result.evaluation_date)
    assert sql == {code: found for code, found in rowwise.items() if found}


def test_a_sampled_match_names_every_condition(city_run):
    _, operations, _ = city_run
    policies = {p.code: p for p in load_policies(DEFAULT_POLICIES).policies}
    with duckdb.connect(str(operations), read_only=True) as store:
        sampled = store.execute(
            "select policy_code, any_value(explanation_json), any_value(explanation_zh)"
            " from match_ledger group by policy_code"
        ).fetchall()
    assert sampled
    for code, document, sentence in sampled:
        conditions = json.loads(document)["conditions"]
        assert len(conditions) == leaf_count(policies[code].conditions), code
        assert all({"condition", "value", "threshold", "outcome"} <= set(c) for c in conditions)
        assert all(c["condition"] in sentence for c in conditions), code


def age_on(birth: str, day: dt.date) -> int:
    born = dt.date.fromisoformat(birth)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def test_every_policy_has_matches_and_near_misses_naming_the_missing_data(ingested, city_run):
    """The simulator's data gaps (docs/simulator.md) reach the policies: non-resident seniors
    (GLJT) and babies (YEBT) lack hukou and alive, a 残疾人 row lacks its level (CJLB), a
    provincially registered firm lacks its registration (GXJL), annual facts lack CYRS_BD."""
    city, _ = ingested
    _, operations, result = city_run
    counts = {s.code: (s.matches, s.near_misses) for s in result.summaries}
    assert all(matches > 0 and near > 0 for matches, near in counts.values()), counts
    on = result.evaluation_date
    with duckdb.connect(str(operations), read_only=True) as store:
        rows = store.execute("select policy_code, subject_key, missing_fields from near_misses")
        missed = collections.defaultdict(dict)
        for code, key, fields in rows.fetchall():
            missed[code][key] = set(fields)
    outsiders = scan.manifest(
        city, "SELECT subject_type, id_number, kind, birth_date FROM non_residents"
    )
    seniors = {
        keyed("person", n)
        for _, n, kind, born in outsiders
        if kind == "elderly_visitor" and age_on(born, on) >= 80
    }
    babies = {
        keyed("person", n)
        for _, n, kind, born in outsiders
        if kind == "newborn" and dt.date.fromisoformat(born) <= on
    }
    firms = {keyed("enterprise", n) for kind, n, *_ in outsiders if kind == "enterprise"}
    unrecorded = {
        keyed("person", true_id)
        for (true_id,) in scan.manifest(
            city,
            "SELECT t.true_id FROM identity_truth t JOIN data_gaps g USING (table_name, key) "
            "WHERE g.table_name = 'rk_tsqt' AND g.column_name = 'CJDJ'",
        )
    }
    hukou = {"is_alive", "hukou_region_code"}
    expected = {
        "GLJT": (seniors, hukou),
        "YEBT": (babies, hukou),
        "CJLB": (unrecorded, {"ongoing_group.CJR.disability_level"}),
        "GXJL": (firms, {"registration_status", "region_code"}),
        "XWWG": (
            None,
            {"annual_facts.Y-1.insured_net_decrease", "annual_facts.Y-1.insured_employees"},
        ),
    }
    for code, (subjects, fields) in expected.items():
        assert missed[code], code
        if subjects is not None:
            assert set(missed[code]) <= subjects, code
        assert all(found and found <= fields for found in missed[code].values()), (
            code,
            missed[code],
        )
    assert all(missed[code][key] == hukou for code in ("GLJT", "YEBT") for key in missed[code])


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


def test_every_field_a_near_miss_names_has_a_chinese_label(city_run):
    """The 免申即享 dashboard shows 缺少的条件 in Chinese: each field of near_misses has its
    label from the policy catalogue in field_labels."""
    _, operations, _ = city_run
    with duckdb.connect(str(operations), read_only=True) as store:
        named = {
            f
            for (f,) in store.execute(
                "select distinct unnest(missing_fields) from near_misses"
            ).fetchall()
        }
        labels = dict(store.execute("select field, label_zh from field_labels").fetchall())
    assert named and set(labels) >= named
    assert {f: labels[f] for f in named if not has_chinese(labels[f])} == {}
    assert labels["hukou_region_code"] == "户籍地区代码"
    assert labels["is_alive"] == "生存状态（SWBZ=0）"


def test_k23_and_the_median_days_to_pay_agree_with_the_simulators_payouts(ingested, city_run):
    """The simulator's 免申即享 payouts (manifest `payouts`, simulator/payments.py): the bureau's
    approvals go into a ledger of their own as an officer recorded them; payout() on the built
    warehouse (the payments as jf_ffjl → benefit_grants) agrees with the truth read directly."""
    from matching.payout import WINDOW_DAYS, payout

    city, _ = ingested
    warehouse, _, result = city_run
    on = result.evaluation_date  # the day before the clock: a payment of `on` is loaded
    operations = warehouse.parent / "payout-operations.duckdb"
    truth = record_approvals(city, operations, on)
    assert {row[0] for row in truth} == {"YEBT", "XWWG", "GXJL"}

    expected: dict = collections.defaultdict(lambda: [0, 0, 0, []])
    late = never = 0
    for code, _, _, _, _, approved, paid in truth:
        approved_on = dt.date.fromisoformat(approved)
        if approved_on > on - dt.timedelta(days=WINDOW_DAYS):
            continue
        cell = expected[(code, approved_on.replace(day=1))]
        cell[1] += 1
        paid_on = dt.date.fromisoformat(paid) if paid else None
        if paid_on is None:
            never += 1
        if paid_on is not None and paid_on <= on:  # loaded by the clock
            days = max((paid_on - approved_on).days, 0)
            cell[0] += days <= WINDOW_DAYS
            late += days > WINDOW_DAYS
            cell[2] += 1
            cell[3].append(days)
    assert late and never, "the city has payments beyond 30 days and approvals never paid"

    rows = payout(warehouse, operations, on)
    overall = {(r.policy_code, r.month): r for r in rows if r.region_code is None}
    assert set(overall) == set(expected)
    for key, (within, approved, paid_ever, days) in expected.items():
        row = overall[key]
        assert (row.paid_within_30_days, row.approved, row.paid_ever) == (
            within,
            approved,
            paid_ever,
        ), key
        median = statistics.median(days) if days else None
        assert row.median_days_to_pay == median, key
    # the districts share each policy's month out, none of it lost to an unknown district
    by_district = collections.Counter()
    for r in rows:
        if r.region_code is not None:
            assert r.region_code.startswith("3607"), r
            by_district[(r.policy_code, r.month)] += r.approved
    assert by_district == {key: cell[1] for key, cell in expected.items()}


def reminded(warehouse, tmp, on: dt.date) -> dict[str, set[str]]:
    from matching.reminders import remind

    operations = tmp / f"reminders-{on}.duckdb"
    remind(warehouse, operations, tmp / f"reminders-{on}", on)
    with duckdb.connect(str(operations), read_only=True) as store:
        rows = store.execute("select reminder_code, subject_key from reminder_ledger").fetchall()
    found = collections.defaultdict(set)
    for code, key in rows:
        found[code].add(key)
    return found


def file_keys(warehouse, sql: str) -> set[str]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return {key for (key,) in connection.execute(sql).fetchall()}


def test_certificates_expiring_within_60_days_are_reminded(ingested, city_run):
    """CERTP / CERTE on the city (the simulator's certificates expire: JSZ after 6 years, CJRZ
    after 5 or 10, SPJY after 5, GXJS after 3): every certificate of a reminded type that the
    library shows in force on E and expiring within 60 days, free of any planted defect,
    reaches its holder (alive / in business); nobody is reminded without such a certificate."""
    city, _ = ingested
    warehouse, _, result = city_run
    on = result.evaluation_date
    until = on + dt.timedelta(days=60)
    where = "WHERE table_name = 'dzzz_zzxx'"
    defective = {key for (key,) in scan.manifest(city, f"SELECT key FROM defects {where}")}
    true_id = dict(scan.manifest(city, f"SELECT key, true_id FROM identity_truth {where}"))
    expiring = {"CERTP": set(), "CERTE": set()}
    clean = {"CERTP": set(), "CERTE": set()}
    kinds = {"JSZ": "CERTP", "CJRZ": "CERTP", "SPJY": "CERTE", "GXJS": "CERTE"}
    for cert in scan.rows(city, "certificate_library", "dzzz_zzxx"):
        code = kinds.get(cert["ZZLXDM"])
        if code is None or not cert["YXQZ"] or not on.isoformat() <= cert["YXQZ"] <= str(until):
            continue
        key = keyed("person" if code == "CERTP" else "enterprise", true_id[cert["ZZBH"]])
        expiring[code].add(key)
        in_force = (cert["ZZZT"], cert["SFSC"]) == ("1", "0") and cert["YXQQ"] <= on.isoformat()
        if in_force and cert["ZZBH"] not in defective:
            clean[code].add(key)
    alive = file_keys(warehouse, "select person_key from main_marts.person_file where is_alive")
    in_business = file_keys(warehouse, "select enterprise_key from main_marts.enterprise_file"
                            " where registration_status = '1'")  # fmt: skip
    found = reminded(warehouse, warehouse.parent, on)
    # the small test city has a driving licence expiring in the window, no firm's certificate
    assert clean["CERTP"] & alive, clean
    assert clean["CERTP"] & alive <= found["CERTP"] <= expiring["CERTP"]
    assert clean["CERTE"] & in_business <= found["CERTE"] <= expiring["CERTE"]


def test_the_annual_report_reminder_names_the_planted_late_filers(ingested, city_run):
    """NDBG on the city, in the season (15 June of the clock's year): the enterprises in
    business whose annual report of last year was not filed before the clock (the simulator's
    `annual_reports`: late ones planted, after 30 June, or none at all) are reminded, and only
    they."""
    city, _ = ingested
    warehouse, _, _ = city_run
    clock = scan.clock(city).date()
    on = dt.date(clock.year, 6, 15)
    assert clock > on  # the late filers of the test city are still late on the clock
    year = on.year - 1
    filed = {
        keyed("enterprise", uscc): day
        for uscc, day in scan.manifest(
            city, "SELECT uscc, filed_on FROM annual_reports WHERE year = ?", (year,)
        )
    }
    late_after_clock = {k for k, day in filed.items() if day >= clock.isoformat()}
    in_business = file_keys(warehouse, "select enterprise_key from main_marts.enterprise_file"
                            " where registration_status = '1'")  # fmt: skip
    found = reminded(warehouse, warehouse.parent, on)["NDBG"]
    assert found == {k for k in in_business if k not in filed or k in late_after_clock}
    assert late_after_clock & in_business <= found
    assert late_after_clock & in_business, "the test city plants a late filer in business"
