"""Physical schemas of the simulated exchange databases, derived from the contract.

The same column types are used for SQLite (the embedded demo), PostgreSQL and MariaDB,
so that a loaded copy has the shape a department's 前置库 would have.
"""

from __future__ import annotations

from contract import Column, Table

# Where each system's tables live in a real exchange database (sources.yaml, delivery).
SCHEMA_OF_SYSTEM = {
    "case_platform": "qzk_zw",
    "certificate_library": "qzk_dzzz",
    "population_base": "qzk_rk",
    "legal_entity_base": "qzk_fr",
}
EXCHANGE_SYSTEMS = tuple(SCHEMA_OF_SYSTEM)


def column_sql_type(column: Column, dialect: str) -> str:
    """SQL type of a contract column. Identity-like text is declared wide: dirty values
    (D4, D5) are longer than the clean length and must still fit."""
    kind = column.kind
    if kind == "int":
        return "BIGINT" if dialect != "sqlite" else "INTEGER"
    if kind == "dec":
        return f"DECIMAL({column.precision},{column.scale})"
    if kind == "date":
        return "DATE" if dialect != "sqlite" else "TEXT"
    if kind == "ts":
        return {"sqlite": "TEXT", "postgresql": "TIMESTAMP", "mysql": "DATETIME"}[dialect]
    if kind == "code":
        return "VARCHAR(16)" if dialect != "sqlite" else "TEXT"
    length = (
        max(column.length or 64, 64) if column.length and column.length <= 18 else column.length
    )
    return f"VARCHAR({length})" if dialect != "sqlite" else "TEXT"


def create_table_sql(
    table: Table, dialect: str, name: str | None = None, extra_columns: tuple[str, ...] = ()
) -> str:
    cols = [f"{_quote(c.name, dialect)} {column_sql_type(c, dialect)}" for c in table.columns]
    cols += [
        f"{_quote(c, dialect)} {'TEXT' if dialect == 'sqlite' else 'VARCHAR(200)'}"
        for c in extra_columns
    ]
    return f"CREATE TABLE {name or table.name} ({', '.join(cols)})"


def _quote(identifier: str, dialect: str) -> str:
    return f"`{identifier}`" if dialect == "mysql" else f'"{identifier}"'
