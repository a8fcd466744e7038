"""The register (point of sale) inside the Payment dock: find, cart, tenders, pickup, complete.

Keyboard first: F2 finds a patient (name, bag label scan or Rx number), F3 scans an OTC item,
F6–F11 take a tender for the amount typed (or the balance), F12 completes the sale, F4 prints
the completed sale's receipt on the workstation's receipt printer. Every service call runs off
the GUI thread; a refusal is shown in the message line, never a modal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.money import dollars, parse_dollars
from app.domain.receipts import ReceiptContent
from app.errors import RxBenchError, ValidationFailed
from app.services.drawer import DrawerService
from app.services.payment import (
    CARD_TENDERS,
    FillInAnotherSale,
    IdPurpose,
    IdType,
    PaymentService,
    SaleStatus,
    SaleView,
    SignaturePurpose,
    TenderKind,
)
from app.services.receipts import ReceiptService
from app.services.unit_of_work import Actor
from ui.dialogs.drawer_close import DrawerCloseDialog
from ui.dialogs.label_printer import ask_receipt_printer
from ui.docks.base import ActorSource, row_table
from ui.errors import explain, is_environment_fault, show_error
from ui.labels import output
from ui.labels import receipts as receipt_output
from ui.labels.output import PrintOutcome
from ui.models.sale import SaleLinesModel
from ui.tasks import TaskRunner
from ui.widgets.signature_pad import SignaturePad

Cosign = Callable[[str], Actor | None]

# F5 is the window's Reload: the tenders start at F6.
TENDER_KEYS = {
    TenderKind.CASH: "F6",
    TenderKind.CREDIT: "F7",
    TenderKind.DEBIT: "F8",
    TenderKind.CHECK: "F9",
    TenderKind.HSA_FSA: "F10",
    TenderKind.HOUSE_CHARGE: "F11",
}
FIND_KEY, ITEM_KEY, COMPLETE_KEY, PRINT_RECEIPT_KEY = "F2", "F3", "F12", "F4"
# Ctrl+Alt+Y(es) / N(o): Ctrl+Shift+A and D are the window's Recalls and Controlled substances.
ACCEPT_COUNSELING_KEY, DECLINE_COUNSELING_KEY = "Ctrl+Alt+Y", "Ctrl+Alt+N"
SAVE_SIGNATURE_KEY = "Ctrl+Shift+S"
# The workstation's receipt printer, kept in the window-state QSettings file like the label
# printer's.
RECEIPT_PRINTER_KEY = "receipts/printer"
NO_RECEIPT_PRINTER_TEXT = "No receipt printer is chosen: nothing was printed."
_ID_TYPES = {
    IdType.DRIVERS_LICENSE: "Driver's license",
    IdType.STATE_ID: "State ID card",
    IdType.PASSPORT: "Passport",
    IdType.MILITARY_ID: "Military ID",
    IdType.TRIBAL_ID: "Tribal ID",
    IdType.OTHER_GOVERNMENT_ID: "Other government photo ID",
}


@dataclass(frozen=True)
class ReceiptPrinting:
    """The printing system receipts go through: the desktop's, or a test's own."""

    printers: Callable[[], list[str]] = output.available_printers
    print_receipt: Callable[[ReceiptContent, str], PrintOutcome] = receipt_output.print_receipt


class RegisterPanel(QWidget):
    """Signals: sale_changed(object)  # the SaleView after each action
    sale_completed(object)  # the completed SaleView
    failed(object)  # the exception of a refused action
    receipt_saved(str)  # the PDF written
    receipt_printed(object)  # the PrintOutcome of a receipt sent to the receipt printer
    drawer_closed(object)  # the DrawerCount recorded
    """

    sale_changed = Signal(object)
    sale_completed = Signal(object)
    failed = Signal(object)
    receipt_saved = Signal(str)
    receipt_printed = Signal(object)
    drawer_closed = Signal(object)

    def __init__(
        self,
        *,
        payment: PaymentService,
        receipts: ReceiptService,
        drawer: DrawerService,
        tasks: TaskRunner,
        actor: ActorSource,
        cosign: Cosign,
        settings: Callable[[], QSettings],
        receipt_printing: ReceiptPrinting | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._receipt_printing = receipt_printing or ReceiptPrinting()
        self._payment = payment
        self._receipts = receipts
        self._drawer = drawer
        self.last_completed: SaleView | None = None
        self._tasks = tasks
        self._actor = actor
        self._cosign = cosign
        self.sale: SaleView | None = None
        self.setAccessibleName("Register")

        self.find_field = QLineEdit()
        self.find_field.setPlaceholderText(
            f"Patient name (last, first), scan the bag label, or Rx number — {FIND_KEY}"
        )
        self.find_field.setAccessibleName("Find patient, scan bag label or Rx number")
        self.find_field.returnPressed.connect(self.find_patient)
        self.item_field = QLineEdit()
        self.item_field.setPlaceholderText(f"Scan an OTC item (UPC) — {ITEM_KEY}")
        self.item_field.setAccessibleName("Scan OTC item UPC")
        self.item_field.returnPressed.connect(self.scan_item)

        self.model = SaleLinesModel(self)
        self.cart, _ = row_table(
            self.model,
            accessible_name="Cart",
            sort_column=-1,
            stretch_column=SaleLinesModel.ITEM,
        )
        self.cart.setSortingEnabled(False)
        self.totals = QLabel()
        self.totals.setAccessibleName("Sale totals")
        self.totals.setTextFormat(Qt.TextFormat.PlainText)
        self.missing = QLabel()
        self.missing.setWordWrap(True)
        self.missing.setAccessibleName("Still needed before completing")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Register message")

        self.amount_field = QLineEdit()
        self.amount_field.setPlaceholderText("Amount (empty: the balance due)")
        self.amount_field.setAccessibleName("Tender amount")
        self.reference_field = QLineEdit()
        self.reference_field.setPlaceholderText("Check number or charge account")
        self.reference_field.setAccessibleName("Check number or charge account")
        self.tender_buttons: dict[TenderKind, QPushButton] = {}
        tenders = QGridLayout()
        for number, kind in enumerate(TenderKind):
            key = TENDER_KEYS[kind]
            button = QPushButton(f"{kind.label} ({key})")
            button.setAccessibleName(f"Take {kind.label.lower()}")
            button.clicked.connect(self._tender_slot(kind))
            self._shortcut(key, self._tender_slot(kind))
            tenders.addWidget(button, number // 3, number % 3)
            self.tender_buttons[kind] = button

        self.signature = SignaturePad()
        self.signature_purpose = QComboBox()
        self.signature_purpose.setAccessibleName("Signature for")
        for purpose in SignaturePurpose:
            self.signature_purpose.addItem(purpose.label.capitalize(), purpose)
        self.signer_field = QLineEdit()
        self.signer_field.setAccessibleName("Name of the person signing")
        self.signer_field.setPlaceholderText("Name of the person signing")
        self.save_signature_button = QPushButton(f"Save signature ({SAVE_SIGNATURE_KEY})")
        self.save_signature_button.setAccessibleName("Save signature")
        self.save_signature_button.clicked.connect(self.save_signature)
        self._shortcut(SAVE_SIGNATURE_KEY, self.save_signature)
        self.clear_signature_button = QPushButton("C&lear signature")
        self.clear_signature_button.setAccessibleName("Clear signature")
        self.clear_signature_button.clicked.connect(self.signature.clear)

        self.accept_counseling = QPushButton(f"Counseling accepted ({ACCEPT_COUNSELING_KEY})")
        self.accept_counseling.setAccessibleName("Counseling accepted")
        self.accept_counseling.clicked.connect(lambda: self.counsel(accepted=True))
        self._shortcut(ACCEPT_COUNSELING_KEY, lambda: self.counsel(accepted=True))
        self.decline_counseling = QPushButton(f"Counseling declined ({DECLINE_COUNSELING_KEY})")
        self.decline_counseling.setAccessibleName("Counseling declined")
        self.decline_counseling.clicked.connect(lambda: self.counsel(accepted=False))
        self._shortcut(DECLINE_COUNSELING_KEY, lambda: self.counsel(accepted=False))

        self.id_type = QComboBox()
        self.id_type.setAccessibleName("ID type")
        for id_type, label in _ID_TYPES.items():
            self.id_type.addItem(label, id_type)
        self.id_number = QLineEdit()
        self.id_number.setAccessibleName("ID number")
        self.id_state = QLineEdit()
        self.id_state.setAccessibleName("ID issuing state")
        self.id_state.setMaxLength(2)
        self.id_name = QLineEdit()
        self.id_name.setAccessibleName("Name on the ID")
        self.id_for_controlled = QPushButton("Record ID: controlled pickup")
        self.id_for_controlled.setAccessibleName("Record ID for controlled pickup")
        self.id_for_controlled.clicked.connect(lambda: self.record_id(IdPurpose.CONTROLLED_PICKUP))
        self.id_for_pse = QPushButton("Record ID: pseudoephedrine")
        self.id_for_pse.setAccessibleName("Record ID for pseudoephedrine")
        self.id_for_pse.clicked.connect(lambda: self.record_id(IdPurpose.PSE_PURCHASE))

        self.complete_button = QPushButton(f"Complete sale ({COMPLETE_KEY})")
        self.complete_button.setAccessibleName("Complete sale")
        self.complete_button.clicked.connect(self.complete)
        self._shortcut(COMPLETE_KEY, self.complete)
        self._shortcut(FIND_KEY, self.find_field.setFocus)
        self._shortcut(ITEM_KEY, self.item_field.setFocus)
        self.set_aside_button = QPushButton("Set &aside (patient stepped away)")
        self.set_aside_button.setAccessibleName("Set the sale aside")
        self.set_aside_button.clicked.connect(self.set_aside)
        self.void_button = QPushButton("&Void sale…")
        self.void_button.setAccessibleName("Void sale")
        self.void_button.clicked.connect(self.void)
        self.receipt_button = QPushButton("Receipt to P&DF…")
        self.receipt_button.setAccessibleName("Save the last receipt as PDF")
        self.receipt_button.setEnabled(False)
        self.receipt_button.clicked.connect(self.choose_receipt_pdf)
        self.print_receipt_button = QPushButton(f"Print receipt ({PRINT_RECEIPT_KEY})")
        self.print_receipt_button.setAccessibleName("Print the last receipt")
        self.print_receipt_button.setEnabled(False)
        self.print_receipt_button.clicked.connect(self.print_receipt)
        self._shortcut(PRINT_RECEIPT_KEY, self.print_receipt)
        self.receipt_printer_button = QPushButton("Receipt &printer…")
        self.receipt_printer_button.setAccessibleName("Choose the receipt printer")
        self.receipt_printer_button.clicked.connect(self.choose_receipt_printer)
        self.drawer_button = QPushButton("Close d&rawer…")
        self.drawer_button.setAccessibleName("Close the drawer")
        self.drawer_button.clicked.connect(self.close_drawer)
        # A refund of a completed sale: its number, the amount and tender given back, why.
        self.refund_sale = QLineEdit()
        self.refund_sale.setAccessibleName("Sale number to refund")
        self.refund_sale.setPlaceholderText("Sale number")
        self.refund_amount = QLineEdit()
        self.refund_amount.setAccessibleName("Amount to refund")
        self.refund_amount.setPlaceholderText("Amount")
        self.refund_tender = QComboBox()
        self.refund_tender.setAccessibleName("Refund to tender")
        for kind in TenderKind:
            self.refund_tender.addItem(kind.label, kind)
        self.refund_reason = QLineEdit()
        self.refund_reason.setAccessibleName("Reason for the refund")
        self.refund_reason.setPlaceholderText("Why the money is given back")
        self.refund_button = QPushButton("Re&fund…")
        self.refund_button.setAccessibleName("Refund a completed sale")
        self.refund_button.clicked.connect(self.refund)
        self.void_reason = QLineEdit()
        self.void_reason.setAccessibleName("Reason to void")
        self.void_reason.setPlaceholderText("Why the sale is voided")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        find_row = QHBoxLayout()
        find_row.addWidget(self.find_field, 3)
        find_row.addWidget(self.item_field, 2)
        layout.addLayout(find_row)
        layout.addWidget(self.cart, 2)
        layout.addWidget(self.totals)
        money = QGroupBox("Payment")
        money_layout = QVBoxLayout(money)
        amounts = QHBoxLayout()
        amounts.addWidget(self.amount_field)
        amounts.addWidget(self.reference_field)
        money_layout.addLayout(amounts)
        money_layout.addLayout(tenders)
        layout.addWidget(money)
        pickup = QGroupBox("Pickup")
        pickup_layout = QGridLayout(pickup)
        pickup_layout.addWidget(self.accept_counseling, 0, 0)
        pickup_layout.addWidget(self.decline_counseling, 0, 1)
        id_form = QFormLayout()
        id_form.addRow("ID &type", self.id_type)
        id_form.addRow("ID &number", self.id_number)
        id_form.addRow("&State", self.id_state)
        id_form.addRow("Na&me on ID", self.id_name)
        pickup_layout.addLayout(id_form, 1, 0, 1, 2)
        pickup_layout.addWidget(self.id_for_controlled, 2, 0)
        pickup_layout.addWidget(self.id_for_pse, 2, 1)
        layout.addWidget(pickup)
        signing = QGroupBox("Signature")
        signing_layout = QGridLayout(signing)
        signing_layout.addWidget(self.signature, 0, 0, 1, 3)
        signing_layout.addWidget(self.signature_purpose, 1, 0)
        signing_layout.addWidget(self.signer_field, 1, 1)
        signing_layout.addWidget(self.clear_signature_button, 1, 2)
        signing_layout.addWidget(self.save_signature_button, 2, 0, 1, 3)
        layout.addWidget(signing)
        layout.addWidget(self.missing)
        finish = QHBoxLayout()
        finish.addWidget(self.complete_button)
        finish.addWidget(self.set_aside_button)
        finish.addWidget(self.void_reason)
        finish.addWidget(self.void_button)
        layout.addLayout(finish)
        books = QHBoxLayout()
        books.addWidget(self.print_receipt_button)
        books.addWidget(self.receipt_button)
        books.addWidget(self.receipt_printer_button)
        books.addWidget(self.drawer_button)
        layout.addLayout(books)
        refunds = QHBoxLayout()
        for widget in (
            self.refund_sale,
            self.refund_amount,
            self.refund_tender,
            self.refund_reason,
            self.refund_button,
        ):
            refunds.addWidget(widget)
        layout.addLayout(refunds)
        layout.addWidget(self.message)
        self._show(None)

    def _tender_slot(self, kind: TenderKind) -> Callable[[], None]:
        def take() -> None:
            self.take_tender(kind)

        return take

    def _shortcut(self, key: str, slot: Callable[[], object]) -> None:
        action = QAction(self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)

    # --- running service calls ----------------------------------------------------------------

    def _run(self, work: Callable[[Actor], Any], *, done: Callable[[Any], None]) -> None:
        actor = self._actor()
        if actor is None:
            return
        self.message.setText("Working…")
        self._tasks.run(lambda: work(actor), on_success=done, on_failure=self._failed)

    def _failed(self, exc: BaseException) -> None:
        title, sentence = explain(exc)
        self.message.setText(f"{title}: {sentence}")
        self.failed.emit(exc)

    def _changed(self, view: SaleView | None) -> None:
        self.message.setText("")
        self._show(view)
        self.sale_changed.emit(view)

    def _show(self, view: SaleView | None) -> None:
        self.sale = view
        self.model.set_rows(view.lines if view else [])
        if view is None:
            self.totals.setText("No sale open. Find the patient or scan a bag label (F2).")
            self.missing.setText("")
        else:
            paid = view.paid_cents
            parts = [
                f"Sale {view.sale_id}" + (f" · {view.patient_name}" if view.patient_name else ""),
                f"Subtotal {dollars(view.subtotal_cents)}",
                f"Tax {dollars(view.tax_cents)}",
                f"Total {dollars(view.total_cents)}",
                f"Paid {dollars(paid)}",
                f"Due {dollars(view.balance_due_cents)}",
            ]
            if view.change_given_cents:
                parts.append(f"Change {dollars(view.change_given_cents)}")
            self.totals.setText(" · ".join(parts))
            self.missing.setText(
                "Still needed: " + " ".join(view.missing) if view.missing else "Ready to complete."
            )
        is_open = view is not None and view.status is SaleStatus.OPEN
        for widget in (
            *self.tender_buttons.values(),
            self.complete_button,
            self.set_aside_button,
            self.void_button,
            self.save_signature_button,
            self.accept_counseling,
            self.decline_counseling,
            self.id_for_controlled,
            self.id_for_pse,
        ):
            widget.setEnabled(is_open)

    # --- actions ------------------------------------------------------------------------------

    def take_up(self, text: str) -> None:
        """Open the sale `text` finds (a name, a bag label, an Rx number), as if typed there:
        Enter on a ready fill in the queue brings its patient to the register."""
        self.find_field.setText(text)
        self.find_patient()

    def find_patient(self) -> None:
        """Open (or take up) the sale of the patient found, with all their ready fills."""
        text = self.find_field.text().strip()
        if not text:
            return
        payment = self._payment

        def work(actor: Actor) -> SaleView | str:
            found = payment.find_ready_fills(actor, text)
            if not found:
                return f"No prescription ready for pickup matches “{text}”."
            patient_id = found[0].patient_id
            view = payment.open_sale(actor, patient_id=patient_id)
            in_cart = {line.fill_id for line in view.lines}
            for fill in found:
                if fill.patient_id == patient_id and fill.fill_id not in in_cart:
                    try:
                        view = payment.add_fill(actor, view.sale_id, fill.fill_id)
                    except FillInAnotherSale:
                        continue  # shown by the other register; this sale goes on without it
            return view

        def done(result: SaleView | str) -> None:
            if isinstance(result, str):
                self.message.setText(result)
                return
            self.find_field.clear()
            self._changed(result)

        self._run(work, done=done)

    def scan_item(self) -> None:
        upc = self.item_field.text().strip()
        if not upc:
            return
        payment, sale = self._payment, self.sale

        def work(actor: Actor) -> SaleView:
            sale_id = sale.sale_id if sale else payment.open_sale(actor, patient_id=None).sale_id
            return payment.add_item(actor, sale_id, upc)

        def done(view: SaleView) -> None:
            self.item_field.clear()
            self._changed(view)

        self._run(work, done=done)

    def take_tender(self, kind: TenderKind) -> None:
        sale = self.sale
        if sale is None or sale.status is not SaleStatus.OPEN:
            return
        typed = self.amount_field.text().strip()
        try:
            amount = parse_dollars(typed) if typed else sale.balance_due_cents
        except Exception as exc:
            self._failed(exc)
            return
        reference = self.reference_field.text()
        payment = self._payment

        def work(actor: Actor) -> SaleView:
            if kind is TenderKind.CASH:
                return payment.take_cash(actor, sale.sale_id, handed_cents=amount)
            if kind in CARD_TENDERS:
                return payment.take_card(actor, sale.sale_id, kind=kind, amount_cents=amount)
            return payment.take_other(
                actor, sale.sale_id, kind=kind, amount_cents=amount, reference=reference
            )

        def done(view: SaleView) -> None:
            self.amount_field.clear()
            self.reference_field.clear()
            self._changed(view)

        self._run(work, done=done)

    def counsel(self, *, accepted: bool) -> None:
        sale = self.sale
        if sale is None:
            return
        payment = self._payment
        self._run(
            lambda actor: payment.offer_counseling(actor, sale.sale_id, accepted=accepted).sale,
            done=self._changed,
        )

    def record_id(self, purpose: IdPurpose) -> None:
        sale = self.sale
        if sale is None:
            return
        payment = self._payment
        id_type = IdType(self.id_type.currentData())
        number, state, name = self.id_number.text(), self.id_state.text(), self.id_name.text()

        def done(view: SaleView) -> None:
            self.id_number.clear()
            self._changed(view)

        self._run(
            lambda actor: payment.record_identification(
                actor,
                sale.sale_id,
                purpose=purpose,
                id_type=id_type,
                id_number=number,
                id_state=state,
                name=name,
            ),
            done=done,
        )

    def save_signature(self) -> None:
        sale = self.sale
        if sale is None:
            return
        if self.signature.is_empty:
            self.message.setText("The signature pad is empty: ask the patient to sign first.")
            return
        payment = self._payment
        purpose = SignaturePurpose(self.signature_purpose.currentData())
        png, signer = self.signature.png(), self.signer_field.text()

        def done(view: SaleView) -> None:
            self.signature.clear()
            self._changed(view)

        self._run(
            lambda actor: payment.add_signature(
                actor, sale.sale_id, purpose=purpose, png=png, signer_name=signer
            ),
            done=done,
        )

    def complete(self) -> None:
        sale = self.sale
        if sale is None or sale.status is not SaleStatus.OPEN:
            return
        payment = self._payment

        def done(view: SaleView) -> None:
            self._show(None)
            self.last_completed = view
            self.receipt_button.setEnabled(True)
            self.print_receipt_button.setEnabled(True)
            change = view.change_given_cents
            self.message.setText(
                f"Sale {view.sale_id} completed: {dollars(view.total_cents)}."
                + (f" Change due {dollars(change)}." if change else "")
            )
            self.sale_completed.emit(view)
            self.sale_changed.emit(view)
            self.find_field.setFocus()

        self._run(
            lambda actor: (
                payment.complete_sale(actor, sale.sale_id, expected_version=sale.version).sale
            ),
            done=done,
        )

    def refresh(self) -> None:
        """Read the open sale again (a pharmacist marked the patient counseled, another
        register changed it)."""
        sale = self.sale
        if sale is None:
            return
        payment = self._payment
        self._tasks.run(
            lambda: payment.sale(self._actor_or_fail(), sale.sale_id),
            on_success=self._refreshed,
            on_failure=self._failed,
        )

    def _actor_or_fail(self) -> Actor:
        actor = self._actor()
        if actor is None:
            raise RuntimeError("nobody is signed in")
        return actor

    def _refreshed(self, view: SaleView) -> None:
        if self.sale is not None and view.sale_id == self.sale.sale_id:
            self._show(view if view.status is SaleStatus.OPEN else None)

    def choose_receipt_pdf(self) -> None:
        if self.last_completed is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save the receipt as PDF",
            f"receipt-{self.last_completed.sale_id}.pdf",
            "PDF files (*.pdf)",
        )
        if path:
            self.save_receipt_pdf(path)

    def save_receipt_pdf(self, path: str) -> None:
        """The last completed sale's receipt to a PDF (the receipt printer's page size)."""
        sale = self.last_completed
        if sale is None:
            return
        receipts = self._receipts

        def done(content: ReceiptContent) -> None:
            try:
                receipt_output.render_receipt_pdf(content, path)
            except Exception as exc:
                self._failed(exc)
                return
            self.message.setText(f"Receipt for sale {sale.sale_id} saved to {path}.")
            self.receipt_saved.emit(path)

        self._run(lambda actor: receipts.receipt(actor, sale.sale_id), done=done)

    @property
    def receipt_printer(self) -> str:
        """The workstation's receipt printer as remembered, installed or not."""
        return str(self._settings().value(RECEIPT_PRINTER_KEY, "") or "")

    def choose_receipt_printer(self) -> str | None:
        """Ask which installed printer prints receipts and remember it (None: cancelled)."""
        installed = self._receipt_printing.printers()
        remembered = self.receipt_printer
        missing = remembered if remembered and remembered not in installed else None
        answer = ask_receipt_printer(self, installed, missing=missing)
        if answer is not None:
            self._settings().setValue(RECEIPT_PRINTER_KEY, answer)
            self.message.setText(f"Receipts print on {answer}.")
        return answer

    def _installed_receipt_printer(self) -> str | None:
        """The receipt printer, installed now; else the person chooses one (None: nothing may
        print). Never the system's default printer."""
        remembered = self.receipt_printer
        if remembered and remembered in self._receipt_printing.printers():
            return remembered
        return self.choose_receipt_printer()

    def print_receipt(self) -> None:
        """The last completed sale's receipt on the receipt printer; a printer fault is shown
        as one (Retry), and nothing is said printed."""
        sale = self.last_completed
        if sale is None:
            return
        receipt_service = self._receipts

        def done(content: ReceiptContent) -> None:
            while True:
                printer = self._installed_receipt_printer()
                if printer is None:
                    self.message.setText(NO_RECEIPT_PRINTER_TEXT)
                    return
                try:
                    outcome = self._receipt_printing.print_receipt(content, printer)
                except Exception as exc:
                    self._failed(exc)
                    if is_environment_fault(exc) and show_error(self, exc):
                        continue
                    return
                break
            self.message.setText(f"Receipt for sale {sale.sale_id} printed on {printer}.")
            self.receipt_printed.emit(outcome)

        self._run(lambda actor: receipt_service.receipt(actor, sale.sale_id), done=done)

    def close_drawer(self) -> None:
        actor = self._actor()
        if actor is None:
            return
        try:
            dialog = DrawerCloseDialog(self._drawer, actor, self)
        except Exception as exc:
            self._failed(exc)
            return
        self.drawer_dialog = dialog
        dialog.accepted.connect(lambda: self._drawer_closed(dialog))
        dialog.open()

    def _drawer_closed(self, dialog: DrawerCloseDialog) -> None:
        closed = dialog.closed
        if closed is None:
            return
        off = [line for line in closed.lines if line.difference_cents]
        differences = ", ".join(
            f"{line.kind.label} {dollars(line.difference_cents or 0)}" for line in off
        )
        self.message.setText(
            f"Drawer closed with differences: {differences}." if off else "Drawer closed, balanced."
        )
        self.drawer_closed.emit(closed)

    def set_aside(self) -> None:
        """The patient stepped away: the sale stays open (nothing sold) until they return."""
        if self.sale is None:
            return
        kept = self.sale.sale_id
        self._show(None)
        self.message.setText(
            f"Sale {kept} is kept open: find the patient again to take it up. Nothing was sold."
        )
        self.find_field.setFocus()

    def refund(self) -> None:
        """Money back on a completed sale, approved by a pharmacist or administrator."""
        reason = self.refund_reason.text().strip()
        try:
            sale_id = int(self.refund_sale.text().strip())
            amount = parse_dollars(self.refund_amount.text())
        except RxBenchError as exc:
            self._failed(exc)
            return
        except ValueError:
            self._failed(ValidationFailed("Type the sale number from the receipt."))
            return
        if not reason:
            self.message.setText("Type why the money is given back first.")
            self.refund_reason.setFocus()
            return
        kind = TenderKind(self.refund_tender.currentData())
        approver = self._cosign(f"Refund {dollars(amount)} of sale {sale_id}: {reason}")
        if approver is None:
            self.message.setText("Nothing was refunded: nobody approved it.")
            return
        payment = self._payment

        def done(view: SaleView) -> None:
            for field in (self.refund_sale, self.refund_amount, self.refund_reason):
                field.clear()
            self.message.setText(
                f"{dollars(amount)} refunded to {kind.label.lower()} on sale {view.sale_id} "
                f"({dollars(view.refunded_cents)} refunded in all)."
            )
            self.sale_changed.emit(view)

        self._run(
            lambda actor: payment.refund(
                actor,
                sale_id,
                amount_cents=amount,
                tender_kind=kind,
                reason=reason,
                approved_by=approver,
            ),
            done=done,
        )

    def void(self) -> None:
        sale = self.sale
        if sale is None:
            return
        reason = self.void_reason.text().strip()
        if not reason:
            self.message.setText("Type why the sale is voided first.")
            self.void_reason.setFocus()
            return
        approver = self._cosign(f"Void sale {sale.sale_id}: {reason}")
        if approver is None:
            self.message.setText("The sale was not voided: nobody approved it.")
            return
        payment = self._payment

        def done(view: SaleView) -> None:
            self.void_reason.clear()
            self._show(None)
            self.message.setText(
                f"Sale {view.sale_id} voided; {dollars(view.refunded_cents)} given back."
            )
            self.sale_changed.emit(view)

        self._run(
            lambda actor: payment.void_sale(
                actor, sale.sale_id, reason=reason, approved_by=approver
            ),
            done=done,
        )
