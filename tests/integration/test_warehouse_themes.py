"""The 一人一档 / 一企一档 themes, the fact tables, the identity layer and the published
snapshot, on the small simulator city: each person and enterprise once, exactly the expected
ones (computed here from the exchange databases, apart from the SQL), invalid numbers not
linked, orphans (D8) as the manifest predicts, and no personal data in what is published."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from contract.regions import all_region_codes
from groundfloor.masking import mask_identity_number, mask_name
from tests.helpers.warehouse import query
from tests.integration import scan
from tests.integration.dbt_city import warehouse_copy
from transform import docs
from transform.dbt import build
from transform.pii_scan import scan_database, scan_files
from transform.publish import publish

pytestmark = pytest.mark.integration
LONGEST_LATE_ARRIVAL = dt.timedelta(days=10)
ENTERPRISE_POLICIES = {"XWWG", "GXJL"}


@pytest.fixture(scope="module")
def built(ingested, tmp_path_factory):
    city, source = ingested
    tmp = tmp_path_factory.mktemp("themes")
    warehouse = warehouse_copy(source, tmp)
    as_of = scan.clock(city).date() - dt.timedelta(days=1)
    build(warehouse, as_of, target="ci", capture=True)
    snapshot = publish(warehouse, tmp / "published" / "warehouse.duckdb", as_of)
    site = docs.publish_docs(docs.generate(warehouse, as_of), tmp / "published" / "docs")
    return city, warehouse, snapshot.path, site.parent


def keyed(kind: str, number: str) -> str:
    text = f"{os.environ['IDENTITY_KEY']}|{kind}|{number}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def valid_identity(number: str, load_day: dt.date) -> bool:
    if not scan.valid_id(number) or number[:6] not in all_region_codes():
        return False
    return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14])) <= load_day


def live_rows(city: Path, system: str, table: str, key: str) -> list[dict]:
    """Current rows of a table: soft deletes and quarantined keys (D7) left out."""
    quarantined = scan.defect_keys(city, "D7", table)
    return [
        row
        for row in scan.rows(city, system, table)
        if row.get("SFSC") != "1" and str(row[key]) not in quarantined
    ]


def numbers_seen_outside_the_population_snapshot(city: Path) -> set[str]:
    """Identity columns of the spec README (and the authoritative 特殊群体/发放 tables)."""
    sources = [
        ("case_platform", "bj_jbxx", "SBLSH", "SQRZJHM", lambda r: r["SQRZJLX"] == "111"),
        ("case_platform", "bb_jl", "BBBH", "SQRZJHM", lambda r: True),
        ("certificate_library", "dzzz_zzxx", "ZZBH", "CZZTDM", lambda r: r["CZZTDMLX"] == "111"),
        ("hotline_12345", "work_orders", "gdbh", "ldrzjhm", lambda r: True),
        ("legal_entity_base", "fr_jbxx", "TYSHXYDM", "FDDBRZJHM", lambda r: True),
        ("population_base", "rk_tsqt", "TSQTBH", "GMSFHM", lambda r: True),
        (
            "population_base",
            "jf_ffjl",
            "FFBH",
            "DXDM",
            lambda r: r["ZCBM"] not in ENTERPRISE_POLICIES,
        ),
    ]
    load_day = scan.clock(city).date()
    numbers = set()
    for system, table, key, column, applies in sources:
        for row in live_rows(city, system, table, key):
            if row[column] and applies(row):
                number = scan.normalise_id(row[column])
                if valid_identity(number, load_day):
                    numbers.add(number)
    return numbers


def test_the_whole_project_builds_with_its_data_and_unit_tests(built):
    _, warehouse, _, _ = built
    tables = {t for (t,) in query(warehouse, "SELECT table_name FROM duckdb_tables()")}
    assert {"person_file", "enterprise_file", "fct_cases", "identity_persons"} <= tables


def test_each_person_appears_once_and_exactly_the_expected_people(built):
    city, warehouse, _, _ = built
    residents = {
        n
        for (n,) in query(
            warehouse, "SELECT resident_id FROM main_staging.stg_population_base__residents"
        )
    }
    expected = {
        keyed("person", n) for n in residents | numbers_seen_outside_the_population_snapshot(city)
    }
    rows = query(warehouse, "SELECT person_key, is_resident FROM main_marts.person_file")
    assert len(rows) == len({key for key, _ in rows}), "a person appears twice"
    assert {key for key, _ in rows} == expected
    non_residents = {key for key, is_resident in rows if not is_resident}
    assert non_residents == expected - {keyed("person", n) for n in residents}


def test_each_enterprise_appears_once_and_exactly_the_expected_ones(built):
    city, warehouse, _, _ = built
    registered = {
        r["TYSHXYDM"] for r in live_rows(city, "legal_entity_base", "fr_jbxx", "TYSHXYDM")
    }
    seen = set()
    for system, table, key, column, applies in [
        ("case_platform", "bj_jbxx", "SBLSH", "SQRZJHM", lambda r: r["SQRZJLX"] == "001"),
        ("certificate_library", "dzzz_zzxx", "ZZBH", "CZZTDM", lambda r: r["CZZTDMLX"] == "001"),
        ("population_base", "jf_ffjl", "FFBH", "DXDM", lambda r: r["ZCBM"] in ENTERPRISE_POLICIES),
    ]:
        for row in live_rows(city, system, table, key):
            code = row[column].replace(" ", "").upper() if row[column] else ""
            if applies(row) and scan.valid_uscc(code) and code[2:8] in all_region_codes():
                seen.add(code)
    rows = query(
        warehouse, "SELECT uscc, enterprise_key, is_registered FROM main_marts.enterprise_file"
    )
    assert len(rows) == len({uscc for uscc, _, _ in rows})
    assert {uscc for uscc, _, _ in rows} == registered | seen
    assert all(key == keyed("enterprise", uscc) for uscc, key, _ in rows)
    assert {uscc for uscc, _, reg in rows if not reg} == seen - registered


def test_invalid_identity_numbers_are_kept_but_not_linked(built):
    city, warehouse, _, _ = built
    invalid = (
        {
            k
            for (k,) in scan.manifest(
                city,
                "SELECT key FROM defects WHERE table_name = 'bj_jbxx' AND defect = 'D4' "
                "AND expected = 'invalid'",
            )
        }
        - scan.defect_keys(city, "D7", "bj_jbxx")
        - scan.defect_keys(city, "D3", "bj_jbxx")
    )
    unlinked = {
        case_id
        for (case_id,) in query(
            warehouse,
            "SELECT case_id FROM main_marts.fct_cases "
            "WHERE applicant_id_type = '111' AND person_key IS NULL",
        )
    }
    assert invalid and unlinked == invalid


def orphans_expected(city: Path, table: str, key: str, when: str) -> set[str]:
    """References older than the longest late arrival whose case is not a live case: the
    manifest's D8 orphans plus references to deleted (D3) or quarantined (D7) cases."""
    live_cases = {r["SBLSH"] for r in live_rows(city, "case_platform", "bj_jbxx", "SBLSH")}
    cutoff = scan.clock(city) - LONGEST_LATE_ARRIVAL
    rows = live_rows(city, "certificate_library", table, key) if table == "dzzz_yyjl" else []
    return {
        str(r[key])
        for r in rows
        if dt.datetime.fromisoformat(r[when]) < cutoff and r["SBLSH"] not in live_cases
    }


