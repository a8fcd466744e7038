"""The Payment dock's register: a full pickup from the keyboard — scan the bag label, split
tender, a signature drawn on the pad, counseling accepted reaching the pharmacist's list, the
pharmacist's mark, completion; a refused tender says why; a void needs a co-signature."""

from __future__ import annotations

from pathlib import Path

import pypdf
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import Fill, SaleSignature
from app.domain.fill_states import FillState
from app.services.payment import SaleStatus, SignaturePurpose, TenderKind
from app.services.unit_of_work import Actor
from tests.app.services.payment_data import make_register, ready_fill
from ui.docks.payment import PaymentDock
from ui.docks.worklist import WorklistDock
from ui.tasks import TaskRunner
from ui.widgets.signature_pad import SignaturePad

TIMEOUT_MS = 10_000


def _dock(qtbot, services: Services, admin: Actor, actor: Actor, cosign=lambda _p: None):
    register = make_register(services, admin)
    tasks = TaskRunner()
    dock = PaymentDock(
        fills=services.fills,
        will_call_aging=services.workflow.will_call_aging,
        payment=register,
        receipts=services.receipts,
        drawer=services.drawer,
        cosign=cosign,
        tasks=tasks,
        actor=lambda: actor,
    )
    qtbot.addWidget(dock)
    dock.show()
    return dock, register, tasks


def _label(services: Services, fill_id: int) -> str:
    with services.database.reading() as session:
        fill = session.get(Fill, fill_id)
        assert fill is not None
        return f"RX{fill.prescription.rx_number}-{fill.fill_number}"


def _act(qtbot, panel, key: str | Qt.Key, widget=None) -> None:
    """Press a key (or type text + Enter) and wait for the register's answer."""
    _focus(qtbot, widget or panel.find_field)
    with qtbot.waitSignal(panel.sale_changed, timeout=TIMEOUT_MS):
        if isinstance(key, str):
            widget.setFocus()
            qtbot.keyClicks(widget, key)
            qtbot.keyClick(widget, Qt.Key.Key_Return)
        else:
            qtbot.keyClick(widget or panel.find_field, key)


def _focus(qtbot, widget) -> None:
    """Shortcuts work in the active window only: the register's, not the work list's."""
    widget.window().activateWindow()
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=TIMEOUT_MS)


def _sign(qtbot, panel, purpose: SignaturePurpose) -> None:
    panel.signature.draw_stroke([QPointF(20, 80), QPointF(120, 40), QPointF(260, 90)])
    panel.signature_purpose.setCurrentIndex(panel.signature_purpose.findData(purpose))
    panel.signer_field.setText("Wendell Quibble")
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.sale_changed, timeout=TIMEOUT_MS):
        qtbot.keyClick(
            panel.find_field,
            Qt.Key.Key_S,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
        )


