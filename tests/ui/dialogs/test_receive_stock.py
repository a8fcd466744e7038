"""The Receive stock dialog: packages scanned one after another into a list (a UPC asks for its
lot and expiry), saved as one receipt; a refusal is said in the message line and saves nothing;
the Inventory dock opens it with its shortcut."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QListWidget
from sqlalchemy import func, select

from app.bootstrap import Services
from app.db.models import Receipt, StockLot
from app.services.receiving import ReceivingService
from app.services.unit_of_work import Actor
from tests.app.services.pharmacy_data import load_demo_catalogue
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import show_active
from tests.ui.verification_data import EXPIRY, datamatrix, upc
from ui.dialogs.receive_stock import NOTHING_SCANNED, TYPE_LOT_TEXT, ReceiveStockDialog
from ui.docks.inventory import RECEIVE_SHORTCUT, InventoryDock
from ui.scanner import ScanRouter
from ui.tasks import TaskRunner

LISINOPRIL_100 = "65862-039-01"
LISINOPRIL_30 = "65862-039-30"
OXYCODONE_100 = "65162-047-10"  # C-II
TODAY = date.today()


@pytest.fixture
def receiving(services: Services, admin: Actor) -> ReceivingService:
    load_demo_catalogue(services, admin)
    return services.receiving


def receipts(services: Services) -> int:
    with services.database.reading() as session:
        return session.scalar(select(func.count(Receipt.id))) or 0


def typed(qtbot, dialog: ReceiveStockDialog, name: str, text: str) -> None:
    edit = control(dialog, name)
    assert isinstance(edit, QLineEdit)
    edit.clear()
    qtbot.keyClicks(edit, text)


def open_dialog(qtbot, receiving: ReceivingService, actor: Actor) -> ReceiveStockDialog:
    dialog = show_active(qtbot, ReceiveStockDialog(receiving, actor, today=TODAY))
    typed(qtbot, dialog, "Supplier", "Cardinal Health")
    typed(qtbot, dialog, "Invoice number", "INV-55")
    return dialog  # type: ignore[return-value]


def test_scans_one_after_another_are_saved_as_one_receipt(
    qtbot, services: Services, receiving: ReceivingService, technician: Actor
) -> None:
    dialog = open_dialog(qtbot, receiving, technician)
    typed(qtbot, dialog, "Unit cost ($ per package)", "12.50")
    dialog.scan.accept_scan(datamatrix(LISINOPRIL_100, lot="DM1", serial="S1"), manual=False)
    dialog.scan.accept_scan(datamatrix(LISINOPRIL_100, lot="DM1", serial="S2"), manual=False)

    # A UPC carries no lot: the dialog asks for it, and Enter on the expiry adds the line.
    dialog.scan.accept_scan(upc(LISINOPRIL_30), manual=False)
    assert control(dialog, "Message").text() == TYPE_LOT_TEXT
    assert QApplication.focusWidget() is control(dialog, "Lot")
    qtbot.keyClicks(control(dialog, "Lot"), "UPC-LOT")
    qtbot.keyClick(control(dialog, "Lot"), Qt.Key.Key_Return)
    assert QApplication.focusWidget() is control(dialog, "Expiry")
    qtbot.keyClicks(control(dialog, "Expiry"), EXPIRY.isoformat())
    qtbot.keyClick(control(dialog, "Expiry"), Qt.Key.Key_Return)
    assert QApplication.focusWidget() is dialog.scan

    listed = control(dialog, "Received packages")
    assert isinstance(listed, QListWidget) and listed.count() == 3
    assert "serial S2" in listed.item(1).text() and "$12.50 each" in listed.item(1).text()
    assert "lot UPC-LOT" in listed.item(2).text()

    # A line scanned by mistake is taken off the list with Delete.
    dialog.scan.accept_scan(datamatrix(LISINOPRIL_100, lot="DM1", serial="S3"), manual=False)
    listed.setFocus()
    qtbot.keyClick(listed, Qt.Key.Key_Delete)
    assert listed.count() == 3 and len(dialog.lines) == 3

    with qtbot.waitSignal(dialog.accepted):
        qtbot.keyClick(dialog.scan, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert dialog.receipt is not None
    assert [line.quantity for line in dialog.receipt.lines] == [
        Decimal(100),
        Decimal(100),
        Decimal(30),
    ]
    with services.database.reading() as session:
        lot = session.scalars(select(StockLot).where(StockLot.lot_number == "DM1")).one()
        assert lot.on_hand == Decimal(200) and lot.unit_cost_cents == 1250


def test_a_refusal_is_said_in_the_message_line_and_saves_nothing(
    qtbot, services: Services, receiving: ReceivingService, pharmacist: Actor
) -> None:
    dialog = open_dialog(qtbot, receiving, pharmacist)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert control(dialog, "Message").text() == NOTHING_SCANNED

    dialog.scan.accept_scan(datamatrix(OXYCODONE_100, lot="OX", serial="C1"), manual=False)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.receipt is None
    assert "DEA Form 222 / CSOS order number" in control(dialog, "Message").text()
    assert receipts(services) == 0

    typed(qtbot, dialog, "DEA order number", "X1234567")
    typed(qtbot, dialog, "DEA order date", TODAY.isoformat())
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.receipt is not None and dialog.receipt.dea_order_number == "X1234567"
    assert receipts(services) == 1


def test_the_inventory_dock_opens_receiving_with_its_shortcut(
    qtbot, services: Services, receiving: ReceivingService, technician: Actor
) -> None:
    dock = InventoryDock(
        stock=services.stock, tasks=TaskRunner(), actor=lambda: technician, receiving=receiving
    )
    qtbot.addWidget(dock)
    dock.show()
    assert RECEIVE_SHORTCUT in dock.receive_button.text()
    dock.table.setFocus()
    qtbot.waitUntil(lambda: dock.table.hasFocus())
    qtbot.keyClick(
        dock.table,
        Qt.Key.Key_R,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(
        lambda: any(
            isinstance(widget, ReceiveStockDialog) and widget.isVisible()
            for widget in QApplication.topLevelWidgets()
        )
    )
    without = InventoryDock(stock=services.stock, tasks=TaskRunner(), actor=lambda: technician)
    qtbot.addWidget(without)
    assert not without.receive_button.isEnabled() and without.receive_stock() is None


def test_a_scanner_burst_routed_while_the_dialog_is_open_lands_in_its_scan_field(
    qtbot, services: Services, receiving: ReceivingService, technician: Actor
) -> None:
    router = ScanRouter()
    unclaimed: list[str] = []
    router.unclaimed_scan.connect(unclaimed.append)
    dock = InventoryDock(
        stock=services.stock, tasks=TaskRunner(), actor=lambda: technician, receiving=receiving
    )
    qtbot.addWidget(dock)
    dock.attach_scanner(router)
    dialog = dock.receive_stock()
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)

    router.route(datamatrix(LISINOPRIL_100, lot="RT1", serial="R1"))
    assert len(dialog.lines) == 1 and unclaimed == []

    dialog.reject()
    router.route(datamatrix(LISINOPRIL_100, lot="RT1", serial="R2"))
    assert len(dialog.lines) == 1 and len(unclaimed) == 1
