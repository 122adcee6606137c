"""dbt on the demo city: seeds, staging models, their data tests and unit tests build, and the
staging flags agree with what the simulator's manifest predicts (D4, D5, D6, D13)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from ingestion.runner import run
from simulator.hotline_server import make_server
from simulator.hotline_store import store_path
from simulator.run import generate_city
from tests.conftest import small_config
from tests.integration import scan
from tests.integration.test_ingestion_sql import sources_for

pytestmark = pytest.mark.integration
PROJECT = Path("dbt_project").resolve()
DBT = Path(sys.executable).with_name("dbt")
CASES = "main_staging.stg_case_platform__cases"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dbt")
    city = tmp / "city"
    rates = {"D4": 0.06, "D5": 0.1, "D6": 0.02, "D13": 0.1}
    generate_city(small_config(people=900, seed=41, months=8, rates=rates), city)
    warehouse = tmp / "warehouse.duckdb"
    server = make_server(store_path(city), port=0, token="t", error_rate=0.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "HOTLINE_API_TOKEN": "t",
        "HOTLINE_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        results = run(sources_for(tmp, city), warehouse, None, scan.clock(city).date())
    finally:
        server.shutdown()
        server.server_close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert all(r.status == "ok" for r in results), [r.message for r in results]
    done = subprocess.run(
        [
            str(DBT),
            "build",
            "--profiles-dir",
            str(PROJECT),
            "--project-dir",
            str(PROJECT),
            "--target",
            "ci",
            "--select",
            "staging",
            "+staging",
        ],
        env={**os.environ, "WAREHOUSE": str(warehouse), "DBT_TARGET": "ci"},
        capture_output=True,
        text=True,
    )
    return city, warehouse, done


def query(warehouse: Path, sql: str):
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_dbt_build_of_seeds_and_staging_passes(built):
    _, _, done = built
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout.replace(" ", "")


def test_invalid_identity_numbers_match_the_manifest(built):
    city, warehouse, _ = built
    predicted = {
        k
        for (k,) in scan.manifest(
            city,
            "SELECT key FROM defects WHERE table_name = 'bj_jbxx' AND defect IN ('D4', 'D5') "
            "AND expected = 'invalid'",
        )
    }
    deleted = scan.defect_keys(city, "D3", "bj_jbxx") | scan.defect_keys(city, "D7", "bj_jbxx")
    flagged = {
        k
        for (k,) in query(
            warehouse,
            "SELECT case_id FROM main_staging.stg_case_platform__cases "
            "WHERE is_applicant_id_valid = false",
        )
    }
    assert flagged == predicted - deleted
    assert flagged


def test_normalised_numbers_match_the_manifest(built):
    city, warehouse, _ = built
    expected = {
        k: v
        for k, v in scan.manifest(
            city,
            "SELECT key, expected FROM defects WHERE table_name = 'bj_jbxx' "
            "AND defect IN ('D4', 'D5') AND expected <> 'invalid'",
        )
    }
    landed = dict(
        query(
            warehouse,
            "SELECT case_id, applicant_id_normalised FROM main_staging.stg_case_platform__cases",
        )
    )
    checked = [k for k in expected if k in landed]
    assert checked and all(landed[k] == expected[k] for k in checked)


def test_timestamp_order_flags_match_the_manifest(built):
    city, warehouse, _ = built
    predicted = {
        (k, c)
        for k, c in scan.manifest(
            city,
            "SELECT key, column_name FROM defects WHERE table_name = 'bj_jbxx' AND defect = 'D6'",
        )
    }
    gone = scan.defect_keys(city, "D3", "bj_jbxx") | scan.defect_keys(city, "D7", "bj_jbxx")
    flagged = {
        (k, "SLSJ")
        for (k,) in query(
            warehouse,
            f"SELECT case_id FROM {CASES} WHERE is_accepted_before_applied",
        )
    }
    flagged |= {
        (k, "BJSJ")
        for (k,) in query(
            warehouse,
            f"SELECT case_id FROM {CASES} WHERE is_completed_before_accepted",
        )
    }
    assert flagged == {p for p in predicted if p[0] not in gone}
    assert flagged
