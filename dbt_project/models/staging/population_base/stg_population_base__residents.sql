-- One row per resident (rk_jbxx key GMSFHM) of the population in force: the versions of the
-- applied daily snapshots that are still open (_valid_to is null). A missing, miscounted or
-- unconfirmed shrinking snapshot (D15) never reaches raw.rk_jbxx, so the previous one stays
-- in force here. GMSFHM is the authoritative base and is clean: kept as given.
-- Columns renamed from the pinyin codes (see the yml).
with

source as (

    select * from {{ source('population_base', 'rk_jbxx') }}

),

population_in_force as (

    select *
    from source
    where _valid_to is null

),

renamed as (

    select
        GMSFHM as resident_id,
        XM as name,
        XB as sex,
        CSRQ as birth_date_raw,
        {{ try_date_from_yyyymmdd('CSRQ') }} as birth_date,
        HJXZQHDM as hukou_region_code,
        SJHM as mobile_phone,
        SWBZ as death_flag,
        SWRQ as death_date_raw,
        {{ try_date_from_yyyymmdd('SWRQ') }} as death_date,
        _valid_from as valid_from,
        _load_id as load_id,
        _loaded_at as loaded_at
    from population_in_force

),

final as (

    select
        resident_id,
        name,
        sex,
        birth_date_raw,
        birth_date,
        hukou_region_code,
        mobile_phone,
        death_date_raw,
        death_date,
        valid_from,
        load_id,
        loaded_at,
        -- policies.md: "alive" means SWBZ = '0'
        death_flag = '0' as is_alive
    from renamed

)

select * from final
