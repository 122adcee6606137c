"""The simulator's hard cases of identity linkage (simulator/linkage_cases.py)."""

from __future__ import annotations

import datetime as dt
import random

from contract.identity import ric_check_char
from simulator import linkage_cases
from simulator.config import CityConfig
from simulator.tickets import TicketFactory
from simulator.world import make_people

CONFIG = CityConfig(people=600, seed=5, start=dt.date(2025, 1, 1), months=12)
PEOPLE = make_people(CONFIG)


def test_a_transposed_number_fails_its_check_and_differs_by_one_swap():
    rng = random.Random(1)
    body = "36070219850312123"
    number = body + ric_check_char(body)
    for _ in range(50):
        swapped = linkage_cases._transposed(number, rng)
        if swapped is None:
            continue
        assert ric_check_char(swapped[:17]) != swapped[17]
        moved = [k for k in range(18) if swapped[k] != number[k]]
        assert len(moved) == 2 and moved[1] == moved[0] + 1
        assert swapped[moved[0]] == number[moved[1]]


def test_a_household_member_shares_surname_and_hukou_not_the_phone():
    day = dt.date(2025, 6, 1)
    found = 0
    for i in range(200):
        j = linkage_cases._household_member(PEOPLE, i, day)
        if j is None:
            continue
        found += 1
        assert PEOPLE.surname[j] == PEOPLE.surname[i]
        assert PEOPLE.hukou(j, day) == PEOPLE.hukou(i, day)
        assert PEOPLE.phone[j] and PEOPLE.phone[j] != PEOPLE.phone[i]
    assert found > 20


def test_the_cases_are_the_same_for_the_same_seed_and_recorded():
    factory = TicketFactory(CONFIG, PEOPLE)
    days = [dt.date(2025, 3, 1) + dt.timedelta(days=n) for n in range(60)]
    first = [o for d in days for o in factory.day(d)]
    again = [o for d in days for o in TicketFactory(CONFIG, PEOPLE).day(d)]
    assert [(o.phone, o.name, o.id_raw, o.hard_cases) for o in first] == [
        (o.phone, o.name, o.id_raw, o.hard_cases) for o in again
    ]
    kinds = {kind for o in first for kind, _ in o.hard_cases}
    assert {"honorific", "id_transposed", "old_phone"} <= kinds
    for order in first:
        cases = dict(order.hard_cases)
        if "honorific" in cases:
            assert order.name[-2:] in ("先生", "女士") and order.name == cases["honorific"]
        if "household_phone" in cases:
            assert order.phone == PEOPLE.phone_text(_index(cases["household_phone"]))


def test_planted_v2_calls_are_left_as_they_are():
    factory = TicketFactory(CONFIG, PEOPLE)
    days = [dt.date(2025, 2, 1) + dt.timedelta(days=n) for n in range(120)]
    planted = [o for d in days for o in factory.day(d) if o.planted]
    assert planted and all(o.hard_cases == () for o in planted)


def _index(number: str) -> int:
    return next(i for i in range(len(PEOPLE)) if PEOPLE.id_number(i) == number)
