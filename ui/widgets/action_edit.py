"""A line edit whose Enter does one thing of its own, never the dialog's default button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLineEdit


class ActionLineEdit(QLineEdit):
    """QLineEdit passes Enter on to its dialog after `returnPressed`, which would also press the
    default button (save the whole form when the person only meant "add this allergy").

    Signals: entered()  # Enter or Return was pressed here
    """

    entered = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            self.entered.emit()
            return
        super().keyPressEvent(event)
