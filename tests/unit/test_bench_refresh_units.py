"""The refresh benchmark's bookkeeping: the disk check before a long tier, and the figures kept
after every stage (a long tier stopped midway keeps what it measured)."""

from __future__ import annotations

import json
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from bench import refresh
from bench.refresh import Stage, check_disk, keeper, resumed_report, stages_left

Usage = namedtuple("Usage", "total used free")


def free_disk(monkeypatch, gigabytes: float) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: Usage(0, 0, int(gigabytes * 1e9)))


def test_a_long_tier_stops_at_once_when_the_disk_cannot_hold_it(tmp_path, monkeypatch):
    free_disk(monkeypatch, 40)
    city = tmp_path / "sim-10000000-parquet-no-truth"
    with pytest.raises(SystemExit, match=r"tier L needs about 60 GB free .* and 40 GB are"):
        check_disk(tmp_path, "L", city)
    free_disk(monkeypatch, 61)
    check_disk(tmp_path, "L", city)  # enough


def test_a_cached_city_is_not_counted_again(tmp_path, monkeypatch):
    city = tmp_path / "sim-10000000-parquet-no-truth"
    city.mkdir()
    (city / "city.json").write_text("{}")
    free_disk(monkeypatch, 55)
    check_disk(tmp_path, "L", city)  # 60 GB less the 9 of the city already there
    free_disk(monkeypatch, 45)
    with pytest.raises(SystemExit, match="needs about 51 GB"):
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


def test_a_resumed_run_goes_on_after_the_stages_it_measured():
    stages = ("ingest", "build", "quality", "matching", "publish")
    assert stages_left(stages, []) == stages
    assert stages_left(stages, [{"name": "ingest"}, {"name": "build"}]) == stages[2:]
    assert stages_left(stages, [{"name": n} for n in stages]) == ()
    with pytest.raises(SystemExit, match="not the start"):
        stages_left(stages, [{"name": "build"}])


def test_resuming_needs_the_city_where_the_stopped_run_left_it(tmp_path):
    city, work = tmp_path / "city", tmp_path / "work"
    city.mkdir(), work.mkdir()
    (city / "city.json").write_text(json.dumps({"clock": "2026-11-02T00:00:00"}))
    with pytest.raises(SystemExit, match="nothing to resume"):
        resumed_report(work, city)
    partial = {"city_clock": "2026-11-01", "full": [{"name": "ingest"}]}
    (work / "report.partial.json").write_text(json.dumps(partial))
    with pytest.raises(SystemExit, match="run the tier again"):
        resumed_report(work, city)  # the full refresh started on 1 November
    partial["advanced_to"] = "2026-11-02"  # it had advanced the city: the incremental resumes
    (work / "report.partial.json").write_text(json.dumps(partial))
    report = resumed_report(work, city)
    assert report["full"] == [{"name": "ingest"}] and len(report["resumed"]) == 1


def test_a_resumed_phase_keeps_the_stages_measured_before_it(tmp_path):
    report = {"full": [{"name": "ingest", "seconds": 1.0}]}
    keep = keeper(tmp_path, report, "full")
    keep([Stage("build", 2.0, 10, 5)])
    names = [s["name"] for s in report["full"]]
    assert names == ["ingest", "build"]
    saved = json.loads((tmp_path / "report.partial.json").read_text())
    assert [s["name"] for s in saved["full"]] == names
