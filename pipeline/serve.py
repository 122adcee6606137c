"""`make serve` / `make stop`: Airflow (API server with its UI, scheduler, DAG processor,
triggerer), Superset and the sharing service on this machine, started in the background and
stopped by pid file.

    python -m pipeline.serve start [--no-superset]
    python -m pipeline.serve stop
    python -m pipeline.serve status

Every service listens on BIND_ADDRESS (127.0.0.1 unless configured otherwise) and asks for a
login: Airflow's simple auth manager reads its passwords from a file written here from `.env`
(AIRFLOW_ADMIN_PASSWORD, generated on first run), so no password is in the code or printed by
Airflow itself. Parallelism is fitted to a 2-core machine (one API worker, one parsing
process, four task slots, two per DAG).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from groundfloor.settings import (
    AIRFLOW_SECRETS,
    PROJECT,
    ServeSettings,
    Settings,
    ensure_generated_secrets,
    environment,
    quality_paths,
    serve_settings,
    sharing_settings,
)
from pipeline.airflow_setup import airflow_environment, pipeline_dag_ids

RUN_DIR = PROJECT / "data" / "run"
AIRFLOW_HOME = PROJECT / "data" / "airflow"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
SUPERSET_PYTHON = PROJECT / ".venv-superset" / "bin" / "python"


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]


def serve_environment(home: Path, settings: ServeSettings) -> dict[str, str]:
    """The Airflow settings every component of one installation shares (the JWT secret must
    be the same in all of them, or tasks cannot talk to the API server)."""
    passwords = home / "passwords.json"
    home.mkdir(parents=True, exist_ok=True)
    passwords.write_text(json.dumps({settings.airflow_admin: settings.airflow_admin_password}))
    passwords.chmod(0o600)
    base = f"http://{settings.host}:{settings.airflow_port}"
    return {
        **airflow_environment(home),
        "AIRFLOW__API__HOST": settings.host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__SECRET_KEY": settings.api_secret_key,
        "AIRFLOW__API_AUTH__JWT_SECRET": settings.jwt_secret,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.airflow_admin}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
    }


def airflow_services(home: Path, settings: ServeSettings) -> list[Service]:
    env = {**os.environ, **serve_environment(home, settings)}
    airflow = str(Path(sys.executable).with_name("airflow"))
    return [Service(f"airflow-{c}", [airflow, c], env) for c in AIRFLOW_COMPONENTS]


def superset_service(settings: ServeSettings) -> Service:
    argv = [
        str(SUPERSET_PYTHON),
        "-m",
        "dashboards",
        "serve",
        "--host",
        settings.host,
        "--port",
        str(settings.superset_port),
    ]
    return Service("superset", argv, {**os.environ, "PYTHONPATH": str(PROJECT)})


def sharing_service() -> Service | None:
    """The sharing service (uvicorn, SHARING_WORKERS workers) once a sharing snapshot exists."""
    if not (PROJECT / sharing_settings().snapshot).exists():
        return None
    return Service("sharing", [sys.executable, "-m", "sharing", "serve"], dict(os.environ))


def print_sharing_keys(timeout_seconds: float) -> None:
    """The service's URL and a fresh key for each demo consumer (their earlier keys stop)."""
    from sharing.demo import issue_demo_keys
    from sharing.operations import open_store

    settings = sharing_settings()
    url = f"http://{settings.host}:{settings.port}"
    wait_for(f"{url}/openapi.json", timeout_seconds, "the sharing service")
    store = open_store()
    try:
        keys = issue_demo_keys(store)
    finally:
        store.dispose()
    print(f"共享服务  {url}/docs  demo consumers' keys (header X-API-Key):")
    for consumer, key in keys.items():
        print(f"  {consumer:8} {key}")


def demo_hotline_port(env: dict[str, str]) -> str:
    return env.get("HOTLINE_PORT", "8765")


def demo_hotline_service(env: dict[str, str]) -> Service | None:
    """The demo city's hotline API (stands in for the vendor's server) when no real one is
    configured: the scheduled ingestion DAGs read it like the real thing."""
    city = Path(env.get("CITY_DIR", "data/city"))
    if env.get("HOTLINE_BASE_URL") or not (PROJECT / city / "city.json").exists():
        return None
    argv = [sys.executable, "-m", "simulator", "serve-hotline", "--out", str(city)]
    argv += ["--port", demo_hotline_port(env), "--token", env["HOTLINE_API_TOKEN"]]
    return Service("demo-hotline", argv, dict(os.environ))


