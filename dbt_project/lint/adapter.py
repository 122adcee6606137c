"""dbt's adapter.dispatch as sqlfluff's jinja templater sees it (`.sqlfluff` library_path):
the macros that dispatch on the adapter resolve to their default__ variant, the DuckDB SQL
the models are linted as. Only lint uses this; dbt dispatches for real (on DuckDB the
default__ macros, on PostgreSQL the postgres__ ones)."""

import jinja2


class _Dispatcher:
    def __init__(self, context, name: str):
        self.context, self.name = context, name

    def __call__(self, *args, **kwargs):
        return self.context[f"default__{self.name}"](*args, **kwargs)


@jinja2.pass_context
def dispatch(context, macro_name, macro_namespace=None):
    return _Dispatcher(context, macro_name)
