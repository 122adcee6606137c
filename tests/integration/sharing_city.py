"""A small warehouse shaped like the published marts and the identity vault, for the sharing
tests: three districts of persons (one name outside the BMP), special groups, certificates,
enterprises, annual facts and cases. Built in a second; the service is tested on it over
real HTTP. (test_sharing_real_city.py builds the snapshot from the dbt-built city instead.)"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx

from contract.identity import ric_check_char, uscc_check_char
from sharing.catalogue import load_catalogue, model_columns
from sharing.pseudonyms import enterprise_key, person_key
from sharing.registry import load_consumers, load_grants
from sharing.snapshot import build_snapshot

IDENTITY_KEY = "sharing-test-identity-key-0123456789"
DISTRICTS = ("360702", "360703", "360704")
NAMES = ("张三", "李小明", "欧阳小明", "王𠇔", "赵六", "钱七", "孙八", "周九", "吴十", "郑一")
TYPED = {
    "is_resident": "BOOLEAN",
    "is_alive": "BOOLEAN",
    "is_registered": "BOOLEAN",
    "as_of_date": "DATE",
}
AS_OF = dt.date(2026, 11, 30)


@dataclass(frozen=True)
class Person:
    number: str
    name: str
    phone: str
    region: str
    key: str


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    name: str
    region: str
    key: str


def identity_number(region: str, born: dt.date, seq: int) -> str:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + ric_check_char(body)


def uscc(region: str, seq: int) -> str:
    body = f"91{region}{seq:09d}"
    return body + uscc_check_char(body)


def city_people(per_district: int = 10) -> list[Person]:
    people = []
    for d, region in enumerate(DISTRICTS):
        for i in range(per_district):
            number = identity_number(region, dt.date(1950 + i * 5, 1 + d, 10 + i), 100 + i)
            name = NAMES[i % len(NAMES)]
            phone = f"138{d}{i:07d}"
            people.append(Person(number, name, phone, region, person_key(IDENTITY_KEY, number)))
    return people


def city_enterprises() -> list[Enterprise]:
    firms = []
    for d, region in enumerate(DISTRICTS):
        for i in range(3):
            code = uscc(region, d * 10 + i + 1)
            name = f"赣州{region[-2:]}号测试有限公司{i}"
            firms.append(Enterprise(code, name, region, enterprise_key(IDENTITY_KEY, code)))
    return firms


def _create(conn, schema: str, model: str) -> None:
    columns = ", ".join(f'"{c}" {TYPED.get(c, "VARCHAR")}' for c in sorted(model_columns()[model]))
    conn.execute(f"CREATE TABLE {schema}.{model} ({columns})")


def _insert(conn, schema: str, model: str, rows: list[dict]) -> None:
    for row in rows:
        names = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" * len(row))
        conn.execute(f"INSERT INTO {schema}.{model} ({names}) VALUES ({marks})", list(row.values()))


def build_warehouse(path: Path, people: list[Person], firms: list[Enterprise]) -> Path:
    conn = duckdb.connect(str(path))
    conn.execute("CREATE SCHEMA main_marts; CREATE SCHEMA main_restricted")
    for model in (
        "person_file",
        "person_special_groups",
        "certificate_validity",
        "enterprise_file",
        "enterprise_annual_facts",
        "fct_cases",
        "kpi_monthly",
    ):
        _create(conn, "main_marts", model)
    for model in ("identity_persons", "identity_enterprises"):
        _create(conn, "main_restricted", model)
    _insert(conn, "main_marts", "person_file", [_person_file(p) for p in people])
    _insert(conn, "main_restricted", "identity_persons", [_vault(p) for p in people])
    _insert(conn, "main_marts", "person_special_groups", _groups(people))
    _insert(conn, "main_marts", "certificate_validity", _certificates(people, firms))
    _insert(conn, "main_marts", "enterprise_file", [_firm(f) for f in firms])
    _insert(
        conn, "main_restricted", "identity_enterprises", [_firm_vault(f, people) for f in firms]
    )
    _insert(conn, "main_marts", "enterprise_annual_facts", _annual(firms))
    _insert(conn, "main_marts", "fct_cases", _cases(people))
    conn.close()
    return path


def _person_file(p: Person) -> dict:
    born = dt.date(int(p.number[6:10]), int(p.number[10:12]), int(p.number[12:14]))
    return {
        "person_key": p.key,
        "identity_number_masked": p.number[:6] + "********" + p.number[-4:],
        "sex": "1" if int(p.number[16]) % 2 else "2",
        "birth_date": born.isoformat(),
        "age": str(AS_OF.year - born.year),
        "hukou_region_code": p.region,
        "is_alive": True,
        "is_resident": True,
        "disability_level": "2" if p.number[-5] == "0" else None,
        "valid_certificate_types": "CJRZ",
        "cases_total": "3",
        "as_of_date": AS_OF,
    }


def _vault(p: Person) -> dict:
    return {
        "person_key": p.key,
        "identity_number": p.number,
        "name": p.name,
        "mobile_phone": p.phone,
    }


def _groups(people: list[Person]) -> list[dict]:
    return [
        {
            "special_group_id": f"G{i}",
            "person_key": p.key,
            "group_type": "CJR" if i % 2 else "DB",
            "disability_level": "2" if i % 2 else None,
            "started_on": "2020-01-01",
            "ended_on": None,
        }
        for i, p in enumerate(people[::2])
    ]


def _certificates(people: list[Person], firms: list[Enterprise]) -> list[dict]:
    rows = []
    for i, p in enumerate(people):
        rows.append(_cert(f"C{i}", "CJRZ", "person", p.key, None, "2020-01-01", "2099-12-31"))
        # an expired driving licence: valid on 2020-06-01, not today
        rows.append(_cert(f"J{i}", "JSZ", "person", p.key, None, "2010-01-01", "2021-01-01"))
    for i, f in enumerate(firms):
        rows.append(_cert(f"E{i}", "GXJS", "enterprise", None, f.key, "2024-01-01", "2099-12-31"))
    return rows


def _cert(cid, ctype, subject, pkey, ekey, start, end) -> dict:
    return {
        "certificate_id": cid,
        "certificate_type": ctype,
        "subject_type": subject,
        "person_key": pkey,
        "enterprise_key": ekey,
        "issued_on": start,
        "valid_from": start,
        "valid_to": end,
        "recorded_status": "1",
    }


def _firm(f: Enterprise) -> dict:
    return {
        "enterprise_key": f.key,
        "uscc": f.uscc,
        "entity_name": f.name,
        "entity_type": "YXGS",
        "registration_status": "2" if f.uscc.endswith(("3",)) and False else "1",
        "established_on": "2015-03-01",
        "registered_capital_10k_yuan": "100",
        "industry_code": "C1311",
        "region_code": f.region,
        "legal_representative_name_masked": None,
        "is_registered": True,
        "insured_employees": "12",
        "valid_certificate_types": "GXJS",
        "source_systems": "legal_entity_base",
        "as_of_date": AS_OF,
    }


def _firm_vault(f: Enterprise, people: list[Person]) -> dict:
    boss = people[0]
    return {
        "enterprise_key": f.key,
        "uscc": f.uscc,
        "entity_name": f.name,
        "legal_representative_name": boss.name,
        "legal_representative_id": boss.number,
    }


def _annual(firms: list[Enterprise]) -> list[dict]:
    return [
        {"enterprise_key": f.key, "uscc": f.uscc, "year": "2025", "insured_employees": "12"}
        for f in firms
    ]


def _cases(people: list[Person]) -> list[dict]:
    return [
        {
            "case_id": f"SB{i:05d}",
            "item_code": "ITEM01",
            "department": "市民政局",
            "region_code": p.region,
            "channel": "1",
            "person_key": p.key,
            "applied_at": "2026-11-01 09:00:00",
            "status": "办结",
            "result": "1",
        }
        for i, p in enumerate(people)
    ]


def demo_registry():
    catalogue = load_catalogue()
    consumers = load_consumers()
    return catalogue, consumers, load_grants(catalogue, consumers)


def build_city_snapshot(tmp: Path) -> tuple[Path, list[Person], list[Enterprise]]:
    people, firms = city_people(), city_enterprises()
    warehouse = build_warehouse(tmp / "warehouse.duckdb", people, firms)
    catalogue, _, grants = demo_registry()
    target = tmp / "sharing" / "snapshot.sqlite"
    build_snapshot(warehouse, target, catalogue, grants, IDENTITY_KEY)
    return target, people, firms


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_service(store_url: str, snapshot: Path, log: Path, workers: int = 2, **env):
    """`python -m sharing serve` on a free port of 127.0.0.1: its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "IDENTITY_KEY": IDENTITY_KEY,
        "SHARING_STORE_URL": store_url,
        "SHARING_SNAPSHOT": str(snapshot),
        "SHARING_RATE_PER_SECOND": "5000",
        "SHARING_BURST": "5000",
        **env,
    }
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sharing",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(base: str, process, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service stopped: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(base + "/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the service did not come up within 60 s")


@contextmanager
def store_database(kind: str, tmp: Path):
    """A store URL of `kind` (sqlite: a file under tmp; postgresql: a database of its own on
    127.0.0.1:5432, dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'sharing-store.db'}"
        return
    import secrets

    import psycopg

    name = f"sharing_test_{secrets.token_hex(6)}"
    server = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
    with psycopg.connect(autocommit=True, **server) as conn:
        conn.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(autocommit=True, **server) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
