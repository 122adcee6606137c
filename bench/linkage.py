"""Linkage benchmark: precision and recall of identity linkage against the simulator's truth,
per hard-case kind and method, beside the exact-number-only peer (today's behaviour), and the
linkage's wall time and peak RSS, on the ingested warehouse of a city of N people.

    python -m bench.linkage --people 100000          (tier S)

Reuses bench.dbt's cached city and ingested warehouse (bench/cache; the city needs its ground
truth), links a copy in a child process (timed: wall seconds and peak RSS), reads
`linkage.outcomes` and the manifest, prints the table and writes bench/results/linkage-N.json
and .md; asserts nothing. Goals (issue #34): precision >= 0.995 and recall >= 0.97 overall;
linkage <= 5 minutes at M.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import duckdb

from bench.dbt import RESULTS, ROOT, city_info, console, copy_of, ensure_city, ensure_warehouse

GOALS = {"precision": 0.995, "recall": 0.97, "seconds_at_M": 300}
BAND = (0.80, 0.99)


def link_in_child(warehouse: Path) -> dict:
    """`prepare` and `decide` in a child process: its wall seconds and its own peak RSS (the
    child prints it: the parent's RUSAGE_CHILDREN would keep the generating child's)."""
    code = (
        "import duckdb, resource, sys; from linkage import run; "
        "c = duckdb.connect(sys.argv[1]); run.prepare(c); "
        f"run.decide(c, [], {BAND!r}); c.close(); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, str(warehouse)],
        check=True,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    seconds = time.monotonic() - start
    peak_kib = int(done.stdout.split()[-1])
    return {"seconds": round(seconds, 1), "peak_rss_gib": round(peak_kib / 2**20, 2)}


TABLES = {"work_orders": "work_order", "bj_jbxx": "case"}


def true_persons(city: Path) -> dict[tuple, str]:
    """The true person of each (record kind, key) linkage decides, from the manifest."""
    manifest = sqlite3.connect(city / "manifest" / "manifest.sqlite")
    try:
        return {
            (TABLES[table], key): true_id
            for table, key, true_id in manifest.execute(
                "select table_name, key, true_id from identity_truth "
                "where table_name in ('work_orders', 'bj_jbxx')"
            )
        }
    finally:
        manifest.close()


def planted_cases(city: Path) -> dict[tuple, dict[str, str]]:
    """{(record kind, key): {hard-case kind: detail}} as the simulator planted them."""
    manifest = sqlite3.connect(city / "manifest" / "manifest.sqlite")
    cases: dict[tuple, dict[str, str]] = defaultdict(dict)
    try:
        for key, kind, detail in manifest.execute("select key, kind, detail from linkage_cases"):
            cases["work_order", key][kind] = detail
    finally:
        manifest.close()
    return cases


def truth_of(city: Path) -> tuple[dict[tuple, str], dict[tuple, set[str]]]:
    """(the true person of each (record kind, key), the hard-case kinds planted in each)."""
    kinds = defaultdict(set, {key: set(planted) for key, planted in planted_cases(city).items()})
    return true_persons(city), kinds


def score(outcomes: list[tuple], truth: dict, kinds: dict) -> dict:
    """Per kind (a work order with two hard cases counts in both; 'all' once; cases of an
    invalid number on their own row) and method: records, links, correct links, precision,
    recall; and the outcome counts."""
    tally: dict[str, Counter] = defaultdict(Counter)
    for record_kind, record_key, outcome, method, person in outcomes:
        key = (record_kind, record_key)
        planted = sorted(kinds.get(key, ())) or ["plain"]
        for kind in [
            "all",
            *(planted if record_kind == "work_order" else ["case: invalid number"]),
        ]:
            row = tally[kind]
            row["records"] += 1
            row[outcome] += 1
            if outcome == "linked":
                right = person == truth.get(key)
                for label in ("links", f"links_{method}"):
                    row[label] += 1
                    row[label.replace("links", "correct")] += right
    return {kind: _rates(dict(row)) for kind, row in sorted(tally.items())}


def _rates(row: dict) -> dict:
    row["precision"] = round(row.get("correct", 0) / row["links"], 4) if row.get("links") else None
    row["recall"] = round(row.get("correct", 0) / row["records"], 4)
    exact, right = row.get("links_exact", 0), row.get("correct_exact", 0)
    row["peer_exact_only"] = {
        "links": exact,
        "precision": round(right / exact, 4) if exact else None,
        "recall": round(right / row["records"], 4),
    }
    return row


def markdown(report: dict) -> str:
    lines = [
        f"# Identity linkage at {report['people']:,} people ({report['started']})",
        "",
        f"{report['records']:,} records (every 12345 work order, the persons' cases of an "
        f"invalid number); linkage {report['timing']['seconds']} s, peak RSS "
        f"{report['timing']['peak_rss_gib']} GiB. Peer: exact-number linkage only.",
        "",
        "| kind | records | linked | precision | recall | exact-only links | exact-only recall"
        " | + rule | + model | review | unlinked |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, row in report["by_kind"].items():
        peer = row["peer_exact_only"]
        lines.append(
            f"| {kind} | {row['records']:,} | {row.get('links', 0):,} | {row['precision']} | "
            f"{row['recall']} | {peer['links']:,} | {peer['recall']} | "
            f"{row.get('links_rule', 0):,} ({_share(row, 'rule')}) | "
            f"{row.get('links_probabilistic', 0):,} ({_share(row, 'probabilistic')}) | "
            f"{row.get('review', 0):,} | {row.get('unlinked', 0):,} |"
        )
    lines += ["", "(+ rule / + model: links by that method, with their precision.)"]
    return "\n".join(lines) + "\n"


def _share(row: dict, method: str) -> str:
    links = row.get(f"links_{method}", 0)
    return f"{row.get(f'correct_{method}', 0) / links:.4f}" if links else "—"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.linkage", description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    city = ensure_city(args.people)
    warehouse, _ = ensure_warehouse(city, args.people, city_info(city))
    copy = copy_of(
        warehouse, "warehouse-linkage"
    )  # (a file named linkage: its catalog and the schema clash)
    timing = link_in_child(copy)
    conn = duckdb.connect(str(copy), read_only=True)
    outcomes = conn.execute(
        "select record_kind, record_key, outcome, method, person_id from linkage.outcomes"
    ).fetchall()
    conn.close()
    truth, kinds = truth_of(city)
    report = {
        "started": started,
        "people": args.people,
        "records": len(outcomes),
        "band": BAND,
        "goals": GOALS,
        "timing": timing,
        "by_kind": score(outcomes, truth, kinds),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"linkage-{args.people}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    console.print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
