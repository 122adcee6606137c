"""`python -m sharing …`: the data officer's commands (docs/sharing.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from groundfloor.settings import sharing_settings
from sharing.catalogue import CATALOGUE, CatalogueError, load_catalogue
from sharing.registry import (
    CONSUMERS,
    GRANTS,
    KINDS,
    Consumer,
    append_consumer,
    load_consumers,
    load_grants,
)
from sharing.store import Store


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m sharing", description="数据共享 (sharing)")
    main.add_argument("--store", help="store URL (default: the setting SHARING_STORE_URL)")
    commands = main.add_subparsers(dest="command", required=True)

    consumer = commands.add_parser("consumer", help="consumers").add_subparsers(
        dest="action", required=True
    )
    add = consumer.add_parser("add", help="register a consumer (consumers.yaml and the store)")
    add.add_argument("--id", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--kind", required=True, choices=KINDS)
    add.add_argument("--region", action="append", default=[], help="a district's region code")
    add.add_argument("--consumers-file", type=Path, default=CONSUMERS)

    key = commands.add_parser("key", help="API keys").add_subparsers(dest="action", required=True)
    issue = key.add_parser("issue", help="issue a key (printed once, stored as a hash)")
    issue.add_argument("--consumer", required=True)
    rotate = key.add_parser("rotate", help="issue a new key; the old ones expire after a grace")
    rotate.add_argument("--consumer", required=True)
    rotate.add_argument("--grace-hours", type=float, default=24.0)
    revoke = key.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("--key-id", required=True)

    grants = commands.add_parser("grants", help="grants").add_subparsers(
        dest="action", required=True
    )
    load = grants.add_parser("load", help="validate and load the consumers and grants")
    load.add_argument("--catalogue", type=Path, default=CATALOGUE)
    load.add_argument("--consumers-file", type=Path, default=CONSUMERS)
    load.add_argument("--grants-file", type=Path, default=GRANTS)

    audit = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="action", required=True
    )
    audit.add_parser("verify", help="check the hash chain; report the first broken link")

    catalogue = commands.add_parser("catalogue", help="the catalogue").add_subparsers(
        dest="action", required=True
    )
    meta = catalogue.add_parser("meta", help="write the catalogue into the dbt models' meta")
    meta.add_argument("--check", action="store_true", help="only check; exit 1 if they differ")

    snapshot = commands.add_parser("snapshot", help="build the sharing snapshot")
    snapshot.add_argument("--warehouse", type=Path, help="working warehouse (default: settings)")

    backflow = commands.add_parser("backflow", help="write the 回流 extracts of every district")
    backflow.add_argument("--date", type=dt.date.fromisoformat, default=None)

    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = sharing_settings()
    if args.command == "serve":
        return serve(args, settings)
    if args.command == "catalogue":
        return catalogue_meta(args)
    store = Store(args.store or settings.store_url)
    try:
        store.create()
        return COMMANDS[(args.command, getattr(args, "action", None))](args, store)
    except (CatalogueError, KeyError) as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    finally:
        store.dispose()


def consumer_add(args, store: Store) -> int:
    consumer = Consumer(args.id, args.name, args.kind, tuple(args.region))
    append_consumer(consumer, args.consumers_file)
    loaded = load_consumers(args.consumers_file)
    store.load_registry(loaded, store.all_grants())
    print(f"consumer {consumer.id} ({consumer.name}) added to {args.consumers_file} and the store")
    return 0


def key_issue(args, store: Store) -> int:
    issued = store.issue_key(args.consumer)
    print(f"key id {issued.key_id} for {issued.consumer_id} (shown once, store it now):")
    print(issued.secret)
    return 0


def key_rotate(args, store: Store) -> int:
    issued, old = store.rotate_key(args.consumer, dt.timedelta(hours=args.grace_hours))
    print(f"new key id {issued.key_id} for {issued.consumer_id} (shown once, store it now):")
    print(issued.secret)
    print(f"keys {', '.join(old) or '(none)'} expire in {args.grace_hours:g} h")
    return 0


def key_revoke(args, store: Store) -> int:
    if not store.revoke_key(args.key_id):
        print(f"no live key {args.key_id}", file=sys.stderr)
        return 1
    print(f"key {args.key_id} revoked")
    return 0


def grants_load(args, store: Store) -> int:
    catalogue = load_catalogue(args.catalogue)
    consumers = load_consumers(args.consumers_file)
    grants = load_grants(catalogue, consumers, args.grants_file)
    store.load_registry(consumers, grants)
    print(f"loaded {len(consumers)} consumers and {len(grants)} grants")
    return 0


def audit_verify(args, store: Store) -> int:
    report = store.verify_chain()
    if report.intact:
        print(f"audit chain intact: {report.records} records")
        return 0
    print(f"audit chain broken at record {report.broken_at}: {report.problem}")
    return 1


def snapshot_build(args, store: Store) -> int:
    from sharing.operations import build_sharing_snapshot

    info = build_sharing_snapshot(store, args.warehouse)
    print(f"sharing snapshot {info.snapshot_id} at {info.path}: {info.rows}")
    return 0


def backflow_run(args, store: Store) -> int:
    from sharing.operations import deliver_backflow

    for delivery in deliver_backflow(store, args.date):
        print(
            f"{delivery.consumer_id} {delivery.grant_id}: {delivery.rows} rows -> {delivery.folder}"
        )
    return 0


def catalogue_meta(args) -> int:
    """The catalogue's resources as `meta` of the dbt models they are served from."""
    from sharing import catalogue_meta as meta

    if args.check:
        differing = meta.differing()
        for path in differing:
            print(f"{path}: its sharing-catalogue meta differs from sharing/catalogue.yaml")
        if differing:
            print("run: python -m sharing catalogue meta", file=sys.stderr)
            return 1
        print("the dbt models' meta agree with sharing/catalogue.yaml")
        return 0
    changed = meta.write()
    print(f"{len(changed)} yml file(s) written: {', '.join(str(p) for p in changed) or '-'}")
    return 0


def serve(args, settings) -> int:
    import uvicorn

    uvicorn.run(
        "sharing.service:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        access_log=False,  # the path holds identity numbers; the service logs keys only
        log_level="info",
    )
    return 0


COMMANDS = {
    ("consumer", "add"): consumer_add,
    ("key", "issue"): key_issue,
    ("key", "rotate"): key_rotate,
    ("key", "revoke"): key_revoke,
    ("grants", "load"): grants_load,
    ("audit", "verify"): audit_verify,
    ("snapshot", None): snapshot_build,
    ("backflow", None): backflow_run,
}
