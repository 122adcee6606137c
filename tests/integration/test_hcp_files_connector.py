"""The 好差评 file-drop connector against a generated city's inbox (defects.md D10)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from contract import load_contract
from ingestion.config import SystemConfig, TableConfig
from ingestion.connectors.hcp_files import FileDropConnector, in_force, normalise_timestamp
from ingestion.file_problems import FileProblem
from simulator.run import advance_city, generate_city
from tests.conftest import small_config

pytestmark = pytest.mark.integration

COLUMNS = load_contract().systems["evaluation_hcp"].tables["hcp_pj"].column_names
HEADERS_ZH = load_contract().systems["evaluation_hcp"].headers_zh
TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
FORMS = {"slash", "dash", "compact", "excel"}


# -- helpers ----------------------------------------------------------------------------------
def connector(inbox: Path, progress=None) -> FileDropConnector:
    config = SystemConfig(
        name="evaluation_hcp",
        delivery="files",
        schedule="@daily",
        tables={"hcp_pj": TableConfig("hcp_pj", ("PJBH",), None, "file")},
        inbox=inbox,
    )
    return FileDropConnector(config, progress=progress)


def recorded(batches, known: dict | None = None) -> dict[str, dict]:
    """known_files as the warehouse would record them after landing `batches`."""
    out = dict(known or {})
    for b in batches:
        out[b.details["file_name"]] = {k: b.details[k] for k in ("size", "sha256", "arrival")}
    return out


def manifest(city: Path) -> sqlite3.Connection:
    return sqlite3.connect(city / "manifest" / "manifest.sqlite")


def delivered_rows(city: Path) -> dict[str, int]:
    """hcp_deliveries.rows of each file name's latest delivery (its current content)."""
    with manifest(city) as conn:
        rows = conn.execute(
            "SELECT file_name, rows FROM hcp_deliveries ORDER BY delivered_at"
        ).fetchall()
    return dict(rows)


def independent_count(path: Path) -> int:
    """Data rows of a drop read without the connector: no header, title, 合计 or blank rows."""
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gbk"), newline="")))
        data = rows[1:]
    else:
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        data = list(sheet.iter_rows(min_row=3, values_only=True))
    return sum(
        1 for row in data if any(v not in (None, "") for v in row) and str(row[0]).strip() != "合计"
    )


def set_mtime(path: Path, when: dt.datetime) -> None:
    stamp = when.replace(tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    os.utime(path, (stamp, stamp))


def copy_inbox(city: Path, tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    shutil.copytree(city / "inbox" / "evaluation_hcp", inbox, copy_function=shutil.copy2)
    return inbox


def write_gbk_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("gbk"))


def read_gbk_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("gbk"), newline="")))


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hcp") / "city"
    generate_city(small_config(people=600, months=6, seed=4), out)
    return out


@pytest.fixture(scope="module")
def first_run(city):
    hcp = connector(city / "inbox" / "evaluation_hcp")
    return list(hcp.extract({}))


# -- tests ------------------------------------------------------------------------------------
def test_every_file_yields_its_data_rows(city, first_run):
    inbox = city / "inbox" / "evaluation_hcp"
    files = sorted(p.name for p in inbox.iterdir())
    assert sorted(b.source for b in first_run) == files
    expected_rows = delivered_rows(city)
    arrivals = [(b.details["arrival"], b.details["file_name"]) for b in first_run]
    assert arrivals == sorted(arrivals)
    for batch in first_run:
        name = batch.details["file_name"]
        assert batch.system == "evaluation_hcp" and batch.table == "hcp_pj"
        assert batch.mode == "file"
        assert batch.frame.columns == COLUMNS
        assert all(str(t) == "String" for t in batch.frame.dtypes)
        assert batch.frame.height == batch.details["rows"]
        assert batch.frame.height == independent_count(inbox / name), name
        assert batch.frame.height == expected_rows[name], name
        assert batch.details["missing_columns"] == [] and batch.details["extra_columns"] == []
        assert batch.details["month"] == name[4:10]
        assert batch.details["format"] == name.rsplit(".", 1)[1]
        assert len(batch.details["sha256"]) == 64
        assert batch.details["size"] == (inbox / name).stat().st_size
        assert "合计" not in batch.frame["PJBH"].to_list()
        assert batch.frame["PJBH"].null_count() == 0
        for code in ("PJQD", "PJDJ"):
            assert all(re.fullmatch(r"\d", v) for v in batch.frame[code].to_list()), code
        if batch.details["format"] == "xlsx":
            assert batch.details["footer_rows"] == 1 and batch.details["header_row"] == 2


