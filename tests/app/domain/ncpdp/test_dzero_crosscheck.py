"""Our requests read the same through an independent D.0 parser (dzero-python, test-only)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dzero_python
from hypothesis import given, settings

from app.domain.ncpdp import (
    BillingClaim,
    EligibilityRequest,
    ResponseStatus,
    TransactionCode,
    build_b1,
    build_b2,
    build_e1,
    build_response,
    decode_amount,
    parse_request,
    parse_response,
    reversal_of,
)
from app.domain.ncpdp.fields import encode_date, encode_quantity
from tests.app.domain.ncpdp.claims import claim, claims, eligibility_requests
from tests.app.domain.ncpdp.test_responses import paid


def _segment(parsed: dzero_python.Request, segment_id: str) -> dict[str, str]:
    for segment in parsed.segments:
        if segment["AM"] == segment_id:
            return dict(segment.hash)
    raise AssertionError(f"dzero found no segment {segment_id}")


def _header_of(built: BillingClaim, code: str) -> dict[str, str]:
    header = built.header
    return {
        "bin_number": header.bin,
        "version": "D0",
        "transaction_code": code,
        "processor_control_number": header.pcn,
        "transaction_count": "1",
        "service_provider_id_qualifier": "01",
        "service_provider_id": header.service_provider_id,
        "date_of_service": encode_date(header.date_of_service),
        "software": header.software_id,
    }


@settings(max_examples=200)
@given(claims)
def test_dzero_reads_our_b1_as_we_built_it(built: BillingClaim) -> None:
    parsed = dzero_python.Request.parse(build_b1(built).decode("ascii"))
    assert parsed.header == _header_of(built, "B1")
    patient = _segment(parsed, "01")
    assert patient["CB"] == built.patient.last_name
    assert patient["CA"] == built.patient.first_name
    assert patient["C4"] == encode_date(built.patient.date_of_birth)
    assert _segment(parsed, "04")["C2"] == built.insurance.cardholder_id
    claim_segment = _segment(parsed, "07")
    assert claim_segment["EM"] == "1"
    assert claim_segment["D2"] == built.rx_number
    assert claim_segment["E1"] == "03"
    assert claim_segment["D7"] == built.ndc11
    assert Decimal(claim_segment["E7"]) / 1000 == built.quantity
    assert int(claim_segment["D3"]) == built.fill_number
    assert int(claim_segment["D5"]) == built.days_supply
    assert claim_segment["DE"] == encode_date(built.date_written)
    assert _segment(parsed, "03")["DB"] == built.prescriber.npi
    pricing = _segment(parsed, "11")
    assert decode_amount(pricing["D9"]) == built.ingredient_cost_cents
    assert decode_amount(pricing["DC"]) == built.dispensing_fee_cents
    assert decode_amount(pricing["DU"]) == built.gross_amount_due_cents
    if built.dur_services:
        # dzero keeps the last of a repeating field.
        assert _segment(parsed, "08")["E4"] == built.dur_services[-1].reason_for_service
    if built.other_payments:
        cob = _segment(parsed, "05")
        assert cob["4C"] == str(len(built.other_payments))
        assert decode_amount(cob["DV"]) == built.other_payments[-1].amount_paid_cents
    assert [len(group.segments) for group in parsed.transaction_groups] == [
        3 + bool(built.dur_services) + bool(built.other_payments)
    ]


def test_dzero_reads_our_b2() -> None:
    built = reversal_of(claim(fill_number=3))
    parsed = dzero_python.Request.parse(build_b2(built).decode("ascii"))
    assert parsed.header["transaction_code"] == "B2"
    assert parsed.header["date_of_service"] == "20261126"
    claim_segment = _segment(parsed, "07")
    assert (claim_segment["D2"], claim_segment["D3"], claim_segment["D7"]) == (
        "6000123",
        "3",
        "00093005801",
    )


@given(eligibility_requests)
def test_dzero_reads_our_e1(built: EligibilityRequest) -> None:
    parsed = dzero_python.Request.parse(build_e1(built).decode("ascii"))
    assert parsed.header["transaction_code"] == "E1"
    assert parsed.header["bin_number"] == built.header.bin
    assert _segment(parsed, "04")["C2"] == built.insurance.cardholder_id
    assert _segment(parsed, "01")["CB"] == built.patient.last_name
    assert parsed.transaction_groups == []


def test_dzero_reads_our_response() -> None:
    parsed = dzero_python.Response.parse(build_response(paid()).decode("ascii"))
    assert parsed.header["transaction_code"] == "B1"
    assert parsed.header["header_response_status"] == "A"
    assert parsed.header["service_provider_id"] == "1234567893"
    assert _segment(parsed, "21")["AN"] == "P"
    assert _segment(parsed, "22")["D2"] == "6000123"
    pricing = _segment(parsed, "23")
    assert decode_amount(pricing["F9"]) == 400
    assert decode_amount(pricing["F5"]) == 500
    assert _segment(parsed, "20")["F4"] == "PAID BY RXBENCH TRAINING PLAN"


def test_we_read_a_b1_that_dzero_built() -> None:
    segments = dzero_python.segments
    request = dzero_python.Request(
        header={
            "bin_number": "610999",
            "version": "D0",
            "transaction_code": "B1",
            "processor_control_number": "RXTRAIN",
            "transaction_count": "1",
            "service_provider_id_qualifier": "01",
            "service_provider_id": "1234567893",
            "date_of_service": "20261126",
            "software": "OTHERVEND",
        },
        segments=[
            segments.Patient({"C4": "19700409", "C5": "2", "CA": "DANA", "CB": "FICTIONAL"}),
            segments.Insurance({"C2": "TRN00012345", "C1": "TRAIN01"}),
            segments.Claim(
                {
                    "EM": "1",
                    "D2": "6000123",
                    "E1": "03",
                    "D7": "00093005801",
                    "E7": encode_quantity(Decimal("45.5")),
                    "D3": "1",
                    "D5": "30",
                    "DE": "20261120",
                    "DF": "5",
                }
            ),
            segments.Prescriber({"EZ": "01", "DB": "1245319599"}),
            segments.Pricing({"D9": "123D", "DC": "15{", "DQ": "259I", "DU": "138D"}),
        ],
    )
    ours = parse_request(request.to_s().encode("ascii"))
    assert isinstance(ours, BillingClaim)
    assert ours.header.software_id == "OTHERVEND"
    assert ours.header.date_of_service == date(2026, 11, 26)
    assert ours.patient.last_name == "FICTIONAL"
    assert ours.insurance.group_id == "TRAIN01"
    assert (ours.rx_number, ours.fill_number, ours.ndc11) == ("6000123", 1, "00093005801")
    assert ours.quantity == Decimal("45.5")
    assert ours.ingredient_cost_cents == 1234
    assert ours.usual_and_customary_cents == 2599


def test_we_read_a_response_that_dzero_built() -> None:
    segments = dzero_python.segments
    response = dzero_python.Response(
        header={
            "version": "D0",
            "transaction_code": "B1",
            "transaction_count": "1",
            "header_response_status": "A",
            "service_provider_id_qualifier": "01",
            "service_provider_id": "1234567893",
            "date_of_service": "20261126",
        },
        segments=[
            segments.ResponseMessage({"F4": "OTHER PAYER"}),
            segments.ResponseStatus({"AN": "R", "FA": "1", "FB": "75"}),
            segments.ResponseClaim({"EM": "1", "D2": "6000123"}),
        ],
    )
    ours = parse_response(response.to_s().encode("ascii"))
    assert ours.transaction_code is TransactionCode.BILLING
    assert ours.status is ResponseStatus.REJECTED
    assert ours.reject_codes == ("75",)
    assert ours.message == "OTHER PAYER"
    assert ours.rx_number == "6000123"
