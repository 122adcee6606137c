"""Fixtures for tests against the real local servers: a database of one's own, dropped after."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pymysql
import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MY = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"sim_test_{secrets.token_hex(6)}"
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        conn.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    # Not created here: load_system creates a missing database (utf8mb4).
    name = f"sim_test_{secrets.token_hex(6)}"
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        conn = pymysql.connect(**MY)
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


@pytest.fixture(scope="session")
def ingested(tmp_path_factory):
    """(city, warehouse) of the small city every dbt test builds on (copy before writing)."""
    from tests.integration.dbt_city import ingested_city

    return ingested_city(tmp_path_factory.mktemp("ingested"))
