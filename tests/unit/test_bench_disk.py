"""The benchmark's disk measure: blocks allocated under the run's folders, the most they held
at any sample while a stage ran (tier L's budget is 60 GB for everything it holds)."""

from __future__ import annotations

import os
import time

from bench.disk import DiskHighWater, allocated_bytes
from bench.refresh import disk_peak_gb, goal_lines, stage_row

MIB = 2**20


def write(path, mebibytes: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(mebibytes * MIB))


def test_allocated_bytes_counts_the_blocks_a_tree_holds_not_file_lengths(tmp_path):
    write(tmp_path / "city" / "exchange" / "part-0.parquet", 3)
    write(tmp_path / "city" / "city.json", 1)
    with (tmp_path / "sparse.tmp").open("wb") as sparse:  # a spill file DuckDB has not filled
        sparse.truncate(500 * MIB)
    held = allocated_bytes(tmp_path)
    assert 4 * MIB <= held < 5 * MIB
    assert allocated_bytes(tmp_path / "not-there") == 0


def test_the_high_water_mark_keeps_a_peak_gone_by_the_end(tmp_path):
    write(tmp_path / "warehouse" / "warehouse.duckdb", 2)
    with DiskHighWater([tmp_path / "warehouse", tmp_path / "spill"], every=0.02) as disk:
        write(tmp_path / "spill" / "duckdb_temp_storage-0.tmp", 8)
        time.sleep(0.3)  # several samples see the spill
        (tmp_path / "spill" / "duckdb_temp_storage-0.tmp").unlink()
    assert 10 * MIB <= disk.peak_bytes < 11 * MIB
    assert allocated_bytes(tmp_path) < 3 * MIB  # what is left at the end is less


def stage(name: str, disk: int | None) -> dict:
    details = {"commit": "abc1234", "warehouse_bytes": 30e9}
    if disk is not None:
        details["disk_peak_bytes"] = disk
    return {"name": name, "seconds": 10.0, "rows": 100, "peak_rss_mib": 1000, "details": details}


def test_the_run_s_disk_peak_is_the_largest_of_its_stages_and_the_day_s_advance():
    report = {
        "full": [stage("ingest", 40e9), stage("build", 52.34e9)],
        "incremental": [stage("build", 58.06e9)],
        "advance_disk_peak_bytes": 55e9,
    }
    assert disk_peak_gb(report) == 58.1
    report["advance_disk_peak_bytes"] = 61e9
    assert disk_peak_gb(report) == 61.0
    old = {"full": [stage("ingest", None)], "incremental": [stage("build", None)]}
    assert disk_peak_gb(old) is None  # a report from before the measure
    assert stage_row(stage("build", 52.34e9)).endswith("| 30.0 | 52.3 | abc1234 |")
    assert stage_row(stage("build", None)).endswith("| 30.0 |  | abc1234 |")


def summary(disk: float | None) -> dict:
    return {
        "full_refresh_seconds": 2000.0,
        "full_refresh_peak_rss_mib": 11000,
        "disk_peak_gb": disk,
        "incremental_share": 0.3,
        "marts_identical": None,
        "extraction_vs_pandas": 4.2,
        "matching_seconds_per_million": 5.0,
        "matching_vs_rowwise": 60.0,
        "quality_share_of_build": 0.12,
        "duckdb_vs_postgres_build": 3.5,
    }


def test_tier_l_s_goals_say_whether_the_disk_held_to_its_budget():
    def disk_line(disk):
        lines = goal_lines({"tier": "L", "summary": summary(disk), "peers": {}})
        return next(line for line in lines if line.startswith("L disk"))

    assert disk_line(58.1) == "L disk, city and warehouses: at most 58.1 GB (budget ≤ 60 GB): met"
    assert disk_line(61.0).endswith(": NOT met")
    assert disk_line(None) == "L disk, city and warehouses: not measured (budget ≤ 60 GB): n/a"
    lines = goal_lines({"tier": "M", "summary": summary(20.0), "peers": {}})
    assert not any(line.startswith("L disk") for line in lines)
