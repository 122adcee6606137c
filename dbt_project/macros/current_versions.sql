{% macro current_versions(source_cte, table_name, key_column, change_column) %}
{#-
    The current state of every key of a raw table: its last version in the spec's version
    order (the change column, then the load, then the row hash; D2), unless a quarantined
    version of the key is as late or later (D7): then the key's state is unknown and it is
    left out until a valid later version arrives. A quarantined version whose change value
    cannot be read also leaves the key out. Used by the staging models, over their source CTE.
-#}
    select versions.*
    from (
        {{ last_versions(source_cte, key_column,
            change_column ~ ' desc, _loaded_at desc, _row_hash desc') }}
    ) as versions
    left join (
        select row_key, max(change_value) as change_value
        from {{ source('ingestion_meta', 'quarantine') }}
        where table_name = '{{ table_name }}'
        group by row_key
    ) as quarantined on quarantined.row_key = versions.{{ key_column }}
    where
        quarantined.row_key is null
        or {{ try_cast_timestamp('quarantined.change_value') }} < versions.{{ change_column }}
{% endmacro %}


{% macro last_versions(source_cte, key_column, order_by) %}
{#-
    The first row of every key of `source_cte` in the order `order_by`, with version_rank 1:
    what `row_number() over (partition by key order by ...) = 1` gives, ranking only the keys
    that have more than one row. Most keys have one; ranking them all sorted every row with
    every column (tier L's case steps, 150 M rows: 25.7 GB spilled to disk). Rows are counted
    by a narrow hash of the key instead, and a key whose hash is shared (its own versions, or
    another key's by a collision) is ranked; every other row is its key's only row. DuckDB
    copies a CTE that a query reads more than once: a large `source_cte` should be declared
    `not materialized` (scanning the raw table three times costs less than copying it).
-#}
    with shared_hashes as (
        select {{ key_hash(key_column) }} as key_hash
        from {{ source_cte }}
        group by 1
        having count(*) > 1
    ),

    single as (
        select {{ source_cte }}.*, 1 as version_rank
        from {{ source_cte }}
        left join shared_hashes
            on shared_hashes.key_hash = {{ key_hash(key_column) }}
        where shared_hashes.key_hash is null
    ),

    ranked as (
        select
            {{ source_cte }}.*,
            row_number() over (
                partition by {{ key_column }} order by {{ order_by }}
            ) as version_rank
        from {{ source_cte }}
        inner join shared_hashes
            on shared_hashes.key_hash = {{ key_hash(key_column) }}
    )

    select * from single
    union all
    select * from ranked where version_rank = 1
{% endmacro %}
