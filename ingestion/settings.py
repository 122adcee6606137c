"""The one place that reads configuration: the environment, and `.env` beside the project.

Environment variables win over `.env`; nothing else in the project reads os.environ for
settings. Secrets (passwords, tokens) come from here and are never written to a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, _, value = line.partition("=")
                values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def environment() -> dict[str, str]:
    return {**_dotenv(PROJECT / ".env"), **os.environ}


@dataclass(frozen=True)
class Settings:
    sources: Path
    warehouse: Path
    city_dir: Path

    @classmethod
    def load(cls) -> Settings:
        env = environment()
        return cls(
            sources=Path(env.get("SOURCES", PROJECT / "ingestion" / "sources.yaml")),
            warehouse=Path(env.get("WAREHOUSE", "data/warehouse/warehouse.duckdb")),
            city_dir=Path(env.get("CITY_DIR", "data/city")),
        )


def secret(name: str) -> str | None:
    """A secret from the environment (or .env); None when it is not set."""
    return environment().get(name) or None
