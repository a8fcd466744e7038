"""Entering a prescription, or correcting it at data entry, checked against the federal rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFocusEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.bootstrap import Services
from app.domain.ndc import parse_ndc
from app.domain.rx_rules import PrescriptionSource
from app.domain.sig import DEFAULT_SIG_TABLE, SigTable, days_supply_for, expand_sig
from app.errors import RxBenchError, ValidationFailed
from app.services.catalogue import CatalogueHit
from app.services.fills import FillRow
from app.services.patients import PatientHit
from app.services.prescribers import PrescriberSummary
from app.services.prescriptions import (
    PrescriptionDetail,
    PrescriptionDraft,
    PrescriptionEntered,
    ScannedImage,
    TransferIn,
)
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine
from ui.dialogs.patient_search import PatientSearchDialog
from ui.dialogs.prescriber import PrescriberSearchDialog
from ui.errors import explain
from ui.models.formatting import date_text, quantity_text
from ui.scanner import ScanRouter
from ui.tasks import TaskRunner
from ui.widgets.action_edit import ActionLineEdit
from ui.widgets.catalogue_search import CatalogueSearchField
from ui.widgets.date_edit import DateEdit
from ui.widgets.field_problems import FieldProblems

DAW_CODES = (
    "No product selection indicated",
    "Substitution not allowed by prescriber",
    "Substitution allowed — patient requested product dispensed",
    "Substitution allowed — pharmacist selected product dispensed",
    "Substitution allowed — generic drug not in stock",
    "Substitution allowed — brand drug dispensed as a generic",
    "Override",
    "Substitution not allowed — brand drug mandated by law",
    "Substitution allowed — generic drug not available in marketplace",
    "Substitution allowed by prescriber — plan requests brand",
)
SOURCES = {
    PrescriptionSource.ELECTRONIC: "Electronic (e-prescription)",
    PrescriptionSource.WRITTEN: "Written (hard copy)",
    PrescriptionSource.PHONED: "Phoned in by the prescriber",
    PrescriptionSource.FAXED: "Faxed",
    PrescriptionSource.TRANSFERRED: "Transferred from another pharmacy",
}
UNIT_WORDS = {"EA": "each (tablets, capsules, units)", "ML": "mL", "GM": "g"}
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".pdf": "application/pdf",
}
IMAGE_FILTER = "Prescription images (*.png *.jpg *.jpeg *.pdf)"
FLAGGED = "Will be flagged for the pharmacist"
IMAGE_ON_FILE = "on file — attach another to replace it"
SAVE_AND_SEND_SHORTCUTS = ("Ctrl+Return", "Ctrl+Enter")
_SEND_BACK_STYLE = (
    "QLabel { color: #5c3b00; background: #fff4d6; border: 1px solid #e5c36b;"
    " border-radius: 4px; padding: 6px; font-weight: bold; }"
)
# Which field each federal-rule refusal is about (app.domain.rx_rules, app.services.prescriptions).
PROBLEM_FIELDS = {
    "written-in-future": "written_date",
    "expired": "written_date",
    "quantity-not-positive": "quantity",
    "quantity-unreasonable": "quantity",
    "days-supply-not-positive": "days_supply",
    "days-supply-over-limit": "days_supply",
    "cii-series-over-90-days": "days_supply",
    "refills-negative": "refills",
    "too-many-refills": "refills",
    "emergency-oral-not-phoned": "emergency_oral",
    "cii-phoned": "source",
    "cii-faxed": "source",
    "do-not-fill-before-written": "do_not_fill_before",
    "daw-code": "daw_code",
    "prescriber-no-dea": "prescriber",
    "prescriber-dea-expired": "prescriber",
    "prescriber-schedule-not-registered": "prescriber",
    "transfer-pharmacy-missing": "transfer",
    "transfer-count": "transfer",
    "transfer-source": "transfer",
    "cii-transfer-not-electronic-unfilled": "transfer",
    "cii-transferred-before": "transfer",
    "transferred-before": "transfer",
}


class _NumberBox(QSpinBox):
    """Whatever way the focus arrives, the number is selected: typing 3 gives 3, not 30."""

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.selectAll()


@dataclass(frozen=True)
class Correction:
    """An entered prescription reopened at data entry: its fill, what was entered (with the
    pharmacist's send-back), and the patient, prescriber and package its fields show."""

    fill: FillRow
    prescription: PrescriptionDetail
    patient: PatientHit | None
    prescriber: PrescriberSummary | None
    drug: CatalogueHit | None


def load_correction(services: Services, actor: Actor, fill: FillRow) -> Correction:
    """Runs on a worker thread: the prescription (an audited view) and the records it names."""
    rx = services.prescriptions.get_prescription(actor, fill.rx_number)
    patients = services.patients.search(actor, rx.rx_number)  # the patient of this Rx number
    packages = services.catalogue.find_packages_by_ndc10_candidates([parse_ndc(rx.ndc)])
    return Correction(
        fill=fill,
        prescription=rx,
        patient=next((hit for hit in patients if hit.id == rx.patient_id), None),
        prescriber=services.prescribers.get(actor, rx.prescriber_id),
        drug=next((hit for hit in packages if hit.package_id == rx.package_id), None),
    )


def send_back_text(correction: Correction) -> str:
    send_back = correction.prescription.send_back
    if send_back is None:
        return ""
    return (
        f"Sent back by the pharmacist ({send_back.by}, {date_text(send_back.at.astimezone())} "
        f"{send_back.at.astimezone():%I:%M %p}): {send_back.reason}"
    )


def _line(placeholder: str = "", *, max_length: int = 0) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    if max_length:
        edit.setMaxLength(max_length)
    return edit


class PrescriptionEntryDialog(QDialog):
    """A new prescription; Enter enters it, Esc cancels. Every refusal of the federal rules is
    shown under the field it is about, all at once. On success the dialog closes and the fill
    waits for the pharmacist's data review.

    Given a `correction`, the dialog corrects that prescription instead: its fields as entered,
    the pharmacist's send-back reason at the top, and "Save and send to pharmacist" (Enter or
    Ctrl+Enter, which works in every field) saves the correction and sends the fill back to
    data review.

    Signals: prescription_entered(object)  # the PrescriptionEntered (Rx number, warnings)
    sent_for_review(object)  # the corrected fill's FillRow, now at pharmacist data review
    """

    prescription_entered = Signal(object)
    sent_for_review = Signal(object)

    def __init__(
        self,
        services: Services,
        actor: Actor,
        *,
        correction: Correction | None = None,
        scan_router: ScanRouter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._actor = actor
        self.correction = correction
        # The version the correction is made against: the one read, then the one saved.
        self._prescription_version = correction.prescription.version if correction else 0
        self.tasks = TaskRunner(self)
        self.patient: PatientHit | None = None
        self.prescriber: PrescriberSummary | None = None
        self.image: ScannedImage | None = None
        self.entered: PrescriptionEntered | None = None
        self._sig_table: SigTable = DEFAULT_SIG_TABLE
        self.problems = FieldProblems()
        self.setWindowTitle("New prescription")
        self.setMinimumWidth(980)
        add = self.problems.add

        who = QGroupBox("Prescription")
        form = QFormLayout(who)
        self._source = add(form, "&Source:", QComboBox(), fact="source")
        for source, text in SOURCES.items():
            self._source.addItem(text, source.value)
        self._source.currentIndexChanged.connect(self._source_changed)
        self._transfer_pharmacy = add(
            form, "Transferred &from:", _line("pharmacy name, phone, DEA"), fact="transfer"
        )
        self._previous_transfers = add(form, "Times transferred &before:", _NumberBox())
        self._previous_transfers.setRange(0, 9)
        self._faxed_exception = QCheckBox("Faxed C-II for long-term care, hospice or home infusion")
        self._faxed_exception.setAccessibleName("Faxed C-II exception")
        form.addRow("", self._faxed_exception)
        self._written = add(form, "Date &written:", DateEdit("date written"), fact="written_date")
        self._written.set_date(date.today())
        self._patient = add(form, "&Patient:", ActionLineEdit(), fact="patient")
        self._patient.setPlaceholderText("Name, birth date, phone or Rx number, then Enter")
        self._patient.entered.connect(self.pick_patient)
        self._patient.textEdited.connect(lambda _text: self._set_patient(None))
        self._prescriber = add(form, "P&rescriber:", ActionLineEdit(), fact="prescriber")
        self._prescriber.setPlaceholderText("Name, NPI or DEA number, then Enter")
        self._prescriber.entered.connect(self.pick_prescriber)
        self._prescriber.textEdited.connect(lambda _text: self._set_prescriber(None))
        self._indication = add(form, "Indi&cation:", _line("what it is for"), fact="indication")
        self._notes = add(form, "No&tes:", _line(), fact="notes")
        image_row = QWidget()
        image_layout = QHBoxLayout(image_row)
        image_layout.setContentsMargins(0, 0, 0, 0)
        self._image_name = QLabel("none")
        self._image_name.setAccessibleName("Scanned image")
        attach = QPushButton("Attac&h image…")
        attach.setAccessibleName("Attach image")
        attach.setAutoDefault(False)
        attach.clicked.connect(self.choose_image)
        image_layout.addWidget(attach)
        image_layout.addWidget(self._image_name, 1)
        form.addRow("Scanned image:", image_row)
        self.problems.register("image", attach, self.problems.problem_label("Scanned image"))
        form.addRow("", self.problems.problem("image"))

        what = QGroupBox("Drug and directions")
        drug_form = self._drug_form = QFormLayout(what)
        self.drug = add(
            drug_form,
            "&Drug:",
            CatalogueSearchField(services.catalogue, actor, self.tasks, scan_router=scan_router),
            fact="drug",
        )
        self.drug.package_chosen.connect(self._drug_chosen)
        self.drug.package_cleared.connect(lambda: self._drug_chosen(None))
        quantity_row = QWidget()
        quantity_layout = QHBoxLayout(quantity_row)
        quantity_layout.setContentsMargins(0, 0, 0, 0)
        self._quantity = _line("e.g. 30")
        self._quantity.setMaximumWidth(110)
        self._unit = QLabel("")
        self._unit.setWordWrap(True)
        self._unit.setAccessibleName("Quantity unit")
        quantity_layout.addWidget(self._quantity)
        quantity_layout.addWidget(self._unit, 1)
        self._add_row(drug_form, "&Quantity:", self._quantity, quantity_row, "quantity")
        self._sig = add(drug_form, "Si&g:", _line("e.g. 1 T PO BID"), fact="sig")
        self._directions = QLabel("")
        self._directions.setWordWrap(True)
        self._directions.setAccessibleName("Directions")
        self._sig_flag = QLabel("")
        self._sig_flag.setWordWrap(True)
        self._sig_flag.setStyleSheet("QLabel { color: #7a4a00; }")
        self._sig_flag.setAccessibleName("Sig flag")
        drug_form.addRow("Directions:", self._directions)
        drug_form.addRow("", self._sig_flag)
        days_row = QWidget()
        days_layout = QHBoxLayout(days_row)
        days_layout.setContentsMargins(0, 0, 0, 0)
        self._days = _NumberBox()
        self._days.setRange(0, 999)
        self._days.setSpecialValueText("—")
        self._days.setReadOnly(True)
        self._days.setMaximumWidth(110)
        self._override = QCheckBox("&Override")
        self._override.setAccessibleName("Override days supply")
        self._override.toggled.connect(self._override_toggled)
        days_layout.addWidget(self._days)
        days_layout.addWidget(self._override)
        days_layout.addStretch()
        self._add_row(drug_form, "Days suppl&y:", self._days, days_row, "days_supply")
        self._refills = add(drug_form, "Refi&lls:", _NumberBox(), fact="refills")
        self._refills.setRange(0, 99)
        self._refills.setMaximumWidth(110)
        self._daw = add(drug_form, "D&AW:", QComboBox(), fact="daw_code")
        for code, meaning in enumerate(DAW_CODES):
            self._daw.addItem(f"{code} — {meaning}", code)
        self._not_before = add(
            drug_form,
            "Do &not fill before:",
            DateEdit("do-not-fill-before date"),
            fact="do_not_fill_before",
        )
        self._emergency = add(
            drug_form,
            "&Emergency oral C-II:",
            QCheckBox("phoned in, written follow-up due"),
            fact="emergency_oral",
        )
        for field in (self._quantity, self._sig):
            field.textChanged.connect(self._update_sig)

        self._message = MessageLine()
        buttons = QDialogButtonBox()
        if correction is None:
            enter = buttons.addButton("Enter prescr&iption", QDialogButtonBox.ButtonRole.AcceptRole)
            enter.setAccessibleName("Enter prescription")
        else:
            enter = buttons.addButton(
                "Save and send to phar&macist", QDialogButtonBox.ButtonRole.AcceptRole
            )
            enter.setAccessibleName("Save and send to pharmacist")
            enter.setToolTip(" or ".join(SAVE_AND_SEND_SHORTCUTS))
            # Enter has its own meaning in the patient, prescriber and drug fields; Ctrl+Enter
            # saves and sends from anywhere in the dialog.
            save_and_send = QAction("Save and send to pharmacist", self)
            save_and_send.setShortcuts([QKeySequence(key) for key in SAVE_AND_SEND_SHORTCUTS])
            save_and_send.triggered.connect(self.accept)
            self.addAction(save_and_send)
        enter.setDefault(True)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        cancel.setAutoDefault(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        columns = QHBoxLayout()
        columns.addWidget(who, 1)
        columns.addWidget(what, 1)
        layout = QVBoxLayout(self)
        self.send_back = QLabel("")
        self.send_back.setWordWrap(True)
        self.send_back.setTextFormat(Qt.TextFormat.PlainText)
        self.send_back.setStyleSheet(_SEND_BACK_STYLE)
        self.send_back.setAccessibleName("Pharmacist's reason")
        layout.addWidget(self.send_back)
        layout.addLayout(columns)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        if correction is not None:
            self._show_correction(correction)
        self.send_back.setVisible(bool(self.send_back.text()))
        self._source_changed()
        self._update_sig()
        self._load_house_sig_table()
        self._source.setFocus()

    def _show_correction(self, correction: Correction) -> None:
        """The prescription as entered, in the fields where it was typed."""
        rx = correction.prescription
        self.setWindowTitle(f"Correct Rx {rx.rx_number} — data entry")
        self.send_back.setText(send_back_text(correction))
        self._source.setCurrentIndex(max(0, self._source.findData(rx.source)))
        self._transfer_pharmacy.setText(rx.transferred_from)
        self._previous_transfers.setValue(max(0, rx.transfer_count - 1))
        self._written.set_date(rx.written_date)
        self._set_patient(correction.patient)
        self._set_prescriber(correction.prescriber)
        self._indication.setText(rx.indication)
        self._notes.setText(rx.notes)
        if rx.has_image:
            self._image_name.setText(IMAGE_ON_FILE)
        if correction.drug is not None:
            self.drug.choose(correction.drug)
        self._quantity.setText(quantity_text(rx.quantity))
        self._sig.setText(rx.sig_code)
        if rx.days_supply_overridden:
            self._override.setChecked(True)
            self._days.setValue(rx.days_supply)
        self._refills.setValue(rx.refills_authorized)
        self._daw.setCurrentIndex(max(0, self._daw.findData(rx.daw_code)))
        self._not_before.set_date(rx.do_not_fill_before)
        self._emergency.setChecked(rx.emergency_oral)

    def _add_row(
        self, form: QFormLayout, label_text: str, field: QWidget, row: QWidget, fact: str
    ) -> None:
        """A row holding more than the field (a unit, a check box), with the problem under it."""
        label = QLabel(label_text)
        label.setBuddy(field)
        name = label_text.replace("&", "").rstrip(":")
        field.setAccessibleName(name)
        problem = self.problems.problem_label(name)
        form.addRow(label, row)
        form.addRow("", problem)
        self.problems.register(fact, field, problem)

    def _load_house_sig_table(self) -> None:
        """The preview reads the sig as the save will: with the pharmacy's own abbreviations."""
        settings = self._services.house_settings
        self.tasks.run(
            settings.current,
            on_success=lambda house: self._use_sig_table(house.sig_table),
            on_failure=lambda _exc: None,  # the standard table still previews; the save decides
        )

    def _use_sig_table(self, table: SigTable) -> None:
        self._sig_table = table
        self._update_sig()

    # --- reacting to entries ------------------------------------------------------------------

    def _source_value(self) -> str:
        return str(self._source.currentData())

    def _source_changed(self) -> None:
        """The transfer details appear for a transfer, the faxed C-II exception for a fax."""
        source = self._source_value()
        form = self._source.parentWidget().parentWidget().layout()
        assert isinstance(form, QFormLayout)
        for field in (self._transfer_pharmacy, self._previous_transfers):
            form.setRowVisible(field.parentWidget(), source == PrescriptionSource.TRANSFERRED)
        self._faxed_exception.setVisible(source == PrescriptionSource.FAXED)

    def _drug_chosen(self, hit: CatalogueHit | None) -> None:
        unit = ""
        if hit is not None:
            unit = UNIT_WORDS.get(hit.billing_unit, hit.billing_unit)
            if hit.package_description:
                unit = f"{unit} · package: {hit.package_description}"
        self._unit.setText(unit)

    def _quantity_value(self) -> Decimal | None:
        try:
            value = Decimal(self._quantity.text().strip())
        except InvalidOperation:
            return None
        return value if value.is_finite() else None

    def _update_sig(self) -> None:
        """The directions as they will print, and whether the pharmacist must review them."""
        typed = self._sig.text().strip()
        if not typed:
            self._directions.setText("")
            self._sig_flag.setText("")
            self._drug_form.setRowVisible(self._sig_flag, False)
            self._show_computed_days(None)
            return
        expansion = expand_sig(typed, self._sig_table)
        self._directions.setText(expansion.directions)
        if expansion.parsed and not expansion.needs_pharmacist_review:
            self._sig_flag.setText("")
        else:
            reasons = " ".join(expansion.review_reasons)
            self._sig_flag.setText(f"{FLAGGED}: {reasons}" if reasons else f"{FLAGGED}.")
        self._drug_form.setRowVisible(self._sig_flag, bool(self._sig_flag.text()))
        quantity = self._quantity_value()
        computed = days_supply_for(expansion, quantity) if quantity and quantity > 0 else None
        self._show_computed_days(computed)

    def _show_computed_days(self, computed: int | None) -> None:
        self._computed_days = computed
        if not self._override.isChecked():
            self._days.setValue(computed or 0)

    def _override_toggled(self, overriding: bool) -> None:
        self._days.setReadOnly(not overriding)
        if overriding:
            self._days.setFocus()
            self._days.selectAll()
        else:
            self._days.setValue(self._computed_days or 0)

    # --- choosing the patient and the prescriber ----------------------------------------------

    def pick_patient(self) -> PatientSearchDialog:
        picker = PatientSearchDialog(self._services, self._actor, pick=True, parent=self)
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.patient_chosen.connect(self._set_patient)
        picker.open()
        if self._patient.text().strip() and self.patient is None:
            picker.search_for(self._patient.text())
        return picker

    def _set_patient(self, hit: PatientHit | None) -> None:
        self.patient = hit
        if hit is not None:
            self._patient.setText(f"{hit.display_name} (born {hit.date_of_birth:%m/%d/%Y})")
            self._patient.setFocus()

    def pick_prescriber(self) -> PrescriberSearchDialog:
        picker = PrescriberSearchDialog(self._services, self._actor, pick=True, parent=self)
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.prescriber_chosen.connect(self._set_prescriber)
        picker.open()
        if self._prescriber.text().strip() and self.prescriber is None:
            picker.search_for(self._prescriber.text())
        return picker

    def _set_prescriber(self, prescriber: PrescriberSummary | None) -> None:
        self.prescriber = prescriber
        if prescriber is not None:
            self._prescriber.setText(f"{prescriber.display_name} · NPI {prescriber.npi}")
            self._prescriber.setFocus()

    def choose_image(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Attach the scanned prescription", "", IMAGE_FILTER
        )
        if path:
            self.attach_image(Path(path))

    def attach_image(self, path: Path) -> None:
        self.problems.retract()
        media_type = MEDIA_TYPES.get(path.suffix.lower())
        if media_type is None:
            self.problems.show("image", "Attach a PNG, JPEG or PDF file.")
            return
        try:
            content = path.read_bytes()
        except OSError as exc:
            self.problems.show("image", f"The file cannot be read ({exc.strerror}).")
            return
        self.image = ScannedImage(file_name=path.name, media_type=media_type, content=content)
        self._image_name.setText(f"{path.name} ({len(content) / 1024:.0f} KB)")

    # --- entering -----------------------------------------------------------------------------

    def _checked_draft(self) -> PrescriptionDraft | None:
        """The draft, or None after stating inline every entry that cannot even be sent."""
        missing = []
        written = not_before = None
        try:
            written = self._written.date()
        except ValidationFailed as exc:
            missing.append(("written_date", exc.message))
        try:
            not_before = self._not_before.date()
        except ValidationFailed as exc:
            missing.append(("do_not_fill_before", exc.message))
        if written is None and not missing:
            missing.append(("written_date", "Enter the date the prescription was written."))
        if self.patient is None:
            missing.append(("patient", "Choose the patient: type the name and press Enter."))
        if self.prescriber is None:
            missing.append(("prescriber", "Choose the prescriber: type the name and press Enter."))
        if self.drug.chosen is None:
            missing.append(("drug", "Choose the drug package from the list or scan the bottle."))
        quantity = self._quantity_value()
        if quantity is None:
            missing.append(("quantity", "Enter the quantity as a number."))
        if not self._sig.text().strip():
            missing.append(("sig", "Enter the sig (the prescriber's directions)."))
        if missing:
            for fact, text in reversed(missing):
                self.problems.show(fact, text)
            self._message.show_problem(
                f"{len(missing)} entr{'y needs' if len(missing) == 1 else 'ies need'} "
                "correcting: each is marked under its field."
            )
            return None
        # A quantity of 0 is the service's to refuse, under its field, with the other problems.
        assert self.patient and self.prescriber and self.drug.chosen and written
        assert quantity is not None
        source = self._source_value()
        transfer = None
        if source == PrescriptionSource.TRANSFERRED:
            transfer = TransferIn(
                pharmacy=self._transfer_pharmacy.text(),
                previous_transfers=self._previous_transfers.value(),
            )
        return PrescriptionDraft(
            patient_id=self.patient.id,
            prescriber_id=self.prescriber.id,
            package_id=self.drug.chosen.package_id,
            source=source,
            written_date=written,
            quantity=quantity,
            sig_code=self._sig.text(),
            refills=self._refills.value(),
            days_supply=self._days.value() if self._override.isChecked() else None,
            daw_code=int(self._daw.currentData()),
            indication=self._indication.text(),
            notes=self._notes.text(),
            do_not_fill_before=not_before,
            emergency_oral=self._emergency.isChecked(),
            faxed_cii_exception=(
                source == PrescriptionSource.FAXED and self._faxed_exception.isChecked()
            ),
            transfer=transfer,
            image=self.image,
        )

    def accept(self) -> None:
        """Enter the prescription; every refusal is stated inline and what is typed stays."""
        self.problems.retract()
        self._message.retract()
        draft = self._checked_draft()
        if draft is None:
            return
        if self.correction is not None:
            self._save_and_send(self.correction, draft)
            return
        try:
            entered = self._services.prescriptions.enter_prescription(self._actor, draft=draft)
        except RxBenchError as exc:
            self._show_refusal(exc)
            return
        self.entered = entered
        self.prescription_entered.emit(entered)
        super().accept()

    def _save_and_send(self, correction: Correction, draft: PrescriptionDraft) -> None:
        """Save the correction, then send the fill to data review: two actions, so a refused
        send keeps the saved correction and its new versions for the next try."""
        prescriptions = self._services.prescriptions
        try:
            corrected = prescriptions.correct_prescription(
                self._actor,
                correction.prescription.id,
                expected_version=self._prescription_version,
                draft=draft,
            )
        except RxBenchError as exc:
            self._show_refusal(exc)
            return
        self._prescription_version = corrected.prescription_version
        if self.image is not None:
            # Stored with the correction: a second try must not store it again.
            self.image = None
            self._image_name.setText(IMAGE_ON_FILE)
        try:
            fill = prescriptions.submit_for_review(
                self._actor, corrected.fill_id, expected_version=corrected.fill_version
            )
        except RxBenchError as exc:
            self._message.show_problem(
                f"The correction is saved, but the fill was not sent to the pharmacist: "
                f"{explain(exc)[1]}"
            )
            return
        self.sent_for_review.emit(fill)
        super().accept()

    def _show_refusal(self, exc: RxBenchError) -> None:
        problems = exc.facts.get("problems")
        if not problems:
            field = exc.facts.get("field")
            if self.problems.knows(field):
                self.problems.show(str(field), explain(exc)[1])
                self._message.show_problem("Correct the entry marked under its field.")
            else:
                self._message.show_problem(explain(exc)[1])
            return
        elsewhere = []
        for problem in reversed(problems):
            fact = PROBLEM_FIELDS.get(problem.code)
            if fact and self.problems.knows(fact):
                self.problems.show(fact, problem.message)
            else:
                elsewhere.insert(0, problem.message)
        count = len(problems)
        verb = "entered" if self.correction is None else "saved"
        summary = (
            f"The prescription cannot be {verb}: {count} problem{'s' if count != 1 else ''}, "
            "each marked under its field."
        )
        self._message.show_problem(" ".join([summary, *elsewhere]))

    def done(self, result: int) -> None:
        self.tasks.shutdown()
        super().done(result)
