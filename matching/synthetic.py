"""A synthetic warehouse for the matching benchmark: the tables of docs/warehouse.md that
matching reads (schema main_marts, documented columns and types), filled in DuckDB with a
deterministic population of any size. Only the columns the policies read carry values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

TABLES = """
create schema if not exists main_marts;
create or replace table main_marts.person_file (
    person_key varchar, identity_number_masked varchar, name_masked varchar, sex varchar,
    birth_date date, age bigint, hukou_region_code varchar, is_alive boolean, death_date date,
    is_resident boolean, special_groups varchar, disability_level bigint,
    valid_certificate_types varchar, valid_certificate_count bigint, cases_total bigint,
    cases_last_12_months bigint, last_case_applied_at timestamp, online_case_share double,
    one_thing_bundles_used bigint, work_orders_total bigint, complaints_total bigint,
    dissatisfied_total bigint, ratings_total bigint, bad_ratings_total bigint,
    grants_total bigint, grant_amount_total decimal(38, 2), granted_policies varchar,
    source_systems varchar, as_of_date date);
create or replace table main_marts.enterprise_file (
    enterprise_key varchar, uscc varchar, entity_name varchar, entity_type varchar,
    registration_status varchar, established_on date, registered_capital_10k_yuan decimal(18, 2),
    industry_code varchar, industry_section varchar, industry_division varchar,
    region_code varchar, legal_representative_name_masked varchar,
    legal_representative_id_masked varchar, is_registered boolean, latest_annual_year bigint,
    insured_employees bigint, insured_net_decrease bigint, revenue_10k_yuan decimal(18, 2),
    rd_expense_10k_yuan decimal(18, 2), total_tax_10k_yuan decimal(18, 2),
    valid_certificate_types varchar, valid_certificate_count bigint, cases_total bigint,
    cases_last_12_months bigint, last_case_applied_at timestamp, grants_total bigint,
    grant_amount_total decimal(38, 2), granted_policies varchar, source_systems varchar,
    as_of_date date);
create or replace table main_marts.person_special_groups (
    special_group_id varchar, person_key varchar, group_type varchar, disability_level bigint,
    started_on date, ended_on date);
create or replace table main_marts.certificate_validity (
    certificate_id varchar, certificate_type varchar, subject_type varchar, person_key varchar,
    enterprise_key varchar, issued_on date, valid_from date, valid_to date,
    recorded_status varchar);
create or replace table main_marts.enterprise_annual_facts (
    enterprise_key varchar, uscc varchar, year bigint, insured_employees bigint,
    insured_net_decrease bigint, revenue_10k_yuan decimal(18, 2),
    rd_expense_10k_yuan decimal(18, 2), total_tax_10k_yuan decimal(18, 2));
create or replace table main_marts.benefit_grants (
    grant_id varchar, policy_code varchar, grant_period varchar, subject_type varchar,
    person_key varchar, enterprise_key varchar, granted_on date, amount_yuan decimal(14, 2));
"""

# u(i, salt): a deterministic uniform number in [0, 1) per row, so that a size gives one city.
MACRO = "create or replace macro u(i, salt) as (hash(i, salt) % 1000000) / 1000000.0;"

PERSONS = """
insert into main_marts.person_file (person_key, identity_number_masked, name_masked,
    birth_date, hukou_region_code, is_alive, is_resident, as_of_date)
select md5('p' || i)[:32], '360702********' || lpad((i % 10000)::varchar, 4, '0'), '张*',
    -- ages roughly as in the city: 97 % under 80 (uniform), 3 % from 80 to 105
    DATE $E - cast(case when u(i, 5) < 0.97 then u(i, 1) * 80 else 80 + u(i, 1) * 25 end
                   * 365.25 as integer),
    case when u(i, 2) < 0.9 then '3607' || lpad(cast(1 + u(i, 3) * 30 as integer)::varchar, 2, '0')
         when u(i, 2) < 0.97 then '360102' end,
    case when u(i, 2) >= 0.97 then null else u(i, 4) > 0.03 end,
    u(i, 2) < 0.97, $E
