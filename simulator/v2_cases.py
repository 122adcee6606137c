"""What the indicator handbook's v2 (K14–K22 and the four lists to act on) needs the city to
show, planted on purpose and recorded in the ground truth (`planted`, docs/simulator.md):

- repeat callers: the same caller calls the 12345 hotline again on the same topic, within 30
  days (a repeat for K22) or later (not one);
- hotline spikes: a week in which one district calls about one topic far more than usual (an
  outage, a policy change): the 12345 热点 list's spikes;
- bad ratings near and past the 15-working-day limit: rectified on working day 14–15, on day
  16–20, or left open (K9 and the 差评整改 to-do list);
- a step that is a bottleneck: for the items whose review waits for an on-site inspection,
  the review (SC) comes late in the case, so it holds most of the waiting (环节耗时);
- catalogue revisions: items whose SFQCWB, CNSX or PDCS change in the days after the
  generated range, mid-month, so that a city advanced past them has two versions and the
  month-end states of K15–K18 differ.

Each draws from its own seeded streams, so the rest of the city does not change with it. The
hooks are small: `tickets.TicketFactory.day`, `cases.CaseFactory._timeline` and `_rating`,
`city.City.sxml_rows`, and the projection's truth (`generate.py`).

Offline help sessions (BBQD 2, K21) need no planting: 30 % of the help sessions are at a
window (cases.CaseFactory._help).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

from contract.workdays import calendar
from simulator.catalogue import HOTLINE_TOPICS, Item
from simulator.config import CityConfig, substream
from simulator.timeutil import at, office_time, ts
from simulator.world import DISTRICTS

if TYPE_CHECKING:
    from simulator.cases import Rating
    from simulator.tickets import TicketFactory, WorkOrder

# -- repeat callers -------------------------------------------------------------------------
# Share of the day's calls that open an episode of calls about one unresolved matter (surveys
# of 12345 centres report 5–10 % repeat calls).
REPEAT_SHARE = 0.04
WITHIN_DAYS = 30  # the handbook's K22 window
REPEAT_LAG_MAX = 75  # days from an episode's first call to its last

# -- hotline spikes -------------------------------------------------------------------------
SPIKE_WEEKLY_CHANCE = 0.06  # about three incidents a year
SPIKE_FIRST_WEEK = 9  # a spike is forced in this week of the range: 8 weeks before it to compare
SPIKE_MIN_CALLS = 12  # the list flags 10 or more, at least twice the mean of 8 weeks
SPIKE_DAY_WEIGHTS = (5, 4, 3, 2, 2, 1, 1)  # the calls fade over the week
SPIKE_TOPICS = ("城市管理", "住房", "环境保护", "交通", "社保", "医保")

# -- bad ratings near and past the limit ------------------------------------------------------
RATING_PLANTS_PER_MONTH = 1.0  # planted beyond the ratings' own tail, whatever the city's size
LIMIT_WORKDAYS = 15

# -- the bottleneck -------------------------------------------------------------------------
# Items whose review waits for an on-site inspection (现场核查/实地查看): SC comes at 75–95 % of
# the time from acceptance to the decision, instead of 20–60 %.
INSPECTED_ITEMS = {"SJXK0003": "现场核查", "BDCQR0001": "实地查看"}
REVIEW_SHARE = (0.2, 0.6)
INSPECTED_REVIEW_SHARE = (0.75, 0.95)

# -- catalogue revisions ------------------------------------------------------------------------
# (days after the generated range's end, item, changed fields): the first mid-month.
REVISIONS = (
    (14, "SJXK0003", {"fully_online": True, "max_visits": 0, "committed_days": 3}),
    (14, "GAQR0001", {"committed_days": 10}),
    (45, "BDCQR0001", {"committed_days": 1}),
    (75, "MZJF0002", {"committed_days": 10, "max_visits": 0}),
)


# ── the hotline ───────────────────────────────────────────────────────────────────────────────


def planted_orders(factory: TicketFactory, day: dt.date, first: int) -> list[WorkOrder]:
    """The planted calls of `day`, numbered on from `first` (the day's own calls before)."""
    out = [*_repeat_calls(factory, day), *_spike_calls(factory, day)]
    orders = []
    for n, (rng, caller, topic, region, planted) in enumerate(out, start=first):
        order = factory._order(rng, day, n, caller=caller, topic=topic, region_of_call=region)
        order.d7 = None  # the planted calls are kept valid: what they show must load
        order.planted = planted
        orders.append(order)
    return orders


def _adult_with_phone(factory: TicketFactory, rng, day: dt.date) -> int:
    people = factory.people
    cutoff = day.toordinal() - 18 * 366
    for _ in range(200):
        i = rng.randrange(len(people))
        if people.birth[i] <= cutoff and people.alive(i, day) and people.phone_text(i):
            return i
    return i


def _episodes(factory: TicketFactory, start: dt.date) -> list[tuple]:
    """The repeat-call episodes that open on `start`: (caller, topic, [(day, index)…])."""
    config = factory.config
    rng = substream(config.seed, "v2-repeat-callers", start.isoformat())
    rate = config.people * _tickets_per_person_year() / 365 * REPEAT_SHARE
    count = max(0, round(rng.gauss(rate, rate**0.5)))
    out = []
    for e in range(count):
        caller = _adult_with_phone(factory, rng, start)
        topic = rng.choice(HOTLINE_TOPICS)
        # the second call: within the K22 window for most, later for some
        lag = rng.randint(1, WITHIN_DAYS - 1) if rng.random() < 0.75 else rng.randint(31, 60)
        days = [start, start + dt.timedelta(days=lag)]
        if rng.random() < 0.3:
            days.append(days[-1] + dt.timedelta(days=rng.randint(2, REPEAT_LAG_MAX - 60)))
        out.append((caller, topic, e, days))
    return out


def _repeat_calls(factory: TicketFactory, day: dt.date) -> list[tuple]:
    """Calls of the episodes that opened in the last REPEAT_LAG_MAX days, due on `day`. The
    episodes are drawn once per factory, day by day (the hotline's days come in order)."""
    due = factory.__dict__.setdefault("_v2_due", {})
    drawn = factory.__dict__.setdefault("_v2_drawn", set())
    first = max(factory.config.start, day - dt.timedelta(days=REPEAT_LAG_MAX))
    d = first
    while d <= day:
        if d not in drawn:
            drawn.add(d)
            for caller, topic, e, days in _episodes(factory, d):
                for k, when in enumerate(days):
                    previous = days[k - 1] if k else None
                    repeat = previous is not None and (when - previous).days < WITHIN_DAYS
                    detail = f"episode {d}#{e} call {k + 1}|{topic}"
                    expected = "repeat" if repeat else "not a repeat"
                    if previous is not None and not repeat:
                        expected += f" ({(when - previous).days} days after the last call)"
                    due.setdefault(when, []).append(
                        (d, e, k, caller, topic, ("repeat_call", detail, expected))
                    )
        d += dt.timedelta(days=1)
    for old in [k for k in due if k < first]:
        del due[old]
    calls = sorted(due.pop(day, []), key=lambda c: (c[0], c[1], c[2]))
    return [
        (
            substream(factory.config.seed, "v2-repeat-call", start.isoformat(), e, k),
            caller,
            topic,
            None,
            planted,
        )
        for start, e, k, caller, topic, planted in calls
    ]


def _tickets_per_person_year() -> float:
    from simulator.tickets import TICKETS_PER_PERSON_YEAR

    return TICKETS_PER_PERSON_YEAR


def spike_of_week(config: CityConfig, monday: dt.date) -> tuple | None:
    """(district, topic, calls) of the week's spike, or None."""
    rng = substream(config.seed, "v2-hotline-spike", monday.isoformat())
    first = config.start + dt.timedelta(days=(7 - config.start.weekday()) % 7)
    forced = monday == first + dt.timedelta(weeks=SPIKE_FIRST_WEEK)
    if not (rng.random() < SPIKE_WEEKLY_CHANCE or forced) or monday < first:
        return None
    region = rng.choice(DISTRICTS)
    topic = rng.choice(SPIKE_TOPICS)
    usual = config.people * _tickets_per_person_year() / 52 / len(HOTLINE_TOPICS) / len(DISTRICTS)
    calls = max(SPIKE_MIN_CALLS, round(usual * rng.uniform(3, 6)))
    return region, topic, calls


def _spike_calls(factory: TicketFactory, day: dt.date) -> list[tuple]:
    config = factory.config
    monday = day - dt.timedelta(days=day.weekday())
    spike = spike_of_week(config, monday)
    if spike is None:
        return []
    region, topic, calls = spike
    rng = substream(config.seed, "v2-hotline-spike-days", monday.isoformat())
    days = rng.choices(range(7), weights=SPIKE_DAY_WEIGHTS, k=calls)
    mine = [n for n, d in enumerate(days) if d == day.weekday()]
    detail = f"week {monday}|{region}|{topic}|{calls} calls"
    out = []
    for n in mine:
        call_rng = substream(config.seed, "v2-hotline-spike-call", monday.isoformat(), n)
        caller = call_rng.randrange(len(factory.people))
        out.append((call_rng, caller, topic, region, ("hotline_spike", detail, "spike")))
    return out


# ── ratings ───────────────────────────────────────────────────────────────────────────────────


def ratings_per_month(config: CityConfig) -> float:
    """About how many ratings the city's cases get in a month (half the finished cases)."""
    from simulator.cases import CASES_PER_PERSON_YEAR

    return config.people * CASES_PER_PERSON_YEAR / 12 * 0.5


def plant_rating(config: CityConfig, rating: Rating) -> Rating:
    """A case's rating, or the bad rating planted in its place: rectified on working day
    14–15 (near the limit), on day 16–20 (past it) or never (open)."""
    plan = rating_plan(config, rating.pjbh, rating.time, ratings_per_month(config))
    if plan is None or rating.orphan:
        return rating
    level, rectified, _, _ = plan
    rating.level, rating.text = level, "问题未解决,多次反映无人回复"
    rating.rectified_at, rating.unfounded_at = rectified, None
    rating.d6, rating.d7 = False, None
    return rating


def rating_plan(
    config: CityConfig, pjbh: str, rated: dt.datetime, ratings_per_month: float
) -> tuple | None:
    """(level, rectified_at, kind, expected) of a planted rating, or None: a pure function of
    the seed and the rating's number, so the truth is worked out again where it is written."""
    rng = substream(config.seed, "v2-rating-plant", pjbh)
    if rng.random() >= min(0.5, RATING_PLANTS_PER_MONTH / max(ratings_per_month, 1.0)):
        return None
    level = "1" if rng.random() < 0.4 else "2"
    draw = rng.random()
    cal = calendar()
    if draw < 0.4:
        days = rng.choice((14, 15))
        kind, expected = "rating_near_limit", f"rectified on working day {days}"
    elif draw < 0.7:
        days = rng.randint(16, 20)
        kind, expected = "rating_past_limit", f"rectified on working day {days}: late"
    else:
        return level, None, "rating_left_open", "open: overdue after working day 15"
    rectified = office_time(rng, cal.add_workdays(rated.date(), days))
    return level, max(rectified, rated + dt.timedelta(minutes=30)), kind, expected


def rating_truth(config: CityConfig, rating) -> tuple | None:
    """(kind, detail, expected) of a planted rating for the manifest, or None."""
    if rating.orphan:
        return None
    plan = rating_plan(config, rating.pjbh, rating.time, ratings_per_month(config))
    if plan is None:
        return None
    _, rectified, kind, expected = plan
    return kind, f"rated {ts(rating.time)}|rectified {ts(rectified) or '-'}", expected


# ── the bottleneck ────────────────────────────────────────────────────────────────────────────


def review_share(item: Item) -> tuple[float, float]:
    """Where the review (SC) falls between acceptance and the decision, as a share."""
    return INSPECTED_REVIEW_SHARE if item.code in INSPECTED_ITEMS else REVIEW_SHARE


def bottleneck_truth() -> list[tuple]:
    """(kind, key, detail, expected) of each planted bottleneck."""
    return [
        ("bottleneck_step", code, f"SC waits for the {what}", "SC")
        for code, what in INSPECTED_ITEMS.items()
    ]


# ── catalogue revisions ───────────────────────────────────────────────────────────────────────


def revision_moment(config: CityConfig, days: int) -> dt.datetime:
    return at(config.end + dt.timedelta(days=days), 10 * 3600)


def item_at(config: CityConfig, item: Item, clock: dt.datetime) -> tuple[Item, dt.datetime | None]:
    """The item as the catalogue lists it at `clock`, and the time of its last revision (None:
    as first published)."""
    updated = None
    for days, code, fields in REVISIONS:
        moment = revision_moment(config, days)
        if code == item.code and moment <= clock:
            item, updated = replace(item, **fields), moment
    return item, updated


def revision_truth(config: CityConfig) -> list[tuple]:
    """(kind, key, detail, expected) of each revision: the fields and their new values."""
    out = []
    for days, code, fields in REVISIONS:
        moment = revision_moment(config, days)
        changed = ",".join(f"{_COLUMN[k]}={_value(v)}" for k, v in sorted(fields.items()))
        out.append(("catalogue_revision", code, f"from {ts(moment)}", changed))
    return out


_COLUMN = {"fully_online": "SFQCWB", "max_visits": "PDCS", "committed_days": "CNSX"}


def _value(v) -> str:
    return ("1" if v else "0") if isinstance(v, bool) else str(v)


# ── the ground truth (manifest table `planted`) ──────────────────────────────────────────────


def record_catalogue(manifest, config: CityConfig) -> None:
    """The bottlenecks and the catalogue's revisions, once, when the city is generated."""
    for kind, key, detail, expected in bottleneck_truth():
        manifest.planted("case_platform", "bj_gcxx", key, kind, detail, expected)
    for kind, key, detail, expected in revision_truth(config):
        manifest.planted("case_platform", "sxml", key, kind, detail, expected)


def record_ratings(manifest, config: CityConfig, file_name: str, month, ratings) -> None:
    """The planted ratings of a 好差评 delivery, in place of those of an earlier delivery of
    the same month (the last one is in force)."""
    if not manifest.truth:
        return
    tag = f"{month:%Y%m}"
    manifest.flush()
    manifest.conn.execute(
        "DELETE FROM planted WHERE table_name = 'hcp_pj' AND detail LIKE ?", (f"{tag}|%",)
    )
    for rating in ratings:
        truth = rating_truth(config, rating)
        if truth is not None:
            kind, detail, expected = truth
            detail = f"{tag}|{file_name}|{detail}"
            manifest.planted("evaluation_hcp", "hcp_pj", rating.pjbh, kind, detail, expected)
