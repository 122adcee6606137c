-- One row per service item (sxml key) in its current state: the last version in the spec's
-- version order (GXSJ, then the load, then the row hash), soft deletes and keys whose latest
-- state was quarantined left out. Columns renamed from the pinyin codes (see the yml).
with

-- Read again by last_versions, not copied (macros/current_versions.sql).
source as {{ not_materialized() }} (

    select * from {{ source('case_platform', 'sxml') }}

),

current_state as (

    {{ current_versions('source', 'sxml', 'SXBM', 'GXSJ') }}

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
