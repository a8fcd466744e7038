"""Tools ▸ House policies…: the house's simple policies, seen by all, changed by a pharmacist."""

from __future__ import annotations

from dataclasses import fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.domain.money import MAX_TAX_BASIS_POINTS
from app.domain.roles import Role
from app.errors import RxBenchError
from app.services.house_settings import (
    MAX_CONTROLLED_LOSS_THRESHOLD_UNITS,
    MAX_DISCARD_AFTER_MONTHS,
    MAX_SHORT_DATED_DAYS,
    BillingPoint,
    CiiCountMode,
    CountPolicy,
    HousePolicies,
    HouseSettingsService,
    InventoryPolicy,
    SecondSignature,
    VerificationPolicy,
)
from app.services.payment import PaymentService, SalePolicy
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.errors import show_error
from ui.tasks import TaskRunner

SAVE_SHORTCUT = "Ctrl+S"
# The ranges HouseSettingsService's setters accept, checked here first so that a bad value in
# one field saves nothing at all (each setter is its own transaction).
REFILL_PERCENT_RANGE = (Decimal(50), Decimal(100))
WILL_CALL_DAYS_RANGE = (1, 60)
SHORT_DATED_DAYS_RANGE = (1, MAX_SHORT_DATED_DAYS)
LOSS_THRESHOLD_RANGE = (0, MAX_CONTROLLED_LOSS_THRESHOLD_UNITS)
DISCARD_MONTHS_RANGE = (1, MAX_DISCARD_AFTER_MONTHS)
TAX_PERCENT_RANGE = (Decimal(0), Decimal(MAX_TAX_BASIS_POINTS) / 100)
MAY_CHANGE = (Role.PHARMACIST, Role.ADMINISTRATOR)
NEGATIVE_WARNING = (
    "When allowed, a dispensing or stock change that takes more than a lot holds is not refused: "
    "the lot goes below zero and shows NEGATIVE in red on the Inventory dock until it is "
    "counted or received."
)
SECOND_SIGNATURE_NOTE = (
    "House policy, not a DEA rule: the counts a second person must sign before they are approved."
)
TAX_NOTE = "Charged on taxable OTC items only; prescriptions are never taxed."
COUNSELING_NOTE = (
    "Where the state requires it: a sale with a new prescription is not completed until "
    "counseling was offered (accepted and given, or declined and signed for)."
)
LOSS_THRESHOLD_NOTE = (
    "A CIII–CV loss found by a count above this many units prompts a DEA Form 106 (theft or "
    "significant loss); any CII loss does. How much is significant is the pharmacy's call."
)

Policy = TypeVar("Policy", VerificationPolicy, InventoryPolicy, CountPolicy, SalePolicy)


def read_only_sentence(actor: Actor) -> str:
    return (
        "Only a pharmacist or an administrator may change the house policies. You are signed in "
        f"as {actor.username} ({actor.roles_text or 'no role'}): they are shown, not changeable."
    )


def _percent_text(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}"


def _tax_text(basis_points: int) -> str:
    """725 basis points shown as 7.25 (percent)."""
    return f"{(Decimal(basis_points) / 100).normalize():f}"


def _changed(before: Policy, after: Policy, saved: Policy) -> Policy:
    """The rules saved now with only those edited here laid over them."""
    edited = {
        item.name: getattr(after, item.name)
        for item in fields(before)
        if getattr(after, item.name) != getattr(before, item.name)
    }
    return replace(saved, **edited)


