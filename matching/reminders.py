"""Reminders (主动提醒): who, what and when to remind, as data in the policies' condition grammar,
evaluated on E; each (reminder, subject, occasion) is recorded once in the reminder ledger and
goes out in a reminder list like a push list (keys and masked identity only). policies.md v2.

A reminder file: code, name, subject (person | enterprise), message, conditions (the policy
grammar, on the subject), occasion (`certificate`, `year` or `month`), and optionally
`season` ({from: "MM-DD", to: "MM-DD"}: E must fall in it) and, for `occasion: certificate`,
`certificates` ({types: [...], expiring_within_days: N}): one occasion per certificate of the
subject valid on E whose validity ends within N days of E (certificate id and its YXQZ).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from matching.compiler import compile_policy, sql_text
from matching.engine import new_run_id
from matching.policy import Fault, Fixed, Policy, PolicyError, parse_condition
from matching.store import WAREHOUSE_ALIAS, store_beside_warehouse

DEFAULT_REMINDERS = Path(__file__).resolve().parent / "reminders"
REQUIRED = {"code", "name", "subject", "message", "conditions", "occasion"}
OPTIONAL = {"season", "certificates"}
WH = f"{WAREHOUSE_ALIAS}.main_marts"

DDL = """
create table if not exists reminder_ledger (
    reminder_code varchar not null, reminder_version varchar not null,
    subject_type varchar not null, subject_key varchar not null, occasion varchar not null,
    display_name varchar, display_id varchar, message varchar not null,
    evaluation_date date not null, run_id varchar not null, recorded_at timestamp not null,
    primary key (reminder_code, subject_key, occasion));
"""


@dataclass(frozen=True)
class Reminder:
    code: str
    name: str
    subject: str
    message: str
    occasion: str  # certificate | year | month
    season: tuple[str, str] | None
    certificate_types: tuple[str, ...]
    within_days: int | None
    rule: Policy  # the conditions as a policy paying nothing, for the compiler

    def in_season(self, on: dt.date) -> bool:
        return self.season is None or self.season[0] <= on.strftime("%m-%d") <= self.season[1]


def load_reminder(path: Path) -> Reminder:
    raw = path.read_bytes()
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
        _check_fields(document)
        conditions = parse_condition(document["conditions"], document["subject"], "conditions")
        season, types, within = _when(document)
    except (ValueError, yaml.YAMLError) as error:
        raise PolicyError(f"{path.name}: reminder: {error}") from None
    rule = Policy(str(document["code"]), str(document["name"]), document["subject"],
                  dt.date.min, None, "", "year", conditions, Fixed(Decimal(0)), path,
                  hashlib.sha256(raw).hexdigest(), raw.decode("utf-8"))  # fmt: skip
    return Reminder(rule.code, rule.name, rule.subject, str(document["message"]),
                    document["occasion"], season, types, within, rule)  # fmt: skip


def _check_fields(document: Any) -> None:
    if not isinstance(document, dict) or not REQUIRED <= set(document) <= REQUIRED | OPTIONAL:
        raise Fault(f"a reminder file has the fields {sorted(REQUIRED)} and maybe {OPTIONAL}")
    if document["subject"] not in ("person", "enterprise"):
        raise Fault("subject must be person or enterprise")
    if document["occasion"] not in ("certificate", "year", "month"):
        raise Fault("occasion must be certificate, year or month")
    if (document["occasion"] == "certificate") != ("certificates" in document):
        raise Fault("occasion: certificate goes with a certificates: field, and only it")


def _when(document: dict) -> tuple[tuple[str, str] | None, tuple[str, ...], int | None]:
    season = document.get("season")
    if season is not None:
        season = (str(season["from"]), str(season["to"]))
    certificates = document.get("certificates") or {}
    types = tuple(str(t) for t in certificates.get("types", ()))
    within = certificates.get("expiring_within_days")
    return season, types, None if within is None else int(within)


def load_reminders(directory: Path = DEFAULT_REMINDERS) -> list[Reminder]:
    return [load_reminder(path) for path in sorted(directory.glob("*.yaml"))]


@dataclass
class ReminderRun:
    run_id: str
    new: dict[str, int]
    lists: list[Path]


def remind(
    warehouse: Path, operations: Path, push_root: Path, on: dt.date,
    directory: Path = DEFAULT_REMINDERS,
) -> ReminderRun:  # fmt: skip
    """Record each reminder's new (subject, occasion) pairs for E and write their lists."""
    reminders, run_id = load_reminders(directory), new_run_id()
    run = ReminderRun(run_id, {}, [])
    with store_beside_warehouse(warehouse, operations, "policy matching: reminders") as store:
        store.execute(DDL)
        for reminder in reminders:
            run.new[reminder.code] = _record(store, reminder, on, run_id)
            run.lists += _write_list(store, reminder, push_root / run_id, run_id)
    return run


