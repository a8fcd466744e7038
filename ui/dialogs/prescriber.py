"""Prescribers: the new or edited prescriber (NPI, DEA registration) and finding one to pick."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
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
from app.errors import RxBenchError, StaleRecord, ValidationFailed
from app.services.pharmacy import US_STATES
from app.services.prescribers import (
    DEA_SCHEDULES,
    PrescriberDraft,
    PrescriberSaved,
    PrescriberSummary,
    dea_warnings,
)
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.dialogs.patient_search import ResultsTable, configure_table
from ui.errors import explain
from ui.models.table import RowTableModel
from ui.tasks import TaskRunner
from ui.widgets.date_edit import DateEdit
from ui.widgets.field_problems import FieldProblems

SCHEDULE_NAMES = {
    "2": "C-II",
    "2N": "C-II non-narcotic",
    "3": "C-III",
    "3N": "C-III non-narcotic",
    "4": "C-IV",
    "5": "C-V",
}
_WARNING_STYLE = (
    "QLabel { color: #5c4400; background: #fff4d6; border: 1px solid #e0c070;"
    " border-radius: 4px; padding: 4px; }"
)


def _line(placeholder: str = "", *, max_length: int = 0) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    if max_length:
        edit.setMaxLength(max_length)
    return edit


class PrescriberDialog(QDialog):
    """A new prescriber (`prescriber` None) or an edit; Enter saves, Esc cancels.

    A wrong NPI or DEA check digit is refused under its field; what is odd but lawful about the
    DEA registration (a second letter that is not the last name's initial, no schedules, an
    expiry passed) is shown as it is typed and does not stop the save.

    Signals: prescriber_saved(object)  # the PrescriberSaved, with its warnings
    """

    prescriber_saved = Signal(object)

    def __init__(
        self,
        services: Services,
        actor: Actor,
        *,
        prescriber: PrescriberSummary | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._actor = actor
        self._existing = prescriber
        self.saved: PrescriberSaved | None = None
        self.problems = FieldProblems()
        self.setWindowTitle(
            f"Prescriber — {prescriber.display_name}" if prescriber else "New prescriber"
        )
        self.setMinimumWidth(760)
        add = self.problems.add

        who = QGroupBox("Prescriber")
        form = QFormLayout(who)
        self._last_name = add(form, "&Last name:", _line(max_length=100), fact="last_name")
        self._first_name = add(form, "&First name:", _line(max_length=100), fact="first_name")
        self._credentials = add(
            form, "Cre&dentials:", _line("MD, DO, NP, PA, DDS…", max_length=32), fact="credentials"
        )
        self._npi = add(form, "&NPI:", _line("10 digits", max_length=10), fact="npi")
        self._dea = add(form, "D&EA number:", _line("AB1234563", max_length=20), fact="dea_number")
        schedules = QWidget()
        row = QHBoxLayout(schedules)
        row.setContentsMargins(0, 0, 0, 0)
        self._schedules: dict[str, QCheckBox] = {}
        for code in DEA_SCHEDULES:
            box = QCheckBox(code)
            box.setAccessibleName(f"Schedule {code}")
            box.setToolTip(SCHEDULE_NAMES[code])
            box.toggled.connect(self._update_warnings)
            row.addWidget(box)
            self._schedules[code] = box
        row.addStretch()
        label = QLabel("DEA &schedules:")
        label.setBuddy(self._schedules["2"])
        form.addRow(label, schedules)
        self.problems.register(
            "dea_schedules", self._schedules["2"], self.problems.problem_label("DEA schedules")
        )
        form.addRow("", self.problems.problem("dea_schedules"))
        self._dea_expires = add(
            form, "DEA e&xpires on:", DateEdit("DEA expiry date"), fact="dea_expires_on"
        )
        self._license = add(form, "State l&icense:", _line(max_length=32), fact="state_license")

        where = QGroupBox("Office")
        office = QFormLayout(where)
        self._address1 = add(office, "Add&ress:", _line(), fact="address_line1")
        self._address2 = add(office, "S&uite:", _line("(optional)"), fact="address_line2")
        self._city = add(office, "Cit&y:", _line(), fact="city")
        self._state = add(office, "S&tate:", QComboBox(), fact="state")
        self._state.addItems(sorted(US_STATES))
        self._state.setPlaceholderText("Choose…")
        self._state.setCurrentIndex(-1)
        self._postal_code = add(office, "&ZIP code:", _line(), fact="postal_code")
        self._phone = add(office, "&Phone:", _line("(217) 555-0100"), fact="phone")
        self._fax = add(office, "F&ax:", _line(), fact="fax")

        self._warnings = QLabel()
        self._warnings.setWordWrap(True)
        self._warnings.setStyleSheet(_WARNING_STYLE)
        self._warnings.setAccessibleName("DEA warnings")
        self._warnings.hide()
        for field in (self._last_name, self._dea, self._dea_expires):
            field.textChanged.connect(self._update_warnings)
        self._message = MessageLine()

        buttons = QDialogButtonBox()
        save = buttons.addButton("Sa&ve prescriber", QDialogButtonBox.ButtonRole.AcceptRole)
        save.setDefault(True)
        save.setAccessibleName("Save prescriber")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        columns = QHBoxLayout()
        columns.addWidget(who, 1)
        columns.addWidget(where, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(columns)
        layout.addWidget(self._warnings)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        if prescriber is not None:
            self._show(prescriber)
        self._last_name.setFocus()

    def _show(self, prescriber: PrescriberSummary) -> None:
        self._last_name.setText(prescriber.last_name)
        self._first_name.setText(prescriber.first_name)
        self._credentials.setText(prescriber.credentials)
        self._npi.setText(prescriber.npi)
        self._dea.setText(prescriber.dea_number)
        for code, box in self._schedules.items():
            box.setChecked(code in prescriber.dea_schedules)
        self._dea_expires.set_date(prescriber.dea_expires_on)
        self._license.setText(prescriber.state_license)
        self._address1.setText(prescriber.address_line1)
        self._address2.setText(prescriber.address_line2)
        self._city.setText(prescriber.city)
        self._state.setCurrentIndex(self._state.findText(prescriber.state))
        self._postal_code.setText(prescriber.postal_code)
        self._phone.setText(prescriber.phone)
        self._fax.setText(prescriber.fax)

    def _draft(self, expires: date | None) -> PrescriberDraft:
        return PrescriberDraft(
            last_name=self._last_name.text(),
            first_name=self._first_name.text(),
            npi=self._npi.text(),
            credentials=self._credentials.text(),
            dea_number=self._dea.text(),
            dea_schedules=frozenset(
                code for code, box in self._schedules.items() if box.isChecked()
            ),
            dea_expires_on=expires,
            state_license=self._license.text(),
            phone=self._phone.text(),
            fax=self._fax.text(),
            address_line1=self._address1.text(),
            address_line2=self._address2.text(),
            city=self._city.text(),
            state=self._state.currentText(),
            postal_code=self._postal_code.text(),
        )

    def _update_warnings(self) -> None:
        """The lawful oddities of the registration typed so far; nothing while it is incomplete."""
        shown: tuple[str, ...] = ()
        if self._dea.text().strip() and self._last_name.text().strip():
            try:
                clean = self._draft(self._dea_expires.date()).validated()
            except ValidationFailed:
                clean = None
            if clean is not None:
                shown = dea_warnings(clean, date.today())
        self._warnings.setText("\n".join(shown))
        self._warnings.setAccessibleDescription(self._warnings.text())
        self._warnings.setVisible(bool(shown))

    @property
    def warnings_shown(self) -> str:
        return self._warnings.text() if not self._warnings.isHidden() else ""

    def accept(self) -> None:
        """Save; a refusal is stated under its field, what is typed stays."""
        self.problems.retract()
        self._message.retract()
        try:
            expires = self._dea_expires.date()
        except ValidationFailed as exc:
            self.problems.show("dea_expires_on", exc.message)
            return
        prescribers = self._services.prescribers
        try:
            if self._existing is None:
                self.saved = prescribers.create_prescriber(self._actor, draft=self._draft(expires))
            else:
                self.saved = prescribers.update_prescriber(
                    self._actor,
                    self._existing.id,
                    expected_version=self._existing.version,
                    draft=self._draft(expires),
                )
        except StaleRecord as exc:
            self._message.show_problem(explain(exc)[1])
            return
        except RxBenchError as exc:
            field = exc.facts.get("field")
            if self.problems.knows(field):
                self.problems.show(str(field), explain(exc)[1])
            else:
                self._message.show_problem(explain(exc)[1])
            return
        self.prescriber_saved.emit(self.saved)
        super().accept()


class PrescriberModel(RowTableModel[PrescriberSummary]):
    HEADERS = ("Name", "NPI", "DEA", "Schedules", "Phone", "City")

    def display(self, row: PrescriberSummary, column: int) -> str:
        schedules = ", ".join(code for code in DEA_SCHEDULES if code in row.dea_schedules)
        values = (row.display_name, row.npi, row.dea_number, schedules, row.phone, row.city)
        return values[column]


class PrescriberSearchDialog(QDialog):
    """Name, NPI or DEA number, Enter to search; Enter on a row picks it (or opens it to edit).

    Signals: searched(int)  # a search answered, with the number found
    prescriber_chosen(object)  # picking: the PrescriberSummary chosen (or just created)
    """

    searched = Signal(int)
    prescriber_chosen = Signal(object)

    def __init__(
        self,
        services: Services,
        actor: Actor,
        *,
        pick: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._actor = actor
        self._pick = pick
        self._generation = 0
        self.chosen: PrescriberSummary | None = None
        self.tasks = TaskRunner(self)
        self.setWindowTitle("Choose the prescriber" if pick else "Find a prescriber")
        self.setMinimumSize(720, 380)
        form = QFormLayout()
        self._query = add_field(form, "&Search:", QLineEdit())
        self._query.setPlaceholderText("Last name, first name · NPI · DEA number")
        self._query.returnPressed.connect(self.search)
        self.model = PrescriberModel(self)
        self._results = configure_table(self.model, "Prescribers found", ResultsTable())
        self._results.row_activated.connect(self.open_row)
        self._results.doubleClicked.connect(lambda index: self.open_row(index.row()))
        self._status = QLabel()
        self._status.setAccessibleName("Search status")
        self._message = MessageLine()
        buttons = QDialogButtonBox()
        new = buttons.addButton("&New prescriber…", QDialogButtonBox.ButtonRole.ActionRole)
        new.setAccessibleName("New prescriber")
        new.setAutoDefault(False)
        new.clicked.connect(self.new_prescriber)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        close.setAccessibleName("Cancel")
        close.setAutoDefault(False)  # Enter searches or picks; it never cancels
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self._results)
        layout.addWidget(self._status)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        self._query.setFocus()

    def search_for(self, text: str) -> None:
        self._query.setText(text.strip())
        self.search()

    def search(self) -> None:
        text = self._query.text().strip()
        if not text:
            return
        self._generation += 1
        generation = self._generation
        prescribers, actor = self._services.prescribers, self._actor
        self._status.setText("Searching…")
        self.tasks.run(
            lambda: prescribers.search(actor, text),
            on_success=lambda rows: self._answered(generation, text, rows),
            on_failure=lambda exc: self._failed(generation, exc),
        )

    def _answered(self, generation: int, text: str, rows: list[PrescriberSummary]) -> None:
        if generation != self._generation:
            return
        self._message.retract()
        self.model.set_rows(rows)
        if rows:
            self._status.setText(f"{len(rows)} found: Enter to choose the one selected.")
            self._results.selectRow(0)
            self._results.setFocus()
        else:
            self._status.setText(f"No prescriber matches “{text}”: add a new one.")
        self.searched.emit(len(rows))

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self._status.clear()
            self._message.show_problem(explain(exc)[1])
            self.searched.emit(0)

    def open_row(self, row: int) -> None:
        prescriber = self.model.row_at(row)
        if self._pick:
            self._choose(prescriber)
            return
        dialog = PrescriberDialog(self._services, self._actor, prescriber=prescriber, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.prescriber_saved.connect(lambda _saved: self.search())
        dialog.open()

    def new_prescriber(self) -> PrescriberDialog:
        dialog = PrescriberDialog(self._services, self._actor, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.prescriber_saved.connect(self._created)
        dialog.open()
        return dialog

    def _created(self, saved: Any) -> None:
        if self._pick:
            self._choose(saved.prescriber)
        else:
            self._query.setText(saved.prescriber.npi)
            self.search()

    def _choose(self, prescriber: PrescriberSummary) -> None:
        self.chosen = prescriber
        self.prescriber_chosen.emit(prescriber)
        self.accept()

    def done(self, result: int) -> None:
        self.tasks.shutdown()
        super().done(result)
