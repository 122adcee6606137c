-- Dated detail of both files: one row per certificate with its holder's key and validity
-- period, so that "valid on E" (ZZZT = '1', YXQQ ≤ E ≤ YXQZ, D13) can be asked for any E.
-- Holders with an invalid number or of another identity type keep a null key.
with

certificates as (

    select * from {{ ref('stg_certificate_library__certificates') }}

),

final as (

    select
        certificate_id,
        certificate_type,
        case holder_id_type
            when '111' then 'person'
            when '001' then 'enterprise'
            else 'other'
        end as subject_type,
        case
            when holder_id_type = '111'
                then {{ person_key('holder_id_normalised', 'is_holder_id_valid') }}
        end as person_key,
        case
            when holder_id_type = '001'
                then {{ enterprise_key('holder_id_normalised', 'is_holder_id_valid') }}
        end as enterprise_key,
        issued_on,
        valid_from,
        valid_to,
        recorded_status
    from certificates

)

select * from final
