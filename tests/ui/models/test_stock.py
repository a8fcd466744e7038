"""The stock models call out expired, short-dated and negative stock in words, mark the FEFO
turn, and show a movement's who, why, Rx and reversal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from PySide6.QtCore import Qt

from app.services.stock import LotLine, MovementLine, StockRow
from ui.models.stock import (
    EXPIRED_COLOUR,
    NEGATIVE_COLOUR,
    MovementModel,
    PackageLotsModel,
    StockModel,
    dating_text,
    on_hand_text,
)

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def lot(lot_id: int, expiry: date, **changes) -> StockRow:
    values = dict(
        lot_id=lot_id,
        package_id=5,
        ndc="0000-1111-01",
        drug="Lisinopril 10 mg tablet",
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
    assert dating_text(TODAY - timedelta(days=1), TODAY, short_dated=False) == "EXPIRED"
    assert dating_text(TODAY, TODAY, short_dated=True) == "Short-dated (0 d)"
    assert dating_text(TODAY + timedelta(days=45), TODAY, short_dated=True) == "Short-dated (45 d)"
    assert dating_text(TODAY + timedelta(days=45), TODAY, short_dated=False) == ""
    assert on_hand_text(Decimal("-2.500")) == "-2.5 NEGATIVE"
    assert on_hand_text(Decimal("30.000")) == "30"


def test_stock_model(qtmodeltester):
    model = StockModel(today=lambda: TODAY)
    model.set_rows(
        [
            lot(1, TODAY - timedelta(days=3)),
            lot(2, TODAY + timedelta(days=400), dea_schedule="CII", status="quarantined"),
            lot(3, TODAY + timedelta(days=20), short_dated=True, on_hand=Decimal("-4.000")),
        ]
    )
    qtmodeltester.check(model)
    assert model.index(0, StockModel.DATING).data() == "EXPIRED"
    assert model.index(0, StockModel.DATING).data(Qt.ItemDataRole.ForegroundRole).name() == (
        EXPIRED_COLOUR
    )
    assert model.index(0, StockModel.EXPIRY).data() == "02/27/2026"
    assert model.index(0, StockModel.ON_HAND).data() == "100"
    assert model.index(1, StockModel.DRUG).data() == "Lisinopril 10 mg tablet"
    assert model.index(1, StockModel.SCHEDULE).data() == "C-II"
    assert model.index(1, StockModel.STATUS).data() == "Quarantined"
    assert model.index(1, StockModel.DATING).data() == ""
    assert model.index(1, StockModel.DATING).data(Qt.ItemDataRole.ForegroundRole) is None
    assert model.index(2, StockModel.DATING).data() == "Short-dated (20 d)"
    assert model.index(2, StockModel.ON_HAND).data() == "-4 NEGATIVE"
    assert model.index(2, StockModel.ON_HAND).data(Qt.ItemDataRole.ForegroundRole).name() == (
        NEGATIVE_COLOUR
    )
    assert "count this lot" in model.index(2, StockModel.ON_HAND).data(Qt.ItemDataRole.ToolTipRole)


def test_package_lots_model_marks_the_fefo_turn(qtmodeltester):
    model = PackageLotsModel(today=lambda: TODAY)
    common = dict(status="available", location="shelf", short_dated=False)
    model.set_rows(
        [
            LotLine(
                1,
                "OLD",
                TODAY - timedelta(days=1),
                on_hand=Decimal(5),
                fefo_position=None,
                **common,
            ),
            LotLine(
                2, "NEXT", TODAY + timedelta(days=9), on_hand=Decimal(5), fefo_position=1, **common
            ),
            LotLine(
                3, "THEN", TODAY + timedelta(days=99), on_hand=Decimal(5), fefo_position=2, **common
            ),
        ]
    )
    qtmodeltester.check(model)
    column = PackageLotsModel.FEFO
    assert [model.index(row, column).data() for row in range(3)] == ["—", "1 · fill first", "2"]
    assert "Not filled from" in model.index(0, column).data(Qt.ItemDataRole.ToolTipRole)


def test_movement_model_shows_who_why_rx_and_reversals(qtmodeltester):
    def movement(movement_id: int, kind: str, quantity: int, **changes) -> MovementLine:
        values = dict(
            movement_id=movement_id,
            lot_id=1,
            lot_number="L1",
            kind=kind,
            quantity=Decimal(quantity),
            reason="",
            username="tess",
            workstation="counter-1",
            occurred_at=NOW - timedelta(days=2),
            rx_number=None,
            fill_number=None,
            reverses_id=None,
            reversed_by_id=None,
            witness=None,
        )
        values.update(changes)
        return MovementLine(**values)

    model = MovementModel(now=lambda: NOW)
    model.set_rows(
        [
            movement(3, "reversal", 2, reason="miscounted", reverses_id=2, occurred_at=NOW),
            movement(2, "adjusted", -2, reason="broken", reversed_by_id=3, witness="wes"),
            movement(1, "dispensed", -30, rx_number="7000001", fill_number=1),
        ]
    )
    qtmodeltester.check(model)

    def row(position: int, column: int) -> str:
        return model.index(position, column).data()

    assert row(0, MovementModel.KIND) == "Reversal" and row(0, MovementModel.QUANTITY) == "+2"
    assert row(0, MovementModel.LINK) == "reverses #2"
    assert row(1, MovementModel.LINK) == "reversed by #3"
    assert (row(1, MovementModel.WHO), row(1, MovementModel.WITNESS)) == ("tess", "wes")
    assert row(1, MovementModel.WHY) == "broken"
    assert model.index(1, 0).data(Qt.ItemDataRole.ForegroundRole) is not None  # greyed
    assert row(2, MovementModel.RX) == "7000001-1" and row(2, MovementModel.QUANTITY) == "-30"
    assert row(2, MovementModel.KIND) == "Dispensed"
