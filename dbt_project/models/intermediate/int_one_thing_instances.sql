-- One row per "一件事" instance (YJSSLBH) among the cases: its earliest SQSJ, the region and
-- department of its earliest case (ties broken by the smaller SBLSH), its case count and
-- whether all of its cases were filed online (K13, kpis.md).
with

cases as (

    select * from {{ ref('int_cases__with_items') }}
    where one_thing_instance_id is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by one_thing_instance_id order by applied_at, case_id
        ) as case_rank
    from cases

),

instances as (

    select
        one_thing_instance_id,
        min(applied_at) as first_applied_at,
        count(*) as case_count,
        bool_and(is_online) as is_all_online
    from cases
    group by one_thing_instance_id

),

final as (

    select
        instances.one_thing_instance_id,
        instances.first_applied_at,
        instances.case_count,
        instances.is_all_online,
        ranked.case_id as first_case_id,
        ranked.region_code,
        ranked.department
    from instances
    inner join ranked
        on instances.one_thing_instance_id = ranked.one_thing_instance_id
            and ranked.case_rank = 1

)

select * from final
