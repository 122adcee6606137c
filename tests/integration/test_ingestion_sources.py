"""Ingestion through every delivery: PostgreSQL and MariaDB exchange databases, the hotline
API on 127.0.0.1, the 好差评 inbox; and the defects handled at landing (D10-D12, D15)."""

from __future__ import annotations

import collections
import threading

import pytest

from ingestion.cli import main as ingestion_main
from simulator.config import CityConfig
from simulator.hotline_server import make_server
from simulator.hotline_store import store_path
from simulator.run import _write_city_file, advance_city, generate_city, read_city
from simulator.targets import load_targets
from tests.conftest import small_config
from tests.helpers.sources import DB_SYSTEMS, load, sources_for
from tests.helpers.warehouse import query
from tests.integration import scan

pytestmark = pytest.mark.integration
TOKEN = "ingest-test-token"


@pytest.fixture
def city(tmp_path):
    out = tmp_path / "city"
    generate_city(small_config(people=600, seed=31, months=6), out)
    return out


@pytest.fixture
def hotline(city, monkeypatch):
    server = make_server(
        store_path(city), port=0, token=TOKEN, error_rate=0.2, retry_after=1, seed=3
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HOTLINE_API_TOKEN", TOKEN)
    monkeypatch.setenv("HOTLINE_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()
    server.server_close()


def test_postgresql_and_mariadb_sources_land_the_same_rows_as_sqlite(
    tmp_path, city, pg_url, mysql_url
):
    urls = {
        "case_platform": pg_url,
        "population_base": pg_url,
        "certificate_library": mysql_url,
        "legal_entity_base": mysql_url,
    }
    load_targets(city, urls)
    text = sources_for(tmp_path, city, urls).read_text(encoding="utf-8")
    text = text.replace(
        "  case_platform:\n    delivery: database\n",
        "  case_platform:\n    delivery: database\n    schema: qzk_zw\n",
    )
    text = text.replace(
        "  population_base:\n    delivery: database\n",
        "  population_base:\n    delivery: database\n    schema: qzk_rk\n",
    )
    servers = tmp_path / "servers.yaml"
    servers.write_text(text, encoding="utf-8")
    as_of = scan.clock(city).date()
    from_servers = load(servers, tmp_path / "servers.duckdb", as_of)
    from_files = load(sources_for(tmp_path, city), tmp_path / "files.duckdb", as_of)
    assert all(r.status == "ok" for r in from_servers.values()), {
        s: r.message for s, r in from_servers.items()
    }
    for system in DB_SYSTEMS:
        for table in scan.CONTRACT_TABLES[system]:
            read = {
                t: n
                for t, n in query(
                    tmp_path / "servers.duckdb", "SELECT table_name, rows_read FROM meta.load_audit"
                )
            }
            assert read[table] == len(scan.rows(city, system, table)), table
            sql = f"SELECT _row_hash FROM raw.{table} ORDER BY 1"
            assert query(tmp_path / "servers.duckdb", sql) == query(
                tmp_path / "files.duckdb", sql
            ), table
        assert from_servers[system].rows_quarantined == from_files[system].rows_quarantined


def test_the_hotline_api_lands_every_work_order_once_despite_faults(tmp_path, city, hotline):
    sources, warehouse = sources_for(tmp_path, city), tmp_path / "w.duckdb"
    result = load(sources, warehouse, systems=["hotline_12345"])["hotline_12345"]
    assert result.status == "ok", result.message
    orders = scan.rows(city, "hotline_12345", "work_orders")
    assert query(warehouse, "SELECT COUNT(DISTINCT gdbh) FROM raw.work_orders")[0][0] == len(orders)
    names = {o["gdbh"]: o["ldrxm"] for o in orders}
    for gdbh, name in query(warehouse, "SELECT gdbh, ldrxm FROM raw.work_orders"):
        assert name == names[gdbh]
    assert load(sources, warehouse, systems=["hotline_12345"])["hotline_12345"].rows_new == 0
    advance_city(city, 2)
    again = load(sources, warehouse, systems=["hotline_12345"])["hotline_12345"]
    changed = {
        k
        for (k,) in scan.manifest(city, "SELECT key FROM changes WHERE table_name = 'work_orders'")
    }
    landed = {
        k
        for (k,) in query(
            warehouse, "SELECT gdbh FROM raw.work_orders WHERE _load_id = ?", (again.load_id,)
        )
    }
    assert landed == changed


def test_a_missing_token_fails_the_hotline_alone(tmp_path, city, monkeypatch):
    monkeypatch.delenv("HOTLINE_API_TOKEN", raising=False)
    results = load(
        sources_for(tmp_path, city),
        tmp_path / "w.duckdb",
        systems=["hotline_12345", "legal_entity_base"],
    )
    assert results["hotline_12345"].status == "failed"
    assert "HOTLINE_API_TOKEN" in results["hotline_12345"].message
    assert results["legal_entity_base"].status == "ok"


def test_file_drops_land_with_every_timestamp_form_and_redelivery(tmp_path, city):
    sources, warehouse = sources_for(tmp_path, city), tmp_path / "w.duckdb"
    result = load(sources, warehouse, systems=["evaluation_hcp"])["evaluation_hcp"]
    assert result.status == "ok", result.message
    files = {p.name: p for p in (city / "inbox" / "evaluation_hcp").iterdir()}
    assert result.rows_read == sum(len(scan.read_drop(p)) for p in files.values())
    truth = {
        (k, d.split("|")[0]): v
        for k, d, v in scan.manifest(
            city, "SELECT key, detail, expected FROM defects WHERE defect = 'D10'"
        )
    }
    landed = query(
        warehouse,
        "SELECT PJBH, split_part(_source, '@', 1), strftime(PJSJ, '%Y-%m-%d %H:%M:%S') "
        "FROM raw.hcp_pj",
    )
    forms = collections.Counter()
    for pjbh, name, pjsj in landed:
        assert pjsj == truth[(pjbh, name)]
        forms[name.rsplit(".", 1)[1]] += 1
    assert forms["csv"] and forms["xlsx"]
    recorded = query(warehouse, "SELECT file_name, sha256 FROM meta.files")
    assert {n for n, _ in recorded} == set(files) and all(len(s) == 64 for _, s in recorded)
    assert load(sources, warehouse, systems=["evaluation_hcp"])["evaluation_hcp"].rows_read == 0
    advance_city(city, 1)  # always brings a re-delivered month
    again = load(sources, warehouse, systems=["evaluation_hcp"])["evaluation_hcp"]
    assert again.rows_read > 0
    in_force = {
        m: f
        for m, f in scan.manifest(
            city, "SELECT month, file_name FROM hcp_deliveries WHERE in_force = 1"
        )
    }
    latest = dict(
        query(warehouse, "SELECT month, arg_max(file_name, arrival) FROM meta.files GROUP BY month")
    )
    assert latest == in_force


def test_a_missing_required_column_fails_that_system_only_until_repaired(tmp_path, city):
    sources, warehouse = sources_for(tmp_path, city), tmp_path / "w.duckdb"
    load(sources, warehouse, scan.clock(city).date())
    before = query(warehouse, "SELECT COUNT(*) FROM raw.bj_jbxx")[0][0]
    advance_city(city, 1, drift="missing:bj_jbxx.SQFS")
    results = load(sources, warehouse, scan.clock(city).date())
    failed = results["case_platform"]
    assert failed.status == "failed"
    assert "case_platform.bj_jbxx: required column SQFS is missing" in failed.message
    assert query(warehouse, "SELECT COUNT(*) FROM raw.bj_jbxx")[0][0] == before
    assert (
        query(warehouse, "SELECT COUNT(*) FROM raw.bj_gcxx WHERE _load_id = ?", (failed.load_id,))[
            0
        ][0]
        == 0
    )
    assert all(results[s].status == "ok" for s in DB_SYSTEMS if s != "case_platform")
    advance_city(city, 1)  # the department repairs its export
    assert load(sources, warehouse, scan.clock(city).date())["case_platform"].status == "ok"


def test_population_snapshot_faults_are_guarded(tmp_path, city, capsys):
    summary = read_city(city)
    config = CityConfig.from_json(summary["config"])
    config.rates["D15"] = 1.0
    summary["config"] = config.to_json()
    _write_city_file(city, summary)
    sources, warehouse = sources_for(tmp_path, city), tmp_path / "w.duckdb"
    load(sources, warehouse, scan.clock(city).date(), ["population_base"])
    seen = {}
    for _ in range(12):
        advance_city(city, 1)
        day = str(scan.clock(city).date() - __import__("datetime").timedelta(days=1))
        kind = dict(
            scan.manifest(city, "SELECT key, detail FROM defects WHERE defect = 'D15'")
        ).get(f"rk_jbxx|{day}")
        load(sources, warehouse, scan.clock(city).date(), ["population_base"])
        status = query(
            warehouse,
            "SELECT status FROM meta.snapshots WHERE snapshot_date = ? "
            "ORDER BY decided_at DESC LIMIT 1",
            (day,),
        )
        seen[kind] = status[0][0] if status else None
        if kind == "shrink":
            args = ["--warehouse", str(warehouse), "confirm-snapshot", "--date", day]
            assert ingestion_main(args) == 0
            assert (
                query(
                    warehouse,
                    "SELECT status FROM meta.snapshots WHERE snapshot_date = ? "
                    "ORDER BY decided_at DESC LIMIT 1",
                    (day,),
                )[0][0]
                == "applied"
            )
        if len(seen) == 3:
            break
    assert seen == {"missing": "missing", "count": "refused", "shrink": "held"}
    kinds = {k for (k,) in query(warehouse, "SELECT kind FROM meta.alerts")}
    assert {"snapshot_missing", "snapshot_refused", "snapshot_shrinking"} <= kinds
    current = query(warehouse, "SELECT COUNT(*) FROM raw.rk_jbxx WHERE _valid_to IS NULL")[0][0]
    applied = query(
        warehouse,
        "SELECT delivered_rows FROM meta.snapshots WHERE status = 'applied' "
        "ORDER BY decided_at DESC LIMIT 1",
    )[0][0]
    assert current == applied
