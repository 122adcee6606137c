"""The two sides of the linkage as tables of one shape (Splink compares like with like):
`linkage.persons`, one row per version of a resident in the population base (so each phone
a person had while the platform watched is there with the day it stopped being theirs), and
`linkage.records`, one row per record to link: every 12345 work order in its current state,
and each case of a person (SQRLX 1, an identity card) whose number is not valid. A record's
`unique_id` is its kind and key ("work_order|GD…", "case|…")."""

from __future__ import annotations

import duckdb
import pandas as pd

from contract.identity import is_valid_identity, normalise_identity
from linkage import names

COLUMNS = [
    "unique_id",
    "record_kind",
    "record_key",
    "person_id",
    "id_normalised",
    "id_valid",
    "name",
    "name_pinyin",
    "surname",
    "given",
    "sex",
    "birth",
    "region",
    "phone",
    "phone8",
    "valid_to",
    "called_on",
]

PERSONS_SQL = """
select GMSFHM as person_id, XM as name, XB as sex, CSRQ as birth, HJXZQHDM as region,
       SJHM as phone, _valid_to as valid_to
from raw.rk_jbxx
"""

# The current state of each record: the spec's version order (update time, load, row hash).
SOURCES = {
    "work_order": """
select gdbh, cast(ldsj as date), ldhm, ldrxm, ldrzjhm, xzqhdm
from raw.work_orders
qualify row_number() over (
    partition by gdbh order by updated_at desc, _loaded_at desc, _row_hash desc
) = 1
""",
    # persons' cases under an identity card (passports and permits are not the base's)
    "case": """
select SBLSH, cast(SQSJ as date), LXDH, SQRMC, SQRZJHM, XZQHDM
from raw.bj_jbxx
qualify row_number() over (
    partition by SBLSH order by GXSJ desc, _loaded_at desc, _row_hash desc
) = 1 and SQRLX = '1' and coalesce(SQRZJLX, '111') = '111'
""",
}


def _phone8(phone: str | None) -> str | None:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-8:] if len(digits) >= 8 else None


def person_frame(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    rows = conn.execute(PERSONS_SQL).fetchall()
    out = []
    for n, (person_id, name, sex, birth, region, phone, valid_to) in enumerate(rows):
        parsed = names.parse(name)
        out.append(
            {
                "unique_id": f"p{n}",
                "record_kind": None,
                "record_key": None,
                "person_id": person_id,
                "id_normalised": person_id,
                "id_valid": True,
                "name": name,
                "name_pinyin": names.pinyin(name),
                "surname": parsed.surname,
                "given": parsed.given,
                "sex": sex,
                "birth": birth,
                "region": region,
                "phone": phone,
                "phone8": _phone8(phone),
                "valid_to": valid_to,
                "called_on": None,
            }
        )
    return _typed(out)


def record_frame(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The records, each with what its words tell: the normalised number and whether it is
    valid on the record's day, the name's parts, the honorific's sex, the birth date a dirty
    18-character number still carries. Cases with a valid number are left to the exact path
    of the warehouse (the spec's records to link are those whose number is invalid)."""
    out = []
    for kind, sql in SOURCES.items():
        for key, day, phone, name, id_raw, region in conn.execute(sql).fetchall():
            normalised = normalise_identity(id_raw) if id_raw else None
            valid = bool(normalised) and is_valid_identity(normalised, day)
            if kind != "work_order" and valid:
                continue
            out.append(_record(kind, key, day, phone, names.parse(name), normalised, valid, region))
    return _typed(out)


def _record(kind, key, day, phone, parsed, normalised, valid, region) -> dict:
    return {
        "unique_id": f"{kind}|{key}",
        "record_kind": kind,
        "record_key": key,
        "person_id": None,
        "id_normalised": normalised,
        "id_valid": valid,
        "name": parsed.full,
        "name_pinyin": parsed.pinyin,
        "surname": parsed.surname,
        "given": parsed.given,
        "sex": parsed.sex,
        "birth": normalised[6:14] if normalised and len(normalised) == 18 else None,
        "region": region,
        "phone": phone,
        "phone8": _phone8(phone),
        "valid_to": None,
        "called_on": day,
    }


def _typed(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("valid_to", "called_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame
