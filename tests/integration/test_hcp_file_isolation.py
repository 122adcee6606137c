"""One bad 好差评 file must not block every month (issue 29, part A).

A small inbox is written here (GBK CSV and XLSX months) and loaded through the real runner
into a DuckDB warehouse. A bad file (truncated workbook, UTF-8 CSV, empty file, header
without a required column) is kept in the inbox and recorded with its name and reason in
meta.file_problems and meta.alerts, while every good month lands; a name outside the
convention is recorded as ignored; a good re-delivery of the bad month lands.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path

import duckdb
import pytest
import xlsxwriter

from contract import load_contract
from ingestion.cli import main as ingestion_main
from ingestion.runner import run

pytestmark = pytest.mark.integration

SYSTEM = "evaluation_hcp"
COLUMNS = load_contract().systems[SYSTEM].tables["hcp_pj"].column_names
HEADERS_ZH = load_contract().systems[SYSTEM].headers_zh
GOOD_MONTHS = ("202501", "202502", "202503")
BAD_MONTH = "202504"


# -- writing an inbox ----------------------------------------------------------------------
def rows_of(month: str, n: int = 3) -> list[list[str]]:
    """n valid ratings of a month, in contract column order."""
    stamp = f"{month[:4]}/{month[4:]}/0{{day}} 9:07"
    return [
        [f"PJ{month}{i:03d}", f"3607022{month}{i:05d}", "2", stamp.format(day=i + 1), "5", "好",
         "", ""]
        for i in range(n)
    ]  # fmt: skip


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str = "gbk") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(tmp: Path, month: str) -> bytes:
    path = tmp / f"build-{month}.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("明细")
    sheet.merge_range(0, 0, 0, len(COLUMNS) - 1, f"{month[:4]}年{month[4:]}月政务服务好差评明细")
    sheet.write_row(1, 0, [HEADERS_ZH[c] for c in COLUMNS])
    for r, row in enumerate(rows_of(month), start=2):
        sheet.write_row(r, 0, row)
    sheet.write_row(5, 0, ["合计", "共3条"])
    book.close()
    return path.read_bytes()


def deliver(inbox: Path, name: str, content: bytes, arrival: dt.datetime) -> Path:
    path = inbox / name
    path.write_bytes(content)
    stamp = arrival.replace(tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def good_header() -> list[str]:
    return [HEADERS_ZH[c] for c in COLUMNS]


def bad_content(kind: str, tmp: Path) -> tuple[str, bytes, str]:
    """(file name, bytes, a phrase the recorded reason must contain) of one kind of bad file."""
    if kind == "truncated-xlsx":
        whole = xlsx_bytes(tmp, BAD_MONTH)
        return f"好差评_{BAD_MONTH}.xlsx", whole[: len(whole) // 2], "not a readable XLSX"
    if kind == "utf8-csv":
        return (
            f"好差评_{BAD_MONTH}.csv",
            csv_bytes(good_header(), rows_of(BAD_MONTH), "utf-8"),
            "GBK",
        )
    if kind == "empty":
        return f"好差评_{BAD_MONTH}.csv", b"", "empty"
    header = [h for h in good_header() if h != HEADERS_ZH["PJSJ"]]
    rows = [r[:3] + r[4:] for r in rows_of(BAD_MONTH)]
    return f"好差评_{BAD_MONTH}.csv", csv_bytes(header, rows), "PJSJ"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """Three good months: two GBK CSVs and a workbook."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    for day, month in enumerate(GOOD_MONTHS, start=1):
        if month == "202502":
            name, content = f"好差评_{month}.xlsx", xlsx_bytes(tmp_path, month)
        else:
            name, content = f"好差评_{month}.csv", csv_bytes(good_header(), rows_of(month))
        deliver(folder, name, content, dt.datetime(2025, 5, day, 8, 0, 0))
    return folder


@pytest.fixture
def sources(tmp_path: Path, inbox: Path) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "systems:\n"
        f"  {SYSTEM}:\n"
        "    delivery: files\n"
        f"    inbox: {inbox}\n"
        "    tables:\n"
        "      hcp_pj: {key: [PJBH], mode: file}\n",
        encoding="utf-8",
    )
    return path


def load(sources: Path, warehouse: Path):
    (result,) = run(sources, warehouse, [SYSTEM])
    assert result.status == "ok", result.message
    return result


def query(warehouse: Path, sql: str, params=()) -> list[tuple]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def landed_files(warehouse: Path) -> set[str]:
    return {name for (name,) in query(warehouse, "SELECT file_name FROM meta.files")}


def landed_sources(warehouse: Path) -> set[str]:
    sql = "SELECT DISTINCT split_part(_source, '@', 1) FROM raw.hcp_pj"
    return {name for (name,) in query(warehouse, sql)}


def problems(warehouse: Path) -> list[tuple]:
    return query(
        warehouse,
        "SELECT file_name, month, status, reason FROM meta.file_problems ORDER BY recorded_at",
    )


def alerts(warehouse: Path) -> list[tuple]:
    return query(
        warehouse,
        "SELECT severity, kind, message FROM meta.alerts WHERE system = ? ORDER BY raised_at",
        [SYSTEM],
    )


GOOD_NAMES = {"好差评_202501.csv", "好差评_202502.xlsx", "好差评_202503.csv"}


