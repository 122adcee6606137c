"""The identity-number and USCC macros (dbt_project/macros/identity.sql) against Python.

The macros are plain Jinja returning DuckDB SQL expressions (the four the models call
dispatch on the adapter; a stand-in picks their default__, DuckDB, variant), so they are
rendered here with jinja2 alone and evaluated in an in-memory DuckDB over whole columns.
The oracle is python-stdnum for the check characters, datetime for birth dates, the region
seed for the codes, and a small reference normaliser written below from defects D4 and D5.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from functools import cache
from pathlib import Path

import duckdb
import jinja2
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from contract.regions import all_region_codes
from contract.tools import build_region_seed

ROOT = Path(__file__).resolve().parents[2]
MACROS = (ROOT / "dbt_project" / "macros" / "identity.sql").read_text(encoding="utf-8")
SEED = ROOT / "dbt_project" / "seeds" / "gb2260_codes.csv"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
RETIRED = ["362101", "362102", "362121", "360721", "360727", "360782"]
NOT_CODES = ["000000", "999999", "123456", "360799"]
EARLIEST = dt.date(1900, 1, 1)


# --- rendering ----------------------------------------------------------------------------

# StrictUndefined: a macro that used a dbt-only name (ref, source, ...) fails to render.
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)


class _DuckDBAdapter:
    """adapter.dispatch as dbt resolves it on DuckDB: the default__ macro of the file."""

    def dispatch(self, name: str, macro_namespace: str | None = None):
        return getattr(_ENV.from_string(MACROS).module, f"default__{name}")


_ENV.globals["adapter"] = _DuckDBAdapter()


def render(call: str) -> str:
    return _ENV.from_string(MACROS + "{{ " + call + " }}").render().strip()


def _query(codes: str) -> str:
    return f"""
with raw as (
    select unnest($vals::varchar[]) as v,
           unnest($loads::date[]) as load_date,
           unnest(range(len($vals))) as ord
), normalised as (
    select ord, v, load_date,
           {render("normalise_identity('v')")} as n_id,
           {render("normalise_uscc('v')")} as n_uscc
    from raw
)
select n_id,
       n_uscc,
       {render(f"is_valid_identity('n_id', 'load_date', '{codes}')")} as id_valid,
       {render(f"is_valid_identity('v', 'load_date', '{codes}')")} as raw_id_valid,
       {render("ric_check_char('substr(n_id, 1, 17)')")} as id_check,
       {render(f"is_valid_uscc('n_uscc', '{codes}')")} as uscc_valid,
       {render(f"is_valid_uscc('v', '{codes}')")} as raw_uscc_valid,
       {render("uscc_check_char('substr(n_uscc, 1, 17)')")} as uscc_check
