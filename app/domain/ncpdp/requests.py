"""D.0 requests: typed B1 billing, B2 reversal and E1 eligibility, built to and parsed from bytes.

Request header (56 characters, fixed width, text left-justified and space-padded):
101-A1 BIN Number (6), 102-A2 Version/Release Number (2, "D0"), 103-A3 Transaction Code (2),
104-A4 Processor Control Number (10), 109-A9 Transaction Count (1), 202-B2 Service Provider ID
Qualifier (2, "01" NPI), 201-B1 Service Provider ID (15), 401-D1 Date of Service (8, CCYYMMDD),
110-AK Software Vendor/Certification ID (10).

RxBench sends one transaction per transmission (count 1). Transmission level: Patient (01) and
Insurance (04); the transaction group: Claim (07), Prescriber (03), Coordination of
Benefits/Other Payments (05), DUR/PPS (08), Pricing (11). An E1 has no transaction group.
Compound (10) claims are not modelled: a compound segment is refused as an unknown segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from app.domain.ncpdp.errors import (
    BadFieldValue,
    TransactionCountMismatch,
    UnsupportedTransaction,
)
from app.domain.ncpdp.fields import (
    decode_amount,
    decode_date,
    decode_number,
    decode_quantity,
    encode_amount,
    encode_date,
    encode_digits,
    encode_quantity,
    encode_text,
    fixed_width,
)
from app.domain.ncpdp.segments import Segment, Transmission, decode_transmission, group_segment

VERSION = "D0"
REQUEST_HEADER_LENGTH = 56
NDC_QUALIFIER = "03"  # 436-E1 Product/Service ID Qualifier: National Drug Code
RX_BILLING = "1"  # 455-EM Prescription/Service Reference Number Qualifier: Rx billing
NPI_QUALIFIER = "01"  # 202-B2 and 466-EZ: National Provider Identifier
NOT_A_COMPOUND = "1"  # 406-D6 Compound Code
BIN_QUALIFIER = "03"  # 339-6C Other Payer ID Qualifier: Bank Information Number (BIN)
DRUG_BENEFIT = "07"  # 342-HC Other Payer Amount Paid Qualifier: drug benefit

PATIENT, PRESCRIBER, INSURANCE, COB, CLAIM, DUR_PPS, PRICING = (
    "01",
    "03",
    "04",
    "05",
    "07",
    "08",
    "11",
)
_TRANSMISSION_SEGMENTS = (PATIENT, INSURANCE)
_TRANSACTION_SEGMENTS = (CLAIM, PRESCRIBER, COB, DUR_PPS, PRICING)


class TransactionCode(StrEnum):
    """103-A3 Transaction Code."""

    BILLING = "B1"
    REVERSAL = "B2"
    ELIGIBILITY = "E1"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHeader:
    """Who the request goes to and comes from; the transaction code is the builder's."""

    bin: str
    pcn: str = ""
    service_provider_id: str
    date_of_service: date
    software_id: str = ""
    service_provider_id_qualifier: str = NPI_QUALIFIER


@dataclass(frozen=True, slots=True, kw_only=True)
class Patient:
    """Patient segment (01): 310-CA first name, 311-CB last name, 304-C4 date of birth,
    305-C5 gender code (0 not specified, 1 male, 2 female), 325-CP ZIP/postal zone."""

    first_name: str
    last_name: str
    date_of_birth: date
    gender_code: str = "0"
    zip_code: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Insurance:
    """Insurance segment (04): 302-C2 cardholder ID, 301-C1 group ID, 303-C3 person code,
    306-C6 patient relationship code (1 cardholder, 2 spouse, 3 child, 4 other)."""

    cardholder_id: str
    group_id: str = ""
    person_code: str = ""
    relationship_code: str = "1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prescriber:
    """Prescriber segment (03): 466-EZ qualifier 01 (NPI), 411-DB prescriber ID, 427-DR last
    name."""

    npi: str
    last_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DurService:
    """One DUR/PPS segment (08) entry, counted by 473-7E: 439-E4 reason for service (e.g. ER
    early refill), 440-E5 professional service (e.g. M0 prescriber consulted), 441-E6 result of
    service (e.g. 1G filled with prescriber approval) — how a pharmacist overrides a DUR."""

    reason_for_service: str
    professional_service: str
    result_of_service: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherPayment:
    """What another payer did, for a secondary claim (segment 05, one per payer after 337-4C):
    338-5C other payer coverage type (01 primary), 339-6C qualifier 03 + 340-7C other payer ID
    (its BIN), 443-E8 other payer date, 341-HB count 1 + 342-HC qualifier 07 (drug benefit) +
    431-DV other payer amount paid."""

    payer_bin: str
    payer_date: date
    amount_paid_cents: int
    coverage_type: str = "01"


