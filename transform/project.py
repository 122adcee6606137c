"""What every engine's build reads off the dbt project and its run: the source tables the
project declares, the macros an adapter overrides, a timed dbt run and dbt's node timings. One
copy for the DuckDB, PostgreSQL and Spark builds and their benchmarks."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
from pathlib import Path

import yaml

from transform.dbt import DBT_PROJECT, dbt_executable

# dbt's statuses of a node that did its work (an exposure is a no-op)
OK_STATUSES = ("success", "pass", "no-op")


def source_tables(project: Path = DBT_PROJECT) -> list[tuple[str, str]]:
    """(schema, table) of every table the dbt sources declare, from the sources' yml."""
    tables = set()
    for path in sorted((project / "models").rglob("*.yml")):
        for source in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("sources", []):
            schema = source.get("schema", source["name"])
            for table in source.get("tables", []):
                tables.add((schema, table.get("identifier", table["name"])))
    return sorted(tables)


def adapter_overrides(adapter: str, project: Path = DBT_PROJECT) -> list[str]:
    """The macros with a variant for `adapter` (`<adapter>__NAME`): the SQL that differs
    from DuckDB's on that engine."""
    pattern = re.compile(r"\{%-?\s*macro\s+" + re.escape(adapter) + r"__(\w+)\s*\(")
    names = set()
    for path in sorted((project / "macros").glob("*.sql")):
        names |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return sorted(names)


def node_times(run_results: dict, slowest: int = 12) -> dict:
    """dbt's own elapsed time; nodes, seconds and failures by resource type; the slowest
    nodes (with their status when not ok)."""
    by_type: dict[str, dict] = {}
    nodes = []
    for r in run_results["results"]:
        kind = r["unique_id"].split(".")[0]
        entry = by_type.setdefault(kind, {"nodes": 0, "seconds": 0.0, "not_ok": 0})
        entry["nodes"] += 1
        entry["seconds"] += r.get("execution_time") or 0.0
        entry["not_ok"] += r["status"] not in OK_STATUSES
        nodes.append((r.get("execution_time") or 0.0, r["unique_id"], r["status"]))
    for entry in by_type.values():
        entry["seconds"] = round(entry["seconds"], 1)
    nodes.sort(reverse=True)
    return {
        "dbt_elapsed_seconds": round(run_results.get("elapsed_time", 0.0), 1),
        "node_seconds_by_type": by_type,
        "slowest_nodes": [
            {"node": uid.split(".", 2)[-1], "type": uid.split(".")[0], "seconds": round(s, 1)}
            | ({"status": st} if st not in OK_STATUSES else {})
            for s, uid, st in nodes[:slowest]
        ],
    }


def timed_dbt(
    command: str, target: str, work: Path, env: dict, as_of: dt.date | None, *args: str
) -> dict:
    """`dbt <command> --target <target>` in a child process, its target and log folders and
    its output (dbt-<command>.log) under `work`, so that another build of the project can run
    meanwhile: wall seconds, peak RSS, exit code, the log and the node timings of
    run_results.json. The peak RSS is wait4's ru_maxrss: the largest of dbt and the children
    it waited for (the Spark session's JVM; a database server's processes are not in it)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    target_path, log_path = work / "target", work / "logs"
    argv = [dbt_executable(), command, "--target", target, "--project-dir", str(DBT_PROJECT)]
    argv += ["--profiles-dir", str(DBT_PROJECT), "--target-path", str(target_path)]
    argv += ["--log-path", str(log_path), *args]
    if as_of is not None:
        argv += ["--vars", f"{{as_of_date: '{as_of.isoformat()}'}}"]
    output = work / f"dbt-{command}.log"
    with output.open("w", encoding="utf-8") as out:
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=work)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    result = {
        "build_seconds": round(seconds, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "dbt_exit_code": os.waitstatus_to_exitcode(status),
        "dbt_log": str(output),
    }
    run_results = target_path / "run_results.json"
    if run_results.exists():
        result["dbt"] = node_times(json.loads(run_results.read_text(encoding="utf-8")))
    return result
