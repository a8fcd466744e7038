"""The Count stock dialog: scanned and typed counts, recount, submit with the house's second
signature, a co-signed approval and the DEA Form 106 prompt; resume; the dock's entry point."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QListWidget
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import DeaLossReport, DrugPackage, StockLot
from app.domain.roles import Role
from app.services.house_settings import CountPolicy, SecondSignature
from app.services.unit_of_work import Actor
from tests.app.services.inventory_data import add_user
from tests.app.services.pharmacy_data import load_demo_catalogue
from tests.conftest import TEST_PASSWORD
from tests.ui.dialogs.helpers import audit_trail, control
from tests.ui.dialogs.keyboard import show_active, visible_mnemonics
from tests.ui.verification_data import EXPIRY, datamatrix, upc
from ui.dialogs.cosign import CosignDialog
from ui.dialogs.cycle_count import (
    APPROVE_SHORTCUT,
    NO_COSIGN_TEXT,
    CycleCountDialog,
    Form106Dialog,
)
from ui.docks.inventory import COUNT_SHORTCUT, InventoryDock
from ui.main_window import MainWindow
from ui.models.counts import CountLinesModel
from ui.scanner import ScanRouter
from ui.session import SessionController
from ui.tasks import TaskRunner

LISINOPRIL_100 = "65862-039-01"
OXYCODONE_100 = "65162-047-10"  # C-II


@pytest.fixture
def catalogue(services: Services, admin: Actor) -> None:
    load_demo_catalogue(services, admin)


@pytest.fixture
def colleague(services: Services, admin: Actor) -> Actor:
    return add_user(services, admin, "toby", Role.TECHNICIAN)


def stock(services: Services, actor: Actor, ndc: str, lot: str, quantity: int) -> int:
    with services.database.reading() as session:
        package_id = session.scalars(select(DrugPackage.id).where(DrugPackage.ndc == ndc)).one()
    change = services.inventory.receive(
        actor, package_id, lot_number=lot, expiry=EXPIRY, quantity=quantity
    )
    return change.lot.lot_id


def on_hand(services: Services, lot_id: int) -> Decimal:
    with services.database.reading() as session:
        return session.get_one(StockLot, lot_id).on_hand


def ctrl(qtbot, widget, key: Qt.Key, *, shift: bool = False) -> None:
    modifiers = Qt.KeyboardModifier.ControlModifier
    if shift:
        modifiers |= Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(widget, key, modifiers)


def line_id(dialog: CycleCountDialog, lot_id: int) -> int:
    assert dialog.session is not None
    return next(line.line_id for line in dialog.session.lines if line.lot_id == lot_id)


def flag(dialog: CycleCountDialog, lot_id: int) -> str:
    position = dialog.model.position_of(line_id(dialog, lot_id))
    assert position is not None
    return dialog.model.display(dialog.model.row_at(position), CountLinesModel.FLAG)


def test_a_scanned_count_is_recounted_submitted_approved_and_its_form_106_recorded(
    qtbot,
    services: Services,
    catalogue: None,
    technician: Actor,
    colleague: Actor,
    pharmacist: Actor,
) -> None:
    lisinopril = stock(services, technician, LISINOPRIL_100, "L1", 200)
    oxycodone = stock(services, technician, OXYCODONE_100, "OX", 100)
    asked: dict[str, str] = {}

    def cosign(purpose: str) -> Actor:
        asked["cosign"] = purpose
        return pharmacist

    def witness(purpose: str) -> Actor:
        asked["witness"] = purpose
        return colleague

    dialog = show_active(
        qtbot, CycleCountDialog(services.counts, technician, cosign=cosign, witness=witness)
    )
    assert isinstance(dialog, CycleCountDialog)
    assert "house policy, not a DEA rule" in control(dialog, "Count rules").text()
    assert control(dialog, "Location").hasFocus()
    mnemonics = visible_mnemonics(dialog)
    assert len(mnemonics) == len(set(mnemonics)), mnemonics
    qtbot.mouseClick(dialog.start_location_button, Qt.MouseButton.LeftButton)
    assert dialog.session is not None and len(dialog.session.lines) == 2
    assert QApplication.focusWidget() is dialog.scan

    dialog.scan.accept_scan(datamatrix(LISINOPRIL_100, lot="L1", serial="1"), manual=False)
    dialog.scan.accept_scan(datamatrix(LISINOPRIL_100, lot="L1", serial="2"), manual=False)
    assert flag(dialog, lisinopril) == "" and flag(dialog, oxycodone) == "Must be counted"

    # The opened C-II bottle is typed for the chosen lot: short by three.
    assert dialog.select_line(line_id(dialog, oxycodone))
    units = control(dialog, "Units counted")
    qtbot.keyClicks(units, "97")
    qtbot.keyClick(units, Qt.Key.Key_Return)
    assert flag(dialog, oxycodone) == "Recount needed"
    assert "1 to recount" in control(dialog, "Count").text()
    ctrl(qtbot, dialog.table, Qt.Key.Key_S)
    assert "must be recounted" in control(dialog, "Message").text()
    assert dialog.session.status == "counting"

    qtbot.keyClicks(units, "97")
    ctrl(qtbot, units, Qt.Key.Key_R)
    assert flag(dialog, oxycodone) == "Difference (recounted)"
    ctrl(qtbot, dialog.table, Qt.Key.Key_S)
    assert dialog.session.status == "submitted" and dialog.session.second_signer == "toby"
    assert asked["witness"] == f"count {dialog.session.session_id} of the shelf"

    assert APPROVE_SHORTCUT in dialog.approve_button.text()
    ctrl(qtbot, dialog.table, Qt.Key.Key_A, shift=True)
    assert asked["cosign"].startswith(f"approve count {dialog.session.session_id}")
    assert dialog.approved is not None and dialog.session.status == "approved"
    assert on_hand(services, oxycodone) == Decimal(97)
    assert on_hand(services, lisinopril) == Decimal(200)

    prompt = dialog.form_106_dialog
    assert isinstance(prompt, Form106Dialog)
    qtbot.waitUntil(prompt.isVisible)
    prompt.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is prompt)
    assert "3 units of" in control(prompt, "Form 106 due").text()
    qtbot.mouseClick(prompt.file_button, Qt.MouseButton.LeftButton)
    assert "Type the reference DEA gave" in control(prompt, "Message").text()
    qtbot.keyClicks(control(prompt, "DEA reference"), "DEA-2026-0042")
    with qtbot.waitSignal(prompt.accepted):
        ctrl(qtbot, control(prompt, "DEA reference"), Qt.Key.Key_S)
    with services.database.reading() as session:
        report = session.scalars(select(DeaLossReport)).one()
    assert (report.status, report.dea_reference) == ("filed", "DEA-2026-0042")
    assert report.filed_by_user_id == pharmacist.user_id


def test_a_upc_asks_for_the_lot_and_nobody_cosigning_approves_nothing(
    qtbot, services: Services, catalogue: None, technician: Actor
) -> None:
    lot = stock(services, technician, LISINOPRIL_100, "U1", 100)
    dialog = show_active(
        qtbot, CycleCountDialog(services.counts, technician, cosign=lambda _purpose: None)
    )
    assert isinstance(dialog, CycleCountDialog)
    qtbot.mouseClick(dialog.start_location_button, Qt.MouseButton.LeftButton)
    dialog.scan.accept_scan(upc(LISINOPRIL_100), manual=False)
    assert "carries no lot" in control(dialog, "Message").text()
    assert QApplication.focusWidget() is control(dialog, "Lot")
    qtbot.keyClicks(control(dialog, "Lot"), "U1")
    qtbot.keyClick(control(dialog, "Lot"), Qt.Key.Key_Return)
    assert dialog.session is not None
    assert dialog.session.lines[0].counted == Decimal(100)
    assert QApplication.focusWidget() is dialog.scan

    ctrl(qtbot, dialog.scan, Qt.Key.Key_S)  # no second signature for a plain count
    assert dialog.session.status == "submitted"
    ctrl(qtbot, dialog.table, Qt.Key.Key_A, shift=True)
    assert control(dialog, "Message").text() == NO_COSIGN_TEXT
    assert dialog.approved is None and dialog.session.status == "submitted"
    assert on_hand(services, lot) == Decimal(100)


def test_an_interrupted_count_is_resumed_from_the_list(
    qtbot, services: Services, catalogue: None, technician: Actor
) -> None:
    lot = stock(services, technician, LISINOPRIL_100, "R1", 100)
    started = services.counts.start(technician, location="shelf")
    services.counts.set_count(technician, started.session_id, started.lines[0].line_id, 60)

    dialog = show_active(qtbot, CycleCountDialog(services.counts, technician))
    assert isinstance(dialog, CycleCountDialog)
    listed = control(dialog, "Counts in progress")
    assert isinstance(listed, QListWidget) and listed.count() == 1
    assert "started by tess" in listed.item(0).text()
    listed.setFocus()
    qtbot.keyClick(listed, Qt.Key.Key_Return)
    assert dialog.session is not None and dialog.session.session_id == started.session_id
    assert flag(dialog, lot) == "Difference"
    assert dialog.model.display(dialog.model.row_at(0), CountLinesModel.DIFFERENCE) == "-40"

    # A second start of the same location is refused, naming who holds it.
    qtbot.mouseClick(dialog.start_location_button, Qt.MouseButton.LeftButton)
    assert "already being counted: Tess (tess)" in control(dialog, "Message").text()


def test_a_bad_typed_count_is_said_in_the_message_line(
    qtbot, services: Services, catalogue: None, technician: Actor
) -> None:
    stock(services, technician, LISINOPRIL_100, "B1", 100)
    started = services.counts.start(technician, location="shelf")
    dialog = show_active(
        qtbot, CycleCountDialog(services.counts, technician, session_id=started.session_id)
    )
    assert isinstance(dialog, CycleCountDialog)
    units = control(dialog, "Units counted")
    assert isinstance(units, QLineEdit)
    qtbot.keyClicks(units, "12")
    qtbot.keyClick(units, Qt.Key.Key_Return)
    assert "Choose the lot in the table first" in control(dialog, "Message").text()
    dialog.table.selectRow(0)
    units.clear()
    qtbot.keyClicks(units, "-3")
    qtbot.keyClick(units, Qt.Key.Key_Return)
    assert "A count is 0 or more" in control(dialog, "Message").text()
    assert dialog.session is not None and dialog.session.lines[0].counted is None


def test_a_witness_signs_in_the_cosign_dialog(
    qtbot, services: Services, technician: Actor, colleague: Actor
) -> None:
    dialog = CosignDialog(services, technician, purpose="count 3 of the shelf", witness=True)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.windowTitle().startswith("Witness signature")
    assert "other than you" in control(dialog, "What needs approval").text()
    qtbot.keyClicks(control(dialog, "Witness's user name"), "toby")
    qtbot.keyClicks(control(dialog, "Password"), TEST_PASSWORD)
    with qtbot.waitSignal(dialog.accepted):
        qtbot.keyClick(control(dialog, "Password"), Qt.Key.Key_Return)
    assert dialog.pharmacist == colleague
    assert (audit_trail(services)[-1].action, audit_trail(services)[-1].username) == (
        "witness",
        "toby",
    )


def test_the_inventory_dock_opens_the_count_with_its_shortcut(
    qtbot, services: Services, catalogue: None, technician: Actor
) -> None:
    router = ScanRouter()
    dock = InventoryDock(
        stock=services.stock,
        tasks=TaskRunner(),
        actor=lambda: technician,
        counts=services.counts,
        catalogue=services.catalogue,
    )
    qtbot.addWidget(dock)
    dock.attach_scanner(router)
    dock.show()
    assert COUNT_SHORTCUT in dock.count_button.text()
    dock.table.setFocus()
    qtbot.waitUntil(lambda: dock.table.hasFocus())
    ctrl(qtbot, dock.table, Qt.Key.Key_C, shift=True)
    qtbot.waitUntil(
        lambda: any(
            isinstance(widget, CycleCountDialog) and widget.isVisible()
            for widget in QApplication.topLevelWidgets()
        )
    )
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, CycleCountDialog))
    qtbot.mouseClick(dialog.start_location_button, Qt.MouseButton.LeftButton)
    stock(services, technician, LISINOPRIL_100, "D1", 100)
    router.route(datamatrix(LISINOPRIL_100, lot="D1", serial="9"))
    assert dialog.session is not None and dialog.session.lines[0].counted == Decimal(100)
    dialog.reject()

    without = InventoryDock(stock=services.stock, tasks=TaskRunner(), actor=lambda: technician)
    qtbot.addWidget(without)
    assert not without.count_button.isEnabled() and without.count_stock() is None


def test_the_pharmacist_opens_a_count_from_its_work_list_item(
    qtbot, services: Services, ui_context, seeded_pharmacy, technician: Actor, pharmacist: Actor
) -> None:
    started = services.counts.start(technician, location="shelf")
    # The seeded shelf lot stands at 0 on hand: five tablets are found.
    line = services.counts.scan(
        technician, started.session_id, "0000-1111-01", lot_number="L-SHORT", quantity=5
    )
    services.counts.submit(technician, started.session_id)
    [item] = [row for row in services.worklist.items(pharmacist) if row.kind == "count_approval"]

    session = SessionController(services, idle_minutes=5)
    window = MainWindow(ui_context, session)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.all_docks_loaded, timeout=10_000):
        session.sign_in_as(pharmacist)
    assert window.inventory.count_action in window.inventory.menu_actions
    window.worklist.item_opened.emit(item)
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, CycleCountDialog))
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.session is not None and dialog.session.session_id == started.session_id
    qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert dialog.approved is not None
    assert on_hand(services, line.lot_id) == Decimal(5)
    dialog.reject()


def test_a_form_106_left_for_later_is_recorded_from_its_work_list_item(
    qtbot, services: Services, ui_context, seeded_pharmacy, technician: Actor, pharmacist: Actor
) -> None:
    services.house_settings.set_count_policy(
        pharmacist, CountPolicy(second_signature=SecondSignature.NONE)
    )
    with services.database.reading() as session:
        oxycodone = session.scalars(
            select(DrugPackage.id).where(DrugPackage.ndc == "0000-2222-01")
        ).one()
    started = services.counts.start(technician, package_id=oxycodone)
    [line] = started.lines  # the seeded schedule II lot, 200 on hand
    for record in (services.counts.set_count, services.counts.recount):
        record(technician, started.session_id, line.line_id, line.expected - 4)
    services.counts.submit(technician, started.session_id)
    [report] = services.counts.approve(pharmacist, started.session_id).loss_reports
    [item] = [row for row in services.worklist.items(pharmacist) if row.kind == "dea_106"]

    session = SessionController(services, idle_minutes=5)
    window = MainWindow(ui_context, session)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.all_docks_loaded, timeout=10_000):
        session.sign_in_as(pharmacist)
    window.worklist.item_opened.emit(item)
    prompt = next(w for w in QApplication.topLevelWidgets() if isinstance(w, Form106Dialog))
    qtbot.waitUntil(prompt.isVisible)
    assert "4 units of" in control(prompt, "Form 106 due").text()
    qtbot.keyClicks(control(prompt, "DEA reference"), "DEA-LATER-1")
    with qtbot.waitSignal(prompt.accepted):
        qtbot.mouseClick(prompt.file_button, Qt.MouseButton.LeftButton)
    [filed] = services.counts.loss_reports(pharmacist, include_closed=True)
    assert (filed.report_id, filed.status, filed.dea_reference) == (
        report.report_id,
        "filed",
        "DEA-LATER-1",
    )
    assert window.inventory.record_form_106(report.report_id) is None
    assert "no longer due" in window.inventory.notice.text()
