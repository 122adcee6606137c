"""Registries that change slowly: certificates, special groups, grants, legal entities and
their annual facts, and the daily population snapshot. Each record carries its timeline,
so that its row at any clock can be projected."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from simulator.config import CityConfig, substream
from simulator.defects import dirty_uscc, maybe_dirty_identity
from simulator.timeutil import at, ts
from simulator.world import (
    DISTRICT_NAMES,
    DISTRICTS,
    ENTITY_TYPES,
    Entities,
    People,
    ProvincialFirms,
    Visitors,
    day_of,
    np_stream,
)

LIBRARY_MIGRATION = dt.datetime(2019, 6, 30, 2, 0, 0)  # certificates before it were migrated


def _later(*moments: dt.datetime | None) -> dt.datetime:
    return max(m for m in moments if m is not None)


@dataclass
class Certificate:
    zzbh: str
    kind: str
    holder: tuple[str, int]
    issued: dt.date
    valid_from: dt.date
    valid_to: dt.date | None
    issuer: str
    cancelled: dt.date | None = None
    stale: bool = False  # D13: status left at '1' after expiry
    deleted: dt.datetime | None = None
    d1: bool = False
    raw_code: str | None = None
    expected_code: str | None = None
    d7: str | None = None

    def pushed(self) -> dt.datetime:
        return max(at(self.issued, 10 * 3600 + hash_minutes(self.zzbh) * 60), LIBRARY_MIGRATION)

    def expiry(self) -> dt.datetime | None:
        """When the library marks it expired (status 3); never for a D13 stale record."""
        if self.valid_to and not self.stale:
            return at(self.valid_to + dt.timedelta(days=1), 3600)
        return None

    def cancellation(self) -> dt.datetime | None:
        return at(self.cancelled, 11 * 3600) if self.cancelled else None

    def moments(self) -> list[dt.datetime]:
        """The instants at which the library's row can change (`Certificates.row` is a step
        function of the clock with its steps here): an advance skips a certificate with none
        in the advanced span instead of rendering its row twice."""
        candidates = (self.pushed(), self.expiry(), self.cancellation(), self.deleted)
        return [moment for moment in candidates if moment is not None]

    def status(self, clock: dt.datetime) -> tuple[str, dt.datetime]:
        status, changed = "1", self.pushed()
        expiry, cancellation = self.expiry(), self.cancellation()
        if expiry is not None and expiry <= clock:
            status, changed = "3", _later(expiry, self.pushed())
        if cancellation is not None and cancellation <= clock:
            status, changed = "2", _later(cancellation, self.pushed())
        return status, changed


def hash_minutes(text: str) -> int:
    return sum(map(ord, text)) % 300


class Certificates:
    """The certificate library: every certificate of every person and entity, and of the
    non-residents and provincially registered firms whose certificates reach it. A holder is
    ("P", resident), ("E", entity), ("V", non-resident) or ("S", provincial firm)."""

    def __init__(
        self,
        config: CityConfig,
        people: People,
        entities: Entities,
        groups: Groups,
        visitors: Visitors | None = None,
        firms: ProvincialFirms | None = None,
    ):
        self.config, self.people, self.entities, self.groups = config, people, entities, groups
        self.visitors, self.firms = visitors, firms

    def holders(self) -> list[tuple[str, int]]:
        return (
            [("P", i) for i in range(len(self.people))]
            + [("E", k) for k in range(len(self.entities))]
            + [("V", j) for j in range(len(self.visitors or ()))]
            + [("S", j) for j in range(len(self.firms or ()))]
        )

    def of_holder(self, holder: tuple[str, int]) -> list[Certificate]:
        kind, index = holder
        return {
            "P": self.of_person,
            "E": self.of_entity,
            "V": self.of_visitor,
            "S": self.of_firm,
        }[kind](index)

    def holder_identity(self, holder: tuple[str, int]) -> tuple[str, str, str]:
        """(CZZTMC, CZZTDMLX, true CZZTDM) of a holder."""
        kind, index = holder
        if kind == "P":
            return self.people.name(index), "111", self.people.id_number(index)
        if kind == "V":
            people = self.visitors.people
            return people.name(index), "111", people.id_number(index)
        if kind == "S":
            return self.firms.name(index), "001", self.firms.uscc(index)
        return self.entities.name(index, self.people), "001", self.entities.uscc(index)

    def of_visitor(self, j: int) -> list[Certificate]:
        """A baby born here to non-resident parents: its 出生医学证明 only."""
        visitors = self.visitors
        if visitors.kind[j] != 1:
            return []
        born = day_of(visitors.arrival[j])
        if born >= self.config.world_end:
            return []
        rng = substream(self.config.seed, "cert", "V", j)
        hospital = rng.choice(["赣州市妇幼保健院", "赣州市人民医院", "赣南医科大学第一附属医院"])
        cert = Certificate(f"CSZMV{j:09d}01", "CSZM", ("V", j), born, born, None, hospital)
        self._defects(rng, [cert], visitors.people.id_number(j), "111")
        return [cert]

    def of_firm(self, j: int) -> list[Certificate]:
        """A provincially registered firm's GXJS certificate."""
        rng = substream(self.config.seed, "cert", "S", j)
        issued = day_of(self.firms.certified[j])
        if issued >= self.config.world_end:
            return []
        cert = Certificate(
            f"GXJSS{j:09d}01",
            "GXJS",
            ("S", j),
            issued,
            issued,
            _years_after(issued, 3) - dt.timedelta(days=1),
            "江西省科学技术厅",
        )
        self._defects(rng, [cert], self.firms.uscc(j), "001")
        return [cert]

    def of_person(self, i: int) -> list[Certificate]:
        rng = substream(self.config.seed, "cert", "P", i)
        people, end = self.people, self.config.world_end
        born = day_of(people.birth[i])
        certs: list[Certificate] = []
        district = DISTRICT_NAMES[DISTRICTS[people.district[i]]]
        number = 0

        def add(kind, issued, valid_to, issuer, **extra):
            nonlocal number
            number += 1
            if issued >= end:
                return None
            cert = Certificate(
                f"{kind}P{i:09d}{number:02d}",
                kind,
                ("P", i),
                issued,
                issued,
                valid_to,
                issuer,
                **extra,
            )
            certs.append(cert)
            return cert

        add("HKB", max(born, dt.date(2000, 1, 1)), None, f"赣州市公安局{district}分局")
        if born.year >= 1996:
            add("CSZM", born, None, "赣州市妇幼保健院")
        self._identity_cards(rng, i, born, add)
        adult = _years_after(born, 18)
        if rng.random() < 0.45 and adult < end:
            first = adult + dt.timedelta(days=rng.randint(0, 8000))
            add(
                "JSZ",
                first,
                _years_after(first, 6) - dt.timedelta(days=1),
                "赣州市公安局交通警察支队",
            )
        if rng.random() < 0.6:
            add(
                "JHZ",
                _years_after(born, 22) + dt.timedelta(days=rng.randint(0, 3000)),
                None,
                f"{district}民政局",
            )
        if rng.random() < 0.4:
            add(
                "BDCQZ",
                _years_after(born, 28) + dt.timedelta(days=rng.randint(0, 7000)),
                None,
                "赣州市不动产登记中心",
            )
        for start, _ in self.groups.disability_periods(i):
            if rng.random() < 0.92:
                valid_to = _years_after(start, rng.choice([5, 10])) - dt.timedelta(days=1)
                add("CJRZ", start, valid_to, "赣州市残疾人联合会")
        death = people.death[i]
        for cert in certs:
            if death and cert.cancelled is None:
                cert.cancelled = day_of(death) + dt.timedelta(days=rng.randint(5, 60))
        self._defects(rng, certs, people.id_number(i), "111")
        return [c for c in certs if c.issued < end]

    def _identity_cards(self, rng, i, born, add) -> None:
        issued = max(_years_after(born, 16), dt.date(1995, 1, 1)) + dt.timedelta(
            days=rng.randint(0, 400)
        )
        previous = None
        while issued < self.config.world_end:
            age = (issued - born).days // 365
            years = 5 if age < 16 else 10 if age < 26 else 20 if age < 46 else None
            valid_to = _years_after(issued, years) - dt.timedelta(days=1) if years else None
            cert = add("SFZ", issued, valid_to, "赣州市公安局")
            if previous is not None and cert is not None:
                previous.cancelled = issued
            previous = cert
            if valid_to is None:
                break
            # Most renew before expiry; some let the card lapse for a while.
            issued = valid_to - dt.timedelta(days=rng.randint(-120, 60))

    def of_entity(self, k: int) -> list[Certificate]:
        rng = substream(self.config.seed, "cert", "E", k)
        ents = self.entities
        founded = day_of(ents.founded[k])
        district = DISTRICT_NAMES[DISTRICTS[ents.district[k]]]
        closed = day_of(ents.closed[k]) if ents.closed[k] else None
        certs = [
            Certificate(
                f"YYZZE{k:09d}01",
                "YYZZ",
                ("E", k),
                founded,
                founded,
                None,
                f"{district}市场监督管理局",
                cancelled=closed,
            )
        ]
        if ENTITY_TYPES[ents.etype[k]] in ("GTGSH", "YXGS") and rng.random() < 0.2:
            issued = founded + dt.timedelta(days=rng.randint(10, 200))
            number = 1
            while issued < self.config.world_end:
                valid_to = _years_after(issued, 5) - dt.timedelta(days=1)
                certs.append(
                    Certificate(
                        f"SPJYE{k:09d}{number:02d}",
                        "SPJY",
                        ("E", k),
                        issued,
                        issued,
                        valid_to,
                        f"{district}市场监督管理局",
                        cancelled=closed,
                    )
                )
                issued, number = valid_to + dt.timedelta(days=rng.randint(-30, 30)), number + 1
        if ents.high_tech[k]:
            issued = dt.date(int(ents.high_tech[k]), rng.randint(10, 12), rng.randint(1, 28))
            certs.append(
                Certificate(
                    f"GXJSE{k:09d}01",
                    "GXJS",
                    ("E", k),
                    issued,
                    issued,
                    _years_after(issued, 3) - dt.timedelta(days=1),
                    "江西省科学技术厅",
                )
            )
        self._defects(rng, certs, ents.uscc(k), "001")
        return [c for c in certs if c.issued < self.config.world_end]

    def _defects(self, rng, certs, code, code_type) -> None:
        config = self.config
        for cert in certs:
            cert.stale = cert.valid_to is not None and rng.random() < config.rate("D13")
            cert.d1 = rng.random() < config.rate("D1")
            if rng.random() < config.rate("D3"):
                cert.deleted = cert.pushed() + dt.timedelta(days=rng.randint(1, 400))
            if rng.random() < config.rate("D7"):
                cert.d7 = "9"
            if code_type == "111":
                raw, expected = maybe_dirty_identity(code, rng, config)
                if expected is not None:
                    cert.raw_code, cert.expected_code = raw, expected
            elif code_type == "001" and rng.random() < config.rate("D5"):
                cert.raw_code, cert.expected_code = dirty_uscc(code, rng)

    def usable(self, holder: tuple[str, int | None], day: dt.date) -> str | None:
        """The certificate a case shares instead of paper: the applicant's 户口簿 (a person)
        or 营业执照 (an entity). Both are the holder's first certificate and never expire, so
        the number is known without drawing the holder's whole library (a hot path)."""
        kind, index = holder
        if kind == "P":
            issued = max(day_of(self.people.birth[index]), dt.date(2000, 1, 1))
            number = f"HKBP{index:09d}01"
        else:
            if self.entities.closed[index] and day_of(self.entities.closed[index]) <= day:
                return None
            issued = day_of(self.entities.founded[index])
            number = f"YYZZE{index:09d}01"
        if max(issued, LIBRARY_MIGRATION.date()) > day:
            return None
        return number

    def row(self, cert: Certificate, clock: dt.datetime) -> tuple | None:
        if cert.pushed() > clock:
            return None
        status, changed = cert.status(clock)
        deleted = cert.deleted is not None and cert.deleted <= clock
        if deleted:
            changed = max(changed, cert.deleted)
        name, code_type, code = self.holder_identity(cert.holder)
        return (
            cert.zzbh,
            cert.d7 or cert.kind,
            name,
            code_type,
            cert.raw_code or code,
            cert.issuer,
            cert.issued.isoformat(),
            cert.valid_from.isoformat(),
            cert.valid_to.isoformat() if cert.valid_to else None,
            status,
            ts(changed),
            "1" if deleted else "0",
        )


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass
class GroupRecord:
    tsqtbh: str
    person: int
    kind: str
    level: int | None
    start: dt.date
    end: dt.date | None
    ended_known: dt.date | None  # when the end was recorded
    deleted: dt.datetime | None = None
    d1: bool = False
    d7: str | None = None
    level_unrecorded: bool = False  # a CJR row whose CJDJ was never entered

    def row(self, id_number: str, clock: dt.datetime) -> tuple | None:
        created = at(self.start + dt.timedelta(days=3), 9 * 3600 + hash_minutes(self.tsqtbh) * 60)
        if created > clock:
            return None
        changed = created
        end = None
        if self.end and self.ended_known and at(self.ended_known, 15 * 3600) <= clock:
            end, changed = self.end, at(self.ended_known, 15 * 3600)
        deleted = self.deleted is not None and self.deleted <= clock
        if deleted:
            changed = max(changed, self.deleted)
        return (
            self.tsqtbh,
            id_number,
            self.d7 or self.kind,
            self.level,
            self.start.isoformat(),
            end.isoformat() if end else None,
            ts(changed),
            "1" if deleted else "0",
        )


