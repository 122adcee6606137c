-- One row per service item (sxml key) in its current state: the last version in the spec's
-- version order (GXSJ, then the load, then the row hash), soft deletes and keys whose latest
-- state was quarantined left out. Columns renamed from the pinyin codes (see the yml).
with

source as (

    select * from {{ source('case_platform', 'sxml') }}

),

quarantined as (

    select row_key, max(change_value) as change_value
    from {{ source('ingestion_meta', 'quarantine') }}
    where table_name = 'sxml'
    group by row_key

),

versions as (

    select
        *,
        row_number() over (
            partition by SXBM order by GXSJ desc, _loaded_at desc, _row_hash desc
        ) as version_rank
    from source

),

current_state as (

    select versions.*
    from versions
    left join quarantined on quarantined.row_key = versions.SXBM
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
        SXBM as item_code,
        SXMC as item_name,
        SXLX as item_type,
        BLBM as department_code,
        BLBMMC as department_name,
        FWDX as target_applicant_type,
        FDSX as statutory_limit_workdays,
        CNSX as committed_limit_workdays,
        SFGPSX = '1' as is_high_frequency,
        SFQCWB = '1' as is_fully_online,
        SFXYZZ = '1' as needs_certificate,
        PDCS as max_visits,
        SFKSTB = '1' as is_cross_province,
        YJSBM as one_thing_code,
        YJSMC as one_thing_name,
        GXSJ as updated_at,
        SFSC = '1' as is_deleted,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_state

),

final as (

    select *
    from renamed
    where not is_deleted

)

select * from final