from normalised
order by ord
"""


QUERY = _query("(select code from region_codes)")


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    connection.execute(
        "create table region_codes as select * from read_csv(?, header = true, "
        "columns = {'code': 'varchar', 'name': 'varchar', 'first_year': 'integer', "
        "'last_year': 'integer'})",
        [str(SEED)],
    )
    yield connection
    connection.close()


def evaluate(con, values: list[str | None], load: dt.date | list[dt.date]) -> list[tuple]:
    loads = load if isinstance(load, list) else [load] * len(values)
    return con.execute(QUERY, {"vals": values, "loads": loads}).fetchall()


# --- the Python oracle --------------------------------------------------------------------


@cache
def seed_codes() -> frozenset[str]:
    with SEED.open(encoding="utf-8", newline="") as f:
        return frozenset(row["code"] for row in csv.DictReader(f))


def ref_clean(value: str | None) -> str | None:
    """D4/D5: no whitespace, full-width ASCII to ASCII, ASCII letters upper-case, '' is None."""
    if value is None:
        return None
    out = []
    for ch in value:
        if ch.isspace():
            continue
        if 0xFF01 <= ord(ch) <= 0xFF5E:
            ch = chr(ord(ch) - 0xFEE0)
        if "a" <= ch <= "z":
            ch = ch.upper()
        out.append(ch)
    return "".join(out) or None


def ref_normalise_identity(value: str | None) -> str | None:
    text = ref_clean(value)
    if text is not None and re.fullmatch(r"[0-9]{15}", text):
        body = text[:6] + "19" + text[6:]
        return body + ric.calc_check_digit(body + "0")
    return text


def ref_birth_date(number: str) -> dt.date | None:
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def ref_identity_valid(number: str | None, load: dt.date) -> bool:
    if number is None or not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        return False
    born = ref_birth_date(number)
    return (
        number[17] == ric.calc_check_digit(number)
        and born is not None
        and EARLIEST <= born <= load
        and number[:6] in seed_codes()
    )


def ref_ric_check(number: str | None) -> str | None:
    if number is None or not re.fullmatch(r"[0-9]{17}", number[:17]):
        return None
    return ric.calc_check_digit(number[:17] + "0")


def ref_uscc_valid(number: str | None) -> bool:
    if number is None or len(number) != 18 or any(c not in USCC_ALPHABET for c in number):
        return False
    return number[17] == uscc.calc_check_digit(number[:17]) and number[2:8] in seed_codes()


def ref_uscc_check(number: str | None) -> str | None:
    if number is None or len(number) < 17 or any(c not in USCC_ALPHABET for c in number[:17]):
        return None
    return uscc.calc_check_digit(number[:17])


def expected(value: str | None, load: dt.date) -> tuple:
    n_id = ref_normalise_identity(value)
    n_uscc = ref_clean(value)
    return (
        n_id,
        n_uscc,
        ref_identity_valid(n_id, load),
        ref_identity_valid(value, load),
        ref_ric_check(n_id),
        ref_uscc_valid(n_uscc),
        ref_uscc_valid(value),
        ref_uscc_check(n_uscc),
    )


def stdnum_ric_valid(number: str) -> bool:
    """stdnum.cn.ric.is_valid, which raises KeyError for an unknown county of a known
    province (123456...) instead of saying no."""
    try:
        return ric.is_valid(number)
    except KeyError:
        return False


def stdnum_agrees(value: str | None, got: tuple, load: dt.date) -> list[str]:
    """Cross-checks with stdnum's own validators where its rules and ours coincide."""
    problems = []
    n_id, n_uscc, id_valid, _, _, uscc_valid, _, _ = got
    # stdnum is stricter on the region (in force in the birth year) and has no date range
    stdnum_id_ok = n_id is not None and ric.compact(n_id) == n_id and stdnum_ric_valid(n_id)
    if stdnum_id_ok and EARLIEST <= ric.get_birth_date(n_id) <= load and not id_valid:
        problems.append(f"stdnum.cn.ric accepts {n_id!r}, the SQL does not")
    if id_valid and not stdnum_ric_valid(n_id) and n_id[:6] not in all_region_codes():
        problems.append(f"SQL accepts {n_id!r} whose region code is unknown")
    if n_uscc is not None and uscc.compact(n_uscc) == n_uscc:
        stdnum_ok = uscc.is_valid(n_uscc)
        if stdnum_ok and n_uscc[2:8] in seed_codes() and not uscc_valid:
            problems.append(f"stdnum.cn.uscc accepts {n_uscc!r}, the SQL does not")
        if uscc_valid and n_uscc[:8].isdigit() and not stdnum_ok:
            problems.append(f"SQL accepts {n_uscc!r}, stdnum.cn.uscc does not")
    return problems


def assert_matches_oracle(con, values: list[str | None], load: dt.date) -> None:
    rows = evaluate(con, values, load)
    assert len(rows) == len(values)
    problems = []
    for value, got in zip(values, rows, strict=True):
        want = expected(value, load)
        if got != want:
            problems.append(f"{value!r}: SQL {got} != Python {want}")
        problems.extend(stdnum_agrees(value, got, load))
    assert not problems, "\n".join(problems[:10])


# --- strategies ---------------------------------------------------------------------------

FULL_WIDTH = {chr(c - 0xFEE0): chr(c) for c in range(0xFF01, 0xFF5F)}
SEPARATORS = [" ", "  ", "\u3000", "\t", "\n", "\xa0", "\u2009", "\x0b"]
IMPOSSIBLE_DATES = ["19900230", "19901301", "19000229", "19900000", "20011131", "99999999"]
ODD_CHARS = "AOIxX-_.é中ßﬁ\u200b\ufeff０Ｘｘ"
INTERESTING = "0123456789xX " + "\u3000\t\xa0" + "０１２９Ｘｘ" + "abzIOSVZ" + ODD_CHARS

