"""B1/B2/E1 requests: built to bytes and parsed back, malformed transmissions refused by name."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings

from app.domain.ncpdp import (
    BadFieldValue,
    BadOverpunch,
    BillingClaim,
    EligibilityRequest,
    MalformedMessage,
    MissingSeparator,
    ReversalRequest,
    TransactionCountMismatch,
    TruncatedMessage,
    UnknownSegment,
    UnsupportedTransaction,
    build_b1,
    build_b2,
    build_e1,
    build_request,
    parse_request,
    reversal_of,
)
from tests.app.domain.ncpdp.claims import (
    claim,
    claims,
    eligibility_requests,
    header,
    reversals,
)


@settings(max_examples=300)
@given(claims)
def test_every_b1_parses_back_to_the_claim_built(built: BillingClaim) -> None:
    assert parse_request(build_b1(built)) == built


@given(reversals)
def test_every_b2_parses_back(built: ReversalRequest) -> None:
    assert parse_request(build_b2(built)) == built


@given(eligibility_requests)
def test_every_e1_parses_back(built: EligibilityRequest) -> None:
    assert parse_request(build_e1(built)) == built


def test_the_header_is_56_fixed_width_characters() -> None:
    data = build_b1(claim())
    assert data[:56] == b"610999D0B1RXTRAIN   1011234567893     20261126RXBENCH01 "
    assert data[56:57] == b"\x1e"


def test_the_claim_segment_carries_the_ndc_with_qualifier_03_and_quantity_in_thousandths() -> None:
    data = build_b1(claim(quantity=Decimal("2.5")))
    assert b"\x1cAM07\x1cEM1\x1cD26000123\x1cE103\x1cD700093005801\x1cE72500\x1c" in data
    assert b"\x1cAM11\x1cD9123D\x1cDC15{\x1cDQ259I\x1cDU138D" in data


def test_a_reversal_names_the_claim_it_cancels() -> None:
    billed = claim(fill_number=2)
    reversal = reversal_of(billed)
    assert reversal.key == billed.key
    assert b"\x1cD32" in build_request(reversal)


def _b1() -> bytes:
    return build_b1(claim())


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", TruncatedMessage, "shorter than its 56-character header"),
        (_b1()[:40], TruncatedMessage, "shorter"),
        (_b1()[:56] + _b1()[57:], MissingSeparator, "segment separator"),
        (_b1().replace(b"\x1e\x1cAM04", b"\x1eAM04", 1), MissingSeparator, "field separator"),
        (_b1().replace(b"AM08", b"AM99").replace(b"AM03", b"AM99"), UnknownSegment, "99"),
        (_b1().replace(b"AM07", b"AM01"), UnknownSegment, "Segment 01"),
        (_b1()[:20] + b"2" + _b1()[21:], TransactionCountMismatch, "says 2"),
        (_b1().replace(b"DC15{", b"DC150"), BadOverpunch, "dispensing fee submitted"),
        (_b1().replace(b"D0B1", b"D1B1", 1), UnsupportedTransaction, "only D0"),
        (_b1().replace(b"D0B1", b"D0B3", 1), UnsupportedTransaction, "B3"),
        (_b1().replace(b"Fictional", "Fictiónal".encode()), MalformedMessage, "not ASCII"),
        (_b1().split(b"\x1e\x1cAM11")[0], BadFieldValue, r"pricing segment \(11\)"),
        (_b1().replace(b"\x1cD26000123", b""), BadFieldValue, "D2"),
        (_b1().replace(b"E103", b"E100"), BadFieldValue, "product/service ID qualifier"),
        (_b1().replace(b"DE20261120", b"DE20261320"), BadFieldValue, "date prescription written"),
        (_b1().split(b"\x1d")[0], TransactionCountMismatch, "0 transaction group"),
    ],
)
def test_a_malformed_request_is_refused_with_what_is_wrong(
    data: bytes, error: type[MalformedMessage], words: str
) -> None:
    with pytest.raises(error, match=words):
        parse_request(data)


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        (claim(ndc11="0009300580"), "11-digit NDC"),
        (claim(rx_number="RX12"), "Rx number"),
        (claim(fill_number=100), "fill number 100"),
        (claim(days_supply=1000), "days supply"),
        (claim(quantity=Decimal("1.0005")), "three decimals"),
        (claim(header=header(bin="61099")), "BIN"),
        (claim(header=header(pcn="PCN-LONGER-THAN-10")), "processor control number"),
        (claim(patient=replace(claim().patient, gender_code="M")), "gender"),
    ],
)
def test_a_claim_that_d0_cannot_carry_is_refused_before_sending(
    changed: BillingClaim, words: str
) -> None:
    with pytest.raises(MalformedMessage, match=words):
        build_b1(changed)
