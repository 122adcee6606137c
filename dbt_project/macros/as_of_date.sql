{#- The date the themes are "as of": the dbt var as_of_date (Airflow passes the run's logical
    date, `make build` the demo city's last day), else today. -#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value -%} cast('{{ value }}' as date) {%- else -%} current_date {%- endif -%}
{%- endmacro %}

{#- Age in whole years on `on_date`; it increases on the birthday, and for a 29 February
    birthday on 1 March in common years (policies.md). -#}
{% macro age_on(birth_date, on_date) -%}
    {{ adapter.dispatch('age_on')(birth_date, on_date) }}
{%- endmacro %}

{% macro default__age_on(birth_date, on_date) -%}
    (year({{ on_date }}) - year({{ birth_date }})
        - case when strftime({{ on_date }}, '%m%d') < strftime({{ birth_date }}, '%m%d') then 1 else 0 end)
{%- endmacro %}

{% macro postgres__age_on(birth_date, on_date) -%}
    (cast(extract(year from {{ on_date }}) as bigint) - cast(extract(year from {{ birth_date }}) as bigint)
        - case when to_char({{ on_date }}, 'MMDD') < to_char({{ birth_date }}, 'MMDD') then 1 else 0 end)
{%- endmacro %}

{% macro spark__age_on(birth_date, on_date) -%}
    (cast(year({{ on_date }}) as bigint) - cast(year({{ birth_date }}) as bigint)
        - case when date_format({{ on_date }}, 'MMdd') < date_format({{ birth_date }}, 'MMdd') then 1 else 0 end)
{%- endmacro %}