codes = st.one_of(
    st.sampled_from(sorted(seed_codes())), st.sampled_from(RETIRED), st.sampled_from(NOT_CODES)
)


def birth_dates(load: dt.date) -> st.SearchStrategy[dt.date]:
    edges = [EARLIEST, EARLIEST - dt.timedelta(days=1), load, load + dt.timedelta(days=1)]
    return st.one_of(
        st.dates(EARLIEST, load), st.sampled_from(edges), st.dates(dt.date(1800, 1, 1))
    )


def identity_numbers(load: dt.date) -> st.SearchStrategy[str]:
    """18-character numbers with the right check character (the date may be out of range)."""

    def build(code: str, born: dt.date, seq: int) -> str:
        body = f"{code}{born.year:04d}{born:%m%d}{seq:03d}"
        return body + ric.calc_check_digit(body + "0")

    return st.builds(build, codes, birth_dates(load), st.integers(0, 999))


def old_numbers() -> st.SearchStrategy[str]:
    """The old 15-digit form: people born 1900-1999."""
    return st.builds(
        lambda code, born, seq: f"{code}{born:%y%m%d}{seq:03d}",
        codes,
        st.dates(EARLIEST, dt.date(1999, 12, 31)),
        st.integers(0, 999),
    )


def usccs() -> st.SearchStrategy[str]:
    def build(head: str, code: str, org: str) -> str:
        body = head + code + org
        return body + uscc.calc_check_digit(body)

    pair = st.text(alphabet=USCC_ALPHABET, min_size=2, max_size=2)
    heads = st.one_of(st.sampled_from(["91", "92", "93", "11", "12", "51", "52", "Y1"]), pair)
    org = st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9)
    return st.builds(build, heads, codes, org)


@st.composite
def mutated(draw, base: st.SearchStrategy[str], kinds: list | None = None) -> str:
    """A number as a clerk may have typed it: zero to three defects, overlapping."""
    text = draw(base)
    for kind in draw(st.lists(st.sampled_from(kinds or MUTATIONS), max_size=3)):
        text = kind(draw, text)
    return text


def _position(draw, text: str) -> int:
    return draw(st.integers(0, len(text)))


def _spaces(draw, text: str) -> str:
    for _ in range(draw(st.integers(1, 4))):
        at = _position(draw, text)
        text = text[:at] + draw(st.sampled_from(SEPARATORS)) + text[at:]
    return text


def _full_width(draw, text: str) -> str:
    if draw(st.booleans()):
        return "".join(FULL_WIDTH.get(c, c) for c in text)
    at = draw(st.integers(0, max(len(text) - 1, 0)))
    return text[:at] + "".join(FULL_WIDTH.get(c, c) for c in text[at : at + 3]) + text[at + 3 :]


def _lower(draw, text: str) -> str:
    return text.lower()


def _wrong_check(draw, text: str) -> str:
    return text[:-1] + draw(st.sampled_from("0123456789XY"))


def _bad_date(draw, text: str) -> str:
    date = draw(st.one_of(st.sampled_from(IMPOSSIBLE_DATES), st.from_regex(r"\A[0-9]{8}\Z")))
    return text[:6] + date + text[14:]


def _odd_char(draw, text: str) -> str:
    at = _position(draw, text)
    return text[:at] + draw(st.sampled_from(ODD_CHARS)) + text[at + 1 :]


def _truncate(draw, text: str) -> str:
    return text[: _position(draw, text)]


def _extend(draw, text: str) -> str:
    return text + draw(st.sampled_from(["0", "X", "12", "000", "x"]))


RECOVERABLE = [_spaces, _full_width, _lower]
MUTATIONS = [*RECOVERABLE, _wrong_check, _bad_date, _odd_char, _truncate, _extend]


def random_strings() -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.none(),
        st.just(""),
        st.sampled_from(SEPARATORS),
        st.text(alphabet=INTERESTING, max_size=24),
        st.from_regex(r"\A[0-9]{14,19}[xX]?\Z"),
        st.text(max_size=12),  # any Unicode
        st.builds(
            lambda s, k: s * k, st.text(alphabet=INTERESTING, max_size=6), st.integers(20, 400)
        ),
    )


