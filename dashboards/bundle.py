"""The Superset bundle in `dashboards/bundle/`: read, render for import, normalise an export.

The bundle is Superset's own v1 export format (YAML files linked by UUID). Two things make
it fit for git: the database URIs are templates (`${PUBLISHED_WAREHOUSE}` is the published
snapshot's absolute path, `${PUBLISHED_OPERATIONS}` the operations store's published copy,
`${PUBLISHED_SHARING_USAGE}` the sharing service's usage counts, all filled in at import),
and an export is normalised (no database ids, sorted keys, a fixed timestamp, the bundle's
own file names) so that exporting what was imported gives back the same files byte for byte.

Pure Python and PyYAML only: used from Superset's environment and from the tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

BUNDLE = Path(__file__).resolve().parent / "bundle"
WAREHOUSE_PLACEHOLDER = "${PUBLISHED_WAREHOUSE}"
OPERATIONS_PLACEHOLDER = "${PUBLISHED_OPERATIONS}"
SHARING_USAGE_PLACEHOLDER = "${PUBLISHED_SHARING_USAGE}"
METADATA = {"version": "1.0.0", "type": "assets", "timestamp": "1970-01-01T00:00:00+00:00"}
KINDS = ("databases", "datasets", "charts", "dashboards")


def dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100)


def read_bundle(root: Path = BUNDLE) -> dict[str, str]:
    """The bundle's files as {relative path: text}, as Superset's importers take them."""
    return {
        str(path.relative_to(root)): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.yaml"))
    }


def documents(files: dict[str, str], kind: str) -> dict[str, dict]:
    return {
        name: yaml.safe_load(text) for name, text in files.items() if name.startswith(f"{kind}/")
    }


def placeholders(
    published_warehouse: Path, published_operations: Path, published_sharing_usage: Path
) -> dict[str, str]:
    """{placeholder: absolute path} of the files the bundle's databases read."""
    return {
        WAREHOUSE_PLACEHOLDER: str(Path(published_warehouse).resolve()),
        OPERATIONS_PLACEHOLDER: str(Path(published_operations).resolve()),
        SHARING_USAGE_PLACEHOLDER: str(Path(published_sharing_usage).resolve()),
    }


def render(files: dict[str, str], paths: dict[str, str]) -> dict[str, str]:
    """The bundle ready for import: the published files' paths in the database URIs."""
    rendered = {}
    for name, text in files.items():
        for placeholder, path in paths.items():
            text = text.replace(placeholder, path)
        rendered[name] = text
    return rendered


def _normalise_query_context(text: str | None) -> str | None:
    if not text:
        return text
    context = json.loads(text)
    context["datasource"] = {"id": 0, "type": "table"}
    for query in context.get("queries", []):
        if "datasource" in query:
            query["datasource"] = context["datasource"]
    form_data = context.get("form_data", {})
    form_data["datasource"] = "0__table"
    form_data.pop("slice_id", None)
    return json.dumps(context, ensure_ascii=False, sort_keys=True)


def _normalise_chart(chart: dict) -> dict:
    chart["params"]["datasource"] = "0__table"
    chart["params"].pop("slice_id", None)
    chart["query_context"] = _normalise_query_context(chart.get("query_context"))
    return chart


def _normalise_dashboard(dashboard: dict) -> dict:
    for node in dashboard.get("position", {}).values():
        if isinstance(node, dict) and node.get("type") == "CHART":
            node["meta"]["chartId"] = 0
    metadata = dashboard.get("metadata", {})
    for key in ("chart_configuration", "global_chart_configuration", "positions"):
        metadata.pop(key, None)
    return dashboard


def _normalise_dataset(dataset: dict) -> dict:
    dataset["columns"] = sorted(dataset.get("columns", []), key=lambda c: c["column_name"])
    dataset["metrics"] = sorted(dataset.get("metrics", []), key=lambda m: m["metric_name"])
    return dataset


def _normalise_database(database: dict, paths: dict[str, str]) -> dict:
    uri = database["sqlalchemy_uri"]
    for placeholder, path in paths.items():
        uri = uri.replace(path, placeholder)
    database["sqlalchemy_uri"] = uri
    return database


def normalise(document: dict, kind: str, paths: dict[str, str]) -> dict:
    if kind == "charts":
        return _normalise_chart(document)
    if kind == "dashboards":
        return _normalise_dashboard(document)
    if kind == "datasets":
        return _normalise_dataset(document)
    return _normalise_database(document, paths)


def normalise_export(
    exported: dict[str, str], paths: dict[str, str], existing: dict[str, str]
) -> dict[str, str]:
    """An export (paths under the zip's top folder stripped) as bundle files.

    Files keep the names they have in `existing` (matched by UUID); new ones are named
    `<kind>/<uuid>.yaml`. Themes and tags are left out (the bundle uses neither).
    """
    names = {doc["uuid"]: name for kind in KINDS for name, doc in documents(existing, kind).items()}
    bundle = {"metadata.yaml": dump(METADATA)}
    for kind in KINDS:
        for document in documents(exported, kind).values():
            name = names.get(document["uuid"], f"{kind}/{document['uuid']}.yaml")
            bundle[name] = dump(normalise(document, kind, paths))
    return bundle


def write_bundle(files: dict[str, str], root: Path = BUNDLE) -> list[str]:
    """Replace the bundle's YAML files by `files`; the names that changed."""
    old = read_bundle(root) if root.exists() else {}
    for name in old.keys() - files.keys():
        (root / name).unlink()
    changed = sorted(n for n in files.keys() | old.keys() if files.get(n) != old.get(n))
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return changed
