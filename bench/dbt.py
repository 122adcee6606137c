"""dbt benchmark: `dbt build` of the whole project on the ingested warehouse of a city of N people.

    python -m bench.dbt --people 1000000 [--target prod] [--build-only]

The city comes from bench/cache/sim-N (generated once with the same arguments as
bench.simulator, then reused). Its six systems are ingested once into
bench/cache/warehouse-N.duckdb, with the city's hotline API up for the load; the warehouse is
reused while the city's city.json (clock and counts) is unchanged, so that a re-run is only the
dbt part. Each measurement runs on a fresh copy of that warehouse, in a child process:

  build   `dbt build` (seeds, models, data tests, unit tests): the figure that counts
  seed    `dbt seed`  ┐ on a second copy, one after the other, so that models and tests
  run     `dbt run`   │ cost are visible apart (skipped with --build-only)
  test    `dbt test`  ┘

with --vars as_of_date = the city's clock date minus one day. Wall time is measured around the
child; peak RSS is the child's own ru_maxrss as returned by os.wait4 (dbt and its DuckDB run in
that one process; descendants it waited for would count too). Prints a table and writes
bench/results/dbt-N.json; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from transform.project import TreeSampler, node_times

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
RESULTS = ROOT / "bench" / "results"
PROJECT = ROOT / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")
MONTHS, SEED = 22, 20250101  # bench.simulator's defaults: the same city, the same cache
# Used only when neither the environment nor .env has a key; the bench's warehouse is synthetic.
BENCH_IDENTITY_KEY = "bench-identity-key-not-a-secret-0123456789"
SETTINGS_SQL = (
    "select current_setting('memory_limit') as memory_limit, "
    "current_setting('temp_directory') as temp_directory, "
    "current_setting('threads') as duckdb_threads, "
    "current_setting('max_temp_directory_size') as max_temp_directory_size, "
    "current_setting('preserve_insertion_order') as preserve_insertion_order, "
    "version() as duckdb_version"
)

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


# ── the city ──────────────────────────────────────────────────────────────────────────────────


def ensure_city(people: int) -> Path:
    city = CACHE / f"sim-{people}"
    if (city / "city.json").exists():
        console.print(f"city: reusing {city.relative_to(ROOT)}")
        return city
    command = [sys.executable, "-m", "simulator", "generate", "--people", str(people)]
    command += ["--months", str(MONTHS), "--seed", str(SEED), "--out", str(city)]
    console.print("$ " + " ".join(command[1:]))
    subprocess.run(command, check=True, cwd=ROOT)
    return city


def city_info(city: Path) -> dict:
    raw = (city / "city.json").read_bytes()
    info = json.loads(raw)
    return {"sha256": hashlib.sha256(raw).hexdigest(), "clock": info["clock"], "info": info}


# ── the ingested warehouse ────────────────────────────────────────────────────────────────────


@contextmanager
def hotline_up(city: Path):
    """The city's hotline API in a child process (not a thread: the load would share its GIL),
    its URL and token in the environment for the duration."""
    token = secrets.token_hex(16)
    command = [sys.executable, "-m", "simulator", "serve-hotline", "--out", str(city)]
    command += ["--port", "0", "--token", token, "--error-rate", "0"]
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = server.stdout.readline()
        match = re.search(r"http://[^/\s]+", line)
        if not match:
            raise RuntimeError(f"the hotline API did not start: {line!r}")
        env = {"HOTLINE_API_TOKEN": token, "HOTLINE_BASE_URL": match.group(0)}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        server.terminate()
        server.wait(timeout=30)


def sources_for(city: Path, people: int) -> Path:
    """The default sources file pointed at `city`."""
    text = (ROOT / "ingestion" / "sources.yaml").read_text(encoding="utf-8")
    path = CACHE / f"sources-{people}.yaml"
    path.write_text(text.replace("${CITY_DIR:-data/city}", str(city.resolve())), encoding="utf-8")
    return path


def _remove_warehouse(path: Path) -> None:
    for file in (path, path.with_name(path.name + ".wal"), path.with_name(path.name + ".lock")):
        file.unlink(missing_ok=True)


def ensure_warehouse(city: Path, people: int, key: dict) -> tuple[Path, dict]:
    """The city ingested: (warehouse, what the ingestion recorded). Reused while city.json is
    the same; the key file is written last, so an interrupted load is redone. The load runs in
    a child process, so that this one stays small (a child inherits its parent's ru_maxrss)."""
    warehouse = CACHE / f"warehouse-{people}.duckdb"
    key_file = CACHE / f"warehouse-{people}.json"
    if warehouse.exists() and key_file.exists():
        recorded = json.loads(key_file.read_text(encoding="utf-8"))
        if recorded.get("city_sha256") == key["sha256"]:
            console.print(f"warehouse: reusing {warehouse.relative_to(ROOT)} (city unchanged)")
            return warehouse, recorded
    command = [sys.executable, "-m", "bench.dbt", "--people", str(people), "--ingest-only"]
    subprocess.run(command, check=True, cwd=ROOT)
    return warehouse, json.loads(key_file.read_text(encoding="utf-8"))


def ingest(city: Path, people: int, key: dict) -> None:
    """Load the six systems of `city` into a new bench/cache/warehouse-N.duckdb."""
    from ingestion.runner import run

    warehouse = CACHE / f"warehouse-{people}.duckdb"
    key_file = CACHE / f"warehouse-{people}.json"

    key_file.unlink(missing_ok=True)
    _remove_warehouse(warehouse)
    as_of = dt.date.fromisoformat(key["clock"][:10])
    console.print(f"ingesting {city.relative_to(ROOT)} into {warehouse.relative_to(ROOT)} …")
    last = [time.monotonic()]

    def progress(system: str, table: str, rows: int) -> None:
        rate = rows / max(time.monotonic() - last[0], 1e-6)
        console.print(f"  {system}.{table}: {rows:,} rows ({rate:,.0f} rows/s)")
        last[0] = time.monotonic()

    started = time.perf_counter()
    with hotline_up(city):
        results = run(sources_for(city, people), warehouse, None, as_of, progress)
    seconds = time.perf_counter() - started
    for r in results:
        console.print(
            f"  {r.system:<20} {r.status:<6} {r.rows_read:>12,} read {r.rows_new:>12,} new "
            f"{r.rows_quarantined:>9,} quarantined {r.seconds:>8,.1f} s"
        )
    failed = [f"{r.system}: {r.message}" for r in results if r.status != "ok"]
    if failed:
        raise SystemExit("ingestion failed: " + "; ".join(failed))
    recorded = {
        "city_sha256": key["sha256"],
        "city_clock": key["clock"],
        "as_of": as_of.isoformat(),
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "systems": {
            r.system: {
                "rows_read": r.rows_read,
                "rows_new_versions": r.rows_new,
                "rows_quarantined": r.rows_quarantined,
                "seconds": round(r.seconds, 1),
            }
            for r in results
        },
    }
    key_file.write_text(json.dumps(recorded, indent=2) + "\n", encoding="utf-8")


def raw_counts(warehouse: Path) -> dict[str, int]:
    import duckdb

    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' "
            "ORDER BY table_name"
        ).fetchall()
        return {t: conn.execute(f'SELECT COUNT(*) FROM raw."{t}"').fetchone()[0] for (t,) in tables}
    finally:
        conn.close()


