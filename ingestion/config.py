"""The sources configuration (ingestion/sources.yaml by default), checked at load."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from contract import load_contract
from groundfloor.settings import environment

DELIVERIES = ("database", "api", "files")
DEFAULT_LOOKBACK_MINUTES = 10
MODES = ("incremental", "full", "snapshot", "file")
_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")


class ConfigError(ValueError):
    """The sources file says something the platform cannot do."""


@dataclass(frozen=True)
class TableConfig:
    name: str
    key: tuple[str, ...]
    cursor: str | None = None
    mode: str = "incremental"
    control: str | None = None  # for snapshots: the table announcing complete deliveries
    # How far before the watermark the next read starts (a timestamp cursor): a row committed
    # late in the source (a long transaction in the 前置库) but stamped before the last load's
    # watermark is still read; the row hash drops what was landed already.
    lookback_minutes: int = DEFAULT_LOOKBACK_MINUTES


@dataclass(frozen=True)
class Deadlines:
    """How long an API system may take, in seconds (sources.yaml ``deadlines``).

    ``connect_seconds``: to open a connection; ``read_seconds``: between two reads of an
    answer (headers or body); ``request_seconds``: one whole request, from connecting to the
    last byte, however steadily the server trickles; ``run_seconds``: all the requests of one
    load, retries and their waits included (``max_attempts`` is honoured within it)."""

    connect_seconds: float = 10.0
    read_seconds: float = 30.0
    request_seconds: float = 120.0
    # A 1,000,000-person city's first hotline load took 995 s (tier L, landing included).
    run_seconds: float = 3600.0


@dataclass(frozen=True)
class SystemConfig:
    name: str
    delivery: str
    schedule: str
    tables: dict[str, TableConfig]
    url: str | None = None
    schema: str | None = None  # the exchange schema on PostgreSQL (qzk_zw, qzk_rk)
    base_url: str | None = None
    token_env: str | None = None
    inbox: Path | None = None
    page_size: int = 1000
    max_attempts: int = 5
    deadlines: Deadlines = field(default_factory=Deadlines)
    options: dict = field(default_factory=dict)


def expand(text: str, env: dict[str, str] | None = None) -> str:
    env = environment() if env is None else env

    def value(match: re.Match) -> str:
        name, default = match["name"], match["default"]
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"the sources file needs the environment variable {name}")

    return _VAR.sub(value, text)


def _table(system: str, name: str, raw: dict, lookback: int) -> TableConfig:
    contract = load_contract()
    if name not in contract.systems[system].tables:
        raise ConfigError(f"{system}.{name} is not a table of {system} in the contract")
    mode = raw.get("mode", "incremental")
    if mode not in MODES:
        raise ConfigError(f"{system}.{name}: mode {mode!r} is not one of {', '.join(MODES)}")
    cursor = raw.get("cursor")
    if mode == "incremental" and not cursor:
        raise ConfigError(f"{system}.{name}: an incremental table needs a cursor column")
    columns = contract.systems[system].tables[name].column_names
    for column in [*raw.get("key", []), *([cursor] if cursor else [])]:
        if column not in columns:
            raise ConfigError(f"{system}.{name}: {column} is not a column of the table")
    lookback = _minutes(f"{system}.{name}.lookback_minutes", raw.get("lookback_minutes", lookback))
    return TableConfig(name, tuple(raw["key"]), cursor, mode, raw.get("control"), lookback)


def _minutes(where: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where} must be a whole number of minutes (0 or more), not {value!r}")
    return value


def load_sources(path: Path, env: dict[str, str] | None = None) -> dict[str, SystemConfig]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no sources file at {path}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    contract = load_contract()
    systems = {}
    for name, spec in (raw.get("systems") or {}).items():
        if name not in contract.systems:
            raise ConfigError(
                f"{path}: {name} is not a system of the contract ({', '.join(contract.systems)})"
            )
        delivery = spec.get("delivery")
        if delivery not in DELIVERIES:
            raise ConfigError(f"{path}: {name}.delivery must be one of {', '.join(DELIVERIES)}")
        lookback = _minutes(
            f"{name}.lookback_minutes", spec.get("lookback_minutes", DEFAULT_LOOKBACK_MINUTES)
        )
        tables = {
            t: _table(name, t, tspec, lookback) for t, tspec in spec.get("tables", {}).items()
        }
        systems[name] = SystemConfig(
            name=name,
            delivery=delivery,
            schedule=spec.get("schedule", "@daily"),
            tables=tables,
            url=expand(spec["url"], env) if spec.get("url") else None,
            schema=spec.get("schema"),
            base_url=expand(spec["base_url"], env) if spec.get("base_url") else None,
            token_env=spec.get("token_env"),
            inbox=Path(expand(spec["inbox"], env)) if spec.get("inbox") else None,
            page_size=int(spec.get("page_size", 1000)),
            max_attempts=_max_attempts(name, spec.get("max_attempts", 5)),
            deadlines=_deadlines(name, delivery, spec.get("deadlines")),
        )
        _check_delivery(path, systems[name])
    return systems


def _max_attempts(system: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{system}.max_attempts must be a whole number from 1, got {value!r}")
    return value


def _deadlines(system: str, delivery: str, raw) -> Deadlines:
    """The deadlines of an API system, each a positive number of seconds, each within the
    next: a read longer than the whole request, or a request longer than the run, is a
    mistake that would silently never apply."""
    where = f"{system}.deadlines"
    if raw is None:
        return Deadlines()
    if delivery != "api":
        raise ConfigError(f"{where}: only an api system has deadlines (this one: {delivery})")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping of name: seconds, got {raw!r}")
    known = Deadlines.__dataclass_fields__
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(f"{where}: unknown deadline {name} (known: {', '.join(known)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{where}: {name} must be a number of seconds above 0, got {value!r}")
    deadlines = Deadlines(**{name: float(value) for name, value in raw.items()})
    for inner, outer in (("connect_seconds", "request_seconds"), ("read_seconds",
                         "request_seconds"), ("request_seconds", "run_seconds")):  # fmt: skip
        if getattr(deadlines, inner) > getattr(deadlines, outer):
            raise ConfigError(
                f"{where}: {inner} ({getattr(deadlines, inner):g}) exceeds {outer} "
                f"({getattr(deadlines, outer):g})"
            )
    return deadlines


def _check_delivery(path: Path, system: SystemConfig) -> None:
    needs = {
        "database": system.url,
        "api": system.base_url and system.token_env,
        "files": system.inbox,
    }[system.delivery]
    if not needs:
        what = {"database": "url", "api": "base_url and token_env", "files": "inbox"}[
            system.delivery
        ]
        raise ConfigError(
            f"{path}: {system.name} is delivered by {system.delivery} and needs {what}"
        )
