{#-
    wd(start_ts, end_ts): the number of working days d with date(start) < d <= date(end)
    (kpis.md). Set-based: the difference of the cumulative working-day index
    (int_working_day_index) at the two dates, looked up by equality on the date, which DuckDB
    plans as joins. The index covers the `workdays` seed (official calendar incl. 调休) and,
    beyond its last day, Monday–Friday to 2035 (provisional). Null when either side is null
    or outside the index. Negative when end < start.
-#}
{% macro wd(start_ts, end_ts) -%}
    (
        (
            select wd_end.working_day_index
            from {{ ref('int_working_day_index') }} as wd_end
            where wd_end.calendar_date = cast({{ end_ts }} as date)
        )
        - (
            select wd_start.working_day_index
            from {{ ref('int_working_day_index') }} as wd_start
            where wd_start.calendar_date = cast({{ start_ts }} as date)
        )
    )
{%- endmacro %}
