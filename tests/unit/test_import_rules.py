"""The project's import rules, read from the source with ast (docs/architecture.md).

- `contract/` (the city's specification) imports nothing of the project.
- `groundfloor/` (settings, connections, the writer lock, masking) stands on `contract` only.
- The rooms (ingestion, transform, quality, matching, dashboards, sharing, closing) stand on the
  ground floor and the contract; they never import one another.
- The simulator imports only the contract, and nothing of the pipeline imports it.
- `pipeline/` (orchestration) may import the rooms; only `dags/` and `bench/` import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
BASE = {"contract", "groundfloor"}
ROOMS = {"ingestion", "transform", "quality", "matching", "dashboards", "sharing", "closing"}
ROOMS |= {"linkage"}
# What each top folder may import of the project's own packages.
ALLOWED: dict[str, set[str]] = {
    "contract": set(),
    "groundfloor": {"contract"},
    "simulator": {"contract"},
    **{room: BASE for room in ROOMS},
    "pipeline": BASE | ROOMS,
    "dags": {"pipeline"},
    "bench": BASE | ROOMS | {"pipeline", "simulator"},
    "superset": {"groundfloor"},  # superset_config.py reads the settings
    "scripts": BASE,
}
PACKAGES = set(ALLOWED) - {"superset", "scripts"}  # folders whose name is importable
SKIPPED = {"tests", "data", "dbt_project", "docs", "docker", "config"}


def imported_packages(source: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import in a file."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(root: Path) -> list[str]:
    """Every import that breaks the rules, as 'file:line: folder imports package'."""
    problems = []
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root)
        folder = relative.parts[0]
        if len(relative.parts) == 1 or folder.startswith(".") or folder in SKIPPED:
            continue
        if folder not in ALLOWED:
            problems.append(f"{relative}: folder {folder}/ has no import rule (add it)")
            continue
        for line, package in imported_packages(source):
            if package in PACKAGES and package != folder and package not in ALLOWED[folder]:
                problems.append(f"{relative}:{line}: {folder}/ imports {package}")
    return problems


def test_the_project_keeps_its_import_rules():
    assert violations(PROJECT) == []


@pytest.mark.parametrize(
    ("folder", "line", "expected"),
    [
        (
            "quality",
            "from ingestion.runner import run",
            "quality/planted.py:1: quality/ imports ingestion",
        ),
        (
            "contract",
            "import groundfloor.settings",
            "contract/planted.py:1: contract/ imports groundfloor",
        ),
        (
            "matching",
            "from pipeline import tasks",
            "matching/planted.py:1: matching/ imports pipeline",
        ),
        (
            "simulator",
            "from ingestion import runner",
            "simulator/planted.py:1: simulator/ imports ingestion",
        ),
        (
            "transform",
            "from quality.suites import x",
            "transform/planted.py:1: transform/ imports quality",
        ),
    ],
)
def test_a_planted_violation_is_reported_with_its_file(tmp_path, folder, line, expected):
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "planted.py").write_text(line + "\n", encoding="utf-8")
    assert violations(tmp_path) == [expected]


def test_allowed_imports_are_not_reported(tmp_path):
    (tmp_path / "quality").mkdir()
    (tmp_path / "quality" / "fine.py").write_text(
        "import duckdb\nfrom groundfloor.settings import Settings\nfrom quality import store\n"
    )
    assert violations(tmp_path) == []


def test_a_new_top_folder_needs_a_rule(tmp_path):
    (tmp_path / "newroom").mkdir()
    (tmp_path / "newroom" / "x.py").write_text("import os\n")
    assert violations(tmp_path) == ["newroom/x.py: folder newroom/ has no import rule (add it)"]
