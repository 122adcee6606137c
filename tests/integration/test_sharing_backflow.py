"""回流: each district's granted extract (Parquet + CSV with BOM + manifest), written
atomically, one audit record per delivery, no L3 value unmasked unless the grant names it
and no L4 value at all."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json

import pyarrow.parquet as pq
import pytest

from sharing.backflow import deliver_all
from sharing.snapshot import SnapshotReader
from sharing.store import Store
from tests.integration.sharing_city import build_city_snapshot, demo_registry, store_database

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def delivered(request, tmp_path):
    snapshot, people, _ = build_city_snapshot(tmp_path)
    with store_database(request.param, tmp_path) as url:
        store = Store(url)
        store.create()
        catalogue, consumers, grants = demo_registry()
        store.load_registry(consumers, grants)
        out = tmp_path / "backflow"
        deliveries = deliver_all(store, catalogue, SnapshotReader(snapshot), out, dt.date.today())
        yield deliveries, out, people, store
        store.dispose()


def test_each_district_gets_its_own_residents_and_cases(delivered):
    deliveries, out, people, _ = delivered
    assert sorted((d.consumer_id, d.grant_id, d.rows) for d in deliveries) == [
        ("nkq", "NKQ-2026-01", 10),
        ("nkq", "NKQ-2026-02", 10),
        ("zgq", "ZGQ-2026-01", 10),
        ("zgq", "ZGQ-2026-02", 10),
    ]
    zgq = out / "zgq" / "latest"
    rows = pq.read_table(zgq / "person_basic.parquet").to_pylist()
    assert {r["hukou_region_code"] for r in rows} == {"360702"}
    own = {p.key for p in people if p.region == "360702"}
    assert {r["person_key"] for r in rows} == own
    cases = pq.read_table(zgq / "cases.parquet").to_pylist()
    assert {c["region_code"] for c in cases} == {"360702"}


def test_the_files_match_their_manifest(delivered):
    _, out, _, _ = delivered
    for consumer in ("zgq", "nkq"):
        folder = out / consumer / "latest"
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["consumer"] == consumer and manifest["snapshot_id"]
        for extract in manifest["extracts"]:
            for name, digest in extract["files"].items():
                assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
            stem = extract["resource"]
            assert pq.read_table(folder / f"{stem}.parquet").num_rows == extract["rows"]
            raw = (folder / f"{stem}.csv").read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for spreadsheet users
            with open(folder / f"{stem}.csv", encoding="utf-8-sig", newline="") as handle:
                table = list(csv.reader(handle))
            assert table[0] == extract["fields"]
            assert len(table) - 1 == extract["rows"]
        assert not [p for p in (out / consumer).iterdir() if p.name.startswith(".")]


def test_names_are_masked_unless_the_grant_names_them_unmasked(delivered):
    _, out, people, _ = delivered
    zgq_text = (out / "zgq" / "latest" / "person_basic.csv").read_text(encoding="utf-8-sig")
    nkq_text = (out / "nkq" / "latest" / "person_basic.csv").read_text(encoding="utf-8-sig")
    for person in people:
        everything = zgq_text + nkq_text
        assert person.number not in everything  # L4: never in 回流
        assert person.phone not in everything  # zgq's phones are masked, nkq has none
    assert "张*" in zgq_text and "张三" not in zgq_text
    assert "王𠇔" in nkq_text  # NKQ-2026-01 names the name unmasked (byte-exact, D14)


def test_one_audit_record_per_delivery(delivered):
    deliveries, _, _, store = delivered
    records = [r for r in store.audit_records() if r["call"] == "backflow"]
    assert sorted((r["consumer_id"], r["grant_id"], r["rows"]) for r in records) == sorted(
        (d.consumer_id, d.grant_id, d.rows) for d in deliveries
    )
    assert store.verify_chain().intact


def test_the_snapshot_keeps_clear_names_only_in_the_unmasked_grants_scope(tmp_path):
    import sqlite3

    snapshot, people, _ = build_city_snapshot(tmp_path)
    conn = sqlite3.connect(snapshot)
    rows = conn.execute("SELECT _subject, _region, name, name__unmasked FROM r_person_basic")
    rows = rows.fetchall()
    by_name = {p.key: p for p in people}
    assert {region for _, region, _, clear in rows if clear is not None} == {"360703"}
    for key, region, shown, clear in rows:
        assert shown != by_name[key].name or len(by_name[key].name) < 2
        assert clear == (by_name[key].name if region == "360703" else None)
    text = "\n".join(str(r) for r in conn.execute("SELECT * FROM persons"))
    assert not any(p.name in text or p.number in text for p in people)


def test_the_usage_published_for_the_dashboard_holds_counts_only(delivered, tmp_path):
    import duckdb

    from sharing.usage import publish_usage

    _, _, people, store = delivered
    store.append_audit(
        {"consumer_id": "mzj", "key_id": "k", "call": "query_person", "resource": "person_basic",
         "subject": people[0].key, "result": "denied", "status": 403, "latency_us": 5,
         "detail": "field_not_granted", "purpose": None}
    )  # fmt: skip
    store.append_audit(
        {"call": "verify_identity", "result": "denied", "status": 401, "latency_us": 1}
    )
    target = tmp_path / "published" / "sharing_usage.duckdb"
    assert publish_usage(store, target) == 2
    conn = duckdb.connect(str(target), read_only=True)
    calls = conn.execute(
        "SELECT consumer_name, call, result, status, reason, requests FROM sharing_calls ORDER BY 1"
    ).fetchall()
    assert calls == [
        ("赣州市民政局", "query_person", "denied", 403, "field_not_granted", 1),
        ("（未认证的调用方）", "verify_identity", "denied", 401, None, 1),
    ]
    assert conn.execute(
        "SELECT count(*), sum(rows_delivered) FROM sharing_deliveries"
    ).fetchone() == (4, 40)
    dump = str(conn.execute("SELECT * FROM sharing_calls").fetchall())
    assert people[0].key not in dump
    conn.close()
