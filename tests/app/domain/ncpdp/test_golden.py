"""Byte-exact D.0 transmissions: what we build must not drift, and must read back the same.

The fixtures under golden/ were checked field by field against the standard's layout when they
were written; a change here is a change on the wire and needs the same check.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.ncpdp import (
    ClaimResponse,
    DurResponse,
    EligibilityRequest,
    PaidAmounts,
    Request,
    ResponseStatus,
    TransactionCode,
    build_request,
    build_response,
    parse_request,
    parse_response,
    reversal_of,
)
from tests.app.domain.ncpdp.claims import DATE_OF_SERVICE, PHARMACY_NPI, claim, header

GOLDEN = Path(__file__).parent / "golden"

B1_PAID = ClaimResponse(
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
B1_REJECT_75 = ClaimResponse(
    transaction_code=TransactionCode.BILLING,
    service_provider_id=PHARMACY_NPI,
    date_of_service=DATE_OF_SERVICE,
    status=ResponseStatus.REJECTED,
    rx_number="6000123",
    reject_codes=("75",),
    message="CALL THE PLAN FOR PRIOR AUTHORIZATION",
    additional_messages=("PRIOR AUTH REQUIRED - PRESCRIBER CALL", "800-555-0175"),
)
B1_REJECT_79 = ClaimResponse(
    transaction_code=TransactionCode.BILLING,
    service_provider_id=PHARMACY_NPI,
    date_of_service=DATE_OF_SERVICE,
    status=ResponseStatus.REJECTED,
    rx_number="6000123",
    reject_codes=("79",),
    additional_messages=("NEXT FILL ON OR AFTER 20261219",),
    dur_responses=(
        DurResponse(
            reason_for_service="ER",
            clinical_significance="2",
            other_pharmacy_indicator="1",
            previous_fill_date=date(2026, 11, 26),
            previous_fill_quantity=Decimal(30),
            free_text="EARLY REFILL",
        ),
    ),
)
B2_APPROVED = ClaimResponse(
    transaction_code=TransactionCode.REVERSAL,
    service_provider_id=PHARMACY_NPI,
    date_of_service=DATE_OF_SERVICE,
    status=ResponseStatus.APPROVED,
    rx_number="6000123",
    authorization_number="TRN000000001",
    message="REVERSAL ACCEPTED",
)
E1_APPROVED = ClaimResponse(
    transaction_code=TransactionCode.ELIGIBILITY,
    service_provider_id=PHARMACY_NPI,
    date_of_service=DATE_OF_SERVICE,
    status=ResponseStatus.APPROVED,
    message="ELIGIBLE - RXBENCH TRAINING PLAN",
    group_id="TRAIN01",
)
E1_REQUEST = EligibilityRequest(
    header=header(), patient=claim().patient, insurance=claim().insurance
)

REQUESTS: list[tuple[str, Request]] = [
    ("b1_request.bin", claim()),
    ("b2_request.bin", reversal_of(claim())),
    ("e1_request.bin", E1_REQUEST),
]
RESPONSES = [
    ("b1_paid_response.bin", B1_PAID),
    ("b1_reject_75_response.bin", B1_REJECT_75),
    ("b1_reject_79_response.bin", B1_REJECT_79),
    ("b2_approved_response.bin", B2_APPROVED),
    ("e1_approved_response.bin", E1_APPROVED),
]


@pytest.mark.parametrize(("name", "request_"), REQUESTS)
def test_requests_are_built_byte_for_byte(name: str, request_: Request) -> None:
    golden = (GOLDEN / name).read_bytes()
    assert build_request(request_) == golden
    assert parse_request(golden) == request_


@pytest.mark.parametrize(("name", "response"), RESPONSES)
def test_responses_are_built_byte_for_byte(name: str, response: ClaimResponse) -> None:
    golden = (GOLDEN / name).read_bytes()
    assert build_response(response) == golden
    assert parse_response(golden) == response


def test_the_paid_fixture_spells_the_standard_layout() -> None:
    golden = (GOLDEN / "b1_paid_response.bin").read_bytes()
    header_, rest = golden[:31], golden[31:]
    assert header_ == b"D0B11A011234567893     20261126"
    assert rest.split(b"\x1d")[1].split(b"\x1e")[1:] == [
        b"\x1cAM21\x1cANP\x1cF3TRN000000001",
        b"\x1cAM22\x1cEM1\x1cD26000123",
        b"\x1cAM23\x1cF550{\x1cF675{\x1cF715{\x1cJ5{\x1cF940{\x1cFI50{",
    ]
