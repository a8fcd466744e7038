"""Table model for stock on hand by lot, with expired and short-dated lots called out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor

from app.services.stock import StockRow
from ui.models.formatting import date_text, quantity_text
from ui.models.table import RowTableModel

# Lots expiring within this many days are pulled for return to the vendor before they expire.
SHORT_DATED_DAYS = 90
EXPIRED_COLOUR = "#b3261e"
SHORT_DATED_COLOUR = "#8a5a00"


def dating_text(expiry: date, today: date) -> str:
    days_left = (expiry - today).days
    if days_left < 0:
        return "EXPIRED"
    if days_left <= SHORT_DATED_DAYS:
        return f"Short-dated ({days_left} d)"
    return ""


class StockModel(RowTableModel[StockRow]):
    NDC, DRUG, LOT, EXPIRY, DATING, STATUS, LOCATION, ON_HAND = range(8)
    HEADERS = ("NDC", "Drug", "Lot", "Expiry", "Dating", "Status", "Location", "On hand")

    def __init__(
        self, parent: QObject | None = None, *, today: Callable[[], date] = date.today
    ) -> None:
        super().__init__(parent)
        self._today = today

    def display(self, row: StockRow, column: int) -> str:
        if column == self.NDC:
            return row.ndc
        if column == self.DRUG:
            schedule = f" (C-{row.dea_schedule.removeprefix('C')})" if row.dea_schedule else ""
            return f"{row.drug}{schedule}"
        if column == self.LOT:
            return row.lot_number
        if column == self.EXPIRY:
            return date_text(row.expiry)
        if column == self.DATING:
            return dating_text(row.expiry, self._today())
        if column == self.STATUS:
            return row.status.capitalize()
        if column == self.LOCATION:
            return row.location
        if column == self.ON_HAND:
            return quantity_text(row.on_hand)
        return ""

    def sort_key(self, row: StockRow, column: int) -> Any:
        if column in (self.EXPIRY, self.DATING):
            return row.expiry.toordinal()
        if column == self.ON_HAND:
            return float(row.on_hand)
        return self.display(row, column)

    def decorate(self, row: StockRow, column: int, role: int) -> Any:
        if column == self.DATING and role == Qt.ItemDataRole.ForegroundRole:
            days_left = (row.expiry - self._today()).days
            if days_left < 0:
                return QColor(EXPIRED_COLOUR)
            if days_left <= SHORT_DATED_DAYS:
                return QColor(SHORT_DATED_COLOUR)
        if column == self.ON_HAND and role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
