"""`advance`: the city's next days, recorded exactly; the hotline paged while it changes;
the same city delivered into real PostgreSQL and MariaDB exchange databases."""

from __future__ import annotations

import collections
import sqlite3
import subprocess
import sys
import threading

import httpx
import psycopg
import pymysql
import pytest

from contract import load_contract
from simulator.city import City
from simulator.config import CityConfig
from simulator.generate import CityError
from simulator.hotline_server import make_server
from simulator.hotline_store import store_path
from simulator.run import advance_city, read_city
from simulator.schema import SCHEMA_OF_SYSTEM
from tests.integration import scan

pytestmark = pytest.mark.integration
CONTRACT = load_contract()
DB_TABLES = [t for t in CONTRACT.tables() if t.system != "evaluation_hcp"]


def _snapshot(city) -> dict[str, collections.Counter]:
    """Every table as a multiset of rows (duplicates are real)."""
    return {
        t.name: collections.Counter(tuple(r.values()) for r in scan.rows(city, t.system, t.name))
        for t in DB_TABLES
    }


def _keys(table, rows) -> set[str]:
    names = table.column_names
    return {"|".join(str(row[names.index(k)]) for k in table.key) for row in rows}


def test_advance_records_exactly_what_it_added_changed_and_deleted(fresh_city):
    before = _snapshot(fresh_city)
    result = advance_city(fresh_city, 5)
    after = _snapshot(fresh_city)
    changes = collections.defaultdict(set)
    for table, key, change in scan.manifest(
        fresh_city, "SELECT table_name, key, change FROM changes WHERE advance_no = 1"
    ):
        changes[table].add((key, change))
    for table in DB_TABLES:
        if table.name in ("rk_jbxx", "fr_ndxx"):
            continue  # replaced whole each delivery; checked below
        gone, came = before[table.name] - after[table.name], after[table.name] - before[table.name]
        old_keys, new_keys = _keys(table, gone), _keys(table, came)
        recorded = {k for k, _ in changes[table.name]}
        assert recorded == old_keys | new_keys, table.name
        previous = _keys(table, before[table.name])
        for key, change in changes[table.name]:
            assert (change == "added") == (key not in previous), (table.name, key, change)
    assert result["changes"]["bj_jbxx"]["added"] > 0 and result["changes"]["bj_jbxx"]["changed"] > 0
    repeated = scan.manifest(
        fresh_city,
        "SELECT table_name, key, COUNT(*) FROM identity_truth GROUP BY 1, 2 HAVING COUNT(*) > 1",
    )
    assert repeated == []
    assert changes["jhkz"] and changes["bj_gcxx"] and changes["work_orders"]


def test_advance_moves_the_population_snapshot_and_announces_it(fresh_city):
    clock = scan.clock(fresh_city)
    advance_city(fresh_city, 2)
    control = {r["SJRQ"]: r for r in scan.rows(fresh_city, "population_base", "jhkz")}
    latest = max(control)
    assert latest == str((clock.date()) + __import__("datetime").timedelta(days=1))
    if not scan.defect_keys(fresh_city, "D15", "jhkz") & {f"rk_jbxx|{latest}"}:
        assert control[latest]["JLS"] == len(scan.rows(fresh_city, "population_base", "rk_jbxx"))
        assert control[latest]["WCBZ"] == "1"


def test_advance_always_brings_a_redelivered_month(fresh_city):
    deliveries = scan.manifest(fresh_city, "SELECT month FROM hcp_deliveries")
    advance_city(fresh_city, 1)
    after = scan.manifest(fresh_city, "SELECT month FROM hcp_deliveries")
    new = collections.Counter(m for (m,) in after) - collections.Counter(m for (m,) in deliveries)
    assert any(month in {m for (m,) in deliveries} for month in new)
    in_force = scan.manifest(
        fresh_city, "SELECT month, file_name FROM hcp_deliveries WHERE in_force = 1"
    )
    assert dict(in_force) == {m: p.name for m, p in scan.drops_in_force(fresh_city).items()}


