-- 电子监察 (kpis.md): one row per open case (BJZT ∈ {1, 2}, SLSJ not null) that is overdue
-- (wd(SLSJ, D) > CNSX) or due soon (wd(SLSJ, D) = CNSX) as of the run's logical date D:
-- var('as_of_date') when given, else current_date (the profile's time zone). The clock
-- starts at acceptance. A case whose item (and so CNSX) is unknown is left out. No
-- applicant names or ids: this mart carries no personal data. Departments and items carry
-- their Chinese names (departments mart, the item's SXMC) beside their codes.
{%- set as_of_date = var('as_of_date', none) %}

with

cases as (

    select * from {{ ref('int_cases__with_items') }}

),

departments as (

    select * from {{ ref('departments') }}

),

as_of as (

    select
        {% if as_of_date is not none -%}
            cast('{{ as_of_date }}' as date)
        {%- else -%}
            current_date
        {%- endif %} as as_of_date

),

open_cases as (

    select
        cases.case_id,
        cases.department,
        coalesce(departments.department_name, cases.department) as department_name,
        cases.region_code,
        cases.item_code,
        coalesce(cases.item_name, cases.item_code) as item_name,
        cases.accepted_at,
        cases.committed_limit_workdays as committed_days,
        as_of.as_of_date
    from cases
    cross join as_of
    left join departments on cases.department = departments.department_code
    where
        cases.status in ('1', '2')
        and cases.accepted_at is not null
        and cases.committed_limit_workdays is not null

),

measured as (

    select
        *,
        cast({{ wd('accepted_at', 'as_of_date') }} as integer) as working_days_elapsed
    from open_cases

),

final as (

    select
        case_id,
        department,
        department_name,
        region_code,
        item_code,
        item_name,
        accepted_at,
        committed_days,
        working_days_elapsed,
        working_days_elapsed - committed_days as days_overdue,
        case
            when working_days_elapsed > committed_days then 'overdue'
            else 'due_soon'
        end as supervision_status,
        as_of_date
    from measured
    where working_days_elapsed >= committed_days

)

select * from final
