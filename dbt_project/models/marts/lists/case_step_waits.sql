-- 环节耗时 (减环节、减时间; kpis.md v2): one row per process step (bj_gcxx) after the first of
-- each finished case (BJZT = '3', BJSJ not null), its steps in order of CLSJ (ties: GCBH),
-- with the wait since the previous step in working days (working-day index of CLSJ's date
-- minus that of the previous CLSJ's, as the wd() macro; joined here, not looked up per row)
-- and in hours. The case's item, department and region, and the month of its BJSJ.
-- The steps are put in order before they meet the cases, and only the four columns the
-- window needs go through its sort (bench/results/JOURNAL.md: 42 % less time at tier S).
with

cases as (

    select * from {{ ref('int_cases__with_items') }}
    where status = '3' and completed_at is not null

),

steps as (

    select * from {{ ref('stg_case_platform__case_steps') }}
    where handled_at is not null

),

calendar as (

    select * from {{ ref('int_working_day_index') }}

),

ordered as (

    select
        case_id,
        step_id,
        step_code,
        handled_at,
        row_number() over by_case as step_seq,
        lag(step_code) over by_case as previous_step_code,
        lag(handled_at) over by_case as previous_handled_at
    from steps
    window by_case as (partition by case_id order by handled_at, step_id)

),

final as (

    select
        ordered.case_id,
        cases.item_code,
        cases.department,
        cases.region_code,
        cast({{ truncate_to('month', 'cases.completed_at') }} as date) as month,
        ordered.step_id,
        ordered.step_seq,
        ordered.step_code,
        ordered.previous_step_code,
        ordered.previous_handled_at,
        ordered.handled_at,
        wd_end.working_day_index - wd_start.working_day_index as wait_workdays,
        cast(
            {{ seconds_between('ordered.previous_handled_at', 'ordered.handled_at') }}
            as {{ type_double() }}
        )
        / 3600 as wait_hours
    from ordered
    inner join cases on ordered.case_id = cases.case_id
    left join calendar as wd_end on cast(ordered.handled_at as date) = wd_end.calendar_date
    left join calendar as wd_start
        on cast(ordered.previous_handled_at as date) = wd_start.calendar_date
    where ordered.step_seq > 1

)

select * from final
