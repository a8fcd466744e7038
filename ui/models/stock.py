"""Table models for stock: lots on hand, one package's lots in first-expiry-first-out turn, and
its movements; expired, short-dated and negative stock is called out in words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor

from app.services.stock import LotLine, MovementLine, StockRow
from ui.models.formatting import date_text, quantity_text, time_text
from ui.models.table import RowTableModel

EXPIRED_COLOUR = "#b3261e"
SHORT_DATED_COLOUR = "#8a5a00"
NEGATIVE_COLOUR = "#b3261e"
REVERSED_COLOUR = "#6b6b6b"
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

KIND_LABELS = {
    "received": "Received",
    "dispensed": "Dispensed",
    "returned_to_vendor": "Returned to vendor",
    "transferred": "Transferred out",
    "destroyed": "Destroyed",
    "adjusted": "Adjusted",
    "count_correction": "Count correction",
    "reversal": "Reversal",
}


def dating_text(expiry: date, today: date, *, short_dated: bool) -> str:
    """EXPIRED, "Short-dated (12 d)" inside the house's window, or nothing."""
    days_left = (expiry - today).days
    if days_left < 0:
        return "EXPIRED"
    if short_dated:
        return f"Short-dated ({days_left} d)"
    return ""


def dating_colour(expiry: date, today: date, *, short_dated: bool) -> QColor | None:
    if expiry < today:
        return QColor(EXPIRED_COLOUR)
    if short_dated:
        return QColor(SHORT_DATED_COLOUR)
    return None


def on_hand_text(quantity: Decimal) -> str:
    """Negative stock says so in words, not only by its sign."""
    shown = quantity_text(quantity)
    return f"{shown} NEGATIVE" if quantity < 0 else shown


def schedule_text(dea_schedule: str | None) -> str:
    """ "CII" → "C-II"; nothing for stock that is not controlled."""
    return f"C-{dea_schedule.removeprefix('C')}" if dea_schedule else ""


