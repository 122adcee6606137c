"""The default sources file pointed at a generated city, and an ingest of its databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ingestion.runner import run

DB_SYSTEMS = ["case_platform", "certificate_library", "population_base", "legal_entity_base"]
SOURCES = Path("ingestion/sources.yaml")


def sources_for(tmp: Path, city: Path, overrides: dict[str, str] | None = None) -> Path:
    """The default sources file pointed at `city`, with some systems' URLs replaced."""
    text = SOURCES.read_text(encoding="utf-8").replace("${CITY_DIR:-data/city}", str(city))
    for system, url in (overrides or {}).items():
        text = text.replace(f"sqlite:///{city}/exchange/{system}.sqlite", url)
    path = tmp / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(sources: Path, warehouse: Path, as_of: dt.date | None = None, systems=DB_SYSTEMS):
    """Ingest `systems` into `warehouse`: {system: its run's result}."""
    return {r.system: r for r in run(sources, warehouse, systems, as_of)}
