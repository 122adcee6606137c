{#-
  The identity-number and USCC macros of identity.sql ported to PostgreSQL (the peer of the
  build, docs/warehouse.md): the same normalised numbers and validity flags as the DuckDB
  SQL (tests/integration/test_identity_postgres.py checks them against the DuckDB
  macros and python-stdnum). Plain Jinja, like identity.sql, so tests render them with
  jinja2 alone.

  What differs from the DuckDB SQL, for PostgreSQL's sake only:
  - no lambdas: a value used several times is bound once by a scalar subquery over
    `(select <expression> as name offset 0)` (OFFSET 0 keeps the planner from inlining the
    expression back into every use);
  - the weighted sums of the check characters are unrolled by Jinja (17 terms with the
    weights as constants) instead of list_sum over range(17);
  - PostgreSQL's regular expressions have no \p{Z} and no \x{...}: the whitespace class
    lists the code points (the same ones: Python's str.isspace()), and full matches are
    anchored with ^...$;
  - the full-width and lower-case translate() tables are applied to every value (DuckDB
    applies them only where a character needs them, to save time; same result).
-#}


{#- identity_whitespace_class() of identity.sql, spelled for PostgreSQL. -#}
{% macro pg_identity_whitespace_class() -%}
'[\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]'
{%- endmacro %}


{#- clean_code_text() of identity.sql: no whitespace, full-width ASCII to ASCII, ASCII
    letters upper-case, '' to NULL. -#}
{% macro pg_clean_code_text(column) -%}
nullif(
  translate(
    translate(
      regexp_replace(cast({{ column }} as text), {{ pg_identity_whitespace_class() }}, '', 'g'),
      '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～',
      '!"#$%&''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~'
    ),
    'abcdefghijklmnopqrstuvwxyz',
    'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
  ),
  ''
)
{%- endmacro %}


{#- The GB 11643 check character from 17 digit expressions (the SQL of each digit's
    position, 0-based from the left): '10X98765432'[sum of digit * (2^(17-i) mod 11) mod 11].
    The caller makes sure they are ASCII digits. -#}
{% macro pg_ric_check_char_of(digits) -%}
substr('10X98765432', (
  {%- for digit in digits %}
  ({{ digit }}) * {{ (2 ** (17 - loop.index0)) % 11 }}{{ ' +' if not loop.last }}
  {%- endfor %}
) % 11 + 1, 1)
{%- endmacro %}


{#- The digit value at 1-based `position` of the text `text`. -#}
{% macro pg_digit(text, position) -%}
ascii(substr({{ text }}, {{ position }}, 1)) - 48
{%- endmacro %}


{#- The check character of a 17-digit body held in the column `body`. -#}
{% macro pg_ric_check_char(body) -%}
{%- set digits = [] -%}
{%- for position in range(1, 18) -%}
  {%- set _ = digits.append(pg_digit(body, position)) -%}
{%- endfor -%}
{{ pg_ric_check_char_of(digits) }}
{%- endmacro %}


{#- normalise_identity() of identity.sql: cleaned, and a 15-digit number converted to 18
    digits ('19' after the region code, the check character appended). The check character
    is computed from the 15 digits directly: the body's digits 7 and 8 are the constants 1
    and 9. -#}
{% macro postgres__normalise_identity(column) -%}
(
  select
    case
      when id_text ~ '^[0-9]{15}$' then
        substr(id_text, 1, 6) || '19' || substr(id_text, 7) ||
        {%- set digits = [] -%}
        {%- for position in range(1, 7) -%}
          {%- set _ = digits.append(pg_digit('id_text', position)) -%}
        {%- endfor -%}
        {%- set _ = digits.append('1') -%}
        {%- set _ = digits.append('9') -%}
        {%- for position in range(7, 16) -%}
          {%- set _ = digits.append(pg_digit('id_text', position)) -%}
        {%- endfor %}
        {{ pg_ric_check_char_of(digits) }}
      else id_text
    end
  from (select {{ pg_clean_code_text(column) }} as id_text offset 0) as identity_text
)
{%- endmacro %}


{#- is_valid_identity() of identity.sql. The birth date is checked without raising:
    characters 7-14 are eight digits here, a real day of the calendar, from 1900-01-01 to
    the load day. The argument is bound once (it may be the whole normalise_identity
    expression: PostgreSQL inlines the CTE or view column the caller passes). -#}
{% macro postgres__is_valid_identity(normalised, load_date, region_codes_relation) -%}
(
  select coalesce(
    case
      when n ~ '^[0-9]{17}[0-9X]$' then
        substr(n, 18, 1) = {{ pg_ric_check_char('n') }}
        and case
          when {{ pg_is_real_date(
            'cast(substr(n, 7, 4) as integer)',
            'cast(substr(n, 11, 2) as integer)',
            'cast(substr(n, 13, 2) as integer)'
          ) }}
            then to_date(substr(n, 7, 8), 'YYYYMMDD')
              between date '1900-01-01' and cast({{ load_date }} as date)
          else false
        end
        and substr(n, 1, 6) in (
          select cast(code as varchar) from {{ region_codes_relation }} as region_codes(code)
        )
    end,
    false
  )
  from (select cast({{ normalised }} as text) as n offset 0) as identity_number
)
{%- endmacro %}


{#- normalise_uscc() of identity.sql. -#}
{% macro postgres__normalise_uscc(column) -%}
{{ pg_clean_code_text(column) }}
{%- endmacro %}


{#- The GB 32100 check character of characters 1-17 of the column `text`, which the caller
    makes sure are characters of the alphabet. -#}
{% macro pg_uscc_check_char(text) -%}
substr(
  {{ uscc_alphabet() }},
  (31 - (
    {%- for i in range(17) %}
    (strpos({{ uscc_alphabet() }}, substr({{ text }}, {{ i + 1 }}, 1)) - 1) * {{ (3 ** i) % 31 }}{{ ' +' if not loop.last }}
    {%- endfor %}
  ) % 31) % 31 + 1,
  1
)
{%- endmacro %}


{#- is_valid_uscc() of identity.sql: 18 characters of the alphabet, the GB 32100 check
    character right, characters 3-8 a GB/T 2260 code. The argument is bound once. -#}
{% macro postgres__is_valid_uscc(normalised, region_codes_relation) -%}
(
  select coalesce(
    case
      when u ~ '^{{ uscc_char_class() }}{18}$' then
        substr(u, 18, 1) = {{ pg_uscc_check_char('u') }}
        and substr(u, 3, 6) in (
          select cast(code as varchar) from {{ region_codes_relation }} as region_codes(code)
        )
    end,
    false
  )
  from (select cast({{ normalised }} as text) as u offset 0) as uscc
)
{%- endmacro %}
