"""Count stock: start a cycle count of a location or an NDC, or resume one; scan sealed packages
and type opened ones into it, recount differences, submit it, and approve it (a technician's
approval is co-signed by a pharmacist), then the DEA Form 106 prompt for a significant loss."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.roles import Role
from app.errors import RxBenchError
from app.services.catalogue import CatalogueService
from app.services.counts import (
    CountApproved,
    CountLineRow,
    CountService,
    CountSessionRow,
    LossReportRow,
    LotNeeded,
)
from app.services.inventory import LOCATIONS, WitnessRequired, shown
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.dialogs.reason import ask_reason
from ui.docks.base import row_table
from ui.models.counts import CountLinesModel
from ui.models.formatting import date_text
from ui.models.table import ROW_ROLE
from ui.scanner import ScanLineEdit, ScanRouter
from ui.tasks import TaskRunner
from ui.widgets.catalogue_search import CatalogueSearchField

# Asks a second person to sign one action (purpose given); None when nobody did.
Signer = Callable[[str], Actor | None]

RECOUNT_SHORTCUT = "Ctrl+R"
SUBMIT_SHORTCUT = "Ctrl+S"
APPROVE_SHORTCUT = "Ctrl+Shift+A"
NO_COUNT_TEXT = "Start a count, or resume one, before scanning."
CHOOSE_LINE_TEXT = "Choose the lot in the table first (↑ ↓), then type its count."
NO_COSIGN_TEXT = "Not approved: a pharmacist must co-sign the approval, and nobody did."
NO_WITNESS_TEXT = (
    "Not submitted: by house policy (not a DEA rule) this count is signed by a second person, "
    "and nobody signed it."
)
HOUSE_POLICY_TEXT = (
    "Whether a second person signs a count is the pharmacy's house policy, not a DEA rule. "
    "Schedule II is counted exactly: every lot, in whole tablets or capsules."
)


def session_text(row: CountSessionRow) -> str:
    state = {"counting": "counting", "submitted": "waiting for approval"}.get(
        row.status, row.status
    )
    return (
        f"Count {row.session_id} of {row.scope_text} — {state} — started by {row.started_by} "
        f"at {row.workstation} — {row.counted_lines} of {len(row.lines)} lots counted"
    )


class CycleCountDialog(QDialog):
    """After an approval `approved` holds what it wrote; `form_106_dialog` is the DEA Form 106
    prompt it opened, if any.

    Signals: stock_changed()  # an approval corrected stock on hand
    """

    stock_changed = Signal()

    def __init__(
        self,
        counts: CountService,
        actor: Actor,
        *,
        catalogue: CatalogueService | None = None,
        tasks: TaskRunner | None = None,
        cosign: Signer | None = None,
        witness: Signer | None = None,
        scan_router: ScanRouter | None = None,
        session_id: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._counts = counts
        self._actor = actor
        self._cosign = cosign
        self._witness = witness
        self._scan_router = scan_router
        self._pending: str | None = None
        self.session: CountSessionRow | None = None
        self.approved: CountApproved | None = None
        self.form_106_dialog: Form106Dialog | None = None
        self.setWindowTitle("Count stock — RxBench")
        self.setMinimumWidth(860)

        start = QGroupBox("Start or resume a count")
        start_form = QFormLayout(start)
        self.location = add_field(start_form, "Locat&ion:", QComboBox())
        for place in LOCATIONS:
            self.location.addItem(place.capitalize(), place)
        self.start_location_button = QPushButton("Count &location")
        self.start_location_button.setAccessibleName("Count location")
        start_form.addRow("", self.start_location_button)
        self.package: CatalogueSearchField | None = None
        self.start_package_button = QPushButton("Count this &NDC")
        self.start_package_button.setAccessibleName("Count this NDC")
        if catalogue is not None and tasks is not None:
            self.package = add_field(
                start_form,
                "&Drug or NDC:",
                CatalogueSearchField(catalogue, actor, tasks, scan_router=scan_router),
            )
            start_form.addRow("", self.start_package_button)
        else:
            self.start_package_button.hide()
        self.active_list = add_field(start_form, "Counts in pro&gress:", QListWidget())
        self.active_list.setMaximumHeight(90)
        self.resume_button = QPushButton("R&esume count")
        self.resume_button.setAccessibleName("Resume count")
        start_form.addRow("", self.resume_button)

        self.heading = QLabel(NO_COUNT_TEXT)
        self.heading.setWordWrap(True)
        self.heading.setAccessibleName("Count")
        policy = QLabel(HOUSE_POLICY_TEXT)
        policy.setWordWrap(True)
        policy.setAccessibleName("Count rules")
        counting = QFormLayout()
        self.scan = add_field(counting, "Sc&an:", ScanLineEdit())
        self.lot = add_field(counting, "Lo&t:", QLineEdit())
        self.lot.setPlaceholderText("typed from the package when the code carries no lot")
        self.expiry = add_field(counting, "E&xpiry:", QLineEdit())
        self.expiry.setPlaceholderText("YYYY-MM-DD, for a lot not on record")
        self.units = add_field(counting, "&Units counted:", QLineEdit())
        self.units.setPlaceholderText(
            "for the lot chosen in the table: Enter sets its count, Ctrl+R records a recount"
        )
        self.model = CountLinesModel(self)
        self.table, _ = row_table(
            self.model,
            accessible_name="Count lines",
            sort_column=CountLinesModel.NDC,
            stretch_column=CountLinesModel.DRUG,
        )
        self.set_count_button = QPushButton("Set &count (Enter)")
        self.set_count_button.setAccessibleName("Set count")
        self.recount_button = QPushButton(f"&Recount ({RECOUNT_SHORTCUT})")
        self.recount_button.setAccessibleName("Recount")
        self.submit_button = QPushButton(f"Su&bmit ({SUBMIT_SHORTCUT})")
        self.submit_button.setAccessibleName("Submit count")
        self.approve_button = QPushButton(f"A&pprove ({APPROVE_SHORTCUT})")
        self.approve_button.setAccessibleName("Approve count")
        self.cancel_count_button = QPushButton("Cancel c&ount…")
        self.cancel_count_button.setAccessibleName("Cancel count")
        close = QPushButton("Close")
        close.setAccessibleName("Close")
        self.message = MessageLine()

        buttons = QHBoxLayout()
        for button in (
            self.set_count_button,
            self.recount_button,
            self.submit_button,
            self.approve_button,
            self.cancel_count_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        for button in (
            self.start_location_button,
            self.start_package_button,
            self.resume_button,
            self.set_count_button,
            self.recount_button,
            self.submit_button,
            self.approve_button,
            self.cancel_count_button,
            close,
        ):
            button.setAutoDefault(False)
            button.setDefault(False)

        layout = QVBoxLayout(self)
        layout.addWidget(start)
        layout.addWidget(self.heading)
        layout.addWidget(policy)
        layout.addLayout(counting)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        self.start_location_button.clicked.connect(self.start_location)
        self.start_package_button.clicked.connect(self.start_package)
        self.resume_button.clicked.connect(self.resume_selected)
        self.active_list.itemActivated.connect(lambda _item: self.resume_selected())
        self.scan.entry.connect(self._scanned)
        self.lot.returnPressed.connect(self._typed_lot)
        self.expiry.returnPressed.connect(self._typed_lot)
        self.units.returnPressed.connect(self.set_count)
        self.set_count_button.clicked.connect(self.set_count)
        self.recount_button.clicked.connect(self.recount)
        self.submit_button.clicked.connect(self.submit)
        self.approve_button.clicked.connect(self.approve)
        self.cancel_count_button.clicked.connect(self.cancel_count)
        close.clicked.connect(self.reject)
        self.table.activated.connect(lambda _index: self.units.setFocus())
        for shortcut, slot in (
            (RECOUNT_SHORTCUT, self.recount),
            (SUBMIT_SHORTCUT, self.submit),
            (APPROVE_SHORTCUT, self.approve),
        ):
            QShortcut(QKeySequence(shortcut), self).activated.connect(slot)

        self._refresh_active()
        if session_id is not None:
            self.load(session_id)
        else:
            self._show_session(None)
            self.location.setFocus()

    # --- starting and resuming ------------------------------------------------------------------

    def start_location(self) -> None:
        self._start(location=str(self.location.currentData()))

    def start_package(self) -> None:
        chosen = self.package.chosen if self.package is not None else None
        if chosen is None:
            self.message.show_problem("Choose the drug package to count first.")
            if self.package is not None:
                self.package.setFocus()
            return
        self._start(package_id=chosen.package_id)

    def _start(self, *, location: str | None = None, package_id: int | None = None) -> None:
        self.message.retract()
        try:
            row = self._counts.start(self._actor, location=location, package_id=package_id)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self._show_session(row)
        self._refresh_active()
        self.scan.setFocus()

    def resume_selected(self) -> None:
        item = self.active_list.currentItem()
        if item is None:
            self.message.show_problem("Choose the count to resume in the list first.")
            self.active_list.setFocus()
            return
        self.load(int(item.data(Qt.ItemDataRole.UserRole)))

    def load(self, session_id: int) -> None:
        """Show one count as saved: an interrupted count carries on exactly where it was."""
        self.message.retract()
        try:
            row = self._counts.get(self._actor, session_id)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self._show_session(row)
        (self.scan if row.status == "counting" else self.table).setFocus()

    def _refresh_active(self) -> None:
        self.active_list.clear()
        try:
            active = self._counts.active(self._actor)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        for row in active:
            item = QListWidgetItem(session_text(row))
            item.setData(Qt.ItemDataRole.UserRole, row.session_id)
            self.active_list.addItem(item)
        if active:
            self.active_list.setCurrentRow(0)
        self.resume_button.setEnabled(bool(active))

    def _show_session(self, row: CountSessionRow | None) -> None:
        chosen = self.selected_line()
        self.session = row
        self.model.set_rows(row.lines if row is not None else ())
        self.table.resizeColumnsToContents()
        counting = row is not None and row.status == "counting"
        for widget in (
            self.scan,
            self.lot,
            self.expiry,
            self.units,
            self.set_count_button,
            self.recount_button,
            self.submit_button,
        ):
            widget.setEnabled(counting)
        self.approve_button.setEnabled(row is not None and row.status == "submitted")
        self.cancel_count_button.setEnabled(row is not None and row.active)
        if row is None:
            self.heading.setText(NO_COUNT_TEXT)
        else:
            flagged = len(row.discrepancies)
            recounts = sum(1 for line in row.lines if line.needs_recount)
            self.heading.setText(
                f"{session_text(row)}; {flagged} difference{'s' if flagged != 1 else ''}"
                + (f", {recounts} to recount" if recounts else "")
                + "."
            )
        self.heading.setAccessibleDescription(self.heading.text())
        if chosen is not None:
            self.select_line(chosen.line_id)

    # --- counting -------------------------------------------------------------------------------

    def selected_line(self) -> CountLineRow | None:
        index = self.table.currentIndex()
        row = index.data(ROW_ROLE) if index.isValid() else None
        return row if isinstance(row, CountLineRow) else None

    def select_line(self, line_id: int) -> bool:
        proxy = self.table.model()
        for position in range(proxy.rowCount()):
            index = proxy.index(position, 0)
            row = index.data(ROW_ROLE)
            if isinstance(row, CountLineRow) and row.line_id == line_id:
                self.table.setCurrentIndex(index)
                self.table.selectRow(position)
                return True
        return False

    def _scanned(self, text: str, _manual: bool) -> None:
        self.message.retract()
        if self.session is None or self.session.status != "counting":
            self.message.show_problem(NO_COUNT_TEXT)
            return
        self._count_scan(text)

    def _typed_lot(self) -> None:
        if self._pending is None:
            self.focusNextChild()
            return
        if not self.lot.text().strip():
            self.lot.setFocus()
            return
        self._count_scan(self._pending)

    def _count_scan(self, text: str) -> None:
        assert self.session is not None
        expiry_text = self.expiry.text().strip()
        try:
            expiry = date.fromisoformat(expiry_text) if expiry_text else None
        except ValueError:
            self.message.show_problem(f"Type the expiry as YYYY-MM-DD, not “{expiry_text}”.")
            self.expiry.setFocus()
            return
        try:
            line = self._counts.scan(
                self._actor,
                self.session.session_id,
                text,
                lot_number=self.lot.text(),
                expiry=expiry,
            )
        except LotNeeded as needed:
            self._pending = text
            self.message.show_error(needed)
            (self.expiry if needed.facts.get("field") == "expiry" else self.lot).setFocus()
            return
        except RxBenchError as error:
            self._pending = None
            self.message.show_error(error)
            self.scan.setFocus()
            return
        self._pending = None
        for field in (self.lot, self.expiry, self.scan):
            field.clear()
        self._reload(line.line_id)
        self.scan.setFocus()

    def set_count(self) -> None:
        """The typed units become the chosen lot's count (an opened container, or 0)."""
        self._typed_count(self._counts.set_count)

    def recount(self) -> None:
        """The typed units are the chosen lot's recount."""
        self._typed_count(self._counts.recount)

    def _typed_count(self, record: Callable[[Actor, int, int, str], CountLineRow]) -> None:
        self.message.retract()
        if self.session is None or self.session.status != "counting":
            self.message.show_problem(NO_COUNT_TEXT)
            return
        line = self.selected_line()
        if line is None:
            self.message.show_problem(CHOOSE_LINE_TEXT)
            self.table.setFocus()
            return
        if not self.units.text().strip():
            self.message.show_problem(f"Type the units counted for {line.described}.")
            self.units.setFocus()
            return
        try:
            record(self._actor, self.session.session_id, line.line_id, self.units.text())
        except RxBenchError as error:
            self.message.show_error(error)
            self.units.setFocus()
            return
        self.units.clear()
        self._reload(line.line_id)
        self.table.setFocus()

    def _reload(self, line_id: int | None = None) -> None:
        assert self.session is not None
        try:
            row = self._counts.get(self._actor, self.session.session_id)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self._show_session(row)
        if line_id is not None:
            self.select_line(line_id)

    # --- submitting, approving, cancelling --------------------------------------------------------

    def submit(self) -> None:
        """Send the count to the pharmacist; a second person signs first when the house wants."""
        self.message.retract()
        if self.session is None or self.session.status != "counting":
            self.message.show_problem(NO_COUNT_TEXT)
            return
        session_id = self.session.session_id
        try:
            try:
                row = self._counts.submit(self._actor, session_id)
            except WitnessRequired as needed:
                if needed.facts.get("reason") != "witness-missing":
                    raise
                signer = (
                    self._witness(f"count {session_id} of {self.session.scope_text}")
                    if self._witness is not None
                    else None
                )
                if signer is None:
                    self.message.show_problem(NO_WITNESS_TEXT)
                    return
                row = self._counts.submit(self._actor, session_id, second_signer=signer)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self._show_session(row)
        self._refresh_active()
        self.approve_button.setFocus()

    def approve(self) -> None:
        """A pharmacist approves; a technician's approval is co-signed by one."""
        self.message.retract()
        if self.session is None or self.session.status != "submitted":
            self.message.show_problem("Submit the count before it is approved.")
            return
        session_id = self.session.session_id
        approver: Actor | None = self._actor
        if not self._actor.has_any(Role.PHARMACIST):
            approver = (
                self._cosign(f"approve count {session_id} of {self.session.scope_text}")
                if self._cosign is not None
                else None
            )
            if approver is None:
                self.message.show_problem(NO_COSIGN_TEXT)
                return
        assert approver is not None
        try:
            self.approved = self._counts.approve(approver, session_id)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self._show_session(self.approved.session)
        self._refresh_active()
        self.stock_changed.emit()
        corrections = len(self.approved.movement_ids)
        self.heading.setText(
            f"Count {session_id} approved by {approver.username}: {corrections} correction"
            f"{'s' if corrections != 1 else ''} written."
        )
        if self.approved.form_106_due:
            self.form_106_dialog = Form106Dialog(
                self._counts, approver, self.approved.loss_reports, parent=self
            )
            self.form_106_dialog.open()

    def cancel_count(self) -> None:
        if self.session is None or not self.session.active:
            return
        reason = ask_reason(
            self,
            title="Cancel count",
            question=(
                f"Cancel count {self.session.session_id} of {self.session.scope_text}? Nothing "
                "it counted changes stock."
            ),
            action_text="Cancel count",
        )
        if reason is None:
            return
        try:
            row = self._counts.cancel(self._actor, self.session.session_id, reason=reason)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self._show_session(row)
        self._refresh_active()

    # --- the scanner ------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        """While the dialog is open, the wedge scanner's scans land in its scan field."""
        super().showEvent(event)
        if self._scan_router is not None:
            self._scan_router.push_receiver(self.scan)

    def done(self, result: int) -> None:
        if self._scan_router is not None:
            self._scan_router.remove_receiver(self.scan)
        super().done(result)


