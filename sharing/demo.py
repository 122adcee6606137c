"""The demo's use of the service: keys for the demo consumers, and one verification, one query
and one denial against the running service (`make demo`, `make serve`).

The verification needs a real resident's number and name; the demo, run by the platform's
operator, reads one from the working warehouse's identity vault and never prints it (the
summary shows the masked forms only).
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx

from sharing.masking import mask_identity_number
from sharing.store import Store

DEMO_CONSUMERS = ("mzj", "gaj", "scjgj", "zgq", "nkq", "portal")
DEMO_DISTRICT = "360702"  # 章贡区, the zgq office's district


def issue_demo_keys(store: Store) -> dict[str, str]:
    """A fresh key for each demo consumer; its earlier keys stop working at once (a demo
    prints its keys, so only the keys just printed are live)."""
    keys = {}
    for consumer in DEMO_CONSUMERS:
        if store.consumer(consumer) is not None:
            issued, _ = store.rotate_key(consumer, dt.timedelta(0))
            keys[consumer] = issued.secret
    return keys


def demo_resident(warehouse: Path) -> tuple[str, str] | None:
    """(identity number, name) of one resident of the demo district, from the identity vault."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(
            "SELECT v.identity_number, v.name FROM main_restricted.identity_persons AS v "
            "JOIN main_marts.person_file AS p USING (person_key) "
            "WHERE p.is_resident AND p.hukou_region_code = ? AND v.name IS NOT NULL "
            "ORDER BY v.person_key LIMIT 1",
            [DEMO_DISTRICT],
        ).fetchone()
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def service_for_a_moment(log: Path, timeout_seconds: float = 60):
    """`python -m sharing serve` (one worker) on a free port while the block runs: its URL."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        argv = [sys.executable, "-m", "sharing", "serve", "--port", str(port), "--workers", "1"]
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sharing service did not start (log: {log})")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def exercise(base: str, keys: dict[str, str], resident: tuple[str, str]) -> dict:
    """One verification (公安局), one query (章贡区, masked), one denial (民政局 asking a field
    outside its grant): what each answered, with nothing unmasked."""
    number, name = resident
    with httpx.Client(base_url=base, timeout=30) as client:
        verified = client.post(
            "/v1/verify/identity",
            json={"identity_number": number, "name": name},
            headers={"X-API-Key": keys["gaj"]},
        )
        queried = client.get(
            f"/v1/persons/{number}",
            params={"fields": "name,age,hukou_region_code"},
            headers={"X-API-Key": keys["zgq"]},
        )
        denied = client.get(
            f"/v1/persons/{number}",
            params={"fields": "mobile_phone"},
            headers={"X-API-Key": keys["mzj"]},
        )
    return {
        "subject": mask_identity_number(number),
        "verification": (verified.status_code, verified.json()),
        "query": (queried.status_code, queried.json().get("records", queried.json())),
        "denial": (denied.status_code, denied.json()),
    }
