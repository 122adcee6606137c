-- The composite key of stg_population_base__deliveries (jhkz key BM + SJRQ: table name and
-- snapshot date) is unique among the current rows: one announcement per table per day.
-- Returns the duplicated keys (a singular test, since dbt_utils is not available).
select
    table_name,
    snapshot_date,
    count(*) as row_count
from {{ ref('stg_population_base__deliveries') }}
group by table_name, snapshot_date
having count(*) > 1