def test_orphaned_certificate_uses_match_the_manifest(built):
    city, warehouse, _, _ = built
    cutoff = scan.clock(city) - LONGEST_LATE_ARRIVAL
    flagged = {
        str(k)
        for (k,) in query(
            warehouse,
            "SELECT certificate_use_id FROM main_marts.fct_certificate_uses "
            "WHERE NOT is_case_known AND used_at < ? AND region_code = 'unknown' "
            "AND department = 'unknown'",
            [cutoff],
        )
    }
    d8 = scan.defect_keys(city, "D8", "dzzz_yyjl") - scan.defect_keys(city, "D7", "dzzz_yyjl")
    old_d8 = d8 & orphans_expected(city, "dzzz_yyjl", "DYBH", "DYSJ")
    assert old_d8, "the city has no D8 certificate uses to judge"
    assert flagged == orphans_expected(city, "dzzz_yyjl", "DYBH", "DYSJ")
    assert old_d8 <= flagged


def test_orphaned_ratings_match_the_manifest(built):
    city, warehouse, _, _ = built
    cutoff = scan.clock(city) - LONGEST_LATE_ARRIVAL
    live_cases = {r["SBLSH"] for r in live_rows(city, "case_platform", "bj_jbxx", "SBLSH")}
    in_force = [
        row
        for path in scan.drops_in_force(city).values()
        for row in scan.read_drop(path)
        if row["PJBH"] not in scan.defect_keys(city, "D7", "hcp_pj")
    ]
    expected = {
        row["PJBH"]
        for row in in_force
        if scan.parse_pjsj(row["PJSJ"]) < cutoff and row["SBLSH"] not in live_cases
    }
    flagged = {
        k
        for (k,) in query(
            warehouse,
            "SELECT rating_id FROM main_marts.fct_ratings WHERE NOT is_case_known "
            "AND rated_at < ? AND region_code = 'unknown'",
            [cutoff],
        )
    }
    d8 = scan.defect_keys(city, "D8", "hcp_pj")
    assert d8 & expected, "the city has no D8 ratings to judge"
    assert flagged == expected
    assert (
        d8 & {row["PJBH"] for row in in_force if scan.parse_pjsj(row["PJSJ"]) < cutoff} <= flagged
    )


