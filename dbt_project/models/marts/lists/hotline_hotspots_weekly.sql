-- 12345 热点 (未诉先办; kpis.md v2): per ISO week (Monday, by ldsj), region and topic (sqfl)
-- the number of work orders, the mean of the previous 8 weeks (weeks without orders count
-- as 0) and the spike flag: count ≥ 10 and count ≥ 2 × that mean. Rows for weeks with at
-- least one order. has_full_baseline says whether the 8 previous weeks all lie on or after
-- the first week of the hotline data (before it the zeros are unobserved, not quiet).
with

work_orders as (

    select * from {{ ref('stg_hotline_12345__work_orders') }}
    where called_at is not null

),

weekly as (

    select
        cast({{ truncate_to('week', 'called_at') }} as date) as week_start,
        coalesce(region_code, 'unknown') as region_code,
        appeal_topic,
        count(*) as order_count
    from work_orders
    {{ group_by_all(3) }}

),

first_week as (

    select min(week_start) as week_start
    from weekly

),

baseline as (

    select
        this_week.week_start,
        this_week.region_code,
        this_week.appeal_topic,
        coalesce(sum(earlier.order_count), 0) as previous_8_weeks_orders
    from weekly as this_week
    left join weekly as earlier
        on
            this_week.region_code = earlier.region_code
            and this_week.appeal_topic = earlier.appeal_topic
            and {{ dbt.dateadd('day', -56, 'this_week.week_start') }} <= earlier.week_start
            and this_week.week_start > earlier.week_start
    group by this_week.week_start, this_week.region_code, this_week.appeal_topic

),

final as (

    select
        weekly.week_start,
        weekly.region_code,
        weekly.appeal_topic,
        weekly.order_count,
        cast(baseline.previous_8_weeks_orders as {{ type_double() }}) / 8
            as previous_8_weeks_mean,
        -- count ≥ 2 × (sum / 8), compared in integers: 4 × count ≥ sum
        weekly.order_count >= 10
        and 4 * weekly.order_count >= baseline.previous_8_weeks_orders as is_spike,
        {{ dbt.dateadd('day', -56, 'weekly.week_start') }} >= first_week.week_start
            as has_full_baseline
    from weekly
    inner join baseline
        on
            weekly.week_start = baseline.week_start
            and weekly.region_code = baseline.region_code
            and weekly.appeal_topic = baseline.appeal_topic
    cross join first_week

)

select * from final
