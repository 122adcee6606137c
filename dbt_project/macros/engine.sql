{#-
  The DuckDB-only SQL of the models, one macro per construct, dispatched on the adapter
  (adapter.dispatch): default__ is the DuckDB SQL the project is written in and renders
  exactly what the models held before; postgres__ is the port for the PostgreSQL peer of the
  build (bench/postgres_dbt.py, docs/warehouse.md "The build on PostgreSQL"). The identity
  and pseudonym macros (identity.sql, identity_postgres.sql, pseudonyms.sql) dispatch the
  same way. Keep the two variants of a macro equal in results: the peer's test compares the
  marts of both engines (tests/integration/test_postgres_dbt.py).
-#}


{#- GROUP BY every non-aggregate column of the select list; PostgreSQL has no GROUP BY ALL,
    so the caller says how many leading columns those are (group by 1, ..., n). -#}
{% macro group_by_all(leading_columns) -%}
    {{ adapter.dispatch('group_by_all')(leading_columns) }}
{%- endmacro %}

{% macro default__group_by_all(leading_columns) -%}
    group by all
{%- endmacro %}

{% macro postgres__group_by_all(leading_columns) -%}
    group by {% for position in range(1, leading_columns + 1) -%}
        {{ position }}{{ ', ' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{#- UNION ALL BY NAME. PostgreSQL unions by position: the callers' branches list the same
    columns in the same order, so both give the same rows. -#}
{% macro union_all_by_name() -%}
    {{ adapter.dispatch('union_all_by_name')() }}
{%- endmacro %}

{% macro default__union_all_by_name() -%}
    union all by name
{%- endmacro %}

{% macro postgres__union_all_by_name() -%}
    union all
{%- endmacro %}

{% macro spark__union_all_by_name() -%}
    union all
{%- endmacro %}


{#- The first row of every partition: `select {{ first_row_distinct(p) }} ... from ...
    {{ first_row_qualify(p, o) }}` is DuckDB's `qualify row_number() over (partition by p
    order by o) = 1` and PostgreSQL's `select distinct on (p) ... order by p, o` (the same
    rows; ties in `o` are broken arbitrarily by both). -#}
{% macro first_row_distinct(partition_by) -%}
    {{ adapter.dispatch('first_row_distinct')(partition_by) }}
{%- endmacro %}

{% macro default__first_row_distinct(partition_by) -%}
{%- endmacro %}

{% macro postgres__first_row_distinct(partition_by) -%}
    distinct on ({{ partition_by }})
{%- endmacro %}

{% macro first_row_qualify(partition_by, order_by) -%}
    {{ adapter.dispatch('first_row_qualify')(partition_by, order_by) }}
{%- endmacro %}

{% macro default__first_row_qualify(partition_by, order_by) -%}
    qualify row_number() over (partition by {{ partition_by }} order by {{ order_by }}) = 1
{%- endmacro %}

{% macro postgres__first_row_qualify(partition_by, order_by) -%}
    order by {{ partition_by }}, {{ order_by }}
{%- endmacro %}


{#- A text as a timestamp, NULL when it is not one (DuckDB try_cast). PostgreSQL 15 has no
    non-raising cast (pg_input_is_valid arrived in 16), so the port accepts the forms the
    ingestion writes: YYYY-MM-DD, optionally followed by a space or T and HH:MM, HH:MM:SS or
    HH:MM:SS.ffffff (1-6 digits); fields out of range (month 13, 30 February, hour 24, second
    60) give NULL. DuckDB's try_cast also reads a few other spellings (1-digit month or day,
    a trailing time zone, year 0000, 'infinity', 24:00:00): NULL on PostgreSQL. -#}
{% macro try_cast_timestamp(text) -%}
    {{ adapter.dispatch('try_cast_timestamp')(text) }}
{%- endmacro %}

{% macro default__try_cast_timestamp(text) -%}
    try_cast({{ text }} as timestamp)
{%- endmacro %}

{% macro postgres__try_cast_timestamp(text) -%}
    (
        select
            case
                when
                    cast(parts[1] as integer) >= 1
                    and {{ pg_is_real_date('cast(parts[1] as integer)', 'cast(parts[2] as integer)', 'cast(parts[3] as integer)') }}
                    and coalesce(cast(parts[4] as integer), 0) < 24
                    and coalesce(cast(parts[5] as integer), 0) < 60
                    and coalesce(cast(parts[6] as integer), 0) < 60
                    then cast(cast(timestamp_text as text) as timestamp)
            end
        from (
            select
                {{ text }} as timestamp_text,
                regexp_match(
                    {{ text }},
                    '^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,6})?)?)?$'
                ) as parts
            offset 0
        ) as timestamp_parts
    )
{%- endmacro %}


{#- Whether year, month and day (integer expressions, evaluated more than once) make a day
    of the proleptic Gregorian calendar; never raises. Year 0 is DuckDB's 1 BC (a leap
    year). PostgreSQL helper of the date macros. -#}
{% macro pg_is_real_date(year, month, day) -%}
    coalesce(
        {{ month }} between 1 and 12
        and {{ day }} between 1 and (
            case
                when {{ month }} in (4, 6, 9, 11) then 30
                when {{ month }} <> 2 then 31
                when {{ year }} % 4 = 0 and ({{ year }} % 100 <> 0 or {{ year }} % 400 = 0) then 29
                else 28
            end
        ),
        false
    )
{%- endmacro %}


{#- A YYYYMMDD text as a date, NULL when it is not a real day (DuckDB try_strptime, then a
    cast to date). The port reads exactly eight ASCII digits (surrounding spaces ignored,
    as DuckDB does); DuckDB's strptime also reads some shorter texts ('1990013' is
    1990-01-03), which give NULL on PostgreSQL (the contract's CSRQ/SWRQ are YYYYMMDD). -#}
{% macro try_date_from_yyyymmdd(text) -%}
    {{ adapter.dispatch('try_date_from_yyyymmdd')(text) }}
{%- endmacro %}

{% macro default__try_date_from_yyyymmdd(text) -%}
    cast(try_strptime({{ text }}, '%Y%m%d') as date)
{%- endmacro %}

{% macro postgres__try_date_from_yyyymmdd(text) -%}
    (
        select
            case
                when
                    date_text ~ '^[0-9]{8}$'
                    and {{ pg_is_real_date(
                        'cast(substr(date_text, 1, 4) as integer)',
                        'cast(substr(date_text, 5, 2) as integer)',
                        'cast(substr(date_text, 7, 2) as integer)'
                    ) }}
                    then make_date(
                        {#- year 0 is 1 BC, which make_date spells -1 #}
                        case
                            when substr(date_text, 1, 4) = '0000' then -1
                            else cast(substr(date_text, 1, 4) as integer)
                        end,
                        cast(substr(date_text, 5, 2) as integer),
                        cast(substr(date_text, 7, 2) as integer)
                    )
            end
        from (select btrim(cast({{ text }} as text), ' ') as date_text offset 0) as yyyymmdd
    )
{%- endmacro %}


{#- Spark: exactly eight ASCII digits (surrounding spaces ignored) read strictly; year 0000
    (DuckDB's 1 BC) is NULL, as Spark has no year 0. -#}
{% macro spark__try_date_from_yyyymmdd(text) -%}
    (case
        when trim(cast({{ text }} as string)) rlike '^[0-9]{8}$'
            and substr(trim(cast({{ text }} as string)), 1, 4) <> '0000'
            then try_to_date(trim(cast({{ text }} as string)), 'yyyyMMdd')
    end)
{%- endmacro %}


{#- A YYYYMMDD text known to be a real day (e.g. characters 7-14 of a valid identity
    number) as a date; raises otherwise. -#}
{% macro date_from_yyyymmdd(text) -%}
    {{ adapter.dispatch('date_from_yyyymmdd')(text) }}
{%- endmacro %}

{% macro default__date_from_yyyymmdd(text) -%}
    strptime({{ text }}, '%Y%m%d')::date
{%- endmacro %}

{% macro postgres__date_from_yyyymmdd(text) -%}
    to_date({{ text }}, 'YYYYMMDD')
{%- endmacro %}

{% macro spark__date_from_yyyymmdd(text) -%}
    to_date({{ text }}, 'yyyyMMdd')
{%- endmacro %}


{#- ISO day of the week, Monday 1 to Sunday 7. -#}
{% macro iso_day_of_week(day) -%}
    {{ adapter.dispatch('iso_day_of_week')(day) }}
{%- endmacro %}

{% macro default__iso_day_of_week(day) -%}
    isodow({{ day }})
{%- endmacro %}

{% macro postgres__iso_day_of_week(day) -%}
    cast(extract(isodow from {{ day }}) as integer)
{%- endmacro %}

{% macro spark__iso_day_of_week(day) -%}
    cast(extract(dayofweek_iso from {{ day }}) as bigint)
{%- endmacro %}


{#- A FROM item: one row per day from `start` (included) to `stop` (excluded), in the
    timestamp column `day` of the relation `alias`. -#}
{% macro day_series(start, stop, alias) -%}
    {{ adapter.dispatch('day_series')(start, stop, alias) }}
{%- endmacro %}

{% macro default__day_series(start, stop, alias) -%}
    range(
            {{ start }},
            {{ stop }},
            interval 1 day
        ) as {{ alias }} (day)
{%- endmacro %}

{% macro postgres__day_series(start, stop, alias) -%}
    generate_series(
            cast({{ start }} as timestamp),
            cast({{ stop }} as timestamp) - interval '1 day',
            interval '1 day'
        ) as {{ alias }} (day)
{%- endmacro %}

{#- Spark: a generator in FROM (the start may be a scalar subquery). -#}
{% macro spark__day_series(start, stop, alias) -%}
    explode(sequence(
            cast({{ start }} as timestamp),
            cast({{ stop }} as timestamp) - interval 1 day,
            interval 1 day
        )) as {{ alias }} (day)
{%- endmacro %}


{#- The value of the row that comes first in `order_by` (ascending, nulls last) among the
    rows where `condition` holds: DuckDB's arg_min over a struct of the order columns. -#}
{% macro first_value_by(value, order_by, condition) -%}
    {{ adapter.dispatch('first_value_by')(value, order_by, condition) }}
{%- endmacro %}

{% macro default__first_value_by(value, order_by, condition) -%}
    arg_min(
            {{ value }}, ({{ order_by }})
        ) filter (where {{ condition }})
{%- endmacro %}

{% macro postgres__first_value_by(value, order_by, condition) -%}
    (array_agg(
            {{ value }} order by {{ order_by }}
        ) filter (where {{ condition }}))[1]
{%- endmacro %}

{#- Spark: min_by over a struct of the order columns (the callers' order columns are never
    null). -#}
{% macro spark__first_value_by(value, order_by, condition) -%}
    min_by(
            {{ value }}, struct({{ order_by }})
        ) filter (where {{ condition }})
{%- endmacro %}


{#- The median, interpolated between the two middle values (a double). -#}
{% macro median(expression) -%}
    {{ adapter.dispatch('median')(expression) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    median({{ expression }})
{%- endmacro %}

{% macro postgres__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}


{#- The 8-byte floating-point type (DuckDB's FLOAT is 4 bytes, so not dbt.type_float()). -#}
{% macro type_double() -%}
    {{ adapter.dispatch('type_double')() }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}

{% macro postgres__type_double() -%}
    double precision
{%- endmacro %}


{#- A double rounded to `digits` decimals, so that sums of doubles added in another order by
    other threads compare equal (PostgreSQL rounds only numeric). -#}
{% macro round_double(expression, digits) -%}
    {{ adapter.dispatch('round_double')(expression, digits) }}
{%- endmacro %}

{% macro default__round_double(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

{% macro postgres__round_double(expression, digits) -%}
    cast(round(cast({{ expression }} as numeric), {{ digits }}) as double precision)
{%- endmacro %}


{#- A narrow, never-null hash of a key for counting rows per key (collisions are harmless
    where it is used: see last_versions). PostgreSQL counts the key's text itself. -#}
{% macro key_hash(column) -%}
    {{ adapter.dispatch('key_hash')(column) }}
{%- endmacro %}

{% macro default__key_hash(column) -%}
    hash({{ column }})
{%- endmacro %}

{% macro postgres__key_hash(column) -%}
    coalesce(cast({{ column }} as text), '')
{%- endmacro %}

{% macro spark__key_hash(column) -%}
    xxhash64({{ column }})
{%- endmacro %}


{#- After a large model, outside its transaction: a checkpoint, so that the blocks of the
    table the model replaced can hold the next model's. DuckDB reuses a dropped table's blocks
    only after a checkpoint, and its automatic one never ran while the other thread's model was
    open: tier L's incremental build grew the warehouse from 35 to 48 GB. FORCE waits for the
    open transactions to end (DuckDB 2 no longer aborts them), which costs the other thread's
    parallelism: at 100,000 people a checkpoint after every model made the build 27 % slower,
    so only a model of at least var('release_blocks_min_rows') rows (default 1,000,000) pays
    it. PostgreSQL frees its own space. -#}
{% macro release_replaced_blocks() -%}
    {{ adapter.dispatch('release_replaced_blocks')() }}
{%- endmacro %}

{% macro default__release_replaced_blocks() -%}
    {%- set rows = 0 -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select coalesce(sum(estimated_size), 0) from duckdb_tables()"
            ~ " where database_name = current_database()"
            ~ " and schema_name = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'"
        ) -%}
        {%- set rows = found.columns[0].values()[0] -%}
    {%- endif -%}
    {%- if rows >= var('release_blocks_min_rows', 1000000) -%}
        force checkpoint
    {%- else -%}
        select 1 as nothing_to_release
    {%- endif -%}
{%- endmacro %}

{% macro postgres__release_replaced_blocks() -%}
    select 1 as nothing_to_release
{%- endmacro %}

{% macro spark__release_replaced_blocks() -%}
    select 1 as nothing_to_release
{%- endmacro %}


{#- The continuous quantile q (0–1) of an expression, interpolated (DuckDB quantile_cont;
    PostgreSQL percentile_cont ... within group), a double. -#}
{% macro quantile_cont(expression, q) -%}
    {{ adapter.dispatch('quantile_cont')(expression, q) }}
{%- endmacro %}

{% macro default__quantile_cont(expression, q) -%}
    quantile_cont({{ expression }}, {{ q }})
{%- endmacro %}

{% macro postgres__quantile_cont(expression, q) -%}
    percentile_cont({{ q }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro spark__quantile_cont(expression, q) -%}
    percentile_cont({{ q }}) within group (order by {{ expression }})
{%- endmacro %}


{#- Seconds from timestamp `start_ts` to `end_ts` (negative when end is earlier), exact. -#}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ adapter.dispatch('seconds_between')(start_ts, end_ts) }}
{%- endmacro %}

{% macro default__seconds_between(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }}))
{%- endmacro %}

{% macro postgres__seconds_between(start_ts, end_ts) -%}
    extract(epoch from ({{ end_ts }} - {{ start_ts }}))
{%- endmacro %}

{% macro spark__seconds_between(start_ts, end_ts) -%}
    (cast(timestampdiff(microsecond, {{ start_ts }}, {{ end_ts }}) as double) / 1000000)
{%- endmacro %}


{#- A CTE the query reads more than once, not copied: DuckDB and PostgreSQL copy (materialise)
    such a CTE unless told `not materialized`; Spark inlines every CTE and has no such word.
    `name as {{ not_materialized() }}(...)`. -#}
{% macro not_materialized() -%}
    {{ adapter.dispatch('not_materialized')() }}
{%- endmacro %}

{% macro default__not_materialized() -%}
    not materialized
{%- endmacro %}

{% macro spark__not_materialized() -%}
{%- endmacro %}


{#- The start of the `part` ('month', 'week') that holds a timestamp, as a timestamp.
    Spark's date_trunc answers in its time-zone-aware timestamp type: cast back to the
    wall-clock type the models use. -#}
{% macro truncate_to(part, ts) -%}
    {{ adapter.dispatch('truncate_to')(part, ts) }}
{%- endmacro %}

{% macro default__truncate_to(part, ts) -%}
    date_trunc('{{ part }}', {{ ts }})
{%- endmacro %}

{% macro spark__truncate_to(part, ts) -%}
    cast(date_trunc('{{ part }}', {{ ts }}) as timestamp_ntz)
{%- endmacro %}


{#- dbt's cross-database macros on Spark, overridden here (the root project comes first in
    dbt's dispatch): dbt-spark's dateadd goes through Unix seconds and time-zone-aware
    timestamps, and its listagg ignores the order. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, {{ interval }}, cast({{ from_date_or_timestamp }} as timestamp_ntz))
{%- endmacro %}

{#- The callers order by the aggregated value itself (optionally distinct): a sorted list.
    NULL, as string_agg gives, when no value is there. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- set distinct = measure.strip().lower().startswith('distinct ') -%}
    {%- set value = measure.strip()[9:] if distinct else measure -%}
    {%- set collected = ('collect_set(' if distinct else 'collect_list(') ~ value ~ ')' -%}
    case when size({{ collected }}) > 0
        then array_join(array_sort({{ collected }}), {{ delimiter_text }})
    end
{%- endmacro %}
