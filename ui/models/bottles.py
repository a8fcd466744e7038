"""Table model for the stock bottles scanned for one fill: verdict, manual and override marks."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from app.domain.verdicts import Verdict
from app.services.verification import BottleRow
from ui.models.formatting import date_text, quantity_text
from ui.models.table import RowTableModel

WARNING_COLOUR = "#8a5a00"
VOIDED_COLOUR = "#6b6b6b"
_VERDICT_TEXTS = {
    Verdict.MATCH: "Match",
    Verdict.PACKAGE_SIZE_DIFFERS: "Other package size",
    Verdict.OTHER_MANUFACTURER: "Other manufacturer",
}


def verdict_text(verdict: Verdict) -> str:
    return _VERDICT_TEXTS.get(verdict) or verdict.value.replace("-", " ").capitalize()


def marks_text(row: BottleRow) -> str:
    """What a pharmacist must notice: typed by hand, confirmed, overridden (by whom, why)."""
    marks = []
    if row.voided:
        marks.append(f"VOIDED: {row.voided_reason}")
    if row.manual:
        marks.append("MANUAL entry (typed, not scanned)")
    if row.confirmed:
        marks.append("package size confirmed")
    if row.overridden_by:
        marks.append(f"OVERRIDE by {row.overridden_by}: {row.override_reason}")
    return "; ".join(marks)


class BottlesModel(RowTableModel[BottleRow]):
    NDC, LOT, EXPIRY, QUANTITY, VERDICT, MARKS, WARNINGS = range(7)
    HEADERS = ("NDC", "Lot", "Expiry", "Qty", "Verdict", "Marks", "Warnings")

    def display(self, row: BottleRow, column: int) -> str:
        if column == self.NDC:
            return row.ndc
        if column == self.LOT:
            return row.lot_number
        if column == self.EXPIRY:
            return date_text(row.expiry) if row.expiry else ""
        if column == self.QUANTITY:
            return quantity_text(row.quantity)
        if column == self.VERDICT:
            return verdict_text(row.verdict)
        if column == self.MARKS:
            return marks_text(row)
        if column == self.WARNINGS:
            return " ".join(row.warnings)
        return ""

    def sort_key(self, row: BottleRow, column: int) -> Any:
        return row.bottle_id  # the order they were scanned in

    def decorate(self, row: BottleRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.voided:
                return QColor(VOIDED_COLOUR)
            if column == self.WARNINGS and row.warnings:
                return QColor(WARNING_COLOUR)
        if role == Qt.ItemDataRole.BackgroundRole and column == self.WARNINGS and row.warnings:
            return QColor("#fff1cc")
        if role == Qt.ItemDataRole.FontRole and row.voided:
            font = QFont()
            font.setStrikeOut(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(part for part in (row.verdict_message, *row.warnings) if part)
        if column == self.QUANTITY and role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def add_row(self, row: BottleRow) -> None:
        position = len(self._rows)
        self.beginInsertRows(self.index(0, 0).parent(), position, position)
        self._rows.append(row)
        self.endInsertRows()

    def replace_row(self, row: BottleRow) -> None:
        for position, each in enumerate(self._rows):
            if each.bottle_id == row.bottle_id:
                self.update_row(position, row)
                return
