"""The naive peer of the sharing benchmark: the same calls answered by opening the warehouse's
DuckDB file for each request (no snapshot, no key check, no audit)."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from contract.identity import is_valid_identity, normalise_identity

app = FastAPI()
WAREHOUSE = os.environ.get("BENCH_PEER_WAREHOUSE", "")
PERSON_SQL = (
    "SELECT v.name, p.name_masked, p.age, p.hukou_region_code "
    "FROM main_restricted.identity_persons v JOIN main_marts.person_file p USING (person_key) "
    "WHERE v.identity_number = ?"
)


def person(number: str):
    normalised = normalise_identity(number)
    if not is_valid_identity(normalised, dt.date.today()):
        return None
    conn = duckdb.connect(WAREHOUSE, read_only=True)
    try:
        return conn.execute(PERSON_SQL, [normalised]).fetchone()
    finally:
        conn.close()


@app.post("/v1/verify/identity")
async def verify(request: Request):
    body = await request.json()
    row = person(body["identity_number"])
    return {"consistent": bool(row and row[0] == body["name"])}


@app.get("/v1/persons/{number}")
async def query(number: str):
    row = person(number)
    if row is None:
        return JSONResponse({"error": "not_found"}, 404)
    return {"records": [{"name": row[1], "age": row[2], "hukou_region_code": row[3]}]}
