"""The lock screen of the automatic log-off: the same user's password or PIN, or another user."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.bootstrap import Services
from app.errors import RxBenchError
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field, secret_edit


class LockDialog(QDialog):
    """Only the right secret or "Switch user" gets past it; Esc and the close button do nothing.

    Signals: switch_user_requested()
    """

    switch_user_requested = Signal()

    def __init__(self, services: Services, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.actor = actor
        self.setWindowTitle("Locked — RxBench")
        self.setWindowFlags(
            Qt.WindowType.Dialog | Qt.WindowType.CustomizeWindowHint | Qt.WindowType.WindowTitleHint
        )
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setMinimumWidth(420)

        headline = QLabel("This workstation is locked")
        font = headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        headline.setFont(font)
        who = QLabel(
            f"{actor.full_name} ({actor.username}) is signed in at {actor.workstation}. "
            "Enter your password or PIN to continue."
        )
        who.setWordWrap(True)
        who.setAccessibleName("Signed-in user")

        form = QFormLayout()
        self._secret = add_field(form, "Password or &PIN:", secret_edit())
        self._message = MessageLine()

        buttons = QDialogButtonBox()
        unlock = buttons.addButton("&Unlock", QDialogButtonBox.ButtonRole.AcceptRole)
        unlock.setDefault(True)
        unlock.setAccessibleName("Unlock")
        switch = buttons.addButton("S&witch user", QDialogButtonBox.ButtonRole.ActionRole)
        switch.setAutoDefault(False)
        switch.setAccessibleName("Switch user")
        buttons.accepted.connect(self.accept)
        switch.clicked.connect(self._switch_user)

        layout = QVBoxLayout(self)
        layout.addWidget(headline)
        layout.addWidget(who)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        self._secret.setFocus()

    def accept(self) -> None:
        """Unlock; a wrong secret is explained inline and counts towards the lockout."""
        if not self._secret.text():
            self._message.show_problem("Enter your password or PIN.")
            self._secret.setFocus()
            return
        try:
            self.actor = self._services.auth.unlock(self.actor, self._secret.text())
        except RxBenchError as exc:
            self._message.show_error(exc)
            self._secret.clear()
            self._secret.setFocus()
            return
        self._secret.clear()
        super().accept()

    def reject(self) -> None:
        """Escape and the window's close button must not uncover the workstation."""

    def _switch_user(self) -> None:
        self._secret.clear()
        self.done(QDialog.DialogCode.Rejected)
        self.switch_user_requested.emit()
