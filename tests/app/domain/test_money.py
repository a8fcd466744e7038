"""Register money in integer cents: tax rounding, cash change, typed amounts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.money import (
    CashTaken,
    InvalidAmount,
    apply_cash,
    cart_totals,
    dollars,
    parse_dollars,
    tax_cents,
)


def test_tax_is_rounded_half_up_once_on_the_taxable_total() -> None:
    assert tax_cents(998, 825) == 82  # 82.335
    assert tax_cents(1000, 625) == 63  # 62.5 rounds up
    assert tax_cents(0, 825) == 0


def test_only_taxable_lines_are_taxed() -> None:
    totals = cart_totals([(1000, False), (998, True)], 825)
    assert (totals.subtotal_cents, totals.taxable_cents, totals.tax_cents) == (1998, 998, 82)
    assert totals.total_cents == 2080


def test_an_impossible_rate_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        tax_cents(100, 3000)


def test_cash_over_the_balance_is_change() -> None:
    assert apply_cash(2000, 1079) == CashTaken(1079, 921)
    assert apply_cash(500, 1079) == CashTaken(500, 0)
    with pytest.raises(InvalidAmount):
        apply_cash(0, 100)


@given(st.integers(min_value=0, max_value=10**9))
def test_dollars_and_parse_dollars_round_trip(cents: int) -> None:
    assert parse_dollars(dollars(cents)) == cents


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1.2x", "$", "-3"])
def test_not_money_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_dollars(text)


@given(st.integers(min_value=0, max_value=10**8), st.integers(min_value=0, max_value=2500))
def test_tax_never_drifts_more_than_half_a_cent(amount: int, basis_points: int) -> None:
    assert abs(tax_cents(amount, basis_points) * 10_000 - amount * basis_points) <= 5_000
