"""Tags (千人千面): rule-defined labels on the person and enterprise files, as data in the
policies' closed condition grammar, evaluated as of E (policies.md v2).

A tag file has code, name, subject, definition (the rule in words) and conditions; no amount,
no period. It is compiled by the policies' compiler (as a policy paying nothing), so a tag
reads exactly what a policy condition would. A subject carries the tag when its conditions are
true; unknown (a null read) does not tag. Results go to the operations store with the
definition's version (SHA-256 of the file): `subject_tags` (one row per tag and subject for E)
and `tag_definitions`, and the counts per tag and district the dashboard shows (`tag_counts`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

from matching.compiler import compile_policy
from matching.payout import region_name, region_names
from matching.policy import Fault, Fixed, Policy, PolicyError, parse_condition
from matching.store import (
    WAREHOUSE_ALIAS,
    open_store,
    replace_evaluation,
    store_beside_warehouse,
)

DEFAULT_TAGS = Path(__file__).resolve().parent / "tags"
FIELDS = {"code", "name", "subject", "definition", "conditions"}

DDL = """
create table if not exists tag_definitions (
    tag_code varchar not null, tag_version varchar not null, name varchar not null,
    subject_type varchar not null, definition varchar not null, content varchar not null,
    first_seen_at timestamp not null, primary key (tag_code, tag_version));
create table if not exists subject_tags (
    tag_code varchar not null, tag_version varchar not null, subject_type varchar not null,
    subject_key varchar not null, region_code varchar, evaluation_date date not null);
create table if not exists tag_counts (
    evaluation_date date not null, tag_code varchar not null, tag_name varchar not null,
    subject_type varchar not null, tag_version varchar not null, definition varchar not null,
    region_code varchar not null, region_name varchar not null, subjects integer not null);
"""

# counts per tag and district of E, with the definition's version
TAG_COUNTS = """
select t.evaluation_date, t.tag_code, d.name, t.subject_type, t.tag_version, d.definition,
    coalesce(t.region_code, '未知'), count(*)
from subject_tags t join tag_definitions d using (tag_code, tag_version)
where t.evaluation_date = ?
group by all
"""


@dataclass(frozen=True)
class Tag:
    code: str
    name: str
    subject: str
    definition: str
    rule: Policy  # the conditions as a policy paying nothing, for the compiler

    @property
    def version(self) -> str:
        return self.rule.version


def load_tag(path: Path) -> Tag:
    raw = path.read_bytes()
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
        if not isinstance(document, dict) or set(document) != FIELDS:
            raise Fault(f"a tag file has exactly the fields {sorted(FIELDS)}")
        if document["subject"] not in ("person", "enterprise"):
            raise Fault("subject must be person or enterprise")
        conditions = parse_condition(document["conditions"], document["subject"], "conditions")
    except (ValueError, yaml.YAMLError) as error:
        raise PolicyError(f"{path.name}: tag: {error}") from None
    rule = Policy(
        code=str(document["code"]),
        name=str(document["name"]),
        subject=document["subject"],
        effective_from=dt.date.min,
        effective_to=None,
        legal_reference="",
        period="year",
        conditions=conditions,
        amount=Fixed(Decimal(0)),
        path=path,
        version=hashlib.sha256(raw).hexdigest(),
        source=raw.decode("utf-8"),
    )
    return Tag(rule.code, rule.name, rule.subject, str(document["definition"]), rule)


def load_tags(directory: Path = DEFAULT_TAGS) -> list[Tag]:
    return [load_tag(path) for path in sorted(directory.glob("*.yaml"))]


def evaluate_tags(
    warehouse: Path, operations: Path, on: dt.date, directory: Path = DEFAULT_TAGS
) -> dict[str, int]:
    """Tag every subject as of E; a re-run for the same E replaces that E's rows."""
    tags = load_tags(directory)
    with store_beside_warehouse(warehouse, operations, "policy matching: tags") as store:
        store.execute(DDL)
        counts = {tag.code: _tag(store, tag, on) for tag in tags}
        names = region_names(store)
        counted = store.execute(TAG_COUNTS, [on]).fetchall()
        values = [(*row[:7], region_name(row[6], names), row[7]) for row in counted]
        replace_evaluation(store, "tag_counts", on, values)
        return counts


def _tag(store, tag: Tag, on: dt.date) -> int:
    compiled = compile_policy(tag.rule, on, f"{WAREHOUSE_ALIAS}.main_marts")
    source, key, region = (
        ("person_file", "person_key", "hukou_region_code")
        if tag.subject == "person"
        else ("enterprise_file", "enterprise_key", "region_code")
    )
    store.begin()
    store.execute(
        "delete from subject_tags where tag_code = ? and evaluation_date = ?", [tag.code, on]
    )
    store.execute(
        f"""insert into subject_tags
        select ?, ?, ?, e.subject_key, s.{region}, ?
        from ({compiled.evaluation}) e
        join {WAREHOUSE_ALIAS}.main_marts.{source} s on s.{key} = e.subject_key
        where e.status = 'match'""",
        [tag.code, tag.version, tag.subject, on],
    )
    store.execute(
        """insert into tag_definitions select ?, ?, ?, ?, ?, ?, now()
        where not exists (select 1 from tag_definitions where tag_code = ? and tag_version = ?)""",
        [tag.code, tag.version, tag.name, tag.subject, tag.definition, tag.rule.source,
         tag.code, tag.version],
    )  # fmt: skip
    count = store.execute(
        "select count(*) from subject_tags where tag_code = ? and evaluation_date = ?",
        [tag.code, on],
    ).fetchone()[0]
    store.commit()
    return count


def counts_by_district(operations: Path, on: dt.date) -> list[tuple]:
    """(tag, name, region, subjects) for E: what the dashboard shows."""
    store = open_store(operations)
    try:
        store.execute(DDL)
        return store.execute(
            """select t.tag_code, d.name, t.region_code, count(*)
            from subject_tags t join tag_definitions d using (tag_code, tag_version)
            where t.evaluation_date = ? group by all order by all""",
            [on],
        ).fetchall()
    finally:
        store.close()