@dataclass(frozen=True, slots=True)
class ClaimKey:
    """What identifies one claim to a payer: pharmacy, Rx number, fill number, date of service."""

    service_provider_id: str
    rx_number: str
    fill_number: int
    date_of_service: date


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingClaim:
    """A B1 billing request for one fill.

    Claim segment (07): 455-EM qualifier 1 + 402-D2 Prescription/Service Reference Number (the
    Rx number), 436-E1 qualifier 03 + 407-D7 Product/Service ID (NDC-11), 442-E7 Quantity
    Dispensed, 403-D3 Fill Number, 405-D5 Days Supply, 406-D6 Compound Code (1), 408-D8
    DAW/Product Selection Code, 414-DE Date Prescription Written, 415-DF Number of Refills
    Authorized, 419-DJ Prescription Origin Code, 308-C8 Other Coverage Code (when given),
    600-28 Unit of Measure, 461-EU type 1 + 462-EV Prior Authorization Number Submitted (when
    given). Pricing segment (11): 409-D9 Ingredient Cost Submitted, 412-DC Dispensing Fee
    Submitted, 426-DQ Usual and Customary Charge, 430-DU Gross Amount Due, 423-DN Basis of
    Cost Determination.
    """

    header: RequestHeader
    patient: Patient
    insurance: Insurance
    prescriber: Prescriber
    rx_number: str
    fill_number: int
    ndc11: str
    quantity: Decimal
    unit_of_measure: str = "EA"
    days_supply: int
    daw_code: str = "0"
    date_written: date
    refills_authorized: int
    prescription_origin: str = "1"
    ingredient_cost_cents: int
    dispensing_fee_cents: int
    usual_and_customary_cents: int
    gross_amount_due_cents: int
    basis_of_cost: str = "01"
    other_coverage_code: str = ""
    prior_authorization_number: str = ""
    dur_services: tuple[DurService, ...] = ()
    other_payments: tuple[OtherPayment, ...] = field(default=())

    @property
    def key(self) -> ClaimKey:
        return ClaimKey(
            self.header.service_provider_id,
            self.rx_number,
            self.fill_number,
            self.header.date_of_service,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReversalRequest:
    """A B2 reversal of a paid claim: the same header date of service, Rx number, fill number
    and NDC as the B1 it cancels (Claim segment 07: 455-EM, 402-D2, 436-E1, 407-D7, 403-D3)."""

    header: RequestHeader
    insurance: Insurance | None = None
    rx_number: str
    fill_number: int
    ndc11: str

    @property
    def key(self) -> ClaimKey:
        return ClaimKey(
            self.header.service_provider_id,
            self.rx_number,
            self.fill_number,
            self.header.date_of_service,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibilityRequest:
    """An E1 eligibility verification: is this patient covered on the date of service?"""

    header: RequestHeader
    patient: Patient
    insurance: Insurance


Request = BillingClaim | ReversalRequest | EligibilityRequest


def reversal_of(claim: BillingClaim) -> ReversalRequest:
    """The B2 that cancels `claim` (same header, Rx, fill and NDC)."""
    return ReversalRequest(
        header=claim.header,
        insurance=claim.insurance,
        rx_number=claim.rx_number,
        fill_number=claim.fill_number,
        ndc11=claim.ndc11,
    )


def transaction_code(request: Request) -> TransactionCode:
    if isinstance(request, BillingClaim):
        return TransactionCode.BILLING
    if isinstance(request, ReversalRequest):
        return TransactionCode.REVERSAL
    return TransactionCode.ELIGIBILITY


def build_b1(claim: BillingClaim) -> bytes:
    group = (
        _claim_segment(claim),
        _prescriber_segment(claim.prescriber),
        *([_cob_segment(claim.other_payments)] if claim.other_payments else []),
        *([_dur_segment(claim.dur_services)] if claim.dur_services else []),
        _pricing_segment(claim),
    )
    return Transmission(
        _header(claim.header, TransactionCode.BILLING),
        (_patient_segment(claim.patient), _insurance_segment(claim.insurance)),
        (group,),
    ).encode()


def build_b2(reversal: ReversalRequest) -> bytes:
    claim = Segment.of(
        CLAIM,
        (
            ("EM", RX_BILLING),
            ("D2", _rx_number(reversal.rx_number)),
            ("E1", NDC_QUALIFIER),
            ("D7", _ndc11(reversal.ndc11)),
            ("D3", _fill_number(reversal.fill_number)),
        ),
    )
    insurance = () if reversal.insurance is None else (_insurance_segment(reversal.insurance),)
    return Transmission(
        _header(reversal.header, TransactionCode.REVERSAL), insurance, ((claim,),)
    ).encode()


def build_e1(request: EligibilityRequest) -> bytes:
    return Transmission(
        _header(request.header, TransactionCode.ELIGIBILITY),
        (_patient_segment(request.patient), _insurance_segment(request.insurance)),
        (),
    ).encode()


def build_request(request: Request) -> bytes:
    if isinstance(request, BillingClaim):
        return build_b1(request)
    if isinstance(request, ReversalRequest):
        return build_b2(request)
    return build_e1(request)


def parse_request(data: bytes) -> Request:
    """The typed request in `data`; refuses malformed, truncated or unsupported transmissions."""
    transmission = decode_transmission(
        data,
        header_length=REQUEST_HEADER_LENGTH,
        transmission_ids=_TRANSMISSION_SEGMENTS,
        transaction_ids=_TRANSACTION_SEGMENTS,
        kind="request",
    )
    code, header, count = _parse_header(transmission.header)
    if code is TransactionCode.ELIGIBILITY:
        if transmission.groups:
            raise TransactionCountMismatch("An E1 eligibility request carries no claim.")
        if count != 1:
            raise TransactionCountMismatch(
                f"The transaction count is {count}; an E1 is one transaction.", count=count
            )
        return EligibilityRequest(
            header=header,
            patient=_parse_patient(_required_segment(transmission, PATIENT, "patient")),
            insurance=_parse_insurance(_required_segment(transmission, INSURANCE, "insurance")),
        )
    if count != len(transmission.groups):
        raise TransactionCountMismatch(
            f"The transaction count (109-A9) says {count} but the request has "
            f"{len(transmission.groups)} transaction group(s).",
            count=count,
            groups=len(transmission.groups),
        )
    if count != 1:
        raise TransactionCountMismatch(
            f"The request carries {count} transactions; one claim per transmission is supported.",
            count=count,
        )
    group = transmission.groups[0]
    claim = group_segment(group, CLAIM)
    if claim is None:
        raise BadFieldValue("The claim segment (07) is missing.", segment=CLAIM)
    _expect(claim, "EM", RX_BILLING, "prescription/service reference number qualifier")
    _expect(claim, "E1", NDC_QUALIFIER, "product/service ID qualifier")
    insurance = transmission.segment(INSURANCE)
    if code is TransactionCode.REVERSAL:
        return ReversalRequest(
            header=header,
            insurance=None if insurance is None else _parse_insurance(insurance),
            rx_number=claim.required("D2", "prescription/service reference number"),
            fill_number=decode_number(claim.required("D3", "fill number"), field="fill number"),
            ndc11=claim.required("D7", "product/service ID"),
        )
    if insurance is None:
        raise BadFieldValue("The insurance segment (04) is missing.", segment=INSURANCE)
    return _parse_billing(header, transmission, group, claim, insurance)


def _parse_billing(
    header: RequestHeader,
    transmission: Transmission,
    group: tuple[Segment, ...],
    claim: Segment,
    insurance: Segment,
) -> BillingClaim:
    prescriber = group_segment(group, PRESCRIBER)
    pricing = group_segment(group, PRICING)
    if prescriber is None:
        raise BadFieldValue("The prescriber segment (03) is missing.", segment=PRESCRIBER)
    if pricing is None:
        raise BadFieldValue("The pricing segment (11) is missing.", segment=PRICING)
    _expect(prescriber, "EZ", NPI_QUALIFIER, "prescriber ID qualifier")
    cob = group_segment(group, COB)
    dur = group_segment(group, DUR_PPS)
    return BillingClaim(
        header=header,
        patient=_parse_patient(_required_segment(transmission, PATIENT, "patient")),
        insurance=_parse_insurance(insurance),
        prescriber=Prescriber(
            npi=prescriber.required("DB", "prescriber ID"),
            last_name=prescriber.first("DR") or "",
        ),
        rx_number=claim.required("D2", "prescription/service reference number"),
        fill_number=decode_number(claim.required("D3", "fill number"), field="fill number"),
        ndc11=claim.required("D7", "product/service ID"),
        quantity=decode_quantity(
            claim.required("E7", "quantity dispensed"), field="quantity dispensed"
        ),
        unit_of_measure=claim.first("28") or "",
        days_supply=decode_number(claim.required("D5", "days supply"), field="days supply"),
        daw_code=claim.first("D8") or "",
        date_written=decode_date(
            claim.required("DE", "date prescription written"), field="date prescription written"
        ),
        refills_authorized=decode_number(
            claim.first("DF") or "0", field="number of refills authorized"
        ),
        prescription_origin=claim.first("DJ") or "",
        other_coverage_code=claim.first("C8") or "",
        prior_authorization_number=claim.first("EV") or "",
        ingredient_cost_cents=_amount(pricing, "D9", "ingredient cost submitted"),
        dispensing_fee_cents=_amount(pricing, "DC", "dispensing fee submitted"),
        usual_and_customary_cents=_amount(pricing, "DQ", "usual and customary charge"),
        gross_amount_due_cents=_amount(pricing, "DU", "gross amount due"),
        basis_of_cost=pricing.first("DN") or "",
        dur_services=() if dur is None else _parse_dur(dur),
        other_payments=() if cob is None else _parse_cob(cob),
    )


def _header(header: RequestHeader, code: TransactionCode) -> str:
    return "".join(
        (
            decode_bin(header.bin),
            VERSION,
            code.value,
            fixed_width(header.pcn, 10, field="processor control number"),
            "1",
            fixed_width(header.service_provider_id_qualifier, 2, field="provider ID qualifier"),
            fixed_width(header.service_provider_id, 15, field="service provider ID"),
            encode_date(header.date_of_service),
            fixed_width(header.software_id, 10, field="software vendor/certification ID"),
        )
    )


def _parse_header(text: str) -> tuple[TransactionCode, RequestHeader, int]:
    version, code = text[6:8], text[8:10]
    if version != VERSION:
        raise UnsupportedTransaction(
            f"The version/release number (102-A2) is “{version}”; only D0 is supported.",
            version=version,
        )
    try:
        transaction = TransactionCode(code)
    except ValueError:
        raise UnsupportedTransaction(
            f"The transaction code (103-A3) “{code}” is not B1, B2 or E1.", transaction=code
        ) from None
    header = RequestHeader(
        bin=decode_bin(text[0:6]),
        pcn=text[10:20].rstrip(),
        service_provider_id_qualifier=text[21:23].rstrip(),
        service_provider_id=text[23:38].rstrip(),
        date_of_service=decode_date(text[38:46], field="date of service"),
        software_id=text[46:56].rstrip(),
    )
    return transaction, header, decode_number(text[20], field="transaction count")


def decode_bin(text: str) -> str:
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        raise BadFieldValue(f"The BIN (101-A1) “{text}” is not six digits.", field="A1")
    return text


def _patient_segment(patient: Patient) -> Segment:
    return Segment.of(
        PATIENT,
        (
            ("C4", encode_date(patient.date_of_birth)),
            ("C5", _code(patient.gender_code, "patient gender code", ("0", "1", "2"))),
            ("CA", encode_text(patient.first_name, field="patient first name", max_length=12)),
            ("CB", encode_text(patient.last_name, field="patient last name", max_length=15)),
            ("CP", _optional_text(patient.zip_code, "patient ZIP code", 15)),
        ),
    )


def _parse_patient(segment: Segment) -> Patient:
    return Patient(
        first_name=segment.first("CA") or "",
        last_name=segment.required("CB", "patient last name"),
        date_of_birth=decode_date(
            segment.required("C4", "date of birth"), field="patient date of birth"
        ),
        gender_code=segment.first("C5") or "0",
        zip_code=segment.first("CP") or "",
    )


def _insurance_segment(insurance: Insurance) -> Segment:
    return Segment.of(
        INSURANCE,
        (
            ("C2", encode_text(insurance.cardholder_id, field="cardholder ID", max_length=20)),
            ("C1", _optional_text(insurance.group_id, "group ID", 15)),
            ("C3", _optional_text(insurance.person_code, "person code", 3)),
            ("C6", _optional_text(insurance.relationship_code, "relationship code", 1)),
        ),
    )


def _parse_insurance(segment: Segment) -> Insurance:
    return Insurance(
        cardholder_id=segment.first("C2") or "",
        group_id=segment.first("C1") or "",
        person_code=segment.first("C3") or "",
        relationship_code=segment.first("C6") or "",
    )


def _claim_segment(claim: BillingClaim) -> Segment:
    prior_auth = claim.prior_authorization_number
    return Segment.of(
        CLAIM,
        (
            ("EM", RX_BILLING),
            ("D2", _rx_number(claim.rx_number)),
            ("E1", NDC_QUALIFIER),
            ("D7", _ndc11(claim.ndc11)),
            ("E7", encode_quantity(claim.quantity)),
            ("D3", _fill_number(claim.fill_number)),
            ("D5", _bounded(claim.days_supply, "days supply", 0, 999)),
            ("D6", NOT_A_COMPOUND),
            ("D8", _optional_text(claim.daw_code, "DAW code", 1)),
            ("DE", encode_date(claim.date_written)),
            ("DF", _bounded(claim.refills_authorized, "number of refills authorized", 0, 99)),
            ("DJ", _optional_text(claim.prescription_origin, "prescription origin code", 1)),
            ("C8", _optional_text(claim.other_coverage_code, "other coverage code", 2)),
            ("28", _optional_text(claim.unit_of_measure, "unit of measure", 2)),
            ("EU", "1" if prior_auth else None),
            ("EV", _optional_text(prior_auth, "prior authorization number", 11)),
        ),
    )


def _prescriber_segment(prescriber: Prescriber) -> Segment:
    return Segment.of(
        PRESCRIBER,
        (
            ("EZ", NPI_QUALIFIER),
            ("DB", encode_text(prescriber.npi, field="prescriber ID", max_length=15)),
            ("DR", _optional_text(prescriber.last_name, "prescriber last name", 15)),
        ),
    )


def _pricing_segment(claim: BillingClaim) -> Segment:
    return Segment.of(
        PRICING,
        (
            ("D9", encode_amount(claim.ingredient_cost_cents)),
            ("DC", encode_amount(claim.dispensing_fee_cents)),
            ("DQ", encode_amount(claim.usual_and_customary_cents)),
            ("DU", encode_amount(claim.gross_amount_due_cents)),
            ("DN", _optional_text(claim.basis_of_cost, "basis of cost determination", 2)),
        ),
    )


def _dur_segment(services: tuple[DurService, ...]) -> Segment:
    if len(services) > 9:
        raise BadFieldValue("A claim carries at most nine DUR/PPS codes.", count=len(services))
    fields: list[tuple[str, str | None]] = []
    for counter, service in enumerate(services, start=1):
        fields += [
            ("7E", str(counter)),
            (
                "E4",
                encode_text(service.reason_for_service, field="reason for service", max_length=2),
            ),
            (
                "E5",
                encode_text(
                    service.professional_service, field="professional service", max_length=2
                ),
            ),
            ("E6", encode_text(service.result_of_service, field="result of service", max_length=2)),
        ]
    return Segment.of(DUR_PPS, fields)


def _parse_dur(segment: Segment) -> tuple[DurService, ...]:
    entries: list[dict[str, str]] = []
    for field_id, value in segment.fields:
        if field_id == "7E":
            entries.append({})
        elif field_id in ("E4", "E5", "E6"):
            if not entries:
                raise BadFieldValue("A DUR/PPS code comes before its counter (473-7E).")
            entries[-1][field_id] = value
    return tuple(
        DurService(
            reason_for_service=entry.get("E4", ""),
            professional_service=entry.get("E5", ""),
            result_of_service=entry.get("E6", ""),
        )
        for entry in entries
    )


def _cob_segment(payments: tuple[OtherPayment, ...]) -> Segment:
    if len(payments) > 9:
        raise BadFieldValue("A claim names at most nine other payers.", count=len(payments))
    fields: list[tuple[str, str | None]] = [("4C", str(len(payments)))]
    for payment in payments:
        fields += [
            (
                "5C",
                encode_digits(
                    payment.coverage_type, field="other payer coverage type", max_length=2
                ),
            ),
            ("6C", BIN_QUALIFIER),
            ("7C", encode_digits(payment.payer_bin, field="other payer BIN", max_length=6)),
            ("E8", encode_date(payment.payer_date)),
            ("HB", "1"),
            ("HC", DRUG_BENEFIT),
            ("DV", encode_amount(payment.amount_paid_cents)),
        ]
    return Segment.of(COB, fields)


def _parse_cob(segment: Segment) -> tuple[OtherPayment, ...]:
    entries: list[dict[str, str]] = []
    for field_id, value in segment.fields:
        if field_id == "5C":
            entries.append({"5C": value})
        elif field_id in ("7C", "E8", "DV"):
            if not entries:
                raise BadFieldValue("An other-payer field comes before its coverage type (5C).")
            entries[-1][field_id] = value
    count = segment.first("4C")
    if count is None or decode_number(count, field="other payments count") != len(entries):
        raise BadFieldValue(
            "The coordination of benefits count (337-4C) does not match the other payers sent."
        )
    payments = []
    for entry in entries:
        if "7C" not in entry or "E8" not in entry or "DV" not in entry:
            raise BadFieldValue(
                "An other payer lacks its ID (340-7C), date (443-E8) or amount paid (431-DV)."
            )
        payments.append(
            OtherPayment(
                payer_bin=entry["7C"],
                payer_date=decode_date(entry["E8"], field="other payer date"),
                amount_paid_cents=decode_amount(entry["DV"], field="other payer amount paid"),
                coverage_type=entry["5C"],
            )
        )
    return tuple(payments)


def _required_segment(transmission: Transmission, segment_id: str, name: str) -> Segment:
    segment = transmission.segment(segment_id)
    if segment is None:
        raise BadFieldValue(f"The {name} segment ({segment_id}) is missing.", segment=segment_id)
    return segment


def _expect(segment: Segment, field_id: str, expected: str, name: str) -> None:
    value = segment.first(field_id)
    if value != expected:
        raise BadFieldValue(
            f"The {name} ({field_id}) is “{value or ''}”; RxBench understands only “{expected}”.",
            field=field_id,
        )


def _amount(segment: Segment, field_id: str, name: str) -> int:
    value = segment.first(field_id)
    return 0 if value is None else decode_amount(value, field=name)


def _rx_number(value: str) -> str:
    return encode_digits(value, field="Rx number", max_length=12)


def _ndc11(value: str) -> str:
    if len(value) != 11 or not (value.isascii() and value.isdigit()):
        raise BadFieldValue(f"The NDC “{value}” is not an 11-digit NDC.", ndc=value)
    return value


def _fill_number(value: int) -> str:
    return _bounded(value, "fill number", 0, 99)


def _bounded(value: int, name: str, low: int, high: int) -> str:
    if not low <= value <= high:
        raise BadFieldValue(f"The {name} {value} must be from {low} to {high}.", field=name)
    return str(value)


def _code(value: str, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadFieldValue(f"The {name} “{value}” is not one of {', '.join(allowed)}.")
    return value


def _optional_text(value: str, name: str, max_length: int) -> str | None:
    return encode_text(value, field=name, max_length=max_length) if value else None
