"""Consumers and grants as data (sharing/consumers.yaml, sharing/grants.yaml), validated against
the catalogue when loaded: a grant on an unknown resource or field, an L4 field without a
legal basis, an L4 field in a 回流 grant, or a district office without its region scope is
refused with the file and the grant named."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from sharing.catalogue import Catalogue, CatalogueError

CONSUMERS = Path(__file__).with_name("consumers.yaml")
GRANTS = Path(__file__).with_name("grants.yaml")
KINDS = ("department", "district", "citizen_portal")
USES = ("query", "verify", "backflow")


@dataclass(frozen=True)
class Consumer:
    id: str
    name: str
    kind: str
    regions: tuple[str, ...] = ()
    rate_per_second: float | None = None
    burst: int | None = None


@dataclass(frozen=True)
class GrantedField:
    name: str
    unmasked: bool = False


@dataclass(frozen=True)
class Grant:
    id: str
    consumer: str
    resource: str
    uses: tuple[str, ...]
    fields: tuple[GrantedField, ...]
    purpose: str
    legal_basis: str
    valid_from: dt.date
    valid_to: dt.date | None
    approved_by: str
    region_scope: tuple[str, ...] = ()
    certificate_types: tuple[str, ...] = ()

    def in_force(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def granted(self, field: str) -> GrantedField | None:
        return next((f for f in self.fields if f.name == field), None)


def load_consumers(path: Path = CONSUMERS) -> list[Consumer]:
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    consumers = [_consumer(path, entry) for entry in document.get("consumers") or []]
    ids = [c.id for c in consumers]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"{path}: a consumer id is listed twice")
    return consumers


def _consumer(path: Path, entry: dict) -> Consumer:
    where = f"{path}: consumer {entry.get('id', '?')}"
    if not entry.get("id") or not entry.get("name"):
        raise CatalogueError(f"{where}: id and name are required")
    if entry.get("kind") not in KINDS:
        raise CatalogueError(f"{where}: kind {entry.get('kind')} is not one of {KINDS}")
    regions = tuple(str(r) for r in entry.get("regions") or ())
    if entry["kind"] == "district" and not regions:
        raise CatalogueError(f"{where}: a district office needs its region codes (regions)")
    return Consumer(
        id=str(entry["id"]),
        name=str(entry["name"]),
        kind=entry["kind"],
        regions=regions,
        rate_per_second=entry.get("rate_per_second"),
        burst=entry.get("burst"),
    )


def load_grants(
    catalogue: Catalogue, consumers: list[Consumer], path: Path = GRANTS
) -> list[Grant]:
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    by_id = {c.id: c for c in consumers}
    grants = [_grant(path, entry, catalogue, by_id) for entry in document.get("grants") or []]
    ids = [g.id for g in grants]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"{path}: a grant id is listed twice")
    return grants


def _grant(path: Path, entry: dict, catalogue: Catalogue, consumers: dict) -> Grant:
    where = f"{path}: grant {entry.get('id', '?')}"
    for key in ("id", "consumer", "resource", "purpose", "valid_from", "approved_by"):
        if not entry.get(key):
            raise CatalogueError(f"{where}: {key} is missing")
    consumer = consumers.get(entry["consumer"])
    if consumer is None:
        raise CatalogueError(f"{where}: consumer {entry['consumer']} is not registered")
    resource = catalogue.resource(entry["resource"])
    if resource is None:
        raise CatalogueError(f"{where}: resource {entry['resource']} is not in the catalogue")
    uses = tuple(entry.get("uses") or ())
    if not uses or set(uses) - set(USES):
        raise CatalogueError(f"{where}: uses {list(uses)} must be some of {USES}")
    fields = tuple(_granted_field(where, raw) for raw in entry.get("fields") or ())
    legal_basis = str(entry.get("legal_basis") or "")
    for granted in fields:
        field = resource.field(granted.name)
        if field is None:
            raise CatalogueError(f"{where}: field {granted.name} is not a field of {resource.code}")
        if field.level == "L4" and not legal_basis:
            raise CatalogueError(f"{where}: field {granted.name} is L4 and needs a legal_basis")
        if "backflow" in uses and field.level == "L4":
            raise CatalogueError(f"{where}: field {granted.name} is L4 and never leaves in 回流")
    scope = tuple(str(r) for r in entry.get("region_scope") or ())
    if consumer.kind == "district" and (not scope or set(scope) - set(consumer.regions)):
        raise CatalogueError(f"{where}: a district's region_scope must be its own districts")
    return Grant(
        id=str(entry["id"]),
        consumer=consumer.id,
        resource=resource.code,
        uses=uses,
        fields=fields,
        purpose=str(entry["purpose"]),
        legal_basis=legal_basis,
        valid_from=_date(where, entry["valid_from"]),
        valid_to=_date(where, entry["valid_to"]) if entry.get("valid_to") else None,
        approved_by=str(entry["approved_by"]),
        region_scope=scope,
        certificate_types=tuple(str(t) for t in entry.get("certificate_types") or ()),
    )


def _granted_field(where: str, raw) -> GrantedField:
    if isinstance(raw, str):
        return GrantedField(raw)
    if isinstance(raw, dict) and raw.get("name"):
        return GrantedField(str(raw["name"]), bool(raw.get("unmasked", False)))
    raise CatalogueError(f"{where}: field {raw!r} is neither a name nor {{name, unmasked}}")


def _date(where: str, value) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as error:
        raise CatalogueError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from error


def append_consumer(consumer: Consumer, path: Path = CONSUMERS) -> None:
    """Add a consumer to the file under version control (refused when the id exists)."""
    if any(c.id == consumer.id for c in load_consumers(path)):
        raise CatalogueError(f"{path}: consumer {consumer.id} exists already")
    entry = {"id": consumer.id, "name": consumer.name, "kind": consumer.kind}
    if consumer.regions:
        entry["regions"] = list(consumer.regions)
    flow = yaml.safe_dump(entry, allow_unicode=True, default_flow_style=True, sort_keys=False)
    text = Path(path).read_text(encoding="utf-8")
    Path(path).write_text(f"{text.rstrip()}\n  - {flow.strip()}\n", encoding="utf-8")
