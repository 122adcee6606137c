-- One row per 12345 work order (stg_hotline_12345__work_orders) with ldsj, and whether it
-- repeats an earlier appeal (K22, kpis.md v2): another work order with the same ldhm and
-- sqfl has ldsj in [ldsj − 30 days, ldsj), strictly earlier (two calls in the same second
-- do not repeat each other). Orders without ldhm are never repeats and are outside K22's
-- denominator.
with

work_orders as (

    select * from {{ ref('stg_hotline_12345__work_orders') }}
    where called_at is not null

),

repeated as (

    select distinct later.work_order_id
    from work_orders as later
    inner join work_orders as earlier
        on
            later.caller_phone = earlier.caller_phone
            and later.appeal_topic = earlier.appeal_topic
            and later.called_at > earlier.called_at
            and {{ dbt.dateadd('day', -30, 'later.called_at') }} <= earlier.called_at
            and later.work_order_id <> earlier.work_order_id

),

final as (

    select
        work_orders.*,
        repeated.work_order_id is not null as is_repeat_call
    from work_orders
    left join repeated on work_orders.work_order_id = repeated.work_order_id

)

select * from final
