"""dbt's `target` as sqlfluff's jinja templater sees it (`.sqlfluff` library_path): the
models are linted as the DuckDB SQL they render on the project's own targets."""

type = "duckdb"
name = "ci"
schema = "main"
