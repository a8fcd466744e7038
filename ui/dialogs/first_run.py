"""First-run set-up: the pharmacy's profile and its first administrator, on an empty system."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.bootstrap import Services
from app.errors import RxBenchError
from app.services.pharmacy import US_STATES, PharmacyProfile
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field, secret_edit

INTRODUCTION = (
    "Welcome to RxBench. Nobody is set up on this installation yet: enter your pharmacy's "
    "details as registered, and create the first administrator. The administrator is also a "
    "pharmacist and is signed in when you finish."
)


def _line(placeholder: str = "", *, max_length: int = 0) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    if max_length:
        edit.setMaxLength(max_length)
    return edit


class FirstRunDialog(QDialog):
    """Nothing is saved until every field is valid; `actor` is then the new administrator."""

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.actor: Actor | None = None
        self.setWindowTitle("Set up RxBench")
        self.setMinimumWidth(760)

        introduction = QLabel(INTRODUCTION)
        introduction.setWordWrap(True)

        pharmacy = QGroupBox("Pharmacy")
        form = QFormLayout(pharmacy)
        self._name = add_field(form, "Pharmacy &name:", _line())
        self._address1 = add_field(form, "&Street address:", _line())
        self._address2 = add_field(form, "Address line &2:", _line("Suite, unit (optional)"))
        self._city = add_field(form, "Cit&y:", _line())
        self._state = add_field(form, "S&tate:", QComboBox())
        self._state.addItems(sorted(US_STATES))
        self._state.setPlaceholderText("Choose…")
        self._state.setCurrentIndex(-1)
        self._postal_code = add_field(form, "&ZIP code:", _line("12345 or 12345-6789"))
        self._phone = add_field(form, "P&hone:", _line("(217) 555-0100"))
        self._npi = add_field(form, "N&PI:", _line("10 digits", max_length=10))
        self._ncpdp = add_field(form, "NCPDP &ID:", _line("7 digits", max_length=7))
        self._dea = add_field(form, "&DEA number:", _line("AB1234563", max_length=20))

        administrator = QGroupBox("First administrator")
        administrator.setMinimumWidth(340)
        admin_form = QFormLayout(administrator)
        self._username = add_field(admin_form, "&User name:", _line("lower-case, e.g. jsmith"))
        self._full_name = add_field(admin_form, "&Full name:", _line())
        self._password = add_field(admin_form, "Pass&word:", secret_edit())
        self._password.setPlaceholderText("at least 8 characters")
        self._repeat = add_field(admin_form, "&Repeat password:", secret_edit())

        # Validation errors name the field (or, from the identifier validators, the identifier)
        # in their facts, so the cursor can go where the correction belongs.
        self._fields_by_fact: dict[str, QWidget] = {
            "npi": self._npi,
            "ncpdp": self._ncpdp,
            "dea": self._dea,
            "name": self._name,
            "address_line1": self._address1,
            "city": self._city,
            "state": self._state,
            "postal_code": self._postal_code,
            "phone": self._phone,
        }
        self._message = MessageLine()

        buttons = QDialogButtonBox()
        set_up = buttons.addButton("S&et up RxBench", QDialogButtonBox.ButtonRole.AcceptRole)
        set_up.setDefault(True)
        set_up.setAccessibleName("Set up RxBench")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        columns = QHBoxLayout()
        columns.addWidget(pharmacy, 1)
        columns.addWidget(administrator, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(introduction)
        layout.addLayout(columns)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        self._name.setFocus()

    def _profile(self) -> PharmacyProfile:
        return PharmacyProfile(
            name=self._name.text(),
            address_line1=self._address1.text(),
            address_line2=self._address2.text(),
            city=self._city.text(),
            state=self._state.currentText(),
            postal_code=self._postal_code.text(),
            phone=self._phone.text(),
            npi=self._npi.text(),
            ncpdp_id=self._ncpdp.text(),
            dea_number=self._dea.text(),
        )

    def _refuse(self, text: str, field: QWidget) -> None:
        self._message.show_problem(text)
        field.setFocus()

    def accept(self) -> None:
        """Create the pharmacy and administrator, or say inline what to correct."""
        if self._state.currentIndex() < 0:
            self._refuse("Choose the pharmacy's state.", self._state)
            return
        if self._password.text() != self._repeat.text():
            self._repeat.clear()
            self._refuse("The two passwords differ: type the same password twice.", self._repeat)
            return
        try:
            self.actor = self._services.pharmacy.first_run(
                self._profile(),
                admin_username=self._username.text(),
                admin_full_name=self._full_name.text(),
                admin_password=self._password.text(),
            )
        except RxBenchError as exc:
            self._message.show_error(exc)
            named = [
                field
                for fact, field in self._fields_by_fact.items()
                if fact in exc.facts or exc.facts.get("field") == fact
            ]
            if named:
                named[0].setFocus()
            return
        super().accept()
