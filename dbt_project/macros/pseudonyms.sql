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

{#- Spark: the session setting govdata.identity_key (profiles.yml, from IDENTITY_KEY), put in
    by Spark's variable substitution when the statement is parsed: the compiled SQL holds only
    the placeholder. -#}
{% macro spark__keyed_hash(kind, normalised_number) -%}
    left(sha2('${govdata.identity_key}' || '|{{ kind }}|' || {{ normalised_number }}, 256), 32)
{%- endmacro %}

{#- person_key of a normalised identity number that is valid; null otherwise (invalid numbers
    are kept but not linked, defects.md D4). -#}
{% macro person_key(normalised_number, is_valid='true') -%}
    case when {{ is_valid }} then {{ keyed_hash('person', normalised_number) }} end
{%- endmacro %}

{% macro enterprise_key(normalised_uscc, is_valid='true') -%}
    case when {{ is_valid }} then {{ keyed_hash('enterprise', normalised_uscc) }} end
{%- endmacro %}

{#- The masked forms (mask_name, mask_identity_number, mask_phone ...) are in masking.sql,
    generated from groundfloor/masking.py. -#}
