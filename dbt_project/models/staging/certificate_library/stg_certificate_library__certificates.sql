-- One row per certificate (dzzz_zzxx key) in its current state: the last version in the
-- spec's version order (GXSJ, then the load, then the row hash), soft deletes and keys whose
-- latest state was quarantined left out. The holder's identity number (111) or USCC (001) is
-- normalised and validated (D4, D5). ZZZT may be stale (D13): the recorded status is kept as
-- it came and the effective status is derived from the validity period as of the load date
-- (or as of the date in the optional var as_of_date, e.g. a run's logical date).
{% set as_of_date = var('as_of_date', none) -%}
with

-- Read again by last_versions, not copied (macros/current_versions.sql).
source as {{ not_materialized() }} (

    select * from {{ source('certificate_library', 'dzzz_zzxx') }}

),

current_state as (

    {{ current_versions('source', 'dzzz_zzxx', 'ZZBH', 'GXSJ') }}

),

renamed as (

    select
        ZZBH as certificate_id,
        ZZLXDM as certificate_type,
        CZZTMC as holder_name,
        CZZTDMLX as holder_id_type,
        CZZTDM as holder_id_raw,
        FZJGMC as issuing_authority,
        FZRQ as issued_on,
        YXQQ as valid_from,
        YXQZ as valid_to,
        ZZZT as recorded_status,
        GXSJ as updated_at,
        SFSC = '1' as is_deleted,
        _load_id as load_id,
        _loaded_at as loaded_at,
        {% if as_of_date -%}
            cast('{{ as_of_date }}' as date) as status_as_of
        {%- else -%}
            cast(_loaded_at as date) as status_as_of
        {%- endif %}
    from current_state

),

identified as (

    select
        *,
        case
            when holder_id_type = '111' then {{ normalise_identity('holder_id_raw') }}
            when holder_id_type = '001' then {{ normalise_uscc('holder_id_raw') }}
        end as holder_id_normalised
    from renamed

),

final as (

    select
        *,
        case
            when holder_id_type = '111'
                then {{ is_valid_identity(
                    'holder_id_normalised', 'cast(loaded_at as date)', region_codes()
                ) }}
            when holder_id_type = '001'
                then {{ is_valid_uscc('holder_id_normalised', region_codes()) }}
        end as is_holder_id_valid,
        -- D13: recorded 有效 although the period ended before the load date
        coalesce(recorded_status = '1' and valid_to < status_as_of, false)
            as is_recorded_valid_but_expired,
        -- valid through YXQZ inclusive, expired from the day after; as of the load date
        case
            when recorded_status = '2' then 'cancelled'
            when recorded_status = '3' or valid_to < status_as_of then 'expired'
            else 'valid'
        end as effective_status
    from identified
    where not is_deleted

)

select * from final
