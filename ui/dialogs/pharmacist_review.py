"""The pharmacist's two checks: data review of an entered prescription, final verification."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.bootstrap import Services
from app.domain.fill_states import FillState
from app.domain.workflow import RoleRequired, check_transition
from app.errors import PermissionDenied, RxBenchError, StaleRecord
from app.services.fills import FillRow
from app.services.prescriptions import PrescriptionDetail, PrescriptionImageContent
from app.services.screening import SCREENING_DISCLAIMER, FindingDTO
from app.services.unit_of_work import Actor
from app.services.verification import BottleRow
from ui.dialogs.fields import MessageLine
from ui.dialogs.reason import ask_reason
from ui.errors import explain, show_error
from ui.models.bottles import BottlesModel
from ui.models.formatting import date_text, quantity_text
from ui.tasks import TaskRunner

IMAGE_WIDTH = 420
NO_IMAGE_TEXT = "No scanned prescription is attached."
PDF_TEXT = "PDF attached — open it to see the prescription as written."
NO_FINDINGS_TEXT = "Screening raised no findings for this fill."
NO_BOTTLE_SCANS_TEXT = (
    "No stock bottle was scanned for this fill: compare the stock bottle's NDC with the label "
    "by eye before approving."
)
BOTTLES_LOADING_TEXT = "Reading the bottles scanned for this fill…"
_FLAG_STYLE = (
    "QLabel { color: #5c3b00; background: #fff4d6; border: 1px solid #e5c36b;"
    " border-radius: 4px; padding: 6px; }"
)
_DISCLAIMER_STYLE = "QLabel { border: 1px solid #9a9a9a; border-radius: 4px; padding: 6px; }"
_AUTHORITY_STYLE = (
    "QLabel { color: #0b3a6e; background: #e3ecf7; border: 1px solid #9db8da;"
    " border-radius: 4px; padding: 6px; }"
)
_DAW_TEXTS = {
    0: "0 — substitution allowed",
    1: "1 — substitution not allowed by prescriber",
    2: "2 — patient requested brand",
}

Cosign = Callable[[str], Actor | None]


@dataclass(frozen=True)
class ReviewData:
    """Everything data review shows, read together off the GUI thread."""

    fill: FillRow
    prescription: PrescriptionDetail
    image: PrescriptionImageContent | None
    findings: tuple[FindingDTO, ...]


def load_review(services: Services, actor: Actor, fill: FillRow) -> ReviewData:
    """Runs on a worker thread: the prescription (an audited view), its image and findings."""
    prescription = services.prescriptions.get_prescription(actor, fill.rx_number)
    image = (
        services.prescriptions.prescription_image(actor, prescription.id)
        if prescription.has_image
        else None
    )
    findings = services.screening.findings(actor, fill.fill_id)
    return ReviewData(fill, prescription, image, tuple(findings))


def write_temporary_copy(image: PrescriptionImageContent) -> Path:
    """The scanned file in a private temporary file, for the desktop's own viewer."""
    suffix = Path(image.file_name).suffix or ".pdf"
    with tempfile.NamedTemporaryFile(prefix="rxbench-rx-", suffix=suffix, delete=False) as file:
        file.write(image.content)
    return Path(file.name)


def prescription_flags(prescription: PrescriptionDetail) -> list[str]:
    """What the pharmacist must notice before reading the fields one by one."""
    flags = []
    if prescription.sig_needs_review:
        flags.append(
            "Directions need your review: the sig could not be fully read or is not ISMP-clean."
        )
    if prescription.dea_schedule:
        flags.append(
            f"Controlled substance — Schedule {prescription.dea_schedule.removeprefix('C')}."
        )
    if prescription.emergency_oral:
        due = prescription.written_follow_up_due
        flags.append(
            "Emergency oral C-II prescription"
            + (f": the written prescription is due by {date_text(due)}." if due else ".")
        )
    if prescription.do_not_fill_before:
        flags.append(f"Do not fill before {date_text(prescription.do_not_fill_before)}.")
    if prescription.days_supply_overridden:
        flags.append("Days supply was entered by hand, not computed from the directions.")
    if prescription.transferred_from:
        flags.append(f"Transferred in from {prescription.transferred_from}.")
    return flags