def test_a_full_pickup_with_split_tender_signature_and_counseling(
    qtbot, services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    patient_id, new_rx = ready_fill(services, admin, fill_number=0, patient_pay_cents=1500)
    _, refill = ready_fill(services, admin, patient_id=patient_id, patient_pay_cents=None)
    dock, register, tasks = _dock(qtbot, services, admin, technician)
    panel = dock.register
    assert dock.focus_target() is panel.find_field

    _act(qtbot, panel, _label(services, refill), panel.find_field)
    assert panel.sale is not None
    assert {line.fill_id for line in panel.sale.lines} == {new_rx, refill}
    assert panel.sale.total_cents == 1500 + 999
    assert "Offer counseling" in panel.missing.text()

    # Counseling accepted: the patient goes on the pharmacist's list.
    with qtbot.waitSignal(panel.sale_changed, timeout=TIMEOUT_MS):
        qtbot.keyClick(
            panel.find_field,
            Qt.Key.Key_Y,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier,
        )
    assert panel.sale.counseling == "waiting"
    worklist = WorklistDock(
        worklist=services.worklist,
        tasks=tasks,
        actor=lambda: pharmacist,
        mark_counseled=register.mark_counseled,
    )
    qtbot.addWidget(worklist)
    worklist.show()
    with qtbot.waitSignal(worklist.loaded, timeout=TIMEOUT_MS):
        worklist.reload()
    [item] = [row for row in worklist.model.rows if row.kind == "counseling"]
    assert "Quibble" in item.summary and item.kind_label == "Counseling"

    # Split tender: $10.00 on a credit card (F7), the rest in cash with $20.00 handed over (F6).
    panel.amount_field.setText("10.00")
    _act(qtbot, panel, Qt.Key.Key_F7, panel.amount_field)
    panel.amount_field.setText("20")
    _act(qtbot, panel, Qt.Key.Key_F6, panel.amount_field)
    assert panel.sale.balance_due_cents == 0
    assert panel.sale.change_given_cents == 2000 - (2499 - 1000)
    assert "Change $5.01" in panel.totals.text()

    _sign(qtbot, panel, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    assert panel.signature.is_empty  # cleared once saved
    # Completing before the pharmacist's mark is refused with the reason.
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.failed, timeout=TIMEOUT_MS):
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F12)
    assert "not yet marked the patient counseled" in panel.message.text()

    # The pharmacist marks the patient counseled from the work list (Enter on the item).
    _focus(qtbot, worklist.table)
    worklist.table.setCurrentIndex(worklist.table.model().index(0, 0))
    with qtbot.waitSignal(worklist.loaded, timeout=TIMEOUT_MS):
        qtbot.keyClick(worklist.table, Qt.Key.Key_Return)
    assert not [row for row in worklist.model.rows if row.kind == "counseling"]
    panel.refresh()  # the main window does so when the work list reloads
    qtbot.waitUntil(
        lambda: panel.sale is not None and panel.sale.counseling == "counseled",
        timeout=TIMEOUT_MS,
    )
    assert panel.missing.text() == "Ready to complete."

    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.sale_completed, timeout=TIMEOUT_MS) as completed:
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F12)
    sale = completed.args[0]
    assert sale.status is SaleStatus.COMPLETED
    assert "completed" in panel.message.text() and "Change due $5.01" in panel.message.text()
    with services.database.reading() as session:
        states = {
            fill.id: fill.state
            for fill in session.scalars(select(Fill).where(Fill.id.in_([new_rx, refill])))
        }
        assert set(states.values()) == {FillState.SOLD.value}
        png = session.scalars(select(SaleSignature.png)).one()
    image = QImage.fromData(png, "PNG")
    assert not image.isNull() and image.width() >= 420


def test_a_receipt_to_pdf_and_the_drawer_closed(
    qtbot, tmp_path: Path, services: Services, admin: Actor, technician: Actor
) -> None:
    _patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=1250)
    dock, _register, _tasks = _dock(qtbot, services, admin, technician)
    panel = dock.register
    _act(qtbot, panel, _label(services, fill_id), panel.find_field)
    panel.amount_field.setText("20")
    _act(qtbot, panel, Qt.Key.Key_F6, panel.amount_field)
    _sign(qtbot, panel, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.sale_completed, timeout=TIMEOUT_MS):
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F12)
    assert panel.receipt_button.isEnabled()

    path = tmp_path / "receipt.pdf"
    with qtbot.waitSignal(panel.receipt_saved, timeout=TIMEOUT_MS):
        panel.save_receipt_pdf(str(path))
    # Fixed-pitch text comes out of the PDF with spaces and tabs anywhere: compare without.
    text = "".join("".join(p.extract_text() for p in pypdf.PdfReader(path).pages).split())
    assert "Sale1" in text and "TOTAL$12.50" in text and "Change$7.50" in text

    panel.close_drawer()
    dialog = panel.drawer_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT_MS)
    assert dialog.expected.line(TenderKind.CASH).expected_cents == 1250
    dialog.counted[TenderKind.CASH].setText("12.00")
    dialog.close_drawer()
    assert "differs" in dialog.message.text() and dialog.isVisible()
    dialog.note.setPlainText("Fifty cents short")
    with qtbot.waitSignal(panel.drawer_closed, timeout=TIMEOUT_MS) as closed:
        dialog.close_drawer()
    assert closed.args[0].line(TenderKind.CASH).difference_cents == -50
    assert "Cash -$0.50" in panel.message.text()


