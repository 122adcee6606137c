"""The written-down rules that come before the model (docs/linkage.md, 'Rules').

`exact`: the record's normalised number is valid and a resident holds it.
`rule` (id_near_name): an invalid 18-character number that one slip away (two neighbouring
characters swapped, or one wrong check character) is a resident's number, and the name the
record gives agrees with that resident's (same characters, same pinyin, or the surname with
an honorific of the resident's sex); taken only when exactly one resident qualifies."""

from __future__ import annotations

from contract.identity import ric_check_char
from linkage import names


def near_numbers(number: str) -> set[str]:
    """Valid numbers one slip away from an invalid 18-character `number`."""
    body = number[:17]
    out = {body + ric_check_char(body)} if body.isdigit() else set()
    for k in range(16):
        swapped = body[:k] + body[k + 1] + body[k] + body[k + 2 :]
        if swapped != body and swapped.isdigit():
            out.add(swapped + ric_check_char(swapped))
    out.discard(number)
    return out


def names_agree(given: str | None, resident_name: str) -> bool:
    said, held = names.parse(given), names.parse(resident_name)
    if said.full:
        return said.full == held.full or said.pinyin == held.pinyin
    return False


def honorific_agrees(given: str | None, resident_name: str, resident_sex: str) -> bool:
    said = names.parse(given)
    return (
        said.full is None
        and said.surname == names.parse(resident_name).surname
        and (said.sex == resident_sex)
    )


def id_near_name(number: str | None, name: str | None, residents: dict) -> str | None:
    """The one resident `number` + `name` point to by the rule, or None. `residents`:
    number → (name, sex)."""
    if not number or len(number) != 18 or not name:
        return None
    hits = [
        candidate
        for candidate in near_numbers(number)
        if candidate in residents
        and (
            names_agree(name, residents[candidate][0])
            or honorific_agrees(name, *residents[candidate])
        )
    ]
    return hits[0] if len(hits) == 1 else None
