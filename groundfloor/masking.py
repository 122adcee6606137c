"""The masking rule, written once: what a person sees instead of a name, a number or a phone.

Every form of each rule sits side by side here: the Python function (quarantine, quality
samples, scan findings) and the SQL it is also written in, for DuckDB and for PostgreSQL (the
peer of the build). dbt's macros (dbt_project/macros/masking.sql) are generated from this
module (`python -m groundfloor.masking dbt-macros`) and tests/unit/test_masking.py checks
that every form gives the same output for the same input. docs/masking.md states the rule.

- Identity numbers and USCCs (registration numbers): cleaned (whitespace out, full-width
  digits and letters to ASCII, ASCII letters upper-case); 18 or 15 characters keep the first
  six (the region) and the last four, every other character becomes one `*`; any other length
  is all `*`.
- Phones: cleaned likewise; 11 characters or more keep the first three and the last four;
  shorter ones are all `*`.
- Names: variation selectors dropped and surrounding whitespace trimmed, then counted in
  characters (a rare character outside the BMP is one): 1 -> `*`, 2 -> first and `*`,
  3 and more -> first, one `*` per middle character, last.
- Free text: every identity number (18 or 15 digits) and mobile number (11 digits 1[3-9]...)
  that stands alone (no digit either side) is masked as above; the rest of the text stays.
- Keys of unknown kind (quality samples): masked as an identity number or a phone when the
  cleaned key is one, else left as they are (a 20-digit case number is no person's number).

NULL stays NULL and '' stays ''; the SQL never raises on dirty data.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Literal

from groundfloor.settings import PROJECT

Dialect = Literal["duckdb", "postgres"]

# Whitespace as Python's str.isspace() sees it (the same set the identity macros remove).
WHITESPACE = [(0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680)]
WHITESPACE += [(0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F)]
WHITESPACE += [(0x3000, 0x3000)]
# Variation selectors pick a glyph of the character before them (rare characters in names
# are often spelled so); they are no character of the name and are dropped before counting.
VARIATION_SELECTORS = [(0xFE00, 0xFE0F), (0xE0100, 0xE01EF)]

# Full-width digits and Latin letters (０-９, Ａ-Ｚ, ａ-ｚ) and their ASCII: what a number may be
# typed in. Punctuation is left alone: it never makes a number, and a `?` in the SQL's table
# made GX's query assets return no rows (duckdb-engine's `?` placeholders).
FULL_WIDTH_RANGES = [(0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)]
FULL_WIDTH = "".join(chr(c) for a, b in FULL_WIDTH_RANGES for c in range(a, b + 1))
ASCII_OF_FULL_WIDTH = "".join(chr(ord(c) - 0xFEE0) for c in FULL_WIDTH)
LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = LOWER.upper()

IDENTITY = "[0-9]{17}[0-9X]|[0-9]{15}"  # of a cleaned key
MOBILE = "1[3-9][0-9]{9}"
# In free text: (number pattern, kept groups) with the masked middle, digit-delimited.
TEXT_NUMBERS = [
    ("([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])", "********"),  # identity number, 18
    ("([0-9]{6})[0-9]{5}([0-9]{4})", "*****"),  # identity number, 15
    ("(1[3-9][0-9])[0-9]{4}([0-9]{4})", "****"),  # mobile number
]


# ---- Python -------------------------------------------------------------------------------


def _class(ranges: list[tuple[int, int]], dialect: str) -> str:
    """A regular-expression character class of code point ranges, spelled for `dialect`."""

    def char(code: int) -> str:
        if dialect == "duckdb":
            return f"\\x{{{code:X}}}"  # RE2
        if dialect == "postgres":
            return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"  # Python re

    return "[" + "".join(char(a) + (f"-{char(b)}" if b > a else "") for a, b in ranges) + "]"


_WHITESPACE = re.compile(_class(WHITESPACE, "python"))
_AROUND = re.compile(f"\\A{_class(WHITESPACE, 'python')}+|{_class(WHITESPACE, 'python')}+\\Z")
_SELECTORS = re.compile(_class(VARIATION_SELECTORS, "python"))
_TO_ASCII = str.maketrans(FULL_WIDTH, ASCII_OF_FULL_WIDTH)
_TO_UPPER = str.maketrans(LOWER, UPPER)


def clean_code(value) -> str | None:
    """A number as typed, made comparable: no whitespace, full-width to ASCII, A-Z."""
    if value is None:
        return None
    return _WHITESPACE.sub("", str(value)).translate(_TO_ASCII).translate(_TO_UPPER)


def _registration_shape(code: str) -> str:
    if len(code) in (15, 18):
        return code[:6] + "*" * (len(code) - 10) + code[-4:]
    return "*" * len(code)


def _phone_shape(code: str) -> str:
    return code[:3] + "*" * (len(code) - 7) + code[-4:] if len(code) >= 11 else "*" * len(code)


def mask_identity_number(value) -> str | None:
    """36070219900101123X -> 360702********123X; 360702900101123 -> 360702*****0123."""
    code = clean_code(value)
    return None if code is None else _registration_shape(code)


def mask_uscc(value) -> str | None:
    """91360702MA35ABCD1X -> 913607********CD1X (the identity number's shape)."""
    return mask_identity_number(value)


def mask_phone(value) -> str | None:
    """13812345678 -> 138****5678; 0797-8123456 -> 079*****3456; 8123456 -> *******."""
    code = clean_code(value)
    return None if code is None else _phone_shape(code)


def mask_name(value) -> str | None:
    """张 -> *, 李四 -> 李*, 张小三 -> 张*三, 欧阳小明 -> 欧**明."""
    if value is None:
        return None
    name = _AROUND.sub("", _SELECTORS.sub("", str(value)))
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_text(value) -> str | None:
    """Free text with every stand-alone identity or mobile number in it masked."""
    if value is None:
        return None
    text = str(value)
    for pattern, hidden in TEXT_NUMBERS:
        text = re.sub(f"(?<![0-9]){pattern}(?![0-9])", f"\\1{hidden}\\2", text)
    return text


def mask_key(value) -> str | None:
    """A key of unknown kind: masked if it is an identity or mobile number, else unchanged."""
    if value is None:
        return None
    code = clean_code(value)
    if re.fullmatch(IDENTITY, code):
        return _registration_shape(code)
    if re.fullmatch(MOBILE, code):
        return _phone_shape(code)
    return str(value)


# ---- SQL ----------------------------------------------------------------------------------
# Each function returns one SQL expression over `expression` (a column or any expression,
# evaluated once). A value used several times is bound to a name: in DuckDB by a lambda over a
# one-element list (DuckDB has no LET), in PostgreSQL by a scalar subquery (OFFSET 0 keeps the
# planner from inlining it back into every use).


def _bind(expression: str, name: str, body: str, dialect: Dialect) -> str:
    if dialect == "duckdb":
        return f"list_transform([{expression}], lambda {name}: {body})[1]"
    return f"(select {body} from (select {expression} as {name} offset 0) as {name}_bound)"


def _full_match(expression: str, pattern: str, dialect: Dialect) -> str:
    if dialect == "duckdb":
        return f"regexp_full_match({expression}, '{pattern}')"
    return f"({expression} ~ '^({pattern})$')"


def clean_code_sql(expression: str, dialect: Dialect = "duckdb") -> str:
    """`clean_code` in SQL. DuckDB rebuilds translate()'s table on every row, so the
    full-width table is applied only to the rows holding a full-width character."""
    whitespace = _class(WHITESPACE, dialect)
    spaces = f"regexp_replace(cast({expression} as varchar), '{whitespace}', '', 'g')"
    full, ascii_ = FULL_WIDTH, ASCII_OF_FULL_WIDTH
    if dialect == "duckdb":
        to_ascii = _bind(
            spaces,
            "mask_spaced",
            f"case when regexp_matches(mask_spaced, '{_class(FULL_WIDTH_RANGES, dialect)}') "
            f"then translate(mask_spaced, '{full}', '{ascii_}') else mask_spaced end",
            dialect,
        )
    else:
        to_ascii = f"translate({spaces}, '{full}', '{ascii_}')"
    return f"translate({to_ascii}, '{LOWER}', '{UPPER}')"


def _registration_shape_sql(code: str) -> str:
    return (
        f"case when length({code}) in (15, 18) "
        f"then left({code}, 6) || repeat('*', length({code}) - 10) || right({code}, 4) "
        f"else repeat('*', length({code})) end"
    )


def _phone_shape_sql(code: str) -> str:
    return (
        f"case when length({code}) >= 11 "
        f"then left({code}, 3) || repeat('*', length({code}) - 7) || right({code}, 4) "
        f"else repeat('*', length({code})) end"
    )


def mask_identity_number_sql(expression: str, dialect: Dialect = "duckdb") -> str:
    code = clean_code_sql(expression, dialect)
    return _bind(code, "mask_code", _registration_shape_sql("mask_code"), dialect)


def mask_uscc_sql(expression: str, dialect: Dialect = "duckdb") -> str:
    return mask_identity_number_sql(expression, dialect)


def mask_phone_sql(expression: str, dialect: Dialect = "duckdb") -> str:
    code = clean_code_sql(expression, dialect)
    return _bind(code, "mask_code", _phone_shape_sql("mask_code"), dialect)


def mask_name_sql(expression: str, dialect: Dialect = "duckdb") -> str:
    spaces = _class(WHITESPACE, dialect)
    name = (
        f"regexp_replace(regexp_replace(cast({expression} as varchar), "
        f"'{_class(VARIATION_SELECTORS, dialect)}', '', 'g'), '^{spaces}+|{spaces}+$', '', 'g')"
    )
    body = (
        "case when length(mask_name) <= 1 then repeat('*', length(mask_name)) "
        "when length(mask_name) = 2 then left(mask_name, 1) || '*' "
        "else left(mask_name, 1) || repeat('*', length(mask_name) - 2) || right(mask_name, 1) end"
    )
    return _bind(name, "mask_name", body, dialect)


def mask_text_sql(expression: str, dialect: Dialect = "duckdb") -> str:
    """`mask_text` in SQL. Without look-around (RE2), a number's delimiting characters are
    matched and put back; a delimiter shared by two numbers is consumed by the first, so each
    pattern runs twice (the second pass masks what the first skipped)."""
    text = f"cast({expression} as varchar)"
    for pattern, hidden in TEXT_NUMBERS:
        delimited = f"'(^|[^0-9]){pattern}([^0-9]|$)'"
        for _ in range(2):
            text = f"regexp_replace({text}, {delimited}, '\\1\\2{hidden}\\3\\4', 'g')"
    return text


def mask_key_sql(expression: str, dialect: Dialect = "duckdb") -> str:
    body = (
        f"case when {_full_match('mask_key', IDENTITY, dialect)} "
        f"then {_registration_shape_sql('mask_key')} "
        f"when {_full_match('mask_key', MOBILE, dialect)} then {_phone_shape_sql('mask_key')} "
        f"else cast({expression} as varchar) end"
    )
    return _bind(clean_code_sql(expression, dialect), "mask_key", body, dialect)


# ---- the rules by name, and dbt's macros ---------------------------------------------------

RULES: dict[str, tuple[Callable, Callable[..., str]]] = {
    "mask_identity_number": (mask_identity_number, mask_identity_number_sql),
    "mask_uscc": (mask_uscc, mask_uscc_sql),
    "mask_phone": (mask_phone, mask_phone_sql),
    "mask_name": (mask_name, mask_name_sql),
    "mask_text": (mask_text, mask_text_sql),
    "mask_key": (mask_key, mask_key_sql),
}
DBT_MACROS = PROJECT / "dbt_project" / "macros" / "masking.sql"

# Source columns a data officer may see in quarantine, by what they hold (contract/spec/
# sources.yaml); every other column is treated as free text that may hold a number.
SOURCE_COLUMNS = {
    "SQRZJHM": mask_identity_number,
    "CZZTDM": mask_identity_number,  # an identity number or a USCC: the same shape
    "FDDBRZJHM": mask_identity_number,
    "ldrzjhm": mask_identity_number,
    "GMSFHM": mask_identity_number,
    "DXDM": mask_identity_number,
    "LXDH": mask_phone,
    "SJHM": mask_phone,
    "ldhm": mask_phone,
    "SQRMC": mask_name,
    "XM": mask_name,
    "FDDBR": mask_name,
    "ldrxm": mask_name,
    "CZZTMC": mask_name,
}


def mask_source_value(column: str, value) -> str | None:
    """A source value as quarantine shows it: by its column's kind, else as free text."""
    return SOURCE_COLUMNS.get(column, mask_text)(value)


def dbt_macros() -> str:
    """dbt_project/macros/masking.sql: each rule's SQL for DuckDB and PostgreSQL, dispatched
    on the adapter, with the column as the macro's argument."""
    parts = [
        "{#- Generated by `python -m groundfloor.masking dbt-macros` from groundfloor/masking.py;",
        "    do not edit (tests/unit/test_masking.py fails when this file and the module differ).",
        "    The rule: docs/masking.md. -#}",
    ]
    for name, (_, sql) in RULES.items():
        parts += [
            "",
            f"{{% macro {name}(column) -%}}",
            f"{{{{ adapter.dispatch('{name}')(column) }}}}",
            "{%- endmacro %}",
            "",
            f"{{% macro default__{name}(column) -%}}",
            sql("{{ column }}", "duckdb"),
            "{%- endmacro %}",
            "",
            f"{{% macro postgres__{name}(column) -%}}",
            sql("{{ column }}", "postgres"),
            "{%- endmacro %}",
        ]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    if argv != ["dbt-macros"]:
        print("usage: python -m groundfloor.masking dbt-macros", file=sys.stderr)
        return 2
    DBT_MACROS.write_text(dbt_macros(), encoding="utf-8")
    print(f"wrote {DBT_MACROS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
