"""Static checks of the production docker-compose.yml (no Docker needed).

The compose file is parsed with PyYAML (anchors and `<<` merge keys resolved), so every
check sees each service as compose would after merging the shared Airflow settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
REQUIRED_SERVICES = ("postgres", *AIRFLOW_SERVICES, "superset", "redis")
AIRFLOW_IMAGE = "apache/airflow:3.3.2-python3.11"
WAREHOUSE_VOLUME = "warehouse"
# One-shot services may use restart "no"; everything else must come back by itself.
ONE_SHOT_SUFFIXES = ("-init", "-import")
LONG_RUNNING_RESTART = {"always", "unless-stopped", "on-failure"}

SECRET_WORDS = ("PASSWORD", "SECRET", "KEY")
# `${VAR}` or `${VAR:?message}` / `${VAR?message}`; defaults (`:-`) are not allowed for
# secrets, since a default would be a literal secret in the compose file.
SECRET_VALUE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")
VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:([^@\s]+)@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, _ = line.partition("=")
            assert sep, f".env.example line is not NAME=value: {line!r}"
            names.add(name.strip())
    return names


def strings(node: Any):
    """Every string scalar in the parsed document (values and list items)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def interpolated_names(text: str) -> set[str]:
    # `$$` is compose's escape for a literal `$` (expanded later by the container's shell).
    return set(VAR_REF.findall(text.replace("$$", "")))


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def mappings(node: Any):
    """Every mapping in the document, nested ones included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from mappings(value)
    elif isinstance(node, list):
        for item in node:
            yield from mappings(item)


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for short and long volume syntax."""
    mounts = []
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            parts = entry.split(":")
            source, target = parts[0], parts[1]
            options = parts[2].split(",") if len(parts) > 2 else []
            mounts.append((source, target, "ro" in options))
        else:
            mounts.append((entry.get("source"), entry["target"], bool(entry.get("read_only"))))
    return mounts


def test_required_services_exist(services: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_SERVICES if name not in services]
    assert not missing, f"missing services: {missing}"


def test_every_interpolated_variable_is_in_env_example(
    compose: dict[str, Any], env_example_names: set[str]
) -> None:
    used = set().union(*(interpolated_names(s) for s in strings(compose)))
    assert used, "compose file uses no ${VAR} at all: secrets cannot be coming from .env"
    missing = sorted(used - env_example_names)
    assert not missing, f"used in docker-compose.yml but not in .env.example: {missing}"


def test_secret_keys_only_take_interpolated_values(compose: dict[str, Any]) -> None:
    offenders = []
    for mapping in mappings(compose):
        for key, value in mapping.items():
            if not any(word in str(key).upper() for word in SECRET_WORDS):
                continue
            if isinstance(value, dict | list):
                continue  # a section, not a value
            if not (isinstance(value, str) and SECRET_VALUE.match(value)):
                offenders.append(f"{key}={value!r}")
    for service in compose["services"].values():
        if not isinstance(service.get("environment"), list):
            continue  # mapping form was already walked above
        for key, value in environment(service).items():
            if any(word in key.upper() for word in SECRET_WORDS) and not (
                isinstance(value, str) and SECRET_VALUE.match(value)
            ):
                offenders.append(f"{key}={value!r}")
    assert not offenders, f"literal secret values in docker-compose.yml: {sorted(set(offenders))}"


def test_no_literal_credentials_in_urls(compose: dict[str, Any]) -> None:
    offenders = [
        text
        for text in strings(compose)
        for password in URL_CREDENTIALS.findall(text)
        if not SECRET_VALUE.match(password)
    ]
    assert not offenders, f"connection URLs with literal passwords: {sorted(set(offenders))}"


def test_env_example_holds_only_placeholders() -> None:
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if line.startswith("#") or not value:
            continue
        if any(word in name.upper() for word in SECRET_WORDS):
            assert value.startswith("change-me"), f"{name} in .env.example is not a placeholder"


