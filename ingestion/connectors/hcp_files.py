"""The 好差评 system's monthly file drops (sources.yaml evaluation_hcp; defects.md D10).

The department drops one file per month into an inbox folder: ``好差评_YYYYMM.csv`` (GBK,
Chinese headers, CRLF) or ``好差评_YYYYMM.xlsx`` (a merged title row, the header row, the
data, and a last row whose first cell is 合计). A month delivered again replaces the earlier
delivery of that month: the same file overwritten, or the other extension next to it.

:class:`FileDropConnector` scans the inbox and yields one :class:`~ingestion.batch.Batch`
per file not yet known to the warehouse (by name, size and SHA-256), in arrival order. The
frame has the contract's column names (mapped from the Chinese headers), every value as
text, PJSJ/ZGWCSJ normalised to ``YYYY-MM-DD HH:MM:SS`` where they parse (otherwise passed
through unchanged for the landing code to quarantine). Nothing is dropped: only the title,
header, 合计 footer and wholly blank rows are left out, and they are counted in the details.

One bad file does not block the others (issue 29): a file that cannot be read as the
convention says (not GBK, not a workbook, empty, a required column missing from its header)
is set aside in :attr:`~FileDropConnector.problems` as *rejected* and stays in the inbox; an
entry named outside the convention is listed there as *ignored*. The runner records both
(ingestion.file_problems).

:func:`in_force` says which delivery of each month is in force (kpis.md, "Ratings delivered
as files"): the one that arrived last by its recorded arrival time; a tie goes to the later
name.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import python_calamine

from contract import load_contract
from ingestion.batch import Batch, SourceError
from ingestion.config import SystemConfig
from ingestion.file_problems import IGNORED, REJECTED, FileProblem

SYSTEM = "evaluation_hcp"
TABLE = "hcp_pj"
TIMESTAMP_COLUMNS = ("PJSJ", "ZGWCSJ")
FILE_NAME = re.compile(r"^好差评_(?P<month>\d{6})\.(?P<ext>csv|xlsx)$", re.IGNORECASE)
FOOTER = "合计"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai: no DST since 1991
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
# Serial numbers read as timestamps: 1970-01-01 up to 2100-01-01. Outside, a number is not a
# rating time (a stray count, a year) and goes through unchanged to be quarantined.
SERIAL_RANGE = (25_569, 73_051)
HEADER_SCAN_ROWS = 20  # the header is looked for among the first rows of a file

# The forms of a timestamp (defects.md D10); names as the simulator's manifest uses them.
# A text timestamp needs its time of day: a bare date is not a rating time.
_SLASH = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?$")
_DASH = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")

Progress = Callable[[str, str, int], None]  # (system, file name, rows) once per file read


# -- which delivery is in force -----------------------------------------------------------
def in_force(files: Iterable[dict]) -> dict[str, str]:
    """Month (YYYYMM) -> name of the file in force: the latest arrival, a tie to the later name.

    Each item needs the file name (``file_name`` or ``name``) and its arrival as recorded
    when first seen (``arrival`` or ``delivered_at``, text ``YYYY-MM-DD HH:MM:SS`` or a
    datetime); the month is ``month`` or else taken from the name. Items whose name is not
    a 好差评 file and that carry no month are ignored.
    """
    best: dict[str, tuple[str, str]] = {}
    for item in files:
        name = item.get("file_name") or item.get("name")
        if not name:
            continue
        month = _month_of(name, item)
        if month is None:
            continue
        arrival = item.get("arrival", item.get("delivered_at"))
        if isinstance(arrival, dt.datetime):
            arrival = arrival.strftime("%Y-%m-%d %H:%M:%S")
        candidate = (str(arrival or ""), name)
        if month not in best or candidate > best[month]:
            best[month] = candidate
    return {month: name for month, (_, name) in sorted(best.items())}


def _month_of(name: str, info: dict) -> str | None:
    if info.get("month"):
        return str(info["month"])
    match = FILE_NAME.match(name)
    return match["month"] if match else None


def arrival_text(mtime: float) -> str:
    """A modification time as naive Asia/Shanghai text, to the second."""
    moment = dt.datetime.fromtimestamp(math.floor(mtime), tz=SHANGHAI)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class FileDropConnector:
    """The Connector of a system delivered as files into ``config.inbox``.

    ``extract(watermarks, known_files)`` yields one batch (table ``hcp_pj``, mode ``file``)
    per file that is new or whose content changed since the warehouse recorded it;
    ``known_files`` maps file name -> {"size", "sha256", "arrival"} as recorded.
    ``watermarks`` is accepted for the protocol and not used: files are tracked by content.
    After a scan, :attr:`skipped` lists the inbox entries that were not read, with a reason;
    after an extract, :attr:`problems` lists the files set aside (rejected or ignored).
    """

    def __init__(self, config: SystemConfig, progress: Progress | None = None) -> None:
        if config.delivery != "files" or config.inbox is None:
            raise ValueError(f"{config.name} is not delivered as files into an inbox")
        self.config = config
        self.system = config.name
        if config.tables and set(config.tables) != {TABLE}:
            raise ValueError(f"{config.name}: a 好差评 drop delivers {TABLE} only")
        self.table = TABLE
        self.inbox = Path(config.inbox)
        self.progress = progress
        self.skipped: list[dict[str, str]] = []
        self.problems: list[FileProblem] = []
        contract_system = load_contract().systems[SYSTEM]
        self.columns: list[str] = contract_system.tables[TABLE].column_names
        self.required = [c.name for c in contract_system.tables[TABLE].columns if c.required]
        self.headers_zh = contract_system.headers_zh
        self.headers = _header_map(contract_system.headers_zh, self.columns)

    # -- scanning -------------------------------------------------------------------------
    def scan(self) -> list[dict[str, Any]]:
        """Every 好差评 file in the inbox: name, path, month, format, size, mtime, arrival.

        Sorted by arrival, then name. Other entries go to :attr:`skipped`.
        """
        if not self.inbox.is_dir():
            raise SourceError(f"{self.system}: the inbox {self.inbox} does not exist")
        files, skipped = [], []
        self.problems = []
        for path in sorted(self.inbox.iterdir()):
            reason = _off_convention(path)
            if reason:
                skipped.append({"file_name": path.name, "reason": reason})
                self.problems.append(_ignored(path, reason))
                continue
            match = FILE_NAME.match(path.name)
            month = match["month"]
            stat = path.stat()
            files.append(
                {
                    "file_name": path.name,
                    "path": path,
                    "month": month,
                    "format": match["ext"].lower(),
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "arrival": arrival_text(stat.st_mtime),
                }
            )
        self.skipped = skipped
        return sorted(files, key=lambda f: (f["arrival"], f["file_name"]))

    def extract(
        self, watermarks: dict[str, str] | None = None, known_files: dict[str, dict] | None = None
    ) -> Iterator[Batch]:
        known = dict(known_files or {})
        pending = self._pending(known)
        recorded = {
            name: {**info, "file_name": name, "month": _month_of(name, info)}
            for name, info in known.items()
        }
        outcomes: dict[str, object] = {}
        for i, (entry, data, sha, seen) in enumerate(pending):
            read = self._outcome(entry, data, sha, outcomes)
            if isinstance(read, FileProblem):
                continue  # set aside: the other files still load
            # Which delivery of the month is in force once the good files of this run are
            # recorded too: a later file of the month is read ahead, as it may be bad.
            for later in pending[i + 1 :]:
                if later[0]["month"] == entry["month"]:
                    self._outcome(*later[:3], outcomes)
            for other, *_ in pending:
                if _good(outcomes.get(other["file_name"])):
                    recorded[other["file_name"]] = _recorded(other)
            yield self._batch(entry, read, sha, seen, recorded, in_force(recorded.values()))
            outcomes[entry["file_name"]] = _LANDED  # its frame is handed on: not kept here

    def _pending(self, known: dict[str, dict]) -> list[tuple]:
        """(entry, bytes, sha256, as known) of each file new or changed since recorded."""
        pending = []
        for entry in self.scan():
            data = self._read_bytes(entry)
            if data is None:
                continue
            sha = hashlib.sha256(data).hexdigest()
            seen = known.get(entry["file_name"])
            if (
                seen
                and int(seen.get("size", -1)) == len(data)
                and str(seen.get("sha256", "")).lower() == sha
            ):
                continue  # already landed: same name, same content
            pending.append((entry, data, sha, seen))
        return pending

    def _outcome(self, entry: dict, data: bytes, sha: str, outcomes: dict) -> object:
        """The file read into a frame, or the problem that sets it aside (once per file)."""
        name = entry["file_name"]
        if name not in outcomes:
            try:
                outcomes[name] = self._read(entry, data)
            except SourceError as exc:
                outcomes[name] = _rejected(entry, sha, str(exc))
                self.problems.append(outcomes[name])
        return outcomes[name]

    def _read(self, entry: dict, data: bytes) -> _Read:
        name = entry["file_name"]
        if entry["format"] == "csv":
            rows = _csv_rows(name, data)
        else:
            rows = _xlsx_rows(name, data, self.headers)
        parsed = _parse(name, rows, self.headers, self.columns)
        self._check_required(name, parsed)
        frame, forms = _frame(parsed, self.columns)
        return _Read(frame, forms, parsed)

    def _check_required(self, name: str, parsed: dict) -> None:
        """A file whose header lacks a required column cannot land: set aside, named."""
        lacking = [c for c in self.required if c in parsed["missing"]]
        if lacking:
            columns = ", ".join(f"{c} ({self.headers_zh.get(c, c)})" for c in lacking)
            raise SourceError(
                f"{SYSTEM}: {name} lacks the required column {columns} in its header "
                f"(row {parsed['header_row']})"
            )

    def _read_bytes(self, entry: dict[str, Any]) -> bytes | None:
        """The file's bytes, or None (listed in `skipped`) while it is still being written
        or when it cannot be read (set aside in `problems`)."""
        path = entry["path"]
        try:
            data = path.read_bytes()
            after = path.stat()
        except FileNotFoundError:
            self.skipped.append({"file_name": entry["file_name"], "reason": "vanished"})
            return None
        except OSError as exc:  # e.g. no permission: this file only, the others still load
            reason = f"{self.system}: cannot read {entry['file_name']}: {exc}"
            self.problems.append(_rejected(entry, None, reason))
            return None
        if (
            after.st_mtime_ns != entry["mtime_ns"]
            or after.st_size != entry["size"]
            or len(data) != entry["size"]
        ):
            self.skipped.append(
                {"file_name": entry["file_name"], "reason": "changing while read: next run"}
            )
            return None
        return data

    def _batch(self, entry, read: _Read, sha, seen, recorded, force) -> Batch:
        name = entry["file_name"]
        frame, forms, parsed = read
        others = sorted(
            n for n, info in recorded.items() if n != name and info["month"] == entry["month"]
        )
        details = {
            "file_name": name,
            "month": entry["month"],
            "size": entry["size"],
            "sha256": sha,
            "arrival": entry["arrival"],
            "format": entry["format"],
            "rows": frame.height,
            "pjsj_forms": forms["PJSJ"],
            "zgwcsj_forms": forms["ZGWCSJ"],
            "missing_columns": parsed["missing"],
            "extra_columns": parsed["extra"],
            "header_row": parsed["header_row"],
            "preamble_rows": parsed["preamble_rows"],
            "footer_rows": parsed["footer_rows"],
            "blank_rows": parsed["blank_rows"],
            "overwritten": seen is not None,  # the same name delivered with new content
            "other_files_of_month": others,  # known to the warehouse or read in this run
            "in_force": force.get(entry["month"]) == name,
            "skipped": list(self.skipped),
        }
        if parsed["duplicate_columns"]:
            details["duplicate_columns"] = parsed["duplicate_columns"]
        if self.progress:
            self.progress(self.system, name, frame.height)
        return Batch(
            system=self.system,
            table=self.table,
            frame=frame,
            source=name,
            watermark=entry["arrival"],
            mode="file",
            details=details,
        )

    in_force = staticmethod(in_force)


class _Read(NamedTuple):
    frame: pl.DataFrame
    forms: dict[str, dict[str, int]]
    parsed: dict


_LANDED = object()  # a file read and handed on in this extract


def _good(outcome: object) -> bool:
    """A file read (or handed on) in this extract, not set aside nor still unread."""
    return outcome is not None and not isinstance(outcome, FileProblem)


def _recorded(entry: dict) -> dict:
    return {"file_name": entry["file_name"], "arrival": entry["arrival"], "month": entry["month"]}


def _off_convention(path: Path) -> str | None:
    """Why an inbox entry is no 好差评 file, or None when its name follows the convention."""
    if not path.is_file():
        return "not a file"
    match = FILE_NAME.match(path.name)
    if not match:
        return "its name is not 好差评_YYYYMM.csv or .xlsx"
    if not 1 <= int(match["month"][4:]) <= 12:
        return f"its name has no month {match['month']}"
    return None


def _ignored(path: Path, reason: str) -> FileProblem:
    try:
        stat = path.stat()
    except OSError:  # gone meanwhile: named all the same
        return FileProblem(path.name, IGNORED, reason)
    size = stat.st_size if path.is_file() else None
    return FileProblem(path.name, IGNORED, reason, None, size, None, arrival_text(stat.st_mtime))


def _rejected(entry: dict, sha: str | None, reason: str) -> FileProblem:
    return FileProblem(
        entry["file_name"], REJECTED, reason, entry["month"], entry["size"], sha, entry["arrival"]
    )


# -- reading the two formats --------------------------------------------------------------
def _csv_rows(name: str, data: bytes) -> list[list[Any]]:
    if data.startswith(b"\xef\xbb\xbf"):
        raise SourceError(f"{SYSTEM}: {name} is not GBK (it starts with a UTF-8 byte order mark)")
    try:
        text = data.decode("gbk")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{SYSTEM}: {name} cannot be decoded as GBK (byte {exc.start}: {exc.reason})"
        ) from exc
    if not text.strip():
        raise SourceError(f"{SYSTEM}: {name} is empty")
    if _looks_utf8(data):  # GBK Chinese is practically never valid UTF-8: this is mojibake
        raise SourceError(f"{SYSTEM}: {name} is not GBK (its bytes are UTF-8 text)")
    return list(csv.reader(io.StringIO(text, newline="")))


def _looks_utf8(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(ord(ch) > 127 for ch in text)


def _xlsx_rows(name: str, data: bytes, headers: dict[str, str]) -> list[list[Any]]:
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        try:
            sheets = [
                book.get_sheet_by_index(i).to_python(skip_empty_area=False)
                for i, meta in enumerate(book.sheets_metadata)
                if str(meta.typ).endswith("WorkSheet")
            ]
        finally:
            book.close()
    except Exception as exc:  # calamine raises its own errors, zip and XML errors alike
        raise SourceError(f"{SYSTEM}: {name} is not a readable XLSX workbook ({exc})") from exc
    if not sheets:
        raise SourceError(f"{SYSTEM}: {name} has no worksheet")
    # The first sheet that carries the header; else the first sheet.
    for rows in sheets:
        if _header_index(rows, headers) is not None:
            return rows
    return sheets[0]


# -- rows to a frame ------------------------------------------------------------------------
def _header_map(headers_zh: dict[str, str], columns: list[str]) -> dict[str, str]:
    """Header text (normalised) -> contract column: the Chinese headers and the names."""
    out = {_norm_header(zh): column for column, zh in headers_zh.items()}
    out.update({_norm_header(c): c for c in columns})
    return out


def _norm_header(value: Any) -> str:
    text = _cell_text(value) or ""
    return re.sub(r"\s+", "", text.replace("\ufeff", "")).casefold()


def _empty(value: Any) -> bool:
    text = _cell_text(value)
    return text is None or not text.strip()


def _blank(row: list[Any]) -> bool:
    return all(_empty(v) for v in row)


def _header_index(rows: list[list[Any]], headers: dict[str, str]) -> int | None:
    """The first row (among the first few) with at least two known headers."""
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        if sum(1 for v in row if _norm_header(v) in headers) >= 2:
            return i
    return None


def _parse(name: str, rows: list[list[Any]], headers: dict[str, str], columns: list[str]) -> dict:
    header_at = _header_index(rows, headers)
    if header_at is None:  # no known header: the first row of several cells (drift decides)
        filled = [sum(not _empty(v) for v in row) for row in rows]
        header_at = next((i for i, n in enumerate(filled) if n >= 2), None)
        if header_at is None:
            header_at = next((i for i, n in enumerate(filled) if n), None)
        if header_at is None:
            raise SourceError(f"{SYSTEM}: {name} has no header row")
    header = rows[header_at]
    data = rows[header_at + 1 :]
    width = max([len(header), *(len(r) for r in data)], default=0)
    names: list[str | None] = []
    extra, duplicates = [], []
    for c in range(width):
        raw = _cell_text(header[c]) if c < len(header) else None
        raw = (raw or "").replace("\ufeff", "").strip()
        column = headers.get(_norm_header(raw)) if raw else None
        if column is None:
            if not raw:
                if all(c >= len(r) or _empty(r[c]) for r in data):
                    names.append(None)  # an empty column without a header: nothing there
                    continue
                raw = f"column_{c + 1}"
            column = raw
            if column not in extra:
                extra.append(column)
        if column in names:
            duplicates.append(column)
            column = f"{column}#{c + 1}"
            extra.append(column)
        names.append(column)
    present = [n for n in names if n is not None]
    missing = [c for c in columns if c not in present]
    values: dict[str, list[Any]] = {n: [] for n in present}
    blank = footer = 0
    for row in data:
        if _blank(row):
            blank += 1
            continue
        first = _cell_text(row[0]) if row else None
        if first is not None and first.strip() == FOOTER:
            footer += 1
            continue
        for c, column in enumerate(names):
            if column is not None:
                values[column].append(row[c] if c < len(row) else None)
    return {
        "names": present,
        "values": values,
        "missing": missing,
        "extra": [e for e in extra if e in present],
        "duplicate_columns": duplicates,
        "header_row": header_at + 1,
        "preamble_rows": sum(1 for r in rows[:header_at] if not _blank(r)),
        "footer_rows": footer,
        "blank_rows": blank,
    }


def _frame(parsed: dict, columns: list[str]) -> tuple[pl.DataFrame, dict[str, dict[str, int]]]:
    order = [c for c in columns if c in parsed["names"]]
    order += [c for c in parsed["names"] if c not in order]
    out: dict[str, list[str | None]] = {}
    forms: dict[str, dict[str, int]] = {c: {} for c in TIMESTAMP_COLUMNS}
    for column in order:
        cells = parsed["values"][column]
        if column in TIMESTAMP_COLUMNS:
            counts: Counter[str] = Counter()
            texts = []
            for value in cells:
                text, form = normalise_timestamp(value)
                counts[form] += 1
                texts.append(text)
            forms[column] = dict(sorted(counts.items()))
            out[column] = texts
        else:
            out[column] = [_cell_text(v) for v in cells]
    frame = pl.DataFrame(out, schema=dict.fromkeys(order, pl.Utf8))
    return frame, forms


# -- cell values ------------------------------------------------------------------------------
def _cell_text(value: Any) -> str | None:
    """A cell as text: '' and None are null; numbers without a spurious '.0'."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    return str(value)