def _value_label(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAccessibleName(name)
    return label


def _facts_form(facts: list[tuple[str, str]]) -> QFormLayout:
    form = QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    for name, text in facts:
        form.addRow(f"{name}:", _value_label(text, name))
    return form


class _PharmacistDialog(QDialog):
    """What both checks share: whose authority acts, the co-signature, moves off the GUI thread.

    Signals: fill_changed(object)  # the FillRow after the move;  stale()  # the fill changed
    """

    fill_changed = Signal(object)
    stale = Signal()

    def __init__(
        self,
        fill: FillRow,
        *,
        approve_target: FillState,
        back_target: FillState,
        services: Services,
        tasks: TaskRunner,
        actor: Actor,
        cosign: Cosign,
        parent: QWidget | None,
    ) -> None:
        super().__init__(parent)
        self.fill = fill
        self._approve_target = approve_target
        self._back_target = back_target
        self._services = services
        self._tasks = tasks
        self._cosign = cosign
        self.signed_in = actor
        self.acting = actor
        self.busy = False
        self.message = MessageLine()
        self.authority = QLabel()
        self.authority.setWordWrap(True)
        self.authority.setStyleSheet(_AUTHORITY_STYLE)
        self.authority.setAccessibleName("Whose authority")
        self.cosign_button = QPushButton("Pharmacist co-&sign…")
        self.cosign_button.setAccessibleName("Pharmacist co-sign")
        self.cosign_button.setAutoDefault(False)
        self.cosign_button.clicked.connect(self.request_cosign)
        self.buttons = QDialogButtonBox()
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName("Close")
        close.setAutoDefault(False)
        self.buttons.rejected.connect(self.reject)
        self._action_buttons: list[QPushButton] = []

    @property
    def rx_text(self) -> str:
        return f"Rx {self.fill.rx_number}-{self.fill.fill_number}"

    def _add_action(self, text: str, name: str, slot: Callable[[], None]) -> QPushButton:
        button = self.buttons.addButton(text, QDialogButtonBox.ButtonRole.ActionRole)
        button.setAccessibleName(name)
        button.setAutoDefault(False)
        button.clicked.connect(slot)
        self._action_buttons.append(button)
        return button

    def _authority_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.authority, 1)
        row.addWidget(self.cosign_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self._show_authority()
        return row

    def refusal(self) -> str | None:
        """The state machine's sentence when the acting user may not approve, else None."""
        try:
            check_transition(
                self.fill.state, self._approve_target, roles=self.acting.roles, reason="-"
            )
        except RoleRequired as exc:
            return exc.message
        except RxBenchError:
            return None  # another refusal (a moved fill) is the service's to explain
        return None

    def _show_authority(self) -> None:
        refusal = self.refusal()
        if refusal is not None:
            self.authority.setText(
                f"{refusal} A pharmacist can co-sign at this workstation: "
                "the actions are then taken on their authority."
            )
        elif self.acting != self.signed_in:
            self.authority.setText(
                f"Co-signed by {self.acting.full_name} ({self.acting.username}): "
                "the actions below are taken on their authority."
            )
        else:
            self.authority.setText("")
        self.authority.setVisible(bool(self.authority.text()))
        self.cosign_button.setVisible(refusal is not None)

    def cosign_purpose(self) -> str:
        raise NotImplementedError

    def request_cosign(self) -> None:
        cosigner = self._cosign(self.cosign_purpose())
        if cosigner is None:
            return
        self.acting = cosigner
        self.message.retract()
        self._show_authority()
        self._update_buttons()

    def _update_buttons(self) -> None:
        for button in self._action_buttons:
            button.setEnabled(not self.busy)

    # --- running service calls ----------------------------------------------------------------

    def _run(self, work: Callable[[], Any], on_success: Callable[[Any], None]) -> None:
        self.busy = True
        self.message.retract()
        self._update_buttons()

        def succeeded(result: Any) -> None:
            if isValid(self):  # closed while the call ran
                self.busy = False
                self._update_buttons()
                on_success(result)

        def failed(exc: BaseException) -> None:
            if isValid(self):
                self.busy = False
                self._update_buttons()
                self._refused(exc)

        self._tasks.run(work, on_success=succeeded, on_failure=failed)

    def _refused(self, exc: BaseException) -> None:
        if not isinstance(exc, RxBenchError):
            show_error(self, exc)
            return
        self.message.show_error(exc)
        if isinstance(exc, StaleRecord):
            self.stale.emit()
        if isinstance(exc, PermissionDenied):
            self.cosign_button.show()

    def _move(self, target: FillState, reason: str = "") -> None:
        workflow, actor, fill = self._services.workflow, self.acting, self.fill
        self._run(
            lambda: workflow.advance(
                actor,
                fill.fill_id,
                to_state=target,
                expected_version=fill.version,
                reason=reason,
            ),
            self._moved,
        )

    def _moved(self, fill: FillRow) -> None:
        self.fill = fill
        self.fill_changed.emit(fill)
        self.accept()

    def approve(self) -> None:
        self._move(self._approve_target)

    def send_back(self) -> None:
        reason = ask_reason(
            self,
            title="Send back",
            question=f"{self.rx_text}: what must be corrected? The reason goes with the fill.",
            action_text="Send back",
        )
        if reason is not None:
            self._move(self._back_target, reason)


class PharmacistReviewDialog(_PharmacistDialog):
    """Data review: the prescription as entered, its image, the findings; approve or send back.

    Signals: findings_changed()  # a finding was acknowledged (and fill_changed, stale)
    """

    findings_changed = Signal()

    def __init__(
        self,
        review: ReviewData,
        *,
        services: Services,
        tasks: TaskRunner,
        actor: Actor,
        cosign: Cosign,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            review.fill,
            approve_target=FillState.FILL,
            back_target=FillState.DATA_ENTRY,
            services=services,
            tasks=tasks,
            actor=actor,
            cosign=cosign,
            parent=parent,
        )
        self.review = review
        self.findings = list(review.findings)
        prescription = review.prescription
        self.setWindowTitle(f"Pharmacist data review — {self.rx_text} — RxBench")
        self.setAccessibleName("Pharmacist data review")

        self.flags = QLabel("\n".join(f"• {flag}" for flag in prescription_flags(prescription)))
        self.flags.setWordWrap(True)
        self.flags.setStyleSheet(_FLAG_STYLE)
        self.flags.setAccessibleName("Flags")
        self.flags.setVisible(bool(self.flags.text()))

        facts = QWidget()
        facts.setLayout(_facts_form(self._facts(prescription)))
        columns = QHBoxLayout()
        columns.addWidget(facts, 1)
        columns.addWidget(self._image_view(review.image), 1)

        self.findings_box = QGroupBox()
        self.findings_box.setAccessibleName("Clinical findings")
        self._findings_layout = QVBoxLayout(self.findings_box)
        self.disclaimer = QLabel(SCREENING_DISCLAIMER)
        self.disclaimer.setWordWrap(True)
        self.disclaimer.setStyleSheet(_DISCLAIMER_STYLE)
        self.disclaimer.setAccessibleName("Screening disclaimer")

        self.approve_button = self._add_action("&Approve to fill", "Approve to fill", self.approve)
        self.approve_button.setDefault(True)
        self.approve_and_bill_button = self._add_action(
            "Approve and &bill", "Approve and bill", self.approve_and_bill
        )
        self.send_back_button = self._add_action(
            "Send bac&k to data entry…", "Send back to data entry", self.send_back
        )

        layout = QVBoxLayout(self)
        layout.addWidget(self.flags)
        layout.addLayout(columns)
        layout.addWidget(self.findings_box)
        layout.addWidget(self.disclaimer)
        layout.addLayout(self._authority_row())
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._show_findings()
        self.resize(980, 720)

    def _facts(self, rx: PrescriptionDetail) -> list[tuple[str, str]]:
        refills = "None" if rx.refills_authorized == 0 else str(rx.refills_authorized)
        return [
            ("Patient", rx.patient_name),
            ("Prescriber", rx.prescriber_name),
            ("Drug", rx.drug),
            ("NDC", rx.ndc),
            ("Quantity", f"{quantity_text(rx.quantity)} {rx.quantity_unit}".strip()),
            ("Sig as written", rx.sig_code),
            ("Directions", rx.directions),
            ("Days supply", f"{rx.days_supply}{' (entered by hand)' * rx.days_supply_overridden}"),
            ("Refills", refills),
            ("DAW", _DAW_TEXTS.get(rx.daw_code, str(rx.daw_code))),
            ("Indication", rx.indication or "—"),
            ("Source", rx.source.replace("_", " ").capitalize()),
            ("Written", date_text(rx.written_date)),
            (
                "Do not fill before",
                date_text(rx.do_not_fill_before) if rx.do_not_fill_before else "—",
            ),
            ("Notes", rx.notes or "—"),
        ]

    def _image_view(self, image: PrescriptionImageContent | None) -> QWidget:
        self.image_label = QLabel()
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setWordWrap(True)
        self.image_label.setAccessibleName("Scanned prescription")
        self.open_pdf_button: QPushButton | None = None
        if image is None:
            self.image_label.setText(NO_IMAGE_TEXT)
            return self.image_label
        if image.media_type == "application/pdf":
            box = QWidget()
            layout = QVBoxLayout(box)
            self.image_label.setText(PDF_TEXT)
            self.open_pdf_button = QPushButton("&Open PDF")
            self.open_pdf_button.setAccessibleName("Open the scanned PDF")
            self.open_pdf_button.setAutoDefault(False)
            self.open_pdf_button.clicked.connect(lambda: self.open_pdf(image))
            layout.addStretch()
            layout.addWidget(self.image_label)
            layout.addWidget(self.open_pdf_button, 0, Qt.AlignmentFlag.AlignHCenter)
            layout.addStretch()
            return box
        pixmap = QPixmap()
        if not pixmap.loadFromData(image.content):
            self.image_label.setText(f"The scanned image {image.file_name} cannot be shown.")
            return self.image_label
        self.image_label.setPixmap(
            pixmap.scaledToWidth(
                min(IMAGE_WIDTH, pixmap.width()), Qt.TransformationMode.SmoothTransformation
            )
        )
        scroll = QScrollArea()
        scroll.setAccessibleName("Scanned prescription image")
        scroll.setWidget(self.image_label)
        scroll.setWidgetResizable(True)
        return scroll

    def open_pdf(self, image: PrescriptionImageContent) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(write_temporary_copy(image))))

    # --- findings -----------------------------------------------------------------------------

    @property
    def unacknowledged(self) -> list[FindingDTO]:
        return [finding for finding in self.findings if not finding.acknowledged]

    def _show_findings(self) -> None:
        while (item := self._findings_layout.takeAt(0)) is not None:
            if (widget := item.widget()) is not None:
                widget.deleteLater()
        waiting = len(self.unacknowledged)
        title = "Clinical findings"
        if waiting:
            title += f" — {waiting} to acknowledge before approval"
        self.findings_box.setTitle(title)
        if not self.findings:
            empty = QLabel(NO_FINDINGS_TEXT)
            empty.setAccessibleName("No findings")
            self._findings_layout.addWidget(empty)
        for number, finding in enumerate(self.findings, start=1):
            self._findings_layout.addWidget(self._finding_row(number, finding))
        self._update_buttons()

    def _finding_row(self, number: int, finding: FindingDTO) -> QWidget:
        row = QFrame()
        row.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(row)
        severity = "Critical" if finding.severity == "critical" else "Warning"
        text = f"<b>{finding.kind_label}</b> ({severity}) — {_html(finding.message)}"
        if finding.acknowledged:
            text += (
                f"<br><i>Acknowledged by {_html(finding.acknowledged_by or '')}: "
                f"{_html(finding.acknowledgement_reason)}</i>"
            )
        label = QLabel(text)
        label.setWordWrap(True)
        label.setAccessibleName(f"Finding {number}")
        layout.addWidget(label, 1)
        if not finding.acknowledged:
            button = QPushButton("Ac&knowledge…")
            button.setAccessibleName(f"Acknowledge finding {number}")
            button.setAutoDefault(False)
            button.clicked.connect(lambda _=False, f=finding: self.acknowledge(f))
            layout.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
        return row

    def acknowledge(self, finding: FindingDTO) -> None:
        reason = ask_reason(
            self,
            title="Acknowledge finding",
            question=(
                f"{finding.kind_label}: {finding.message}\n"
                "Why may the fill go on despite this finding?"
            ),
            action_text="Acknowledge",
        )
        if reason is None:
            return
        screening, actor = self._services.screening, self.acting
        self._run(
            lambda: screening.acknowledge(
                actor, finding.finding_id, expected_version=finding.version, reason=reason
            ),
            self._acknowledged,
        )

    def _acknowledged(self, finding: FindingDTO) -> None:
        self.findings = [
            finding if f.finding_id == finding.finding_id else f for f in self.findings
        ]
        self._show_findings()
        self.findings_changed.emit()

    def _update_buttons(self) -> None:
        super()._update_buttons()
        clear = not self.unacknowledged
        for button in (self.approve_button, self.approve_and_bill_button):
            button.setEnabled(clear and not self.busy)
            button.setToolTip("" if clear else "Acknowledge every finding first.")

    def approve_and_bill(self) -> None:
        self._move(FillState.BILLING_PENDING)

    def cosign_purpose(self) -> str:
        return f"data review of {self.rx_text}"


