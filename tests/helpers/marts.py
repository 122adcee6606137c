"""Comparing the marts two engines built from the same raw data: the DuckDB build against the
PostgreSQL one (test_postgres_dbt) and the Spark one (test_spark_dbt). Each test reads the
other engine's rows its own way; the comparison is one."""

from __future__ import annotations

import decimal
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.helpers.warehouse import query

# The grain of kpi_monthly: one row per KPI, month and slice.
KPI_GRAIN = "kpi_id, month, region_code, department, item_code, channel"
KPI_COLUMNS = f"{KPI_GRAIN}, numerator, denominator, rate, target"


def comparable(row: tuple) -> tuple:
    """A row as both engines give it: numbers to 9 decimals (sums of doubles added in another
    order; DuckDB's DOUBLE averages are PostgreSQL's NUMERIC ones)."""
    return tuple(round(float(v), 9) if isinstance(v, float | decimal.Decimal) else v for v in row)


def row_bag(rows: Iterable[tuple]) -> Counter:
    return Counter(comparable(r) for r in rows)


def difference(duck: Counter, other: Counter, shown: int = 5) -> tuple[list, list]:
    """A few rows only DuckDB has, and a few only the other engine has."""
    return list((duck - other).elements())[:shown], list((other - duck).elements())[:shown]


def mart_names(warehouse: Path) -> list[str]:
    sql = "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main_marts' ORDER BY 1"
    return [t for (t,) in query(warehouse, sql)]


def mart_columns(warehouse: Path, table: str) -> str:
    """The mart's columns in DuckDB's order, quoted, for a SELECT both engines answer alike."""
    sql = (
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main_marts' "
        "AND table_name = ? ORDER BY ordinal_position"
    )
    return ", ".join(f'"{c}"' for (c,) in query(warehouse, sql, [table]))


def differing_marts(warehouse: Path, other_rows: Callable[[str, str], list[tuple]]) -> dict:
    """Every mart of the DuckDB `warehouse` whose rows the other engine does not hold alike:
    `other_rows(table, columns)` gives that engine's rows of the table. {} when all agree."""
    differing = {}
    for table in mart_names(warehouse):
        columns = mart_columns(warehouse, table)
        duck = row_bag(query(warehouse, f"SELECT {columns} FROM main_marts.{table}"))
        other = row_bag(other_rows(table, columns))
        if duck != other:
            differing[table] = difference(duck, other, shown=2)
    return differing
