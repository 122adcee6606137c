-- One row per delivery announcement (jhkz key BM + SJRQ) currently held by the exchange
-- control table: the raw rows still open (_valid_to is null) after the last whole read.
-- Columns renamed from the pinyin codes (see the yml).
with

source as (

    select * from {{ source('population_base', 'jhkz') }}

),

current_rows as (

    select *
    from source
    where _valid_to is null

),

renamed as (

    select
        BM as table_name,
        SJRQ as snapshot_date,
        JLS as announced_row_count,
        WCBZ = '1' as is_complete,
        WCSJ as completed_at,
        _valid_from as valid_from,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_rows

),

final as (

    select * from renamed

)

select * from final
