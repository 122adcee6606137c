"""Sharing service benchmark (`make bench-sharing`): verification and query calls against the
service (uvicorn, SHARING_WORKERS workers, every request audited) and against the naive peer
(the same calls answered by opening the warehouse's DuckDB file per request), with a sharing
snapshot swapped in halfway through our run. The load generator runs on the same machine.

    python -m bench.sharing --warehouse PATH [--seconds 60] [--connections 32] [--name M]

PATH is a built working warehouse (the tier-M one of `make bench TIER=M`, or the demo's
`data/warehouse/warehouse.duckdb` for a smoke run). Report: bench/results/sharing-<name>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

from sharing.catalogue import load_catalogue
from sharing.registry import load_consumers, load_grants
from sharing.snapshot import build_snapshot
from sharing.store import Store

RESULTS = Path(__file__).with_name("results")
GOALS = {"verify": {"rps": 1000, "p99_ms": 50}, "query": {"rps": 300}}
SAMPLE = 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def residents(warehouse: Path, district: str | None) -> list[tuple[str, str]]:
    """(identity number, name) of up to SAMPLE residents, from the identity vault."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(
            "SELECT v.identity_number, v.name FROM main_restricted.identity_persons v "
            "JOIN main_marts.person_file p USING (person_key) WHERE p.is_resident "
            "AND v.name IS NOT NULL AND (? IS NULL OR p.hukou_region_code = ?) "
            "ORDER BY hash(v.person_key) LIMIT ?",
            [district, district, SAMPLE],
        ).fetchall()
    finally:
        conn.close()


# --- a small HTTP/1.1 keep-alive client: the load generator must not be the bottleneck ---------


async def one_connection(port: int, requests, stop: float, latencies: list, statuses: dict):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            payload = next(requests)
            started = time.perf_counter()
            writer.write(payload)
            status = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")
    )
    await reader.readexactly(length)
    return status


def request_bytes(method: str, path: str, key: str, body: dict | None = None) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def cycle(items: list[bytes]):
    while True:
        yield from items


def load(port: int, payloads: list[bytes], seconds: float, connections: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    requests = cycle(payloads)
    started = time.perf_counter()
    stop = started + seconds

    async def run() -> None:
        await asyncio.gather(
            *(one_connection(port, requests, stop, latencies, statuses) for _ in range(connections))
        )

    asyncio.run(run())
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    errors = sum(n for status, n in statuses.items() if status >= 500)
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors,
    }


# --- the runs ---------------------------------------------------------------------------------


def start_server(argv: list[str], env: dict, log: Path, port: int) -> subprocess.Popen:
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        if process.poll() is not None:
            raise SystemExit(f"server stopped, see {log}")
        time.sleep(0.3)
    raise SystemExit(f"server did not start, see {log}")


def payloads(people, district_people, keys: dict[str, str]) -> dict[str, list[bytes]]:
    verify = [
        request_bytes("POST", "/v1/verify/identity", keys["gaj"], {"identity_number": n, "name": m})
        for n, m in people
    ]
    query = [
        request_bytes("GET", f"/v1/persons/{n}?fields=name,age,hukou_region_code", keys["zgq"])
        for n, _ in district_people
    ]
    return {"verify": verify, "query": query}


def ours(args, work: Path, kinds: dict[str, list[bytes]], snapshot_args: dict) -> dict:
    port = free_port()
    env = {
        **os.environ,
        "SHARING_STORE_URL": f"sqlite:///{work / 'store.db'}",
        "SHARING_SNAPSHOT": str(snapshot_args["target"]),
        "SHARING_RATE_PER_SECOND": "1000000",
        "SHARING_BURST": "1000000",
    }
    argv = [sys.executable, "-m", "sharing", "serve", "--port", str(port)]
    process = start_server(argv, env, work / "service.log", port)
    results = {}
    try:
        # a publish swap in the middle of the verification run: no request may fail for it
        swap = threading.Timer(args.seconds / 2, lambda: build_snapshot(**snapshot_args))
        swap.start()
        results["verify"] = load(port, kinds["verify"], args.seconds, args.connections)
        swap.join()
        results["verify"]["snapshot_swapped_during_run"] = True
        # "a publish swap during the load loses no request": every request of that run had 200
        answered = results["verify"]["statuses"].get("200", 0)
        results["verify"]["lost_during_swap"] = results["verify"]["requests"] - answered
        results["query"] = load(port, kinds["query"], args.seconds, args.connections)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return results


def peer(args, work: Path, warehouse: Path, kinds: dict[str, list[bytes]]) -> dict:
    port = free_port()
    env = {**os.environ, "BENCH_PEER_WAREHOUSE": str(warehouse)}
    argv = [sys.executable, "-m", "uvicorn", "bench.sharing_peer:app", "--port", str(port)]
    argv += ["--workers", os.environ.get("SHARING_WORKERS", "2"), "--no-access-log"]
    process = start_server(argv, env, work / "peer.log", port)
    try:
        seconds, connections = args.seconds, args.connections
        return {kind: load(port, items, seconds, connections) for kind, items in kinds.items()}
    finally:
        process.terminate()
        process.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sharing", description=__doc__)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--name", default="M")
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args(argv)
    from bench.dbt import BENCH_IDENTITY_KEY
    from groundfloor.settings import identity_key

    if "bench/cache" in str(args.warehouse.resolve()):
        # the benchmark's cities are built with the bench key (bench/refresh.py)
        os.environ.setdefault("IDENTITY_KEY", BENCH_IDENTITY_KEY)

    work = Path(tempfile.mkdtemp(prefix="bench-sharing-"))
    catalogue = load_catalogue()
    consumers = load_consumers()
    grants = load_grants(catalogue, consumers)
    store = Store(f"sqlite:///{work / 'store.db'}")
    store.create()
    store.load_registry(consumers, grants)
    keys = {c: store.issue_key(c).secret for c in ("gaj", "zgq")}
    snapshot_args = {
        "warehouse": args.warehouse,
        "target": work / "snapshot.sqlite",
        "catalogue": catalogue,
        "grants": grants,
        "identity_key": identity_key(),
    }
    started = time.perf_counter()
    build_snapshot(**snapshot_args)
    build_seconds = round(time.perf_counter() - started, 1)
    people = residents(args.warehouse, None)
    random.Random(1).shuffle(people)
    kinds = payloads(people, residents(args.warehouse, "360702"), keys)
    report = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "warehouse": str(args.warehouse),
        "seconds": args.seconds,
        "connections": args.connections,
        "workers": os.environ.get("SHARING_WORKERS", "2"),
        "snapshot_build_seconds": build_seconds,
        "goals": GOALS,
        "ours": ours(args, work, kinds, snapshot_args),
    }
    chain = store.verify_chain()
    requests = sum(run["requests"] for run in report["ours"].values())
    report["audit"] = {
        "records": chain.records,
        "intact": chain.intact,
        "requests": requests,
        "complete": chain.records == requests,  # every request audited, none twice
    }
    if not args.no_peer:
        report["peer"] = peer(args, work, args.warehouse, kinds)
        report["ratio"] = {
            kind: round(report["ours"][kind]["rps"] / max(report["peer"][kind]["rps"], 0.1), 1)
            for kind in kinds
        }
    store.dispose()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sharing-{args.name}.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
