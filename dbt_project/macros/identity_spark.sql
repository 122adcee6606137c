{#-
  The Spark port of the identity macros of identity.sql (normalisation and validity of
  identity numbers and USCCs), dispatched as spark__. The same rules, the same results:
  DuckDB's list_transform([x], lambda v: ...)[1] binding is Spark's
  transform(array(x), v -> ...)[0], the check-character sums are aggregate() over
  sequence(0, 16), regexp_full_match is rlike anchored with ^(?: )$. The session reads
  string literals as written (spark.sql.parser.escapedStringLiterals), so the patterns
  (Java regular expressions accept \x{...} and \p{Z}) are DuckDB's; a doubled quote inside a
  literal stays two characters there, so the apostrophe is a double-quoted literal.
-#}

{% macro spark_clean_code_text(column) -%}
transform(array(regexp_replace(cast({{ column }} as string), {{ identity_whitespace_class() }}, '')), raw_text ->
  transform(array(
    case when raw_text rlike '[\x{FF01}-\x{FF5E}]' then
      translate(
        raw_text,
        '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～',
        {#- the apostrophe in double quotes: Spark reads '' inside a literal as two -#}
        '!"#$%&' || "'" || '()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~'
      )
    else raw_text
    end
  ), ascii_text ->
    nullif(
      case when ascii_text rlike '[a-z]' then
        translate(ascii_text, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
      else ascii_text
      end,
      ''
    )
  )[0]
)[0]
{%- endmacro %}


{% macro spark_ric_check_char(expr17) -%}
transform(array({{ expr17 }}), ric_body ->
  case when ric_body rlike '^[0-9]{17}$' then
    substr(
      '10X98765432',
      cast(aggregate(sequence(0, 16), cast(0 as bigint), (ric_sum, ric_i) ->
        ric_sum + cast((ascii(substr(ric_body, ric_i + 1, 1)) - 48)
        * (shiftleft(1, 17 - ric_i) % 11) as bigint)
      ) % 11 as int) + 1,
      1
    )
  end
)[0]
{%- endmacro %}


{% macro spark__normalise_identity(column) -%}
transform(array({{ spark_clean_code_text(column) }}), id_text ->
  case
    when id_text rlike '^[0-9]{15}$' then
      transform(array(substr(id_text, 1, 6) || '19' || substr(id_text, 7)), id_body ->
        id_body || {{ spark_ric_check_char('id_body') }}
      )[0]
    else id_text
  end
)[0]
{%- endmacro %}


{#- try_to_date raises on year 0000 (Spark has no year 0): such a number is invalid on both
    engines (the date must be 1900 or later), so it is not parsed. -#}
{% macro spark__is_valid_identity(normalised, load_date, region_codes_relation) -%}
coalesce(
  {{ normalised }} rlike '^[0-9]{17}[0-9X]$'
  and substr({{ normalised }}, 18, 1) = {{ spark_ric_check_char('substr(' ~ normalised ~ ', 1, 17)') }}
  and substr({{ normalised }}, 7, 4) >= '1900'
  and try_to_date(
    case when substr({{ normalised }}, 7, 4) >= '1900' then substr({{ normalised }}, 7, 8) end,
    'yyyyMMdd'
  ) between date '1900-01-01' and cast({{ load_date }} as date)
  and substr({{ normalised }}, 1, 6) in (
    select cast(code as string) from {{ region_codes_relation }} as region_codes(code)
  ),
  false
)
{%- endmacro %}


{% macro spark_uscc_check_char(expr17) -%}
transform(array({{ expr17 }}), uscc_body ->
  case when uscc_body rlike '^{{ uscc_char_class() }}{17}$' then
    substr(
      {{ uscc_alphabet() }},
      cast((31 - aggregate(sequence(0, 16), cast(0 as bigint), (uscc_sum, uscc_i) ->
        uscc_sum + cast((instr({{ uscc_alphabet() }}, substr(uscc_body, uscc_i + 1, 1)) - 1)
        * (cast(pow(3, uscc_i) as bigint) % 31) as bigint)
      ) % 31) % 31 as int) + 1,
      1
    )
  end
)[0]
{%- endmacro %}


{% macro spark__normalise_uscc(column) -%}
{{ spark_clean_code_text(column) }}
{%- endmacro %}


{% macro spark__is_valid_uscc(normalised, region_codes_relation) -%}
coalesce(
  {{ normalised }} rlike '^{{ uscc_char_class() }}{18}$'
  and substr({{ normalised }}, 18, 1) = {{ spark_uscc_check_char('substr(' ~ normalised ~ ', 1, 17)') }}
  and substr({{ normalised }}, 3, 6) in (
    select cast(code as string) from {{ region_codes_relation }} as region_codes(code)
  ),
  false
)
{%- endmacro %}
