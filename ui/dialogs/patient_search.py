"""Finding a patient (name, birth date, phone or Rx number) and the read-only profile view."""

from __future__ import annotations

from typing import Any, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.bootstrap import Services
from app.services.patients import (
    SEXES,
    PatientHit,
    PatientRecord,
    PrescriptionHistoryEntry,
)
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.dialogs.patient import LANGUAGES, PatientDialog, allergy_text, coverage_text
from ui.errors import explain
from ui.models.formatting import date_text
from ui.models.table import RowTableModel
from ui.tasks import TaskRunner

PROFILE_PURPOSE = "patient profile"
Table = TypeVar("Table", bound=QTableView)


class PatientHitModel(RowTableModel[PatientHit]):
    HEADERS = ("Name", "Born", "Phone", "Address")

    def display(self, row: PatientHit, column: int) -> str:
        return (row.display_name, date_text(row.date_of_birth), row.phone, row.address_line)[column]

    def sort_key(self, row: PatientHit, column: int) -> Any:
        return row.date_of_birth if column == 1 else self.display(row, column).lower()


class HistoryModel(RowTableModel[PrescriptionHistoryEntry]):
    HEADERS = ("Rx", "Drug", "Written", "Status", "Last fill", "Fill state", "Refills left")

    def display(self, row: PrescriptionHistoryEntry, column: int) -> str:
        values = (
            row.rx_number,
            row.drug,
            date_text(row.written_date),
            row.status,
            date_text(row.last_fill_date) if row.last_fill_date else "—",
            row.last_fill_state.value.replace("_", " ") if row.last_fill_state else "—",
            str(row.refills_remaining),
        )
        return values[column]


def configure_table(model: RowTableModel[Any], name: str, table: Table) -> Table:
    """A read-only, row-selecting table; Tab leaves it rather than moving between cells."""
    table.setModel(model)
    table.setAccessibleName(name)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setTabKeyNavigation(False)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class ResultsTable(QTableView):
    """Enter opens the current row (a table otherwise passes Enter to the dialog).

    Signals: row_activated(int)  # Enter on a row; its number
    """

    row_activated = Signal(int)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.row_activated.emit(self.currentIndex().row())
            return
        super().keyPressEvent(event)


def open_patient_profile(
    parent: QWidget, services: Services, actor: Actor, patient_id: int
) -> PatientProfileDialog:
    """Open the record (an audited view) in a read-only profile over `parent`."""
    record = services.patients.open_record(actor, patient_id, purpose=PROFILE_PURPOSE)
    profile = PatientProfileDialog(services, actor, record, parent=parent)
    profile.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    profile.open()
    return profile


