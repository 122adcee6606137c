-- One row per special-group record (rk_tsqt key TSQTBH) in its current state: the last
-- version in the spec's version order (GXSJ, then the load, then the row hash; D2), soft
-- deletes (D3) and keys whose latest state was quarantined (D7) left out.
-- Columns renamed from the pinyin codes (see the yml).
with

-- Read again by last_versions, not copied (macros/current_versions.sql).
source as {{ not_materialized() }} (

    select * from {{ source('population_base', 'rk_tsqt') }}

),

current_state as (

    {{ current_versions('source', 'rk_tsqt', 'TSQTBH', 'GXSJ') }}

),

renamed as (

    select
        TSQTBH as special_group_id,
        GMSFHM as resident_id,
        QTLX as group_type,
        CJDJ as disability_level,
        KSRQ as started_on,
        JSRQ as ended_on,
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
