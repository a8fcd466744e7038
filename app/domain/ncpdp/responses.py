"""D.0 responses: the payer's answer to a B1, B2 or E1, typed, built and parsed.

Response header (31 characters): 102-A2 Version/Release Number (2), 103-A3 Transaction Code
(2), 109-A9 Transaction Count (1), 501-F1 Header Response Status (1: A accepted, R rejected),
202-B2 Service Provider ID Qualifier (2), 201-B1 Service Provider ID (15), 401-D1 Date of
Service (8).

Transmission level: Response Message (20): 504-F4 Message; Response Insurance (25): 301-C1
Group ID. The transaction group: Response Status (21): 112-AN Transaction Response Status,
503-F3 Authorization Number, 510-FA Reject Count + 511-FB Reject Code (repeating), 130-UF
Additional Message Information Count + 132-UH qualifier + 526-FQ Additional Message Information
(repeating); Response Claim (22): 455-EM + 402-D2 Prescription/Service Reference Number;
Response Pricing (23): 505-F5 Patient Pay Amount, 506-F6 Ingredient Cost Paid, 507-F7
Dispensing Fee Paid, 566-J5 Other Payer Amount Recognized, 509-F9 Total Amount Paid, 518-FI
Amount of Copay; Response DUR/PPS (24), counted by 567-J6: 439-E4 Reason for Service, 528-FS
Clinical Significance Code, 529-FT Other Pharmacy Indicator, 530-FU Previous Date of Fill,
531-FV Quantity of Previous Fill, 544-FY DUR Free Text Message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from app.domain.ncpdp.errors import (
    AmountsDoNotAddUp,
    BadFieldValue,
    ResponseMismatch,
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
    encode_quantity,
    encode_text,
    fixed_width,
)
from app.domain.ncpdp.rejects import RejectMeaning, reject_meaning
from app.domain.ncpdp.requests import (
    NPI_QUALIFIER,
    RX_BILLING,
    VERSION,
    Request,
    TransactionCode,
    transaction_code,
)
from app.domain.ncpdp.segments import Segment, Transmission, decode_transmission, group_segment

RESPONSE_HEADER_LENGTH = 31
MESSAGE, STATUS, CLAIM, PRICING, DUR, INSURANCE = "20", "21", "22", "23", "24", "25"


class ResponseStatus(StrEnum):
    """112-AN Transaction Response Status."""

    PAID = "P"
    CAPTURED = "C"
    REJECTED = "R"
    DUPLICATE_OF_PAID = "D"
    APPROVED = "A"
    DUPLICATE_OF_APPROVED = "S"


_ALLOWED_STATUSES = {
    TransactionCode.BILLING: {
        ResponseStatus.PAID,
        ResponseStatus.CAPTURED,
        ResponseStatus.REJECTED,
        ResponseStatus.DUPLICATE_OF_PAID,
    },
    TransactionCode.REVERSAL: {
        ResponseStatus.APPROVED,
        ResponseStatus.REJECTED,
        ResponseStatus.DUPLICATE_OF_APPROVED,
    },
    TransactionCode.ELIGIBILITY: {ResponseStatus.APPROVED, ResponseStatus.REJECTED},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PaidAmounts:
    """What the plan pays and the patient owes, in cents.

    D.0's arithmetic: total amount paid = ingredient cost paid + dispensing fee paid − patient
    pay amount − other payer amount recognized (taxes and incentives are not billed by RxBench).
    The patient pay amount includes the copay.
    """

    ingredient_cost_paid_cents: int
    dispensing_fee_paid_cents: int
    patient_pay_cents: int
    copay_cents: int
    other_payer_amount_recognized_cents: int = 0
    total_amount_paid_cents: int

    @property
    def adds_up(self) -> bool:
        return self.total_amount_paid_cents == (
            self.ingredient_cost_paid_cents
            + self.dispensing_fee_paid_cents
            - self.patient_pay_cents
            - self.other_payer_amount_recognized_cents
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DurResponse:
    """A drug-use warning from the plan: 439-E4 reason (e.g. ER early refill, TD therapeutic
    duplication), 528-FS clinical significance (1 major, 2 moderate, 3 minor), 529-FT other
    pharmacy indicator (0 not specified, 1 your pharmacy, 3 other pharmacy), 530-FU/531-FV the
    previous fill, 544-FY free text."""

    reason_for_service: str
    clinical_significance: str = ""
    other_pharmacy_indicator: str = ""
    previous_fill_date: date | None = None
    previous_fill_quantity: Decimal | None = None
    free_text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimResponse:
    """The payer's answer to one request."""

    transaction_code: TransactionCode
    service_provider_id: str
    date_of_service: date
    status: ResponseStatus
    transmission_accepted: bool = True
    service_provider_id_qualifier: str = NPI_QUALIFIER
    rx_number: str = ""
    authorization_number: str = ""
    reject_codes: tuple[str, ...] = ()
    amounts: PaidAmounts | None = None
    dur_responses: tuple[DurResponse, ...] = ()
    message: str = ""
    additional_messages: tuple[str, ...] = ()
    group_id: str = ""

    @property
    def rejects(self) -> tuple[RejectMeaning, ...]:
        return tuple(reject_meaning(code) for code in self.reject_codes)

    @property
    def is_paid(self) -> bool:
        """Paid now or earlier (a duplicate of a paid claim carries the original amounts)."""
        return self.status in (ResponseStatus.PAID, ResponseStatus.DUPLICATE_OF_PAID)


