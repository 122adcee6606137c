-- 环节耗时 (减环节、减时间; kpis.md v2): one row per process step (bj_gcxx) after the first of
-- each finished case (BJZT = '3', BJSJ not null), its steps in order of CLSJ (ties: GCBH),
-- with the wait since the previous step in working days (wd(previous CLSJ, CLSJ)) and in
-- hours. The case's item, department and region, and the month of its BJSJ.
with

cases as (

    select * from {{ ref('int_cases__with_items') }}
    where status = '3' and completed_at is not null

),

steps as (

    select * from {{ ref('stg_case_platform__case_steps') }}

),

ordered as (

    select
        cases.case_id,
        cases.item_code,
        cases.department,
        cases.region_code,
        cast({{ truncate_to('month', 'cases.completed_at') }} as date) as month,
        steps.step_id,
        steps.step_code,
        steps.handled_at,
        row_number() over (
            partition by cases.case_id order by steps.handled_at, steps.step_id
        ) as step_seq,
        lag(steps.step_code) over (
            partition by cases.case_id order by steps.handled_at, steps.step_id
        ) as previous_step_code,
        lag(steps.handled_at) over (
            partition by cases.case_id order by steps.handled_at, steps.step_id
        ) as previous_handled_at
    from cases
    inner join steps on cases.case_id = steps.case_id
    where steps.handled_at is not null

),

final as (

    select
        case_id,
        item_code,
        department,
        region_code,
        month,
        step_id,
        step_seq,
        step_code,
        previous_step_code,
        previous_handled_at,
        handled_at,
        {{ wd('previous_handled_at', 'handled_at') }} as wait_workdays,
        cast({{ seconds_between('previous_handled_at', 'handled_at') }} as {{ type_double() }})
        / 3600 as wait_hours
    from ordered
    where step_seq > 1

)

select * from final
