-- One row per certificate use (dzzz_yyjl) with the certificate's type and the case's region
-- and department. A use whose case is unknown (D8) is kept, flagged, and counted under region
-- and department 'unknown' (defects.md).
with

uses as (

    select * from {{ ref('stg_certificate_library__certificate_uses') }}

),

certificates as (

    select
        certificate_id,
        certificate_type
    from {{ ref('stg_certificate_library__certificates') }}

),

cases as (

    select
        case_id,
        region_code,
        department
    from {{ ref('int_cases__with_items') }}

),

final as (

    select
        uses.certificate_use_id,
        uses.certificate_id,
        certificates.certificate_type,
        uses.case_id,
        cases.case_id is not null as is_case_known,
        coalesce(cases.region_code, 'unknown') as region_code,
        coalesce(cases.department, 'unknown') as department,
        uses.used_at,
        uses.use_mode
    from uses
    left join certificates on uses.certificate_id = certificates.certificate_id
    left join cases on uses.case_id = cases.case_id

)

select * from final
