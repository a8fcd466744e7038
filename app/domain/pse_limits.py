"""The federal pseudoephedrine/ephedrine retail limits (Combat Methamphetamine Epidemic Act).

21 USC 830(d)(1): no more than 3.6 g of base to one purchaser in a day, and no more than 9 g in
any 30-day period. A state may be stricter; the federal limits are the floor enforced here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.errors import ValidationFailed

DAILY_LIMIT_MG = Decimal(3600)
THIRTY_DAY_LIMIT_MG = Decimal(9000)
WINDOW_DAYS = 30


class PseLimitExceeded(ValidationFailed):
    """The purchase would take the purchaser over a federal limit; `facts` say which and by
    how much."""

    code = "pse-limit-exceeded"


@dataclass(frozen=True, slots=True)
class PsePurchase:
    sold_on: date
    base_mg: Decimal


def grams(milligrams: Decimal) -> str:
    return f"{(milligrams / 1000).quantize(Decimal('0.01'))} g"


def check_pse_purchase(
    history: Iterable[PsePurchase], *, buying_mg: Decimal, on: date
) -> tuple[Decimal, Decimal]:
    """Refuse unless `buying_mg` more today stays within both limits; returns the day's and
    the 30 days' totals with it. The 30-day period counts today and the 29 days before."""
    since = on - timedelta(days=WINDOW_DAYS - 1)
    earlier = [purchase for purchase in history if since <= purchase.sold_on <= on]
    today = sum((p.base_mg for p in earlier if p.sold_on == on), Decimal(0)) + buying_mg
    month = sum((p.base_mg for p in earlier), Decimal(0)) + buying_mg
    if today > DAILY_LIMIT_MG:
        raise PseLimitExceeded(
            f"This would sell {grams(today)} of pseudoephedrine/ephedrine to this purchaser "
            f"today; federal law allows {grams(DAILY_LIMIT_MG)} a day. Remove some of it.",
            limit="daily",
            total_mg=str(today),
            limit_mg=str(DAILY_LIMIT_MG),
        )
    if month > THIRTY_DAY_LIMIT_MG:
        raise PseLimitExceeded(
            f"This would sell {grams(month)} of pseudoephedrine/ephedrine to this purchaser "
            f"in 30 days; federal law allows {grams(THIRTY_DAY_LIMIT_MG)}. Remove some of it.",
            limit="thirty_day",
            total_mg=str(month),
            limit_mg=str(THIRTY_DAY_LIMIT_MG),
        )
    return today, month
