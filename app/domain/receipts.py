"""A register receipt as data, and its lines of text for a 40-column receipt printer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.domain.money import dollars

RECEIPT_COLUMNS = 40


@dataclass(frozen=True, slots=True)
class ReceiptItem:
    description: str
    quantity: int
    amount_cents: int
    taxable: bool


@dataclass(frozen=True, slots=True)
class ReceiptTender:
    label: str
    amount_cents: int
    card_last_four: str = ""
    reference: str = ""


@dataclass(frozen=True, slots=True)
class ReceiptContent:
    """Everything a receipt shows; money in cents; a card only by its last four digits."""

    pharmacy_name: str
    pharmacy_address: tuple[str, ...]
    pharmacy_phone: str
    sale_id: int
    status: str
    when: datetime
    workstation: str
    cashier: str
    patient_name: str
    items: tuple[ReceiptItem, ...]
    subtotal_cents: int
    tax_cents: int
    tax_basis_points: int
    total_cents: int
    tenders: tuple[ReceiptTender, ...]
    change_cents: int
    refunded_cents: int


def _pair(left: str, right: str, width: int = RECEIPT_COLUMNS) -> str:
    room = width - len(right) - 1
    return f"{left[:room]:<{room}} {right}"


def receipt_lines(receipt: ReceiptContent, width: int = RECEIPT_COLUMNS) -> list[str]:
    """The receipt as fixed-width lines: header, items (T marks taxable), totals, tenders."""
    lines = [receipt.pharmacy_name.center(width)]
    lines += [line.center(width) for line in receipt.pharmacy_address if line]
    if receipt.pharmacy_phone:
        lines.append(receipt.pharmacy_phone.center(width))
    lines.append("")
    lines.append(_pair(f"Sale {receipt.sale_id}", receipt.when.strftime("%Y-%m-%d %H:%M"), width))
    lines.append(_pair(f"Register {receipt.workstation}", receipt.cashier, width))
    if receipt.patient_name:
        lines.append(f"Patient: {receipt.patient_name}"[:width])
    lines.append("-" * width)
    for item in receipt.items:
        mark = " T" if item.taxable else "  "
        label = item.description if item.quantity == 1 else f"{item.quantity} x {item.description}"
        lines.append(_pair(label, dollars(item.amount_cents) + mark, width))
    lines.append("-" * width)
    lines.append(_pair("Subtotal", dollars(receipt.subtotal_cents) + "  ", width))
    rate = f"{receipt.tax_basis_points / 100:g}%"
    lines.append(_pair(f"Tax {rate} on T items", dollars(receipt.tax_cents) + "  ", width))
    lines.append(_pair("TOTAL", dollars(receipt.total_cents) + "  ", width))
    for tender in receipt.tenders:
        label = tender.label + (f" ****{tender.card_last_four}" if tender.card_last_four else "")
        if tender.reference and not tender.card_last_four:
            label += f" #{tender.reference}"
        lines.append(_pair(label, dollars(tender.amount_cents) + "  ", width))
        if tender.card_last_four and tender.reference:
            lines.append(f"  Approval {tender.reference}"[:width])
    if receipt.change_cents:
        lines.append(_pair("Change", dollars(receipt.change_cents) + "  ", width))
    if receipt.refunded_cents:
        lines.append(_pair("Refunded", dollars(receipt.refunded_cents) + "  ", width))
    if receipt.status != "completed":
        lines.append(f"*** {receipt.status.upper()} ***".center(width))
    lines.append("")
    lines.append("Prescriptions are not taxed.".center(width))
    lines.append("Thank you.".center(width))
    return lines
