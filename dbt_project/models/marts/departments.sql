-- One row per department code of the service item catalogue (BLBM) with its Chinese name
-- (BLBMMC), so that a dashboard reads 赣州市公安局, not GA. Items of one department may spell
-- its name differently: the name most of its current items give wins (then the first in
-- order), so each code has exactly one name. Codes outside the catalogue (help_desk,
-- hotline, unknown) are named where they are shown.
with

service_items as (

    select * from {{ ref('stg_case_platform__service_items') }}

),

spellings as (

    select
        department_code,
        department_name,
        count(*) as items
    from service_items
    where department_code is not null and department_name is not null
    group by department_code, department_name

),

ranked as (

    -- a window and a filter, not QUALIFY: the build also runs on PostgreSQL
    select
        department_code,
        department_name,
        row_number() over (
            partition by department_code order by items desc, department_name asc
        ) as spelling_rank
    from spellings

),

final as (

    select
        department_code,
        department_name
    from ranked
    where spelling_rank = 1

)

select * from final
