"""Synthetic 12345 work orders for the hotline server and connector tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

T0 = datetime(2025, 3, 1, 8, 0, 0)
# D14: names outside GBK must come through the API byte-exact.
NAMES = ("张三", "李四", "王𠇔", "龚䶮", "陈𬌗", None)
TOPICS = ("社保", "医保", "户籍", "营商环境", "城市管理", "交通")


def local_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def synthetic_order(
    i: int,
    rng: random.Random,
    span_minutes: int,
    lags: tuple[int, ...],
    updated_at: datetime | None = None,
) -> dict:
    """One work order called within `span_minutes` of T0, updated `lags` minutes later (or
    at `updated_at`): few distinct minutes, so updated_at values often tie."""
    ldsj = T0 + timedelta(minutes=rng.randint(0, span_minutes))
    direct = rng.random() < 0.3  # answered on the call: no department, no dispatch
    topic = rng.choice(TOPICS)
    return {
        "gdbh": f"GD{i:08d}",
        "ldsj": local_text(ldsj),
        "ldhm": f"1397{i:07d}",
        "ldrxm": rng.choice(NAMES),
        "ldrzjhm": "360702199001010013" if rng.random() < 0.4 else None,
        "sqlx": rng.choice("123456"),
        "sqfl": topic,
        "sqnr": f"关于{topic}的诉求，编号{i}",
        "cbdw": None if direct else f"3607{rng.randint(0, 99):04d}",
        "xzqhdm": rng.choice(("360702", "360703", "360721")),
        "zjbj": "1" if direct else "0",
        "pdsj": None if direct else local_text(ldsj + timedelta(minutes=10)),
        "clqx": None if direct else local_text(ldsj + timedelta(days=5)),
        "bjsj": local_text(ldsj + timedelta(minutes=3)) if direct else None,
        "gdzt": "3" if direct else "2",
        "sfjj": rng.choice(("1", "0", None)),
        "myd": rng.choice(("1", "2", "3", None)),
        "updated_at": local_text(updated_at or ldsj + timedelta(minutes=rng.choice(lags))),
    }
