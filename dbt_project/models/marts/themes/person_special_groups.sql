-- Dated detail of the 一人一档: one row per special-group period (rk_tsqt) of a person, soft
-- deletes out, so that a policy can ask "ongoing on E" for any past E.
with

groups as (

    select * from {{ ref('stg_population_base__special_groups') }}

),

final as (

    select
        special_group_id,
        {{ person_key('resident_id') }} as person_key,
        group_type,
        disability_level,
        started_on,
        ended_on
    from groups

)

select * from final
