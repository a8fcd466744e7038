"""The Payment dock's register: a full pickup from the keyboard — scan the bag label, split
tender, a signature drawn on the pad, counseling accepted reaching the pharmacist's list, the
pharmacist's mark, completion; a refused tender says why; a void needs a co-signature."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import pypdf
from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import Fill, SaleSignature
from app.domain.fill_states import FillState
from app.domain.receipts import ReceiptContent
from app.errors import PrinterOffline
from app.services.payment import SaleStatus, SignaturePurpose, TenderKind
from app.services.unit_of_work import Actor
from tests.app.services.payment_data import make_register, ready_fill
from tests.ui.labels.conftest import CupsPdfPrinter, cups_pdf_printer  # noqa: F401 (fixture)
from tests.ui.labels.test_cups import wait_for_pdf
from ui.dialogs.label_printer import LabelPrinterDialog
from ui.docks.payment import PaymentDock
from ui.docks.worklist import WorklistDock
from ui.labels.output import PrintOutcome
from ui.labels.receipts import print_receipt
from ui.tasks import TaskRunner
from ui.widgets import register as register_module
from ui.widgets.register import RECEIPT_PRINTER_KEY, ReceiptPrinting
from ui.widgets.signature_pad import SignaturePad

TIMEOUT_MS = 10_000


def _dock(
    qtbot,
    services: Services,
    admin: Actor,
    actor: Actor,
    cosign=lambda _p: None,
    *,
    settings=None,
    receipt_printing: ReceiptPrinting | None = None,
):
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
        settings=settings or QSettings,
        receipt_printing=receipt_printing,
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


def _settings(tmp_path: Path):
    return lambda: QSettings(str(tmp_path / "window-state.ini"), QSettings.Format.IniFormat)


def _completed_sale(qtbot, services: Services, admin: Actor, panel) -> None:
    _patient_id, fill_id = ready_fill(services, admin, patient_pay_cents=1250)
    _act(qtbot, panel, _label(services, fill_id), panel.find_field)
    panel.amount_field.setText("20")
    _act(qtbot, panel, Qt.Key.Key_F6, panel.amount_field)
    _sign(qtbot, panel, SignaturePurpose.RECEIPT_OF_PRESCRIPTIONS)
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.sale_completed, timeout=TIMEOUT_MS):
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F12)


def _choose_in_printer_dialog(printer: str, seen: list[str]) -> None:
    """Answer the receipt printer dialog once it is shown (it runs its own event loop)."""

    def answer() -> None:
        dialogs = [
            widget
            for widget in QApplication.topLevelWidgets()
            if isinstance(widget, LabelPrinterDialog) and widget.isVisible()
        ]
        if not dialogs:
            QTimer.singleShot(20, answer)
            return
        seen.append(dialogs[0].question.text())
        dialogs[0].printers.setCurrentText(printer)
        dialogs[0].accept()

    QTimer.singleShot(0, answer)


class FakeReceiptPrinters:
    """Installed printers and the receipts sent to them; `fault` refuses every job."""

    def __init__(self, names: list[str], fault: Exception | None = None) -> None:
        self.names = names
        self.fault = fault
        self.sent: list[tuple[int, str]] = []

    def printing(self) -> ReceiptPrinting:
        return ReceiptPrinting(lambda: list(self.names), self.print_receipt)

    def print_receipt(self, receipt: ReceiptContent, printer: str) -> PrintOutcome:
        if self.fault is not None:
            raise self.fault
        self.sent.append((receipt.sale_id, printer))
        return PrintOutcome(printer, 0, 0, 1, 203, "")


def test_the_receipt_printer_is_chosen_once_and_remembered(
    qtbot, tmp_path: Path, services: Services, admin: Actor, technician: Actor
) -> None:
    printers = FakeReceiptPrinters(["Front counter", "Drive-through"])
    settings = _settings(tmp_path)
    dock, _register, _tasks = _dock(
        qtbot, services, admin, technician, settings=settings, receipt_printing=printers.printing()
    )
    panel = dock.register
    assert "F4" in panel.print_receipt_button.text() and not panel.print_receipt_button.isEnabled()
    assert panel.receipt_printer_button.accessibleName() == "Choose the receipt printer"
    _completed_sale(qtbot, services, admin, panel)
    assert panel.print_receipt_button.isEnabled()

    # No receipt printer yet: F4 asks for one, prints there and remembers it.
    questions: list[str] = []
    _choose_in_printer_dialog("Drive-through", questions)
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.receipt_printed, timeout=TIMEOUT_MS) as printed:
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F4)
    assert "prints register receipts" in questions[0]
    assert printed.args[0].destination == "Drive-through"
    assert printers.sent == [(1, "Drive-through")]
    assert settings().value(RECEIPT_PRINTER_KEY) == "Drive-through"
    assert "printed on Drive-through" in panel.message.text()

    # Remembered: the next receipt goes straight to it, without a question.
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.receipt_printed, timeout=TIMEOUT_MS):
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F4)
    assert printers.sent == [(1, "Drive-through")] * 2

    # Chosen again from the button; a printer that vanished is named in the question.
    _choose_in_printer_dialog("Front counter", questions)
    assert panel.choose_receipt_printer() == "Front counter"
    assert settings().value(RECEIPT_PRINTER_KEY) == "Front counter"
    printers.names = ["Drive-through"]
    _choose_in_printer_dialog("Drive-through", questions)
    with qtbot.waitSignal(panel.receipt_printed, timeout=TIMEOUT_MS):
        panel.print_receipt()
    assert "“Front counter” is no longer installed" in questions[-1]
    assert printers.sent[-1] == (1, "Drive-through")


def test_a_receipt_printer_fault_is_shown_and_nothing_is_said_printed(
    qtbot, tmp_path: Path, monkeypatch, services: Services, admin: Actor, technician: Actor
) -> None:
    printers = FakeReceiptPrinters(
        ["Front counter"], fault=PrinterOffline("The printer Front counter is stopped.")
    )
    settings = _settings(tmp_path)
    settings().setValue(RECEIPT_PRINTER_KEY, "Front counter")
    shown: list[BaseException] = []
    # The Retry box is modal: answer Close, as the person would once they have read it.
    monkeypatch.setattr(register_module, "show_error", lambda _parent, exc: shown.append(exc))
    dock, _register, _tasks = _dock(
        qtbot, services, admin, technician, settings=settings, receipt_printing=printers.printing()
    )
    panel = dock.register
    _completed_sale(qtbot, services, admin, panel)
    printed: list[object] = []
    panel.receipt_printed.connect(printed.append)
    with qtbot.waitSignal(panel.failed, timeout=TIMEOUT_MS) as failed:
        panel.print_receipt()
    assert isinstance(failed.args[0], PrinterOffline) and shown == [failed.args[0]]
    assert panel.message.text().startswith("Printer offline:")
    assert "Nothing was printed" in panel.message.text()
    assert printed == [] and printers.sent == []


def test_a_receipt_printed_on_a_real_cups_printer(
    qtbot,
    tmp_path: Path,
    monkeypatch,
    cups_pdf_printer: CupsPdfPrinter,  # noqa: F811 (the fixture imported above)
    services: Services,
    admin: Actor,
    technician: Actor,
) -> None:
    settings = _settings(tmp_path)
    settings().setValue(RECEIPT_PRINTER_KEY, cups_pdf_printer.name)
    # cups-pdf names its file after the job: a name of this test's own finds its PDF.
    job_name = f"rxbench-receipt-{uuid.uuid4().hex[:8]}"
    dock, _register, _tasks = _dock(
        qtbot,
        services,
        admin,
        technician,
        settings=settings,
        receipt_printing=ReceiptPrinting(
            print_receipt=functools.partial(print_receipt, job_name=job_name)
        ),
    )
    panel = dock.register
    _completed_sale(qtbot, services, admin, panel)
    _focus(qtbot, panel.find_field)
    with qtbot.waitSignal(panel.receipt_printed, timeout=TIMEOUT_MS) as printed:
        qtbot.keyClick(panel.find_field, Qt.Key.Key_F4)
    assert printed.args[0].destination == cups_pdf_printer.name
    path = wait_for_pdf(cups_pdf_printer, job_name)
    text = "".join("".join(p.extract_text() for p in pypdf.PdfReader(path).pages).split())
    assert "Sale1" in text and "TOTAL$12.50" in text

    # The stopped queue: a printer fault, no job sent, nothing said printed.
    settings().setValue(RECEIPT_PRINTER_KEY, cups_pdf_printer.stopped_name)
    monkeypatch.setattr(register_module, "show_error", lambda _parent, _exc: False)
    jobs_before = cups_pdf_printer.job_ids()
    with qtbot.waitSignal(panel.failed, timeout=TIMEOUT_MS) as failed:
        panel.print_receipt()
    assert isinstance(failed.args[0], PrinterOffline)
    assert cups_pdf_printer.job_ids() == jobs_before
    assert "printed on" not in panel.message.text()
