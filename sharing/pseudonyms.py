"""The pseudonymous keys of the warehouse, computed for a number in a request.

The marts compute person_key and enterprise_key with the macro keyed_hash of
dbt_project/macros/pseudonyms.sql: the first 32 hex characters of
SHA-256(identity key || '|person|' || normalised number) (`|enterprise|` for a USCC). The
same function here gives the same key, so a request finds the snapshot's row.
"""

from __future__ import annotations

import hashlib


def keyed_hash(identity_key: str, kind: str, normalised: str) -> str:
    return hashlib.sha256(f"{identity_key}|{kind}|{normalised}".encode()).hexdigest()[:32]


def person_key(identity_key: str, normalised_number: str) -> str:
    return keyed_hash(identity_key, "person", normalised_number)


def enterprise_key(identity_key: str, normalised_uscc: str) -> str:
    return keyed_hash(identity_key, "enterprise", normalised_uscc)
