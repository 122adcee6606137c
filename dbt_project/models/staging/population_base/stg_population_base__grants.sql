-- One row per benefit grant (jf_ffjl key FFBH) in its current state: the last version in the
-- spec's version order (GXSJ, then the load, then the row hash; D2), keys whose latest state
-- was quarantined (D7) left out (the table has no soft delete). The subject code DXDM is an
-- identity number for the person policies and a USCC for the enterprise policies (XWWG,
-- GXJL; policies.md): normalised and validated by the spec README's rule for its kind.
-- Columns renamed from the pinyin codes (see the yml).
with

-- Read again by last_versions, not copied (macros/current_versions.sql).
source as {{ not_materialized() }} (

    select * from {{ source('population_base', 'jf_ffjl') }}

),

current_state as (

    {{ current_versions('source', 'jf_ffjl', 'FFBH', 'GXSJ') }}

),

renamed as (

    select
        FFBH as grant_id,
        ZCBM as policy_code,
        FFSSQ as grant_period,
        case when ZCBM in ('XWWG', 'GXJL') then 'enterprise' else 'person' end as subject_type,
        DXDM as subject_id_raw,
        FFRQ as granted_on,
        FFJE as amount_yuan,
        GXSJ as updated_at,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_state

),

identified as (

    select
        *,
        case
            when subject_type = 'person' then {{ normalise_identity('subject_id_raw') }}
            when subject_type = 'enterprise' then {{ normalise_uscc('subject_id_raw') }}
        end as subject_id_normalised
    from renamed

),

final as (

    select
        *,
        case
            when subject_type = 'person'
                then {{ is_valid_identity(
                    'subject_id_normalised', 'cast(loaded_at as date)', region_codes()
                ) }}
            when subject_type = 'enterprise'
                then {{ is_valid_uscc('subject_id_normalised', region_codes()) }}
        end as is_subject_id_valid
    from identified

)

select * from final
