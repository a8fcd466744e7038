"""Correcting a prescription the pharmacist sent back, from the fill queue, by keyboard alone."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from app.bootstrap import Services
from app.domain.fill_states import FillState
from app.services.unit_of_work import Actor
from tests.ui.dialogs.helpers import control
from tests.ui.dialogs.keyboard import alt, focused, visible_mnemonics
from tests.ui.docks.test_fill_queue_workflow import (
    opened_dialog,
    press_enter_on,
    queue_row,
    sign_in,
    state_in_queue,
)
from tests.ui.test_main_window import LOAD_TIMEOUT_MS, CosigningSession, open_window
from tests.ui.workflow_data import Intake, answer_reason, set_up_intake
from ui.context import UiContext
from ui.dialogs.pharmacist_review import PharmacistReviewDialog
from ui.dialogs.prescription import PrescriptionEntryDialog
from ui.main_window import MainWindow
from ui.scanner import ScannerSettings

REASON = "The written prescription says 60 tablets, not 30"
MAX_TABS = 40
# A person's pace: the window's scanner filter takes a fast burst ending in Enter for a scan.
TYPING_GAP_MS = ScannerSettings().max_gap_ms + 15


@pytest.fixture
def intake(services: Services, admin: Actor, technician: Actor) -> Intake:
    return set_up_intake(services, admin, technician)


@pytest.fixture
def session(services: Services, pharmacist: Actor) -> CosigningSession:
    return CosigningSession(services, pharmacist)


def activate(qtbot, widget: QWidget) -> None:
    """Mnemonics and shortcuts reach only the active window; offscreen, the test activates it."""
    widget.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget)


def send_back(qtbot, window: MainWindow, fill_id: int, reason: str) -> None:
    """The pharmacist: Enter on the fill opens data review; Tab to "Send back", Space, a reason.

    Space rather than the button's Alt letter: a mnemonic "animates" the click from a timer,
    and key events QTest sends to the reason dialog opened from that timer are lost.
    """
    press_enter_on(qtbot, window, fill_id)
    review = opened_dialog(qtbot, window, PharmacistReviewDialog)
    activate(qtbot, review)
    for _ in range(MAX_TABS):
        if focused(review) is review.send_back_button:
            break
        qtbot.keyClick(focused(review), Qt.Key.Key_Tab)
    assert focused(review) is review.send_back_button
    answer_reason(qtbot, reason)
    qtbot.keyClick(review.send_back_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.DATA_ENTRY)


def type_text(qtbot, dialog: QWidget, text: str) -> None:
    """Type into the focused field at a person's pace."""
    field = focused(dialog)
    qtbot.keyClicks(field, text, delay=TYPING_GAP_MS)


def opened_correction(qtbot, window: MainWindow, fill_id: int) -> PrescriptionEntryDialog:
    press_enter_on(qtbot, window, fill_id)
    qtbot.waitUntil(lambda: window.workflow.data_entry is not None, timeout=LOAD_TIMEOUT_MS)
    dialog = window.workflow.data_entry
    assert dialog is not None
    qtbot.waitExposed(dialog)
    activate(qtbot, dialog)
    return dialog


