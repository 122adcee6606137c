-- One row per case (stg_case_platform__cases) with the attributes of its service item
-- (department BLBM, SFGPSX, CNSX, SFXYZZ) from the item's current state. A case whose item
-- is unknown or deleted keeps department 'unknown' and null item attributes: it counts in
-- K1 and K2 and in no KPI that needs an item attribute (kpis.md). Also carries the per-case
-- facts the KPIs need: online channel, certificate reuse, working days to completion.
with

cases as (

    select * from {{ ref('stg_case_platform__cases') }}

),

service_items as (

    select * from {{ ref('stg_case_platform__service_items') }}

),

certificate_uses as (

    select * from {{ ref('stg_certificate_library__certificate_uses') }}

),

reused_certificates as (

    select distinct case_id
    from certificate_uses
    where use_mode = '1'

),

joined as (

    select
        cases.case_id,
        cases.item_code,
        cases.channel,
        coalesce(cases.region_code, 'unknown') as region_code,
        cases.one_thing_instance_id,
        cases.applied_at,
        cases.accepted_at,
        cases.completed_at,
        cases.status,
        cases.result,
        cases.correction_count,
        coalesce(cases.is_prefilled, false) as is_prefilled,
        cases.is_accepted_before_applied,
        cases.is_completed_before_accepted,
        service_items.item_code is not null as is_item_known,
        case
            when service_items.item_code is not null
                then coalesce(service_items.department_code, 'unknown')
            else 'unknown'
        end as department,
        service_items.department_name,
        service_items.item_name,
        service_items.is_high_frequency,
        service_items.committed_limit_workdays,
        service_items.needs_certificate,
        coalesce(cases.channel in ('1', '2'), false) as is_online,
        reused_certificates.case_id is not null as has_certificate_reuse
    from cases
    left join service_items on cases.item_code = service_items.item_code
    left join reused_certificates on cases.case_id = reused_certificates.case_id

),

final as (

    select
        *,
        case
            when accepted_at is not null and completed_at is not null
                then {{ wd('accepted_at', 'completed_at') }}
        end as working_days_to_complete
    from joined

)

select * from final
