"""Entry points behind the CLI: generate a city, advance it, load it into real servers."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from simulator.city import City
from simulator.config import CityConfig
from simulator.defects import Manifest, ManifestJournal, replay
from simulator.drift import apply, parse_drift, undo
from simulator.generate import (
    DRIFT_COLUMN,
    CityError,
    Exchange,
    Progress,
    Projection,
    _quiet,
    days_drawn,
)
from simulator.parquet_exchange import ParquetExchange, shift_column
from simulator.parquet_exchange import merge_parts as merge_parquet_parts
from simulator.parquet_exchange import row_count as parquet_row_count
from simulator.parquet_exchange import table_counts as parquet_table_counts
from simulator.timeutil import at, ts

CITY_FILE = "city.json"
OUTPUTS = ("city.json", "exchange", "hotline", "inbox", "manifest", ".simulator")


def generate_city(
    config: CityConfig, out: Path, progress: Progress = _quiet, workers: int = 1
) -> dict:
    """Build the city into `out`. With `workers` 2 the case platform's days and the
    registries with the hotline run in two processes, which share out the case days as they
    go; their parts are merged: the same city, table by table (_generate_in_parts)."""
    out = Path(out)
    if config.exchange_format not in EXCHANGE_FORMATS:
        known = ", ".join(EXCHANGE_FORMATS)
        raise CityError(f"exchange format {config.exchange_format!r} is not one of {known}")
    _prepare(out)
    clock = at(config.end, 0)
    if workers > 1:
        _generate_in_parts(config, out, clock, progress)
    else:
        _project_part(config, out, out, clock, STAGE_ORDER, progress)
    if config.drift_column and config.defects:
        manifest = Manifest(out / "manifest" / "manifest.sqlite", truth=config.ground_truth)
        manifest.defect("case_platform", "bb_jl", "BBRY", "D11", "BBRY", "column added", "recorded")
        manifest.close()
    # The ratings scratch is rebuilt by `advance` from the days it needs: no need to keep it.
    (out / ".simulator" / "ratings.sqlite").unlink(missing_ok=True)
    summary = {
        "config": config.to_json(),
        "clock": ts(clock),
        "advances": [],
        "counts": _row_counts(out),
    }
    _write_city_file(out, summary)
    return summary


def advance_city(
    out: Path,
    days: int,
    progress: Progress = _quiet,
    drift: str | None = None,
    workers: int = 1,
) -> dict:
    out = Path(out)
    summary = read_city(out)
    config = CityConfig.from_json(summary["config"])
    before = dt.datetime.fromisoformat(summary["clock"])
    after = before + dt.timedelta(days=days)
    if days < 1:
        raise CityError("advance needs --days of at least 1")
    if after.date() > config.world_end:
        raise CityError(
            f"this city was generated for advances up to {config.world_end}; "
            f"{after.date()} is beyond: generate it again with more --months"
        )
    number = len(summary["advances"]) + 1
    wanted = parse_drift(drift) if drift else None
    if (wanted or summary.get("drift")) and config.exchange_format != "sqlite":
        raise CityError("schema drift (--drift) needs a city whose exchange is in SQLite")
    if summary.get("drift"):  # the department repaired last time's drift
        undo(out, parse_drift(summary.pop("drift")))
    manifest = Manifest(out / "manifest" / "manifest.sqlite", truth=config.ground_truth)
    exchange = open_exchange(config, out, create=False)
    projection = Projection(City(config), out, before, after, manifest, exchange, number, progress)
    if workers > 1:
        _advance_in_two(projection, exchange, manifest)
    else:
        _project(projection, force_redelivery=True)
    exchange.close()
    if wanted:  # after the day's rows are in: the export changes shape from now on
        _apply_drift(out, wanted, manifest)
        summary["drift"] = wanted.text
    manifest.close()
    summary["clock"] = ts(after)
    summary["advances"].append(
        {"advance_no": number, "days": days, "clock": ts(after), "changes": projection.counts}
    )
    summary["counts"] = _row_counts(out)
    _write_city_file(out, summary)
    return summary["advances"][-1]


def _apply_drift(out: Path, drift, manifest: Manifest) -> None:
    manifest.conn.commit()
    apply(out, drift)
    expected = (
        "recorded; the load goes on"
        if drift.kind == "added"
        else (f"{drift.system} fails its whole load naming {drift.table}.{drift.column}")
    )
    manifest.defect(
        drift.system, drift.table, drift.table, "D11", drift.column, drift.kind, expected
    )


# The projection's stages: the case platform's, and those of the registries and the hotline
# (an advance's second process). No stage reads what another writes (the city is a pure
# function of its config, each case day of its date), so they are independent.
CASE_STAGES = ("catalogue", "case_days", "rating_files")
REGISTRY_STAGES = (
    "hotline",
    "certificates",
    "groups",
    "grants",
    "entities",
    "population",
    "non_residents",
)


# One process's order: the case days, then the registries, the 好差评 drops last.
STAGE_ORDER = (*CASE_STAGES[:2], *REGISTRY_STAGES, CASE_STAGES[2])


def _project(projection: Projection, force_redelivery: bool, stages=None) -> None:
    for stage in STAGE_ORDER:
        if stages is not None and stage not in stages:
            continue
        if stage == "rating_files":
            projection.rating_files(force_redelivery)
        else:
            getattr(projection, stage)()


# The case days are handed out a week at a time: the case platform's process takes them from
# the front, the registries' process, once its own stages are done, from the back, so that
# neither process idles while the other works (the case days are most of the work).
CHUNK_DAYS = 7
# Days at the end that only the registries' process takes, whatever the timing: tests set
# it, so that a small city (whose registries finish last) still splits its case days.
RESERVED_TAIL_DAYS = 0


class DaySplit:
    """The case days not yet taken, shared by the two processes of a parallel generate."""

    def __init__(self, context, days: list[dt.date], reserved_tail: int = 0):
        self.days = days
        self.bounds = context.Array("i", [0, len(days)])  # days[front:back] are not taken
        self.front_limit = max(0, len(days) - reserved_tail)

    def from_front(self):
        """Chunks for the case platform's process, in order (it writes them one after the
        other into its own part)."""
        while True:
            with self.bounds.get_lock():
                front, back = self.bounds[0], min(self.bounds[1], self.front_limit)
                if front >= back:
                    return
                self.bounds[0] = end = min(front + CHUNK_DAYS, back)
            yield self.days[front:end]

    def from_back(self):
        """(first day's index, chunk) for the registries' process, latest first (each one
        goes into a part of its own, merged in the order of the days)."""
        while True:
            with self.bounds.get_lock():
                front, back = self.bounds[0], self.bounds[1]
                if front >= back:
                    return
                self.bounds[1] = start = max(back - CHUNK_DAYS, front)
            yield start, self.days[start:back]


def _generate_in_parts(config: CityConfig, out: Path, clock: dt.datetime, progress) -> None:
    """The case platform in one forked child, the registries and the hotline in another,
    each writing under `.simulator/parts/`; the case days are split between them as they
    go (DaySplit). Then one merge, and the 好差评 drops from all the days' ratings."""
    import multiprocessing

    parts_root = out / ".simulator" / "parts"
    context = multiprocessing.get_context("fork")
    split = DaySplit(context, case_days_of(config, clock), RESERVED_TAIL_DAYS)
    targets = {"cases": _project_cases, "registries": _project_registries}
    children = {
        name: context.Process(
            target=target,
            args=(config, out, parts_root, clock, split, progress),
            name=f"generate-{name}",
        )
        for name, target in targets.items()
    }
    for child in children.values():
        child.start()
    failed = []
    for name, child in children.items():
        child.join()
        if child.exitcode != 0:
            failed.append(f"{name} (exit {child.exitcode})")
    if failed:
        raise CityError(f"generating the city failed in worker {', '.join(failed)}")
    tails = sorted(parts_root.glob("days-*"))
    _merge_ratings(out, tails)
    merge_parts(out, [parts_root / "cases", parts_root / "registries", *tails], movable=2)
    shutil.rmtree(parts_root)
    manifest = Manifest(out / "manifest" / "manifest.sqlite", truth=config.ground_truth)
    projection = Projection(City(config), out, None, clock, manifest, None, 0, progress)
    projection.background_files = True
    projection.rating_files(force_redelivery=False)
    manifest.close()


def case_days_of(config: CityConfig, clock: dt.datetime) -> list[dt.date]:
    """The days whose cases a new city holds."""
    return days_drawn(config.start, None, clock, dt.timedelta(0))


def _project_cases(config, out: Path, parts_root: Path, clock, split: DaySplit, progress) -> None:
    """The catalogue and the case days taken from the front, into `parts/cases`."""
    with _part(config, out, parts_root / "cases", clock, City(config), progress) as projection:
        projection.catalogue()
        projection.case_days(split.from_front())


def _project_registries(config, out: Path, parts_root, clock, split: DaySplit, progress) -> None:
    """The registries and the hotline into `parts/registries`, then case days taken from the
    back, each chunk into `parts/days-<index>` with its own ratings scratch."""
    city = City(config)
    with _part(config, out, parts_root / "registries", clock, city, progress) as projection:
        _project(projection, force_redelivery=False, stages=REGISTRY_STAGES)
    for start, days in split.from_back():
        part = parts_root / f"days-{start:05d}"
        with _part(config, out, part, clock, city, progress) as projection:
            projection.case_days([days], scratch=part)


@contextmanager
def _part(config, out: Path, part: Path, clock, city: City, progress):
    """A Projection of a new city whose databases and manifest are written under `part`."""
    part.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(
        part / "manifest" / "manifest.sqlite", create=True, truth=config.ground_truth
    )
    exchange = open_exchange(config, part, create=True)
    yield Projection(city, out, None, clock, manifest, exchange, 0, progress)
    exchange.close()
    manifest.close()


def _project_part(config, out: Path, part: Path, clock, stages, progress) -> None:
    """`stages` of a new city, their databases and manifest written under `part` (the city's
    own folder when one process builds it all)."""
    with _part(config, out, part, clock, City(config), progress) as projection:
        _project(projection, force_redelivery=False, stages=stages)


def _merge_ratings(out: Path, parts: list[Path]) -> None:
    """The ratings of the days the registries' process took, into the city's scratch."""
    conn = sqlite3.connect(out / ".simulator" / "ratings.sqlite")
    for part in parts:
        conn.execute("ATTACH DATABASE ? AS part", (str(part / ".simulator" / "ratings.sqlite"),))
        conn.execute("INSERT OR IGNORE INTO main.days SELECT * FROM part.days")
        conn.execute("INSERT OR IGNORE INTO main.ratings SELECT * FROM part.ratings")
        conn.commit()
        conn.execute("DETACH DATABASE part")
    conn.close()


EXCHANGE_FORMATS = ("sqlite", "parquet")


def open_exchange(config: CityConfig, out: Path, create: bool, systems=None):
    """The exchange databases of `out` in the city's format."""
    which = {} if systems is None else {"systems": systems}
    if config.exchange_format == "parquet":
        drift = DRIFT_COLUMN if config.drift_column else None
        return ParquetExchange(out, create, drift, **which)
    return Exchange(out, create, config.drift_column, **which)


# Tables that the case days write: in a parallel generate, both processes write them.
CASE_DAY_TABLES = ("bj_jbxx", "bj_gcxx", "bb_jl", "dzzz_yyjl")


def merge_parts(out: Path, parts: list[Path], movable: int) -> None:
    """Join the workers' exchange databases and manifests into `out`, `parts` in the order
    of their case days: a case-day table is the concatenation of its parts in that order,
    any other table was written by one part only. One of the first `movable` parts may be
    moved into place whole; the later ones are always copied in after it."""
    (out / "exchange").mkdir(parents=True, exist_ok=True)
    _number_uses(parts)
    merge_parquet_parts(
        out, [part for part in parts if (part / "exchange").is_dir()], CASE_DAY_TABLES
    )
    for path in parts[0].glob("exchange/*.sqlite"):
        pieces = [part / "exchange" / path.name for part in parts]
        _merge_sqlite(pieces, out / "exchange" / path.name, _copy_tables, movable)
    (out / "manifest").mkdir(parents=True, exist_ok=True)
    pieces = [part / "manifest" / "manifest.sqlite" for part in parts]
    _merge_sqlite(pieces, out / "manifest" / "manifest.sqlite", _copy_manifest, movable)


def _number_uses(parts: list[Path]) -> None:
    """Certificate uses (dzzz_yyjl.DYBH) are numbered from 1 in each part: shift each part's
    numbers, and the keys of its defects, past those of the parts before it, as one process
    numbering the days in order would have."""
    offset = 0
    for part in parts:
        count = _count_uses(part)
        if offset and count:
            _shift_uses(part, offset)
        offset += count


def _count_uses(part: Path) -> int:
    folder = part / "exchange" / "certificate_library" / "dzzz_yyjl"
    if folder.is_dir():
        return parquet_row_count(folder)
    path = part / "exchange" / "certificate_library.sqlite"
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    (count,) = conn.execute("SELECT COUNT(*) FROM dzzz_yyjl").fetchone()
    conn.close()
    return count


def _shift_uses(part: Path, offset: int) -> None:
    folder = part / "exchange" / "certificate_library" / "dzzz_yyjl"
    if folder.is_dir():
        shift_column(folder, "DYBH", offset)
    else:
        conn = sqlite3.connect(part / "exchange" / "certificate_library.sqlite")
        conn.execute("UPDATE dzzz_yyjl SET DYBH = DYBH + ?", (offset,))
        conn.commit()
        conn.close()
    conn = sqlite3.connect(part / "manifest" / "manifest.sqlite")
    conn.execute(
        "UPDATE defects SET key = CAST(CAST(key AS INTEGER) + ? AS TEXT) "
        "WHERE table_name = 'dzzz_yyjl'",
        (offset,),
    )
    conn.commit()
    conn.close()


def _merge_sqlite(pieces: list[Path], target: Path, copy, movable: int) -> None:
    """The largest of the first `movable` pieces becomes the target (moved, not copied); the
    others are copied in, in order."""
    base = max(pieces[:movable], key=lambda p: p.stat().st_size)
    shutil.move(base, target)
    conn = sqlite3.connect(target)
    for piece in pieces:
        if piece == base:
            continue
        conn.execute("ATTACH DATABASE ? AS part", (str(piece),))
        copy(conn)
        conn.commit()
        conn.execute("DETACH DATABASE part")
    conn.close()


def _tables(conn: sqlite3.Connection, schema: str) -> list[str]:
    query = f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' ORDER BY name"
    return [name for (name,) in conn.execute(query)]


def _has_rows(conn: sqlite3.Connection, schema: str, table: str) -> bool:
    return conn.execute(f'SELECT 1 FROM {schema}."{table}" LIMIT 1').fetchone() is not None


def _copy_tables(conn: sqlite3.Connection) -> None:
    for table in _tables(conn, "part"):
        if not _has_rows(conn, "part", table):
            continue
        if table not in CASE_DAY_TABLES and _has_rows(conn, "main", table):
            raise CityError(f"two generate workers wrote table {table}: cannot merge them")
        conn.execute(f'INSERT INTO main."{table}" SELECT * FROM part."{table}" ORDER BY rowid')


def _copy_manifest(conn: sqlite3.Connection) -> None:
    """As _copy_tables, but defects and the other ground truth come from both workers, and
    identity columns are numbered in each worker's order of first use: renumbered here."""
    query = "SELECT t, system, table_name, column_name FROM {}.identity_columns ORDER BY t"
    columns = {(s, t, c): n for n, s, t, c in conn.execute(query.format("main"))}
    conn.execute("CREATE TEMP TABLE renumber (old INTEGER PRIMARY KEY, new INTEGER)")
    for n, *where in conn.execute(query.format("part")).fetchall():
        where = tuple(where)
        if where not in columns:
            columns[where] = len(columns) + 1
            conn.execute(
                "INSERT INTO main.identity_columns VALUES (?, ?, ?, ?)", (columns[where], *where)
            )
        conn.execute("INSERT INTO temp.renumber VALUES (?, ?)", (n, columns[where]))
    conn.execute(
        "INSERT INTO main.identity_records SELECT r.new, p.key, p.id_type, p.true_id "
        "FROM part.identity_records AS p JOIN temp.renumber AS r ON p.t = r.old ORDER BY p.rowid"
    )
    conn.execute("DROP TABLE temp.renumber")
    for table in Manifest.TABLES:
        if table not in ("identity_columns", "identity_records"):
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM part.{table} ORDER BY rowid")


# What the registries' process of an advance writes itself (the hotline store too); the
# certificate library is shared with the case platform's use records, which wait.
REGISTRY_SYSTEMS = ("certificate_library", "population_base", "legal_entity_base")


def _advance_in_two(projection: Projection, exchange: Exchange, manifest: Manifest) -> None:
    """The registries and the hotline advance in a forked child while this process advances
    the case platform. The child writes its own databases and records its manifest calls;
    they are replayed here where the one process would have made them (after the case days,
    before the 好差评 drops), so the manifest is the same, call for call."""
    import multiprocessing
    import pickle

    exchange.commit()  # the key indexes of a first advance, before the child opens the files
    journal = projection.out / ".simulator" / "registries.journal"
    journal.parent.mkdir(parents=True, exist_ok=True)
    child = multiprocessing.get_context("fork").Process(
        target=_advance_registries, args=(projection, journal), name="advance-registries"
    )
    child.start()
    exchange.defer("certificate_library")
    try:
        _project(projection, force_redelivery=True, stages=("catalogue", "case_days"))
    finally:
        child.join()
    if child.exitcode != 0:
        raise CityError(f"advancing the registries failed (exit {child.exitcode})")
    exchange.release()
    calls, counts = pickle.loads(journal.read_bytes())
    journal.unlink()
    replay(calls, manifest)
    projection.counts.update(counts)
    projection.background_files = True
    _project(projection, force_redelivery=True, stages=("rating_files",))


def _advance_registries(parent: Projection, journal: Path) -> None:
    import pickle

    journal_manifest = ManifestJournal()
    exchange = open_exchange(parent.config, parent.out, False, systems=REGISTRY_SYSTEMS)
    projection = Projection(
        parent.city, parent.out, parent.before, parent.after, journal_manifest, exchange,
        parent.advance_no, parent.progress,
    )  # fmt: skip
    _project(projection, force_redelivery=True, stages=REGISTRY_STAGES)
    exchange.close()
    journal.write_bytes(pickle.dumps((journal_manifest.calls, projection.counts)))


def read_city(out: Path) -> dict:
    path = Path(out) / CITY_FILE
    if not path.exists():
        raise CityError(f"{out} holds no generated city (no {CITY_FILE}); run `generate` first")
    return json.loads(path.read_text(encoding="utf-8"))


def _prepare(out: Path) -> None:
    """Generate into an empty folder or over an earlier city, never over other files."""
    if out.exists() and any(out.iterdir()):
        strangers = [p.name for p in out.iterdir() if p.name not in OUTPUTS]
        if not (out / CITY_FILE).exists() or strangers:
            raise CityError(f"{out} is not empty and holds no generated city: choose another --out")
        for name in OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _row_counts(out: Path) -> dict[str, int]:
    import sqlite3

    counts = parquet_table_counts(out)
    stores = [*sorted((out / "exchange").glob("*.sqlite")), out / "hotline" / "work_orders.sqlite"]
    for path in stores:
        conn = sqlite3.connect(path)
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
        ):
            counts[name] = conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        conn.close()
    counts["hcp_files"] = len(list((out / "inbox" / "evaluation_hcp").glob("好差评_*")))
    return counts


def _write_city_file(out: Path, summary: dict) -> None:
    text = json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True)
    (out / CITY_FILE).write_text(text + "\n", encoding="utf-8")
