"""The hand-made KPI fixture of test_kpi_fixture.py: a tiny warehouse built from scratch.

The raw and meta tables are created exactly as ingestion creates them (ingestion/warehouse.py,
`writer`), then every row is inserted by hand with the load metadata staging reads (_load_id,
_loaded_at, _source, _row_hash, _extra), as if two loads had landed it. The fixture's rows and
the reason each one is there are listed in the test module's hand-worked tables; the row names
below (C01…, H01…, R01…, W01…) are the names used there.

Regions: Z = 360702 章贡区, S = 360700 市本级 (a real region, not the city total), N = 360703
南康区. Nearly everything happens in April 2025, whose 调休 make-up working day is Sunday
2025-04-27 (contract/calendar/workdays.csv: adjusted_workday, Labour Day), followed by the
1–5 May holiday.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from contract import load_contract
from contract.identity import ric_check_char
from ingestion.warehouse import writer

Z, S, N = "360702", "360700", "360703"

# Two loads: L1 lands the first versions, L2 a day later the later versions.
L1 = ("fixture-load-1", datetime(2025, 5, 8, 3, 0, 0))
L2 = ("fixture-load-2", datetime(2025, 5, 9, 3, 0, 0))

CASE_DB = "sqlite:///fixture/exchange/case_platform.sqlite"
CERT_DB = "sqlite:///fixture/exchange/certificate_library.sqlite"
HOTLINE_API = "http://127.0.0.1:8765/api/v1/work-orders"

# The two deliveries of April's 好差评 file: the XLSX first, then the CSV (in force).
HCP_OLD = ("好差评_202504.xlsx", "a" * 64, datetime(2025, 5, 2, 9, 0, 0))
HCP_NEW = ("好差评_202504.csv", "b" * 64, datetime(2025, 5, 3, 9, 0, 0))


def ts(text: str | None) -> datetime | None:
    """'04-01 09:00' or '04-01 09:00:01' (all in 2025) as a naive local timestamp."""
    if text is None:
        return None
    return datetime.fromisoformat("2025-" + (text if text.count(":") == 2 else text + ":00"))


def case_id(n: int) -> str:
    return f"GZ2025SB{n:04d}"


def identity(n: int) -> str:
    body = f"36070219850101{n:03d}"
    return body + ric_check_char(body)


# --- case platform: service items ----------------------------------------------------------


def item(code, dept, cnsx, gp, zz, gxsj, sfsc="0"):
    return {
        "SXBM": code,
        "SXMC": f"事项{code}",
        "SXLX": "XK",
        "BLBM": dept,
        "BLBMMC": f"部门{dept}",
        "FWDX": "1",
        "FDSX": 20,
        "CNSX": cnsx,
        "SFGPSX": gp,
        "SFQCWB": "1",
        "SFXYZZ": zz,
        "PDCS": 0,
        "SFKSTB": "0",
        "YJSBM": None,
        "YJSMC": None,
        "GXSJ": ts(gxsj),
        "SFSC": sfsc,
    }


GP5, JB0, GP3, DEL, NONE = "SX_GP5", "SX_JB0", "SX_GP3", "SX_DEL", "SX_NONE"

ITEMS_L1 = [
    # high-frequency, needs a certificate, 5 working days
    item(GP5, "BM_GA", 5, "1", "1", "01-02 08:00"),
    # 即办件 (CNSX 0), not high-frequency, no certificate
    item(JB0, "BM_MZ", 0, "0", "0", "01-02 08:00"),
    # high-frequency, no certificate: first CNSX 10, then (later GXSJ) 3 working days
    item(GP3, "BM_RS", 10, "1", "0", "01-02 08:00"),
    item(GP3, "BM_RS", 3, "1", "0", "03-01 08:00"),
    # an item deleted later (its state is deleted: department unknown, no K3–K5)
    item(DEL, "BM_SC", 5, "1", "1", "01-02 08:00"),
]
ITEMS_L2 = [item(DEL, "BM_SC", 5, "1", "1", "04-30 08:00", sfsc="1")]
# SX_NONE is in no version of sxml: an unknown item.


# --- case platform: cases ------------------------------------------------------------------


def case(n, region, sxbm, sqfs, sfyt, sqsj, slsj, bjsj, bjzt, bzcs=0, yjs=None, **extra):
    stamps = [t for t in (ts(sqsj), ts(slsj), ts(bjsj)) if t is not None]
    row = {
        "SBLSH": case_id(n),
        "SXBM": sxbm,
        "SQRLX": "1",
        "SQRMC": f"申请人{n}",
        "SQRZJLX": "111",
        "SQRZJHM": identity(n),
        "LXDH": f"1390797{n:04d}",
        "SQFS": sqfs,
        "SFYT": sfyt,
        "SQSJ": ts(sqsj),
        "SLSJ": ts(slsj),
        "BJSJ": ts(bjsj),
        "BJZT": bjzt,
        "BJJG": {"3": "1", "4": "2"}.get(bjzt),
        "BZCS": bzcs,
        "SLMS": "1",
        "YDBL": "0",
        "XZQHDM": region,
        "YJSSLBH": yjs,
        "GXSJ": max(stamps),
        "SFSC": "0",
    }
    row.update(extra)
    return row


# fmt: off
CASES_L1 = [
    #    n   reg item sqfs sfyt SQSJ           SLSJ           BJSJ           BJZT BZCS
    case(1,  Z, GP5, "1", "1", "04-01 09:00", "04-01 10:00", "04-09 16:00", "3"),
    case(2,  Z, GP5, "2", "0", "04-01 09:30", "04-01 11:00", "04-10 16:00", "3"),
    case(3,  Z, GP5, "3", "0", "04-02 09:00", "04-02 10:00", "04-08 15:00", "3", 1),
    case(4,  Z, JB0, "3", "0", "04-03 09:00", "04-03 09:05", "04-03 15:00", "3"),
    case(5,  Z, JB0, "1", "0", "04-08 16:00", "04-08 16:30", "04-09 09:00", "3"),
    case(6,  Z, GP3, "1", "1", "04-25 09:00", "04-25 10:00", "04-29 17:00", "3"),
    case(7,  Z, GP3, "2", "1", "04-25 09:10", "04-25 10:10", "04-30 17:00", "3"),
    case(8,  Z, GP3, "3", "0", "04-28 09:00", "04-29 09:00", "05-07 10:00", "3"),
    case(9,  Z, GP5, "4", "1", "04-10 09:00", None,          "04-10 11:00", "4"),
    case(10, Z, GP5, "1", "0", "04-11 09:00", None,          None,          "0"),
    case(11, Z, GP5, "1", "1", "04-14 09:00", "04-14 10:00", None,          "2", 1),
    case(12, Z, JB0, "3", "0", "04-15 10:00", "04-15 09:00", "04-15 11:00", "3"),
    case(13, Z, JB0, "1", "0", "04-16 09:00", "04-16 10:00", "04-16 09:30", "3"),
    case(14, Z, DEL, "1", "1", "04-17 09:00", "04-17 10:00", "04-18 10:00", "3"),
    case(15, Z, NONE, "2", "0", "04-17 09:00", "04-17 10:00", "04-17 16:00", "3", 2),
    # C16: filed, then soft-deleted (L2); in "一件事" instance YJS-3
    case(16, N, GP5, "3", "0", "04-18 09:00", None,          None,          "0", yjs="YJS-3"),
    # C17: its valid version; its later version was quarantined (meta.quarantine below)
    case(17, Z, GP5, "1", "1", "04-21 09:00", "04-21 10:00", None,          "1"),
    case(18, Z, GP3, "1", "0", "03-20 09:00", "03-20 10:00", "04-02 10:00", "3"),
    # C19: accepted in L1; L2 brings a version with the same GXSJ that is finished
    case(19, Z, GP5, "3", "0", "04-22 09:00", "04-22 10:00", None,          "1",
         GXSJ=ts("04-23 10:00")),
    case(20, Z, GP5, "2", "1", "04-23 09:00", "04-23 10:00", "04-24 10:00", "5"),
    case(21, S, GP5, "1", "1", "04-07 09:00", "04-07 10:00", "04-11 10:00", "3"),
    case(22, S, JB0, "3", "0", "04-08 09:00", "04-08 09:10", "04-08 10:00", "3"),
    case(23, S, JB0, "3", "0", "04-09 09:00", None,          "04-09 10:00", "4"),
    case(24, S, JB0, "3", "0", "04-10 09:00", "04-10 09:30", None,          "1"),
    case(25, N, JB0, "3", "0", "04-14 09:00", "04-14 09:10", "04-14 10:00", "3"),
    case(26, Z, GP5, "1", "1", "04-21 09:00", "04-21 10:00", None,          "1", yjs="YJS-1"),
    case(27, Z, GP3, "2", "0", "04-21 09:05", "04-21 10:00", None,          "1", yjs="YJS-1"),
    case(28, S, JB0, "3", "0", "03-31 15:00", "03-31 15:10", "03-31 16:00", "3", yjs="YJS-2"),
    case(29, Z, GP3, "1", "0", "04-01 10:00", None,          None,          "0", yjs="YJS-2"),
    case(30, Z, GP5, "1", "0", "04-22 14:00", None,          None,          "0", yjs="YJS-3"),
    case(31, S, JB0, "1", "0", "04-22 14:00", None,          None,          "0", yjs="YJS-3"),
]
CASES_L2 = [
    case(16, N, GP5, "3", "0", "04-18 09:00", None,          None,          "0", yjs="YJS-3",
         GXSJ=ts("04-20 09:00"), SFSC="1"),
    case(19, Z, GP5, "3", "0", "04-22 09:00", "04-22 10:00", "04-23 10:00", "3"),
]
# fmt: on

# C17's later version (GXSJ 2025-04-22 10:00) had SQFS '9' (D7) and was quarantined.
QUARANTINED_C17 = {
    "row_key": case_id(17),
    "column_name": "SQFS",
    "rule": "code",
    "raw_value": "9",
    "change_value": "2025-04-22 10:00:00",
}

# Process steps of C03 (补正 once before acceptance); no KPI reads bj_gcxx.
STEPS = [
    {"GCBH": f"GC{i}", "SBLSH": case_id(3), "HJDM": code, "CLSJ": ts(t), "CLYJ": None,
     "GXSJ": ts(t)}
    for i, (code, t) in enumerate(
        [
            ("SQ", "04-02 09:00"),
            ("BZ", "04-02 09:20"),
            ("BZWC", "04-02 09:50"),
            ("SL", "04-02 10:00"),
            ("BJ", "04-08 15:00"),
        ],
        start=1,
    )
]  # fmt: skip


# --- certificate uses (dzzz_yyjl) ----------------------------------------------------------


def use(n, zzbh, sblsh, dysj, dyfs):
    return {"DYBH": n, "ZZBH": zzbh, "SBLSH": sblsh, "DYSJ": ts(dysj), "DYFS": dyfs}


USES = [
    use(1, "ZZ-SFZ-01", case_id(1), "04-01 09:01", "1"),  # U1 C01 免提交
    use(2, "ZZ-SFZ-02", case_id(2), "04-01 09:31", "2"),  # U2 C02 亮证 only
    use(3, "ZZ-SFZ-03", case_id(3), "04-02 09:01", "1"),  # U3 C03 免提交
    use(4, "ZZ-HKB-03", case_id(3), "04-02 09:02", "1"),  # U4 C03 a second one
    use(5, "ZZ-SFZ-11", case_id(11), "04-14 09:01", "1"),  # U5 C11 免提交
    use(6, "ZZ-SFZ-14", case_id(14), "04-17 09:01", "1"),  # U6 C14 (deleted item)
    use(7, "ZZ-SFZ-21", case_id(21), "04-07 09:01", "1"),  # U7 C21 免提交
    use(8, "ZZ-SFZ-98", "GZ2025SB9998", "04-07 09:01", "1"),  # U8 unknown case (D8)
    use(9, "ZZ-SFZ-09", case_id(9), "04-10 09:01", "3"),  # U9 C09 核验 only
]


# --- help sessions (bb_jl) -----------------------------------------------------------------


def session(n, bbqd, region, qqsj, scxysj, sfjj, gxsj=None):
    return {
        "BBBH": f"BB{n:03d}",
        "BBQD": bbqd,
        "SQRZJHM": identity(100 + n),
        "SBLSH": None,
        "QQSJ": ts(qqsj),
        "SCXYSJ": ts(scxysj),
        "JSSJ": ts(qqsj.replace("09:", "10:")) if sfjj is not None else None,
        "SFJJ": sfjj,
        "XZQHDM": region,
        "GXSJ": ts(gxsj or qqsj.replace("09:", "11:")),
    }


# fmt: off
SESSIONS_L1 = [
    session(1,  "1", Z, "04-08 09:00:00", "04-08 09:01:00", "1"),  # +60 s
    session(2,  "1", Z, "04-08 09:10:00", "04-08 09:11:01", "0"),  # +61 s
    session(3,  "1", N, "04-09 09:00:00", None,             None),  # never answered, open
    session(4,  "1", Z, "04-09 09:30:00", "04-09 09:29:00", "1"),  # D6: response first
    session(5,  "2", Z, "04-10 09:00:00", "04-10 09:00:05", "1"),  # offline
    session(6,  "1", S, "04-10 09:20:00", "04-10 09:20:30", "1"),  # +30 s
    session(7,  "1", S, "04-11 09:00:00", "04-11 09:00:10", "0"),  # +10 s
    session(8,  "1", Z, "04-11 09:30:00", "04-11 09:30:45", "1"),  # +45 s
    session(9,  "2", S, "04-14 09:00:00", "04-14 09:00:05", "0"),  # offline
    session(10, "1", Z, "04-15 09:00:00", None,             None,
            gxsj="04-15 09:00:00"),                            # still waiting ...
]
SESSIONS_L2 = [
    session(10, "1", Z, "04-15 09:00:00", "04-15 09:00:20", "1"),  # ... then +20 s, solved
]
# fmt: on


# --- 好差评 ratings (hcp_pj) -----------------------------------------------------------------


def rating(pjbh, sblsh, pjsj, pjdj, zgzt=None, zgwcsj=None):
    return {
        "PJBH": pjbh,
        "SBLSH": sblsh,
        "PJQD": "1",
        "PJSJ": ts(pjsj),
        "PJDJ": pjdj,
        "PJNR": None,
        "ZGZT": zgzt,
        "ZGWCSJ": ts(zgwcsj),
    }


# fmt: off
RATINGS_IN_FORCE = [  # 好差评_202504.csv, the delivery of April that arrived last
    rating("PJ01", case_id(1),  "04-10 10:00", "5"),
    rating("PJ02", case_id(21), "04-12 10:00", "4"),
    rating("PJ03", case_id(16), "04-20 10:00", "3"),                    # deleted case
    rating("PJ04", case_id(4),  "04-07 10:00", "2", "1", "04-27 10:00"),  # wd 15
    rating("PJ05", case_id(5),  "04-07 11:00", "1", "1", "04-28 10:00"),  # wd 16
    rating("PJ06", case_id(2),  "04-11 10:00", "2", "2"),                # 不属实
    rating("PJ07", case_id(3),  "04-09 10:00", "1", "0"),                # 未整改
    rating("PJ08", case_id(6),  "04-29 18:00", "2"),                     # ZGZT null
    rating("PJ09", case_id(19), "04-24 10:00", "1", "1", "04-23 10:00"),  # D6
    rating("PJ10", "GZ2025SB9999", "04-15 10:00", "5"),                  # unknown case (D8)
]
RATINGS_REPLACED = [  # 好差评_202504.xlsx, arrived earlier: not in force
    rating("PJ01", case_id(1),  "04-10 10:00", "1", "0"),
    rating("PJ11", case_id(21), "04-12 11:00", "1", "0"),
]
# fmt: on


# --- 12345 work orders ---------------------------------------------------------------------


def order(n, region, ldsj, zjbj, cbdw, clqx, bjsj, sfjj, myd, updated_at=None):
    return {
        "gdbh": f"GD{n:03d}",
        "ldsj": ts(ldsj),
        "ldhm": f"1397070{n:04d}",
        "ldrxm": None,
        "ldrzjhm": None,
        "sqlx": "1",
        "sqfl": "社保",
        "sqnr": "咨询",
        "cbdw": cbdw,
        "xzqhdm": region,
        "zjbj": zjbj,
        "pdsj": None if cbdw is None else ts(ldsj),
        "clqx": ts(clqx),
        "bjsj": ts(bjsj),
        "gdzt": "3" if bjsj else "2",
        "sfjj": sfjj,
        "myd": myd,
        "updated_at": ts(updated_at) or max(t for t in (ts(ldsj), ts(bjsj)) if t is not None),
    }


# fmt: off
ORDERS_L1 = [
    #     n   reg ldsj              zjbj cbdw  clqx              bjsj              sfjj myd
    order(1,  Z, "04-02 10:00:00", "1", None, None,             "04-02 10:05:00", "1", "1"),
    order(2,  Z, "04-03 10:00:00", "0", "U1", "04-10 18:00:00", "04-10 18:00:00", "1", "2"),
    order(3,  Z, "04-03 11:00:00", "0", "U5", "04-10 18:00:00", "04-10 18:00:01", "0", "3"),
    order(4,  Z, "04-07 10:00:00", "0", "U2", "04-20 18:00:00", None,             None, None),
    order(5,  Z, "04-08 10:00:00", "0", "U2", None,             "04-12 10:00:00", "1", None),
    order(6,  S, "04-08 11:00:00", "0", "U3", "04-15 18:00:00", "04-14 10:00:00", "1", None),
    order(7,  S, "04-08 08:50:00", "1", None, "04-08 09:00:00", "04-08 10:00:00", "1", "1"),
    order(8,  Z, "04-09 10:00:00", "0", "U1", "04-18 18:00:00", "04-22 10:00:00", "1", "3"),
    order(9,  Z, "04-10 10:00:00", "0", "U1", "04-25 18:00:00", None,             None, None),
    order(10, N, "03-31 23:59:59", "0", "U4", "04-03 18:00:00", "04-02 10:00:00", "0", "2"),
]
ORDERS_L2 = [
    order(9,  Z, "04-10 10:00:00", "0", "U1", "04-25 18:00:00", "04-20 10:00:00", "1", "1",
          updated_at="04-28 10:00:00"),
]
# fmt: on


# --- landing -------------------------------------------------------------------------------


def land(conn, table_name: str, rows: list[dict], load: tuple[str, datetime], source: str) -> None:
    """Insert rows into raw.<table> with the load metadata ingestion writes."""
    table = load_contract().table(table_name)
    names = table.column_names
    load_id, loaded_at = load
    columns = ", ".join(f'"{c}"' for c in names)
    marks = ", ".join("?" for _ in range(len(names) + 5))
    for row in rows:
        unknown = set(row) - set(names)
        assert not unknown, f"{table_name}: not in the contract: {unknown}"
        values = [row.get(c) for c in names]
        row_hash = hashlib.sha256(json.dumps(values, default=str).encode()).hexdigest()
        conn.execute(
            f"INSERT INTO raw.{table_name} ({columns}, _load_id, _loaded_at, _source, "
            f"_row_hash, _extra) VALUES ({marks})",
            [*values, load_id, loaded_at, source, row_hash, None],
        )


def build_fixture_warehouse(path: Path) -> None:
    """Create the warehouse as ingestion does and land the fixture's rows by hand."""
    with writer(path) as conn:
        for load_id, loaded_at in (L1, L2):
            for system in ("case_platform", "certificate_library", "hotline_12345"):
                conn.execute(
                    "INSERT INTO meta.loads VALUES (?, ?, ?, ?, 'ok', NULL, NULL)",
                    [load_id, system, loaded_at, loaded_at],
                )
        land(conn, "sxml", ITEMS_L1, L1, CASE_DB)
        land(conn, "sxml", ITEMS_L2, L2, CASE_DB)
        land(conn, "bj_jbxx", CASES_L1, L1, CASE_DB)
        land(conn, "bj_jbxx", CASES_L2, L2, CASE_DB)
        land(conn, "bj_gcxx", STEPS, L1, CASE_DB)
        land(conn, "bb_jl", SESSIONS_L1, L1, CASE_DB)
        land(conn, "bb_jl", SESSIONS_L2, L2, CASE_DB)
        land(conn, "dzzz_yyjl", USES, L1, CERT_DB)
        land(conn, "work_orders", ORDERS_L1, L1, HOTLINE_API)
        land(conn, "work_orders", ORDERS_L2, L2, HOTLINE_API)
        q = QUARANTINED_C17
        conn.execute(
            "INSERT INTO meta.quarantine VALUES (?, 'case_platform', 'bj_jbxx', ?, ?, ?, ?, ?, "
            "?, ?, ?)",
            [L2[0], CASE_DB, q["row_key"], q["column_name"], q["rule"], q["raw_value"],
             "c" * 64, q["change_value"], L2[1]],
        )  # fmt: skip
        for (name, sha, arrival), rows, load in (
            (HCP_OLD, RATINGS_REPLACED, ("fixture-hcp-1", datetime(2025, 5, 2, 10, 0))),
            (HCP_NEW, RATINGS_IN_FORCE, ("fixture-hcp-2", datetime(2025, 5, 3, 10, 0))),
        ):
            land(conn, "hcp_pj", rows, load, f"{name}@{sha}")
            conn.execute(
                "INSERT INTO meta.files VALUES ('evaluation_hcp', ?, '202504', ?, ?, ?, ?, ?, ?)",
                [name, 1000 + len(rows), sha, arrival, len(rows), load[0], load[1]],
            )