def test_keys_are_keyed_hashes_of_the_normalised_number(built):
    _, warehouse, _, _ = built
    pairs = query(
        warehouse,
        "SELECT person_key, identity_number FROM main_restricted.identity_persons LIMIT 50",
    )
    assert pairs and all(key == keyed("person", number) for key, number in pairs)


def test_masked_forms(built):
    _, warehouse, _, _ = built
    masked = query(
        warehouse,
        "SELECT identity_number_masked, name_masked FROM main_marts.person_file WHERE is_resident",
    )
    assert all(re.fullmatch(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]", number) for number, _ in masked)
    assert all(re.fullmatch(r".\*|.\*+.", name) for _, name in masked if name)
    # the marts show the same masked form as every other output (groundfloor/masking.py)
    pairs = query(
        warehouse,
        "SELECT p.identity_number_masked, i.identity_number, p.name_masked, r.name "
        "FROM main_marts.person_file p JOIN main_restricted.identity_persons i USING (person_key) "
        "JOIN main_staging.stg_population_base__residents r ON r.resident_id = i.identity_number",
    )
    assert len(pairs) > 500
    assert all(masked == mask_identity_number(number) for masked, number, _, _ in pairs)
    assert all(masked == mask_name(name) for _, _, masked, name in pairs)


def test_published_snapshot_holds_only_marts_and_reference_data(built):
    _, _, published, _ = built
    schemas = {s for (s,) in query(published, "SELECT DISTINCT schema_name FROM duckdb_tables()")}
    assert schemas == {"main_marts", "main_reference"}
    assert stat.S_IMODE(published.stat().st_mode) == 0o644


def test_working_warehouse_is_owner_only(built):
    _, warehouse, _, _ = built
    assert stat.S_IMODE(warehouse.stat().st_mode) == 0o600


def real_names(warehouse: Path) -> set[str]:
    return {
        n
        for (n,) in query(
            warehouse,
            "SELECT name FROM main_restricted.identity_persons UNION "
            "SELECT legal_representative_name FROM main_restricted.identity_enterprises UNION "
            "SELECT applicant_name FROM main_staging.stg_case_platform__cases "
            "WHERE applicant_type = '1'",
        )
        if n
    }


def test_no_identity_number_phone_or_name_in_the_published_snapshot(built):
    _, warehouse, published, _ = built
    assert scan_database(published, real_names(warehouse)) == []


def test_no_identity_number_phone_or_name_in_the_published_docs(built):
    _, warehouse, _, site = built
    files = sorted(site.iterdir())
    assert {f.name for f in files} == {"index.html", "catalog.json", "manifest.json"}
    assert scan_files(files, real_names(warehouse)) == []


def test_the_scan_finds_personal_data_where_it_is(built):
    """The working warehouse holds the raw sources: the same scan must find them there."""
    _, warehouse, _, _ = built
    kinds_by_column = {}
    for finding in scan_database(warehouse, real_names(warehouse)):
        kinds_by_column.setdefault(finding.where, set()).add(finding.kind)
    assert "identity_number" in kinds_by_column["raw.bj_jbxx.SQRZJHM"]
    assert "mobile_number" in kinds_by_column["main_restricted.identity_persons.mobile_phone"]
    assert "name" in kinds_by_column["main_staging.stg_population_base__residents.name"]
    assert not any(where.startswith("main_marts.") for where in kinds_by_column)


def test_docs_declare_the_dashboards_as_exposures_on_existing_models(built):
    _, _, _, site = built
    manifest = json.loads((site / "manifest.json").read_text(encoding="utf-8"))
    exposures = {e["label"]: e for e in manifest["exposures"].values()}
    bundle = Path(__file__).resolve().parents[2] / "dashboards" / "bundle" / "dashboards"
    titles = {
        yaml.safe_load(f.read_text(encoding="utf-8"))["dashboard_title"]
        for f in bundle.glob("*.yaml")
    }
    assert {"行动清单看板", "数据共享用量看板"} <= titles and len(titles) == 6
    assert set(exposures) == titles  # every dashboard of the bundle is declared
    known = set(manifest["nodes"]) | set(manifest["sources"])
    for exposure in exposures.values():
        assert exposure["depends_on"]["nodes"], exposure["name"]
        assert set(exposure["depends_on"]["nodes"]) <= known
    catalog = json.loads((site / "catalog.json").read_text(encoding="utf-8"))
    assert "model.govdata.person_file" in catalog["nodes"]


INVALID_ID_FLAGS = [
    ("bj_jbxx", "stg_case_platform__cases", "case_id", "is_applicant_id_valid"),
    ("bb_jl", "stg_case_platform__help_sessions", "help_session_id", "is_requester_id_valid"),
    ("dzzz_zzxx", "stg_certificate_library__certificates", "certificate_id", "is_holder_id_valid"),
    ("work_orders", "stg_hotline_12345__work_orders", "work_order_id", "is_caller_id_valid"),
    (
        "fr_jbxx",
        "stg_legal_entity_base__entities",
        "uscc",
        "is_legal_representative_id_valid",
    ),
]


@pytest.mark.parametrize(("table", "model", "key", "flag"), INVALID_ID_FLAGS)
def test_records_flagged_invalid_match_the_manifest_in_every_identity_column(
    built, table, model, key, flag
):
    city, warehouse, _, _ = built
    predicted = {
        k
        for (k,) in scan.manifest(
            city,
            "SELECT key FROM defects WHERE table_name = ? AND defect IN ('D4', 'D5') "
            "AND expected = 'invalid'",
            (table,),
        )
    }
    gone = scan.defect_keys(city, "D3", table) | scan.defect_keys(city, "D7", table)
    flagged = {
        k
        for (k,) in query(warehouse, f"SELECT {key} FROM main_staging.{model} WHERE {flag} = false")
    }
    assert flagged == predicted - gone


def test_records_flagged_out_of_order_match_the_manifest_beyond_the_case_platform(built):
    city, warehouse, _, _ = built
    sessions = scan.defect_keys(city, "D6", "bb_jl") - scan.defect_keys(city, "D7", "bb_jl")
    flagged_sessions = {
        k
        for (k,) in query(
            warehouse,
            "SELECT help_session_id FROM main_marts.fct_help_sessions "
            "WHERE is_responded_before_requested",
        )
    }
    assert flagged_sessions == sessions
    in_force = {path.name for path in scan.drops_in_force(city).values()}
    ratings = {
        key
        for key, detail in scan.manifest(
            city, "SELECT key, detail FROM defects WHERE table_name = 'hcp_pj' AND defect = 'D6'"
        )
        if detail.split("|")[0] in in_force
    } - scan.defect_keys(city, "D7", "hcp_pj")
    flagged_ratings = {
        k
        for (k,) in query(
            warehouse,
            "SELECT rating_id FROM main_marts.fct_ratings WHERE is_rectified_before_rated",
        )
    }
    assert ratings and flagged_ratings == ratings


def test_stale_certificates_match_the_manifest_and_count_as_expired(built):
    city, warehouse, _, _ = built
    as_of = scan.clock(city).date() - dt.timedelta(days=1)
    stale = (
        {
            key
            for key, detail in scan.manifest(
                city,
                "SELECT key, detail FROM defects WHERE table_name = 'dzzz_zzxx' AND defect = 'D13'",
            )
            if dt.date.fromisoformat(detail) < as_of
        }
        - scan.defect_keys(city, "D3", "dzzz_zzxx")
        - scan.defect_keys(city, "D7", "dzzz_zzxx")
    )
    flagged = {
        k
        for (k,) in query(
            warehouse,
            "SELECT certificate_id FROM main_staging.stg_certificate_library__certificates "
            "WHERE is_recorded_valid_but_expired",
        )
    }
    assert stale and flagged == stale
    still_valid = query(
        warehouse,
        "SELECT count(*) FROM main_marts.certificate_validity WHERE certificate_id IN "
        "(SELECT unnest(?)) AND recorded_status = '1' AND valid_from <= ? "
        "AND (valid_to IS NULL OR valid_to >= ?)",
        [sorted(stale), as_of, as_of],
    )
    assert still_valid == [(0,)]
