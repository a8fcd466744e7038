"""D.0 value formats: signed overpunch amounts, quantities with implied decimals, dates, text."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.ncpdp.errors import BadFieldValue, BadOverpunch, MalformedMessage
from app.domain.ncpdp.fields import (
    decode_amount,
    decode_date,
    decode_quantity,
    encode_amount,
    encode_date,
    encode_quantity,
    encode_text,
    fixed_width,
)


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (1234, "123D"),
        (1230, "123{"),
        (-1230, "123}"),
        (-1234, "123M"),
        (0, "{"),
        (5, "E"),
        (-5, "N"),
        (9, "I"),
        (-9, "R"),
        (150, "15{"),
        (100000, "10000{"),
    ],
)
def test_amounts_are_written_with_the_sign_overpunched_on_the_last_digit(
    cents: int, text: str
) -> None:
    assert encode_amount(cents) == text
    assert decode_amount(text) == cents


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_every_amount_reads_back_as_written(cents: int) -> None:
    assert decode_amount(encode_amount(cents)) == cents


def test_leading_zeros_are_read_as_the_same_amount() -> None:
    assert decode_amount("0000123D") == 1234


@pytest.mark.parametrize("text", ["1234", "", "12A4", "12-D", "１２D"])
def test_an_amount_without_its_overpunch_sign_is_refused(text: str) -> None:
    with pytest.raises(BadOverpunch):
        decode_amount(text, field="total amount paid")


def test_the_refusal_names_the_field() -> None:
    with pytest.raises(BadOverpunch, match="total amount paid"):
        decode_amount("1234", field="total amount paid")


def test_amounts_must_be_whole_cents() -> None:
    with pytest.raises(BadFieldValue):
        encode_amount(12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("quantity", "text"),
    [(Decimal(30), "30000"), (Decimal("2.5"), "2500"), (Decimal("0.125"), "125"), (0, "0")],
)
def test_quantities_carry_three_implied_decimals(quantity: Decimal, text: str) -> None:
    assert encode_quantity(Decimal(quantity)) == text
    assert decode_quantity(text) == quantity


@pytest.mark.parametrize("quantity", ["0.0005", "-1", "10000000"])
def test_a_quantity_that_cannot_be_written_exactly_is_refused(quantity: str) -> None:
    with pytest.raises(BadFieldValue):
        encode_quantity(Decimal(quantity))


def test_dates_are_ccyymmdd() -> None:
    assert encode_date(date(2026, 2, 3)) == "20260203"
    assert decode_date("20260203") == date(2026, 2, 3)
    with pytest.raises(BadFieldValue, match="real date"):
        decode_date("20260230")
    with pytest.raises(BadFieldValue, match="CCYYMMDD"):
        decode_date("2026-2-3")


def test_text_loses_accents_and_refuses_separators() -> None:
    assert encode_text("José Núñez", field="name", max_length=15) == "Jose Nunez"
    with pytest.raises(MalformedMessage, match="control character"):
        encode_text("A\x1cB", field="name", max_length=15)
    with pytest.raises(BadFieldValue, match="allows 3"):
        encode_text("ABCD", field="person code", max_length=3)


def test_header_fields_are_space_padded_to_their_width() -> None:
    assert fixed_width("RXTRAIN", 10, field="PCN") == "RXTRAIN   "
