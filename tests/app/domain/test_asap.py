"""ASAP 4.2 files: golden files for a known dispensing and for a zero report, the reader taking
them back apart, and properties: no value ever carries a separator, and what is written reads
back the same."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import asap

PHARMACY = asap.Pharmacy(
    npi="1234567893",
    ncpdp="1234567",
    dea="BT1234563",
    name="Test Pharmacy",
    address_line1="100 Main Street",
    address_line2="",
    city="Springfield",
    state="IL",
    postal_code="62701",
    phone="(217) 555-0100",
)
PATIENT = asap.Patient(
    last_name="Quibble",
    first_name="Wendell",
    middle_name="",
    address_line1="12 Larkspur Lane",
    address_line2="Apt 3",
    city="Springfield",
    state="IL",
    postal_code="62704-1234",
    phone="217-555-0142",
    date_of_birth=date(1961, 4, 2),
    sex="M",
    system_id="42",
)
PRESCRIBER = asap.Prescriber(
    npi="1245319599",
    dea="AH1234563",
    state_license="036.123456",
    last_name="Hemlock",
    first_name="Iona",
    phone="2175550199",
)
OXYCODONE = asap.Dispense(
    status=asap.ReportingStatus.NEW,
    rx_number="6100013",
    written_on=date(2026, 11, 20),
    refills_authorized=0,
    filled_on=date(2026, 11, 24),
    refill_number=0,
    ndc11="65162004710",
    quantity=Decimal("20.000"),
    days_supply=5,
    unit=asap.DosageUnit.EACH,
    origin=asap.RxOrigin.ELECTRONIC,
    payment=asap.PaymentType.COMMERCIAL_INSURANCE,
    sold_on=date(2026, 11, 25),
    patient=PATIENT,
    prescriber=PRESCRIBER,
    pharmacist_last_name="Pharmacist",
    pharmacist_first_name="Phil",
)
CREATED = datetime(2026, 11, 25, 7, 30, 5)

GOLDEN_DISPENSE = (
    "TH*4.2*20261124IL01*01**20261125*073005*P**~~"
    "IS*1234567*Test Pharmacy*#20261124#-#20261124#~"
    "PHA*1234567893*1234567*BT1234563*Test Pharmacy*100 Main Street**Springfield*IL*62701*"
    "2175550100~"
    "PAT**03*42****Quibble*Wendell****12 Larkspur Lane*Apt 3*Springfield*IL*627041234*"
    "2175550142*19610402*M*01~"
    "DSP*00*6100013*20261120*0*20261124*0*01*65162004710*20*5*01*05*00***04*20261125~"
    "PRE*1245319599*AH1234563**036.123456*Hemlock*Iona**2175550199~"
    "AIR*********Pharmacist*Phil~"
    "TP*6~"
    "TT*20261124IL01*9~"
)
GOLDEN_ZERO = (
    "TH*4.2*20261123IL01*01**20261125*073005*P**~~"
    "IS*1234567*Test Pharmacy*#20261123#-#20261123#~"
    "PHA*1234567893*1234567*BT1234563*Test Pharmacy*100 Main Street**Springfield*IL*62701*"
    "2175550100~"
    "PAT*******REPORT*ZERO~"
    "DSP*****20261123~"
    "PRE~"
    "CDI~"
    "AIR~"
    "TP*7~"
    "TT*20261123IL01*10~"
)


def transaction(report_date: date, *records: tuple[asap.Segment, ...]) -> asap.Transaction:
    return asap.Transaction(
        control_number=f"{asap.format_date(report_date)}IL01",
        created_at=CREATED,
        source_id="1234567",
        source_name="Test Pharmacy",
        report_date=report_date,
        pharmacy=PHARMACY,
        records=records,
    )


def test_a_known_dispensing_is_written_exactly() -> None:
    assert asap.write_file(transaction(date(2026, 11, 24), OXYCODONE.segments())) == (
        GOLDEN_DISPENSE
    )


def test_a_day_without_dispensing_is_a_zero_report() -> None:
    assert asap.write_file(transaction(date(2026, 11, 23))) == GOLDEN_ZERO


def test_the_reader_takes_a_file_apart_and_finds_its_records() -> None:
    parsed = asap.read_file(GOLDEN_DISPENSE)

    assert parsed.control_number == "20261124IL01"
    assert not parsed.zero_report
    (record,) = parsed.records
    assert record.status is asap.ReportingStatus.NEW
    assert (record.rx_number, record.refill_number) == ("6100013", 0)
    assert record.filled_on == date(2026, 11, 24)
    assert (record.ndc11, record.quantity) == ("65162004710", Decimal(20))
    assert [segment.tag for segment in record.segments] == ["PAT", "DSP", "PRE", "AIR"]


def test_the_reader_knows_a_zero_report() -> None:
    parsed = asap.read_file(GOLDEN_ZERO)

    assert parsed.zero_report
    assert parsed.records == ()


def test_a_void_is_the_record_as_sent_with_status_02() -> None:
    (record,) = asap.read_file(GOLDEN_DISPENSE).records
    written = asap.write_file(transaction(date(2026, 11, 26), record.voided()))

    (voided,) = asap.read_file(written).records
    assert voided.status is asap.ReportingStatus.VOID
    assert voided.dispensing.elements[1:] == record.dispensing.elements[1:]
    assert [s for s in voided.segments if s.tag != "DSP"] == [
        s for s in record.segments if s.tag != "DSP"
    ]


def test_a_line_break_after_each_segment_is_read_too() -> None:
    broken = GOLDEN_DISPENSE.replace("~", "~\r\n").replace("P**~\r\n~\r\n", "P**~~\r\n")

    assert asap.read_file(broken).segments == asap.read_file(GOLDEN_DISPENSE).segments


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("IS*1~", "starts with its TH"),
        (GOLDEN_ZERO.replace("TP*7~", "TP*6~"), "TP01"),
        (GOLDEN_ZERO.replace("*10~", "*11~"), "TT"),
        (GOLDEN_ZERO[:-1], "does not end"),
        (GOLDEN_ZERO.replace("P**~~", "P**~*"), "does not end with the terminator"),
    ],
)
def test_the_reader_refuses_a_malformed_file(text: str, problem: str) -> None:
    with pytest.raises(asap.AsapFormatError, match=problem):
        asap.read_file(text)


@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"ndc11": "6516200471"}, "DSP08"),
        ({"quantity": Decimal(0)}, "DSP09"),
        ({"quantity": Decimal("2.0005")}, "DSP09"),
        ({"rx_number": "61*13"}, "DSP02"),
        ({"days_supply": 0}, "DSP10"),
        ({"refill_number": 100}, "DSP06"),
    ],
)
def test_coded_values_are_refused_not_cleaned(change: dict[str, object], element: str) -> None:
    bad = asap.Dispense(**{**OXYCODONE.__dict__, **change})  # type: ignore[arg-type]

    with pytest.raises(asap.AsapFieldError) as refused:
        bad.segments()
    assert refused.value.element == element


def test_quantities_carry_a_decimal_point_only_for_a_fraction() -> None:
    assert [
        asap.format_quantity(Decimal(text)) for text in ("30.000", "2.500", "0.125", "120")
    ] == ["30", "2.5", "0.125", "120"]


def test_a_segment_refuses_a_separator_inside_a_value() -> None:
    with pytest.raises(asap.AsapFieldError, match="PAT07"):
        asap.Segment("PAT", ("", "", "", "", "", "", "O~Brien"))


# --- properties -------------------------------------------------------------------------------

free_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)


@given(free_text)
def test_cleaned_text_never_holds_a_separator_or_a_control_character(value: str) -> None:
    cleaned = asap.clean_text(value)

    assert not {"*", "~"} & set(cleaned)
    assert cleaned.isascii() and (cleaned == "" or cleaned.isprintable())
    assert cleaned == cleaned.strip() and len(cleaned) <= 60


@given(
    last=free_text,
    first=free_text,
    street=free_text,
    city=free_text,
    prescriber=free_text,
    quantity=st.decimals(min_value=Decimal("0.001"), max_value=Decimal(99999), places=3),
    days=st.integers(1, 999),
    refill=st.integers(0, 99),
)
def test_what_is_written_reads_back_the_same(
    last: str,
    first: str,
    street: str,
    city: str,
    prescriber: str,
    quantity: Decimal,
    days: int,
    refill: int,
) -> None:
    patient = asap.Patient(**{**PATIENT.__dict__, "last_name": last, "first_name": first})
    patient = asap.Patient(**{**patient.__dict__, "address_line1": street, "city": city})
    dispense = asap.Dispense(
        **{
            **OXYCODONE.__dict__,
            "patient": patient,
            "prescriber": asap.Prescriber(**{**PRESCRIBER.__dict__, "last_name": prescriber}),
            "quantity": quantity,
            "days_supply": days,
            "refill_number": refill,
        }
    )
    segments = dispense.segments()
    text = asap.write_file(transaction(date(2026, 11, 24), segments))

    parsed = asap.read_file(text)
    (record,) = parsed.records
    # Trailing empty elements are left out in the file, so compare element by element.
    for written, read in zip(segments, record.segments, strict=True):
        assert written.tag == read.tag
        width = max(len(written.elements), len(read.elements))
        assert [written.element(n) for n in range(1, width + 1)] == [
            read.element(n) for n in range(1, width + 1)
        ]
    assert record.quantity == quantity
    assert text.count("~") == len(parsed.segments) + 1  # TH09 declares the terminator once
