-- One row per 好差评 rating of the delivery in force, with the rated case's region,
-- department and item; a rating of an unknown case (D8) is kept, flagged and counted under
-- 'unknown'. The comment (free text) stays in staging.
with

ratings as (

    select * from {{ ref('int_ratings__with_cases') }}

),

final as (

    select
        rating_id,
        case_id,
        is_case_known,
        region_code,
        department,
        item_code,
        channel,
        rated_at,
        rating_level,
        rating_level in ('1', '2') as is_bad,
        rectification_status,
        rectified_at,
        working_days_to_rectify,
        is_rectified_before_rated
    from ratings

)

select * from final
