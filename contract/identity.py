"""Check characters of resident identity numbers (GB 11643) and USCCs (GB 32100).

python-stdnum is the reference implementation; these helpers give the check character
for a 17-character body (stdnum's functions expect the full number).
"""

from __future__ import annotations

import datetime as dt

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


# --- normalisation and validity (defects D4 and D5), the Python twin of the warehouse's macros
# normalise_identity / is_valid_identity / normalise_uscc / is_valid_uscc in
# dbt_project/macros/identity.sql: a number typed into a request is judged exactly as the
# same number arriving from a source system, so both lead to the same person_key.

_USCC_CHARS = frozenset(USCC_ALPHABET)


def clean_code_text(value: str | None) -> str | None:
    """Whitespace (as str.isspace sees it) removed, full-width ASCII (U+FF01-U+FF5E) mapped to
    ASCII, ASCII letters upper-cased; nothing left is None."""
    if value is None:
        return None
    kept = []
    for char in str(value):
        if char.isspace():
            continue
        if 0xFF01 <= ord(char) <= 0xFF5E:
            char = chr(ord(char) - 0xFEE0)
        if "a" <= char <= "z":
            char = char.upper()
        kept.append(char)
    return "".join(kept) or None


def normalise_identity(value: str | None) -> str | None:
    """The 18-character form where recoverable (15 -> 18: '19' after the region code and the
    check character appended); anything else cleaned but otherwise as given."""
    text = clean_code_text(value)
    if text is not None and len(text) == 15 and text.isascii() and text.isdigit():
        body = text[:6] + "19" + text[6:]
        return body + ric_check_char(body)
    return text


def _birth_date(number: str) -> dt.date | None:
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def is_valid_identity(normalised: str | None, on_date: dt.date) -> bool:
    """17 digits and a digit or X, the check character right, a real birth date from
    1900-01-01 to `on_date`, and a region code of any period (contract/regions.py)."""
    from contract.regions import all_region_codes

    if normalised is None or len(normalised) != 18 or not normalised.isascii():
        return False
    body, check = normalised[:17], normalised[17]
    if not body.isdigit() or not (check.isdigit() or check == "X"):
        return False
    born = _birth_date(normalised)
    return (
        check == ric_check_char(body)
        and born is not None
        and dt.date(1900, 1, 1) <= born <= on_date
        and normalised[:6] in all_region_codes()
    )


def normalise_uscc(value: str | None) -> str | None:
    """A USCC has no older form: cleaning is all of its normalisation."""
    return clean_code_text(value)


def is_valid_uscc(normalised: str | None) -> bool:
    """18 characters of the GB 32100 alphabet, the check character right, characters 3-8 a
    region code of any period."""
    from contract.regions import all_region_codes

    if normalised is None or len(normalised) != 18 or not set(normalised) <= _USCC_CHARS:
        return False
    return (
        normalised[17] == uscc_check_char(normalised[:17]) and normalised[2:8] in all_region_codes()
    )
