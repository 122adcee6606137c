"""免申即享 payout in the simulated city: the one-off benefits (YEBT, XWWG, GXJL) are paid after
the bureau's matching has found the subject and an officer has approved it, with the delays of
a real treasury (a few working days usually, a tail beyond 30 days, some never paid).

The simulator uses its own knowledge of who is eligible (city.py decides who; it never reads
the platform's policy files or imports matching/): this module only times what follows.

For each entitled (policy, subject, period) the city knows the day the subject became eligible
(`eligible_on`: the birth registered, the certificate year begun, the annual facts delivered).
The city's daily matching run finds it on the first working day from then; an officer approves
1–5 working days later (`approved_on`); the treasury pays `delay_workdays` working days after
the approval (`paid_on`), or never. All draws come from one stream per grant number (FFBH), so
the timing is deterministic by seed and any grant can be drawn alone. Every payout, paid or not
and whether or not the clock has reached it, is ground truth (manifest table `payouts`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from contract.workdays import calendar
from simulator.config import substream

FOLLOWED_POLICIES = ("YEBT", "XWWG", "GXJL")
NEVER_PAID = 0.06  # approved, never paid (the subject moved, the account was wrong, ...)
# working days from approval to payment, by share of the paid ones
DELAYS = (
    (0.70, 3, 15),  # the usual: within three weeks
    (0.88, 16, 21),  # about a month, mostly within 30 days
    (1.00, 22, 60),  # the tail: beyond 30 days
)
PAYOUT_COLUMNS = (
    "ffbh TEXT, policy TEXT, period TEXT, subject TEXT, subject_type TEXT, amount REAL, "
    "eligible_on TEXT, approved_on TEXT, paid_on TEXT, delay_workdays INTEGER"
)


@dataclass(frozen=True)
class Payout:
    ffbh: str
    policy: str
    period: str
    subject: str
    amount: float
    eligible_on: dt.date
    approved_on: dt.date
    paid_on: dt.date | None  # None: never paid
    delay_workdays: int | None

    @property
    def subject_type(self) -> str:
        return "001" if self.policy in ("XWWG", "GXJL") else "111"

    def truth_row(self) -> tuple:
        return (
            self.ffbh,
            self.policy,
            self.period,
            self.subject,
            self.subject_type,
            self.amount,
            self.eligible_on.isoformat(),
            self.approved_on.isoformat(),
            self.paid_on.isoformat() if self.paid_on else None,
            self.delay_workdays,
        )


def follow(
    seed: int,
    ffbh: str,
    policy: str,
    period: str,
    subject: str,
    amount: float,
    eligible_on: dt.date,
) -> Payout:
    """The approval and payment that follow the city's match of (policy, subject, period)."""
    rng = substream(seed, "payout", ffbh)
    cal = calendar()
    found = eligible_on if cal.is_workday(eligible_on) else cal.add_workdays(eligible_on, 1)
    approved = cal.add_workdays(found, rng.randint(1, 5))
    if rng.random() < NEVER_PAID:
        return Payout(ffbh, policy, period, subject, amount, eligible_on, approved, None, None)
    draw = rng.random()
    low, high = next((low, high) for share, low, high in DELAYS if draw < share)
    delay = rng.randint(low, high)
    paid = cal.add_workdays(approved, delay)
    return Payout(ffbh, policy, period, subject, amount, eligible_on, approved, paid, delay)