def normalise_timestamp(value: Any) -> tuple[str | None, str]:
    """(``YYYY-MM-DD HH:MM:SS`` or the value unchanged as text, the form it was in).

    Forms: ``slash`` (2025/3/5 9:07), ``dash`` (2025-03-05 09:07:00), ``compact``
    (20250305090700), ``excel`` (a serial number of days since 1899-12-30, as a number or as
    number text), ``datetime`` (a date cell of the workbook), ``blank`` and ``unparsed``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "blank"
    if isinstance(value, dt.datetime):
        return _render(value.replace(microsecond=0) + _half_second(value)), "datetime"
    if isinstance(value, dt.date):
        return _render(dt.datetime(value.year, value.month, value.day)), "datetime"
    if isinstance(value, bool):
        return _cell_text(value), "unparsed"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return _cell_text(value), "unparsed"
        if float(value).is_integer() and len(str(int(value))) == 14:
            stamp = _from_compact(str(int(value)))
            if stamp:
                return stamp, "compact"
        stamp = _from_serial(float(value))
        return (stamp, "excel") if stamp else (_cell_text(value), "unparsed")
    text = str(value)
    stripped = text.strip()
    for pattern, form in ((_DASH, "dash"), (_SLASH, "slash")):
        match = pattern.match(stripped)
        if match:
            stamp = _from_parts(match.groups())
            return (stamp, form) if stamp else (text, "unparsed")
    if _COMPACT.match(stripped):
        stamp = _from_compact(stripped)
        return (stamp, "compact") if stamp else (text, "unparsed")
    if _SERIAL.match(stripped):
        stamp = _from_serial(float(stripped))
        return (stamp, "excel") if stamp else (text, "unparsed")
    return text, "unparsed"


def _half_second(value: dt.datetime) -> dt.timedelta:
    return dt.timedelta(seconds=1) if value.microsecond >= 500_000 else dt.timedelta(0)


def _render(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _from_parts(parts: tuple[str | None, ...]) -> str | None:
    year, month, day, hour, minute, second = (int(p) if p else 0 for p in parts)
    try:
        return _render(dt.datetime(year, month, day, hour, minute, second))
    except ValueError:
        return None


def _from_compact(text: str) -> str | None:
    match = _COMPACT.match(text)
    return _from_parts(match.groups()) if match else None


def _from_serial(days: float) -> str | None:
    if not SERIAL_RANGE[0] <= days < SERIAL_RANGE[1]:
        return None
    return _render(EXCEL_EPOCH + dt.timedelta(seconds=round(days * 86400)))
