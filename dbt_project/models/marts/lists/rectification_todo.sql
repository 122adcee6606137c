-- 差评整改 to-do (kpis.md v2, lists to act on) as of the run's logical date D: one row per
-- rating with PJDJ ∈ {1, 2}, ZGZT null or '0', not excluded by D6 (ZGWCSJ < PJSJ) and rated
-- on or before D, with elapsed = wd(PJSJ, D), remaining = 15 − elapsed, the deadline (the
-- 15th working day after PJSJ) and the status: overdue (elapsed > 15), due_soon
-- (13 ≤ elapsed ≤ 15) or open. Region and department of the rated case ('unknown' when
-- the case is not among the cases). Keys only: no rating text, no personal data.
with

ratings as (

    select * from {{ ref('int_ratings__with_cases') }}

),

calendar as (

    select * from {{ ref('int_working_day_index') }}

),

as_of as (

    select {{ as_of_date() }} as as_of_date

),

to_rectify as (

    select
        ratings.rating_id,
        ratings.case_id,
        ratings.region_code,
        ratings.department,
        ratings.item_code,
        ratings.rating_level,
        ratings.rectification_status,
        ratings.rated_at,
        as_of.as_of_date,
        {{ wd('ratings.rated_at', 'as_of.as_of_date') }} as working_days_elapsed
    from ratings
    cross join as_of
    where
        ratings.rating_level in ('1', '2')
        and (ratings.rectification_status is null or ratings.rectification_status = '0')
        and not ratings.is_rectified_before_rated
        and ratings.rated_at is not null
        and cast(ratings.rated_at as date) <= as_of.as_of_date

),

deadlines as (

    select
        to_rectify.rating_id,
        min(calendar.calendar_date) as deadline_date
    from to_rectify
    inner join calendar as rated_day
        on cast(to_rectify.rated_at as date) = rated_day.calendar_date
    inner join calendar
        on rated_day.working_day_index + 15 = calendar.working_day_index
    group by to_rectify.rating_id

),

final as (

    select
        to_rectify.rating_id,
        to_rectify.case_id,
        to_rectify.region_code,
        to_rectify.department,
        to_rectify.item_code,
        to_rectify.rating_level,
        to_rectify.rectification_status,
        to_rectify.rated_at,
        deadlines.deadline_date,
        to_rectify.as_of_date,
        to_rectify.working_days_elapsed,
        15 - to_rectify.working_days_elapsed as working_days_remaining,
        case
            when to_rectify.working_days_elapsed > 15 then 'overdue'
            when to_rectify.working_days_elapsed >= 13 then 'due_soon'
            else 'open'
        end as todo_status
    from to_rectify
    left join deadlines on to_rectify.rating_id = deadlines.rating_id

)

select * from final
