from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ui.models.formatting import age_text, quantity_text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0, "<1 min"),
        (59, "59 min"),
        (60, "1 h 00 min"),
        (24 * 60 + 59, "1 d 0 h"),
        (25 * 60, "1 d 1 h"),
        (-5, "<1 min"),
    ],
)
def test_age_text(minutes, text):
    assert age_text(timedelta(minutes=minutes)) == text


@pytest.mark.parametrize(
    ("quantity", "text"), [("30.000", "30"), ("2.500", "2.5"), ("100", "100"), ("0.125", "0.125")]
)
def test_quantity_text(quantity, text):
    assert quantity_text(Decimal(quantity)) == text
