"""Small simulator cities for the quality tests: generated, ingested (hotline API up for the
load) and built with dbt, as the pipeline does; and the deployment paths the gate writes to."""

from __future__ import annotations

import datetime as dt
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingestion.runner import run
from simulator.run import generate_city
from tests.conftest import small_config
from tests.helpers.sources import sources_for
from tests.integration import scan
from tests.integration.dbt_city import hotline_up
from transform.dbt import build


@dataclass(frozen=True)
class Built:
    city: Path
    warehouse: Path
    as_of: dt.date


def generate(tmp: Path, **config) -> Path:
    city = tmp / "city"
    generate_city(small_config(**config), city)
    return city


def ingest(city: Path, warehouse: Path, systems: list[str] | None = None) -> None:
    with hotline_up(city):
        results = run(sources_for(city.parent, city), warehouse, systems, scan.clock(city).date())
    assert all(r.status == "ok" for r in results), [r.message for r in results]


def build_day(city: Path, warehouse: Path) -> Built:
    """dbt build as of the city's last complete day (the day before its clock)."""
    as_of = scan.clock(city).date() - dt.timedelta(days=1)
    build(warehouse, as_of, target="ci", capture=True)
    return Built(city, warehouse, as_of)


def built_city(tmp: Path, **config) -> Built:
    city = generate(tmp, **config)
    warehouse = tmp / "warehouse.duckdb"
    ingest(city, warehouse)
    return build_day(city, warehouse)


def copy_built(built: Built, tmp: Path) -> Built:
    """A city and its warehouse of one's own, to break or move on."""
    city = tmp / "city"
    shutil.copytree(built.city, city)
    warehouse = tmp / "warehouse.duckdb"
    shutil.copyfile(built.warehouse, warehouse)
    return Built(city, warehouse, built.as_of)


@dataclass(frozen=True)
class Deployment:
    """Where one installation keeps what the gate and publish write (settings by environment)."""

    root: Path

    @property
    def published(self) -> Path:
        return self.root / "published" / "warehouse.duckdb"

    @property
    def operations(self) -> Path:
        return self.root / "operations" / "operations.duckdb"

    @property
    def published_operations(self) -> Path:
        return self.root / "published" / "operations.duckdb"

    @property
    def quality_dir(self) -> Path:
        return self.root / "quality"

    def environment(self, warehouse: Path) -> dict[str, str]:
        return {
            "WAREHOUSE": str(warehouse),
            "PUBLISHED_WAREHOUSE": str(self.published),
            "PUBLISHED_DOCS": str(self.root / "published" / "docs"),
            "OPERATIONS_STORE": str(self.operations),
            "PUBLISHED_OPERATIONS": str(self.published_operations),
            "QUALITY_DIR": str(self.quality_dir),
            "PUSH_DIR": str(self.root / "push"),
            "DBT_TARGET": "ci",
        }


@contextmanager
def settings_for(deployment: Deployment, warehouse: Path):
    """The pipeline's settings pointed at `deployment` and `warehouse` for the block."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in deployment.environment(warehouse).items():
            patch.setenv(name, value)
        yield


def gate_then_publish(deployment: Deployment, built: Built) -> dict:
    """The warehouse DAG after dbt_build: quality_gate, and publish only when the gate passes
    (Airflow runs a task only when its upstream succeeded)."""
    from pipeline import tasks

    with settings_for(deployment, built.warehouse):
        gate = tasks.quality_gate(built.as_of)
        tasks.publish(built.as_of)
    return gate
