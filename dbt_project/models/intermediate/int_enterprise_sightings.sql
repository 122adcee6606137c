-- One row per (enterprise, source system) for every valid USCC a system holds: the
-- legal-entity base (entities, annual facts), the case platform (applicants with 统一社会信用代码),
-- the certificate library (holders) and the population base's grant records. Invalid USCCs
-- (D5) are not linked and do not appear.
with

entities as (

    select uscc from {{ ref('stg_legal_entity_base__entities') }}

),

annual_facts as (

    select uscc from {{ ref('stg_legal_entity_base__annual_facts') }}

),

applicants as (

    select applicant_id_normalised as uscc
    from {{ ref('stg_case_platform__cases') }}
    where applicant_id_type = '001' and is_applicant_id_valid

),

holders as (

    select holder_id_normalised as uscc
    from {{ ref('stg_certificate_library__certificates') }}
    where holder_id_type = '001' and is_holder_id_valid

),

grants as (

    select subject_id_normalised as uscc
    from {{ ref('stg_population_base__grants') }}
    where subject_type = 'enterprise' and is_subject_id_valid

),

sightings as (

    select distinct
        'legal_entity_base' as source_system,
        uscc
    from entities
    union
    select
        'legal_entity_base' as source_system,
        uscc
    from annual_facts
    union
    select
        'case_platform' as source_system,
        uscc
    from applicants
    union
    select
        'certificate_library' as source_system,
        uscc
    from holders
    union
    select
        'population_base' as source_system,
        uscc
    from grants

),

final as (

    select
        {{ enterprise_key('uscc') }} as enterprise_key,
        uscc,
        source_system
    from sightings

)

select * from final
