"""Build a city (`generate`) and move its clock on (`advance`), writing every system.

Both go through one projection: each record knows its whole timeline, so the rows at the
new clock are compared with the rows at the previous clock (none, for `generate`) and only
the differences are written, exactly as a department's exchange database would change.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from contract import load_contract
from simulator import hcp_files, v2_cases
from simulator.buffered import BufferedTables
from simulator.cases import Case, Day
from simulator.city import City
from simulator.config import substream
from simulator.defects import Manifest
from simulator.hotline_store import open_store, store_path, unsynced, write_orders
from simulator.schema import EXCHANGE_SYSTEMS, create_table_sql
from simulator.tickets import TicketFactory
from simulator.timeutil import add_months, at, ts
from simulator.world import NON_RESIDENT_KINDS, day_of

CASE_HORIZON = dt.timedelta(days=120)  # a case's rows stop changing within this span
TICKET_HORIZON = dt.timedelta(days=90)
EPOCH, SECOND = dt.datetime(1970, 1, 1), dt.timedelta(seconds=1)  # the moments index's clock
DRIFT_COLUMN = ("case_platform", "bb_jl", "BBRY")  # D11: a column the vendor added
SYSTEM_OF_TABLE = {t.name: t.system for t in load_contract().tables()}

Progress = Callable[[str, int, int], None]


class CityError(RuntimeError):
    """A city directory that cannot be generated into or advanced."""


def _quiet(_stage: str, _done: int, _total: int) -> None:
    return None


class Exchange(BufferedTables):
    """Writes the exchange databases: inserts in bulk, and replaces a key's rows in place."""

    def __init__(self, out: Path, create: bool, drift: bool, systems=EXCHANGE_SYSTEMS):
        """The databases under `out/exchange` (`out` is a worker's part folder while a city
        is generated in parallel; run.merge_parts joins the parts). An advance in two
        processes gives each process the `systems` it writes."""
        super().__init__()
        self.conns: dict[str, sqlite3.Connection] = {}
        (out / "exchange").mkdir(parents=True, exist_ok=True)
        contract = load_contract()
        for system in systems:
            # The other process of an advance may be committing: wait, do not fail.
            conn = sqlite3.connect(out / "exchange" / f"{system}.sqlite", timeout=600)
            unsynced(conn)
            self.conns[system] = conn
            if create:
                for table in contract.systems[system].tables.values():
                    extra = (DRIFT_COLUMN[2],) if drift and table.name == DRIFT_COLUMN[1] else ()
                    conn.execute(create_table_sql(table, "sqlite", extra_columns=extra))
        self.keys = {t.name: t.key for t in contract.tables()}
        if not create:
            self._index_keys()

    def _index_keys(self) -> None:
        """An advance replaces changed keys one at a time: without an index on the key each
        replacement scans its whole table (hours for a 1,000,000-person city). Built once, by
        the first advance, so a freshly generated city is written without index upkeep."""
        for table, columns in self.keys.items():
            if not columns or SYSTEM_OF_TABLE[table] not in self.conns:
                continue
            names = ", ".join(f'"{c}"' for c in columns)
            self.conn(table).execute(f"CREATE INDEX IF NOT EXISTS key_{table} ON {table} ({names})")

    def conn(self, table: str) -> sqlite3.Connection:
        return self.conns[SYSTEM_OF_TABLE[table]]

    def commit(self) -> None:
        for conn in self.conns.values():
            conn.commit()

    def _flush(self, table: str) -> None:
        if SYSTEM_OF_TABLE[table] in self.deferred:
            return
        rows = self.buffers.get(table)
        if rows:
            marks = ",".join("?" * len(rows[0]))
            self.conn(table).executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            rows.clear()

    def replace_key(self, table: str, key: str, rows: list[tuple]) -> None:
        if SYSTEM_OF_TABLE[table] in self.deferred:
            raise CityError(f"{table} is written by the other process of this advance")
        self._flush(table)
        columns = self.keys[table]
        where = " AND ".join(f'"{c}" = ?' for c in columns)
        self.conn(table).execute(f"DELETE FROM {table} WHERE {where}", key.split("|"))
        self.insert(table, rows)

    def clear(self, table: str) -> None:
        self._flush(table)
        self.conn(table).execute(f"DELETE FROM {table}")

    def max_value(self, table: str, column: str) -> int:
        self._flush(table)
        value = self.conn(table).execute(f'SELECT MAX("{column}") FROM {table}').fetchone()[0]
        return int(value or 0)

    def close(self) -> None:
        self.release()
        for conn in self.conns.values():
            conn.commit()
            conn.close()


