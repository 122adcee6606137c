"""The operations store: a DuckDB file of its own holding the match ledger and the run records.

It is separate from the warehouse because the warehouse is rebuilt by dbt while the ledger
must persist across builds: it is the memory of who has already been notified.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from groundfloor.warehouse import open_operations_store

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


def open_store(path: Path) -> duckdb.DuckDBPyConnection:
    connection = open_operations_store(path)
    connection.execute(DDL)
    return connection
