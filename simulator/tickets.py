"""The 12345 hotline's work orders, one day at a time, with their whole lifecycle."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import accumulate

from contract.workdays import calendar
from simulator import linkage_cases, v2_cases
from simulator.catalogue import HOTLINE_TOPIC_DEPT, HOTLINE_TOPICS
from simulator.config import CityConfig, substream
from simulator.defects import maybe_dirty_identity
from simulator.timeutil import at, online_time, ts, workday_deadline
from simulator.world import DISTRICTS, People

TICKETS_PER_PERSON_YEAR = 0.6
DEADLINE_WORKDAYS = {"1": 3, "2": 10, "3": 5, "4": 15, "5": 5, "6": 10}
# Cumulative weights for random.choices, accumulated once (the same floats it would make).
APPEAL_CUM = list(accumulate([50, 15, 15, 10, 3, 7]))
SATISFACTION_CUM = {
    "1": list(accumulate([0.78, 0.14, 0.08])),  # solved
    "0": list(accumulate([0.2, 0.3, 0.5])),
}
APPEALS = {
    "1": "咨询{}相关政策",
    "2": "投诉{}办理不及时",
    "3": "求助:{}问题无人处理",
    "4": "建议优化{}服务流程",
    "5": "表扬{}窗口工作人员",
    "6": "举报{}违规行为",
}


@dataclass
class WorkOrder:
    gdbh: str
    called: dt.datetime
    phone: str
    name: str | None
    id_raw: str | None
    id_true: str | None
    appeal: str
    topic: str
    text: str
    unit: str | None
    region: str
    direct: bool
    dispatched: dt.datetime | None
    deadline: dt.datetime | None
    finished: dt.datetime
    callback: dt.datetime | None
    solved: str | None
    satisfaction: str | None
    d7: str | None = None
    person: int = -1  # the caller, for the identity ground truth
    planted: tuple | None = None  # (kind, detail, expected) of a v2 case (simulator/v2_cases)
    hard_cases: tuple = ()  # (kind, detail) of each linkage case (simulator/linkage_cases)

    def row(self, clock: dt.datetime) -> tuple | None:
        if self.called > clock:
            return None
        status, updated = "1", self.called
        dispatched = self.dispatched if self.dispatched and self.dispatched <= clock else None
        if dispatched:
            status, updated = "2", dispatched
        finished = self.finished if self.finished <= clock else None
        if finished:
            status, updated = "3", finished
        called_back = self.callback is not None and self.callback <= clock
        if called_back:
            status, updated = "4", self.callback
        return (
            self.gdbh,
            ts(self.called),
            self.phone,
            self.name,
            self.id_raw,
            self.appeal,
            self.topic,
            self.text,
            self.unit,
            self.region,
            "1" if self.direct else "0",
            ts(dispatched),
            ts(self.deadline) if dispatched else None,
            ts(finished),
            status,
            self.solved if called_back else None,
            (self.d7 or self.satisfaction) if called_back else None,
            ts(updated),
        )


class TicketFactory:
    def __init__(self, config: CityConfig, people: People):
        self.config, self.people = config, people
        rng = substream(config.seed, "hotline-units")
        self.unit_on_time = {
            dept: rng.uniform(0.9, 0.99) for dept in sorted(set(HOTLINE_TOPIC_DEPT.values()))
        }

    def day(self, day: dt.date) -> list[WorkOrder]:
        rng = substream(self.config.seed, "tickets", day.isoformat())
        rate = self.config.people * TICKETS_PER_PERSON_YEAR / 365
        count = max(0, round(rng.gauss(rate, rate**0.5)))
        orders = [self._order(rng, day, n) for n in range(count)]
        for order in orders:
            order.hard_cases = tuple(linkage_cases.plant(order, self.people, self.config, day))
        return orders + v2_cases.planted_orders(self, day, count)

    def _order(
        self, rng, day: dt.date, n: int, caller=None, topic=None, region_of_call=None
    ) -> WorkOrder:
        """One call; `caller`, `topic` and `region_of_call` are a planted one's (v2_cases)."""
        people, config = self.people, self.config
        i = rng.randrange(len(people)) if caller is None else caller
        called = online_time(rng, day)
        appeal = rng.choices("123456", cum_weights=APPEAL_CUM)[0]
        topic = rng.choice(HOTLINE_TOPICS) if topic is None else topic
        direct = (appeal in "15" and rng.random() < 0.8) or (appeal == "4" and rng.random() < 0.3)
        unit = None if direct else HOTLINE_TOPIC_DEPT[topic]
        known = people.birth[i] <= day.toordinal() - 16 * 365
        id_true = people.id_number(i) if known and rng.random() < 0.4 else None
        id_raw = maybe_dirty_identity(id_true, rng, config)[0] if id_true else None
        phone = people.phone_text(i) or f"0797{rng.randrange(10**7):07d}"
        region = people.hukou(i, day)
        if not region.startswith("3607"):
            region = rng.choice(DISTRICTS)
        region = region if region_of_call is None else region_of_call
        dispatched = deadline = None
        if direct:
            finished = called + dt.timedelta(minutes=rng.randint(3, 15))
        else:
            dispatched = called + dt.timedelta(minutes=rng.randint(10, 240))
            deadline = workday_deadline(dispatched, DEADLINE_WORKDAYS[appeal])
            finished = self._finish(rng, dispatched, deadline, unit)
        callback = None
        if rng.random() < 0.85:
            callback_day = calendar().add_workdays(finished.date(), rng.randint(1, 3))
            callback = at(callback_day, 9 * 3600 + rng.randint(0, 8 * 3600))
        solved = "1" if rng.random() < 0.91 else "0"
        satisfaction = rng.choices("123", cum_weights=SATISFACTION_CUM[solved])[0]
        order = WorkOrder(
            gdbh=f"GD{day:%Y%m%d}{n:06d}",
            called=called,
            phone=phone,
            name=people.name(i) if rng.random() < 0.7 else None,
            id_raw=id_raw,
            id_true=id_true,
            appeal=appeal,
            topic=topic,
            text=APPEALS[appeal].format(topic),
            unit=unit,
            region=region,
            direct=direct,
            dispatched=dispatched,
            deadline=deadline,
            finished=finished,
            callback=callback,
            solved=solved,
            satisfaction=satisfaction,
            person=i,
        )
        if rng.random() < config.rate("D7"):
            order.d7 = "0"
        return order

    def _finish(self, rng, dispatched, deadline, unit) -> dt.datetime:
        if rng.random() < self.unit_on_time[unit]:
            span = (deadline - dispatched).total_seconds()
            return dispatched + dt.timedelta(seconds=rng.uniform(0.1, 0.98) * span)
        return deadline + dt.timedelta(hours=rng.randint(2, 120))
