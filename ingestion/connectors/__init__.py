"""Connectors: one per departmental system, each yielding a Batch per source table."""
