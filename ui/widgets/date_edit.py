"""A date typed the US way, MM/DD/YYYY, with the problem said in a sentence."""

from __future__ import annotations

import re
from datetime import date

from PySide6.QtWidgets import QLineEdit, QWidget

from app.errors import ValidationFailed

_TYPED = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")


def parse_us_date(text: str, *, what: str) -> date | None:
    """None for an empty field; "3/4/1961", "03/04/1961" and "03041961" are all 3 March 1961."""
    typed = text.strip()
    if not typed:
        return None
    match = _TYPED.fullmatch(typed)
    if match is None and typed.isdigit() and len(typed) == 8:
        match = re.fullmatch(r"(\d\d)(\d\d)(\d{4})", typed)
    if match is None:
        raise ValidationFailed(f"Type the {what} as MM/DD/YYYY, for example 03/04/1961.")
    month, day, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ValidationFailed(f"{typed} is not a date: check the month and the day.") from None


class DateEdit(QLineEdit):
    """A line edit for one date; `date()` raises `ValidationFailed` for what is not one."""

    def __init__(self, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._what = what
        self.setPlaceholderText("MM/DD/YYYY")
        self.setMaxLength(10)

    def date(self) -> date | None:
        return parse_us_date(self.text(), what=self._what)

    def set_date(self, value: date | None) -> None:
        self.setText(value.strftime("%m/%d/%Y") if value else "")
