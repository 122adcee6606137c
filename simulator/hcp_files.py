"""The 好差评 system's monthly drops: GBK CSV with Chinese headers, or XLSX with a merged
title row and a 合计 footer (sources.yaml, evaluation_hcp.files; defects.md D10)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path

import xlsxwriter

from contract import load_contract

EXCEL_EPOCH = dt.datetime(1899, 12, 30)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def headers() -> list[str]:
    system = load_contract().systems["evaluation_hcp"]
    return [system.headers_zh[c] for c in system.tables["hcp_pj"].column_names]


def file_name(month: dt.date, extension: str) -> str:
    return f"好差评_{month:%Y%m}.{extension}"


def render_time(value: dt.datetime, form: str, excel: bool):
    """PJSJ in one of the forms departments export; each parses back to the same moment."""
    if form == "slash":
        return f"{value.year}/{value.month}/{value.day} {value.hour}:{value.minute:02d}"
    if form == "compact":
        return value.strftime("%Y%m%d%H%M%S")
    if form == "excel" and excel:
        return round((value - EXCEL_EPOCH).total_seconds() / 86400, 8)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def effective_form(form: str, excel: bool) -> str:
    return "dash" if form == "excel" and not excel else form


def write_csv(path: Path, rows: list[list]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers())
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    path.write_bytes(buffer.getvalue().encode("gbk"))


def write_xlsx(path: Path, month: dt.date, rows: list[list], created: dt.datetime) -> None:
    book = xlsxwriter.Workbook(str(path), {"in_memory": True})
    # Fixed document properties so that the same city gives byte-identical files.
    book.set_properties({"created": created, "author": "好差评系统"})
    sheet = book.add_worksheet("明细")
    title = book.add_format({"bold": True, "align": "center"})
    columns = headers()
    sheet.merge_range(
        0, 0, 0, len(columns) - 1, f"{month.year}年{month.month}月政务服务好差评明细", title
    )
    sheet.write_row(1, 0, columns)
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, float):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    footer = len(rows) + 2
    sheet.write_string(footer, 0, "合计")
    sheet.write_string(footer, 1, f"共{len(rows)}条")
    book.close()


def set_arrival(path: Path, delivered_at: dt.datetime) -> None:
    """Files arrive at their delivery time: the inbox orders re-deliveries by it."""
    stamp = delivered_at.replace(tzinfo=SHANGHAI).timestamp()
    os.utime(path, (stamp, stamp))
