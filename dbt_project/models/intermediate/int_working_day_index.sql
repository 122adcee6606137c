-- One row per calendar day: the cumulative number of working days up to and including it.
-- The `workdays` seed (official mainland calendar incl. 调休 make-up days) where it has the
-- day; beyond its last day Monday–Friday to the end of 2035 (provisional, flagged).
-- wd(a, b) = index(date(b)) - index(date(a)) (macro `wd`). On PostgreSQL those lookups are
-- subqueries run per row, so the date is indexed there (DuckDB plans them as joins).
{{ config(
    indexes=[{'columns': ['calendar_date'], 'unique': true}] if target.type == 'postgres' else []
) }}

with

workdays as (

    select * from {{ ref('workdays') }}

),

official_days as (

    select
        calendar_date,
        is_workday = 1 as is_workday,
        false as is_provisional
    from workdays

),

provisional_days as (

    select
        cast(generated.day as date) as calendar_date,
        {{ iso_day_of_week('generated.day') }} between 1 and 5 as is_workday,
        true as is_provisional
    from {{ day_series(
            '(select max(calendar_date) + 1 from workdays)', "date '2036-01-01'", 'generated'
        ) }}

),

all_days as (

    select * from official_days
    union all
    select * from provisional_days

),

final as (

    select
        calendar_date,
        is_workday,
        is_provisional,
        sum(case when is_workday then 1 else 0 end) over (
            order by calendar_date rows between unbounded preceding and current row
        ) as working_day_index
    from all_days

)

select * from final
