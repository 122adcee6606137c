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


@dataclass(frozen=True)
class DuckDBSettings:
    """How the pipeline's own DuckDB connections use the machine (docs/operations.md).

    DuckDB's own default (80 % of RAM) leaves no room for the Arrow chunks that ingestion holds
    outside DuckDB's buffer pool, nor for a second process; 40 % does, and DuckDB spills what
    does not fit to its temp directory (by default `<warehouse>.tmp` beside the file).
    """

    memory_limit: str
    threads: int
    temp_directory: str | None

    def statements(self) -> list[str]:
        return [f"SET {name} = '{value}'" for name, value in self.config().items()]

    def config(self) -> dict[str, str]:
        """The same limits as `duckdb.connect(config=...)` takes them, for a connection that
        runs heavy SQL (quality, matching, publish). A connection opened without them gets
        DuckDB's own 80 % of RAM: tier L's quality and publish peaked at 20 and 19 GiB so."""
        config = {"memory_limit": self.memory_limit, "threads": str(self.threads)}
        if self.temp_directory:
            config["temp_directory"] = self.temp_directory
        return config


def _default_memory_limit() -> str:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, int(total * 0.4 / 2**30))}GB"


def duckdb_settings() -> DuckDBSettings:
    env = environment()
    return DuckDBSettings(
        memory_limit=env.get("DUCKDB_MEMORY_LIMIT") or _default_memory_limit(),
        threads=_whole_number(env, "DUCKDB_THREADS", os.cpu_count() or 1),
        temp_directory=env.get("DUCKDB_TEMP_DIRECTORY") or None,
    )


def ingest_chunk_rows() -> int:
    """Rows per chunk read from an exchange database: memory outside DuckDB stays about one
    chunk, whatever the table's size."""
    return _whole_number(environment(), "INGEST_CHUNK_ROWS", 500_000)


def ingest_workers() -> int:
    """Systems loaded at once by one ingestion run. Two by default on a machine with two or
    more CPUs: the hotline's JSON and the 好差评 workbooks are parsed in Python while DuckDB
    casts and lands another system's rows on its own threads."""
    return _whole_number(environment(), "INGEST_WORKERS", min(2, os.cpu_count() or 1))


def lock_wait_seconds() -> int:
    """How long a second writer of the warehouse waits for the writer lock before it stops
    with a message naming the holder (groundfloor.warehouse)."""
    return _whole_number(environment(), "WAREHOUSE_LOCK_WAIT_SECONDS", 600)


