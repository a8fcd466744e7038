"""ASAP 4.2 prescription-monitoring files: the writer a pharmacy sends its state, and the reader
that parses them back (to void what an earlier file reported, and in tests).

The layout followed is the ASAP 4.2 (2011) standard as the state PMP dispenser guides publish it:
TH, IS, PHA, then per dispensing PAT, DSP, PRE and AIR, then TP and TT; "*" separates elements,
"~" ends a segment (TH09 declares it). TP01 counts the segments from PHA to TP, TT02 every segment
from TH to TT. A day without dispensing is sent as a zero report: PAT07 "REPORT", PAT08 "ZERO",
DSP05 the day reported, and empty PRE, CDI and AIR segments. Trailing empty elements are left out.

ASAP has no escape character, so no value may hold a separator: free text (names, addresses) is
folded to printable ASCII with separators and control characters turned into spaces
(`clean_text`), and coded values (dates, NDC, quantities, codes) are checked and refused
(`AsapFieldError`) rather than cleaned.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

VERSION = "4.2"
ELEMENT_SEPARATOR = "*"
SEGMENT_TERMINATOR = "~"
TRANSACTION_TYPE_SEND = "01"  # TH03: a send/request transaction
SPECIES_HUMAN = "01"  # PAT20
PRODUCT_ID_NDC = "01"  # DSP07
NOT_A_PARTIAL_FILL = "00"  # DSP13
ZERO_LAST_NAME = "REPORT"
ZERO_FIRST_NAME = "ZERO"
_SEPARATORS = frozenset({ELEMENT_SEPARATOR, SEGMENT_TERMINATOR})
_TAG = re.compile(r"[A-Z]{2,3}")
_CONTROL_NUMBER = re.compile(r"[A-Za-z0-9]{1,30}")


class AsapFieldError(ValueError):
    """A value that cannot go into an ASAP file as it is (a bad date, NDC or code)."""

    def __init__(self, element: str, message: str) -> None:
        super().__init__(f"{element}: {message}")
        self.element = element


class ReportingStatus(StrEnum):
    """DSP01: a new dispensing, a revision of one reported earlier, or its void."""

    NEW = "00"
    REVISE = "01"
    VOID = "02"


class PaymentType(StrEnum):
    """DSP16, classification code for payment type."""

    PRIVATE_PAY = "01"
    MEDICAID = "02"
    MEDICARE = "03"
    COMMERCIAL_INSURANCE = "04"
    MILITARY_OR_VA = "05"
    WORKERS_COMPENSATION = "06"
    INDIAN_NATIONS = "07"
    OTHER = "99"


class RxOrigin(StrEnum):
    """DSP12, transmission form of the prescription's origin."""

    WRITTEN = "01"
    TELEPHONE = "02"
    TELEPHONE_EMERGENCY = "03"
    FAX = "04"
    ELECTRONIC = "05"
    OTHER = "99"


class DosageUnit(StrEnum):
    """DSP11, the unit DSP09 counts."""

    EACH = "01"
    MILLILITERS = "02"
    GRAMS = "03"


class PatientIdQualifier(StrEnum):
    """PAT02, the kind of identifier PAT03 holds."""

    MILITARY_ID = "01"
    STATE_ISSUED_ID = "02"
    UNIQUE_SYSTEM_ID = "03"
    PERMANENT_RESIDENT_CARD = "04"
    PASSPORT_ID = "05"
    DRIVERS_LICENSE_ID = "06"
    SOCIAL_SECURITY_NUMBER = "07"
    TRIBAL_ID = "08"
    OTHER = "99"


# --- values -----------------------------------------------------------------------------------


def clean_text(value: str, *, max_length: int = 60) -> str:
    """Free text as ASAP can carry it: accents folded to ASCII, separators, control and other
    non-printable characters turned into spaces, runs of spaces collapsed, cut to `max_length`."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    printable = "".join(
        " " if char in _SEPARATORS or not char.isprintable() else char for char in folded
    )
    return " ".join(printable.split())[:max_length].rstrip()


def format_date(value: date) -> str:
    """CCYYMMDD."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def format_time(value: datetime) -> str:
    """HHMMSS."""
    return f"{value.hour:02d}{value.minute:02d}{value.second:02d}"


