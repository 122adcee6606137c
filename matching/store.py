"""The operations store: a DuckDB file of its own holding the match ledger and the run records.

It is separate from the warehouse because the warehouse is rebuilt by dbt while the ledger
must persist across builds: it is the memory of who has already been notified.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from groundfloor.warehouse import open_operations_store, writer_lock

# The name under which a matching step sees the warehouse from the operations store.
WAREHOUSE_ALIAS = "wh"

DDL = """
create table if not exists matching_runs (
    run_id varchar primary key,
    evaluation_date date not null,
    warehouse_snapshot_id varchar not null,
    started_at timestamp not null,
    finished_at timestamp
);
create table if not exists policy_versions (
    policy_code varchar not null,
    policy_version varchar not null,
    file_name varchar not null,
    content varchar not null,
    first_run_id varchar not null,
    first_seen_at timestamp not null,
    primary key (policy_code, policy_version)
);
create table if not exists match_ledger (
    policy_code varchar not null,
    subject_type varchar not null,
    subject_key varchar not null,
    period varchar not null,
    policy_version varchar not null,
    amount_yuan decimal(14, 2) not null,
    explanation_json json not null,
    explanation_zh varchar not null,
    evaluation_date date not null,
    warehouse_snapshot_id varchar not null,
    run_id varchar not null,
    recorded_at timestamp not null,
    status varchar,
    decided_by varchar,
    decided_at timestamp,
    decided_via varchar,
    decision_reason varchar,
    revoked_by varchar,
    revoked_at timestamp,
    revoke_reason varchar,
    display_name varchar,
    display_id varchar,
    pushed_at timestamp,
    push_file varchar,
    primary key (policy_code, subject_key, period)
);
create table if not exists near_misses (
    run_id varchar not null,
    policy_code varchar not null,
    period varchar not null,
    subject_key varchar not null,
    missing_fields varchar[] not null,
    evaluation_date date not null
);
-- The Chinese label of every field a near miss names (dashboards show it, not the name).
create table if not exists field_labels (
    field varchar primary key,
    label_zh varchar not null
);
create table if not exists run_policies (
    run_id varchar not null,
    policy_code varchar not null,
    policy_version varchar,
    period varchar,
    outcome varchar not null,   -- evaluated | not_in_force | refused
    matches bigint,
    new_matches bigint,
    already_granted bigint,
    near_misses bigint,
    new_amount_yuan decimal(18, 2),
    message varchar
);
"""


# v2 (policies.md, "the policy officer's work around the ledger"): a ledger row is pending until
# an officer approves or rejects it, may later be revoked, and is pushed once. The masked
# identity is kept with the row so push lists can be written at approval, without the warehouse.
LEDGER_V2_COLUMNS = {
    "status": "varchar",  # pending | approved | rejected | revoked
    "decided_by": "varchar",
    "decided_at": "timestamp",
    "decided_via": "varchar",  # cli | airflow
    "decision_reason": "varchar",
    "revoked_by": "varchar",
    "revoked_at": "timestamp",
    "revoke_reason": "varchar",
    "display_name": "varchar",
    "display_id": "varchar",
    "pushed_at": "timestamp",
    "push_file": "varchar",
}

DECISIONS_DDL = """
create table if not exists ledger_decisions (
    policy_code varchar not null,
    subject_key varchar not null,
    period varchar not null,
    action varchar not null,      -- approve | reject | revoke
    decided_by varchar not null,
    decided_at timestamp not null,
    decided_via varchar not null,
    reason varchar
);
"""

# Rows recorded before approval existed were pushed when recorded: they count as approved.
V1_APPROVER = "（v1：记录即推送，无审批）"


def open_store(path: Path) -> duckdb.DuckDBPyConnection:
    connection = open_operations_store(path)
    connection.execute(DDL)
    connection.execute(DECISIONS_DDL)
    upgrade_ledger(connection)
    return connection


def upgrade_ledger(connection: duckdb.DuckDBPyConnection) -> None:
    """Add the v2 columns to a ledger created before them; its rows were already pushed."""
    present = {
        name
        for (name,) in connection.execute(
            "select column_name from information_schema.columns where table_name = 'match_ledger'"
        ).fetchall()
    }
    missing = {name: kind for name, kind in LEDGER_V2_COLUMNS.items() if name not in present}
    for name, kind in missing.items():
        connection.execute(f"alter table match_ledger add column {name} {kind}")
    if "status" in missing:
        connection.execute(
            "update match_ledger set status = 'approved', decided_by = ?, decided_via = 'v1',"
            " decided_at = recorded_at, pushed_at = recorded_at",
            [V1_APPROVER],
        )


@contextmanager
def store_beside_warehouse(
    warehouse: Path, operations: Path, purpose: str
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The operations store with the warehouse attached read-only as WAREHOUSE_ALIAS, under the
    warehouse's writer lock (`purpose` names the holder): the one way a matching step reads the
    warehouse and writes its own records."""
    with writer_lock(warehouse, purpose):
        store = open_store(operations)
        try:
            quoted = "'" + str(warehouse.resolve()).replace("'", "''") + "'"
            store.execute(f"attach {quoted} as {WAREHOUSE_ALIAS} (read_only)")
            yield store
        finally:
            store.close()


def replace_evaluation(store: duckdb.DuckDBPyConnection, table: str, on, values: list) -> None:
    """Replace `table`'s rows of evaluation date `on` with `values` in one transaction, so that
    a re-run for the same date leaves one record of it."""
    store.begin()
    store.execute(f"delete from {table} where evaluation_date = ?", [on])
    if values:  # duckdb refuses an executemany without rows
        marks = ", ".join("?" * len(values[0]))
        store.executemany(f"insert into {table} values ({marks})", values)
    store.commit()
