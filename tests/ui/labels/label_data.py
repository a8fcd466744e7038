"""Realistic label contents, written out by hand as the label service would build them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from app.domain.labels import LabelContent, LabelLanguage, PharmacyHeading

PHARMACY = PharmacyHeading(
    name="Maple Street Community Pharmacy",
    address="1200 West Maple Street, Suite 4, Springfield, IL 62701",
    phone="(217) 555-0100",
)
TRANSFER_CAUTION = (
    "Caution: Federal law prohibits the transfer of this drug to any person other than the "
    "patient for whom it was prescribed."
)
LONG_DIRECTIONS = (
    "Take 1 tablet by mouth every morning with a full glass of water at least 30 minutes "
    "before the first food, beverage or other medicine of the day. Stay fully upright, "
    "sitting or standing, for at least 30 minutes after taking it and do not lie down until "
    "after the first food of the day. Do not chew or suck the tablet. If you miss a dose, "
    "take it the next morning and do not take two tablets on the same day. Call your "
    "prescriber at once if you have trouble or pain when swallowing, chest pain, or new or "
    "worsening heartburn while taking this medicine, and keep every dental and bone density "
    "appointment."
)


def atorvastatin() -> LabelContent:
    """An everyday maintenance refill with a brand name, two warnings and a description."""
    return LabelContent(
        pharmacy=PHARMACY,
        rx_number="1000123",
        fill_number=2,
        fill_date=date(2026, 11, 25),
        patient_name="Alexandria Montgomery-Vanderbilt",
        drug_line="Atorvastatin Calcium 10 mg tablet",
        generic_for="generic for Lipitor",
        directions="Take 1 tablet by mouth once daily in the evening.",
        indication="for high cholesterol",
        quantity="90 tablets",
        refills="2 refills before 11/20/2027",
        prescriber="Dr. Ana Ruiz",
        discard_after=date(2027, 11, 25),
        manufacturer="Greenstone LLC",
        ndc="59762-0155-01",
        physical_description="white, oval, film-coated tablet imprinted PD 155",
        auxiliary_warnings=(
            "Avoid grapefruit juice.",
            "Tell your doctor about unexplained muscle pain.",
        ),
        transfer_caution="",
        barcode_payload="RX1000123-2",
    )


def oxycodone_container(index: int) -> LabelContent:
    """Container `index` of 3 of a schedule II fill: caution, schedule, no refills."""
    return LabelContent(
        pharmacy=PHARMACY,
        rx_number="2000456",
        fill_number=0,
        fill_date=date(2026, 11, 25),
        patient_name="Nguyễn Thị Minh Khai",
        drug_line="Oxycodone Hydrochloride 5 mg tablet",
        generic_for="generic for Roxicodone",
        directions="Take 1 tablet by mouth every 6 hours if needed for pain.",
        indication="for pain after surgery",
        quantity="40 tablets",
        refills="No refills",
        prescriber="Dr. Kwame Mensah-Bonsu",
        discard_after=date(2027, 6, 30),
        manufacturer="Rhodes Pharmaceuticals L.P.",
        ndc="42858-0001-01",
        physical_description="",
        auxiliary_warnings=(
            "May cause drowsiness. Alcohol may intensify this effect.",
            "Do not drive or operate machinery until you know how this medicine affects you.",
        ),
        transfer_caution=TRANSFER_CAUTION,
        barcode_payload="RX2000456-0",
        container_index=index,
        container_count=3,
        dea_schedule="CII",
    )


def spanish_amoxicillin() -> LabelContent:
    """Spanish directions with the English kept beside them, a reprint, a Japanese name."""
    return LabelContent(
        pharmacy=PHARMACY,
        rx_number="3000789",
        fill_number=0,
        fill_date=date(2026, 11, 24),
        patient_name="Ōtani 翔平",
        drug_line="Amoxicillin 500 mg capsule",
        generic_for="",
        directions="Tome 1 cápsula por vía oral tres veces al día hasta terminarlas todas.",
        indication="para la infección de oído",
        quantity="30 capsules",
        refills="No refills",
        prescriber="Dr. María José Fernández-Castañeda",
        discard_after=date(2027, 11, 24),
        manufacturer="Aurobindo Pharma Limited",
        ndc="65862-0017-01",
        physical_description="",
        auxiliary_warnings=("Finish all of this medicine unless your prescriber says to stop.",),
        transfer_caution="",
        barcode_payload="RX3000789-0",
        language=LabelLanguage.SPANISH,
        english_directions="Take 1 capsule by mouth three times daily until all are gone.",
        reprint=True,
        notices=("Spanish directions need review",),
    )


def alendronate_long() -> LabelContent:
    """A 600-character direction text that cannot fit one label even at the floor."""
    assert len(LONG_DIRECTIONS) >= 600
    return replace(
        atorvastatin(),
        rx_number="4000111",
        fill_number=0,
        barcode_payload="RX4000111-0",
        patient_name="Bartholomew Christopherson-Abernathy",
        drug_line="Alendronate Sodium 70 mg tablet",
        generic_for="generic for Fosamax",
        directions=LONG_DIRECTIONS,
        indication="for osteoporosis",
        auxiliary_warnings=("Take with a full glass of plain water only.",),
        physical_description="white, oval tablet imprinted 31 on one side",
    )


def large_print_lisinopril() -> LabelContent:
    return replace(
        atorvastatin(),
        rx_number="5000222",
        fill_number=1,
        barcode_payload="RX5000222-1",
        patient_name="Dorothy Hale",
        drug_line="Lisinopril 10 mg tablet",
        generic_for="",
        directions="Take 1 tablet by mouth once daily.",
        indication="for high blood pressure",
        auxiliary_warnings=(),
        physical_description="",
        large_print=True,
    )


def everyday_labels() -> list[LabelContent]:
    return [
        atorvastatin(),
        *(oxycodone_container(index) for index in (1, 2, 3)),
        spanish_amoxicillin(),
        alendronate_long(),
        large_print_lisinopril(),
    ]
