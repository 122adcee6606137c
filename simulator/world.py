"""The city's people and market entities, generated once per (seed, size) in compact arrays.

Everything else (cases, certificates, tickets, grants) is drawn against these arrays, so
any day or any person can be regenerated alone. Arrays hold numbers, not strings, to keep
a ten-million-person city within a few hundred MB; strings are formatted when written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from contract.identity import org_code_check_char, uscc_check_char
from contract.regions import current_city_districts
from simulator.catalogue import GIVEN_CHARS, RARE_CHARS, SURNAMES
from simulator.config import CityConfig

DISTRICTS = [r.code for r in current_city_districts()]
DISTRICT_NAMES = {r.code: r.name for r in current_city_districts()}
# Relative populations of the districts (章贡, 南康, 赣县, 信丰, ... 龙南), roughly real.
DISTRICT_WEIGHTS = np.array([7, 9, 6, 7, 3, 3, 2, 4, 2, 2, 8, 11, 8, 5, 3, 3, 7, 3], float)
# Where people registered before today's codes existed: (until year, code) per district.
PREDECESSORS = {
    "360702": [(1997, "362101")],
    "360703": [(1994, "362122"), (1997, "362103"), (2012, "360782")],
    "360704": [(1997, "362121"), (2015, "360721")],
    "360722": [(1997, "362123")],
    "360723": [(1997, "362124")],
    "360724": [(1997, "362125")],
    "360725": [(1997, "362126")],
    "360726": [(1997, "362127")],
    "360728": [(1997, "362129")],
    "360729": [(1997, "362130")],
    "360730": [(1997, "362131")],
    "360731": [(1997, "362132")],
    "360732": [(1997, "362133")],
    "360733": [(1997, "362135")],
    "360734": [(1997, "362136")],
    "360735": [(1997, "362137")],
    "360781": [(1993, "362134"), (1997, "362102")],
    "360783": [(1997, "362128"), (2019, "360727")],
}
# Identity numbers issued elsewhere (people who moved in): 南昌, 萍乡, 深圳, 广州 districts.
ELSEWHERE = ["360102", "360302", "440303", "440106"]
# Hukou codes outside the city for people who moved away.
OUTSIDE_HUKOU = ["360102", "361002", "440304", "350203"]

AGE_BANDS = [
    (-1, 0, 1.1),
    (0, 15, 1.4),
    (15, 60, 1.35),
    (60, 70, 1.1),
    (70, 80, 0.65),
    (80, 90, 0.25),
    (90, 100, 0.05),
    (100, 105, 0.003),
]
EPOCH = dt.date(1970, 1, 1).toordinal()


def np_stream(seed: int, *labels: object) -> np.random.Generator:
    text = "\x1f".join([str(seed), *map(str, labels)])
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def day_of(ordinal: int) -> dt.date:
    return dt.date.fromordinal(int(ordinal))


# GB 11643: the check character is ISO 7064 MOD 11-2 over the 17 digits, with these weights.
RIC_WEIGHTS = np.array([pow(2, 17 - k, 11) for k in range(17)], dtype=np.int64)


def id_numbers(region: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Everyone's 18-character identity number (bytes), computed for whole arrays at once:
    region (6 digits), birth date (YYYYMMDD), order code (3 digits), check character."""
    days = (np.asarray(birth, dtype=np.int64) - EPOCH).astype("datetime64[D]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    date = year * 10_000 + month * 100 + day
    body = (np.asarray(region, dtype=np.int64) * 10**8 + date) * 1000 + np.asarray(seq, np.int64)
    digits = (body[:, None] // 10 ** np.arange(16, -1, -1, dtype=np.int64)) % 10
    check = (12 - (digits * RIC_WEIGHTS).sum(axis=1) % 11) % 11
    text = np.char.zfill(body.astype(bytes), 17)
    return np.char.add(text, np.array(list("0123456789X"), dtype="S1")[check])


@dataclass
class People:
    birth: np.ndarray  # date ordinal
    sex: np.ndarray  # 1 male, 2 female
    district: np.ndarray  # index into DISTRICTS (hukou before any move)
    id_region: np.ndarray  # int code the number was issued under
    seq: np.ndarray  # 3-digit order code (parity = sex)
    surname: np.ndarray
    given1: np.ndarray
    given2: np.ndarray  # -1: one-character given name
    rare: np.ndarray  # -1 or index of a non-GBK character in the given name (D14)
    phone: np.ndarray  # 0: none
    death: np.ndarray  # 0: alive through the world's end
    move_date: np.ndarray  # 0: never moves hukou
    move_to: np.ndarray  # region code moved to
    _id_numbers: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.birth)

    def id_number(self, i: int) -> str:
        if self._id_numbers is None:  # once for everyone: a city asks tens of millions of times
            self._id_numbers = id_numbers(self.id_region, self.birth, self.seq)
        return self._id_numbers[i].decode()

    def name(self, i: int) -> str:
        given = GIVEN_CHARS[self.given1[i]]
        if self.rare[i] >= 0:
            given = RARE_CHARS[self.rare[i]]
        if self.given2[i] >= 0:
            given += GIVEN_CHARS[self.given2[i]]
        return SURNAMES[self.surname[i]] + given

    def phone_text(self, i: int) -> str | None:
        return str(self.phone[i]) if self.phone[i] else None

    def hukou(self, i: int, on: dt.date) -> str:
        if self.move_date[i] and on.toordinal() >= self.move_date[i]:
            return str(self.move_to[i])
        return DISTRICTS[self.district[i]]

    def alive(self, i: int, on: dt.date) -> bool:
        return not self.death[i] or on.toordinal() < self.death[i]

    def age(self, i: int, on: dt.date) -> int:
        born = day_of(self.birth[i])
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _sample_ages(rng: np.random.Generator, n: int) -> np.ndarray:
    widths = np.array([b - a for a, b, _ in AGE_BANDS], float)
    weights = np.array([w for *_, w in AGE_BANDS]) * widths
    band = rng.choice(len(AGE_BANDS), size=n, p=weights / weights.sum())
    lows = np.array([a for a, _, _ in AGE_BANDS], float)[band]
    return lows + rng.random(n) * widths[band]


def _issuing_regions(rng, birth_years, district) -> np.ndarray:
    """The code each number was issued under: registration happens at birth or, for those
    born before the 1985 ID card law, in 1985; the code in force then is kept for life."""
    reg_year = np.maximum(birth_years, 1985)
    codes = np.array([int(DISTRICTS[d]) for d in district], dtype=np.int64)
    for d_idx, code in enumerate(DISTRICTS):
        in_d = district == d_idx
        # Walk the predecessors from the latest back so the earliest matching wins.
        for until, old in reversed(PREDECESSORS.get(code, [])):
            codes[in_d & (reg_year <= until)] = int(old)
    moved_in = rng.random(len(codes)) < 0.06
    codes[moved_in] = rng.choice([int(c) for c in ELSEWHERE], size=int(moved_in.sum()))
    return codes


def _assign_sequences(rng, id_region, birth, sex) -> np.ndarray:
    """Order codes unique per (region, birth date, sex), odd for men and even for women."""
    order = np.lexsort((sex, birth, id_region))
    keys = np.stack([id_region[order], birth[order], sex[order]], axis=1)
    new_group = np.ones(len(order), bool)
    new_group[1:] = np.any(keys[1:] != keys[:-1], axis=1)
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - group_start
    offset = rng.integers(0, 500, len(order))[group_start]
    slot = (offset + rank * 37) % 500
    seq = np.empty(len(order), np.int16)
    seq[order] = slot * 2 + (sex[order] == 1)
    return seq


def make_people(config: CityConfig) -> People:
    rng = np_stream(config.seed, "people", config.people)
    n = config.people
    clock = config.end.toordinal()
    ages = _sample_ages(rng, n)
    birth = (clock - np.round(ages * 365.2425)).astype(np.int64)
    birth_years = np.array([day_of(b).year for b in birth])
    sex = rng.integers(1, 3, n).astype(np.int8)
    district = rng.choice(len(DISTRICTS), size=n, p=DISTRICT_WEIGHTS / DISTRICT_WEIGHTS.sum())
    id_region = _issuing_regions(rng, birth_years, district)
    seq = _assign_sequences(rng, id_region, birth, sex)
    rare = np.where(rng.random(n) < config.rate("D14"), rng.integers(0, len(RARE_CHARS), n), -1)
    phone_prefix = rng.choice(
        [130, 133, 135, 136, 138, 139, 150, 152, 158, 177, 180, 186, 189, 199], n
    )
    phone = phone_prefix * 10**8 + rng.integers(0, 10**8, n)
    phone[(rng.random(n) < 0.08) | (ages < 10)] = 0
    return People(
        birth=birth,
        sex=sex,
        district=district.astype(np.int8),
        id_region=id_region,
        seq=seq,
        surname=rng.integers(0, len(SURNAMES), n).astype(np.int16),
        given1=rng.integers(0, len(GIVEN_CHARS), n).astype(np.int16),
        given2=np.where(rng.random(n) < 0.7, rng.integers(0, len(GIVEN_CHARS), n), -1).astype(
            np.int16
        ),
        rare=rare.astype(np.int8),
        phone=phone,
        death=_deaths(rng, ages, birth, config),
        **_moves(rng, n, config),
    )


def _deaths(rng, ages, birth, config) -> np.ndarray:
    yearly = np.select(
        [ages < 50, ages < 65, ages < 80, ages < 90], [0.001, 0.006, 0.025, 0.07], 0.16
    )
    lo = config.start.toordinal() - 730
    hi = config.world_end.toordinal()
    dies = rng.random(len(ages)) < yearly * (hi - lo) / 365.25
    when = np.maximum(lo + (rng.random(len(ages)) * (hi - lo)).astype(np.int64), birth + 1)
    return np.where(dies, when, 0)


def _moves(rng, n, config) -> dict[str, np.ndarray]:
    lo = config.start.toordinal() - 3650
    hi = config.world_end.toordinal()
    moves = rng.random(n) < 0.02
    early = rng.random(n) < 0.75  # most moved away before the data starts
    date = np.where(
        early,
        lo + rng.integers(0, 3000, n),
        config.start.toordinal() + rng.integers(0, hi - config.start.toordinal(), n),
    )
    inside = rng.random(n) < 0.4  # moved to another district of the city
    target = np.where(
        inside,
        rng.choice([int(c) for c in DISTRICTS], n),
        rng.choice([int(c) for c in OUTSIDE_HUKOU], n),
    )
    return {"move_date": np.where(moves, date, 0), "move_to": np.where(moves, target, 0)}


ENTITY_TYPES = ["GTGSH", "YXGS", "GFGS", "NMHZS", "QT"]
ENTITY_TYPE_P = [0.64, 0.30, 0.01, 0.04, 0.01]
INDUSTRIES = [
    "A0111",
    "C1331",
    "C3911",
    "C3985",
    "E4710",
    "F5126",
    "F5261",
    "G5430",
    "H6210",
    "H6110",
    "I6513",
    "K7020",
    "L7212",
    "M7320",
    "O8010",
    "C2710",
    "C3072",
    "I6450",
]
SHOP_WORDS = ["商行", "便利店", "餐馆", "五金店", "服装店", "农资店", "理发店", "电器维修部"]
FIRM_WORDS = ["科技", "实业", "贸易", "建设", "电子", "新材料", "农业", "物流", "食品", "医药"]


@dataclass
class Entities:
    etype: np.ndarray  # index into ENTITY_TYPES
    district: np.ndarray
    founded: np.ndarray  # ordinal
    closed: np.ndarray  # 0 or ordinal of 注销/吊销
    close_kind: np.ndarray  # 2 注销 3 吊销
    owner: np.ndarray  # person index of the legal representative
    industry: np.ndarray
    capital: np.ndarray  # 万元, <0 none
    org_code: list[str]
    uscc_region: np.ndarray
    word: np.ndarray
    high_tech: np.ndarray  # year of GXJS certification, 0 none
    staff: np.ndarray  # typical insured staff
    outside: np.ndarray  # domicile moved out of the city

    def __len__(self) -> int:
        return len(self.etype)

    def uscc(self, i: int) -> str:
        category = {"GTGSH": "2", "NMHZS": "3"}.get(ENTITY_TYPES[self.etype[i]], "1")
        body = f"9{category}{self.uscc_region[i]}{self.org_code[i]}"
        return body + uscc_check_char(body)

    def name(self, i: int, people: People) -> str:
        place = DISTRICT_NAMES[DISTRICTS[self.district[i]]]
        kind = ENTITY_TYPES[self.etype[i]]
        if kind == "GTGSH":
            shop = SHOP_WORDS[self.word[i] % len(SHOP_WORDS)]
            return f"{place}{people.name(int(self.owner[i]))}{shop}"
        firm = FIRM_WORDS[self.word[i] % len(FIRM_WORDS)]
        brand = (
            SURNAMES[self.word[i] % len(SURNAMES)] + GIVEN_CHARS[self.word[i] % len(GIVEN_CHARS)]
        )
        suffix = {
            "YXGS": "有限公司",
            "GFGS": "股份有限公司",
            "NMHZS": "农民专业合作社",
            "QT": "中心",
        }[kind]
        return f"赣州{brand}{firm}{suffix}"

    def xzqh(self, i: int) -> str:
        return OUTSIDE_HUKOU[0] if self.outside[i] else DISTRICTS[self.district[i]]


def _high_tech_years(rng, company, founded, closed, config: CityConfig) -> np.ndarray:
    """The year each high-tech enterprise was certified (0: never): about 2 % of companies a
    year, and at least two a year even in a small city, so that GXJL always has candidates.
    Only a company that exists when it applies (founded by 30 June, certificates are issued
    in October-December) and is still registered at the end of the year is certified."""
    years = np.zeros(len(company), dtype=np.int64)
    for year in range(config.start.year - 3, config.world_end.year + 1):
        mid, last = dt.date(year, 6, 30).toordinal(), dt.date(year, 12, 31).toordinal()
        free = np.flatnonzero(
            company & (years == 0) & (founded <= mid) & ((closed == 0) | (closed > last))
        )
        take = min(len(free), max(2, round(company.sum() * 0.02)))
        if take:
            years[rng.choice(free, size=take, replace=False)] = year
    return years


def make_entities(config: CityConfig, people: People) -> Entities:
    rng = np_stream(config.seed, "entities", config.people)
    m = max(20, round(config.people * 0.1))
    clock = config.end.toordinal()
    etype = rng.choice(len(ENTITY_TYPES), size=m, p=ENTITY_TYPE_P)
    founded = clock - (rng.exponential(7.0, m) * 365).astype(np.int64) + rng.integers(0, 365, m)
    founded = np.minimum(founded, config.world_end.toordinal() - 1)
    closes = rng.random(m) < 0.15
    closed = np.where(closes, founded + 200 + (rng.exponential(4.0, m) * 365).astype(np.int64), 0)
    district = rng.choice(len(DISTRICTS), size=m, p=DISTRICT_WEIGHTS / DISTRICT_WEIGHTS.sum())
    adults = np.flatnonzero(people.birth < clock - 20 * 365)
    owner = rng.choice(adults, size=m)
    company = np.isin(etype, [1, 2])
    capital = np.where(company, np.round(rng.lognormal(4.5, 1.3, m), 2), -1.0)
    years = np.array([day_of(f).year for f in founded])
    uscc_region = np.array([int(DISTRICTS[d]) for d in district])
    uscc_region[(district == DISTRICTS.index("360703")) & (years <= 2012)] = 360782
    uscc_region[(district == DISTRICTS.index("360704")) & (years <= 2015)] = 360721
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    org_codes = []
    for _ in range(m):
        body = "".join(alphabet[k] for k in rng.integers(0, 31, 8))
        org_codes.append(body + org_code_check_char(body))
    high_tech = _high_tech_years(rng, company, founded, closed, config)
    staff = np.where(
        company | (etype == 3),
        np.maximum(1, rng.lognormal(2.3, 1.1, m)).astype(int),
        rng.integers(0, 4, m),
    )
    return Entities(
        etype=etype,
        district=district,
        founded=founded,
        closed=closed,
        close_kind=np.where(rng.random(m) < 0.8, 2, 3),
        owner=owner,
        industry=rng.integers(0, len(INDUSTRIES), m),
        capital=capital,
        org_code=org_codes,
        uscc_region=uscc_region,
        word=rng.integers(0, 10_000, m),
        high_tech=high_tech,
        staff=staff,
        outside=rng.random(m) < 0.005,
    )


# Where non-residents' numbers were issued and their hukou is: districts of other provinces
# (长沙芙蓉, 武汉武昌, 福州鼓楼, 杭州西湖, 广州越秀, 厦门思明), none of which issued a
# resident's number.
VISITOR_REGIONS = ["430102", "420106", "350102", "330106", "440104", "350203"]
NON_RESIDENT_KINDS = ("elderly_visitor", "newborn")
MIN_NON_RESIDENTS = 3  # of each kind within the generated range, however small the city
# 跨省通办 items a senior from another province applies for while staying in the city.
VISITOR_ITEMS = {"GAQR0001": 0.4, "YBGG0002": 0.5, "BDCGG0003": 0.1}


@dataclass
class Visitors:
    """Non-residents: people whose hukou is in another province, so that the population base
    never lists them, but who appear in the city's systems. Seniors staying with family
    (随迁老人) apply for 跨省通办 services; babies born in the city's hospitals to non-resident
    parents get a 出生医学证明 (the baby is its holder) in the certificate library."""

    people: People  # numbers, names, sex, birth; `district` is where they stay or were born
    kind: np.ndarray  # index into NON_RESIDENT_KINDS
    arrival: np.ndarray  # ordinal: first visit (seniors) or birth (babies)
    visits: list[tuple[int, ...]]  # ordinals of the days a senior files a case

    def __len__(self) -> int:
        return len(self.kind)

    def hukou(self, j: int) -> str:
        return str(self.people.id_region[j])

    @cached_property
    def by_day(self) -> dict[int, list[int]]:
        days: dict[int, list[int]] = {}
        for j, visits in enumerate(self.visits):
            for day in visits:
                days.setdefault(day, []).append(j)
        return days


def _arrivals(rng, config: CityConfig, rate: float) -> np.ndarray:
    """Arrival days at `rate` per resident-year: within the generated range (at least
    MIN_NON_RESIDENTS) and in the year `advance` may add."""
    if rate <= 0:
        return np.zeros(0, dtype=np.int64)
    start, end, stop = (d.toordinal() for d in (config.start, config.end, config.world_end))
    first = max(MIN_NON_RESIDENTS, round(rate * config.people * (end - start) / 365.25))
    later = round(rate * config.people * (stop - end) / 365.25)
    within = start + rng.integers(0, end - start, first)
    return np.sort(np.concatenate([within, end + rng.integers(0, stop - end, later)]))


def make_visitors(config: CityConfig) -> Visitors:
    rng = np_stream(config.seed, "visitors", config.people)
    seniors = _arrivals(rng, config, config.share("elderly_visitors"))
    babies = _arrivals(rng, config, config.share("nonresident_births"))
    arrival = np.concatenate([seniors, babies]).astype(np.int64)
    kind = np.concatenate([np.zeros(len(seniors), np.int8), np.ones(len(babies), np.int8)])
    n = len(kind)
    ages = np.where(kind == 0, rng.uniform(78, 97, n), 0.0)  # age at the first visit
    birth = (arrival - np.round(ages * 365.2425)).astype(np.int64)
    sex = rng.integers(1, 3, n).astype(np.int8)
    id_region = rng.choice([int(c) for c in VISITOR_REGIONS], size=n).astype(np.int64)
    seq = _assign_sequences(rng, id_region, birth, sex) if n else np.zeros(0, np.int16)
    district = rng.choice(len(DISTRICTS), size=n, p=DISTRICT_WEIGHTS / DISTRICT_WEIGHTS.sum())
    phone = rng.choice([133, 135, 138, 139, 150, 186, 189], n) * 10**8 + rng.integers(0, 10**8, n)
    phone[(kind == 1) | (rng.random(n) < 0.3)] = 0
    again = rng.random(n) < 0.5
    gap = rng.integers(20, 300, n)
    stop = config.world_end.toordinal()
    visits = [
        ()
        if kind[j]
        else tuple(d for d in (arrival[j], arrival[j] + gap[j]) if d < stop)[: 1 + again[j]]
        for j in range(n)
    ]
    people = People(
        birth=birth,
        sex=sex,
        district=district.astype(np.int8),
        id_region=id_region,
        seq=seq,
        surname=rng.integers(0, len(SURNAMES), n).astype(np.int16),
        given1=rng.integers(0, len(GIVEN_CHARS), n).astype(np.int16),
        given2=np.where(rng.random(n) < 0.7, rng.integers(0, len(GIVEN_CHARS), n), -1).astype(
            np.int16
        ),
        rare=np.full(n, -1, np.int8),
        phone=phone,
        death=np.zeros(n, np.int64),
        move_date=np.zeros(n, np.int64),
        move_to=np.zeros(n, np.int64),
    )
    return Visitors(people, kind, arrival, [tuple(int(d) for d in v) for v in visits])


@dataclass
class ProvincialFirms:
    """High-tech enterprises registered by the provincial market regulator (USCC region
    360000) with their premises in the city: the province's GXJS certificates for them reach
    the city's certificate library, but the city's legal-entity base (fed by the city's and
    districts' regulators) does not list them."""

    certified: np.ndarray  # ordinal of the GXJS certificate's issue (October-December)
    org_code: list[str]
    word: np.ndarray

    def __len__(self) -> int:
        return len(self.certified)

    def uscc(self, j: int) -> str:
        body = f"91360000{self.org_code[j]}"
        return body + uscc_check_char(body)

    def name(self, j: int) -> str:
        w = int(self.word[j])
        brand = SURNAMES[w % len(SURNAMES)] + GIVEN_CHARS[(w // 7) % len(GIVEN_CHARS)]
        return f"江西{brand}{FIRM_WORDS[w % len(FIRM_WORDS)]}股份有限公司"


def make_provincial_firms(config: CityConfig, entities: Entities) -> ProvincialFirms:
    """A share of each year's certifications (at least one a year) beside the city's own."""
    rng = np_stream(config.seed, "provincial-firms", config.people)
    share = config.share("provincial_high_tech")
    years: list[int] = []
    for year in range(config.start.year - 3, config.world_end.year + 1):
        if share > 0:
            years += [year] * max(1, round(share * int((entities.high_tech == year).sum())))
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    codes = []
    for _ in years:
        body = "".join(alphabet[k] for k in rng.integers(0, 31, 8))
        codes.append(body + org_code_check_char(body))
    issued = [
        dt.date(year, int(month), int(day)).toordinal()
        for year, month, day in zip(
            years, rng.integers(10, 13, len(years)), rng.integers(1, 29, len(years)), strict=True
        )
    ]
    return ProvincialFirms(
        np.array(issued, dtype=np.int64), codes, rng.integers(0, 10_000, len(years))
    )
