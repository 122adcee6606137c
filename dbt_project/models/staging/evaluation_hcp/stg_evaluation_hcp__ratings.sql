-- One row per rating (hcp_pj key PJBH) from the delivery in force of its month: of the files
-- recorded for a month in meta.files, the one that arrived last (kpis.md, "Ratings delivered
-- as files"); a re-delivered month's rows replace the earlier file's rows exactly (D10).
-- Copies of one row pushed twice (D1) become one. Columns renamed from the pinyin codes
-- (see the yml).
with

source as (

    select * from {{ source('evaluation_hcp', 'hcp_pj') }}

),

files as (

    select * from {{ source('ingestion_meta', 'files') }}
    where system = 'evaluation_hcp'

),

deliveries_in_force as (

    select
        {{ first_row_distinct('month') }}
        file_name,
        month,
        sha256,
        arrival,
        file_name || '@' || sha256 as delivery_source
    from files
    {{ first_row_qualify('month', 'arrival desc, recorded_at desc, file_name desc') }}

),

rows_in_force as (

    select
        source.*,
        deliveries_in_force.file_name,
        deliveries_in_force.sha256,
        deliveries_in_force.month as delivery_month,
        deliveries_in_force.arrival as delivery_arrived_at
    from source
    inner join deliveries_in_force
        on source._source = deliveries_in_force.delivery_source

),

de_duplicated as (

    -- D1: identical copies of a row (the landing keeps one per file already; this holds
    -- when they differ only in bookkeeping). Different rows with one PJBH are left for the
    -- unique test to catch.
    select {{ first_row_distinct('PJBH, SBLSH, PJQD, PJSJ, PJDJ, PJNR, ZGZT, ZGWCSJ') }} *
    from rows_in_force
    {{ first_row_qualify(
        'PJBH, SBLSH, PJQD, PJSJ, PJDJ, PJNR, ZGZT, ZGWCSJ', '_loaded_at desc, _row_hash desc'
    ) }}

),

renamed as (

    select
        PJBH as rating_id,
        SBLSH as case_id,
        PJQD as channel,
        PJSJ as rated_at,
        PJDJ as rating_level,
        PJNR as comment,
        ZGZT as rectification_status,
        ZGWCSJ as rectified_at,
        file_name as source_file,
        sha256 as source_sha256,
        delivery_month,
        delivery_arrived_at,
        _load_id as load_id,
        _loaded_at as loaded_at
    from de_duplicated

),

final as (

    select
        *,
        -- D6: kept, flagged, left out of the KPIs that use the interval
        coalesce(rectified_at < rated_at, false) as is_rectified_before_rated
    from renamed

)

select * from final
