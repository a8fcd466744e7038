"""A pharmacist's co-signature, or a colleague's witness signature, of one action given at
someone else's session."""

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


class CosignDialog(QDialog):
    """The signed-in user stays signed in; after acceptance `pharmacist` is who signed. With
    `witness`, any pharmacist or technician other than the signed-in user may sign (`witness`
    of the auth service) rather than a pharmacist only."""

    def __init__(
        self,
        services: Services,
        present: Actor,
        *,
        purpose: str,
        witness: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._present = present
        self._purpose = purpose
        self._witness = witness
        self.pharmacist: Actor | None = None
        self.setWindowTitle(
            "Witness signature — RxBench" if witness else "Pharmacist co-signature — RxBench"
        )
        self.setMinimumWidth(420)

        ask = (
            "A second person (a pharmacist or technician other than you) must sign"
            if witness
            else "A pharmacist must approve"
        )
        explanation = QLabel(
            f"{ask}: {purpose}.\n{present.full_name} ({present.username}) stays signed in."
        )
        explanation.setWordWrap(True)
        explanation.setAccessibleName("What needs approval")

        form = QFormLayout()
        self._username = add_field(
            form, "Witness's &user name:" if witness else "Pharmacist's &user name:", QLineEdit()
        )
        self._password = add_field(form, "&Password:", secret_edit())
        self._message = MessageLine()

        buttons = QDialogButtonBox()
        cosign = buttons.addButton("Co-&sign", QDialogButtonBox.ButtonRole.AcceptRole)
        cosign.setDefault(True)
        cosign.setAccessibleName("Co-sign")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(self._message)
        layout.addWidget(buttons)
        self._username.setFocus()

    def accept(self) -> None:
        """Co-sign; a refusal (wrong password, not a pharmacist) is explained inline."""
        if not self._username.text().strip() or not self._password.text():
            who = "witness" if self._witness else "pharmacist"
            self._message.show_problem(f"Enter the {who}'s user name and password.")
            (self._password if self._username.text().strip() else self._username).setFocus()
            return
        try:
            sign = self._services.auth.witness if self._witness else self._services.auth.cosign
            self.pharmacist = sign(
                self._present, self._username.text(), self._password.text(), purpose=self._purpose
            )
        except RxBenchError as exc:
            self._message.show_error(exc)
            self._password.clear()
            self._password.setFocus()
            return
        self._password.clear()
        super().accept()
