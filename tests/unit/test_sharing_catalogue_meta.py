"""The sharing catalogue in the dbt docs: the models' yml carry, as `meta`, exactly what
sharing/catalogue.yaml says of the resources served from them (one source of truth,
`python -m sharing catalogue meta` writes it, `--check` fails when they disagree)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from sharing import catalogue_meta
from sharing.catalogue import CATALOGUE, DBT_MODELS, load_catalogue

PROJECT = Path(__file__).resolve().parents[2]


def declared_meta(models_dir: Path = DBT_MODELS) -> dict[str, list[dict]]:
    """{model: its config.meta.sharing_catalogue} as the yml files hold it."""
    found = {}
    for path in sorted(models_dir.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models") or []:
            meta = (model.get("config") or {}).get("meta") or {}
            if "sharing_catalogue" in meta:
                found[model["name"]] = meta["sharing_catalogue"]
    return found


def test_the_models_meta_is_the_catalogue():
    catalogue = load_catalogue()
    declared = declared_meta()
    assert declared == catalogue_meta.resource_meta(catalogue)
    # every resource appears once, on the model it is served from, with every field's level
    entries = {e["code"]: (model, e) for model, es in declared.items() for e in es}
    assert sorted(entries) == sorted(r.code for r in catalogue.resources)
    for resource in catalogue.resources:
        model, entry = entries[resource.code]
        assert model == resource.model
        assert (entry["share_type"], entry["update_cycle"], entry["provider"]) == (
            resource.share_type, resource.update_cycle, resource.provider,
        )  # fmt: skip
        levels = {name: level.split(" ")[0] for name, level in entry["fields"].items()}
        assert levels == {f.name: f.level for f in resource.fields}
    assert entries["person_basic"][1]["fields"]["identity_number"] == (
        "L4 (identity_persons.identity_number)"
    )
    assert [e["code"] for e in declared["certificate_validity"]] == [
        "person_certificates", "enterprise_certificates",
    ]  # fmt: skip


def test_the_check_passes_on_the_project_and_names_a_file_that_disagrees(tmp_path):
    assert catalogue_meta.differing() == []
    changed = tmp_path / "catalogue.yaml"
    text = CATALOGUE.read_text(encoding="utf-8")
    changed.write_text(text.replace("update_cycle: 每日", "update_cycle: 每月", 1), "utf-8")
    differing = catalogue_meta.differing(catalogue=load_catalogue(changed))
    assert [p.relative_to(PROJECT).as_posix() for p in differing] == [
        "dbt_project/models/marts/themes/_themes__models.yml"
    ]


def test_writing_replaces_the_blocks_only_and_is_idempotent(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(DBT_MODELS, models)
    stripped = {
        p: catalogue_meta.BLOCK.sub("", p.read_text("utf-8")) for p in models.rglob("*.yml")
    }
    for path, text in stripped.items():
        path.write_text(text, encoding="utf-8")
    written = catalogue_meta.write(models)
    assert len(written) == 4
    assert catalogue_meta.write(models) == []  # nothing left to change
    for path in models.rglob("*.yml"):
        original = DBT_MODELS / path.relative_to(models)
        assert path.read_text("utf-8") == original.read_text("utf-8")
        # outside the blocks, nothing of the file changed
        assert catalogue_meta.BLOCK.sub("", path.read_text("utf-8")) == stripped[path]


def test_the_command_line_check():
    done = subprocess.run(
        [sys.executable, "-m", "sharing", "catalogue", "meta", "--check"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agree with sharing/catalogue.yaml" in done.stdout