def test_a_declined_card_is_said_in_the_message_line(
    qtbot, services: Services, admin: Actor, technician: Actor
) -> None:
    _patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=1213)
    dock, _register, _tasks = _dock(qtbot, services, admin, technician)
    panel = dock.register
    _act(qtbot, panel, _label(services, fill_id), panel.find_field)
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.failed, timeout=TIMEOUT_MS):
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F8)  # debit for the balance, $12.13
    assert "declined" in panel.message.text()
    assert panel.sale is not None and panel.sale.paid_cents == 0


def test_voiding_needs_a_cosignature(
    qtbot, services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    _patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=800)
    approvals: list[str] = []

    def cosign(purpose: str) -> Actor | None:
        approvals.append(purpose)
        return pharmacist if len(approvals) > 1 else None

    dock, _register, _tasks = _dock(qtbot, services, admin, technician, cosign)
    panel = dock.register
    _act(qtbot, panel, _label(services, fill_id), panel.find_field)
    panel.void_reason.setText("Wrong patient")
    panel.void_button.click()
    assert "nobody approved it" in panel.message.text()
    with qtbot.waitSignal(panel.sale_changed, timeout=TIMEOUT_MS) as changed:
        panel.void_button.click()
    assert changed.args[0].status is SaleStatus.VOIDED
    assert approvals == ["Void sale 1: Wrong patient"] * 2


def test_the_signature_pad_draws_and_clears(qtbot) -> None:
    pad = SignaturePad()
    qtbot.addWidget(pad)
    pad.show()
    assert pad.is_empty
    with qtbot.waitSignal(pad.signed):
        qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=pad.rect().center())
    qtbot.mouseMove(pad, pad.rect().center() + pad.rect().center() / 2)
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton)
    assert not pad.is_empty
    assert pad.png().startswith(b"\x89PNG")
    pad.clear()
    assert pad.is_empty


def test_a_refund_needs_a_cosignature_and_never_exceeds_what_was_paid(
    qtbot, services: Services, admin: Actor, technician: Actor, pharmacist: Actor
) -> None:
    _patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=1000)
    approvals: list[str] = []

    def cosign(purpose: str) -> Actor | None:
        approvals.append(purpose)
        return pharmacist if len(approvals) > 1 else None

    dock, _register, _tasks = _dock(qtbot, services, admin, technician, cosign)
    panel = dock.register
    _act(qtbot, panel, _label(services, fill_id), panel.find_field)
    _act(qtbot, panel, Qt.Key.Key_F6, panel.amount_field)  # cash for the balance
    _sign(qtbot, panel, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.sale_completed, timeout=TIMEOUT_MS) as completed:
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F12)
    sale_id = completed.args[0].sale_id

    panel.refund_sale.setText(str(sale_id))
    panel.refund_amount.setText("4.00")
    panel.refund_reason.setText("Copay corrected by the plan")
    panel.refund_button.click()
    assert "nobody approved it" in panel.message.text()
    with qtbot.waitSignal(panel.sale_changed, timeout=TIMEOUT_MS) as changed:
        panel.refund_button.click()
    assert changed.args[0].refunded_cents == 400
    assert "$4.00 refunded to cash" in panel.message.text()

    panel.refund_sale.setText(str(sale_id))
    panel.refund_amount.setText("7.00")
    panel.refund_reason.setText("Again")
    with qtbot.waitSignal(panel.failed, timeout=TIMEOUT_MS):
        panel.refund_button.click()
    assert "Only $6.00" in panel.message.text()
