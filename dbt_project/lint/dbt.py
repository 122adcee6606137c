"""dbt's cross-database macros as sqlfluff's jinja templater sees them (`.sqlfluff`
library_path): it renders models without dbt, so `{{ dbt.listagg(...) }}` needs a stand-in
that produces SQL of the same shape. Only lint uses this; dbt renders the real macros."""


def listagg(measure, delimiter_text="','", order_by_clause=None, limit_num=None):
    order = f" {order_by_clause}" if order_by_clause else ""
    return f"string_agg({measure}, {delimiter_text}{order})"


def dateadd(datepart, interval, from_date_or_timestamp):
    """dbt-duckdb's dateadd for a day, month or second."""
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"
