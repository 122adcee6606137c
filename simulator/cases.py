"""One day of the case platform's life: cases with their steps, help sessions, certificate
uses and ratings, each with its whole future timeline, so that the state of any row at any
clock can be projected (generate writes the state at its clock; advance the next one)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate

from contract.workdays import calendar
from simulator import v2_cases
from simulator.catalogue import DEPARTMENTS, ITEMS, RATING_TEXT, STEP_OPINIONS, Item
from simulator.config import CityConfig, substream
from simulator.defects import dirty_uscc, maybe_dirty_identity
from simulator.timeutil import (
    at,
    next_office_time,
    office_time,
    online_time,
    ts,
)
from simulator.world import DISTRICTS, VISITOR_ITEMS, Entities, People, Visitors

CASES_PER_PERSON_YEAR = 1.6  # sources: 1.5-4; the L tier's 15 M/year for 10 M people
HELP_PER_PERSON_YEAR = 0.12
STATUS_AFTER_STEP = {
    "SQ": "0",
    "BZ": "2",
    "BZWC": "0",
    "SL": "1",
    "SC": "1",
    "JD": "1",
    "BJ": "3",
    "SD": "3",
    "BSL": "4",
    "CH": "5",
}
STATUS_STEPS = {"SQ", "BZ", "BZWC", "SL", "BJ", "BSL", "CH"}  # steps that change bj_jbxx
UNKNOWN_CASE_SEQ = 900_000  # sequence numbers at or above this are never issued
# Cumulative weights for random.choices, accumulated once (the same floats it would make).
OFFICE_CHANNEL_CUM = list(accumulate([0.8, 0.12, 0.08]))
MODE_CUM = list(accumulate([0.9, 0.07, 0.03]))
GOOD_LEVEL_CUM = list(accumulate([0.04, 0.2, 0.76]))  # ratings 3, 4, 5


@dataclass(frozen=True)
class DeptProfile:
    correction_rate: float
    late_rate: float
    reuse_rate: float
    prefill_rate: float
    bad_rating_rate: float
    online_offset: float


@cache
def dept_profiles(seed: int) -> dict[str, DeptProfile]:
    """Each department performs a little differently: some above, some below target."""
    rng = substream(seed, "departments")
    return {
        code: DeptProfile(
            correction_rate=rng.uniform(0.03, 0.13),
            late_rate=rng.uniform(0.002, 0.04),
            reuse_rate=rng.uniform(0.83, 0.97),
            prefill_rate=rng.uniform(0.55, 0.85),
            bad_rating_rate=rng.uniform(0.002, 0.02),
            online_offset=rng.uniform(-0.05, 0.04),
        )
        for code in DEPARTMENTS
    }


@cache
def district_online_offsets(seed: int) -> dict[str, float]:
    rng = substream(seed, "districts")
    return {code: rng.uniform(-0.06, 0.04) for code in [*DISTRICTS, "360700"]}


@dataclass
class Event:
    step: str
    time: dt.datetime


@dataclass
class Case:
    sblsh: str
    item: Item
    applicant_type: str
    applicant_name: str
    id_type: str
    id_true: str
    id_raw: str
    phone: str | None
    channel: str
    prefilled: str
    mode: str
    cross: str
    region: str
    instance: str | None
    events: list[Event]
    result: str | None
    delay: dt.timedelta  # push delay (minutes; days for D9)
    deleted_at: dt.datetime | None = None
    d1: bool = False
    d6: str | None = None
    d7: str | None = None
    step_dups: set[int] = field(default_factory=set)
    applicant: dict = field(default_factory=dict)  # who filed it (person or entity index)

    def visible(self, clock: dt.datetime) -> list[Event]:
        return [e for e in self.events if e.time + self.delay <= clock]

    def row(self, clock: dt.datetime) -> tuple | None:
        """The bj_jbxx row as the exchange database holds it at `clock` (None: not yet)."""
        seen = self.visible(clock)
        if not seen:
            return None
        status_events = [e for e in seen if e.step in STATUS_STEPS]
        last = status_events[-1]
        steps = {e.step: e.time for e in seen}
        sqsj, slsj, bjsj = self.events[0].time, steps.get("SL"), steps.get("BJ")
        if self.d6 == "SLSJ<SQSJ" and slsj:
            slsj = sqsj - dt.timedelta(hours=3, minutes=17)
        if self.d6 == "BJSJ<SLSJ" and bjsj and slsj:
            bjsj = slsj - dt.timedelta(days=2)
        gxsj = last.time + self.delay
        deleted = self.deleted_at is not None and self.deleted_at + self.delay <= clock
        if deleted:
            gxsj = self.deleted_at + self.delay
        return (
            self.sblsh,
            self.item.code,
            self.applicant_type,
            self.applicant_name,
            self.id_type,
            self.id_raw,
            self.phone,
            self.d7 or self.channel,
            self.prefilled,
            ts(sqsj),
            ts(slsj),
            ts(bjsj),
            STATUS_AFTER_STEP[last.step],
            self.result if bjsj else None,
            sum(1 for e in seen if e.step == "BZ"),
            self.mode,
            self.cross,
            self.region,
            self.instance,
            ts(gxsj),
            "1" if deleted else "0",
        )

    def step_rows(self, clock: dt.datetime) -> list[tuple]:
        return [
            (
                f"{self.sblsh}{n:02d}",
                self.sblsh,
                e.step,
                ts(e.time),
                STEP_OPINIONS.get(e.step),
                ts(e.time + self.delay),
            )
            for n, e in enumerate(self.events, start=1)
            if e.time + self.delay <= clock
        ]

    def time_of(self, step: str) -> dt.datetime | None:
        return next((e.time for e in self.events if e.step == step), None)


@dataclass
class HelpSession:
    bbbh: str
    channel: str
    id_raw: str | None
    id_true: str | None
    sblsh: str | None
    asked: dt.datetime
    first_response: dt.datetime | None
    ended: dt.datetime
    solved: str
    region: str
    helper: str
    d1: bool = False
    d6: bool = False
    d7: str | None = None

    def row(self, clock: dt.datetime, drift: bool) -> tuple | None:
        if self.asked > clock:
            return None
        done = self.ended <= clock
        response = (
            self.first_response if self.first_response and self.first_response <= clock else None
        )
        if self.d6 and response:
            response = self.asked - dt.timedelta(seconds=95)
        row = (
            self.bbbh,
            self.d7 or self.channel,
            self.id_raw,
            self.sblsh,
            ts(self.asked),
            ts(response),
            ts(self.ended) if done else None,
            self.solved if done else None,
            self.region,
            ts(self.ended if done else (response or self.asked)),
        )
        return (*row, self.helper) if drift else row


@dataclass
class CertificateUse:
    zzbh: str
    sblsh: str
    time: dt.datetime
    mode: str
    orphan: bool = False
    d7: str | None = None

    def row(self, dybh: int) -> tuple:
        return (dybh, self.zzbh, self.sblsh, ts(self.time), self.d7 or self.mode)


@dataclass
class Rating:
    pjbh: str
    sblsh: str
    channel: str
    time: dt.datetime
    level: str
    text: str
    rectified_at: dt.datetime | None  # ZGZT 1 from then on
    unfounded_at: dt.datetime | None  # ZGZT 2 from then on
    time_format: str
    orphan: bool = False
    d6: bool = False
    d7: str | None = None

    def state(self, clock: dt.datetime) -> tuple[str | None, dt.datetime | None]:
        """(ZGZT, ZGWCSJ) as known at `clock`."""
        if self.level not in ("1", "2"):
            return None, None
        if self.unfounded_at and self.unfounded_at <= clock:
            return "2", None
        if self.rectified_at and self.rectified_at <= clock:
            done = self.rectified_at
            if self.d6:
                done = self.time - dt.timedelta(days=1)
            return "1", done
        return "0", None


@dataclass
class Day:
    cases: list[Case]
    help_sessions: list[HelpSession]
    uses: list[CertificateUse]
    ratings: list[Rating]


class CaseFactory:
    """Draws one day of cases against the city's people and entities."""

    def __init__(
        self,
        config: CityConfig,
        people: People,
        entities: Entities,
        certificates,
        visitors: Visitors | None = None,
    ):
        self.config = config
        self.people = people
        self.entities = entities
        self.certificates = certificates
        self.visitors = visitors
        self.profiles = dept_profiles(config.seed)
        self.district_offsets = district_online_offsets(config.seed)
        self.person_items = [i for i in ITEMS if i.applicant == "1"]
        self.entity_items = [i for i in ITEMS if i.applicant == "2"]
        self.person_weights = list(accumulate(i.weight for i in self.person_items))
        self.entity_weights = list(accumulate(i.weight for i in self.entity_items))
        self.span = (config.world_end - config.start).days

    # -- the day --------------------------------------------------------------------------
    def day(self, day: dt.date) -> Day:
        rng = substream(self.config.seed, "cases", day.isoformat())
        workday = calendar().is_workday(day)
        rate = self.config.people * CASES_PER_PERSON_YEAR / 365 * (1.25 if workday else 0.4)
        count = max(0, round(rng.gauss(rate, rate**0.5)))
        out = Day([], [], [], [])
        seq = 0
        while seq < count:
            batch = self._filing(rng, day, seq, workday)
            for case in batch:
                out.cases.append(case)
                self._attach(rng, case, out)
            seq += len(batch)
        self._unlinked_help(rng, day, out)
        self._orphans(rng, day, out)
        self._visitor_cases(day, seq, out)
        return out

    def _visitor_cases(self, day, seq, out: Day) -> None:
        """Non-resident seniors applying for 跨省通办 services (each with its own stream, so
        that the day's other cases do not depend on them)."""
        if self.visitors is None:
            return
        visitors = self.visitors
        items = {i.code: i for i in ITEMS}
        for n, j in enumerate(visitors.by_day.get(day.toordinal(), [])):
            rng = substream(self.config.seed, "visitor-case", day.isoformat(), j)
            item = items[rng.choices(list(VISITOR_ITEMS), list(VISITOR_ITEMS.values()))[0]]
            people = visitors.people
            applicant = {
                "type": "1",
                "name": people.name(j),
                "id_type": "111",
                "id": people.id_number(j),
                "phone": people.phone_text(j),
                "region": DISTRICTS[people.district[j]],
                "person": None,  # no 户口簿 in this city's library to share
                "entity": None,
                "visitor": j,
            }
            online = self._online(rng, day, item, applicant["region"])
            channel = self._channel(rng, day, online)
            moment = online_time(rng, day) if online else office_time(rng, day)
            case = self._case(rng, day, seq + n, item, applicant, channel, moment, None)
            case.cross = "2"
            out.cases.append(case)
            self._attach(rng, case, out)

    def _filing(self, rng, day, seq, workday) -> list[Case]:
        """One application: a single case, or a "一件事" instance of several cases."""
        entity = rng.random() < 0.2
        pool, weights = (
            (self.entity_items, self.entity_weights)
            if entity
            else (self.person_items, self.person_weights)
        )
        item = rng.choices(pool, cum_weights=weights)[0]
        bundle_items = [item]
        instance = None
        if item.bundle and rng.random() < 0.6:
            bundle_items = [
                i for i in ITEMS if i.bundle == item.bundle and i.applicant == item.applicant
            ]
            instance = f"YJS{day:%Y%m%d}{seq:06d}"
        applicant = self._applicant(rng, day, entity)
        if applicant is None:
            return []
        online = self._online(rng, day, item, applicant["region"])
        channel = self._channel(rng, day, online)
        moment = (
            online_time(rng, day)
            if online
            # halls also open on weekends for 延时/周末服务, at the same hours
            else office_time(rng, day)
        )
        cases = []
        for offset, each in enumerate(bundle_items):
            # now and then one case of a bundle is filed in the hall
            each_channel = "3" if instance and rng.random() < 0.04 else channel
            cases.append(
                self._case(
                    rng,
                    day,
                    seq + offset,
                    each,
                    applicant,
                    each_channel,
                    moment + dt.timedelta(minutes=2 * offset),
                    instance,
                )
            )
        return cases

    def _applicant(self, rng, day, entity) -> dict | None:
        people, ents = self.people, self.entities
        cutoff = day.toordinal()
        for _ in range(20):
            if entity:
                i = rng.randrange(len(ents))
                if ents.founded[i] > cutoff or (ents.closed[i] and ents.closed[i] <= cutoff):
                    continue
                return {
                    "type": "2",
                    "name": ents.name(i, people),
                    "id_type": "001",
                    "id": ents.uscc(i),
                    "phone": people.phone_text(int(ents.owner[i])),
                    "region": ents.xzqh(i),
                    "person": None,
                    "entity": i,
                }
            i = rng.randrange(len(people))
            if people.birth[i] > cutoff - 365 * 16 and rng.random() < 0.9:
                continue  # children rarely apply themselves (parents do)
            if not people.alive(i, day) or people.birth[i] > cutoff:
                continue
            hukou = people.hukou(i, day)
            region = hukou if hukou.startswith("3607") else rng.choice(DISTRICTS)
            foreign = rng.random() < 0.006
            if foreign:
                kind = rng.choice(["414", "516", "511"])
                number = {"414": "E", "516": "H", "511": ""}[kind] + f"{rng.randrange(10**8):08d}"
                return {
                    "type": "1",
                    "name": people.name(i),
                    "id_type": kind,
                    "id": number,
                    "phone": people.phone_text(i),
                    "region": region,
                    "person": None,
                    "entity": None,
                }
            return {
                "type": "1",
                "name": people.name(i),
                "id_type": "111",
                "id": people.id_number(i),
                "phone": people.phone_text(i),
                "region": region,
                "person": i,
                "entity": None,
            }
        return None

    def _online(self, rng, day, item: Item, region: str) -> bool:
        progress = (day - self.config.start).days / max(1, self.span)
        p = 0.905 + 0.15 * progress + self.profiles[item.dept].online_offset
        p += self.district_offsets.get(region, 0.0)
        if not item.fully_online:  # some steps need a visit: fewer apply online
            p -= 0.12
        return rng.random() < min(0.995, p)

    def _channel(self, rng, day, online) -> str:
        if online:
            progress = (day - self.config.start).days / max(1, self.span)
            return "2" if rng.random() < 0.45 + 0.2 * progress else "1"
        return rng.choices(["3", "4", "5"], cum_weights=OFFICE_CHANNEL_CUM)[0]

    def _case(self, rng, day, seq, item, applicant, channel, moment, instance) -> Case:
        config, profile = self.config, self.profiles[item.dept]
        region = "360700" if rng.random() < item.city_level_share else applicant["region"]
        if not region.startswith("3607"):
            region = "360700"
        sblsh = f"{region}{day:%Y%m%d}{seq:06d}"
        id_raw = applicant["id"]
        if applicant["id_type"] == "111":
            id_raw, _ = maybe_dirty_identity(id_raw, rng, config)
        elif applicant["id_type"] == "001" and rng.random() < config.rate("D5"):
            id_raw, _ = dirty_uscc(id_raw, rng)
        online = channel in ("1", "2")
        prefill = (
            "1"
            if online and item.high_frequency and rng.random() < profile.prefill_rate
            else ("1" if online and rng.random() < 0.2 else "0")
        )
        events, result = self._timeline(rng, moment, item, online, profile)
        late = rng.random() < config.rate("D9")
        delay = (
            dt.timedelta(days=rng.randint(1, 10))
            if late
            else dt.timedelta(minutes=rng.randint(1, 20))
        )
        case = Case(
            sblsh=sblsh,
            item=item,
            applicant_type=applicant["type"],
            applicant_name=applicant["name"],
            id_type=applicant["id_type"],
            id_true=applicant["id"],
            id_raw=id_raw,
            phone=applicant["phone"],
            channel=channel,
            prefilled=prefill,
            mode=rng.choices(["1", "2", "3"], cum_weights=MODE_CUM)[0],
            cross=self._cross(rng, item),
            region=region,
            instance=instance,
            events=events,
            result=result,
            delay=delay,
            applicant=applicant,
        )
        self._defects(rng, case)
        return case

    def _cross(self, rng, item) -> str:
        draw = rng.random()
        if item.cross_province and draw < 0.03:
            return "2"
        return "1" if draw > 0.96 else "0"

    def _timeline(self, rng, moment, item, online, profile) -> tuple[list[Event], str]:
        events = [Event("SQ", moment)]
        now = moment
        if rng.random() < 0.008:  # withdrawn before a decision
            events.append(Event("CH", now + dt.timedelta(hours=rng.randint(1, 48))))
            return events, None
        corrections = 0
        if rng.random() < profile.correction_rate:
            corrections = 1 if rng.random() < 0.8 else 2
        for _ in range(corrections):
            now = (
                next_office_time(rng, now)
                if online
                else now + dt.timedelta(minutes=rng.randint(5, 40))
            )
            events.append(Event("BZ", now))
            now = now + dt.timedelta(hours=rng.randint(2, 96))
            events.append(Event("BZWC", now))
        if rng.random() < 0.015:
            events.append(Event("BSL", next_office_time(rng, now)))
            return events, None
        accepted = (
            next_office_time(rng, now) if online else now + dt.timedelta(minutes=rng.randint(3, 30))
        )
        events.append(Event("SL", accepted))
        finished = self._finish_time(rng, accepted, item, profile)
        review = accepted + (finished - accepted) * rng.uniform(*v2_cases.review_share(item))
        if finished - accepted > dt.timedelta(minutes=30):
            events.append(Event("SC", review))
            events.append(Event("JD", finished - dt.timedelta(minutes=rng.randint(5, 25))))
        events.append(Event("BJ", finished))
        events.append(Event("SD", finished + dt.timedelta(hours=rng.randint(1, 72))))
        return events, "1" if rng.random() < 0.96 else "2"

    def _finish_time(self, rng, accepted, item, profile) -> dt.datetime:
        cal = calendar()
        late = rng.random() < profile.late_rate
        if item.committed_days == 0:
            if not late:
                return accepted + dt.timedelta(minutes=rng.randint(5, 90))
            return office_time(rng, cal.add_workdays(accepted.date(), 1))
        days = (
            item.committed_days + rng.randint(1, 5)
            if late
            else rng.randint(max(0, item.committed_days // 3), item.committed_days)
        )
        day = cal.add_workdays(accepted.date(), days)
        moment = office_time(rng, day)
        return max(moment, accepted + dt.timedelta(minutes=20))

    def _defects(self, rng, case: Case) -> None:
        config = self.config
        case.d1 = rng.random() < config.rate("D1")
        if rng.random() < config.rate("D3"):
            case.deleted_at = case.events[-1].time + dt.timedelta(days=rng.randint(1, 20))
        if rng.random() < config.rate("D6"):
            case.d6 = (
                "SLSJ<SQSJ"
                if case.time_of("SL") and rng.random() < 0.5
                else ("BJSJ<SLSJ" if case.time_of("BJ") else None)
            )
        if rng.random() < config.rate("D7"):
            case.d7 = rng.choice(["9", "0", "6"])
        case.step_dups = {
            n for n in range(1, len(case.events) + 1) if rng.random() < config.rate("D1")
        }

    # -- things attached to a case ---------------------------------------------------------
    def _attach(self, rng, case: Case, out: Day) -> None:
        self._use(rng, case, out)
        if rng.random() < 0.05:
            out.help_sessions.append(
                self._help(
                    rng,
                    case.events[0].time - dt.timedelta(minutes=rng.randint(2, 30)),
                    case.region,
                    case,
                )
            )
        finished = case.time_of("BJ")
        if finished and rng.random() < 0.5:
            out.ratings.append(self._rating(rng, case, finished))

    def _use(self, rng, case: Case, out: Day) -> None:
        applicant = case.applicant
        holder = (
            ("P", applicant["person"])
            if applicant["person"] is not None
            else (("E", applicant["entity"]) if applicant["entity"] is not None else None)
        )
        if holder is None:
            return
        accepted = case.time_of("SL") or case.events[0].time
        zzbh = self.certificates.usable(holder, case.events[0].time.date())
        if zzbh is None:
            return
        if case.item.needs_certificate and rng.random() < self.profiles[case.item.dept].reuse_rate:
            out.uses.append(self._use_row(rng, zzbh, case.sblsh, accepted, "1"))
        if rng.random() < 0.05:
            out.uses.append(self._use_row(rng, zzbh, case.sblsh, accepted, rng.choice("23")))

    def _use_row(self, rng, zzbh, sblsh, when, mode) -> CertificateUse:
        use = CertificateUse(zzbh, sblsh, when + dt.timedelta(seconds=rng.randint(5, 600)), mode)
        if rng.random() < self.config.rate("D7"):
            use.d7 = rng.choice(["4", "0"])
        return use

    def _help(self, rng, asked, region, case: Case | None) -> HelpSession:
        channel = "1" if rng.random() < 0.7 else "2"
        fast = rng.random() < 0.97
        answered = rng.random() < 0.995
        wait = rng.randint(3, 60) if fast else rng.randint(61, 900)
        response = asked + dt.timedelta(seconds=wait) if answered else None
        ended = (response or asked) + dt.timedelta(minutes=rng.randint(2, 40))
        id_true = case.id_true if case and case.id_type == "111" else None
        id_raw = maybe_dirty_identity(id_true, rng, self.config)[0] if id_true else None
        if id_true and rng.random() < 0.15:
            id_true = id_raw = None  # asked without logging in
        number = f"BB{asked:%Y%m%d%H%M%S}{rng.randrange(10**6):06d}"
        session = HelpSession(
            bbbh=number,
            channel=channel,
            id_raw=id_raw,
            id_true=id_true,
            sblsh=case.sblsh if case else None,
            asked=asked,
            first_response=response,
            ended=ended,
            solved="1" if rng.random() < 0.905 else "0",
            region=region,
            helper=f"帮办员{rng.randint(1, 60):03d}",
        )
        session.d1 = rng.random() < self.config.rate("D1")
        session.d6 = bool(response) and rng.random() < self.config.rate("D6")
        if rng.random() < self.config.rate("D7"):
            session.d7 = "3"
        return session

    def _unlinked_help(self, rng, day, out: Day) -> None:
        rate = self.config.people * HELP_PER_PERSON_YEAR / 365 * 0.5
        for _ in range(max(0, round(rng.gauss(rate, rate**0.5)))):
            region = rng.choice([*DISTRICTS, "360700"])
            out.help_sessions.append(self._help(rng, online_time(rng, day), region, None))

    def _rating(self, rng, case: Case, finished: dt.datetime) -> Rating:
        profile = self.profiles[case.item.dept]
        when = finished + dt.timedelta(minutes=rng.randint(10, 7 * 24 * 60))
        draw = rng.random()
        level = (
            "1"
            if draw < profile.bad_rating_rate / 3
            else (
                "2"
                if draw < profile.bad_rating_rate
                else rng.choices("345", cum_weights=GOOD_LEVEL_CUM)[0]
            )
        )
        rating = self._rating_from(rng, f"PJ{case.sblsh}", case.sblsh, case.channel, when, level)
        return v2_cases.plant_rating(self.config, rating)

    def _rating_from(self, rng, pjbh, sblsh, channel, when, level) -> Rating:
        cal = calendar()
        rectified = unfounded = None
        if level in ("1", "2"):
            draw = rng.random()
            if draw < 0.1:
                unfounded = at(cal.add_workdays(when.date(), 2), 10 * 3600)
            elif draw < 0.97:
                days = rng.randint(1, 15) if rng.random() < 0.95 else rng.randint(16, 25)
                rectified = office_time(rng, cal.add_workdays(when.date(), days))
        time_format = rng.choice(["slash", "dash", "compact", "excel"])
        if time_format == "slash":
            when = when.replace(second=0)
        rating = Rating(
            pjbh,
            sblsh,
            channel if channel in "12345" else "3",
            when,
            level,
            rng.choice(RATING_TEXT[level]),
            rectified,
            unfounded,
            time_format,
        )
        rating.d6 = rectified is not None and rng.random() < self.config.rate("D6") * 20
        if rng.random() < self.config.rate("D7"):
            rating.d7 = "0"
        return rating

    def _orphans(self, rng, day, out: Day) -> None:
        """References to cases that do not exist (D8) in ratings and certificate uses."""
        n_ratings = sum(1 for _ in out.ratings)
        for _ in range(_binomial(rng, n_ratings, self.config.rate("D8"))):
            sblsh = (
                f"{rng.choice(DISTRICTS)}{day:%Y%m%d}{UNKNOWN_CASE_SEQ + rng.randrange(99_999):06d}"
            )
            when = online_time(rng, day) + dt.timedelta(days=rng.randint(1, 5))
            rating = self._rating_from(
                rng,
                f"PJ{sblsh}",
                sblsh,
                rng.choice("123"),
                when,
                rng.choices("345", cum_weights=GOOD_LEVEL_CUM)[0],
            )
            rating.orphan = True
            out.ratings.append(rating)
        for _ in range(_binomial(rng, len(out.uses), self.config.rate("D8"))):
            template = rng.choice(out.uses)
            sblsh = (
                f"{rng.choice(DISTRICTS)}{day:%Y%m%d}{UNKNOWN_CASE_SEQ + rng.randrange(99_999):06d}"
            )
            use = CertificateUse(template.zzbh, sblsh, template.time + dt.timedelta(minutes=7), "1")
            use.orphan = True
            out.uses.append(use)


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(1 for _ in range(n) if rng.random() < p)


def department_name(code: str) -> str:
    return DEPARTMENTS[code]
