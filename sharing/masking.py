"""The masked forms of L3/L4 values leaving through the sharing service and 回流: the platform's
one masking rule, groundfloor/masking.py (the same rule the published marts apply through the
dbt macros generated from it), named here by the catalogue's rule names."""

from __future__ import annotations

from groundfloor.masking import mask_identity_number, mask_name, mask_phone

MASKS = {"name": mask_name, "phone": mask_phone, "identity_number": mask_identity_number}


def masked(rule: str, value):
    """`value` masked by the catalogue's rule `rule` (non-text values as their text)."""
    return MASKS[rule](None if value is None else str(value))
