-- Dated detail of both files: one row per benefit payment (jf_ffjl) with the subject's key and
-- the period it was paid for (FFSSQ), which blocks a 免申即享 match for the same period.
with

grants as (

    select * from {{ ref('stg_population_base__grants') }}

),

final as (

    select
        grant_id,
        policy_code,
        grant_period,
        subject_type,
        case
            when subject_type = 'person'
                then {{ person_key('subject_id_normalised', 'is_subject_id_valid') }}
        end as person_key,
        case
            when subject_type = 'enterprise'
                then {{ enterprise_key('subject_id_normalised', 'is_subject_id_valid') }}
        end as enterprise_key,
        granted_on,
        amount_yuan
    from grants

)

select * from final
