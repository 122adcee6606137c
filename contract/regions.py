"""Administrative division codes (GB/T 2260) as shipped with python-stdnum (``cn/loc.dat``).

An identity number or USCC keeps the region code under which it was issued, which may
since have been retired; hukou and case region codes are always current ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import stdnum

_PERIOD = re.compile(r"^\[(?P<start>\d*)-(?P<end>\d*)\](?P<name>.*)$")


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    first_year: int | None  # None: before the list's memory
    last_year: int | None  # None: still in force

    def in_force(self, year: int) -> bool:
        return (self.first_year is None or year >= self.first_year) and (
            self.last_year is None or year <= self.last_year
        )


def _loc_dat() -> Path:
    return Path(stdnum.__file__).resolve().parent / "cn" / "loc.dat"


@cache
def all_regions() -> tuple[Region, ...]:
    """Every 6-digit code of loc.dat with each period it was used (one entry per period)."""
    regions: list[Region] = []
    province = ""
    for line in _loc_dat().read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province = line.split()[0]
            continue
        suffix, _, props = line.strip().partition(" ")
        value = props.split("=", 1)[1].strip('"')
        for part in value.split(","):
            match = _PERIOD.match(part)
            if match:
                start, end, name = match["start"], match["end"], match["name"]
                regions.append(
                    Region(
                        province + suffix,
                        name,
                        int(start) if start else None,
                        int(end) if end else None,
                    )
                )
            else:
                regions.append(Region(province + suffix, part, None, None))
    return tuple(regions)


@cache
def all_region_codes() -> frozenset[str]:
    """The codes valid in an identity number or USCC: any code of any period."""
    return frozenset(r.code for r in all_regions())


def current_city_districts() -> list[Region]:
    """The districts and counties of Ganzhou in force today (3607xx, not 360700/360701)."""
    return [
        r
        for r in all_regions()
        if r.code.startswith("3607") and r.code not in {"360700", "360701"} and r.last_year is None
    ]


def historical_city_codes() -> list[Region]:
    """Retired codes of the Ganzhou area: 赣州地区 (3621xx) and the renamed counties."""
    return [
        r
        for r in all_regions()
        if (r.code.startswith("3621") or r.code.startswith("3607")) and r.last_year is not None
    ]


def is_city_region(code: str | None) -> bool:
    """ "In the city" means a region code beginning 3607."""
    return bool(code) and code.startswith("3607")