def _whole_number(env: dict[str, str], name: str, default: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or int(text) < 1:
        raise MissingSetting(f"{name} must be a whole number of at least 1, not {text!r}")
    return int(text)


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


def matching_paths() -> tuple[Path, Path]:
    """免申即享 matching: (operations store holding the match ledger, push-list directory)."""
    env = environment()
    return (
        Path(env.get("OPERATIONS_STORE", "data/operations/operations.duckdb")),
        Path(env.get("PUSH_DIR", "data/push")),
    )


@dataclass(frozen=True)
class LinkageSettings:
    """Identity linkage (docs/linkage.md): where officers' decisions are kept (the operations
    store) and the grey band of match probabilities that goes to review."""

    operations: Path
    review_low: float
    review_high: float


def linkage_settings() -> LinkageSettings:
    env = environment()
    low, high = (float(x) for x in env.get("LINKAGE_REVIEW_BAND", "0.80,0.99").split(","))
    if not 0 < low < high <= 1:
        raise ValueError(f"LINKAGE_REVIEW_BAND {low},{high}: want 0 < low < high <= 1")
    return LinkageSettings(
        Path(env.get("OPERATIONS_STORE", "data/operations/operations.duckdb")), low, high
    )


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go: a webhook (JSON POST), e-mail through SMTP, or both; neither is fine
    (alerts are still recorded in the operations store)."""

    webhook_url: str | None
    smtp_host: str | None
    smtp_port: int
    email_from: str
    email_to: tuple[str, ...]


def alert_settings() -> AlertSettings:
    env = environment()
    return AlertSettings(
        webhook_url=env.get("ALERT_WEBHOOK_URL") or None,
        smtp_host=env.get("ALERT_SMTP_HOST") or None,
        smtp_port=int(env.get("ALERT_SMTP_PORT", "25")),
        email_from=env.get("ALERT_EMAIL_FROM", "govdata-pipeline@localhost"),
        email_to=tuple(a for a in env.get("ALERT_EMAIL_TO", "").split(",") if a),
    )


def source_retries() -> int:
    """How often Airflow retries a task that reads a source (PIPELINE_SOURCE_RETRIES)."""
    return int(environment().get("PIPELINE_SOURCE_RETRIES", "4"))


def retry_delay_seconds() -> float:
    """First retry delay of tasks that talk to a source (doubles each retry)."""
    return float(environment().get("PIPELINE_RETRY_DELAY_SECONDS", "60"))


@dataclass(frozen=True)
class SupersetSettings:
    """Superset (dashboards): its metadata database, secrets, and the files it reads.

    Secrets come from the environment or `.env` (`ensure_superset_dotenv` generates them on
    first run). Superset reads only published files (absolute paths): the warehouse snapshot
    the operations store's published copy and the sharing usage counts, each replaced
    atomically, never written in place.
    """

    metadata_uri: str
    secret_key: str | None
    admin_username: str
    admin_password: str | None
    demo_password: str | None
    published: Path
    published_operations: Path
    published_sharing_usage: Path
    host: str
    port: int
    redis_host: str | None
    redis_port: int
    redis_password: str | None


def superset_settings() -> SupersetSettings:
    env = environment()
    metadata = PROJECT / "data" / "superset" / "superset.db"
    return SupersetSettings(
        metadata_uri=env.get("SUPERSET_METADATA_URI", f"sqlite:///{metadata}"),
        secret_key=env.get("SUPERSET_SECRET_KEY") or None,
        admin_username=env.get("SUPERSET_ADMIN_USERNAME", "admin"),
        admin_password=env.get("SUPERSET_ADMIN_PASSWORD") or None,
        demo_password=env.get("SUPERSET_DEMO_PASSWORD") or None,
        published=(PROJECT / Settings.load().published).resolve(),
        published_operations=(PROJECT / quality_paths()[1]).resolve(),
        published_sharing_usage=(PROJECT / sharing_settings().published_usage).resolve(),
        host=env.get("SUPERSET_HOST", "127.0.0.1"),
        port=int(env.get("SUPERSET_HTTP_PORT", "8088")),
        redis_host=env.get("REDIS_HOST") or None,
        redis_port=int(env.get("REDIS_PORT", "6379")),
        redis_password=env.get("REDIS_PASSWORD") or None,
    )


SUPERSET_SECRETS = ("SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "SUPERSET_DEMO_PASSWORD")


def ensure_superset_dotenv(path: Path = PROJECT / ".env") -> list[str]:
    """Append a random value to `.env` for each Superset secret set nowhere; the names written."""
    return ensure_generated_secrets(
        SUPERSET_SECRETS, "Superset secret key and demo account passwords", path
    )


def quality_paths() -> tuple[Path, Path, Path]:
    """Quality step: (operations store, shared with matching and named as matching names it;
    its published copy, swapped in after every quality run; the GX project with Data Docs)."""
    env = environment()
    return (
        Path(env.get("OPERATIONS_STORE", "data/operations/operations.duckdb")),
        Path(env.get("PUBLISHED_OPERATIONS", "data/published/operations.duckdb")),
        Path(env.get("QUALITY_DIR", "data/quality")),
    )


def ensure_generated_secrets(names: tuple[str, ...], comment: str, path: Path = PROJECT / ".env"):
    """Append a random value to `.env` for each of `names` set nowhere; the names written.

    Demo passwords and signing keys come from here on first run, never from the code.
    """
    import secrets as random_secrets

    missing = [name for name in names if not secret(name)]
    if missing:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        with path.open("a", encoding="utf-8") as handle:
            if text and not text.endswith("\n"):
                handle.write("\n")
            handle.write(f"# {comment} (generated)\n")
            for name in missing:
                handle.write(f"{name}={random_secrets.token_urlsafe(24)}\n")
        path.chmod(0o600)
    return missing


AIRFLOW_SECRETS = ("AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY")


@dataclass(frozen=True)
class ServeSettings:
    """`make serve`: where the local services listen and the Airflow login."""

    host: str
    airflow_port: int
    superset_port: int
    airflow_admin: str
    airflow_admin_password: str
    jwt_secret: str
    api_secret_key: str


def serve_settings() -> ServeSettings:
    env = environment()
    missing = [name for name in AIRFLOW_SECRETS if not env.get(name)]
    if missing:
        raise MissingSetting(f"{', '.join(missing)} not set (`make serve` generates them)")
    return ServeSettings(
        # the same names as docker-compose's published ports: one setting, one meaning
        host=env.get("BIND_ADDRESS", "127.0.0.1"),
        airflow_port=int(env.get("AIRFLOW_HTTP_PORT", "8080")),
        superset_port=int(env.get("SUPERSET_HTTP_PORT", "8088")),
        airflow_admin=env.get("AIRFLOW_ADMIN_USERNAME", "admin"),
        airflow_admin_password=env["AIRFLOW_ADMIN_PASSWORD"],
        jwt_secret=env["AIRFLOW_JWT_SECRET"],
        api_secret_key=env["AIRFLOW_API_SECRET_KEY"],
    )


@dataclass(frozen=True)
class SharingSettings:
    """数据共享 (sharing/): the store of consumers, keys, grants and the audit log, the sharing
    snapshot the service reads, its limits, where 回流 extracts go, and the usage counts
    published for the dashboard (no subject in them).

    The store is an embedded SQLite file unless SHARING_STORE_URL names another database
    (PostgreSQL in production). Rates are per consumer: a token bucket refilled at
    `rate_per_second` holding at most `burst` tokens (a consumer's own line in
    sharing/consumers.yaml may set others).
    """

    store_url: str
    snapshot: Path
    backflow_dir: Path
    published_usage: Path
    rate_per_second: float
    burst: int
    max_body_bytes: int
    host: str
    port: int
    workers: int


def sharing_settings() -> SharingSettings:
    env = environment()
    store = (PROJECT / "data" / "sharing" / "sharing.db").resolve()
    return SharingSettings(
        store_url=env.get("SHARING_STORE_URL") or f"sqlite:///{store}",
        snapshot=Path(env.get("SHARING_SNAPSHOT", "data/sharing/snapshot.sqlite")),
        backflow_dir=Path(env.get("SHARING_BACKFLOW_DIR", "data/sharing/backflow")),
        published_usage=Path(
            env.get("PUBLISHED_SHARING_USAGE", "data/published/sharing_usage.duckdb")
        ),
        rate_per_second=float(env.get("SHARING_RATE_PER_SECOND", "50")),
        burst=_whole_number(env, "SHARING_BURST", 100),
        max_body_bytes=_whole_number(env, "SHARING_MAX_BODY_BYTES", 16384),
        host=env.get("SHARING_HOST", "127.0.0.1"),
        port=_whole_number(env, "SHARING_HTTP_PORT", 8090),
        workers=_whole_number(env, "SHARING_WORKERS", 2),
    )


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["ensure-dotenv"]:
        print(".env: IDENTITY_KEY generated" if ensure_dotenv() else ".env: IDENTITY_KEY present")
    else:
        sys.exit("usage: python -m groundfloor.settings ensure-dotenv")


@dataclass(frozen=True)
class CloseSettings:
    """The monthly close and the KPI alerts (kpis.md v2, docs/close.md): month M closes on the
    `close_workday`-th working day of M + 1; after each publish a KPI × region of the latest
    closed month with a target and a denominator >= `alert_min_denominator` alerts when it
    misses the target by more than `alert_miss_points` percentage points or moved the wrong
    way from the previous month by more than `alert_move_points`."""

    close_workday: int
    alert_miss_points: float
    alert_move_points: float
    alert_min_denominator: int


def close_settings() -> CloseSettings:
    env = environment()
    return CloseSettings(
        close_workday=_whole_number(env, "CLOSE_WORKDAY", 5),
        alert_miss_points=float(env.get("KPI_ALERT_MISS_POINTS", "5")),
        alert_move_points=float(env.get("KPI_ALERT_MOVE_POINTS", "5")),
        alert_min_denominator=_whole_number(env, "KPI_ALERT_MIN_DENOMINATOR", 30),
    )
