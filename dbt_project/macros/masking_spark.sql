{#- The Spark variants of the masking macros of masking.sql (generated from
    groundfloor/masking.py), derived from its DuckDB variants one construct at a time:
    list_transform([x], lambda v: ...)[1] is transform(array(x), v -> ...)[0], regexp_matches
    and regexp_full_match are rlike, regexp_replace replaces every match without a flag, and
    a replacement names its groups $1, not \1. The Spark session reads string literals as
    written (spark.sql.parser.escapedStringLiterals), so the patterns are DuckDB's.
    tests/unit/test_spark_settings.py re-derives this file from masking.sql and compares. -#}

{% macro spark__mask_identity_number(column) -%}
transform(array(translate(transform(array(regexp_replace(cast({{ column }} as string), '[\x{9}-\x{D}\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}-\x{2029}\x{202F}\x{205F}\x{3000}]', '')), mask_spaced -> case when (mask_spaced rlike '[\x{FF10}-\x{FF19}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}]') then translate(mask_spaced, '０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ', '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') else mask_spaced end)[0], 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')), mask_code -> case when length(mask_code) in (15, 18) then left(mask_code, 6) || repeat('*', length(mask_code) - 10) || right(mask_code, 4) else repeat('*', length(mask_code)) end)[0]
{%- endmacro %}

{% macro spark__mask_uscc(column) -%}
transform(array(translate(transform(array(regexp_replace(cast({{ column }} as string), '[\x{9}-\x{D}\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}-\x{2029}\x{202F}\x{205F}\x{3000}]', '')), mask_spaced -> case when (mask_spaced rlike '[\x{FF10}-\x{FF19}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}]') then translate(mask_spaced, '０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ', '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') else mask_spaced end)[0], 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')), mask_code -> case when length(mask_code) in (15, 18) then left(mask_code, 6) || repeat('*', length(mask_code) - 10) || right(mask_code, 4) else repeat('*', length(mask_code)) end)[0]
{%- endmacro %}

{% macro spark__mask_phone(column) -%}
transform(array(translate(transform(array(regexp_replace(cast({{ column }} as string), '[\x{9}-\x{D}\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}-\x{2029}\x{202F}\x{205F}\x{3000}]', '')), mask_spaced -> case when (mask_spaced rlike '[\x{FF10}-\x{FF19}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}]') then translate(mask_spaced, '０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ', '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') else mask_spaced end)[0], 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')), mask_code -> case when length(mask_code) >= 11 then left(mask_code, 3) || repeat('*', length(mask_code) - 7) || right(mask_code, 4) else repeat('*', length(mask_code)) end)[0]
{%- endmacro %}

{% macro spark__mask_name(column) -%}
transform(array(regexp_replace(regexp_replace(cast({{ column }} as string), '[\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}]', ''), '^[\x{9}-\x{D}\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}-\x{2029}\x{202F}\x{205F}\x{3000}]+|[\x{9}-\x{D}\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}-\x{2029}\x{202F}\x{205F}\x{3000}]+$', '')), mask_name -> case when length(mask_name) <= 1 then repeat('*', length(mask_name)) when length(mask_name) = 2 then left(mask_name, 1) || '*' else left(mask_name, 1) || repeat('*', length(mask_name) - 2) || right(mask_name, 1) end)[0]
{%- endmacro %}

{% macro spark__mask_text(column) -%}
regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(cast({{ column }} as string), '(^|[^0-9])([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])([^0-9]|$)', '$1$2********$3$4'), '(^|[^0-9])([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])([^0-9]|$)', '$1$2********$3$4'), '(^|[^0-9])([0-9]{6})[0-9]{5}([0-9]{4})([^0-9]|$)', '$1$2*****$3$4'), '(^|[^0-9])([0-9]{6})[0-9]{5}([0-9]{4})([^0-9]|$)', '$1$2*****$3$4'), '(^|[^0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})([^0-9]|$)', '$1$2****$3$4'), '(^|[^0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})([^0-9]|$)', '$1$2****$3$4')
{%- endmacro %}

{% macro spark__mask_key(column) -%}
transform(array(translate(transform(array(regexp_replace(cast({{ column }} as string), '[\x{9}-\x{D}\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}-\x{2029}\x{202F}\x{205F}\x{3000}]', '')), mask_spaced -> case when (mask_spaced rlike '[\x{FF10}-\x{FF19}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}]') then translate(mask_spaced, '０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ', '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') else mask_spaced end)[0], 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')), mask_key -> case when (mask_key rlike '^(?:[0-9]{17}[0-9X]|[0-9]{15})$') then case when length(mask_key) in (15, 18) then left(mask_key, 6) || repeat('*', length(mask_key) - 10) || right(mask_key, 4) else repeat('*', length(mask_key)) end when (mask_key rlike '^(?:1[3-9][0-9]{9})$') then case when length(mask_key) >= 11 then left(mask_key, 3) || repeat('*', length(mask_key) - 7) || right(mask_key, 4) else repeat('*', length(mask_key)) end else cast({{ column }} as string) end)[0]
{%- endmacro %}
