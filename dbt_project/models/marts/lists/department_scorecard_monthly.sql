-- 部门考核 scorecard (kpis.md v2): per month and department, over the KPIs that have a
-- department and a weight in the scorecard_weights seed (default K1, K2, K4, K5, K8, K9,
-- equal): score = Σ wₖ · min(1, rateₖ / targetₖ) / Σ wₖ over the KPIs whose denominator
-- for that department and month is ≥ var('scorecard_min_denominator', 30); a KPI below is
-- left out and the weights renormalised. A `lower` KPI scores min(1, target / rate), 1 when
-- the rate is 0. Rates are the city rows of kpi_monthly (sum of numerators over sum of
-- denominators). Department 'unknown' (cases of unknown items) is not scored. Rank 1 =
-- best; ties share a rank; a department with no KPI at ≥ the minimum has no score, no rank.
{%- set min_denominator = var('scorecard_min_denominator', 30) %}

with

kpis as (

    select * from {{ ref('kpi_monthly') }}
    where region_code = 'ALL' and department <> 'unknown'

),

weights as (

    select * from {{ ref('scorecard_weights') }}
    where weight > 0

),

by_department as (

    select
        kpis.month,
        kpis.department,
        kpis.kpi_id,
        max(kpis.target) as target,
        max(kpis.better) as better,
        max(weights.weight) as weight,
        sum(kpis.numerator) as numerator,
        sum(kpis.denominator) as denominator
    from kpis
    inner join weights on kpis.kpi_id = weights.kpi_id
    group by kpis.month, kpis.department, kpis.kpi_id

),

components as (

    select
        *,
        cast(numerator as {{ type_double() }}) / denominator as rate,
        case
            when better = 'lower' and numerator = 0 then 1.0
            when better = 'lower'
                then least(1.0, cast(target as {{ type_double() }}) * denominator / numerator)
            else least(1.0, cast(numerator as {{ type_double() }}) / denominator / target)
        end as component_score
    from by_department
    where denominator >= {{ min_denominator }} and target is not null and target > 0

),

departments as (

    select distinct
        month,
        department
    from by_department

),

scored as (

    select
        departments.month,
        departments.department,
        count(components.kpi_id) as kpis_scored,
        -- rounded: a sum of doubles depends on the order threads add them, and the rank
        -- compares scores (equal ones must stay equal on every run)
        {{ round_double(
            'sum(components.weight * components.component_score) / sum(components.weight)', 12
        ) }} as score
    from departments
    left join components
        on
            departments.month = components.month
            and departments.department = components.department
    group by departments.month, departments.department

),

final as (

    select
        month,
        department,
        kpis_scored,
        score,
        case
            when score is not null
                then rank() over (partition by month order by score desc nulls last)
        end as score_rank
    from scored

)

select * from final
