"""What the dialogs share: labelled fields with mnemonics and the inline message line."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QWidget

from app.errors import RxBenchError
from ui.errors import explain

# Fixed colours rather than the palette: the message must read as a problem in light and dark
# themes alike, and a tinted box is noticed where red text alone is missed.
_MESSAGE_STYLE = (
    "QLabel { color: #7a1010; background: #fdecea; border: 1px solid #e8a5a0;"
    " border-radius: 4px; padding: 6px; }"
)

FieldWidget = TypeVar("FieldWidget", bound=QWidget)


def add_field(form: QFormLayout, label_text: str, field: FieldWidget) -> FieldWidget:
    """Add a row whose label carries the mnemonic and names the field for screen readers."""
    label = QLabel(label_text)
    label.setBuddy(field)
    field.setAccessibleName(label_text.replace("&", "").rstrip(":"))
    form.addRow(label, field)
    return field


def secret_edit() -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class MessageLine(QLabel):
    """A problem stated inline, under the fields it is about; hidden while there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setStyleSheet(_MESSAGE_STYLE)
        self.setAccessibleName("Message")
        self.hide()

    def show_problem(self, text: str) -> None:
        self.setText(text)
        self.setAccessibleDescription(text)
        self.show()

    def show_error(self, exc: RxBenchError) -> None:
        self.show_problem(explain(exc)[1])

    def retract(self) -> None:
        self.clear()
        self.hide()
