-- One row per help session (bb_jl key) in its current state: the last version in the spec's
-- version order (GXSJ, then the load, then the row hash), keys whose latest state was
-- quarantined left out. The table has no SFSC (no soft deletes). The requester's identity
-- number is normalised and validated (D4); the D6 flag marks a first response before the
-- request. Columns added by the source (schema drift, e.g. BBRY) are kept as JSON.
with

-- Read again by last_versions, not copied (macros/current_versions.sql).
source as {{ not_materialized() }} (

    select * from {{ source('case_platform', 'bb_jl') }}

),

current_state as (

    {{ current_versions('source', 'bb_jl', 'BBBH', 'GXSJ') }}

),

renamed as (

    select
        BBBH as help_session_id,
        BBQD as help_channel,
        SQRZJHM as requester_id_raw,
        SBLSH as case_id,
        QQSJ as requested_at,
        SCXYSJ as first_responded_at,
        JSSJ as ended_at,
        SFJJ = '1' as is_resolved,
        XZQHDM as region_code,
        GXSJ as updated_at,
        _extra as extra_columns,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_state

),

identified as (

    select
        *,
        case
            when requester_id_raw is not null then {{ normalise_identity('requester_id_raw') }}
        end as requester_id_normalised
    from renamed

),

final as (

    select
        *,
        case
            when requester_id_raw is not null
                then {{ is_valid_identity(
                    'requester_id_normalised', 'cast(loaded_at as date)', region_codes()
                ) }}
        end as is_requester_id_valid,
        -- D6: kept, flagged, left out of K7
        coalesce(first_responded_at < requested_at, false) as is_responded_before_requested
    from identified

)

select * from final
