"""The Inventory dock's lot actions, one small dialog each: adjust, destroy, return to the vendor,
transfer out, move, quarantine, release, and reverse a movement.

Each asks only what its service call needs, gets a witness's co-signature when the rule wants
one (a destruction always; an adjustment or reversal of CII–CV stock), and calls the service
once: a refusal is said in the dialog's message line and nothing is changed; after acceptance
`change` is what the service did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.domain.roles import Role
from app.errors import RxBenchError
from app.services.dispensing import CONTROLLED_SCHEDULES
from app.services.inventory import LOCATIONS, InventoryService, StockChange, shown
from app.services.stock import MovementLine, StockRow
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.models.stock import KIND_LABELS, schedule_text

# Asks a second person to co-sign (purpose in words); None when nobody did.
Witness = Callable[[str], Actor | None]
NO_WITNESS_TEXT = "Nothing was recorded: {what} needs a witness, and nobody co-signed it."
NO_PHARMACIST_TEXT = (
    "Nothing was recorded: only a pharmacist may {what}, and no pharmacist co-signed it."
)


@dataclass(frozen=True)
class Answers:
    """What the person typed: the quantity as typed, the reason, the other pharmacy, the place."""

    quantity: str
    reason: str
    to_pharmacy: str
    location: str


Perform = Callable[[Answers, Actor | None], StockChange]


def lot_words(lot: StockRow) -> str:
    schedule = f" ({schedule_text(lot.dea_schedule)})" if lot.dea_schedule else ""
    return f"lot {lot.lot_number} of {lot.drug}{schedule}, NDC {lot.ndc}"


def _controlled(dea_schedule: str | None) -> bool:
    return dea_schedule in CONTROLLED_SCHEDULES


class LotActionDialog(QDialog):
    """One lot action: the fields it needs, a witness when `witness_needed`, one service call."""

    def __init__(
        self,
        *,
        title: str,
        explanation: str,
        action_text: str,
        perform: Perform,
        witness: Witness | None,
        witness_needed: bool,
        witness_purpose: str,
        quantity_label: str = "",
        ask_pharmacy: bool = False,
        locations: tuple[str, ...] = (),
        ask_reason: bool = True,
        unsigned_text: str = NO_WITNESS_TEXT,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._unsigned_text = unsigned_text
        self._perform = perform
        self._witness = witness
        self._witness_needed = witness_needed
        self._witness_purpose = witness_purpose
        self._action_text = action_text.replace("&", "")
        self.change: StockChange | None = None
        self.setWindowTitle(f"{title} — RxBench")
        self.setMinimumWidth(480)

        about = QLabel(explanation)
        about.setWordWrap(True)
        about.setAccessibleName("What this does")
        form = QFormLayout()
        self.quantity: QLineEdit | None = None
        self.to_pharmacy: QLineEdit | None = None
        self.location: QComboBox | None = None
        if quantity_label:
            self.quantity = add_field(form, quantity_label, QLineEdit())
        if ask_pharmacy:
            self.to_pharmacy = add_field(form, "To &pharmacy:", QLineEdit())
        if locations:
            self.location = add_field(form, "&Location:", QComboBox())
            self.location.addItems(list(locations))
        self.reason: QLineEdit | None = None
        if ask_reason:
            self.reason = add_field(form, "&Reason:", QLineEdit())
        if witness_needed:
            needed = QLabel(f"A witness co-signs when you choose “{self._action_text}”.")
            needed.setWordWrap(True)
            needed.setAccessibleName("Witness")
            form.addRow(needed)
        self.message = MessageLine()
        buttons = QDialogButtonBox()
        self.action_button = buttons.addButton(action_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.action_button.setAccessibleName(self._action_text)
        self.action_button.setDefault(True)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        first = self.quantity or self.to_pharmacy or self.location or self.reason
        if first is not None:
            first.setFocus()

    def answers(self) -> Answers:
        return Answers(
            quantity=self.quantity.text().strip() if self.quantity else "",
            reason=self.reason.text().strip() if self.reason else "",
            to_pharmacy=self.to_pharmacy.text().strip() if self.to_pharmacy else "",
            location=self.location.currentText() if self.location else "",
        )

    def accept(self) -> None:
        """Check what is blank first (before anyone is asked to witness), then act once."""
        self.message.retract()
        answers = self.answers()
        problem = self._blank(answers)
        if problem is not None:
            text, field = problem
            self.message.show_problem(text)
            field.setFocus()
            return
        witness: Actor | None = None
        if self._witness_needed:
            witness = self._witness(self._witness_purpose) if self._witness else None
            if witness is None:
                self.message.show_problem(
                    self._unsigned_text.format(what=self._action_text.rstrip("…").lower())
                )
                return
        try:
            self.change = self._perform(answers, witness)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        super().accept()

    def _blank(self, answers: Answers) -> tuple[str, QWidget] | None:
        if self.quantity is not None:
            if not answers.quantity:
                return "Type the quantity, in units.", self.quantity
            try:
                Decimal(answers.quantity)
            except InvalidOperation:
                return f"“{answers.quantity}” is not a number of units.", self.quantity
        if self.to_pharmacy is not None and not answers.to_pharmacy:
            return "Name the pharmacy the stock goes to.", self.to_pharmacy
        if self.reason is not None and not answers.reason:
            return "Say why: the reason is kept with the lot's history.", self.reason
        return None


def adjust_dialog(
    inventory: InventoryService,
    actor: Actor,
    lot: StockRow,
    *,
    witness: Witness | None,
    parent: QWidget | None = None,
) -> LotActionDialog:
    controlled = _controlled(lot.dea_schedule)
    return LotActionDialog(
        title="Adjust stock",
        explanation=(
            f"Correct the stock of {lot_words(lot)} ({shown(lot.on_hand)} on hand): "
            "type +5 for units found, -3 for units missing."
            + (" Controlled stock: a witness co-signs." if controlled else "")
        ),
        action_text="&Adjust",
        quantity_label="&Change (units, + or -):",
        perform=lambda answers, signed: inventory.adjust(
            actor,
            lot.lot_id,
            quantity_change=answers.quantity,
            reason=answers.reason,
            witness=signed,
        ),
        witness=witness,
        witness_needed=controlled,
        witness_purpose=f"witness an adjustment of {lot_words(lot)}",
        parent=parent,
    )


def destroy_dialog(
    inventory: InventoryService,
    actor: Actor,
    lot: StockRow,
    *,
    witness: Witness | None,
    parent: QWidget | None = None,
) -> LotActionDialog:
    return LotActionDialog(
        title="Destroy stock",
        explanation=(
            f"Record stock of {lot_words(lot)} ({shown(lot.on_hand)} on hand) destroyed — "
            "wasted, expired or damaged. A witness co-signs every destruction."
        ),
        action_text="&Destroy",
        quantity_label="&Quantity destroyed (units):",
        perform=lambda answers, signed: inventory.destroy(
            actor, lot.lot_id, quantity=answers.quantity, reason=answers.reason, witness=signed
        ),
        witness=witness,
        witness_needed=True,
        witness_purpose=f"witness the destruction of stock of {lot_words(lot)}",
        parent=parent,
    )


def return_dialog(
    inventory: InventoryService, actor: Actor, lot: StockRow, *, parent: QWidget | None = None
) -> LotActionDialog:
    return LotActionDialog(
        title="Return to vendor",
        explanation=(
            f"Send stock of {lot_words(lot)} ({shown(lot.on_hand)} on hand) back to the seller: "
            "recalled, short-dated, damaged or ordered in error."
        ),
        action_text="Re&turn",
        quantity_label="&Quantity returned (units):",
        perform=lambda answers, _signed: inventory.return_to_vendor(
            actor, lot.lot_id, quantity=answers.quantity, reason=answers.reason
        ),
        witness=None,
        witness_needed=False,
        witness_purpose="",
        parent=parent,
    )


def transfer_dialog(
    inventory: InventoryService, actor: Actor, lot: StockRow, *, parent: QWidget | None = None
) -> LotActionDialog:
    return LotActionDialog(
        title="Transfer out",
        explanation=(
            f"Send stock of {lot_words(lot)} ({shown(lot.on_hand)} on hand) to another pharmacy."
        ),
        action_text="T&ransfer",
        quantity_label="&Quantity sent (units):",
        ask_pharmacy=True,
        perform=lambda answers, _signed: inventory.transfer_out(
            actor,
            lot.lot_id,
            quantity=answers.quantity,
            to_pharmacy=answers.to_pharmacy,
            reason=answers.reason,
        ),
        witness=None,
        witness_needed=False,
        witness_purpose="",
        parent=parent,
    )


def move_dialog(
    inventory: InventoryService, actor: Actor, lot: StockRow, *, parent: QWidget | None = None
) -> LotActionDialog:
    """No reason asked: a move changes no stock (no ledger line), its audit event says where
    from and to."""
    elsewhere = tuple(place for place in LOCATIONS if place != lot.location)
    return LotActionDialog(
        title="Move location",
        explanation=f"Keep {lot_words(lot)} somewhere else (now: {lot.location}).",
        action_text="&Move",
        locations=elsewhere,
        ask_reason=False,
        perform=lambda answers, _signed: inventory.move_location(
            actor, lot.lot_id, answers.location
        ),
        witness=None,
        witness_needed=False,
        witness_purpose="",
        parent=parent,
    )


def quarantine_dialog(
    inventory: InventoryService, actor: Actor, lot: StockRow, *, parent: QWidget | None = None
) -> LotActionDialog:
    return LotActionDialog(
        title="Quarantine lot",
        explanation=(
            f"Keep {lot_words(lot)} from being dispensed until a pharmacist releases it. "
            "Put it on the quarantine shelf."
        ),
        action_text="&Quarantine",
        perform=lambda answers, _signed: inventory.quarantine(
            actor, lot.lot_id, reason=answers.reason
        ),
        witness=None,
        witness_needed=False,
        witness_purpose="",
        parent=parent,
    )


def release_dialog(
    inventory: InventoryService,
    actor: Actor,
    lot: StockRow,
    *,
    cosign: Witness | None,
    parent: QWidget | None = None,
) -> LotActionDialog:
    """Only a pharmacist releases a lot: a technician's release is co-signed by one, and
    recorded as the pharmacist's."""
    pharmacist = actor.has_any(Role.PHARMACIST)
    return LotActionDialog(
        title="Release lot",
        explanation=(
            f"Return {lot_words(lot)} from quarantine to the stock that may be dispensed. "
            "Only a pharmacist releases a lot"
            + ("." if pharmacist else ": the pharmacist co-signs.")
        ),
        action_text="R&elease",
        perform=lambda answers, signed: inventory.release(
            signed or actor, lot.lot_id, reason=answers.reason
        ),
        witness=None if pharmacist else cosign,
        witness_needed=not pharmacist,
        witness_purpose=f"release of {lot_words(lot)} from quarantine",
        unsigned_text=NO_PHARMACIST_TEXT,
        parent=parent,
    )


def reverse_dialog(
    inventory: InventoryService,
    actor: Actor,
    movement: MovementLine,
    *,
    dea_schedule: str | None,
    witness: Witness | None,
    parent: QWidget | None = None,
) -> LotActionDialog:
    controlled = _controlled(dea_schedule)
    what = (
        f"movement #{movement.movement_id} ({KIND_LABELS.get(movement.kind, movement.kind)} "
        f"{shown(movement.quantity)} of lot {movement.lot_number})"
    )
    return LotActionDialog(
        title="Reverse movement",
        explanation=(
            f"Undo {what}, made by mistake, with a reversing movement: the ledger keeps both."
            + (" Controlled stock: a witness co-signs." if controlled else "")
        ),
        action_text="Re&verse",
        perform=lambda answers, signed: inventory.reverse(
            actor, movement.movement_id, reason=answers.reason, witness=signed
        ),
        witness=witness,
        witness_needed=controlled,
        witness_purpose=f"witness the reversal of {what}",
        parent=parent,
    )