def occasions_sql(reminder: Reminder, on: dt.date) -> str:
    """subject_key, occasion of everyone to remind on E (before the once-only rule)."""
    compiled = compile_policy(reminder.rule, on, WH)
    key = "person_key" if reminder.subject == "person" else "enterprise_key"
    eligible = f"(select subject_key from ({compiled.evaluation}) where status = 'match')"
    if reminder.occasion != "certificate":
        occasion = on.strftime("%Y" if reminder.occasion == "year" else "%Y-%m")
        return f"select subject_key, {sql_text(occasion)} as occasion from {eligible}"
    e, until = on.isoformat(), (on + dt.timedelta(days=reminder.within_days or 0)).isoformat()
    types = ", ".join(sql_text(t) for t in reminder.certificate_types)
    return f"""select c.{key} as subject_key, c.certificate_id || '@' || c.valid_to as occasion
        from {WH}.certificate_validity c join {eligible} m on m.subject_key = c.{key}
        where c.certificate_type in ({types}) and c.recorded_status = '1'
            and c.valid_from <= DATE '{e}' and c.valid_to between DATE '{e}' and DATE '{until}'"""


def _record(store, reminder: Reminder, on: dt.date, run_id: str) -> int:
    if not reminder.in_season(on):
        return 0
    # the masked identity, as in push lists
    source, key, shown = (
        ("person_file", "person_key", "s.name_masked, s.identity_number_masked")
        if reminder.subject == "person"
        else ("enterprise_file", "enterprise_key",
              "s.entity_name, left(s.uscc, 6) || '********' || right(s.uscc, 4)")
    )  # fmt: skip
    store.begin()
    added = store.execute(
        f"""insert into reminder_ledger
        select distinct ?, ?, ?, o.subject_key, o.occasion, {shown}, ?, ?, ?, now()
        from ({occasions_sql(reminder, on)}) o join {WH}.{source} s on s.{key} = o.subject_key
        where not exists (select 1 from reminder_ledger l where l.reminder_code = ?
            and l.subject_key = o.subject_key and l.occasion = o.occasion)
        returning 1""",
        [reminder.code, reminder.rule.version, reminder.subject, reminder.message, on, run_id,
         reminder.code],
    ).fetchall()  # fmt: skip
    store.commit()
    return len(added)


def _write_list(store, reminder: Reminder, directory: Path, run_id: str) -> list[Path]:
    """The run's new reminders, written even when empty (as push lists are)."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = f"""(select reminder_code, subject_key, occasion, display_name, display_id, message
        from reminder_ledger where run_id = {sql_text(run_id)}
            and reminder_code = {sql_text(reminder.code)} order by subject_key, occasion)"""
    paths = [directory / f"{reminder.code}.csv", directory / f"{reminder.code}.json"]
    store.execute(f"copy {rows} to {sql_text(str(paths[0]))} (format csv, header true)")
    store.execute(f"copy {rows} to {sql_text(str(paths[1]))} (format json, array true)")
    return paths
