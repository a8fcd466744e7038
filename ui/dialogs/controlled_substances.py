"""The controlled-substance record: a package's perpetual log, a witnessed count-back, the
discrepancies with their investigation and a pharmacist's sign-off, and the DEA inventories
(taken from the ledger's draft, exported as PDF or CSV)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.roles import Role
from app.errors import PrintJobFailed, RxBenchError, ValidationFailed
from app.services.controlled import (
    INVENTORY_KINDS,
    INVENTORY_TIMINGS,
    ControlledPackageRow,
    ControlledSubstanceService,
    DiscrepancyRow,
    DraftLine,
    InventoryLineInput,
    InventorySummary,
    inventory_csv,
)
from app.services.inventory import shown
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.reports.controlled_inventory import render_inventory_pdf
from ui.scanner import ScanLineEdit, ScanRouter

# Asks a second person to sign for `purpose`; None when nobody did.
Signer = Callable[[str], Actor | None]
# Asks where to save a file: (caption, suggested file name, filter) → the path, or None.
PathChooser = Callable[[str, str, str], str | None]

LOG_TAB, COUNT_TAB, DISCREPANCY_TAB, INVENTORY_TAB = range(4)
NO_WITNESS_TEXT = "Nobody signed as witness: nothing was recorded."
NO_COSIGN_TEXT = "No pharmacist co-signed: the discrepancy was not signed off."
CHOOSE_DISCREPANCY_TEXT = "Choose a discrepancy in the table first (↑ ↓)."
CHOOSE_INVENTORY_TEXT = "Choose an inventory in the list first (↑ ↓)."
NO_PACKAGES_TEXT = "No controlled-substance package has stock or log lines yet."


def _choose_save_path(parent: QWidget) -> PathChooser:
    def choose(caption: str, suggested: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(parent, caption, suggested, file_filter)
        return path or None

    return choose


def _schedule(schedule: str) -> str:
    return f"C-{schedule[1:]}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _table(name: str, headers: Sequence[str]) -> QTableWidget:
    """A read-only, row-selecting table named for screen readers."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setAccessibleName(name)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    table.setTabKeyNavigation(False)
    return table


