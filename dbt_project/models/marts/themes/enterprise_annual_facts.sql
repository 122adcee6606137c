-- Dated detail of the 一企一档: one row per enterprise and year of fr_ndxx (the delivery in
-- force), for rules on "the annual facts of year(E) − n".
with

facts as (

    select * from {{ ref('stg_legal_entity_base__annual_facts') }}

),

final as (

    select
        {{ enterprise_key('uscc') }} as enterprise_key,
        uscc,
        year,
        insured_employees,
        insured_net_decrease,
        revenue_10k_yuan,
        rd_expense_10k_yuan,
        total_tax_10k_yuan
    from facts

)

select * from final
