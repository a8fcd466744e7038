"""Sample D.0 requests and hypothesis strategies shared by the NCPDP and claims adapter tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from app.domain.ncpdp import (
    BillingClaim,
    DurService,
    EligibilityRequest,
    Insurance,
    OtherPayment,
    Patient,
    Prescriber,
    RequestHeader,
    ReversalRequest,
)

PHARMACY_NPI = "1234567893"
PRESCRIBER_NPI = "1245319599"
TRAINING_BIN = "610999"
TRAINING_PCN = "RXTRAIN"
DATE_OF_SERVICE = date(2026, 11, 26)


def header(**changes: Any) -> RequestHeader:
    base = RequestHeader(
        bin=TRAINING_BIN,
        pcn=TRAINING_PCN,
        service_provider_id=PHARMACY_NPI,
        date_of_service=DATE_OF_SERVICE,
        software_id="RXBENCH01",
    )
    return replace(base, **changes)


def claim(**changes: Any) -> BillingClaim:
    """A plain B1 for 30 tablets of a generic; `changes` replace any field."""
    base = BillingClaim(
        header=header(),
        patient=Patient(
            first_name="Dana",
            last_name="Fictional",
            date_of_birth=date(1970, 4, 9),
            gender_code="2",
            zip_code="62701",
        ),
        insurance=Insurance(cardholder_id="TRN00012345", group_id="TRAIN01", person_code="001"),
        prescriber=Prescriber(npi=PRESCRIBER_NPI, last_name="Example"),
        rx_number="6000123",
        fill_number=0,
        ndc11="00093005801",
        quantity=Decimal(30),
        days_supply=30,
        date_written=date(2026, 11, 20),
        refills_authorized=5,
        ingredient_cost_cents=1234,
        dispensing_fee_cents=150,
        usual_and_customary_cents=2599,
        gross_amount_due_cents=1384,
    )
    return replace(base, **changes)


_TEXT = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10)
_NAME = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ'-", min_size=1, max_size=12)
_DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=12)
_CENTS = st.integers(min_value=-(10**8), max_value=10**8)

headers = st.builds(
    RequestHeader,
    bin=st.text(alphabet="0123456789", min_size=6, max_size=6),
    pcn=_TEXT,
    service_provider_id=st.text(alphabet="0123456789", min_size=10, max_size=10),
    date_of_service=_DATES,
    software_id=_TEXT,
)
patients = st.builds(
    Patient,
    first_name=_NAME,
    last_name=_NAME,
    date_of_birth=_DATES,
    gender_code=st.sampled_from(["0", "1", "2"]),
    zip_code=st.text(alphabet="0123456789", max_size=9),
)
insurances = st.builds(
    Insurance,
    cardholder_id=st.text(alphabet="0123456789ABCDEFXYZ", min_size=1, max_size=20),
    group_id=_TEXT,
    person_code=st.text(alphabet="0123456789", max_size=3),
    relationship_code=st.sampled_from(["", "1", "2", "3", "4"]),
)
quantities = st.decimals(
    min_value=Decimal(0), max_value=Decimal("9999999.999"), places=3, allow_nan=False
)
claims = st.builds(
    BillingClaim,
    header=headers,
    patient=patients,
    insurance=insurances,
    prescriber=st.builds(Prescriber, npi=st.just(PRESCRIBER_NPI), last_name=_NAME),
    rx_number=_DIGITS,
    fill_number=st.integers(min_value=0, max_value=99),
    ndc11=st.text(alphabet="0123456789", min_size=11, max_size=11),
    quantity=quantities,
    unit_of_measure=st.sampled_from(["", "EA", "ML", "GM"]),
    days_supply=st.integers(min_value=0, max_value=999),
    daw_code=st.sampled_from(["", "0", "1", "2"]),
    date_written=_DATES,
    refills_authorized=st.integers(min_value=0, max_value=99),
    prescription_origin=st.sampled_from(["", "1", "3"]),
    ingredient_cost_cents=_CENTS,
    dispensing_fee_cents=_CENTS,
    usual_and_customary_cents=_CENTS,
    gross_amount_due_cents=_CENTS,
    basis_of_cost=st.sampled_from(["", "01", "07"]),
    other_coverage_code=st.sampled_from(["", "2", "3"]),
    prior_authorization_number=st.text(alphabet="0123456789", max_size=11),
    dur_services=st.lists(
        st.builds(
            DurService,
            reason_for_service=st.sampled_from(["ER", "TD", "DD"]),
            professional_service=st.sampled_from(["M0", "R0"]),
            result_of_service=st.sampled_from(["1A", "1G"]),
        ),
        max_size=3,
    ).map(tuple),
    other_payments=st.lists(
        st.builds(
            OtherPayment,
            payer_bin=st.text(alphabet="0123456789", min_size=6, max_size=6),
            payer_date=_DATES,
            amount_paid_cents=_CENTS,
            coverage_type=st.sampled_from(["01", "02"]),
        ),
        max_size=3,
    ).map(tuple),
)
reversals = st.builds(
    ReversalRequest,
    header=headers,
    insurance=st.none() | insurances,
    rx_number=_DIGITS,
    fill_number=st.integers(min_value=0, max_value=99),
    ndc11=st.text(alphabet="0123456789", min_size=11, max_size=11),
)
eligibility_requests = st.builds(
    EligibilityRequest, header=headers, patient=patients, insurance=insurances
)