class Form106Dialog(QDialog):
    """The DEA Form 106 prompt after a significant loss: record it filed now (with DEA's
    reference), or later from the work list, where it stays until then."""

    def __init__(
        self,
        counts: CountService,
        pharmacist: Actor,
        reports: tuple[LossReportRow, ...],
        *,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._counts = counts
        self._pharmacist = pharmacist
        self._reports = reports
        self.filed: list[LossReportRow] = []
        self.setWindowTitle("DEA Form 106 due — RxBench")
        self.setMinimumWidth(520)
        due = min(report.due_on for report in reports)
        losses = "\n".join(
            f"• {shown(report.quantity)} units of {report.drug} (NDC {report.ndc}, "
            f"{report.schedule}, lot {report.lot_number or '—'})"
            for report in reports
        )
        explanation = QLabel(
            f"The count found a significant loss of controlled substances:\n{losses}\n\n"
            f"File DEA Form 106 on DEA's Diversion Control website by {date_text(due)} (within "
            "one business day of discovery), then record DEA's reference here. Until it is "
            "recorded it stays on the pharmacist's work list."
        )
        explanation.setWordWrap(True)
        explanation.setAccessibleName("Form 106 due")
        form = QFormLayout()
        self.reference = add_field(form, "DEA &reference:", QLineEdit())
        self.message = MessageLine()
        self.file_button = QPushButton("Record &filed (Ctrl+S)")
        self.file_button.setAccessibleName("Record filed")
        self.file_button.setDefault(True)
        later = QPushButton("File &later (Esc)")
        later.setAccessibleName("File later")
        later.setAutoDefault(False)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.file_button)
        buttons.addWidget(later)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.file_button.clicked.connect(self.accept)
        later.clicked.connect(self.reject)
        QShortcut(QKeySequence(SUBMIT_SHORTCUT), self).activated.connect(self.accept)
        self.reference.setFocus()

    def accept(self) -> None:
        """Record every report of the prompt as filed under the one reference typed."""
        self.message.retract()
        if not self.reference.text().strip():
            self.message.show_problem(
                "Type the reference DEA gave when the Form 106 was filed, or choose File later."
            )
            self.reference.setFocus()
            return
        for report in self._reports:
            if any(done.report_id == report.report_id for done in self.filed):
                continue
            try:
                self.filed.append(
                    self._counts.record_form_106_filed(
                        self._pharmacist, report.report_id, dea_reference=self.reference.text()
                    )
                )
            except RxBenchError as error:
                self.message.show_error(error)
                return
        super().accept()
