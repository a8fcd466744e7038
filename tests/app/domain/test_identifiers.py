"""NPI, DEA and NCPDP validation: check digits computed, corruption always caught."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.identifiers import (
    dea_check_digit,
    npi_check_digit,
    validate_dea,
    validate_ncpdp_id,
    validate_npi,
)
from app.errors import ValidationFailed

nine_digits = st.text("0123456789", min_size=8, max_size=8).map(lambda rest: "1" + rest)
six_digits = st.text("0123456789", min_size=6, max_size=6)


def test_known_good_npi() -> None:
    # CMS's worked example of the NPI check digit.
    assert validate_npi(" 1234567893 ") == "1234567893"


@pytest.mark.parametrize(
    ("npi", "message"),
    [
        ("1234567890", "wrong check digit"),
        ("123456789", "exactly 10 digits"),
        ("12345678931", "exactly 10 digits"),
        ("3234567893", "starts with 1 or 2"),
        ("12345x7893", "exactly 10 digits"),
    ],
)
def test_bad_npis_are_refused_with_the_reason(npi: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        validate_npi(npi)


@given(nine_digits, st.integers(0, 9), st.integers(1, 9))
def test_any_single_digit_change_breaks_an_npi(first_nine: str, position: int, delta: int) -> None:
    npi = first_nine + str(npi_check_digit(first_nine))
    assert validate_npi(npi) == npi
    corrupted = list(npi)
    corrupted[position] = str((int(corrupted[position]) + delta) % 10)
    corrupted_npi = "".join(corrupted)
    if corrupted_npi[0] in "12":
        with pytest.raises(ValidationFailed):
            validate_npi(corrupted_npi)


def test_known_good_dea_numbers() -> None:
    assert validate_dea("bt1234563") == "BT1234563"
    assert validate_dea("AB1234563-ABC123") == "AB1234563-ABC123"
    assert validate_dea("M91234563") == "M91234563"


@pytest.mark.parametrize(
    ("dea", "message"),
    [
        ("BT1234564", "wrong check digit"),
        ("B1234563", "two letters and seven digits"),
        ("ZT1234563", "not a registrant type"),
        ("BT1234563-!!", "suffix"),
    ],
)
def test_bad_dea_numbers_are_refused_with_the_reason(dea: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        validate_dea(dea)


@given(six_digits, st.integers(2, 7), st.integers(1, 9))
def test_dea_check_digit_catches_single_digit_errors_in_odd_positions(
    digits: str, position: int, delta: int
) -> None:
    dea = f"AB{digits}{dea_check_digit(digits)}"
    assert validate_dea(dea) == dea
    index = position
    corrupted = dea[:index] + str((int(dea[index]) + delta) % 10) + dea[index + 1 :]
    # Even-position digits are doubled, so a change of 5 there keeps the sum mod 10.
    if (index - 2) % 2 == 1 and delta == 5:
        return
    with pytest.raises(ValidationFailed):
        validate_dea(corrupted)


def test_ncpdp_id() -> None:
    assert validate_ncpdp_id(" 1234567") == "1234567"
    with pytest.raises(ValidationFailed, match="exactly 7 digits"):
        validate_ncpdp_id("123456")
