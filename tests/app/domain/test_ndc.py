"""NDC forms: real directory NDCs in every configuration, NDC-11 and NDC-12 round trips."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.ndc import (
    Ndc,
    NdcAmbiguous,
    NdcConfiguration,
    NdcInvalid,
    NdcNotExpressible,
    candidates_from_ndc10_digits,
    candidates_from_ndc11,
    ndc_candidates,
    ndc_from_ndc12_digits,
    parse_ndc,
)

FDA_DIRECTORY = (
    Path(__file__).resolve().parents[4] / "shared/data/fda-ndc-directory-2019-04-29/ndctext.zip"
)


def digits(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=size, max_size=size)


ten_digit_ndcs = st.sampled_from([(4, 4, 2), (5, 3, 2), (5, 4, 1)]).flatmap(
    lambda lengths: st.builds(Ndc, *(digits(size) for size in lengths))
)
twelve_digit_ndcs = st.builds(Ndc, digits(6), digits(4), digits(2))


# Package NDCs from the FDA directory snapshot of 2019-04-29 (package.txt).
@pytest.mark.parametrize(
    ("hyphenated", "configuration", "ndc11", "ndc12"),
    [
        ("0002-0800-01", "4-4-2", "00002080001", "000002080001"),  # Lilly, 4-digit labeler
        ("5575-0001-01", "4-4-2", "05575000101", "005575000101"),  # 4 digits, not starting 0
        ("0781-2613-01", "4-4-2", "00781261301", "000781261301"),
        ("10122-901-12", "5-3-2", "10122090112", "010122090112"),
        ("10147-0685-1", "5-4-1", "10147068501", "010147068501"),
        ("60505-2671-0", "5-4-1", "60505267100", "060505267100"),
        ("00904-5899-4", "5-4-1", "00904589904", "000904589904"),  # 5-digit labeler with 0
        ("29500-907-77", "5-3-2", "29500090777", "029500090777"),
        ("29500-9077-7", "5-4-1", "29500907707", "029500907707"),
    ],
)
def test_directory_ndcs_in_every_form(
    hyphenated: str, configuration: str, ndc11: str, ndc12: str
) -> None:
    ndc = parse_ndc(hyphenated)
    assert ndc.configuration == NdcConfiguration(configuration)
    assert (ndc.hyphenated, str(ndc), ndc.ndc11, ndc.ndc12) == (
        hyphenated,
        hyphenated,
        ndc11,
        ndc12,
    )
    assert ndc.ndc10_digits == hyphenated.replace("-", "")
    assert ndc in candidates_from_ndc11(ndc11)
    assert ndc in candidates_from_ndc10_digits(ndc.ndc10_digits)
    # The NDC-12 of a converted NDC is its NDC-11 with one more leading zero (2026 final rule).
    assert ndc12 == "0" + ndc11
    assert parse_ndc(f"{ndc12[:6]}-{ndc12[6:10]}-{ndc12[10:]}").ndc11 == ndc11


def test_the_directory_trap_two_ndcs_share_ten_digits_but_not_eleven() -> None:
    readings = candidates_from_ndc10_digits("2950090777")
    assert [ndc.hyphenated for ndc in readings] == ["2950-0907-77", "29500-907-77", "29500-9077-7"]
    assert len({ndc.ndc11 for ndc in readings}) == 3
    assert parse_ndc("29500090777") == Ndc("29500", "907", "77")
    assert parse_ndc("29500907707") == Ndc("29500", "9077", "7")


def test_an_ndc11_with_several_pad_zeros_has_several_readings() -> None:
    assert [ndc.hyphenated for ndc in candidates_from_ndc11("00002080001")] == [
        "0002-0800-01",
        "00002-800-01",
        "00002-0800-1",
    ]
    with pytest.raises(NdcAmbiguous) as raised:
        parse_ndc("00002-0800-01")
    assert raised.value.facts["candidates"] == candidates_from_ndc11("00002080001")
    assert "0002-0800-01" in raised.value.message


def test_an_ndc11_without_pad_zero_is_the_ndc12_of_a_labeler_starting_with_zero() -> None:
    (only,) = candidates_from_ndc11("12345678912")
    assert only == Ndc("012345", "6789", "12")
    assert only.is_ndc12
    assert only.ndc11 == "12345678912"


def test_a_six_digit_labeler_has_no_eleven_or_ten_digit_form() -> None:
    ndc = parse_ndc("123456-7890-12")
    assert ndc.configuration is NdcConfiguration.L6_P4_K2
    assert (ndc.hyphenated, ndc.ndc12) == ("123456-7890-12", "123456789012")
    with pytest.raises(NdcNotExpressible, match="6-digit labeler"):
        _ = ndc.ndc11
    with pytest.raises(NdcNotExpressible, match="no 10-digit form"):
        _ = ndc.ndc10_digits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("123456789012", "with its hyphens"),  # NDC-12 must be hyphenated: collides with UPC-A
        ("12345-67-890", "not an NDC"),
        ("1234-567-89", "not an NDC"),
        ("123456-789-01", "not an NDC"),  # 6-3-2 was never adopted
        ("1234567", "not an NDC"),
        ("0002-0800-0١", "not an NDC"),  # an Arabic-Indic digit is not an NDC digit
        ("", "not an NDC"),
    ],
)
def test_malformed_ndcs_are_refused(text: str, message: str) -> None:
    with pytest.raises(NdcInvalid, match=message):
        ndc_candidates(text)


def test_segments_are_validated_on_construction() -> None:
    with pytest.raises(NdcInvalid):
        Ndc("0002", "080", "01")
    with pytest.raises(NdcInvalid):
        Ndc("000a", "0800", "01")


@given(ten_digit_ndcs)
def test_ten_digit_ndcs_round_trip_through_every_form(ndc: Ndc) -> None:
    assert parse_ndc(ndc.hyphenated) == ndc
    assert ndc in candidates_from_ndc11(ndc.ndc11)
    assert ndc in candidates_from_ndc10_digits(ndc.ndc10_digits)
    assert all(candidate.ndc11 == ndc.ndc11 for candidate in candidates_from_ndc11(ndc.ndc11))
    assert ndc.ndc12 == "0" + ndc.ndc11
    assert ndc_from_ndc12_digits(ndc.ndc12).ndc11 == ndc.ndc11


@given(digits(11))
def test_every_ndc11_candidate_pads_back_to_it(ndc11: str) -> None:
    candidates = candidates_from_ndc11(ndc11)
    assert candidates
    assert {candidate.ndc11 for candidate in candidates} == {ndc11}
    pad_zeros = sum(segment.startswith("0") for segment in (ndc11[:5], ndc11[5:9], ndc11[9:]))
    assert len(candidates) == max(pad_zeros, 1)


@given(twelve_digit_ndcs)
def test_twelve_digit_ndcs_round_trip(ndc: Ndc) -> None:
    assert parse_ndc(ndc.hyphenated) == ndc
    assert ndc_from_ndc12_digits(ndc.ndc12) == ndc
    if ndc.labeler.startswith("0"):
        assert Ndc("0" + ndc.ndc11[:5], ndc.ndc11[5:9], ndc.ndc11[9:]) == ndc
    else:
        with pytest.raises(NdcNotExpressible):
            _ = ndc.ndc11


@given(st.text(max_size=20))
def test_any_text_is_read_or_refused_as_invalid(text: str) -> None:
    try:
        candidates = ndc_candidates(text)
    except NdcInvalid:
        return
    assert candidates and all(isinstance(candidate, Ndc) for candidate in candidates)


@pytest.mark.slow
@pytest.mark.skipif(not FDA_DIRECTORY.exists(), reason="FDA directory snapshot not present")
def test_every_package_ndc_of_the_fda_directory_round_trips() -> None:
    with zipfile.ZipFile(FDA_DIRECTORY) as archive:
        text = archive.read("package.txt").decode("cp1252")
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    assert len(rows) == 243_960
    configurations = set()
    for row in rows:
        hyphenated = row["NDCPACKAGECODE"]
        ndc = parse_ndc(hyphenated)
        assert ndc.hyphenated == hyphenated
        assert ndc in candidates_from_ndc11(ndc.ndc11)
        configurations.add(ndc.configuration)
    assert configurations == {
        NdcConfiguration.L4_P4_K2,
        NdcConfiguration.L5_P3_K2,
        NdcConfiguration.L5_P4_K1,
    }
