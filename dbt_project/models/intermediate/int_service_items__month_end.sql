-- One row per month and service item in force at the month's end (kpis.md v2, K15–K18):
-- each sxml key's state at T, its last version (GXSJ, then load, then row hash) among those
-- with GXSJ ≤ T, when that version is neither soft-deleted (SFSC = '1') nor quarantined
-- (D7; a quarantined version as late as a valid one wins, as in current_versions). T is
-- the last second of the month, or the end of the run's logical date for the current
-- month. Months: from the month of the earliest case to the month of the logical date.
with

versions as (

    select * from {{ ref('stg_case_platform__service_item_versions') }}
    where updated_at is not null

),

cases as (

    select * from {{ ref('stg_case_platform__cases') }}

),

calendar as (

    select * from {{ ref('int_working_day_index') }}

),

first_month as (

    select cast(date_trunc('month', min(applied_at)) as date) as month_start
    from cases

),

months as (

    select
        calendar.calendar_date as month,
        {%- set next_month = dbt.dateadd('month', 1, 'cast(calendar.calendar_date as timestamp)') %}
        {%- set next_day = dbt.dateadd('day', 1, 'cast(' ~ as_of_date() ~ ' as timestamp)') %}
        least(
            {{ dbt.dateadd('second', -1, next_month) }},
            {{ dbt.dateadd('second', -1, next_day) }}
        ) as measured_at
    from calendar
    inner join first_month on calendar.calendar_date >= first_month.month_start
    where
        extract(day from calendar.calendar_date) = 1
        and calendar.calendar_date <= {{ as_of_date() }}

),

states_at_month_end as (

    select
        {{ first_row_distinct('months.month, versions.item_code') }}
        months.month,
        months.measured_at,
        versions.*
    from months
    inner join versions on months.measured_at >= versions.updated_at
    {{ first_row_qualify(
        'months.month, versions.item_code',
        'versions.updated_at desc, versions.is_quarantined desc, versions.loaded_at desc, versions.row_hash desc'
    ) }}

),

final as (

    select
        month,
        measured_at,
        item_code,
        coalesce(department_code, 'unknown') as department,
        statutory_limit_workdays,
        committed_limit_workdays,
        is_fully_online,
        max_visits,
        updated_at
    from states_at_month_end
    where not is_quarantined and not is_deleted

)

select * from final
