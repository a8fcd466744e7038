"""A pharmacist adds the product of a scanned bottle the catalogue lacks, read off the package."""

from __future__ import annotations

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

from app.errors import RxBenchError
from app.services.dispensing import CONTROLLED_SCHEDULES
from app.services.local_products import BILLING_UNITS, AddedProduct, PharmacyProductDraft
from app.services.unit_of_work import Actor
from app.services.verification import VerificationService
from ui.dialogs.fields import MessageLine
from ui.errors import explain
from ui.widgets.field_problems import FieldProblems

NO_SCHEDULE = "None"
CHOOSE_NDC_TEXT = "Choose the NDC printed on the package"
QUANTITY_NOT_A_NUMBER = "Type how many billing units one package holds, as a number (90, 2.5)."


def _line(placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    return edit


class AddProductDialog(QDialog):
    """Fields in the NDC Directory's terms; a refusal is stated under its field, what was typed
    stays. After acceptance `added` is the product put in the catalogue."""

    def __init__(
        self,
        verification: VerificationService,
        pharmacist: Actor,
        *,
        fill_id: int,
        scanned_text: str,
        readings: tuple[str, ...],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._verification = verification
        self._pharmacist = pharmacist
        self._fill_id = fill_id
        self._scanned_text = scanned_text
        self.added: AddedProduct | None = None
        self.problems = FieldProblems()
        self.setWindowTitle("Add product from a scanned bottle — RxBench")
        self.setMinimumWidth(560)

        explanation = QLabel(
            f"The bottle's code (NDC {', '.join(readings)}) is not in the drug catalogue. Read "
            "the package and enter what it says: the product is added to the catalogue as added "
            "by this pharmacy. Nothing is dispensed here: scan the bottle again afterwards and it "
            "is judged against the prescription like any other.\n"
            f"Added on the authority of {pharmacist.full_name} ({pharmacist.username})."
        )
        explanation.setWordWrap(True)
        explanation.setAccessibleName("What this adds")

        form = QFormLayout()
        add = self.problems.add
        self.ndc = add(form, "&NDC:", QComboBox(), fact="ndc")
        self.ndc.setEditable(True)
        self.ndc.addItems(readings)
        self.ndc.setCurrentIndex(0 if len(readings) == 1 else -1)
        self.ndc.lineEdit().setPlaceholderText(CHOOSE_NDC_TEXT)
        self.proprietary_name = add(
            form, "&Proprietary name:", _line("the name on the label"), fact="proprietary_name"
        )
        self.nonproprietary_name = add(
            form, "&Generic (non-proprietary) name:", _line(), fact="nonproprietary_name"
        )
        self.active_ingredients = add(
            form,
            "Active &ingredients:",
            _line("blank: the generic name; several: A; B"),
            fact="active_ingredients",
        )
        self.strength = add(form, "&Strength:", _line("10, or 5; 325"), fact="strength")
        self.strength_unit = add(
            form, "Strength &unit:", _line("mg, mcg, mg/5mL; or mg; mg"), fact="strength_unit"
        )
        self.dosage_form = add(
            form, "Dosage &form:", _line("TABLET, CAPSULE, SOLUTION…"), fact="dosage_form"
        )
        self.route = add(form, "&Route:", _line("ORAL"), fact="route")
        self.labeler = add(form, "&Labeler:", _line("manufacturer or distributor"), fact="labeler")
        self.dea_schedule = add(form, "D&EA schedule:", QComboBox(), fact="dea_schedule")
        self.dea_schedule.addItems([NO_SCHEDULE, *CONTROLLED_SCHEDULES])
        self.package_description = add(
            form,
            "Package &description:",
            _line("90 TABLET in 1 BOTTLE"),
            fact="package_description",
        )
        self.billing_unit = add(form, "&Billing unit:", QComboBox(), fact="billing_unit")
        self.billing_unit.addItems(BILLING_UNITS)
        self.billing_quantity = add(
            form,
            "Billing &quantity:",
            _line("how many billing units one package holds"),
            fact="billing_quantity",
        )
        self.message = MessageLine()

        buttons = QDialogButtonBox()
        self.add_button = buttons.addButton(
            "&Add to catalogue", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.add_button.setDefault(True)
        self.add_button.setAccessibleName("Add to catalogue")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        (self.proprietary_name if len(readings) == 1 else self.ndc).setFocus()

    def _draft(self, billing_quantity: Decimal | None) -> PharmacyProductDraft:
        schedule = self.dea_schedule.currentText()
        return PharmacyProductDraft(
            ndc=self.ndc.currentText(),
            proprietary_name=self.proprietary_name.text(),
            nonproprietary_name=self.nonproprietary_name.text(),
            active_ingredients=self.active_ingredients.text(),
            strength=self.strength.text(),
            strength_unit=self.strength_unit.text(),
            dosage_form=self.dosage_form.text(),
            route=self.route.text(),
            labeler=self.labeler.text(),
            dea_schedule=None if schedule == NO_SCHEDULE else schedule,
            package_description=self.package_description.text(),
            billing_unit=self.billing_unit.currentText(),
            billing_quantity=billing_quantity,
        )

    def accept(self) -> None:
        """Add; a refusal (the service's or an unreadable quantity) is said under its field."""
        self.problems.retract()
        self.message.retract()
        typed = self.billing_quantity.text().strip()
        try:
            quantity = Decimal(typed) if typed else None
        except InvalidOperation:
            quantity = Decimal("NaN")
        if quantity is not None and not quantity.is_finite():
            self.problems.show("billing_quantity", QUANTITY_NOT_A_NUMBER)
            return
        try:
            self.added = self._verification.add_product_from_scan(
                self._pharmacist,
                self._fill_id,
                scanned_text=self._scanned_text,
                product=self._draft(quantity),
            )
        except RxBenchError as exc:
            field = exc.facts.get("field")
            if self.problems.knows(field):
                self.problems.show(str(field), explain(exc)[1])
            else:
                self.message.show_problem(explain(exc)[1])
            return
        super().accept()


def ask_to_add_product(
    parent: QWidget | None,
    verification: VerificationService,
    pharmacist: Actor,
    *,
    fill_id: int,
    scanned_text: str,
    readings: tuple[str, ...],
) -> AddedProduct | None:
    """The product added, or None when the pharmacist cancelled."""
    dialog = AddProductDialog(
        verification,
        pharmacist,
        fill_id=fill_id,
        scanned_text=scanned_text,
        readings=readings,
        parent=parent,
    )
    dialog.exec()
    added = dialog.added
    dialog.deleteLater()
    return added
