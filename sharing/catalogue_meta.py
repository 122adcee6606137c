"""The sharing catalogue shown in the dbt docs: each model a resource is served from carries
the catalogue's entry as `meta` (config), generated from sharing/catalogue.yaml, the one
source of truth.

    python -m sharing catalogue meta            # write the blocks into the models' yml
    python -m sharing catalogue meta --check    # exit 1 naming the files that disagree

The block sits right under the model's `- name:` line between two marker comments; writing
replaces it (or adds it), and a model no resource is served from any more loses it. Nothing
else of the yml file changes.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sharing.catalogue import DBT_MODELS, Catalogue, load_catalogue

BEGIN = (
    "    # sharing-catalogue: begin (python -m sharing catalogue meta; edit sharing/catalogue.yaml)"
)
END = "    # sharing-catalogue: end"
BLOCK = re.compile(rf"^{re.escape(BEGIN)}\n(?:.*\n)*?{re.escape(END)}\n", re.MULTILINE)
MODEL_LINE = re.compile(r"^  - name: (\w+)[ \t]*$", re.MULTILINE)


def resource_meta(catalogue: Catalogue) -> dict[str, list[dict]]:
    """{model: [the catalogue entry of each resource served from it]}."""
    served: dict[str, list[dict]] = {}
    for resource in catalogue.resources:
        served.setdefault(resource.model, []).append(
            {
                "code": resource.code,
                "name": resource.name,
                "provider": resource.provider,
                "share_type": resource.share_type,
                "update_cycle": resource.update_cycle,
                "subject": resource.subject,
                "fields": {
                    field.name: (
                        field.level
                        if field.model == resource.model and field.column == field.name
                        else f"{field.level} ({field.model}.{field.column})"
                    )
                    for field in resource.fields
                },
            }
        )
    return served


def block(resources: list[dict]) -> str:
    meta = {"config": {"meta": {"sharing_catalogue": resources}}}
    text = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000)
    body = "".join(f"    {line}\n" for line in text.splitlines())
    return f"{BEGIN}\n{body}{END}\n"


def rendered(text: str, served: dict[str, list[dict]]) -> str:
    """`text` (a yml file of models) with the blocks of the models it declares in `served`."""
    text = BLOCK.sub("", text)
    top_level = re.search(r"^(?!models:)\w+:", text[text.find("models:") :], re.MULTILINE)
    end_of_models = text.find("models:") + top_level.start() if top_level else len(text)

    def insert(match: re.Match) -> str:
        if match.start() > end_of_models or match.group(1) not in served:
            return match.group(0)
        return f"{match.group(0)}\n{block(served[match.group(1)])}".rstrip("\n")

    return MODEL_LINE.sub(insert, text)


def planned(models_dir: Path = DBT_MODELS, catalogue: Catalogue | None = None) -> dict[Path, str]:
    """{yml file: its text with the blocks as the catalogue says} for every file of models."""
    served = resource_meta(catalogue or load_catalogue())
    files = {}
    for path in sorted(Path(models_dir).rglob("*.yml")):
        text = path.read_text(encoding="utf-8")
        if "models:" in text:
            files[path] = rendered(text, served)
    declared = {
        name for text in files.values() for name in MODEL_LINE.findall(text) if name in served
    }
    missing = sorted(set(served) - declared)
    if missing:
        raise ValueError(f"models of the catalogue not declared in any yml: {missing}")
    return files


def differing(models_dir: Path = DBT_MODELS, catalogue: Catalogue | None = None) -> list[Path]:
    """The yml files whose blocks do not say what the catalogue says."""
    return [
        path
        for path, text in planned(models_dir, catalogue).items()
        if path.read_text(encoding="utf-8") != text
    ]


def write(models_dir: Path = DBT_MODELS, catalogue: Catalogue | None = None) -> list[Path]:
    """Write the blocks; the files changed."""
    changed = []
    for path, text in planned(models_dir, catalogue).items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
