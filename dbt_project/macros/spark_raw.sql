{#- The sources on Spark: transform/spark.py exports the raw layer as Parquet folders and
    hands the DDL that declares them (external Parquet tables, partitioned by load) in the
    environment variable SPARK_RAW_TABLES, a JSON list of statements; the build runs them
    first, in its own session. Elsewhere the sources are the warehouse's own tables. -#}
{% macro register_raw_tables() -%}
    {{ return(adapter.dispatch('register_raw_tables')()) }}
{%- endmacro %}

{% macro default__register_raw_tables() -%}
    {{ return('select 1 as no_raw_tables_to_register') }}
{%- endmacro %}

{% macro spark__register_raw_tables() -%}
    {%- if execute -%}
        {%- for statement in fromjson(env_var('SPARK_RAW_TABLES', '[]')) -%}
            {%- do run_query(statement) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('select 1 as raw_tables_registered') }}
{%- endmacro %}
