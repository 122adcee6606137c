"""One small simulator city, ingested once (with its hotline API up for the load), for the
tests that run dbt on it. Each test module builds dbt on its own copy of the warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from ingestion.runner import run
from simulator.hotline_server import make_server
from simulator.hotline_store import store_path
from simulator.run import generate_city
from tests.conftest import small_config
from tests.helpers.sources import sources_for
from tests.integration import scan

PROJECT = Path("dbt_project").resolve()
DBT = Path(sys.executable).with_name("dbt")
DEFECT_RATES = {"D4": 0.06, "D5": 0.1, "D6": 0.02, "D13": 0.1}


@contextmanager
def hotline_up(city: Path):
    """The city's hotline API on 127.0.0.1, its URL and token in the environment."""
    server = make_server(store_path(city), port=0, token="t", error_rate=0.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "HOTLINE_API_TOKEN": "t",
        "HOTLINE_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ingested_city(tmp: Path) -> tuple[Path, Path]:
    """Generate the test city and load all six systems: (city, warehouse)."""
    city = tmp / "city"
    generate_city(small_config(people=900, seed=41, months=8, rates=DEFECT_RATES), city)
    warehouse = tmp / "warehouse.duckdb"
    with hotline_up(city):
        results = run(sources_for(tmp, city), warehouse, None, scan.clock(city).date())
    assert all(r.status == "ok" for r in results), [r.message for r in results]
    return city, warehouse


def warehouse_copy(warehouse: Path, tmp: Path) -> Path:
    copy = tmp / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    return copy


def dbt(warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    """A dbt command of the project on `warehouse` (target ci)."""
    return subprocess.run(
        [
            str(DBT),
            *args,
            "--profiles-dir",
            str(PROJECT),
            "--project-dir",
            str(PROJECT),
            "--target",
            "ci",
        ],
        env={**os.environ, "WAREHOUSE": str(warehouse), "DBT_TARGET": "ci"},
        capture_output=True,
        text=True,
    )
