"""The masked forms of L3/L4 values leaving through the sharing service and 回流.

They follow the published marts' rule, the macros mask_name, mask_phone and
mask_identity_number of dbt_project/macros/pseudonyms.sql, character for character (a
length is counted in characters, so a rare character outside the BMP counts as one), so a
consumer sees the same masked name as a dashboard does.
"""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    """张三 -> 张*, 张小三 -> 张*三, 欧阳小明 -> 欧**明."""
    if name is None:
        return None
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_identity_number(number: str | None) -> str | None:
    """360702199001011234 -> 360702********1234; another length keeps its last four."""
    if number is None:
        return None
    if len(number) == 18:
        return number[:6] + "********" + number[-4:]
    return "*" * max(len(number) - 4, 0) + number[-4:]


def mask_phone(phone: str | None) -> str | None:
    """13812345678 -> 138****5678; shorter than 7 characters -> ****."""
    if phone is None:
        return None
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "****"


MASKS = {"name": mask_name, "phone": mask_phone, "identity_number": mask_identity_number}


def masked(rule: str, value):
    """`value` masked by the catalogue's rule `rule` (non-text values as their text)."""
    return MASKS[rule](None if value is None else str(value))
