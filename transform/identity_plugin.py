"""dbt-duckdb plugin that hands the pseudonymisation key to every DuckDB cursor dbt opens.

The key comes from configuration (`IDENTITY_KEY`, see groundfloor/settings.py) and is set as the
DuckDB variable `identity_key`; models read it with `getvariable('identity_key')` (macro
`person_key`). It is never rendered into SQL, so it appears in no compiled model, no manifest
and no generated docs.
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from groundfloor.settings import identity_key

VARIABLE = "identity_key"


def set_identity_key(connection, key: str) -> None:
    escaped = key.replace("'", "''")
    connection.execute(f"SET VARIABLE {VARIABLE} = '{escaped}'")


class Plugin(BasePlugin):
    def initialize(self, plugin_config):
        self.key = identity_key()

    def configure_connection(self, conn):
        set_identity_key(conn, self.key)

    def configure_cursor(self, cursor):
        set_identity_key(cursor, self.key)
