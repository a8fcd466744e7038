"""The stock model calls out expired and short-dated lots in words."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCore import Qt

from app.services.stock import StockRow
from ui.models.stock import SHORT_DATED_DAYS, StockModel, dating_text

TODAY = date(2026, 3, 2)


def lot(lot_id: int, expiry: date, **changes) -> StockRow:
    values = dict(
        lot_id=lot_id,
        ndc="0000-1111-01",
        drug="Lisinopril 10 mg/1 TABLET",
        dea_schedule=None,
        lot_number=f"L{lot_id}",
        expiry=expiry,
        status="available",
        location="shelf",
        on_hand=Decimal("100.000"),
    )
    values.update(changes)
    return StockRow(**values)


def test_dating_text():
    assert dating_text(TODAY - timedelta(days=1), TODAY) == "EXPIRED"
    assert dating_text(TODAY, TODAY) == "Short-dated (0 d)"
    assert dating_text(TODAY + timedelta(days=SHORT_DATED_DAYS), TODAY).startswith("Short-dated")
    assert dating_text(TODAY + timedelta(days=SHORT_DATED_DAYS + 1), TODAY) == ""


def test_stock_model(qtmodeltester):
    model = StockModel(today=lambda: TODAY)
    model.set_rows(
        [
            lot(1, TODAY - timedelta(days=3)),
            lot(2, TODAY + timedelta(days=400), dea_schedule="CII", status="quarantined"),
        ]
    )
    qtmodeltester.check(model)
    assert model.index(0, StockModel.DATING).data() == "EXPIRED"
    assert model.index(0, StockModel.EXPIRY).data() == "02/27/2026"
    assert model.index(0, StockModel.ON_HAND).data() == "100"
    assert model.index(1, StockModel.DRUG).data() == "Lisinopril 10 mg/1 TABLET (C-II)"
    assert model.index(1, StockModel.STATUS).data() == "Quarantined"
    assert model.index(1, StockModel.DATING).data() == ""
    assert model.index(1, StockModel.DATING).data(Qt.ItemDataRole.ForegroundRole) is None
