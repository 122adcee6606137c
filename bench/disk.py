"""The disk a benchmark run holds while a stage runs: the bytes allocated under its folders (the
city, the warehouses, the published snapshot, DuckDB's spill), sampled by a thread.

Allocated blocks (`st_blocks`), not file lengths: a DuckDB file's free blocks and a sparse spill
file count as what they occupy on the disk, which is what a budget is about.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

SAMPLE_SECONDS = 2.0


def allocated_bytes(folder: Path) -> int:
    """Bytes allocated to the files under `folder`; files that vanish during the walk (DuckDB
    drops spill files and swaps snapshots as it goes) count as nothing."""
    total = 0
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += allocated_bytes(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_blocks * 512
        except FileNotFoundError:
            continue
    return total


class DiskHighWater:
    """`with DiskHighWater(folders) as disk: …` then `disk.peak_bytes`: the most the folders
    held together at any sample, the first taken on entry and the last on exit."""

    def __init__(self, folders: Iterable[Path], every: float = SAMPLE_SECONDS):
        self.folders = [Path(f) for f in folders]
        self.every = every
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="disk-high-water", daemon=True)

    def sample(self) -> int:
        held = sum(allocated_bytes(folder) for folder in self.folders)
        self.peak_bytes = max(self.peak_bytes, held)
        return held

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> DiskHighWater:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
