"""The catalogue (政务信息资源目录) as data: sharing/catalogue.yaml, validated at load.

A resource names a published model; each field is a column of that model or, written
`model.column`, of another model joined on the subject key (the identity vault for an
unmasked name). Every model and column must exist in the dbt project's yml, so a field that
does not exist is refused when the file is loaded, with the file and the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from groundfloor.settings import PROJECT

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
DBT_MODELS = PROJECT / "dbt_project" / "models"
SHARE_TYPES = ("无条件共享", "有条件共享", "不予共享")
LEVELS = ("L1", "L2", "L3", "L4")
SUBJECTS = {"person": "person_key", "enterprise": "enterprise_key", "none": None}
MASKS = ("name", "phone", "identity_number")


class CatalogueError(ValueError):
    """A catalogue, consumer or grant file that does not hold together; the message names the
    file and the resource, field or grant at fault."""


@dataclass(frozen=True)
class Field:
    name: str
    level: str
    model: str
    column: str
    mask: str | None

    @property
    def sensitive(self) -> bool:
        return self.level in ("L3", "L4")


@dataclass(frozen=True)
class Resource:
    code: str
    name: str
    provider: str
    share_type: str
    update_cycle: str
    model: str
    subject: str
    fields: tuple[Field, ...]
    where: tuple[tuple[str, str], ...] = ()
    region_column: str | None = None

    @property
    def subject_key(self) -> str | None:
        return SUBJECTS[self.subject]

    @property
    def shared(self) -> bool:
        return self.share_type != "不予共享"

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


@dataclass(frozen=True)
class Catalogue:
    resources: tuple[Resource, ...]
    source: Path

    def resource(self, code: str) -> Resource | None:
        return next((r for r in self.resources if r.code == code), None)

    def codes(self) -> list[str]:
        return [r.code for r in self.resources]


@cache
def model_columns(models_dir: Path = DBT_MODELS) -> dict[str, frozenset[str]]:
    """Every model of the dbt project with the columns its yml documents."""
    models: dict[str, frozenset[str]] = {}
    for path in sorted(models_dir.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models") or []:
            columns = frozenset(c["name"] for c in model.get("columns") or [])
            models[model["name"]] = columns
    return models


def load_catalogue(path: Path = CATALOGUE, models: dict | None = None) -> Catalogue:
    """The catalogue at `path`, refused with a CatalogueError naming the file and the resource
    or field when it does not match the models."""
    path = Path(path)
    models = model_columns() if models is None else models
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    resources = [_resource(path, entry, models) for entry in document.get("resources") or []]
    codes = [r.code for r in resources]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise CatalogueError(f"{path}: resource {duplicates[0]} is listed twice")
    return Catalogue(tuple(resources), path)


def _resource(path: Path, entry: dict, models: dict) -> Resource:
    code = entry.get("code") or "?"
    where = f"{path}: resource {code}"
    for key in ("code", "name", "provider", "share_type", "update_cycle", "model", "subject"):
        if not entry.get(key):
            raise CatalogueError(f"{where}: {key} is missing")
    if entry["share_type"] not in SHARE_TYPES:
        raise CatalogueError(
            f"{where}: share_type {entry['share_type']} is not one of {SHARE_TYPES}"
        )
    if entry["subject"] not in SUBJECTS:
        raise CatalogueError(f"{where}: subject {entry['subject']} is not in {list(SUBJECTS)}")
    model = entry["model"]
    if model not in models:
        raise CatalogueError(f"{where}: model {model} is not a model of the dbt project")
    subject_key = SUBJECTS[entry["subject"]]
    _require_column(where, models, model, subject_key)
    _require_column(where, models, model, entry.get("region_column"))
    filters = tuple((str(k), str(v)) for k, v in (entry.get("where") or {}).items())
    for column, _ in filters:
        _require_column(where, models, model, column)
    fields = tuple(
        _field(where, raw, model, subject_key, models) for raw in entry.get("fields") or []
    )
    if not fields:
        raise CatalogueError(f"{where}: no fields")
    return Resource(
        code=code,
        name=entry["name"],
        provider=entry["provider"],
        share_type=entry["share_type"],
        update_cycle=str(entry["update_cycle"]),
        model=model,
        subject=entry["subject"],
        fields=fields,
        where=filters,
        region_column=entry.get("region_column"),
    )


def _field(where: str, raw: dict, model: str, subject_key: str | None, models: dict) -> Field:
    name = raw.get("name") or "?"
    at = f"{where}: field {name}"
    if raw.get("level") not in LEVELS:
        raise CatalogueError(f"{at}: level {raw.get('level')} is not one of {LEVELS}")
    if raw.get("mask") is not None and raw["mask"] not in MASKS:
        raise CatalogueError(f"{at}: mask {raw['mask']} is not one of {MASKS}")
    source_model, _, column = (raw.get("column") or f"{model}.{name}").rpartition(".")
    if source_model not in models:
        raise CatalogueError(f"{at}: model {source_model} is not a model of the dbt project")
    if column not in models[source_model]:
        raise CatalogueError(f"{at}: {source_model} has no column {column}")
    if source_model != model and (subject_key is None or subject_key not in models[source_model]):
        raise CatalogueError(f"{at}: {source_model} cannot be joined on the subject key")
    return Field(name, raw["level"], source_model, column, raw.get("mask"))


def _require_column(where: str, models: dict, model: str, column: str | None) -> None:
    if column is not None and column not in models[model]:
        raise CatalogueError(f"{where}: {model} has no column {column}")
