"""What a connector hands to the landing code: one batch per source table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl


@dataclass
class Batch:
    """Rows extracted from one source table in one load.

    `frame` has the source's own column names and values as delivered: text for every
    text-like column (identity numbers of any length, codes, timestamps already rendered as
    naive Asia/Shanghai ``YYYY-MM-DD HH:MM:SS``), integers/decimals as the driver gives them.
    The landing code casts, checks codes and quarantines; connectors never drop a row.
    """

    system: str
    table: str
    frame: pl.DataFrame
    source: str  # where it came from: a URL without secrets, or a file name
    watermark: str | None = None  # the cursor value this batch brings the table up to
    # For a delivery read by a cursor column: the column, and the source's own clock when the
    # extraction started. The landing code then derives the watermark from the rows it keeps
    # (never a quarantined row, never beyond `source_now`: ingestion.landing.watermark_after).
    cursor: str | None = None
    source_now: str | None = None
    mode: str = "incremental"  # incremental | full | snapshot | file
    details: dict[str, Any] = field(default_factory=dict)  # e.g. file name, size, sha256


class SourceError(RuntimeError):
    """A source could not be reached or read (after the connector's retries)."""


class Connector(Protocol):
    """One departmental system. `watermarks` maps table -> last landed cursor value."""

    system: str

    def extract(self, watermarks: dict[str, str]) -> Iterator[Batch]: ...
