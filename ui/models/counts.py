"""Table model for a cycle count's lines: expected, counted, recount and the difference, with
the lines that need a look flagged in words."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app.services.counts import CountLineRow
from ui.models.formatting import date_text, quantity_text
from ui.models.table import RowTableModel

FLAG_COLOUR = "#b3261e"


def flag_text(row: CountLineRow) -> str:
    """Why the line needs a look, in words; empty when it matches or is not yet counted."""
    if row.final is None:
        return "Must be counted" if row.dea_schedule == "CII" else "Not counted"
    if row.needs_recount:
        return "Recount needed"
    if row.discrepant:
        return "Difference (recounted)" if row.recount is not None else "Difference"
    return ""


def difference_text(row: CountLineRow) -> str:
    difference = row.difference
    if difference is None:
        return ""
    return f"+{quantity_text(difference)}" if difference > 0 else quantity_text(difference)


class CountLinesModel(RowTableModel[CountLineRow]):
    NDC, DRUG, LOT, EXPIRY, LOCATION, EXPECTED, COUNTED, RECOUNT, DIFFERENCE, FLAG = range(10)
    HEADERS = (
        "NDC",
        "Drug",
        "Lot",
        "Expiry",
        "Location",
        "Expected",
        "Counted",
        "Recount",
        "Difference",
        "Check",
    )
    _NUMBERS = (EXPECTED, COUNTED, RECOUNT, DIFFERENCE)

    def display(self, row: CountLineRow, column: int) -> str:
        if column == self.NDC:
            return row.ndc
        if column == self.DRUG:
            schedule = f" (C-{row.dea_schedule.removeprefix('C')})" if row.dea_schedule else ""
            return f"{row.drug}{schedule}"
        if column == self.LOT:
            return row.lot_number
        if column == self.EXPIRY:
            return date_text(row.expiry)
        if column == self.LOCATION:
            return row.location
        if column == self.EXPECTED:
            return quantity_text(row.expected)
        if column == self.COUNTED:
            return "" if row.counted is None else quantity_text(row.counted)
        if column == self.RECOUNT:
            return "" if row.recount is None else quantity_text(row.recount)
        if column == self.DIFFERENCE:
            return difference_text(row)
        if column == self.FLAG:
            return flag_text(row)
        return ""

    def sort_key(self, row: CountLineRow, column: int) -> Any:
        if column == self.EXPIRY:
            return row.expiry.toordinal()
        if column == self.EXPECTED:
            return float(row.expected)
        if column in (self.COUNTED, self.RECOUNT, self.DIFFERENCE):
            value = {
                self.COUNTED: row.counted,
                self.RECOUNT: row.recount,
                self.DIFFERENCE: row.difference,
            }[column]
            return (value is None, float(value or 0))
        return self.display(row, column)

    def decorate(self, row: CountLineRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and (
            row.needs_recount or (column in (self.DIFFERENCE, self.FLAG) and row.discrepant)
        ):
            return QColor(FLAG_COLOUR)
        if column in self._NUMBERS and role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def position_of(self, line_id: int) -> int | None:
        for position, row in enumerate(self.rows):
            if row.line_id == line_id:
                return position
        return None
