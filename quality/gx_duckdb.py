"""Great Expectations' SQL data source on DuckDB: the one place that works around its gap.

GX 1.24 reads a query's results after its pooled connection has been closed, which fails on
DuckDB (duckdb-engine) with `MetricResolutionError: list index out of range` (upstream:
great_expectations issues #10738 and #11579; PR #12084, a native DuckDB engine, is not in a
release as of 1.24.1). GX already keeps one persistent connection (and a StaticPool) for the
dialects in `sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS`; adding DuckDB there
is the whole fix. Passing `poolclass=StaticPool` to `add_sql` is not enough, because
`execute_query` closes its connection before the results are read.

Table assets also fail on DuckDB (column-type reflection drops the schema name), so every batch
here is a query asset: the SQL runs inside DuckDB and only metrics come back to Python.
"""

from __future__ import annotations

import logging
from pathlib import Path

import great_expectations as gx
from great_expectations.core.expectation_suite import ExpectationSuite
from great_expectations.execution_engine import sqlalchemy_execution_engine

from groundfloor.settings import duckdb_settings

# A GX run logs progress bars and INFO lines for every metric; the step prints its own summary.
logging.getLogger("great_expectations").setLevel(logging.WARNING)


class _DuckDBDialect(str):
    """GX compares these entries both as strings (`dialect_name in ...`) and by `.value`
    (`url.startswith(dialect.value)`), so the entry is a string with a `value`."""

    value = "duckdb"


def keep_one_duckdb_connection() -> None:
    """Make GX keep one persistent connection for DuckDB (idempotent)."""
    dialects = sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS
    if not any(isinstance(d, _DuckDBDialect) for d in dialects):
        sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS = (
            *dialects,
            _DuckDBDialect("duckdb"),
        )


class WarehouseSource:
    """The working warehouse as a GX SQL data source, opened read-only on one connection, with
    a Data Docs site under `docs_dir` (static HTML, rebuilt from this run's results)."""

    SITE = "quality"

    def __init__(self, warehouse: Path, docs_dir: Path):
        keep_one_duckdb_connection()
        self.docs_dir = Path(docs_dir)
        self.context = gx.get_context(mode="ephemeral", project_config=_quiet_config())
        self.context.add_data_docs_site(self.SITE, _site_config(self.docs_dir))
        self.source = self.context.data_sources.add_sql(
            name="warehouse",
            connection_string=f"duckdb:///{Path(warehouse).resolve()}",
            kwargs={"connect_args": {"read_only": True, "config": duckdb_settings().config()}},
        )

    def validate(self, name: str, query: str, suite: ExpectationSuite, result_format):
        """Run `suite` on the rows of `query` (evaluated inside DuckDB); the result is kept in
        the context's results store, so Data Docs render it."""
        asset = self.source.add_query_asset(name=name, query=query)
        batch = asset.add_batch_definition_whole_table("whole")
        suite = self.context.suites.add(suite)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        return definition.run(result_format=result_format)

    def replace_result(self, name: str, dropped: str, result) -> None:
        """Store `result` as the validation of `name` and forget the validation of `dropped`:
        Data Docs then show one validation per suite (runner.validate_suite merges its two
        passes into the first one's result)."""
        store = self.context.validation_results_store
        keys = {key.expectation_suite_identifier.name: key for key in store.list_keys()}
        store.remove_key(keys[dropped])
        store.set(keys[name], result)

    BATCHES = "quality_batches"

    def materialize(self, name: str, query: str) -> str:
        """Evaluate `query` once into a table of an in-memory database attached to GX's
        connection, and return a query over it: GX sends one SQL statement per metric, and the
        query (its masked key, its joins) would otherwise be recomputed each time. Not a TEMP
        table: DuckDB keeps those per cursor, and duckdb-engine runs GX's statements on cursors
        of their own; an attached database is shared by every cursor (and writable while the
        warehouse is not)."""
        table = f'{self.BATCHES}.main."{name.replace(".", "_")}"'
        self._execute(f"ATTACH IF NOT EXISTS ':memory:' AS {self.BATCHES} (READ_WRITE)")
        self._execute(f"CREATE OR REPLACE TABLE {table} AS {query}")
        return f"SELECT * FROM {table}"

    def drop(self, query: str) -> None:
        """Drop the table behind a query returned by `materialize` (frees its memory)."""
        self._execute("DROP TABLE IF EXISTS " + query.removeprefix("SELECT * FROM "))

    def _execute(self, statement: str) -> None:
        import sqlalchemy as sa

        with self.source.get_execution_engine().get_connection() as connection:
            connection.execute(sa.text(statement))
            # duckdb-engine runs each statement on a cursor, a connection of its own in
            # DuckDB: uncommitted work on one is invisible to the next.
            connection.commit()

    def build_docs(self) -> Path:
        """Render the Data Docs of this run's results; the path of their index page."""
        self.context.build_data_docs(site_names=[self.SITE])
        return self.docs_dir / "index.html"

    def close(self) -> None:
        """Release the warehouse file: close the one connection and dispose both engines (the
        data source's own, used to test the connection when it was added, keeps a pooled
        connection open otherwise). Until then DuckDB refuses this process any other
        connection to the file ("different configuration")."""
        engine = self.source.get_execution_engine()
        connection = getattr(engine, "_connection", None)
        if connection is not None:
            connection.close()
        engine.engine.dispose()
        self.source.get_engine().dispose()


def _site_config(directory: Path) -> dict:
    return {
        "class_name": "SiteBuilder",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(directory.resolve()),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


def _quiet_config():
    """An in-memory project without usage statistics or progress bars (GX sends none offline;
    explicit) whose Data Docs sites are added by `WarehouseSource`."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={},
    )
