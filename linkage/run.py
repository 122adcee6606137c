"""One linkage run on the warehouse: decisions, then the exact and written rules, then the
model; one outcome per record (linked to one person, for review, or unlinked) in
`linkage.outcomes` and the review queue's top candidates in `linkage.review_queue`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from linkage import inputs, model, rules
from linkage.decisions import WORK_ORDER, Decision

KIND = WORK_ORDER  # the kind the review command defaults to
TOP_CANDIDATES = 3

OUTCOMES = """
create or replace table linkage.outcomes (
    record_kind varchar, record_key varchar, outcome varchar, person_id varchar,
    method varchar, probability double, linked_at timestamp
)
"""
QUEUE = """
create or replace table linkage.review_queue (
    record_kind varchar, record_key varchar, rank integer, person_id varchar,
    probability double, queued_at timestamp
)
"""


@dataclass(frozen=True)
class Outcome:
    record_kind: str
    record_key: str
    outcome: str  # linked, review, unlinked
    person_id: str | None
    method: str | None  # exact, rule, probabilistic, reviewed
    probability: float | None


def prepare(conn: duckdb.DuckDBPyConnection) -> None:
    """`linkage.persons` and `linkage.records` from the raw layer."""
    conn.execute("create schema if not exists linkage")
    for table, frame in (
        ("persons", inputs.person_frame(conn)),
        ("records", inputs.record_frame(conn)),
    ):
        conn.register("frame", frame)
        columns = ", ".join(
            f"cast({c} as date) as {c}" if c in ("valid_to", "called_on") else c
            for c in inputs.COLUMNS
        )
        conn.execute(f"create or replace table linkage.{table} as select {columns} from frame")
        conn.unregister("frame")


def decide(
    conn: duckdb.DuckDBPyConnection,
    decisions: list[Decision],
    band: tuple[float, float],
    model_path: Path = model.MODEL_PATH,
) -> list[Outcome]:
    """Every record's outcome, in the order decisions → exact → rule → model."""
    low, high = band
    accepted = {
        (d.record_kind, d.record_key): d.person_id for d in decisions if d.decision == "accept"
    }
    rejected = {
        (d.record_kind, d.record_key, d.person_id) for d in decisions if d.decision == "reject"
    }
    residents = _residents(conn)
    decided: dict[str, tuple] = {}  # unique_id → (outcome, person, method, probability)
    records = conn.execute(
        "select unique_id, record_kind, record_key, id_normalised, id_valid, name, surname, sex, "
        "birth from linkage.records"
    ).fetchall()
    # A phone (and a district) alone never links: a household's phone is evidence for each
    # member, not proof (the spec); such a record goes to review at most.
    phone_only = {uid for uid, *_, surname, _, birth in records if not (surname or birth)}
    for uid, kind, key, number, valid, name, surname, sex, _ in records:
        said = name or ((surname or "") + {"1": "先生", "2": "女士"}.get(sex, ""))
        if (kind, key) in accepted:
            decided[uid] = ("linked", accepted[kind, key], "reviewed", 1.0)
        elif valid and number in residents and (kind, key, number) not in rejected:
            decided[uid] = ("linked", number, "exact", 1.0)
        elif (hit := rules.id_near_name(number, said, residents)) and (
            kind,
            key,
            hit,
        ) not in rejected:
            decided[uid] = ("linked", hit, "rule", 1.0)
    kinds = {uid: (kind, key) for uid, kind, key, *_ in records}
    candidates: dict[str, dict[str, float]] = {}
    for uid, person, probability in model.predict(conn, min(low, 0.5), model_path):
        if uid in decided or (*kinds[uid], person) in rejected:
            continue
        best = candidates.setdefault(uid, {})
        best[person] = max(best.get(person, 0.0), probability)
    queue = []
    for uid in kinds:
        if uid in decided:
            continue
        ranked = sorted(candidates.get(uid, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        decided[uid], top = _judge(ranked, low, high, uid in phone_only)
        queue += [(*kinds[uid], n, p, prob) for n, (p, prob) in enumerate(top, start=1)]
    outcomes = [Outcome(*kinds[uid], *outcome) for uid, outcome in decided.items()]
    _write(conn, outcomes, queue)
    return outcomes


def _judge(ranked: list, low: float, high: float, phone_only: bool) -> tuple[tuple, list]:
    """Linked when the best candidate clears the band, no other comes near (a phone a
    household shares is evidence for each member, not proof) and the record says more than
    a phone; for review when the best lies in the band, or two clear it, or it is the phone's
    holder alone; unlinked below."""
    if not ranked or ranked[0][1] < low:
        return ("unlinked", None, None, ranked[0][1] if ranked else None), []
    person, probability = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if probability >= high and runner_up < low and not phone_only:
        return ("linked", person, "probabilistic", probability), []
    return ("review", None, None, probability), ranked[:TOP_CANDIDATES]


def _residents(conn) -> dict[str, tuple[str, str]]:
    """number → (name, sex) of each resident, as the latest version gives them."""
    rows = conn.execute(
        "select person_id, name, sex from linkage.persons "
        "qualify row_number() over (partition by person_id order by valid_to desc nulls first) = 1"
    ).fetchall()
    return {number: (name, sex) for number, name, sex in rows}


def _write(conn, outcomes, queue) -> None:
    """Both tables replaced, through data frames (DuckDB's executemany is row by row)."""
    now = dt.datetime.now().replace(microsecond=0)
    outcome_rows = pd.DataFrame(
        [
            (o.record_kind, o.record_key, o.outcome, o.person_id, o.method, o.probability)
            for o in outcomes
        ],
        columns=["record_kind", "record_key", "outcome", "person_id", "method", "probability"],
    )
    queue_rows = pd.DataFrame(
        queue,
        columns=["record_kind", "record_key", "rank", "person_id", "probability"],
    )
    conn.execute(OUTCOMES)
    conn.execute(QUEUE)
    for table, frame in (("outcomes", outcome_rows), ("review_queue", queue_rows)):
        conn.register("frame", frame)
        conn.execute(f"insert into linkage.{table} select *, ? from frame", [now])
        conn.unregister("frame")
