{#-
    Drop the tables and views left in the marts schema by models that no longer exist. dbt
    never drops a relation whose model was removed, and everything in the marts schema is
    copied into the published snapshot: a retired mart would go on being served, frozen at its
    last build, to every dashboard and officer. Run at the end of every invocation
    (`on-run-end`); the graph lists every model whatever was selected. Leftovers of an
    interrupted build (`__dbt_tmp`, `__dbt_backup`) go the same way.
-#}
{% macro drop_retired_marts() -%}
    {%- if execute and flags.WHICH in ("build", "run") -%}
        {%- set models = graph.nodes.values()
            | selectattr("resource_type", "equalto", "model") | list -%}
        {%- set marts = [] -%}
        {%- for model in models if model.fqn[1] == "marts" -%}
            {%- do marts.append(model.schema) -%}
        {%- endfor -%}
        {%- if marts -%}
            {%- set schema = marts[0] -%}
            {%- set known = models | selectattr("schema", "equalto", schema)
                | map(attribute="alias") | map("lower") | list -%}
            {%- for row in schema_relations(schema) if row[0] | lower not in known -%}
                {%- set kind = "view" if row[1] == "VIEW" else "table" -%}
                {%- do log("dropping retired " ~ kind ~ " " ~ schema ~ "." ~ row[0], info=true) -%}
                {%- set relation = adapter.quote(schema) ~ "." ~ adapter.quote(row[0]) -%}
                {%- do run_query(drop_retired_sql(kind, relation)) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    select 1 as retired_marts_checked
{%- endmacro %}


{#- (name, type) of every table and view in `schema`, type TABLE or VIEW (information_schema;
    Spark has none: its SHOW TABLES and SHOW VIEWS). -#}
{% macro schema_relations(schema) -%}
    {{ return(adapter.dispatch('schema_relations')(schema)) }}
{%- endmacro %}

{% macro default__schema_relations(schema) -%}
    {%- set found = run_query(
        "select table_name, table_type from information_schema.tables"
        ~ " where table_catalog = current_database() and table_schema = '" ~ schema ~ "'"
    ) -%}
    {{ return(found.rows | map('list') | list) }}
{%- endmacro %}

{% macro spark__schema_relations(schema) -%}
    {%- set views = run_query("show views in " ~ schema).columns['viewName'].values() | list -%}
    {%- set relations = [] -%}
    {#- SHOW TABLES also lists the session's temporary views, which belong to no schema -#}
    {%- for row in run_query("show tables in " ~ schema).rows if not row['isTemporary'] -%}
        {%- do relations.append([row['tableName'], "VIEW" if row['tableName'] in views else "TABLE"]) -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}

{#- Spark's DROP TABLE and DROP VIEW take no CASCADE. -#}
{% macro drop_retired_sql(kind, relation) -%}
    {{ return(adapter.dispatch('drop_retired_sql')(kind, relation)) }}
{%- endmacro %}

{% macro default__drop_retired_sql(kind, relation) -%}
    {{ return("drop " ~ kind ~ " if exists " ~ relation ~ " cascade") }}
{%- endmacro %}

{% macro spark__drop_retired_sql(kind, relation) -%}
    {{ return("drop " ~ kind ~ " if exists " ~ relation) }}
{%- endmacro %}
