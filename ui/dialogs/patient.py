"""The patient dialog: a new patient or an edited profile, with allergies, insurance and more."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bootstrap import Services
from app.errors import RxBenchError, StaleRecord, ValidationFailed
from app.services.patients import (
    RELATIONSHIP_CODES,
    SEVERITIES,
    SEXES,
    AllergyDraft,
    AllergyEntry,
    CoverageDraft,
    CoverageEntry,
    PatientDraft,
    PatientHit,
    PatientPreferences,
    PatientRecord,
    PatientSummary,
    PossibleDuplicate,
)
from app.services.pharmacy import US_STATES
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine
from ui.errors import explain
from ui.widgets.action_edit import ActionLineEdit
from ui.widgets.date_edit import DateEdit
from ui.widgets.field_problems import FieldProblems, FieldWidget

LANGUAGES = {
    "en": "English",
    "es": "Spanish",
    "zh": "Chinese",
    "vi": "Vietnamese",
    "tl": "Tagalog",
    "ar": "Arabic",
    "fr": "French",
    "ht": "Haitian Creole",
    "ko": "Korean",
    "ru": "Russian",
    "pt": "Portuguese",
    "pl": "Polish",
}
NOT_ASKED, NO_KNOWN_ALLERGIES, HAS_ALLERGIES = range(3)
ALLERGY_STATUSES = (
    "Not asked yet",
    "No known allergies (the patient said so)",
    "Has allergies (listed below)",
)
DUPLICATE_INTRODUCTION = (
    "This may be a patient already on file. View the existing record, or confirm that this "
    "is a different person and save anyway."
)


def allergy_text(allergy: AllergyDraft | AllergyEntry) -> str:
    """ "Amoxicillin (class Penicillins) — hives, severe" as the list shows it."""
    coded = allergy.substance
    if allergy.drug_class:
        coded = f"{coded} (class {allergy.drug_class})" if coded else f"class {allergy.drug_class}"
    name = coded or f"“{allergy.free_text}” (free text)"
    details = ", ".join(part for part in (allergy.reaction, allergy.severity) if part)
    return f"{name} — {details}" if details else name


def coverage_text(coverage: CoverageEntry) -> str:
    rank = "Primary" if coverage.rank == 1 else "Secondary"
    plan = coverage.plan_name or f"BIN {coverage.bin}"
    state = "" if coverage.active else " (inactive)"
    return f"{rank}: {plan}, ID {coverage.cardholder_id}{state}"


def _line(placeholder: str = "", *, max_length: int = 0, own_enter: bool = False) -> QLineEdit:
    edit = ActionLineEdit() if own_enter else QLineEdit()
    edit.setPlaceholderText(placeholder)
    if max_length:
        edit.setMaxLength(max_length)
    return edit


class _CoverageBox(QGroupBox):
    """One card: primary or secondary. Blank means none; blanking a saved card deactivates it."""

    def __init__(self, rank: int, problems: FieldProblems) -> None:
        self.rank = rank
        label = "Primary" if rank == 1 else "Secondary"
        super().__init__(f"{label} insurance")
        self.setAccessibleName(f"{label} insurance")
        prefix = "coverage" if rank == 1 else "secondary"
        form = QFormLayout(self)
        self.plan = self._add(form, problems, "Pla&n name:", _line(), f"{prefix}_plan_name")
        self.bin = self._add(form, problems, "&BIN:", _line("6 digits", max_length=6), prefix)
        self.pcn = self._add(form, problems, "P&CN:", _line(max_length=10), f"{prefix}_pcn")
        self.group = self._add(
            form, problems, "&Group:", _line(max_length=15), f"{prefix}_group_number"
        )
        self.cardholder = self._add(
            form, problems, "Card&holder ID:", _line(max_length=20), f"{prefix}_cardholder_id"
        )
        self.person_code = self._add(
            form, problems, "Person c&ode:", _line("001", max_length=3), f"{prefix}_person_code"
        )
        self.relationship = self._add(
            form, problems, "Relationshi&p:", QComboBox(), f"{prefix}_relationship_code"
        )
        for code, meaning in RELATIONSHIP_CODES.items():
            self.relationship.addItem(f"{code} — {meaning}", code)
        self.relationship.setCurrentIndex(1)
        self._prefix = prefix
        self.existing: CoverageEntry | None = None

    def _add(
        self,
        form: QFormLayout,
        problems: FieldProblems,
        label_text: str,
        field: FieldWidget,
        fact: str,
    ) -> FieldWidget:
        name = "Primary" if self.rank == 1 else "Secondary"
        problems.add(form, label_text, field, fact=fact)
        field.setAccessibleName(f"{name} {field.accessibleName().lower()}")
        problems.problem(fact).setAccessibleName(f"{field.accessibleName()} problem")
        return field

    def fact(self, service_field: str) -> str:
        if service_field == "bin":
            return self._prefix
        return f"{self._prefix}_{service_field}"

    def show_entry(self, entry: CoverageEntry) -> None:
        self.existing = entry
        self.plan.setText(entry.plan_name)
        self.bin.setText(entry.bin)
        self.pcn.setText(entry.pcn)
        self.group.setText(entry.group_number)
        self.cardholder.setText(entry.cardholder_id)
        self.person_code.setText(entry.person_code)
        self.relationship.setCurrentIndex(
            max(self.relationship.findData(entry.relationship_code), 0)
        )

    def is_blank(self) -> bool:
        fields = (self.plan, self.bin, self.pcn, self.group, self.cardholder, self.person_code)
        return not any(field.text().strip() for field in fields)

    def draft(self) -> CoverageDraft:
        return CoverageDraft(
            rank=self.rank,
            bin=self.bin.text(),
            cardholder_id=self.cardholder.text(),
            pcn=self.pcn.text(),
            group_number=self.group.text(),
            person_code=self.person_code.text(),
            relationship_code=str(self.relationship.currentData()),
            plan_name=self.plan.text(),
            effective_on=self.existing.effective_on if self.existing else None,
            terminated_on=self.existing.terminated_on if self.existing else None,
        )

    def unchanged(self, draft: CoverageDraft) -> bool:
        entry = self.existing
        if entry is None:
            return False
        clean = draft.validated()
        return (
            clean.plan_name,
            clean.bin,
            clean.pcn,
            clean.group_number,
            clean.cardholder_id,
            clean.person_code,
            clean.relationship_code,
        ) == (
            entry.plan_name,
            entry.bin,
            entry.pcn,
            entry.group_number,
            entry.cardholder_id,
            entry.person_code,
            entry.relationship_code,
        )


@dataclass
class _Removal:
    entry: AllergyEntry
    reason: str


class PatientDialog(QDialog):
    """A new patient (`record` None) or the edit of an opened record; Enter saves, Esc cancels.

    Nothing is written until every entry checks; a possible duplicate is listed before saving.
    After acceptance `patient` is the saved patient.

    Signals: patient_saved(object)  # the PatientSummary, after every part was saved
    existing_patient_chosen(int)  # the person opened a possible duplicate instead; its id
    """

    patient_saved = Signal(object)
    existing_patient_chosen = Signal(int)

    def __init__(
        self,
        services: Services,
        actor: Actor,
        *,
        record: PatientRecord | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._actor = actor
        self._record = record
        self.patient: PatientSummary | None = None
        self._saved: PatientSummary | None = (
            PatientSummary(record.id, record.display_name, record.date_of_birth, record.version)
            if record
            else None
        )
        self._confirmed_not_duplicate = False
        self._saved_draft: PatientDraft | None = None
        self._saved_preferences = record.preferences if record else PatientPreferences()
        self._saved_privacy = record.privacy_notice_acknowledged_on if record else None
        self._new_allergies: list[AllergyDraft] = []
        self._removed_allergies: list[_Removal] = []
        self._new_conditions: list[str] = []
        self.problems = FieldProblems()
        self.setWindowTitle(f"Patient — {record.display_name}" if record else "New patient")
        self.setMinimumWidth(640)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Patient sections")
        self.tabs.addTab(self._person_page(), "&1 Person")
        self.tabs.addTab(self._allergy_page(), "&2 Allergies and conditions")
        self.tabs.addTab(self._insurance_page(), "&3 Insurance")
        self.tabs.addTab(self._preferences_page(), "&4 Preferences and privacy")

        self._duplicates = self._duplicate_panel()
        self._message = MessageLine()
        buttons = QDialogButtonBox()
        self._save = buttons.addButton("&Save patient", QDialogButtonBox.ButtonRole.AcceptRole)
        self._save.setDefault(True)
        self._save.setAccessibleName("Save patient")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self._duplicates)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        if record is not None:
            self._show_record(record)
        self._last_name.setFocus()

    # --- pages --------------------------------------------------------------------------------

    def _person_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        add = self.problems.add
        self._last_name = add(form, "&Last name:", _line(max_length=100), fact="last_name")
        self._first_name = add(form, "&First name:", _line(max_length=100), fact="first_name")
        self._middle_name = add(form, "&Middle name:", _line(max_length=100), fact="middle_name")
        self._born = add(form, "&Date of birth:", DateEdit("date of birth"), fact="date_of_birth")
        self._sex = add(form, "Se&x:", QComboBox(), fact="sex")
        for code, meaning in SEXES.items():
            self._sex.addItem(f"{code} — {meaning}", code)
        self._sex.setPlaceholderText("Choose…")
        self._sex.setCurrentIndex(-1)
        self._address1 = add(form, "Add&ress:", _line("Street and number"), fact="address_line1")
        self._address2 = add(form, "S&uite, unit:", _line("(optional)"), fact="address_line2")
        self._city = add(form, "Cit&y:", _line(), fact="city")
        self._state = add(form, "S&tate:", QComboBox(), fact="state")
        self._state.addItems(sorted(US_STATES))
        self._state.setPlaceholderText("Choose…")
        self._state.setCurrentIndex(-1)
        self._postal_code = add(
            form, "&ZIP code:", _line("12345 or 12345-6789"), fact="postal_code"
        )
        self._phone = add(form, "&Phone:", _line("(217) 555-0100"), fact="phone")
        self._phone2 = add(form, "&Other phone:", _line(), fact="phone_alternate")
        self._email = add(form, "&Email:", _line(), fact="email")
        self._language = add(form, "Lan&guage:", QComboBox(), fact="preferred_language")
        for code, name in LANGUAGES.items():
            self._language.addItem(f"{name} ({code})", code)
        self._notes = add(form, "&Notes:", _line(), fact="notes")
        return page

    def _allergy_page(self) -> QWidget:
        page = QWidget()
        add = self.problems.add
        status_form = QFormLayout()
        self._allergy_status = add(
            status_form, "Allergy s&tatus:", QComboBox(), fact="allergy_status"
        )
        self._allergy_status.addItems(ALLERGY_STATUSES)
        self._allergy_list = QListWidget()
        self._allergy_list.setAccessibleName("Allergies")
        self._allergy_list.setMaximumHeight(110)

        entry = QGroupBox("Add an allergy: code it to an ingredient or a drug class if you can")
        entry_form = QFormLayout(entry)
        self._substance = add(
            entry_form,
            "&Ingredient:",
            _line("e.g. amoxicillin, codeine", own_enter=True),
            fact="substance",
        )
        self._drug_class = add(
            entry_form,
            "Drug &class:",
            _line("e.g. Penicillins, Sulfonamides", own_enter=True),
            fact="drug_class",
        )
        self._free_text = add(
            entry_form,
            "Ot&her (free text):",
            _line("only when neither fits", own_enter=True),
            fact="free_text",
        )
        self._reaction = add(
            entry_form, "&Reaction:", _line("e.g. hives", own_enter=True), fact="reaction"
        )
        self._severity = add(entry_form, "Se&verity:", QComboBox(), fact="severity")
        self._severity.addItems(SEVERITIES)
        self._severity.setCurrentText("unknown")
        allergy_buttons = QHBoxLayout()
        add_allergy = QPushButton("&Add allergy")
        add_allergy.setAccessibleName("Add allergy")
        add_allergy.setAutoDefault(False)
        add_allergy.clicked.connect(self.add_allergy)
        remove_allergy = QPushButton("Re&move allergy…")
        remove_allergy.setAccessibleName("Remove allergy")
        remove_allergy.setAutoDefault(False)
        remove_allergy.clicked.connect(self.remove_selected_allergy)
        allergy_buttons.addWidget(add_allergy)
        allergy_buttons.addWidget(remove_allergy)
        allergy_buttons.addStretch()
        entry_form.addRow(allergy_buttons)
        # Enter in an allergy field adds the allergy rather than saving the whole patient.
        for field in (self._substance, self._drug_class, self._free_text, self._reaction):
            assert isinstance(field, ActionLineEdit)
            field.entered.connect(self.add_allergy)

        conditions = QGroupBox("Conditions")
        condition_form = QFormLayout(conditions)
        self._condition = add(
            condition_form,
            "Con&dition:",
            _line("e.g. type 2 diabetes", own_enter=True),
            fact="description",
        )
        assert isinstance(self._condition, ActionLineEdit)
        self._condition.entered.connect(self.add_condition)
        self._condition_list = QListWidget()
        self._condition_list.setAccessibleName("Conditions")
        self._condition_list.setMaximumHeight(80)
        condition_form.addRow(self._condition_list)

        layout = QVBoxLayout(page)
        layout.addLayout(status_form)
        layout.addWidget(self._allergy_list)
        layout.addWidget(entry)
        layout.addWidget(conditions)
        return page

    def _insurance_page(self) -> QWidget:
        page = QWidget()
        self._coverages = (_CoverageBox(1, self.problems), _CoverageBox(2, self.problems))
        layout = QHBoxLayout(page)
        for box in self._coverages:
            layout.addWidget(box)
        return page

    def _preferences_page(self) -> QWidget:
        page = QWidget()
        self._easy_open = QCheckBox("&Easy-open (non-child-resistant) caps")
        self._easy_open.setAccessibleName("Easy-open caps")
        self._large_print = QCheckBox("&Large-print labels")
        self._large_print.setAccessibleName("Large-print labels")
        self._delivery = QCheckBox("&Delivery")
        self._delivery.setAccessibleName("Delivery")
        form = QFormLayout()
        self._privacy = self.problems.add(
            form,
            "&Privacy notice acknowledged on:",
            DateEdit("privacy notice date"),
            fact="acknowledged_on",
        )
        layout = QVBoxLayout(page)
        for box in (self._easy_open, self._large_print, self._delivery):
            layout.addWidget(box)
        layout.addLayout(form)
        layout.addStretch()
        return page

    def _duplicate_panel(self) -> QGroupBox:
        panel = QGroupBox("Possible duplicate")
        panel.setAccessibleName("Possible duplicates")
        introduction = QLabel(DUPLICATE_INTRODUCTION)
        introduction.setWordWrap(True)
        self._duplicate_list = QListWidget()
        self._duplicate_list.setAccessibleName("Patients already on file")
        self._duplicate_list.setMaximumHeight(90)
        self._duplicate_list.itemActivated.connect(lambda _item: self.open_existing())
        open_existing = QPushButton("&View the existing record")
        open_existing.setAccessibleName("View the existing record")
        open_existing.setAutoDefault(False)
        open_existing.clicked.connect(self.open_existing)
        different = QPushButton("Different person: save &anyway")
        different.setAccessibleName("This is a different person")
        different.setAutoDefault(False)
        different.clicked.connect(self.confirm_different_person)
        row = QHBoxLayout()
        row.addWidget(open_existing)
        row.addWidget(different)
        row.addStretch()
        layout = QVBoxLayout(panel)
        layout.addWidget(introduction)
        layout.addWidget(self._duplicate_list)
        layout.addLayout(row)
        panel.hide()
        return panel

    # --- showing a record ---------------------------------------------------------------------

    def _show_record(self, record: PatientRecord) -> None:
        self._last_name.setText(record.last_name)
        self._first_name.setText(record.first_name)
        self._middle_name.setText(record.middle_name)
        self._born.set_date(record.date_of_birth)
        self._sex.setCurrentIndex(self._sex.findData(record.sex))
        self._address1.setText(record.address_line1)
        self._address2.setText(record.address_line2)
        self._city.setText(record.city)
        self._state.setCurrentIndex(self._state.findText(record.state))
        self._postal_code.setText(record.postal_code)
        self._phone.setText(record.phone)
        self._phone2.setText(record.phone_alternate)
        self._email.setText(record.email)
        if self._language.findData(record.preferred_language) < 0:
            code = record.preferred_language
            self._language.addItem(LANGUAGES.get(code, code), code)
        self._language.setCurrentIndex(self._language.findData(record.preferred_language))
        self._notes.setText(record.notes)
        if record.allergies:
            self._allergy_status.setCurrentIndex(HAS_ALLERGIES)
        elif record.no_known_allergies:
            self._allergy_status.setCurrentIndex(NO_KNOWN_ALLERGIES)
        for allergy in record.allergies:
            item = QListWidgetItem(allergy_text(allergy))
            item.setData(Qt.ItemDataRole.UserRole, allergy)
            self._allergy_list.addItem(item)
        for condition in record.conditions:
            self._condition_list.addItem(condition.description)
        for coverage in record.coverages:
            if coverage.active and coverage.rank in (1, 2):
                self._coverages[coverage.rank - 1].show_entry(coverage)
        self._easy_open.setChecked(record.preferences.easy_open_caps)
        self._large_print.setChecked(record.preferences.large_print_labels)
        self._delivery.setChecked(record.preferences.delivery)
        self._privacy.set_date(record.privacy_notice_acknowledged_on)

    # --- allergies and conditions -------------------------------------------------------------

    def add_allergy(self) -> None:
        """Put the allergy typed on the list; it is saved with the patient."""
        draft = AllergyDraft(
            substance=self._substance.text().strip(),
            drug_class=self._drug_class.text().strip(),
            reaction=self._reaction.text().strip(),
            severity=self._severity.currentText(),
            free_text=self._free_text.text().strip(),
        )
        self.problems.retract()
        if not (draft.substance or draft.drug_class or draft.free_text):
            self._show_on_tab("substance", "Name the ingredient or drug class, or describe it.")
            return
        item = QListWidgetItem(allergy_text(draft))
        item.setData(Qt.ItemDataRole.UserRole, draft)
        self._allergy_list.addItem(item)
        self._new_allergies.append(draft)
        self._allergy_status.setCurrentIndex(HAS_ALLERGIES)
        for field in (self._substance, self._drug_class, self._free_text, self._reaction):
            field.clear()
        self._severity.setCurrentText("unknown")
        self._substance.setFocus()

    def remove_selected_allergy(self) -> None:
        item = self._allergy_list.currentItem()
        if item is None:
            return
        allergy = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(allergy, AllergyEntry):
            reason, given = QInputDialog.getText(
                self, "Remove allergy", f"Why is “{allergy_text(allergy)}” removed?"
            )
            if not given or not reason.strip():
                return
            self._removed_allergies.append(_Removal(allergy, reason.strip()))
        else:
            self._new_allergies.remove(allergy)
        self._allergy_list.takeItem(self._allergy_list.row(item))
        if not self._allergy_list.count():
            self._allergy_status.setCurrentIndex(NOT_ASKED)

    def add_condition(self) -> None:
        text = self._condition.text().strip()
        if text:
            self._new_conditions.append(text)
            self._condition_list.addItem(text)
            self._condition.clear()

    # --- saving -------------------------------------------------------------------------------

    def _show_on_tab(self, fact: str, text: str) -> None:
        """State the problem under its field, on its page, with the cursor there."""
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if self.problems.knows(fact) and page.isAncestorOf(self.problems.field(fact)):
                self.tabs.setCurrentIndex(index)
                break
        self.problems.show(fact, text)

    def _refuse(self, exc: RxBenchError, *, fact: str | None = None) -> None:
        sentence = explain(exc)[1]
        where = fact or exc.facts.get("field")
        if self.problems.knows(where):
            self._show_on_tab(str(where), sentence)
            self._message.show_problem("Correct the entry marked in red, then save again.")
        else:
            self._message.show_problem(sentence)

    def _draft(self) -> PatientDraft:
        return PatientDraft(
            last_name=self._last_name.text(),
            first_name=self._first_name.text(),
            middle_name=self._middle_name.text(),
            date_of_birth=self._born.date(),
            sex=str(self._sex.currentData() or ""),
            address_line1=self._address1.text(),
            address_line2=self._address2.text(),
            city=self._city.text(),
            state=self._state.currentText(),
            postal_code=self._postal_code.text(),
            phone=self._phone.text(),
            phone_alternate=self._phone2.text(),
            email=self._email.text(),
            preferred_language=str(self._language.currentData()),
            notes=self._notes.text(),
        )

    def _checked_entries(self) -> tuple[PatientDraft, date | None, list[CoverageDraft]] | None:
        """Everything typed, checked before anything is written; None after a refusal."""
        try:
            born = self._born.date()
        except ValidationFailed as exc:
            self._refuse(exc, fact="date_of_birth")
            return None
        try:
            privacy = self._privacy.date()
        except ValidationFailed as exc:
            self._refuse(exc, fact="acknowledged_on")
            return None
        draft = replace(self._draft(), date_of_birth=born)
        try:
            draft.validated(date.today())
        except ValidationFailed as exc:
            self._refuse(exc)
            return None
        if privacy is not None and privacy > date.today():
            self._show_on_tab("acknowledged_on", "The acknowledgement date is in the future.")
            return None
        status = self._allergy_status.currentIndex()
        listed = self._allergy_list.count()
        if status == HAS_ALLERGIES and not listed:
            self._show_on_tab(
                "allergy_status", "Add the allergies, or choose another allergy status."
            )
            return None
        if status == NO_KNOWN_ALLERGIES and listed:
            self._show_on_tab(
                "allergy_status",
                "Allergies are listed: remove them before recording “no known allergies”.",
            )
            return None
        coverages = []
        for box in self._coverages:
            if box.is_blank():
                continue
            coverage = box.draft()
            try:
                coverage.validated()
            except ValidationFailed as exc:
                self._refuse(exc, fact=box.fact(str(exc.facts.get("field", "bin"))))
                return None
            coverages.append(coverage)
        return draft, privacy, coverages

    def accept(self) -> None:
        """Check everything, warn of a possible duplicate, then save every part."""
        self.problems.retract()
        self._message.retract()
        checked = self._checked_entries()
        if checked is None:
            return
        draft, privacy, coverages = checked
        try:
            saved = self._save_patient_row(draft)
            if saved is None:
                return
            self._save_details(saved, privacy, coverages)
        except _AlreadyShown:
            return
        except StaleRecord as exc:
            # What was typed stays: the person reopens the record and enters it again.
            self._message.show_problem(explain(exc)[1])
            return
        except RxBenchError as exc:
            self._refuse(exc)
            return
        self.patient = self._saved
        self.patient_saved.emit(self.patient)
        super().accept()

    def _save_patient_row(self, draft: PatientDraft) -> PatientSummary | None:
        patients = self._services.patients
        if self._saved is None:
            try:
                created = patients.create_patient(
                    self._actor, draft=draft, confirm_not_duplicate=self._confirmed_not_duplicate
                )
            except PossibleDuplicate as duplicate:
                self._show_duplicates(duplicate.candidates)
                return None
            self._saved = created.patient
        elif draft != self._saved_draft:
            self._saved = patients.update_patient(
                self._actor, self._saved.id, expected_version=self._saved.version, draft=draft
            )
        # A retry after a later part failed must not send the row again with an old version.
        self._saved_draft = draft
        return self._saved

    def _save_details(
        self, saved: PatientSummary, privacy: date | None, coverages: list[CoverageDraft]
    ) -> None:
        """Each part after the patient row; a part saved is not saved twice on a retry.

        The parts that need the row's version go first: recording an allergy changes it.
        """
        patients, actor = self._services.patients, self._actor
        record = self._record
        preferences = PatientPreferences(
            easy_open_caps=self._easy_open.isChecked(),
            large_print_labels=self._large_print.isChecked(),
            delivery=self._delivery.isChecked(),
        )
        if preferences != self._saved_preferences:
            saved = patients.set_preferences(
                actor, saved.id, expected_version=saved.version, preferences=preferences
            )
            self._saved_preferences = preferences
        if privacy is not None and privacy != self._saved_privacy:
            saved = patients.acknowledge_privacy_notice(actor, saved.id, acknowledged_on=privacy)
            self._saved_privacy = privacy
        self._saved = saved
        while self._removed_allergies:
            removal = self._removed_allergies[0]
            patients.remove_allergy(actor, removal.entry.id, reason=removal.reason)
            self._removed_allergies.pop(0)
        while self._new_allergies:
            patients.add_allergy(actor, saved.id, allergy=self._new_allergies[0])
            self._new_allergies.pop(0)
        if self._allergy_status.currentIndex() == NO_KNOWN_ALLERGIES and not (
            record and record.no_known_allergies
        ):
            patients.set_no_known_allergies(actor, saved.id)
        while self._new_conditions:
            patients.add_condition(actor, saved.id, description=self._new_conditions[0])
            self._new_conditions.pop(0)
        for box in self._coverages:
            self._save_coverage(box, saved.id, coverages)

    def _save_coverage(
        self, box: _CoverageBox, patient_id: int, drafts: list[CoverageDraft]
    ) -> None:
        patients, actor = self._services.patients, self._actor
        draft = next((each for each in drafts if each.rank == box.rank), None)
        try:
            if draft is None:
                if box.existing is not None and box.existing.active:
                    box.existing = patients.deactivate_coverage(
                        actor, box.existing.id, expected_version=box.existing.version
                    )
                return
            if box.existing is None or not box.existing.active:
                box.existing = patients.add_coverage(actor, patient_id, coverage=draft)
            elif not box.unchanged(draft):
                box.existing = patients.update_coverage(
                    actor, box.existing.id, expected_version=box.existing.version, coverage=draft
                )
        except ValidationFailed as exc:
            field = exc.facts.get("field")
            fact = box.fact("bin" if field == "rank" else str(field or "bin"))
            self._refuse(exc, fact=fact)
            raise _AlreadyShown from None

    # --- possible duplicates ------------------------------------------------------------------

    def _show_duplicates(self, candidates: tuple[PatientHit, ...]) -> None:
        self._duplicate_list.clear()
        for hit in candidates:
            text = f"{hit.display_name}, born {hit.date_of_birth:%m/%d/%Y}"
            details = ", ".join(part for part in (hit.phone, hit.address_line) if part)
            item = QListWidgetItem(f"{text} — {details}" if details else text)
            item.setData(Qt.ItemDataRole.UserRole, hit.id)
            self._duplicate_list.addItem(item)
        self._duplicate_list.setCurrentRow(0)
        self._duplicates.show()
        self._duplicate_list.setFocus()

    def open_existing(self) -> None:
        item = self._duplicate_list.currentItem()
        if item is not None:
            self.existing_patient_chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))
            self.reject()

    def confirm_different_person(self) -> None:
        self._confirmed_not_duplicate = True
        self._duplicates.hide()
        self.accept()

    @property
    def duplicates_shown(self) -> list[str]:
        if not self._duplicates.isVisible():
            return []
        return [
            self._duplicate_list.item(row).text() for row in range(self._duplicate_list.count())
        ]


class _AlreadyShown(RxBenchError):
    """A refusal already stated under its field."""
