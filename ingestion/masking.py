"""Masked forms of personal data for anything a data officer sees (quarantine, alerts)."""

from __future__ import annotations

import re

IDENTITY_COLUMNS = {"SQRZJHM", "CZZTDM", "FDDBRZJHM", "ldrzjhm", "GMSFHM", "DXDM"}
PHONE_COLUMNS = {"LXDH", "SJHM", "ldhm"}
NAME_COLUMNS = {"SQRMC", "XM", "FDDBR", "ldrxm", "CZZTMC"}


def mask_identity(value: str | None) -> str | None:
    """360702********123X: region kept, birth date and sequence hidden."""
    if value is None:
        return None
    text = re.sub(r"\s", "", value)
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def mask_phone(value: str | None) -> str | None:
    if value is None:
        return None
    return value[:3] + "****" + value[7:] if len(value) >= 11 else "*" * len(value)


def mask_name(value: str | None) -> str | None:
    if value is None or len(value) < 2:
        return value
    return value[0] + "*" * (len(value) - 2) + value[-1] if len(value) > 2 else value[0] + "*"


def mask_value(column: str, value):
    if value is None:
        return None
    text = str(value)
    if column in IDENTITY_COLUMNS:
        return mask_identity(text)
    if column in PHONE_COLUMNS:
        return mask_phone(text)
    if column in NAME_COLUMNS:
        return mask_name(text)
    return text