class PatientSearchDialog(QDialog):
    """Type, Enter to search; Down to the list, Enter to open (or, when picking, to choose).

    Signals: searched(int)  # a search answered, with the number of patients found
    patient_chosen(object)  # picking: the PatientHit chosen
    """

    searched = Signal(int)
    patient_chosen = Signal(object)

    def __init__(
        self,
        services: Services,
        actor: Actor,
        *,
        pick: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._actor = actor
        self._pick = pick
        self._generation = 0
        self.chosen: PatientHit | None = None
        self.tasks = TaskRunner(self)
        self.setWindowTitle("Choose the patient" if pick else "Find a patient")
        self.setMinimumSize(720, 420)

        form = QFormLayout()
        self._query = add_field(form, "&Search:", QLineEdit())
        self._query.setPlaceholderText(
            "Last name, first name · date of birth MM/DD/YYYY · phone · Rx number"
        )
        self._query.returnPressed.connect(self.search)
        self.model = PatientHitModel(self)
        self._results = ResultsTable()
        configure_table(self.model, "Patients found", self._results)
        self._results.row_activated.connect(self.open_row)
        self._results.doubleClicked.connect(lambda index: self.open_row(index.row()))
        self._status = QLabel("")
        self._status.setAccessibleName("Search status")
        self._message = MessageLine()

        buttons = QDialogButtonBox()
        new_patient = buttons.addButton("&New patient…", QDialogButtonBox.ButtonRole.ActionRole)
        new_patient.setAccessibleName("New patient")
        new_patient.setAutoDefault(False)
        new_patient.clicked.connect(self.new_patient)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName("Close")
        # Enter searches or opens; as an auto-default, Close would take it and end the search.
        close.setAutoDefault(False)
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
        """Search off the GUI thread; only the answer to the latest search is shown."""
        text = self._query.text().strip()
        if not text:
            return
        self._generation += 1
        generation = self._generation
        patients, actor = self._services.patients, self._actor
        self._status.setText("Searching…")
        self.tasks.run(
            lambda: patients.search(actor, text),
            on_success=lambda hits: self._answered(generation, text, hits),
            on_failure=lambda exc: self._failed(generation, exc),
        )

    def _answered(self, generation: int, text: str, hits: list[PatientHit]) -> None:
        if generation != self._generation:
            return
        self._message.retract()
        self.model.set_rows(hits)
        if hits:
            self._status.setText(
                f"{len(hits)} patient{'s' if len(hits) != 1 else ''} found: "
                "↓ to the list, Enter to open."
            )
            self._results.selectRow(0)
            self._results.setFocus()
        else:
            self._status.setText(
                f"Nobody on file matches “{text}”. Check it, or add a new patient."
            )
        self.searched.emit(len(hits))

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self._status.clear()
            self._message.show_problem(explain(exc)[1])
            self.searched.emit(0)

    def open_row(self, row: int) -> None:
        hit = self.model.row_at(row)
        if self._pick:
            self.chosen = hit
            self.patient_chosen.emit(hit)
            self.accept()
            return
        self.open_profile(hit.id)

    def open_profile(self, patient_id: int) -> PatientProfileDialog | None:
        """Open the record (an audited view) in the read-only profile."""
        try:
            return open_patient_profile(self, self._services, self._actor, patient_id)
        except Exception as exc:
            self._message.show_problem(explain(exc)[1])
            return None

    def new_patient(self) -> PatientDialog:
        dialog = PatientDialog(self._services, self._actor, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.existing_patient_chosen.connect(self.open_profile)
        dialog.patient_saved.connect(self._new_patient_saved)
        dialog.open()
        return dialog

    def _new_patient_saved(self, summary: Any) -> None:
        if self._pick:
            self.chosen = PatientHit(
                summary.id, summary.display_name, summary.date_of_birth, "", ""
            )
            self.patient_chosen.emit(self.chosen)
            self.accept()
            return
        self._query.setText(summary.display_name.split(",")[0])
        self.search()

    def done(self, result: int) -> None:
        self.tasks.shutdown()
        super().done(result)


class PatientProfileDialog(QDialog):
    """The opened record, read-only, with the prescription history; Edit… changes it.

    Signals: edited(object)  # the PatientSummary after an edit was saved
    """

    edited = Signal(object)

    def __init__(
        self,
        services: Services,
        actor: Actor,
        record: PatientRecord,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._actor = actor
        self.record = record
        self.setWindowTitle(f"Patient profile — {record.display_name}")
        self.setMinimumSize(760, 520)
        self._form = QFormLayout()
        self.history = HistoryModel(self)
        history = configure_table(self.history, "Prescription history", QTableView())
        buttons = QDialogButtonBox()
        edit = buttons.addButton("&Edit…", QDialogButtonBox.ButtonRole.ActionRole)
        edit.setAccessibleName("Edit")
        edit.setAutoDefault(False)
        edit.clicked.connect(self.edit)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName("Close")
        close.setDefault(True)
        buttons.rejected.connect(self.reject)
        heading = QLabel("Prescription &history:")
        heading.setBuddy(history)
        layout = QVBoxLayout(self)
        layout.addLayout(self._form)
        layout.addWidget(heading)
        layout.addWidget(history, 1)
        layout.addWidget(buttons)
        self._show(record)

    def _show(self, record: PatientRecord) -> None:
        while self._form.rowCount():
            self._form.removeRow(0)
        allergies = "; ".join(allergy_text(allergy) for allergy in record.allergies)
        preferences = [
            label
            for label, on in (
                ("easy-open caps", record.preferences.easy_open_caps),
                ("large-print labels", record.preferences.large_print_labels),
                ("delivery", record.preferences.delivery),
            )
            if on
        ]
        privacy = record.privacy_notice_acknowledged_on
        rows = (
            ("Name", record.display_name),
            ("Born", date_text(record.date_of_birth)),
            ("Sex", SEXES.get(record.sex, record.sex)),
            ("Address", record.address or "—"),
            ("Phone", " · ".join(p for p in (record.phone, record.phone_alternate) if p) or "—"),
            ("Email", record.email or "—"),
            ("Language", LANGUAGES.get(record.preferred_language, record.preferred_language)),
            ("Allergies", allergies or record.allergy_status.capitalize()),
            ("Conditions", "; ".join(c.description for c in record.conditions) or "—"),
            ("Insurance", "\n".join(coverage_text(c) for c in record.coverages) or "Cash"),
            ("Preferences", ", ".join(preferences).capitalize() or "—"),
            ("Privacy notice", f"acknowledged {date_text(privacy)}" if privacy else "not yet"),
        )
        for name, text in rows:
            value = QLabel(text)
            value.setAccessibleName(name)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard)
            value.setWordWrap(True)
            self._form.addRow(f"{name}:", value)
        self.history.set_rows(record.prescriptions)
        self.record = record

    def edit(self) -> PatientDialog:
        dialog = PatientDialog(self._services, self._actor, record=self.record, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.patient_saved.connect(self._edited)
        dialog.open()
        return dialog

    def _edited(self, summary: Any) -> None:
        record = self._services.patients.open_record(
            self._actor, summary.id, purpose=PROFILE_PURPOSE
        )
        self._show(record)
        self.edited.emit(summary)
