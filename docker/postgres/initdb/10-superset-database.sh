#!/bin/sh
# Superset's metadata database beside Airflow's (POSTGRES_DB), owned by the same user. The
# postgres image runs this once, when its data volume is initialised.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "CREATE DATABASE \"${SUPERSET_DB}\" OWNER \"${POSTGRES_USER}\""
