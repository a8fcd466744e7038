"""Finding controls the way a screen reader does, by accessible name, and reading the audit."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QWidget
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