def build_response(response: ClaimResponse) -> bytes:
    _check_consistent(response)
    header = "".join(
        (
            VERSION,
            response.transaction_code.value,
            "1",
            "A" if response.transmission_accepted else "R",
            fixed_width(response.service_provider_id_qualifier, 2, field="provider ID qualifier"),
            fixed_width(response.service_provider_id, 15, field="service provider ID"),
            encode_date(response.date_of_service),
        )
    )
    transmission_segments = []
    if response.message:
        transmission_segments.append(
            Segment.of(MESSAGE, (("F4", _text(response.message, "message", 200)),))
        )
    if response.group_id:
        transmission_segments.append(
            Segment.of(INSURANCE, (("C1", _text(response.group_id, "group ID", 15)),))
        )
    group = [_status_segment(response)]
    if response.rx_number:
        group.append(Segment.of(CLAIM, (("EM", RX_BILLING), ("D2", response.rx_number))))
    if response.amounts is not None:
        group.append(_pricing_segment(response.amounts))
    if response.dur_responses:
        group.append(_dur_segment(response.dur_responses))
    return Transmission(header, tuple(transmission_segments), (tuple(group),)).encode()


def parse_response(data: bytes) -> ClaimResponse:
    """The typed response in `data`; refuses malformed ones and paid amounts that do not add up."""
    transmission = decode_transmission(
        data,
        header_length=RESPONSE_HEADER_LENGTH,
        transmission_ids=(MESSAGE, INSURANCE),
        transaction_ids=(STATUS, CLAIM, PRICING, DUR),
        kind="response",
    )
    header = transmission.header
    if header[0:2] != VERSION:
        raise UnsupportedTransaction(
            f"The response's version (102-A2) is “{header[0:2]}”, not D0.", version=header[0:2]
        )
    try:
        code = TransactionCode(header[2:4])
    except ValueError:
        raise UnsupportedTransaction(
            f"The response's transaction code (103-A3) “{header[2:4]}” is not B1, B2 or E1."
        ) from None
    count = decode_number(header[4], field="transaction count")
    if count != len(transmission.groups) or count != 1:
        raise TransactionCountMismatch(
            f"The response's transaction count (109-A9) says {count} but it has "
            f"{len(transmission.groups)} transaction group(s); one is expected.",
            count=count,
        )
    if header[5] not in ("A", "R"):
        raise BadFieldValue(f"The header response status (501-F1) “{header[5]}” is not A or R.")
    group = transmission.groups[0]
    status_segment = group_segment(group, STATUS)
    if status_segment is None:
        raise BadFieldValue("The response status segment (21) is missing.", segment=STATUS)
    try:
        status = ResponseStatus(status_segment.required("AN", "transaction response status"))
    except ValueError:
        raise BadFieldValue(
            f"The transaction response status (112-AN) “{status_segment.first('AN')}” is not "
            "one of P, C, R, D, A, S."
        ) from None
    message = transmission.segment(MESSAGE)
    insurance = transmission.segment(INSURANCE)
    claim = group_segment(group, CLAIM)
    pricing = group_segment(group, PRICING)
    dur = group_segment(group, DUR)
    response = ClaimResponse(
        transaction_code=code,
        transmission_accepted=header[5] == "A",
        service_provider_id_qualifier=header[6:8].rstrip(),
        service_provider_id=header[8:23].rstrip(),
        date_of_service=decode_date(header[23:31], field="date of service"),
        status=status,
        rx_number="" if claim is None else claim.first("D2") or "",
        authorization_number=status_segment.first("F3") or "",
        reject_codes=_reject_codes(status_segment),
        amounts=None if pricing is None else _parse_pricing(pricing),
        dur_responses=() if dur is None else _parse_dur(dur),
        message="" if message is None else message.first("F4") or "",
        additional_messages=tuple(status_segment.every("FQ")),
        group_id="" if insurance is None else insurance.first("C1") or "",
    )
    _check_consistent(response)
    return response


