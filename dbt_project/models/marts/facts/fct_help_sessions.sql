-- One row per 帮办代办 help session with the requester as a person_key (null when the number is
-- invalid or missing), the case it led to (flagged when unknown) and the response-order flag
-- (D6: SCXYSJ < QQSJ).
with

sessions as (

    select * from {{ ref('stg_case_platform__help_sessions') }}

),

cases as (

    select case_id from {{ ref('stg_case_platform__cases') }}

),

final as (

    select
        sessions.help_session_id,
        sessions.help_channel,
        {{ person_key('sessions.requester_id_normalised', 'sessions.is_requester_id_valid') }}
            as person_key,
        sessions.is_requester_id_valid,
        sessions.case_id,
        sessions.case_id is null or cases.case_id is not null as is_case_known,
        sessions.requested_at,
        sessions.first_responded_at,
        sessions.ended_at,
        sessions.is_resolved,
        coalesce(sessions.region_code, 'unknown') as region_code,
        sessions.is_responded_before_requested
    from sessions
    left join cases on sessions.case_id = cases.case_id

)

select * from final
