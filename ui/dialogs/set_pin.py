"""Setting one's own short unlock PIN, used on the lock screen instead of the password."""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.bootstrap import Services
from app.errors import RxBenchError
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field, secret_edit


def _pin_edit() -> QLineEdit:
    edit = secret_edit()
    edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,8}"), edit))
    return edit


class SetPinDialog(QDialog):
    """The PIN is typed twice, since it is never shown."""

    def __init__(self, services: Services, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._actor = actor
        self.setWindowTitle("Set my PIN — RxBench")
        self.setMinimumWidth(380)

        explanation = QLabel(
            f"A PIN of 4 to 8 digits unlocks the locked screen for {actor.username}. "
            "Signing in still needs your password, and so does setting the PIN."
        )
        explanation.setWordWrap(True)

        form = QFormLayout()
        self._password = add_field(form, "Your pass&word:", secret_edit())
        self._pin = add_field(form, "New &PIN:", _pin_edit())
        self._repeat = add_field(form, "&Repeat PIN:", _pin_edit())
        self._message = MessageLine()

        buttons = QDialogButtonBox()
        save = buttons.addButton("&Save PIN", QDialogButtonBox.ButtonRole.AcceptRole)
        save.setDefault(True)
        save.setAccessibleName("Save PIN")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        self._password.setFocus()

    def accept(self) -> None:
        if self._pin.text() != self._repeat.text():
            self._repeat.clear()
            self._message.show_problem("The two PINs differ: type the same PIN twice.")
            self._repeat.setFocus()
            return
        try:
            self._services.auth.set_pin(
                self._actor, password=self._password.text(), pin=self._pin.text()
            )
        except RxBenchError as exc:
            self._message.show_error(exc)
            wrong = self._pin if exc.facts.get("field") == "pin" else self._password
            if wrong is self._password:
                self._password.clear()
            wrong.setFocus()
            wrong.selectAll()
            return
        super().accept()


def open_set_pin_dialog(parent: QWidget | None, services: Services, actor: Actor) -> bool:
    """The File ▸ "Set my PIN…" action; True when a new PIN was saved."""
    return SetPinDialog(services, actor, parent).exec() == QDialog.DialogCode.Accepted
