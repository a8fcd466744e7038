"""The PMP reports window: each day's prescription-monitoring file, the days still without one
(highlighted), and the three things done with them: make the pending files, save one for upload,
record it sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import RxBenchError
from app.services.pmp import SEND_ROLES, PmpReportRow, PmpService
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine

COLUMNS = ("Day", "State", "Records", "Status", "Sent", "File")
PENDING_TEXT = "No file yet"
_PENDING_BRUSH = QBrush(QColor("#fff3cd"))  # the amber the app uses for "needs doing"
_STATUS = {"generated": "Made, not sent", "sent": "Sent", "replaced": "Replaced"}

FolderChooser = Callable[[QWidget], Path | None]
DestinationAsker = Callable[[QWidget, PmpReportRow], str | None]


def _choose_folder(parent: QWidget) -> Path | None:
    chosen = QFileDialog.getExistingDirectory(parent, "Save the PMP file into — RxBench")
    return Path(chosen) if chosen else None


def _ask_destination(parent: QWidget, row: PmpReportRow) -> str | None:
    text, accepted = QInputDialog.getText(
        parent,
        "Mark sent — RxBench",
        f"Where was {row.file_name} sent (the PMP's upload site or SFTP server)?",
    )
    return text if accepted else None


class PmpReportsDialog(QDialog):
    def __init__(
        self,
        pmp: PmpService,
        actor: Actor,
        *,
        choose_folder: FolderChooser = _choose_folder,
        ask_destination: DestinationAsker = _ask_destination,
        select_id: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """`select_id` is the file selected at first (the one a work-list item is about)."""
        super().__init__(parent)
        self._pmp = pmp
        self._actor = actor
        self._choose_folder = choose_folder
        self._ask_destination = ask_destination
        self._rows: list[PmpReportRow | date] = []
        self.setWindowTitle("PMP reports — RxBench")
        self.setMinimumSize(760, 420)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Pending days")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("PMP files")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(
            len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch
        )
        self.message = MessageLine()
        self.status = QLabel()  # what was just done; a refusal goes in the message line
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Status")

        self.generate_button = self._button("&Generate pending", "Ctrl+G", self.generate_pending)
        self.save_button = self._button("&Save file…", "Ctrl+S", self.save_file)
        self.sent_button = self._button("&Mark sent…", "Ctrl+M", self.mark_sent)
        close = QPushButton("Close")
        close.setAccessibleName("Close")
        close.setAutoDefault(False)
        close.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        for button in (self.generate_button, self.save_button, self.sent_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.reload(select_id)
        self.table.setFocus()

    def _button(self, text: str, shortcut: str, slot: Callable[[], object]) -> QPushButton:
        plain = text.replace("&", "")
        button = QPushButton(f"{text} ({shortcut})")
        button.setAccessibleName(plain.rstrip("…"))
        button.setToolTip(f"{plain} ({shortcut})")
        button.setAutoDefault(False)
        button.clicked.connect(slot)
        QShortcut(QKeySequence(shortcut), self).activated.connect(slot)
        return button

    # --- showing ------------------------------------------------------------------------------

    def reload(self, select_id: int | None = None) -> None:
        """Read the files and the pending days again; `select_id` is the file to select."""
        try:
            reports = self._pmp.reports(self._actor)
            pending = self._pmp.pending_days(self._actor)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self._rows = [*reversed(pending), *reports]
        self.table.setRowCount(len(self._rows))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for index, row in enumerate(self._rows):
            cells = self._cells(row)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if isinstance(row, date):
                    item.setBackground(_PENDING_BRUSH)
                    item.setFont(bold)
                self.table.setItem(index, column, item)
        self.table.resizeColumnsToContents()
        if pending:
            days = ", ".join(day.isoformat() for day in pending)
            self.summary.setText(
                f"{len(pending)} day(s) without a file yet, highlighted: {days}. Generate pending "
                "makes them, in date order."
            )
        else:
            self.summary.setText("Every day that is over has its file.")
        chosen = next(
            (
                index
                for index, row in enumerate(self._rows)
                if isinstance(row, PmpReportRow) and row.report_id == select_id
            ),
            0 if self._rows else -1,
        )
        self.table.selectRow(chosen)
        self._update_buttons()

    @staticmethod
    def _cells(row: PmpReportRow | date) -> tuple[str, ...]:
        if isinstance(row, date):
            return (row.isoformat(), "", "", PENDING_TEXT, "", "")
        records = "zero report" if row.zero_report else str(row.record_count)
        sent = (
            f"{row.sent_at:%Y-%m-%d %H:%M} UTC to {row.destination} by {row.sent_by or 'unknown'}"
            if row.sent_at is not None
            else ""
        )
        return (
            row.report_date.isoformat(),
            row.state,
            records,
            _STATUS.get(row.status, row.status),
            sent,
            row.file_name,
        )

    def selected(self) -> PmpReportRow | date | None:
        index = self.table.currentRow()
        return self._rows[index] if 0 <= index < len(self._rows) else None

    def _update_buttons(self) -> None:
        row = self.selected()
        is_file = isinstance(row, PmpReportRow)
        self.save_button.setEnabled(is_file)
        self.sent_button.setEnabled(
            isinstance(row, PmpReportRow)
            and row.status == "generated"
            and self._actor.has_any(*SEND_ROLES)
        )
        self.generate_button.setEnabled(any(isinstance(each, date) for each in self._rows))

    # --- acting -------------------------------------------------------------------------------

    def _clear_messages(self) -> None:
        self.message.retract()
        self.status.clear()

    def generate_pending(self) -> None:
        self._clear_messages()
        try:
            made = self._pmp.generate_pending(self._actor)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        zero = sum(1 for row in made if row.zero_report)
        self.reload(made[-1].report_id if made else None)
        self.status.setText(
            f"Made {len(made)} file(s), {zero} of them zero reports. Save each for upload, then "
            "mark it sent."
            if made
            else "Every day that is over already has its file."
        )

    def save_file(self) -> Path | None:
        row = self.selected()
        if not isinstance(row, PmpReportRow):
            return None
        self._clear_messages()
        folder = self._choose_folder(self)
        if folder is None:
            return None
        try:
            path = self._pmp.save_file(self._actor, row.report_id, folder)
        except RxBenchError as error:
            self.message.show_error(error)
            return None
        self.status.setText(f"Saved {path}. It holds patient data: upload it, then delete it.")
        return path

    def mark_sent(self) -> None:
        row = self.selected()
        if not isinstance(row, PmpReportRow) or not self.sent_button.isEnabled():
            return
        self._clear_messages()
        destination = self._ask_destination(self, row)
        if destination is None:
            return
        try:
            sent = self._pmp.mark_sent(self._actor, row.report_id, destination=destination)
        except RxBenchError as error:
            self.message.show_error(error)
            return
        self.reload(sent.report_id)
        self.status.setText(f"{sent.file_name} is recorded as sent to {sent.destination}.")
