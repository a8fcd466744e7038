"""Test helpers: find controls by accessible name, fill in the first run, read the audit."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QLineEdit, QWidget
from sqlalchemy import select

from app.bootstrap import Services
from app.db.models import AuditEvent


def control(root: QWidget, accessible_name: str) -> QWidget:
    matches = [w for w in root.findChildren(QWidget) if w.accessibleName() == accessible_name]
    assert len(matches) == 1, f"{len(matches)} controls named {accessible_name!r}"
    return matches[0]


def shown(kind: type[QWidget]) -> QWidget:
    """The one visible top-level window of this kind."""
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    assert len(windows) == 1, f"{len(windows)} visible {kind.__name__} windows"
    return windows[0]


def audit_trail(services: Services) -> list[AuditEvent]:
    with services.database.reading() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


GOOD_ENTRIES = {
    "Pharmacy name": "Main Street Pharmacy",
    "Street address": "12 Main Street",
    "City": "Springfield",
    "ZIP code": "62701",
    "Phone": "217 555 0100",
    "NPI": "1234567893",
    "NCPDP ID": "1234567",
    "DEA number": "BT1234563",
    "User name": "jsmith",
    "Full name": "Jane Smith",
    "Password": "a good password",
    "Repeat password": "a good password",
}


def fill(qtbot, dialog: QWidget, **changes: str) -> None:
    entries = {**GOOD_ENTRIES, **{name.replace("_", " "): v for name, v in changes.items()}}
    for name, text in entries.items():
        edit = control(dialog, name)
        assert isinstance(edit, QLineEdit)
        edit.clear()
        qtbot.keyClicks(edit, text)
    qtbot.keyClicks(control(dialog, "State"), "IL")
