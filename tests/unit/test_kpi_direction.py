"""The demo summary's verdict follows each KPI's `better` direction (kpis.md v2): a `lower`
KPI (K22 12345重复诉求率) meets its target at or below it, a monitored KPI (K19, K20) has no
verdict against a target."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.demo import verdict


@pytest.mark.parametrize(
    ("value", "target", "better", "expected"),
    [
        (0.92, Decimal("0.92"), "higher", "met"),
        (0.91, Decimal("0.92"), "higher", "missed"),
        (0.10, Decimal("0.10"), "lower", "met"),
        (0.08, Decimal("0.10"), "lower", "met"),
        (0.11, Decimal("0.10"), "lower", "missed"),
        (0.30, None, "higher", "monitored"),
        (None, Decimal("0.80"), "higher", "–"),
    ],
)
def test_verdict_follows_the_direction(value, target, better, expected):
    assert verdict(value, target, better) == expected
