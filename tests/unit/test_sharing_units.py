"""Sharing, without services: the catalogue and grants refused at load with the file and
the name; identity/USCC normalisation, masking and the pseudonymous key equal to the
warehouse's macros; the token bucket; the access decisions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import jinja2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.identity import is_valid_identity, is_valid_uscc, normalise_identity, normalise_uscc
from groundfloor import masking as groundfloor_masking
from sharing.access import decide
from sharing.catalogue import CATALOGUE, CatalogueError, load_catalogue
from sharing.limits import TokenBucket
from sharing.masking import masked
from sharing.pseudonyms import enterprise_key, person_key
from sharing.registry import CONSUMERS, GRANTS, load_consumers, load_grants
from tests.unit.test_identity_sql import (  # the warehouse macros' own test harness
    con,  # noqa: F401 (a fixture)
    evaluate,
    identity_numbers,
    mutated,
    old_numbers,
    usccs,
)

ROOT = Path(__file__).resolve().parents[2]
PSEUDONYMS = (ROOT / "dbt_project" / "macros" / "pseudonyms.sql").read_text(encoding="utf-8")
LOAD = dt.date(2026, 12, 1)


# --- the catalogue and the grants, refused at load ------------------------------------------


def test_the_catalogue_has_the_resources_the_issue_lists():
    catalogue = load_catalogue()
    assert {
        "person_basic",
        "person_special_groups",
        "person_certificates",
        "enterprise_basic",
        "enterprise_annual_facts",
        "enterprise_certificates",
        "cases",
        "kpi_monthly",
    } <= set(catalogue.codes())
    for resource in catalogue.resources:
        assert resource.provider and resource.update_cycle and resource.fields
        assert {f.level for f in resource.fields} <= {"L1", "L2", "L3", "L4"}


def _edited_catalogue(tmp_path: Path, edit) -> Path:
    document = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    edit(document["resources"])
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_an_unknown_field_is_refused_naming_the_file_and_the_field(tmp_path):
    path = _edited_catalogue(
        tmp_path, lambda rs: rs[0]["fields"].append({"name": "shoe_size", "level": "L2"})
    )
    with pytest.raises(CatalogueError) as refused:
        load_catalogue(path)
    assert str(path) in str(refused.value)
    assert "field shoe_size" in str(refused.value)
    assert "person_file has no column shoe_size" in str(refused.value)


def test_an_unknown_model_is_refused_naming_the_file_and_the_resource(tmp_path):
    path = _edited_catalogue(tmp_path, lambda rs: rs[1].update(model="no_such_model"))
    with pytest.raises(CatalogueError, match=r"person_special_groups: model no_such_model"):
        load_catalogue(path)


def test_a_column_of_another_model_must_exist_too(tmp_path):
    def edit(resources):
        resources[0]["fields"][1]["column"] = "identity_persons.nickname"

    with pytest.raises(CatalogueError, match="identity_persons has no column nickname"):
        load_catalogue(_edited_catalogue(tmp_path, edit))


def _edited_grants(tmp_path: Path, edit) -> Path:
    document = yaml.safe_load(GRANTS.read_text(encoding="utf-8"))
    edit({g["id"]: g for g in document["grants"]})
    path = tmp_path / "grants.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda g: g["MZJ-2026-01"].update(legal_basis=""), "group_type is L4 and needs a legal"),
        (lambda g: g["ZGQ-2026-01"]["fields"].append("identity_number"), "never leaves in 回流"),
        (lambda g: g["MZJ-2026-03"]["fields"].append("shoe_size"), "shoe_size is not a field"),
        (lambda g: g["MZJ-2026-03"].update(resource="weather"), "resource weather is not in"),
        (lambda g: g["ZGQ-2026-01"].update(region_scope=["360703"]), "its own districts"),
        (lambda g: g["GAJ-2026-01"].update(consumer="nobody"), "consumer nobody is not registered"),
    ],
)
def test_a_bad_grant_is_refused_naming_the_file_and_the_grant(tmp_path, edit, message):
    path = _edited_grants(tmp_path, edit)
    with pytest.raises(CatalogueError) as refused:
        load_grants(load_catalogue(), load_consumers(), path)
    assert str(path) in str(refused.value)
    assert "grant " in str(refused.value)
    assert message in str(refused.value)


def test_the_demo_registry_loads():
    consumers = load_consumers(CONSUMERS)
    assert {c.kind for c in consumers} == {"department", "district", "citizen_portal"}
    grants = load_grants(load_catalogue(), consumers)
    assert {g.consumer for g in grants} == {"mzj", "gaj", "scjgj", "zgq", "nkq"}


# --- the warehouse's rules, in Python -------------------------------------------------------


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(
        st.one_of(
            mutated(identity_numbers(LOAD)), mutated(old_numbers()), mutated(usccs()), st.text()
        ),
        min_size=1,
        max_size=20,
    )
)
def test_normalisation_equals_the_warehouse_macros(con, values):  # noqa: F811
    for value, got in zip(values, evaluate(con, values, LOAD), strict=True):
        n_id, n_uscc, id_valid, _, _, uscc_valid, _, _ = got
        assert normalise_identity(value) == n_id, value
        assert is_valid_identity(n_id, LOAD) == id_valid, value
        assert normalise_uscc(value) == n_uscc, value
        assert is_valid_uscc(n_uscc) == uscc_valid, value


class _DuckDB:
    def dispatch(self, name, macro_namespace=None):
        env = jinja2.Environment()
        env.globals["adapter"] = self
        return getattr(env.from_string(PSEUDONYMS).module, f"default__{name}")


def test_masking_is_the_platforms_one_rule_as_the_marts_apply_it():
    values = ["张三", "李小明", "欧阳小明", "王𠇔", "𠇔", "", "13812345678", "12345"]
    values += ["360702199001011234", "X1234", " 张三 "]
    sql = [
        groundfloor_masking.mask_name_sql("v"),
        groundfloor_masking.mask_phone_sql("v"),
        groundfloor_masking.mask_identity_number_sql("v"),
    ]
    conn = duckdb.connect()
    rows = conn.execute(f"SELECT {', '.join(sql)} FROM unnest(?) AS t(v)", [values]).fetchall()
    for value, want in zip(values, rows, strict=True):
        got = tuple(masked(rule, value) for rule in ("name", "phone", "identity_number"))
        assert got == want, value


def test_the_pseudonymous_keys_equal_the_warehouse_keyed_hash():
    env = jinja2.Environment()
    env.globals["adapter"] = _DuckDB()
    key = "a-test-identity-key-of-some-length"
    conn = duckdb.connect()
    conn.execute("SET VARIABLE identity_key = ?", [key])
    for kind, number, ours in [
        ("person", "360702199001011234", person_key),
        ("enterprise", "91360702MA35XXXX0Y", enterprise_key),
    ]:
        sql = env.from_string(PSEUDONYMS + "{{ keyed_hash('" + kind + "', 'v') }}").render()
        (theirs,) = conn.execute(f"SELECT {sql.strip()} FROM (SELECT ? AS v)", [number]).fetchone()
        assert ours(key, number) == theirs


# --- limits and decisions -------------------------------------------------------------------


def test_the_token_bucket_refills_at_its_rate():
    bucket = TokenBucket(rate=2.0, capacity=3, updated=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(10.0) == 0.0  # never more than its capacity
    assert bucket.tokens == 2


def _decide(consumer: str, use: str, resource: str, fields=None, day=LOAD, **kwargs):
    catalogue = load_catalogue()
    grants = [g for g in load_grants(catalogue, load_consumers()) if g.consumer == consumer]
    return decide(catalogue, grants, use, resource, fields, day, **kwargs)


def test_decisions_follow_the_grants():
    assert _decide("mzj", "query", "enterprise_basic").reason == "grant_expired"
    assert _decide("gaj", "query", "identity_vault").reason == "not_shared"
    assert _decide("gaj", "query", "person_basic").reason == "no_grant"
    assert _decide("gaj", "verify", "person_basic").allowed
    assert _decide("mzj", "query", "person_basic", ["mobile_phone"]).reason == "field_not_granted"
    refused = _decide("mzj", "query", "person_basic", ["shoe_size"])
    assert (refused.status, refused.field) == (422, "fields")
    cert = _decide("mzj", "verify", "person_certificates", certificate_type="JSZ")
    assert cert.reason == "certificate_type_not_granted"
    assert _decide("mzj", "verify", "person_certificates", certificate_type="CJRZ").allowed
    nkq = _decide("nkq", "query", "person_basic", ["name", "sex"])
    assert nkq.fields == (("name", True), ("sex", False))
    assert nkq.region_scope == ("360703",)
    late = _decide("zgq", "query", "person_basic", day=dt.date(2029, 1, 1))
    assert late.reason == "grant_expired"
