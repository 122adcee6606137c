"""Regenerate the region-code seed (dbt_project/seeds/gb2260_codes.csv).

The seed lists every 6-digit GB/T 2260 code of python-stdnum's ``cn/loc.dat``, of any
period: an identity number or USCC keeps the code under which it was issued, even when
that code has since been retired, so the warehouse checks them against all of them.

loc.dat may give a code several periods (a code reused for a renamed or re-formed
county). The seed keeps one row per code with the widest span of its periods: the
earliest first year and the latest last year, an empty year meaning "before the list's
memory" (first_year) or "still in force" (last_year). The name is that of the code's
latest period.

    uv run python -m contract.tools.build_region_seed
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from contract.regions import Region, all_regions

SEED = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "gb2260_codes.csv"
HEADER = ("code", "name", "first_year", "last_year")


def _widest(periods: list[Region]) -> tuple[str, str, int | None, int | None]:
    """One row for a code: its earliest start, latest end and latest name."""
    starts = [p.first_year for p in periods]
    ends = [p.last_year for p in periods]
    first = None if None in starts else min(s for s in starts if s is not None)
    last = None if None in ends else max(e for e in ends if e is not None)
    latest = max(
        periods,
        key=lambda p: (
            math.inf if p.last_year is None else p.last_year,
            -math.inf if p.first_year is None else p.first_year,
        ),
    )
    return (periods[0].code, latest.name, first, last)


def rows() -> list[tuple[str, str, int | None, int | None]]:
    by_code: dict[str, list[Region]] = {}
    for region in all_regions():
        by_code.setdefault(region.code, []).append(region)
    return [_widest(by_code[code]) for code in sorted(by_code)]


def build(path: Path = SEED) -> int:
    table = rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for code, name, first, last in table:
            writer.writerow(
                (code, name, "" if first is None else first, "" if last is None else last)
            )
    return len(table)


if __name__ == "__main__":
    print(f"wrote {build()} region codes to {SEED}")
