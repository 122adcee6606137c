"""Entry points behind the CLI: generate a city, advance it, load it into real servers."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

from simulator.city import City
from simulator.config import CityConfig
from simulator.defects import Manifest, ManifestJournal, replay
from simulator.drift import apply, parse_drift, undo
from simulator.generate import DRIFT_COLUMN, CityError, Exchange, Progress, Projection, _quiet
from simulator.parquet_exchange import ParquetExchange
from simulator.parquet_exchange import merge_parts as merge_parquet_parts
from simulator.parquet_exchange import table_counts as parquet_table_counts
from simulator.timeutil import at, ts

CITY_FILE = "city.json"
OUTPUTS = ("city.json", "exchange", "hotline", "inbox", "manifest", ".simulator")


def generate_city(
    config: CityConfig, out: Path, progress: Progress = _quiet, workers: int = 1
) -> dict:
    """Build the city into `out`. With `workers` 2 the two halves of the projection (the case
    platform's days; the registries and the hotline) run in two processes, each writing its
    own part, and the parts are merged: the same city, table by table, in about 60 % of
    the time."""
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


# The projection's stages in the two groups a parallel generate runs side by side. No table
# is written by both groups, and no stage reads what the other group writes (the city is a
# pure function of its config), so the halves are independent.
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


def _generate_in_parts(config: CityConfig, out: Path, clock: dt.datetime, progress) -> None:
    """Each group in a forked child writing `.simulator/parts/<group>`; then one merge."""
    import multiprocessing

    parts_root = out / ".simulator" / "parts"
    groups = {"cases": CASE_STAGES, "registries": REGISTRY_STAGES}
    context = multiprocessing.get_context("fork")
    children = {
        name: context.Process(
            target=_project_part,
            args=(config, out, parts_root / name, clock, stages, progress),
            name=f"generate-{name}",
        )
        for name, stages in groups.items()
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
    merge_parts(out, [parts_root / name for name in groups])
    shutil.rmtree(parts_root)


def _project_part(config, out: Path, part: Path, clock, stages, progress) -> None:
    """`stages` of a new city, their databases and manifest written under `part` (the city's
    own folder when one process builds it all)."""
    part.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(
        part / "manifest" / "manifest.sqlite", create=True, truth=config.ground_truth
    )
    exchange = open_exchange(config, part, create=True)
    projection = Projection(City(config), out, None, clock, manifest, exchange, 0, progress)
    _project(projection, force_redelivery=False, stages=stages)
    exchange.close()
    manifest.close()


EXCHANGE_FORMATS = ("sqlite", "parquet")


def open_exchange(config: CityConfig, out: Path, create: bool, systems=None):
    """The exchange databases of `out` in the city's format."""
    which = {} if systems is None else {"systems": systems}
    if config.exchange_format == "parquet":
        drift = DRIFT_COLUMN if config.drift_column else None
        return ParquetExchange(out, create, drift, **which)
    return Exchange(out, create, config.drift_column, **which)


def merge_parts(out: Path, parts: list[Path]) -> None:
    """Join the workers' exchange databases and manifests into `out`. Every table was
    written by one worker only, so each keeps its rows in the order they were written."""
    (out / "exchange").mkdir(parents=True, exist_ok=True)
    merge_parquet_parts(out, [part for part in parts if (part / "exchange").is_dir()])
    for path in parts[0].glob("exchange/*.sqlite"):
        pieces = [part / "exchange" / path.name for part in parts]
        _merge_sqlite(pieces, out / "exchange" / path.name, _copy_tables)
    (out / "manifest").mkdir(parents=True, exist_ok=True)
    pieces = [part / "manifest" / "manifest.sqlite" for part in parts]
    _merge_sqlite(pieces, out / "manifest" / "manifest.sqlite", _copy_manifest)


def _merge_sqlite(pieces: list[Path], target: Path, copy) -> None:
    """The largest piece becomes the target (moved, not copied); the others are copied in."""
    base = max(pieces, key=lambda p: p.stat().st_size)
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
        if _has_rows(conn, "main", table):
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