def test_snapshot_faults_are_announced_or_withheld_as_defects_md_says(fresh_city):
    from simulator.config import CityConfig
    from simulator.run import _write_city_file, read_city

    summary = read_city(fresh_city)
    config = CityConfig.from_json(summary["config"])
    config.rates["D15"] = 1.0
    summary["config"] = config.to_json()
    _write_city_file(fresh_city, summary)
    advance_city(fresh_city, 6)
    faults = scan.manifest(fresh_city, "SELECT key, detail FROM defects WHERE defect = 'D15'")
    kinds = {detail for _, detail in faults}
    assert kinds <= {"missing", "count", "shrink"} and len(kinds) >= 2
    control = {r["SJRQ"]: r for r in scan.rows(fresh_city, "population_base", "jhkz")}
    for key, kind in faults:
        day = key.split("|")[1]
        if kind == "missing":
            assert day not in control


def test_advance_refuses_to_go_beyond_the_generated_world(fresh_city):
    with pytest.raises(CityError, match="generate it again"):
        advance_city(fresh_city, 400)


def test_hotline_paging_sees_every_order_once_while_advance_changes_rows(fresh_city):
    token = "t0ken"
    server = make_server(store_path(fresh_city), port=0, token=token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/api/v1/work-orders"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        assert httpx.get(base, headers={"Authorization": "Bearer wrong"}).status_code == 401
        seen: dict[str, dict] = {}
        watermark, advanced = "2025-01-01T00:00:00+08:00", 0
        while True:
            page = httpx.get(
                base,
                params={"updated_since": watermark, "page": 1, "page_size": 200},
                headers=auth,
                timeout=30,
            ).json()
            fresh = [
                i
                for i in page["items"]
                if seen.get(i["gdbh"], {}).get("updated_at") != i["updated_at"]
            ]
            for item in page["items"]:
                seen[item["gdbh"]] = item
            if not fresh and len(page["items"]) < 200:
                break
            watermark = page["items"][-1]["updated_at"]
            if advanced < 3:  # the city moves on between pages, as it does in production
                advance_city(fresh_city, 1)
                advanced += 1
        conn = sqlite3.connect(store_path(fresh_city))
        final = dict(conn.execute("SELECT gdbh, updated_at FROM work_orders").fetchall())
        conn.close()
        assert advanced == 3
        assert set(seen) == set(final)
        assert {g: i["updated_at"][:19].replace("T", " ") for g, i in seen.items()} == final
    finally:
        server.shutdown()
        server.server_close()


def _count(url: str, system: str, table: str) -> int:
    database = url.rsplit("/", 1)[1]
    if url.startswith("postgresql"):
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=database) as conn:
            return conn.execute(
                f"SELECT COUNT(*) FROM {SCHEMA_OF_SYSTEM[system]}.{table}"
            ).fetchone()[0]
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=database)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            return cur.fetchone()[0]
    finally:
        conn.close()


