"""Run the dbt project on a warehouse: the one way the Makefile, Airflow and tests call dbt."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

from groundfloor.settings import PROJECT, environment, identity_key
from groundfloor.warehouse import restrict, writer_lock

DBT_PROJECT = PROJECT / "dbt_project"


class DbtFailed(RuntimeError):
    pass


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def dbt_environment(warehouse: Path, target: str) -> dict[str, str]:
    """The process environment for dbt: settings plus the warehouse path and the target.

    identity_key() fails early, with a clear message, when the pseudonymisation key is missing.
    """
    key = identity_key()
    env = {
        **os.environ,
        **environment(),
        "WAREHOUSE": str(Path(warehouse).resolve()),
        "DBT_TARGET": target,
    }
    if target == "pg":
        env["PGOPTIONS"] = postgres_options(key, env.get("PGOPTIONS", ""))
    return env


def postgres_options(key: str, options: str = "") -> str:
    """libpq's PGOPTIONS with the pseudonymisation key as the custom setting
    govdata.identity_key, which the models read with current_setting() on the pg target (the
    key never appears in SQL). Spaces and backslashes are escaped as libpq requires."""
    escaped = key.replace("\\", "\\\\").replace(" ", "\\ ")
    return f"{options} -c govdata.identity_key={escaped}".strip()


def run_dbt(
    warehouse: Path,
    command: str,
    *args: str,
    as_of: dt.date | None = None,
    target: str = "demo",
    capture: bool = False,
) -> subprocess.CompletedProcess:
    """`dbt <command>` (e.g. "build", "docs generate") on `warehouse`; raises DbtFailed when
    dbt exits non-zero."""
    argv = [dbt_executable(), *command.split(), "--project-dir", str(DBT_PROJECT)]
    argv += ["--profiles-dir", str(DBT_PROJECT), *args]
    if as_of is not None:
        argv += ["--vars", f"{{as_of_date: '{as_of.isoformat()}'}}"]
    # dbt-duckdb opens the file for writing: it queues behind any other writer. The pg
    # target never touches the file.
    lock = writer_lock(warehouse, f"dbt {command}") if target != "pg" else nullcontext()
    with lock:
        result = subprocess.run(
            argv,
            env=dbt_environment(warehouse, target),
            capture_output=capture,
            text=True,
            check=False,
        )
    restrict(Path(warehouse))
    if result.returncode != 0:
        detail = (result.stdout or "")[-4000:] if capture else "see dbt's output above"
        raise DbtFailed(f"dbt {command} failed on {warehouse} (exit {result.returncode}): {detail}")
    return result


def build(warehouse: Path, as_of: dt.date | None, *args: str, **kwargs) -> None:
    """dbt build: seeds, models, data tests and unit tests. Target spark: the same build on a
    local Spark session from the raw layer exported as Parquet, the built tables copied back
    into the warehouse (transform/spark.py, docs/spark.md)."""
    if kwargs.get("target") == "spark":
        from transform.spark import build_into_warehouse

        build_into_warehouse(warehouse, as_of, *args)
        return
    run_dbt(warehouse, "build", *args, as_of=as_of, **kwargs)
