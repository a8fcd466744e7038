"""Label words from FDA data: ISMP-safe numbers and strengths, names, forms, quantity, refills,
discard-after, and the check over a whole label."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.label_text import (
    discard_after,
    dosage_form_text,
    drug_line,
    drug_name,
    label_problems,
    number_text,
    quantity_text,
    refills_text,
    strength_text,
)
from app.domain.labels import LabelContent, PharmacyHeading
from app.domain.sig import ismp_problems

D = Decimal


@pytest.mark.parametrize(
    ("strength", "unit", "printed"),
    [
        ("5.0", "mg/1", "5 mg"),
        (".5", "mg/1", "0.5 mg"),
        ("0.125", "mg/1", "0.125 mg"),
        ("10", "mg/1", "10 mg"),
        ("1000", "mg/1", "1,000 mg"),
        ("400", "mg/5mL", "400 mg/5 mL"),
        ("2", "mg/.5mL", "2 mg/0.5 mL"),
        ("20", "mg/g", "20 mg/g"),
        ("50", "ug/1", "50 mcg"),
        ("50", "µg/1", "50 mcg"),
        ("25", "ug/h", "25 mcg/hr"),
        ("100", "[iU]/mL", "100 units/mL"),
        ("100", "IU/mL", "100 units/mL"),
        ("5000", "U/1", "5,000 units"),
        ("1", "[iU]/1", "1 unit"),
        ("10", "mEq/1", "10 mEq"),
        ("10; 20", "mg/1; mg/1", "10 mg / 20 mg"),
        ("300; 30", "mg/1; mg/1", "300 mg / 30 mg"),
        ("6.25; 10", "mg/5mL; mg/5mL", "6.25 mg / 10 mg per 5 mL"),
        ("10; 5", "mg/1; mg/mL", "10 mg / 5 mg/mL"),
        ("", "", ""),
    ],
)
def test_strengths_print_the_ismp_way(strength: str, unit: str, printed: str) -> None:
    assert strength_text(strength, unit) == printed
    assert ismp_problems(printed) == []


@given(st.decimals(min_value=D("0.001"), max_value=D(999999), places=3))
def test_any_number_prints_without_an_error_prone_form_and_keeps_its_value(value: Decimal) -> None:
    raw = f"{value:f}".lstrip("0") or "0"  # the FDA's ".5" form, trailing zeros kept
    printed = number_text(raw)
    assert ismp_problems(printed) == []
    assert Decimal(printed.replace(",", "")) == value


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        ("LEVOTHYROXINE SODIUM", "Levothyroxine Sodium"),
        ("levothyroxine sodium", "Levothyroxine Sodium"),
        ("Losartan potassium", "Losartan Potassium"),
        ("Hydrocodone Bitartrate And Acetaminophen", "Hydrocodone Bitartrate and Acetaminophen"),
        (
            "PROMETHAZINE HYDROCHLORIDE AND CODEINE PHOSPHATE",
            "Promethazine Hydrochloride and Codeine Phosphate",
        ),
        ("PROAIR HFA", "Proair HFA"),
        ("ProAir HFA", "ProAir HFA"),
        ("Humalog", "Humalog"),
        ("metFORMIN", "metFORMIN"),  # tall-man letters are deliberate
        ("sulfamethoxazole-trimethoprim", "Sulfamethoxazole-Trimethoprim"),
        ("st. john's wort", "St. John's Wort"),
    ],
)
def test_names_in_ordinary_capitals(name: str, printed: str) -> None:
    assert drug_name(name) == printed


@pytest.mark.parametrize(
    ("form", "printed"),
    [
        ("TABLET", "tablet"),
        ("TABLET, FILM COATED", "film-coated tablet"),
        ("CAPSULE, DELAYED RELEASE", "delayed-release capsule"),
        ("TABLET, EXTENDED RELEASE", "extended-release tablet"),
        ("POWDER, FOR SUSPENSION", "powder for oral suspension"),
        ("INJECTION, SOLUTION", "solution for injection"),
        ("INJECTION, POWDER, LYOPHILIZED, FOR SOLUTION", "lyophilized powder for injection"),
        ("AEROSOL, METERED", "metered-dose aerosol"),
        ("SPRAY, METERED", "metered spray"),
        ("SUSPENSION/ DROPS", "suspension/drops"),
        ("OINTMENT", "ointment"),
    ],
)
def test_dosage_forms_in_lower_case_words(form: str, printed: str) -> None:
    assert dosage_form_text(form) == printed


def test_drug_line_joins_name_strength_and_form() -> None:
    assert (
        drug_line("ATORVASTATIN CALCIUM", "10", "mg/1", "TABLET, FILM COATED")
        == "Atorvastatin Calcium 10 mg film-coated tablet"
    )
    assert drug_line("alprazolam", ".5", "mg/1", "TABLET") == "Alprazolam 0.5 mg tablet"
    assert drug_line("Humalog", "100", "[iU]/mL", "INJECTION, SOLUTION") == (
        "Humalog 100 units/mL solution for injection"
    )


@pytest.mark.parametrize(
    ("quantity", "package", "printed"),
    [
        (D("30.000"), {"billing_unit": "EA", "dosage_form": "TABLET"}, "30 tablets"),
        (D(1), {"billing_unit": "EA", "dosage_form": "CAPSULE"}, "1 capsule"),
        (D(7), {"billing_unit": "EA", "dosage_form": "SUPPOSITORY"}, "7 suppositories"),
        (D(10), {"billing_unit": "EA", "dosage_form": "PATCH, EXTENDED RELEASE"}, "10 patches"),
        (
            D(30),
            {
                "billing_unit": "EA",
                "dosage_form": "TABLET, FILM COATED",
                "package_description": "10 BLISTER PACK in 1 CARTON > 10 TABLET, FILM COATED in "
                "1 BLISTER PACK",
                "package_quantity": D(10),
                "package_unit": "BLISTER PACK",
                "billing_quantity": D(100),
            },
            "30 tablets",
        ),
        (
            D(120),
            {
                "billing_unit": "ML",
                "dosage_form": "SOLUTION",
                "package_quantity": D(473),
                "package_unit": "mL",
                "billing_quantity": D(473),
            },
            "120 mL",
        ),
        (
            D(22),
            {
                "billing_unit": "GM",
                "dosage_form": "OINTMENT",
                "package_description": "1 TUBE in 1 CARTON (0093-1010-42)  > 22 g in 1 TUBE",
                "package_quantity": D(1),
                "package_unit": "TUBE",
                "billing_quantity": D(22),
            },
            "1 tube (22 g)",
        ),
        (
            D("8.5"),
            {
                "billing_unit": "GM",
                "dosage_form": "AEROSOL, METERED",
                "package_description": "1 INHALER in 1 CARTON > 8.5 g in 1 INHALER",
                "package_quantity": D(1),
                "package_unit": "INHALER",
                "billing_quantity": D("8.5"),
            },
            "1 inhaler (8.5 g)",
        ),
        (
            D(15),
            {
                "billing_unit": "ML",
                "dosage_form": "INJECTION, SOLUTION",
                "package_description": "5 SYRINGE in 1 CARTON (0002-8799-59)  > 3 mL in 1 "
                "SYRINGE (0002-8799-01)",
                "package_quantity": D(5),
                "package_unit": "SYRINGE",
                "billing_quantity": D(15),
            },
            "5 syringes (15 mL)",
        ),
        (
            D(1),
            {
                "billing_unit": "EA",
                "dosage_form": "AEROSOL, METERED",
                "package_description": "1 INHALER in 1 CARTON (0093-3174-31)  > 200 AEROSOL, "
                "METERED in 1 INHALER",
                "package_quantity": D(1),
                "package_unit": "INHALER",
            },
            "1 inhaler (200 puffs)",
        ),
        (
            D(2),
            {
                "billing_unit": "EA",
                "dosage_form": "SPRAY, METERED",
                "package_description": "1 BOTTLE, GLASS in 1 CARTON (0054-3270-99)  > 120 SPRAY, "
                "METERED in 1 BOTTLE, GLASS",
                "package_quantity": D(1),
                "package_unit": "BOTTLE, GLASS",
            },
            "2 bottles (120 sprays each)",
        ),
    ],
)
def test_quantity_in_words(quantity: Decimal, package: dict[str, object], printed: str) -> None:
    assert quantity_text(quantity, **package) == printed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("remaining", "printed"),
    [(-1, "No refills"), (0, "No refills"), (1, "1 refill left"), (2, "2 refills left")],
)
def test_refills_text(remaining: int, printed: str) -> None:
    assert refills_text(remaining) == printed


def test_discard_after_without_a_lot_is_months_from_the_fill() -> None:
    assert discard_after(date(2026, 3, 10), [], months=12) == date(2027, 3, 10)
    assert discard_after(date(2024, 2, 29), [], months=12) == date(2025, 2, 28)
    assert discard_after(date(2026, 1, 31), [], months=1) == date(2026, 2, 28)


def test_discard_after_is_the_earliest_lot_expiry_when_sooner() -> None:
    filled = date(2026, 3, 10)
    lots = [date(2027, 6, 30), date(2026, 9, 30)]
    assert discard_after(filled, lots, months=12) == date(2026, 9, 30)
    assert discard_after(filled, [date(2028, 1, 31)], months=12) == date(2027, 3, 10)


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    st.lists(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), max_size=4),
    st.integers(min_value=1, max_value=12),
)
def test_discard_after_is_never_later_than_any_limit(
    filled: date, lots: list[date], months: int
) -> None:
    result = discard_after(filled, lots, months=months)
    assert all(result <= lot for lot in lots)
    assert filled < result <= filled + timedelta(days=31 * months) or result in lots


def _label(**changes: object) -> LabelContent:
    content = LabelContent(
        pharmacy=PharmacyHeading("Test Pharmacy", "100 Main Street", "(217) 555-0100"),
        rx_number="7000001",
        fill_number=0,
        fill_date=date(2026, 3, 10),
        patient_name="Wendell U. Quibble",  # an initial, not units: names are not checked
        drug_line="Alprazolam 0.5 mg tablet",
        generic_for="",
        directions="Take 1 tablet by mouth twice daily.",
        indication="",
        quantity="30 tablets",
        refills="No refills",
        prescriber="Iona Hemlock, MD",
        discard_after=date(2027, 3, 10),
        manufacturer="Johnson & Johnson",
        ndc="65862-039-00",
        physical_description="",
        auxiliary_warnings=("Shake well before each use.",),
        transfer_caution="",
        barcode_payload="RX7000001-0",
    )
    return replace(content, **changes)  # type: ignore[arg-type]


def test_label_problems_checks_dose_texts_not_identifiers() -> None:
    assert label_problems(_label()) == {}
    found = label_problems(
        _label(
            directions="Take 1 tab QD.",
            quantity="30.0 tablets",
            auxiliary_warnings=("Inject 10 U.",),
        )
    )
    assert set(found) == {"directions", "quantity", "auxiliary_warnings"}
    assert found["directions"][0].startswith("“QD")
