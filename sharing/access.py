"""Who may use what: the decision for one request, taken from the catalogue and the consumer's
grants alone, before anything is looked up (so a refusal never depends on whether the
subject exists). The region scope of a district office is the one check that needs the
subject, and it is taken as soon as the subject's region is known.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sharing.catalogue import Catalogue, Resource
from sharing.registry import Grant

UNCONDITIONAL_PURPOSE = "无条件共享"


@dataclass(frozen=True)
class Decision:
    status: int  # 200 allowed, 403 refused, 422 a request that names no valid resource/field
    reason: str
    resource: Resource | None = None
    grant: Grant | None = None
    fields: tuple[tuple[str, bool], ...] = ()  # (field, leaves unmasked)
    field: str | None = None  # the request field a 422 is about

    @property
    def allowed(self) -> bool:
        return self.status == 200

    @property
    def purpose(self) -> str | None:
        if self.grant is not None:
            return self.grant.purpose
        return UNCONDITIONAL_PURPOSE if self.allowed else None

    @property
    def region_scope(self) -> tuple[str, ...]:
        return self.grant.region_scope if self.grant else ()

    def in_scope(self, region: str | None) -> bool:
        return not self.region_scope or (region is not None and region in self.region_scope)


def decide(
    catalogue: Catalogue,
    grants: list[Grant],
    use: str,
    resource_code: str,
    requested: list[str] | None,
    day: dt.date,
    certificate_type: str | None = None,
    subject: str | None = None,
) -> Decision:
    """The decision for `use` (query, verify, backflow) of `resource_code`, for the fields
    `requested` (None: every field the grant allows)."""
    resource = catalogue.resource(resource_code)
    if resource is None or (subject is not None and resource.subject != subject):
        return Decision(422, "unknown_resource", field="resource")
    unknown = [name for name in requested or () if resource.field(name) is None]
    if unknown:
        return Decision(422, "unknown_field", resource, field="fields")
    if not resource.shared:
        return Decision(403, "not_shared", resource)
    mine = [g for g in grants if g.resource == resource.code and use in g.uses]
    in_force = [g for g in mine if g.in_force(day)]
    if certificate_type is not None:
        covering = [g for g in in_force if _covers_type(g, certificate_type)]
        if in_force and not covering:
            return Decision(403, "certificate_type_not_granted", resource)
        in_force = covering
    if not in_force:
        if resource.share_type == "无条件共享" and use == "query":
            return _unconditional(resource, requested)
        return Decision(403, "grant_expired" if mine else "no_grant", resource)
    return _fields_of_grant(resource, in_force, requested, use)


def _covers_type(grant: Grant, certificate_type: str) -> bool:
    return not grant.certificate_types or certificate_type in grant.certificate_types


def _unconditional(resource: Resource, requested: list[str] | None) -> Decision:
    """Any registered consumer: every field but L4, L3 masked."""
    open_fields = [f.name for f in resource.fields if f.level != "L4"]
    wanted = open_fields if requested is None else requested
    if set(wanted) - set(open_fields):
        return Decision(403, "field_not_granted", resource)
    return Decision(200, "unconditional", resource, None, tuple((n, False) for n in wanted))


def _fields_of_grant(
    resource: Resource, grants: list[Grant], requested: list[str] | None, use: str
) -> Decision:
    if use == "verify":
        return Decision(200, "granted", resource, grants[0])
    for grant in grants:
        granted = {f.name: f.unmasked for f in grant.fields}
        wanted = list(granted) if requested is None else requested
        if set(wanted) <= set(granted):
            fields = tuple((name, granted[name]) for name in wanted)
            return Decision(200, "granted", resource, grant, fields)
    return Decision(403, "field_not_granted", resource)
