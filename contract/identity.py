"""Check characters of resident identity numbers (GB 11643) and USCCs (GB 32100).

python-stdnum is the reference implementation; these helpers give the check character
for a 17-character body (stdnum's functions expect the full number).
"""

from __future__ import annotations

from stdnum.cn import ric, uscc

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def ric_check_char(body17: str) -> str:
    return ric.calc_check_digit(body17 + "0")


def uscc_check_char(body17: str) -> str:
    return uscc.calc_check_digit(body17)


def org_code_check_char(body8: str) -> str:
    """GB 11714 organisation code check character (characters 9-17 of a USCC)."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body8, weights, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))
