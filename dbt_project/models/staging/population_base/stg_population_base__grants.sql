-- One row per benefit grant (jf_ffjl key FFBH) in its current state: the last version in the
-- spec's version order (GXSJ, then the load, then the row hash; D2), keys whose latest state
-- was quarantined (D7) left out (the table has no soft delete). The subject code DXDM is an
-- identity number for the person policies and a USCC for the enterprise policies (XWWG,
-- GXJL; policies.md): normalised and validated by the spec README's rule for its kind.
-- Columns renamed from the pinyin codes (see the yml).
with

source as (

    select * from {{ source('population_base', 'jf_ffjl') }}

),

quarantined as (

    select row_key, max(change_value) as change_value
    from {{ source('ingestion_meta', 'quarantine') }}
    where table_name = 'jf_ffjl'
    group by row_key

),

versions as (

    select
        *,
        row_number() over (
            partition by FFBH order by GXSJ desc, _loaded_at desc, _row_hash desc
        ) as version_rank
    from source

),

current_state as (

    select versions.*
    from versions
    left join quarantined on quarantined.row_key = versions.FFBH
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
                then {{ is_valid_identity('subject_id_normalised', 'cast(loaded_at as date)', "(select code from " ~ ref('gb2260_codes') ~ ")") }}
            when subject_type = 'enterprise'
                then {{ is_valid_uscc('subject_id_normalised', "(select code from " ~ ref('gb2260_codes') ~ ")") }}
        end as is_subject_id_valid
    from identified

)

select * from final
