-- One row per KPI, month and grain (region × department × item × channel where they apply):
-- numerator and denominator of K1–K22 exactly as kpis.md (v2) defines them, the rate
-- (numerator / denominator, NULL when the denominator is 0), and the target and `better`
-- direction from the kpi_targets seed (target NULL for the monitored K19, K20). A group of
-- a KPI's source records at a grain whose denominator is 0 is kept (rate NULL). City
-- roll-up rows have region_code 'ALL': sums of numerators and denominators over every
-- region including 'unknown'; department, item and channel kept. The item KPIs K15–K18
-- have no region: only 'ALL' rows, per department (BLBM), item_code 'ALL'.
with

cases as (

    select * from {{ ref('int_cases__with_items') }}

),

ratings as (

    select * from {{ ref('int_ratings__with_cases') }}

),

one_thing_instances as (

    select * from {{ ref('int_one_thing_instances') }}

),

help_sessions as (

    select * from {{ ref('stg_case_platform__help_sessions') }}

),

work_orders as (

    select * from {{ ref('stg_hotline_12345__work_orders') }}

),

items_at_month_end as (

    select * from {{ ref('int_service_items__month_end') }}

),

work_orders_with_repeats as (

    select * from {{ ref('int_work_orders__repeat_calls') }}

),

kpi_targets as (

    select * from {{ ref('kpi_targets') }}

),

-- Case KPIs, attributed to the month of SQSJ (K1, K2, K3, K5) or BJSJ (K4).

k1_online_rate as (

    select
        'K1' as kpi_id,
        {{ truncate_to('month', 'applied_at') }} as month,
        region_code,
        department,
        item_code,
        channel,
        count(*) filter (where is_online) as numerator,
        count(*) as denominator
    from cases
    {{ group_by_all(6) }}

),

k2_first_time_success_rate as (

    select
        'K2' as kpi_id,
        {{ truncate_to('month', 'applied_at') }} as month,
        region_code,
        department,
        item_code,
        channel,
        count(*) filter (where accepted_at is not null and status <> '4' and correction_count = 0)
            as numerator,
        count(*) filter (where accepted_at is not null or status = '4') as denominator
    from cases
    {{ group_by_all(6) }}

),

k3_prefill_rate as (

    select
        'K3' as kpi_id,
        {{ truncate_to('month', 'applied_at') }} as month,
        region_code,
        department,
        item_code,
        channel,
        count(*) filter (where is_online and is_high_frequency and is_prefilled) as numerator,
        count(*) filter (where is_online and is_high_frequency) as denominator
    from cases
    where is_item_known
    {{ group_by_all(6) }}

),

k4_eligible as (

    select
        *,
        status = '3'
        and accepted_at is not null
        and completed_at is not null
        and applied_at <= accepted_at
        and accepted_at <= completed_at as is_in_k4,
        case
            when committed_limit_workdays = 0
                then cast(completed_at as date) = cast(accepted_at as date)
            else working_days_to_complete <= committed_limit_workdays
        end as is_on_time
    from cases
    where is_item_known and completed_at is not null

),

k4_on_time_rate as (

    select
        'K4' as kpi_id,
        {{ truncate_to('month', 'completed_at') }} as month,
        region_code,
        department,
        item_code,
        channel,
        count(*) filter (where is_in_k4 and coalesce(is_on_time, false)) as numerator,
        count(*) filter (where is_in_k4) as denominator
    from k4_eligible
    {{ group_by_all(6) }}

),

k5_certificate_reuse_rate as (

    select
        'K5' as kpi_id,
        {{ truncate_to('month', 'applied_at') }} as month,
        region_code,
        department,
        item_code,
        channel,
        count(*) filter (where needs_certificate and has_certificate_reuse) as numerator,
        count(*) filter (where needs_certificate) as denominator
    from cases
    where is_item_known
    {{ group_by_all(6) }}

),

-- Help sessions (K6, K7): month of QQSJ, region XZQHDM, department help_desk.

help_desk_sessions as (

    select
        *,
        coalesce(region_code, 'unknown') as region,
        {{ truncate_to('month', 'requested_at') }} as month
    from help_sessions
    where help_channel = '1' and requested_at is not null

),

k6_help_resolution_rate as (

    select
        'K6' as kpi_id,
        month,
        region as region_code,
        'help_desk' as department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where is_resolved is not null and is_resolved) as numerator,
        count(*) filter (where is_resolved is not null) as denominator
    from help_desk_sessions
    {{ group_by_all(6) }}

),

k7_help_first_response_rate as (

    select
        'K7' as kpi_id,
        month,
        region as region_code,
        'help_desk' as department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (
            where
            not is_responded_before_requested
            and first_responded_at is not null
            and first_responded_at <= {{ dbt.dateadd('second', 60, 'requested_at') }}
        ) as numerator,
        count(*) filter (where not is_responded_before_requested) as denominator
    from help_desk_sessions
    {{ group_by_all(6) }}

),

