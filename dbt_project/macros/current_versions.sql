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
        select
            *,
            row_number() over (
                partition by {{ key_column }}
                order by {{ change_column }} desc, _loaded_at desc, _row_hash desc
            ) as version_rank
        from {{ source_cte }}
    ) as versions
    left join (
        select row_key, max(change_value) as change_value
        from {{ source('ingestion_meta', 'quarantine') }}
        where table_name = '{{ table_name }}'
        group by row_key
    ) as quarantined on quarantined.row_key = versions.{{ key_column }}
    where
        versions.version_rank = 1
        and (
            quarantined.row_key is null
            or {{ try_cast_timestamp('quarantined.change_value') }} < versions.{{ change_column }}
        )
{% endmacro %}
