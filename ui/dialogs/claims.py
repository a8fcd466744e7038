"""The claims resolution queue: rejected and unanswered claims, what they mean, what to do;
and a fill's claim details, where a paid claim is reversed and the patient's eligibility asked.

Every service call runs off the GUI thread (TaskRunner); the dialog stays usable while a claim
is out, its buttons disabled until the answer is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.domain.ncpdp import DurService
from app.domain.roles import Role
from app.services.claim_records import ClaimStatus
from app.services.claims import CashSale, ClaimChanges, ClaimRow, ClaimService, Eligibility
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine
from ui.errors import explain
from ui.models.claims import ClaimsModel, money_text
from ui.models.table import ROW_ROLE
from ui.tasks import TaskRunner

# The DUR/PPS overrides a pharmacist commonly sends: reason, professional service, result.
DUR_OVERRIDES: tuple[tuple[str, DurService], ...] = (
    (
        "ER · M0 · 1G — early refill; prescriber consulted; filled with prescriber approval",
        DurService(reason_for_service="ER", professional_service="M0", result_of_service="1G"),
    ),
    (
        "ER · R0 · 1B — early refill; pharmacist consulted; filled as is",
        DurService(reason_for_service="ER", professional_service="R0", result_of_service="1B"),
    ),
    (
        "TD · M0 · 1G — therapeutic duplication; prescriber consulted; filled with approval",
        DurService(reason_for_service="TD", professional_service="M0", result_of_service="1G"),
    ),
)
_BILLABLE = frozenset({ClaimStatus.REJECTED, ClaimStatus.REVERSED})
_UNANSWERED = frozenset({ClaimStatus.UNKNOWN_OUTCOME, ClaimStatus.PENDING})
# What ClaimService.reverse accepts: a billing the plan paid (or captured).
_REVERSIBLE = frozenset({ClaimStatus.PAID, ClaimStatus.DUPLICATE, ClaimStatus.CAPTURED})
NO_REVERSAL_REASON_TEXT = "No reason was given: the claim was not reversed."


def eligibility_sentence(result: Eligibility) -> str:
    """The plan's answer to an eligibility check, in plain words."""
    plan, patient = result.plan_name or "The plan", result.patient_name or "the patient"
    if result.eligible:
        sentence = f"Eligible: {plan} covers {patient} today."
    else:
        reasons = "; ".join(
            f"{each.code} {each.title}: {each.next_step}" for each in result.rejects
        )
        sentence = f"Not eligible: {plan} does not cover {patient} today." + (
            f" Why: {reasons}" if reasons else ""
        )
    if result.message:
        sentence += f" Plan's message: {result.message}"
    return sentence


def _button(text: str, accessible_name: str, shortcut: str) -> QPushButton:
    """A button with its mnemonic and a Ctrl shortcut (added by the dialog), both in its tooltip."""
    button = QPushButton(text)
    button.setAccessibleName(accessible_name)
    shown = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
    button.setToolTip(f"{accessible_name} ({shown})")
    button.setProperty("ctrl_shortcut", shortcut)
    return button


def _press(button: QPushButton) -> None:
    if button.isEnabled():
        button.click()


