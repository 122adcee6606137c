"""The naive peer of the sharing benchmark: the same calls answered by opening the warehouse's
DuckDB file for each request (no snapshot, no key check, no audit)."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from contract.identity import is_valid_identity, normalise_identity, normalise_uscc

app = FastAPI()
WAREHOUSE = os.environ.get("BENCH_PEER_WAREHOUSE", "")
PERSON_SQL = (
    "SELECT v.name, p.name_masked, p.age, p.sex, p.is_alive, p.hukou_region_code "
    "FROM main_restricted.identity_persons v JOIN main_marts.person_file p USING (person_key) "
    "WHERE v.identity_number = ?"
)
CERTIFICATE_SQL = (
    "SELECT c.certificate_type, c.valid_from, c.valid_to, c.recorded_status "
    "FROM main_restricted.identity_persons v "
    "JOIN main_marts.certificate_validity c USING (person_key) "
    "WHERE v.identity_number = ? AND c.certificate_type = 'CJRZ'"
)
ENTERPRISE_SQL = (
    "SELECT e.entity_name, e.registration_status, e.region_code, e.uscc "
    "FROM main_marts.enterprise_file e WHERE e.uscc = ?"
)


def fetch(sql: str, value: str) -> list[tuple]:
    conn = duckdb.connect(WAREHOUSE, read_only=True)
    try:
        return conn.execute(sql, [value]).fetchall()
    finally:
        conn.close()


def person_number(number: str) -> str | None:
    normalised = normalise_identity(number)
    return normalised if is_valid_identity(normalised, dt.date.today()) else None


@app.post("/v1/verify/identity")
async def verify_identity(request: Request):
    body = await request.json()
    number = person_number(body["identity_number"])
    rows = fetch(PERSON_SQL, number) if number else []
    return {"consistent": bool(rows and rows[0][0] == body["name"])}


@app.post("/v1/verify/certificate")
async def verify_certificate(request: Request):
    body = await request.json()
    number = person_number(body["holder"])
    today = dt.date.today()
    rows = fetch(CERTIFICATE_SQL, number) if number else []
    valid = any(
        r[3] == "1" and r[1] <= today and (r[2] is None or r[2] >= today)
        for r in rows
        if isinstance(r[1], dt.date)
    )
    return {"valid": valid}


@app.post("/v1/verify/enterprise")
async def verify_enterprise(request: Request):
    body = await request.json()
    rows = fetch(ENTERPRISE_SQL, normalise_uscc(body["uscc"]))
    exists = bool(rows)
    return {
        "exists": exists,
        "active": bool(exists and rows[0][1] == "1"),
        "name_consistent": bool(exists and rows[0][0] == body.get("name")),
    }


@app.get("/v1/persons/{number}")
async def query_person(number: str, resource: str = "person_basic"):
    normalised = person_number(number)
    if resource == "person_certificates":
        rows = fetch(CERTIFICATE_SQL, normalised) if normalised else []
        keys = ("certificate_type", "valid_from", "valid_to", "recorded_status")
        return {"records": [dict(zip(keys, map(str, r), strict=True)) for r in rows]}
    rows = fetch(PERSON_SQL, normalised) if normalised else []
    if not rows:
        return JSONResponse({"error": "not_found"}, 404)
    _, name, age, sex, alive, region = rows[0]
    record = {"name": name, "age": age, "sex": sex, "is_alive": alive, "hukou_region_code": region}
    return {"records": [record]}


@app.get("/v1/enterprises/{uscc}")
async def query_enterprise(uscc: str):
    rows = fetch(ENTERPRISE_SQL, normalise_uscc(uscc))
    if not rows:
        return JSONResponse({"error": "not_found"}, 404)
    name, _, region, code = rows[0]
    return {"records": [{"uscc": code, "entity_name": name, "region_code": region}]}