def test_a_sent_back_prescription_is_corrected_and_sent_back_to_the_pharmacist(
    qtbot,
    ui_context: UiContext,
    session: CosigningSession,
    services: Services,
    intake: Intake,
    technician: Actor,
    pharmacist: Actor,
):
    entered = intake.enter(sig_code="1 T PO QD")
    fill_id = entered.fill_id
    window = open_window(qtbot, ui_context, session, pharmacist)
    send_back(qtbot, window, fill_id, REASON)

    # The technician: Enter on the fill at data entry opens its prescription for correction.
    sign_in(qtbot, window, session, technician)
    dialog = opened_correction(qtbot, window, fill_id)
    assert dialog.windowTitle() == f"Correct Rx {entered.rx_number} — data entry"
    reason = control(dialog, "Pharmacist's reason")
    assert reason.isVisible()
    assert reason.text().startswith("Sent back by the pharmacist (phil, ")
    assert reason.text().endswith(f"): {REASON}")
    assert dialog.layout().itemAt(0).widget() is reason  # at the top, above every field
    assert control(dialog, "Quantity").text() == "30"
    assert control(dialog, "Sig").text() == "1 T PO QD"
    assert control(dialog, "Patient").text().startswith("Quillfeather, Maren")
    assert control(dialog, "Prescriber").text().startswith("Tobin Ashgrove, MD")
    assert dialog.drug.chosen is not None and dialog.drug.chosen.package_id == intake.package(
        "65862-039-30"
    )
    assert control(dialog, "Indication").text() == "hypertension"
    letters = visible_mnemonics(dialog)
    assert len(letters) == len(set(letters)), letters

    alt(qtbot, dialog, "q")
    assert focused(dialog).accessibleName() == "Quantity"
    type_text(qtbot, dialog, "60")
    qtbot.waitUntil(lambda: control(dialog, "Quantity").text() == "60")
    assert control(dialog, "Days supply").value() == 60
    with qtbot.waitSignal(dialog.sent_for_review) as sent:
        qtbot.keyClick(focused(dialog), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    row = sent.args[0]
    assert (row.state, row.quantity, row.days_supply) == (FillState.DATA_REVIEW, 60, 60)
    qtbot.waitUntil(lambda: window.workflow.data_entry is None)
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.DATA_REVIEW)
    queued = queue_row(window, fill_id)
    assert queued is not None and queued.quantity == Decimal(60)
    detail = services.prescriptions.get_prescription(technician, entered.rx_number)
    assert (detail.rx_number, detail.quantity, detail.send_back) == (
        entered.rx_number,
        Decimal(60),
        None,
    )

    # The pharmacist finds it back in data review with the corrected quantity.
    sign_in(qtbot, window, session, pharmacist)
    press_enter_on(qtbot, window, fill_id)
    review = opened_dialog(qtbot, window, PharmacistReviewDialog)
    assert control(review, "Quantity").text() == "60 EA"
    assert any(
        item.kind == "data_review" and entered.rx_number in item.summary
        for item in services.worklist.items(pharmacist)
    )


def test_a_refused_correction_is_shown_under_its_field_and_the_fill_stays_at_data_entry(
    qtbot,
    ui_context: UiContext,
    session: CosigningSession,
    services: Services,
    intake: Intake,
    technician: Actor,
    pharmacist: Actor,
):
    entered = intake.enter()
    fill_id = entered.fill_id
    window = open_window(qtbot, ui_context, session, pharmacist)
    send_back(qtbot, window, fill_id, "Check the refills against the written Rx")
    sign_in(qtbot, window, session, technician)
    dialog = opened_correction(qtbot, window, fill_id)

    alt(qtbot, dialog, "l")
    assert focused(dialog).accessibleName() == "Refills"
    type_text(qtbot, dialog, "2")
    alt(qtbot, dialog, "q")
    type_text(qtbot, dialog, "0")
    alt(qtbot, dialog, "o")  # override the days supply: none can be computed from 0
    assert focused(dialog).accessibleName() == "Days supply"
    type_text(qtbot, dialog, "30")
    qtbot.waitUntil(lambda: control(dialog, "Days supply").value() == 30)
    qtbot.keyClick(focused(dialog), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    assert dialog.isVisible()
    assert "more than zero" in control(dialog, "Quantity problem").text()
    assert "cannot be saved: 1 problem" in control(dialog, "Message").text()
    detail = services.prescriptions.get_prescription(technician, entered.rx_number)
    assert (detail.quantity, detail.refills_authorized) == (Decimal(30), 0)
    assert state_in_queue(window, fill_id) is FillState.DATA_ENTRY

    # Corrected again, the same dialog saves and sends.
    alt(qtbot, dialog, "q")
    assert focused(dialog).accessibleName() == "Quantity"
    qtbot.keyClick(focused(dialog), Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    type_text(qtbot, dialog, "30")
    qtbot.waitUntil(lambda: control(dialog, "Quantity").text() == "30")
    with qtbot.waitSignal(dialog.sent_for_review):
        qtbot.keyClick(focused(dialog), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    detail = services.prescriptions.get_prescription(technician, entered.rx_number)
    assert (detail.quantity, detail.refills_authorized) == (Decimal(30), 2)
    qtbot.waitUntil(lambda: state_in_queue(window, fill_id) is FillState.DATA_REVIEW)