-- Ratings (K8, K9): month of PJSJ, region and department of the rated case.

k8_good_rating_rate as (

    select
        'K8' as kpi_id,
        {{ truncate_to('month', 'rated_at') }} as month,
        region_code,
        department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where rating_level in ('3', '4', '5')) as numerator,
        count(*) as denominator
    from ratings
    where rated_at is not null
    {{ group_by_all(6) }}

),

k9_eligible as (

    select
        *,
        rating_level in ('1', '2')
        and (rectification_status is null or rectification_status <> '2')
        and not is_rectified_before_rated as is_in_k9
    from ratings
    where rated_at is not null

),

k9_rectification_rate as (

    select
        'K9' as kpi_id,
        {{ truncate_to('month', 'rated_at') }} as month,
        region_code,
        department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (
            where
            is_in_k9
            and rectification_status = '1'
            and rectified_at is not null
            and working_days_to_rectify <= 15
        ) as numerator,
        count(*) filter (where is_in_k9) as denominator
    from k9_eligible
    {{ group_by_all(6) }}

),

-- 12345 work orders (K10–K12): month of ldsj, region xzqhdm, department cbdw or hotline.

hotline_orders as (

    select
        *,
        coalesce(region_code, 'unknown') as region,
        coalesce(handling_unit_code, 'hotline') as department,
        {{ truncate_to('month', 'called_at') }} as month
    from work_orders
    where called_at is not null

),

k10_hotline_on_time_rate as (

    select
        'K10' as kpi_id,
        month,
        region as region_code,
        department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (
            where
            completed_at is not null
            and (
                coalesce(is_answered_directly, false)
                or (due_at is not null and completed_at <= due_at)
            )
        ) as numerator,
        count(*) filter (where completed_at is not null) as denominator
    from hotline_orders
    {{ group_by_all(6) }}

),

k11_hotline_resolution_rate as (

    select
        'K11' as kpi_id,
        month,
        region as region_code,
        department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where is_resolved is not null and is_resolved) as numerator,
        count(*) filter (where is_resolved is not null) as denominator
    from hotline_orders
    {{ group_by_all(6) }}

),

k12_hotline_satisfaction_rate as (

    select
        'K12' as kpi_id,
        month,
        region as region_code,
        department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where satisfaction in ('1', '2')) as numerator,
        count(*) filter (where satisfaction is not null) as denominator
    from hotline_orders
    {{ group_by_all(6) }}

),

-- "一件事" instances (K13): month of the earliest SQSJ, region/department of the earliest case.

k13_one_thing_online_rate as (

    select
        'K13' as kpi_id,
        {{ truncate_to('month', 'first_applied_at') }} as month,
        region_code,
        department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where is_all_online) as numerator,
        count(*) as denominator
    from one_thing_instances
    {{ group_by_all(6) }}

),

-- v2 case KPIs: K14 (month of BJSJ), K19 and K20 (month of SQSJ), case dimensions as K1.

k14_rating_coverage_rate as (

    select
        'K14' as kpi_id,
        {{ truncate_to('month', 'completed_at') }} as month,
        region_code,
        department,
        item_code,
        channel,
        count(*) filter (where has_rating) as numerator,
        count(*) as denominator
    from cases
    where status = '3' and completed_at is not null
    {{ group_by_all(6) }}

),

k19_cross_region_case_rate as (

    select
        'K19' as kpi_id,
        {{ truncate_to('month', 'applied_at') }} as month,
        region_code,
        department,
        item_code,
        channel,
        count(*) filter (where cross_region_type in ('1', '2')) as numerator,
        count(*) as denominator
    from cases
    {{ group_by_all(6) }}

),

k20_commitment_acceptance_rate as (

    select
        'K20' as kpi_id,
        {{ truncate_to('month', 'applied_at') }} as month,
        region_code,
        department,
        item_code,
        channel,
        count(*) filter (where accepted_at is not null and acceptance_mode in ('2', '3'))
            as numerator,
        count(*) filter (where accepted_at is not null) as denominator
    from cases
    {{ group_by_all(6) }}

),

-- v2 offline help (K21): as K6 for BBQD = '2'.

offline_help_sessions as (

    select
        *,
        coalesce(region_code, 'unknown') as region,
        {{ truncate_to('month', 'requested_at') }} as month
    from help_sessions
    where help_channel = '2' and requested_at is not null

),

k21_offline_help_resolution_rate as (

    select
        'K21' as kpi_id,
        month,
        region as region_code,
        'help_desk' as department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where is_resolved is not null and is_resolved) as numerator,
        count(*) filter (where is_resolved is not null) as denominator
    from offline_help_sessions
    {{ group_by_all(6) }}

),

-- v2 12345 repeat appeals (K22): month of ldsj, dimensions as K10–K12.

