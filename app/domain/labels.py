"""What a prescription label says, as plain data: the renderer decides only where it goes.

USP <17> groups what the patient needs most — their name, the drug and strength, the directions
(and the purpose when the prescriber gave one) — at the top, in the largest type; everything else
follows. Every text here is already in the words the label prints (ISMP-safe numbers, "units",
"mcg"), so the preview, the printer and the PDF cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum


class LabelLanguage(StrEnum):
    ENGLISH = "en"
    SPANISH = "es"


@dataclass(frozen=True, slots=True)
class PharmacyHeading:
    name: str
    address: str
    phone: str


@dataclass(frozen=True, slots=True)
class LabelContent:
    """One container's label; a fill of N containers is N of these, `container_index` 1…N."""

    pharmacy: PharmacyHeading
    rx_number: str
    fill_number: int
    fill_date: date
    # --- the patient-critical group (top, ≥ 12 pt) ---
    patient_name: str
    drug_line: str  # "Atorvastatin Calcium 10 mg tablet"
    generic_for: str  # "generic for Lipitor", or ""
    directions: str  # in `language`, ending with a period
    indication: str  # "for high blood pressure", or ""
    # --- the rest ---
    quantity: str  # "30 tablets", "1 inhaler (8.5 g)"
    refills: str  # "2 refills before 2027-11-20" or "No refills"
    prescriber: str  # "Dr. Ana Ruiz"
    discard_after: date
    manufacturer: str
    ndc: str  # the dispensed package NDC, 5-4-2 or as listed
    physical_description: str  # "" when the state does not require it or none is on file
    auxiliary_warnings: tuple[str, ...]
    transfer_caution: str  # the federal caution on CII–CIV, or ""
    barcode_payload: str  # Code 128 content: `RX<rx>-<fill>` (app.domain.barcodes)
    container_index: int = 1
    container_count: int = 1
    language: LabelLanguage = LabelLanguage.ENGLISH
    # English directions kept beside translated ones, for the pharmacist and the English copy.
    english_directions: str = ""
    large_print: bool = False
    reprint: bool = False
    dea_schedule: str = ""  # "CII" … "CV", shown prominently; "" when not controlled
    notices: tuple[str, ...] = field(default=())  # e.g. "Spanish directions need review"

    @property
    def container_text(self) -> str:
        """'1 of 3' on a multi-container fill, else ''."""
        if self.container_count <= 1:
            return ""
        return f"{self.container_index} of {self.container_count}"


@dataclass(frozen=True, slots=True)
class LabelStock:
    """A label stock: one label's size and, for sheets, the grid of labels on the page (inches).

    A roll of thermal labels is a page the size of one label (1 × 1 grid, no margins).
    """

    name: str
    label_width: Decimal
    label_height: Decimal
    page_width: Decimal
    page_height: Decimal
    columns: int = 1
    rows: int = 1
    left_margin: Decimal = Decimal(0)
    top_margin: Decimal = Decimal(0)
    column_gap: Decimal = Decimal(0)
    row_gap: Decimal = Decimal(0)

    @property
    def labels_per_page(self) -> int:
        return self.columns * self.rows


THERMAL_VIAL_4X2_25 = LabelStock(
    name="Thermal vial label 4 × 2.25 in",
    label_width=Decimal("4"),
    label_height=Decimal("2.25"),
    page_width=Decimal("4"),
    page_height=Decimal("2.25"),
)
# Six 4 × 3⅓ in labels on a letter sheet (the common 5164 layout): a laser label as roomy as a
# thermal one, so an everyday label never needs a continuation.
LETTER_SHEET_4X3_33 = LabelStock(
    name="Letter sheet, 6 labels 4 × 3.33 in",
    label_width=Decimal("4"),
    label_height=Decimal("3.333"),
    page_width=Decimal("8.5"),
    page_height=Decimal("11"),
    columns=2,
    rows=3,
    left_margin=Decimal("0.156"),
    top_margin=Decimal("0.5"),
    column_gap=Decimal("0.188"),
    row_gap=Decimal("0"),
)
BUILT_IN_STOCKS = (THERMAL_VIAL_4X2_25, LETTER_SHEET_4X3_33)
