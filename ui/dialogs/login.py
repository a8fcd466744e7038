"""The sign-in dialog: who is at this workstation, checked against their password."""

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

from app.bootstrap import Services
from app.errors import RxBenchError
from app.services.unit_of_work import Actor
from ui.dialogs.fields import MessageLine, add_field, secret_edit


class LoginDialog(QDialog):
    """Enter signs in, Esc cancels; after acceptance `actor` is the person signed in."""

    def __init__(
        self, services: Services, parent: QWidget | None = None, *, cancel_text: str = "&Cancel"
    ) -> None:
        super().__init__(parent)
        self._services = services
        self.actor: Actor | None = None
        self.setWindowTitle("Sign in — RxBench")
        self.setMinimumWidth(420)

        profile = services.pharmacy.profile()
        pharmacy = QLabel(profile.name if profile else "RxBench")
        pharmacy.setAccessibleName("Pharmacy")
        font = pharmacy.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        pharmacy.setFont(font)
        workstation = QLabel(f"Workstation {services.settings.workstation}")
        workstation.setAccessibleName("Workstation")

        form = QFormLayout()
        self._username = add_field(form, "&User name:", QLineEdit())
        self._password = add_field(form, "&Password:", secret_edit())
        self._message = MessageLine()

        buttons = QDialogButtonBox()
        sign_in = buttons.addButton("&Sign in", QDialogButtonBox.ButtonRole.AcceptRole)
        sign_in.setDefault(True)
        sign_in.setAccessibleName("Sign in")
        cancel = buttons.addButton(cancel_text, QDialogButtonBox.ButtonRole.RejectRole)
        cancel.setAccessibleName(cancel_text.replace("&", ""))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(pharmacy)
        layout.addWidget(workstation)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        self._username.setFocus()

    def accept(self) -> None:
        """Sign in; a refusal is explained inline and the password asked for again."""
        username = self._username.text().strip()
        if not username:
            self._message.show_problem("Enter your user name.")
            self._username.setFocus()
            return
        if not self._password.text():
            # An empty password would only count as a wrong attempt towards the lockout.
            self._message.show_problem("Enter your password.")
            self._password.setFocus()
            return
        try:
            self.actor = self._services.auth.login(username, self._password.text())
        except RxBenchError as exc:
            self._message.show_error(exc)
            self._password.clear()
            self._password.setFocus()
            return
        self._password.clear()
        super().accept()
