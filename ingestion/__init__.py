"""Ingestion: pull the departmental systems into the raw layer of the DuckDB warehouse.

Connectors (``ingestion.connectors``) extract one batch per source table; the landing code
(``ingestion.landing``) checks each batch against the contract, quarantines what cannot be
cast or coded, and lands every new row version with its load metadata, in one transaction per
system together with the watermarks and the load audit.
"""