def _run(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_generate_and_advance_deliver_into_postgresql_and_mariadb(tmp_path, pg_url, mysql_url):
    out = tmp_path / "city"
    targets = [
        "--target",
        f"case_platform={pg_url}",
        "--target",
        f"population_base={pg_url}",
        "--target",
        f"certificate_library={mysql_url}",
        "--target",
        f"legal_entity_base={mysql_url}",
    ]
    _run("generate", "--people", "700", "--seed", "9", "--months", "6", "--out", str(out), *targets)
    urls = {
        "case_platform": pg_url,
        "population_base": pg_url,
        "certificate_library": mysql_url,
        "legal_entity_base": mysql_url,
    }

    def assert_counts_equal():
        for table in DB_TABLES:
            if table.system in urls:
                lite = len(scan.rows(out, table.system, table.name))
                assert _count(urls[table.system], table.system, table.name) == lite, table.name

    assert_counts_equal()
    _run("advance", "--out", str(out), "--days", "3", *targets)
    assert_counts_equal()


def _columns(city, system, table) -> list[str]:
    conn = sqlite3.connect(city / scan.SYSTEM_FILES[system])
    names = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    conn.close()
    return names


@pytest.mark.parametrize(
    ("drift", "expect"),
    [
        ("renamed:bj_jbxx.SQFS", "SQFS_NEW"),
        ("missing:bj_jbxx.SQFS", None),
        ("added:bj_jbxx.BZ", "BZ"),
    ],
)
def test_schema_drift_lasts_one_advance_and_is_recorded(fresh_city, drift, expect):
    contract_columns = CONTRACT.table("bj_jbxx").column_names
    before = scan.rows(fresh_city, "case_platform", "bj_jbxx")
    advance_city(fresh_city, 1, drift=drift)
    columns = _columns(fresh_city, "case_platform", "bj_jbxx")
    assert ("SQFS" in columns) == drift.startswith("added")
    assert expect is None or expect in columns
    listed = scan.manifest(
        fresh_city,
        "SELECT column_name, detail, expected FROM defects WHERE defect = 'D11' "
        "AND table_name = 'bj_jbxx'",
    )
    assert listed and listed[-1][1] == drift.split(":")[0]
    assert ("fails its whole load" in listed[-1][2]) == (not drift.startswith("added"))
    advance_city(fresh_city, 1)  # the department repairs its export
    assert _columns(fresh_city, "case_platform", "bj_jbxx") == contract_columns
    after = {r["SBLSH"]: r for r in scan.rows(fresh_city, "case_platform", "bj_jbxx")}
    assert all(after[r["SBLSH"]]["SQFS"] is not None for r in before)


def test_bad_drift_is_refused_with_its_reason(fresh_city):
    with pytest.raises(ValueError, match="no column"):
        advance_city(fresh_city, 1, drift="missing:bj_jbxx.NOPE")
    with pytest.raises(ValueError, match="KIND"):
        advance_city(fresh_city, 1, drift="vanished:bj_jbxx.SQFS")


def _every_row_in_order(city) -> dict[str, list[tuple]]:
    """Every table of every store, rows in stored order (the manifest's identity numbering
    included: replaying the second process's calls must give the same numbers)."""
    tables = {}
    for path in sorted(city.rglob("*.sqlite")):
        if ".simulator" in path.parts:
            continue
        conn = sqlite3.connect(path)
        names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        for (name,) in names.fetchall():
            rows = conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            tables[f"{path.name}:{name}"] = rows
        conn.close()
    return tables


def test_an_advance_in_two_processes_writes_what_one_process_writes(fresh_city, tmp_path):
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(fresh_city, twin)
    changed = 0
    for days, drift in ((3, None), (1, "added:bb_jl.EXTRA"), (2, None)):
        one = advance_city(fresh_city, days, drift=drift, workers=1)
        two = advance_city(twin, days, drift=drift, workers=2)
        assert one == two
        changed += sum(sum(t.values()) for t in one["changes"].values())
    assert changed > 30
    first, second = _every_row_in_order(fresh_city), _every_row_in_order(twin)
    assert first.keys() == second.keys() and len(first) > 15
    for name in first:
        assert first[name] == second[name], name
    assert not (twin / ".simulator" / "registries.journal").exists()


def test_an_advance_projects_only_the_holders_whose_certificates_change(
    fresh_city, tmp_path, monkeypatch
):
    """generate indexes every holder's later certificate moments; an advance then draws only
    the holders with one in its span, and writes what drawing every holder writes."""
    import shutil

    from simulator.registry import Certificates

    twin = tmp_path / "without-index"
    shutil.copytree(fresh_city, twin)
    (twin / ".simulator" / "certificate_moments.npz").unlink()
    drawn = collections.Counter()
    of_holder = Certificates.of_holder

    def counting(self, holder):
        drawn[city] += 1
        return of_holder(self, holder)

    monkeypatch.setattr(Certificates, "of_holder", counting)
    for days in (1, 4):
        for city in (fresh_city, twin):
            advance_city(city, days, workers=1)
        indexed, everyone = _every_row_in_order(fresh_city), _every_row_in_order(twin)
        assert indexed == everyone
    config = CityConfig.from_json(read_city(fresh_city)["config"])
    holders = 2 * len(City(config).certificates.holders())
    assert drawn[twin] == holders  # two advances, every holder each time
    assert 0 < drawn[fresh_city] < holders / 20
