-- The identity vault for enterprises (restricted): one row per enterprise_key with the USCC,
-- the registered name and the legal representative's name and identity number.
with

entities as (

    select * from {{ ref('stg_legal_entity_base__entities') }}

),

final as (

    select
        {{ enterprise_key('uscc') }} as enterprise_key,
        uscc,
        entity_name,
        legal_representative_name,
        legal_representative_id_normalised as legal_representative_id
    from entities

)

select * from final
