"""Recalls: the list, a recall typed from its notice, the FDA enforcement report imported with a
preview to confirm, and a recall's work list of stock to pull and patients to contact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.roles import Role
from app.errors import RxBenchError
from app.services.recalls import (
    CLASSIFICATIONS,
    CONTACT_LABELS,
    CONTACT_STATUSES,
    LEVELS,
    ContactRow,
    ImportChoice,
    ImportPreview,
    PullRow,
    RecallRow,
    RecallService,
    RecallWorklist,
    ReportPreview,
)
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.errors import explain
from ui.tasks import TaskRunner

LEVEL_LABELS = {
    "consumer": "Consumer: pull our stock and contact the patients who took it",
    "retail": "Retail: pull our stock, no patient is contacted",
    "wholesale": "Wholesale: pull our stock, no patient is contacted",
}
ITEMS_HELP = (
    "One package per line: its NDC, a comma, then the lot number. An NDC alone recalls every lot."
)
NOTHING_CHECKED = "Check at least one recall and the packages and lots it covers."


def _plain(text: str) -> str:
    return text.replace("&", "")


def _button(text: str, shortcut: str = "") -> QPushButton:
    """A button showing its shortcut, named for screen readers without it; never the default,
    so Enter in a field does not press it."""
    button = QPushButton(f"{text} ({shortcut})" if shortcut else text)
    button.setAccessibleName(_plain(text).rstrip("…"))
    button.setAutoDefault(False)
    return button


def _shortcut(parent: QWidget, keys: str, slot: Callable[[], object]) -> None:
    QShortcut(QKeySequence(keys), parent).activated.connect(slot)


def _table(headers: list[str], accessible_name: str) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setAccessibleName(accessible_name)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setTabKeyNavigation(False)  # Tab leaves the table, arrows move in it
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill_row(table: QTableWidget, row: int, values: list[str]) -> None:
    for column, value in enumerate(values):
        table.setItem(row, column, QTableWidgetItem(value))


def _recall_name(recall: RecallRow) -> str:
    return recall.recall_number or f"#{recall.recall_id}"


# --- the list -------------------------------------------------------------------------------------


class RecallsDialog(QDialog):
    """Every recall with its progress; Enter opens the selected recall's work list."""

    SHOW = (("Open", "open"), ("Closed", "closed"), ("All", None))

    def __init__(
        self,
        recalls: RecallService,
        actor: Actor,
        *,
        tasks: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._recalls = recalls
        self._actor = actor
        self._tasks = tasks
        self.rows: list[RecallRow] = []
        self.setWindowTitle("Recalls — RxBench")
        self.resize(900, 420)

        form = QFormLayout()
        self.show_combo = add_field(form, "S&how:", QComboBox())
        for label, _ in self.SHOW:
            self.show_combo.addItem(label)
        self.table = _table(
            [
                "Recall",
                "Class",
                "Level",
                "Firm",
                "Lots pulled",
                "Patients left to contact",
                "Status",
            ],
            "Recalls",
        )
        self.new_button = _button("&New recall…", "Ctrl+N")
        self.import_button = _button("&Import FDA enforcement JSON…", "Ctrl+I")
        self.open_button = _button("Open &work list", "Enter")
        close = _button("Close", "Esc")
        self.message = MessageLine()
        buttons = QHBoxLayout()
        for button in (self.new_button, self.import_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        self.show_combo.currentIndexChanged.connect(self.reload)
        self.table.activated.connect(self.open_worklist)
        self.new_button.clicked.connect(self.new_recall)
        self.import_button.clicked.connect(self.import_report)
        self.open_button.clicked.connect(self.open_worklist)
        close.clicked.connect(self.reject)
        _shortcut(self, "Ctrl+N", self.new_recall)
        _shortcut(self, "Ctrl+I", self.import_report)
        self.reload()
        self.table.setFocus()

    def reload(self) -> None:
        self.message.retract()
        status = self.SHOW[self.show_combo.currentIndex()][1]
        try:
            self.rows = self._recalls.recalls(self._actor, status)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self.table.setRowCount(len(self.rows))
        for index, recall in enumerate(self.rows):
            _fill_row(
                self.table,
                index,
                [
                    _recall_name(recall),
                    recall.classification,
                    recall.level,
                    recall.firm,
                    f"{recall.lots_pulled} of {recall.lots}",
                    f"{recall.contacts_open} of {recall.contacts}",
                    recall.status,
                ],
            )
        if self.rows:
            self.table.selectRow(0)

    def new_recall(self) -> NewRecallDialog:
        dialog = NewRecallDialog(self._recalls, self._actor, parent=self)
        dialog.accepted.connect(self.reload)
        dialog.open()
        return dialog

    def import_report(self) -> ImportRecallsDialog:
        dialog = ImportRecallsDialog(self._recalls, self._actor, tasks=self._tasks, parent=self)
        dialog.accepted.connect(self.reload)
        dialog.open()
        return dialog

    def open_worklist(self) -> RecallWorkDialog | None:
        """The selected recall's work list."""
        row = self.table.currentRow()
        if not 0 <= row < len(self.rows):
            self.message.show_problem("Choose a recall first.")
            return None
        return self.open_recall(self.rows[row].recall_id)

    def open_recall(self, recall_id: int) -> RecallWorkDialog | None:
        """One recall's work list (from the list, or from its item on the pharmacist's list)."""
        try:
            work = self._recalls.worklist(self._actor, recall_id)
        except RxBenchError as error:
            self.message.show_error(error)
            return None
        dialog = RecallWorkDialog(self._recalls, self._actor, work, parent=self)
        dialog.finished.connect(self.reload)
        dialog.open()
        return dialog


# --- a recall typed from its notice ---------------------------------------------------------------


class NewRecallDialog(QDialog):
    """After acceptance `recall` is the recall recorded."""

    def __init__(
        self, recalls: RecallService, actor: Actor, *, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._recalls = recalls
        self._actor = actor
        self.recall: RecallRow | None = None
        self.setWindowTitle("New recall — RxBench")
        self.setMinimumWidth(560)
        form = QFormLayout()
        self.recall_number = add_field(form, "Recall &number:", QLineEdit())
        self.recall_number.setPlaceholderText("as on the notice, e.g. D-0412-2026 (optional)")
        self.classification = add_field(form, "&Classification:", QComboBox())
        self.classification.addItems(list(CLASSIFICATIONS))
        self.level = add_field(form, "&Level:", QComboBox())
        for level in LEVELS:
            self.level.addItem(LEVEL_LABELS[level], level)
        self.firm = add_field(form, "Recalling &firm:", QLineEdit())
        self.reason = add_field(form, "&Reason:", QLineEdit())
        self.description = add_field(form, "Product &description:", QLineEdit())
        self.items = add_field(form, "&Packages and lots:", QPlainTextEdit())
        self.items.setTabChangesFocus(True)
        self.items.setPlaceholderText("59651-002-01, D000201A\n59651-002-30")
        self.items.setToolTip(ITEMS_HELP)
        help_text = QLabel(ITEMS_HELP)
        help_text.setWordWrap(True)
        self.message = MessageLine()
        self.save_button = _button("&Save recall", "Ctrl+S")
        cancel = _button("Cancel", "Esc")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(help_text)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.save_button.clicked.connect(self.accept)
        cancel.clicked.connect(self.reject)
        _shortcut(self, "Ctrl+S", self.accept)
        self.recall_number.setFocus()

    def typed_items(self) -> list[tuple[str, str]]:
        """(NDC, lot) per non-blank line: the NDC, then a comma and the lot (or none)."""
        items = []
        for line in self.items.toPlainText().splitlines():
            ndc, _, lot = line.partition(",")
            if ndc.strip() or lot.strip():
                items.append((ndc.strip(), lot.strip()))
        return items

    def accept(self) -> None:
        self.message.retract()
        try:
            self.recall = self._recalls.enter(
                self._actor,
                classification=self.classification.currentText(),
                level=str(self.level.currentData()),
                reason=self.reason.text(),
                firm=self.firm.text(),
                recall_number=self.recall_number.text(),
                product_description=self.description.text(),
                items=self.typed_items(),
            )
        except RxBenchError as error:
            self.message.show_error(error)
            return
        super().accept()


# --- the FDA enforcement report -------------------------------------------------------------------

_ITEM = Qt.ItemDataRole.UserRole


class ImportRecallsDialog(QDialog):
    """Choose the openFDA drug enforcement JSON, preview it, check what to record, import.

    Each recall of the report is a checkable row; under it each of our catalogue packages it
    names, once per lot read from its code text, and once for every lot (unchecked unless no
    lot was read). The report is read and recorded off the GUI thread (a full openFDA page holds
    a thousand recalls). After acceptance `recorded` lists the recalls recorded."""

    def __init__(
        self,
        recalls: RecallService,
        actor: Actor,
        *,
        tasks: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._recalls = recalls
        self._actor = actor
        self._tasks = tasks
        self.preview: ImportPreview | None = None
        self.levels: dict[int, str] = {}
        self.recorded: list[RecallRow] = []
        self.setWindowTitle("Import FDA enforcement report — RxBench")
        self.resize(900, 560)

        form = QFormLayout()
        self.path = QLineEdit()
        self.path.setAccessibleName("Enforcement report file")
        self.path.setPlaceholderText("drug-enforcement-….json from open.fda.gov")
        self.browse_button = browse = _button("&Browse…")
        path_row = QHBoxLayout()
        path_row.setContentsMargins(0, 0, 0, 0)
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        path_label = QLabel("Report &file:")
        path_label.setBuddy(self.path)
        form.addRow(path_label, path_row)
        self.preview_button = _button("&Preview", "Enter")
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Recalls in the report")
        self.tree.setHeaderLabels(["Recall, package and lot", "Our stock", "Notes"])
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        level_form = QFormLayout()
        self.level = add_field(level_form, "&Level of the selected recall:", QComboBox())
        for level in LEVELS:
            self.level.addItem(LEVEL_LABELS[level], level)
        self.level.setEnabled(False)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setAccessibleName("Recall details")
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.message = MessageLine()
        self.import_button = _button("I&mport checked", "Ctrl+S")
        self.import_button.setEnabled(False)
        cancel = _button("Cancel", "Esc")
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.tree, 1)
        layout.addLayout(level_form)
        layout.addWidget(self.details)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        browse.clicked.connect(self._browse)
        self.path.returnPressed.connect(self.show_preview)
        self.preview_button.clicked.connect(self.show_preview)
        self.tree.currentItemChanged.connect(self._selected)
        self.level.currentIndexChanged.connect(self._level_chosen)
        self.import_button.clicked.connect(self.accept)
        cancel.clicked.connect(self.reject)
        _shortcut(self, "Ctrl+S", self.accept)
        self.path.setFocus()

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "FDA drug enforcement report", "", "JSON files (*.json);;All files (*)"
        )
        if chosen:
            self.path.setText(chosen)
            self.show_preview()

    def show_preview(self) -> None:
        self.message.retract()
        text = self.path.text().strip()
        if not text:
            self.message.show_problem("Choose the enforcement report file to preview.")
            self.path.setFocus()
            return
        self._busy(True)
        recalls, actor, path = self._recalls, self._actor, Path(text)
        self._tasks.run(
            lambda: recalls.preview(actor, path),
            on_success=self._previewed,
            on_failure=self._failed,
        )

    def _busy(self, busy: bool) -> None:
        """While the report is read or recorded (off the GUI thread), nothing else starts."""
        for button in (self.preview_button, self.import_button, self.browse_button):
            button.setEnabled(not busy)
        self.path.setReadOnly(busy)

    def _failed(self, error: BaseException) -> None:
        self._busy(False)
        self.import_button.setEnabled(self.preview is not None)
        self.message.show_problem(explain(error)[1])

    def _previewed(self, preview: ImportPreview) -> None:
        self._busy(False)
        self.preview = preview
        self.tree.clear()
        self.levels = {}
        for report in preview.reports:
            self.tree.addTopLevelItem(self._report_item(report))
            self.levels[report.index] = report.proposed_level
        self.tree.expandAll()
        self.import_button.setEnabled(any(r.importable for r in preview.reports))
        self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self.tree.setFocus()

    def _report_item(self, report: ReportPreview) -> QTreeWidgetItem:
        item = QTreeWidgetItem(
            [
                f"{report.recall_number} · {report.classification} · {report.firm}",
                f"{len(report.matching_lots)} of our lots match",
                self._report_note(report),
            ]
        )
        item.setData(0, _ITEM, report.index)
        if not report.importable:
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
            return item
        item.setCheckState(0, Qt.CheckState.Checked)
        matching = {(lot.package_id, lot.lot_number.upper()): lot for lot in report.matching_lots}
        for package in report.packages:
            for lot_number in report.lot_candidates:
                ours = matching.get((package.package_id, lot_number))
                child = QTreeWidgetItem(
                    [
                        f"NDC {package.ndc} · lot {lot_number}",
                        f"ours: {ours.on_hand.normalize():f} on hand ({ours.status})"
                        if ours
                        else "not in our stock",
                        package.drug,
                    ]
                )
                child.setData(0, _ITEM, (package.package_id, lot_number))
                child.setCheckState(0, Qt.CheckState.Checked)
                item.addChild(child)
            every = QTreeWidgetItem(
                [
                    f"NDC {package.ndc} · every lot",
                    f"{len(package.lots)} lot{'s' if len(package.lots) != 1 else ''} of ours",
                    package.drug,
                ]
            )
            every.setData(0, _ITEM, (package.package_id, ""))
            every.setCheckState(
                0, Qt.CheckState.Unchecked if report.lot_candidates else Qt.CheckState.Checked
            )
            item.addChild(every)
        return item

    @staticmethod
    def _report_note(report: ReportPreview) -> str:
        if report.already_recorded_id is not None:
            return f"already recorded (recall {report.already_recorded_id})"
        if not report.packages:
            named = ", ".join(report.unknown_ndcs) or "no NDC found"
            return f"not in our catalogue: {named}"
        where = {
            "openfda": "NDCs from openfda",
            "text": "NDCs read from the text",
            "openfda product": "every package of the openfda product",
        }[report.ndc_source]
        unknown = (
            f"; not catalogued: {', '.join(report.unknown_ndcs)}" if report.unknown_ndcs else ""
        )
        return f"{where}{unknown}; proposed level {report.proposed_level}"

    def _report_of(self, item: QTreeWidgetItem | None) -> ReportPreview | None:
        if item is None or self.preview is None:
            return None
        top = item.parent() or item
        return self.preview.reports[int(top.data(0, _ITEM))]

    def _selected(self, item: QTreeWidgetItem | None, _previous: object) -> None:
        report = self._report_of(item)
        self.level.setEnabled(report is not None and report.importable)
        if report is None:
            self.details.clear()
            return
        self.level.blockSignals(True)
        self.level.setCurrentIndex(LEVELS.index(self.levels[report.index]))
        self.level.blockSignals(False)
        self.details.setText(
            f"{report.reason}\nProduct: {report.product_description}\nCode information: "
            f"{report.code_info or '—'}"
        )

    def _level_chosen(self) -> None:
        report = self._report_of(self.tree.currentItem())
        if report is not None:
            self.levels[report.index] = str(self.level.currentData())

    def choices(self) -> list[ImportChoice]:
        """The checked recalls, each with its checked packages and lots and its level."""
        chosen = []
        for top_index in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(top_index)
            if top.checkState(0) != Qt.CheckState.Checked:
                continue
            index = int(top.data(0, _ITEM))
            items = tuple(
                top.child(number).data(0, _ITEM)
                for number in range(top.childCount())
                if top.child(number).checkState(0) == Qt.CheckState.Checked
            )
            chosen.append(ImportChoice(index, self.levels[index], items))
        return chosen

    def accept(self) -> None:
        self.message.retract()
        if self.preview is None:
            self.show_preview()
            return
        choices = self.choices()
        if not choices:
            self.message.show_problem(NOTHING_CHECKED)
            return
        self._busy(True)
        recalls, actor, preview = self._recalls, self._actor, self.preview
        self._tasks.run(
            lambda: recalls.confirm(actor, preview, choices),
            on_success=self._recorded,
            on_failure=self._failed,
        )

    def _recorded(self, recorded: list[RecallRow]) -> None:
        self._busy(False)
        self.recorded = recorded
        super().accept()


# --- a recall's work ------------------------------------------------------------------------------


class RecallWorkDialog(QDialog):
    """The stock to pull and the patients to contact for one recall (patient data: on screen
    only). Changes are saved one action at a time; closing the recall accepts the dialog."""

    def __init__(
        self,
        recalls: RecallService,
        actor: Actor,
        work: RecallWorklist,
        *,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._recalls = recalls
        self._actor = actor
        self.recall = work.recall
        self.pulls = list(work.pulls)
        self.contacts = list(work.contacts)
        self.setWindowTitle(f"Recall {_recall_name(self.recall)} — RxBench")
        self.resize(980, 640)

        summary = QLabel(
            f"Recall {_recall_name(self.recall)} · {self.recall.classification} · "
            f"{self.recall.level} level · {self.recall.firm}\n{self.recall.reason}"
        )
        summary.setWordWrap(True)
        summary.setAccessibleName("Recall")
        summary.setTextFormat(Qt.TextFormat.PlainText)

        self.pull_table = _table(
            ["NDC", "Drug", "Lot", "Expiry", "Location", "On hand", "Pulled"], "Stock to pull"
        )
        self.pull_button = _button("Mark &pulled", "Ctrl+P")
        self.return_box = QCheckBox("Return the stock on hand to the &vendor")
        self.return_box.setAccessibleName("Return the stock on hand to the vendor")
        pull_row = QHBoxLayout()
        pull_row.addWidget(self.pull_button)
        pull_row.addWidget(self.return_box)
        pull_row.addStretch(1)

        self.contact_table = _table(
            ["Patient", "Phone", "Other phone", "Rx", "Filled", "Lot", "Status", "Note"],
            "Patients to contact",
        )
        contact_form = QFormLayout()
        self.status = add_field(contact_form, "Contact &status:", QComboBox())
        for status in CONTACT_STATUSES:
            self.status.addItem(CONTACT_LABELS[status], status)
        self.note = add_field(contact_form, "N&ote:", QLineEdit())
        self.note.setPlaceholderText("what was said, the calls tried, or why no call is needed")
        self.save_contact_button = _button("Save &contact", "Ctrl+S")
        no_contacts = QLabel(
            "Patients are contacted for consumer-level recalls only: this recall pulls stock."
        )
        no_contacts.setWordWrap(True)

        self.close_recall_button = _button("Close r&ecall", "Alt+E")
        done = _button("Close window", "Esc")
        self.message = MessageLine()
        buttons = QHBoxLayout()
        buttons.addWidget(self.close_recall_button)
        buttons.addStretch(1)
        buttons.addWidget(done)

        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        pulls_label = QLabel("S&tock to pull:")
        pulls_label.setBuddy(self.pull_table)
        layout.addWidget(pulls_label)
        layout.addWidget(self.pull_table, 1)
        layout.addLayout(pull_row)
        contacts_box = QWidget()
        contacts_layout = QVBoxLayout(contacts_box)
        contacts_layout.setContentsMargins(0, 0, 0, 0)
        contacts_label = QLabel("P&atients to contact:")
        contacts_label.setBuddy(self.contact_table)
        contacts_layout.addWidget(contacts_label)
        contacts_layout.addWidget(self.contact_table, 1)
        contact_form.addRow(self.save_contact_button)
        contacts_layout.addLayout(contact_form)
        layout.addWidget(contacts_box, 2)
        layout.addWidget(no_contacts)
        consumer = self.recall.level == "consumer"
        contacts_box.setVisible(consumer)
        no_contacts.setVisible(not consumer)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        self.pull_button.clicked.connect(self.mark_pulled)
        self.contact_table.currentCellChanged.connect(self._contact_chosen)
        self.save_contact_button.clicked.connect(self.save_contact)
        self.note.returnPressed.connect(self.save_contact)
        self.close_recall_button.clicked.connect(self.close_recall)
        done.clicked.connect(self.reject)
        _shortcut(self, "Ctrl+P", self.mark_pulled)
        _shortcut(self, "Ctrl+S", self.save_contact)
        self._show_pulls()
        self._show_contacts()
        self._update_buttons()
        self.pull_table.setFocus()

    # --- showing ----------------------------------------------------------------------------

    def _show_pulls(self) -> None:
        self.pull_table.setRowCount(len(self.pulls))
        for index, pull in enumerate(self.pulls):
            _fill_row(self.pull_table, index, self._pull_values(pull))
        if self.pulls and self.pull_table.currentRow() < 0:
            self.pull_table.selectRow(0)

    @staticmethod
    def _pull_values(pull: PullRow) -> list[str]:
        pulled = (
            f"{pull.pulled_at:%m/%d/%Y %H:%M} by {pull.pulled_by or '—'}"
            if pull.pulled_at
            else "not yet"
        )
        return [
            pull.ndc,
            pull.drug,
            pull.lot_number,
            pull.expiry.isoformat(),
            pull.location,
            f"{pull.on_hand.normalize():f}",
            pulled,
        ]

    def _show_contacts(self) -> None:
        self.contact_table.setRowCount(len(self.contacts))
        for index, contact in enumerate(self.contacts):
            _fill_row(self.contact_table, index, self._contact_values(contact))
        if self.contacts and self.contact_table.currentRow() < 0:
            self.contact_table.selectRow(0)

    @staticmethod
    def _contact_values(contact: ContactRow) -> list[str]:
        return [
            contact.patient_name,
            contact.phone or "—",
            contact.phone_alternate or "—",
            f"{contact.rx_number}-{contact.fill_number}",
            f"{contact.filled_at:%m/%d/%Y}" if contact.filled_at else "—",
            contact.lot_number,
            contact.status_label,
            contact.note,
        ]

    def _contact_chosen(self, row: int, *_: int) -> None:
        if 0 <= row < len(self.contacts):
            contact = self.contacts[row]
            self.status.setCurrentIndex(CONTACT_STATUSES.index(contact.status))
            self.note.setText(contact.note)

    def _update_buttons(self) -> None:
        open_recall = self.recall.status == "open"
        self.pull_button.setEnabled(open_recall and any(p.pulled_at is None for p in self.pulls))
        self.save_contact_button.setEnabled(open_recall and bool(self.contacts))
        done = all(p.pulled_at is not None for p in self.pulls) and all(
            c.status != "to_contact" for c in self.contacts
        )
        self.close_recall_button.setEnabled(
            open_recall and done and self._actor.has_any(Role.PHARMACIST)
        )
        self.close_recall_button.setToolTip(
            "A pharmacist closes a recall once every lot is pulled and every patient's contact "
            "is resolved."
        )

    # --- actions ----------------------------------------------------------------------------

    def mark_pulled(self) -> None:
        self.message.retract()
        row = self.pull_table.currentRow()
        if not 0 <= row < len(self.pulls):
            self.message.show_problem("Choose the lot that was pulled.")
            return
        try:
            pulled = self._recalls.mark_pulled(
                self._actor,
                self.pulls[row].recall_lot_id,
                return_to_vendor=self.return_box.isChecked(),
            )
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self.pulls[row] = pulled
        _fill_row(self.pull_table, row, self._pull_values(pulled))
        self._update_buttons()

    def save_contact(self) -> None:
        self.message.retract()
        row = self.contact_table.currentRow()
        if not 0 <= row < len(self.contacts):
            self.message.show_problem("Choose the patient whose contact to record.")
            return
        contact = self.contacts[row]
        try:
            updated = self._recalls.set_contact_status(
                self._actor,
                contact.contact_id,
                str(self.status.currentData()),
                self.note.text(),
                expected_version=contact.version,
            )
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self.contacts[row] = updated
        _fill_row(self.contact_table, row, self._contact_values(updated))
        self._update_buttons()

    def close_recall(self) -> None:
        self.message.retract()
        try:
            self.recall = self._recalls.close(self._actor, self.recall.recall_id)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        super().accept()
