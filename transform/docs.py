"""Generate the dbt docs site and publish it for officers.

The published copy keeps the models' documentation and catalogue but leaves out the unit
tests' fixtures: they are developers' test inputs (synthetic identity numbers that exercise the
normalisation), not documentation, and nothing that looks like an identity number belongs in
a published page.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from transform.dbt import DBT_PROJECT, run_dbt

SITE_FILES = ("index.html", "catalog.json", "manifest.json")


def generate(warehouse: Path, as_of: dt.date | None = None) -> Path:
    run_dbt(warehouse, "docs generate", as_of=as_of, capture=True)
    return DBT_PROJECT / "target"


def without_unit_test_fixtures(manifest: dict) -> dict:
    manifest = dict(manifest)
    manifest["unit_tests"] = {
        name: {key: value for key, value in test.items() if key not in ("given", "expect")}
        for name, test in manifest.get("unit_tests", {}).items()
    }
    return manifest


def publish_docs(target: Path, destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for name in SITE_FILES:
        if name == "manifest.json":
            manifest = json.loads((target / name).read_text(encoding="utf-8"))
            text = json.dumps(without_unit_test_fixtures(manifest), ensure_ascii=False)
            (destination / name).write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(target / name, destination / name)
    return destination / "index.html"
