"""A database of a test's own on the local PostgreSQL and MariaDB, dropped after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pymysql

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MY = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


@contextlib.contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """Database `name` on PostgreSQL (UTF-8), its URL, dropped after (connections forced)."""
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        conn.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def mysql_database(name: str) -> Iterator[str]:
    """The URL of database `name` on MariaDB, dropped after. Not created here: the
    simulator's load creates a missing database (utf8mb4)."""
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        conn = pymysql.connect(**MY)
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()
