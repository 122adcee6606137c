"""A local Airflow home for the demo, the tests and `make serve`: configuration through the
environment (never an edited airflow.cfg), the metadata database and the writer pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from groundfloor.settings import PROJECT, environment

DAGS_FOLDER = PROJECT / "dags"
PLUGINS_FOLDER = PROJECT / "pipeline" / "airflow_plugins"


def airflow_environment(home: Path, database_url: str | None = None) -> dict[str, str]:
    """Settings for an Airflow home: SQLite metadata by default, PostgreSQL when configured
    (AIRFLOW_DATABASE_URL), parallelism fitted to a 2-core machine, no examples."""
    home = home.resolve()
    env = environment()
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        # the UI's default time zone (ui_timezone.py) follows DEFAULT_TIMEZONE below
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW_PARALLELISM", "4"),
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url
        or env.get("AIRFLOW_DATABASE_URL")
        or f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")])),
    }


def use_airflow_home(home: Path, database_url: str | None = None) -> None:
    """Point this process at `home` (before airflow is imported)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_environment(home, database_url))


def airflow_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), *args],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )


def migrate_and_create_pool() -> None:
    """`airflow db migrate` and the warehouse writer pool of one slot (idempotent)."""
    from pipeline.assets import WAREHOUSE_WRITER_POOL

    airflow_cli("db", "migrate")
    airflow_cli(
        "pools",
        "set",
        WAREHOUSE_WRITER_POOL,
        "1",
        "DuckDB allows one writer process: every task that writes the warehouse takes it",
    )


def pipeline_dag_ids() -> list[str]:
    """The DAGs of dags/: one ingestion DAG per source system, the warehouse, the matching, the
    data sharing."""
    from pipeline.assets import SYSTEMS

    return [
        *(f"ingest_{system}" for system in SYSTEMS),
        "warehouse",
        "policy_matching",
        "data_sharing",
    ]


def unpause_pipeline_dags() -> list[str]:
    """Unpause the pipeline's DAGs that an earlier run left paused (`make demo` creates them
    paused, and DAGS_ARE_PAUSED_AT_CREATION only applies to DAGs not yet in the database);
    the ones it unpaused. DAGs not yet parsed are created unpaused by `make serve`."""
    pattern = "^(" + "|".join(pipeline_dag_ids()) + ")$"
    done = airflow_cli("dags", "unpause", "--treat-dag-id-as-regex", "-y", "-o", "json", pattern)
    # the JSON list follows Airflow's own log lines; "No paused DAGs were found" otherwise
    start = done.stdout.find("[{")
    if start < 0:
        return []
    return sorted(row["dag_id"] for row in json.loads(done.stdout[start:]))
