"""The whole chain through Airflow (`dag.test` of every DAG) on a simulator city served by the
local PostgreSQL and MariaDB servers, the hotline API on 127.0.0.1 and the 好差评 file inbox:
two consecutive logical dates with `simulator advance` between them, a fault run (hotline
outage, MariaDB unreachable) and its catch-up, and a re-run of a past date."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import duckdb
import pendulum
import pytest

from pipeline.assets import SYSTEMS
from simulator.hotline_server import FaultInjector, make_server
from simulator.hotline_store import store_path
from simulator.run import generate_city
from simulator.targets import load_targets
from tests.conftest import small_config
from tests.helpers.servers import mysql_database, postgres_database
from tests.helpers.sources import sources_for
from tests.helpers.warehouse import query
from tests.integration import scan

pytestmark = pytest.mark.e2e
DOWN = "mysql+pymysql://root@127.0.0.1:1/unreachable"
HOTLINE_ATTEMPTS = 2


@pytest.fixture(scope="module")
def servers():
    name = f"e2e_{secrets.token_hex(5)}"
    with postgres_database(name) as pg_url, mysql_database(name) as mysql_url:
        yield pg_url, mysql_url


class Receiver(BaseHTTPRequestHandler):
    """The alert webhook's receiving end: keeps every JSON body it is sent."""

    received: ClassVar[list[dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(server) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def sources_file(tmp: Path, city: Path, urls: dict[str, str], name: str) -> Path:
    """A sources file of its own under tmp/name/ (sources_for always writes sources.yaml)."""
    folder = tmp / name
    folder.mkdir()
    text = sources_for(folder, city, urls).read_text(encoding="utf-8")
    for system, schema in (("case_platform", "qzk_zw"), ("population_base", "qzk_rk")):
        text = text.replace(
            f"  {system}:\n    delivery: database\n",
            f"  {system}:\n    delivery: database\n    schema: {schema}\n    max_attempts: 2\n",
        )
    for system in ("certificate_library", "legal_entity_base"):
        text = text.replace(
            f"  {system}:\n    delivery: database\n",
            f"  {system}:\n    delivery: database\n    max_attempts: 2\n",
        )
    text = text.replace("max_attempts: 6", f"max_attempts: {HOTLINE_ATTEMPTS}")
    path = folder / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def marts_digest(warehouse: Path) -> dict[str, str]:
    """Each mart's SHA-256 over its rows in order (a difference names the mart)."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        digests = {}
        tables = conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main_marts' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            digest = hashlib.sha256()
            for row in conn.execute(f"SELECT * FROM main_marts.{table} ORDER BY ALL").fetchall():
                digest.update(repr(row).encode())
            digests[table] = digest.hexdigest()
        return digests
    finally:
        conn.close()


def advance_city(city: Path, urls: dict[str, str], days: int) -> None:
    """`simulator advance`: the city's next days, delivered into its exchange databases."""
    targets = [f"--target={s}={u}" for s, u in urls.items()]
    command = [sys.executable, "-m", "simulator", "advance", "--out", str(city), "--days"]
    subprocess.run([*command, str(days), *targets], check=True, capture_output=True)


def local_midnight(day: dt.date):
    return pendulum.datetime(day.year, day.month, day.day, tz="Asia/Shanghai")


@pytest.fixture(scope="module")
def story(tmp_path_factory, servers):
    """Run the scenario once; the tests below read what it recorded."""
    from pipeline.airflow_setup import migrate_and_create_pool
    from pipeline.chain import run_chain

    tmp = tmp_path_factory.mktemp("e2e")
    city = tmp / "city"
    # D9 (late arrival) raised from 5 % so that a June case of this seed arrives after June's
    # close day (test_a_month_closes_through_airflow_and_a_late_case_restates_it)
    generate_city(small_config(people=600, seed=61, months=6, rates={"D9": 0.3}), city)
    pg, my = servers
    urls = {
        "case_platform": pg,
        "population_base": pg,
        "certificate_library": my,
        "legal_entity_base": my,
    }
    load_targets(city, urls)
    good = sources_file(tmp, city, urls, "good")
    broken = sources_file(
        tmp, city, {**urls, "certificate_library": DOWN, "legal_entity_base": DOWN}, "broken"
    )
    hotline = make_server(store_path(city), port=0, token="e2e-token")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    serve(hotline)
    serve(receiver)
    env = {
        "SOURCES": str(good),
        "CITY_DIR": str(city),
        "WAREHOUSE": str(tmp / "warehouse" / "warehouse.duckdb"),
        "PUBLISHED_WAREHOUSE": str(tmp / "published" / "warehouse.duckdb"),
        "PUBLISHED_DOCS": str(tmp / "published" / "docs"),
        "OPERATIONS_STORE": str(tmp / "operations" / "operations.duckdb"),
        "PUBLISHED_OPERATIONS": str(tmp / "published" / "operations.duckdb"),
        "QUALITY_DIR": str(tmp / "quality"),
        "PUSH_DIR": str(tmp / "push"),
        "SHARING_STORE_URL": f"sqlite:///{tmp / 'sharing' / 'sharing.db'}",
        "SHARING_SNAPSHOT": str(tmp / "sharing" / "snapshot.sqlite"),
        "SHARING_BACKFLOW_DIR": str(tmp / "sharing" / "backflow"),
        "PUBLISHED_SHARING_USAGE": str(tmp / "published" / "sharing_usage.duckdb"),
        "HOTLINE_BASE_URL": f"http://127.0.0.1:{hotline.server_address[1]}",
        "HOTLINE_API_TOKEN": "e2e-token",
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_address[1]}/alerts",
        "PIPELINE_RETRY_DELAY_SECONDS": "1",
        "PIPELINE_SOURCE_RETRIES": "1",
        "DBT_TARGET": "ci",
    }
    record: dict = {"city": city, "env": env, "urls": urls}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        migrate_and_create_pool()
        warehouse = Path(env["WAREHOUSE"])
        first = scan.clock(city).date()
        record["first_date"] = first
        record["first"] = run_chain(local_midnight(first), announce=lambda _: None)
        assert record["first"].ok, (record["first"].states, record["first"].failed_tasks)
        record["digest_first"] = marts_digest(warehouse)
        record["published_first"] = Path(env["PUBLISHED_WAREHOUSE"]).read_bytes()
        record["rerun"] = run_chain(local_midnight(first), announce=lambda _: None)
        record["digest_rerun"] = marts_digest(warehouse)

        advance_city(city, urls, 1)
        second = scan.clock(city).date()
        # the fault run: hotline down for more requests than one task try makes, MariaDB away
        hotline.faults = FaultInjector(0.0, 0.0, 0, outage_requests=HOTLINE_ATTEMPTS + 1)
        patch.setenv("SOURCES", str(broken))
        Receiver.received.clear()
        record["faulty"] = run_chain(local_midnight(second), announce=lambda _: None)
        record["alerts"] = list(Receiver.received)
        patch.setenv("SOURCES", str(good))
        record["catch_up"] = run_chain(local_midnight(second), announce=lambda _: None)
        record["second"] = second
    hotline.shutdown()
    receiver.shutdown()
    return record


def test_first_date_runs_every_dag_through_airflow(story):
    result = story["first"]
    assert result.ok, (result.states, result.failed_tasks)
    assert set(result.states) == {
        *(f"ingest_{system}" for system in SYSTEMS),
        "warehouse",
        "policy_matching",
        "data_sharing",
    }


def test_the_marts_themes_ledger_and_snapshot_reconcile_with_the_sources(story):
    city, env = story["city"], story["env"]
    warehouse = Path(env["WAREHOUSE"])
    live_cases = {
        r["SBLSH"]
        for r in scan.rows(city, "case_platform", "bj_jbxx")
        if r["SFSC"] != "1" and r["SBLSH"] not in scan.defect_keys(city, "D7", "bj_jbxx")
    }
    assert query(warehouse, "SELECT count(*) FROM main_marts.fct_cases") == [(len(live_cases),)]
    k1 = query(
        warehouse,
        "SELECT sum(denominator) FROM main_marts.kpi_monthly "
        "WHERE kpi_id = 'K1' AND region_code = 'ALL'",
    )
    assert k1 == [(len(live_cases),)]
    residents = query(warehouse, "SELECT count(*) FROM main_staging.stg_population_base__residents")
    assert (
        query(warehouse, "SELECT count(*) FROM main_marts.person_file WHERE is_resident")
        == residents
    )
    published = Path(env["PUBLISHED_WAREHOUSE"])
    as_of = query(published, "SELECT as_of_date FROM main_reference.snapshot_info")
    assert as_of == [(story["second"] - dt.timedelta(days=1),)]
    ledger = query(Path(env["OPERATIONS_STORE"]), "SELECT count(*) FROM match_ledger")
    assert ledger[0][0] > 0


def test_every_warehouse_run_left_quality_results_in_the_published_store(story):
    env = story["env"]
    first_build = story["first_date"] - dt.timedelta(days=1)
    published = Path(env["PUBLISHED_OPERATIONS"])
    runs = query(published, "SELECT as_of, passed FROM quality_runs ORDER BY started_at")
    assert runs[0] == (first_build, True)
    assert {as_of for as_of, _ in runs} == {first_build, story["second"] - dt.timedelta(days=1)}
    checked = query(
        published,
        "SELECT count(DISTINCT source_system), count(*) FILTER (WHERE severity = 'critical'"
        " AND NOT success) FROM quality_results WHERE as_of = ?",
        [first_build],
    )
    assert checked == [(6, 0)]


def test_rerunning_a_date_changes_nothing_in_the_marts(story):
    assert story["rerun"].ok
    assert story["digest_rerun"] == story["digest_first"]


def test_the_second_date_loads_only_increments(story):
    warehouse = Path(story["env"]["WAREHOUSE"])
    reads = query(
        warehouse,
        "SELECT l.started_at, a.rows_read FROM meta.load_audit a JOIN meta.loads l USING (load_id) "
        "WHERE a.table_name = 'bj_jbxx' AND l.status = 'ok' ORDER BY l.started_at",
    )
    first, *later = [rows for _, rows in reads]
    assert first > 0 and later
    assert all(rows < first / 20 for rows in later), reads


def test_a_fault_run_fails_only_the_unreachable_sources_and_alerts(story):
    result = story["faulty"]
    failed = {dag for dag, state in result.states.items() if state != "success"}
    # The hourly certificate library was last loaded for the day before: a day's certificates
    # are missing, so the gate holds the build back (freshness by the run's date, not by the
    # loads' wall-clock times, which here are minutes apart). The daily legal-entity base is
    # within its 26 hours. Nothing is published; the catch-up run publishes.
    assert failed == {"ingest_certificate_library", "ingest_legal_entity_base", "warehouse"}
    assert "policy_matching" not in result.states
    assert result.failed_tasks["warehouse"] == ["quality_gate"]
    assert result.states["ingest_hotline_12345"] == "success"  # recovered by retry
    alerted = {(a["dag_id"], a["task_id"]) for a in story["alerts"]}
    assert ("ingest_certificate_library", "load") in alerted
    gate = [a["message"] for a in story["alerts"] if a["task_id"] == "quality_gate"]
    assert gate and "delivery.certificate_library.certificate_library.freshness" in gate[0]
    assert "legal_entity_base.freshness" not in gate[0]
    assert all(
        "unreachable" in a["message"] or "127.0.0.1:1" in a["message"]
        for a in story["alerts"]
        if a["dag_id"] == "ingest_certificate_library"
    )
    stored = query(
        Path(story["env"]["OPERATIONS_STORE"]),
        "SELECT dag_id, delivered_via, delivery_error FROM task_alerts",
    )
    assert ("ingest_certificate_library", "webhook", None) in stored


def test_the_catch_up_run_loses_nothing(story):
    result, city = story["catch_up"], story["city"]
    assert result.ok, (result.states, result.failed_tasks)
    warehouse = Path(story["env"]["WAREHOUSE"])
    for table, key in (("dzzz_zzxx", "ZZBH"), ("dzzz_yyjl", "DYBH")):
        source_keys = {str(r[key]) for r in scan.rows(city, "certificate_library", table)}
        landed = {str(k) for (k,) in query(warehouse, f"SELECT DISTINCT {key} FROM raw.{table}")}
        quarantined = {
            k
            for (k,) in query(
                warehouse,
                "SELECT DISTINCT row_key FROM meta.quarantine WHERE table_name = ?",
                [table],
            )
        }
        assert source_keys <= landed | quarantined, table


def test_the_first_run_closed_every_due_month_once_at_its_published_values(story, tmp_path):
    """The monthly close on the real city: the first run closes every month whose close day
    has passed (catch-up), at the values of the snapshot it published; its re-run and the
    later dates record none of them again."""
    from closing.ledger import close_day

    store, first = Path(story["env"]["OPERATIONS_STORE"]), story["first_date"]
    snapshot = tmp_path / "first.duckdb"
    snapshot.write_bytes(story["published_first"])
    months = query(
        snapshot,
        "SELECT DISTINCT month FROM main_marts.kpi_monthly WHERE month < ? ORDER BY 1",
        [first.replace(day=1)],
    )
    due = [m for (m,) in months if close_day(m, 5) <= first]
    assert due
    closes = query(store, "SELECT month, close_no, closed_on FROM kpi_closes ORDER BY month")
    assert [(m, n) for m, n, on in closes if on == first] == [(m, 1) for m in due]
    assert len({m for m, _, _ in closes}) == len(closes)  # no month twice
    (snapshot_id,) = query(snapshot, "SELECT snapshot_id FROM main_reference.snapshot_info")
    for month in due:
        published = query(
            snapshot,
            "SELECT kpi_id, region_code, department, item_code, channel, numerator, denominator"
            " FROM main_marts.kpi_monthly WHERE month = ? ORDER BY ALL",
            [month],
        )
        reported = query(
            store,
            "SELECT kpi_id, region_code, department, item_code, channel, numerator, denominator"
            " FROM kpi_reported WHERE month = ? AND close_no = 1 ORDER BY ALL",
            [month],
        )
        assert reported == published, month
    assert query(store, "SELECT DISTINCT snapshot_id FROM kpi_reported WHERE closed_on = ?",
                 [first]) == [snapshot_id]  # fmt: skip


STORE_TABLES = ("kpi_closes", "kpi_reported", "kpi_restatements", "kpi_alerts")
GRAIN_VALUES = "kpi_id, region_code, department, item_code, channel, numerator, denominator"


def month_cases(city: Path, month: dt.date) -> dict[str, str]:
    """The live cases (not deleted, no D7 duplicate) the case platform holds now whose
    application (SQSJ) falls in `month`: case number -> region."""
    duplicates = scan.defect_keys(city, "D7", "bj_jbxx")
    return {
        r["SBLSH"]: r["XZQHDM"]
        for r in scan.rows(city, "case_platform", "bj_jbxx")
        if r["SFSC"] != "1"
        and r["SBLSH"] not in duplicates
        and str(r["SQSJ"]).startswith(f"{month:%Y-%m}")
    }


def store_state(store: Path) -> dict[str, list[tuple]]:
    return {t: query(store, f"SELECT * FROM {t} ORDER BY ALL") for t in STORE_TABLES}


@pytest.fixture(scope="module")
def month_close(story):
    """After the story (whose dates lie before the close day of the month before theirs):
    the city advanced to that close day and the chain run on it, so that the month closes
    through the pipeline; the city advanced until a late (D9) case of the month has arrived
    and the chain run again; then that date's warehouse DAG re-run."""
    from closing import ledger
    from groundfloor.settings import close_settings
    from pipeline.chain import ChainResult, dag_bag, run_chain, run_dag

    city, env, urls = story["city"], story["env"], story["urls"]
    month = (story["second"].replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    store, published = Path(env["OPERATIONS_STORE"]), Path(env["PUBLISHED_WAREHOUSE"])
    record: dict = {"month": month, "closed_before": {c["month"] for c in ledger.closes(store)}}
    hotline = make_server(store_path(city), port=0, token="e2e-token")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    serve(hotline)
    serve(receiver)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setenv("HOTLINE_BASE_URL", f"http://127.0.0.1:{hotline.server_address[1]}")
        patch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{receiver.server_address[1]}/a")
        due = ledger.close_day(month, close_settings().close_workday)
        record["due"] = due
        advance_city(city, urls, (due - story["second"]).days)
        record["cases_at_close"] = month_cases(city, month)
        Receiver.received.clear()
        record["close"] = run_chain(local_midnight(due), announce=lambda _: None)
        record["alerts_sent"] = [a for a in Receiver.received if a["task_id"] == "kpi_alerts"]
        record["published_at_close"] = published.read_bytes()
        # D9 delays a case by up to 10 days: those of the month's last days arrive by then
        later = due + dt.timedelta(days=4)
        record["later_date"] = later
        advance_city(city, urls, (later - due).days)
        record["cases_later"] = month_cases(city, month)
        record["later"] = run_chain(local_midnight(later), announce=lambda _: None)
        record["store_later"] = store_state(store)
        rerun = ChainResult(local_midnight(later))
        record["rerun"] = run_dag(dag_bag().dags["warehouse"], local_midnight(later), rerun)
        record["store_rerun"] = store_state(store)
    hotline.shutdown()
    receiver.shutdown()
    return record


def test_a_month_closes_through_airflow_and_a_late_case_restates_it(month_close, story, tmp_path):
    """The month before the story's dates closes on its close day through the Airflow DAGs at
    the values that run published; a D9 case of it arriving after the close is listed as a
    restatement (reported value from the close, current value from the sources and the mart)
    while the reported value and the dashboards' figure stay; re-running the date records
    nothing twice."""
    from closing import ledger

    close, month, due = month_close, month_close["month"], month_close["due"]
    city, env = story["city"], story["env"]
    store, operations = Path(env["OPERATIONS_STORE"]), Path(env["PUBLISHED_OPERATIONS"])
    assert story["second"] < due and month not in close["closed_before"]
    for run in ("close", "later"):
        assert close[run].ok, (close[run].states, close[run].failed_tasks)
    assert close["rerun"] == "success"

    closes = [(c["close_no"], c["due_on"], c["closed_on"], c["closed_by"])
              for c in ledger.closes(store) if c["month"] == month]  # fmt: skip
    assert closes == [(1, due, due, "pipeline")]
    snapshot = tmp_path / "close.duckdb"
    snapshot.write_bytes(close["published_at_close"])
    at_close = query(snapshot, f"SELECT {GRAIN_VALUES} FROM main_marts.kpi_monthly "
                     "WHERE month = ? ORDER BY ALL", [month])  # fmt: skip
    reported = query(store, f"SELECT {GRAIN_VALUES} FROM kpi_reported "
                     "WHERE month = ? AND close_no = 1 ORDER BY ALL", [month])  # fmt: skip
    assert reported == at_close and reported

    # the late case: absent at the close, delivered since, a D9 row of the manifest
    before, after = close["cases_at_close"], close["cases_later"]
    late = set(after) - set(before)
    assert late and late <= scan.defect_keys(city, "D9", "bj_jbxx"), late
    k1_city = ("SELECT sum(denominator) FROM {} WHERE month = ? AND kpi_id = 'K1' "
               "AND region_code = 'ALL'")  # fmt: skip
    assert query(store, k1_city.format("kpi_reported"), [month]) == [(len(before),)]
    published = Path(env["PUBLISHED_WAREHOUSE"])
    assert query(published, k1_city.format("main_marts.kpi_monthly"), [month]) == [(len(after),)]

    # listed as a restatement of its region and of the city, reported and current values
    # those of the close and of the mart now, first seen on the run after the close
    restated = [r for r in ledger.restatements(store, month) if r["kpi_id"] == "K1"]
    assert {after[k] for k in late} | {"ALL"} <= {r["region_code"] for r in restated}
    city_rows = [r for r in restated if r["region_code"] == "ALL"]
    moved = sum(r["current_denominator"] - r["reported_denominator"] for r in city_rows)
    assert moved == len(after) - len(before)
    now = {r[:5]: r[5:] for r in query(published, f"SELECT {GRAIN_VALUES} FROM "
           "main_marts.kpi_monthly WHERE month = ?", [month])}  # fmt: skip
    then = {r[:5]: r[5:] for r in reported}
    for r in restated:  # a grain without a row at the close (or now) counts 0 of 0 there
        grain = (r["kpi_id"], r["region_code"], r["department"], r["item_code"], r["channel"])
        assert (r["reported_numerator"], r["reported_denominator"]) == then.get(grain, (0, 0))
        assert (r["current_numerator"], r["current_denominator"]) == now.get(grain, (0, 0))
        assert r["first_seen_on"] == close["later_date"]

    # the dashboards keep the month at its reported value, the current one beside it
    shown = query(
        operations,
        "SELECT sum(denominator), sum(current_denominator), bool_or(is_restated), "
        "any_value(close_status) FROM kpi_monthly_as_reported "
        "WHERE month = ? AND kpi_id = 'K1' AND region_code = 'ALL'",
        [month],
    )
    assert shown == [(len(before), len(after), True, "已结账")]

    # the close day's KPI alerts are the closed month's, each sent once; the re-run of the
    # later date records nothing a second time
    alerts = query(store, "SELECT month, raised_on FROM kpi_alerts WHERE raised_on = ?", [due])
    assert {m for m, _ in alerts} <= {month}
    assert len(close["alerts_sent"]) == len(alerts)
    assert close["store_rerun"] == close["store_later"]
