-- One row per rating (stg_evaluation_hcp__ratings) with the region, department and item of
-- the rated case. A rating whose case is not among the cases (unknown, deleted or
-- quarantined) counts under region 'unknown', department 'unknown' (kpis.md).
with

ratings as (

    select * from {{ ref('stg_evaluation_hcp__ratings') }}

),

cases as (

    select
        cases.case_id,
        cases.item_code,
        cases.region_code,
        items.department_code
    from {{ ref('stg_case_platform__cases') }} as cases
    left join {{ ref('stg_case_platform__service_items') }} as items
        on cases.item_code = items.item_code

),

joined as (

    select
        ratings.rating_id,
        ratings.case_id,
        ratings.channel,
        ratings.rated_at,
        ratings.rating_level,
        ratings.rectification_status,
        ratings.rectified_at,
        ratings.is_rectified_before_rated,
        cases.case_id is not null as is_case_known,
        case when cases.case_id is not null then cases.item_code end as item_code,
        coalesce(cases.region_code, 'unknown') as region_code,
        coalesce(cases.department_code, 'unknown') as department
    from ratings
    left join cases on ratings.case_id = cases.case_id

),

final as (

    select
        *,
        case
            when rectified_at is not null
                then {{ wd('rated_at', 'rectified_at') }}
        end as working_days_to_rectify
    from joined

)

select * from final