k22_hotline_repeat_rate as (

    select
        'K22' as kpi_id,
        {{ truncate_to('month', 'called_at') }} as month,
        coalesce(region_code, 'unknown') as region_code,
        coalesce(handling_unit_code, 'hotline') as department,
        cast(null as {{ dbt.type_string() }}) as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where caller_phone is not null and is_repeat_call) as numerator,
        count(*) filter (where caller_phone is not null) as denominator
    from work_orders_with_repeats
    {{ group_by_all(6) }}

),

-- v2 item KPIs (K15–K18): items in force at each month end, no region (city rows only),
-- department BLBM, item 'ALL'.

k15_fully_online_item_rate as (

    select
        'K15' as kpi_id,
        month,
        'ALL' as region_code,
        department,
        'ALL' as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where is_fully_online) as numerator,
        count(*) as denominator
    from items_at_month_end
    {{ group_by_all(6) }}

),

k16_instant_item_rate as (

    select
        'K16' as kpi_id,
        month,
        'ALL' as region_code,
        department,
        'ALL' as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where committed_limit_workdays = 0) as numerator,
        count(*) as denominator
    from items_at_month_end
    {{ group_by_all(6) }}

),

k17_deadline_compression_rate as (

    select
        'K17' as kpi_id,
        month,
        'ALL' as region_code,
        department,
        'ALL' as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        coalesce(sum(statutory_limit_workdays - committed_limit_workdays) filter (
            where statutory_limit_workdays > 0 and committed_limit_workdays is not null
        ), 0) as numerator,
        coalesce(sum(statutory_limit_workdays) filter (
            where statutory_limit_workdays > 0 and committed_limit_workdays is not null
        ), 0) as denominator
    from items_at_month_end
    {{ group_by_all(6) }}

),

k18_zero_visit_item_rate as (

    select
        'K18' as kpi_id,
        month,
        'ALL' as region_code,
        department,
        'ALL' as item_code,
        cast(null as {{ dbt.type_string() }}) as channel,
        count(*) filter (where max_visits = 0) as numerator,
        count(*) filter (where max_visits is not null) as denominator
    from items_at_month_end
    {{ group_by_all(6) }}

),

item_kpis as (

    select * from k15_fully_online_item_rate
    {{ union_all_by_name() }}
    select * from k16_instant_item_rate
    {{ union_all_by_name() }}
    select * from k17_deadline_compression_rate
    {{ union_all_by_name() }}
    select * from k18_zero_visit_item_rate

),

by_region as (

    select * from k1_online_rate
    {{ union_all_by_name() }}
    select * from k2_first_time_success_rate
    {{ union_all_by_name() }}
    select * from k3_prefill_rate
    {{ union_all_by_name() }}
    select * from k4_on_time_rate
    {{ union_all_by_name() }}
    select * from k5_certificate_reuse_rate
    {{ union_all_by_name() }}
    select * from k6_help_resolution_rate
    {{ union_all_by_name() }}
    select * from k7_help_first_response_rate
    {{ union_all_by_name() }}
    select * from k8_good_rating_rate
    {{ union_all_by_name() }}
    select * from k9_rectification_rate
    {{ union_all_by_name() }}
    select * from k10_hotline_on_time_rate
    {{ union_all_by_name() }}
    select * from k11_hotline_resolution_rate
    {{ union_all_by_name() }}
    select * from k12_hotline_satisfaction_rate
    {{ union_all_by_name() }}
    select * from k13_one_thing_online_rate
    {{ union_all_by_name() }}
    select * from k14_rating_coverage_rate
    {{ union_all_by_name() }}
    select * from k19_cross_region_case_rate
    {{ union_all_by_name() }}
    select * from k20_commitment_acceptance_rate
    {{ union_all_by_name() }}
    select * from k21_offline_help_resolution_rate
    {{ union_all_by_name() }}
    select * from k22_hotline_repeat_rate

),

city_total as (

    select
        kpi_id,
        month,
        'ALL' as region_code,
        department,
        item_code,
        channel,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from by_region
    group by kpi_id, month, department, item_code, channel

),

all_rows as (

    select * from by_region
    {{ union_all_by_name() }}
    select * from city_total
    {{ union_all_by_name() }}
    select * from item_kpis

),

final as (

    select
        all_rows.kpi_id,
        kpi_targets.name_zh as kpi_name_zh,
        kpi_targets.name_en as kpi_name_en,
        cast(all_rows.month as date) as month,
        all_rows.region_code,
        all_rows.department,
        all_rows.item_code,
        all_rows.channel,
        cast(all_rows.numerator as bigint) as numerator,
        cast(all_rows.denominator as bigint) as denominator,
        case
            when all_rows.denominator > 0
                then cast(all_rows.numerator as {{ type_double() }}) / all_rows.denominator
        end as rate,
        kpi_targets.target,
        kpi_targets.better
    from all_rows
    left join kpi_targets on all_rows.kpi_id = kpi_targets.kpi_id

)

select * from final
