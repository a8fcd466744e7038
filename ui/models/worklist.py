"""Table model for the pharmacist's work list: what waits, about what, for how long."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor

from app.services.worklist import CLINICAL_FINDING, WorkItemRow
from ui.models.fills import Clock
from ui.models.formatting import age_text, time_text
from ui.models.table import RowTableModel

FINDING_COLOUR = "#f9d0cc"
TEXT_ON_COLOUR = "#000000"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WorklistModel(RowTableModel[WorkItemRow]):
    KIND, SUMMARY, OPENED, WAITING = range(4)
    HEADERS = ("Kind", "About", "Since", "Waiting")

    def __init__(self, parent: QObject | None = None, *, clock: Clock = _utc_now) -> None:
        super().__init__(parent)
        self._clock = clock

    def display(self, row: WorkItemRow, column: int) -> str:
        if column == self.KIND:
            return row.kind_label
        if column == self.SUMMARY:
            return row.summary
        if column == self.OPENED:
            return time_text(row.opened_at, now=self._clock())
        if column == self.WAITING:
            return age_text(self._clock() - row.opened_at)
        return ""

    def sort_key(self, row: WorkItemRow, column: int) -> Any:
        if column in (self.OPENED, self.WAITING):
            # Oldest first under an ascending sort of either time column.
            return (row.opened_at.timestamp(), row.item_id)
        return self.display(row, column)

    def decorate(self, row: WorkItemRow, column: int, role: int) -> Any:
        if column == self.KIND and row.kind == CLINICAL_FINDING:
            if role == Qt.ItemDataRole.BackgroundRole:
                return QColor(FINDING_COLOUR)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(TEXT_ON_COLOUR)
        if column == self.SUMMARY and role == Qt.ItemDataRole.ToolTipRole:
            return row.summary
        return None