def identity_like(load: dt.date) -> st.SearchStrategy[str | None]:
    return st.one_of(
        identity_numbers(load),
        mutated(identity_numbers(load)),
        mutated(identity_numbers(load), RECOVERABLE),
        old_numbers(),
        mutated(old_numbers()),
        random_strings(),
    )


def uscc_like() -> st.SearchStrategy[str | None]:
    return st.one_of(usccs(), mutated(usccs()), mutated(usccs(), RECOVERABLE), random_strings())


load_dates = st.one_of(
    st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)),
    st.sampled_from([dt.date(2025, 6, 30), dt.date(2024, 2, 29), dt.date(2026, 1, 1)]),
)

# No shrinking: a batch of 200+ strings shrinks for minutes (each step is a DuckDB query),
# and the assertion already names the failing strings one by one.
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


# --- properties ---------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), load=load_dates)
def test_identity_like_strings_agree_with_the_python_oracle(con, data, load):
    values = data.draw(st.lists(identity_like(load), min_size=200, max_size=260))
    assert_matches_oracle(con, values, load)


@PROPERTY
@given(data=st.data(), load=load_dates)
def test_uscc_like_strings_agree_with_the_python_oracle(con, data, load):
    values = data.draw(st.lists(uscc_like(), min_size=200, max_size=260))
    assert_matches_oracle(con, values, load)


@PROPERTY
@given(bodies=st.lists(st.integers(0, 10**17 - 1).map("{:017d}".format), min_size=200))
def test_every_17_digit_body_gets_stdnums_check_character(con, bodies):
    check = render("ric_check_char('b')")
    rows = con.execute(f"select {check} from unnest($b::varchar[]) as t(b)", {"b": bodies})
    rows = rows.fetchall()
    assert [r[0] for r in rows] == [ric.calc_check_digit(b + "0") for b in bodies]


# --- exhaustive character tables ----------------------------------------------------------


def test_whitespace_is_what_python_calls_whitespace(con):
    """Every code point: the SQL removes exactly the characters of str.isspace()."""
    cleaned = render("normalise_uscc(\"chr(cast(i as integer)) || 'A'\")")
    removed = con.execute(
        f"""select list(i order by i)
        from (select * from range(0, 55296) union all select * from range(57344, 1114112))
            as t(i)  -- every code point but the surrogates, which chr() refuses
        where {cleaned} = 'A'"""
    ).fetchone()[0]
    expected_removed = [i for i in range(0x110000) if chr(i).isspace()]
    assert removed == expected_removed


def test_full_width_ascii_maps_to_ascii_and_nothing_else_moves(con):
    chars = [chr(c) for c in range(0xFF00, 0xFF61)]
    rows = evaluate(con, chars, dt.date(2025, 6, 30))
    assert [r[1] for r in rows] == [ref_clean(c) for c in chars]
    assert rows[0x10][1] == "0" and rows[0x58][1] == "X"  # ０ and ｘ


# --- explicit examples --------------------------------------------------------------------

LOAD = dt.date(2025, 6, 30)


@pytest.mark.parametrize(
    ("raw", "normalised", "valid"),
    [
        ("360721199001011231", "360721199001011231", True),
        # retired 赣县 code (1998-2016) on a 1990 birth: stdnum.cn.ric rejects it, we do not
        (" 360721 1990 0101 1231\u3000", "360721199001011231", True),
        ("３６０７２１１９９００１０１１２３１", "360721199001011231", True),
        ("36210119800229018x", "36210119800229018X", True),  # lower-case x
        ("36210119800229018ｘ", "36210119800229018X", True),
        ("360721900101123", "360721199001011231", True),  # 15 -> 18
        ("３６０７２１ ９００１０１１２３", "360721199001011231", True),
        ("360721199001011230", "360721199001011230", False),  # wrong check character
        ("362101199002301234", "362101199002301234", False),  # 30 February
        ("360721199013011234", "360721199013011234", False),  # month 13
        ("999999199001011231", "999999199001011231", False),  # no such region
        ("3607211990010112", "3607211990010112", False),  # 16 digits: not recoverable
        ("360721 1990 0101 123A", "36072119900101123A", False),
        ("", None, False),
        ("\u3000 \t", None, False),
        (None, None, False),
    ],
)
def test_identity_examples(con, raw, normalised, valid):
    n_id, _, id_valid, *_ = evaluate(con, [raw], LOAD)[0]
    assert (n_id, id_valid) == (normalised, valid)


