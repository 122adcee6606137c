"""`python -m linkage run | train | weights | review list | review accept | review reject`."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from groundfloor.process import exit_quietly
from groundfloor.settings import Settings, linkage_settings
from groundfloor.warehouse import connect_for_writing, open_operations_store, writer_lock
from linkage import decisions


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    warehouse = Path(args.warehouse or Settings.load().warehouse)
    config = linkage_settings()
    if args.command == "weights":
        from linkage import model

        print(model.weights_table())
        exit_quietly(0)
    if args.command == "review" and args.action in ("accept", "reject"):
        store = open_operations_store(config.operations)
        decision = decisions.Decision(args.kind, args.record, args.person, args.action)
        decisions.record(store, decision, args.by, args.note)
        store.close()
        print(f"{args.action}: {args.record} → {args.person} (applied on the next run)")
        exit_quietly(0)
    with writer_lock(warehouse, f"linkage {args.command}"):
        conn = connect_for_writing(warehouse)
        if args.command == "review":
            store = open_operations_store(config.operations)
            since = decisions.queue_age(store)
            store.close()
            _list(conn, args.limit, since)
        else:
            _link_or_train(conn, args.command, config)
        conn.close()
    exit_quietly(0)


def _link_or_train(conn, command: str, config) -> None:
    # Splink and pandas are imported only here: the review commands start in a moment.
    from linkage import model, run

    run.prepare(conn)
    if command == "train":
        model.train(conn)
        print(f"model written to {model.MODEL_PATH}")
        return
    store = open_operations_store(config.operations)
    in_force = decisions.load(store)
    store.close()
    outcomes = run.decide(conn, in_force, (config.review_low, config.review_high))
    waiting = [(o.record_kind, o.record_key) for o in outcomes if o.outcome == "review"]
    store = open_operations_store(config.operations)
    decisions.note_queued(store, waiting, dt.date.today())
    store.close()
    for outcome, count in sorted(_tally(outcomes).items()):
        print(f"{outcome}: {count}")


def _tally(outcomes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        label = o.outcome + (f" ({o.method})" if o.method else "")
        counts[label] = counts.get(label, 0) + 1
    return counts


def _list(conn, limit: int, since: dict) -> None:
    """Record, rank, candidate, probability; what the record says (name, phone) beside what
    the candidate's latest version holds; the day the record was first queued."""
    rows = conn.execute(
        "with held as (select person_id, name, phone from linkage.persons qualify row_number() "
        "over (partition by person_id order by valid_to desc nulls first) = 1) "
        "select q.record_kind, q.record_key, q.rank, q.person_id, round(q.probability, 3), "
        "coalesce(r.name, r.surname || case r.sex when '1' then '先生' when '2' then '女士' end), "
        "r.phone, h.name, h.phone "
        "from linkage.review_queue q join linkage.records r "
        "on r.record_kind = q.record_kind and r.record_key = q.record_key "
        "left join held h on h.person_id = q.person_id "
        "order by q.record_kind, q.record_key, q.rank limit ?",
        [limit],
    ).fetchall()
    header = ["kind", "record", "rank", "candidate", "probability", "name given", "phone"]
    print("\t".join([*header, "candidate's name", "phone", "queued since"]))
    for row in rows:
        row = (*row, since.get((row[0], row[1])))
        print("\t".join("-" if value is None else str(value) for value in row))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m linkage", description=__doc__)
    parser.add_argument("--warehouse", help="default: the WAREHOUSE setting")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="link every record (decisions, rules, model)")
    sub.add_parser("train", help="estimate the model on this warehouse; writes model/person.json")
    sub.add_parser("weights", help="the trained model's match weights (Markdown)")
    review = sub.add_parser("review", help="the review queue and officers' decisions")
    actions = review.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="records for review with their top candidates")
    listing.add_argument("--limit", type=int, default=50)
    for action in ("accept", "reject"):
        p = actions.add_parser(action, help=f"{action} one candidate person for one record")
        p.add_argument("record", help="the record's key (a work order's gdbh, a case's SBLSH)")
        p.add_argument("person", help="the candidate's identity number")
        p.add_argument("--by", required=True, help="the officer deciding")
        p.add_argument("--note", default="")
        p.add_argument("--kind", default=decisions.WORK_ORDER, help="work_order or case")
    return parser
