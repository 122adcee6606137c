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
    published: Path
    published_docs: Path

    @classmethod
    def load(cls) -> Settings:
        env = environment()
        return cls(
            sources=Path(env.get("SOURCES", PROJECT / "ingestion" / "sources.yaml")),
            warehouse=Path(env.get("WAREHOUSE", "data/warehouse/warehouse.duckdb")),
            city_dir=Path(env.get("CITY_DIR", "data/city")),
            published=Path(env.get("PUBLISHED_WAREHOUSE", "data/published/warehouse.duckdb")),
            published_docs=Path(env.get("PUBLISHED_DOCS", "data/published/docs")),
        )


def secret(name: str) -> str | None:
    """A secret from the environment (or .env); None when it is not set."""
    return environment().get(name) or None


IDENTITY_KEY_BYTES = 32


class MissingSetting(RuntimeError):
    pass


def identity_key() -> str:
    """The secret key of the pseudonymous person_key / enterprise_key (a keyed hash).

    Changing it changes every key, so a city sets it once (`.env` or the environment) and
    keeps it with its other secrets.
    """
    key = secret("IDENTITY_KEY")
    if not key:
        raise MissingSetting(
            "IDENTITY_KEY is not set: put it in the environment or in .env "
            "(`make env` writes a random one to .env)"
        )
    if len(key) < 16:
        raise MissingSetting("IDENTITY_KEY is too short: use at least 16 characters")
    return key


def ensure_dotenv(path: Path = PROJECT / ".env") -> bool:
    """Append a random IDENTITY_KEY to `.env` when neither it nor the environment has one.

    Returns True when the file was written. The file is created readable by its owner only.
    """
    if secret("IDENTITY_KEY"):
        return False
    import secrets as random_secrets

    line = f"IDENTITY_KEY={random_secrets.token_hex(IDENTITY_KEY_BYTES)}\n"
    existed = path.exists()
    with path.open("a", encoding="utf-8") as handle:
        if (
            existed
            and path.read_text(encoding="utf-8")
            and not path.read_text(encoding="utf-8").endswith("\n")
        ):
            handle.write("\n")
        handle.write("# pseudonymisation key (generated; keep it, changing it changes every key)\n")
        handle.write(line)
    path.chmod(0o600)
    return True


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["ensure-dotenv"]:
        print(".env: IDENTITY_KEY generated" if ensure_dotenv() else ".env: IDENTITY_KEY present")
    else:
        sys.exit("usage: python -m ingestion.settings ensure-dotenv")
