"""Lot numbers and NDCs read out of recall notices' free text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.ndc import ndc_candidates
from app.domain.recall_text import MAX_LOT_LENGTH, lot_candidates, ndcs_in_text


@pytest.mark.parametrize(
    ("text", "lots"),
    [
        ("Lot #: ABC123, Exp 12/2025", ["ABC123"]),
        ("Lot #: ABC123, Exp 12/2025; Lot #: ABC124, Exp 01/2026", ["ABC123", "ABC124"]),
        ("Lot Numbers: A1, A2", ["A1", "A2"]),
        ("Lots: 3109B22, 3109C07 and 3109D11; Exp. 12/2026", ["3109B22", "3109C07", "3109D11"]),
        ("Lots: 11-204-DK, 11-205-DK", ["11-204-DK", "11-205-DK"]),
        ("Lot No. 12345 was distributed in May", ["12345"]),
        ("lot# x9z1 exp 2026-03-31", ["X9Z1"]),
        ("Batch: 7F2 & 7F3", ["7F2", "7F3"]),
        ("Lot(s): Q100 Q101 Expiry 06/27", ["Q100", "Q101"]),
        # The same lot twice, and words that are no lot (a lotion, a date, a sentence).
        ("Lot 555A, lot 555a", ["555A"]),
        ("Calamine lotion 8 oz, lots distributed nationwide", []),
        ("Exp 12/2025 only, no lot numbers given", []),
        ("", []),
    ],
)
def test_lot_candidates_are_read_after_a_lot_keyword(text: str, lots: list[str]) -> None:
    assert lot_candidates(text) == lots


def test_ndcs_are_found_hyphenated_or_after_ndc_and_invalid_ones_left_out() -> None:
    text = (
        "Omeprazole DR capsules, NDC 59651-002-01 and 59651-002-30; also NDC# 0093310905, "
        "UPC 3 59651 00201 8, item 123-45-6789 and 59651-002-01 again"
    )
    assert ndcs_in_text(text) == ["59651-002-01", "59651-002-30", "0093310905"]


def test_a_long_list_of_lots_is_read_whole() -> None:
    lots = [f"K{number:05d}" for number in range(800)]
    assert lot_candidates(f"Lot Numbers: {', '.join(lots)}; Exp. 12/2026") == lots


@given(st.text(max_size=400))
def test_reading_arbitrary_text_never_fails_and_gives_plausible_lots(text: str) -> None:
    lots = lot_candidates(text)
    assert len(lots) == len(set(lots))
    for lot in lots:
        assert 2 <= len(lot) <= MAX_LOT_LENGTH
        assert any(character.isdigit() for character in lot)
        assert lot == lot.upper() and lot.isascii()
    for ndc in ndcs_in_text(text):
        assert ndc_candidates(ndc)


@given(
    st.lists(st.from_regex(r"[A-Z][A-Z0-9]{0,8}[0-9]", fullmatch=True), min_size=1, max_size=6),
    st.sampled_from(["Lot #: ", "Lot Numbers: ", "Lots: ", "Lot No. ", "LOT "]),
    st.sampled_from([", ", "; ", " and ", " & ", " "]),
)
def test_every_listed_lot_is_found(lots: list[str], keyword: str, separator: str) -> None:
    text = f"Product X, {keyword}{separator.join(lots)}, Exp 12/2027."
    assert lot_candidates(text) == list(dict.fromkeys(lots))
