{#- Pseudonymous keys and masked forms: what leaves the restricted layer instead of a name,
    an identity number or a phone. The key is a keyed SHA-256 of the normalised number; the
    key itself is never rendered into SQL. On DuckDB it is the variable identity_key set by
    transform/identity_plugin.py; on PostgreSQL (the peer of the build) the custom setting
    govdata.identity_key, which the connection sets at start-up from the environment
    (PGOPTIONS='-c govdata.identity_key=...', transform/dbt.py): the same hex digest. -#}

{% macro keyed_hash(kind, normalised_number) -%}
    {{ adapter.dispatch('keyed_hash')(kind, normalised_number) }}
{%- endmacro %}

{% macro default__keyed_hash(kind, normalised_number) -%}
    left(sha256(getvariable('identity_key') || '|{{ kind }}|' || {{ normalised_number }}), 32)
{%- endmacro %}

{#- current_setting() raises when the setting is missing: no build with an empty key. -#}
{% macro postgres__keyed_hash(kind, normalised_number) -%}
    left(encode(sha256(convert_to(
        current_setting('govdata.identity_key') || '|{{ kind }}|' || {{ normalised_number }}, 'UTF8'
    )), 'hex'), 32)
{%- endmacro %}

{#- person_key of a normalised identity number that is valid; null otherwise (invalid numbers
    are kept but not linked, defects.md D4). -#}
{% macro person_key(normalised_number, is_valid='true') -%}
    case when {{ is_valid }} then {{ keyed_hash('person', normalised_number) }} end
{%- endmacro %}

{% macro enterprise_key(normalised_uscc, is_valid='true') -%}
    case when {{ is_valid }} then {{ keyed_hash('enterprise', normalised_uscc) }} end
{%- endmacro %}

{#- 张三 -> 张*, 张小三 -> 张*三, 欧阳小明 -> 欧**明 (length in characters, so rare characters
    outside the BMP count as one). -#}
{% macro mask_name(name) -%}
    case
        when {{ name }} is null then null
        when length({{ name }}) <= 1 then '*'
        when length({{ name }}) = 2 then left({{ name }}, 1) || '*'
        else left({{ name }}, 1) || repeat('*', length({{ name }}) - 2) || right({{ name }}, 1)
    end
{%- endmacro %}

{#- 360702199001011234 -> 360702********1234; a number of another length keeps only its last
    four characters. -#}
{% macro mask_identity_number(number) -%}
    case
        when {{ number }} is null then null
        when length({{ number }}) = 18 then left({{ number }}, 6) || '********' || right({{ number }}, 4)
        else repeat('*', greatest(length({{ number }}) - 4, 0)) || right({{ number }}, 4)
    end
{%- endmacro %}

{#- 13812345678 -> 138****5678 -#}
{% macro mask_phone(phone) -%}
    case
        when {{ phone }} is null then null
        when length({{ phone }}) >= 7 then left({{ phone }}, 3) || repeat('*', length({{ phone }}) - 7) || right({{ phone }}, 4)
        else '****'
    end
{%- endmacro %}
