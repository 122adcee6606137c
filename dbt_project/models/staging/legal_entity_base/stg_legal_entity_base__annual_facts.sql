-- One row per legal entity and year (fr_ndxx key TYSHXYDM + ND) as last delivered: the raw
-- rows still open (_valid_to is null) after the last whole read, so a re-delivered year's
-- rows have replaced that year's earlier rows. Columns renamed from the pinyin codes (see
-- the yml).
with

source as (

    select * from {{ source('legal_entity_base', 'fr_ndxx') }}

),

current_rows as (

    select *
    from source
    where _valid_to is null

),

renamed as (

    select
        TYSHXYDM as uscc,
        ND as year,
        CBRS as insured_employees,
        YYSR as revenue_10k_yuan,
        YFFY as rd_expense_10k_yuan,
        NSZE as total_tax_10k_yuan,
        CYRS_BD as insured_net_decrease,
        _valid_from as valid_from,
        _load_id as load_id,
        _loaded_at as loaded_at
    from current_rows

),

final as (

    select * from renamed

)

select * from final
