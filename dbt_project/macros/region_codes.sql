{% macro region_codes() -%}
{#- Every GB/T 2260 code of any period, for the identity and USCC validity macros. -#}
(select code from {{ ref('gb2260_codes') }})
{%- endmacro %}
