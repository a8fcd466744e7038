"""The register's cart model: money as dollars, right-aligned, sorted by cents."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.services.payment import SaleLineRow
from ui.models.sale import SaleLinesModel

LINES = [
    SaleLineRow(1, 10, None, "Rx 7000001-0 Lisinopril 10 mg tablet", 1, 1000, 1000, False, "claim"),
    SaleLineRow(2, None, 3, "Adhesive bandages, 30 count", 2, 499, 998, True, "item_price"),
]  # fmt: skip


def test_sale_lines_model(qtmodeltester) -> None:
    model = SaleLinesModel()
    model.set_rows(LINES)
    qtmodeltester.check(model)
    assert model.index(0, SaleLinesModel.AMOUNT).data() == "$10.00"
    assert model.index(1, SaleLinesModel.ITEM).data() == "Adhesive bandages, 30 count (taxable)"
    assert model.index(0, SaleLinesModel.SOURCE).data() == "Insurance copay"
    alignment = model.index(0, SaleLinesModel.PRICE).data(Qt.ItemDataRole.TextAlignmentRole)
    assert alignment & Qt.AlignmentFlag.AlignRight
    model.sort(SaleLinesModel.AMOUNT)
    assert [row.line_id for row in model.rows] == [2, 1]
