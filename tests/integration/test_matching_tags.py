"""Each tag (matching/tags/*.yaml) on the hand-made warehouse of test_matching_engine, against
an independent reading of the warehouse rows in plain Python."""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pytest

from matching.tags import DEFAULT_TAGS, counts_by_district, evaluate_tags
from tests.integration.test_matching_engine import E, build_warehouse

# established_on of four enterprises around the 365-day boundary
ESTABLISHED = {
    "x-cbrs30": E - dt.timedelta(days=365),  # in
    "x-cbrs31": E - dt.timedelta(days=366),  # out
    "x-rate-20": E,  # in
    "x-cbrs300": E + dt.timedelta(days=1),  # not yet established: out
}


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tags")
    warehouse = build_warehouse(tmp / "warehouse.duckdb")
    with duckdb.connect(str(warehouse)) as connection:
        for key, day in ESTABLISHED.items():
            connection.execute(
                "update main_marts.enterprise_file set established_on = ? where enterprise_key = ?",
                [day, key],
            )
    operations = tmp / "operations.duckdb"
    evaluate_tags(warehouse, operations, E)
    counts = evaluate_tags(warehouse, operations, E)  # a re-run replaces, never duplicates
    with duckdb.connect(str(operations), read_only=True) as store:
        rows = store.execute("select tag_code, subject_key from subject_tags").fetchall()
    found: dict[str, set[str]] = {}
    for code, key in rows:
        found.setdefault(code, set()).add(key)
    return warehouse, operations, counts, found


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def rows(warehouse, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def independent_reading(warehouse) -> dict[str, set[str]]:
    persons = rows(warehouse, "select person_key, birth_date from main_marts.person_file")
    groups = rows(
        warehouse,
        "select person_key, group_type, started_on, ended_on from main_marts.person_special_groups",
    )
    certificates = rows(
        warehouse,
        "select enterprise_key, certificate_type, recorded_status, valid_from, valid_to"
        " from main_marts.certificate_validity",
    )
    facts = rows(
        warehouse,
        "select enterprise_key, year, insured_employees from main_marts.enterprise_annual_facts",
    )
    firms = rows(warehouse, "select enterprise_key, established_on from main_marts.enterprise_file")

    def ongoing(kind: str) -> set[str]:
        return {k for k, t, start, end in groups
                if k and t == kind and start <= E and (end is None or end >= E)}  # fmt: skip

    return {
        "ELDERLY": {k for k, born in persons if born <= E and age_on(born, E) >= 60},
        "INFANT": {k for k, born in persons if born <= E and age_on(born, E) < 3},
        "DISABLED": ongoing("CJR"),
        "DIBAO": ongoing("DB"),
        "HIGHTECH": {
            k
            for k, t, status, start, end in certificates
            if k and t == "GXJS" and status == "1" and start <= E and (end is None or end >= E)
        },
        "SMALLENT": {
            k for k, year, cbrs in facts if year == E.year - 1 and cbrs is not None and cbrs <= 100
        },
        "NEWENT": {k for k, day in firms if day and E - dt.timedelta(days=365) <= day <= E},
    }


def test_each_tag_equals_an_independent_reading(tagged):
    warehouse, _, counts, found = tagged
    expected = independent_reading(warehouse)
    assert set(counts) == set(expected)
    for code, keys in expected.items():
        assert found.get(code, set()) == keys, code
        assert counts[code] == len(keys), code
    assert expected["NEWENT"] == {"x-cbrs30", "x-rate-20"}
    assert all(expected[code] for code in expected)  # every tag is exercised


def test_counts_per_tag_and_district_carry_the_definition_version(tagged):
    _, operations, _, found = tagged
    counted = counts_by_district(operations, E)
    for code, keys in found.items():
        assert sum(n for c, _, _, n in counted if c == code) == len(keys)
    with duckdb.connect(str(operations), read_only=True) as store:
        versions = dict(
            store.execute("select tag_code, tag_version from tag_definitions").fetchall()
        )
    for path in DEFAULT_TAGS.glob("*.yaml"):
        assert versions[path.stem] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_dashboards_tag_counts_equal_the_tagged_subjects_per_district(tagged):
    """tag_counts (what the 免申即享 dashboard reads) once per tag, district and E: the counts of
    the tagged subjects by their district, with the tag's name and definition version."""
    warehouse, operations, _, found = tagged
    district = dict(
        rows(warehouse, "select person_key, hukou_region_code from main_marts.person_file")
        + rows(warehouse, "select enterprise_key, region_code from main_marts.enterprise_file")
    )
    expected = {}
    for code, keys in found.items():
        for key in keys:
            region = district[key] or "未知"
            expected[(code, region)] = expected.get((code, region), 0) + 1
    with duckdb.connect(str(operations), read_only=True) as store:
        stored = store.execute(
            "select tag_code, region_code, subjects, tag_version, tag_name, region_name,"
            " evaluation_date from tag_counts"
        ).fetchall()
    assert {(code, region): n for code, region, n, *_ in stored} == expected
    assert len(stored) == len(expected)  # the re-run replaced its rows
    versions = {path.stem: hashlib.sha256(path.read_bytes()).hexdigest()
                for path in DEFAULT_TAGS.glob("*.yaml")}  # fmt: skip
    assert {(code, version) for code, _, _, version, *_ in stored} <= set(versions.items())
    assert {name for *_, name, _, _ in stored} >= {"老年人", "残疾人"}
    # the hand-made warehouse has no GB/T 2260 table: the code stands for the name
    assert all(region_name == (region if region != "360700" else "市本级")
               for _, region, _, _, _, region_name, _ in stored)  # fmt: skip
    assert {day for *_, day in stored} == {E}
