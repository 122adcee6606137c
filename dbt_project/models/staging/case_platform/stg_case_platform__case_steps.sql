-- One row per case step (bj_gcxx key) in its current state: the last version in the spec's
-- version order (GXSJ, then the load, then the row hash), keys whose latest state was
-- quarantined left out. The table has no SFSC (no soft deletes). Columns renamed from the
-- pinyin codes (see the yml).
with

source as (

    select * from {{ source('case_platform', 'bj_gcxx') }}

),

quarantined as (

    select row_key, max(change_value) as change_value
    from {{ source('ingestion_meta', 'quarantine') }}
    where table_name = 'bj_gcxx'
    group by row_key

),

versions as (

    select
        *,
        row_number() over (
            partition by GCBH order by GXSJ desc, _loaded_at desc, _row_hash desc
        ) as version_rank
    from source

),

current_state as (

    select versions.*
    from versions
    left join quarantined on quarantined.row_key = versions.GCBH
    where
        versions.version_rank = 1
        -- a later (or same-time) quarantined version means the key's state is unknown
        and (
            quarantined.row_key is null
            or try_cast(quarantined.change_value as timestamp) < versions.GXSJ
        )

),

renamed as (

    select
        GCBH as step_id,
        SBLSH as case_id,
        HJDM as step_code,
        CLSJ as handled_at,
        CLYJ as handling_opinion,
        GXSJ as updated_at,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_state

),

final as (

    select * from renamed

)

select * from final
