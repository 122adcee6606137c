"""The steps the orchestration calls (pipeline/tasks.py): build the sharing snapshot after a
publish, deliver 回流, and load the registry, each from the settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from groundfloor.settings import Settings, identity_key, sharing_settings
from sharing.backflow import Delivery, deliver_all
from sharing.catalogue import load_catalogue
from sharing.registry import load_consumers, load_grants
from sharing.snapshot import SnapshotInfo, SnapshotReader, build_snapshot
from sharing.store import Store


def open_store() -> Store:
    store = Store(sharing_settings().store_url)
    store.create()
    return store


def load_registry(store: Store) -> tuple[int, int]:
    """The consumers and grants of the files under version control, into the store."""
    catalogue = load_catalogue()
    consumers = load_consumers()
    grants = load_grants(catalogue, consumers)
    store.load_registry(consumers, grants)
    return len(consumers), len(grants)


def build_sharing_snapshot(store: Store, warehouse: Path | None = None) -> SnapshotInfo:
    settings = Settings.load()
    return build_snapshot(
        warehouse=warehouse or settings.warehouse,
        target=sharing_settings().snapshot,
        catalogue=load_catalogue(),
        grants=store.all_grants(),
        identity_key=identity_key(),
        published=settings.published,
    )


def deliver_backflow(store: Store, day: dt.date | None = None) -> list[Delivery]:
    settings = sharing_settings()
    return deliver_all(
        store,
        load_catalogue(),
        SnapshotReader(settings.snapshot),
        settings.backflow_dir,
        day or dt.date.today(),
    )


def publish_sharing_usage(store: Store) -> int:
    """The audit log counted for the usage dashboard, swapped in atomically."""
    from sharing.usage import publish_usage

    return publish_usage(store, sharing_settings().published_usage)
