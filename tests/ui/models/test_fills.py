"""The fill queue and pickup models: what each cell says, and that they are valid Qt models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from app.domain.fill_states import FillState
from app.services.fills import FillRow
from ui.models.fills import LATE_COLOUR, STATE_COLOURS, FillQueueModel, PickupModel
from ui.models.table import ROW_ROLE

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def fill_row(fill_id: int, state: FillState, **changes) -> FillRow:
    values = dict(
        fill_id=fill_id,
        rx_number=f"60000{fill_id}",
        fill_number=0,
        state=state,
        priority="today",
        promised_at=NOW + timedelta(hours=1),
        patient_id=1,
        patient_name="Rivera, Ana",
        drug="Lisinopril 10 mg/1 TABLET",
        ndc="0000-1111-01",
        dea_schedule=None,
        quantity=Decimal("30.000"),
        days_supply=30,
        directions="Take 1 tablet by mouth once daily",
        held_by=None,
        created_at=NOW - timedelta(hours=2, minutes=5),
        state_changed_at=NOW - timedelta(minutes=3),
    )
    values.update(changes)
    return FillRow(**values)


@pytest.fixture
def rows() -> list[FillRow]:
    return [
        fill_row(1, FillState.FILL, held_by="tess"),
        fill_row(2, FillState.CLAIM_REJECTED, promised_at=NOW - timedelta(minutes=10)),
        fill_row(3, FillState.READY, promised_at=None, quantity=Decimal("2.500")),
    ]


def test_fill_queue_model_passes_the_model_tester(qtmodeltester, rows):
    model = FillQueueModel(clock=lambda: NOW)
    model.set_rows(rows)
    qtmodeltester.check(model)


def test_pickup_model_passes_the_model_tester(qtmodeltester, rows):
    model = PickupModel(clock=lambda: NOW)
    model.set_rows(rows)
    qtmodeltester.check(model)


def test_fill_queue_cells_read_as_a_technician_expects(rows):
    model = FillQueueModel(clock=lambda: NOW)
    model.set_rows(rows)

    def cell(row: int, column: int, role=Qt.ItemDataRole.DisplayRole):
        return model.index(row, column).data(role)

    assert model.columnCount() == len(FillQueueModel.HEADERS)
    assert model.headerData(FillQueueModel.HELD_BY, Qt.Orientation.Horizontal) == "Held by"
    assert cell(0, FillQueueModel.STATUS) == "Fill"
    assert cell(0, FillQueueModel.RX) == "600001-0"
    assert cell(0, FillQueueModel.HELD_BY) == "tess"
    assert cell(0, FillQueueModel.QUANTITY) == "30"
    assert cell(2, FillQueueModel.QUANTITY) == "2.5"
    assert cell(0, FillQueueModel.AGE) == "2 h 05 min"
    assert cell(1, FillQueueModel.PROMISED).endswith("— late")
    assert cell(1, FillQueueModel.PROMISED, Qt.ItemDataRole.ForegroundRole) == QColor(LATE_COLOUR)
    assert cell(2, FillQueueModel.PROMISED) == ""
    # Status is text first; the colour only repeats it.
    assert cell(1, FillQueueModel.STATUS) == "Claim rejected"
    assert cell(1, FillQueueModel.STATUS, Qt.ItemDataRole.BackgroundRole) == QColor(
        STATE_COLOURS[FillState.CLAIM_REJECTED]
    )
    assert cell(2, FillQueueModel.STATUS, ROW_ROLE) is rows[2]


def test_fills_without_a_promise_sort_last(rows):
    model = FillQueueModel(clock=lambda: NOW)
    model.set_rows(rows)
    model.sort(FillQueueModel.PROMISED)
    assert [model.row_at(r) for r in range(3)] == [rows[1], rows[0], rows[2]]
    model.sort(FillQueueModel.PROMISED, Qt.SortOrder.DescendingOrder)
    assert [model.row_at(r) for r in range(3)] == [rows[2], rows[0], rows[1]]


def test_sorting_keeps_the_selected_row_selected(qtbot, rows):
    model = FillQueueModel(clock=lambda: NOW)
    model.set_rows(rows)
    selected = QPersistentModelIndex(model.index(2, FillQueueModel.PATIENT))
    model.sort(FillQueueModel.PROMISED)
    assert model.row_at(selected.row()) is rows[2]
    assert selected.column() == FillQueueModel.PATIENT


def test_new_rows_arrive_in_the_chosen_order(rows):
    model = FillQueueModel(clock=lambda: NOW)
    model.sort(FillQueueModel.PROMISED)
    model.set_rows(rows)
    assert [model.row_at(r) for r in range(3)] == [rows[1], rows[0], rows[2]]


def test_update_row_signals_the_changed_row(qtbot, rows):
    model = FillQueueModel(clock=lambda: NOW)
    model.set_rows(rows)
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.update_row(1, fill_row(2, FillState.FILL))
    top_left, bottom_right = changed.args[:2]
    assert (top_left.row(), bottom_right.row()) == (1, 1)
    assert model.index(1, FillQueueModel.STATUS).data() == "Fill"


def test_pickup_model_cells(rows):
    model = PickupModel(clock=lambda: NOW)
    model.set_rows(rows[2:])
    assert model.index(0, PickupModel.PATIENT).data() == "Rivera, Ana"
    assert model.index(0, PickupModel.QUANTITY).data() == "2.5"
    assert model.index(0, PickupModel.READY_SINCE).data().startswith("Today ")
