"""Plain readers of a generated city, written apart from the simulator's code, so that the
tests check the simulator against an independent reading of its output."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
from pathlib import Path

from python_calamine import CalamineWorkbook

SYSTEM_FILES = {
    "case_platform": "exchange/case_platform.sqlite",
    "certificate_library": "exchange/certificate_library.sqlite",
    "population_base": "exchange/population_base.sqlite",
    "legal_entity_base": "exchange/legal_entity_base.sqlite",
    "hotline_12345": "hotline/work_orders.sqlite",
}
# The spec's Chinese headers (sources.yaml headers_zh), written out here on purpose.
CONTRACT_TABLES = {
    "case_platform": ["sxml", "bj_jbxx", "bj_gcxx", "bb_jl"],
    "certificate_library": ["dzzz_zzxx", "dzzz_yyjl"],
    "population_base": ["jhkz", "rk_jbxx", "rk_tsqt", "jf_ffjl"],
    "legal_entity_base": ["fr_jbxx", "fr_ndxx"],
}
HCP_HEADERS = [
    "评价编号",
    "申办流水号",
    "评价渠道",
    "评价时间",
    "评价等级",
    "评价内容",
    "整改状态",
    "整改完成时间",
]
HCP_COLUMNS = ["PJBH", "SBLSH", "PJQD", "PJSJ", "PJDJ", "PJNR", "ZGZT", "ZGWCSJ"]


def rows(city: Path, system: str, table: str) -> list[dict]:
    conn = sqlite3.connect(city / SYSTEM_FILES[system])
    conn.row_factory = sqlite3.Row
    out = [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]
    conn.close()
    return out


def clock(city: Path) -> dt.datetime:
    return dt.datetime.fromisoformat(json.loads((city / "city.json").read_text())["clock"])


def manifest(city: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(city / "manifest" / "manifest.sqlite")
    out = conn.execute(sql, params).fetchall()
    conn.close()
    return out


def defect_keys(city: Path, defect: str, table: str) -> set[str]:
    return {
        k
        for (k,) in manifest(
            city, "SELECT key FROM defects WHERE defect = ? AND table_name = ?", (defect, table)
        )
    }


def read_drop(path: Path) -> list[dict]:
    """A 好差评 drop as a list of dicts: header row found, title and 合计 rows left out."""
    if path.suffix == ".csv":
        text = path.read_bytes().decode("gbk")
        table = list(csv.reader(io.StringIO(text)))
        header, data = table[0], table[1:]
    else:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        header, data = sheet[1], [r for r in sheet[2:] if r[0] != "合计"]
    names = dict(
        zip(
            HCP_HEADERS,
            HCP_COLUMNS,
            strict=False,
        )
    )
    return [
        {names[h]: (None if v == "" else v) for h, v in zip(header, r, strict=False)} for r in data
    ]


def parse_pjsj(value) -> dt.datetime:
    """Every form of D10: 2025/3/5 9:07, 2025-03-05 09:07:00, 20250305090700, Excel serial."""
    if isinstance(value, float | int):
        return dt.datetime(1899, 12, 30) + dt.timedelta(seconds=round(float(value) * 86400))
    if isinstance(value, dt.datetime):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d{14}", text):
        return dt.datetime.strptime(text, "%Y%m%d%H%M%S")
    if "/" in text:
        return dt.datetime.strptime(text, "%Y/%m/%d %H:%M")
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def drops_in_force(city: Path) -> dict[str, Path]:
    """The file in force per month: the one that arrived last (latest modification time)."""
    inbox = city / "inbox" / "evaluation_hcp"
    by_month: dict[str, Path] = {}
    for path in sorted(inbox.iterdir()):
        month = re.search(r"_(\d{6})\.", path.name).group(1)
        if month not in by_month or path.stat().st_mtime > by_month[month].stat().st_mtime:
            by_month[month] = path
    return by_month


def normalise_id(raw: str) -> str:
    """Spaces out, full-width to ASCII, upper case, 15 digits to 18 (insert 19, add check)."""
    text = "".join(chr(ord(c) - 0xFEE0) if "０" <= c <= "Ｚ" else c for c in raw)
    text = text.replace(" ", "").upper()
    if re.fullmatch(r"[0-9]{15}", text):
        body = text[:6] + "19" + text[6:]
        text = body + ric_check(body)
    return text


def ric_check(body17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    value = (12 - sum(int(c) * w for c, w in zip(body17, weights, strict=False)) % 11) % 11
    return "X" if value == 10 else str(value)


def valid_id(number: str) -> bool:
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number) or ric_check(number[:17]) != number[17]:
        return False
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def valid_uscc(code: str) -> bool:
    if not re.fullmatch(f"[{USCC_CHARS}]{{18}}", code):
        return False
    weights = [3**i % 31 for i in range(17)]
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(code, weights, strict=False))
    return USCC_CHARS[(31 - total % 31) % 31] == code[17]
