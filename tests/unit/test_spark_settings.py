"""The Spark target's pieces that need no Spark session: the session settings of
transform/spark.py and the profile's spark target agree, the DuckDB types of the raw layer map
to Spark's, and the Spark masking macros are derived from the DuckDB ones as said."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from transform.project import adapter_overrides
from transform.spark import session_settings, spark_environment, spark_type

MACROS = Path("dbt_project/macros")


def render(value: str, env: dict) -> str:
    """The profile's `{{ env_var('NAME'[, 'default']) }}` as dbt renders it."""
    pattern = r"\{\{ env_var\('(\w+)'(?:, '([^']*)')?\) \}\}"
    return re.sub(pattern, lambda m: env.get(m.group(1), m.group(2) or ""), value)


def test_the_profile_and_the_session_use_the_same_settings(tmp_path):
    env = spark_environment(tmp_path / "work", cores=3, memory="5g")
    profile = yaml.safe_load(Path("dbt_project/profiles.yml").read_text(encoding="utf-8"))
    target = profile["govdata"]["outputs"]["spark"]
    assert target["type"] == "spark" and target["method"] == "session"
    rendered = {
        key: render(str(value), {**env, "IDENTITY_KEY": "k" * 20})
        for key, value in target["server_side_parameters"].items()
    }
    # the key only in the profile: the models read it by substitution, never from SQL text
    assert rendered.pop("govdata.identity_key") == "k" * 20
    assert rendered == session_settings(env)
    assert rendered["spark.master"] == "local[3]" and rendered["spark.driver.memory"] == "5g"
    assert rendered["spark.sql.warehouse.dir"] == f"{tmp_path / 'work'}/warehouse"


@pytest.mark.parametrize(
    ("duckdb_type", "spark"),
    [
        ("VARCHAR", "string"),
        ("JSON", "string"),
        ("TIMESTAMP", "timestamp"),
        ("BIGINT", "bigint"),
        ("DECIMAL(18, 3)", "decimal(18, 3)"),
        ("DATE", "date"),
    ],
)
def test_raw_types_map_to_spark(duckdb_type, spark):
    assert spark_type(duckdb_type) == spark


def test_an_unknown_type_is_refused():
    with pytest.raises(ValueError, match="HUGEINT"):
        spark_type("HUGEINT")


def derive_spark_masking(duckdb_sql: str) -> dict[str, str]:
    """The rule masking_spark.sql states, applied to masking.sql's default__ macros."""
    derived = {}
    pattern = r"\{% macro default__(\w+)\(column\) -%\}\n(.*?)\n\{%- endmacro %\}"
    for name, body in re.findall(pattern, duckdb_sql, re.S):
        body = body.replace("list_transform([", "transform(array(")
        body = re.sub(r"\], lambda (\w+):", r"), \1 ->", body)
        body = body.replace(")[1]", ")[0]")
        body = re.sub(r"regexp_matches\((\w+), ('[^']*')\)", r"(\1 rlike \2)", body)
        body = re.sub(r"regexp_full_match\((\w+), '([^']*)'\)", r"(\1 rlike '^(?:\2)$')", body)
        body = body.replace(", 'g')", ")")
        body = re.sub(r"\\(\d)", r"$\1", body)
        derived[name] = body.replace(" as varchar)", " as string)")
    return derived


def test_the_spark_masking_macros_are_derived_from_the_duckdb_ones():
    derived = derive_spark_masking((MACROS / "masking.sql").read_text(encoding="utf-8"))
    spark = dict(
        re.findall(
            r"\{% macro spark__(\w+)\(column\) -%\}\n(.*?)\n\{%- endmacro %\}",
            (MACROS / "masking_spark.sql").read_text(encoding="utf-8"),
            re.S,
        )
    )
    assert len(derived) == 6 and spark == derived
    assert "mask_identity_number" in spark and "lambda" not in spark["mask_identity_number"]


def test_every_construct_the_models_use_has_a_spark_variant_or_runs_as_is():
    # GROUP BY ALL, QUALIFY, median, try_cast and double run on Spark 4 as written (default__)
    assert {
        "union_all_by_name",
        "not_materialized",
        "truncate_to",
        "keyed_hash",
        "normalise_identity",
        "is_valid_identity",
        "normalise_uscc",
        "is_valid_uscc",
        "mask_name",
        "listagg",
        "dateadd",
        "schema_relations",
        "release_replaced_blocks",
    } <= set(adapter_overrides("spark"))


def test_the_raw_tables_are_declared_partitioned_by_load(tmp_path):
    from transform.spark import raw_table_statements

    layout = {
        "raw.bj_jbxx": {
            "path": "/lake/raw/bj_jbxx",
            "partition_column": "_load_id",
            "columns": [["SBLSH", "string"], ["_load_id", "string"], ["_loaded_at", "timestamp"]],
        },
        "meta.files": {
            "path": "/lake/meta/files",
            "partition_column": None,
            "columns": [["a", "int"]],
        },
    }
    (tmp_path / "_tables.json").write_text(__import__("json").dumps(layout), encoding="utf-8")
    statements = raw_table_statements(tmp_path)
    assert statements == [
        "create database if not exists meta",
        "drop table if exists meta.files",
        "create table meta.files (`a` int) using parquet location '/lake/meta/files'",
        "create database if not exists raw",
        "drop table if exists raw.bj_jbxx",
        # the partition column last, as Spark keeps it
        "create table raw.bj_jbxx (`SBLSH` string, `_loaded_at` timestamp, `_load_id` string) "
        "using parquet partitioned by (`_load_id`) location '/lake/raw/bj_jbxx'",
    ]


def test_the_built_tables_are_copied_back_into_the_warehouse(tmp_path):
    import duckdb

    from transform.spark import import_results

    folder = tmp_path / "spark" / "warehouse" / "main_marts.db" / "kpi_monthly"
    folder.mkdir(parents=True)
    with duckdb.connect() as conn:
        for part in (0, 1):
            conn.execute(
                f"COPY (SELECT 'K{part + 1}' AS kpi_id, {part} AS numerator) "
                f"TO '{folder}/part-{part}.parquet' (FORMAT parquet)"
            )
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as conn:  # an older build's table is replaced
        conn.execute("CREATE SCHEMA main_marts")
        conn.execute("CREATE TABLE main_marts.kpi_monthly AS SELECT 'old' AS kpi_id")
    assert import_results(tmp_path / "spark", warehouse) == {"tables": 1, "rows": 2}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        rows = conn.execute("SELECT * FROM main_marts.kpi_monthly ORDER BY 1").fetchall()
    assert rows == [("K1", 0), ("K2", 1)]