# ── dbt ───────────────────────────────────────────────────────────────────────────────────────


def dbt_env(warehouse: Path, target: str, people: int) -> tuple[dict[str, str], str]:
    from groundfloor.settings import environment, secret

    env = {**environment(), **os.environ, "WAREHOUSE": str(warehouse), "DBT_TARGET": target}
    key_source = "environment/.env"
    if not secret("IDENTITY_KEY"):
        env["IDENTITY_KEY"] = BENCH_IDENTITY_KEY
        key_source = "bench value"
    # The bench's own spill folder (unless one is set), removed with the copy.
    env.setdefault("DUCKDB_TEMP_DIRECTORY", str(CACHE / f"duckdb-spill-{people}"))
    return env, key_source


def dbt(
    command: list[str], warehouse: Path, env: dict, as_of: dt.date, target: str, log: Path
) -> dict:
    """One dbt command in a child process: wall seconds, peak RSS, exit code, node summary."""
    target_path = CACHE / "dbt-target"
    argv = [str(DBT), *command, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
    argv += ["--target", target, "--target-path", str(target_path)]
    argv += ["--log-path", str(CACHE / "dbt-logs"), "--vars", f"{{as_of_date: '{as_of}'}}"]
    console.print(f"$ dbt {' '.join(command)} (log: {log.relative_to(ROOT)})")
    with log.open("w", encoding="utf-8") as out:
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT)
        sampler = TreeSampler(child.pid)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        sampled, cpu_seconds = sampler.stop()
    child.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace")
    done = re.findall(r"Done\. (PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+.*TOTAL=\d+)", text)
    result = {
        "command": "dbt " + " ".join(command),
        "exit_code": child.returncode,
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "peak_rss_mib_sampled": sampled,
        "cpu_seconds_sampled": cpu_seconds,
        "summary": done[-1] if done else None,
    }
    run_results = target_path / "run_results.json"
    if run_results.exists() and command[0] in ("build", "run", "seed", "test"):
        result.update(node_times(json.loads(run_results.read_text(encoding="utf-8"))))
    if child.returncode != 0:
        errors = [ln for ln in text.splitlines() if "ERROR" in ln or "FAIL" in ln]
        result["errors"] = errors[-30:]
        console.print(f"[red]dbt {command[0]} exited {child.returncode}[/red]")
        for line in errors[-30:]:
            console.print("  " + line)
    return result