def test_birth_date_range_is_1900_to_the_load_day(con):
    def number(born: dt.date) -> str:
        body = f"360702{born:%Y%m%d}001"
        return body + ric.calc_check_digit(body + "0")

    days = [
        dt.date(1899, 12, 31),
        EARLIEST,
        dt.date(2000, 2, 29),
        LOAD,
        LOAD + dt.timedelta(days=1),
    ]
    rows = evaluate(con, [number(d) for d in days], LOAD)
    assert [r[2] for r in rows] == [False, True, True, True, False]
    # the load day comes from each row
    rows = evaluate(con, [number(LOAD)] * 2, [LOAD, LOAD - dt.timedelta(days=1)])
    assert [r[2] for r in rows] == [True, False]


@pytest.mark.parametrize(
    ("raw", "normalised", "valid"),
    [
        ("91110000600037341L", "91110000600037341L", True),
        ("9111 0000 6000 3734 1l", "91110000600037341L", True),
        ("９１１１００００６０００３７３４１Ｌ", "91110000600037341L", True),
        ("91360700ma35f1234d", "91360700MA35F1234D", True),
        ("Y1360721MA35F12345", "Y1360721MA35F12345", True),  # letters in 1-2: stdnum says no
        ("91110000600037341M", "91110000600037341M", False),  # wrong check character
        ("91999999600037341L", "91999999600037341L", False),  # no such region
        ("91110000600037341", "91110000600037341", False),  # 17 characters
        ("9111000060003734IL", "9111000060003734IL", False),  # I is not in the alphabet
        ("", None, False),
        (None, None, False),
    ],
)
def test_uscc_examples(con, raw, normalised, valid):
    _, n_uscc, _, _, _, uscc_valid, *_ = evaluate(con, [raw], LOAD)[0]
    assert (n_uscc, uscc_valid) == (normalised, valid)


@pytest.mark.parametrize("letter", list("IOSVZ"))
def test_letters_outside_the_uscc_alphabet_are_never_valid(con, letter):
    body = "91360700MA35F1234"
    values = [body[:i] + letter + body[i + 1 :] + "0" for i in range(17)]
    values += [body + letter]
    assert not any(r[5] for r in evaluate(con, values, LOAD))


def test_region_codes_may_be_a_bare_relation_with_integer_codes(con):
    """A seed whose code column was inferred as a number, passed as a relation, still works."""
    con.execute(
        "create or replace table region_codes_auto as select * from read_csv(?, header = true)",
        [str(SEED)],
    )
    assert con.execute(
        "select data_type from information_schema.columns "
        "where table_name = 'region_codes_auto' and column_name = 'code'"
    ).fetchone()[0] in {"BIGINT", "INTEGER"}
    values = ["360721199001011231", "362101198002290181", "999999199001011231"]
    values += ["91110000600037341L", "Y1360721MA35F12345"]
    query = _query("region_codes_auto")
    rows = con.execute(query, {"vals": values, "loads": [LOAD] * len(values)}).fetchall()
    assert rows == evaluate(con, values, LOAD)


def test_null_and_empty_stay_null(con):
    assert [r[:2] for r in evaluate(con, [None, "", " "], LOAD)] == [(None, None)] * 3


# --- the region seed ----------------------------------------------------------------------


def test_the_seed_is_every_code_of_any_period_and_up_to_date():
    with SEED.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["code", "name", "first_year", "last_year"]
    assert rows[1:] == [
        [code, name, "" if a is None else str(a), "" if b is None else str(b)]
        for code, name, a, b in build_region_seed.rows()
    ]
    assert seed_codes() == all_region_codes()
    assert len(seed_codes()) == len(rows) - 1
    by_code = {row[0]: row for row in rows[1:]}
    assert by_code["362101"][2:] == ["", "1998"]  # 赣州地区's 赣州市, retired
    assert by_code["360721"][2:] == ["1998", "2016"]
    assert by_code["120110"][1:] == ["东丽区", "", ""]  # two periods, widest span
