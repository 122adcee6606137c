"""Simulator benchmark: rows/s, peak RSS and disk for a city of N people.

    python -m bench.simulator --people 1000000 [--months 22] [--out bench/cache/sim-1000000]

Prints the figures and writes them to bench/results/simulator-<N>.json; asserts nothing.
The city is generated in a child process so that its peak RSS is measured alone.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path("bench/results")


def _disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=22)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = args.out or Path("bench/cache") / f"sim-{args.people}"
    command = [
        sys.executable,
        "-m",
        "simulator",
        "generate",
        "--people",
        str(args.people),
        "--months",
        str(args.months),
        "--seed",
        str(args.seed),
        "--out",
        str(out),
    ]
    print("$ " + " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    counts = json.loads((out / "city.json").read_text(encoding="utf-8"))["counts"]
    rows = sum(v for k, v in counts.items() if k != "hcp_files")
    result = {
        "people": args.people,
        "months": args.months,
        "seconds": round(seconds, 1),
        "rows": rows,
        "rows_per_second": round(rows / seconds),
        "peak_rss_mib": round(peak_kib / 1024),
        "disk_mib": round(_disk_bytes(out) / 2**20),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "goals": {"peak_rss_mib_max_for_10M": 4096, "disk_gb_max_for_10M": 25},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"simulator-{args.people}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n{args.people:,} people, {args.months} months: {rows:,} rows in {seconds:,.1f} s "
        f"= {result['rows_per_second']:,} rows/s; peak RSS {result['peak_rss_mib']:,} MiB; "
        f"disk {result['disk_mib']:,} MiB"
    )
    per_person_disk = result["disk_mib"] / args.people
    print(
        f"extrapolated to 10,000,000 people: ~{per_person_disk * 1e7 / 1024:,.1f} GiB on disk, "
        f"~{seconds * 1e7 / args.people / 3600:,.1f} h (goal: ≤ 4 GiB RSS, ≤ 25 GB disk)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