class ClaimsDialog(QDialog):
    """Signals: fills_changed()  # a resolution moved a fill: the queues reload"""

    fills_changed = Signal()

    def __init__(
        self,
        *,
        claims: ClaimService,
        tasks: TaskRunner,
        actor: Callable[[], Actor | None],
        cosign: Callable[[str], Actor | None],
        fill_id: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._claims = claims
        self._tasks = tasks
        self._actor = actor
        self._cosign = cosign
        self._fill_id = fill_id
        self._busy = False
        title = "Claims to resolve" if fill_id is None else "Claim details"
        self.setWindowTitle(f"{title} — RxBench")
        self.setMinimumSize(900, 520)

        self.model = ClaimsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Claims")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(
            ClaimsModel.REASON, QHeaderView.ResizeMode.Stretch
        )
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.details.setAccessibleName("Claim details")

        form = QFormLayout()
        self.days_supply = QSpinBox()
        self.days_supply.setRange(1, 365)
        self.days_supply.setAccessibleName("Days supply")
        self.quantity = QLineEdit()
        self.quantity.setAccessibleName("Quantity")
        self.prior_authorization = QLineEdit()
        self.prior_authorization.setAccessibleName("Prior authorization number")
        self.prior_authorization.setMaxLength(11)
        self.dur_override = QComboBox()
        self.dur_override.setAccessibleName("DUR override")
        for text, _service in DUR_OVERRIDES:
            self.dur_override.addItem(text)
        for label, widget in (
            ("Da&ys supply:", self.days_supply),
            ("&Quantity:", self.quantity),
            ("Prior &authorization number:", self.prior_authorization),
            ("D&UR override codes:", self.dur_override),
        ):
            caption = QLabel(label)
            caption.setBuddy(widget)
            form.addRow(caption, widget)

        self.bill_again_button = _button("&Bill again", "Bill again", "Ctrl+B")
        self.days_supply_button = _button(
            "Rebill with &days supply / quantity", "Rebill with days supply and quantity", "Ctrl+D"
        )
        self.prior_auth_button = _button(
            "Rebill with &PA number", "Rebill with PA number", "Ctrl+P"
        )
        self.dur_button = _button(
            "DUR &override (pharmacist)", "DUR override with pharmacist co-sign", "Ctrl+O"
        )
        self.secondary_button = _button("Bill &secondary", "Bill secondary", "Ctrl+S")
        self.cash_button = _button("Sell as &cash", "Sell as cash", "Ctrl+K")
        self.settle_button = _button("Se&ttle (reverse)", "Settle by reversing", "Ctrl+T")
        self.eligibility_button = _button(
            "Check &eligibility", "Check the patient's primary plan eligibility", "Ctrl+E"
        )
        self.reverse_button = _button("Re&verse claim…", "Reverse the paid claim", "Ctrl+R")
        self.refresh_button = _button("&Refresh", "Refresh", "F5")
        self.close_button = QPushButton("Close")
        self.close_button.setAccessibleName("Close")
        self.close_button.clicked.connect(self.accept)
        buttons = (
            self.bill_again_button,
            self.days_supply_button,
            self.prior_auth_button,
            self.dur_button,
            self.secondary_button,
            self.cash_button,
            self.settle_button,
            self.eligibility_button,
            self.reverse_button,
            self.refresh_button,
        )
        actions = QGridLayout()
        for position, button in enumerate(buttons):
            actions.addWidget(button, position // 4, position % 4)
            keys = QKeySequence(str(button.property("ctrl_shortcut")))
            QShortcut(keys, self, lambda button=button: _press(button))
        self.bill_again_button.clicked.connect(self.bill_again)
        self.days_supply_button.clicked.connect(self.rebill_days_supply)
        self.prior_auth_button.clicked.connect(self.rebill_prior_authorization)
        self.dur_button.clicked.connect(self.rebill_dur_override)
        self.secondary_button.clicked.connect(self.bill_secondary)
        self.cash_button.clicked.connect(self.sell_as_cash)
        self.settle_button.clicked.connect(self.settle)
        self.eligibility_button.clicked.connect(self.check_eligibility)
        self.reverse_button.clicked.connect(self.reverse)
        self.refresh_button.clicked.connect(self.reload)
        QShortcut(QKeySequence("Ctrl+F"), self, self.table.setFocus)

        self.message = MessageLine()
        self.status = QLabel()
        self.status.setAccessibleName("Status")
        self.status.setWordWrap(True)
        heading = QLabel(
            "Rejected and unanswered claims. Pick one (Ctrl+F goes to the list), read what it "
            "means, and resolve it with the buttons: the shortcut of each is in its tooltip."
            if fill_id is None
            else "Every claim sent for this fill, newest last."
        )
        heading.setWordWrap(True)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addLayout(bottom)
        self._update_buttons()
        self.reload()

    # --- loading ------------------------------------------------------------------------------

    @property
    def selected(self) -> ClaimRow | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        row: ClaimRow = rows[0].data(ROW_ROLE)
        return row

    def reload(self) -> None:
        actor = self._actor()
        if actor is None:
            return
        fill_id = self._fill_id
        if fill_id is None:
            self._run(lambda: self._claims.needing_attention(actor), self._loaded)
        else:
            self._run(lambda: self._claims.claims_for_fill(actor, fill_id), self._loaded)

    def _loaded(self, rows: object) -> None:
        assert isinstance(rows, list)
        chosen = self.selected.claim_id if self.selected else None
        self.model.set_rows(rows)
        position = next(
            (number for number, row in enumerate(self.model.rows) if row.claim_id == chosen), 0
        )
        if self.model.rowCount():
            self.table.selectRow(position)
            self.table.setFocus()
        else:
            self.details.setText(
                "Nothing to resolve: every claim is answered."
                if self._fill_id is None
                else "No claim was sent for this fill."
            )
        self._update_buttons()

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        row = self.selected
        self._update_buttons()
        if row is None:
            self.details.clear()
            return
        self.days_supply.setValue(row.days_supply)
        self.quantity.setText(format(row.quantity.normalize(), "f"))
        lines = [
            f"<b>Rx {row.rx_number}-{row.fill_number}</b> · {row.patient_name} · {row.drug}",
            f"<b>{row.status.label}</b>: {row.plain_reason}",
            f"<b>What to do:</b> {row.next_step}",
        ]
        if row.message:
            lines.append(f"Plan's message: {row.message}")
        if row.total_paid_cents is not None:
            lines.append(
                f"Plan paid {money_text(row.total_paid_cents)}; patient pays "
                f"{money_text(row.patient_pay_cents)} (authorization {row.authorization_number})"
            )
        self.details.setText("<br>".join(lines))

    def _update_buttons(self) -> None:
        row = self.selected
        billable = (
            row is not None
            and not self._busy
            and row.transaction_code == "B1"
            and row.status in _BILLABLE
        )
        for button in (
            self.bill_again_button,
            self.days_supply_button,
            self.prior_auth_button,
            self.dur_button,
            self.cash_button,
        ):
            button.setEnabled(billable and (row is not None and row.payer_rank == 1))
        self.secondary_button.setEnabled(
            row is not None and not self._busy and row.payer_rank == 2 and row.status in _BILLABLE
        )
        self.settle_button.setEnabled(
            row is not None and not self._busy and row.status in _UNANSWERED
        )
        self.eligibility_button.setEnabled(row is not None and not self._busy)
        self.reverse_button.setEnabled(
            row is not None
            and not self._busy
            and row.transaction_code == "B1"
            and row.status in _REVERSIBLE
        )
        self.refresh_button.setEnabled(not self._busy)

    # --- resolutions ----------------------------------------------------------------------------

    def bill_again(self) -> None:
        self._rebill(ClaimChanges(), "Billing again…")

    def rebill_days_supply(self) -> None:
        try:
            quantity = Decimal(self.quantity.text().strip())
        except InvalidOperation:
            self.message.show_problem("Type the quantity as a number, such as 30 or 2.5.")
            self.quantity.setFocus()
            return
        changes = ClaimChanges(days_supply=self.days_supply.value(), quantity=quantity)
        self._rebill(changes, "Billing again with the new days supply and quantity…")

    def rebill_prior_authorization(self) -> None:
        number = self.prior_authorization.text().strip()
        if not number:
            self.message.show_problem("Type the prior authorization number the plan gave.")
            self.prior_authorization.setFocus()
            return
        self._rebill(ClaimChanges(prior_authorization_number=number), "Billing with the PA…")

    def rebill_dur_override(self) -> None:
        actor = self._actor()
        row = self.selected
        if actor is None or row is None:
            return
        approved_by: Actor | None = actor
        if not actor.has_any(Role.PHARMACIST):
            approved_by = self._cosign(
                f"DUR override for Rx {row.rx_number}-{row.fill_number}: "
                f"{self.dur_override.currentText()}"
            )
            if approved_by is None:
                self.message.show_problem("No pharmacist approved the override: nothing was sent.")
                return
        service = DUR_OVERRIDES[self.dur_override.currentIndex()][1]
        self._rebill(
            ClaimChanges(dur_override=service),
            "Billing with the pharmacist's DUR override…",
            approved_by=approved_by,
        )

    def bill_secondary(self) -> None:
        actor, row = self._actor(), self.selected
        if actor is None or row is None:
            return
        fill_id = row.fill_id
        self._say("Billing the secondary plan…")
        self._run(lambda: self._claims.bill_secondary(actor, fill_id), self._answered)

    def sell_as_cash(self) -> None:
        actor, row = self._actor(), self.selected
        if actor is None or row is None:
            return
        fill_id = row.fill_id
        self._say("Switching to cash…")
        self._run(lambda: self._claims.sell_as_cash(actor, fill_id), self._sold)

    def settle(self) -> None:
        actor, row = self._actor(), self.selected
        if actor is None or row is None:
            return
        claim_id, fill_id = row.claim_id, row.fill_id
        self._say("Reversing the unanswered claim…")
        if row.transaction_code == "B1":
            self._run(lambda: self._claims.settle(actor, claim_id), self._answered)
        else:
            self._run(lambda: self._claims.send_queued(actor, fill_id), self._answered)

    def check_eligibility(self) -> None:
        """Ask the selected fill's patient's primary plan whether it covers them today (E1)."""
        actor, row = self._actor(), self.selected
        if actor is None or row is None:
            return
        fill_id = row.fill_id
        self._say(f"Asking {row.patient_name}'s primary plan about eligibility…")
        self._run(lambda: self._claims.check_primary_eligibility(actor, fill_id), self._eligibility)

    def _eligibility(self, result: object) -> None:
        assert isinstance(result, Eligibility)
        sentence = eligibility_sentence(result)
        if result.eligible:
            self._say(sentence)
        else:
            self.status.clear()
            self.message.show_problem(sentence)

    def ask_reversal_reason(self, row: ClaimRow) -> str | None:
        """Why the claim is reversed, asked in a small dialog (None: cancelled)."""
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Reverse claim — RxBench")
        dialog.setAccessibleName("Reason to reverse the claim")
        dialog.setLabelText(
            f"Reverse the paid claim of Rx {row.rx_number}-{row.fill_number} with "
            f"{row.plan_name}: the plan takes back what it paid. Why?"
        )
        dialog.setOkButtonText("Reverse")
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        reason = dialog.textValue().strip()
        dialog.deleteLater()
        return reason if accepted else None

    def reverse(self) -> None:
        """Reverse the selected paid claim (B2), with a reason; nothing is sent without one."""
        actor, row = self._actor(), self.selected
        if actor is None or row is None or row.status not in _REVERSIBLE:
            return
        reason = self.ask_reversal_reason(row)
        if not reason:
            self.message.show_problem(NO_REVERSAL_REASON_TEXT)
            return
        claim_id = row.claim_id
        self._say("Reversing the paid claim…")
        self._run(lambda: self._claims.reverse(actor, claim_id, reason=reason), self._answered)

    def _rebill(
        self, changes: ClaimChanges, progress: str, *, approved_by: Actor | None = None
    ) -> None:
        actor, row = self._actor(), self.selected
        if actor is None or row is None:
            return
        fill_id = row.fill_id
        self._say(progress)
        self._run(
            lambda: self._claims.rebill(actor, fill_id, changes, approved_by=approved_by),
            self._answered,
        )

    def _answered(self, result: object) -> None:
        rows = result if isinstance(result, list) else [result]
        last = rows[-1] if rows else None
        if isinstance(last, ClaimRow):
            text = f"Rx {last.rx_number}-{last.fill_number}: {last.status.label}"
            if last.rejects:
                self.message.show_problem(f"{text} — {last.plain_reason}. {last.next_step}")
            else:
                self._say(f"{text}.")
        self.fills_changed.emit()
        self.reload()

    def _sold(self, sale: object) -> None:
        assert isinstance(sale, CashSale)
        self._say(f"Sold as cash: {money_text(sale.price_cents)} (usual and customary price).")
        self.fills_changed.emit()
        self.reload()

    def _say(self, text: str) -> None:
        self.message.retract()
        self.status.setText(text)

    # --- running --------------------------------------------------------------------------------

    def _run(self, work: Callable[[], object], done: Callable[[object], None]) -> None:
        self._busy = True
        self._update_buttons()

        def succeeded(result: object) -> None:
            self._busy = False
            done(result)
            self._update_buttons()

        def failed(error: BaseException) -> None:
            self._busy = False
            title, text = explain(error)
            self.status.clear()
            self.message.show_problem(f"{title}: {text}")
            self._update_buttons()

        self._tasks.run(work, on_success=succeeded, on_failure=failed)
