"""Choosing the workstation's label printer, first or again when the chosen one has vanished."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ui.dialogs.fields import add_field

NO_PRINTERS_TEXT = (
    "No printer is installed on this computer. Install the label printer's driver (or ask your "
    "administrator to), then print again."
)


def choice_question(missing: str | None) -> str:
    if missing:
        return (
            f"The label printer “{missing}” is no longer installed on this computer, so nothing "
            "was sent to it. Choose the label printer; RxBench never prints labels on the "
            "default printer by itself."
        )
    return "Choose the printer this workstation prints prescription labels on."


class LabelPrinterDialog(QDialog):
    """One printer out of those installed; there is no default to fall back on."""

    def __init__(
        self, printers: Sequence[str], *, missing: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Label printer — RxBench")
        self.setAccessibleName("Choose the label printer")
        self.setMinimumWidth(460)
        self.question = QLabel(choice_question(missing) if printers else NO_PRINTERS_TEXT)
        self.question.setWordWrap(True)
        self.question.setAccessibleName("Question")
        form = QFormLayout()
        self.printers = add_field(form, "&Printer:", QComboBox())
        self.printers.addItems(list(printers))
        buttons = QDialogButtonBox()
        self.use_button = buttons.addButton(
            "&Use this printer", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.use_button.setAccessibleName("Use this printer")
        self.use_button.setDefault(True)
        self.use_button.setEnabled(bool(printers))
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.question)
        layout.addLayout(form)
        form.setRowVisible(self.printers, bool(printers))
        layout.addWidget(buttons)
        (self.printers if printers else cancel).setFocus()

    @property
    def printer(self) -> str:
        return self.printers.currentText()


def ask_label_printer(
    parent: QWidget | None, printers: Sequence[str], *, missing: str | None
) -> str | None:
    """The printer chosen, or None when the person cancelled (or none is installed)."""
    dialog = LabelPrinterDialog(printers, missing=missing, parent=parent)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    chosen = dialog.printer
    dialog.deleteLater()
    return chosen if accepted and chosen else None
