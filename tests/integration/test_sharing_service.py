"""The sharing service over real HTTP on 127.0.0.1 (uvicorn, two workers), on both stores:
every "bad input and attack" of issue 31, the authorisation matrix computed from the grant
file itself, audit completeness, and no L3/L4 value in the logs or the audit log."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from sharing.catalogue import CATALOGUE
from sharing.masking import MASKS
from sharing.registry import GRANTS, Consumer
from sharing.snapshot import build_snapshot
from sharing.store import Store, audit_table
from tests.integration.sharing_city import (
    IDENTITY_KEY,
    build_city_snapshot,
    demo_registry,
    running_service,
    store_database,
)

pytestmark = pytest.mark.integration
TODAY = dt.date.today()


@dataclass
class Service:
    base: str
    store: Store
    keys: dict[str, str]
    people: list
    firms: list
    log: Path
    snapshot: Path
    tmp: Path
    spare: dict = field(default_factory=dict)

    def call(self, method: str, path: str, key: str | None = "", **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["X-API-Key"] = self.keys.get(key, key)
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"sharing-{request.param}")
    snapshot, people, firms = build_city_snapshot(tmp)
    with store_database(request.param, tmp) as url:
        store = Store(url)
        store.create()
        _, consumers, grants = demo_registry()
        burst = Consumer("burst", "限流测试部门", "department", rate_per_second=1, burst=5)
        store.load_registry([*consumers, burst], grants)
        spare = _spare_keys(store)  # first: a rotation expires the keys issued before it
        keys = {c.id: store.issue_key(c.id).secret for c in [*consumers, burst]}
        log = tmp / "service.log"
        with running_service(url, snapshot, log) as base:
            yield Service(base, store, keys, people, firms, log, snapshot, tmp, spare)
        store.dispose()


def _spare_keys(store: Store) -> dict[str, str]:
    revoked = store.issue_key("gaj")
    store.revoke_key(revoked.key_id)
    rotated_out = store.issue_key("scjgj")
    store.rotate_key("scjgj", dt.timedelta(0))
    in_grace = store.issue_key("nkq")
    successor, _ = store.rotate_key("nkq", dt.timedelta(hours=1))
    return {
        "revoked": revoked.secret,
        "rotated_out": rotated_out.secret,
        "in_grace": in_grace.secret,
        "successor": successor.secret,
    }


def identity_body(person) -> dict:
    return {"identity_number": person.number, "name": person.name}


# --- 401 ----------------------------------------------------------------------------------


def test_wrong_missing_revoked_and_rotated_out_keys_are_401(service):
    person = service.people[0]
    good = service.keys["gaj"]
    key_id = good.split("_")[1]
    for key in [
        None,
        "",
        "not-a-key",
        f"gsk_{key_id}_wrong-secret",
        good[:-1] + ("A" if good[-1] != "A" else "B"),
        service.spare["revoked"],
        service.spare["rotated_out"],
    ]:
        answer = service.call("POST", "/v1/verify/identity", key, json=identity_body(person))
        assert answer.status_code == 401, key
        assert answer.json()["error"] == "unauthenticated"
        assert "consistent" not in answer.json()
    for key in (service.spare["in_grace"], service.spare["successor"]):
        answer = service.call("GET", "/v1/catalogue", key)
        assert answer.status_code == 200  # both keys live during the rotation's grace


# --- 403 before any lookup ----------------------------------------------------------------


def unknown_person_number() -> str:
    from tests.integration.sharing_city import identity_number

    return identity_number("360702", dt.date(1999, 9, 9), 999)


def test_a_refusal_is_the_same_for_an_existing_and_a_missing_subject(service):
    known, missing = service.people[0].number, unknown_person_number()
    cases = [
        ("mzj", "/v1/persons/{}?fields=mobile_phone"),  # field outside the grant
        ("mzj", "/v1/persons/{}?resource=person_basic&fields=identity_number"),
        ("scjgj", "/v1/persons/{}"),  # resource outside the grants
        ("portal", "/v1/persons/{}"),
        ("gaj", "/v1/persons/{}?resource=identity_vault"),  # 不予共享 despite a grant
        ("zgq", "/v1/persons/{}?resource=person_special_groups"),
    ]
    for consumer, path in cases:
        first = service.call("GET", path.format(known), consumer)
        second = service.call("GET", path.format(missing), consumer)
        assert first.status_code == second.status_code == 403, (consumer, path)
        assert first.json() == second.json()
    answer = service.call("GET", f"/v1/persons/{known}?resource=identity_vault", "gaj")
    assert answer.json()["error"] == "not_shared"


def test_a_district_asking_for_another_districts_resident_is_403(service):
    own = next(p for p in service.people if p.region == "360702")
    other = next(p for p in service.people if p.region == "360703")
    assert service.call("GET", f"/v1/persons/{own.number}", "zgq").status_code == 200
    refused = service.call("GET", f"/v1/persons/{other.number}", "zgq")
    assert refused.status_code == 403
    assert refused.json()["error"] == "outside_region"
    missing = service.call("GET", f"/v1/persons/{unknown_person_number()}", "zgq")
    assert (missing.status_code, missing.json()) == (403, refused.json())
    assert service.call("GET", f"/v1/persons/{other.number}", "nkq").status_code == 200


def test_an_expired_grant_is_403(service):
    firm = service.firms[0]
    answer = service.call("GET", f"/v1/enterprises/{firm.uscc}", "mzj")
    assert (answer.status_code, answer.json()["error"]) == (403, "grant_expired")


def test_a_certificate_type_outside_the_grant_is_403(service):
    person = service.people[0]
    body = {"holder": person.number, "certificate_type": "JSZ"}
    answer = service.call("POST", "/v1/verify/certificate", "mzj", json=body)
    assert (answer.status_code, answer.json()["error"]) == (403, "certificate_type_not_granted")


# --- 404 and verification answers ---------------------------------------------------------


def test_verification_answers_and_not_found(service):
    person, firm = service.people[3], service.firms[1]
    consistent = service.call("POST", "/v1/verify/identity", "gaj", json=identity_body(person))
    assert consistent.json() == {"consistent": True}
    other_name = {"identity_number": person.number, "name": service.people[4].name}
    assert service.call("POST", "/v1/verify/identity", "gaj", json=other_name).json() == {
        "consistent": False
    }
    missing = {"identity_number": unknown_person_number(), "name": person.name}
    assert service.call("POST", "/v1/verify/identity", "gaj", json=missing).json() == {
        "consistent": False
    }
    on = {"holder": person.number, "certificate_type": "CJRZ", "on_date": "2019-12-31"}
    assert service.call("POST", "/v1/verify/certificate", "mzj", json=on).json() == {"valid": False}
    on["on_date"] = "2020-01-01"
    assert service.call("POST", "/v1/verify/certificate", "mzj", json=on).json() == {"valid": True}
    firm_body = {"holder": firm.uscc, "certificate_type": "GXJS"}
    assert service.call("POST", "/v1/verify/certificate", "scjgj", json=firm_body).json() == {
        "valid": True
    }
    answer = service.call("POST", "/v1/verify/enterprise", "scjgj", json={"uscc": firm.uscc})
    assert answer.json() == {"exists": True, "active": True, "name_consistent": None}
    gone = service.call("GET", f"/v1/persons/{unknown_person_number()}", "mzj")
    assert (gone.status_code, gone.json()["error"]) == (404, "not_found")


def test_identity_numbers_are_normalised_as_the_warehouse_does(service):
    person = next(p for p in service.people if p.number[6:8] == "19")
    old_form = person.number[:6] + person.number[8:17]  # the 15-digit form
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in person.number)
    spaced = f" {person.number[:6]} {person.number[6:14]}\u3000{person.number[14:].lower()} "
    for number in (old_form, full_width, spaced):
        body = {"identity_number": number, "name": person.name}
        assert service.call("POST", "/v1/verify/identity", "gaj", json=body).json() == {
            "consistent": True
        }, number


# --- 422 ----------------------------------------------------------------------------------


BAD_NUMBERS = [
    "360702199001011235",  # wrong check character
    "360702199002301234",  # impossible birth date
    "12345",
    "36070219900101123",
    "360702X99001011234",
    "' OR '1'='1",
    "abc",
]


def test_malformed_and_invalid_identity_numbers_are_422_naming_the_field(service):
    for number in BAD_NUMBERS:
        body = {"identity_number": number, "name": "张三"}
        answer = service.call("POST", "/v1/verify/identity", "gaj", json=body)
        assert (answer.status_code, answer.json()["field"]) == (422, "identity_number"), number
        assert number not in answer.text
    answer = service.call("GET", "/v1/persons/360702199001011235", "mzj")
    assert (answer.status_code, answer.json()["field"]) == (422, "identity_number")
    body = {"holder": "91360702MA35XXXX0Y", "certificate_type": "GXJS"}
    answer = service.call("POST", "/v1/verify/certificate", "scjgj", json=body)
    assert (answer.status_code, answer.json()["field"]) == (422, "holder")
    answer = service.call("POST", "/v1/verify/enterprise", "scjgj", json={"uscc": "91360702"})
    assert (answer.status_code, answer.json()["field"]) == (422, "uscc")
    for bad_body, field_name in [
        (b"{not json", "body"),
        (b'{"name": "x"}', "identity_number"),
        (b'{"identity_number": 360702, "name": "x"}', "identity_number"),
        (b'{"identity_number": "x", "name": "x", "extra": 1}', "extra"),
    ]:
        answer = service.call("POST", "/v1/verify/identity", "gaj", content=bad_body)
        assert answer.status_code == 422, bad_body
        assert answer.json()["field"] == field_name, bad_body
    bad_date = {"holder": service.people[0].number, "certificate_type": "CJRZ", "on_date": "x"}
    answer = service.call("POST", "/v1/verify/certificate", "mzj", json=bad_date)
    assert (answer.status_code, answer.json()["field"]) == (422, "on_date")


# --- injection ----------------------------------------------------------------------------


def test_injection_attempts_are_refused_or_treated_as_data(service):
    person = service.people[0]
    attempts = [
        ("GET", "/v1/persons/1' OR '1'='1", {}),
        ("GET", "/v1/persons/360702199001011234;DROP TABLE persons", {}),
        ("GET", f"/v1/persons/{person.number}?fields=name,(SELECT 1)", {}),
        ("GET", f"/v1/persons/{person.number}?resource=person_basic; DROP TABLE persons", {}),
        ("GET", f"/v1/persons/{person.number}?resource=../../etc/passwd", {}),
        ("GET", f"/v1/persons/{person.number}?fields=_subject", {}),
        ("GET", f"/v1/persons/{person.number}?fields=name__unmasked", {}),
    ]
    for method, path, kwargs in attempts:
        answer = service.call(method, path, "zgq", **kwargs)
        assert answer.status_code == 422, path
    union = "/v1/enterprises/x' UNION SELECT * FROM sharing_api_keys --"
    assert service.call("GET", union, "scjgj").status_code == 422
    assert service.call("GET", union, "zgq").status_code == 403  # no grant: refused first
    as_data = {"identity_number": person.number, "name": "' OR 1=1; DROP TABLE persons; --"}
    answer = service.call("POST", "/v1/verify/identity", "gaj", json=as_data)
    assert answer.json() == {"consistent": False}
    firm = {"uscc": service.firms[0].uscc, "name": "x' OR '1'='1"}
    answer = service.call("POST", "/v1/verify/enterprise", "scjgj", json=firm)
    assert answer.json()["name_consistent"] is False
    # nothing was executed: the data and the store are whole
    assert service.call("POST", "/v1/verify/identity", "gaj", json=identity_body(person)).json()[
        "consistent"
    ]
    assert service.store.verify_chain().intact


# --- limits -------------------------------------------------------------------------------


def test_an_oversized_body_is_413(service):
    body = {"identity_number": service.people[0].number, "name": "张" * 20_000}
    answer = service.call("POST", "/v1/verify/identity", "gaj", json=body)
    assert (answer.status_code, answer.json()["error"]) == (413, "body_too_large")


def test_an_enumeration_burst_is_429_with_retry_after(service):
    statuses, retry_after = [], []
    with httpx.Client(base_url=service.base, timeout=30) as client:
        for i in range(30):
            number = service.people[i % len(service.people)].number
            answer = client.get(
                f"/v1/persons/{number}", headers={"X-API-Key": service.keys["burst"]}
            )
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                retry_after.append(int(answer.headers["Retry-After"]))
    assert statuses[:5] == [403] * 5  # a department without grants: refused, but counted
    assert statuses.count(429) >= 15
    assert all(seconds >= 1 for seconds in retry_after)


# --- the authorisation matrix, from the grant file ------------------------------------------


def _grants_from_file() -> list[dict]:
    return yaml.safe_load(GRANTS.read_text(encoding="utf-8"))["grants"]


def _catalogue_from_file() -> dict[str, dict]:
    return {
        r["code"]: r for r in yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))["resources"]
    }


def expected_answer(consumer: str, resource: dict, field_name: str, region: str):
    """(status, unmasked) the grant file implies for a query of one field of one subject."""
    if resource["share_type"] == "不予共享":
        return 403, None
    for grant in _grants_from_file():
        if grant["consumer"] != consumer or grant["resource"] != resource["code"]:
            continue
        if "query" not in grant["uses"]:
            continue
        valid_to = grant.get("valid_to")
        if not (grant["valid_from"] <= TODAY and (valid_to is None or valid_to >= TODAY)):
            continue
        named = {
            (f if isinstance(f, str) else f["name"]): (not isinstance(f, str) and f.get("unmasked"))
            for f in grant["fields"]
        }
        if field_name not in named:
            continue
        if grant.get("region_scope") and region not in grant["region_scope"]:
            return 403, None
        return 200, bool(named[field_name])
    return 403, None


def _raw_value(service: Service, subject, field_name: str):
    raw = {
        "name": subject.name if hasattr(subject, "number") else None,
        "mobile_phone": getattr(subject, "phone", None),
        "identity_number": getattr(subject, "number", None),
        "legal_representative_name": service.people[0].name,
        "legal_representative_id": service.people[0].number,
    }
    return raw[field_name]


def test_the_authorisation_matrix(service):
    catalogue = _catalogue_from_file()
    consumers = ["mzj", "gaj", "scjgj", "zgq", "nkq", "portal"]
    subjects = {
        "person": [service.people[0], service.people[10]],  # 360702, 360703
        "enterprise": [service.firms[0], service.firms[3]],
    }
    checked = 0
    with httpx.Client(base_url=service.base, timeout=30) as client:
        for consumer in consumers:
            headers = {"X-API-Key": service.keys[consumer]}
            for resource in catalogue.values():
                if resource["subject"] == "none":
                    continue
                kind = resource["subject"]
                for spec in resource["fields"]:
                    for subject in subjects[kind]:
                        number = subject.number if kind == "person" else subject.uscc
                        path = f"/v1/{kind}s/{number}"
                        params = {"resource": resource["code"], "fields": spec["name"]}
                        answer = client.get(path, params=params, headers=headers)
                        want, unmasked = expected_answer(
                            consumer, resource, spec["name"], subject.region
                        )
                        where = (consumer, resource["code"], spec["name"], subject.region)
                        assert answer.status_code == want, (where, answer.text)
                        checked += 1
                        if want != 200:
                            continue
                        records = answer.json()["records"]
                        assert records, where
                        assert all(set(r) == {spec["name"]} for r in records), where
                        if spec.get("mask"):
                            raw = _raw_value(service, subject, spec["name"])
                            shown = records[0][spec["name"]]
                            assert shown == (raw if unmasked else MASKS[spec["mask"]](raw)), where
    assert checked == 6 * 2 * sum(
        len(r["fields"]) for r in catalogue.values() if r["subject"] != "none"
    )


def test_verification_follows_the_verify_grants(service):
    person, firm = service.people[0], service.firms[0]
    calls = {
        "/v1/verify/identity": identity_body(person),
        "/v1/verify/enterprise": {"uscc": firm.uscc},
    }
    allowed = {"/v1/verify/identity": {"gaj"}, "/v1/verify/enterprise": {"scjgj"}}
    for path, body in calls.items():
        for consumer in ["mzj", "gaj", "scjgj", "zgq", "nkq", "portal"]:
            answer = service.call("POST", path, consumer, json=body)
            assert answer.status_code == (200 if consumer in allowed[path] else 403), (
                path,
                consumer,
            )


# --- catalogue, access log, docs ----------------------------------------------------------


def test_the_catalogue_shows_what_this_consumer_may_use(service):
    mzj = service.call("GET", "/v1/catalogue", "mzj").json()["resources"]
    codes = ["person_basic", "person_special_groups", "person_certificates", "kpi_monthly"]
    assert [r["code"] for r in mzj] == codes  # kpi_monthly: 无条件共享, open to every consumer
    assert {f["name"]: f["masked"] for f in mzj[0]["fields"]}["name"] is True
    assert mzj[3]["share_type"] == "无条件共享" and mzj[3]["grants"] == []
    portal = service.call("GET", "/v1/catalogue", "portal").json()["resources"]
    assert [r["code"] for r in portal] == ["kpi_monthly"]
    nkq = service.call("GET", "/v1/catalogue", "nkq").json()["resources"]
    assert {f["name"]: f["masked"] for f in nkq[0]["fields"]}["name"] is False


def test_the_citizen_access_log(service):
    person = service.people[5]
    service.call("POST", "/v1/verify/identity", "gaj", json=identity_body(person))
    service.call("GET", f"/v1/persons/{person.number}?resource=person_special_groups", "mzj")
    service.call("GET", f"/v1/persons/{person.number}?fields=mobile_phone", "mzj")  # refused
    answer = service.call("GET", f"/v1/persons/{person.number}/access-log", "portal")
    entries = answer.json()["entries"]
    assert [(e["consumer"], e["call"], e["purpose"]) for e in entries] == [
        ("赣州市公安局", "verify_identity", "人证一致核验"),
        ("赣州市民政局", "query_person", "残疾人两项补贴、低保审核（免申即享）"),
    ]
    refused = service.call("GET", f"/v1/persons/{person.number}/access-log", "mzj")
    assert (refused.status_code, refused.json()["error"]) == (403, "citizen_portal_only")


def test_openapi_docs_in_chinese(service):
    page = service.call("GET", "/docs", None)
    assert page.status_code == 200
    assert "/static/swagger-ui-bundle.js" in page.text  # served here: no CDN needed offline
    assert "cdn." not in page.text
    assert service.call("GET", "/static/swagger-ui-bundle.js", None).status_code == 200
    schema = service.call("GET", "/openapi.json", None).json()
    assert schema["info"]["title"] == "政务数据共享服务"
    assert set(schema["paths"]) == {
        "/v1/verify/identity",
        "/v1/verify/certificate",
        "/v1/verify/enterprise",
        "/v1/persons/{identity_number}",
        "/v1/enterprises/{uscc}",
        "/v1/catalogue",
        "/v1/persons/{identity_number}/access-log",
    }
    assert schema["paths"]["/v1/verify/identity"]["post"]["summary"] == "人证一致核验"


# --- the audit log ------------------------------------------------------------------------


def test_n_requests_of_all_kinds_give_n_audit_records(service):
    person = service.people[1]
    before = len(service.store.audit_records())
    requests = [
        ("POST", "/v1/verify/identity", "gaj", {"json": identity_body(person)}),
        ("POST", "/v1/verify/identity", None, {"json": identity_body(person)}),  # 401
        ("POST", "/v1/verify/identity", "mzj", {"json": identity_body(person)}),  # 403
        ("POST", "/v1/verify/identity", "gaj", {"content": b"{"}),  # 422
        ("POST", "/v1/verify/identity", "gaj", {"content": b"x" * 100_000}),  # 413
        ("GET", f"/v1/persons/{unknown_person_number()}", "mzj", {}),  # 404
        ("GET", f"/v1/persons/{person.number}", "zgq", {}),
        ("GET", f"/v1/enterprises/{service.firms[0].uscc}", "scjgj", {}),
        ("GET", "/v1/catalogue", "portal", {}),
        ("GET", f"/v1/persons/{person.number}/access-log", "portal", {}),
        (
            "POST",
            "/v1/verify/certificate",
            "mzj",
            {"json": {"holder": person.number, "certificate_type": "CJRZ"}},
        ),
        ("POST", "/v1/verify/enterprise", "scjgj", {"json": {"uscc": service.firms[0].uscc}}),
    ]
    statuses = [service.call(m, p, k, **kw).status_code for m, p, k, kw in requests]
    assert statuses == [200, 401, 403, 422, 413, 404, 200, 200, 200, 200, 200, 200]
    records = service.store.audit_records()[before:]
    assert [r["status"] for r in records] == statuses
    assert [r["result"] for r in records] == [
        "allowed", "denied", "denied", "error", "denied", "not_found",
        "allowed", "allowed", "allowed", "allowed", "allowed", "allowed",
    ]  # fmt: skip
    assert service.store.verify_chain().intact


def test_a_failed_audit_write_fails_the_request(service):
    person = service.people[0]
    block, unblock = _audit_blocker(service.store)
    with service.store.engine.begin() as conn:
        for statement in block:
            conn.exec_driver_sql(statement)
    try:
        answer = service.call("POST", "/v1/verify/identity", "gaj", json=identity_body(person))
        assert answer.status_code == 500
        assert answer.json() == {
            "error": "audit_unavailable",
            "message": "审计记录写入失败，请求未执行",
        }
    finally:
        with service.store.engine.begin() as conn:
            for statement in unblock:
                conn.exec_driver_sql(statement)
    answer = service.call("POST", "/v1/verify/identity", "gaj", json=identity_body(person))
    assert answer.status_code == 200


def _audit_blocker(store: Store) -> tuple[list[str], list[str]]:
    if store.engine.dialect.name == "sqlite":
        return (
            [
                "CREATE TRIGGER block_audit BEFORE INSERT ON sharing_audit "
                "BEGIN SELECT RAISE(ABORT, 'audit blocked'); END"
            ],
            ["DROP TRIGGER block_audit"],
        )
    return (
        [
            "CREATE FUNCTION block_audit() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit blocked'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER block_audit BEFORE INSERT ON sharing_audit "
            "FOR EACH ROW EXECUTE FUNCTION block_audit()",
        ],
        ["DROP TRIGGER block_audit ON sharing_audit", "DROP FUNCTION block_audit()"],
    )


def test_altering_or_deleting_an_audit_record_is_reported_at_it(service):
    records = service.store.audit_records()
    target = records[len(records) // 2]
    with service.store.engine.begin() as conn:
        conn.execute(
            audit_table.update().where(audit_table.c.seq == target["seq"]).values(purpose="改")
        )
    assert service.store.verify_chain().broken_at == target["seq"]
    with service.store.engine.begin() as conn:
        conn.execute(
            audit_table.update()
            .where(audit_table.c.seq == target["seq"])
            .values(purpose=target["purpose"])
        )
    assert service.store.verify_chain().intact
    with service.store.engine.begin() as conn:
        conn.execute(audit_table.delete().where(audit_table.c.seq == target["seq"]))
    assert service.store.verify_chain().broken_at == target["seq"]
    with service.store.engine.begin() as conn:
        conn.execute(audit_table.insert(), target)
    assert service.store.verify_chain().intact


# --- no sensitive value in the logs or the audit log --------------------------------------


def test_no_l3_or_l4_value_in_the_logs_or_the_audit_log(service):
    # run last in the module: every request above has been logged and audited
    text = service.log.read_text(encoding="utf-8", errors="replace")
    with service.store.engine.connect() as conn:
        audit = "\n".join(str(tuple(r)) for r in conn.execute(sa.select(audit_table)))
    assert "query_person" in text and "verify_identity" in audit
    for person in service.people:
        for value in (
            person.number,
            person.name,
            person.phone,
            person.number[:6] + person.number[8:17],
        ):
            assert value not in text, value
            assert value not in audit, value


# --- the snapshot swap --------------------------------------------------------------------


def test_a_snapshot_swap_during_requests_loses_none(service):
    """On both stores (each request is audited in the store while the snapshot changes)."""
    person = service.people[2]
    catalogue, _, grants = demo_registry()
    warehouse = service.tmp / "warehouse.duckdb"
    answers: list[int] = []
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=service.base, timeout=30) as client:
            while not stop.is_set():
                answer = client.post(
                    "/v1/verify/identity",
                    json=identity_body(person),
                    headers={"X-API-Key": service.keys["gaj"]},
                )
                answers.append(answer.status_code if answer.json().get("consistent") else -1)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        snapshot_ids = set()
        for _ in range(3):
            info = build_snapshot(warehouse, service.snapshot, catalogue, grants, IDENTITY_KEY)
            snapshot_ids.add(info.snapshot_id)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(snapshot_ids) == 3
    assert answers and set(answers) == {200}
    served = service.call("GET", f"/v1/persons/{person.number}", "zgq").json()["snapshot_id"]
    assert served in snapshot_ids


def test_concurrent_requests_are_each_audited_in_one_intact_chain(service):
    """Many requests at once on both workers (each worker commits the records that arrive
    together in one transaction): one record per request, each request's own, one chain."""
    people = service.people[:8]
    before = service.store.verify_chain().records

    def ask(i: int) -> int:
        person = people[i % len(people)]
        body = identity_body(person) if i % 5 else {"identity_number": person.number, "name": "x"}
        return service.call("POST", "/v1/verify/identity", "gaj", json=body).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(ask, range(240)))
    assert statuses == [200] * 240
    report = service.store.verify_chain()
    assert report.intact and report.records == before + 240
    records = service.store.audit_records()[before:]
    assert len({r["seq"] for r in records}) == 240
    assert sorted(r["subject"] for r in records) == sorted(
        people[i % len(people)].key for i in range(240)
    )


def test_a_key_revoked_while_the_service_runs_is_refused_at_once(service):
    """The workers keep authenticated keys in memory: a revocation (and an issue) made in the
    store by another process reaches every worker before its next request."""
    issued = service.store.issue_key("mzj")

    def catalogue_status() -> int:
        return service.call("GET", "/v1/catalogue", issued.secret).status_code

    assert [catalogue_status() for _ in range(6)] == [200] * 6  # cached in both workers
    assert service.store.revoke_key(issued.key_id)
    assert [catalogue_status() for _ in range(6)] == [401] * 6
    assert service.call("GET", "/v1/catalogue", "mzj").status_code == 200  # the other key