class PharmacistFinalVerificationDialog(_PharmacistDialog):
    """Final verification: the filled prescription and its label; approve or send back to fill.

    Signals: see _PharmacistDialog (fill_changed, stale)
    """

    def __init__(
        self,
        fill: FillRow,
        *,
        label_text: str,
        services: Services,
        tasks: TaskRunner,
        actor: Actor,
        cosign: Cosign,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            fill,
            approve_target=FillState.READY,
            back_target=FillState.FILL,
            services=services,
            tasks=tasks,
            actor=actor,
            cosign=cosign,
            parent=parent,
        )
        self.setWindowTitle(f"Pharmacist final verification — {self.rx_text} — RxBench")
        self.setAccessibleName("Pharmacist final verification")
        facts = [
            ("Rx #", f"{fill.rx_number}-{fill.fill_number}"),
            ("Patient", fill.patient_name),
            ("Drug", fill.drug),
            ("NDC", fill.ndc),
            ("Quantity", quantity_text(fill.quantity)),
            ("Days supply", str(fill.days_supply)),
            ("Directions", fill.directions),
        ]
        if fill.dea_schedule:
            facts.append(("Schedule", fill.dea_schedule))
        facts_box = QGroupBox("The fill")
        facts_box.setLayout(_facts_form(facts))
        self.label_preview = QPlainTextEdit(label_text)
        self.label_preview.setReadOnly(True)
        self.label_preview.setAccessibleName("Label preview")
        self.label_preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        label_box = QGroupBox("Label")
        QVBoxLayout(label_box).addWidget(self.label_preview)
        columns = QHBoxLayout()
        columns.addWidget(facts_box, 1)
        columns.addWidget(label_box, 1)
        # Every bottle, voided ones too: each verdict, manual entry and override (who, why).
        self.bottles = BottlesModel(self)
        self.bottles_table = QTableView()
        self.bottles_table.setAccessibleName("Scanned bottles")
        self.bottles_table.setModel(self.bottles)
        self.bottles_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.bottles_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.bottles_table.verticalHeader().hide()
        self.bottles_table.horizontalHeader().setStretchLastSection(True)
        self.bottles_table.setMaximumHeight(150)
        self.bottles_note = QLabel(BOTTLES_LOADING_TEXT)
        self.bottles_note.setWordWrap(True)
        self.bottles_note.setAccessibleName("Scanned bottles note")
        bottles_box = QGroupBox("Stock bottles scanned")
        bottles_layout = QVBoxLayout(bottles_box)
        bottles_layout.addWidget(self.bottles_table)
        bottles_layout.addWidget(self.bottles_note)
        verification = services.verification
        tasks.run(
            lambda: verification.bottles_for_review(actor, fill.fill_id),
            on_success=self._show_bottles,
            on_failure=lambda exc: self.bottles_note.setText(explain(exc)[1]),
        )

        self.approve_button = self._add_action(
            "&Approve — ready for pickup", "Approve final verification", self.approve
        )
        self.approve_button.setDefault(True)
        self.send_back_button = self._add_action(
            "Send bac&k to fill…", "Send back to fill", self.send_back
        )
        layout = QVBoxLayout(self)
        layout.addLayout(columns)
        layout.addWidget(bottles_box)
        layout.addLayout(self._authority_row())
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.resize(900, 520)

    def cosign_purpose(self) -> str:
        return f"final verification of {self.rx_text}"

    def _show_bottles(self, rows: list[BottleRow]) -> None:
        if not isValid(self):
            return
        self.bottles.set_rows(rows)
        self.bottles_table.resizeColumnsToContents()
        self.bottles_table.setVisible(bool(rows))
        flagged = [row for row in rows if row.manual or row.overridden_by or row.voided]
        if not rows:
            self.bottles_note.setText(NO_BOTTLE_SCANS_TEXT)
        elif flagged:
            self.bottles_note.setText(
                f"{len(flagged)} of {len(rows)} bottle(s) typed by hand, overridden or voided: "
                "read their marks before approving."
            )
        else:
            self.bottles_note.setText(
                f"{len(rows)} bottle(s), all scanned, none overridden or voided."
            )


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
