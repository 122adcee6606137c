-- One row per "一件事" bundle (YJSBM) and month of the instance's earliest SQSJ: instances,
-- their cases, instances all of whose cases were filed online (K13's numerator; instances
-- are K13's denominator) and the median end-to-end working days, wd(earliest SQSJ, latest
-- BJSJ), over the instances all of whose cases are completed (BJZT = '3', BJSJ not null).
-- An instance's bundle is the YJSBM of its earliest case (SQSJ, then SBLSH) whose current
-- item has one; 'unknown' when none of its cases' items has one.
with

one_thing_instances as (

    select * from {{ ref('int_one_thing_instances') }}

),

cases as (

    select * from {{ ref('int_cases__with_items') }}
    where one_thing_instance_id is not null

),

service_items as (

    select * from {{ ref('stg_case_platform__service_items') }}

),

instance_facts as (

    select
        cases.one_thing_instance_id,
        {{ first_value_by(
            'service_items.one_thing_code',
            'cases.applied_at, cases.case_id',
            'service_items.one_thing_code is not null'
        ) }} as one_thing_code,
        bool_and(
            coalesce(cases.status = '3' and cases.completed_at is not null, false)
        ) as is_all_completed,
        max(cases.completed_at) as last_completed_at
    from cases
    left join service_items on cases.item_code = service_items.item_code
    group by cases.one_thing_instance_id

),

instances as (

    select
        coalesce(instance_facts.one_thing_code, 'unknown') as one_thing_code,
        cast({{ truncate_to('month', 'one_thing_instances.first_applied_at') }} as date) as month,
        one_thing_instances.one_thing_instance_id,
        one_thing_instances.case_count,
        one_thing_instances.is_all_online,
        case
            when instance_facts.is_all_completed
                then {{ wd(
                    'one_thing_instances.first_applied_at', 'instance_facts.last_completed_at'
                ) }}
        end as end_to_end_working_days
    from one_thing_instances
    inner join instance_facts
        on one_thing_instances.one_thing_instance_id = instance_facts.one_thing_instance_id

),

final as (

    select
        one_thing_code,
        month,
        count(*) as instances,
        sum(case_count) as cases,
        count(*) filter (where is_all_online) as online_instances,
        count(end_to_end_working_days) as completed_instances,
        {{ median('end_to_end_working_days') }} as median_end_to_end_working_days
    from instances
    group by one_thing_code, month

)

select * from final
