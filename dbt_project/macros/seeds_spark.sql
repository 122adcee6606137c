{#- Seeds on Spark: Spark reads the CSV file itself, and one INSERT ... SELECT casts its
    columns to the seed's types. dbt-spark's own loader sends the rows as one literal VALUES
    list per 10,000 rows: Spark's parser took minutes over gb2260_codes (6,886 rows) on 2
    cores, and the session method puts each value between quotes without escaping it
    (dbt/adapters/spark/session.py, _fix_binding), so "New Year's Day" (workdays) broke the
    statement. Empty cells are NULL, as agate reads them for DuckDB; a quote inside a quoted
    cell is doubled, as in every CSV of the project. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set path = model['root_path'] ~ '/' ~ model['original_file_path'] -%}
  {%- set view = this.identifier ~ '__csv' -%}
  {%- do adapter.add_query(
    "create or replace temporary view " ~ view ~ " using csv options (path '" ~ path
    ~ "', header 'true', escape '\"', encoding 'UTF-8', multiLine 'true', mode 'FAILFAST')"
  ) -%}
  {%- set sql -%}
    insert into {{ this.render() }}
    select
      {% for col_name in agate_table.column_names -%}
        {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
        cast(`{{ col_name }}` as {{ column_override.get(col_name, inferred_type) }})
        {%- if not loop.last %},{% endif %}
      {% endfor -%}
    from {{ view }}
  {%- endset -%}
  {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
  {%- do adapter.add_query("drop view if exists " ~ view) -%}
  {{ return(sql) }}
{% endmacro %}