def test_superset_mounts_warehouse_read_only(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    assert WAREHOUSE_VOLUME in compose.get("volumes", {}), "warehouse must be a named volume"
    mounts = [m for m in volume_mounts(services["superset"]) if m[0] == WAREHOUSE_VOLUME]
    assert mounts, "superset does not mount the warehouse volume"
    assert all(read_only for _, _, read_only in mounts), f"not read-only: {mounts}"


def test_airflow_services_mount_code_and_warehouse(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = {(source, target) for source, target, _ in volume_mounts(services[name])}
        for source in (
            "./dags",
            "./pipeline",
            "./dbt_project",
            "./ingestion",
            "./transform",
            "./quality",
            "./matching",
            "./contract",
            "./groundfloor",
        ):
            assert any(s == source for s, _ in mounts), f"{name} does not mount {source}"
        assert (WAREHOUSE_VOLUME, "/data") in mounts, f"{name} does not mount warehouse at /data"


def test_every_service_has_a_restart_policy(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert "restart" in service, f"{name} has no restart policy"
        restart = str(service["restart"])
        if name.endswith(ONE_SHOT_SUFFIXES):
            assert restart in {"no", "on-failure"} or restart.startswith("on-failure:"), name
        else:
            assert restart.split(":")[0] in LONG_RUNNING_RESTART, f"{name}: restart={restart}"


def test_airflow_image_is_built_on_3_3_2_and_pinned(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        image, build = services[name]["image"], services[name]["build"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned {image}"
        dockerfile = ROOT / build["context"] / build["dockerfile"]
        base = re.search(r"^FROM (\S+)", dockerfile.read_text(encoding="utf-8"), re.MULTILINE)
        assert base and base.group(1) == AIRFLOW_IMAGE, f"{name} builds on {base}"


def test_airflow_image_requirements_agree_with_the_lock() -> None:
    """docker/airflow/requirements.txt (installed into the image) pins what uv.lock pins."""
    import tomllib

    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked = {p["name"]: p["version"] for p in lock["package"] if "version" in p}
    lines = (ROOT / "docker" / "airflow" / "requirements.txt").read_text(encoding="utf-8")
    pins = dict(
        line.split(";")[0].strip().split("==")
        for line in lines.splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    )
    assert pins, "no pins in docker/airflow/requirements.txt"
    mismatched = {n: (v, locked.get(n)) for n, v in pins.items() if locked.get(n) != v}
    assert mismatched == {}, "run `make lock` to re-export docker/airflow/requirements.txt"
    for needed in ("dbt-core", "dbt-duckdb", "duckdb", "polars", "great-expectations"):
        assert needed in pins, needed


def test_airflow_settings_for_small_hosts(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert 1 <= int(env["AIRFLOW__CORE__PARALLELISM"]) <= 8, name
        assert str(env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"]).lower() == "false", name


def test_healthchecks(services: dict[str, Any]) -> None:
    def probe(name: str) -> str:
        check = services[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        test = check["test"]
        return " ".join(test) if isinstance(test, list) else test

    assert "pg_isready" in probe("postgres")
    assert "/api/v2/version" in probe("airflow-apiserver")
    assert "/health" in probe("superset")


def test_superset_is_built_and_served_with_gunicorn(services: dict[str, Any]) -> None:
    superset = services["superset"]
    build = superset["build"]
    context = build if isinstance(build, str) else build["context"]
    assert (ROOT / context / "Dockerfile").is_file()
    command = superset["command"]
    command = " ".join(command) if isinstance(command, list) else command
    for part in ("gunicorn", "-w 1", "--threads 4", "-k gthread", "--timeout 120"):
        assert part in command, f"superset command lacks {part!r}: {command}"
    assert "superset.app:create_app()" in command


def test_superset_metadata_lives_in_the_postgres_service(services: dict[str, Any]) -> None:
    for name in ("superset", "superset-init"):
        uri = environment(services[name])["SUPERSET_METADATA_URI"]
        assert uri.startswith("postgresql+psycopg2://") and "@postgres:5432/" in uri, name
    # superset waits for superset-init, which waits for the database
    assert "postgres" in services["superset-init"]["depends_on"]
    initdb = [
        m for m in volume_mounts(services["postgres"]) if m[1] == "/docker-entrypoint-initdb.d"
    ]
    assert initdb, "postgres does not create Superset's database"
    script = ROOT / initdb[0][0] / "10-superset-database.sh"
    assert "CREATE DATABASE" in script.read_text(encoding="utf-8")
    lock = (ROOT / "superset" / "requirements.lock").read_text(encoding="utf-8")
    assert "psycopg2-binary==" in lock, "Superset's image lacks a PostgreSQL driver"


def test_superset_import_loads_the_bundle_after_the_first_publish(services: dict[str, Any]) -> None:
    """`make dashboards` in production: a one-shot service outside `up` (its profile), since
    the import needs a published snapshot, with what `python -m dashboards import` imports."""
    service = services["superset-import"]
    assert service["profiles"] == ["import"]
    assert service["image"] == services["superset"]["image"]
    assert service["command"] == ["python", "-m", "dashboards", "import"]
    mounts = {(source, target): read_only for source, target, read_only in volume_mounts(service)}
    project = service["working_dir"]
    for package in ("dashboards", "groundfloor"):
        assert mounts.get((f"./{package}", f"{project}/{package}")) is True, package
    assert mounts.get((WAREHOUSE_VOLUME, "/data")) is True
    env = environment(service)
    assert env["PUBLISHED_WAREHOUSE"].startswith("/data/")
    assert env["PUBLISHED_OPERATIONS"].startswith("/data/")
    # the mounted project is read-only: every secret must be given, none generated into .env
    for name in ("SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "SUPERSET_DEMO_PASSWORD"):
        assert SECRET_VALUE.match(env[name]), name
    assert (
        env["SUPERSET_METADATA_URI"] == environment(services["superset"])["SUPERSET_METADATA_URI"]
    )
    assert service["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"


def test_the_mounted_packages_need_nothing_else_from_the_project() -> None:
    """The import service mounts dashboards/ and groundfloor/ only and runs `python -m
    dashboards`: the modules that command reaches must not import other project packages (they
    are not in Superset's image). Tools run in the project's own environment (e.g.
    `dashboards.kpi_descriptions`, which reads the handbook from contract/) are not reached."""
    allowed = {"dashboards", "groundfloor"}
    project_packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    reached = modules_reached(ROOT / "dashboards" / "__main__.py", allowed)
    assert {"cli.py", "bundle.py", "assets.py", "access.py", "settings.py"} <= {
        path.name for path in reached
    }
    for path, tops in reached.items():
        assert not tops & (project_packages - allowed), f"{path.name} imports {tops}"


def modules_reached(entry: Path, followed: set[str]) -> dict[Path, set[str]]:
    """Every project file reachable from `entry` through imports of the `followed` packages
    (at any depth in the file, as a function's import runs too), with the top-level packages
    each file imports."""
    import ast

    reached: dict[Path, set[str]] = {}
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in reached or not path.exists():
            continue
        names = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
                names += [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
        reached[path] = {name.split(".")[0] for name in names}
        for name in names:
            if name.split(".")[0] in followed:
                module = ROOT / Path(*name.split("."))
                todo += [module.with_suffix(".py"), module / "__init__.py"]
    return reached


def test_airflow_services_load_the_beijing_time_ui_plugin(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Shanghai", name
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/airflow/pipeline/airflow_plugins"
