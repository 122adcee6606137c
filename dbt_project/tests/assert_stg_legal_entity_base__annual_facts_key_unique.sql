-- The composite key of stg_legal_entity_base__annual_facts (fr_ndxx key TYSHXYDM + ND: USCC
-- and year) is unique among the current rows: one set of annual facts per entity per year.
-- Returns the duplicated keys (a singular test, since dbt_utils is not available).
select
    uscc,
    year,
    count(*) as row_count
from {{ ref('stg_legal_entity_base__annual_facts') }}
group by uscc, year
having count(*) > 1
