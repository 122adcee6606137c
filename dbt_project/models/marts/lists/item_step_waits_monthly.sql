-- 环节耗时 summary (kpis.md v2): per month of BJSJ, item and step code, the number of
-- finished cases with the step, the median and 90th percentile (continuous) of its wait in
-- working days, and the step's share of the summed elapsed hours of the item's cases that
-- month. The step with the largest share is the item's bottleneck (ties: the step code
-- first in alphabetical order). Hours are summed as whole seconds: a sum of doubles depends
-- on the order the threads add them, so a re-run gave other last digits (and could break a
-- tie for the bottleneck differently).
with

step_waits as (

    select * from {{ ref('case_step_waits') }}

),

by_step as (

    select
        month,
        item_code,
        department,
        step_code,
        count(distinct case_id) as case_count,
        {{ median('wait_workdays') }} as median_wait_workdays,
        {{ quantile_cont('wait_workdays', 0.9) }} as p90_wait_workdays,
        sum(cast(round(wait_hours * 3600) as bigint)) as wait_seconds
    from step_waits
    {{ group_by_all(4) }}

),

with_share as (

    select
        *,
        case
            when sum(wait_seconds) over (partition by month, item_code) > 0
                then cast(wait_seconds as {{ type_double() }}) / cast(
                        sum(wait_seconds) over (partition by month, item_code)
                        as {{ type_double() }}
                    )
        end as share_of_hours,
        row_number() over (
            partition by month, item_code order by wait_seconds desc, step_code asc
        ) as share_rank
    from by_step

),

final as (

    select
        month,
        item_code,
        department,
        step_code,
        case_count,
        median_wait_workdays,
        p90_wait_workdays,
        cast(wait_seconds as {{ type_double() }}) / 3600 as wait_hours,
        share_of_hours,
        share_rank = 1 and share_of_hours is not null as is_bottleneck
    from with_share

)

select * from final
