-- One row per case step (bj_gcxx) in its current state. The handling opinion (free text, may
-- name people) stays in staging.
with

steps as (

    select * from {{ ref('stg_case_platform__case_steps') }}

),

final as (

    select
        step_id,
        case_id,
        step_code,
        handled_at
    from steps

)

select * from final
