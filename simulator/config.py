"""Arguments of a simulated city and the defect rates of defects.md (defaults)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
from dataclasses import asdict, dataclass, field

# Default rates per affected row (defects.md, third column).
DEFAULT_RATES: dict[str, float] = {
    "D1": 0.02,  # re-pushed unchanged
    "D3": 0.003,  # soft delete
    "D4": 0.03,  # dirty identity number (of which D4_unrecoverable is unrecoverable)
    "D4_unrecoverable": 0.005,
    "D5": 0.01,  # dirty USCC
    "D6": 0.002,  # timestamps out of order
    "D7": 0.001,  # code outside its list
    "D8": 0.005,  # reference to an unknown case
    "D9": 0.05,  # late arrival
    "D12": 0.01,  # hotline API faults (used by serve-hotline)
    "D13": 0.01,  # stale certificate status
    "D14": 0.0005,  # names outside GBK
    "D15": 0.02,  # population snapshot fault per delivered day during `advance`
    "redelivery": 0.2,  # share of 好差评 months delivered again
    # Gaps that real departmental data has (not defects: `--defects off` keeps them; see
    # docs/simulator.md, "Data gaps and non-residents"). Each comes with a floor, so that even
    # a test city of a few hundred people has some.
    "CJDJ_unrecorded": 0.04,  # 残疾人 whose current CJR row has no CJDJ (at least 3)
    "elderly_visitors": 0.002,  # non-resident seniors applying in the city, per resident-year
    "nonresident_births": 0.001,  # babies of non-resident parents born here, per resident-year
    "GXJL_unpaid": 0.3,  # share of each year's GXJL-eligible enterprises not paid (at least 1)
    "provincial_high_tech": 0.15,  # GXJS holders registered by the province (at least 1 a year)
}
# The shares above that are not defects (read with CityConfig.share, never switched off).
SHARES = (
    "CJDJ_unrecorded",
    "elderly_visitors",
    "nonresident_births",
    "GXJL_unpaid",
    "provincial_high_tech",
)


@dataclass(frozen=True)
class CityConfig:
    people: int = 5000
    seed: int = 20250101
    start: dt.date = dt.date(2025, 1, 1)
    months: int = 22
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    defects: bool = True
    drift_column: bool = True  # D11: an added column in bb_jl
    # How the four exchange databases are stored: SQLite files, or Parquet folders for a
    # city too large for SQLite on one disk (simulator/parquet_exchange.py).
    exchange_format: str = "sqlite"
    # The manifest's record-level truth (defects, true identities, data gaps, non-residents):
    # what tests check the platform against. A benchmark city has no use for it (at 10 M
    # people it is 7 GB and a tenth of the generating time); deliveries and changes stay.
    ground_truth: bool = True

    @property
    def end(self) -> dt.date:
        """The first day after the generated range (the initial clock, exclusive)."""
        year = self.start.year + (self.start.month - 1 + self.months) // 12
        month = (self.start.month - 1 + self.months) % 12 + 1
        return dt.date(year, month, 1)

    @property
    def world_end(self) -> dt.date:
        """How far `advance` may go: one year past the generated range."""
        return self.end.replace(year=self.end.year + 1)

    def rate(self, defect: str) -> float:
        return self._rate_of.get(defect, 0.0)

    @functools.cached_property
    def _rate_of(self) -> dict[str, float]:
        """Every defect's rate, looked up once: a city asks millions of times."""
        if not self.defects:
            return {}
        return {**DEFAULT_RATES, **self.rates}

    def share(self, name: str) -> float:
        """A data gap's share (SHARES): part of the city, kept when defects are off."""
        return self.rates.get(name, DEFAULT_RATES[name])

    def to_json(self) -> dict:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict) -> CityConfig:
        data = dict(data)
        data["start"] = dt.date.fromisoformat(data["start"])
        return cls(**data)


def substream(seed: int, *labels: object) -> random.Random:
    """An independent, reproducible random stream for one part of the city.

    Streams are keyed by labels (e.g. ("cases", "2025-03-05")) so that any part can be
    regenerated alone, in any order, with the same result (Python's hash() is salted per
    process, so a cryptographic digest derives the seed).
    """
    text = "\x1f".join([str(seed), *map(str, labels)])
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))