def days_drawn(
    start: dt.date, before: dt.datetime | None, after: dt.datetime, horizon: dt.timedelta
) -> list[dt.date]:
    """The days a projection from `before` (None: a new city, from `start`) to `after` draws:
    back to `horizon` before `before`, whose records may still change in the span."""
    first = start if before is None else max(start, (before - horizon).date())
    last = (after - dt.timedelta(seconds=1)).date()
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


class Projection:
    """Writes what changed between two clocks, with its ground truth."""

    def __init__(
        self,
        city: City,
        out: Path,
        before: dt.datetime | None,
        after: dt.datetime,
        manifest: Manifest,
        exchange: Exchange,
        advance_no: int,
        progress: Progress,
    ):
        self.city, self.out, self.before, self.after = city, out, before, after
        self.manifest, self.exchange = manifest, exchange
        self.advance_no, self.progress = advance_no, progress
        self.config = city.config
        self.counts: dict[str, dict[str, int]] = {}
        self._new_record = True
        # May the 好差评 files be written by other processes (a parallel generate or advance)?
        self.background_files = False

    # -- bookkeeping ----------------------------------------------------------------------
    def _changed(
        self,
        table: str,
        key: str,
        old: tuple | None,
        new: tuple | None,
        rows: list[tuple],
        truth: Callable[[], None],
    ) -> None:
        """Write one key's new state and record what happened to it."""
        if new == old:
            return
        self._new_record = old is None
        if self.before is None:
            self.exchange.insert(table, rows)
        else:
            self.exchange.replace_key(table, key, rows)
            self.manifest.forget_defects(table, key)
            self._log(table, key, _kind_of_change(old, new))
        if self.config.ground_truth:  # the truth is worked out only to be recorded
            truth()
        tally = self.counts.setdefault(table, {"added": 0, "changed": 0, "deleted": 0})
        tally[_kind_of_change(old, new)] += 1

    def _log(self, table: str, key: str, change: str) -> None:
        self.manifest.change(
            self.advance_no, ts(self.after), SYSTEM_OF_TABLE[table], table, key, change
        )

    def _defect(self, table, key, defect, column=None, detail=None, expected=None) -> None:
        self.manifest.defect(SYSTEM_OF_TABLE[table], table, key, defect, column, detail, expected)

    def _identity(self, table, key, column, id_type, true_id) -> None:
        if not self._new_record:  # a changed record already has its truth
            return
        self.manifest.identity(SYSTEM_OF_TABLE[table], table, key, column, id_type, true_id)

    def _old(self, row_at: Callable[[dt.datetime], tuple | None]) -> tuple | None:
        """A record's row at the previous clock (None for a new city)."""
        return row_at(self.before) if self.before is not None else None

    def _days(self, horizon: dt.timedelta) -> list[dt.date]:
        return days_drawn(self.config.start, self.before, self.after, horizon)

    # -- case platform ----------------------------------------------------------------------
    def catalogue(self) -> None:
        if self.before is None:
            self.exchange.insert("sxml", self.city.sxml_rows(self.after))
            v2_cases.record_catalogue(self.manifest, self.config)
            return
        before = {r[0]: r for r in self.city.sxml_rows(self.before)}
        for row in self.city.sxml_rows(self.after):  # revisions (v2_cases) the days brought
            self._changed("sxml", row[0], before[row[0]], row, [row], lambda: None)

    def case_days(self, chunks: Iterable[list[dt.date]] | None = None, scratch=None) -> None:
        """The case platform's days: all of them, or (a parallel generate) the `chunks` of
        days handed to this process, their ratings kept under `scratch` (default: the
        city's own folder). Certificate uses are numbered from 1 in each process; the merge
        renumbers them (run._number_uses)."""
        days = self._days(CASE_HORIZON)
        dybh = self.exchange.max_value("dzzz_yyjl", "DYBH") if self.before else 0
        ratings = _RatingStore(scratch or self.out, create=self.before is None)
        done = 0
        for chunk in [days] if chunks is None else chunks:
            for day in chunk:
                produced = self.city.cases.day(day)
                for case in produced.cases:
                    self._case(case)
                for session in produced.help_sessions:
                    self._help(session)
                dybh = self._uses(produced, dybh)
                ratings.add(day, produced.ratings)
                done += 1
                self.progress("cases", done, len(days))
        ratings.close()

    def _case(self, case: Case) -> None:
        old, new = self._old(case.row), case.row(self.after)
        rows = [new, new] if new and case.d1 else [new] if new else []

        def truth():
            key = case.sblsh
            self._identity("bj_jbxx", key, "SQRZJHM", case.id_type, case.id_true)
            self._case_defects(case, new)

        self._changed("bj_jbxx", case.sblsh, old, new, rows, truth)
        old_steps = {r[0] for r in case.step_rows(self.before)} if self.before else set()
        for n, step in enumerate(case.step_rows(self.after), start=1):
            if step[0] in old_steps:
                continue
            copies = 2 if n in case.step_dups else 1
            self.exchange.insert("bj_gcxx", [step] * copies)
            if copies == 2:
                self._defect("bj_gcxx", step[0], "D1", detail="2", expected="one row downstream")
            if self.before is not None:
                self._log("bj_gcxx", step[0], "added")

    def _case_defects(self, case: Case, row: tuple) -> None:
        key = case.sblsh
        if case.d1:
            self._defect("bj_jbxx", key, "D1", detail="2", expected="one row downstream")
        if row[20] == "1":
            self._defect("bj_jbxx", key, "D3", expected="deleted")
        if case.id_raw != case.id_true:
            kind = "D4" if case.id_type == "111" else "D5"
            self._defect(
                "bj_jbxx", key, kind, "SQRZJHM", case.id_raw, _normalised(case.id_raw, case.id_true)
            )
        if case.d6 == "SLSJ<SQSJ" and row[10]:
            self._defect("bj_jbxx", key, "D6", "SLSJ", "SLSJ<SQSJ", "flagged")
        if case.d6 == "BJSJ<SLSJ" and row[11] and row[10]:
            self._defect("bj_jbxx", key, "D6", "BJSJ", "BJSJ<SLSJ", "flagged")
        if case.d7:
            self._defect("bj_jbxx", key, "D7", "SQFS", case.d7, "quarantined")
        if case.delay >= dt.timedelta(days=1):
            self._defect("bj_jbxx", key, "D9", "GXSJ", str(case.delay.days), "late")
        if any(ch for ch in case.applicant_name if ord(ch) > 0xFFFF or _outside_gbk(ch)):
            self._defect("bj_jbxx", key, "D14", "SQRMC", case.applicant_name, "preserved")

    def _help(self, session) -> None:
        drift = self.config.drift_column
        old, new = (
            self._old(lambda clock: session.row(clock, drift)),
            session.row(self.after, drift),
        )
        rows = [new, new] if new and session.d1 else [new] if new else []

        def truth():
            key = session.bbbh
            if session.id_true:
                self._identity("bb_jl", key, "SQRZJHM", "111", session.id_true)
            if session.d1:
                self._defect("bb_jl", key, "D1", detail="2", expected="one row downstream")
            if session.id_raw != session.id_true:
                self._defect(
                    "bb_jl",
                    key,
                    "D4",
                    "SQRZJHM",
                    session.id_raw,
                    _normalised(session.id_raw, session.id_true),
                )
            if session.d6 and new[5]:
                self._defect("bb_jl", key, "D6", "SCXYSJ", "SCXYSJ<QQSJ", "flagged")
            if session.d7:
                self._defect("bb_jl", key, "D7", "BBQD", session.d7, "quarantined")

        self._changed("bb_jl", session.bbbh, old, new, rows, truth)

    def _uses(self, produced: Day, dybh: int) -> int:
        for use in produced.uses:
            visible = use.time <= self.after
            seen = self.before is not None and use.time <= self.before
            if not visible or seen:
                continue
            dybh += 1
            key = str(dybh)
            self.exchange.insert("dzzz_yyjl", [use.row(dybh)])
            if self.before is not None:
                self._log("dzzz_yyjl", key, "added")
            if use.orphan:
                self._defect("dzzz_yyjl", key, "D8", "SBLSH", use.sblsh, "orphan")
            if use.d7:
                self._defect("dzzz_yyjl", key, "D7", "DYFS", use.d7, "quarantined")
        return dybh

    # -- hotline ------------------------------------------------------------------------------
    def hotline(self) -> None:
        factory = TicketFactory(self.config, self.city.people)
        store = open_store(store_path(self.out), create=self.before is None)
        days = self._days(TICKET_HORIZON)
        for n, day in enumerate(days, start=1):
            changed = []
            for order in factory.day(day):
                old, new = self._old(order.row), order.row(self.after)
                if new == old:
                    continue
                changed.append(new)
                if self.before is not None:
                    self.manifest.forget_defects("work_orders", order.gdbh)
                    self._log("work_orders", order.gdbh, _kind_of_change(old, new))
                self._new_record = old is None
                if self.config.ground_truth:
                    self._order_truth(order, new)
                    if order.planted and old is None:
                        planted = ("hotline_12345", "work_orders", order.gdbh, *order.planted)
                        self.manifest.planted(*planted)
            write_orders(store, changed, new_only=self.before is None)
            self.progress("hotline", n, len(days))
        store.commit()
        store.close()

    def _order_truth(self, order, new: tuple) -> None:
        key = order.gdbh
        self._identity(
            "work_orders", key, "ldrzjhm", "111", self.city.people.id_number(order.person)
        )
        if self._new_record:
            for kind, detail in order.hard_cases:
                self.manifest.linkage_case("hotline_12345", "work_orders", key, kind, detail)
        if order.id_raw != order.id_true:
            normalised = _normalised(order.id_raw, order.id_true)
            self._defect("work_orders", key, "D4", "ldrzjhm", order.id_raw, normalised)
        if order.d7 and new[16]:
            self._defect("work_orders", key, "D7", "myd", order.d7, "quarantined")

    # -- registries ---------------------------------------------------------------------------
    def certificates(self) -> None:
        certs = self.city.certificates
        holders = certs.holders()
        changing = self._changing_holders(len(holders))
        # What a generate indexes for advances: (holder position, second) of each later
        # moment up to the end of the world, in compact arrays (millions at L).
        positions, seconds = array("q"), array("q")
        last = at(self.config.world_end, 0)
        for n, position in enumerate(changing, start=1):
            for cert in certs.of_holder(holders[position]):
                self._certificate(cert)
                if self.before is not None:
                    continue
                for moment in cert.moments():
                    if self.after < moment <= last:
                        positions.append(position)
                        seconds.append((moment - EPOCH) // SECOND)
            if n % 2000 == 0 or n == len(changing):
                self.progress("certificates", n, len(changing))
        if self.before is None:
            self._index_certificate_moments(positions, seconds)

    def _moments_index(self) -> Path:
        return self.out / ".simulator" / "certificate_moments.npz"

    def _index_certificate_moments(self, positions: array, seconds: array) -> None:
        """Each holder's later moments (Certificate.moments: the instants its rows can change),
        by time: an advance then projects only the holders with one in its span, instead of
        every holder's certificates (most of the registries' share of an advance)."""
        order = np.argsort(np.frombuffer(seconds, dtype=np.int64), kind="stable")
        self._moments_index().parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            self._moments_index(),
            positions=np.frombuffer(positions, dtype=np.int64)[order],
            seconds=np.frombuffer(seconds, dtype=np.int64)[order],
        )

    def _changing_holders(self, count: int) -> list[int]:
        """Positions of the holders whose certificates may change by this clock: all of them
        for a generate (or a city generated without the index), in the holders' order."""
        if self.before is None or not self._moments_index().exists():
            return list(range(count))
        index = np.load(self._moments_index())
        seconds = index["seconds"]
        low = np.searchsorted(seconds, (self.before - EPOCH) // SECOND, side="right")
        high = np.searchsorted(seconds, (self.after - EPOCH) // SECOND, side="right")
        return np.unique(index["positions"][low:high]).tolist()

    def _certificate(self, cert) -> None:
        if self.before is not None and not any(
            self.before < moment <= self.after for moment in cert.moments()
        ):
            return  # its row is the same at both clocks
        certs = self.city.certificates
        old, new = self._old(lambda clock: certs.row(cert, clock)), certs.row(cert, self.after)
        rows = [new, new] if new and cert.d1 else [new] if new else []

        def truth():
            key = cert.zzbh
            _, code_type, true_id = certs.holder_identity(cert.holder)
            self._identity("dzzz_zzxx", key, "CZZTDM", code_type, true_id)
            if cert.d1:
                self._defect("dzzz_zzxx", key, "D1", detail="2", expected="one row downstream")
            if new[11] == "1":
                self._defect("dzzz_zzxx", key, "D3", expected="deleted")
            if cert.raw_code:
                self._defect(
                    "dzzz_zzxx",
                    key,
                    "D4" if code_type == "111" else "D5",
                    "CZZTDM",
                    cert.raw_code,
                    cert.expected_code,
                )
            if cert.d7:
                self._defect("dzzz_zzxx", key, "D7", "ZZLXDM", cert.d7, "quarantined")
            if new[9] == "1" and new[8] and new[8] < self.after.date().isoformat():
                expiry = dt.date.fromisoformat(new[8]) + dt.timedelta(days=1)
                self._defect("dzzz_zzxx", key, "D13", "ZZZT", new[8], f"expired from {expiry}")
            if any(_outside_gbk(ch) for ch in new[2]):
                self._defect("dzzz_zzxx", key, "D14", "CZZTMC", new[2], "preserved")

        self._changed("dzzz_zzxx", cert.zzbh, old, new, rows, truth)

    def groups(self) -> None:
        people = self.city.people
        for record in self.city.group_records():
            id_number = people.id_number(record.person)
            old, new = (
                self._old(functools.partial(record.row, id_number)),
                record.row(id_number, self.after),
            )
            rows = [new, new] if new and record.d1 else [new] if new else []

            def truth(record=record, new=new, id_number=id_number):
                key = record.tsqtbh
                self._identity("rk_tsqt", key, "GMSFHM", "111", id_number)
                if record.d1:
                    self._defect("rk_tsqt", key, "D1", detail="2", expected="one row downstream")
                if new[7] == "1":
                    self._defect("rk_tsqt", key, "D3", expected="deleted")
                if record.d7:
                    self._defect("rk_tsqt", key, "D7", "QTLX", record.d7, "quarantined")
                if record.level_unrecorded and self._new_record:
                    self.manifest.gap(
                        "population_base", "rk_tsqt", key, "CJDJ", "level not recorded"
                    )

            self._changed("rk_tsqt", record.tsqtbh, old, new, rows, truth)

    def grants(self) -> None:
        for grant in self.city.grants():
            old, new = self._old(grant.row), grant.row(self.after)
            dup = new is not None and substream(
                self.config.seed, "d1", grant.ffbh
            ).random() < self.config.rate("D1")
            rows = [new, new] if dup else [new] if new else []

            def truth(grant=grant, dup=dup):
                subject_type = "001" if grant.policy in ("XWWG", "GXJL") else "111"
                self._identity("jf_ffjl", grant.ffbh, "DXDM", subject_type, grant.subject)
                if dup:
                    self._defect(
                        "jf_ffjl", grant.ffbh, "D1", detail="2", expected="one row downstream"
                    )

            self._changed("jf_ffjl", grant.ffbh, old, new, rows, truth)
        self._payouts()

    def _payouts(self) -> None:
        """Ground truth of every 免申即享 payout of the world, written once (payments.py)."""
        if self.before is not None or not self.config.ground_truth:
            return
        for payout in self.city.payouts():
            self.manifest.payout(payout.truth_row())

    def entities(self) -> None:
        ents = self.city.entities
        for k in range(len(ents)):
            record = self.city.entity_record(k)
            old, new = (
                self._old(functools.partial(self.city.entity_row, record)),
                self.city.entity_row(record, self.after),
            )
            rows = [new, new] if new and record.d1 else [new] if new else []

            def truth(record=record, new=new, k=k):
                key = new[0]
                owner = self.city.people.id_number(int(ents.owner[k]))
                if record.raw_rep_id is not None:
                    self._identity("fr_jbxx", key, "FDDBRZJHM", "111", owner)
                if record.d1:
                    self._defect("fr_jbxx", key, "D1", detail="2", expected="one row downstream")
                if new[12] == "1":
                    self._defect("fr_jbxx", key, "D3", expected="deleted")
                if record.raw_rep_id not in (None, owner):
                    self._defect(
                        "fr_jbxx", key, "D4", "FDDBRZJHM", record.raw_rep_id, record.expected_rep_id
                    )
                if record.d7:
                    self._defect("fr_jbxx", key, "D7", "DJZT", record.d7, "quarantined")

            key = new[0] if new else ents.uscc(k)
            self._changed("fr_jbxx", key, old, new, rows, truth)
        self._annual_facts()

    def _annual_facts(self) -> None:
        """fr_ndxx has no change column: the department re-delivers it whole."""
        new_rows = list(self.city.facts_rows(self.after))
        if self.before is not None:
            old_rows = set(self.city.facts_rows(self.before))
            if set(new_rows) == old_rows:
                return
            self.exchange.clear("fr_ndxx")
            for row in set(new_rows) - old_rows:
                self._log("fr_ndxx", f"{row[0]}|{row[1]}", "added")
        self.exchange.insert("fr_ndxx", new_rows)
        if self.before is None and self.config.ground_truth:
            for row in self.city.annual_reports():
                self.manifest.annual_report(row)

    # -- non-residents ---------------------------------------------------------------------------
    def non_residents(self) -> None:
        """Ground truth of everyone the city's systems may name who is in neither base: the
        whole world's list, written once (whether one has been seen by a clock is in
        identity_truth)."""
        if self.before is not None or not self.config.ground_truth:
            return
        visitors = self.city.visitors
        people = visitors.people
        for j in range(len(visitors)):
            self.manifest.non_resident(
                "person",
                people.id_number(j),
                NON_RESIDENT_KINDS[visitors.kind[j]],
                people.name(j),
                str(people.sex[j]),
                day_of(people.birth[j]).isoformat(),
                visitors.hukou(j),
                day_of(visitors.arrival[j]).isoformat(),
            )
        firms = self.city.provincial_firms
        for j in range(len(firms)):
            self.manifest.non_resident(
                "enterprise",
                firms.uscc(j),
                "provincial_high_tech",
                firms.name(j),
                None,
                None,
                "360000",
                day_of(firms.certified[j]).isoformat(),
            )

    # -- population snapshot -------------------------------------------------------------------
    def population(self) -> None:
        last_day = (self.after - dt.timedelta(seconds=1)).date()
        first_day = (
            self.config.start
            if self.before is None
            else (self.before - dt.timedelta(seconds=1)).date() + dt.timedelta(days=1)
        )
        fault = None
        for day in [
            first_day + dt.timedelta(days=n) for n in range((last_day - first_day).days + 1)
        ]:
            fault = self._snapshot_fault(day)
            if day < last_day or fault == "missing":
                self._control_row(day, fault, self.city.snapshot_size(day))
        self._write_snapshot(last_day, fault)

    def _snapshot_fault(self, day: dt.date) -> str | None:
        rng = substream(self.config.seed, "snapshot-fault", day.isoformat())
        if self.before is None and day != self.config.start + dt.timedelta(days=40):
            return None  # the initial history carries one missing day
        if self.before is None:
            return "missing" if self.config.rate("D15") > 0 else None
        if rng.random() >= self.config.rate("D15"):
            return None
        return rng.choice(["missing", "count", "shrink"])

    def _control_row(self, day: dt.date, fault: str | None, rows: int) -> None:
        if fault == "missing":
            self._defect(
                "jhkz",
                f"rk_jbxx|{day}",
                "D15",
                "SJRQ",
                "missing",
                "previous snapshot stays in force; alert",
            )
            return
        done = at(day + dt.timedelta(days=1), 3 * 3600 + 1200)
        if done <= self.after:
            self.exchange.insert("jhkz", [("rk_jbxx", day.isoformat(), rows, "1", ts(done))])
            if self.before is not None:
                self._log("jhkz", f"rk_jbxx|{day}", "added")

    def _write_snapshot(self, day: dt.date, fault: str | None) -> None:
        """Replace rk_jbxx with the snapshot of `day` and announce it in jhkz (streamed: a
        city of millions never holds its snapshot in memory)."""
        size = self.city.snapshot_size(day)
        limit = {"shrink": int(size * 0.92), "missing": size // 2}.get(fault, size)
        previous = (self.before - dt.timedelta(seconds=1)).date() if self.before else None
        self.exchange.clear("rk_jbxx")
        written = 0
        for i in range(len(self.city.people)):
            row = self.city.person_row(i, day) if written < limit else None
            old = self.city.person_row(i, previous) if previous else None
            if row is not None:
                written += 1
                self.exchange.insert("rk_jbxx", [row])
                if any(_outside_gbk(ch) for ch in row[1]):
                    self._defect("rk_jbxx", row[0], "D14", "XM", row[1], "preserved")
            if previous and old != row:
                key = (row or old)[0]
                self._log(
                    "rk_jbxx",
                    key,
                    "added" if old is None else "deleted" if row is None else "changed",
                )
        self._announce(day, fault, written)

    def _announce(self, day: dt.date, fault: str | None, written: int) -> None:
        """The jhkz row written last; a half-written (missing) delivery gets none."""
        if fault != "missing":
            announced = written + (7 if fault == "count" else 0)
            done = min(
                at(day + dt.timedelta(days=1), 3 * 3600 + 1200),
                self.after - dt.timedelta(minutes=1),
            )
            self.exchange.insert("jhkz", [("rk_jbxx", day.isoformat(), announced, "1", ts(done))])
            if self.before is not None:
                self._log("jhkz", f"rk_jbxx|{day}", "added")
        if fault in ("count", "shrink"):
            outcome = {
                "count": "refused: row count differs from JLS",
                "shrink": "not applied until an operator confirms",
            }[fault]
            self._defect("jhkz", f"rk_jbxx|{day}", "D15", "JLS", fault, outcome)

    # -- 好差评 drops -------------------------------------------------------------------------
    def rating_files(self, force_redelivery: bool) -> None:
        inbox = self.out / "inbox" / "evaluation_hcp"
        inbox.mkdir(parents=True, exist_ok=True)
        ratings = _RatingStore(self.out, create=False)
        due = [
            d
            for d in self._deliveries()
            if (self.before is None or d[1] > self.before) and d[1] <= self.after
        ]
        if force_redelivery and not any(d[3] for d in due):
            due.append(self._extra_redelivery())
        due.sort(key=lambda d: d[1])
        files = _DropWriter(self.background_files)
        try:
            for n, (month, delivered_at, extension, redelivery) in enumerate(due, start=1):
                self._deliver(files, ratings, inbox, (month, delivered_at, extension, redelivery))
                self.progress("好差评 files", n, len(due))
        finally:
            files.wait()
        ratings.close()

    def _deliveries(self) -> list[tuple]:
        """(month, delivered_at, extension, is_redelivery) of every scheduled drop."""
        out = []
        month = self.config.start
        while month < self.config.world_end:
            rng = substream(self.config.seed, "hcp-delivery", month.isoformat())
            first = at(
                add_months(month, 1).replace(day=rng.randint(3, 6)), 2 * 3600 + rng.randint(0, 3600)
            )
            extension = rng.choice(["csv", "xlsx"])
            out.append((month, first, extension, False))
            if rng.random() < self.config.rate("redelivery"):
                again = first + dt.timedelta(days=rng.randint(10, 25))
                other = {"csv": "xlsx", "xlsx": "csv"}[extension]
                out.append((month, again, rng.choice([extension, other]), True))
            month = add_months(month, 1)
        return out

    def _extra_redelivery(self) -> tuple:
        """`advance` always brings a re-delivered month: the latest delivered one, corrected."""
        delivered = [d for d in self._deliveries() if d[1] <= self.before]
        month, _, extension, _ = delivered[-1]
        rng = substream(self.config.seed, "hcp-extra", self.advance_no)
        extension = rng.choice([extension, {"csv": "xlsx", "xlsx": "csv"}[extension]])
        return (month, self.after - dt.timedelta(minutes=30), extension, True)

    def _deliver(self, files: _DropWriter, ratings, inbox: Path, delivery: tuple) -> None:
        month, delivered_at, extension, _ = delivery
        name = hcp_files.file_name(month, extension)
        rows, truth = [], []
        excel = extension == "xlsx"
        for rating in ratings.month(self.city, month, self.before is None):
            zgzt, done = rating.state(delivered_at)
            form = hcp_files.effective_form(rating.time_format, excel)
            row = [
                rating.pjbh,
                rating.sblsh,
                rating.channel,
                hcp_files.render_time(rating.time, rating.time_format, excel),
                rating.d7 or rating.level,
                rating.text or None,
                zgzt,
                ts(done),
            ]
            copies = (
                2
                if substream(self.config.seed, "hcp-d1", rating.pjbh, name).random()
                < self.config.rate("D1")
                else 1
            )
            rows.extend([row] * copies)
            truth.append((rating, form, copies, done))
        files.write(inbox / name, month, rows, delivered_at)
        self._record_delivery(name, month, delivered_at, rows, truth)

    def _record_delivery(self, name, month, delivered_at, rows, truth) -> None:
        conn = self.manifest.conn
        self.manifest.flush()
        conn.execute("UPDATE hcp_deliveries SET in_force = 0 WHERE month = ?", (f"{month:%Y%m}",))
        conn.execute(
            "DELETE FROM defects WHERE table_name = 'hcp_pj' AND detail LIKE ?", (f"{name}|%",)
        )
        self.manifest.delivery(name, f"{month:%Y%m}", ts(delivered_at), len(rows), 1)
        for rating, form, copies, done in truth:
            key = rating.pjbh
            self._defect("hcp_pj", key, "D10", "PJSJ", f"{name}|{form}", ts(rating.time))
            if copies == 2:
                self._defect("hcp_pj", key, "D1", detail=f"{name}|2", expected="one row downstream")
            if rating.orphan:
                self._defect("hcp_pj", key, "D8", "SBLSH", f"{name}|{rating.sblsh}", "orphan")
            if rating.d7:
                self._defect("hcp_pj", key, "D7", "PJDJ", f"{name}|{rating.d7}", "quarantined")
            if rating.d6 and done is not None:
                self._defect("hcp_pj", key, "D6", "ZGWCSJ", f"{name}|ZGWCSJ<PJSJ", "flagged")
        v2_cases.record_ratings(self.manifest, self.config, name, month, [t[0] for t in truth])
        if self.before is not None:
            self._log("hcp_pj", name, "added")


class _DropWriter:
    """Writes the 好差评 files. Writing costs Python per cell (xlsxwriter's most of all), the
    larger part of the drops' time: in the background each file is written by a forked
    child (which has the rows without copying them) while the next deliveries' rows are
    drawn, at most `CHILDREN` at a time. A re-delivery under the same name as an earlier drop
    waits for that drop's child: the later delivery's file, and its arrival time, must win."""

    CHILDREN = 2

    def __init__(self, background: bool):
        self.background = background
        self.children: list[tuple[Path, object]] = []

    def write(self, path: Path, month: dt.date, rows: list, delivered_at: dt.datetime) -> None:
        if not self.background:
            _write_drop(path, month, rows, delivered_at)
            return
        import multiprocessing

        while self.children and (
            len(self.children) >= self.CHILDREN or any(p == path for p, _ in self.children)
        ):
            self._join(self.children.pop(0)[1])
        child = multiprocessing.get_context("fork").Process(
            target=_write_drop, args=(path, month, rows, delivered_at), name="hcp-drop"
        )
        child.start()
        self.children.append((path, child))

    def wait(self) -> None:
        while self.children:
            self._join(self.children.pop(0)[1])

    @staticmethod
    def _join(child) -> None:
        child.join()
        if child.exitcode != 0:
            raise CityError(f"writing a 好差评 file failed (exit {child.exitcode})")


def _write_drop(path: Path, month: dt.date, rows: list, delivered_at: dt.datetime) -> None:
    if path.suffix == ".xlsx":
        hcp_files.write_xlsx(path, month, rows, delivered_at)
    else:
        hcp_files.write_csv(path, rows)
    hcp_files.set_arrival(path, delivered_at)


class _RatingStore:
    """Ratings by month, kept while the days stream by, for the monthly drops."""

    COLUMNS = (
        "pjbh",
        "sblsh",
        "channel",
        "time",
        "level",
        "text",
        "rectified",
        "unfounded",
        "form",
        "orphan",
        "d6",
        "d7",
    )

    def __init__(self, out: Path, create: bool):
        path = out / ".simulator" / "ratings.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        if create and path.exists():
            path.unlink()
        self.conn = sqlite3.connect(path)
        unsynced(self.conn)
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS ratings (month TEXT, {', '.join(self.COLUMNS)})"
        )
        self.conn.execute("CREATE INDEX IF NOT EXISTS by_month ON ratings (month)")
        # The days whose ratings are in: an advance's case days are not drawn again to refill
        # the months it delivers (the same day always draws the same ratings).
        self.conn.execute("CREATE TABLE IF NOT EXISTS days (day TEXT PRIMARY KEY)")
        # A refill adds days already stored: the unique index lets the insert skip them
        # without a scan of the store per day.
        self.conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS by_pjbh ON ratings (pjbh)")

    def add(self, day: dt.date, ratings) -> None:
        self.conn.execute("INSERT OR IGNORE INTO days VALUES (?)", (day.isoformat(),))
        self.conn.executemany(
            f"INSERT OR IGNORE INTO ratings VALUES ({','.join('?' * 13)})",
            [
                (
                    f"{r.time:%Y%m}",
                    r.pjbh,
                    r.sblsh,
                    r.channel,
                    ts(r.time),
                    r.level,
                    r.text,
                    ts(r.rectified_at),
                    ts(r.unfounded_at),
                    r.time_format,
                    int(r.orphan),
                    int(r.d6),
                    r.d7,
                )
                for r in ratings
            ],
        )

    def month(self, city: City, month: dt.date, complete: bool):
        from simulator.cases import Rating

        if not complete:  # after an advance the store may lack the month's last days: refill
            stored = {day for (day,) in self.conn.execute("SELECT day FROM days")}
            day = month - CASE_HORIZON
            while day < add_months(month, 1):
                if day >= city.config.start and day.isoformat() not in stored:
                    self.add(day, city.cases.day(day).ratings)
                day += dt.timedelta(days=1)
        rows = self.conn.execute(
            "SELECT * FROM ratings WHERE month = ? ORDER BY time, pjbh", (f"{month:%Y%m}",)
        )
        for row in rows:
            values = dict(zip(("month", *self.COLUMNS), row, strict=True))
            yield Rating(
                values["pjbh"],
                values["sblsh"],
                values["channel"],
                _dt(values["time"]),
                values["level"],
                values["text"],
                _dt(values["rectified"]),
                _dt(values["unfounded"]),
                values["form"],
                bool(values["orphan"]),
                bool(values["d6"]),
                values["d7"],
            )

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()


def _dt(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None  # as ts() wrote it


def _kind_of_change(old: tuple | None, new: tuple | None) -> str:
    if old is None:
        return "added"
    if new is None:
        return "deleted"
    return "deleted" if new[-1] == "1" and old[-1] == "0" else "changed"


def _outside_gbk(ch: str) -> bool:
    try:
        ch.encode("gbk")
    except UnicodeEncodeError:
        return True
    return False


def _normalised(raw: str | None, true: str | None) -> str:
    """Expected outcome of a dirty identity value: the clean number, or 'invalid'."""
    from simulator.defects import FULL_WIDTH

    if raw is None or true is None:
        return "invalid"
    text = raw.strip().replace(" ", "")
    for ascii_char, wide in FULL_WIDTH.items():
        text = text.replace(wide, ascii_char)
    text = text.upper()
    if text == true or (len(text) == 15 and text == true[:6] + true[8:17]):
        return true
    return "invalid"
