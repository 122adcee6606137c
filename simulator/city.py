"""The whole city at a clock: rows of every exchange table, drawn from the world's
timelines. Generation and `advance` both project through these functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from contract.regions import is_city_region
from simulator.annual_reports import filed_on, is_late
from simulator.cases import CaseFactory
from simulator.catalogue import DEPARTMENTS, ITEMS
from simulator.config import CityConfig, substream
from simulator.defects import maybe_dirty_identity
from simulator.payments import Payout, follow
from simulator.registry import Certificates, EntityRecord, Grant, Groups
from simulator.timeutil import add_months, at, ts
from simulator.world import (
    ENTITY_TYPES,
    INDUSTRIES,
    day_of,
    make_entities,
    make_people,
    make_provincial_firms,
    make_visitors,
)

CATALOGUE_PUBLISHED = dt.datetime(2024, 12, 1, 9, 0, 0)


@dataclass
class City:
    config: CityConfig

    @cached_property
    def people(self):
        return make_people(self.config)

    @cached_property
    def entities(self):
        return make_entities(self.config, self.people)

    @cached_property
    def visitors(self):
        """Non-residents seen in the city's systems (never in the population base)."""
        return make_visitors(self.config)

    @cached_property
    def provincial_firms(self):
        """GXJS holders registered by the province (never in the legal-entity base)."""
        return make_provincial_firms(self.config, self.entities)

    @cached_property
    def groups(self):
        return Groups(self.config, self.people)

    @cached_property
    def certificates(self):
        return Certificates(
            self.config,
            self.people,
            self.entities,
            self.groups,
            self.visitors,
            self.provincial_firms,
        )

    @cached_property
    def cases(self):
        return CaseFactory(
            self.config, self.people, self.entities, self.certificates, self.visitors
        )

    # -- case platform: catalogue ---------------------------------------------------------
    def sxml_rows(self, clock: dt.datetime | None = None) -> list[tuple]:
        """The catalogue as listed at `clock` (None: as first published), with the
        revisions of v2_cases."""
        from simulator.catalogue import BUNDLES
        from simulator.v2_cases import item_at

        rows = []
        for listed in ITEMS:
            item, revised = item_at(self.config, listed, clock) if clock else (listed, None)
            rows.append(
                (
                    item.code,
                    item.name,
                    item.item_type,
                    item.dept,
                    DEPARTMENTS[item.dept],
                    item.applicant,
                    item.statutory_days,
                    item.committed_days,
                    _yes(item.high_frequency),
                    _yes(item.fully_online),
                    _yes(item.needs_certificate),
                    item.max_visits,
                    _yes(item.cross_province),
                    item.bundle,
                    BUNDLES.get(item.bundle) if item.bundle else None,
                    ts(revised or CATALOGUE_PUBLISHED),
                    "0",
                )
            )
        return rows

    # -- population base --------------------------------------------------------------------
    def person_row(self, i: int, day: dt.date) -> tuple | None:
        p = self.people
        if p.birth[i] > day.toordinal():
            return None
        dead = bool(p.death[i]) and p.death[i] <= day.toordinal()
        return (
            p.id_number(i),
            p.name(i),
            str(p.sex[i]),
            f"{day_of(p.birth[i]):%Y%m%d}",
            p.hukou(i, day),
            p.phone_text(i),
            "1" if dead else "0",
            f"{day_of(p.death[i]):%Y%m%d}" if dead else None,
        )

    def snapshot(self, day: dt.date) -> Iterator[tuple]:
        for i in range(len(self.people)):
            row = self.person_row(i, day)
            if row is not None:
                yield row

    def snapshot_size(self, day: dt.date) -> int:
        return int((self.people.birth <= day.toordinal()).sum())

    def group_records(self):
        for i in self.groups.members:
            yield from self.groups.records(int(i))

    # -- grants already made -------------------------------------------------------------------
    def grants(self) -> Iterator[Grant]:
        yield from self._elderly_allowance()
        yield from self._disability_subsidies()
        yield from self._childcare_subsidy()
        yield from self._enterprise_grants()

    def _months(self) -> list[dt.date]:
        months, month = [], self.config.start
        while month < self.config.world_end:
            months.append(month)
            month = add_months(month, 1)
        return months

    def _paid_in_advance(self, region: str) -> bool:
        return substream(self.config.seed, "advance-payer", region).random() < 0.35

    def _payment_date(self, month: dt.date, region: str) -> dt.date:
        if self._paid_in_advance(region):
            return add_months(month, -1).replace(day=25)
        return add_months(month, 1).replace(day=10)

    def _elderly_allowance(self) -> Iterator[Grant]:
        p = self.people
        covered = np.flatnonzero(_coverage(self.config.seed, "GLJT", len(p)) < 0.8)
        for month in self._months():
            first = month.toordinal()
            for i in covered[
                (p.birth[covered] <= first - 80 * 365)
                & ((p.death[covered] == 0) | (p.death[covered] > first))
            ]:
                age = p.age(int(i), month)
                region = p.hukou(int(i), month)
                if age < 80 or not is_city_region(region):
                    continue
                amount = 500 if age >= 100 else 200 if age >= 90 else 100
                yield Grant(
                    f"FFGLJT{month:%Y%m}{i:09d}",
                    "GLJT",
                    f"{month:%Y-%m}",
                    p.id_number(int(i)),
                    self._payment_date(month, region),
                    amount,
                )

    def _disability_subsidies(self) -> Iterator[Grant]:
        p, months = self.people, self._months()
        for i in np.flatnonzero(self.groups.cjr):
            i = int(i)
            if _coverage(self.config.seed, f"CJLB{i}", 1)[0] >= 0.7:
                continue
            records = self.groups.records(i)
            for month in months:
                rows = [r for r in records if r.kind == "CJR" and _ongoing(r, month)]
                poor = any(r.kind == "DB" and _ongoing(r, month) for r in records)
                region = p.hukou(i, month)
                if not rows or not p.alive(i, month) or not is_city_region(region):
                    continue
                # the most severe recorded level; none recorded: only 低保 pays (100 元)
                known = [r.level for r in rows if r.level is not None]
                severe = bool(known) and min(known) <= 2
                if not severe and not poor:
                    continue
                amount = (150 if severe else 0) + (100 if poor else 0)
                yield Grant(
                    f"FFCJLB{month:%Y%m}{i:09d}",
                    "CJLB",
                    f"{month:%Y-%m}",
                    p.id_number(i),
                    add_months(month, 1).replace(day=12),
                    amount,
                )

    def _childcare_subsidy(self) -> Iterator[Grant]:
        yield from self._paid(self._childcare_payouts())

    def _enterprise_grants(self) -> Iterator[Grant]:
        yield from self._paid(self._enterprise_payouts())

    def payouts(self) -> Iterator[Payout]:
        """Every 免申即享 payout of the world (simulator/payments.py): the one-off benefits the
        bureau's matching finds, approved, then paid after a delay or never."""
        yield from self._childcare_payouts()
        yield from self._enterprise_payouts()

    @staticmethod
    def _paid(payouts: Iterator[Payout]) -> Iterator[Grant]:
        for p in payouts:
            if p.paid_on is not None:
                yield Grant(p.ffbh, p.policy, p.period, p.subject, p.paid_on, p.amount)

    def _childcare_payouts(self) -> Iterator[Payout]:
        p, seed = self.people, self.config.seed
        for year in range(max(2025, self.config.start.year), self.config.world_end.year + 1):
            first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
            young = np.flatnonzero(
                (p.birth > first.toordinal() - 3 * 365) & (p.birth <= last.toordinal())
            )
            cover = _coverage(seed, f"YEBT{year}", len(p))
            for i in young[cover[young] < 0.6]:
                i = int(i)
                born = day_of(p.birth[i])
                # the birth (or the new year) reaches the population base about two weeks on
                eligible = max(born, first) + dt.timedelta(days=14 + int(cover[i] * 1000) % 20)
                if (
                    eligible > last
                    or eligible >= self.config.world_end
                    or not is_city_region(p.hukou(i, eligible))
                    or not p.alive(i, eligible)
                ):
                    continue
                ffbh = f"FFYEBT{year}{i:09d}"
                yield follow(seed, ffbh, "YEBT", str(year), p.id_number(i), 3600, eligible)

    def _enterprise_payouts(self) -> Iterator[Payout]:
        ents, seed = self.entities, self.config.seed
        for year in range(self.config.start.year, self.config.world_end.year + 1):
            cover = _coverage(seed, f"ENT{year}", len(ents))
            unpaid = self.gxjl_unpaid(year)
            for k in range(len(ents)):
                if not _active(ents, k, dt.date(year, 1, 1)):
                    continue
                facts = self.annual_facts(k, year - 1) if cover[k] < 0.5 else None
                if (
                    facts
                    and _stabilisation_eligible(facts)
                    and ENTITY_TYPES[ents.etype[k]] != "GTGSH"
                ):
                    # found once last year's facts are filed (annual_reports.py)
                    eligible = filed_on(seed, k, year - 1) + dt.timedelta(days=1)
                    yield follow(seed, f"FFXWWG{year}{k:09d}", "XWWG", str(year), ents.uscc(k),
                                 300 * facts[0], eligible)  # fmt: skip
                # GXJL: every eligible enterprise but the overlooked ones, found once the
                # bureau's list of last year's certificates is in (January to March)
                if ents.high_tech[k] == year - 1 and not ents.outside[k] and k not in unpaid:
                    eligible = dt.date(year, 1, 5) + dt.timedelta(days=int(cover[k] * 80))
                    yield follow(seed, f"FFGXJL{year}{k:09d}", "GXJL", str(year), ents.uscc(k),
                                 100000, eligible)  # fmt: skip

    def gxjl_unpaid(self, year: int) -> set[int]:
        """The enterprises entitled to GXJL for `year` that the bureau overlooked (免申即享
        exists to find them): a share of those certified in year - 1, at least one when any.
        They are drawn among the enterprises still registered in the city through the year
        (an enterprise that closes later in the year would not be found any more)."""
        ents = self.entities
        share = self.config.share("GXJL_unpaid")
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        eligible = [
            k
            for k in np.flatnonzero(ents.high_tech == year - 1)
            if _active(ents, int(k), first) and not ents.outside[k]
        ]
        if not eligible or share <= 0:
            return set()
        lasting = [k for k in eligible if _active(ents, int(k), last)] or eligible
        count = min(len(lasting), max(1, round(share * len(eligible))))
        rng = substream(self.config.seed, "gxjl-unpaid", year)
        return {int(k) for k in rng.sample(sorted(lasting), count)}

    # -- legal entities --------------------------------------------------------------------------
    def entity_record(self, k: int) -> EntityRecord:
        rng = substream(self.config.seed, "entity", k)
        rep = self.people.id_number(int(self.entities.owner[k]))
        record = EntityRecord(k, *maybe_dirty_identity(rep, rng, self.config))
        if rng.random() < 0.03:
            record.raw_rep_id = None  # not recorded (required: false)
        record.d1 = rng.random() < self.config.rate("D1")
        if rng.random() < self.config.rate("D3"):
            record.deleted = at(
                day_of(self.entities.founded[k]) + dt.timedelta(days=rng.randint(30, 900)),
                11 * 3600,
            )
        if rng.random() < self.config.rate("D7"):
            record.d7 = "9"
        return record

    def entity_row(self, record: EntityRecord, clock: dt.datetime) -> tuple | None:
        ents, k = self.entities, record.index
        founded = day_of(ents.founded[k])
        created = at(founded + dt.timedelta(days=1), 9 * 3600 + (k % 600) * 5)
        if created > clock:
            return None
        changed, status, closed = created, "1", None
        if ents.closed[k] and at(day_of(ents.closed[k]), 16 * 3600) <= clock:
            closed = day_of(ents.closed[k])
            status, changed = str(ents.close_kind[k]), at(closed, 16 * 3600)
        deleted = record.deleted is not None and record.deleted <= clock
        if deleted:
            changed = max(changed, record.deleted)
        capital = float(ents.capital[k]) if ents.capital[k] >= 0 else None
        return (
            ents.uscc(k),
            ents.name(k, self.people),
            ENTITY_TYPES[ents.etype[k]],
            self.people.name(int(ents.owner[k])),
            record.raw_rep_id,
            founded.isoformat(),
            capital,
            INDUSTRIES[ents.industry[k]],
            ents.xzqh(k),
            record.d7 or status,
            closed.isoformat() if closed else None,
            ts(changed),
            "1" if deleted else "0",
        )

    def annual_facts(self, k: int, year: int) -> tuple | None:
        """(CBRS, YYSR, YFFY, NSZE, CYRS_BD) of year, or None when the entity filed none."""
        ents = self.entities
        if not _active(ents, k, dt.date(year, 12, 31)) or day_of(ents.founded[k]).year > year:
            return None
        kind = ENTITY_TYPES[ents.etype[k]]
        rng = substream(self.config.seed, "facts", k, year)
        if kind == "GTGSH" and rng.random() > 0.2:
            return None
        staff = max(0, int(ents.staff[k] * rng.uniform(0.85, 1.15)))
        layoffs = (
            0
            if rng.random() < 0.65
            else max(0, int(staff * rng.uniform(0.0, 0.12)) + rng.randint(0, 2))
        )
        revenue = round(max(1.0, staff * rng.uniform(20, 80)), 2)
        research = (
            round(revenue * rng.uniform(0.03, 0.08), 2)
            if ents.high_tech[k]
            else round(revenue * rng.uniform(0, 0.01), 2)
        )
        return (
            None if rng.random() < 0.02 else staff,
            revenue,
            research,
            round(revenue * rng.uniform(0.01, 0.06), 2),
            None if rng.random() < 0.03 else layoffs,
        )

    def facts_rows(self, clock: dt.datetime) -> Iterator[tuple]:
        """The annual facts filed before the clock (simulator/annual_reports.py says when)."""
        today = clock.date()
        for k in range(len(self.entities)):
            for year in range(self.config.start.year - 2, today.year):
                facts = self.annual_facts(k, year)
                if facts is not None and filed_on(self.config.seed, k, year) < today:
                    yield (self.entities.uscc(k), year, *facts)

    def annual_reports(self) -> Iterator[tuple]:
        """Ground truth: every annual report of the world, when it is filed and whether late."""
        for k in range(len(self.entities)):
            for year in range(self.config.start.year - 2, self.config.world_end.year):
                if self.annual_facts(k, year) is not None:
                    day = filed_on(self.config.seed, k, year)
                    yield (self.entities.uscc(k), year, day.isoformat(), int(is_late(day)))


def _yes(flag: bool) -> str:
    return "1" if flag else "0"


def _coverage(seed: int, label: str, n: int) -> np.ndarray:
    from simulator.world import np_stream

    return np_stream(seed, "coverage", label).random(n)


def _ongoing(record, day: dt.date) -> bool:
    return (
        record.start <= day and (record.end is None or record.end >= day) and record.deleted is None
    )


def _active(ents, k: int, day: dt.date) -> bool:
    return ents.founded[k] <= day.toordinal() and not (
        ents.closed[k] and ents.closed[k] <= day.toordinal()
    )


def _stabilisation_eligible(facts: tuple) -> bool:
    staff, *_, layoffs = facts
    if staff is None or layoffs is None or not 1 <= staff <= 300:
        return False
    limit = 200 if staff <= 30 else 55
    return 1000 * layoffs <= limit * (staff + layoffs)
