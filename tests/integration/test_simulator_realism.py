"""What the dashboards and the policy officers will see: rates that vary around the targets,
a rising online share, every kind of case, and candidates for every 免申即享 policy."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from contract.workdays import calendar
from tests.integration import scan

pytestmark = pytest.mark.integration
TARGETS = {"online": 0.92, "first_time": 0.90, "prefill": 0.70, "on_time": 0.98, "good": 0.99}


def _ratio(pairs) -> float:
    num = sum(n for n, _ in pairs)
    den = sum(d for _, d in pairs)
    return num / den


@pytest.fixture(scope="module")
def cases(city):
    items = {r["SXBM"]: r for r in scan.rows(city, "case_platform", "sxml")}
    rows = [r for r in scan.rows(city, "case_platform", "bj_jbxx") if r["SFSC"] == "0"]
    unique = {r["SBLSH"]: r for r in rows}
    return [(r, items[r["SXBM"]]) for r in unique.values()]


def test_online_share_rises_and_differs_by_district_and_department(cases):
    by_half = collections.defaultdict(lambda: [0, 0])
    by_district = collections.defaultdict(lambda: [0, 0])
    by_dept = collections.defaultdict(lambda: [0, 0])
    for case, item in cases:
        online = case["SQFS"] in ("1", "2")
        for bucket in (
            by_half[case["SQSJ"][:4]],
            by_district[case["XZQHDM"]],
            by_dept[item["BLBM"]],
        ):
            bucket[0] += online
            bucket[1] += 1
    assert _ratio([by_half["2026"]]) > _ratio([by_half["2025"]])
    overall = _ratio(by_half.values())
    assert 0.85 < overall < 0.97
    rates = [_ratio([v]) for v in by_dept.values() if v[1] >= 50]
    assert min(rates) < TARGETS["online"] < max(rates)
    assert len({round(_ratio([v]), 2) for v in by_district.values() if v[1] >= 50}) > 5
    assert {"1", "2", "3", "4", "5"} <= {c["SQFS"] for c, _ in cases}


def test_case_kpis_vary_around_their_targets_by_department(cases):
    cal = calendar()
    first, prefill, on_time = (collections.defaultdict(lambda: [0, 0]) for _ in range(3))
    for case, item in cases:
        dept = item["BLBM"]
        if case["SLSJ"] or case["BJZT"] == "4":
            first[dept][1] += 1
            first[dept][0] += bool(case["SLSJ"] and case["BJZT"] != "4" and case["BZCS"] == 0)
        if case["SQFS"] in ("1", "2") and item["SFGPSX"] == "1":
            prefill[dept][1] += 1
            prefill[dept][0] += case["SFYT"] == "1"
        if case["BJZT"] == "3" and case["BJSJ"] and case["SLSJ"] and case["SLSJ"] <= case["BJSJ"]:
            accepted = dt.date.fromisoformat(case["SLSJ"][:10])
            finished = dt.date.fromisoformat(case["BJSJ"][:10])
            limit = int(item["CNSX"])
            on_time[dept][1] += 1
            on_time[dept][0] += (
                finished == accepted if limit == 0 else cal.wd(accepted, finished) <= limit
            )
    for name, table in (("first_time", first), ("prefill", prefill), ("on_time", on_time)):
        rates = [_ratio([v]) for v in table.values() if v[1] >= 40]
        assert min(rates) < TARGETS[name] < max(rates), (name, rates)
        assert abs(_ratio(table.values()) - TARGETS[name]) < 0.1


def test_every_kind_of_case_occurs(cases):
    kinds = collections.Counter()
    instances = collections.Counter(c["YJSSLBH"] for c, _ in cases if c["YJSSLBH"])
    for case, item in cases:
        kinds["city_level"] += case["XZQHDM"] == "360700"
        kinds["on_the_spot"] += item["CNSX"] == 0
        kinds["commitment"] += case["SLMS"] == "2"
        kinds["missing_items"] += case["SLMS"] == "3"
        kinds["cross_province"] += case["YDBL"] == "2"
        kinds["in_province"] += case["YDBL"] == "1"
        kinds["corrections"] += case["BZCS"] > 0
        kinds["refused"] += case["BJZT"] == "4"
        kinds["withdrawn"] += case["BJZT"] == "5"
        kinds["open"] += case["BJZT"] in ("1", "2")
        kinds["enterprise"] += case["SQRLX"] == "2"
        kinds["passport"] += case["SQRZJLX"] in ("414", "516", "511")
    assert all(kinds[k] > 0 for k in kinds), kinds
    assert sum(1 for n in instances.values() if n >= 2) > 20


def test_ratings_and_hotline_rates_vary_around_targets(city):
    ratings = []
    for path in scan.drops_in_force(city).values():
        ratings += scan.read_drop(path)
    levels = collections.Counter(str(r["PJDJ"]) for r in ratings)
    good = (levels["3"] + levels["4"] + levels["5"]) / sum(levels.values())
    assert 0.97 < good < 1.0 and levels["1"] + levels["2"] > 0
    orders = scan.rows(city, "hotline_12345", "work_orders")
    solved = [o["sfjj"] for o in orders if o["sfjj"]]
    happy = [o["myd"] for o in orders if o["myd"]]
    assert 0.85 < solved.count("1") / len(solved) < 0.95
    assert 0.85 < sum(m in ("1", "2") for m in happy) / len(happy) < 0.97


def _age(birth: str, on: dt.date) -> int:
    born = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def test_every_policy_has_candidates_and_near_misses(city):
    today = scan.clock(city).date() - dt.timedelta(days=1)
    people = {p["GMSFHM"]: p for p in scan.rows(city, "population_base", "rk_jbxx")}
    alive_city = {
        k: p for k, p in people.items() if p["SWBZ"] == "0" and p["HJXZQHDM"].startswith("3607")
    }
    assert sum(_age(p["CSRQ"], today) >= 80 for p in alive_city.values()) > 10
    assert (
        sum(_age(p["CSRQ"], today) >= 80 for p in people.values() if p not in alive_city.values())
        > 0
    )
    assert sum(_age(p["CSRQ"], today) < 3 for p in alive_city.values()) > 10
    groups = collections.Counter(g["QTLX"] for g in scan.rows(city, "population_base", "rk_tsqt"))
    assert all(groups[k] > 0 for k in ("CJR", "DB", "TK", "YF")), groups
    certs = scan.rows(city, "certificate_library", "dzzz_zzxx")
    assert any(c["ZZLXDM"] == "CJRZ" for c in certs)
    high_tech = [c for c in certs if c["ZZLXDM"] == "GXJS" and c["FZRQ"][:4] == str(today.year - 1)]
    assert high_tech
    facts = scan.rows(city, "legal_entity_base", "fr_ndxx")
    last_year = [f for f in facts if f["ND"] == today.year - 1]
    eligible = [
        f
        for f in last_year
        if f["CBRS"]
        and 1 <= f["CBRS"] <= 300
        and f["CYRS_BD"] is not None
        and 1000 * f["CYRS_BD"] <= (200 if f["CBRS"] <= 30 else 55) * (f["CBRS"] + f["CYRS_BD"])
    ]
    too_many_layoffs = [f for f in last_year if f["CBRS"] and f["CYRS_BD"] and f not in eligible]
    missing = [f for f in facts if f["CBRS"] is None or f["CYRS_BD"] is None]
    assert eligible and too_many_layoffs and missing


def test_grants_are_paid_in_advance_and_in_arrears(city):
    grants = scan.rows(city, "population_base", "jf_ffjl")
    monthly = [g for g in grants if len(g["FFSSQ"]) == 7]
    advance = [g for g in monthly if g["FFRQ"] < g["FFSSQ"] + "-01"]
    arrears = [g for g in monthly if g["FFRQ"] > g["FFSSQ"] + "-28"]
    assert advance and arrears
    assert {g["ZCBM"] for g in grants} >= {"GLJT", "CJLB", "YEBT", "XWWG"}


VISITOR_ITEMS = {"GAQR0001", "YBGG0002", "BDCGG0003"}  # 跨省通办 items seniors apply for


def test_non_residents_are_seen_only_where_the_manifest_says(city):
    residents = {p["GMSFHM"] for p in scan.rows(city, "population_base", "rk_jbxx")}
    outsiders = {
        number: (subject, kind, born, region)
        for subject, number, kind, born, region in scan.manifest(
            city,
            "SELECT subject_type, id_number, kind, birth_date, region_code FROM non_residents",
        )
    }
    assert not set(outsiders) & residents
    for number, (subject, _, born, region) in outsiders.items():
        if subject == "person":
            assert scan.valid_id(number) and number[:6] == region and not region.startswith("36")
            assert number[6:14] == born.replace("-", "")
        else:
            assert scan.valid_uscc(number) and number[2:8] == region == "360000"
    seen = collections.defaultdict(set)
    for table, key, true_id in scan.manifest(
        city, "SELECT table_name, key, true_id FROM identity_truth"
    ):
        if true_id in outsiders:
            seen[true_id].add((table, key))
    cases = {r["SBLSH"]: r for r in scan.rows(city, "case_platform", "bj_jbxx")}
    certs = {r["ZZBH"]: r for r in scan.rows(city, "certificate_library", "dzzz_zzxx")}
    kinds = collections.Counter()
    for number, places in seen.items():
        _, kind, born, _ = outsiders[number]
        kinds[kind] += 1
        tables = {table for table, _ in places}
        if kind == "elderly_visitor":
            assert tables <= {"bj_jbxx", "bb_jl"} and "bj_jbxx" in tables
            assert all(
                cases[k]["YDBL"] == "2" and cases[k]["SXBM"] in VISITOR_ITEMS
                for t, k in places
                if t == "bj_jbxx"
            )
        else:  # a baby's 出生医学证明 or a provincial firm's GXJS certificate, nothing else
            assert tables == {"dzzz_zzxx"}
            wanted = {"newborn": "CSZM", "provincial_high_tech": "GXJS"}[kind]
            assert all(certs[k]["ZZLXDM"] in (wanted, "9") for _, k in places)
            if kind == "newborn":
                assert all(certs[k]["FZRQ"] == born for _, k in places)
    assert kinds["elderly_visitor"] >= 3 and kinds["newborn"] >= 3, kinds
    assert kinds["provincial_high_tech"] >= 1, kinds
    registered = {r["TYSHXYDM"] for r in scan.rows(city, "legal_entity_base", "fr_jbxx")}
    assert not registered & set(outsiders)


def test_cjr_rows_without_a_level_are_the_manifest_gaps_and_are_not_paid_on_it(city):
    groups = scan.rows(city, "population_base", "rk_tsqt")
    gaps = {
        key
        for (key,) in scan.manifest(
            city,
            "SELECT key FROM data_gaps WHERE table_name = 'rk_tsqt' AND column_name = 'CJDJ'",
        )
    }
    nulls = {g["TSQTBH"] for g in groups if g["QTLX"] == "CJR" and g["CJDJ"] is None}
    assert len(gaps) >= 3 and nulls <= gaps
    assert gaps - nulls <= scan.defect_keys(city, "D7", "rk_tsqt")  # its QTLX made unreadable
    rows_of = collections.defaultdict(list)
    for g in groups:
        if g["QTLX"] == "CJR":
            rows_of[g["GMSFHM"]].append(g)
    only_unrecorded = {
        person
        for person, rows in rows_of.items()
        if rows and all(r["TSQTBH"] in gaps for r in rows)
    }
    assert only_unrecorded
    grants = scan.rows(city, "population_base", "jf_ffjl")
    paid = [g for g in grants if g["ZCBM"] == "CJLB" and g["DXDM"] in only_unrecorded]
    assert all(g["FFJE"] == 100 for g in paid), paid  # 低保 only: no 150 on an unknown level


def test_each_year_some_enterprise_entitled_to_gxjl_was_not_paid(city):
    clock = scan.clock(city)
    entities = {
        r["TYSHXYDM"]: r
        for r in scan.rows(city, "legal_entity_base", "fr_jbxx")
        if r["XZQHDM"].startswith("3607")
    }
    certs = scan.rows(city, "certificate_library", "dzzz_zzxx")
    grants = scan.rows(city, "population_base", "jf_ffjl")
    years = range(2025, clock.year + 1 if clock.date() >= dt.date(clock.year, 8, 1) else clock.year)
    assert years
    for year in years:
        certified = {
            c["CZZTDM"].replace(" ", "").upper()
            for c in certs
            if c["ZZLXDM"] == "GXJS" and c["FZRQ"][:4] == str(year - 1)
        }
        entitled = {
            u
            for u in certified & set(entities)
            if not entities[u]["ZXRQ"] or entities[u]["ZXRQ"] > f"{year}-12-31"
        }
        paid = {g["DXDM"] for g in grants if g["ZCBM"] == "GXJL" and g["FFSSQ"] == str(year)}
        assert paid <= certified, year
        assert entitled - paid, year