from range($N) t(i)
"""

GROUPS = """
insert into main_marts.person_special_groups
select 'g' || i || '-' || kind, md5('p' || i)[:32], kind,
    case when kind = 'CJR' and u(i, 11) > 0.05 then 1 + cast(u(i, 12) * 4 as integer) end,
    DATE '2010-01-01' + cast(u(i, 13) * 6000 as integer),
    case when u(i, 14) < 0.2 then DATE '2020-01-01' + cast(u(i, 15) * 2500 as integer) end
from range($N) t(i), (values ('CJR', 0.06), ('DB', 0.04), ('TK', 0.01)) g(kind, share)
where u(i, 10 + length(kind)) < share
"""

CERTIFICATES = """
insert into main_marts.certificate_validity
select 'cj' || special_group_id, 'CJRZ', 'person', person_key, null, started_on, started_on,
    case when u(hash(special_group_id), 21) < 0.1 then DATE $E - 1 end,
    case when u(hash(special_group_id), 22) < 0.05 then '2' else '1' end
from main_marts.person_special_groups
where group_type = 'CJR' and u(hash(special_group_id), 20) < 0.9;
insert into main_marts.certificate_validity
select 'sfz' || i, 'SFZ', 'person', md5('p' || i)[:32], null, DATE '2015-01-01',
    DATE '2015-01-01', DATE '2035-01-01', '1'
from range($N) t(i) where u(i, 23) < 0.5;
"""

ENTERPRISES = """
insert into main_marts.enterprise_file (enterprise_key, uscc, entity_name, entity_type,
    registration_status, region_code, is_registered, as_of_date)
select md5('e' || i)[:32], '91360702' || lpad(i::varchar, 10, '0'), '赣州合成' || i || '有限公司',
    case when u(i, 31) < 0.3 then 'GTGSH' when u(i, 31) < 0.9 then 'YXGS' else 'GFGS' end,
    case when u(i, 32) < 0.9 then '1' else '2' end,
    case when u(i, 33) < 0.95 then '360702' else '360102' end, true, $E
from range($N // 20) t(i);
insert into main_marts.enterprise_annual_facts
select md5('e' || i)[:32], '91360702' || lpad(i::varchar, 10, '0'), year(DATE $E) - back,
    case when u(i, 34 + back) > 0.02 then cast(pow(u(i, 36 + back), 2) * 400 as integer) end,
    case when u(i, 38 + back) > 0.03 then cast(u(i, 40 + back) * u(i, 41) * 30 as integer) end,
    1, 1, 1
from range($N // 20) t(i), (values (1), (2)) b(back);
insert into main_marts.certificate_validity
select 'gx' || i, 'GXJS', 'enterprise', null, md5('e' || i)[:32], issued, issued,
    issued + interval 3 year - interval 1 day, '1'
from (select i, DATE '2023-01-01' + cast(u(i, 43) * 1200 as integer) as issued
      from range($N // 20) t(i) where u(i, 42) < 0.05);
"""

GRANTS = """
insert into main_marts.benefit_grants
select 'f' || i, 'GLJT', strftime(DATE $E, '%Y-%m'), 'person', md5('p' || i)[:32], null,
    DATE $E, 100
from range($N) t(i) where u(i, 50) < 0.01;
"""


def build(path: Path, people: int, on: dt.date) -> Path:
    """Write a synthetic warehouse of `people` persons (and people / 20 enterprises)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as connection:
        connection.execute(TABLES)
        connection.execute(MACRO)
        for statement in (PERSONS, GROUPS, CERTIFICATES, ENTERPRISES, GRANTS):
            sql = statement.replace("$N", str(people)).replace("$E", f"'{on.isoformat()}'")
            connection.execute(sql)
        connection.execute("drop macro u")
    return path