def matches(request: Request, response: ClaimResponse) -> bool:
    """True when `response` answers `request` (same transaction, pharmacy, date and Rx)."""
    return _mismatch(request, response) is None


def ensure_matches(request: Request, response: ClaimResponse) -> None:
    """Refuse a response meant for another claim, naming what differs."""
    problem = _mismatch(request, response)
    if problem is not None:
        raise ResponseMismatch(f"The response is not for this claim: {problem}.")


def _mismatch(request: Request, response: ClaimResponse) -> str | None:
    expected_code = transaction_code(request)
    if response.transaction_code is not expected_code:
        return f"it answers a {response.transaction_code} instead of a {expected_code}"
    if response.service_provider_id != request.header.service_provider_id:
        return f"it is for pharmacy {response.service_provider_id}"
    if response.date_of_service != request.header.date_of_service:
        return f"its date of service is {response.date_of_service.isoformat()}"
    rx_number = getattr(request, "rx_number", "")
    # A transmission rejected whole (501-F1 R) may not have got as far as reading the Rx.
    unread = not response.transmission_accepted and not response.rx_number
    if rx_number and not unread and response.rx_number != rx_number:
        return f"it is for Rx {response.rx_number or '(none)'}, not Rx {rx_number}"
    return None


def _check_consistent(response: ClaimResponse) -> None:
    """The rules every response keeps, so a builder cannot write one a parser would refuse."""
    if response.status not in _ALLOWED_STATUSES[response.transaction_code]:
        raise BadFieldValue(
            f"A {response.transaction_code} response cannot have status {response.status.value}."
        )
    if not response.transmission_accepted and response.status is not ResponseStatus.REJECTED:
        raise BadFieldValue("A rejected transmission (501-F1 R) must carry a rejected status.")
    if response.status is ResponseStatus.REJECTED and not response.reject_codes:
        raise BadFieldValue("A rejected response carries no reject code (511-FB).")
    if response.status is not ResponseStatus.REJECTED and response.reject_codes:
        raise BadFieldValue("Only a rejected response carries reject codes (511-FB).")
    if response.is_paid and response.amounts is None:
        raise BadFieldValue("A paid response carries no pricing segment (23).")
    if response.amounts is not None and not response.amounts.adds_up:
        a = response.amounts
        raise AmountsDoNotAddUp(
            f"The paid amounts do not add up: total amount paid {a.total_amount_paid_cents} ≠ "
            f"ingredient {a.ingredient_cost_paid_cents} + fee {a.dispensing_fee_paid_cents} − "
            f"patient pay {a.patient_pay_cents} − other payer "
            f"{a.other_payer_amount_recognized_cents} (cents).",
        )
    claim_code = response.transaction_code is not TransactionCode.ELIGIBILITY
    if claim_code and response.transmission_accepted and not response.rx_number:
        raise BadFieldValue("A claim response does not name its Rx number (402-D2).")