def parse_date(text: str, element: str) -> date:
    if not re.fullmatch(r"\d{8}", text):
        raise AsapFieldError(element, f"“{text}” is not a date as CCYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise AsapFieldError(element, f"“{text}” is not a date as CCYYMMDD") from None


def format_quantity(value: Decimal, element: str = "DSP09") -> str:
    """A quantity more than 0 with at most three decimals, written without trailing zeros
    (30, 2.5, 0.125): ASAP carries the decimal point only when there is a fraction."""
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.001")):
        raise AsapFieldError(element, f"{value} is not a quantity more than 0 (3 decimals)")
    return f"{value.normalize():f}"


def parse_quantity(text: str, element: str = "DSP09") -> Decimal:
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        raise AsapFieldError(element, f"“{text}” is not a quantity")
    return Decimal(text)


def digits_only(value: str, *, lengths: Sequence[int]) -> str:
    """The digits of a phone number or ZIP code when there are as many as `lengths` allows,
    else empty (an optional element left out rather than a wrong one sent). A US phone number
    written with its leading 1 keeps its ten digits."""
    found = "".join(char for char in value if char.isascii() and char.isdigit())
    if len(found) == 11 and 10 in lengths and found.startswith("1"):
        found = found[1:]
    return found if len(found) in lengths else ""


def _code(value: str, element: str, pattern: str) -> str:
    if not re.fullmatch(pattern, value):
        raise AsapFieldError(element, f"“{value}” is not valid here")
    return value


# --- segments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One segment: its tag and its elements, `elements[0]` being element 01."""

    tag: str
    elements: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _TAG.fullmatch(self.tag):
            raise AsapFieldError(self.tag, "a segment tag is two or three capital letters")
        for number, value in enumerate(self.elements, start=1):
            if self.tag == "TH" and number == 9:
                continue  # TH09 is the terminator itself, declared
            if not value.isascii() or not value.isprintable() or _SEPARATORS & set(value):
                raise AsapFieldError(
                    f"{self.tag}{number:02d}", f"“{value}” holds a separator or a control character"
                )

    def element(self, number: int) -> str:
        """Element `number` (1-based); an element left out is empty."""
        return self.elements[number - 1] if number <= len(self.elements) else ""

    def render(self) -> str:
        values = list(self.elements)
        while values and values[-1] == "":
            values.pop()
        return ELEMENT_SEPARATOR.join([self.tag, *values]) + SEGMENT_TERMINATOR


def _segment(tag: str, *values: str) -> Segment:
    return Segment(tag, tuple(values))


@dataclass(frozen=True)
class Pharmacy:
    npi: str
    ncpdp: str
    dea: str
    name: str
    address_line1: str
    address_line2: str
    city: str
    state: str
    postal_code: str
    phone: str

    def segment(self) -> Segment:
        return _segment(
            "PHA",
            _code(self.npi, "PHA01", r"\d{10}|"),
            _code(self.ncpdp, "PHA02", r"\d{7}|"),
            _code(self.dea, "PHA03", r"[A-Z]{2}\d{7}|"),
            clean_text(self.name),
            clean_text(self.address_line1, max_length=55),
            clean_text(self.address_line2, max_length=55),
            clean_text(self.city, max_length=30),
            _code(self.state, "PHA08", r"[A-Z]{2}"),
            digits_only(self.postal_code, lengths=(5, 9)),
            digits_only(self.phone, lengths=(10,)),
        )


@dataclass(frozen=True)
class Patient:
    last_name: str
    first_name: str
    middle_name: str
    address_line1: str
    address_line2: str
    city: str
    state: str
    postal_code: str
    phone: str
    date_of_birth: date
    sex: str
    system_id: str = ""

    def segment(self) -> Segment:
        gender = self.sex if self.sex in ("F", "M") else "U"  # ASAP 4.2 knows F, M and U
        identified = bool(self.system_id)
        return _segment(
            "PAT",
            "",
            PatientIdQualifier.UNIQUE_SYSTEM_ID.value if identified else "",
            _code(self.system_id, "PAT03", r"[A-Za-z0-9]{0,20}"),
            "",
            "",
            "",
            clean_text(self.last_name, max_length=50),
            clean_text(self.first_name, max_length=35),
            clean_text(self.middle_name, max_length=30),
            "",
            "",
            clean_text(self.address_line1, max_length=55),
            clean_text(self.address_line2, max_length=55),
            clean_text(self.city, max_length=30),
            _code(self.state.upper(), "PAT15", r"[A-Z]{2}|"),
            digits_only(self.postal_code, lengths=(5, 9)),
            digits_only(self.phone, lengths=(10,)),
            format_date(self.date_of_birth),
            gender,
            SPECIES_HUMAN,
        )


@dataclass(frozen=True)
class Prescriber:
    npi: str
    dea: str
    state_license: str
    last_name: str
    first_name: str
    phone: str

    def segment(self) -> Segment:
        return _segment(
            "PRE",
            _code(self.npi, "PRE01", r"\d{10}|"),
            _code(self.dea, "PRE02", r"[A-Z]{2}\d{7}|"),
            "",
            clean_text(self.state_license, max_length=20),
            clean_text(self.last_name, max_length=50),
            clean_text(self.first_name, max_length=35),
            "",
            digits_only(self.phone, lengths=(10,)),
        )


@dataclass(frozen=True)
class Dispense:
    """One dispensing as the state learns of it: who got what, on whose prescription."""

    status: ReportingStatus
    rx_number: str
    written_on: date
    refills_authorized: int
    filled_on: date
    refill_number: int
    ndc11: str
    quantity: Decimal
    days_supply: int
    unit: DosageUnit
    origin: RxOrigin
    payment: PaymentType
    sold_on: date | None
    patient: Patient
    prescriber: Prescriber
    pharmacist_last_name: str = ""
    pharmacist_first_name: str = ""

    def segments(self) -> tuple[Segment, ...]:
        """PAT, DSP, PRE and, when the pharmacist is known, AIR (AIR09/AIR10)."""
        for number, value in (("DSP04", self.refills_authorized), ("DSP06", self.refill_number)):
            if not 0 <= value <= 99:
                raise AsapFieldError(number, f"{value} is not 0 to 99")
        if not 1 <= self.days_supply <= 999:
            raise AsapFieldError("DSP10", f"{self.days_supply} is not 1 to 999 days")
        dispensing = _segment(
            "DSP",
            self.status.value,
            _code(self.rx_number, "DSP02", r"[A-Za-z0-9]{1,25}"),
            format_date(self.written_on),
            str(self.refills_authorized),
            format_date(self.filled_on),
            str(self.refill_number),
            PRODUCT_ID_NDC,
            _code(self.ndc11, "DSP08", r"\d{11}"),
            format_quantity(self.quantity),
            str(self.days_supply),
            self.unit.value,
            self.origin.value,
            NOT_A_PARTIAL_FILL,
            "",
            "",
            self.payment.value,
            format_date(self.sold_on) if self.sold_on else "",
        )
        found = [self.patient.segment(), dispensing, self.prescriber.segment()]
        pharmacist = clean_text(self.pharmacist_last_name, max_length=50)
        if pharmacist:
            found.append(
                _segment(
                    "AIR",
                    *([""] * 8),
                    pharmacist,
                    clean_text(self.pharmacist_first_name, max_length=35),
                )
            )
        return tuple(found)


@dataclass(frozen=True)
class Transaction:
    """What a file is: who sends it, when, which days it covers, and its records (each a
    PAT…AIR group); without records it is the zero report of `report_date`."""

    control_number: str
    created_at: datetime
    source_id: str
    source_name: str
    report_date: date
    pharmacy: Pharmacy
    records: tuple[tuple[Segment, ...], ...]
    production: bool = True


def zero_report_segments(report_date: date) -> tuple[Segment, ...]:
    return (
        _segment("PAT", *([""] * 6), ZERO_LAST_NAME, ZERO_FIRST_NAME),
        _segment("DSP", "", "", "", "", format_date(report_date)),
        _segment("PRE"),
        _segment("CDI"),
        _segment("AIR"),
    )


def write_file(transaction: Transaction) -> str:
    """The whole file as text (ASCII, no line breaks: "~" ends each segment)."""
    if not _CONTROL_NUMBER.fullmatch(transaction.control_number):
        raise AsapFieldError("TH02", f"“{transaction.control_number}” is not 1–30 letters/digits")
    day = format_date(transaction.report_date)
    body = [transaction.pharmacy.segment()]
    records = transaction.records or (zero_report_segments(transaction.report_date),)
    for record in records:
        body.extend(record)
    pharmacy_trailer = _segment("TP", str(len(body) + 1))
    segments = [
        _segment(
            "TH",
            VERSION,
            transaction.control_number,
            TRANSACTION_TYPE_SEND,
            "",
            format_date(transaction.created_at.date()),
            format_time(transaction.created_at),
            "P" if transaction.production else "T",
            "",
            SEGMENT_TERMINATOR,
        ),
        _segment(
            "IS",
            _code(transaction.source_id, "IS01", r"[A-Za-z0-9]{1,15}"),
            clean_text(transaction.source_name),
            f"#{day}#-#{day}#",
        ),
        *body,
        pharmacy_trailer,
    ]
    segments.append(_segment("TT", transaction.control_number, str(len(segments) + 1)))
    return "".join(segment.render() for segment in segments)


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportedRecord:
    """One PAT…AIR group of a file, with the DSP facts a later file compares and voids."""

    segments: tuple[Segment, ...]

    @property
    def dispensing(self) -> Segment:
        return next(segment for segment in self.segments if segment.tag == "DSP")

    @property
    def status(self) -> ReportingStatus:
        return ReportingStatus(self.dispensing.element(1))

    @property
    def rx_number(self) -> str:
        return self.dispensing.element(2)

    @property
    def refill_number(self) -> int:
        return int(self.dispensing.element(6))

    @property
    def filled_on(self) -> date:
        return parse_date(self.dispensing.element(5), "DSP05")

    @property
    def ndc11(self) -> str:
        return self.dispensing.element(8)

    @property
    def quantity(self) -> Decimal:
        return parse_quantity(self.dispensing.element(9))

    def voided(self) -> tuple[Segment, ...]:
        """The same record with DSP01 "02": the state takes it back."""
        return tuple(
            replace(segment, elements=(ReportingStatus.VOID.value, *segment.elements[1:]))
            if segment.tag == "DSP"
            else segment
            for segment in self.segments
        )


@dataclass(frozen=True)
class AsapFile:
    control_number: str
    created: str
    segments: tuple[Segment, ...]
    records: tuple[ReportedRecord, ...]
    zero_report: bool


class AsapFormatError(ValueError):
    """Text that is not a well-formed ASAP 4.2 file."""


def read_file(text: str) -> AsapFile:
    """Parse a file this writer (or another ASAP 4.2 writer) made, checking its structure and
    its TP and TT counts. Line breaks after a terminator are allowed, as many PMPs accept."""
    if not text.startswith("TH" + ELEMENT_SEPARATOR):
        raise AsapFormatError("An ASAP file starts with its TH segment.")
    parts = text.split(ELEMENT_SEPARATOR, 9)
    if len(parts) < 10 or not parts[9]:
        raise AsapFormatError("The TH segment does not declare its segment terminator (TH09).")
    terminator = parts[9][0]
    if parts[9][1:2] != terminator:
        raise AsapFormatError("The TH segment does not end with the terminator TH09 declares.")
    header = Segment("TH", (*parts[1:9], terminator))
    rest = parts[9][2:]
    raw = [piece.strip("\r\n") for piece in rest.split(terminator)]
    if raw and raw[-1] == "":
        raw.pop()
    else:
        raise AsapFormatError("The file does not end with a segment terminator.")
    segments = [header]
    for piece in raw:
        tag, *values = piece.split(ELEMENT_SEPARATOR)
        try:
            segments.append(Segment(tag, tuple(values)))
        except AsapFieldError as error:
            raise AsapFormatError(str(error)) from None
    tags = [segment.tag for segment in segments]
    if tags[1:3] != ["IS", "PHA"] or tags[-2:] != ["TP", "TT"]:
        raise AsapFormatError("The segments are not in the order TH, IS, PHA … TP, TT.")
    if segments[-2].element(1) != str(len(segments) - 3):
        raise AsapFormatError("TP01 does not count the segments from PHA to TP.")
    if segments[-1].element(2) != str(len(segments)) or segments[-1].element(1) != header.element(
        2
    ):
        raise AsapFormatError("TT does not repeat TH02 or does not count every segment.")
    records: list[ReportedRecord] = []
    group: list[Segment] = []
    for segment in segments[3:-2]:
        if segment.tag == "PAT" and group:
            records.append(ReportedRecord(tuple(group)))
            group = []
        group.append(segment)
    if group:
        records.append(ReportedRecord(tuple(group)))
    zero = len(records) == 1 and (
        records[0].segments[0].element(7),
        records[0].segments[0].element(8),
    ) == (ZERO_LAST_NAME, ZERO_FIRST_NAME)
    return AsapFile(
        control_number=header.element(2),
        created=header.element(5) + header.element(6),
        segments=tuple(segments),
        records=() if zero else tuple(records),
        zero_report=zero,
    )
