-- One row per legal entity (fr_jbxx key TYSHXYDM) in its current state: the last version in
-- the spec's version order (GXSJ, then the load, then the row hash; D2), soft deletes (D3)
-- and keys whose latest state was quarantined (D7) left out. TYSHXYDM is the authoritative
-- base and is clean: kept as given. The legal representative's identity number (FDDBRZJHM)
-- is normalised and validated by the spec README's rule (D4).
-- Columns renamed from the pinyin codes (see the yml).
with

-- Read again by last_versions, not copied (macros/current_versions.sql).
source as {{ not_materialized() }} (

    select * from {{ source('legal_entity_base', 'fr_jbxx') }}

),

current_state as (

    {{ current_versions('source', 'fr_jbxx', 'TYSHXYDM', 'GXSJ') }}

),

renamed as (

    select
        TYSHXYDM as uscc,
        QYMC as entity_name,
        QYLX as entity_type,
        FDDBR as legal_representative_name,
        FDDBRZJHM as legal_representative_id_raw,
        CLRQ as established_on,
        ZCZB as registered_capital_10k_yuan,
        HYDM as industry_code,
        left(HYDM, 1) as industry_section,
        XZQHDM as region_code,
        DJZT as registration_status,
        ZXRQ as closed_on,
        GXSJ as updated_at,
        SFSC = '1' as is_deleted,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_state

),

identified as (

    select
        *,
        {{ normalise_identity('legal_representative_id_raw') }}
            as legal_representative_id_normalised
    from renamed

),

final as (

    select
        *,
        case
            when legal_representative_id_normalised is not null
                then {{ is_valid_identity(
                    'legal_representative_id_normalised', 'cast(loaded_at as date)', region_codes()
                ) }}
        end as is_legal_representative_id_valid
    from identified
    where not is_deleted

)

select * from final