def _status_segment(response: ClaimResponse) -> Segment:
    fields: list[tuple[str, str | None]] = [
        ("AN", response.status.value),
        ("F3", _text(response.authorization_number, "authorization number", 20) or None),
    ]
    if response.reject_codes:
        fields.append(("FA", str(len(response.reject_codes))))
        fields += [("FB", _text(code, "reject code", 3)) for code in response.reject_codes]
    if response.additional_messages:
        if len(response.additional_messages) > 9:
            raise BadFieldValue("A response carries at most nine additional message lines.")
        fields.append(("UF", str(len(response.additional_messages))))
        for line, text in enumerate(response.additional_messages, start=1):
            fields += [("UH", f"{line:02d}"), ("FQ", _text(text, "additional message", 40))]
    return Segment.of(STATUS, fields)


def _reject_codes(segment: Segment) -> tuple[str, ...]:
    codes = tuple(segment.every("FB"))
    count = segment.first("FA")
    if codes and (count is None or decode_number(count, field="reject count") != len(codes)):
        raise BadFieldValue(
            f"The reject count (510-FA) “{count or ''}” does not match the {len(codes)} reject "
            "code(s) sent."
        )
    return codes


def _pricing_segment(amounts: PaidAmounts) -> Segment:
    return Segment.of(
        PRICING,
        (
            ("F5", encode_amount(amounts.patient_pay_cents)),
            ("F6", encode_amount(amounts.ingredient_cost_paid_cents)),
            ("F7", encode_amount(amounts.dispensing_fee_paid_cents)),
            ("J5", encode_amount(amounts.other_payer_amount_recognized_cents)),
            ("F9", encode_amount(amounts.total_amount_paid_cents)),
            ("FI", encode_amount(amounts.copay_cents)),
        ),
    )


def _parse_pricing(segment: Segment) -> PaidAmounts:
    def amount(field_id: str, name: str) -> int:
        return decode_amount(segment.required(field_id, name), field=name)

    other = segment.first("J5")
    return PaidAmounts(
        ingredient_cost_paid_cents=amount("F6", "ingredient cost paid"),
        dispensing_fee_paid_cents=amount("F7", "dispensing fee paid"),
        patient_pay_cents=amount("F5", "patient pay amount"),
        copay_cents=amount("FI", "amount of copay") if segment.first("FI") else 0,
        other_payer_amount_recognized_cents=(
            0 if other is None else decode_amount(other, field="other payer amount recognized")
        ),
        total_amount_paid_cents=amount("F9", "total amount paid"),
    )


def _dur_segment(responses: tuple[DurResponse, ...]) -> Segment:
    if len(responses) > 9:
        raise BadFieldValue("A response carries at most nine DUR/PPS responses.")
    fields: list[tuple[str, str | None]] = []
    for counter, dur in enumerate(responses, start=1):
        previous_date = dur.previous_fill_date
        previous_quantity = dur.previous_fill_quantity
        fields += [
            ("J6", str(counter)),
            ("E4", _text(dur.reason_for_service, "reason for service", 2)),
            ("FS", _text(dur.clinical_significance, "clinical significance", 1) or None),
            ("FT", _text(dur.other_pharmacy_indicator, "other pharmacy indicator", 1) or None),
            ("FU", None if previous_date is None else encode_date(previous_date)),
            ("FV", None if previous_quantity is None else encode_quantity(previous_quantity)),
            ("FY", _text(dur.free_text, "DUR free text message", 30) or None),
        ]
    return Segment.of(DUR, fields)


def _parse_dur(segment: Segment) -> tuple[DurResponse, ...]:
    entries: list[dict[str, str]] = []
    for field_id, value in segment.fields:
        if field_id == "J6":
            entries.append({})
        elif entries:
            entries[-1][field_id] = value
        else:
            raise BadFieldValue("A DUR/PPS response comes before its counter (567-J6).")
    return tuple(
        DurResponse(
            reason_for_service=entry.get("E4", ""),
            clinical_significance=entry.get("FS", ""),
            other_pharmacy_indicator=entry.get("FT", ""),
            previous_fill_date=(
                decode_date(entry["FU"], field="previous date of fill") if "FU" in entry else None
            ),
            previous_fill_quantity=(
                decode_quantity(entry["FV"], field="quantity of previous fill")
                if "FV" in entry
                else None
            ),
            free_text=entry.get("FY", ""),
        )
        for entry in entries
    )


def _text(value: str, name: str, max_length: int) -> str:
    return encode_text(value, field=name, max_length=max_length)
