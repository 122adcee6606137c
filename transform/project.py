"""What every engine's build reads off the dbt project and its run: the source tables the
project declares, the macros an adapter overrides, a timed dbt run and dbt's node timings. One
copy for the DuckDB, PostgreSQL and Spark builds and their benchmarks."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import threading
import time
from contextlib import suppress
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
    meanwhile: wall seconds, peak RSS, CPU seconds, exit code, the log and the node timings of
    run_results.json. Memory and CPU are those of dbt's process tree (dbt and, on Spark, the
    session's JVM, which dbt never waits for, so wait4 alone would miss it), sampled; a
    database server's processes are not in them."""
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
        sampler = TreeSampler(child.pid)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        tree_peak_mib, tree_cpu = sampler.stop()
    result = {
        "build_seconds": round(seconds, 2),
        "peak_rss_mib": max(round(usage.ru_maxrss / 1024), tree_peak_mib or 0),
        "cpu_seconds": round(max(usage.ru_utime + usage.ru_stime, tree_cpu or 0.0), 1),
        "dbt_exit_code": os.waitstatus_to_exitcode(status),
        "dbt_log": str(output),
    }
    run_results = target_path / "run_results.json"
    if run_results.exists():
        result["dbt"] = node_times(json.loads(run_results.read_text(encoding="utf-8")))
    return result


class TreeSampler:
    """The largest RSS sum of a process and its descendants, and their CPU seconds, sampled
    every 0.2 s with psutil (wait4's ru_maxrss is exact for one process but misses children
    never waited for, such as the JVM of a Spark session, and can include the parent's RSS at
    fork time); (None, None) when psutil is missing. A process's CPU time is its last sample:
    the last 0.2 s of each may be missed."""

    def __init__(self, pid: int):
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self.done = threading.Event()
        try:
            import psutil

            self.root = psutil.Process(pid)
        except Exception:
            self.root = None
            return
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.done.is_set():
            with suppress(Exception):
                rss = 0
                for process in [self.root, *self.root.children(recursive=True)]:
                    with suppress(Exception):
                        rss += process.memory_info().rss
                        times = process.cpu_times()
                        self.cpu[process.pid] = times.user + times.system
                self.peak = max(self.peak, rss)
            self.done.wait(0.2)

    def stop(self) -> tuple[int | None, float | None]:
        """(peak RSS of the tree in MiB, CPU seconds of the processes seen)."""
        self.done.set()
        if self.root is None:
            return None, None
        self.thread.join()
        return round(self.peak / 2**20), round(sum(self.cpu.values()), 1)
