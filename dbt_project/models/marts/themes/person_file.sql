-- 一人一档: one row per person of the population snapshot in force, plus one per valid
-- identity number seen in another system but absent from it (is_resident = false), with what
-- every system knows of the person as of the build's date. Keys and masked forms only.
with

residents as (

    select * from {{ ref('stg_population_base__residents') }}

),

sightings as (

    select * from {{ ref('int_person_sightings') }}

),

special_groups as (

    select * from {{ ref('person_special_groups') }}

),

certificates as (

    select * from {{ ref('certificate_validity') }}

),

cases as (

    select * from {{ ref('fct_cases') }}

),

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

ratings as (

    select * from {{ ref('fct_ratings') }}

),

grants as (

    select * from {{ ref('benefit_grants') }}

),

known_people as (

    select
        person_key,
        min(identity_number_masked) as identity_number_masked,
        min(birth_date_from_number) as birth_date_from_number,
        {{ dbt.listagg('source_system', "','", 'order by source_system') }} as source_systems
    from sightings
    group by person_key

),

resident_people as (

    select
        {{ person_key('resident_id') }} as person_key,
        {{ mask_name('name') }} as name_masked,
        sex,
        birth_date,
        hukou_region_code,
        is_alive,
        death_date
    from residents

),

ongoing_groups as (

    select
        person_key,
        {{ dbt.listagg('distinct group_type', "','", 'order by group_type') }} as special_groups,
        min(case when group_type = 'CJR' then disability_level end) as disability_level
    from special_groups
    where started_on <= {{ as_of_date() }}
        and (ended_on is null or ended_on >= {{ as_of_date() }})
    group by person_key

),

valid_certificates as (

    select
        person_key,
        {{ dbt.listagg('distinct certificate_type', "','", 'order by certificate_type') }}
            as valid_certificate_types,
        count(*) as valid_certificate_count
    from certificates
    where person_key is not null
        and recorded_status = '1'
        and valid_from <= {{ as_of_date() }}
        and (valid_to is null or valid_to >= {{ as_of_date() }})
    group by person_key

),

case_summary as (

    select
        person_key,
        count(*) as cases_total,
        count(*) filter (
            where applied_at >= {{ dbt.dateadd('month', -12, as_of_date()) }}
        ) as cases_last_12_months,
        max(applied_at) as last_case_applied_at,
        avg(
            cast(case when is_online then 1 else 0 end as {{ type_double() }})
        ) as online_case_share,
        count(distinct one_thing_instance_id) as one_thing_bundles_used
    from cases
    where person_key is not null
    group by person_key

),

work_order_summary as (

    select
        person_key,
        count(*) as work_orders_total,
        count(*) filter (where is_complaint) as complaints_total,
        count(*) filter (where is_dissatisfied) as dissatisfied_total
    from work_orders
    where person_key is not null
    group by person_key

),

rating_summary as (

    select
        cases.person_key,
        count(*) as ratings_total,
        count(*) filter (where ratings.is_bad) as bad_ratings_total
    from ratings
    inner join cases on ratings.case_id = cases.case_id
    where cases.person_key is not null
    group by cases.person_key

),

grant_summary as (

    select
        person_key,
        count(*) as grants_total,
        sum(amount_yuan) as grant_amount_total,
        {{ dbt.listagg('distinct policy_code', "','", 'order by policy_code') }} as granted_policies
    from grants
    where person_key is not null
    group by person_key

),

people as (

    select
        known_people.person_key,
        known_people.identity_number_masked,
        resident_people.name_masked,
        resident_people.sex,
        coalesce(resident_people.birth_date, known_people.birth_date_from_number) as birth_date,
        resident_people.hukou_region_code,
        resident_people.is_alive,
        resident_people.death_date,
        resident_people.person_key is not null as is_resident,
        known_people.source_systems
    from known_people
    left join resident_people on known_people.person_key = resident_people.person_key

),

final as (

    select
        people.person_key,
        people.identity_number_masked,
        people.name_masked,
        people.sex,
        people.birth_date,
        {{ age_on('people.birth_date', as_of_date()) }} as age,
        people.hukou_region_code,
        people.is_alive,
        people.death_date,
        people.is_resident,
        ongoing_groups.special_groups,
        ongoing_groups.disability_level,
        valid_certificates.valid_certificate_types,
        coalesce(valid_certificates.valid_certificate_count, 0) as valid_certificate_count,
        coalesce(case_summary.cases_total, 0) as cases_total,
        coalesce(case_summary.cases_last_12_months, 0) as cases_last_12_months,
        case_summary.last_case_applied_at,
        case_summary.online_case_share,
        coalesce(case_summary.one_thing_bundles_used, 0) as one_thing_bundles_used,
        coalesce(work_order_summary.work_orders_total, 0) as work_orders_total,
        coalesce(work_order_summary.complaints_total, 0) as complaints_total,
        coalesce(work_order_summary.dissatisfied_total, 0) as dissatisfied_total,
        coalesce(rating_summary.ratings_total, 0) as ratings_total,
        coalesce(rating_summary.bad_ratings_total, 0) as bad_ratings_total,
        coalesce(grant_summary.grants_total, 0) as grants_total,
        coalesce(grant_summary.grant_amount_total, 0) as grant_amount_total,
        grant_summary.granted_policies,
        people.source_systems,
        {{ as_of_date() }} as as_of_date
    from people
    left join ongoing_groups on people.person_key = ongoing_groups.person_key
    left join valid_certificates on people.person_key = valid_certificates.person_key
    left join case_summary on people.person_key = case_summary.person_key
    left join work_order_summary on people.person_key = work_order_summary.person_key
    left join rating_summary on people.person_key = rating_summary.person_key
    left join grant_summary on people.person_key = grant_summary.person_key

)

select * from final