class Groups:
    """Special groups (残疾人, 低保, 特困, 优抚) from 民政 and 残联."""

    def __init__(self, config: CityConfig, people: People):
        self.config, self.people = config, people
        rng = np_stream(config.seed, "groups", config.people)
        clock = config.end.toordinal()
        age = (clock - people.birth) / 365.25
        n = len(people)
        self.cjr = rng.random(n) < (0.02 + 0.0009 * np.clip(age, 0, 100))
        self.db = rng.random(n) < 0.03
        self.tk = rng.random(n) < np.where(age > 60, 0.02, 0.001)
        self.yf = (rng.random(n) < 0.006) & (age > 35)
        self.members = np.flatnonzero(self.cjr | self.db | self.tk | self.yf)
        # 残疾人 whose current CJR row carries no CJDJ (the column is not required): the row
        # was entered, e.g. by a street office, without the level the 残联 card states.
        disabled = np.flatnonzero(self.cjr)
        share = config.share("CJDJ_unrecorded")
        count = min(len(disabled), max(3, round(share * len(disabled)))) if share > 0 else 0
        self.level_unrecorded = np.zeros(n, bool)
        if count:
            pick = np_stream(config.seed, "cjdj-unrecorded", config.people)
            self.level_unrecorded[pick.choice(disabled, size=count, replace=False)] = True

    def records(self, i: int) -> list[GroupRecord]:
        rng = substream(self.config.seed, "group", i)
        born = day_of(self.people.birth[i])
        death = day_of(self.people.death[i]) if self.people.death[i] else None
        earliest = max(born + dt.timedelta(days=200), dt.date(2012, 1, 1))
        span = (self.config.world_end - earliest).days
        if span <= 0:
            return []
        out: list[GroupRecord] = []

        def add(kind, level, start, end):
            if death and (end is None or end > death) and start < death:
                end = death
            known = end + dt.timedelta(days=rng.randint(1, 20)) if end else None
            out.append(
                GroupRecord(f"TS{i:09d}{len(out) + 1:02d}", i, kind, level, start, end, known)
            )

        if self.cjr[i]:
            start = earliest + dt.timedelta(days=rng.randrange(span))
            level = rng.choices([1, 2, 3, 4], [0.15, 0.25, 0.3, 0.3])[0]
            if rng.random() < 0.15 and (self.config.world_end - start).days > 400:
                reassessed = start + dt.timedelta(
                    days=rng.randint(200, (self.config.world_end - start).days - 1)
                )
                add("CJR", level, start, reassessed - dt.timedelta(days=1))
                add("CJR", max(1, level - 1), reassessed, None)
            else:
                add("CJR", level, start, None)
            if self.level_unrecorded[i]:  # the latest CJR row
                out[-1].level, out[-1].level_unrecorded = None, True
        for kind, member, ends in (
            ("DB", self.db, 0.3),
            ("TK", self.tk, 0.05),
            ("YF", self.yf, 0.0),
        ):
            if member[i]:
                start = earliest + dt.timedelta(days=rng.randrange(span))
                end = None
                if rng.random() < ends:
                    end = start + dt.timedelta(days=rng.randint(180, 1200))
                add(kind, None, start, end)
        for record in out:
            record.d1 = rng.random() < self.config.rate("D1")
            if rng.random() < self.config.rate("D3"):
                record.deleted = at(
                    record.start + dt.timedelta(days=rng.randint(10, 300)), 16 * 3600
                )
            if rng.random() < self.config.rate("D7"):
                record.d7 = "XX"
        return out

    def disability_periods(self, i: int) -> list[tuple[dt.date, dt.date | None]]:
        if not self.cjr[i]:
            return []
        return [(r.start, r.end) for r in self.records(i) if r.kind == "CJR"]


@dataclass
class Grant:
    ffbh: str
    policy: str
    period: str
    subject: str
    paid: dt.date
    amount: float
    d1: bool = False

    def pushed(self) -> dt.datetime:
        return at(self.paid, 10 * 3600 + hash_minutes(self.ffbh) * 60)

    def row(self, clock: dt.datetime) -> tuple | None:
        if self.pushed() > clock:
            return None
        return (
            self.ffbh,
            self.policy,
            self.period,
            self.subject,
            self.paid.isoformat(),
            round(self.amount, 2),
            ts(self.pushed()),
        )


@dataclass
class EntityRecord:
    index: int
    raw_rep_id: str
    expected_rep_id: str | None
    deleted: dt.datetime | None = None
    d1: bool = False
    d7: str | None = None
    facts: dict[int, tuple] = field(default_factory=dict)
