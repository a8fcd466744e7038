"""Table model for the register's cart: the lines of the open sale."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.domain.money import dollars
from app.services.payment import SaleLineRow
from ui.models.table import RowTableModel


class SaleLinesModel(RowTableModel[SaleLineRow]):
    ITEM, QUANTITY, PRICE, AMOUNT, SOURCE = range(5)
    HEADERS = ("Item", "Qty", "Price", "Amount", "Priced by")
    _SOURCES = {"claim": "Insurance copay", "cash_price": "Cash price", "item_price": "Item"}

    def display(self, row: SaleLineRow, column: int) -> str:
        if column == self.ITEM:
            return row.description + (" (taxable)" if row.taxable else "")
        if column == self.QUANTITY:
            return str(row.quantity)
        if column == self.PRICE:
            return dollars(row.unit_price_cents)
        if column == self.AMOUNT:
            return dollars(row.amount_cents)
        return self._SOURCES.get(row.price_source, row.price_source)

    def sort_key(self, row: SaleLineRow, column: int) -> Any:
        if column == self.AMOUNT:
            return row.amount_cents
        if column == self.PRICE:
            return row.unit_price_cents
        if column == self.QUANTITY:
            return row.quantity
        return self.display(row, column)

    def decorate(self, row: SaleLineRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            self.QUANTITY,
            self.PRICE,
            self.AMOUNT,
        ):
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None
