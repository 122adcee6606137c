-- The identity vault (restricted: never published, never read by dashboards): one row per
-- person_key with the identity number, and the name and mobile phone the population base holds
-- (for persons absent from it, the latest name and phone another system recorded). Used only to
-- resolve a push list's keys for the notification system.
with

residents as (

    select
        resident_id as identity_number,
        name,
        mobile_phone,
        1 as preference,
        loaded_at as seen_at
    from {{ ref('stg_population_base__residents') }}

),

applicants as (

    select
        applicant_id_normalised as identity_number,
        applicant_name as name,
        contact_phone as mobile_phone,
        2 as preference,
        applied_at as seen_at
    from {{ ref('stg_case_platform__cases') }}
    where applicant_id_type = '111' and is_applicant_id_valid

),

callers as (

    select
        caller_id_normalised as identity_number,
        caller_name as name,
        caller_phone as mobile_phone,
        3 as preference,
        called_at as seen_at
    from {{ ref('stg_hotline_12345__work_orders') }}
    where is_caller_id_valid

),

holders as (

    select
        holder_id_normalised as identity_number,
        holder_name as name,
        null as mobile_phone,
        4 as preference,
        cast(issued_on as timestamp) as seen_at
    from {{ ref('stg_certificate_library__certificates') }}
    where holder_id_type = '111' and is_holder_id_valid

),

candidates as (

    select * from residents
    union all
    select * from applicants
    union all
    select * from callers
    union all
    select * from holders

),

final as (

    select
        {{ first_row_distinct('identity_number') }}
        {{ person_key('identity_number') }} as person_key,
        identity_number,
        name,
        mobile_phone
    from candidates
    {{ first_row_qualify('identity_number', 'preference asc, seen_at desc nulls last') }}

)

select * from final
