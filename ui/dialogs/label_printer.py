"""Choosing the workstation's label or receipt printer, first or again when the chosen one has
vanished."""

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


RECEIPT_NO_PRINTERS_TEXT = (
    "No printer is installed on this computer. Install the receipt printer's driver (or ask your "
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


def receipt_choice_question(missing: str | None) -> str:
    if missing:
        return (
            f"The receipt printer “{missing}” is no longer installed on this computer, so "
            "nothing was sent to it. Choose the receipt printer; RxBench never prints receipts "
            "on the default printer by itself."
        )
    return "Choose the printer this workstation prints register receipts on."


class LabelPrinterDialog(QDialog):
    """One printer out of those installed; there is no default to fall back on. `receipts`:
    the receipt printer is chosen rather than the label printer."""

    def __init__(
        self,
        printers: Sequence[str],
        *,
        missing: str | None,
        receipts: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        what = "receipt printer" if receipts else "label printer"
        self.setWindowTitle(f"{what.capitalize()} — RxBench")
        self.setAccessibleName(f"Choose the {what}")
        self.setMinimumWidth(460)
        if receipts:
            question = receipt_choice_question(missing) if printers else RECEIPT_NO_PRINTERS_TEXT
        else:
            question = choice_question(missing) if printers else NO_PRINTERS_TEXT
        self.question = QLabel(question)
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
    return _ask(LabelPrinterDialog(printers, missing=missing, parent=parent))


def ask_receipt_printer(
    parent: QWidget | None, printers: Sequence[str], *, missing: str | None
) -> str | None:
    """The receipt printer chosen, or None when the person cancelled (or none is installed)."""
    return _ask(LabelPrinterDialog(printers, missing=missing, receipts=True, parent=parent))


def _ask(dialog: LabelPrinterDialog) -> str | None:
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    chosen = dialog.printer
    dialog.deleteLater()
    return chosen if accepted and chosen else None
