"""The refresh benchmark's bookkeeping: the disk check before a long tier, and the figures kept
after every stage (a long tier stopped midway keeps what it measured)."""

from __future__ import annotations

import json
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from bench import refresh
from bench.refresh import Stage, check_disk, keeper

Usage = namedtuple("Usage", "total used free")


def free_disk(monkeypatch, gigabytes: float) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: Usage(0, 0, int(gigabytes * 1e9)))


def test_a_long_tier_stops_at_once_when_the_disk_cannot_hold_it(tmp_path, monkeypatch):
    free_disk(monkeypatch, 40)
    city = tmp_path / "sim-10000000-parquet-no-truth"
    with pytest.raises(SystemExit, match=r"tier L needs about 70 GB free .* and 40 GB are"):
        check_disk(tmp_path, "L", city)
    free_disk(monkeypatch, 71)
    check_disk(tmp_path, "L", city)  # enough


def test_a_cached_city_is_not_counted_again(tmp_path, monkeypatch):
    city = tmp_path / "sim-10000000-parquet-no-truth"
    city.mkdir()
    (city / "city.json").write_text("{}")
    free_disk(monkeypatch, 65)
    check_disk(tmp_path, "L", city)  # 70 GB less the 9 of the city already there
    free_disk(monkeypatch, 55)
    with pytest.raises(SystemExit, match="needs about 61 GB"):
        check_disk(tmp_path, "L", city)


def test_tiers_without_a_measured_need_are_not_checked(tmp_path, monkeypatch):
    free_disk(monkeypatch, 0)
    for tier in ("tiny", "S", "M"):
        assert tier not in refresh.DISK_GB
        check_disk(tmp_path, tier, tmp_path / "city")


def test_every_finished_stage_is_kept_in_the_partial_report(tmp_path: Path):
    report = {"tier": "L"}
    keep = keeper(tmp_path, report, "full")
    ingest, build = Stage("ingest", 1.5, 100, 10), Stage("build", 2.5, 200, 10)
    keep([ingest])
    partial = json.loads((tmp_path / "report.partial.json").read_text())
    assert [s["name"] for s in partial["full"]] == ["ingest"]
    keep([ingest, build])
    partial = json.loads((tmp_path / "report.partial.json").read_text())
    assert [s["name"] for s in partial["full"]] == ["ingest", "build"]
    assert partial["full"][1]["seconds"] == 2.5 and report["full"] == partial["full"]
