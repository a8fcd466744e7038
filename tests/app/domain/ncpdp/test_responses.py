"""Responses: typed statuses, amounts that add up, rejects explained, and answers matched."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.ncpdp import (
    AmountsDoNotAddUp,
    BadFieldValue,
    ClaimResponse,
    DurResponse,
    MalformedMessage,
    PaidAmounts,
    ResponseMismatch,
    ResponseStatus,
    TransactionCode,
    build_response,
    ensure_matches,
    matches,
    parse_response,
    reject_meaning,
    reversal_of,
)
from tests.app.domain.ncpdp.claims import DATE_OF_SERVICE, PHARMACY_NPI, claim


def paid(**changes: object) -> ClaimResponse:
    base = ClaimResponse(
        transaction_code=TransactionCode.BILLING,
        service_provider_id=PHARMACY_NPI,
        date_of_service=DATE_OF_SERVICE,
        status=ResponseStatus.PAID,
        rx_number="6000123",
        authorization_number="TRN000000001",
        amounts=PaidAmounts(
            ingredient_cost_paid_cents=750,
            dispensing_fee_paid_cents=150,
            patient_pay_cents=500,
            copay_cents=500,
            total_amount_paid_cents=400,
        ),
        message="PAID BY RXBENCH TRAINING PLAN",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@st.composite
def amounts(draw: st.DrawFn) -> PaidAmounts:
    cents = st.integers(min_value=0, max_value=10**7)
    ingredient, fee, patient, other = draw(cents), draw(cents), draw(cents), draw(cents)
    return PaidAmounts(
        ingredient_cost_paid_cents=ingredient,
        dispensing_fee_paid_cents=fee,
        patient_pay_cents=patient,
        copay_cents=draw(st.integers(min_value=0, max_value=patient)),
        other_payer_amount_recognized_cents=other,
        total_amount_paid_cents=ingredient + fee - patient - other,
    )


_LINE = st.text(alphabet="ABCDEFGHIJ 0123456789-", max_size=40)

responses = st.one_of(
    st.builds(
        paid,
        status=st.sampled_from([ResponseStatus.PAID, ResponseStatus.DUPLICATE_OF_PAID]),
        amounts=amounts(),
        additional_messages=st.lists(_LINE, max_size=3).map(tuple),
        dur_responses=st.lists(
            st.builds(
                DurResponse,
                reason_for_service=st.sampled_from(["ER", "TD"]),
                clinical_significance=st.sampled_from(["", "1", "2"]),
                other_pharmacy_indicator=st.sampled_from(["", "1", "3"]),
                previous_fill_date=st.none() | st.dates(),
                previous_fill_quantity=st.none()
                | st.decimals(min_value=0, max_value=10000, places=3, allow_nan=False),
                free_text=st.text(alphabet="ABC XYZ", max_size=30),
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(
        paid,
        status=st.just(ResponseStatus.REJECTED),
        amounts=st.none(),
        authorization_number=st.just(""),
        reject_codes=st.lists(st.sampled_from(["70", "75", "79", "E7", "MR"]), min_size=1).map(
            tuple
        ),
    ),
    st.builds(
        paid,
        transaction_code=st.just(TransactionCode.REVERSAL),
        status=st.sampled_from([ResponseStatus.APPROVED, ResponseStatus.DUPLICATE_OF_APPROVED]),
        amounts=st.none(),
    ),
    st.builds(
        paid,
        transaction_code=st.just(TransactionCode.ELIGIBILITY),
        status=st.just(ResponseStatus.APPROVED),
        rx_number=st.just(""),
        amounts=st.none(),
        group_id=st.text(alphabet="ABC123", max_size=15),
    ),
)


@given(responses)
def test_every_response_parses_back_to_the_one_built(built: ClaimResponse) -> None:
    assert parse_response(build_response(built)) == built


def test_a_paid_response_reads_as_paid_with_its_amounts() -> None:
    response = parse_response(build_response(paid()))
    assert response.is_paid
    assert response.amounts is not None and response.amounts.adds_up
    assert response.amounts.total_amount_paid_cents == 400


def test_a_duplicate_of_paid_counts_as_paid() -> None:
    assert paid(status=ResponseStatus.DUPLICATE_OF_PAID).is_paid
    assert not paid(status=ResponseStatus.REJECTED, amounts=None, reject_codes=("70",)).is_paid


def test_reject_codes_come_with_their_meaning() -> None:
    response = paid(status=ResponseStatus.REJECTED, amounts=None, reject_codes=("75", "ZZ"))
    assert [meaning.title for meaning in response.rejects] == [
        "Prior authorization required",
        "Reject code ZZ",
    ]
    for code in ("70", "75", "76", "79", "88", "07", "65", "25", "19", "E7", "41", "85", "99"):
        assert not reject_meaning(code).title.startswith("Reject code"), code
    assert reject_meaning("MR").title == "Product not on formulary"


def test_amounts_that_do_not_add_up_are_refused_when_read() -> None:
    data = build_response(paid()).replace(b"F940{", b"F950{")
    with pytest.raises(AmountsDoNotAddUp, match="total amount paid 500"):
        parse_response(data)


def test_amounts_that_do_not_add_up_cannot_be_built() -> None:
    wrong = replace(paid().amounts, total_amount_paid_cents=1)  # type: ignore[type-var]
    with pytest.raises(AmountsDoNotAddUp):
        build_response(paid(amounts=wrong))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (build_response(paid()).replace(b"ANP", b"ANX"), "112-AN"),
        (build_response(paid()).replace(b"ANP", b"ANA"), "cannot have status A"),
        (build_response(paid()).replace(b"\x1cF6", b"\x1cXX"), "506|F6"),
        (build_response(paid()).replace(b"B11A", b"B12A"), "says 2"),
        (build_response(paid()).replace(b"B11A", b"B11Q"), "501-F1"),
        (build_response(paid()).split(b"\x1e\x1cAM23")[0], "pricing segment"),
        (
            build_response(
                paid(status=ResponseStatus.REJECTED, amounts=None, reject_codes=("70",))
            ).replace(b"FA1", b"FA2"),
            "reject count",
        ),
        (build_response(paid())[:30], "shorter"),
    ],
)
def test_a_malformed_response_is_refused_with_what_is_wrong(data: bytes, words: str) -> None:
    with pytest.raises(MalformedMessage, match=words):
        parse_response(data)


def test_a_response_matches_the_request_it_answers() -> None:
    assert matches(claim(), paid())
    ensure_matches(claim(), paid())


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (paid(rx_number="6000124"), "Rx 6000124, not Rx 6000123"),
        (paid(service_provider_id="1999999992"), "pharmacy 1999999992"),
        (paid(date_of_service=date(2026, 11, 25)), "2026-11-25"),
        (
            paid(transaction_code=TransactionCode.REVERSAL, status=ResponseStatus.APPROVED),
            "B2 instead of a B1",
        ),
    ],
)
def test_a_response_for_another_claim_is_refused(response: ClaimResponse, words: str) -> None:
    assert not matches(claim(), response)
    with pytest.raises(ResponseMismatch, match=words):
        ensure_matches(claim(), response)


def test_a_reversal_answer_matches_its_reversal() -> None:
    approved = paid(
        transaction_code=TransactionCode.REVERSAL, status=ResponseStatus.APPROVED, amounts=None
    )
    assert matches(reversal_of(claim()), approved)
    assert not matches(claim(), approved)


def test_a_whole_transmission_rejected_unread_still_matches_its_request() -> None:
    refused = paid(
        status=ResponseStatus.REJECTED,
        transmission_accepted=False,
        rx_number="",
        amounts=None,
        authorization_number="",
        reject_codes=("R8",),
    )
    assert matches(claim(), refused)


def test_builders_refuse_inconsistent_responses() -> None:
    with pytest.raises(BadFieldValue, match="no reject code"):
        build_response(paid(status=ResponseStatus.REJECTED, amounts=None))
    with pytest.raises(BadFieldValue, match="no pricing"):
        build_response(paid(amounts=None))
    with pytest.raises(BadFieldValue, match="Only a rejected"):
        build_response(paid(reject_codes=("70",)))
    with pytest.raises(BadFieldValue, match="402-D2"):
        build_response(paid(rx_number=""))


def test_dur_responses_keep_the_previous_fill() -> None:
    dur = DurResponse(
        reason_for_service="ER",
        clinical_significance="2",
        other_pharmacy_indicator="3",
        previous_fill_date=date(2026, 11, 1),
        previous_fill_quantity=Decimal(30),
        free_text="EARLY REFILL",
    )
    rejected = paid(status=ResponseStatus.REJECTED, amounts=None, reject_codes=("79",))
    built = replace(rejected, dur_responses=(dur,))
    assert parse_response(build_response(built)).dur_responses == (dur,)
