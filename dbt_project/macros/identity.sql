{#-
  Identity numbers (GB 11643, 居民身份证号码) and USCCs (GB 32100, 统一社会信用代码):
  normalisation and validity as DuckDB SQL expressions (contract/spec/README.md, defects
  D4 and D5).

  Every macro returns one SQL *expression*, so it runs vectorised over a whole column
  inside DuckDB (no Python UDF). The four macros the models call (normalise_identity,
  is_valid_identity, normalise_uscc, is_valid_uscc) dispatch on the adapter: default__ is
  the DuckDB SQL below, postgres__ the port in identity_postgres.sql (the PostgreSQL peer
  of the build). Apart from that dispatch the macros use plain Jinja only (no ref() or
  other dbt context), so tests render them with jinja2 alone; comments are Jinja comments
  so that nothing of them reaches the SQL, where a `--` comment would swallow the rest of
  the line the expression is inlined into.

  A value that is used several times is bound once with
      list_transform([<expression>], lambda x: <body using x>)[1]
  (DuckDB has no LET): the caller's expression is evaluated once, outside the lambda, and
  the rendered SQL stays small however deeply the macros are nested.

  Region codes: the *_relation argument is a relation or a one-column subquery whose
  first column holds the 6-digit codes (e.g. `(select code from {{ ref('gb2260_codes') }})`).
  It is read as `... as region_codes(code)` and compared as text, so a seed whose code
  column was inferred as an integer still works (no code has a leading zero).
-#}


{#- Whitespace as Python's str.isspace() sees it: the ASCII controls \t \n \v \f \r,
    the separators U+001C-U+001F, space, NEL (U+0085) and every Unicode separator
    (\p{Z}: no-break space, the U+2000 family, U+3000 ideographic / full-width space...).
    RE2's \s alone misses \v and everything beyond ASCII. -#}
{% macro identity_whitespace_class() -%}
'[\x{09}-\x{0D}\x{1C}-\x{20}\x{85}\p{Z}]'
{%- endmacro %}


{#- Common clean-up of an identity number or USCC as typed by a clerk:
    1. cast to text (a column may arrive as a number) and remove all whitespace, inside
       and around ("3607 2119 9001 0112 34", full-width spaces from Chinese IMEs);
    2. map full-width ASCII (U+FF01-U+FF5E, e.g. １２３, Ｘ, ｘ) to ASCII: the code
       point minus 0xFEE0, spelled out as a translate() table (the apostrophe is doubled
       for SQL);
    3. upper-case the ASCII letters only (lower-case x, lower-case USCCs). Other letters
       never make a valid number; leaving them as they are keeps the rejected value
       recognisable and the result independent of Unicode case tables;
    4. nothing left means no number: '' becomes NULL (NULL stays NULL).
    translate() rebuilds its character table on every row (about 3 s a million rows for
    the full-width table), so each table is applied only to the few rows that need it:
    DuckDB evaluates a CASE branch only for the rows whose condition holds. -#}
{% macro clean_code_text(column) -%}
list_transform([regexp_replace(cast({{ column }} as varchar), {{ identity_whitespace_class() }}, '', 'g')], lambda raw_text:
  list_transform([
    case when regexp_matches(raw_text, '[\x{FF01}-\x{FF5E}]') then
      translate(
        raw_text,
        '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～',
        '!"#$%&''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~'
      )
    else raw_text
    end
  ], lambda ascii_text:
    nullif(
      case when regexp_matches(ascii_text, '[a-z]') then
        translate(ascii_text, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
      else ascii_text
      end,
      ''
    )
  )[1]
)[1]
{%- endmacro %}


{#- ISO 7064 MOD 11-2 check character of a 17-digit body (GB 11643):
    digit i (0-based from the left) weighs 2^(17-i) mod 11 (7, 9, 10, 5, 8, 4, 2, 1, 6,
    3, ...); the check value is (12 - sum mod 11) mod 11 with 10 written X, which for
    sum mod 11 = 0, 1, ..., 10 reads off the string '10X98765432'.
    NULL unless the body is exactly 17 ASCII digits, so it never raises on dirty data
    (ascii(c) - 48 is the digit's value). -#}
{% macro ric_check_char(expr17) -%}
list_transform([{{ expr17 }}], lambda ric_body:
  case when regexp_full_match(ric_body, '[0-9]{17}') then
    substr(
      '10X98765432',
      cast(list_sum(list_transform(range(17), lambda ric_i:
        (ascii(substr(ric_body, cast(ric_i as integer) + 1, 1)) - 48)
        * ((1 << cast(17 - ric_i as integer)) % 11)
      )) % 11 as integer) + 1,
      1
    )
  end
)[1]
{%- endmacro %}


{#- An identity number in its normalised form (defect D4): cleaned as above and, when it
    is then the old 15-digit form (6-digit region, 6-digit birth date YYMMDD, 3-digit
    sequence, no check character; issued to people born in the 1900s), converted to the
    18-digit form: '19' inserted after the region code and the check character appended.
    Anything else is returned cleaned but otherwise unchanged, so that an unrecoverable
    number is kept as close to the source as possible (is_valid_identity says whether it
    is valid). -#}
{% macro normalise_identity(column) -%}
{{ adapter.dispatch('normalise_identity')(column) }}
{%- endmacro %}

{% macro default__normalise_identity(column) -%}
list_transform([{{ clean_code_text(column) }}], lambda id_text:
  case
    when regexp_full_match(id_text, '[0-9]{15}') then
      list_transform([substr(id_text, 1, 6) || '19' || substr(id_text, 7)], lambda id_body:
        id_body || {{ ric_check_char('id_body') }}
      )[1]
    else id_text
  end
)[1]
{%- endmacro %}


{#- Whether a *normalised* identity number is valid (contract/spec/README.md):
    - 18 characters: 17 ASCII digits and a digit or X;
    - the MOD 11-2 check character is right;
    - characters 7-14 are a real date (try_strptime gives NULL for 19900230 or 19901301)
      from 1900-01-01 to the load day (a number cannot be born after it was loaded);
    - characters 1-6 are a GB/T 2260 code of ANY period: a number keeps the code under
      which it was issued (362101, 360721 ...), so, unlike stdnum.cn.ric.validate, the
      code need not have been in force in the birth year.
    NULL in, false out: a missing number is not a valid one. The argument is repeated,
    so pass a column (or a cheap expression), not normalise_identity(...) inline. -#}
{% macro is_valid_identity(normalised, load_date, region_codes_relation) -%}
{{ adapter.dispatch('is_valid_identity')(normalised, load_date, region_codes_relation) }}
{%- endmacro %}

{% macro default__is_valid_identity(normalised, load_date, region_codes_relation) -%}
coalesce(
  regexp_full_match({{ normalised }}, '[0-9]{17}[0-9X]')
  and substr({{ normalised }}, 18, 1) = {{ ric_check_char('substr(' ~ normalised ~ ', 1, 17)') }}
  and cast(try_strptime(substr({{ normalised }}, 7, 8), '%Y%m%d') as date)
    between date '1900-01-01' and cast({{ load_date }} as date)
  and substr({{ normalised }}, 1, 6) in (
    select cast(code as varchar) from {{ region_codes_relation }} as region_codes(code)
  ),
  false
)
{%- endmacro %}


{#- The USCC alphabet of GB 32100: digits and capitals without I, O, S, V, Z (which read
    like 1, 0, 5, U, 2). A character's value is its 0-based position. -#}
{% macro uscc_alphabet() -%}
'0123456789ABCDEFGHJKLMNPQRTUWXY'
{%- endmacro %}

{#- The same alphabet as a regular-expression class. -#}
{% macro uscc_char_class() -%}
[0-9A-HJ-NP-RTUW-Y]
{%- endmacro %}


{#- GB 32100 check character of a 17-character USCC body: character i (0-based) weighs
    3^i mod 31 (1, 3, 9, 27, 19, 26, 16, ...; 3^16 is exact in a double); the check
    character is alphabet[(31 - sum mod 31) mod 31].
    NULL unless the body is 17 characters of the alphabet. -#}
{% macro uscc_check_char(expr17) -%}
list_transform([{{ expr17 }}], lambda uscc_body:
  case when regexp_full_match(uscc_body, '{{ uscc_char_class() }}{17}') then
    substr(
      {{ uscc_alphabet() }},
      cast((31 - list_sum(list_transform(range(17), lambda uscc_i:
        (instr({{ uscc_alphabet() }}, substr(uscc_body, cast(uscc_i as integer) + 1, 1)) - 1)
        * (cast(pow(3, uscc_i) as bigint) % 31)
      )) % 31) % 31 as integer) + 1,
      1
    )
  end
)[1]
{%- endmacro %}


{#- A USCC in its normalised form (defect D5: lower case, spaces, full-width characters).
    A USCC has no older form to convert. -#}
{% macro normalise_uscc(column) -%}
{{ adapter.dispatch('normalise_uscc')(column) }}
{%- endmacro %}

{% macro default__normalise_uscc(column) -%}
{{ clean_code_text(column) }}
{%- endmacro %}


{#- Whether a *normalised* USCC is valid (contract/spec/README.md): 18 characters of the
    alphabet, the GB 32100 check character right, characters 3-8 a GB/T 2260 code of any
    period. Unlike stdnum.cn.uscc.validate, the first eight characters need not be
    digits (characters 1-2 are registration authority and entity type codes).
    NULL in, false out; the argument is repeated, so pass a column. -#}
{% macro is_valid_uscc(normalised, region_codes_relation) -%}
{{ adapter.dispatch('is_valid_uscc')(normalised, region_codes_relation) }}
{%- endmacro %}

{% macro default__is_valid_uscc(normalised, region_codes_relation) -%}
coalesce(
  regexp_full_match({{ normalised }}, '{{ uscc_char_class() }}{18}')
  and substr({{ normalised }}, 18, 1) = {{ uscc_check_char('substr(' ~ normalised ~ ', 1, 17)') }}
  and substr({{ normalised }}, 3, 6) in (
    select cast(code as varchar) from {{ region_codes_relation }} as region_codes(code)
  ),
  false
)
{%- endmacro %}
