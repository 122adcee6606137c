"""Rows buffered per table and written in bulk, as both kinds of exchange store write them."""

from __future__ import annotations

from collections.abc import Iterable


class BufferedTables:
    """A subclass writes a table's buffer in `_flush`; the rows of a deferred system wait in
    memory until `release()` (during a two-process advance the other process writes it)."""

    flush_rows = 20_000

    def __init__(self) -> None:
        self.buffers: dict[str, list[tuple]] = {}
        self.deferred: set[str] = set()

    def insert(self, table: str, rows: Iterable[tuple]) -> None:
        buffer = self.buffers.setdefault(table, [])
        buffer.extend(rows)
        if len(buffer) >= self.flush_rows:
            self._flush(table)

    def defer(self, system: str) -> None:
        """Hold the inserts into `system`'s tables until release()."""
        self.deferred.add(system)

    def release(self) -> None:
        self.deferred.clear()
        for table in list(self.buffers):
            self._flush(table)

    def _flush(self, table: str) -> None:
        raise NotImplementedError
