"""Quality benchmark: the quality step's time as a share of the dbt build time, on the ingested
warehouse of a city of N people (goal: at most 10 %).

    python -m bench.quality --people 1000000 [--target prod]

Reuses bench.dbt's cached city and ingested warehouse (bench/cache), builds a fresh copy with
`dbt build` (timed, in a child process), then runs `quality.runner.run_quality` on the built copy
in another child (timed the same way: wall time and peak RSS). Prints both, the share, and
writes bench/results/quality-N.json; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.dbt import (
    CACHE,
    RESULTS,
    ROOT,
    _remove_warehouse,
    city_info,
    console,
    copy_of,
    dbt,
    dbt_env,
    ensure_city,
    ensure_warehouse,
    machine,
)

GOAL = 0.10


def quality_step(warehouse: Path, as_of: dt.date, env: dict, people: int) -> dict:
    """`python -m quality run` on the built copy, in a child: wall seconds and peak RSS."""
    out = CACHE / f"quality-{people}"
    argv = [sys.executable, "-m", "quality", "run", "--warehouse", str(warehouse)]
    argv += ["--as-of", as_of.isoformat(), "--operations", str(out / "operations.duckdb")]
    argv += ["--published", str(out / "published.duckdb"), "--docs-dir", str(out / "data_docs")]
    log = CACHE / f"quality-{people}.log"
    with log.open("w", encoding="utf-8") as handle:
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    return {
        "command": "python -m quality run",
        "exit_code": os.waitstatus_to_exitcode(status),  # 1: a critical expectation failed
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "log": str(log.relative_to(ROOT)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--target", default="prod", choices=["prod", "demo", "ci"])
    args = parser.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    city = ensure_city(args.people)
    key = city_info(city)
    warehouse, _ = ensure_warehouse(city, args.people, key)
    as_of = dt.date.fromisoformat(key["clock"][:10]) - dt.timedelta(days=1)
    copy = copy_of(warehouse, f"quality-{args.people}.duckdb")
    env, _ = dbt_env(copy, args.target, args.people)
    try:
        log = CACHE / f"quality-dbt-build-{args.people}.log"
        build = dbt(["build"], copy, env, as_of, args.target, log)
        quality = quality_step(copy, as_of, {**env, "WAREHOUSE": str(copy)}, args.people)
    finally:
        _remove_warehouse(copy)
    share = quality["seconds"] / build["seconds"] if build["seconds"] else None
    verdict = "within" if share is not None and share <= GOAL else "OVER"
    console.print(
        f"{args.people:,} people: dbt build {build['seconds']:,.1f} s, quality step "
        f"{quality['seconds']:,.1f} s = {share:.1%} of the build ({verdict} the {GOAL:.0%} goal)"
    )
    result = {
        "people": args.people,
        "as_of_date": as_of.isoformat(),
        "target": args.target,
        "dbt_build": build,
        "quality": quality,
        "quality_share_of_build": round(share, 4) if share is not None else None,
        "goal": GOAL,
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"quality-{args.people}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