def _cell(text: str, *, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _fill(table: QTableWidget, rows: Sequence[Sequence[tuple[str, bool]]]) -> None:
    table.setRowCount(len(rows))
    for row_index, row in enumerate(rows):
        for column, (text, right) in enumerate(row):
            table.setItem(row_index, column, _cell(text, right=right))
    table.resizeColumnsToContents()
    if rows:
        table.selectRow(0)


def _item(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None  # every cell of a loaded row has its item
    return item


def _day(text: str, what: str) -> date | None:
    clean = text.strip()
    if not clean:
        return None
    try:
        return date.fromisoformat(clean)
    except ValueError:
        raise ValidationFailed(f"“{clean}” is not a date: type the {what} as YYYY-MM-DD.") from None


class ControlledSubstancesDialog(QDialog):
    """The four tabs of the controlled-substance record; every action is the signed-in
    person's, with a witness or a pharmacist's co-signature asked when the action needs one."""

    def __init__(
        self,
        controlled: ControlledSubstanceService,
        actor: Actor,
        *,
        witness: Signer,
        cosign: Signer,
        choose_path: PathChooser | None = None,
        scan_router: ScanRouter | None = None,
        today: Callable[[], date] = date.today,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._controlled = controlled
        self._scan_router = scan_router
        self._actor = actor
        self._witness = witness
        self._cosign = cosign
        self._choose_path = choose_path or _choose_save_path(self)
        self._today = today
        self._packages: list[ControlledPackageRow] = []
        self._discrepancies: list[DiscrepancyRow] = []
        self._draft: list[DraftLine] = []
        self._inventories: list[InventorySummary] = []
        self.setWindowTitle("Controlled substances — RxBench")
        self.resize(980, 640)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Controlled-substance record")
        self.tabs.addTab(self._log_tab(), "&Log")
        self.tabs.addTab(self._count_tab(), "C&ount-back")
        self.tabs.addTab(self._discrepancy_tab(), "&Discrepancies")
        self.tabs.addTab(self._inventory_tab(), "&Inventories")
        self.tabs.currentChanged.connect(self._tab_shown)

        self.message = MessageLine()
        self.result_line = QLabel()
        self.result_line.setWordWrap(True)
        self.result_line.setAccessibleName("Result")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName("Close")
        # Enter belongs to the field it is pressed in (count, note, dates), never to Close;
        # Escape closes.
        close.setAutoDefault(False)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.result_line)
        layout.addWidget(buttons)
        for index in range(4):  # Ctrl+1 … Ctrl+4 choose a tab, as they choose docks outside
            shortcut = QShortcut(QKeySequence(f"Ctrl+{index + 1}"), self)
            shortcut.activated.connect(lambda index=index: self.tabs.setCurrentIndex(index))
        self._load_packages()
        self.package.setFocus()

    # --- shared -------------------------------------------------------------------------------

    def _run(self, action: Callable[[], str | None]) -> bool:
        """Run one action; a refusal is said in the message line, a success in the result."""
        self.message.retract()
        try:
            said = action()
        except RxBenchError as error:
            self.message.show_error(error)
            return False
        if said is not None:
            self.result_line.setText(said)
        return True

    def _problem(self, text: str) -> None:
        self.message.show_problem(text)

    def _tab_shown(self, index: int) -> None:
        self.message.retract()
        self.result_line.clear()
        if index == DISCREPANCY_TAB:
            self._run(self._load_discrepancies)
        elif index == INVENTORY_TAB:
            self._run(self._load_inventories)

    def _load_packages(self) -> None:
        def load() -> None:
            self._packages = self._controlled.packages(self._actor)
            for combo in (self.package, self.count_package):
                chosen = combo.currentData()
                combo.blockSignals(True)
                combo.clear()
                for row in self._packages:
                    differs = "  ⚠ log and ledger differ" if row.differs else ""
                    combo.addItem(
                        f"{_schedule(row.schedule)}  {row.drug} — NDC {row.ndc}{differs}",
                        row.package_id,
                    )
                found = combo.findData(chosen)
                combo.setCurrentIndex(max(found, 0))
                combo.blockSignals(False)
            if not self._packages:
                self._problem(NO_PACKAGES_TEXT)

        if self._run(load) and self._packages:
            self._run(self._show_log)

    def _package_row(self, package_id: int) -> ControlledPackageRow | None:
        return next((row for row in self._packages if row.package_id == package_id), None)

    # --- the log ------------------------------------------------------------------------------

    def _log_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout()
        self.package = add_field(form, "&Package:", QComboBox())
        dates = QHBoxLayout()
        self.since = QLineEdit()
        self.since.setPlaceholderText("YYYY-MM-DD (blank: from the first line)")
        self.until = QLineEdit()
        self.until.setPlaceholderText("YYYY-MM-DD (blank: to today)")
        form_dates = QFormLayout()
        add_field(form_dates, "&From:", self.since)
        until_form = QFormLayout()
        add_field(until_form, "&To:", self.until)
        dates.addLayout(form_dates)
        dates.addLayout(until_form)
        self.show_log_button = QPushButton("S&how log (Enter)")
        self.show_log_button.setAccessibleName("Show log")
        self.show_log_button.setAutoDefault(False)
        dates.addWidget(self.show_log_button)
        form.addRow(dates)
        self.balance = QLabel()
        self.balance.setAccessibleName("Balance")
        self.balance.setWordWrap(True)
        self.log_table = _table(
            "Controlled-substance log",
            (
                "When (UTC)",
                "Kind",
                "Quantity",
                "Balance after",
                "By",
                "Witness",
                "Rx",
                "Lot",
                "Note",
            ),
        )
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(self.balance)
        layout.addWidget(self.log_table, 1)
        self.package.currentIndexChanged.connect(lambda _index: self._run(self._show_log))
        self.show_log_button.clicked.connect(lambda: self._run(self._show_log))
        for edit in (self.since, self.until):
            edit.returnPressed.connect(lambda: self._run(self._show_log))
        return page

    def _show_log(self) -> None:
        package_id = self.package.currentData()
        if package_id is None:
            return
        since = _day(self.since.text(), "first day")
        until = _day(self.until.text(), "last day")
        lines = self._controlled.log(self._actor, package_id, since=since, until=until)
        _fill(
            self.log_table,
            [
                (
                    (_when(line.occurred_at), False),
                    (line.kind.replace("_", " "), False),
                    (
                        f"+{shown(line.quantity)}" if line.quantity > 0 else shown(line.quantity),
                        True,
                    ),
                    (shown(line.balance_after), True),
                    (line.username or "", False),
                    (line.witness or "", False),
                    (line.rx_number or "", False),
                    (line.lot_number or "", False),
                    (line.note, False),
                )
                for line in lines
            ],
        )
        row = self._package_row(package_id)
        if row is None:
            return
        text = (
            f"Log balance {shown(row.perpetual_balance)}; on hand in the ledger "
            f"{shown(row.on_hand)}. {len(lines)} line{'' if len(lines) == 1 else 's'} shown."
        )
        if row.differs:
            text += " ⚠ The log and the ledger differ: count the package back and investigate."
        self.balance.setText(text)

    # --- count-back ---------------------------------------------------------------------------

    def _count_tab(self) -> QWidget:
        page = QWidget()
        hint = QLabel(
            "Count the package before a witness without looking at the log; the count is then "
            "compared with the log's balance. A mismatch opens a discrepancy for the "
            "pharmacist. Stock is not changed: a correction goes through a count or an "
            "adjustment."
        )
        hint.setWordWrap(True)
        form = QFormLayout()
        self.count_scan = add_field(form, "Sc&an the package:", ScanLineEdit())
        self.count_scan.entry.connect(self._package_scanned)
        self.count_package = add_field(form, "Pac&kage to count:", QComboBox())
        self.counted = add_field(form, "&Counted units:", QLineEdit())
        self.count_note = add_field(form, "Not&e:", QLineEdit())
        self.count_button = QPushButton("&Record count-back (witnessed)…")
        self.count_button.setAccessibleName("Record count-back")
        self.count_button.setAutoDefault(False)
        self.count_button.clicked.connect(self.record_count_back)
        self.counted.returnPressed.connect(self.record_count_back)
        layout = QVBoxLayout(page)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.count_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    def _package_scanned(self, text: str, _manual: bool) -> None:
        """A scanned (or typed) package is the one to count: chosen, then its count typed."""

        def choose() -> str:
            package_id = self._controlled.package_for_scan(self._actor, text)
            index = self.count_package.findData(package_id)
            if index < 0:
                raise ValidationFailed(
                    "The scanned package has no stock or log lines: there is nothing to count."
                )
            self.count_package.setCurrentIndex(index)
            self.counted.setFocus()
            return f"Count {self.count_package.currentText()}."

        self._run(choose)

    def showEvent(self, event: QShowEvent) -> None:
        """While the dialog is open, the wedge scanner's scans land in the count-back's scan
        field (when the Count-back tab is shown)."""
        super().showEvent(event)
        if self._scan_router is not None:
            self._scan_router.push_receiver(self.count_scan)

    def done(self, result: int) -> None:
        if self._scan_router is not None:
            self._scan_router.remove_receiver(self.count_scan)
        super().done(result)

    def record_count_back(self) -> None:
        """Ask the witness, then record the count; a mismatch names the discrepancy opened."""
        self.message.retract()
        package_id = self.count_package.currentData()
        if package_id is None:
            self._problem(NO_PACKAGES_TEXT)
            return
        if not self.counted.text().strip():
            self._problem("Type how many units you counted.")
            self.counted.setFocus()
            return
        row = self._package_row(package_id)
        what = f"{row.drug} (NDC {row.ndc})" if row else f"package {package_id}"
        witness = self._witness(f"witness the count-back of {what}")
        if witness is None:
            self._problem(NO_WITNESS_TEXT)
            return

        def record() -> str:
            result = self._controlled.witnessed_count(
                self._actor,
                package_id,
                counted=self.counted.text(),
                witness=witness,
                note=self.count_note.text(),
            )
            if result.matches:
                return f"Counted {shown(result.counted)} before {result.witness}: matches the log."
            return (
                f"Counted {shown(result.counted)} before {result.witness}, the log says "
                f"{shown(result.expected)}: discrepancy {result.discrepancy_id} is opened for the "
                "pharmacist (Discrepancies tab)."
            )

        if self._run(record):
            self.counted.clear()
            self.count_note.clear()
            self.counted.setFocus()

    # --- discrepancies ------------------------------------------------------------------------

    def _discrepancy_tab(self) -> QWidget:
        page = QWidget()
        top = QFormLayout()
        self.status = add_field(top, "Stat&us:", QComboBox())
        for text, value in (("Open", "open"), ("Signed off", "signed_off"), ("All", None)):
            self.status.addItem(text, value)
        self.status.currentIndexChanged.connect(lambda _index: self._run(self._load_discrepancies))
        self.discrepancy_table = _table(
            "Discrepancies",
            ("No.", "Found (UTC)", "Sch.", "Drug", "NDC", "Log", "Counted", "Difference", "Status"),
        )
        self.discrepancy_table.itemSelectionChanged.connect(self._show_investigation)
        self.investigation = QPlainTextEdit()
        self.investigation.setReadOnly(True)
        self.investigation.setAccessibleName("Investigation")
        self.investigation.setTabChangesFocus(True)
        form = QFormLayout()
        note_row = QHBoxLayout()
        self.note = QLineEdit()
        add_note = QFormLayout()
        add_field(add_note, "&New note:", self.note)
        note_row.addLayout(add_note, 1)
        self.note_button = QPushButton("&Add note")
        self.note_button.setAccessibleName("Add note")
        self.note_button.setAutoDefault(False)
        note_row.addWidget(self.note_button)
        form.addRow(note_row)
        sign_row = QHBoxLayout()
        self.resolution = QLineEdit()
        resolution_form = QFormLayout()
        add_field(resolution_form, "Re&solution:", self.resolution)
        sign_row.addLayout(resolution_form, 1)
        self.sign_button = QPushButton("Si&gn off…")
        self.sign_button.setAccessibleName("Sign off")
        self.sign_button.setToolTip(
            "A pharmacist signs off; a technician's session asks the pharmacist to co-sign."
        )
        self.sign_button.setAutoDefault(False)
        sign_row.addWidget(self.sign_button)
        form.addRow(sign_row)
        self.note_button.clicked.connect(self.add_note)
        self.note.returnPressed.connect(self.add_note)
        self.sign_button.clicked.connect(self.sign_off)
        layout = QVBoxLayout(page)
        layout.addLayout(top)
        layout.addWidget(self.discrepancy_table, 2)
        layout.addWidget(self.investigation, 1)
        layout.addLayout(form)
        return page

    def _load_discrepancies(self) -> None:
        self._discrepancies = self._controlled.discrepancies(self._actor, self.status.currentData())
        _fill(
            self.discrepancy_table,
            [
                (
                    (str(row.discrepancy_id), True),
                    (_when(row.found_at), False),
                    (_schedule(row.schedule), False),
                    (row.drug, False),
                    (row.ndc, False),
                    (shown(row.expected), True),
                    (shown(row.counted), True),
                    (shown(row.difference), True),
                    ("open" if row.status == "open" else "signed off", False),
                )
                for row in self._discrepancies
            ],
        )
        self._show_investigation()

    def _chosen_discrepancy(self) -> DiscrepancyRow | None:
        row = self.discrepancy_table.currentRow()
        selected = self.discrepancy_table.selectionModel().hasSelection()
        return (
            self._discrepancies[row] if selected and 0 <= row < len(self._discrepancies) else None
        )

    def _show_investigation(self) -> None:
        row = self._chosen_discrepancy()
        if row is None:
            self.investigation.clear()
            return
        lines = [
            f"Found by {row.found_by or 'unknown'}: counted {shown(row.counted)}, the log said "
            f"{shown(row.expected)}.",
            *(row.notes or ("No investigation note yet.",)),
        ]
        if row.status == "signed_off":
            when = _when(row.signed_off_at) if row.signed_off_at else ""
            lines.append(f"Signed off by {row.signed_off_by} {when} UTC: {row.resolution}")
        self.investigation.setPlainText("\n".join(lines))

    def _reselect(self, discrepancy_id: int) -> None:
        self._load_discrepancies()
        for index, row in enumerate(self._discrepancies):
            if row.discrepancy_id == discrepancy_id:
                self.discrepancy_table.selectRow(index)

    def show_discrepancy(self, discrepancy_id: int) -> None:
        """Bring one discrepancy up (from its work-list item), whatever its status now."""
        self.tabs.setCurrentIndex(DISCREPANCY_TAB)
        if not any(row.discrepancy_id == discrepancy_id for row in self._discrepancies):
            self.status.setCurrentIndex(self.status.findData(None))
        self._reselect(discrepancy_id)
        self.note.setFocus()

    def add_note(self) -> None:
        chosen = self._chosen_discrepancy()
        if chosen is None:
            self._problem(CHOOSE_DISCREPANCY_TEXT)
            return

        def note() -> str:
            self._controlled.add_investigation_note(
                self._actor, chosen.discrepancy_id, self.note.text()
            )
            self._reselect(chosen.discrepancy_id)
            return f"Note added to discrepancy {chosen.discrepancy_id}."

        if self._run(note):
            self.note.clear()

    def sign_off(self) -> None:
        """A pharmacist signs off; on a technician's session the pharmacist co-signs."""
        chosen = self._chosen_discrepancy()
        self.message.retract()
        if chosen is None:
            self._problem(CHOOSE_DISCREPANCY_TEXT)
            return
        if not self.resolution.text().strip():
            self._problem("Write the resolution: what was found and what was done.")
            self.resolution.setFocus()
            return
        pharmacist = self._actor
        if not self._actor.has_any(Role.PHARMACIST):
            cosigned = self._cosign(
                f"sign off controlled-substance discrepancy {chosen.discrepancy_id}"
            )
            if cosigned is None:
                self._problem(NO_COSIGN_TEXT)
                return
            pharmacist = cosigned

        def sign() -> str:
            self._controlled.sign_off(pharmacist, chosen.discrepancy_id, self.resolution.text())
            self._load_discrepancies()
            return f"Discrepancy {chosen.discrepancy_id} signed off by {pharmacist.username}."

        if self._run(sign):
            self.resolution.clear()

    # --- inventories --------------------------------------------------------------------------

    _DRAFT_HEADERS = (
        "Sch.",
        "NDC",
        "Drug",
        "Units/pkg",
        "Ledger",
        "Sealed",
        "Opened",
        "Exact count",
        "Total",
    )
    SEALED, OPENED, EXACT, TOTAL = 5, 6, 7, 8

    def _inventory_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout()
        self.kind = add_field(form, "&Kind:", QComboBox())
        for value, label in INVENTORY_KINDS.items():
            self.kind.addItem(label, value)
        self.timing = add_field(form, "&Timing:", QComboBox())
        for value, label in INVENTORY_TIMINGS.items():
            self.timing.addItem(f"At the {label}", value)
        self.timing.setCurrentIndex(self.timing.findData("close"))
        self.taken_on = add_field(form, "Taken o&n:", QLineEdit(self._today().isoformat()))
        self.inventory_note = add_field(form, "Co&mment:", QLineEdit())
        self.witnessed = QCheckBox("&Witnessed by a second person")
        self.witnessed.setAccessibleName("Witnessed by a second person")
        self.witnessed.setChecked(True)
        form.addRow(self.witnessed)
        self.draft_table = QTableWidget(0, len(self._DRAFT_HEADERS))
        self.draft_table.setHorizontalHeaderLabels(list(self._DRAFT_HEADERS))
        self.draft_table.setAccessibleName("Inventory lines")
        self.draft_table.setAccessibleDescription(
            "Type the sealed containers and the units in opened ones; Space ticks an exact count."
        )
        self.draft_table.verticalHeader().setVisible(False)
        self.draft_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.draft_table.setEditTriggers(
            QAbstractItemView.EditTrigger.AnyKeyPressed
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.DoubleClicked
        )
        self.draft_table.setTabKeyNavigation(False)
        self.draft_table.itemChanged.connect(self._draft_edited)
        draft_buttons = QHBoxLayout()
        self.draft_button = QPushButton("Load d&raft from the ledger")
        self.draft_button.setAccessibleName("Load draft")
        self.save_button = QPushButton("&Save inventory… (Ctrl+S)")
        self.save_button.setAccessibleName("Save inventory")
        for button in (self.draft_button, self.save_button):
            button.setAutoDefault(False)
            draft_buttons.addWidget(button)
        draft_buttons.addStretch(1)
        self.draft_button.clicked.connect(lambda: self._run(self._load_draft))
        self.save_button.clicked.connect(self.save_inventory)
        save = QShortcut(QKeySequence("Ctrl+S"), page)
        save.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        save.activated.connect(self.save_inventory)

        self.inventory_table = _table(
            "Inventories taken", ("No.", "Taken on", "Kind", "Timing", "Lines", "Taken by")
        )
        export_buttons = QHBoxLayout()
        self.pdf_button = QPushButton("Export &PDF…")
        self.pdf_button.setAccessibleName("Export PDF")
        self.csv_button = QPushButton("Export &CSV…")
        self.csv_button.setAccessibleName("Export CSV")
        for button in (self.pdf_button, self.csv_button):
            button.setAutoDefault(False)
            export_buttons.addWidget(button)
        export_buttons.addStretch(1)
        self.pdf_button.clicked.connect(lambda: self.export_inventory("pdf"))
        self.csv_button.clicked.connect(lambda: self.export_inventory("csv"))

        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addLayout(draft_buttons)
        layout.addWidget(self.draft_table, 2)
        layout.addWidget(QLabel("Inventories taken:"))
        layout.addWidget(self.inventory_table, 1)
        layout.addLayout(export_buttons)
        return page

    def _load_inventories(self) -> None:
        self._inventories = self._controlled.inventories(self._actor)
        _fill(
            self.inventory_table,
            [
                (
                    (str(row.inventory_id), True),
                    (row.taken_on.isoformat(), False),
                    (INVENTORY_KINDS[row.kind], False),
                    (INVENTORY_TIMINGS[row.timing], False),
                    (str(row.lines), True),
                    (row.taken_by, False),
                )
                for row in self._inventories
            ],
        )

    def _load_draft(self) -> str:
        self._draft = self._controlled.draft(self._actor)
        table = self.draft_table
        table.blockSignals(True)
        table.setRowCount(len(self._draft))
        for index, line in enumerate(self._draft):
            units = "" if line.package_units is None else shown(line.package_units)
            for column, (text, right) in enumerate(
                (
                    (_schedule(line.schedule), False),
                    (line.ndc, False),
                    (line.drug, False),
                    (units, True),
                    (shown(line.ledger_balance), True),
                )
            ):
                table.setItem(index, column, _cell(text, right=right))
            for column, value in (
                (self.SEALED, str(line.sealed_containers)),
                (self.OPENED, shown(line.opened_quantity)),
            ):
                item = QTableWidgetItem(value)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(index, column, item)
            exact = QTableWidgetItem("required" if line.exact_required else "")
            flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
            if not line.exact_required:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
            exact.setFlags(flags)
            exact.setCheckState(
                Qt.CheckState.Checked if line.exact_required else Qt.CheckState.Unchecked
            )
            table.setItem(index, self.EXACT, exact)
            table.setItem(index, self.TOTAL, _cell("", right=True))
            self._total(index)
        table.blockSignals(False)
        table.resizeColumnsToContents()
        if self._draft:
            table.setCurrentCell(0, self.SEALED)
            table.setFocus()
            return (
                f"{len(self._draft)} package{'' if len(self._draft) == 1 else 's'} from the "
                "ledger: count each, correct the sealed and opened figures, then save."
            )
        return "No controlled substance is on hand: there is nothing to draft."

    def _total(self, row: int) -> None:
        """The line's total as typed, or blank while the figures are not numbers."""
        line = self._draft[row]
        total = _item(self.draft_table, row, self.TOTAL)
        try:
            sealed = int(_item(self.draft_table, row, self.SEALED).text().strip())
            opened = Decimal(_item(self.draft_table, row, self.OPENED).text().strip())
        except (ValueError, InvalidOperation):
            total.setText("")
            return
        total.setText(shown(sealed * (line.package_units or Decimal(0)) + opened))

    def _draft_edited(self, item: QTableWidgetItem) -> None:
        if item.column() in (self.SEALED, self.OPENED):
            self.draft_table.blockSignals(True)
            self._total(item.row())
            self.draft_table.blockSignals(False)

    def _inventory_lines(self) -> list[InventoryLineInput]:
        lines = []
        for row, line in enumerate(self._draft):
            sealed_text = _item(self.draft_table, row, self.SEALED).text().strip()
            if not sealed_text.isdigit():
                raise ValidationFailed(
                    f"NDC {line.ndc}: sealed containers is a whole number, 0 or more, not "
                    f"“{sealed_text}”."
                )
            checked = _item(self.draft_table, row, self.EXACT).checkState() == Qt.CheckState.Checked
            lines.append(
                InventoryLineInput(
                    package_id=line.package_id,
                    sealed_containers=int(sealed_text),
                    opened_quantity=_item(self.draft_table, row, self.OPENED).text(),
                    exact=checked or line.exact_required,
                )
            )
        return lines

    def save_inventory(self) -> None:
        """Take the inventory as typed: checked first, then the witness is asked, then saved."""
        self.message.retract()
        if not self._draft:
            self._problem("Load the draft from the ledger first (Alt+R), then count.")
            return
        try:
            lines = self._inventory_lines()
            taken_on = _day(self.taken_on.text(), "day the inventory was taken")
        except ValidationFailed as error:
            self.message.show_error(error)
            return
        if taken_on is None:
            self._problem("Type the day the inventory was taken (YYYY-MM-DD).")
            self.taken_on.setFocus()
            return
        witness = None
        if self.witnessed.isChecked():
            witness = self._witness("witness the controlled-substance inventory")
            if witness is None:
                self._problem(NO_WITNESS_TEXT)
                return

        def take() -> str:
            report = self._controlled.take_inventory(
                self._actor,
                kind=self.kind.currentData(),
                timing=self.timing.currentData(),
                taken_on=taken_on,
                lines=lines,
                witness=witness,
                note=self.inventory_note.text(),
            )
            self._draft = []
            self.draft_table.setRowCount(0)
            self.inventory_note.clear()
            self._load_inventories()
            differs = report.differences
            return (
                f"{report.title} {report.inventory_id} saved, "
                f"{report.timing_text[0].lower()}{report.timing_text[1:]}; "
                f"{differs} line{'' if differs == 1 else 's'} differ from the ledger."
            )

        self._run(take)

    def export_inventory(self, file_format: str) -> None:
        """Save the chosen inventory as a PDF or CSV file; the export is audited."""
        self.message.retract()
        row = self.inventory_table.currentRow()
        if not self.inventory_table.selectionModel().hasSelection() or not (
            0 <= row < len(self._inventories)
        ):
            self._problem(CHOOSE_INVENTORY_TEXT)
            return
        chosen = self._inventories[row]
        suggested = f"controlled-inventory-{chosen.inventory_id}-{chosen.taken_on}.{file_format}"
        path = self._choose_path(
            f"Export inventory {chosen.inventory_id} as {file_format.upper()}",
            suggested,
            "PDF files (*.pdf)" if file_format == "pdf" else "CSV files (*.csv)",
        )
        if path is None:
            return

        def export() -> str:
            report = self._controlled.report(self._actor, chosen.inventory_id)
            if file_format == "pdf":
                render_inventory_pdf(report, path)
            else:
                try:
                    Path(path).write_text(inventory_csv(report), encoding="utf-8", newline="")
                except OSError as exc:
                    raise PrintJobFailed(
                        f"Could not write the inventory CSV {path}: {exc.strerror}. Choose a "
                        "folder you may write to.",
                        path=path,
                    ) from exc
            self._controlled.record_export(
                self._actor, chosen.inventory_id, file_format=file_format, destination=path
            )
            return f"Inventory {chosen.inventory_id} saved as {path}."

        self._run(export)
