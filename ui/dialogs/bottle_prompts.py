"""The small questions a scanned bottle may raise: its lot and expiry, how many were counted."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.errors import ValidationFailed
from ui.dialogs.fields import MessageLine, add_field
from ui.widgets.date_edit import DateEdit

LOT_MISSING_TEXT = "Type the lot number printed on the bottle."
EXPIRY_MISSING_TEXT = "Type the expiry date printed on the bottle, as MM/DD/YYYY."
COUNTS_DIFFER_TEXT = "The two counts differ: count the units again and type both counts."


class _Prompt(QDialog):
    """A question, a form, a message line, and an action button that checks before closing."""

    def __init__(
        self, *, title: str, question: str, action_text: str, parent: QWidget | None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{title} — RxBench")
        self.setMinimumWidth(460)
        self.question = QLabel(question)
        self.question.setWordWrap(True)
        self.question.setAccessibleName("Question")
        self.form = QFormLayout()
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
        layout.addWidget(self.question)
        layout.addLayout(self.form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def refuse(self, text: str, field: QWidget) -> None:
        self.message.show_problem(text)
        field.setFocus()


class LotExpiryDialog(_Prompt):
    """Asked when the barcode carried no lot or expiry (a UPC): both are typed from the label."""

    def __init__(self, *, question: str, parent: QWidget | None = None) -> None:
        super().__init__(
            title="Lot and expiry", question=question, action_text="Use this bottle", parent=parent
        )
        self.lot_edit = add_field(self.form, "&Lot number:", QLineEdit())
        self.expiry_edit = add_field(self.form, "&Expiry:", DateEdit("expiry date"))
        self.lot_edit.setFocus()

    @property
    def lot_number(self) -> str:
        return self.lot_edit.text().strip()

    @property
    def expiry(self) -> date | None:
        return self.expiry_edit.date()

    def accept(self) -> None:
        if not self.lot_number:
            self.refuse(LOT_MISSING_TEXT, self.lot_edit)
            return
        try:
            expiry = self.expiry
        except ValidationFailed as exc:
            self.refuse(exc.message, self.expiry_edit)
            return
        if expiry is None:
            self.refuse(EXPIRY_MISSING_TEXT, self.expiry_edit)
            return
        super().accept()


def parse_quantity(text: str) -> Decimal:
    """A positive count or measure, "30" or "2.5"; anything else is refused in a sentence."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationFailed(f"“{text.strip()}” is not a quantity: type a number.") from None
    if not value.is_finite() or value <= 0:
        raise ValidationFailed("Type a quantity above zero.")
    return value


class QuantityDialog(_Prompt):
    """How much is taken from the bottle; with `count_twice` (C-II) the count is typed twice."""

    def __init__(
        self,
        *,
        title: str,
        question: str,
        unit: str,
        suggested: Decimal | None,
        count_twice: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title=title, question=question, action_text="Take", parent=parent)
        self.quantity_edit = add_field(self.form, f"&Quantity ({unit}):", QLineEdit())
        self.recount_edit: QLineEdit | None = None
        if count_twice:
            self.recount_edit = add_field(self.form, f"&Count again ({unit}):", QLineEdit())
        elif suggested is not None:
            self.quantity_edit.setText(format(suggested.normalize(), "f"))
            self.quantity_edit.selectAll()
        self.quantity_edit.setFocus()
        self.counts: tuple[Decimal, Decimal] | None = None

    def accept(self) -> None:
        fields = [self.quantity_edit] + ([self.recount_edit] if self.recount_edit else [])
        values = []
        for field in fields:
            try:
                values.append(parse_quantity(field.text()))
            except ValidationFailed as exc:
                self.refuse(exc.message, field)
                return
        if len(values) == 2 and values[0] != values[1]:
            assert self.recount_edit is not None
            self.recount_edit.clear()
            self.refuse(COUNTS_DIFFER_TEXT, self.recount_edit)
            return
        self.counts = (values[0], values[-1])
        super().accept()


def ask_lot_and_expiry(parent: QWidget | None, *, question: str) -> tuple[str, date] | None:
    dialog = LotExpiryDialog(question=question, parent=parent)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    answer = (dialog.lot_number, dialog.expiry) if accepted else None
    dialog.deleteLater()
    if answer is None or answer[1] is None:
        return None
    return answer[0], answer[1]


def ask_quantity(
    parent: QWidget | None,
    *,
    title: str,
    question: str,
    unit: str,
    suggested: Decimal | None,
    count_twice: bool = False,
) -> tuple[Decimal, Decimal] | None:
    """The quantity typed (twice when `count_twice`), or None when the person cancelled."""
    dialog = QuantityDialog(
        title=title,
        question=question,
        unit=unit,
        suggested=suggested,
        count_twice=count_twice,
        parent=parent,
    )
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    counts = dialog.counts if accepted else None
    dialog.deleteLater()
    return counts
