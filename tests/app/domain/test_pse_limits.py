"""The federal pseudoephedrine limits: 3.6 g a day, 9 g in 30 days, per purchaser."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.domain.pse_limits import PseLimitExceeded, PsePurchase, check_pse_purchase

TODAY = date(2026, 11, 26)


def test_exactly_the_daily_limit_is_allowed() -> None:
    assert check_pse_purchase([], buying_mg=Decimal(3600), on=TODAY)[0] == Decimal(3600)


def test_over_the_daily_limit_is_refused() -> None:
    history = [PsePurchase(TODAY, Decimal(2400))]
    with pytest.raises(PseLimitExceeded) as refused:
        check_pse_purchase(history, buying_mg=Decimal(1440), on=TODAY)
    assert refused.value.facts["limit"] == "daily"


def test_the_thirty_days_include_today_and_the_29_before() -> None:
    history = [PsePurchase(TODAY - timedelta(days=days), Decimal(3000)) for days in (1, 10, 29, 30)]
    # 9,000 mg inside the window (days 1, 10, 29); day 30 has left it.
    with pytest.raises(PseLimitExceeded) as refused:
        check_pse_purchase(history, buying_mg=Decimal(1), on=TODAY)
    assert refused.value.facts["limit"] == "thirty_day"
    later = TODAY + timedelta(days=1)
    assert check_pse_purchase(history, buying_mg=Decimal(2999), on=later)[1] == Decimal(8999)
