-- One row per 12345 work order with the caller as a person_key (null when no valid identity
-- number was given). Caller name, phone and the appeal's free text stay in staging.
with

orders as (

    select * from {{ ref('stg_hotline_12345__work_orders') }}

),

final as (

    select
        work_order_id,
        {{ person_key('caller_id_normalised', 'is_caller_id_valid') }} as person_key,
        is_caller_id_valid,
        called_at,
        appeal_type,
        appeal_topic,
        handling_unit_code,
        coalesce(region_code, 'unknown') as region_code,
        is_answered_directly,
        dispatched_at,
        due_at,
        completed_at,
        status,
        is_resolved,
        satisfaction,
        satisfaction = '3' as is_dissatisfied,
        appeal_type = '2' as is_complaint
    from orders

)

select * from final
