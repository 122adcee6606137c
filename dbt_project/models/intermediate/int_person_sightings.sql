-- One row per (person, source system) for every valid identity number a system holds: the
-- population base (residents, special groups, grants), the case platform (applicants with a
-- 居民身份证, help-session requesters), the certificate library (holders), the 12345 hotline
-- (callers) and the legal-entity base (legal representatives). Invalid numbers (D4) are not
-- linked and do not appear. Carries the key and masked forms only.
with

residents as (

    select resident_id as identity_number from {{ ref('stg_population_base__residents') }}

),

special_groups as (

    select resident_id as identity_number from {{ ref('stg_population_base__special_groups') }}

),

grants as (

    select subject_id_normalised as identity_number
    from {{ ref('stg_population_base__grants') }}
    where subject_type = 'person' and is_subject_id_valid

),

applicants as (

    select applicant_id_normalised as identity_number
    from {{ ref('stg_case_platform__cases') }}
    where applicant_id_type = '111' and is_applicant_id_valid

),

help_requesters as (

    select requester_id_normalised as identity_number
    from {{ ref('stg_case_platform__help_sessions') }}
    where is_requester_id_valid

),

holders as (

    select holder_id_normalised as identity_number
    from {{ ref('stg_certificate_library__certificates') }}
    where holder_id_type = '111' and is_holder_id_valid

),

callers as (

    select caller_id_normalised as identity_number
    from {{ ref('stg_hotline_12345__work_orders') }}
    where is_caller_id_valid

),

representatives as (

    select legal_representative_id_normalised as identity_number
    from {{ ref('stg_legal_entity_base__entities') }}
    where is_legal_representative_id_valid

),

sightings as (

    select distinct
        'population_base' as source_system,
        identity_number
    from residents
    union
    select
        'population_base' as source_system,
        identity_number
    from special_groups
    union
    select
        'population_base' as source_system,
        identity_number
    from grants
    union
    select
        'case_platform' as source_system,
        identity_number
    from applicants
    union
    select
        'case_platform' as source_system,
        identity_number
    from help_requesters
    union
    select
        'certificate_library' as source_system,
        identity_number
    from holders
    union
    select
        'hotline_12345' as source_system,
        identity_number
    from callers
    union
    select
        'legal_entity_base' as source_system,
        identity_number
    from representatives

),

final as (

    select
        {{ person_key('identity_number') }} as person_key,
        source_system,
        {{ mask_identity_number('identity_number') }} as identity_number_masked,
        -- characters 7–14 of a valid number are its holder's birth date (YYYYMMDD)
        {{ date_from_yyyymmdd('substr(identity_number, 7, 8)') }} as birth_date_from_number
    from sightings

)

select * from final