def save_changed_policies(
    house: HouseSettingsService, actor: Actor, before: HousePolicies, after: HousePolicies
) -> HousePolicies:
    """Each policy edited since `before` was read goes through its own audited setter, over the
    values saved now: a rule another workstation changed meanwhile and not edited here stays."""
    saved = house.policies()
    if after.billing_point != before.billing_point:
        house.set_billing_point(actor, after.billing_point)
    if after.refill_too_soon_threshold != before.refill_too_soon_threshold:
        house.set_refill_too_soon_threshold(actor, after.refill_too_soon_threshold)
    if after.will_call_aging_days != before.will_call_aging_days:
        house.set_will_call_aging_days(actor, after.will_call_aging_days)
    if after.verification != before.verification:
        house.set_verification_policy(
            actor, _changed(before.verification, after.verification, saved.verification)
        )
    if after.inventory != before.inventory:
        house.set_inventory_policy(
            actor, _changed(before.inventory, after.inventory, saved.inventory)
        )
    if after.count != before.count:
        house.set_count_policy(actor, _changed(before.count, after.count, saved.count))
    if after.label_discard_after_months != before.label_discard_after_months:
        house.set_label_discard_after_months(actor, after.label_discard_after_months)
    return house.policies()


def save_changed_sale_policy(
    register: PaymentService, actor: Actor, before: SalePolicy, after: SalePolicy
) -> SalePolicy:
    """The point-of-sale rules edited since `before` was read, through the register's audited
    setter over the rules saved now."""
    if after == before:
        return register.policy()
    return register.set_policy(actor, _changed(before, after, register.policy()))


def _sentence(label: str) -> str:
    """A capital first letter only: str.capitalize() would turn "schedule II" into "schedule ii"."""
    return label[:1].upper() + label[1:]


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


def _choices(items: list[tuple[str, Any]]) -> QComboBox:
    box = QComboBox()
    for text, value in items:
        box.addItem(text, value)
    return box