class StockModel(RowTableModel[StockRow]):
    NDC, DRUG, SCHEDULE, LOT, EXPIRY, DATING, STATUS, LOCATION, ON_HAND = range(9)
    HEADERS = (
        "NDC",
        "Drug",
        "Schedule",
        "Lot",
        "Expiry",
        "Dating",
        "Status",
        "Location",
        "On hand",
    )

    def __init__(
        self, parent: QObject | None = None, *, today: Callable[[], date] = date.today
    ) -> None:
        super().__init__(parent)
        self._today = today

    def display(self, row: StockRow, column: int) -> str:
        if column == self.NDC:
            return row.ndc
        if column == self.DRUG:
            return row.drug
        if column == self.SCHEDULE:
            return schedule_text(row.dea_schedule)
        if column == self.LOT:
            return row.lot_number
        if column == self.EXPIRY:
            return date_text(row.expiry)
        if column == self.DATING:
            return dating_text(row.expiry, self._today(), short_dated=row.short_dated)
        if column == self.STATUS:
            return row.status.capitalize()
        if column == self.LOCATION:
            return row.location
        if column == self.ON_HAND:
            return on_hand_text(row.on_hand)
        return ""

    def sort_key(self, row: StockRow, column: int) -> Any:
        if column in (self.EXPIRY, self.DATING):
            return row.expiry.toordinal()
        if column == self.ON_HAND:
            return float(row.on_hand)
        return self.display(row, column)

    def decorate(self, row: StockRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.DATING:
                return dating_colour(row.expiry, self._today(), short_dated=row.short_dated)
            if column == self.ON_HAND and row.negative:
                return QColor(NEGATIVE_COLOUR)
        if column == self.ON_HAND and role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.DRUG:
                return row.drug  # the column is often too narrow for the whole name
            if column == self.ON_HAND and row.negative:
                return "Below zero: count this lot and correct the ledger."
        return None


class PackageLotsModel(RowTableModel[LotLine]):
    """One package's lots, soonest expiry first; the ones to fill from numbered in turn."""

    FEFO, LOT, EXPIRY, DATING, STATUS, LOCATION, ON_HAND = range(7)
    HEADERS = ("FEFO", "Lot", "Expiry", "Dating", "Status", "Location", "On hand")

    def __init__(
        self, parent: QObject | None = None, *, today: Callable[[], date] = date.today
    ) -> None:
        super().__init__(parent)
        self._today = today

    def display(self, row: LotLine, column: int) -> str:
        if column == self.FEFO:
            if row.fefo_position is None:
                return "—"
            return "1 · fill first" if row.fefo_position == 1 else str(row.fefo_position)
        if column == self.LOT:
            return row.lot_number
        if column == self.EXPIRY:
            return date_text(row.expiry)
        if column == self.DATING:
            return dating_text(row.expiry, self._today(), short_dated=row.short_dated)
        if column == self.STATUS:
            return row.status.capitalize()
        if column == self.LOCATION:
            return row.location
        if column == self.ON_HAND:
            return on_hand_text(row.on_hand)
        return ""

    def sort_key(self, row: LotLine, column: int) -> Any:
        if column == self.FEFO:
            return (row.fefo_position is None, row.fefo_position or 0, row.expiry.toordinal())
        if column in (self.EXPIRY, self.DATING):
            return row.expiry.toordinal()
        if column == self.ON_HAND:
            return float(row.on_hand)
        return self.display(row, column)

    def decorate(self, row: LotLine, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.DATING:
                return dating_colour(row.expiry, self._today(), short_dated=row.short_dated)
            if column == self.ON_HAND and row.negative:
                return QColor(NEGATIVE_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.FEFO:
            if row.fefo_position is None:
                return "Not filled from: quarantined, recalled, expired or empty."
            return "First-expiry-first-out: the order to fill from."
        if column == self.ON_HAND and role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT
        return None


class MovementModel(RowTableModel[MovementLine]):
    """A package's ledger with who, when and why; a reversed movement is greyed and says by
    which movement."""

    WHEN, KIND, LOT, QUANTITY, WHO, WITNESS, RX, WHY, LINK, WORKSTATION, NUMBER = range(11)
    HEADERS = (
        "When",
        "Movement",
        "Lot",
        "Quantity",
        "Who",
        "Witness",
        "Rx",
        "Why",
        "Reverses / reversed by",
        "Workstation",
        "#",
    )

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self._now = now

    def display(self, row: MovementLine, column: int) -> str:
        if column == self.WHEN:
            return time_text(row.occurred_at, now=self._now())
        if column == self.KIND:
            return KIND_LABELS.get(row.kind, row.kind)
        if column == self.LOT:
            return row.lot_number
        if column == self.QUANTITY:
            sign = "+" if row.quantity > 0 else ""
            return f"{sign}{quantity_text(row.quantity)}"
        if column == self.WHO:
            return row.username or "—"
        if column == self.WITNESS:
            return row.witness or ""
        if column == self.RX:
            return f"{row.rx_number}-{row.fill_number}" if row.rx_number else ""
        if column == self.WHY:
            return row.reason
        if column == self.LINK:
            if row.reverses_id is not None:
                return f"reverses #{row.reverses_id}"
            if row.reversed_by_id is not None:
                return f"reversed by #{row.reversed_by_id}"
            return ""
        if column == self.WORKSTATION:
            return row.workstation
        if column == self.NUMBER:
            return str(row.movement_id)
        return ""

    def sort_key(self, row: MovementLine, column: int) -> Any:
        if column == self.WHEN:
            return (row.occurred_at, row.movement_id)
        if column == self.QUANTITY:
            return float(row.quantity)
        if column == self.NUMBER:
            return row.movement_id
        return self.display(row, column)

    def decorate(self, row: MovementLine, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and row.reversed_by_id is not None:
            return QColor(REVERSED_COLOUR)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.QUANTITY, self.NUMBER):
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and column == self.WHY and row.reason:
            return row.reason
        return None
