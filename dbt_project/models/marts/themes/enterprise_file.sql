-- 一企一档: one row per entity of the legal-entity base, plus one per valid USCC seen in another
-- system but absent from it (is_registered = false), with what every system knows of it as of
-- the build's date. The USCC and the entity's name are public registration data; the legal
-- representative is masked.
with

entities as (

    select * from {{ ref('stg_legal_entity_base__entities') }}

),

sightings as (

    select * from {{ ref('int_enterprise_sightings') }}

),

annual_facts as (

    select * from {{ ref('enterprise_annual_facts') }}

),

certificates as (

    select * from {{ ref('certificate_validity') }}

),

cases as (

    select * from {{ ref('fct_cases') }}

),

grants as (

    select * from {{ ref('benefit_grants') }}

),

known_enterprises as (

    select
        enterprise_key,
        min(uscc) as uscc,
        {{ dbt.listagg('source_system', "','", 'order by source_system') }} as source_systems
    from sightings
    group by enterprise_key

),

registered as (

    select
        {{ enterprise_key('uscc') }} as enterprise_key,
        entity_name,
        entity_type,
        registration_status,
        established_on,
        registered_capital_10k_yuan,
        industry_code,
        industry_section,
        -- GB/T 4754: a section letter followed by the two-digit division
        substr(industry_code, 2, 2) as industry_division,
        region_code,
        {{ mask_name('legal_representative_name') }} as legal_representative_name_masked,
        {{ mask_identity_number('legal_representative_id_normalised') }}
            as legal_representative_id_masked
    from entities

),

latest_annual_facts as (

    select {{ first_row_distinct('enterprise_key') }} *
    from annual_facts
    {{ first_row_qualify('enterprise_key', 'year desc') }}

),

valid_certificates as (

    select
        enterprise_key,
        {{ dbt.listagg('distinct certificate_type', "','", 'order by certificate_type') }}
            as valid_certificate_types,
        count(*) as valid_certificate_count
    from certificates
    where enterprise_key is not null
        and recorded_status = '1'
        and valid_from <= {{ as_of_date() }}
        and (valid_to is null or valid_to >= {{ as_of_date() }})
    group by enterprise_key

),

case_summary as (

    select
        enterprise_key,
        count(*) as cases_total,
        count(*) filter (
            where applied_at >= {{ dbt.dateadd('month', -12, as_of_date()) }}
        ) as cases_last_12_months,
        max(applied_at) as last_case_applied_at
    from cases
    where enterprise_key is not null
    group by enterprise_key

),

grant_summary as (

    select
        enterprise_key,
        count(*) as grants_total,
        sum(amount_yuan) as grant_amount_total,
        {{ dbt.listagg('distinct policy_code', "','", 'order by policy_code') }} as granted_policies
    from grants
    where enterprise_key is not null
    group by enterprise_key

),

final as (

    select
        known_enterprises.enterprise_key,
        known_enterprises.uscc,
        registered.entity_name,
        registered.entity_type,
        registered.registration_status,
        registered.established_on,
        registered.registered_capital_10k_yuan,
        registered.industry_code,
        registered.industry_section,
        registered.industry_division,
        registered.region_code,
        registered.legal_representative_name_masked,
        registered.legal_representative_id_masked,
        registered.enterprise_key is not null as is_registered,
        latest_annual_facts.year as latest_annual_year,
        latest_annual_facts.insured_employees,
        latest_annual_facts.insured_net_decrease,
        latest_annual_facts.revenue_10k_yuan,
        latest_annual_facts.rd_expense_10k_yuan,
        latest_annual_facts.total_tax_10k_yuan,
        valid_certificates.valid_certificate_types,
        coalesce(valid_certificates.valid_certificate_count, 0) as valid_certificate_count,
        coalesce(case_summary.cases_total, 0) as cases_total,
        coalesce(case_summary.cases_last_12_months, 0) as cases_last_12_months,
        case_summary.last_case_applied_at,
        coalesce(grant_summary.grants_total, 0) as grants_total,
        coalesce(grant_summary.grant_amount_total, 0) as grant_amount_total,
        grant_summary.granted_policies,
        known_enterprises.source_systems,
        {{ as_of_date() }} as as_of_date
    from known_enterprises
    left join registered on known_enterprises.enterprise_key = registered.enterprise_key
    left join latest_annual_facts
        on known_enterprises.enterprise_key = latest_annual_facts.enterprise_key
    left join valid_certificates
        on known_enterprises.enterprise_key = valid_certificates.enterprise_key
    left join case_summary on known_enterprises.enterprise_key = case_summary.enterprise_key
    left join grant_summary on known_enterprises.enterprise_key = grant_summary.enterprise_key

)

select * from final