def test_timestamps_match_the_manifest_in_every_form(city, first_run):
    with manifest(city) as conn:
        d10 = conn.execute(
            "SELECT key, detail, expected FROM defects WHERE defect = 'D10'"
        ).fetchall()
        copies = {
            (key, detail.split("|")[0])
            for key, detail in conn.execute(
                "SELECT key, detail FROM defects WHERE defect = 'D1' AND table_name = 'hcp_pj'"
            )
        }
    truth, forms = {}, {}
    for key, detail, expected in d10:
        name, form = detail.split("|")
        truth[(name, key)] = expected
        weight = 2 if (key, name) in copies else 1
        forms.setdefault(name, Counter())[form] += weight
    seen = set()
    for batch in first_run:
        name = batch.details["file_name"]
        for pjbh, pjsj in batch.frame.select("PJBH", "PJSJ").iter_rows():
            assert pjsj == truth[(name, pjbh)], (name, pjbh)
        assert batch.details["pjsj_forms"] == dict(forms[name]), name
        for value in batch.frame["ZGWCSJ"].drop_nulls().to_list():
            assert TS.match(value)
        seen |= set(batch.details["pjsj_forms"])
    assert seen == FORMS  # all four forms, Excel serials included


def test_known_files_are_not_read_again(city, first_run):
    hcp = connector(city / "inbox" / "evaluation_hcp")
    assert list(hcp.extract({}, known_files=recorded(first_run))) == []


def test_an_overwritten_file_is_read_again(city, first_run, tmp_path):
    inbox = copy_inbox(city, tmp_path)
    known = recorded(first_run)
    csv_batch = next(b for b in first_run if b.details["format"] == "csv")
    path = inbox / csv_batch.source
    # Touching a file without changing it brings nothing.
    set_mtime(path, dt.datetime(2030, 1, 1, 8, 0, 0))
    assert list(connector(inbox).extract({}, known)) == []
    rows = read_gbk_csv(path)
    write_gbk_csv(path, rows[0], rows[1:-1])
    set_mtime(path, dt.datetime(2030, 1, 2, 9, 30, 0))
    batches = list(connector(inbox).extract({}, known))
    assert [b.source for b in batches] == [path.name]
    details = batches[0].details
    assert details["overwritten"] is True and details["in_force"] is True
    assert details["arrival"] == "2030-01-02 09:30:00"
    assert details["rows"] == batches[0].frame.height == len(rows) - 2
    assert details["sha256"] != known[path.name]["sha256"]
    assert list(connector(inbox).extract({}, recorded(batches, known))) == []


def test_a_month_redelivered_in_the_other_extension(city, first_run, tmp_path):
    copy = tmp_path / "city"
    shutil.copytree(city, copy, copy_function=shutil.copy2)
    inbox = copy / "inbox" / "evaluation_hcp"
    known = recorded(first_run)

    def both_extensions() -> bool:
        months = Counter(p.name[4:10] for p in inbox.iterdir())
        return any(n > 1 for n in months.values())

    for _ in range(6):  # each advance re-delivers the latest month, in either extension
        advance_city(copy, 1)
        if both_extensions():
            break
    assert both_extensions()
    batches = list(connector(inbox).extract({}, known))
    assert batches
    known = recorded(batches, known)
    files = [{"file_name": name, **info} for name, info in known.items()]
    with manifest(copy) as conn:
        truth = dict(conn.execute("SELECT month, file_name FROM hcp_deliveries WHERE in_force = 1"))
        rows = dict(
            conn.execute("SELECT file_name, rows FROM hcp_deliveries ORDER BY delivered_at")
        )
    assert in_force(files) == truth
    assert FileDropConnector.in_force(files) == truth
    for batch in batches:
        assert batch.details["in_force"] == (truth[batch.details["month"]] == batch.source)
        assert batch.frame.height == rows[batch.source]
    redelivered = [m for m, n in Counter(p.name[4:10] for p in inbox.iterdir()).items() if n > 1]
    for month in redelivered:
        names = [p.name for p in inbox.iterdir() if p.name[4:10] == month]
        latest = max(names, key=lambda n: (known[n]["arrival"], n))
        assert truth[month] == latest
        for batch in batches:
            if batch.details["month"] == month:
                others = set(names) - {batch.source}
                assert others <= set(batch.details["other_files_of_month"])
    assert list(connector(inbox).extract({}, known)) == []


def test_in_force_breaks_a_tie_by_the_later_name():
    files = [
        {"file_name": "好差评_202503.csv", "arrival": "2025-04-20 10:00:00"},
        {"file_name": "好差评_202503.xlsx", "arrival": "2025-04-20 10:00:00"},
        {"file_name": "好差评_202504.xlsx", "arrival": "2025-05-20 10:00:00"},
        {"file_name": "好差评_202504.csv", "arrival": "2025-05-03 10:00:00"},
    ]
    assert in_force(files) == {"202503": "好差评_202503.xlsx", "202504": "好差评_202504.xlsx"}


