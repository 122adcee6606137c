-- One row per 12345 work order (gdbh) in its current state: the last version in the spec's
-- version order (updated_at, then the load, then the row hash), keys whose latest state was
-- quarantined left out. The API has no soft delete. The caller's identity number, often
-- missing, is normalised and validated (D4). Timestamps already naive Asia/Shanghai.
with

source as (

    select * from {{ source('hotline_12345', 'work_orders') }}

),

quarantined as (

    select row_key, max(change_value) as change_value
    from {{ source('ingestion_meta', 'quarantine') }}
    where table_name = 'work_orders'
    group by row_key

),

versions as (

    select
        *,
        row_number() over (
            partition by gdbh order by updated_at desc, _loaded_at desc, _row_hash desc
        ) as version_rank
    from source

),

current_state as (

    select versions.*
    from versions
    left join quarantined on quarantined.row_key = versions.gdbh
    where
        versions.version_rank = 1
        -- a later (or same-time) quarantined version means the key's state is unknown
        and (
            quarantined.row_key is null
            or try_cast(quarantined.change_value as timestamp) < versions.updated_at
        )

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
                then {{ is_valid_identity('caller_id_normalised', 'cast(loaded_at as date)', "(select code from " ~ ref('gb2260_codes') ~ ")") }}
        end as is_caller_id_valid
    from identified

)

select * from final
