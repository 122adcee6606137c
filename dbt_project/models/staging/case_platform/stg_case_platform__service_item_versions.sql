-- One row per version of a service item (sxml), valid or quarantined: the version history
-- the item KPIs K15–K18 read at each month end (kpis.md v2, "items in force at T"). A valid
-- version carries its attributes; a quarantined one (D7) carries only its key and change
-- time (the quarantine's change value), so that a key whose state at T is a quarantined
-- version is in force at no T until a later valid version. Identical copies of a version
-- (D1) are kept: the ranking in int_service_items__month_end takes one of them.
with

source as (

    select * from {{ source('case_platform', 'sxml') }}

),

quarantine as (

    select * from {{ source('ingestion_meta', 'quarantine') }}
    where table_name = 'sxml'

),

valid_versions as (

    select
        SXBM as item_code,
        BLBM as department_code,
        FDSX as statutory_limit_workdays,
        CNSX as committed_limit_workdays,
        SFQCWB = '1' as is_fully_online,
        PDCS as max_visits,
        SFSC = '1' as is_deleted,
        false as is_quarantined,
        GXSJ as updated_at,
        _loaded_at as loaded_at,
        _row_hash as row_hash
    from source

),

quarantined_versions as (

    select
        row_key as item_code,
        cast(null as {{ dbt.type_string() }}) as department_code,
        cast(null as integer) as statutory_limit_workdays,
        cast(null as integer) as committed_limit_workdays,
        cast(null as boolean) as is_fully_online,
        cast(null as integer) as max_visits,
        cast(null as boolean) as is_deleted,
        true as is_quarantined,
        {{ try_cast_timestamp('change_value') }} as updated_at,
        cast(null as timestamp) as loaded_at,
        cast(null as {{ dbt.type_string() }}) as row_hash
    from quarantine

),

final as (

    select * from valid_versions
    union all
    select * from quarantined_versions

)

select * from final
