-- One row per 12345 work order (gdbh) in its current state: the last version in the spec's
-- version order (updated_at, then the load, then the row hash), keys whose latest state was
-- quarantined left out. The API has no soft delete. The caller's identity number, often
-- missing, is normalised and validated (D4). Timestamps already naive Asia/Shanghai.
with

-- Read again by last_versions, not copied (macros/current_versions.sql).
source as {{ not_materialized() }} (

    select * from {{ source('hotline_12345', 'work_orders') }}

),

current_state as (

    {{ current_versions('source', 'work_orders', 'gdbh', 'updated_at') }}

),

renamed as (

    select
        gdbh as work_order_id,
        ldsj as called_at,
        ldhm as caller_phone,
        ldrxm as caller_name,
        ldrzjhm as caller_id_raw,
        sqlx as appeal_type,
        sqfl as appeal_topic,
        sqnr as appeal_content,
        cbdw as handling_unit_code,
        xzqhdm as region_code,
        zjbj = '1' as is_answered_directly,
        pdsj as dispatched_at,
        clqx as due_at,
        bjsj as completed_at,
        gdzt as status,
        sfjj = '1' as is_resolved,
        myd as satisfaction,
        updated_at,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_state

),

identified as (

    select
        *,
        case
            when caller_id_raw is not null then {{ normalise_identity('caller_id_raw') }}
        end as caller_id_normalised
    from renamed

),

final as (

    select
        *,
        case
            when caller_id_raw is not null
                then {{ is_valid_identity(
                    'caller_id_normalised', 'cast(loaded_at as date)', region_codes()
                ) }}
        end as is_caller_id_valid
    from identified

)

select * from final
