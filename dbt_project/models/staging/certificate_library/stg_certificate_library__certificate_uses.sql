-- One row per certificate use (dzzz_yyjl key). The table is append-only with an increasing
-- DYBH and no change column: a key delivered more than once keeps one row (the later load,
-- then the row hash). A key whose only rows were quarantined is simply absent. References to
-- unknown cases (D8) are kept; the intermediate layer flags them against all case keys.
with

-- Read again by last_versions, not copied (macros/current_versions.sql).
source as {{ not_materialized() }} (

    select * from {{ source('certificate_library', 'dzzz_yyjl') }}

),

current_state as (

    {{ last_versions('source', 'DYBH', '_loaded_at desc, _row_hash desc') }}

),

renamed as (

    select
        DYBH as certificate_use_id,
        ZZBH as certificate_id,
        SBLSH as case_id,
        DYSJ as used_at,
        DYFS as use_mode,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_state

),

final as (

    select * from renamed

)

select * from final
