"""Asking why: holds, send-backs, cancellations and acknowledgements all keep a stated reason."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ui.dialogs.fields import MessageLine, add_field

BLANK_REASON_TEXT = "Say why: the reason is kept with the fill's history."


class ReasonDialog(QDialog):
    """One line of reason; the action button refuses a blank one and says so."""

    def __init__(
        self, *, title: str, question: str, action_text: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{title} — RxBench")
        self.setMinimumWidth(460)
        explanation = QLabel(question)
        explanation.setWordWrap(True)
        explanation.setAccessibleName("Question")
        form = QFormLayout()
        self.reason_edit = add_field(form, "&Reason:", QLineEdit())
        self.message = MessageLine()
        buttons = QDialogButtonBox()
        self.action_button = buttons.addButton(action_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.action_button.setAccessibleName(action_text)
        self.action_button.setDefault(True)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.reason_edit.setFocus()

    @property
    def reason(self) -> str:
        return self.reason_edit.text().strip()

    def accept(self) -> None:
        if not self.reason:
            self.message.show_problem(BLANK_REASON_TEXT)
            self.reason_edit.setFocus()
            return
        super().accept()


def ask_reason(
    parent: QWidget | None, *, title: str, question: str, action_text: str
) -> str | None:
    """The reason typed, or None when the person cancelled."""
    dialog = ReasonDialog(title=title, question=question, action_text=action_text, parent=parent)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    reason = dialog.reason
    dialog.deleteLater()
    return reason if accepted else None
