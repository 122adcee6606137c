"""Shared fixtures: small generated cities (thousands of people, never more)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from simulator.config import DEFAULT_RATES, CityConfig
from simulator.run import generate_city

SMALL = 1500

# Property tests judge values, never time: hypothesis's default 200 ms deadline per example
# fails on a loaded 2-core machine (a DuckDB query took 298 ms once, 92 ms on its re-run).
settings.register_profile("project", deadline=None)
settings.load_profile("project")

# The pseudonymisation key of every test warehouse (a test value, not a secret).
os.environ.setdefault("IDENTITY_KEY", "test-identity-key-0123456789abcdef")

# Every output path a step falls back to when a test does not set it points into one temporary
# folder of the session, so that no test writes into the project's data/ (a developer's demo).
_OUTPUTS = Path(tempfile.mkdtemp(prefix="test-outputs-"))
for _name, _relative in {
    "WAREHOUSE": "warehouse/warehouse.duckdb",
    "PUBLISHED_WAREHOUSE": "published/warehouse.duckdb",
    "PUBLISHED_DOCS": "published/docs",
    "OPERATIONS_STORE": "operations/operations.duckdb",
    "PUBLISHED_OPERATIONS": "published/operations.duckdb",
    "QUALITY_DIR": "quality",
    "PUSH_DIR": "push",
    "SHARING_SNAPSHOT": "sharing/snapshot.sqlite",
    "SHARING_BACKFLOW_DIR": "sharing/backflow",
    "PUBLISHED_SHARING_USAGE": "published/sharing_usage.duckdb",
}.items():
    os.environ.setdefault(_name, str(_OUTPUTS / _relative))
os.environ.setdefault("SHARING_STORE_URL", f"sqlite:///{_OUTPUTS / 'sharing' / 'sharing.db'}")

# Airflow reads its home when first imported: the test session gets one of its own (SQLite).
if "AIRFLOW_HOME" not in os.environ:
    from pipeline.airflow_setup import use_airflow_home

    use_airflow_home(Path(tempfile.mkdtemp(prefix="test-airflow-home-")))


def small_config(**overrides) -> CityConfig:
    rates = dict(DEFAULT_RATES)
    rates.update(overrides.pop("rates", {}))
    return CityConfig(
        people=overrides.pop("people", SMALL),
        seed=overrides.pop("seed", 7),
        start=overrides.pop("start", dt.date(2025, 1, 1)),
        months=overrides.pop("months", 22),
        rates=rates,
        **overrides,
    )


@pytest.fixture(scope="session")
def city(tmp_path_factory) -> Path:
    """A city at the default defect rates (read-only: tests must not change it)."""
    out = tmp_path_factory.mktemp("city")
    generate_city(small_config(), out)
    return out


@pytest.fixture(scope="session")
def dirty_city(tmp_path_factory) -> Path:
    """A city with raised defect rates, so that every defect occurs many times."""
    out = tmp_path_factory.mktemp("dirty")
    rates = {
        "D1": 0.05,
        "D3": 0.03,
        "D4": 0.1,
        "D4_unrecoverable": 0.03,
        "D5": 0.2,
        "D6": 0.03,
        "D7": 0.02,
        "D8": 0.05,
        "D13": 0.3,
        "D14": 0.01,
    }
    generate_city(small_config(people=1200, seed=11, months=14, rates=rates), out)
    return out


@pytest.fixture
def fresh_city(tmp_path) -> Path:
    """A city of one's own, for tests that advance it."""
    out = tmp_path / "city"
    generate_city(small_config(people=800, seed=3, months=10), out)
    return out
