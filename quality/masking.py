"""Masked sample keys: what a quality result may show of the rows it found.

A sample holds row keys, never values. Most keys are case or certificate numbers, but some
tables are keyed by an identity number (the population base) or could be keyed by a phone, so
every key is masked the same way in SQL (inside DuckDB, before GX sees it, so GX's Data Docs
never hold more) and again in Python before it is written to the operations store.
"""

from __future__ import annotations

import re

FULL_WIDTH = "０１２３４５６７８９Ｘｘ"
HALF_WIDTH = "0123456789Xx"
IDENTITY = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15}")
MOBILE = re.compile(r"1[3-9][0-9]{9}")


def mask_key(value) -> str | None:
    """360702********123X for an identity number, 138****5678 for a mobile number, the key
    unchanged otherwise (a 20-digit case number is not a person's number)."""
    if value is None:
        return None
    text = re.sub(r"\s", "", str(value)).translate(str.maketrans(FULL_WIDTH, HALF_WIDTH))
    if IDENTITY.fullmatch(text):
        return text[:6] + "*" * (len(text) - 10) + text[-4:]
    if MOBILE.fullmatch(text):
        return text[:3] + "****" + text[-4:]
    return str(value)


def mask_key_sql(expression: str) -> str:
    """The same masking as `mask_key`, as a DuckDB expression over `expression`."""
    text = (
        f"translate(regexp_replace(CAST({expression} AS VARCHAR), '\\s', '', 'g'), "
        f"'{FULL_WIDTH}', '{HALF_WIDTH}')"
    )
    return (
        f"CASE WHEN regexp_full_match({text}, '{IDENTITY.pattern}') "
        f"THEN left({text}, 6) || repeat('*', length({text}) - 10) || right({text}, 4) "
        f"WHEN regexp_full_match({text}, '{MOBILE.pattern}') "
        f"THEN left({text}, 3) || '****' || right({text}, 4) "
        f"ELSE CAST({expression} AS VARCHAR) END"
    )