def set_aside(inbox: Path, first_run, name: str) -> FileProblem:
    """Extract the inbox: every other file still comes; `name` alone is set aside."""
    hcp = connector(inbox)
    batches = list(hcp.extract({}))
    assert sorted(b.source for b in batches) == sorted(b.source for b in first_run)
    (problem,) = hcp.problems
    assert (problem.file_name, problem.status, problem.month) == (name, "rejected", name[4:10])
    assert problem.size == (inbox / name).stat().st_size and len(problem.sha256) == 64
    assert name in problem.reason
    return problem


@pytest.mark.parametrize(
    "content",
    [
        b"\xc6\xc0\xbc\xdb\xb1\xe0\xba\xc5,\xff\xfe\x80\r\n",  # not GBK at all
        "评价编号,申办流水号,评价渠道,评价时间\r\nPJ1,1,1,2025-03-05 09:07:00\r\n".encode(),
        "\ufeff评价编号,申办流水号\r\nPJ1,1\r\n".encode(),  # UTF-8 with a byte order mark
        b"",
    ],
    ids=["bad-bytes", "utf-8", "utf-8-bom", "empty"],
)
def test_a_csv_that_is_not_gbk_is_set_aside(city, first_run, tmp_path, content):
    inbox = copy_inbox(city, tmp_path)
    (inbox / "好差评_202512.csv").write_bytes(content)
    set_mtime(inbox / "好差评_202512.csv", dt.datetime(2026, 1, 5, 3, 0, 0))
    problem = set_aside(inbox, first_run, "好差评_202512.csv")
    assert re.search("GBK|UTF-8|empty", problem.reason)


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_a_corrupt_xlsx_is_set_aside(city, first_run, tmp_path, kind):
    inbox = copy_inbox(city, tmp_path)
    real = next(inbox.glob("*.xlsx")).read_bytes()
    content = b"PK\x03\x04 not really a workbook" if kind == "garbage" else real[: len(real) // 2]
    (inbox / "好差评_202512.xlsx").write_bytes(content)
    problem = set_aside(inbox, first_run, "好差评_202512.xlsx")
    assert "not a readable XLSX workbook" in problem.reason


def test_a_header_missing_an_optional_column_is_reported(city, first_run, tmp_path):
    inbox = copy_inbox(city, tmp_path)
    known = recorded(first_run)
    path = next(inbox.glob("*.csv"))
    rows = read_gbk_csv(path)
    drop = rows[0].index(HEADERS_ZH["PJNR"])
    header = [h for i, h in enumerate(rows[0]) if i != drop] + ["备注"]
    data = [[v for i, v in enumerate(r) if i != drop] + ["x"] for r in rows[1:]]
    write_gbk_csv(path, header, data)
    set_mtime(path, dt.datetime(2030, 1, 1))
    (batch,) = connector(inbox).extract({}, known)
    assert batch.details["missing_columns"] == ["PJNR"]
    assert batch.details["extra_columns"] == ["备注"]
    assert batch.frame.columns == [c for c in COLUMNS if c != "PJNR"] + ["备注"]
    assert batch.frame.height == len(data)


def test_a_header_missing_a_required_column_is_set_aside_with_its_name(city, first_run, tmp_path):
    inbox = copy_inbox(city, tmp_path)
    known = recorded(first_run)
    path = next(inbox.glob("*.csv"))
    rows = read_gbk_csv(path)
    drop = rows[0].index(HEADERS_ZH["PJQD"])
    write_gbk_csv(path, *[[v for i, v in enumerate(r) if i != drop] for r in rows[:1]],
                  [[v for i, v in enumerate(r) if i != drop] for r in rows[1:]])  # fmt: skip
    set_mtime(path, dt.datetime(2030, 1, 1))
    hcp = connector(inbox)
    assert list(hcp.extract({}, known)) == []
    (problem,) = hcp.problems
    assert problem.file_name == path.name and problem.status == "rejected"
    assert f"lacks the required column PJQD ({HEADERS_ZH['PJQD']})" in problem.reason


def test_a_bad_later_file_of_a_month_leaves_the_earlier_one_in_force(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = inbox / "好差评_202503.csv"
    write_gbk_csv(good, [HEADERS_ZH[c] for c in COLUMNS],
                  [["PJ1", "1", "1", "2025/3/5 9:07", "5", "", "", ""]])  # fmt: skip
    set_mtime(good, dt.datetime(2025, 4, 2))
    (inbox / "好差评_202503.xlsx").write_bytes(b"PK\x03\x04 cut off")
    set_mtime(inbox / "好差评_202503.xlsx", dt.datetime(2025, 4, 20))
    hcp = connector(inbox)
    (batch,) = hcp.extract({})
    assert batch.source == good.name
    assert batch.details["in_force"] is True and batch.details["other_files_of_month"] == []
    assert [p.file_name for p in hcp.problems] == ["好差评_202503.xlsx"]


def test_an_xlsx_export_with_numeric_cells_and_odd_values(tmp_path):
    """Codes as numbers, PJSJ as a number or a date cell or garbage, blank trailing rows."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "好差评_202503.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("明细")
    sheet.merge_range(0, 0, 0, 7, "2025年3月政务服务好差评明细")
    sheet.write_row(1, 0, [HEADERS_ZH[c] for c in COLUMNS])
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    rows = [
        ["PJ1", 3607022025030501, 2.0, 20250305090700.0, 5.0, "好", None, None],
        ["PJ2", "360702202503050002", 3, 45721.38, 1, "差", 1.0, "2025/3/20 16:00"],
        ["PJ3", "360702202503050003", "1", "昨天下午", "4", None, None, None],
        ["PJ4", "360702202503050004", "1", "2025-02-30 10:00:00", "4", None, None, None],
        ["PJ5", "360702202503050005", "1", None, "4", None, None, None],
    ]
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    sheet.write_datetime(7, 0, dt.datetime(2025, 3, 7, 8, 5, 9), stamp)  # wrong column: kept
    sheet.write_string(7, 3, "2025-03-07 08:05:09")
    sheet.write_string(8, 0, "PJ7")
    sheet.write_datetime(8, 3, dt.datetime(2025, 3, 8, 12, 0, 0), stamp)
    sheet.write_string(9, 0, "合计")
    sheet.write_string(9, 1, "共7条")
    sheet.write_string(12, 5, "")  # blank trailing rows
    book.close()
    (outside := inbox / "说明.txt").write_text("readme", encoding="utf-8")
    (inbox / "好差评_202513.csv").write_bytes(b"")
    calls = []
    hcp = connector(inbox, progress=lambda *args: calls.append(args))
    (batch,) = hcp.extract({})
    assert calls == [("evaluation_hcp", path.name, 7)]
    frame = batch.frame
    assert frame.height == 7 == batch.details["rows"]
    assert frame["PJBH"].to_list() == [
        "PJ1",
        "PJ2",
        "PJ3",
        "PJ4",
        "PJ5",
        "2025-03-07 08:05:09",
        "PJ7",
    ]
    assert frame["SBLSH"][0] == "3607022025030501"
    assert frame["PJQD"].to_list()[:3] == ["2", "3", "1"]
    assert frame["PJDJ"].to_list()[:2] == ["5", "1"]
    assert frame["ZGZT"][1] == "1"
    assert frame["PJSJ"].to_list() == [
        "2025-03-05 09:07:00",
        "2025-03-05 09:07:12",
        "昨天下午",  # unparseable: passed through for the landing code to quarantine
        "2025-02-30 10:00:00",  # no such day: passed through as well
        None,
        "2025-03-07 08:05:09",
        "2025-03-08 12:00:00",
    ]
    assert frame["ZGWCSJ"][1] == "2025-03-20 16:00:00"
    assert batch.details["pjsj_forms"] == {
        "blank": 1,
        "compact": 1,
        "dash": 1,
        "datetime": 1,
        "excel": 1,
        "unparsed": 2,
    }
    skipped = {s["file_name"] for s in batch.details["skipped"]}
    assert skipped == {outside.name, "好差评_202513.csv"}
    ignored = {(p.file_name, p.status) for p in hcp.problems}
    assert ignored == {(outside.name, "ignored"), ("好差评_202513.csv", "ignored")}


def test_timestamp_forms():
    assert normalise_timestamp("2025/3/5 9:07") == ("2025-03-05 09:07:00", "slash")
    assert normalise_timestamp("2025-03-05 09:07:00") == ("2025-03-05 09:07:00", "dash")
    assert normalise_timestamp("20250305090700") == ("2025-03-05 09:07:00", "compact")
    assert normalise_timestamp(45721.37986111) == ("2025-03-05 09:07:00", "excel")
    assert normalise_timestamp("45721.37986111") == ("2025-03-05 09:07:00", "excel")
    assert normalise_timestamp(" 2025/03/05 09:07:59 ") == ("2025-03-05 09:07:59", "slash")
    assert normalise_timestamp("2025/13/5 9:07") == ("2025/13/5 9:07", "unparsed")
    assert normalise_timestamp("") == (None, "blank")
    assert normalise_timestamp("2025-03-05") == ("2025-03-05", "unparsed")  # no time of day
    assert normalise_timestamp("2025") == ("2025", "unparsed")
    assert normalise_timestamp(2025.0) == ("2025", "unparsed")  # not a plausible serial
    assert normalise_timestamp(dt.datetime(2025, 3, 5, 9, 6, 59, 600_000)) == (
        "2025-03-05 09:07:00",
        "datetime",
    )
