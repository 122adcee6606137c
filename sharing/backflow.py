"""回流 (data returned to districts): each district office's granted extract after a publish.

For every grant in force with the use `backflow`, the rows of the granted resource in the
grant's region scope, with the granted fields as they leave the platform (L3 masked unless
the grant names the field unmasked; the grant loader refuses L4 fields in such a grant), as
Parquet and as CSV in UTF-8 with BOM (for spreadsheet users), with a manifest of row counts,
SHA-256 of each file, the snapshot id and the grant ids.

Atomic: a delivery is written into a hidden folder, audited (one record per grant), then
renamed to `<consumer>/<date>-<snapshot>/` and the `<consumer>/latest` link swapped with
`os.replace`: a district sees a complete delivery or the previous one, never a half.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from groundfloor.files import file_sha256
from sharing.catalogue import Catalogue
from sharing.registry import Grant
from sharing.service import shape_record
from sharing.snapshot import SnapshotReader, table_name
from sharing.store import Store


@dataclass(frozen=True)
class Delivery:
    consumer_id: str
    grant_id: str
    resource: str
    rows: int
    folder: Path


def backflow_grants(grants: list[Grant], day: dt.date) -> dict[str, list[Grant]]:
    """The grants in force on `day` with the use backflow, by consumer."""
    by_consumer: dict[str, list[Grant]] = {}
    for grant in grants:
        if "backflow" in grant.uses and grant.in_force(day):
            by_consumer.setdefault(grant.consumer, []).append(grant)
    return by_consumer


def deliver_all(
    store: Store,
    catalogue: Catalogue,
    snapshot: SnapshotReader,
    out_dir: Path,
    day: dt.date,
    today: dt.date | None = None,
) -> list[Delivery]:
    """Deliver the extracts of the run of `day` (the folder's date). The grants are judged on
    `today` (default: the real date), when the data actually leaves: a re-run of a past date
    delivers under the grants in force now, not those of then."""
    deliveries: list[Delivery] = []
    conn = snapshot.connection()  # one snapshot for the whole run, whatever is swapped meanwhile
    in_force = backflow_grants(store.all_grants(), today or dt.date.today())
    for consumer_id, grants in sorted(in_force.items()):
        deliveries += _deliver(
            store, catalogue, conn, snapshot.info, out_dir, consumer_id, grants, day
        )
    return deliveries


def _deliver(store, catalogue, conn, info, out_dir, consumer_id, grants, day) -> list[Delivery]:
    snapshot_id = info["snapshot_id"]
    home = Path(out_dir) / consumer_id
    home.mkdir(parents=True, exist_ok=True)
    final = home / f"{day.isoformat()}-{snapshot_id[:12]}"
    staging = home / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(mode=0o700)
    try:
        entries = [_extract(catalogue, conn, grant, staging) for grant in grants]
        manifest = {
            "consumer": consumer_id,
            "date": day.isoformat(),
            "snapshot_id": snapshot_id,
            "as_of_date": info.get("as_of_date"),
            "extracts": entries,
        }
        (staging / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        for grant, entry in zip(grants, entries, strict=True):
            _audit(store, consumer_id, grant, entry)
        if final.exists():
            shutil.rmtree(final)  # the same snapshot delivered again: replaced whole
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_latest(home, final)
    return [Delivery(consumer_id, e["grant_id"], e["resource"], e["rows"], final) for e in entries]


def _extract(catalogue: Catalogue, conn, grant: Grant, folder: Path) -> dict:
    resource = catalogue.resource(grant.resource)
    fields = tuple((f.name, f.unmasked) for f in grant.fields)
    table = table_name(resource.code)
    marks = ", ".join("?" * len(grant.region_scope))
    rows = conn.execute(
        f"SELECT * FROM {table} WHERE _region IN ({marks}) ORDER BY rowid",
        list(grant.region_scope),
    ).fetchall()
    records = [shape_record(row, fields) for row in rows]
    names = [name for name, _ in fields]
    parquet = folder / f"{resource.code}.parquet"
    csv_path = folder / f"{resource.code}.csv"
    columns = {name: [r[name] for r in records] for name in names}
    pq.write_table(pa.table(columns) if records else _empty(names), parquet)
    with open(csv_path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows([[r[name] for name in names] for r in records])
    return {
        "grant_id": grant.id,
        "resource": resource.code,
        "fields": names,
        "purpose": grant.purpose,
        "region_scope": list(grant.region_scope),
        "rows": len(records),
        "files": {
            parquet.name: file_sha256(parquet),
            csv_path.name: file_sha256(csv_path),
        },
    }


def _empty(names: list[str]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in names})


def _audit(store: Store, consumer_id: str, grant: Grant, entry: dict) -> None:
    started = time.perf_counter()
    store.append_audit(
        {
            "consumer_id": consumer_id,
            "call": "backflow",
            "resource": grant.resource,
            "fields": ",".join(entry["fields"]),
            "purpose": grant.purpose,
            "grant_id": grant.id,
            "result": "allowed",
            "status": 200,
            "rows": entry["rows"],
            "latency_us": int((time.perf_counter() - started) * 1e6),
            "detail": "sha256:" + ",".join(sorted(entry["files"].values())),
        }
    )


def _point_latest(home: Path, final: Path) -> None:
    link = home / f".latest-{uuid.uuid4().hex}"
    os.symlink(final.name, link)
    os.replace(link, home / "latest")
