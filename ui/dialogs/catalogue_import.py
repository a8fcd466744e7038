"""Importing the FDA NDC Directory from the window, with progress, off the GUI thread."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services.catalogue import CatalogueService, ImportReport, SnapshotInfo
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field
from ui.errors import explain
from ui.tasks import TaskRunner

# Drug data older than this is shown as a warning: the FDA updates the directory daily.
STALE_AFTER_DAYS = 90


def describe_snapshot(snapshot: SnapshotInfo | None, *, today: date) -> tuple[str, bool]:
    """The status-bar text for the catalogue's age, and whether it is stale."""
    if snapshot is None:
        return "Drug data: none imported", True
    age = (today - snapshot.snapshot_date).days
    text = f"Drug data: FDA directory of {snapshot.snapshot_date:%m/%d/%Y} ({age} days old)"
    return text, age > STALE_AFTER_DAYS


class _Progress(QObject):
    """Carries progress from the import's worker thread to the dialog.

    Signals: advanced(int, int)  # rows done, rows in all
    """

    advanced = Signal(int, int)


class CatalogueImportDialog(QDialog):
    """Choose the directory download (zip or folder), then import it with a progress bar.

    Signals: imported(object)  # the ImportReport
    """

    imported = Signal(object)

    def __init__(
        self,
        *,
        catalogue: CatalogueService,
        actor: Actor,
        tasks: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._catalogue = catalogue
        self._actor = actor
        self._tasks = tasks
        self._progress_relay = _Progress(self)
        self._progress_relay.advanced.connect(self._show_progress)
        self.setWindowTitle("Import the FDA drug catalogue — RxBench")
        self.setMinimumWidth(560)

        explanation = QLabel(
            "Import the FDA NDC Directory download (the “NDC database file” zip with "
            "product.txt and package.txt). Products are updated, never deleted; products the "
            "FDA no longer lists are marked discontinued. A file that is not the FDA layout is "
            "refused whole."
        )
        explanation.setWordWrap(True)

        form = QFormLayout()
        self.path = QLineEdit()
        browse = QPushButton("&Browse…")
        browse.setAccessibleName("Browse for the directory file")
        # Enter in the path field must import, never open the file chooser.
        browse.setAutoDefault(False)
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        path_row.setContentsMargins(0, 0, 0, 0)
        path_label = QLabel("Directory &file:")
        path_label.setBuddy(self.path)
        self.path.setAccessibleName("Directory file")
        form.addRow(path_label, path_row)
        self.use_date = QCheckBox("&Snapshot date differs from the file's date")
        self.use_date.setAccessibleName("Snapshot date differs from the file's date")
        self.snapshot_date = QDateEdit(QDate.currentDate())
        self.snapshot_date.setCalendarPopup(True)
        self.snapshot_date.setDisplayFormat("MM/dd/yyyy")
        self.snapshot_date.setEnabled(False)
        self.use_date.toggled.connect(self.snapshot_date.setEnabled)
        form.addRow(self.use_date)
        add_field(form, "Snapshot &date:", self.snapshot_date)

        self.progress = QProgressBar()
        self.progress.setAccessibleName("Import progress")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.message = MessageLine()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Import summary")
        self.summary.hide()

        self.buttons = QDialogButtonBox()
        self.import_button = self.buttons.addButton(
            "&Import", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.import_button.setAccessibleName("Import")
        self.import_button.setDefault(True)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.setAccessibleName("Close")
        self.buttons.accepted.connect(self.start_import)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.path.setFocus()

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "FDA NDC Directory download", "", "Zip files (*.zip);;All files (*)"
        )
        if chosen:
            self.path.setText(chosen)

    def start_import(self) -> None:
        text = self.path.text().strip()
        if not text:
            self.message.show_problem("Choose the directory file to import.")
            self.path.setFocus()
            return
        path = Path(text)
        snapshot = self.snapshot_date.date().toPython() if self.use_date.isChecked() else None
        self.import_button.setEnabled(False)
        self.close_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.message.retract()
        self.summary.hide()
        relay = self._progress_relay
        catalogue, actor = self._catalogue, self._actor
        self._tasks.run(
            lambda: catalogue.import_directory(
                actor,
                path,
                snapshot_date=snapshot,
                progress=lambda done, total: relay.advanced.emit(done, total),
            ),
            on_success=self._finished,
            on_failure=self._failed,
        )

    def _show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done:,} of {total:,} rows")

    def _finished(self, report: ImportReport) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("Done")
        self.summary.show()
        self.summary.setText(
            f"Imported the directory of {report.snapshot_date:%m/%d/%Y}: "
            f"{report.products:,} products, {report.packages:,} packages "
            f"({report.products_added:,} new, {report.products_updated:,} updated, "
            f"{report.products_discontinued:,} marked discontinued)."
        )
        self.close_button.setEnabled(True)
        self.close_button.setFocus()
        self.imported.emit(report)

    def _failed(self, exc: BaseException) -> None:
        self.progress.hide()
        self.message.show_problem(explain(exc)[1])
        self.import_button.setEnabled(True)
        self.close_button.setEnabled(True)
        self.path.setFocus()
