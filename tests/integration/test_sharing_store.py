"""The sharing store on both databases: keys kept as hashes (issue, rotate, revoke) and the
hash-chained audit log (concurrent appends form one chain; an altered or deleted record is
reported at that record)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from sharing.store import Store, audit_table, keys_table
from tests.integration.sharing_city import demo_registry, store_database

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    with store_database(request.param, tmp_path) as url:
        store = Store(url)
        store.create()
        _, consumers, grants = demo_registry()
        store.load_registry(consumers, grants)
        yield store
        store.dispose()


def test_a_key_is_stored_only_as_its_hash_and_works_until_revoked(store):
    issued = store.issue_key("mzj")
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(keys_table)).one()
    assert issued.secret.split("_", 2)[2] not in str(tuple(stored))
    consumer, key_id = store.authenticate(issued.secret)
    assert (consumer.id, consumer.name, key_id) == ("mzj", "赣州市民政局", issued.key_id)
    assert store.authenticate(issued.secret + "x") is None
    assert store.authenticate(f"gsk_{issued.key_id}_wrong") is None
    assert store.revoke_key(issued.key_id)
    assert store.authenticate(issued.secret) is None
    assert not store.revoke_key(issued.key_id)


def test_rotation_keeps_the_old_key_for_the_grace_only(store):
    old = store.issue_key("zgq")
    new, expiring = store.rotate_key("zgq", dt.timedelta(hours=1))
    assert expiring == [old.key_id]
    assert store.authenticate(old.secret)[1] == old.key_id
    assert store.authenticate(new.secret)[1] == new.key_id
    newer, expiring = store.rotate_key("zgq", dt.timedelta(0))
    assert set(expiring) == {new.key_id}
    assert store.authenticate(new.secret) is None
    assert store.authenticate(old.secret) is not None  # its own hour is not over
    assert store.authenticate(newer.secret)[0].id == "zgq"


def test_grants_round_trip_through_the_store(store):
    _, _, grants = demo_registry()
    assert sorted(store.all_grants(), key=lambda g: g.id) == sorted(grants, key=lambda g: g.id)
    assert {g.id for g in store.grants_of("nkq")} == {"NKQ-2026-01", "NKQ-2026-02"}


def _record(i: int) -> dict:
    return {
        "consumer_id": "mzj",
        "key_id": "k",
        "call": "verify_identity",
        "resource": "person_basic",
        "subject": f"{i:032x}",
        "purpose": "测试",
        "result": "allowed",
        "status": 200,
        "latency_us": i,
    }


def test_concurrent_appends_form_one_intact_chain(store):
    def append_many(start: int) -> None:
        for i in range(start, start + 25):
            store.append_audit(_record(i))

    threads = [threading.Thread(target=append_many, args=(n * 100,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.audit_records()
    assert [r["seq"] for r in records] == list(range(1, 101))
    assert len({r["subject"] for r in records}) == 100
    report = store.verify_chain()
    assert (report.intact, report.records) == (True, 100)


def _verify_cli(store: Store) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sharing", "--store", store.url, "audit", "verify"],
        capture_output=True,
        text=True,
    )


def test_an_altered_record_is_reported_at_that_record(store):
    for i in range(10):
        store.append_audit(_record(i))
    assert _verify_cli(store).returncode == 0
    with store.engine.begin() as conn:
        conn.execute(audit_table.update().where(audit_table.c.seq == 4).values(status=403))
    report = store.verify_chain()
    assert (report.broken_at, report.problem) == (4, "its content does not match its hash")
    done = _verify_cli(store)
    assert done.returncode == 1
    assert "broken at record 4" in done.stdout


def test_a_deleted_record_is_reported_at_that_record(store):
    for i in range(10):
        store.append_audit(_record(i))
    with store.engine.begin() as conn:
        conn.execute(audit_table.delete().where(audit_table.c.seq == 7))
    assert store.verify_chain().broken_at == 7
    with store.engine.begin() as conn:
        conn.execute(audit_table.delete().where(audit_table.c.seq >= 7))
    report = store.verify_chain()  # the tail cut: the head still knows of record 10
    assert (report.broken_at, report.problem) == (7, "records 7..10 are missing")
    assert "broken at record 7" in _verify_cli(store).stdout


def test_consumer_add_and_grants_load_from_the_command_line(tmp_path):
    import shutil

    from sharing.registry import CONSUMERS, load_consumers

    consumers = tmp_path / "consumers.yaml"
    shutil.copyfile(CONSUMERS, consumers)
    url = f"sqlite:///{tmp_path / 'store.db'}"

    def cli(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "sharing", "--store", url, *args]
        return subprocess.run(argv, capture_output=True, text=True)

    assert cli("grants", "load").stdout.strip() == "loaded 6 consumers and 13 grants"
    district = ["--name", "赣县区政务服务中心", "--kind", "district", "--region", "360704"]
    added = cli("consumer", "add", "--id", "gxq", *district, "--consumers-file", str(consumers))
    assert added.returncode == 0, added.stderr
    (gxq,) = [c for c in load_consumers(consumers) if c.id == "gxq"]
    assert (gxq.kind, gxq.regions) == ("district", ("360704",))
    again = cli("consumer", "add", "--id", "gxq", "--name", "x", "--kind", "department",
                "--consumers-file", str(consumers))  # fmt: skip
    assert again.returncode == 2 and "consumer gxq exists already" in again.stderr
    issued = cli("key", "issue", "--consumer", "gxq").stdout.splitlines()
    store = Store(url)
    assert store.authenticate(issued[1])[0].name == "赣县区政务服务中心"
    store.dispose()


def test_every_change_of_keys_or_grants_raises_the_registry_version(store):
    """What the service's per-worker key cache relies on."""
    _, consumers, grants = demo_registry()
    versions = [store.registry_version()]
    issued = store.issue_key("mzj")
    versions.append(store.registry_version())
    store.rotate_key("mzj", dt.timedelta(hours=1))
    versions.append(store.registry_version())
    store.revoke_key(issued.key_id)
    versions.append(store.registry_version())
    store.load_registry(consumers, grants)
    versions.append(store.registry_version())
    assert versions == sorted(set(versions)) and len(versions) == 5
    store.authenticate(None)  # reading changes nothing
    assert store.registry_version() == versions[-1]


def test_without_the_registry_version_nothing_is_cached_and_keys_still_work(store):
    """A store created before the version existed: None (no cache) until `create` runs."""
    issued = store.issue_key("mzj")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE sharing_registry_version")
    assert store.registry_version() is None
    assert store.authenticate(issued.secret)[1] == issued.key_id
    store.create()
    assert store.registry_version() == 0


def test_the_sqlite_store_and_its_wal_files_are_owner_only(tmp_path):
    """The audit rows sit in the -wal file until a checkpoint: it must be as closed as the
    database file (SQLite copies the database file's mode to it)."""
    database = tmp_path / "sharing.db"
    store = Store(f"sqlite:///{database}")
    try:
        store.create()
        store.append_audit(_record(1))
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: 0o600 for f in files}
    finally:
        store.dispose()
