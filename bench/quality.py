"""Quality benchmark: the quality step's time as a share of the dbt build time, on the ingested
warehouse of a city of N people (goal: at most 10 %).

    python -m bench.quality --people 1000000 [--target prod]

Reuses bench.dbt's cached city and ingested warehouse (bench/cache), builds a fresh copy with
`dbt build` (timed, in a child process), then runs `quality.runner.run_quality` on the built copy
in another child (timed the same way: wall time and peak RSS). Prints both, the share, and
writes bench/results/quality-N.json; asserts nothing.

    python -m bench.quality --people 100000 --before ../wt-before --rounds 2

A/B of the quality code: the same built copy (one `dbt build`, of this checkout's project) is
checked by the quality step of another checkout (`--before`, e.g. a `git worktree` of an older
commit; its child runs there, so it imports that checkout's `quality`) and of this one,
alternately (before, after, before, after...) `--rounds` times, so that both see the same
machine load. Writes bench/results/quality-N-ab.json with every run and each run's share of
the build; the within-run ratio after/before is the figure to rely on on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

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


def quality_step(
    warehouse: Path, as_of: dt.date, env: dict, people: int, checkout: Path = ROOT, tag: str = ""
) -> dict:
    """`python -m quality run` on the built copy, in a child run in `checkout` (whose `quality`
    it imports): wall seconds, peak RSS and the number of expectations it ran."""
    out = CACHE / f"quality-{people}{tag}"
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-m", "quality", "run", "--warehouse", str(warehouse)]
    argv += ["--as-of", as_of.isoformat(), "--operations", str(out / "operations.duckdb")]
    argv += ["--published", str(out / "published.duckdb"), "--docs-dir", str(out / "data_docs")]
    log = CACHE / f"quality-{people}{tag}.log"
    env = {**env, "PYTHONPATH": str(checkout)}
    with log.open("w", encoding="utf-8") as handle:
        started = time.perf_counter()
        child = subprocess.Popen(
            argv, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=checkout
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    with duckdb.connect(str(out / "operations.duckdb"), read_only=True) as store:
        (expectations,) = store.execute("SELECT count(*) FROM quality_results").fetchone()
    return {
        "command": "python -m quality run",
        "checkout": str(checkout),
        "commit": commit_of(checkout),
        "exit_code": os.waitstatus_to_exitcode(status),  # 1: a critical expectation failed
        "seconds": round(seconds, 1),
        # CPU time (user + system) of the child: what the step costs, less sensitive than
        # wall time to the other processes of a shared machine
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "expectations": expectations,
        "log": str(log.relative_to(ROOT)),
    }


def commit_of(checkout: Path) -> str:
    """The checkout's commit, with `+` when its tracked files differ from it."""
    git = ["git", "-C", str(checkout)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"], check=False).returncode
    return head.stdout.strip() + ("+" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--target", default="prod", choices=["prod", "demo", "ci"])
    parser.add_argument("--before", type=Path, help="A/B: the other checkout's quality step")
    parser.add_argument("--rounds", type=int, default=2, help="A/B: runs of each checkout")
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
        if args.before:
            runs = ab_runs(copy, as_of, {**env, "WAREHOUSE": str(copy)}, args, build)
        else:
            quality = quality_step(copy, as_of, {**env, "WAREHOUSE": str(copy)}, args.people)
    finally:
        _remove_warehouse(copy)
    if args.before:
        return write_ab(args, as_of, build, runs)
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
    return write_result(result, f"quality-{args.people}.json")


def ab_runs(copy: Path, as_of: dt.date, env: dict, args, build: dict) -> list[dict]:
    runs = []
    for round_ in range(1, args.rounds + 1):
        for side, checkout in (("before", args.before.resolve()), ("after", ROOT)):
            run = quality_step(copy, as_of, env, args.people, checkout, f"-{side}")
            run |= {"side": side, "round": round_}
            run["share_of_build"] = round(run["seconds"] / build["seconds"], 4)
            console.print(
                f"round {round_} {side} ({run['commit']}, {run['expectations']} expectations): "
                f"{run['seconds']:,.1f} s = {run['share_of_build']:.1%} of the build, "
                f"CPU {run['cpu_seconds']:,.1f} s"
            )
            runs.append(run)
    return runs


def write_ab(args, as_of: dt.date, build: dict, runs: list[dict]) -> int:
    def mean(side: str, measure: str = "seconds") -> float:
        values = [r[measure] for r in runs if r["side"] == side]
        return sum(values) / len(values)

    before, after = mean("before"), mean("after")
    cpu_before, cpu_after = mean("before", "cpu_seconds"), mean("after", "cpu_seconds")
    console.print(
        f"{args.people:,} people, dbt build {build['seconds']:,.1f} s: quality step before "
        f"{before:,.1f} s ({before / build['seconds']:.1%}), after {after:,.1f} s "
        f"({after / build['seconds']:.1%}); after/before {after / before:.2f} (wall), "
        f"{cpu_after / cpu_before:.2f} (CPU: {cpu_before:,.1f} s, {cpu_after:,.1f} s)"
    )
    result = {
        "people": args.people,
        "as_of_date": as_of.isoformat(),
        "target": args.target,
        "dbt_build": build,
        "dbt_build_commit": commit_of(ROOT),
        "runs": runs,
        "mean_seconds": {"before": round(before, 1), "after": round(after, 1)},
        "mean_share_of_build": {
            "before": round(before / build["seconds"], 4),
            "after": round(after / build["seconds"], 4),
        },
        "after_over_before": round(after / before, 3),
        "mean_cpu_seconds": {"before": round(cpu_before, 1), "after": round(cpu_after, 1)},
        "cpu_after_over_before": round(cpu_after / cpu_before, 3),
        "goal": GOAL,
        "machine": machine(),
    }
    return write_result(result, f"quality-{args.people}-ab.json")


def write_result(result: dict, name: str) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / name
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