# -- tests -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["truncated-xlsx", "utf8-csv", "empty", "missing-header"])
def test_good_months_land_beside_a_bad_file_which_is_recorded(tmp_path, inbox, sources, kind):
    name, content, phrase = bad_content(kind, tmp_path)
    bad = deliver(inbox, name, content, dt.datetime(2025, 5, 10, 8, 0, 0))
    warehouse = tmp_path / "w.duckdb"
    result = load(sources, warehouse)
    assert landed_files(warehouse) == GOOD_NAMES == landed_sources(warehouse)
    assert result.rows_read == 9
    assert bad.exists()  # kept in the inbox for the department to see
    ((file_name, month, status, reason),) = problems(warehouse)
    assert (file_name, month, status) == (name, BAD_MONTH, "rejected")
    assert phrase in reason
    ((severity, kind_, message),) = alerts(warehouse)
    assert (severity, kind_) == ("warning", "file_rejected")
    assert name in message and phrase in message
    assert name in result.message  # the run's own record says which file was set aside

    # The next run: the same bad file is not recorded nor alerted again.
    load(sources, warehouse)
    assert len(problems(warehouse)) == 1 and len(alerts(warehouse)) == 1


def test_a_file_missing_a_required_header_names_the_file_and_the_column(tmp_path, inbox, sources):
    name, content, _ = bad_content("missing-header", tmp_path)
    deliver(inbox, name, content, dt.datetime(2025, 5, 10, 8, 0, 0))
    warehouse = tmp_path / "w.duckdb"
    load(sources, warehouse)
    ((_, _, message),) = alerts(warehouse)
    assert name in message and "PJSJ" in message and HEADERS_ZH["PJSJ"] in message


def test_names_outside_the_convention_are_recorded_as_ignored(tmp_path, inbox, sources):
    deliver(inbox, "说明.txt", b"readme", dt.datetime(2025, 5, 10, 8, 0, 0))
    deliver(inbox, "好差评_2025-04.csv", csv_bytes(good_header(), rows_of(BAD_MONTH)),
            dt.datetime(2025, 5, 10, 8, 0, 0))  # fmt: skip
    deliver(inbox, "好差评_202513.csv", b"x", dt.datetime(2025, 5, 10, 8, 0, 0))
    warehouse = tmp_path / "w.duckdb"
    load(sources, warehouse)
    assert landed_files(warehouse) == GOOD_NAMES
    recorded = {(name, status) for name, _, status, _ in problems(warehouse)}
    assert recorded == {
        ("说明.txt", "ignored"),
        ("好差评_2025-04.csv", "ignored"),
        ("好差评_202513.csv", "ignored"),
    }
    notices = alerts(warehouse)
    assert {severity for severity, _, _ in notices} == {"info"}
    assert {kind for _, kind, _ in notices} == {"file_ignored"}
    assert all(any(name in m for _, _, m in notices) for name, _ in recorded)
    load(sources, warehouse)  # unchanged: not recorded again
    assert len(problems(warehouse)) == 3 and len(alerts(warehouse)) == 3


def test_a_later_good_delivery_of_the_bad_month_lands(tmp_path, inbox, sources):
    name, content, _ = bad_content("utf8-csv", tmp_path)
    deliver(inbox, name, content, dt.datetime(2025, 5, 10, 8, 0, 0))
    warehouse = tmp_path / "w.duckdb"
    load(sources, warehouse)
    assert landed_files(warehouse) == GOOD_NAMES

    # Still bad but changed: recorded and alerted again.
    deliver(inbox, name, b"", dt.datetime(2025, 5, 11, 8, 0, 0))
    load(sources, warehouse)
    assert [p[3] for p in problems(warehouse)][1].endswith("is empty")
    assert len(alerts(warehouse)) == 2

    # The department re-delivers the month correctly, under the same name.
    deliver(inbox, name, csv_bytes(good_header(), rows_of(BAD_MONTH)), dt.datetime(2025, 5, 12))
    result = load(sources, warehouse)
    assert result.rows_read == 3
    assert landed_files(warehouse) == GOOD_NAMES | {name} == landed_sources(warehouse)
    months = dict(query(warehouse, "SELECT month, count(*) FROM meta.files GROUP BY month"))
    assert months[BAD_MONTH] == 1
    assert len(alerts(warehouse)) == 2  # nothing wrong any more
    pjbh = {p for (p,) in query(warehouse, "SELECT PJBH FROM raw.hcp_pj")}
    assert {r[0] for r in rows_of(BAD_MONTH)} <= pjbh


def test_a_bad_redelivery_in_the_other_extension_leaves_the_good_month_in_force(
    tmp_path, inbox, sources
):
    warehouse = tmp_path / "w.duckdb"
    load(sources, warehouse)
    whole = xlsx_bytes(tmp_path, "202503")
    deliver(inbox, "好差评_202503.xlsx", whole[:100], dt.datetime(2025, 5, 20))
    result = load(sources, warehouse)
    assert result.rows_read == 0
    latest = dict(
        query(warehouse, "SELECT month, arg_max(file_name, arrival) FROM meta.files GROUP BY month")
    )
    assert latest["202503"] == "好差评_202503.csv"
    assert [(p[0], p[2]) for p in problems(warehouse)] == [("好差评_202503.xlsx", "rejected")]


def test_the_command_line_names_the_file_set_aside(tmp_path, inbox, sources, capsys):
    name, content, _ = bad_content("empty", tmp_path)
    deliver(inbox, name, content, dt.datetime(2025, 5, 10, 8, 0, 0))
    argv = ["--sources", str(sources), "--warehouse", str(tmp_path / "w.duckdb"), "run"]
    assert ingestion_main(argv) == 0  # the good months loaded: the run did its job
    printed = capsys.readouterr().err
    assert f"evaluation_hcp: {name} kept in the inbox, not loaded" in printed
