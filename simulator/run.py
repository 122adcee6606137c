"""Entry points behind the CLI: generate a city, advance it, load it into real servers."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from simulator.city import City
from simulator.config import CityConfig
from simulator.defects import Manifest
from simulator.drift import apply, parse_drift, undo
from simulator.generate import CityError, Exchange, Progress, Projection, _quiet
from simulator.timeutil import at, ts

CITY_FILE = "city.json"
OUTPUTS = ("city.json", "exchange", "hotline", "inbox", "manifest", ".simulator")


def generate_city(config: CityConfig, out: Path, progress: Progress = _quiet) -> dict:
    out = Path(out)
    _prepare(out)
    clock = at(config.end, 0)
    city = City(config)
    manifest = Manifest(out / "manifest" / "manifest.sqlite", create=True)
    exchange = Exchange(out, create=True, drift=config.drift_column)
    projection = Projection(city, out, None, clock, manifest, exchange, 0, progress)
    _project(projection, force_redelivery=False)
    if config.drift_column and config.defects:
        manifest.defect("case_platform", "bb_jl", "BBRY", "D11", "BBRY", "column added", "recorded")
    exchange.close()
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
    out: Path, days: int, progress: Progress = _quiet, drift: str | None = None
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
    if summary.get("drift"):  # the department repaired last time's drift
        undo(out, parse_drift(summary.pop("drift")))
    city = City(config)
    manifest = Manifest(out / "manifest" / "manifest.sqlite")
    exchange = Exchange(out, create=False, drift=config.drift_column)
    projection = Projection(city, out, before, after, manifest, exchange, number, progress)
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


def _project(projection: Projection, force_redelivery: bool) -> None:
    projection.catalogue()
    projection.case_days()
    projection.hotline()
    projection.certificates()
    projection.groups()
    projection.grants()
    projection.entities()
    projection.population()
    projection.non_residents()
    projection.rating_files(force_redelivery)


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

    counts = {}
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
