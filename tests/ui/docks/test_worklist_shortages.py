"""Shortage notices in the Pharmacist dock: shown with their kind and counted in the badge,
acknowledged with Ctrl+K (or the button), while other work cannot be acknowledged away."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent
from app.domain.fill_states import FillState
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_package
from tests.app.services.pharmacy_data import simple_fill
from tests.ui.test_main_window import CosigningSession, open_window
from ui.context import UiContext
from ui.docks.worklist import WorklistDock
from ui.main_window import MainWindow
from ui.models.worklist import WorklistModel


@pytest.fixture
def session(services: Services, pharmacist: Actor) -> CosigningSession:
    return CosigningSession(services, pharmacist)


def _dock(qtbot, ui_context: UiContext, session, actor: Actor) -> tuple[MainWindow, WorklistDock]:
    """RxBench's own window (its shortcuts need an active window), signed in as `actor`."""
    window = open_window(qtbot, ui_context, session, actor)
    window.activateWindow()
    return window, window.worklist


def _select(dock: WorklistDock, kind: str) -> None:
    row = next(r for r in range(dock.model.rowCount()) if dock.model.row_at(r).kind == kind)
    dock.window().activateWindow()
    dock.table.setFocus()
    dock.table.setCurrentIndex(dock.table.model().index(row, 0))


def test_a_shortage_notice_shows_in_the_dock_and_is_acknowledged_with_ctrl_k(
    qtbot,
    ui_context: UiContext,
    session: CosigningSession,
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
) -> None:
    package = add_package(services, admin)
    services.reorder.set_level(technician, package, minimum=100, maximum=300)
    # Receiving 10 leaves the package below its minimum: the inventory opens the notice.
    services.inventory.receive(
        technician,
        package,
        lot_number="LOW-1",
        expiry=date.today() + timedelta(days=700),
        quantity=10,
    )
    [notice] = services.reorder.check_shortages(technician, [package])
    assert not notice.opened  # already opened by the receipt
    review = simple_fill(services, admin, FillState.DATA_ENTRY)
    services.workflow.advance(
        technician, review, to_state=FillState.DATA_REVIEW, expected_version=1
    )

    _window, dock = _dock(qtbot, ui_context, session, pharmacist)

    assert dock.waiting == 2
    assert dock.badge.text() == "Pharmacist: 2 waiting"
    kinds = sorted(dock.model.index(r, WorklistModel.KIND).data() for r in range(2))
    assert kinds == ["Data review", "Shortage"]
    summaries = [row.summary for row in dock.model.rows if row.kind == "shortage"]
    assert summaries == [notice.summary]

    _select(dock, "data_review")
    assert not dock.acknowledge_action.isEnabled()
    assert not dock.acknowledge_button.isEnabled()
    _select(dock, "shortage")
    assert dock.acknowledge_button.isEnabled()

    qtbot.keyClick(dock.table, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dock.waiting == 1)

    assert dock.waiting == 1
    assert [row.kind for row in dock.model.rows] == ["data_review"]
    assert dock.badge.text() == "Pharmacist: 1 waiting"
    assert services.worklist.count(pharmacist) == 1
    with services.database.reading() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "shortage.acknowledged")
        ).one()
    assert event.username == pharmacist.username
    assert event.entity_id == str(notice.work_item_id)


def test_the_button_acknowledges_the_selected_notice(
    qtbot,
    ui_context: UiContext,
    session: CosigningSession,
    services: Services,
    admin: Actor,
    technician: Actor,
    pharmacist: Actor,
) -> None:
    package = add_package(services, admin)
    services.inventory.receive(
        technician,
        package,
        lot_number="SOON-1",
        expiry=date.today() + timedelta(days=20),  # short-dated
        quantity=5,
    )
    _window, dock = _dock(qtbot, ui_context, session, pharmacist)
    assert [row.kind_label for row in dock.model.rows] == ["Shortage"]
    _select(dock, "shortage")

    dock.acknowledge_button.click()
    qtbot.waitUntil(lambda: dock.waiting == 0)

    assert dock.waiting == 0
    assert services.worklist.count(pharmacist) == 0
