"""Every relative link of the README, the docs and the folders' READMEs leads to a file that
exists (anchors are not checked): a newcomer follows them to find their way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
EXTERNAL = ("http://", "https://", "mailto:", "#")


def documents() -> list[Path]:
    pages = [PROJECT / "README.md", *sorted((PROJECT / "docs").rglob("*.md"))]
    pages += [*sorted(PROJECT.glob("*/README.md")), PROJECT / "bench/results/JOURNAL.md"]
    return [p for p in pages if p.exists()]


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file is missing, as 'page: target'."""
    text = CODE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if target.startswith(EXTERNAL):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not (page.parent / path).exists():
            broken.append(f"{page.relative_to(PROJECT)}: {target}")
    return broken


@pytest.mark.parametrize("page", documents(), ids=lambda p: str(p.relative_to(PROJECT)))
def test_relative_links_resolve(page):
    assert broken_links(page) == []


def test_the_readme_is_a_map_of_at_most_200_lines():
    assert len((PROJECT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_every_top_folder_has_a_readme():
    skipped = {"data", "node_modules"}
    folders = [
        p for p in PROJECT.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in skipped
    ]  # fmt: skip
    assert [p.name for p in folders if not (p / "README.md").exists()] == []


def test_a_broken_link_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.PROJECT", tmp_path)
    page = tmp_path / "README.md"
    page.write_text("[ok](README.md) [gone](docs/nothing.md#x) `[code](no.md)` [web](https://x)")
    assert broken_links(page) == ["README.md: docs/nothing.md#x"]
