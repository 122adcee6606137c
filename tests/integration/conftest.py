"""Fixtures for tests against the real local servers: a database of one's own, dropped after."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.helpers.servers import mysql_database, postgres_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database(f"sim_test_{secrets.token_hex(6)}") as url:
        yield url


@pytest.fixture
def mysql_url() -> Iterator[str]:
    with mysql_database(f"sim_test_{secrets.token_hex(6)}") as url:
        yield url


@pytest.fixture(scope="session")
def ingested(tmp_path_factory):
    """(city, warehouse) of the small city every dbt test builds on (copy before writing)."""
    from tests.integration.dbt_city import ingested_city

    return ingested_city(tmp_path_factory.mktemp("ingested"))