def duckdb_settings(warehouse: Path, env: dict, as_of: dt.date, target: str) -> dict:
    """The DuckDB settings dbt's connection actually has (target, env vars and defaults)."""
    log = CACHE / "dbt-settings.log"
    argv = [str(DBT), "show", "--inline", SETTINGS_SQL, "--output", "json", "--log-format", "json"]
    argv += ["--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT), "--target", target]
    argv += ["--target-path", str(CACHE / "dbt-target"), "--log-path", str(CACHE / "dbt-logs")]
    argv += ["--vars", f"{{as_of_date: '{as_of}'}}"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=PROJECT)
    log.write_text(out.stdout + out.stderr, encoding="utf-8")
    for line in out.stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        preview = event.get("data", {}).get("preview")
        if preview:
            rows = json.loads(preview) if isinstance(preview, str) else preview
            if rows:
                return rows[0]
    return {"error": f"dbt show exited {out.returncode}, see {log.relative_to(ROOT)}"}


def copy_of(warehouse: Path, name: str) -> Path:
    copy = CACHE / name
    _remove_warehouse(copy)
    shutil.copyfile(warehouse, copy)
    return copy


# ── the report ────────────────────────────────────────────────────────────────────────────────


def machine() -> dict:
    import duckdb

    try:
        import psutil

        ram = psutil.virtual_memory().total
    except ImportError:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    from dbt.version import __version__ as dbt_version

    return {
        "cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dbt_core": dbt_version,
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def models_version() -> dict:
    """The git commit, plus a hash of the dbt project's files (they may be uncommitted)."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "dbt_project", "transform"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    digest = hashlib.sha256()
    for folder in ("models", "macros", "seeds", "tests"):
        for path in sorted((PROJECT / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(PROJECT)).encode() + b"\0" + path.read_bytes())
    return {
        "git_commit": commit,
        "uncommitted_paths": len(dirty),
        "dbt_project_sha256": digest.hexdigest()[:16],
        "models": sum(1 for _ in (PROJECT / "models").rglob("*.sql")),
    }


def print_table(people: int, raw: dict[str, int], steps: dict[str, dict]) -> None:
    table = Table(title=f"dbt on {people:,} people ({sum(raw.values()):,} raw rows)")
    columns = ("step", "exit", "wall s", "dbt nodes s", "peak RSS MiB", "sampled", "dbt summary")
    for name in columns:
        table.add_column(name, justify="left" if name in ("step", "dbt summary") else "right")
    for name, r in steps.items():
        table.add_row(
            name,
            str(r["exit_code"]) if r["exit_code"] == 0 else f"[red]{r['exit_code']}[/red]",
            f"{r['seconds']:,.1f}",
            f"{r.get('dbt_elapsed_seconds', 0):,.1f}",
            f"{r['peak_rss_mib']:,}",
            f"{r['peak_rss_mib_sampled'] or 0:,}",
            r.get("summary") or "-",
        )
    console.print(table)
    build = steps.get("build", {})
    if build.get("slowest_nodes"):
        slow = Table(title="slowest nodes of dbt build")
        for name in ("node", "type", "seconds"):
            slow.add_column(name, justify="right" if name == "seconds" else "left")
        for n in build["slowest_nodes"]:
            slow.add_row(n["node"], n["type"], f"{n['seconds']:,.1f}")
        console.print(slow)
        kinds = build["node_seconds_by_type"]
        console.print(
            "dbt build node time by type: "
            + ", ".join(f"{k} {v['nodes']} nodes {v['seconds']:,.1f} s" for k, v in kinds.items())
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument(
        "--target",
        default="prod",
        choices=["prod", "demo", "ci"],
        help="dbt target of dbt_project/profiles.yml (prod: memory_limit and temp_directory set)",
    )
    parser.add_argument("--build-only", action="store_true", help="skip seed/run/test apart")
    parser.add_argument(
        "--keep-copies", action="store_true", help="keep the built warehouse copies"
    )
    parser.add_argument("--ingest-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    machine_info = machine()

    city = ensure_city(args.people)
    key = city_info(city)
    if args.ingest_only:
        ingest(city, args.people, key)
        return 0
    warehouse, ingestion = ensure_warehouse(city, args.people, key)
    raw = raw_counts(warehouse)
    as_of = dt.date.fromisoformat(key["clock"][:10]) - dt.timedelta(days=1)
    console.print(
        f"city clock {key['clock']}, as_of_date {as_of}; warehouse "
        f"{warehouse.stat().st_size / 2**20:,.0f} MiB, {sum(raw.values()):,} raw rows"
    )

    steps: dict[str, dict] = {}
    copies = []
    build_copy = copy_of(warehouse, f"dbt-build-{args.people}.duckdb")
    copies.append(build_copy)
    env, key_source = dbt_env(build_copy, args.target, args.people)
    settings = duckdb_settings(build_copy, env, as_of, args.target)
    console.print(f"DuckDB settings of target {args.target}: {settings}")
    steps["build"] = dbt(
        ["build"], build_copy, env, as_of, args.target, CACHE / f"dbt-build-{args.people}.log"
    )
    built_size = build_copy.stat().st_size
    if not args.build_only:
        parts_copy = copy_of(warehouse, f"dbt-parts-{args.people}.duckdb")
        copies.append(parts_copy)
        env, _ = dbt_env(parts_copy, args.target, args.people)
        for command in ("seed", "run", "test"):
            log = CACHE / f"dbt-{command}-{args.people}.log"
            steps[command] = dbt([command], parts_copy, env, as_of, args.target, log)
            if steps[command]["exit_code"] != 0 and command != "test":
                break
    if not args.keep_copies:
        for copy in copies:
            _remove_warehouse(copy)
        shutil.rmtree(CACHE / f"duckdb-spill-{args.people}", ignore_errors=True)

    print_table(args.people, raw, steps)
    result = {
        "people": args.people,
        "city_clock": key["clock"],
        "as_of_date": as_of.isoformat(),
        "target": args.target,
        "identity_key": key_source,
        "duckdb_settings": settings,
        "models": models_version(),
        "raw_rows": raw,
        "raw_rows_total": sum(raw.values()),
        "warehouse_mib": round(warehouse.stat().st_size / 2**20),
        "warehouse_after_build_mib": round(built_size / 2**20),
        "ingestion": {k: ingestion.get(k) for k in ("seconds", "peak_rss_mib", "systems")},
        "steps": steps,
        "peak_rss_method": (
            "peak_rss_mib: ru_maxrss of the dbt child from os.wait4 (dbt and DuckDB run in that "
            "one process); peak_rss_mib_sampled: psutil, RSS of the child's tree every 0.2 s"
        ),
        "bench_process_peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ),
        "machine": machine_info,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"dbt-{args.people}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"written {out.relative_to(ROOT)}")
    return 0 if all(s["exit_code"] == 0 for s in steps.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