class HousePoliciesDialog(QDialog):
    """The policies in six groups; Save (Ctrl+S) checks every field, then saves what changed.

    Signals: loaded(object) — the HousePolicies read; saved(object) — those after a save.
    """

    loaded = Signal(object)
    saved = Signal(object)

    def __init__(
        self,
        house: HouseSettingsService,
        register: PaymentService,
        actor: Actor,
        tasks: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._house = house
        self._register = register
        self._actor = actor
        self._tasks = tasks
        self._policies: HousePolicies | None = None
        self._sale_policy = SalePolicy()
        self.may_change = actor.has_any(*MAY_CHANGE)
        self.setWindowTitle("House policies — RxBench")

        intro = QLabel(
            "These policies apply on every workstation of the pharmacy. Each change is recorded "
            "in the audit trail."
            if self.may_change
            else read_only_sentence(actor)
        )
        intro.setWordWrap(True)
        intro.setAccessibleName("Who may change the policies")

        self.billing_point = _choices(
            [
                ("At data entry", BillingPoint.AT_DATA_ENTRY),
                ("Before fill", BillingPoint.BEFORE_FILL),
            ]
        )
        self.billing_point.setToolTip("When a fill's claim goes to the payer.")
        self.refill_percent = QLineEdit()
        self.refill_percent.setToolTip(
            "A refill is too soon until this share of the last fill's days supply has passed "
            "(50 to 100)."
        )
        self.will_call_days = QLineEdit()
        self.will_call_days.setToolTip(
            "A ready fill not picked up after this many days is listed for return to stock."
        )
        workflow = self._group(
            "Workflow && billing",
            [
                ("&Billing point:", self.billing_point),
                ("&Refill too soon before (% of days supply):", self.refill_percent),
                ("&Will-call aging (days):", self.will_call_days),
            ],
        )

        self.require_scanning = QCheckBox("Require sc&anning: a typed NDC is refused")
        self.require_scanning.setAccessibleName("Require scanning")
        self.require_lot_for_upc = QCheckBox("Require &lot and expiry when only a UPC is scanned")
        self.require_lot_for_upc.setAccessibleName("Require lot and expiry for a UPC")
        self.cii_count_mode = _choices([(_sentence(mode.label), mode) for mode in CiiCountMode])
        self.cii_count_mode.setToolTip("How the count of a Schedule II bottle is proven at Verify.")
        verification = self._group(
            "Verification",
            [
                ("", self.require_scanning),
                ("", self.require_lot_for_upc),
                ("C-&II count proven by:", self.cii_count_mode),
            ],
        )

        self.allow_negative = QCheckBox("Allow &negative on-hand")
        self.allow_negative.setAccessibleName("Allow negative on-hand")
        self.allow_negative.setToolTip(NEGATIVE_WARNING)
        self.short_dated_days = QLineEdit()
        self.short_dated_days.setToolTip(
            "A lot expiring within this many days is listed as short-dated."
        )
        inventory = self._group(
            "Inventory",
            [
                ("", self.allow_negative),
                ("", _note(NEGATIVE_WARNING)),
                ("Short-&dated window (days):", self.short_dated_days),
            ],
        )

        self.second_signature = _choices(
            [(_sentence(choice.label), choice) for choice in SecondSignature]
        )
        self.second_signature.setToolTip(SECOND_SIGNATURE_NOTE)
        self.loss_threshold = QLineEdit()
        self.loss_threshold.setToolTip(LOSS_THRESHOLD_NOTE)
        counts = self._group(
            "Counts && controlled substances",
            [
                ("Second si&gnature on:", self.second_signature),
                ("", _note(SECOND_SIGNATURE_NOTE)),
                ("Significant-loss &threshold (units):", self.loss_threshold),
                ("", _note(LOSS_THRESHOLD_NOTE)),
            ],
        )

        self.discard_months = QLineEdit()
        self.discard_months.setToolTip(
            "A label's discard-after date is this many months after the fill, or the lot's "
            "expiry when sooner (USP: at most a year)."
        )
        labels = self._group("Labels", [("Discard after (&months):", self.discard_months)])

        self.tax_percent = QLineEdit()
        self.tax_percent.setToolTip(
            f"{TAX_NOTE} A percentage from 0 to {TAX_PERCENT_RANGE[1]:f}, to the hundredth."
        )
        self.counseling_required = QCheckBox("Require c&ounseling for new prescriptions")
        self.counseling_required.setAccessibleName("Require counseling for new prescriptions")
        self.counseling_required.setToolTip(COUNSELING_NOTE)
        point_of_sale = self._group(
            "Point of sale",
            [
                ("Sales ta&x on OTC items (%):", self.tax_percent),
                ("", _note(TAX_NOTE)),
                ("", self.counseling_required),
                ("", _note(COUNSELING_NOTE)),
            ],
        )

        groups = QGridLayout()
        groups.addWidget(workflow, 0, 0)
        groups.addWidget(verification, 1, 0)
        groups.addWidget(labels, 2, 0)
        groups.addWidget(inventory, 0, 1)
        groups.addWidget(counts, 1, 1, 2, 1)
        groups.addWidget(point_of_sale, 3, 0, 1, 2)
        groups.setColumnStretch(0, 1)
        groups.setColumnStretch(1, 1)

        self.message = MessageLine()
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("&Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setToolTip(f"Save the changed policies ({SAVE_SHORTCUT})")
        self.save_button.setAccessibleName("Save")
        self.save_button.setDefault(True)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_button.setToolTip("Close without saving (Esc)")
        self.close_button.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        QShortcut(QKeySequence(SAVE_SHORTCUT), self, self.accept)
        if not self.may_change:
            self.save_button.hide()
            self.close_button.setText("Close")
            self.close_button.setAccessibleName("Close")
            self.close_button.setToolTip("Close (Esc)")

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(groups)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self._set_editable(False)
        self._tasks.run(
            lambda: (house.policies(), register.policy()),
            on_success=lambda read: self._show(*read),
            on_failure=self._failed,
        )

    @property
    def _editors(self) -> tuple[QWidget, ...]:
        return (
            self.billing_point,
            self.refill_percent,
            self.will_call_days,
            self.require_scanning,
            self.require_lot_for_upc,
            self.cii_count_mode,
            self.allow_negative,
            self.short_dated_days,
            self.second_signature,
            self.loss_threshold,
            self.discard_months,
            self.tax_percent,
            self.counseling_required,
        )

    def _group(self, title: str, rows: list[tuple[str, QWidget]]) -> QGroupBox:
        group = QGroupBox(title)
        group.setAccessibleName(title.replace("&&", "&"))
        form = QFormLayout(group)
        for label, field in rows:
            if label:
                add_field(form, label, field)
            else:
                form.addRow(field)
        return group

    def _set_editable(self, editable: bool) -> None:
        for editor in self._editors:
            editor.setEnabled(editable)
        self.save_button.setEnabled(editable)

    def _show(self, policies: HousePolicies, sale_policy: SalePolicy) -> None:
        self._policies = policies
        self._sale_policy = sale_policy
        self.tax_percent.setText(_tax_text(sale_policy.sales_tax_basis_points))
        self.counseling_required.setChecked(sale_policy.counseling_required_for_new_rx)
        self.billing_point.setCurrentIndex(self.billing_point.findData(policies.billing_point))
        self.refill_percent.setText(_percent_text(policies.refill_too_soon_threshold))
        self.will_call_days.setText(str(policies.will_call_aging_days))
        verification = policies.verification
        self.require_scanning.setChecked(verification.require_scanning)
        self.require_lot_for_upc.setChecked(verification.require_lot_for_upc)
        self.cii_count_mode.setCurrentIndex(
            self.cii_count_mode.findData(verification.cii_count_mode)
        )
        self.allow_negative.setChecked(policies.inventory.allow_negative_on_hand)
        self.short_dated_days.setText(str(policies.inventory.short_dated_days))
        self.second_signature.setCurrentIndex(
            self.second_signature.findData(policies.count.second_signature)
        )
        self.loss_threshold.setText(str(policies.count.loss_threshold_units))
        self.discard_months.setText(str(policies.label_discard_after_months))
        self._set_editable(self.may_change)
        (self.billing_point if self.may_change else self.close_button).setFocus()
        self.loaded.emit(policies)

    # --- saving ---------------------------------------------------------------------------------

    def accept(self) -> None:
        """Check every field; with none wrong, save only what changed, then close."""
        if self._policies is None or not self.save_button.isEnabled():
            return
        self.message.retract()
        problems: list[tuple[QLineEdit, str]] = []
        edited = self._edited(problems)
        sale_edited = self._sale_edited(problems)
        if problems:
            self.message.show_problem("\n".join(text for _, text in problems))
            first = problems[0][0]
            first.setFocus()
            first.selectAll()
            return
        assert edited is not None and sale_edited is not None
        before, sale_before = self._policies, self._sale_policy
        if edited == before and sale_edited == sale_before:
            super().accept()
            return
        house, register, actor = self._house, self._register, self._actor

        def save() -> tuple[HousePolicies, SalePolicy]:
            return (
                save_changed_policies(house, actor, before, edited),
                save_changed_sale_policy(register, actor, sale_before, sale_edited),
            )

        self._set_editable(False)
        self._tasks.run(save, on_success=self._saved, on_failure=self._save_failed)

    def _edited(self, problems: list[tuple[QLineEdit, str]]) -> HousePolicies | None:
        """The policies as the fields say; each field that cannot be saved adds a problem."""
        percent = self._percent(problems)
        will_call = self._whole(
            problems, self.will_call_days, "Will-call aging", "days", WILL_CALL_DAYS_RANGE
        )
        short_dated = self._whole(
            problems,
            self.short_dated_days,
            "The short-dated window",
            "days",
            SHORT_DATED_DAYS_RANGE,
        )
        loss = self._whole(
            problems,
            self.loss_threshold,
            "The significant-loss threshold",
            "units",
            LOSS_THRESHOLD_RANGE,
        )
        months = self._whole(
            problems, self.discard_months, "Discard after", "months", DISCARD_MONTHS_RANGE
        )
        if (
            problems
            or percent is None
            or will_call is None
            or short_dated is None
            or loss is None
            or months is None
        ):
            return None
        return HousePolicies(
            billing_point=BillingPoint(self.billing_point.currentData()),
            refill_too_soon_threshold=percent / 100,
            will_call_aging_days=will_call,
            verification=VerificationPolicy(
                require_scanning=self.require_scanning.isChecked(),
                require_lot_for_upc=self.require_lot_for_upc.isChecked(),
                cii_count_mode=CiiCountMode(self.cii_count_mode.currentData()),
            ),
            inventory=InventoryPolicy(
                allow_negative_on_hand=self.allow_negative.isChecked(),
                short_dated_days=short_dated,
            ),
            count=CountPolicy(
                second_signature=SecondSignature(self.second_signature.currentData()),
                loss_threshold_units=loss,
            ),
            label_discard_after_months=months,
        )

    def _sale_edited(self, problems: list[tuple[QLineEdit, str]]) -> SalePolicy | None:
        """The point-of-sale rules as the fields say; a tax rate that cannot be saved adds a
        problem."""
        text = self.tax_percent.text().strip().removesuffix("%").strip()
        low, high = TAX_PERCENT_RANGE
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal("NaN")
        if value.is_finite() and low <= value <= high and value == round(value, 2):
            return SalePolicy(
                sales_tax_basis_points=int(value * 100),
                counseling_required_for_new_rx=self.counseling_required.isChecked(),
            )
        given = f"not “{self.tax_percent.text()}”" if text else "not left empty"
        problems.append(
            (
                self.tax_percent,
                f"Sales tax: type a percentage from {low} to {high:f}, to the hundredth (7.25 "
                f"means 7.25%), {given}.",
            )
        )
        return None

    def _percent(self, problems: list[tuple[QLineEdit, str]]) -> Decimal | None:
        text = self.refill_percent.text().strip().removesuffix("%").strip()
        low, high = REFILL_PERCENT_RANGE
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal("NaN")
        if value.is_finite() and low <= value <= high:
            return value
        problems.append(
            (
                self.refill_percent,
                f"Refill too soon: type a percentage from {low} to {high} (75 means 75% of the "
                f"last fill's days supply must pass), not “{self.refill_percent.text()}”.",
            )
        )
        return None

    @staticmethod
    def _whole(
        problems: list[tuple[QLineEdit, str]],
        edit: QLineEdit,
        name: str,
        unit: str,
        limits: tuple[int, int],
    ) -> int | None:
        text = edit.text().strip()
        low, high = limits
        if text.isascii() and text.isdigit() and low <= int(text) <= high:
            return int(text)
        given = f"not “{text}”" if text else "not left empty"
        problems.append(
            (edit, f"{name}: type a whole number of {unit} from {low} to {high}, {given}.")
        )
        return None

    def _saved(self, saved: tuple[HousePolicies, SalePolicy]) -> None:
        self._policies, self._sale_policy = saved
        self.saved.emit(self._policies)
        super().accept()

    def _save_failed(self, exc: BaseException) -> None:
        self._set_editable(True)
        self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, RxBenchError):
            self.message.show_error(exc)
        else:
            show_error(self, exc)


def open_house_policies(
    parent: QWidget | None,
    house: HouseSettingsService,
    register: PaymentService,
    actor: Actor | None,
    tasks: TaskRunner,
) -> HousePolicies | None:
    """The Tools ▸ "House policies…" action; the policies once saved, else None."""
    if actor is None:
        return None
    dialog = HousePoliciesDialog(house, register, actor, tasks, parent)
    saved: list[HousePolicies] = []
    dialog.saved.connect(saved.append)
    dialog.exec()
    return saved[-1] if saved else None
