-- One row per case: the case platform's case with its item's department, the applicant as a
-- pseudonymous key (person_key for a 居民身份证, enterprise_key for a USCC; null when the
-- number is invalid or a passport/permit), the timestamp-order flags (D6) and the per-case
-- facts the KPIs use. No name, number or phone.
with

cases as (

    select * from {{ ref('int_cases__with_items') }}

),

applicants as (

    select
        case_id,
        applicant_type,
        applicant_id_type,
        applicant_id_normalised,
        is_applicant_id_valid,
        acceptance_mode,
        cross_region_type
    from {{ ref('stg_case_platform__cases') }}

),

final as (

    select
        cases.case_id,
        cases.item_code,
        cases.department,
        cases.region_code,
        cases.channel,
        cases.is_online,
        applicants.applicant_type,
        applicants.applicant_id_type,
        case
            when applicants.applicant_id_type = '111'
                then {{ person_key(
                    'applicants.applicant_id_normalised', 'applicants.is_applicant_id_valid'
                ) }}
        end as person_key,
        case
            when applicants.applicant_id_type = '001'
                then {{ enterprise_key(
                    'applicants.applicant_id_normalised', 'applicants.is_applicant_id_valid'
                ) }}
        end as enterprise_key,
        applicants.is_applicant_id_valid,
        cases.applied_at,
        cases.accepted_at,
        cases.completed_at,
        cases.status,
        cases.result,
        cases.correction_count,
        cases.is_prefilled,
        applicants.acceptance_mode,
        applicants.cross_region_type,
        cases.one_thing_instance_id,
        cases.is_item_known,
        cases.is_high_frequency,
        cases.committed_limit_workdays,
        cases.has_certificate_reuse,
        cases.working_days_to_complete,
        cases.is_accepted_before_applied,
        cases.is_completed_before_accepted
    from cases
    inner join applicants on cases.case_id = applicants.case_id

)

select * from final
