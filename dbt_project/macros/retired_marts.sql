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
            {%- set found = run_query(
                "select table_name, table_type from information_schema.tables"
                ~ " where table_catalog = current_database() and table_schema = '" ~ schema ~ "'"
            ) -%}
            {%- for row in found.rows if row[0] | lower not in known -%}
                {%- set kind = "view" if row[1] == "VIEW" else "table" -%}
                {%- do log("dropping retired " ~ kind ~ " " ~ schema ~ "." ~ row[0], info=true) -%}
                {%- set relation = adapter.quote(schema) ~ "." ~ adapter.quote(row[0]) -%}
                {%- do run_query("drop " ~ kind ~ " if exists " ~ relation ~ " cascade") -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    select 1 as retired_marts_checked
{%- endmacro %}