def start(service: Service, run_dir: Path) -> int:
    """Start `service` in its own process group (so stop reaches its children), log to a file."""
    run_dir.mkdir(parents=True, exist_ok=True)
    pid_file = run_dir / f"{service.name}.pid"
    if (pid := running_pid(pid_file)) is not None:
        return pid
    with (run_dir / f"{service.name}.log").open("ab") as log:
        process = subprocess.Popen(
            service.argv,
            env=service.env,
            cwd=PROJECT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
    return process.pid


def running_pid(pid_file: Path) -> int | None:
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink()
        return None
    return pid


def stop_all(run_dir: Path, grace_seconds: float = 20.0) -> list[str]:
    """Stop every service started from `run_dir` (SIGTERM to its group, SIGKILL after grace)."""
    stopped = []
    for pid_file in sorted(run_dir.glob("*.pid")):
        pid = running_pid(pid_file)
        if pid is None:
            continue
        signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and group_alive(pid):
            time.sleep(0.3)
        if group_alive(pid):
            signal_group(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
        stopped.append(pid_file.stem)
    return stopped


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie leader (our own child, exited) holds the group id: reap it
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        finished = 0
    return finished == 0


def superset_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    command = [str(SUPERSET_PYTHON), "-m", "dashboards", *args]
    return subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=True)


def prepare_superset() -> None:
    """Import the dashboards, roles and demo accounts (idempotent) before Superset serves them;
    they read the published snapshot, so the demo must have run once."""
    if not Settings.load().published.exists():
        print("no published snapshot yet: run `make demo` first; Superset starts without data")
    try:
        superset_cli("import")
    except subprocess.CalledProcessError as failed:
        raise RuntimeError(f"dashboards import failed:\n{failed.stdout}{failed.stderr}") from None


def wait_for(url: str, timeout_seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{what} did not answer at {url} within {timeout_seconds:.0f} s")


def dags_message(unpaused: list[str]) -> str:
    """What `make serve` did to the pipeline's DAGs, for its output."""
    running = f"DAGs running on their schedules: {', '.join(pipeline_dag_ids())}"
    if unpaused:
        return f"{running}\n  unpaused (an earlier run had left them paused): {', '.join(unpaused)}"
    return running


def docs_lines() -> list[str]:
    """The two documentation sites the pipeline writes, as URLs to click, or what builds them."""
    pages = [
        ("dbt docs", Settings.load().published_docs / "index.html"),
        ("Data Docs", quality_paths()[2] / "data_docs" / "index.html"),
    ]
    return [
        f"{label:9} {page.resolve().as_uri() if page.exists() else '(not built yet: make demo)'}"
        for label, page in pages
    ]


def serve(home: Path, run_dir: Path, with_superset: bool, timeout_seconds: float = 240) -> None:
    from pipeline.airflow_setup import (
        migrate_and_create_pool,
        unpause_pipeline_dags,
        use_airflow_home,
    )

    written = ensure_generated_secrets(
        (*AIRFLOW_SECRETS, "HOTLINE_API_TOKEN"), "Airflow login, signing keys, demo hotline token"
    )
    if written:
        print(f".env: generated {', '.join(written)}")
    settings = serve_settings()
    use_airflow_home(home)
    migrate_and_create_pool()
    # before the scheduler starts, so that it schedules them from its first loop
    unpaused = unpause_pipeline_dags()
    services = []
    if hotline := demo_hotline_service(environment()):
        os.environ["HOTLINE_BASE_URL"] = f"http://127.0.0.1:{demo_hotline_port(environment())}"
        services.append(hotline)
    services += airflow_services(home, settings)
    if with_superset:
        prepare_superset()
        services.append(superset_service(settings))
    if sharing := sharing_service():
        services.append(sharing)
    else:
        print("no sharing snapshot yet: run `make demo` first; the sharing service is not started")
    for service in services:
        print(f"started {service.name} (pid {start(service, run_dir)})")
    airflow_url = f"http://{settings.host}:{settings.airflow_port}"
    wait_for(f"{airflow_url}/api/v2/monitor/health", timeout_seconds, "Airflow API server")
    # demo logins on this machine only; they come from .env, never from the code
    print(f"Airflow   {airflow_url}  {settings.airflow_admin} / {settings.airflow_admin_password}")
    if with_superset:
        superset_url = f"http://{settings.host}:{settings.superset_port}"
        wait_for(f"{superset_url}/health", timeout_seconds, "Superset")
        print(f"Superset  {superset_url}  demo logins:")
        print(superset_cli("accounts", "--show-passwords").stdout.rstrip())
    if sharing:
        print_sharing_keys(timeout_seconds)
    print(dags_message(unpaused))
    print("\n".join(docs_lines()))
    print(f"logs: {run_dir.resolve()}/*.log; stop everything with `make stop`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.serve", description=__doc__)
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--no-superset", action="store_true", help="Airflow only")
    args = parser.parse_args(argv)
    run_dir = Path(environment().get("SERVE_RUN_DIR", RUN_DIR))
    if args.command == "stop":
        stopped = stop_all(run_dir)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return 0
    if args.command == "status":
        for pid_file in sorted(run_dir.glob("*.pid")):
            state = "running" if running_pid(pid_file) else "gone"
            print(f"{pid_file.stem}: {state}")
        return 0
    home = Path(environment().get("AIRFLOW_HOME_DIR", AIRFLOW_HOME))
    with_superset = not args.no_superset and SUPERSET_PYTHON.exists()
    try:
        serve(home, run_dir, with_superset)
    except Exception:
        stop_all(run_dir)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
