"""Form rows that show a refusal right under the field it is about."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

# The same colours as the dialogs' MessageLine, without its box: a row must stay compact.
_PROBLEM_STYLE = "QLabel { color: #7a1010; }"

FieldWidget = TypeVar("FieldWidget", bound=QWidget)


def accessible_label(label_text: str) -> str:
    return label_text.replace("&", "").rstrip(":")


class FieldProblems:
    """Fields by the fact name services use (`ValidationFailed(..., field="npi")`).

    `add()` puts a labelled row in a form like `ui.dialogs.fields.add_field`, with a hidden
    line under the field; `show()` states the problem there and puts the cursor in the field.
    """

    def __init__(self) -> None:
        self._rows: dict[str, tuple[QWidget, QLabel]] = {}

    def add(
        self, form: QFormLayout, label_text: str, field: FieldWidget, *, fact: str | None = None
    ) -> FieldWidget:
        name = accessible_label(label_text)
        label = QLabel(label_text)
        label.setBuddy(field)
        field.setAccessibleName(name)
        problem = self.problem_label(name)
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(field)
        column.addWidget(problem)
        form.addRow(label, box)
        if fact:
            self._rows[fact] = (field, problem)
        return field

    @staticmethod
    def problem_label(name: str) -> QLabel:
        problem = QLabel()
        problem.setWordWrap(True)
        problem.setTextFormat(Qt.TextFormat.PlainText)
        problem.setStyleSheet(_PROBLEM_STYLE)
        problem.setAccessibleName(f"{name} problem")
        problem.hide()
        return problem

    def register(self, fact: str, field: QWidget, problem: QLabel) -> None:
        """A field laid out by hand, with a label from `problem_label()` placed under it."""
        self._rows[fact] = (field, problem)

    def field(self, fact: str) -> QWidget:
        return self._rows[fact][0]

    def problem(self, fact: str) -> QLabel:
        return self._rows[fact][1]

    def knows(self, fact: str | None) -> bool:
        return fact is not None and fact in self._rows

    def show(self, fact: str, text: str, *, focus: bool = True) -> None:
        field, problem = self._rows[fact]
        shown = problem.text()
        problem.setText(f"{shown}\n{text}" if shown and text not in shown else text)
        problem.setAccessibleDescription(problem.text())
        problem.show()
        if focus:
            field.setFocus()

    def retract(self) -> None:
        for _field, problem in self._rows.values():
            problem.clear()
            problem.hide()

    def shown(self) -> dict[str, str]:
        return {fact: label.text() for fact, (_f, label) in self._rows.items() if label.text()}
