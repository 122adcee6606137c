"""The warehouse's transformation step: dbt on DuckDB, the identity key, and publishing."""
