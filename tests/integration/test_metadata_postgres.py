"""`make serve` keeps Airflow's and Superset's metadata in SQLite by default and in PostgreSQL
when configured (AIRFLOW_DATABASE_URL, SUPERSET_METADATA_URI): both migrate on the local server."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from groundfloor.settings import PROJECT
from pipeline.airflow_setup import airflow_environment

pytestmark = pytest.mark.integration

SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
SUPERSET_PYTHON = PROJECT / ".venv-superset" / "bin" / "python"


@pytest.fixture()
def database():
    name = f"meta_{secrets.token_hex(5)}"
    with psycopg.connect(dbname="postgres", autocommit=True, **SERVER) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True, **SERVER) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def tables(name: str) -> set[str]:
    with psycopg.connect(dbname=name, **SERVER) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {table for (table,) in rows}


def test_airflow_metadata_migrates_on_postgresql(database, tmp_path: Path):
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"
    env = {**os.environ, **airflow_environment(tmp_path / "airflow", url)}
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"dag", "dag_run", "task_instance", "slot_pool"} <= tables(database)
    assert not (tmp_path / "airflow" / "airflow.db").exists()


def test_superset_metadata_migrates_on_postgresql(database):
    if not SUPERSET_PYTHON.exists():  # `make test` installs it: missing is a broken setup
        pytest.fail("Superset's environment is missing: run `make install`")
    env = {
        **os.environ,
        "SUPERSET_METADATA_URI": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        "SUPERSET_SECRET_KEY": "metadata-test-secret-key",
        "SUPERSET_ADMIN_PASSWORD": "metadata-test-admin-password",
        "SUPERSET_DEMO_PASSWORD": "metadata-test-demo-password",
    }
    done = subprocess.run(
        [str(SUPERSET_PYTHON), "-m", "dashboards", "init"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with psycopg.connect(dbname=database, **SERVER) as conn:
        users = conn.execute("SELECT username FROM ab_user").fetchall()
        roles = {r for (r,) in conn.execute("SELECT name FROM ab_role").fetchall()}
    assert users == [("admin",)]
    assert {"Admin", "Gamma"} <= roles
